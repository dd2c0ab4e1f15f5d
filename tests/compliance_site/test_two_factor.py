"""Two-factor staff login (django-otp): with CUSTOS_REQUIRE_2FA every staff user passes a TOTP code
or a single-use recovery code after the password; a user without an authenticator enrols one with
an enrolment code an administrator issued, confirmed by a first code; `reset_second_factor`
removes it with history and issues a new enrolment code. Secrets are not usable from a database
dump: authenticator keys are wrapped by the master key, recovery and enrolment codes are digests,
session keys are digests."""

from __future__ import annotations

import io
import time
from base64 import b32decode, b32encode
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone
from django_otp.oath import TOTP

from compliance_site.keys import KeyProviderError, get_provider
from compliance_site.models import Authenticator, RecoveryCode, RecoveryCodeSet, User, recovery_code_digest
from compliance_site.services import (
    authenticator_prepare,
    enrolment_code_issue,
    enrolment_code_redeem,
    second_factor_enrol,
)
from tests.factories import RecordingFactory, UserFactory

PASSWORD = "correct horse battery staple"  # UserFactory's
INDEX = "/admin/"


@pytest.fixture(autouse=True)
def two_factor_on(settings):
    settings.CUSTOS_REQUIRE_2FA = True


def totp_now(device: Authenticator, *, steps_ahead: int = 0) -> str:
    """The code the user's phone shows, computed from the device's key as an app would."""
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time() + steps_ahead * device.step
    return f"{totp.token():0{device.digits}d}"


def administrator():
    return UserFactory(username="root.admin", is_superuser=True)


def enrolled(user) -> tuple[Authenticator, list[str]]:
    code = enrolment_code_issue(user=user, actor=administrator())
    device = authenticator_prepare(user=user, code_id=enrolment_code_redeem(user=user, code=code).pk)
    return second_factor_enrol(user=user, device_id=device.pk, token=totp_now(device))


def secret_shown(page) -> str:
    """The base32 key on an enrolment page, as a user would type it ('' when none is shown)."""
    body = page.content.decode()
    marker = 'id="second-factor-secret">'
    if marker not in body:
        return ""
    return body.split(marker, 1)[1].split("<", 1)[0].replace(" ", "")


def enrol_page_with_code(client, user) -> tuple[str, object]:
    """Log ``user`` in with the password, enter a fresh enrolment code: the enrolment page."""
    code = enrolment_code_issue(user=user, actor=administrator())
    log_in_with_password(client, user.username)
    response = client.post(reverse("admin:second_factor_enrol"), {"enrolment_code": code, "next": INDEX})
    assert response.status_code == 302, response.content.decode()
    return code, client.get(response["Location"])


def log_in_with_password(client, username: str, next_url: str = INDEX):
    return client.post(
        f"{reverse('admin:login')}?next={next_url}",
        {"username": username, "password": PASSWORD, "next": next_url},
    )


def verify(client, token: str, next_url: str = INDEX):
    """The second-factor page posted as a user fills it in: one field, the code."""
    return client.post(reverse("admin:second_factor"), {"otp_token": token, "next": next_url})


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

    response = verify(client, wrong)

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
    response = verify(client, totp_now(device, steps_ahead=1), next_url)

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
    assert verify(client, code).status_code == 302

    # when: someone who saw it replays it in another session
    other = client.__class__()
    log_in_with_password(other, dpo.username)
    response = verify(other, code)

    # then: refused (django-otp remembers the last time step used)
    assert response.status_code == 200
    assert other.get(INDEX).status_code == 302


def test_another_users_device_cannot_verify(client, dpo, auditor):
    # given: two enrolled users; the auditor knows the DPO's current code
    dpo_device, _ = enrolled(dpo)
    enrolled(auditor)
    log_in_with_password(client, auditor.username)

    # when: the auditor submits the DPO's device and code
    response = verify(client, totp_now(dpo_device, steps_ahead=1))

    # then: not verified
    assert response.status_code == 200
    assert client.get(INDEX).status_code == 302


# --- Recovery codes ----------------------------------------------------------------------------


