"""Speech-like audio for the demo's calls: 8 kHz mono 16-bit PCM, the telephony norm.

Three ways, best first: ``espeak-ng`` when the binary is installed (real words, read from its WAV
output and resampled to 8 kHz); otherwise a small formant synthesiser in pure Python (a glottal
pulse train with a pitch contour through three vowel resonators, noise for consonants: it sounds
like muffled speech through a wall); and tones only if both fail. Each voice synthesises a bank of
syllables (or each distinct phrase, with espeak-ng) once; calls are cut from those banks, so a
hundred calls cost a few seconds.

Everything is deterministic (fixed seeds), so the demo is the same on every machine.
"""

from __future__ import annotations

import array
import functools
import math
import random
import re
import shutil
import subprocess
import sys
import tempfile
import wave
from dataclasses import dataclass
from pathlib import Path

RATE = 8000
SAMPLE_BYTES = 2
_PEAK = 9000
_ESPEAK_TIMEOUT_SECONDS = 20

# Rough (F1, F2, F3) in Hz of five vowels of an adult male speaker; a voice scales them.
_VOWELS = {
    "a": (730, 1090, 2440),
    "e": (530, 1840, 2480),
    "i": (300, 2200, 2900),
    "o": (570, 840, 2410),
    "u": (440, 1020, 2240),
}
# Onsets: (kind, centre frequency in Hz of a noise consonant; 0 for none).
_ONSETS = [("none", 0), ("fricative", 3200), ("fricative", 2400), ("plosive", 1800), ("nasal", 0)]
SYLLABLES_PER_VOICE = 30


@dataclass(frozen=True)
class Voice:
    """A speaker: ``pitch`` is the mean fundamental (Hz), ``formant_scale`` the vocal tract
    (1.0 a typical man, ~1.15 a typical woman); ``espeak`` the espeak-ng voice name."""

    name: str
    pitch: float
    formant_scale: float
    espeak: str
    words_per_minute: int = 160


AGENT_VOICES = (
    Voice("agent-a", 205.0, 1.16, "en+f3"),
    Voice("agent-b", 125.0, 1.02, "en+m3"),
)
CALLER_VOICES = (
    Voice("caller-a", 110.0, 1.0, "en+m1", 150),
    Voice("caller-b", 190.0, 1.12, "en+f2", 150),
    Voice("caller-c", 140.0, 1.05, "en+m7", 145),
)
IVR_VOICE = Voice("ivr", 175.0, 1.10, "en+f4", 165)


def pcm(samples: list[float] | array.array) -> bytes:
    """Little-endian 16-bit PCM (what WAV holds) of samples in [-32767, 32767]."""
    out = array.array("h", (max(-32767, min(32767, int(s))) for s in samples))
    if sys.byteorder == "big":
        out.byteswap()
    return out.tobytes()


def silence(seconds: float) -> bytes:
    return bytes(int(seconds * RATE) * SAMPLE_BYTES)


def seconds_of(frames: bytes) -> float:
    return len(frames) / (RATE * SAMPLE_BYTES)


def wav_bytes(frames: bytes) -> bytes:
    """``frames`` (8 kHz mono 16-bit PCM) as a WAV file."""
    import io

    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(SAMPLE_BYTES)
        wav.setframerate(RATE)
        wav.writeframes(frames)
    return buffer.getvalue()


# --- formant synthesis ----------------------------------------------------------------------


def _resonate(signal: list[float], frequency: float, bandwidth: float) -> list[float]:
    """A two-pole resonator (Klatt's formant filter) at ``frequency`` with ``bandwidth``, unit
    gain at DC."""
    c = -math.exp(-2 * math.pi * bandwidth / RATE)
    b = 2 * math.exp(-math.pi * bandwidth / RATE) * math.cos(2 * math.pi * frequency / RATE)
    a = 1 - b - c
    y1 = y2 = 0.0
    out = []
    for x in signal:
        y = a * x + b * y1 + c * y2
        out.append(y)
        y2, y1 = y1, y
    return out


