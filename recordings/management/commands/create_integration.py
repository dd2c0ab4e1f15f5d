"""``manage.py create_integration NAME``: a telephony integration's API account and its token.

One non-staff account per integration, in the "Telephony integration" group (it may push
recordings, nothing else). Running it again rotates the token: the old one stops working at once.
The new token goes to stdout, alone, so that a deployment script can capture it; it is shown once,
and only its SHA-256 digest and first characters are stored (compliance_site.models.IntegrationToken).
"""

from __future__ import annotations

import logging

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from compliance_site.roles import TELEPHONY_INTEGRATION
from compliance_site.services import integration_token_issue, integration_token_revoke

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = "Create a telephony integration's API account or rotate its token; prints the token once."

    def add_arguments(self, parser):
        parser.add_argument("name", help="Account name of the integration, e.g. pbx-berlin.")
        parser.add_argument(
            "--revoke", action="store_true", help="Delete the token and deactivate the account instead."
        )

    @transaction.atomic
    def handle(self, *args, name: str, revoke: bool, **options):
        group = Group.objects.filter(name=TELEPHONY_INTEGRATION).first()
        if group is None:
            raise CommandError(f"The {TELEPHONY_INTEGRATION!r} role is missing: run manage.py migrate.")
        user_model = get_user_model()
        user = user_model.objects.select_for_update().filter(username=name).first()
        if user is None:
            if revoke:
                raise CommandError(f"There is no integration {name!r}.")
            user = self._create(user_model, name, group)
        elif user.is_staff or user.is_superuser or not user.groups.filter(pk=group.pk).exists():
            # Never turn a person's account into a machine account, or hand out a token for it.
            raise CommandError(f"{name!r} is not an integration account; choose another name.")

        if revoke:
            integration_token_revoke(user=user)
            user.is_active = False
            user.save(update_fields=["is_active"])
            logger.info("Integration %s revoked", name)
            self.stderr.write(f"Integration {name!r} revoked: its token no longer works.")
            return
        if not user.is_active:
            user.is_active = True
            user.save(update_fields=["is_active"])
        token = integration_token_issue(user=user)
        logger.info("Integration %s issued a new token", name)
        self.stderr.write(
            f"New token of integration {name!r} below. It is shown once (Custos keeps only its digest); "
            "any earlier token no longer works."
        )
        self.stdout.write(token)

    def _create(self, user_model, name: str, group: Group):
        user = user_model(username=name, is_staff=False, is_superuser=False)
        user.set_unusable_password()  # a token, never a password: no admin login
        try:
            user.full_clean(exclude=["password"])
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        user.save()
        user.groups.add(group)
        return user
