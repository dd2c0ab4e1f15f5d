"""``manage.py reset_second_factor USERNAME --by ADMIN --reason "..."``: for a lost phone.

Removes the user's authenticator and recovery codes, ends the second-factor verification of
every session of theirs, and prints an enrolment code: with it (not with the password alone)
they set up a new authenticator at their next login. The reset is written to the user's
history, attributed to ``--by`` with the reason.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from compliance_site.management.commands.issue_enrolment_code import _user
from compliance_site.services import second_factor_reset


class Command(BaseCommand):
    help = "Remove a staff user's second factor (authenticator and recovery codes), with history."

    def add_arguments(self, parser):
        parser.add_argument("username", help="whose second factor to reset")
        parser.add_argument("--by", required=True, help="username of the DPO or superuser doing it")
        parser.add_argument("--reason", required=True, help='why, for the history (e.g. "phone lost")')

    def handle(self, *args, username: str, by: str, reason: str, **options):
        user = _user(username)
        actor = _user(by)
        try:
            removed, code = second_factor_reset(user=user, actor=actor, reason=reason)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc
        self.stdout.write(
            self.style.SUCCESS(
                f"Removed {removed} devices of {user.get_username()}; recorded in their history. They set "
                "up a new authenticator at their next login with this enrolment code (works once, for "
                f"{settings.CUSTOS_ENROLMENT_CODE_HOURS} hours; give it to them in person or by phone):"
            )
        )
        self.stdout.write(f"  {code}")
