"""factory_boy factories for the domain, valid by default (every database constraint holds)."""

from __future__ import annotations

import datetime
import hashlib

import factory
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.core.files.storage import storages
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
from retention.models import LegalHold, RetentionPolicy

AUDIO = b"RIFF$\x00\x00\x00WAVEfmt " + bytes(28)


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
    class Meta:
        model = DataSubject

    reference = factory.Sequence(lambda n: f"DS-T{n:06d}")
    full_name = "Erika Mustermann"
    phone = "+49 30 1234567"
    email = factory.Sequence(lambda n: f"erika{n}@example.org")


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


def _stored_audio(name: str) -> str:
    return storages["recordings"].save(f"test/{name}.wav", ContentFile(AUDIO))


class RecordingFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Recording
        skip_postgeneration_save = True

    reference = factory.Sequence(lambda n: f"REC-T{n:06d}")
    subject = factory.SubFactory(DataSubjectFactory)
    queue = factory.SubFactory(QueueFactory)
    direction = Recording.Direction.INBOUND
    started_at = factory.LazyFunction(lambda: timezone.now() - datetime.timedelta(days=1))
    ended_at = factory.LazyAttribute(lambda r: r.started_at + datetime.timedelta(minutes=4))
    lawful_basis = LawfulBasis.CONSENT
    storage_ref = factory.LazyAttribute(lambda r: _stored_audio(r.reference))
    size_bytes = len(AUDIO)
    checksum_sha256 = hashlib.sha256(AUDIO).hexdigest()

    @factory.post_generation
    def purposes(self, create, extracted, **kwargs):
        if create and extracted:
            self.purposes.set(extracted)


class ConsentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Consent

    recording = factory.SubFactory(RecordingFactory)
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
    recording = factory.SubFactory(RecordingFactory)
    case_reference = factory.Sequence(lambda n: f"CASE-{n:04d}")
    reason = "Litigation."
    placed_by = factory.SubFactory(UserFactory)
    placed_at = factory.LazyFunction(timezone.now)
