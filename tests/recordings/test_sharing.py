"""Sharing only on a ground, only to a recipient allowed to receive, through an expiring,
revocable link for that recipient alone."""

from __future__ import annotations

import datetime

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from compliance_site.audit.models import AccessEvent
from recordings.models import Consent, Purpose, Recipient, Recording, Share
from recordings.services import consent_withdraw
from recordings.sharing.services import share_create, share_for_token, share_revoke
from recordings.sharing.transfers import transfer_problem
from tests.factories import PurposeFactory, RecordingFactory

pytestmark = pytest.mark.django_db

LATER = datetime.timedelta(days=7)


@pytest.fixture
def sharing_purpose(db):
    return PurposeFactory(code=Purpose.SHARING, name="Sharing with third parties")


@pytest.fixture
def vendor(db):
    return Recipient.objects.create(name="Dispute Lawyers LLP", role="third_party", country="DE")


@pytest.fixture
def consented_call(sharing_purpose, queue_a):
    """A call whose caller consented to quality assurance and to sharing."""
    return RecordingFactory(queue=queue_a, purposes=[PurposeFactory(), sharing_purpose])


def share(recording, recipient, actor, **kwargs):
    defaults = {"ground": "consent", "ground_note": "", "expires_at": timezone.now() + LATER}
    return share_create(recording=recording, recipient=recipient, actor=actor, **{**defaults, **kwargs})


@pytest.mark.parametrize(
    ("country", "ground", "role", "dpa", "allowed"),
    [
        ("DE", "", "third_party", False, True),
        ("NO", "", "third_party", False, True),  # EEA
        ("US", "", "third_party", False, False),  # no transfer ground
        ("GB", "adequacy", "third_party", False, True),
        ("IN", "adequacy", "third_party", False, False),  # no adequacy decision for India
        ("IN", "scc", "third_party", False, True),
        ("DE", "", "processor", False, False),  # a processor without a DPA
        ("DE", "", "processor", True, True),
    ],
)
def test_who_may_receive(country, ground, role, dpa, allowed):
    assert (transfer_problem(country=country, ground=ground, role=role, dpa_signed=dpa) is None) is allowed


def test_a_consented_call_is_shared_once_logged_and_the_link_opens_only_that_share(
    consented_call, vendor, dpo
):
    created, token = share(consented_call, vendor, dpo)

    assert share_for_token(token) == created
    assert share_for_token(token + "x") is None
    assert Share.objects.get().token_hash != token  # only its hash is stored
    event = AccessEvent.objects.get(action="share")
    assert (event.object_id, event.detail["recipient"]) == (consented_call.pk, vendor.pk)


def test_sharing_without_a_ground_is_refused(vendor, dpo, queue_a, sharing_purpose):
    no_consent = RecordingFactory(queue=queue_a)  # consented to quality assurance only

    with pytest.raises(ValidationError, match="no active consent for sharing"):
        share(no_consent, vendor, dpo)
    with pytest.raises(ValidationError, match="State the claim"):
        share(no_consent, vendor, dpo, ground="legal_claim")
    created, _ = share(no_consent, vendor, dpo, ground="legal_claim", ground_note="Court case 3 O 12/26")
    assert created.ground_note == "Court case 3 O 12/26"
    assert Share.objects.count() == 1


def test_a_recipient_without_a_transfer_ground_receives_nothing(consented_call, dpo):
    abroad = Recipient.objects.create(name="Offshore QA Inc.", role="third_party", country="US")

    with pytest.raises(ValidationError, match="outside the EU/EEA"):
        share(consented_call, abroad, dpo)
    assert not Share.objects.exists()


def test_a_share_expires_at_its_time_and_is_bounded(consented_call, vendor, dpo, settings):
    created, token = share(consented_call, vendor, dpo)

    assert share_for_token(token, now=created.expires_at - datetime.timedelta(seconds=1)) == created
    assert share_for_token(token, now=created.expires_at) is None
    with pytest.raises(ValidationError, match="at most"):
        share(
            consented_call,
            vendor,
            dpo,
            expires_at=timezone.now() + datetime.timedelta(days=settings.SHARE_MAX_DAYS + 1),
        )


