"""The access package's audio pipeline: recordings decrypted into a few reused buffers
(``DecryptingReader.iter_into``), zipped by zipstream-ng and encrypted again as one stream. A buffer
reused while the encryption still held a view of it would put another recording's bytes in the
package: the archives here mix sizes around the segment and chunk bounds, and use half the
buffers the build does."""

from __future__ import annotations

import io
import random
import zipfile

import pytest
from zipstream import ZIP_STORED, ZipStream

from dsr.packages import _CHUNK_BUFFERS, _CHUNK_SEGMENTS, _chunk_buffers
from recordings.vault.chunks import ChunksReader
from recordings.vault.streaming_aead import PLAINTEXT_SEGMENT_SIZE, EncryptingReader
from recordings.vault.streaming_decrypt import DecryptingReader, decrypt_bytes

KEY = b"k" * 32
CHUNK = _CHUNK_SEGMENTS * PLAINTEXT_SEGMENT_SIZE
SIZES = (
    0,
    1,
    3000,
    65_479,
    65_480,
    65_481,
    65_520,
    131_040,
    300_000,
    CHUNK - 1,
    CHUNK,
    CHUNK + 1,
    2 * CHUNK + 7,
)


def _encrypted(plaintext: bytes, number: int) -> DecryptingReader:
    ciphertext = EncryptingReader(io.BytesIO(plaintext), key=KEY, associated_data=b"%d" % number).readall()
    return DecryptingReader(
        io.BytesIO(ciphertext), key=KEY, associated_data=b"%d" % number, ciphertext_size=len(ciphertext)
    )


@pytest.mark.parametrize("size", SIZES)
def test_a_recording_decrypted_into_buffers_is_the_recording(size):
    """Given a stored recording of any length,
    when it is decrypted chunk by chunk into the package's buffers,
    then the chunks put together are its audio, byte for byte."""
    plaintext = random.Random(size).randbytes(size)
    chunks = _encrypted(plaintext, 1).iter_into(_chunk_buffers(), chunk_segments=_CHUNK_SEGMENTS)
    assert b"".join(bytes(chunk) for chunk in chunks) == plaintext


def test_a_tampered_recording_fails_before_its_chunk_is_handed_over():
    """Given a stored recording with one byte flipped in its second segment,
    when it is decrypted into the package's buffers,
    then no chunk holding that segment is handed over: decryption fails."""
    plaintext = random.Random(2).randbytes(3 * CHUNK)
    ciphertext = bytearray(EncryptingReader(io.BytesIO(plaintext), key=KEY, associated_data=b"1").readall())
    ciphertext[70_000] ^= 1
    reader = DecryptingReader(
        io.BytesIO(bytes(ciphertext)), key=KEY, associated_data=b"1", ciphertext_size=len(ciphertext)
    )
    with pytest.raises(ValueError, match="segment 1"):
        next(reader.iter_into(_chunk_buffers(), chunk_segments=_CHUNK_SEGMENTS))


@pytest.mark.parametrize("trial", range(12))
def test_every_recording_of_a_package_arrives_intact_with_half_the_buffers(trial):
    """Given a subject's recordings of mixed lengths (tiny, a segment, a chunk, several chunks),
    when they are zipped and encrypted as the package build does, sharing half its buffers,
    then the decrypted archive holds every recording byte for byte and every CRC is right."""
    rng = random.Random(trial)
    recordings = [rng.randbytes(rng.choice(SIZES)) for _ in range(rng.randint(2, 12))]
    buffers = _chunk_buffers()[: _CHUNK_BUFFERS // 2]
    archive = ZipStream()
    for number, audio in enumerate(recordings):
        reader = _encrypted(audio, number)
        chunks = reader.iter_into(buffers, chunk_segments=_CHUNK_SEGMENTS) if audio else iter(())
        archive.add(chunks, f"{number}.wav", size=len(audio), compress_type=ZIP_STORED)
    package = EncryptingReader(ChunksReader(archive.finalize()), key=KEY, associated_data=b"p", digest=False)
    ciphertext = b"".join(bytes(view) for view in package.ciphertext_views())
    opened = zipfile.ZipFile(io.BytesIO(decrypt_bytes(ciphertext, key=KEY, associated_data=b"p")))
    assert opened.testzip() is None
    assert [opened.read(f"{n}.wav") for n in range(len(recordings))] == recordings
