"""Writes on accounts: enrolling and resetting a staff user's second factor, issuing and revoking
an integration's API token.

Tokens are checked by django-otp's devices (TOTP with replay and drift handling, single-use
static recovery codes, both throttled); these services only decide when a device becomes active
and leave the change in the user's history.
"""

from __future__ import annotations

import logging
import secrets

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from compliance_site.api_auth import TOKEN_PREFIX_LENGTH, token_digest
from compliance_site.models import IntegrationToken, User

logger = logging.getLogger(__name__)

AUTHENTICATOR_NAME = "Authenticator app"
RECOVERY_CODES_NAME = "Recovery codes"
RESET_REASON_PREFIX = "second factor reset: "
# simple-history's change reason holds 100 characters, prefix included.
RESET_REASON_MAX_LENGTH = 100 - len(RESET_REASON_PREFIX)


def totp_device_prepare(*, user: User) -> TOTPDevice:
    """The unconfirmed authenticator the user is enrolling: the same one on every reload, so the
    QR code they scanned stays valid until they confirm it."""
    if TOTPDevice.objects.filter(user=user, confirmed=True).exists():
        raise ValidationError("An authenticator is already enrolled; a reset is needed to enrol another.")
    with transaction.atomic():
        device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("pk").first()
        if device is None:
            device = TOTPDevice.objects.create(user=user, name=AUTHENTICATOR_NAME, confirmed=False)
    return device


def second_factor_enrol(*, user: User, device_id: int, token: str) -> tuple[TOTPDevice, list[str]]:
    """Activate the user's authenticator once it has produced a valid code, and hand out a fresh
    set of recovery codes (returned in clear this once; the old set, if any, is void).

    A wrong code changes nothing but the device's throttle, which django-otp keeps so that
    guessing slows down.
    """
    token = "".join(token.split())
    if not token.isdigit():
        raise ValidationError("Enter the 6-digit code your authenticator app shows.", code="invalid_token")
    with transaction.atomic():
        device = TOTPDevice.objects.select_for_update().filter(pk=device_id, user=user).first()
        if device is None or device.confirmed:
            raise ValidationError("This enrolment is no longer open; start again.", code="stale")
        allowed, _ = device.verify_is_allowed()
        if not allowed:
            raise ValidationError("Too many wrong codes; wait a few seconds and try again.", code="throttled")
        # verify_token writes the throttle (on failure) or the last used step (on success).
        verified = device.verify_token(token)
        if verified:
            device.confirmed = True
            device.save(update_fields=["confirmed"])
            StaticDevice.objects.filter(user=user).delete()
            recovery = StaticDevice.objects.create(user=user, name=RECOVERY_CODES_NAME, confirmed=True)
            codes = [StaticToken.random_token() for _ in range(settings.CUSTOS_RECOVERY_CODE_COUNT)]
            StaticToken.objects.bulk_create(StaticToken(device=recovery, token=code) for code in codes)
            user.second_factor_enrolled_at = timezone.now()
            user._change_reason = "second factor enrolled"
            user.save(update_fields=["second_factor_enrolled_at"])
    if not verified:
        raise ValidationError(
            "That code does not match. Check the time on your phone and enter the current code.",
            code="invalid_token",
        )
    logger.info("Second factor enrolled for user id %s", user.pk)
    return device, codes


def second_factor_reset(*, user: User, actor: User, reason: str) -> int:
    """Remove every second-factor device of ``user`` (a lost phone, used-up recovery codes).

    Their sessions lose their verification at the next request, and their next login leads to
    enrolment. The reset is in the user's history, attributed to ``actor`` with the reason.
    Returns the number of devices removed.
    """
    reason = " ".join(reason.split())
    if not reason:
        raise ValidationError("Give the reason for the reset (it goes into the user's history).")
    if len(reason) > RESET_REASON_MAX_LENGTH:
        raise ValidationError(f"Keep the reason to {RESET_REASON_MAX_LENGTH} characters (history holds 100).")
    if actor.pk == user.pk:
        raise ValidationError("Nobody resets their own second factor; another administrator does it.")
    if not (actor.is_active and (actor.is_staff or actor.is_superuser)):
        raise ValidationError(f"{actor.get_username()} is not an active staff user.")
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=user.pk)
        devices = list(TOTPDevice.objects.filter(user=user)) + list(StaticDevice.objects.filter(user=user))
        if not devices:
            raise ValidationError(f"{user.get_username()} has no second factor; there is nothing to reset.")
        for device in devices:
            device.delete()
        user.second_factor_enrolled_at = None
        user._change_reason = f"{RESET_REASON_PREFIX}{reason}"
        user._history_user = actor
        user.save(update_fields=["second_factor_enrolled_at"])
    logger.info("Second factor reset for user id %s by user id %s", user.pk, actor.pk)
    return len(devices)


def integration_token_issue(*, user: User) -> str:
    """A new API token for the integration ``user``, replacing any earlier one (which stops
    working at once). Returns the token: the caller shows it once; only its digest is kept."""
    token = secrets.token_urlsafe(32)
    with transaction.atomic():
        IntegrationToken.objects.filter(user=user).delete()
        IntegrationToken.objects.create(
            user=user,
            prefix=token[:TOKEN_PREFIX_LENGTH],
            digest=token_digest(token),
            created_at=timezone.now(),
        )
    logger.info("Integration user id %s issued a new API token", user.pk)
    return token


def integration_token_revoke(*, user: User) -> int:
    """Delete the integration's token; returns how many there were (0 or 1)."""
    with transaction.atomic():
        deleted, _ = IntegrationToken.objects.filter(user=user).delete()
    logger.info("Integration user id %s: API token revoked", user.pk)
    return deleted