def test_a_recovery_code_works_once(client, dpo):
    # given: the DPO's recovery codes, the phone lost
    _, codes = enrolled(dpo)
    recovery = RecoveryCodeSet.objects.get(user=dpo)
    code = codes[3]

    # when: they log in with one (typed in upper case with a space, as from paper)
    log_in_with_password(client, dpo.username)
    response = verify(client, f"{code[:4].upper()} {code[4:].upper()}")

    # then: in, told how many are left; the code is gone
    assert response.status_code == 302
    assert client.get(INDEX).status_code == 200
    assert not RecoveryCode.objects.filter(device=recovery, digest=recovery_code_digest(code)).exists()
    assert RecoveryCode.objects.filter(device=recovery).count() == len(codes) - 1

    # when: the same code is tried again in a new login
    client.post(reverse("admin:logout"))
    log_in_with_password(client, dpo.username)
    again = verify(client, code)

    # then: refused
    assert again.status_code == 200
    assert client.get(INDEX).status_code == 302


def test_the_code_page_has_one_field_for_either_code(client, dpo):
    _, codes = enrolled(dpo)
    log_in_with_password(client, dpo.username)

    page = client.get(reverse("admin:second_factor")).content.decode()

    # One field and no choice to make first: nothing to tick, the help says either code works.
    assert 'name="otp_token"' in page and 'name="otp_device"' not in page and 'type="radio"' not in page
    assert "or one of the\n    recovery codes" in page and f"{len(codes)} left" in page


def test_a_recovery_code_is_accepted_without_choosing_it_and_a_totp_code_beside_it(client, dpo):
    # given: the DPO enrolled; the page is posted as the browser does, without any device
    device, codes = enrolled(dpo)
    log_in_with_password(client, dpo.username)

    # when: a recovery code in the one field
    response = client.post(reverse("admin:second_factor"), {"otp_token": codes[0], "next": INDEX})

    # then: in
    assert response.status_code == 302
    assert client.get(INDEX).status_code == 200

    # and: the next login passes with the app's code in the same field
    client.post(reverse("admin:logout"))
    log_in_with_password(client, dpo.username)
    response = client.post(reverse("admin:second_factor"), {"otp_token": totp_now(device, steps_ahead=1)})
    assert response.status_code == 302
    assert client.get(INDEX).status_code == 200


def test_a_device_posted_by_hand_changes_nothing(client, dpo):
    # given: a form posted with the old device choice naming the app, and a recovery code
    device, codes = enrolled(dpo)
    log_in_with_password(client, dpo.username)

    # when
    response = client.post(
        reverse("admin:second_factor"),
        {"otp_device": device.persistent_id, "otp_token": codes[1], "next": INDEX},
    )

    # then: the code's shape decides, not the posted field
    assert response.status_code == 302
    assert client.get(INDEX).status_code == 200


def test_a_wrong_recovery_code_locks_the_recovery_codes_and_not_the_app(client, dpo, settings):
    # given: the DPO enrolled; a failure locks a device for a minute (django-otp's throttling)
    settings.OTP_STATIC_THROTTLE_FACTOR = settings.OTP_TOTP_THROTTLE_FACTOR = 60
    device, codes = enrolled(dpo)
    recovery = RecoveryCodeSet.objects.get(user=dpo)
    log_in_with_password(client, dpo.username)

    # when: a wrong recovery code is tried
    assert verify(client, "wrongzz2").status_code == 200

    # then: the recovery codes are locked, even the right one is refused for now and not spent ...
    recovery.refresh_from_db()
    device.refresh_from_db()
    assert (recovery.throttling_failure_count, device.throttling_failure_count) == (1, 0)
    refused = verify(client, codes[2])
    assert refused.status_code == 200 and "temporarily disabled" in refused.content.decode()
    assert RecoveryCode.objects.filter(device=recovery).count() == len(codes)
    # ... while the app's code still lets the DPO in
    assert verify(client, totp_now(device, steps_ahead=1)).status_code == 302


