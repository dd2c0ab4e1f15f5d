"""``manage.py issue_enrolment_code USERNAME --by ADMIN``: let a new account set up its second factor.

Prints a single-use code, good for ``CUSTOS_ENROLMENT_CODE_HOURS``; the user enters it after their
password, and only then is shown an authenticator key. Only the code's digest is stored; the
issue (who, for whom, when) is in the code's history. Any earlier open code of the user is void.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from compliance_site.models import User
from compliance_site.services import enrolment_code_issue


class Command(BaseCommand):
    help = "Issue a single-use enrolment code so that a staff user can set up their second factor."

    def add_arguments(self, parser):
        parser.add_argument("username", help="who will enrol")
        parser.add_argument("--by", required=True, help="username of the DPO or superuser issuing it")

    def handle(self, *args, username: str, by: str, **options):
        user = _user(username)
        actor = _user(by)
        try:
            code = enrolment_code_issue(user=user, actor=actor)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc
        self.stdout.write(
            f"Enrolment code for {user.get_username()} (works once, for "
            f"{settings.CUSTOS_ENROLMENT_CODE_HOURS} hours; give it to them in person or by phone):"
        )
        self.stdout.write(self.style.SUCCESS(f"  {code}"))


def _user(username: str) -> User:
    try:
        return User.objects.get(username=username)
    except User.DoesNotExist:
        raise CommandError(f"There is no user {username!r}.") from None
