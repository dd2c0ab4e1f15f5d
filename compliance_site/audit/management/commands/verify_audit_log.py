"""``manage.py verify_audit_log``: check the whole access-log chain and compare it with the signed
digests outside the database; name every problem found."""

from django.core.management.base import BaseCommand, CommandError

from compliance_site.audit.digests import digest_names
from compliance_site.audit.models import AccessEvent
from compliance_site.audit.verification import access_log_report


class Command(BaseCommand):
    help = "Verify the hash chain of the access log against its signed digests and name every problem."

    def handle(self, *args, **options):
        report = access_log_report()
        if not report.intact:
            problems = report.problems()
            for problem in problems[1:]:
                self.stderr.write(f"  also: {problem}")
            if report.unopenable_keys:
                raise CommandError(f"The access log cannot be verified: {problems[0]}.")
            raise CommandError(f"The access log is broken at {problems[0]}.")
        count, digests = AccessEvent.objects.count(), len(digest_names())
        self.stdout.write(
            self.style.SUCCESS(
                f"The access log is intact: {count} events verified against {digests} digests."
            )
        )