def test_a_wrong_app_code_locks_the_app_and_not_the_recovery_codes(client, dpo, settings):
    settings.OTP_STATIC_THROTTLE_FACTOR = settings.OTP_TOTP_THROTTLE_FACTOR = 60
    device, codes = enrolled(dpo)
    log_in_with_password(client, dpo.username)
    wrong = f"{(int(totp_now(device, steps_ahead=1)) + 7) % 1_000_000:06d}"

    assert verify(client, wrong).status_code == 200

    device.refresh_from_db()
    assert device.throttling_failure_count == 1
    assert RecoveryCodeSet.objects.get(user=dpo).throttling_failure_count == 0
    refused = verify(client, totp_now(device, steps_ahead=1))
    assert refused.status_code == 200 and "temporarily disabled" in refused.content.decode()
    assert verify(client, codes[0]).status_code == 302


# --- Enrolment: an enrolment code, then a fresh secret for this session only -------------------


def test_the_password_alone_shows_no_secret_and_says_whom_to_ask(client, qa_lead_a):
    # given: a QA lead who has no authenticator and no enrolment code
    response = log_in_with_password(client, qa_lead_a.username)

    # when: they follow the login to the second-factor pages
    second = client.get(response["Location"])
    assert second.status_code == 302
    assert second["Location"].startswith(reverse("admin:second_factor_enrol"))
    page = client.get(second["Location"])

    # then: they are asked for an enrolment code and told to ask an administrator; no secret, no
    # QR code, no device made
    body = page.content.decode()
    assert page.status_code == 200
    assert 'id="enrolment-code-form"' in body and "Ask a DPO" in body
    assert "otpauth://" not in body and "second-factor-qr" not in body and secret_shown(page) == ""
    assert not Authenticator.objects.filter(user=qa_lead_a).exists()
    assert client.get(INDEX).status_code == 302


def test_enrolment_with_a_code_shows_a_fresh_secret_to_that_session_only(client, qa_lead_a):
    # given: the QA lead entered the enrolment code an administrator gave them
    _, page = enrol_page_with_code(client, qa_lead_a)

    # then: a QR code and a key, of a device not yet switched on
    body = page.content.decode()
    device = Authenticator.objects.get(user=qa_lead_a)
    assert device.confirmed is False
    assert "<svg" in body and "otpauth://totp/Custos%3Aqa.a?secret=" in body
    first = secret_shown(page)
    assert first == b32encode(device.bin_key).decode()

    # when: the page is reloaded
    again = client.get(reverse("admin:second_factor_enrol"))

    # then: a new key; the one shown before is gone for good
    assert secret_shown(again) not in ("", first)
    assert Authenticator.objects.filter(user=qa_lead_a).count() == 1
    assert b32encode(Authenticator.objects.get(user=qa_lead_a).bin_key).decode() == secret_shown(again)

    # when: another session logs in with the same password (an attacker who knows it)
    other = client.__class__()
    log_in_with_password(other, qa_lead_a.username)
    stolen = other.get(reverse("admin:second_factor_enrol"))

    # then: it sees no secret, and the first session's enrolment is untouched
    assert secret_shown(stolen) == "" and "otpauth://" not in stolen.content.decode()
    assert Authenticator.objects.filter(user=qa_lead_a).count() == 1


def test_a_secret_seen_by_an_attacker_is_not_the_one_the_user_enrols(client, qa_lead_a, dpo):
    # given: an attacker with the password and (say) a leaked enrolment code opens the
    # enrolment page and notes the secret, then leaves
    code = enrolment_code_issue(user=qa_lead_a, actor=dpo)
    attacker = client.__class__()
    log_in_with_password(attacker, qa_lead_a.username)
    attacker.post(reverse("admin:second_factor_enrol"), {"enrolment_code": code, "next": INDEX})
    noted = b32decode(secret_shown(attacker.get(reverse("admin:second_factor_enrol"))))
    assert noted

    # when: the real user later gets a new code from the DPO and enrols
    enrolled_device, _ = enrolled(qa_lead_a)

    # then: the noted secret is not the user's; its codes do not pass the second factor
    assert enrolled_device.bin_key != noted
    log_in_with_password(client, qa_lead_a.username)
    forged = TOTP(noted, 30, 0, 6, 0)
    forged.time = time.time()
    response = verify(client, f"{forged.token():06d}")
    assert response.status_code == 200
    assert client.get(INDEX).status_code == 302
    # and the attacker's session cannot confirm its old attempt either
    assert not Authenticator.objects.filter(user=qa_lead_a, confirmed=False).exists()