def test_withdrawing_the_sharing_consent_revokes_open_shares_at_once(
    consented_call, vendor, dpo, sharing_purpose
):
    created, token = share(consented_call, vendor, dpo)

    consent_withdraw(
        consent=Consent.objects.get(recording=consented_call, purpose=sharing_purpose), via="email"
    )

    created.refresh_from_db()
    assert created.revoked_at is not None and "withdrawn" in created.revoked_reason
    assert share_for_token(token) is None
    assert AccessEvent.objects.filter(action="share_revoked").exists()


def test_a_share_on_a_legal_claim_survives_a_withdrawal_of_the_sharing_consent(
    consented_call, vendor, dpo, sharing_purpose
):
    created, token = share(consented_call, vendor, dpo, ground="legal_claim", ground_note="Case 7")

    consent_withdraw(
        consent=Consent.objects.get(recording=consented_call, purpose=sharing_purpose), via="email"
    )

    assert share_for_token(token) == created


def test_restriction_revokes_shares(consented_call, vendor, dpo):
    from dsr.rights import RightInput
    from dsr.services import request_create
    from dsr.workflow import request_complete, request_identity_verify

    created, token = share(consented_call, vendor, dpo)
    request = request_create(
        request_type="restriction",
        channel="email",
        received_at=timezone.now(),
        subject=consented_call.subject,
    )
    request_identity_verify(dsr=request, method="document", note="ID", actor=dpo)

    request_complete(dsr=request, actor=dpo, given=RightInput(restriction_ground="accuracy_contested"))

    created.refresh_from_db()
    assert created.revoked_at is not None
    assert share_for_token(token) is None
    consented_call.refresh_from_db()
    assert consented_call.status == Recording.Status.RESTRICTED


def test_revoking_twice_is_harmless(consented_call, vendor, dpo):
    created, _ = share(consented_call, vendor, dpo)

    share_revoke(share=created, reason="done", actor=dpo)
    again = share_revoke(share=created, reason="again", actor=dpo)

    assert again.revoked_reason == "done"


def test_the_dpo_shares_in_the_admin_and_sees_the_link_once(client, dpo, consented_call, vendor):
    client.force_login(dpo)
    expires = timezone.localtime(timezone.now() + LATER)

    response = client.post(
        reverse("admin:recordings_share_add"),
        {
            "recording": consented_call.pk,
            "recipient": vendor.pk,
            "ground": "consent",
            "ground_note": "",
            "expires_at_0": expires.strftime("%Y-%m-%d"),
            "expires_at_1": expires.strftime("%H:%M:%S"),
        },
        follow=True,
    )

    assert response.status_code == 200
    assert "http://testserver/shares/open#" in response.content.decode()
    subject_page = client.get(
        reverse("admin:recordings_datasubject_change", args=[consented_call.subject_id])
    )
    assert vendor.name in subject_page.content.decode()


def test_the_admin_form_says_why_a_share_is_refused(client, dpo, queue_a, vendor, sharing_purpose):
    call = RecordingFactory(queue=queue_a)
    client.force_login(dpo)
    expires = timezone.localtime(timezone.now() + LATER)

    response = client.post(
        reverse("admin:recordings_share_add"),
        {
            "recording": call.pk,
            "recipient": vendor.pk,
            "ground": "consent",
            "ground_note": "",
            "expires_at_0": expires.strftime("%Y-%m-%d"),
            "expires_at_1": expires.strftime("%H:%M:%S"),
        },
    )

    assert response.status_code == 200
    assert "no active consent for sharing" in response.content.decode()
    assert not Share.objects.exists()


def test_erasure_by_retention_revokes_the_share(consented_call, vendor, dpo):
    from retention.services import retention_sweep

    created, token = share(consented_call, vendor, dpo)
    consented_call.keep_until = timezone.now() - datetime.timedelta(days=1)
    consented_call.save(update_fields=["keep_until"])

    retention_sweep(now=timezone.now())

    created.refresh_from_db()
    assert created.revoked_at is not None and created.revoked_reason == "erased"
    assert share_for_token(token) is None
