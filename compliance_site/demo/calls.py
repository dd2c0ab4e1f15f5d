"""A demo call: a script of turns spoken by an IVR, an agent and a caller, rendered to audio with
word timings (``compliance_site.demo.speech``), its transcript as WebVTT and its sensitive
segments exactly where the caller reads out a card number or an IBAN.

The transcript model stores text only, so the timings travel in the text: one WebVTT cue per turn
with the speaker (``<v Caller>``) and an inline timestamp before each word
(``<00:01:02.350>refund``). A card number or an IBAN is one timed token, its digit groups kept
together, so the redaction of transcripts (``recordings.redaction.text``) still finds it.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field

from compliance_site.demo import speech
from compliance_site.demo.speech import Voice

AGENT, CALLER, IVR = "Agent", "Caller", "IVR"
PAYMENT_CARD, BANK_DETAILS = "payment_card", "bank_details"

# Silence between turns (s), between phrases of a turn, and between words.
_TURN_GAP = (0.45, 0.9)
_PHRASE_GAP = 0.28
_WORD_GAP = 0.05


@dataclass(frozen=True)
class Chunk:
    """Words said in one breath; ``sensitive`` marks a card number or an IBAN (one token), or
    ``key`` a DTMF key press (no words)."""

    text: str = ""
    sensitive: str = ""
    key: str = ""


@dataclass(frozen=True)
class Turn:
    speaker: str
    chunks: tuple[Chunk, ...]
    consent_answer: str = ""  # the purpose code this turn answers, for the consent's evidence offset


def turn(speaker: str, *parts: str | Chunk, answers: str = "") -> Turn:
    return Turn(speaker, tuple(p if isinstance(p, Chunk) else Chunk(p) for p in parts), answers)


@dataclass(frozen=True)
class TimedWord:
    text: str
    start: float
    end: float


@dataclass
class Cue:
    speaker: str
    words: list[TimedWord] = field(default_factory=list)


@dataclass(frozen=True)
class Segment:
    start_seconds: float
    end_seconds: float
    kind: str


@dataclass
class RenderedCall:
    frames: bytes
    cues: list[Cue]
    segments: list[Segment]
    answers: dict[str, float]  # purpose code -> seconds into the call where the answer was given
    engine: str

    @property
    def seconds(self) -> float:
        return speech.seconds_of(self.frames)

    def webvtt(self) -> str:
        return webvtt(self.cues)


# --- numbers read out ----------------------------------------------------------------------


def luhn_card_number(rng: random.Random, prefix: str = "4") -> str:
    """A 16-digit card number passing the Luhn check, in four groups (test ranges, not real)."""
    digits = prefix + "".join(str(rng.randint(0, 9)) for _ in range(15 - len(prefix)))
    total = 0
    for i, d in enumerate(reversed(digits)):
        n = int(d)
        if i % 2 == 0:
            n = n * 2 - 9 if n * 2 > 9 else n * 2
        total += n
    number = digits + str((10 - total % 10) % 10)
    return " ".join(number[i : i + 4] for i in range(0, 16, 4))


def german_iban(rng: random.Random) -> str:
    """A German IBAN (DE, check digits, 8-digit bank code, 10-digit account) valid under mod 97."""
    bban = "".join(str(rng.randint(0, 9)) for _ in range(18))
    check = 98 - int(bban + "131400") % 97  # D=13, E=14, then "00" for the check digits
    iban = f"DE{check:02d}{bban}"
    return " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))


def spoken(text: str) -> str:
    """How a number is read aloud: digit by digit, a pause between groups."""
    return ", ".join(" ".join(group) for group in text.split())


# --- rendering -----------------------------------------------------------------------------

_WORD = re.compile(r"\S+")


def _words(text: str) -> list[str]:
    return _WORD.findall(text)


def _bare(word: str) -> str:
    return re.sub(r"[^\w]", "", word) or word


class _Renderer:
    """Renders chunks with one engine, remembering what it made (the same phrase is the same
    audio): espeak-ng per phrase, the formant bank per word, tones as the last resort."""

    def __init__(self, engine: str) -> None:
        self.engine = engine

    def chunk(self, voice: Voice, chunk: Chunk) -> tuple[bytes, list[tuple[str, float, float]]]:
        """The chunk's audio and its tokens with start/end seconds relative to the chunk."""
        if chunk.key:
            return speech.dtmf(chunk.key), []
        tokens = [chunk.text] if chunk.sensitive else _words(chunk.text)
        if self.engine == "espeak":
            said = spoken(chunk.text) if chunk.sensitive else chunk.text
            frames = speech.espeak_phrase(voice, said)
            if frames is not None:
                return frames, _spread(tokens, speech.seconds_of(frames))
        parts: list[bytes] = []
        timed: list[tuple[str, float, float]] = []
        position = 0.0
        # A number read out is said group by group: each group a "word" of the audio.
        said_words = chunk.text.split() if chunk.sensitive else tokens
        for i, word in enumerate(said_words):
            last = i == len(said_words) - 1
            audio = (
                speech.tone_word(_bare(word))
                if self.engine == "tones"
                else speech.formant_word(voice, _bare(word), phrase_end=last)
            )
            seconds = speech.seconds_of(audio)
            if not chunk.sensitive:
                timed.append((word, position, position + seconds))
            parts.append(audio)
            position += seconds
            if not last:
                gap = _PHRASE_GAP / 2 if chunk.sensitive else _WORD_GAP
                parts.append(speech.silence(gap))
                position += gap
        if chunk.sensitive:
            timed.append((chunk.text, 0.0, position))
        return b"".join(parts), timed


