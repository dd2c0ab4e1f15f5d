"""Payment data found in a transcript's word timings: card numbers, the security code said after
one, and IBANs, as time ranges of the call. Pure functions; the write is ``segments``.

Word timings come from WebVTT (a cue per turn, ``<00:01:02.350>`` before each word but the first,
as ``compliance_site.demo`` writes) or from JSON: Amazon Transcribe's ``results.items[]``
(``start_time``, ``end_time``, ``alternatives[0].content``) or a list of
``{"word"|"text", "start", "end"}``. A transcript without timings (plain text) gives no words.

- Card numbers: consecutive words made only of digits (``4111``, ``4111-1111``, or digit names
  in English or German such as "four one one one", "vier eins eins eins", "zwo", "fünf" or
  "fuenf"), 13 to 19 digits joined, starting with 2 to 6 and passing Luhn.
- Security code: a run of 3 or 4 digits within ``SECURITY_CODE_WINDOW`` words after a card number
  (an expiry date said in between is muted too: it is cardholder data as well).
- IBANs: a word starting with a country code and two check digits, joined with the words after
  it up to 34 letters and digits, passing the country's format and mod 97 (python-stdnum).
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from bisect import bisect_left
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from stdnum import iban as stdnum_iban

from recordings.models import SensitiveKind
from recordings.redaction.text import CARD_MAX_DIGITS, IBAN_MAX_LENGTH, IBAN_MIN_LENGTH, card_number_valid

# Stored on each segment found: a change in what is found is a new version.
DETECTOR_VERSION = "transcript-2"
SECURITY_CODE_WINDOW = 12
# Far beyond a call (about 50 hours of speech): a bound on the work, not a rule on calls.
MAX_WORDS = 500_000
MAX_WORD_LENGTH = 200
MAX_SECONDS = Decimal("999999.999")

_DIGIT_NAMES = {
    "zero": "0", "oh": "0", "o": "0", "one": "1", "two": "2", "three": "3", "four": "4",
    "five": "5", "six": "6", "seven": "7", "eight": "8", "nine": "9",
    # German, as a speech-to-text service writes it: "zwo" is "zwei" said clearly on the phone,
    # "fuenf" is "fünf" without its umlaut.
    "null": "0", "eins": "1", "zwei": "2", "zwo": "2", "drei": "3", "vier": "4",
    "fünf": "5", "fuenf": "5", "sechs": "6", "sieben": "7", "acht": "8", "neun": "9",
}  # fmt: skip
# Said between the digit groups of one number, or around a word: never part of it.
_SEPARATORS = re.compile(r"[\s\-/.,;:!?()\"']+")
_TIMESTAMP = r"(?:([0-9]{2,}):)?([0-5][0-9]):([0-5][0-9])\.([0-9]{3})"
_CUE_TIMING = re.compile(rf"^{_TIMESTAMP} --> {_TIMESTAMP}(?=[ \t]|$)", re.MULTILINE)
_INLINE = re.compile(rf"<{_TIMESTAMP}>")
_TAG = re.compile(r"</?[^>]*>")
_IBAN_START = re.compile(r"^[A-Za-z]{2}[0-9]{2}")
_WORD = re.compile(r"\S+")


@dataclass(frozen=True)
class Word:
    """A timed word; ``at`` is where it is in the transcript (the offset of its first character
    in WebVTT, its item's index in JSON), for redacting it in place."""

    text: str
    start: Decimal
    end: Decimal
    at: int = 0


@dataclass(frozen=True)
class WordSpan:
    """A sensitive span as the indexes of its first and last word (in the list searched)."""

    kind: str
    first: int
    last: int


@dataclass(frozen=True)
class Finding:
    """A sensitive span: its segment kind and the seconds of its first word's start and last
    word's end."""

    kind: str
    start: Decimal
    end: Decimal


def _refuse(message: str) -> ValidationError:
    return ValidationError({"transcript": message})


def _seconds(match: re.Match, offset: int) -> Decimal:
    hours, minutes, seconds, millis = match.group(offset + 1, offset + 2, offset + 3, offset + 4)
    return Decimal(int(hours or 0) * 3600 + int(minutes) * 60 + int(seconds)) + Decimal(millis) / 1000


def _bounded(words: list[Word]) -> list[Word]:
    if len(words) > MAX_WORDS:
        raise _refuse(f"The transcript has more than {MAX_WORDS} timed words.")
    for word in words:
        if word.end > MAX_SECONDS:
            raise _refuse(f"A word timing is past {MAX_SECONDS} seconds.")
    return sorted(words, key=lambda word: (word.start, word.end))


def words_from_webvtt(text: str) -> list[Word]:
    """Timed words of WebVTT: a word runs from its timestamp tag (or its cue's start) to the next
    one (or its cue's end); words between two tags share that time."""
    words: list[Word] = []
    for timing in _CUE_TIMING.finditer(text):
        cue_start, cue_end = _seconds(timing, 0), _seconds(timing, 4)
        # The cue's text: the lines after its timing line, up to the blank line that ends it.
        line_end = text.find("\n", timing.end())
        if line_end < 0:
            continue
        body_end = text.find("\n\n", line_end)
        body_start = line_end + 1
        body = text[body_start : body_end if body_end >= 0 else len(text)]
        pieces: list[tuple[Decimal, int, str]] = []  # (start, offset in the text, text)
        position, start = 0, cue_start
        for tag in _INLINE.finditer(body):
            pieces.append((start, body_start + position, body[position : tag.start()]))
            position, start = tag.end(), _seconds(tag, 0)
        pieces.append((start, body_start + position, body[position:]))
        for n, (start, offset, piece) in enumerate(pieces):
            end = max(pieces[n + 1][0] if n + 1 < len(pieces) else cue_end, start)
            # Other tags (``<v Caller>``, ``<b>``) blanked to their length: offsets stay the text's.
            for token in _WORD.finditer(_TAG.sub(lambda tag: " " * len(tag.group()), piece)):
                if len(token.group()) > MAX_WORD_LENGTH:
                    raise _refuse(f"A word of the transcript is longer than {MAX_WORD_LENGTH} characters.")
                words.append(Word(token.group(), start, end, offset + token.start()))
        if len(words) > MAX_WORDS:
            break
    return _bounded(words)


def _number(value: Any, what: str) -> Decimal:
    # Transcribe writes times as strings ("1.23"), other services as numbers; bool is no time.
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise _refuse(f"{what} must be a number of seconds.")
    if isinstance(value, float) and not math.isfinite(value):
        raise _refuse(f"{what} must be a finite number of seconds.")
    if isinstance(value, str) and (len(value) > 20 or not re.fullmatch(r"[0-9]+(?:\.[0-9]+)?", value)):
        raise _refuse(f"{what} must be a number of seconds.")
    seconds = Decimal(str(value))
    if not seconds.is_finite() or seconds < 0 or seconds > MAX_SECONDS:
        raise _refuse(f"{what} must be between 0 and {MAX_SECONDS} seconds.")
    return seconds


def _word(text: Any, start: Any, end: Any, position: int) -> Word:
    """The word of JSON item ``position`` (its ``at``), its text and times checked."""
    if not isinstance(text, str):
        raise _refuse(f"Word {position} has no text.")
    if len(text) > MAX_WORD_LENGTH:
        raise _refuse(f"Word {position} is longer than {MAX_WORD_LENGTH} characters.")
    word = Word(
        text, _number(start, f"Word {position}'s start"), _number(end, f"Word {position}'s end"), position
    )
    if word.end < word.start:
        raise _refuse(f"Word {position} ends before it starts.")
    return word


def words_from_json(data: Any) -> list[Word]:
    """Timed words of Amazon Transcribe's output or of a plain list of words; punctuation items
    (no times) are left out."""
    if isinstance(data, dict):
        results = data.get("results")
        items = results.get("items") if isinstance(results, dict) else None
        if not isinstance(items, list):
            raise _refuse('A JSON transcript needs "results": {"items": [...]} or a list of words.')
        if len(items) > MAX_WORDS:
            raise _refuse(f"The transcript has more than {MAX_WORDS} timed words.")
        words = []
        for position, item in enumerate(items):
            if not isinstance(item, dict):
                raise _refuse(f"Item {position} is not an object.")
            if item.get("type") == "punctuation" or "start_time" not in item:
                continue
            alternatives = item.get("alternatives")
            if not (isinstance(alternatives, list) and alternatives and isinstance(alternatives[0], dict)):
                raise _refuse(f"Item {position} has no alternatives.")
            words.append(
                _word(alternatives[0].get("content"), item.get("start_time"), item.get("end_time"), position)
            )
        return _bounded(words)
    if isinstance(data, list):
        if len(data) > MAX_WORDS:
            raise _refuse(f"The transcript has more than {MAX_WORDS} timed words.")
        words = []
        for position, item in enumerate(data):
            if not isinstance(item, dict):
                raise _refuse(f"Word {position} is not an object.")
            text = item.get("word", item.get("text"))
            words.append(_word(text, item.get("start"), item.get("end"), position))
        return _bounded(words)
    raise _refuse("A JSON transcript must be an object or a list of words.")


def transcript_head(text: str) -> tuple[str, str]:
    """(what comes before the transcript's first word, the rest): a byte order mark, blank lines."""
    head = text.lstrip("\ufeff \t\n")
    return text[: len(text) - len(head)], head


def is_webvtt(head: str) -> bool:
    return head.startswith("WEBVTT")


def is_json(head: str) -> bool:
    return head[:1] in ("{", "[")


def json_read(head: str) -> Any:
    """The JSON transcript parsed; ValidationError naming ``transcript`` when it cannot be."""
    try:
        return json.loads(head)
    except (ValueError, RecursionError) as exc:
        # The position only: the text around it may be what the caller said.
        position = getattr(exc, "pos", None)
        raise _refuse(f"The JSON transcript cannot be read (at character {position}).") from exc


def transcript_words(text: str) -> list[Word]:
    """The timed words of a transcript, by its form: WebVTT, JSON, or none for plain text.
    Raises ValidationError naming ``transcript`` for a JSON or WebVTT that cannot be read."""
    _lead, head = transcript_head(text)
    if is_webvtt(head):
        return words_from_webvtt(head)
    if is_json(head):
        return words_from_json(json_read(head))
    return []


def _digits(token: str) -> str | None:
    """The digits a word says (``4111``, ``41-11``, ``four``), or None for any other word."""
    # NFC: "fünf" with a combining diaeresis is the same word as with the precomposed ü.
    parts = [part for part in _SEPARATORS.split(unicodedata.normalize("NFC", token.lower())) if part]
    if not parts:
        return None
    digits = ""
    for part in parts:
        if part.isascii() and part.isdigit():
            digits += part
        elif part in _DIGIT_NAMES:
            digits += _DIGIT_NAMES[part]
        else:
            return None
    return digits


def _digit_runs(words: list[Word], taken: set[int]) -> list[tuple[int, int]]:
    """(first, last) word indexes of each run of consecutive digit words, none of them taken."""
    runs, first = [], None
    for index, word in enumerate(words):
        if index not in taken and _digits(word.text) is not None:
            first = index if first is None else first
        elif first is not None:
            runs.append((first, index - 1))
            first = None
    if first is not None:
        runs.append((first, len(words) - 1))
    return runs


def _cards_in_run(words: list[Word], first: int, last: int) -> list[tuple[int, int]]:
    """Within a run of digit words, the longest stretch of whole words from each start that is a
    card number, left to right, not overlapping (as ``text.find_card_numbers`` does)."""
    found, i = [], first
    while i <= last:
        digits, end = "", None
        for j in range(i, last + 1):
            digits += _digits(words[j].text) or ""
            if len(digits) > CARD_MAX_DIGITS:
                break
            if card_number_valid(digits):
                end = j
        if end is None:
            i += 1
            continue
        found.append((i, end))
        i = end + 1
    return found


def payment_card_spans(words: list[Word], *, taken: frozenset[int] = frozenset()) -> list[WordSpan]:
    """Card numbers, and the security code (3 or 4 digits) said within ``SECURITY_CODE_WINDOW``
    words after each; the words ``taken`` (an IBAN's) are no digits of either."""
    runs = _digit_runs(words, set(taken))
    run_lasts = [last for _first, last in runs]
    found: list[WordSpan] = []
    for first, last in runs:
        for card_first, card_last in _cards_in_run(words, first, last):
            found.append(WordSpan(SensitiveKind.PAYMENT_CARD, card_first, card_last))
            window_end = card_last + SECURITY_CODE_WINDOW
            # The runs ending after the card, up to the window's end (sorted, found by bisection:
            # a transcript of many card numbers stays linear).
            for k in range(bisect_left(run_lasts, card_last + 1), len(runs)):
                run_first, code_last = runs[k]
                if run_first > window_end:
                    break
                # The digits after the card in its own run count too ("... 1111 737").
                code_first = max(run_first, card_last + 1)
                if code_first > window_end or code_last - code_first >= 4:
                    continue  # more than 4 words are more than 4 digits
                digits = "".join(_digits(word.text) or "" for word in words[code_first : code_last + 1])
                if 3 <= len(digits) <= 4:
                    found.append(WordSpan(SensitiveKind.PAYMENT_CARD, code_first, code_last))
    return found


def _iban_words(words: list[Word]) -> list[tuple[int, int]]:
    """(first, last) word indexes of each IBAN: from a word starting with a country code and
    check digits, the longest run of whole words whose letters and digits are a valid IBAN."""
    found: list[tuple[int, int]] = []
    i = 0
    while i < len(words):
        compact = re.sub(r"[^A-Za-z0-9]", "", words[i].text)
        if not _IBAN_START.match(compact):
            i += 1
            continue
        candidates, end = [], None
        # A word may be punctuation only ("-"): a character and a separator per word at most.
        for j in range(i, min(len(words), i + 2 * IBAN_MAX_LENGTH)):
            if j > i:
                compact += re.sub(r"[^A-Za-z0-9]", "", words[j].text)
            if len(compact) > IBAN_MAX_LENGTH:
                break
            candidates.append((j, compact))
        for j, value in reversed(candidates):
            if len(value) >= IBAN_MIN_LENGTH and stdnum_iban.is_valid(value):
                end = j
                break
        if end is None:
            i += 1
            continue
        found.append((i, end))
        i = end + 1
    return found


def word_spans(words: list[Word]) -> list[WordSpan]:
    """Every span of payment data in ``words``, as word indexes (for redacting those words). IBANs
    first: their digits could pass for a card number (as in ``text.find_sensitive``)."""
    ibans = [WordSpan(SensitiveKind.BANK_DETAILS, first, last) for first, last in _iban_words(words)]
    taken = frozenset(index for span in ibans for index in range(span.first, span.last + 1))
    return ibans + payment_card_spans(words, taken=taken)


def find_in_words(words: list[Word]) -> list[Finding]:
    """Every span of payment data in ``words``, as seconds, in time order."""
    found = [Finding(span.kind, words[span.first].start, words[span.last].end) for span in word_spans(words)]
    return sorted(found, key=lambda finding: (finding.start, finding.end))


def find_in_transcript(text: str) -> list[Finding]:
    """Every span of payment data found in the transcript's timed words, in time order."""
    return find_in_words(transcript_words(text))
