"""The key hierarchy below the master key, and the subject's personal fields under it.

master key (provider) wraps a subject key (one per data subject) wraps a recording key (one per
recording). Personal fields are AES-256-GCM under the subject key; audio is streaming AEAD under
the recording key. Associated data binds every ciphertext to its owner, so a blob or a field
copied onto another row does not decrypt.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from compliance_site.keys import get_provider
from recordings.models import DataSubject, Recording, RecordingKey, SubjectKey
from recordings.vault.blind_index import email_index, normalise_email, normalise_phone, phone_index

KEY_BYTES = 32
_FORMAT = b"\x01"  # version byte of a field or wrapped-key blob: nonce (12) + ciphertext + tag


class KeyDestroyedError(Exception):
    """The key was crypto-shredded: what it protected is unreadable for good."""


class CiphertextError(Exception):
    """A ciphertext does not decrypt under its key and associated data (tampered or moved)."""


def _aad(*parts: object) -> bytes:
    return "/".join(["custos", *map(str, parts)]).encode()


def seal(key: bytes, plaintext: bytes, associated_data: bytes) -> bytes:
    nonce = os.urandom(12)
    return _FORMAT + nonce + AESGCM(key).encrypt(nonce, plaintext, associated_data)


def open_sealed(key: bytes, blob: bytes, associated_data: bytes) -> bytes:
    if not blob.startswith(_FORMAT) or len(blob) < 1 + 12 + 16:
        raise CiphertextError("Not a Custos ciphertext (unknown format or too short).")
    try:
        return AESGCM(key).decrypt(blob[1:13], blob[13:], associated_data)
    except InvalidTag as exc:
        raise CiphertextError("Ciphertext does not authenticate: wrong key, moved or tampered.") from exc


# --- Subject keys ---------------------------------------------------------------------------


def subject_key_aad(subject: DataSubject) -> bytes:
    return _aad("subject-key", subject.reference)


def subject_key_new(subject: DataSubject) -> tuple[bytes, SubjectKey]:
    """A fresh subject key and its (unsaved) wrapped row."""
    key = os.urandom(KEY_BYTES)
    version, wrapped = get_provider().wrap(key, associated_data=subject_key_aad(subject))
    return key, SubjectKey(subject=subject, master_version=version, wrapped_key=wrapped)


def subject_key(subject: DataSubject) -> bytes:
    row = SubjectKey.objects.filter(subject=subject).first()
    if row is None:
        raise KeyDestroyedError(f"Subject {subject.reference} has no key.")
    return subject_key_unwrap(row, subject)


def subject_key_unwrap(row: SubjectKey, subject: DataSubject) -> bytes:
    if row.destroyed_at is not None:
        raise KeyDestroyedError(
            f"The key of subject {subject.reference} was destroyed on {row.destroyed_at:%Y-%m-%d}."
        )
    return get_provider().unwrap(
        row.master_version, bytes(row.wrapped_key), associated_data=subject_key_aad(subject)
    )


# --- Recording keys -------------------------------------------------------------------------


def recording_aad(recording_id: int) -> bytes:
    """Associated data of a recording's audio: its id, so a blob moved to another row fails."""
    return str(recording_id).encode()


def rendition_aad(recording_id: int, fingerprint: str) -> bytes:
    """Associated data of a muted rendition: the recording and the segments it was made from, so
    that neither the original audio nor another rendition passes for it (the key is the same)."""
    return _aad("rendition", recording_id, fingerprint)


def recording_key_new(recording: Recording, subject_key_bytes: bytes) -> tuple[bytes, RecordingKey]:
    key = os.urandom(KEY_BYTES)
    return key, RecordingKey(
        recording=recording, wrapped_key=recording_key_wrap(key, recording, subject_key_bytes)
    )


def recording_key(recording: Recording) -> bytes:
    row = RecordingKey.objects.filter(recording=recording).first()
    return recording_key_unwrap(row, recording, subject_key(recording.subject))


