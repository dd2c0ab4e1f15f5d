"""What ingest tests share: the reference rows a call points at, its metadata, and audio files
good and bad, plus a look at what ingest left behind."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils import timezone

from compliance_site.audit.models import AccessEvent
from recordings.models import Consent, DataSubject, Recording, RecordingKey
from tests.factories import PurposeFactory, QueueFactory, RecordingNoticeFactory, _wav

WAV = _wav(seconds=0.5)
NOT_AUDIO = b"Dear team,\nthis is a text file with a .wav name.\n" * 20
TRUNCATED_WAV = WAV[: len(WAV) // 2]  # the RIFF header still announces the whole file
# About a second of MPEG-1 Layer III (128 kbit/s, 44.1 kHz, mono): 40 frames of silence, which
# mutagen reads as MP3. Unlike PCM WAV, it cannot be muted on the server.
MP3 = (bytes([0xFF, 0xFB, 0x90, 0xC4]) + bytes(413)) * 40

CALL_START = timezone.now().replace(microsecond=0) - datetime.timedelta(hours=2)


def reference_rows() -> dict[str, Any]:
    """The notice, purpose and queue that ``call_metadata`` names."""
    return {
        "notice": RecordingNoticeFactory(version="2026.1", language="en"),
        "purpose": PurposeFactory(code="quality_assurance"),
        "queue": QueueFactory(code="billing", name="Billing"),
    }


def consent_evidence(**overrides: Any) -> dict[str, Any]:
    return {
        "purpose": "quality_assurance",
        "decision": "given",
        "method": "ivr_keypress",
        "notice_version": "2026.1",
        "notice_language": "en",
        "captured_at": (CALL_START + datetime.timedelta(seconds=12)).isoformat(),
        "evidence_offset_seconds": 12,
        "jurisdiction": "DE",
        **overrides,
    }


def call_metadata(**overrides: Any) -> dict[str, Any]:
    """Valid metadata of one inbound call recorded with consent; ``overrides`` replace keys."""
    return {
        "subject": {"full_name": "Erika Mustermann", "phone": "+49 30 1234567", "email": "erika@example.org"},
        "queue": "billing",
        "direction": "inbound",
        "started_at": CALL_START.isoformat(),
        "ended_at": (CALL_START + datetime.timedelta(minutes=4)).isoformat(),
        "lawful_basis": "consent",
        "purposes": ["quality_assurance"],
        "consents": [consent_evidence()],
        **overrides,
    }


def stored_files() -> list[Path]:
    """Every file in the recordings storage (a tmp dir per test), recursively."""
    root = Path(settings.STORAGES["recordings"]["OPTIONS"]["location"])
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def assert_nothing_written() -> None:
    """A refused ingest leaves no row and no blob behind."""
    assert Recording.objects.count() == 0
    assert DataSubject.objects.count() == 0
    assert Consent.objects.count() == 0
    assert RecordingKey.objects.count() == 0
    assert not AccessEvent.objects.filter(action="ingest").exists()
    assert stored_files() == []
