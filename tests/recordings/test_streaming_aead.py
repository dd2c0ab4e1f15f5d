"""The streaming AEAD for call audio: Tink interop, random-access ranges, tampering, bounded memory.

The ``tink`` package is the ground truth for the format: what we write, Tink must decrypt, and
what Tink writes, we must decrypt, at the sizes where segment bookkeeping goes wrong.
"""

from __future__ import annotations

import hashlib
import io
import mmap
import os
import random
import tracemalloc

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from recordings.vault import mapped_files
from recordings.vault.mapped_files import SequentialMap
from recordings.vault.streaming_aead import (
    HEADER_SIZE,
    KEY_SIZE,
    SEGMENT_SIZE,
    TAG_SIZE,
    EncryptingReader,
    HeaderError,
    SegmentAuthenticationError,
    StreamingAeadError,
    TruncatedCiphertextError,
    ciphertext_size,
    encrypt_bytes,
    plaintext_size,
)
from recordings.vault.streaming_decrypt import DecryptingReader, decrypt_bytes
from tests.recordings.tink_ground_truth import tink_streaming_primitive

KEY = bytes(range(KEY_SIZE))
AAD = b"recording:42"
FIRST = SEGMENT_SIZE - HEADER_SIZE - TAG_SIZE  # plaintext bytes in segment 0
PER_SEGMENT = SEGMENT_SIZE - TAG_SIZE  # plaintext bytes in every later segment

INTEROP_SIZES = [0, 1, FIRST, FIRST + 1, FIRST + PER_SEGMENT, FIRST + PER_SEGMENT + 1, 3 * 2**20 + 123]


def _plaintext(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


def _segment_offset(index: int) -> int:
    """Where segment ``index``'s ciphertext starts (segment 0 starts right after the header)."""
    return HEADER_SIZE if index == 0 else index * SEGMENT_SIZE


def _plaintext_offset(index: int) -> int:
    return 0 if index == 0 else FIRST + (index - 1) * PER_SEGMENT


def _segment_of(position: int) -> int:
    return 0 if position < FIRST else 1 + (position - FIRST) // PER_SEGMENT


def _flip(data: bytes, offset: int) -> bytes:
    changed = bytearray(data)
    changed[offset] ^= 0x01
    return bytes(changed)


def _reader(ciphertext: bytes, *, key: bytes = KEY, associated_data: bytes = AAD, size: int | None = None):
    return DecryptingReader(
        io.BytesIO(ciphertext),
        key=key,
        associated_data=associated_data,
        ciphertext_size=len(ciphertext) if size is None else size,
    )


# --- Tink as ground truth ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def tink_primitive():
    """Tink's StreamingAead over OUR raw 32-byte key, with the same fixed parameters."""
    return tink_streaming_primitive(KEY)


class _KeptBytesIO(io.BytesIO):
    """Tink closes the destination when its stream closes; keep what was written."""

    value = b""

    def close(self) -> None:
        self.value = self.getvalue()
        super().close()


def _tink_encrypt(primitive, plaintext: bytes) -> bytes:
    destination = _KeptBytesIO()
    with primitive.new_encrypting_stream(destination, AAD) as stream:
        stream.write(plaintext)
    return destination.value


def _tink_decrypt(primitive, ciphertext: bytes) -> bytes:
    with primitive.new_decrypting_stream(io.BytesIO(ciphertext), AAD) as stream:
        return stream.read()


@pytest.mark.parametrize("size", INTEROP_SIZES)
def test_custos_ciphertext_decrypts_with_tink(tink_primitive, size):
    plaintext = _plaintext(size, seed=size)
    ciphertext = encrypt_bytes(plaintext, key=KEY, associated_data=AAD)
    assert len(ciphertext) == ciphertext_size(size)
    assert _tink_decrypt(tink_primitive, ciphertext) == plaintext


@pytest.mark.parametrize("size", INTEROP_SIZES)
def test_tink_ciphertext_decrypts_with_custos(tink_primitive, size):
    plaintext = _plaintext(size, seed=size + 1)
    ciphertext = _tink_encrypt(tink_primitive, plaintext)
    assert len(ciphertext) == ciphertext_size(size)
    assert plaintext_size(len(ciphertext)) == size
    assert decrypt_bytes(ciphertext, key=KEY, associated_data=AAD) == plaintext
    if size:
        start, end = size // 3, max(size // 3, size - 2)
        assert b"".join(_reader(ciphertext).iter_range(start, end)) == plaintext[start : end + 1]


def test_wire_format_by_hand():
    """Pin the layout: length byte, salt, nonce prefix, HKDF info = AAD, no per-segment AAD."""
    plaintext = _plaintext(FIRST + 10)
    ciphertext = encrypt_bytes(plaintext, key=KEY, associated_data=AAD)
    assert ciphertext[0] == HEADER_SIZE == 40
    salt, prefix = ciphertext[1:33], ciphertext[33:40]
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=AAD).derive(KEY)
    aead = AESGCM(derived)
    first = aead.decrypt(prefix + (0).to_bytes(4, "big") + b"\x00", ciphertext[40:SEGMENT_SIZE], None)
    last = aead.decrypt(prefix + (1).to_bytes(4, "big") + b"\x01", ciphertext[SEGMENT_SIZE:], None)
    assert first + last == plaintext
    # Two encryptions of the same plaintext share nothing: fresh salt and nonce prefix each time.
    assert encrypt_bytes(plaintext, key=KEY, associated_data=AAD)[:40] != ciphertext[:40]


