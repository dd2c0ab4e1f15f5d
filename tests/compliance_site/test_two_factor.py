"""Two-factor staff login (django-otp): with CUSTOS_REQUIRE_2FA every staff user passes a TOTP code
or a single-use recovery code after the password; a user without an authenticator enrols one,
confirmed by a first code; `reset_second_factor` removes it with history."""

from __future__ import annotations

import io
import time
from base64 import b32encode
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from compliance_site.models import User
from compliance_site.services import second_factor_enrol, totp_device_prepare
from tests.factories import RecordingFactory

PASSWORD = "correct horse battery staple"  # UserFactory's
INDEX = "/admin/"


@pytest.fixture(autouse=True)
def two_factor_on(settings):
    settings.CUSTOS_REQUIRE_2FA = True


def totp_now(device: TOTPDevice, *, steps_ahead: int = 0) -> str:
    """The code the user's phone shows, computed from the device's key as an app would."""
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time() + steps_ahead * device.step
    return f"{totp.token():0{device.digits}d}"


def enrolled(user) -> tuple[TOTPDevice, list[str]]:
    device = totp_device_prepare(user=user)
    return second_factor_enrol(user=user, device_id=device.pk, token=totp_now(device))


def log_in_with_password(client, username: str, next_url: str = INDEX):
    return client.post(
        f"{reverse('admin:login')}?next={next_url}",
        {"username": username, "password": PASSWORD, "next": next_url},
    )


def verify(client, device, token: str, next_url: str = INDEX):
    return client.post(
        reverse("admin:second_factor"),
        {"otp_device": device.persistent_id, "otp_token": token, "next": next_url},
    )


# --- Refused without the second factor ---------------------------------------------------------


def test_the_password_alone_does_not_open_the_admin(client, dpo):
    # given: a DPO with an authenticator
    enrolled(dpo)

    # when: they log in with the right password
    response = log_in_with_password(client, dpo.username)

    # then: they are asked for the code, and every admin page sends them back there
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:second_factor"))
    for url in (INDEX, reverse("admin:dsr_datasubjectrequest_changelist"), reverse("admin:password_change")):
        page = client.get(url)
        assert page.status_code == 302, url
        assert page["Location"].startswith(reverse("admin:second_factor")) or page["Location"].startswith(
            reverse("admin:login")
        ), url
    assert client.get(reverse("admin:second_factor")).status_code == 200


def test_the_password_alone_does_not_play_a_recording(client, dpo, queue_a):
    # given: a DPO, who may play every recording, logged in with the password only
    enrolled(dpo)
    recording = RecordingFactory(queue=queue_a)
    log_in_with_password(client, dpo.username)

    # when: their session asks for the audio outside the admin
    response = client.get(reverse("recording-audio", args=[recording.pk]))

    # then: it is sent to the second factor, not served
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:second_factor"))


def test_a_wrong_code_is_refused_and_the_session_stays_unverified(client, dpo):
    device, _ = enrolled(dpo)
    log_in_with_password(client, dpo.username)
    wrong = f"{(int(totp_now(device)) + 1) % 1_000_000:06d}"

    response = verify(client, device, wrong)

    assert response.status_code == 200
    assert "Invalid token" in response.content.decode()
    assert client.get(INDEX).status_code == 302


# --- A valid TOTP code passes ------------------------------------------------------------------


def test_a_valid_totp_code_opens_the_admin_where_the_user_was_going(client, dpo):
    # given: the DPO enrolled; their phone has moved on to the next code since enrolment
    device, _ = enrolled(dpo)
    next_url = reverse("admin:dsr_datasubjectrequest_changelist")
    log_in_with_password(client, dpo.username, next_url)
    session_key = client.session.session_key

    # when: they enter the current code
    response = verify(client, device, totp_now(device, steps_ahead=1), next_url)

    # then: they land where they were going, under a new session key, and stay verified
    assert response.status_code == 302
    assert response["Location"] == next_url
    assert client.session.session_key != session_key
    assert client.get(next_url).status_code == 200
    assert client.get(INDEX).status_code == 200


def test_a_code_is_not_accepted_twice(client, dpo):
    # given: a code that has just been used to log in
    device, _ = enrolled(dpo)
    log_in_with_password(client, dpo.username)
    code = totp_now(device, steps_ahead=1)
    assert verify(client, device, code).status_code == 302

    # when: someone who saw it replays it in another session
    other = client.__class__()
    log_in_with_password(other, dpo.username)
    response = verify(other, device, code)

    # then: refused (django-otp remembers the last time step used)
    assert response.status_code == 200
    assert other.get(INDEX).status_code == 302