def _glottal_source(seconds: float, pitch_from: float, pitch_to: float, rng: random.Random) -> list[float]:
    """A pulse train whose pitch glides from ``pitch_from`` to ``pitch_to`` (with a little jitter),
    each pulse a decaying sawtooth: the buzz of the vocal folds."""
    n = int(seconds * RATE)
    out = []
    phase = 0.0
    for i in range(n):
        f0 = pitch_from + (pitch_to - pitch_from) * i / max(1, n - 1)
        f0 *= 1 + rng.uniform(-0.01, 0.01)
        phase += f0 / RATE
        if phase >= 1.0:
            phase -= 1.0
        out.append((1.0 - phase) ** 3 - 0.25)
    return out


def _envelope(n: int, attack: int, release: int) -> list[float]:
    return [min(1.0, i / max(1, attack), (n - i) / max(1, release)) for i in range(n)]


def _syllable(voice: Voice, vowel: str, onset: tuple[str, int], glide: float, rng: random.Random) -> bytes:
    """One consonant-vowel syllable of ``voice``: ~0.2 s of voiced formants after an optional
    noise onset; ``glide`` is the relative pitch change across it (intonation)."""
    kind, centre = onset
    head: list[float] = []
    if kind == "fricative":
        noise = [rng.uniform(-1, 1) for _ in range(int(0.07 * RATE))]
        head = [s * 0.18 for s in _resonate(noise, centre * voice.formant_scale, 900)]
        head = [s * e for s, e in zip(head, _envelope(len(head), 120, 80), strict=True)]
    elif kind == "plosive":
        burst = [rng.uniform(-1, 1) for _ in range(int(0.012 * RATE))]
        head = [0.0] * int(0.03 * RATE) + [s * 0.5 for s in _resonate(burst, centre, 1200)]
    duration = rng.uniform(0.15, 0.21)
    start = voice.pitch * rng.uniform(0.92, 1.1)
    source = _glottal_source(duration, start, start * (1 + glide), rng)
    f1, f2, f3 = (f * voice.formant_scale for f in _VOWELS[vowel])
    if kind == "nasal":
        # A nasal murmur first: low first formant, then the vowel opens.
        murmur = _resonate(source[: int(0.05 * RATE)], 260, 100)
        voiced = murmur + _resonate(_resonate(source[int(0.05 * RATE) :], f1, 90), f2, 110)
    else:
        voiced = _resonate(_resonate(source, f1, 90), f2, 110)
    voiced = [v + 0.4 * w for v, w in zip(voiced, _resonate(source, min(f3, 3600), 170), strict=True)]
    voiced = [v * e for v, e in zip(voiced, _envelope(len(voiced), 160, 400), strict=True)]
    peak = max(1e-9, max(abs(v) for v in voiced))
    gain = rng.uniform(0.6, 1.0) * _PEAK / peak
    return pcm([s * gain for s in head] + [v * gain for v in voiced])


@functools.lru_cache(maxsize=16)
def syllable_bank(voice: Voice) -> tuple[tuple[bytes, ...], tuple[bytes, ...]]:
    """The voice's syllables, made once: (level or rising ones, falling ones for the end of a
    phrase)."""
    rng = random.Random(f"custos-demo-{voice.name}")  # noqa: S311 - demo audio, not security
    vowels = list(_VOWELS)
    level = tuple(
        _syllable(voice, vowels[i % 5], _ONSETS[(i * 3) % len(_ONSETS)], rng.uniform(-0.05, 0.12), rng)
        for i in range(SYLLABLES_PER_VOICE)
    )
    falling = tuple(
        _syllable(voice, vowels[i % 5], _ONSETS[i % len(_ONSETS)], rng.uniform(-0.3, -0.15), rng)
        for i in range(8)
    )
    return level, falling


_VOWEL_GROUPS = re.compile(r"[aeiouy]+", re.IGNORECASE)
_DIGIT_SYLLABLES = {"0": 2, "7": 2}


def syllable_count(word: str) -> int:
    """Roughly how many syllables ``word`` has when said aloud (digits said one by one)."""
    digits = [c for c in word if c.isdigit()]
    if digits:
        return sum(_DIGIT_SYLLABLES.get(d, 1) for d in digits)
    return max(1, len(_VOWEL_GROUPS.findall(word)))


