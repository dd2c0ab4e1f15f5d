"""The access package's Art. 15 information after a share: who actually received the subject's
data (15(1)(c)) and each transfer to a third country with its safeguard (15(2))."""

from __future__ import annotations

import datetime
import io
import json
import zipfile

import pytest
from django.utils import timezone

from dsr.models import RecipientNotification
from dsr.packages import package_build, package_open
from dsr.services import request_create
from recordings.models import Recipient
from recordings.sharing.services import share_create
from tests.factories import DataSubjectFactory, RecordingFactory

pytestmark = pytest.mark.django_db


def _package(subject, dpo, language="en") -> tuple[dict, str]:
    request = request_create(
        request_type="access", channel="email", received_at=timezone.now(), subject=subject, language=language
    )
    package = package_build(dsr=request, actor=dpo)
    archive = zipfile.ZipFile(io.BytesIO(b"".join(package_open(package=package))))
    return json.loads(archive.read("manifest.json")), archive.read("summary.html").decode()


@pytest.fixture
def subject(db):
    return DataSubjectFactory()


@pytest.fixture
def us_vendor(db):
    return Recipient.objects.create(
        name="Transcripts Inc.",
        role="processor",
        country="US",
        dpa_signed=True,
        transfer_ground="scc",
        safeguard="SCC module 2, signed 2025-03-01",
    )


def _share(recording, recipient, dpo):
    share, _ = share_create(
        recording=recording,
        recipient=recipient,
        ground="legal_claim",
        ground_note="Court case 4 O 123/26",
        expires_at=timezone.now() + datetime.timedelta(days=7),
        actor=dpo,
    )
    return share


def test_a_share_to_a_us_recipient_under_sccs_is_named_with_its_safeguard(subject, us_vendor, dpo):
    """Given a recording of the subject shared with a US processor under standard contractual
    clauses, when the subject asks for access, then Art. 15(1)(c) names that recipient with the
    share's date and Art. 15(2) names the transfer to the US and its safeguard, in the manifest
    and in the summary; it no longer says that nothing left the EU/EEA."""
    # given
    recording = RecordingFactory(subject=subject)
    share = _share(recording, us_vendor, dpo)

    # when
    manifest, summary = _package(subject, dpo)

    # then
    information = manifest["information"]
    assert information["recipients"] == [
        {
            "name": "Transcripts Inc.",
            "role": "Processor (Art. 28)",
            "country": "US",
            "shares": [
                {
                    "recording": recording.reference,
                    "shared_at": share.created_at.isoformat(),
                    "ground": "establishment, exercise or defence of a legal claim",
                    "revoked_at": None,
                }
            ],
            "notifications": [],
        }
    ]
    assert information["third_country_transfers"] == [
        {
            "recipient": "Transcripts Inc.",
            "country": "US",
            "ground": "scc",
            "safeguard": "Standard contractual clauses (Art. 46(2)(c))",
            "safeguard_details": "SCC module 2, signed 2025-03-01",
        }
    ]
    assert not information["third_country_transfers_note"].startswith("None")
    assert "Transcripts Inc." in summary and "Standard contractual clauses" in summary
    assert "not transferred to a third country" not in summary


def test_the_german_package_names_the_transfer_in_german(subject, us_vendor, dpo):
    """Given the same share, when the subject's request is in German, then the safeguard is named
    in German."""
    _share(RecordingFactory(subject=subject), us_vendor, dpo)

    manifest, summary = _package(subject, dpo, language="de")

    transfer = manifest["information"]["third_country_transfers"][0]
    assert transfer["safeguard"] == "Standardvertragsklauseln (Art. 46 Abs. 2 lit. c)"
    assert "Standardvertragsklauseln" in summary and "in kein Drittland" not in summary


def test_registry_recipients_are_only_possible_recipients_and_eea_shares_are_no_transfer(subject, dpo):
    """Given a recipient the registry lists for the subject's purposes but who received nothing,
    and an Irish recipient who was sent a share and later an Art. 19 notice, when the subject asks
    for access, then only the Irish recipient is listed as having received the data (with the
    share and the notice), the registry's one as "may be disclosed to", and no third-country
    transfer is reported."""
    # given
    recording = RecordingFactory(subject=subject)
    registry_only = Recipient.objects.create(name="QA Vendor GmbH", role="processor", country="DE")
    registry_only.purposes.add(recording.purposes.get())
    irish = Recipient.objects.create(name="Claims Ltd", role="third_party", country="IE")
    _share(recording, irish, dpo)
    earlier = request_create(
        request_type="rectification", channel="email", received_at=timezone.now(), subject=subject
    )
    RecipientNotification.objects.create(
        request=earlier, recipient=irish, notified_at=timezone.now(), notified_by=dpo
    )

    # when
    manifest, _ = _package(subject, dpo)

    # then
    information = manifest["information"]
    assert [r["name"] for r in information["recipients"]] == ["Claims Ltd"]
    assert len(information["recipients"][0]["shares"]) == 1
    assert [n["request"] for n in information["recipients"][0]["notifications"]] == [earlier.reference]
    assert [r["name"] for r in information["possible_recipients"]] == ["QA Vendor GmbH"]
    assert information["third_country_transfers"] == []
    assert information["third_country_transfers_note"].startswith("None")


def test_without_any_share_nobody_received_the_data(subject, dpo):
    RecordingFactory(subject=subject)

    manifest, summary = _package(subject, dpo)

    assert manifest["information"]["recipients"] == []
    assert manifest["information"]["recipients_note"].startswith("No recipient")
    assert "No recipient outside our organisation" in summary