def test_sizes_round_trip_and_impossible_sizes_are_truncations():
    for size in [*INTEROP_SIZES, 5 * PER_SEGMENT, 10**9]:
        assert plaintext_size(ciphertext_size(size)) == size
    assert ciphertext_size(0) == HEADER_SIZE + TAG_SIZE
    assert ciphertext_size(FIRST) == SEGMENT_SIZE  # a full segment is the last one, as in Tink
    for impossible in [0, 39, 55, SEGMENT_SIZE + 1, SEGMENT_SIZE + 15, 3 * SEGMENT_SIZE + 7]:
        with pytest.raises(TruncatedCiphertextError, match="truncated"):
            plaintext_size(impossible)
    with pytest.raises(ValueError, match="non-negative"):
        ciphertext_size(-1)


def test_empty_plaintext_is_one_tag_only_segment():
    ciphertext = encrypt_bytes(b"", key=KEY, associated_data=AAD)
    assert len(ciphertext) == HEADER_SIZE + TAG_SIZE
    reader = _reader(ciphertext)
    assert reader.plaintext_size == 0
    assert list(reader.iter_range()) == []
    assert decrypt_bytes(ciphertext, key=KEY, associated_data=AAD) == b""
    with pytest.raises(SegmentAuthenticationError):
        _reader(ciphertext, associated_data=b"recording:43")


# --- Random access ----------------------------------------------------------------------------