def test_enrolment_activates_the_device_only_after_a_valid_code(client, qa_lead_a):
    # given: the enrolment page shown
    enrol_page_with_code(client, qa_lead_a)
    device = Authenticator.objects.get(user=qa_lead_a)
    wrong = f"{(int(totp_now(device)) + 1) % 1_000_000:06d}"

    # when: a wrong code is entered
    response = client.post(reverse("admin:second_factor_enrol"), {"token": wrong, "next": INDEX})

    # then: nothing is switched on, no recovery codes exist, the admin stays closed, and the
    # secret is not shown again
    assert response.status_code == 200
    assert "does not match" in response.content.decode()
    assert secret_shown(response) == "" and "otpauth://" not in response.content.decode()
    device.refresh_from_db()
    assert device.confirmed is False
    assert not RecoveryCodeSet.objects.filter(user=qa_lead_a).exists()
    assert client.get(INDEX).status_code == 302

    # when: the right code follows at once, it is held back too (guessing is throttled)
    response = client.post(reverse("admin:second_factor_enrol"), {"token": totp_now(device), "next": INDEX})
    assert "Too many wrong codes" in response.content.decode()
    device.refresh_from_db()
    assert device.confirmed is False

    # when: a moment later (django-otp slows guessing down: 1 s after one wrong code), the right
    # code is entered
    Authenticator.objects.filter(pk=device.pk).update(
        throttling_failure_timestamp=device.throttling_failure_timestamp - timedelta(seconds=2)
    )
    response = client.post(reverse("admin:second_factor_enrol"), {"token": totp_now(device), "next": INDEX})

    # then: the device is active, the recovery codes are shown this once, the session is verified
    assert response.status_code == 200
    device.refresh_from_db()
    assert device.confirmed is True
    body = response.content.decode()
    shown = body.split('id="recovery-codes"', 1)[1].split("</ul>", 1)[0]
    codes = [part.split("</code>", 1)[0] for part in shown.split("<code>")[1:]]
    assert len(codes) == 10
    digests = set(RecoveryCode.objects.filter(device__user=qa_lead_a).values_list("digest", flat=True))
    assert digests == {recovery_code_digest(code) for code in codes}
    assert response["Cache-Control"].startswith("max-age=0") or "no-store" in response["Cache-Control"]
    assert client.get(INDEX).status_code == 200
    # The codes are not shown again: the enrolment page now sends to the code page.
    assert client.get(reverse("admin:second_factor_enrol")).status_code == 302
    user = User.objects.get(pk=qa_lead_a.pk)
    assert user.second_factor_enrolled_at is not None
    assert user.history.first().history_change_reason == "second factor enrolled"


def test_a_non_numeric_enrolment_token_is_refused_clearly(client, qa_lead_a):
    enrol_page_with_code(client, qa_lead_a)

    response = client.post(reverse("admin:second_factor_enrol"), {"token": "<script>", "next": INDEX})

    assert response.status_code == 200
    assert "6-digit code" in response.content.decode()
    assert "<script>" not in response.content.decode().split('id="second-factor-enrol-form"')[1]
    assert not Authenticator.objects.filter(user=qa_lead_a, confirmed=True).exists()


@pytest.mark.parametrize(
    "hostile",
    ["", "x", "<script>alert(1)</script>", "A" * 64, "' OR 1=1 --", "\x00", "2222-2222-2222-2222-2222"],
)
def test_a_wrong_or_hostile_enrolment_code_is_refused_clearly(client, qa_lead_a, hostile):
    enrolment_code_issue(user=qa_lead_a, actor=administrator())
    log_in_with_password(client, qa_lead_a.username)

    response = client.post(reverse("admin:second_factor_enrol"), {"enrolment_code": hostile, "next": INDEX})

    assert response.status_code == 200
    body = response.content.decode()
    assert "<script>alert(1)</script>" not in body
    assert 'id="enrolment-code-form"' in body and secret_shown(response) == ""
    assert not Authenticator.objects.filter(user=qa_lead_a).exists()
    assert client.get(reverse("admin:second_factor_enrol")).status_code == 200
    assert secret_shown(client.get(reverse("admin:second_factor_enrol"))) == ""


