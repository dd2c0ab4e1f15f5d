"""Encrypted audio blobs in the recordings storage (local files, or S3 in an EU region).

Blobs are written through a streaming encryptor, so memory does not grow with the file, and read
through a random-access decryptor, so a Range request reads only the segments it needs.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, BinaryIO, cast

from django.core.files.base import File
from django.core.files.storage import storages
from django.utils import timezone

from recordings.vault.keys import recording_aad
from recordings.vault.streaming_aead import EncryptingReader
from recordings.vault.streaming_decrypt import DecryptingReader


@dataclass(frozen=True)
class StoredAudio:
    name: str
    plaintext_bytes: int


class _CiphertextFile(File):
    """Hands the storage the ciphertext as the reader produces it. ``FileSystemStorage`` writes
    what ``chunks()`` yields, each chunk before it asks for the next, so each segment is written
    from the reader's one reused buffer while it is still in the CPU cache: no copy, no
    allocation, and no thread. (A writer thread was slower: AES-GCM holds the GIL, and the hand-off
    between the threads cost more than the encryption it hid.) The first
    chunk, the header, is ``bytes``, which makes ``FileSystemStorage`` open its file in binary
    mode. S3 reads ``read(n)``."""

    def __init__(self, reader: EncryptingReader, *, name: str) -> None:
        # File is typed for IO; it uses a RawIOBase such as the reader the same way.
        super().__init__(cast(IO[bytes], reader), name=name)
        self.reader = reader

    def chunks(self, chunk_size: int | None = None) -> Iterator[bytes | memoryview]:
        yield from self.reader.ciphertext_views()


def recordings_storage():
    return storages["recordings"]


def audio_blob_name(extension: str) -> str:
    """A random name that says nothing about the call: year/month/uuid.<ext>.tink."""
    now = timezone.now()
    return f"audio/{now:%Y/%m}/{uuid.uuid4().hex}.{extension}.tink"


def stored_extension(recording) -> str:
    """The audio's extension in its stored blob's name (``….mp3.tink``): a new version keeps it."""
    return recording.storage_ref.removesuffix(".tink").rsplit(".", 1)[-1] or "audio"


def ciphertext_save(name: str, reader: EncryptingReader) -> str:
    """Write an encrypting reader's ciphertext to the recordings storage; the name it got."""
    return recordings_storage().save(name, _CiphertextFile(reader, name=name))


def audio_store(*, plaintext: BinaryIO, key: bytes, recording_id: int, name: str) -> StoredAudio:
    """Encrypt ``plaintext`` under ``key`` (associated data: the recording id) into ``name``.

    The caller hashed the audio already (``checksum_sha256``); hashing it again here would cost
    more than encrypting it."""
    plaintext.seek(0)
    reader = EncryptingReader(plaintext, key=key, associated_data=recording_aad(recording_id), digest=False)
    return StoredAudio(ciphertext_save(name, reader), reader.plaintext_bytes_read)


def audio_delete(name: str) -> None:
    if name:
        recordings_storage().delete(name)


@contextlib.contextmanager
def ciphertext_open(*, name: str, key: bytes, associated_data: bytes) -> Iterator[DecryptingReader]:
    """A random-access plaintext view of any blob of the recordings storage (audio, packages);
    the reader and the file close on exit."""
    storage = recordings_storage()
    size = storage.size(name)
    with storage.open(name, "rb") as ciphertext:
        reader = DecryptingReader(ciphertext, key=key, associated_data=associated_data, ciphertext_size=size)
        try:
            yield reader
        finally:
            reader.close()


def audio_open(
    *, name: str, key: bytes, recording_id: int
) -> contextlib.AbstractContextManager[DecryptingReader]:
    """A random-access plaintext view of a stored recording's audio; closes on exit."""
    return ciphertext_open(name=name, key=key, associated_data=recording_aad(recording_id))
