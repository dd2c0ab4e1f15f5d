"""Recognise call audio by its content, never by its file name, and refuse what is not audio.

The magic bytes say which format a file claims to be; mutagen (PyAV for WebM, which mutagen does
not read) then parses that format's headers, so a file that only starts like audio (or stops
half-way through its header) is refused with a reason. WAV, the telephony norm, is also checked
for truncation against its RIFF size.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, BinaryIO

import mutagen
import mutagen.flac
import mutagen.mp3
import mutagen.mp4
import mutagen.oggopus
import mutagen.oggvorbis
import mutagen.wave
from django.core.exceptions import ValidationError

from recordings.audio.probe import probe_audio


@dataclass(frozen=True)
class AudioInfo:
    content_type: str
    extension: str
    duration_seconds: float
    size_bytes: int


def _sniff(head: bytes) -> tuple[str, str, Callable[[BinaryIO], Any]] | None:
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "audio/wav", "wav", mutagen.wave.WAVE
    if head[:4] == b"fLaC":
        return "audio/flac", "flac", mutagen.flac.FLAC
    if head[:4] == b"OggS":
        if b"OpusHead" in head:
            return "audio/ogg; codecs=opus", "opus", mutagen.oggopus.OggOpus
        return "audio/ogg", "ogg", mutagen.oggvorbis.OggVorbis
    # EBML's magic, then the DocType "webm" in the EBML header (WebRTC recorders, Genesys).
    if head[:4] == b"\x1a\x45\xdf\xa3" and b"webm" in head:
        return "audio/webm", "webm", probe_audio
    if head[4:8] == b"ftyp":
        return "audio/mp4", "m4a", mutagen.mp4.MP4
    if head[:3] == b"ID3" or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return "audio/mpeg", "mp3", mutagen.mp3.MP3
    return None


def _size(file: BinaryIO) -> int:
    file.seek(0, 2)
    size = file.tell()
    file.seek(0)
    return size


def detect_audio(file: BinaryIO, *, max_bytes: int) -> AudioInfo:
    """What audio ``file`` holds; ValidationError with a clear reason when it is not acceptable."""
    size = _size(file)
    if size == 0:
        raise ValidationError("The audio file is empty.", code="empty")
    if size > max_bytes:
        raise ValidationError(
            f"The audio file is {size} bytes; the limit is {max_bytes} bytes.", code="too_large"
        )
    head = file.read(64)
    file.seek(0)
    sniffed = _sniff(head)
    if sniffed is None:
        raise ValidationError(
            "Unknown audio format: the content is not WAV, MP3, OGG/Opus, WebM, FLAC or M4A.",
            code="unknown_format",
        )
    content_type, extension, parser = sniffed
    if extension == "wav":
        riff_size = struct.unpack("<I", head[4:8])[0]
        if riff_size + 8 > size:
            raise ValidationError(
                f"The WAV file is truncated: its header announces {riff_size + 8} bytes, it has {size}.",
                code="truncated",
            )
    try:
        parsed = parser(file)
    except Exception as exc:  # mutagen raises many types for a broken file; all mean the same
        raise ValidationError(
            f"The file starts like {extension.upper()} but cannot be read as one ({type(exc).__name__}): "
            "it is truncated or corrupt.",
            code="corrupt",
        ) from exc
    finally:
        file.seek(0)
    duration = float(getattr(parsed.info, "length", 0.0) or 0.0)
    return AudioInfo(content_type, extension, duration, size)
