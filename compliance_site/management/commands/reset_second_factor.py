"""``manage.py reset_second_factor USERNAME --by ADMIN --reason "..."``: for a lost phone.

Removes the user's authenticator and recovery codes; their next login leads to enrolment. The
reset is written to the user's history, attributed to ``--by`` with the reason.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from compliance_site.models import User
from compliance_site.services import second_factor_reset


class Command(BaseCommand):
    help = "Remove a staff user's second factor (authenticator and recovery codes), with history."

    def add_arguments(self, parser):
        parser.add_argument("username", help="whose second factor to reset")
        parser.add_argument("--by", required=True, help="username of the administrator doing it")
        parser.add_argument("--reason", required=True, help='why, for the history (e.g. "phone lost")')

    def handle(self, *args, username: str, by: str, reason: str, **options):
        user = self._user(username)
        actor = self._user(by)
        try:
            removed = second_factor_reset(user=user, actor=actor, reason=reason)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc
        self.stdout.write(
            self.style.SUCCESS(
                f"Removed {removed} devices of {user.get_username()}; they set up a new authenticator at "
                "their next login. Recorded in their history."
            )
        )

    @staticmethod
    def _user(username: str) -> User:
        try:
            return User.objects.get(username=username)
        except User.DoesNotExist:
            raise CommandError(f"There is no user {username!r}.") from None
