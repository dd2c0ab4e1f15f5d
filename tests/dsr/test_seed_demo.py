"""``seed_demo`` makes a demo that shows the product, and a second run changes nothing (issue 17,
point 13): calls of one to three minutes that sound like speech, transcripts with word timings in
which the caller reads out a card number and an IBAN, muted where they are said, consents that fit
their evidence, requests in every step of the workflow, shares that open and play."""

from __future__ import annotations

import array
import datetime
import io
import itertools
import re
import statistics
import sys
import wave
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.utils import timezone
from stdnum import iban as stdnum_iban

from compliance_site.demo.calls import word_starts
from dsr.models import DataPackage, DataSubjectRequest, RequestType, ResponseLetter
from recordings.models import Consent, Purpose, Recording, SensitiveSegment, Share, Transcript
from recordings.redaction.text import CARD_NUMBER, PLACEHOLDERS
from recordings.redaction.transcripts import transcript_read, transcript_redacted
from recordings.selectors import recordings_visible_to
from recordings.sharing.services import share_ground_problem
from recordings.vault.keys import recording_key
from recordings.vault.storage import audio_open
from retention.models import LegalHold
from reviews.models import CalibrationSession, Evaluation, ScorecardVersion, TimelineComment

pytestmark = pytest.mark.django_db

# A number read out is one timed token: right after its timestamp tag.
CARD = re.compile(r"(?<=>)[2-6][0-9]{3}(?: [0-9]{4}){3}(?=\s|$)")
IBAN = re.compile(r"(?<=>)DE[0-9]{2}(?: [0-9]{4}){4} [0-9]{2}(?=\s|$)")


def seed() -> str:
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def samples_of(wav_bytes: bytes) -> tuple[int, array.array]:
    with wave.open(io.BytesIO(wav_bytes)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth()) == (1, 2)
        samples = array.array("h", wav.readframes(wav.getnframes()))
        rate = wav.getframerate()
    if sys.byteorder == "big":
        samples.byteswap()
    return rate, samples


def test_seed_demo_is_complete_and_idempotent():
    # when
    out = seed()
    counts = (Recording.objects.count(), Consent.objects.count(), DataSubjectRequest.objects.count())
    again = seed()

    # then
    assert (Recording.objects.count(), Consent.objects.count(), DataSubjectRequest.objects.count()) == counts
    assert "already present" in again
    assert counts[0] >= 60
    assert Consent.objects.filter(withdrawn_at__isnull=False).exists()
    assert LegalHold.objects.filter(released_at__isnull=True).count() == 1
    assert set(DataSubjectRequest.objects.values_list("request_type", flat=True)) == set(RequestType.values)
    for username in ("dpo", "analyst", "qa.billing", "qa.technical", "qa.admin", "auditor"):
        assert username in out


def requests_stand_in_every_step_of_the_workflow() -> None:
    requests = DataSubjectRequest.objects.all()
    Status = DataSubjectRequest.Status

    # then: every status but "being carried out", which lasts only while a worker runs
    assert set(requests.values_list("status", flat=True)) == set(Status.values) - {Status.EXECUTING}
    # several request types in the steps a DPO meets most
    for status in (
        Status.NEW,
        Status.IDENTITY_PENDING,
        Status.IN_PROGRESS,
        Status.COMPLETED,
        Status.WITHDRAWN,
    ):
        assert requests.filter(status=status).values("request_type").distinct().count() >= 5, status
    assert requests.filter(status=Status.REFUSED).values("request_type").distinct().count() >= 3
    # the erasure waiting for approval was prepared by one DPO, for another to approve (four eyes)
    waiting = requests.get(status=Status.AWAITING_APPROVAL)
    assert waiting.request_type == RequestType.ERASURE
    assert waiting.prepared_by is not None and waiting.approved_by is None
    erased = requests.get(status=Status.COMPLETED, request_type=RequestType.ERASURE)
    assert erased.prepared_by is not None and erased.approved_by not in (None, erased.prepared_by)
    # the workflow's own steps wrote the letters and built the packages
    for closed in requests.filter(status__in=[Status.COMPLETED, Status.REFUSED]):
        assert closed.letters.filter(kind=ResponseLetter.Kind.OUTCOME).exists(), closed.reference
    assert requests.filter(extended_until__isnull=False, letters__kind=ResponseLetter.Kind.EXTENSION).exists()
    assert DataPackage.objects.filter(request__request_type=RequestType.ACCESS).exists()
    assert DataPackage.objects.filter(request__request_type=RequestType.PORTABILITY).exists()
    assert requests.filter(language="de").exists()


