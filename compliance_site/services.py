"""Writes on accounts: enrolment codes, enrolling and resetting a staff user's second factor,
issuing and revoking an integration's API token.

Tokens are checked by the devices in ``compliance_site.models`` (TOTP through django-otp's own
verification, with replay and drift handling; single-use recovery codes; both throttled); these
services decide who may enrol, when a device becomes active, and leave each change in history.

Enrolment needs more than the password: an administrator issues a single-use, expiring
enrolment code (``enrolment_code_issue``); the session that enters it (``enrolment_code_redeem``)
is the only one that may see an authenticator secret, a fresh one per attempt
(``authenticator_prepare``), and only until it confirms one (``second_factor_enrol``).
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from compliance_site.api_auth import TOKEN_PREFIX_LENGTH, token_digest
from compliance_site.keys import get_provider
from compliance_site.model_update import history_save, model_update
from compliance_site.models import (
    Authenticator,
    EnrolmentCode,
    IntegrationToken,
    RecoveryCode,
    RecoveryCodeSet,
    User,
    recovery_code_digest,
)
from compliance_site.roles import is_dpo

logger = logging.getLogger(__name__)

AUTHENTICATOR_NAME = "Authenticator app"
RECOVERY_CODES_NAME = "Recovery codes"
RESET_REASON_PREFIX = "second factor reset: "
# simple-history's change reason holds 100 characters, prefix included.
RESET_REASON_MAX_LENGTH = 100 - len(RESET_REASON_PREFIX)
TOTP_KEY_BYTES = 20  # django-otp's default: 160 bits, as RFC 4226 recommends
# Enrolment codes: 20 characters of Crockford-like base32 (no 0/O, 1/I/L), 100 bits, typed in
# groups of four. Long enough that a plain SHA-256 in the table cannot be reversed by guessing.
ENROLMENT_CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
ENROLMENT_CODE_LENGTH = 20
# Once a code is entered, the session that entered it has this long to confirm an authenticator;
# each secret shown is good for a shorter time: the user scans it and confirms at once.
ENROLMENT_WINDOW = timedelta(hours=1)
PENDING_AUTHENTICATOR_TTL = timedelta(minutes=15)


def _is_administrator(user: User) -> bool:
    return bool(user.is_staff and is_dpo(user))


def _normalise_enrolment_code(code: str) -> str:
    return "".join(ch for ch in str(code) if ch not in " -\t\r\n").upper()


def enrolment_code_digest(code: str) -> str:
    return hashlib.sha256(_normalise_enrolment_code(code).encode()).hexdigest()


def _new_enrolment_code() -> str:
    raw = "".join(secrets.choice(ENROLMENT_CODE_ALPHABET) for _ in range(ENROLMENT_CODE_LENGTH))
    return "-".join(raw[i : i + 4] for i in range(0, ENROLMENT_CODE_LENGTH, 4))


def _enrolment_codes_revoke(*, user: User, actor: User, now: datetime) -> int:
    # Saved one by one so that each revocation is in the code's history, by whom revoked it (a
    # command has no request for simple-history to take the author from).
    open_codes = list(EnrolmentCode.objects.select_for_update().filter(user=user, revoked_at__isnull=True))
    for row in open_codes:
        model_update(row, actor=actor, revoked_at=now)
    return len(open_codes)


def _enrolment_code_create(*, user: User, actor: User, now: datetime) -> str:
    """Void the user's open codes and pending enrolments, and issue a new code (returned in
    clear this once; only its digest is stored)."""
    _enrolment_codes_revoke(user=user, actor=actor, now=now)
    Authenticator.objects.filter(user=user, confirmed=False).delete()
    code = _new_enrolment_code()
    row = EnrolmentCode(
        user=user,
        digest=enrolment_code_digest(code),
        issued_by=actor,
        issued_at=now,
        expires_at=now + timedelta(hours=settings.CUSTOS_ENROLMENT_CODE_HOURS),
    )
    history_save(row, actor=actor)
    return code


def enrolment_code_issue(*, user: User, actor: User) -> str:
    """An enrolment code for ``user`` (a new account, or one whose second factor was reset),
    issued by ``actor``, a DPO or a superuser, never for themselves. Any earlier open code of the
    user is void from now on. Returns the code in clear: hand it to the user out of band."""
    if actor.pk == user.pk:
        raise ValidationError("Nobody issues their own enrolment code; another administrator does it.")
    if not _is_administrator(actor):
        raise ValidationError(f"{actor.get_username()} is not an active DPO or superuser.")
    if not (user.is_active and (user.is_staff or user.is_superuser)):
        raise ValidationError(f"{user.get_username()} is not an active staff user.")
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=user.pk)
        if Authenticator.objects.filter(user=user, confirmed=True).exists():
            raise ValidationError(
                f"{user.get_username()} already has an authenticator; reset their second factor "
                "(manage.py reset_second_factor), which issues a code."
            )
        code = _enrolment_code_create(user=user, actor=actor, now=timezone.now())
    logger.info("Enrolment code issued for user id %s by user id %s", user.pk, actor.pk)
    return code


def enrolment_code_redeem(*, user: User, code: str) -> EnrolmentCode:
    """Spend ``user``'s enrolment code: from now on only the caller's session may enrol.

    One answer for a wrong, used, expired or replaced code, so that the page says nothing about
    which codes exist."""
    refused = ValidationError(
        "This enrolment code is not valid: it may be mistyped, used, expired or replaced. Ask an "
        "administrator for a new one.",
        code="invalid_enrolment_code",
    )
    normalised = _normalise_enrolment_code(code)
    if len(normalised) != ENROLMENT_CODE_LENGTH or not set(normalised) <= set(ENROLMENT_CODE_ALPHABET):
        raise refused
    now = timezone.now()
    with transaction.atomic():
        row = (
            EnrolmentCode.objects.select_for_update()
            .filter(user=user, digest=enrolment_code_digest(normalised))
            .first()
        )
        if row is None or row.used_at or row.revoked_at or row.expires_at <= now:
            raise refused
        if Authenticator.objects.filter(user=user, confirmed=True).exists():
            raise refused
        model_update(row, actor=user, used_at=now)
    logger.info("Enrolment code redeemed by user id %s", user.pk)
    return row


def _enrolment_code_in_force(*, user: User, code_id: int | None, now: datetime) -> EnrolmentCode:
    row = EnrolmentCode.objects.filter(pk=code_id, user=user).first() if code_id else None
    if (
        row is None
        or row.used_at is None
        or row.revoked_at is not None
        or row.used_at <= now - ENROLMENT_WINDOW
    ):
        raise ValidationError(
            "This enrolment is no longer open; ask an administrator for a new enrolment code.",
            code="stale",
        )
    return row


def authenticator_prepare(*, user: User, code_id: int) -> Authenticator:
    """A new, unconfirmed authenticator with a fresh secret, for the session that redeemed
    ``code_id`` (the caller keeps its id in that session). Every earlier unconfirmed one of the
    user is discarded: a secret is shown once, and a reload shows a new one."""
    now = timezone.now()
    with transaction.atomic():
        User.objects.select_for_update().filter(pk=user.pk).first()
        if Authenticator.objects.filter(user=user, confirmed=True).exists():
            raise ValidationError("An authenticator is already enrolled; a reset is needed to enrol another.")
        code = _enrolment_code_in_force(user=user, code_id=code_id, now=now)
        Authenticator.objects.filter(user=user, confirmed=False).delete()
        device = Authenticator(user=user, name=AUTHENTICATOR_NAME, confirmed=False, enrolment_code=code)
        device.set_key(os.urandom(TOTP_KEY_BYTES))
        device.save()
    return device


def second_factor_enrol(*, user: User, device_id: int | None, token: str) -> tuple[Authenticator, list[str]]:
    """Activate the user's pending authenticator once it has produced a valid code, and hand out a
    fresh set of recovery codes (returned in clear this once; the old set, if any, is void).

    The authenticator must be recent and its enrolment code still in force. A wrong code changes
    nothing but the device's throttle, which django-otp's logic keeps so that guessing slows down.
    """
    token = "".join(str(token).split())
    if not token.isdigit() or len(token) > 8:
        raise ValidationError("Enter the 6-digit code your authenticator app shows.", code="invalid_token")
    stale = ValidationError("This enrolment is no longer open; start again.", code="stale")
    if device_id is None:
        raise stale
    now = timezone.now()
    with transaction.atomic():
        device = Authenticator.objects.select_for_update().filter(pk=device_id, user=user).first()
        if device is None or device.confirmed or device.created_at <= now - PENDING_AUTHENTICATOR_TTL:
            raise stale
        code = _enrolment_code_in_force(user=user, code_id=device.enrolment_code_id, now=now)
        allowed, _ = device.verify_is_allowed()
        if not allowed:
            raise ValidationError("Too many wrong codes; wait a few seconds and try again.", code="throttled")
        # verify_token writes the throttle (on failure) or the last used step (on success).
        verified = device.verify_token(token)
        if verified:
            device.confirmed = True
            device.save(update_fields=["confirmed"])
            model_update(code, actor=user, revoked_at=now)  # spent: enrolment is done
            Authenticator.objects.filter(user=user, confirmed=False).delete()
            codes = recovery_codes_replace(user=user)
            model_update(user, actor=user, reason="second factor enrolled", second_factor_enrolled_at=now)
    if not verified:
        raise ValidationError(
            "That code does not match. Check the time on your phone and enter the current code.",
            code="invalid_token",
        )
    logger.info("Second factor enrolled for user id %s", user.pk)
    return device, codes


def recovery_codes_replace(*, user: User) -> list[str]:
    """A new set of recovery codes for ``user``, returned in clear this once; the old set is
    void. Only keyed digests are stored."""
    with transaction.atomic():
        RecoveryCodeSet.objects.filter(user=user).delete()
        device = RecoveryCodeSet.objects.create(user=user, name=RECOVERY_CODES_NAME, confirmed=True)
        codes = [_new_recovery_code() for _ in range(settings.CUSTOS_RECOVERY_CODE_COUNT)]
        RecoveryCode.objects.bulk_create(
            RecoveryCode(device=device, digest=recovery_code_digest(code)) for code in codes
        )
    return codes


def _new_recovery_code() -> str:
    # Eight lower-case base32 characters (40 bits), as django-otp's StaticToken.random_token.
    from django_otp.plugins.otp_static.models import StaticToken

    return StaticToken.random_token()


def second_factor_reset(*, user: User, actor: User, reason: str) -> tuple[int, str]:
    """Remove every second-factor device of ``user`` (a lost phone, used-up recovery codes) and
    issue them an enrolment code, so that they enrol again with it and not with the password
    alone.

    Every session of the user that passed its second factor before now stops being verified
    (``second_factor_reset_at``). The reset is in the user's history, attributed to ``actor``
    with the reason. Returns the number of devices removed and the enrolment code (in clear,
    this once).
    """
    reason = " ".join(reason.split())
    if not reason:
        raise ValidationError("Give the reason for the reset (it goes into the user's history).")
    if len(reason) > RESET_REASON_MAX_LENGTH:
        raise ValidationError(f"Keep the reason to {RESET_REASON_MAX_LENGTH} characters (history holds 100).")
    if actor.pk == user.pk:
        raise ValidationError("Nobody resets their own second factor; another administrator does it.")
    if not _is_administrator(actor):
        raise ValidationError(f"{actor.get_username()} is not an active DPO or superuser.")
    now = timezone.now()
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=user.pk)
        devices = list(Authenticator.objects.filter(user=user, confirmed=True)) + list(
            RecoveryCodeSet.objects.filter(user=user)
        )
        if not devices:
            raise ValidationError(f"{user.get_username()} has no second factor; there is nothing to reset.")
        for device in devices:
            device.delete()
        model_update(
            user,
            actor=actor,
            reason=f"{RESET_REASON_PREFIX}{reason}",
            second_factor_enrolled_at=None,
            second_factor_reset_at=now,
        )
        code = _enrolment_code_create(user=user, actor=actor, now=now)
    logger.info("Second factor reset for user id %s by user id %s", user.pk, actor.pk)
    return len(devices), code


def authenticators_pending_purge(*, now: datetime | None = None) -> int:
    """Delete enrolments never confirmed (their secret was shown once and is no use now);
    returns how many."""
    now = now or timezone.now()
    deleted, _ = Authenticator.objects.filter(
        confirmed=False, created_at__lte=now - PENDING_AUTHENTICATOR_TTL
    ).delete()
    return deleted


def authenticators_rewrap_batch(*, batch_size: int = 500) -> int:
    """Re-wrap up to ``batch_size`` authenticator keys not yet under the current master-key
    version (part of a rotation: a retired version can then be destroyed without locking anyone
    out). Returns how many; 0 means done."""
    provider = get_provider()
    current = provider.current_version()
    with transaction.atomic():
        rows = list(
            Authenticator.objects.exclude(key_version=current)
            .select_for_update(skip_locked=True)
            .order_by("pk")[:batch_size]
        )
        for row in rows:
            row.set_key(row.bin_key)
        Authenticator.objects.bulk_update(rows, ["key_version", "key_wrapped"])
    return len(rows)


def authenticators_stale_count() -> int:
    return Authenticator.objects.exclude(key_version=get_provider().current_version()).count()


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