def test_an_enrolment_code_works_once_for_its_user_until_it_expires(client, qa_lead_a, qa_lead_b, dpo):
    # given: a code for qa.a
    code = enrolment_code_issue(user=qa_lead_a, actor=dpo)

    # then: qa.b cannot use it (it is bound to its user)
    other = client.__class__()
    log_in_with_password(other, qa_lead_b.username)
    refused = other.post(reverse("admin:second_factor_enrol"), {"enrolment_code": code, "next": INDEX})
    assert refused.status_code == 200 and "not valid" in refused.content.decode()

    # when: qa.a enters it (as typed: lower case, spaces for dashes), then a second session tries it
    log_in_with_password(client, qa_lead_a.username)
    typed = code.lower().replace("-", " ")
    assert client.post(reverse("admin:second_factor_enrol"), {"enrolment_code": typed}).status_code == 302
    second = client.__class__()
    log_in_with_password(second, qa_lead_a.username)
    again = second.post(reverse("admin:second_factor_enrol"), {"enrolment_code": code})

    # then: the second use is refused and sees no secret
    assert again.status_code == 200 and "not valid" in again.content.decode()
    assert secret_shown(second.get(reverse("admin:second_factor_enrol"))) == ""

    # when: a code has expired
    expired = enrolment_code_issue(user=qa_lead_b, actor=dpo)
    qa_lead_b.enrolment_codes.update(expires_at=timezone.now() - timedelta(seconds=1))

    # then: refused
    late = other.post(reverse("admin:second_factor_enrol"), {"enrolment_code": expired})
    assert late.status_code == 200 and "not valid" in late.content.decode()


def test_a_newer_code_voids_the_older_one_and_its_open_enrolment(client, qa_lead_a, dpo):
    # given: qa.a's session redeemed a code and was shown a secret
    enrol_page_with_code(client, qa_lead_a)
    device = Authenticator.objects.get(user=qa_lead_a)

    # when: an administrator issues a new code (the first one may have leaked)
    enrolment_code_issue(user=qa_lead_a, actor=dpo)

    # then: the open enrolment is gone; confirming it fails; the page asks for a code again
    assert not Authenticator.objects.filter(pk=device.pk).exists()
    response = client.post(reverse("admin:second_factor_enrol"), {"token": totp_now(device), "next": INDEX})
    assert "no longer open" in response.content.decode()
    page = client.get(reverse("admin:second_factor_enrol"))
    assert 'id="enrolment-code-form"' in page.content.decode() and secret_shown(page) == ""


def test_enrolment_codes_are_stored_as_digests_only(qa_lead_a, dpo):
    code = enrolment_code_issue(user=qa_lead_a, actor=dpo)

    row = qa_lead_a.enrolment_codes.get()
    history = row.history.first()

    assert code not in str(list(qa_lead_a.enrolment_codes.values()))
    assert row.digest != code and len(row.digest) == 64
    assert not hasattr(history, "digest")
    assert history.history_user_id == dpo.pk and row.issued_by_id == dpo.pk


def test_the_revocation_of_an_older_code_is_in_its_history_by_whom_revoked_it(qa_lead_a, dpo):
    # given: a code issued by the DPO
    enrolment_code_issue(user=qa_lead_a, actor=dpo)
    older = qa_lead_a.enrolment_codes.get()
    other_admin = administrator()

    # when: another administrator issues a newer one (no request: a command, as in production)
    enrolment_code_issue(user=qa_lead_a, actor=other_admin)

    # then: the older code's history says when and by whom it was voided
    revocation = older.history.first()
    assert revocation.revoked_at is not None
    assert revocation.history_user_id == other_admin.pk


def test_the_enrolment_is_in_the_users_history_by_the_user_outside_a_request_too(qa_lead_a, dpo):
    # when: qa.a enrols (the service called directly: no request for simple-history to read)
    enrolled(qa_lead_a)

    # then: the user's history says qa.a enrolled, when
    latest = qa_lead_a.history.first()
    assert latest.second_factor_enrolled_at is not None
    assert latest.history_change_reason == "second factor enrolled"
    assert latest.history_user_id == qa_lead_a.pk


