"""``manage.py verify_audit_log``: check the whole access-log chain; name the first broken link."""

from django.core.management.base import BaseCommand, CommandError

from compliance_site.audit.models import AccessEvent
from compliance_site.audit.verification import access_log_first_break


class Command(BaseCommand):
    help = "Verify the hash chain of the access log and name the first broken link."

    def handle(self, *args, **options):
        broken = access_log_first_break()
        if broken is not None:
            raise CommandError(f"The access log is broken at {broken}.")
        count = AccessEvent.objects.count()
        self.stdout.write(self.style.SUCCESS(f"The access log is intact: {count} events verified."))
