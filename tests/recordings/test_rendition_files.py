"""The files a muted rendition is made with: the scratch file holds no plaintext on disk and takes
a muxer's seeks and rewrites; the plaintext view of a blob reads it exactly, across segments."""

from __future__ import annotations

import io
import os

from recordings.audio.files import PlaintextFile, SealedScratchFile
from recordings.vault.streaming_aead import encrypt_bytes
from recordings.vault.streaming_decrypt import DecryptingReader

KEY = bytes(range(32))


def test_the_scratch_file_reads_back_what_was_written_with_seeks_and_holds_only_ciphertext():
    plaintext = b"RIFF\x00\x00\x00\x00WAVE" + b"card 4111 1111 1111 1111 " * 80_000  # ~2 MB
    with SealedScratchFile() as scratch:
        # given a muxer's writes: small pieces, a header rewritten at the end, a gap left by a seek
        for start in range(0, len(plaintext), 333):
            scratch.write(plaintext[start : start + 333])
        scratch.seek(4)
        scratch.write(b"\x10\x20\x30\x40")
        scratch.seek(len(plaintext) + 10)
        scratch.write(b"tail")
        scratch.seek(0)
        # then it reads back exactly that, the gap as zeros
        expected = plaintext[:4] + b"\x10\x20\x30\x40" + plaintext[8:] + bytes(10) + b"tail"
        assert scratch.read() == expected
        assert scratch.size == len(expected)
        # and the disk holds none of it in clear
        raw = scratch._file
        raw.seek(0)
        on_disk = raw.read()
        assert len(on_disk) == len(expected)
        assert b"4111 1111" not in on_disk and b"WAVE" not in on_disk


def test_the_plaintext_view_of_a_blob_reads_it_exactly_across_segments():
    plaintext = os.urandom(300_000)
    ciphertext = encrypt_bytes(plaintext, key=KEY, associated_data=b"7")
    reader = DecryptingReader(
        io.BytesIO(ciphertext), key=KEY, associated_data=b"7", ciphertext_size=len(ciphertext)
    )
    view = PlaintextFile(reader)
    assert view.read(10) == plaintext[:10]
    view.seek(65_470)  # across the first segment's end
    assert view.read(100) == plaintext[65_470:65_570]
    view.seek(-5, io.SEEK_END)
    assert view.read() == plaintext[-5:]
    view.seek(0)
    assert b"".join(iter(lambda: view.read(32_768), b"")) == plaintext