def test_issue_enrolment_code_prints_a_code_that_enrols(client, qa_lead_a, dpo):
    out = io.StringIO()
    call_command("issue_enrolment_code", qa_lead_a.username, by=dpo.username, stdout=out)
    code = out.getvalue().strip().splitlines()[-1].strip()

    log_in_with_password(client, qa_lead_a.username)
    response = client.post(reverse("admin:second_factor_enrol"), {"enrolment_code": code, "next": INDEX})

    assert response.status_code == 302
    assert secret_shown(client.get(response["Location"]))


@pytest.mark.parametrize(
    ("target", "by", "message"),
    [
        ("ana.analyst", "ana.analyst", "Nobody issues their own"),
        ("ana.analyst", "aud.auditor", "not an active DPO or superuser"),
        ("ana.analyst", "qa.a", "not an active DPO or superuser"),
        ("ana.analyst", "charlie.stranger", "not an active DPO or superuser"),
        ("dana.dpo", "ana.analyst", "not an active DPO or superuser"),
        ("nobody", "dana.dpo", "no user 'nobody'"),
        ("ana.analyst", "nobody", "no user 'nobody'"),
        ("aud.auditor", "dana.dpo", "already has an authenticator"),
    ],
)
def test_issue_enrolment_code_refuses_with_a_clear_error_and_writes_nothing(
    dpo, analyst, auditor, qa_lead_a, stranger, target, by, message
):
    enrolled(auditor)
    codes = auditor.enrolment_codes.count() + analyst.enrolment_codes.count()

    with pytest.raises(CommandError, match=message):
        call_command("issue_enrolment_code", target, by=by, stdout=io.StringIO())

    assert auditor.enrolment_codes.count() + analyst.enrolment_codes.count() == codes


def test_an_enrolled_user_cannot_enrol_another_authenticator_with_the_password_alone(client, dpo):
    enrolled(dpo)
    log_in_with_password(client, dpo.username)

    response = client.get(reverse("admin:second_factor_enrol"))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:second_factor"))
    assert Authenticator.objects.filter(user=dpo).count() == 1


def test_the_second_factor_pages_are_not_for_anonymous_visitors(client):
    for name in ("admin:second_factor", "admin:second_factor_enrol"):
        for response in (client.get(reverse(name)), client.post(reverse(name), {"enrolment_code": "x"})):
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

    response = verify(client, totp_now(device, steps_ahead=1), "https://evil.example/")

    assert response["Location"] == INDEX


def test_with_the_setting_off_the_password_is_enough(client, dpo, settings):
    settings.CUSTOS_REQUIRE_2FA = False
    enrolled(dpo)

    response = log_in_with_password(client, dpo.username)

    assert response["Location"] == INDEX
    assert client.get(INDEX).status_code == 200


# --- Secrets at rest ---------------------------------------------------------------------------


def test_a_database_dump_holds_no_authenticator_key_or_recovery_code(dpo, analyst):
    # given: an enrolled user
    device, codes = enrolled(dpo)
    key = device.bin_key

    # when: every second-factor row is read as a DBA would
    dump = repr(
        [
            *Authenticator.objects.values(),
            *RecoveryCodeSet.objects.values(),
            *RecoveryCode.objects.values(),
            *dpo.enrolment_codes.values(),
        ]
    )

    # then: neither the key (raw, hex or base32) nor any recovery code is in it
    for form in (key.hex(), b32encode(key).decode(), repr(key)):
        assert form not in dump
    assert not any(code in dump for code in codes)
    # and a wrapped key copied onto another user's authenticator does not decrypt there
    other, _ = enrolled(analyst)
    Authenticator.objects.filter(pk=other.pk).update(
        key_wrapped=device.key_wrapped, key_version=device.key_version
    )
    other.refresh_from_db()
    with pytest.raises(KeyProviderError):
        other.bin_key  # noqa: B018 - the property unwraps


def test_rotation_rewraps_authenticator_keys(dpo):
    device, _ = enrolled(dpo)
    key, version = device.bin_key, device.key_version

    call_command("rotate_master_key", stdout=io.StringIO())

    device.refresh_from_db()
    assert device.key_version != version and device.bin_key == key
    get_provider().destroy_version(version)
    assert device.bin_key == key


