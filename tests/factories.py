"""factory_boy factories for the domain, valid by default (every database constraint holds)."""

from __future__ import annotations

import datetime
import hashlib
import io
import wave

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from recordings.models import (
    Consent,
    DataSubject,
    LawfulBasis,
    Purpose,
    Queue,
    Recording,
    RecordingNotice,
)
from recordings.services import subject_create
from recordings.vault.keys import PersonalData, recording_key_new, subject_key
from recordings.vault.storage import audio_blob_name, audio_store
from retention.models import LegalHold, RetentionPolicy


def _wav(seconds: float = 0.5, rate: int = 8000) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(b"\x10\x00" * int(seconds * rate))
    return buffer.getvalue()


AUDIO = _wav()


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@custos.example")
    is_staff = True
    password = factory.django.Password("correct horse battery staple")

    @factory.post_generation
    def groups(self, create, extracted, **kwargs):
        if create and extracted:
            self.groups.add(*extracted)


class DataSubjectFactory(factory.django.DjangoModelFactory):
    """A subject made by the service: its own key, personal fields sealed under it."""

    class Meta:
        model = DataSubject

    reference = factory.Sequence(lambda n: f"DS-T{n:06d}")
    full_name = "Erika Mustermann"
    phone = factory.Sequence(lambda n: f"+49 30 {1000000 + n}")
    email = factory.Sequence(lambda n: f"erika{n}@example.org")

    @classmethod
    def _create(cls, model_class, *, reference, full_name, phone, email, **kwargs):
        subject, _ = subject_create(
            personal=PersonalData(full_name=full_name, phone=phone, email=email), reference=reference
        )
        return subject


class QueueFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Queue
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"queue-{n}")
    name = factory.LazyAttribute(lambda q: q.code.title())


class PurposeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Purpose
        django_get_or_create = ("code",)

    code = Purpose.QUALITY_ASSURANCE
    name = factory.LazyAttribute(lambda p: p.code.replace("_", " ").capitalize())
    description = "A stated purpose."


class RecordingNoticeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RecordingNotice
        django_get_or_create = ("version", "language")

    version = "2026.1"
    language = "en"
    text = "This call is recorded for quality assurance."
    published_at = factory.LazyFunction(lambda: timezone.now() - datetime.timedelta(days=30))


class RecordingFactory(factory.django.DjangoModelFactory):
    """A recording with its key and its audio encrypted in the recordings storage."""

    class Meta:
        model = Recording
        skip_postgeneration_save = True

    @classmethod
    def _create(cls, model_class, *args, audio: bytes = AUDIO, **kwargs):
        if kwargs.get("status") == Recording.Status.ERASED:
            kwargs["storage_ref"] = ""
            return super()._create(model_class, *args, **kwargs)
        kwargs["storage_ref"] = name = audio_blob_name("wav")
        kwargs["size_bytes"] = len(audio)
        kwargs["checksum_sha256"] = hashlib.sha256(audio).hexdigest()
        recording = super()._create(model_class, *args, **kwargs)
        key, key_row = recording_key_new(recording, subject_key(recording.subject))
        key_row.save()
        audio_store(plaintext=io.BytesIO(audio), key=key, recording_id=recording.pk, name=name)
        return recording

    reference = factory.Sequence(lambda n: f"REC-T{n:06d}")
    subject = factory.SubFactory(DataSubjectFactory)
    queue = factory.SubFactory(QueueFactory)
    direction = Recording.Direction.INBOUND
    started_at = factory.LazyFunction(lambda: timezone.now() - datetime.timedelta(days=1))
    ended_at = factory.LazyAttribute(lambda r: r.started_at + datetime.timedelta(minutes=4))
    lawful_basis = LawfulBasis.CONSENT

    @factory.post_generation
    def purposes(self, create, extracted, **kwargs):
        """Quality assurance unless purposes are given."""
        if create:
            self.purposes.set(extracted if extracted is not None else [PurposeFactory()])

    @factory.post_generation
    def consented(self, create, extracted, **kwargs):
        """On the consent basis, the caller's given consent for each purpose, as ingest records
        it; ``consented=False`` makes a recording held without one."""
        if create and extracted is not False and self.lawful_basis == LawfulBasis.CONSENT:
            for purpose in self.purposes.all():
                ConsentFactory(recording=self, subject=self.subject, purpose=purpose)


class ConsentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Consent

    recording = factory.SubFactory(RecordingFactory, consented=False)
    subject = factory.SelfAttribute("recording.subject")
    purpose = factory.SubFactory(PurposeFactory)
    decision = Consent.Decision.GIVEN
    method = Consent.Method.IVR_KEYPRESS
    notice = factory.SubFactory(RecordingNoticeFactory)
    captured_at = factory.SelfAttribute("recording.started_at")
    evidence_offset = datetime.timedelta(seconds=12)
    jurisdiction = "DE"


class RetentionPolicyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RetentionPolicy

    purpose = factory.SubFactory(PurposeFactory)
    keep_days = 90


class LegalHoldFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = LegalHold

    scope = LegalHold.Scope.RECORDING
    recording = factory.SubFactory(RecordingFactory, consented=False)
    case_reference = factory.Sequence(lambda n: f"CASE-{n:04d}")
    reason = "Litigation."
    placed_by = factory.SubFactory(UserFactory)
    placed_at = factory.LazyFunction(timezone.now)
