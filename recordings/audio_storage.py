"""Encrypted audio blobs in the recordings storage (local files, or S3 in an EU region).

Blobs are written through a streaming encryptor, so memory does not grow with the file, and read
through a random-access decryptor, so a Range request reads only the segments it needs.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from django.core.files.base import File
from django.core.files.storage import storages
from django.utils import timezone

from recordings.streaming_aead import DecryptingReader, EncryptingReader
from recordings.vault import recording_aad


@dataclass(frozen=True)
class StoredAudio:
    name: str
    plaintext_bytes: int
    sha256: str


def recordings_storage():
    return storages["recordings"]


def audio_blob_name(extension: str) -> str:
    """A random name that says nothing about the call: year/month/uuid.<ext>.tink."""
    now = timezone.now()
    return f"audio/{now:%Y/%m}/{uuid.uuid4().hex}.{extension}.tink"


def audio_store(*, plaintext: BinaryIO, key: bytes, recording_id: int, name: str) -> StoredAudio:
    """Encrypt ``plaintext`` under ``key`` (associated data: the recording id) into ``name``."""
    plaintext.seek(0)
    reader = EncryptingReader(plaintext, key=key, associated_data=recording_aad(recording_id))
    stored_name = recordings_storage().save(name, File(reader, name=name))
    return StoredAudio(stored_name, reader.plaintext_bytes_read, reader.sha256.hexdigest())


def audio_delete(name: str) -> None:
    if name:
        recordings_storage().delete(name)


@contextlib.contextmanager
def audio_open(*, name: str, key: bytes, recording_id: int) -> Iterator[DecryptingReader]:
    """A random-access plaintext view of a stored blob; the file closes on exit."""
    storage = recordings_storage()
    size = storage.size(name)
    with storage.open(name, "rb") as ciphertext:
        yield DecryptingReader(
            ciphertext, key=key, associated_data=recording_aad(recording_id), ciphertext_size=size
        )