def consents_fit_their_evidence() -> None:
    consents = Consent.objects.select_related("recording")

    # then: a refusal is never recorded as "agent asked, verbal yes"
    assert consents.filter(decision=Consent.Decision.REFUSED).exists()
    assert not consents.filter(decision=Consent.Decision.REFUSED, method=Consent.Method.VERBAL_AGENT).exists()
    for consent in consents:
        if consent.method == Consent.Method.VERBAL_AGENT:
            # the agent who asked is the agent of the call
            assert consent.captured_by_id == consent.recording.agent_id is not None
        else:
            assert consent.captured_by_id is None  # a key press has no agent
        # the answer is within the call, and was captured when it was given
        assert consent.evidence_offset is not None
        assert consent.evidence_offset < consent.recording.duration
        assert consent.captured_at == consent.recording.started_at + consent.evidence_offset
    # every withdrawal was made under a consent-withdrawal request of the same subject
    withdrawn = consents.filter(withdrawn_at__isnull=False)
    assert withdrawn.exists()
    for consent in withdrawn:
        assert DataSubjectRequest.objects.filter(
            reference=consent.withdrawn_under,
            request_type=RequestType.CONSENT_WITHDRAWAL,
            subject=consent.subject_id,
            status=DataSubjectRequest.Status.COMPLETED,
        ).exists()


def calls_are_minutes_long_with_timed_transcripts_and_muted_payment_data() -> None:
    recordings = Recording.objects.exclude(status=Recording.Status.ERASED).select_related("subject")
    with_card = 0

    for recording in recordings:
        # then: the call lasts at least a minute, and so does its audio
        assert recording.duration.total_seconds() >= 60, recording.reference
        key = recording_key(recording)
        with audio_open(name=recording.storage_ref, key=key, recording_id=recording.pk) as audio:
            rate, samples = samples_of(b"".join(audio.iter_range()))
        assert rate == 8000
        assert abs(len(samples) / rate - recording.duration.total_seconds()) < 0.01

        # every transcript has a timing before its words, in order, within the call
        text = transcript_read(Transcript.objects.get(recording=recording), key=key)
        assert text.startswith("WEBVTT")
        starts = [start for start, _ in word_starts(text)]
        assert len(starts) > 100
        assert starts == sorted(starts) and starts[-1] < recording.duration.total_seconds()

        # the card number is stored replaced (CUSTOS_REDACT_AT_REST_KINDS), its timing kept
        card = PLACEHOLDERS[CARD_NUMBER]
        if card not in text:
            continue
        with_card += 1
        assert not CARD.findall(text)
        # the IBAN (kept at rest by default) passes mod 97
        ibans = IBAN.findall(text)
        assert ibans and all(stdnum_iban.is_valid(i) for i in ibans)
        # each is muted where the transcript says it was said, and nothing is flagged unmuted
        for value, kind in [
            (card, SensitiveSegment.Kind.PAYMENT_CARD),
            (ibans[0], SensitiveSegment.Kind.BANK_DETAILS),
        ]:
            said_at = next(start for start, word in word_starts(text) if word == value)
            assert recording.sensitive_segments.filter(
                kind=kind, start_seconds__lte=Decimal(str(said_at)), end_seconds__gt=Decimal(str(said_at + 2))
            ).exists(), recording.reference
        transcript = Transcript.objects.get(recording=recording)
        assert transcript.payment_data_flagged_at is None
        redacted = transcript_redacted(transcript).text
        assert "[card number]" in redacted and "[IBAN]" in redacted and ibans[0] not in redacted
    assert with_card >= 10


def audio_is_speech_like_not_tones() -> None:
    recording = Recording.objects.get(reference="REC-DEMO-00002")
    with audio_open(
        name=recording.storage_ref, key=recording_key(recording), recording_id=recording.pk
    ) as audio:
        rate, samples = samples_of(b"".join(audio.iter_range()))

    # when: the loudness (RMS) in 20 ms frames, against the call's typical loudness
    frame = rate // 50
    rms = [
        (sum(s * s for s in samples[i : i + frame]) / frame) ** 0.5
        for i in range(0, len(samples) - frame, frame)
    ]
    typical = statistics.median(r for r in rms if r > 50)
    loud = [r > 0.35 * typical for r in rms]
    onsets = sum(1 for before, now in itertools.pairwise(loud) if now and not before)
    speaking_seconds = sum(loud) / 50

    # then: bursts at the rhythm of syllables, about four to six a second (a tone, or tones
    # changing every half second, give a handful), and pauses between turns
    assert 3.0 <= onsets / speaking_seconds <= 8.0
    assert speaking_seconds < 0.9 * len(samples) / rate