def _spread(tokens: list[str], seconds: float) -> list[tuple[str, float, float]]:
    """Word timings within a phrase from espeak-ng, which gives none: shared out by syllables."""
    weights = [speech.syllable_count(_bare(t)) for t in tokens]
    total = sum(weights) or 1
    out, position = [], 0.0
    for token, weight in zip(tokens, weights, strict=True):
        length = seconds * weight / total
        out.append((token, position, position + length))
        position += length
    return out


def choose_engine() -> str:
    """espeak-ng if it is installed and works, else the formant synthesiser, else tones."""
    if speech.espeak_binary() and speech.espeak_phrase(speech.IVR_VOICE, "Hello.") is not None:
        return "espeak"
    try:
        speech.syllable_bank(speech.IVR_VOICE)
    except Exception:  # any failure of the synthesiser leaves the tones
        return "tones"
    return "formant"


def render(turns: list[Turn], voices: dict[str, Voice], rng: random.Random, engine: str) -> RenderedCall:
    """The call's audio, its cues with word timings, its sensitive segments and where each consent
    was answered."""
    renderer = _Renderer(engine)
    parts: list[bytes] = [speech.silence(0.4)]
    position = 0.4
    cues: list[Cue] = []
    segments: list[Segment] = []
    answers: dict[str, float] = {}
    for t in turns:
        cue = Cue(speaker=t.speaker)
        for i, chunk in enumerate(t.chunks):
            if i:
                parts.append(speech.silence(_PHRASE_GAP))
                position += _PHRASE_GAP
            audio, timed = renderer.chunk(voices[t.speaker], chunk)
            if chunk.key and t.consent_answer:
                answers[t.consent_answer] = round(position, 3)
            if chunk.sensitive:
                # A little margin either side: muting must cover the whole number.
                segments.append(
                    Segment(
                        round(max(0.0, position - 0.15), 3),
                        round(position + speech.seconds_of(audio) + 0.15, 3),
                        chunk.sensitive,
                    )
                )
            cue.words.extend(
                TimedWord(w, round(position + s, 3), round(position + e, 3)) for w, s, e in timed
            )
            parts.append(audio)
            position += speech.seconds_of(audio)
        if t.consent_answer and t.consent_answer not in answers and cue.words:
            answers[t.consent_answer] = cue.words[0].start
        if cue.words:
            cues.append(cue)
        gap = rng.uniform(*_TURN_GAP)
        parts.append(speech.silence(gap))
        position += gap
    return RenderedCall(b"".join(parts), cues, segments, answers, engine)


# --- WebVTT --------------------------------------------------------------------------------


def timestamp(seconds: float) -> str:
    millis = round(seconds * 1000)
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}.{millis:03d}"


def webvtt(cues: list[Cue]) -> str:
    """WebVTT with one cue per turn and a timestamp tag before every word but the first (which
    starts with the cue), so each word's start is known."""
    lines = ["WEBVTT", ""]
    for n, cue in enumerate(cues, start=1):
        first, last = cue.words[0], cue.words[-1]
        text = " ".join(
            word.text if i == 0 else f"<{timestamp(word.start)}>{word.text}"
            for i, word in enumerate(cue.words)
        )
        lines += [
            str(n),
            f"{timestamp(first.start)} --> {timestamp(last.end)}",
            f"<v {cue.speaker}>{text}",
            "",
        ]
    return "\n".join(lines)


_CUE_TIMING = re.compile(r"^(\d{2}:\d{2}:\d{2}\.\d{3}) --> (\d{2}:\d{2}:\d{2}\.\d{3})$", re.MULTILINE)
_INLINE = re.compile(r"<(\d{2}:\d{2}:\d{2}\.\d{3})>")


def parse_seconds(stamp: str) -> float:
    hours, minutes, seconds = stamp.split(":")
    return round(int(hours) * 3600 + int(minutes) * 60 + float(seconds), 3)


def word_starts(vtt: str) -> list[tuple[float, str]]:
    """(start, word) of every timed word of a transcript written by ``webvtt``."""
    out: list[tuple[float, str]] = []
    blocks = vtt.split("\n\n")
    for block in blocks:
        timing = _CUE_TIMING.search(block)
        if timing is None:
            continue
        text = block[timing.end() :].strip()
        text = re.sub(r"^<v [^>]*>", "", text)
        pieces = _INLINE.split(text)
        out.append((parse_seconds(timing.group(1)), pieces[0].strip()))
        for stamp, words in zip(pieces[1::2], pieces[2::2], strict=True):
            out.append((parse_seconds(stamp), words.strip()))
    return out
