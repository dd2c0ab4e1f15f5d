"""The CRC-32 of an access package's ZIP entries: computed by ISA-L (a tenth of zlib's CPU time,
docs/PERFORMANCE.md), with exactly the values of zlib's, which every ZIP reader checks."""

from __future__ import annotations

import random
import zlib

import zipstream.ng
from isal import isal_zlib

from dsr import packages


def test_the_package_zip_stream_checksums_with_isal_and_gets_zlibs_values():
    """Given audio bytes of any length, as bytes or as the views the vault hands over,
    when the package's ZIP stream (zipstream-ng) computes their CRC-32,
    then it is ISA-L's function and every value equals zlib's, chained across chunks too."""
    assert packages.ZipStream is zipstream.ng.ZipStream
    assert zipstream.ng.crc32 is isal_zlib.crc32
    rng = random.Random(15)
    for size in (0, 1, 65_519, 65_520, 65_521, 1 << 20):
        data = rng.randbytes(size)
        for buffer in (data, memoryview(data), bytearray(data)):
            assert zipstream.ng.crc32(buffer, 0x1234) == zlib.crc32(data, 0x1234)
        half = size // 2
        chained = zipstream.ng.crc32(memoryview(data)[half:], zipstream.ng.crc32(data[:half], 0))
        assert chained == zlib.crc32(data)