def recording_key_unwrap(row: RecordingKey | None, recording: Recording, subject_key_bytes: bytes) -> bytes:
    """The recording's key from its row, under its subject's key already unwrapped (for reading
    many recordings of one subject with one unwrap)."""
    if row is None or row.destroyed_at is not None:
        raise KeyDestroyedError(f"The key of recording {recording.reference} was destroyed.")
    return wrapped_recording_key_open(bytes(row.wrapped_key), recording, subject_key_bytes)


def recording_key_rewrap(
    row: RecordingKey, recording: Recording, *, old_subject_key: bytes, new_subject_key: bytes
) -> None:
    """Wrap the recording's key under another subject's key (a call re-attributed): the key
    itself, and so the audio and the sealed transcript under it, stay as they are. Sets the row's
    ``wrapped_key``; no save. CiphertextError if ``old_subject_key`` does not open it."""
    row.wrapped_key = wrapped_recording_key_rewrap(
        bytes(row.wrapped_key), recording, old_subject_key=old_subject_key, new_subject_key=new_subject_key
    )


def recording_key_wrap(key: bytes, recording: Recording, subject_key_bytes: bytes) -> bytes:
    """A recording's key wrapped under its subject's key (a new key, before its row has it)."""
    return seal(subject_key_bytes, key, _aad("recording-key", recording.pk))


def wrapped_recording_key_open(wrapped: bytes, recording: Recording, subject_key_bytes: bytes) -> bytes:
    """A wrapped recording key held apart from its row (a redaction at rest's keys in flight)."""
    return open_sealed(subject_key_bytes, wrapped, _aad("recording-key", recording.pk))


def wrapped_recording_key_rewrap(
    wrapped: bytes, recording: Recording, *, old_subject_key: bytes, new_subject_key: bytes
) -> bytes:
    """``wrapped`` (a key of ``recording`` under ``old_subject_key``) wrapped under the new one."""
    key = wrapped_recording_key_open(wrapped, recording, old_subject_key)
    return recording_key_wrap(key, recording, new_subject_key)


# --- Personal fields ------------------------------------------------------------------------

PERSONAL_FIELDS = ("full_name", "phone", "email")


@dataclass(frozen=True)
class PersonalData:
    full_name: str = ""
    phone: str = ""
    email: str = ""

    def __repr__(self) -> str:
        # Never the values: a repr lands in tracebacks, log records and error reports.
        shown = ", ".join(f"{name}={'***' if getattr(self, name) else repr('')}" for name in PERSONAL_FIELDS)
        return f"PersonalData({shown})"

    def normalised(self) -> PersonalData:
        """Phone in E.164 and email lower-cased; raises ValidationError naming a bad value."""
        return PersonalData(
            full_name=self.full_name.strip(),
            phone=normalise_phone(self.phone) if self.phone.strip() else "",
            email=normalise_email(self.email) if self.email.strip() else "",
        )


def _field_aad(subject: DataSubject, field: str) -> bytes:
    return _aad("subject", subject.reference, field)


def personal_data_seal(subject: DataSubject, data: PersonalData, key: bytes) -> None:
    """Set the subject's encrypted fields and blind indexes from ``data`` (normalised); no save."""
    for field in PERSONAL_FIELDS:
        value = getattr(data, field)
        sealed = seal(key, value.encode(), _field_aad(subject, field)) if value else b""
        setattr(subject, f"{field}_encrypted", sealed)
    subject.phone_index = phone_index(data.phone) if data.phone else ""
    subject.email_index = email_index(data.email) if data.email else ""


def personal_data_read(subject: DataSubject) -> PersonalData:
    """The subject's personal fields in clear; KeyDestroyedError once the subject is erased."""
    key = subject_key(subject)
    values = {}
    for field in PERSONAL_FIELDS:
        blob = bytes(getattr(subject, f"{field}_encrypted") or b"")
        values[field] = open_sealed(key, blob, _field_aad(subject, field)).decode() if blob else ""
    return PersonalData(**values)