def shares_open_and_play_with_payment_data_muted(out: str) -> None:
    links = re.findall(r"(REC-DEMO-\d{5}): \S+/shares/open#(\S+)", out)
    assert len(links) == Share.objects.count() == 2
    client = Client()

    for reference, token in links:
        # when: the recipient opens the link
        opened = client.post("/shares/open", {"token": token})
        assert opened.status_code == 303
        played = client.get(opened["Location"])

        # then: the whole call plays, with its payment data muted
        assert played.status_code == 200
        assert played["Content-Type"].startswith("audio/")
        rate, samples = samples_of(b"".join(played.streaming_content))
        assert len(samples) / rate >= 60
        recording = Recording.objects.get(reference=reference)
        for segment in recording.sensitive_segments.all():
            muted = samples[int(segment.start_seconds * rate) + 1 : int(segment.end_seconds * rate) - 1]
            assert not any(muted)
        assert any(samples[: rate * 10])


def qa_leads_see_different_queues() -> None:
    users = get_user_model().objects

    billing = recordings_visible_to(users.get(username="qa.billing"))
    technical = recordings_visible_to(users.get(username="qa.technical"))

    assert set(billing.values_list("queue__code", flat=True)) == {"billing"}
    # the technical lead's queue, and two billing calls granted one by one for calibration
    assert set(technical.values_list("queue__code", flat=True)) == {"technical-support", "billing"}
    assert technical.filter(queue__code="billing").count() == 2


def qa_reviews_span_twelve_weeks_with_a_calibration() -> None:
    evaluations = Evaluation.objects.all()
    Status = Evaluation.Status

    # then: two published scorecards (and the next version of one drafted), evaluations in
    # every state over the weeks, comments, and one calibration agreed, one still blind
    assert ScorecardVersion.objects.filter(status=ScorecardVersion.Status.PUBLISHED).count() == 2
    assert ScorecardVersion.objects.filter(status=ScorecardVersion.Status.DRAFT).count() == 1
    assert set(evaluations.values_list("status", flat=True)) == set(Status.values)
    weeks = {e.submitted_at.isocalendar()[:2] for e in evaluations.exclude(submitted_at=None)}
    assert len(weeks) >= 8
    assert evaluations.filter(submitted_at__lt=timezone.now() - datetime.timedelta(weeks=8)).exists()
    assert TimelineComment.objects.exists()
    agreed, blind = CalibrationSession.objects.order_by("pk")
    assert agreed.revealed_at is not None and agreed.agreed_score is not None
    assert blind.revealed_at is None and blind.evaluations.filter(status=Status.SUBMITTED).count() == 1


def test_seed_demo_refuses_the_production_profile(settings):
    # given: a production deployment (issue 14, item 9: the demo's DPO and auditor would get the
    # published password there)
    settings.PRODUCTION = True

    # when / then
    with pytest.raises(CommandError, match="CUSTOS_ENV=production"):
        call_command("seed_demo", stdout=io.StringIO())
    assert not get_user_model().objects.filter(username__in=["dpo", "auditor"]).exists()


def consent_based_sharing_works() -> None:
    # issue 14, item 13: the demo's sharing purpose had a code the code never asked for
    sharing = Purpose.objects.get(code=Purpose.SHARING)

    # when
    shareable = [
        r
        for r in Recording.objects.filter(purposes=sharing, status=Recording.Status.ACTIVE)
        if share_ground_problem(recording=r, ground=Share.Ground.CONSENT, ground_note="") is None
    ]

    # then: some calls may be shared on the caller's consent, and every purpose code the code
    # relies on exists in the demo
    assert shareable
    assert {Purpose.QUALITY_ASSURANCE, Purpose.SHARING} <= set(Purpose.objects.values_list("code", flat=True))


def test_the_demo_shows_the_product():
    # given: one seeded demo (seeding takes seconds: each check below looks at the same one)
    out = seed()

    # then
    requests_stand_in_every_step_of_the_workflow()
    consents_fit_their_evidence()
    calls_are_minutes_long_with_timed_transcripts_and_muted_payment_data()
    audio_is_speech_like_not_tones()
    shares_open_and_play_with_payment_data_muted(out)
    qa_leads_see_different_queues()
    qa_reviews_span_twelve_weeks_with_a_calibration()
    consent_based_sharing_works()
