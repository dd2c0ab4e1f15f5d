"""Moves second factors out of django-otp's tables, where a database dump would read them.

Each confirmed ``TOTPDevice`` becomes an ``Authenticator`` with the same settings and its key
wrapped by the master key; each recovery code becomes a keyed digest under a ``RecoveryCodeSet``.
Unconfirmed TOTP devices (pending enrolments, whose secret any session of the user could see) are
dropped: those users enrol again with an enrolment code. Sessions verified by an old device must
pass their second factor again, since the device they name is gone.

The associated data and the digest are spelled out here, frozen, rather than imported.
"""

from __future__ import annotations

from binascii import hexlify, unhexlify

from django.db import migrations
from django.utils.crypto import salted_hmac


def _aad(user_id: int) -> bytes:
    return f"custos.authenticator:{user_id}".encode()


def forwards(apps, schema_editor):
    from compliance_site.keys import get_provider

    TOTPDevice = apps.get_model("otp_totp", "TOTPDevice")
    StaticDevice = apps.get_model("otp_static", "StaticDevice")
    Authenticator = apps.get_model("compliance_site", "Authenticator")
    RecoveryCodeSet = apps.get_model("compliance_site", "RecoveryCodeSet")
    RecoveryCode = apps.get_model("compliance_site", "RecoveryCode")
    devices = list(TOTPDevice.objects.filter(confirmed=True))
    provider = get_provider() if devices else None
    for device in devices:
        version, wrapped = provider.wrap(unhexlify(device.key.encode()), associated_data=_aad(device.user_id))
        moved = Authenticator.objects.create(
            user_id=device.user_id,
            name=device.name,
            confirmed=True,
            key_wrapped=wrapped,
            key_version=version,
            step=device.step,
            t0=device.t0,
            digits=device.digits,
            tolerance=device.tolerance,
            drift=device.drift,
            last_t=device.last_t,
            throttling_failure_timestamp=device.throttling_failure_timestamp,
            throttling_failure_count=device.throttling_failure_count,
            last_used_at=device.last_used_at,
        )
        # auto_now_add set it to now; the enrolment date is the old one.
        Authenticator.objects.filter(pk=moved.pk).update(created_at=device.created_at)
    TOTPDevice.objects.all().delete()
    for static in StaticDevice.objects.filter(confirmed=True):
        codes = RecoveryCodeSet.objects.create(
            user_id=static.user_id,
            name=static.name,
            confirmed=True,
            throttling_failure_timestamp=static.throttling_failure_timestamp,
            throttling_failure_count=static.throttling_failure_count,
        )
        RecoveryCode.objects.bulk_create(
            RecoveryCode(
                device=codes,
                digest=salted_hmac(
                    "custos.recovery-code", token.token.strip().lower(), algorithm="sha256"
                ).hexdigest(),
            )
            for token in static.token_set.all()
        )
    StaticDevice.objects.all().delete()


def backwards(apps, schema_editor):
    """Authenticators go back to django-otp's table in clear; recovery codes cannot (only their
    digests exist), so those users are handed new ones at their next enrolment."""
    from compliance_site.keys import get_provider

    TOTPDevice = apps.get_model("otp_totp", "TOTPDevice")
    Authenticator = apps.get_model("compliance_site", "Authenticator")
    for device in Authenticator.objects.filter(confirmed=True):
        key = get_provider().unwrap(
            device.key_version, bytes(device.key_wrapped), associated_data=_aad(device.user_id)
        )
        TOTPDevice.objects.create(
            user_id=device.user_id,
            name=device.name,
            confirmed=True,
            key=hexlify(key).decode(),
            step=device.step,
            t0=device.t0,
            digits=device.digits,
            tolerance=device.tolerance,
            drift=device.drift,
            last_t=device.last_t,
        )


class Migration(migrations.Migration):
    dependencies = [
        ("compliance_site", "0003_second_factor_secrets_at_rest"),
        ("otp_totp", "0003_add_timestamps"),
        ("otp_static", "0003_add_timestamps"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
