"""The staff user (custom from the start so that identity fields can grow without a migration of
auth tables) and the integrations' API tokens; business entities live in the apps, not here."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils.crypto import salted_hmac
from django_otp.models import Device, ThrottlingMixin, TimestampMixin
from django_otp.plugins.otp_totp.models import TOTPDevice
from simple_history.models import HistoricalRecords


# django-otp ships no types: the plugin cannot find the default manager of its Device subclasses
# (Authenticator, RecoveryCodeSet), so the reverse managers it adds here stay untyped.
class User(AbstractUser):  # type: ignore[django-manager-missing]
    # Password hashes and login times stay out of history: they are secrets and noise, not audit.
    history = HistoricalRecords(excluded_fields=["password", "last_login"])
    # Set when an authenticator is confirmed, cleared by a reset: its history says who enrolled
    # when, and who reset whose second factor and why. The devices are below.
    second_factor_enrolled_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Set by a reset of the second factor: a session that passed its second factor before this
    # moment is no longer verified, whatever device it names (compliance_site.two_factor).
    second_factor_reset_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta(AbstractUser.Meta):  # type: ignore[name-defined]  # django-stubs omits AbstractUser.Meta
        swappable = "AUTH_USER_MODEL"
        db_table = "custos_user"


class EnrolmentCode(models.Model):
    """A single-use, expiring code an administrator issues so that a new or reset account may
    enrol an authenticator: the password alone never shows a second-factor secret.

    Only the SHA-256 of the code is stored (the code is 100 random bits, shown once to the
    administrator who issued it), so a database reader learns nothing usable. The rows stay as
    the record of who issued which enrolment to whom, and when it was used.
    """

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="enrolment_codes")
    digest = models.CharField(max_length=64, unique=True)
    issued_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    issued_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    # Set when the code is entered: from then on only the session that entered it may enrol.
    used_at = models.DateTimeField(null=True, blank=True)
    # Set when a newer code, an enrolment or a reset makes this one void.
    revoked_at = models.DateTimeField(null=True, blank=True)
    # Who issued, used and revoked which code, when; the digest stays out of history.
    history = HistoricalRecords(excluded_fields=["digest"])

    class Meta:
        ordering = ["-issued_at", "-pk"]
        indexes = [models.Index(fields=["user", "-issued_at"], name="enrolmentcode_user_issued")]

    def __str__(self) -> str:
        return f"Enrolment code #{self.pk} for user id {self.user_id}"


def authenticator_key_aad(user_id: int) -> bytes:
    """Associated data of an authenticator's wrapped key: a key copied onto another user's row
    does not decrypt (a database writer cannot hand themselves someone else's authenticator)."""
    return f"custos.authenticator:{user_id}".encode()


class Authenticator(TimestampMixin, ThrottlingMixin, Device):
    """A TOTP authenticator whose secret is stored wrapped by the master key.

    django-otp's ``TOTPDevice`` keeps its key in hex in the table, so a database dump would hand
    out every second factor. This model has the same fields and borrows ``TOTPDevice``'s own
    ``verify_token`` and ``config_url`` unchanged (drift, replay protection through ``last_t``,
    throttling), so verification stays django-otp's; only ``bin_key`` differs: it unwraps.

    An unconfirmed row is an enrolment in progress, reachable only from the session that
    created it (its id lives in that session) and discarded when that session starts another
    attempt, when enrolment completes, or by the nightly purge.
    """

    key_wrapped: models.BinaryField[bytes | memoryview, bytes | memoryview] = models.BinaryField()
    key_version: models.CharField[str, str] = models.CharField(max_length=255)
    step: models.PositiveSmallIntegerField[int, int] = models.PositiveSmallIntegerField(default=30)
    t0: models.BigIntegerField[int, int] = models.BigIntegerField(default=0)
    digits: models.PositiveSmallIntegerField[int, int] = models.PositiveSmallIntegerField(
        choices=[(6, 6), (8, 8)], default=6
    )
    tolerance: models.PositiveSmallIntegerField[int, int] = models.PositiveSmallIntegerField(default=1)
    drift: models.SmallIntegerField[int, int] = models.SmallIntegerField(default=0)
    last_t: models.BigIntegerField[int, int] = models.BigIntegerField(default=-1)
    # The enrolment code that allowed this enrolment; null for authenticators carried over from
    # django-otp's table. Confirming needs the code to be still in force.
    enrolment_code: models.ForeignKey[EnrolmentCode | None, EnrolmentCode | None] = models.ForeignKey(
        EnrolmentCode, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta(Device.Meta):
        verbose_name = "authenticator app"

    @property
    def bin_key(self) -> bytes:
        from compliance_site.keys import get_provider

        return get_provider().unwrap(
            self.key_version, bytes(self.key_wrapped), associated_data=authenticator_key_aad(self.user_id)
        )

    def set_key(self, key: bytes) -> None:
        from compliance_site.keys import get_provider

        self.key_version, self.key_wrapped = get_provider().wrap(
            key, associated_data=authenticator_key_aad(self.user_id)
        )

    # django-otp's TOTP logic, as is: it reads only the fields above and ``bin_key``.
    verify_token = TOTPDevice.verify_token
    get_throttle_factor = TOTPDevice.get_throttle_factor
    config_url = TOTPDevice.config_url
    _read_str_from_settings = TOTPDevice._read_str_from_settings


def recovery_code_digest(code: str) -> str:
    """HMAC-SHA256 of a normalised recovery code, keyed by SECRET_KEY.

    Keyed because a recovery code carries only 40 bits: a plain hash in a database dump would be
    reversed by trying every code; without SECRET_KEY (never in the database) it cannot be.
    """
    return salted_hmac("custos.recovery-code", code.strip().lower(), algorithm="sha256").hexdigest()


class RecoveryCodeSet(ThrottlingMixin, Device):
    """Single-use recovery codes, stored as keyed digests (django-otp's ``StaticToken`` keeps
    them in clear). Verification is throttled like django-otp's devices, and a code is spent by
    deleting its row: of two concurrent logins with one code, only the one whose delete counts a
    row gets in."""

    class Meta(Device.Meta):
        verbose_name = "recovery code set"

    def get_throttle_factor(self) -> int:
        return getattr(settings, "OTP_STATIC_THROTTLE_FACTOR", 1)

    def verify_token(self, token) -> bool:
        allowed, _ = self.verify_is_allowed()
        if not allowed:
            return False
        deleted, _ = self.codes.filter(digest=recovery_code_digest(str(token))).delete()
        if deleted:
            self.throttle_reset(commit=True)
            return True
        self.throttle_increment(commit=True)
        return False


class RecoveryCode(models.Model):
    device = models.ForeignKey(RecoveryCodeSet, on_delete=models.CASCADE, related_name="codes")
    digest = models.CharField(max_length=64, db_index=True)

    def __str__(self) -> str:
        return f"Recovery code #{self.pk}"


class IntegrationToken(models.Model):
    """An integration's API token, as its SHA-256 digest only: the token itself is printed once by
    ``manage.py create_integration`` and never stored, so a database reader (or an admin lookup
    oracle) learns nothing that authenticates. ``prefix`` is the token's first characters, not
    secret, to tell which token an integration holds. One per integration; rotating replaces it.
    No history: a copy of a digest in a history row would outlive its rotation for nothing."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="integration_token"
    )
    prefix = models.CharField(max_length=8, editable=False)
    digest = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(editable=False)

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user_id})"