def test_another_users_device_cannot_verify(client, dpo, auditor):
    # given: two enrolled users; the auditor knows the DPO's current code
    dpo_device, _ = enrolled(dpo)
    enrolled(auditor)
    log_in_with_password(client, auditor.username)

    # when: the auditor submits the DPO's device and code
    response = verify(client, dpo_device, totp_now(dpo_device, steps_ahead=1))

    # then: not verified
    assert response.status_code == 200
    assert client.get(INDEX).status_code == 302


# --- Recovery codes ----------------------------------------------------------------------------


def test_a_recovery_code_works_once(client, dpo):
    # given: the DPO's recovery codes, the phone lost
    _, codes = enrolled(dpo)
    recovery = StaticDevice.objects.get(user=dpo)
    code = codes[3]

    # when: they log in with one (typed in upper case with a space, as from paper)
    log_in_with_password(client, dpo.username)
    response = verify(client, recovery, f"{code[:4].upper()} {code[4:].upper()}")

    # then: in, told how many are left; the code is gone
    assert response.status_code == 302
    assert client.get(INDEX).status_code == 200
    assert not StaticToken.objects.filter(device=recovery, token=code).exists()
    assert StaticToken.objects.filter(device=recovery).count() == len(codes) - 1

    # when: the same code is tried again in a new login
    client.post(reverse("admin:logout"))
    log_in_with_password(client, dpo.username)
    again = verify(client, recovery, code)

    # then: refused
    assert again.status_code == 200
    assert client.get(INDEX).status_code == 302


def test_the_code_page_offers_the_app_and_the_recovery_codes(client, dpo):
    device, codes = enrolled(dpo)
    log_in_with_password(client, dpo.username)

    page = client.get(reverse("admin:second_factor")).content.decode()

    assert "The code of your authenticator app" in page
    assert f"A recovery code ({len(codes)} left)" in page
    assert f'value="{device.persistent_id}"' in page and "checked" in page


# --- Enrolment ---------------------------------------------------------------------------------


def test_a_user_without_an_authenticator_is_led_to_enrolment(client, qa_lead_a):
    response = log_in_with_password(client, qa_lead_a.username)

    assert response.status_code == 302
    second = client.get(response["Location"])
    assert second.status_code == 302
    assert second["Location"].startswith(reverse("admin:second_factor_enrol"))
    page = client.get(second["Location"])
    assert page.status_code == 200
    body = page.content.decode()
    device = TOTPDevice.objects.get(user=qa_lead_a)
    assert device.confirmed is False
    assert "<svg" in body
    assert "otpauth://totp/Custos%3Aqa.a?secret=" in body
    secret = b32encode(device.bin_key).decode()
    assert secret in body
    # Reloading keeps the key the user may already have scanned.
    assert secret in client.get(second["Location"]).content.decode()
    assert TOTPDevice.objects.filter(user=qa_lead_a).count() == 1


def test_enrolment_activates_the_device_only_after_a_valid_code(client, qa_lead_a):
    # given: the enrolment page shown
    log_in_with_password(client, qa_lead_a.username)
    client.get(reverse("admin:second_factor_enrol"))
    device = TOTPDevice.objects.get(user=qa_lead_a)
    wrong = f"{(int(totp_now(device)) + 1) % 1_000_000:06d}"

    # when: a wrong code is entered
    response = client.post(reverse("admin:second_factor_enrol"), {"token": wrong, "next": INDEX})

    # then: nothing is switched on, no recovery codes exist, the admin stays closed
    assert response.status_code == 200
    assert "does not match" in response.content.decode()
    device.refresh_from_db()
    assert device.confirmed is False
    assert not StaticDevice.objects.filter(user=qa_lead_a).exists()
    assert client.get(INDEX).status_code == 302

    # when: the right code follows at once, it is held back too (guessing is throttled)
    response = client.post(reverse("admin:second_factor_enrol"), {"token": totp_now(device), "next": INDEX})
    assert "Too many wrong codes" in response.content.decode()
    device.refresh_from_db()
    assert device.confirmed is False

    # when: a moment later (django-otp slows guessing down: 1 s after one wrong code), the right
    # code is entered
    TOTPDevice.objects.filter(pk=device.pk).update(
        throttling_failure_timestamp=device.throttling_failure_timestamp - timedelta(seconds=2)
    )
    response = client.post(reverse("admin:second_factor_enrol"), {"token": totp_now(device), "next": INDEX})

    # then: the device is active, the recovery codes are shown this once, the session is verified
    assert response.status_code == 200
    device.refresh_from_db()
    assert device.confirmed is True
    tokens = set(StaticToken.objects.filter(device__user=qa_lead_a).values_list("token", flat=True))
    assert len(tokens) == 10
    body = response.content.decode()
    assert all(token in body for token in tokens)
    assert response["Cache-Control"].startswith("max-age=0") or "no-store" in response["Cache-Control"]
    assert client.get(INDEX).status_code == 200
    # The codes are not shown again: the enrolment page now sends to the code page.
    assert client.get(reverse("admin:second_factor_enrol")).status_code == 302
    user = User.objects.get(pk=qa_lead_a.pk)
    assert user.second_factor_enrolled_at is not None
    assert user.history.first().history_change_reason == "second factor enrolled"