class _CountingFile(io.BytesIO):
    """Records every read as (offset, bytes returned)."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.reads: list[tuple[int, int]] = []

    def read(self, size: int | None = -1) -> bytes:
        offset = self.tell()
        data = super().read(size)
        self.reads.append((offset, len(data)))
        return data


RANGE_SIZE = FIRST + 4 * PER_SEGMENT + 1234  # six segments, the last one short


@pytest.fixture(scope="module")
def range_fixture():
    plaintext = _plaintext(RANGE_SIZE, seed=99)
    return plaintext, encrypt_bytes(plaintext, key=KEY, associated_data=AAD)


def _ranges(size: int) -> list[tuple[int, int | None]]:
    fixed = [
        (0, None),
        (0, 0),
        (size - 1, size - 1),
        (size - 1, None),
        (FIRST - 1, FIRST),  # straddles the first boundary
        (FIRST, FIRST + PER_SEGMENT - 1),  # exactly segment 1
        (FIRST + PER_SEGMENT - 5, FIRST + 3 * PER_SEGMENT + 5),
        (size - 1300, size + 10_000),  # an end past the last byte is clamped
    ]
    rng = random.Random(5)
    randoms = []
    for _ in range(40):
        start = rng.randrange(size)
        randoms.append((start, rng.randrange(start, min(size, start + 3 * PER_SEGMENT))))
    return fixed + randoms


@pytest.mark.parametrize("chunk_segments", [1, 2, 4])
def test_ranges_equal_the_plaintext_slice_and_read_only_covering_segments(range_fixture, chunk_segments):
    plaintext, ciphertext = range_fixture
    file = _CountingFile(ciphertext)
    reader = DecryptingReader(file, key=KEY, associated_data=AAD, ciphertext_size=len(ciphertext))
    last = (len(ciphertext) - 1) // SEGMENT_SIZE
    # Construction: the header, then the last segment (one byte more is asked to spot extra data).
    assert file.reads[0] == (0, HEADER_SIZE)
    assert file.reads[1] == (_segment_offset(last), len(ciphertext) - _segment_offset(last))
    assert sum(length for _, length in file.reads) == HEADER_SIZE + len(ciphertext) - _segment_offset(last)

    for start, end in _ranges(len(plaintext)):
        file.reads.clear()
        chunks = list(reader.iter_range(start, end, chunk_segments=chunk_segments))
        stop = len(plaintext) - 1 if end is None else min(end, len(plaintext) - 1)
        assert b"".join(chunks) == plaintext[start : stop + 1], (start, end)

        covering = set(range(_segment_of(start), _segment_of(stop) + 1))
        assert len(chunks) == -(-len(covering) // chunk_segments)
        touched = set()
        for offset, length in file.reads:
            if length:
                touched |= set(range(offset // SEGMENT_SIZE, (offset + length - 1) // SEGMENT_SIZE + 1))
        assert touched == covering - {last}, (start, end)  # the last segment is never read twice
        expected_bytes = sum(
            min(_segment_offset(i + 1), len(ciphertext)) - _segment_offset(i) for i in covering - {last}
        )
        assert sum(length for _, length in file.reads) == expected_bytes


def test_invalid_ranges(range_fixture):
    plaintext, ciphertext = range_fixture
    reader = _reader(ciphertext)
    assert reader.plaintext_size == len(plaintext)
    with pytest.raises(ValueError, match="past the last"):
        reader.iter_range(len(plaintext))
    with pytest.raises(ValueError, match="before its start"):
        reader.iter_range(10, 9)
    with pytest.raises(ValueError, match="negative"):
        reader.iter_range(-1)
    with pytest.raises(ValueError, match="chunk_segments"):
        reader.iter_range(0, 10, chunk_segments=0)


# --- Tampering --------------------------------------------------------------------------------


def _segments(ciphertext: bytes) -> tuple[bytes, list[bytes]]:
    body = ciphertext[HEADER_SIZE:]
    first = body[: SEGMENT_SIZE - HEADER_SIZE]
    rest = body[SEGMENT_SIZE - HEADER_SIZE :]
    later = [rest[i : i + SEGMENT_SIZE] for i in range(0, len(rest), SEGMENT_SIZE)]
    return ciphertext[:HEADER_SIZE], [first, *later]


def test_truncated_inside_the_header(range_fixture):
    _, ciphertext = range_fixture
    with pytest.raises(HeaderError, match="inside the 40-byte header") as declared:
        _reader(ciphertext[:20])
    assert isinstance(declared.value, TruncatedCiphertextError)
    # The size on record is right but the stored file was cut inside the header.
    with pytest.raises(TruncatedCiphertextError, match="inside the 40-byte header") as stored:
        _reader(ciphertext[:20], size=len(ciphertext))
    assert isinstance(stored.value, HeaderError)


def test_truncated_at_a_segment_boundary_is_detected_up_front(range_fixture):
    _, ciphertext = range_fixture
    for boundary in (SEGMENT_SIZE, 3 * SEGMENT_SIZE):  # i.e. the trailing segments were dropped
        with pytest.raises(TruncatedCiphertextError, match="truncated at a segment boundary"):
            _reader(ciphertext[:boundary])


def test_truncated_inside_a_segment(range_fixture):
    _, ciphertext = range_fixture
    with pytest.raises(SegmentAuthenticationError, match="truncated") as cut:
        _reader(ciphertext[:-100])
    assert cut.value.segment_index == 5
    with pytest.raises(TruncatedCiphertextError, match="shorter than its 16-byte tag"):
        _reader(ciphertext[: 2 * SEGMENT_SIZE + 5])
    # The stored file is shorter than the size on record.
    with pytest.raises(TruncatedCiphertextError, match="declared ciphertext_size"):
        _reader(ciphertext[:-100], size=len(ciphertext))


def test_bytes_after_the_declared_end(range_fixture):
    _, ciphertext = range_fixture
    with pytest.raises(StreamingAeadError, match="longer than the declared"):
        _reader(ciphertext + b"\x00", size=len(ciphertext))


def test_dropped_segment(range_fixture):
    _, ciphertext = range_fixture
    header, segments = _segments(ciphertext)
    dropped = header + b"".join(segments[:2] + segments[3:])
    with pytest.raises(SegmentAuthenticationError, match="dropped, duplicated or reordered") as error:
        _reader(dropped)
    assert error.value.segment_index == 4  # the final segment now sits at position 4


def test_reordered_segments_fail_at_the_first_misplaced_one(range_fixture):
    plaintext, ciphertext = range_fixture
    header, segments = _segments(ciphertext)
    segments[1], segments[2] = segments[2], segments[1]
    reader = _reader(header + b"".join(segments))
    assert b"".join(reader.iter_range(0, FIRST - 1)) == plaintext[:FIRST]
    with pytest.raises(SegmentAuthenticationError, match="its bytes are segment 2") as error:
        list(reader.iter_range(FIRST))
    assert error.value.segment_index == 1
    assert "reordered" in str(error.value)


@pytest.mark.parametrize(
    ("offset", "what"),
    [(1, "salt"), (HEADER_SIZE - 1, "nonce prefix")],
)
def test_flipped_header_bit_fails_every_segment(range_fixture, offset, what):
    _, ciphertext = range_fixture
    with pytest.raises(SegmentAuthenticationError, match="wrong key or associated data") as error:
        _reader(_flip(ciphertext, offset))
    assert "header" in str(error.value), what


def test_bad_header_length_byte(range_fixture):
    _, ciphertext = range_fixture
    with pytest.raises(HeaderError, match="bad header length byte 41"):
        _reader(_flip(ciphertext, 0))


@pytest.mark.parametrize("key", [bytes(32), KEY[::-1]])
def test_wrong_key(range_fixture, key):
    _, ciphertext = range_fixture
    with pytest.raises(SegmentAuthenticationError, match="wrong key or associated data"):
        _reader(ciphertext, key=key)


def test_wrong_associated_data(range_fixture):
    _, ciphertext = range_fixture
    with pytest.raises(SegmentAuthenticationError, match=r"wrong key or associated data \(recording id\)"):
        _reader(ciphertext, associated_data=b"recording:43")
    with pytest.raises(SegmentAuthenticationError):
        decrypt_bytes(encrypt_bytes(b"tiny", key=KEY, associated_data=AAD), key=KEY, associated_data=b"")


@pytest.mark.parametrize("part", ["body", "tag"])
@pytest.mark.parametrize("chunk_segments", [1, 2])
def test_flipped_bit_in_segment_k_is_caught_only_when_read(range_fixture, part, chunk_segments):
    plaintext, ciphertext = range_fixture
    k = 3
    segment_end = _segment_offset(k + 1)
    flipped = _flip(ciphertext, segment_end - (5 if part == "tag" else TAG_SIZE + 700))
    reader = _reader(flipped)  # the last segment is intact: construction succeeds

    # Random access: ranges wholly before segment k decrypt fine.
    before = b"".join(reader.iter_range(100, _plaintext_offset(k) - 1, chunk_segments=chunk_segments))
    assert before == plaintext[100 : _plaintext_offset(k)]
    after = b"".join(reader.iter_range(_plaintext_offset(k + 1), chunk_segments=chunk_segments))
    assert after == plaintext[_plaintext_offset(k + 1) :]

    # A range touching k fails before any byte of k is yielded.
    collected = bytearray()
    with pytest.raises(SegmentAuthenticationError, match=f"tampered segment {k}") as error:
        for chunk in reader.iter_range(100, chunk_segments=chunk_segments):
            collected += chunk
    assert error.value.segment_index == k
    assert bytes(collected) == plaintext[100 : 100 + len(collected)]
    # Segment-by-segment, output stops exactly at k's first byte; by pairs (k=3 shares a chunk
    # with segment 2), at the start of that chunk.
    expected_stop = _plaintext_offset(k) if chunk_segments == 1 else _plaintext_offset(2)
    assert 100 + len(collected) == expected_stop


def test_flipped_bit_in_the_last_segment_fails_on_construction(range_fixture):
    _, ciphertext = range_fixture
    with pytest.raises(SegmentAuthenticationError, match="tampered segment 5") as error:
        _reader(_flip(ciphertext, len(ciphertext) - 500))
    assert error.value.segment_index == 5


def test_every_failure_is_a_streaming_aead_error_and_a_value_error():
    for cls in (HeaderError, TruncatedCiphertextError, SegmentAuthenticationError):
        assert issubclass(cls, StreamingAeadError)
        assert issubclass(cls, ValueError)


# --- Streaming encryption ---------------------------------------------------------------------

STREAM_SIZE = 20 * 2**20 + 77


class _PatternSource(io.RawIOBase):
    """A plaintext "file" of ``size`` bytes made on the fly, in short reads, never held whole."""

    def __init__(self, size: int, max_read: int = 10_000) -> None:
        self._remaining = size
        self._counter = 0
        self._max_read = max_read
        self.sha256 = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        count = min(len(buffer), self._remaining, self._max_read)
        # Vary the bytes so a misplaced chunk would show.
        chunk = (self._counter.to_bytes(8, "big") * (count // 8 + 1))[:count]
        self._counter += 1
        buffer[:count] = chunk
        self._remaining -= count
        self.sha256.update(chunk)
        return count


@pytest.fixture(scope="module")
def stream_plaintext():
    return _plaintext(STREAM_SIZE, seed=3)


def _read_in(reader: EncryptingReader, size: int) -> bytes:
    parts = []
    while chunk := reader.read(size):
        assert len(chunk) == size or not reader.read(1)  # full reads until the very end
        parts.append(chunk)
    return b"".join(parts)


@pytest.mark.parametrize("mode", ["small", "large", "all", "readinto"])
def test_encrypting_reader_streams_any_read_size(stream_plaintext, mode):
    reader = EncryptingReader(io.BytesIO(stream_plaintext), key=KEY, associated_data=AAD)
    assert reader.readable() and not reader.seekable()
    if mode == "small":
        ciphertext = _read_in(reader, 1000)
    elif mode == "large":
        ciphertext = _read_in(reader, 3 * 2**20 + 1)
    elif mode == "all":
        ciphertext = reader.read(-1)
    else:
        out, buffer = bytearray(), bytearray(50_000)
        while count := reader.readinto(buffer):
            out += buffer[:count]
        ciphertext = bytes(out)
    assert len(ciphertext) == ciphertext_size(STREAM_SIZE) == reader.tell()
    assert ciphertext[0] == HEADER_SIZE
    assert reader.plaintext_bytes_read == STREAM_SIZE
    assert reader.sha256.hexdigest() == hashlib.sha256(stream_plaintext).hexdigest()
    assert decrypt_bytes(ciphertext, key=KEY, associated_data=AAD) == stream_plaintext
    assert reader.read(10) == b""


def test_encrypting_reader_handles_short_source_reads():
    source = _PatternSource(3 * PER_SEGMENT + 5, max_read=777)
    reader = EncryptingReader(source, key=KEY, associated_data=AAD)
    ciphertext = reader.read()
    assert reader.sha256.hexdigest() == source.sha256.hexdigest()
    plaintext = decrypt_bytes(ciphertext, key=KEY, associated_data=AAD)
    assert hashlib.sha256(plaintext).hexdigest() == source.sha256.hexdigest()


def test_encrypting_reader_memory_stays_bounded():
    source = _PatternSource(STREAM_SIZE)
    reader = EncryptingReader(source, key=KEY, associated_data=AAD)
    digest = hashlib.sha256()
    total = 0
    tracemalloc.start()
    try:
        while chunk := reader.read(256 * 1024):
            digest.update(chunk)
            total += len(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total == ciphertext_size(STREAM_SIZE)
    assert reader.sha256.hexdigest() == source.sha256.hexdigest()
    assert peak < 2 * 2**20, f"peak {peak} bytes while encrypting a {STREAM_SIZE}-byte stream"


def test_ciphertext_views_continue_where_reads_stopped_and_hand_over_whole_segments(stream_plaintext):
    reader = EncryptingReader(io.BytesIO(stream_plaintext), key=KEY, associated_data=AAD, digest=False)
    head = reader.read(100)  # part of the header and first segment

    chunks = [bytes(chunk) for chunk in reader.ciphertext_views()]  # each used before the next

    ciphertext = head + b"".join(chunks)
    assert len(ciphertext) == ciphertext_size(STREAM_SIZE) == reader.tell()
    assert all(len(chunk) == SEGMENT_SIZE for chunk in chunks[1:-1])
    assert reader.sha256 is None and reader.plaintext_bytes_read == STREAM_SIZE
    assert decrypt_bytes(ciphertext, key=KEY, associated_data=AAD) == stream_plaintext


def test_ciphertext_views_reuse_one_buffer_so_a_kept_view_is_overwritten(stream_plaintext):
    """The contract of ``ciphertext_views``: a view is valid until the next one is asked for."""
    reader = EncryptingReader(io.BytesIO(stream_plaintext), key=KEY, associated_data=AAD, digest=False)
    views = reader.ciphertext_views()
    assert isinstance(next(views), bytes)  # the header: bytes, for FileSystemStorage's binary mode
    first = next(views)
    first_bytes = bytes(first)
    next(views)
    assert bytes(first) != first_bytes  # the second segment was encrypted into the same buffer
    reader.close()


# --- Local files are read through a memory map ---------------------------------------------------


def _on_disk(tmp_path, content: bytes, name: str = "blob.tink"):
    path = tmp_path / name
    path.write_bytes(content)
    return path


def test_a_local_file_is_mapped_and_reads_as_a_stream_does(tmp_path):
    plaintext = _plaintext(SEGMENT_SIZE * 5 + 123, seed=7)
    ciphertext = encrypt_bytes(plaintext, key=KEY, associated_data=AAD)
    with _on_disk(tmp_path, ciphertext).open("rb") as file:
        reader = DecryptingReader(file, key=KEY, associated_data=AAD, ciphertext_size=len(ciphertext))
        assert reader._map is not None
        for start, end in [(0, None), (1, 70_000), (SEGMENT_SIZE * 2, SEGMENT_SIZE * 4 + 5)]:
            whole = b"".join(reader.iter_range(start, end))
            assert whole == plaintext[start : None if end is None else end + 1]
        reader.close()
        assert reader._map is None
        reader.close()  # twice is harmless


def test_a_local_file_cut_short_is_not_mapped_and_says_so(tmp_path):
    ciphertext = encrypt_bytes(_plaintext(SEGMENT_SIZE * 3, seed=8), key=KEY, associated_data=AAD)
    cut = ciphertext[: SEGMENT_SIZE + 100]
    with _on_disk(tmp_path, cut).open("rb") as file, pytest.raises(TruncatedCiphertextError):
        DecryptingReader(file, key=KEY, associated_data=AAD, ciphertext_size=len(ciphertext))


def test_a_tampered_segment_of_a_mapped_file_fails_before_its_bytes_are_yielded(tmp_path):
    plaintext = _plaintext(SEGMENT_SIZE * 4, seed=9)
    ciphertext = _flip(encrypt_bytes(plaintext, key=KEY, associated_data=AAD), _segment_offset(2) + 10)
    with _on_disk(tmp_path, ciphertext).open("rb") as file:
        reader = DecryptingReader(file, key=KEY, associated_data=AAD, ciphertext_size=len(ciphertext))
        assert reader._map is not None
        served = []
        with pytest.raises(SegmentAuthenticationError, match="segment 2"):
            for chunk in reader.iter_range(0, None):
                served.append(chunk)
        assert b"".join(served) == plaintext[: _plaintext_offset(2)]


# --- A local plaintext file is encrypted from its memory map --------------------------------------


@pytest.mark.parametrize("size", [2**20, 2**20 + 1, FIRST + 20 * PER_SEGMENT, 20 * 2**20 + 17])
def test_a_mapped_plaintext_file_encrypts_as_its_bytes_do_and_tink_agrees(tmp_path, tink_primitive, size):
    plaintext = _plaintext(size, seed=size % 97)
    path = _on_disk(tmp_path, plaintext, "call.wav")
    with path.open("rb") as file:
        reader = EncryptingReader(file, key=KEY, associated_data=AAD)
        views = reader.ciphertext_views()
        ciphertext = bytearray(next(views))
        ciphertext += next(views)
        assert reader._mapped is not None  # read through the map, not into buffers
        for chunk in views:
            ciphertext += chunk
        assert reader._mapped is None  # unmapped at the end
        assert file.tell() == size  # the file is left after what was read
    assert reader.plaintext_bytes_read == size
    assert reader.sha256.hexdigest() == hashlib.sha256(plaintext).hexdigest()
    assert _tink_decrypt(tink_primitive, bytes(ciphertext)) == plaintext


def test_a_mapped_plaintext_file_is_read_from_its_current_position(tmp_path):
    plaintext = _plaintext(3 * 2**20, seed=11)
    path = _on_disk(tmp_path, plaintext, "call.wav")
    with path.open("rb") as file:
        file.seek(12345)
        ciphertext = EncryptingReader(file, key=KEY, associated_data=AAD).readall()
    assert decrypt_bytes(ciphertext, key=KEY, associated_data=AAD) == plaintext[12345:]


def test_a_small_plaintext_file_is_read_not_mapped(tmp_path):
    path = _on_disk(tmp_path, _plaintext(2**20 - 1, seed=12), "call.wav")
    with path.open("rb") as file:
        reader = EncryptingReader(file, key=KEY, associated_data=AAD)
        views = reader.ciphertext_views()
        next(views), next(views)
        assert reader._mapped is None


def test_closing_an_encrypting_reader_midway_unmaps_its_plaintext(tmp_path):
    path = _on_disk(tmp_path, _plaintext(4 * 2**20, seed=13), "call.wav")
    with path.open("rb") as file:
        reader = EncryptingReader(file, key=KEY, associated_data=AAD)
        views = reader.ciphertext_views()
        next(views), next(views)
        mapped = reader._mapped
        assert mapped is not None
        reader.close()
        assert reader._mapped is None and mapped._map is None


def test_a_sequential_map_keeps_about_two_windows_resident(tmp_path, monkeypatch):
    """The pages behind the reads are handed back: this process's resident set grows by about two
    windows (4 MiB ones here) while a 32 MiB file is read through its map, not by the file."""
    window, size = 4 * 2**20, 32 * 2**20
    monkeypatch.setattr(mapped_files, "WINDOW_BYTES", window)
    path = _on_disk(tmp_path, os.urandom(size), "big.bin")
    with path.open("rb") as file:
        mapped = SequentialMap.open(file, at_least=1)
        before = growth = _resident_bytes()
        read = 0
        while chunk := mapped.read(PER_SEGMENT):
            read += len(chunk)
            hashlib.sha256(chunk)  # touch every page
            growth = max(growth, _resident_bytes())
        del chunk
        mapped.close()
    assert read == size
    assert growth - before <= 3 * window, f"the resident set grew by {growth - before} bytes"


def _resident_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * mmap.PAGESIZE