def formant_word(voice: Voice, word: str, *, phrase_end: bool) -> bytes:
    """``word`` as syllables of the voice's bank, chosen by the word's letters (the same word
    always sounds the same); falling pitch at the end of a phrase."""
    level, falling = syllable_bank(voice)
    seed = sum((i + 1) * ord(c) for i, c in enumerate(word.lower()))
    count = syllable_count(word)
    parts = []
    for i in range(count):
        last = phrase_end and i == count - 1
        bank = falling if last else level
        parts.append(bank[(seed + 7 * i) % len(bank)])
        if any(c.isdigit() for c in word) and i < count - 1:
            parts.append(silence(0.06))  # digits are said one by one
    return b"".join(parts)


# --- espeak-ng -------------------------------------------------------------------------------


def espeak_binary() -> str | None:
    return shutil.which("espeak-ng")


def _resample_to_rate(frames: bytes, rate: int) -> bytes:
    """Linear-interpolation resampling of 16-bit mono PCM to 8 kHz (espeak-ng writes 22.05 kHz);
    a crude low-pass first (moving average) keeps the aliasing down."""
    source = array.array("h")
    source.frombytes(frames)
    if sys.byteorder == "big":
        source.byteswap()
    if rate == RATE:
        return frames
    smoothed = [
        (source[max(0, i - 1)] + source[i] + source[min(len(source) - 1, i + 1)]) / 3
        for i in range(len(source))
    ]
    step = rate / RATE
    out = []
    position = 0.0
    while position < len(smoothed) - 1:
        i = int(position)
        fraction = position - i
        out.append(smoothed[i] * (1 - fraction) + smoothed[i + 1] * fraction)
        position += step
    return pcm(out)


@functools.lru_cache(maxsize=2048)
def espeak_phrase(voice: Voice, text: str) -> bytes | None:
    """``text`` spoken by espeak-ng in ``voice``, as 8 kHz PCM; None if espeak-ng is missing or
    fails (the caller then synthesises in code)."""
    binary = espeak_binary()
    if binary is None:
        return None
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "phrase.wav"
        try:
            subprocess.run(  # noqa: S603 - fixed binary, text passed as one argument, no shell
                [binary, "-v", voice.espeak, "-s", str(voice.words_per_minute), "-w", str(out), text],
                check=True,
                capture_output=True,
                timeout=_ESPEAK_TIMEOUT_SECONDS,
            )
            with wave.open(str(out), "rb") as wav:
                if wav.getnchannels() != 1 or wav.getsampwidth() != SAMPLE_BYTES:
                    return None
                return _resample_to_rate(wav.readframes(wav.getnframes()), wav.getframerate())
        except (OSError, subprocess.SubprocessError, wave.Error, EOFError):
            return None


# --- tones, the last resort ------------------------------------------------------------------


def tone(frequency: float, seconds: float, *, second_frequency: float = 0.0, level: float = 0.3) -> bytes:
    """A sine tone (or two added, as a DTMF key press is), with 5 ms ramps against clicks."""
    n = int(seconds * RATE)
    ramp = int(0.005 * RATE)
    samples = []
    for i in range(n):
        value = math.sin(2 * math.pi * frequency * i / RATE)
        if second_frequency:
            value = (value + math.sin(2 * math.pi * second_frequency * i / RATE)) / 2
        samples.append(value * level * 32767 * min(1.0, i / ramp, (n - i) / ramp))
    return pcm(samples)


# DTMF pairs of the keys an IVR asks for.
DTMF = {"1": (697, 1209), "2": (697, 1336)}


def dtmf(key: str) -> bytes:
    low, high = DTMF[key]
    return tone(low, 0.18, second_frequency=high)


def tone_word(word: str) -> bytes:
    """A word as a short tone whose pitch follows its letters: the fallback of the fallback."""
    frequency = 300 + (sum(ord(c) for c in word) % 12) * 40
    return tone(frequency, 0.12 * syllable_count(word) + 0.05, level=0.2)