def test_a_non_numeric_enrolment_code_is_refused_clearly(client, qa_lead_a):
    log_in_with_password(client, qa_lead_a.username)
    client.get(reverse("admin:second_factor_enrol"))

    response = client.post(reverse("admin:second_factor_enrol"), {"token": "<script>", "next": INDEX})

    assert response.status_code == 200
    assert "6-digit code" in response.content.decode()
    assert "<script>" not in response.content.decode().split('id="second-factor-enrol-form"')[1]
    assert not TOTPDevice.objects.filter(user=qa_lead_a, confirmed=True).exists()


def test_an_enrolled_user_cannot_enrol_another_authenticator_with_the_password_alone(client, dpo):
    enrolled(dpo)
    log_in_with_password(client, dpo.username)

    response = client.get(reverse("admin:second_factor_enrol"))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:second_factor"))
    assert TOTPDevice.objects.filter(user=dpo).count() == 1


def test_the_second_factor_pages_are_not_for_anonymous_visitors(client):
    for name in ("admin:second_factor", "admin:second_factor_enrol"):
        response = client.get(reverse(name))
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("admin:login"))


def test_a_session_owing_its_second_factor_can_log_out(client, dpo):
    enrolled(dpo)
    log_in_with_password(client, dpo.username)

    response = client.post(reverse("admin:logout"))

    assert response.status_code == 200
    assert "_auth_user_id" not in client.session


def test_next_cannot_lead_off_site(client, dpo):
    device, _ = enrolled(dpo)
    log_in_with_password(client, dpo.username)

    response = verify(client, device, totp_now(device, steps_ahead=1), "https://evil.example/")

    assert response["Location"] == INDEX


def test_with_the_setting_off_the_password_is_enough(client, dpo, settings):
    settings.CUSTOS_REQUIRE_2FA = False
    enrolled(dpo)

    response = log_in_with_password(client, dpo.username)

    assert response["Location"] == INDEX
    assert client.get(INDEX).status_code == 200


# --- Reset -------------------------------------------------------------------------------------


def test_reset_removes_the_devices_and_leaves_history(client, dpo, analyst):
    # given: the analyst enrolled and logged in with both factors
    device, _ = enrolled(analyst)
    log_in_with_password(client, analyst.username)
    verify(client, device, totp_now(device, steps_ahead=1))
    assert client.get(INDEX).status_code == 200

    # when: the DPO resets the analyst's second factor (phone lost)
    out = io.StringIO()
    call_command("reset_second_factor", analyst.username, by=dpo.username, reason="phone lost", stdout=out)

    # then: no device is left, the open session is no longer verified, the next login enrols
    assert not TOTPDevice.objects.filter(user=analyst).exists()
    assert not StaticDevice.objects.filter(user=analyst).exists()
    assert client.get(INDEX).status_code == 302
    assert "2 devices" in out.getvalue()
    record = User.objects.get(pk=analyst.pk).history.first()
    assert record.history_change_reason == "second factor reset: phone lost"
    assert record.history_user_id == dpo.pk
    assert record.second_factor_enrolled_at is None


@pytest.mark.parametrize(
    ("target", "by", "reason", "message"),
    [
        ("ana.analyst", "dana.dpo", "  ", "reason"),
        ("ana.analyst", "ana.analyst", "phone lost", "Nobody resets their own"),
        ("ana.analyst", "nobody", "phone lost", "no user 'nobody'"),
        ("nobody", "dana.dpo", "phone lost", "no user 'nobody'"),
        ("dana.dpo", "ana.analyst", "phone lost", "nothing to reset"),
        ("ana.analyst", "dana.dpo", "x" * 80, "characters"),
    ],
)
def test_reset_refuses_with_a_clear_error_and_changes_nothing(dpo, analyst, target, by, reason, message):
    enrolled(analyst)
    history_rows = User.history.count()

    with pytest.raises(CommandError, match=message):
        call_command("reset_second_factor", target, by=by, reason=reason, stdout=io.StringIO())

    assert TOTPDevice.objects.filter(user=analyst, confirmed=True).exists()
    assert StaticToken.objects.filter(device__user=analyst).count() == 10
    assert User.history.count() == history_rows