# --- Reset -------------------------------------------------------------------------------------


def test_reset_removes_the_devices_leaves_history_and_prints_an_enrolment_code(client, dpo, analyst):
    # given: the analyst enrolled and logged in with both factors
    device, _ = enrolled(analyst)
    log_in_with_password(client, analyst.username)
    verify(client, totp_now(device, steps_ahead=1))
    assert client.get(INDEX).status_code == 200

    # when: the DPO resets the analyst's second factor (phone lost)
    out = io.StringIO()
    call_command("reset_second_factor", analyst.username, by=dpo.username, reason="phone lost", stdout=out)

    # then: no device is left, the open session is no longer verified, the next login enrols
    assert not Authenticator.objects.filter(user=analyst).exists()
    assert not RecoveryCodeSet.objects.filter(user=analyst).exists()
    assert client.get(INDEX).status_code == 302
    assert "2 devices" in out.getvalue()
    record = User.objects.get(pk=analyst.pk).history.first()
    assert record.history_change_reason == "second factor reset: phone lost"
    assert record.history_user_id == dpo.pk
    assert record.second_factor_enrolled_at is None

    # and: the password alone shows no secret; the printed code does
    fresh = client.__class__()
    log_in_with_password(fresh, analyst.username)
    assert secret_shown(fresh.get(reverse("admin:second_factor_enrol"))) == ""
    code = out.getvalue().strip().splitlines()[-1].strip()
    fresh.post(reverse("admin:second_factor_enrol"), {"enrolment_code": code})
    assert secret_shown(fresh.get(reverse("admin:second_factor_enrol")))


def test_a_session_verified_before_a_reset_stays_unverified_even_if_its_device_comes_back(
    client, dpo, analyst
):
    # given: the analyst's session passed its second factor
    device, _ = enrolled(analyst)
    log_in_with_password(client, analyst.username)
    verify(client, totp_now(device, steps_ahead=1))
    assert client.get(INDEX).status_code == 200
    saved = Authenticator.objects.filter(pk=device.pk).values()[0]

    # when: the second factor is reset, and the device row reappears with its old id (a restored
    # table, or a database writer putting it back)
    call_command(
        "reset_second_factor", analyst.username, by=dpo.username, reason="phone lost", stdout=io.StringIO()
    )
    Authenticator.objects.create(**saved)

    # then: the session verified before the reset is sent back to the second-factor page
    response = client.get(INDEX)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:second_factor"))
    assert client.get(reverse("admin:dsr_datasubjectrequest_changelist")).status_code == 302

    # and: passing the second factor again in that session lets it in
    Authenticator.objects.filter(pk=device.pk).update(last_t=-1)
    assert verify(client, totp_now(device, steps_ahead=1)).status_code == 302
    assert client.get(INDEX).status_code == 200


@pytest.mark.parametrize(
    ("target", "by", "reason", "message"),
    [
        ("ana.analyst", "dana.dpo", "  ", "reason"),
        ("ana.analyst", "ana.analyst", "phone lost", "Nobody resets their own"),
        ("ana.analyst", "nobody", "phone lost", "no user 'nobody'"),
        ("nobody", "dana.dpo", "phone lost", "no user 'nobody'"),
        ("dana.dpo", "root.admin", "phone lost", "nothing to reset"),
        ("dana.dpo", "ana.analyst", "phone lost", "not an active DPO or superuser"),
        ("ana.analyst", "dana.dpo", "x" * 80, "characters"),
    ],
)
def test_reset_refuses_with_a_clear_error_and_changes_nothing(dpo, analyst, target, by, reason, message):
    enrolled(analyst)
    history_rows = User.history.count()
    codes = analyst.enrolment_codes.count()

    with pytest.raises(CommandError, match=message):
        call_command("reset_second_factor", target, by=by, reason=reason, stdout=io.StringIO())

    assert Authenticator.objects.filter(user=analyst, confirmed=True).exists()
    assert RecoveryCode.objects.filter(device__user=analyst).count() == 10
    assert User.history.count() == history_rows
    assert analyst.enrolment_codes.count() == codes
