"""The data migration that moves django-otp's devices (keys and recovery codes in clear) into
Custos' own devices (key wrapped by the master key, recovery codes as keyed digests)."""

from __future__ import annotations

import os
import time

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django_otp.oath import TOTP

from compliance_site.models import Authenticator, RecoveryCodeSet
from tests.factories import UserFactory

BEFORE = [("compliance_site", "0003_second_factor_secrets_at_rest")]
AFTER = [("compliance_site", "0004_move_otp_devices_encrypted")]


@pytest.mark.django_db(transaction=True)
def test_the_migration_wraps_existing_keys_hashes_recovery_codes_and_drops_pending_enrolments():
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old_apps = executor.loader.project_state(
        [*BEFORE, ("otp_totp", "0003_add_timestamps"), ("otp_static", "0003_add_timestamps")]
    ).apps
    key = os.urandom(20)
    try:
        # given: on the old schema, a user with a confirmed TOTP device (key in hex), recovery
        # codes in clear, and another user with a pending enrolment whose secret anyone saw
        user, pending_user = UserFactory(username="old.enrolled"), UserFactory(username="old.pending")
        TOTPDevice = old_apps.get_model("otp_totp", "TOTPDevice")
        StaticDevice = old_apps.get_model("otp_static", "StaticDevice")
        StaticToken = old_apps.get_model("otp_static", "StaticToken")
        TOTPDevice.objects.create(
            user_id=user.pk, name="Authenticator app", confirmed=True, key=key.hex(), drift=1
        )
        TOTPDevice.objects.create(user_id=pending_user.pk, name="Authenticator app", confirmed=False)
        static = StaticDevice.objects.create(user_id=user.pk, name="Recovery codes", confirmed=True)
        StaticToken.objects.create(device=static, token="abcd2345")
    finally:
        # when
        MigrationExecutor(connection).migrate(AFTER)

    try:
        # then: django-otp's tables are empty; nothing in clear remains
        with connection.cursor() as cursor:
            cursor.execute("SELECT COUNT(*) FROM otp_totp_totpdevice")
            assert cursor.fetchone()[0] == 0
            cursor.execute("SELECT COUNT(*) FROM otp_static_statictoken")
            assert cursor.fetchone()[0] == 0
        device = Authenticator.objects.get(user_id=user.pk)
        assert device.confirmed and device.drift == 1
        assert key.hex().encode() not in bytes(device.key_wrapped) and key not in bytes(device.key_wrapped)
        assert not Authenticator.objects.filter(user_id=pending_user.pk).exists()
        # and the user's app and recovery code still work, through django-otp's verification
        totp = TOTP(key, 30, 0, 6, 1)
        totp.time = time.time()
        assert device.verify_token(f"{totp.token():06d}")
        recovery = RecoveryCodeSet.objects.get(user_id=user.pk)
        assert recovery.verify_token("ABCD2345") and not recovery.verify_token("abcd2345")
    finally:
        latest = MigrationExecutor(connection)
        latest.migrate(latest.loader.graph.leaf_nodes())
