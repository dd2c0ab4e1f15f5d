"""What PyAV reads of a container mutagen does not parse (WebM): its audio and its duration."""

from __future__ import annotations

from dataclasses import dataclass
from typing import IO

import av
import av.error


class ProbeError(ValueError):
    """The file cannot be read as audio; the message says why."""


@dataclass(frozen=True)
class ProbeInfo:
    length: float  # seconds (mutagen's name, so ingest reads both alike)


@dataclass(frozen=True)
class Probed:
    info: ProbeInfo


def probe_audio(file: IO[bytes]) -> Probed:
    """The duration of the audio-only file ``file``: the container's, or, when it states none (a
    WebM recorded live by a browser's MediaRecorder), the end of its last audio packet, found by
    reading the packets without decoding them. Raises ProbeError."""
    try:
        with av.open(file, "r") as container:
            if not container.streams.audio:
                raise ProbeError("it has no audio stream")
            if container.streams.video:
                raise ProbeError("it has a video stream; only call audio is accepted")
            if container.duration:
                return Probed(ProbeInfo(container.duration / av.time_base))
            stream = container.streams.audio[0]
            end = 0.0
            for packet in container.demux(stream):
                if packet.pts is not None and packet.time_base:
                    end = max(end, float((packet.pts + (packet.duration or 0)) * packet.time_base))
            return Probed(ProbeInfo(end))
    except av.error.FFmpegError as exc:
        raise ProbeError(f"FFmpeg cannot read it ({type(exc).__name__})") from exc
