"""Redaction of a call transcript: payment card numbers, IBANs, email addresses and phone numbers
replaced by their kind in brackets. Pure functions, no Django: the caller passes the region in
which numbers without a country code are read.

The order matters: IBANs first (their digits could pass for a card number), then card numbers
(their digits could pass for a phone number), then email addresses (they may hold digits); what
each step found is masked before the next one looks, so no text is claimed twice.

- Card numbers: 13 to 19 digits, in groups separated by a space or a dash, starting with 2 to 6
  (the payment issuers' major industry identifiers), passing the Luhn check. A number failing
  Luhn is left as it is: order numbers, tracking numbers and the like; so are digits after a plus
  sign (a phone number) or glued to letters (an identifier such as "DE89 3704 ...").
- IBANs: a country code, two check digits and the country's BBAN, with or without spaces,
  validated by the country's format and the mod-97 check (python-stdnum).
- Email addresses: local part, @, a dotted domain.
- Phone numbers: ``phonenumbers.PhoneNumberMatcher`` at leniency VALID (a number that could be
  dialled in its region), so dates, amounts and short numbers stay.

A transcript may be WebVTT with word timings (``00:00:04.731 --> 00:00:11.235`` cue timings,
``<00:01:02.350>`` before a word): the timings are masked before any step looks, so their digits
are never taken for a phone number and stay as they are.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import phonenumbers
from stdnum import iban as stdnum_iban
from stdnum import luhn

CARD_NUMBER = "card_number"
IBAN = "iban"
EMAIL = "email"
PHONE_NUMBER = "phone_number"

PLACEHOLDERS = {
    CARD_NUMBER: "[card number]",
    IBAN: "[IBAN]",
    EMAIL: "[email]",
    PHONE_NUMBER: "[phone number]",
}

# Stands in for a found value while the later steps look: neither a digit, a letter, nor phone
# punctuation, so nothing matches on or across it.
_MASK = "\u2588"

CARD_MIN_DIGITS, CARD_MAX_DIGITS = 13, 19
_CARD_FIRST_DIGITS = "23456"
# Groups of ASCII digits separated by one space (or no-break space) or a dash with optional
# single spaces around it: "4111 1111 1111 1111", "4111-1111-1111-1111", "4111 - 1111 ...".
_DIGIT_RUN = re.compile(r"(?<![0-9])[0-9]+(?:(?: ?- ?|[ \u00a0\u202f])[0-9]+)*(?![0-9])")
_DIGIT_GROUP = re.compile(r"[0-9]+")

IBAN_MIN_LENGTH, IBAN_MAX_LENGTH = 15, 34
_IBAN_START = re.compile(r"(?<![A-Za-z0-9])[A-Za-z]{2}[0-9]{2}")
_IBAN_SPACES = " \u00a0\u202f"

_EMAIL = re.compile(
    r"(?<![\w.%+-])[\w%+-](?:[\w.%+-]{0,62}[\w%+-])?"  # local part, not starting or ending with a dot
    r"@[^\W_](?:[\w-]{0,61}[^\W_])?(?:\.[^\W_](?:[\w-]{0,61}[^\W_])?)*\.[^\W\d_]{2,63}(?![\w-])"
)


@dataclass(frozen=True)
class Span:
    """One value found: its kind and where it is in the original text (end exclusive)."""

    kind: str
    start: int
    end: int


@dataclass(frozen=True)
class Redaction:
    text: str
    spans: tuple[Span, ...]

    @property
    def has_card_number(self) -> bool:
        return any(span.kind == CARD_NUMBER for span in self.spans)

    def count(self, kind: str) -> int:
        return sum(1 for span in self.spans if span.kind == kind)


def card_number_valid(digits: str) -> bool:
    return (
        CARD_MIN_DIGITS <= len(digits) <= CARD_MAX_DIGITS
        and digits[0] in _CARD_FIRST_DIGITS
        and luhn.is_valid(digits)
    )


def find_card_numbers(text: str) -> list[Span]:
    """Card numbers in ``text``: within each run of digit groups, the longest stretch of whole
    groups (13-19 digits) that passes the checks, from left to right, not overlapping."""
    spans = []
    for run in _DIGIT_RUN.finditer(text):
        before = text[run.start() - 1] if run.start() > 0 else ""
        if before == "+" or (before.isascii() and before.isalpha()):
            # An international phone number, or the digits of an identifier (an IBAN failing its
            # check, an invoice number): none of its groups start a card number.
            continue
        groups = [
            (run.start() + m.start(), run.start() + m.end(), m.group())
            for m in _DIGIT_GROUP.finditer(run.group())
        ]
        i = 0
        while i < len(groups):
            found = None
            digits = ""
            for j in range(i, len(groups)):
                digits += groups[j][2]
                if len(digits) > CARD_MAX_DIGITS:
                    break
                if card_number_valid(digits):
                    found = j
            if found is None:
                i += 1
                continue
            spans.append(Span(CARD_NUMBER, groups[i][0], groups[found][1]))
            i = found + 1
    return spans


def find_ibans(text: str) -> list[Span]:
    """IBANs in ``text``, spaced in groups or not: at each country code and check digits, the
    longest stretch ending at a word boundary that is a valid IBAN."""
    spans = []
    position = 0
    for start in _IBAN_START.finditer(text):
        if start.start() < position:
            continue  # inside the IBAN found just before
        # The characters that may belong to it: letters and digits, single spaces between them.
        ends: list[int] = []  # ends[k] = the text position after the (k+1)-th letter or digit
        index = start.start()
        while index < len(text) and len(ends) < IBAN_MAX_LENGTH:
            char = text[index]
            if char.isascii() and char.isalnum():
                ends.append(index + 1)
                index += 1
            elif (
                char in _IBAN_SPACES
                and index + 1 < len(text)
                and text[index + 1].isascii()
                and text[index + 1].isalnum()
            ):
                index += 1
            else:
                break
        for length in range(len(ends), IBAN_MIN_LENGTH - 1, -1):
            end = ends[length - 1]
            if end < len(text) and text[end].isascii() and text[end].isalnum():
                continue  # would end inside a word or a number
            if stdnum_iban.is_valid(text[start.start() : end]):
                spans.append(Span(IBAN, start.start(), end))
                position = end
                break
    return spans


# A WebVTT cue timing (``00:01:02.350 --> 00:01:05.000``, hours optional) or an inline timestamp.
_WEBVTT_TIMESTAMP = r"(?:[0-9]{2,}:)?[0-5][0-9]:[0-5][0-9]\.[0-9]{3}"
_WEBVTT_TIMING = re.compile(
    rf"^{_WEBVTT_TIMESTAMP} --> {_WEBVTT_TIMESTAMP}(?=[ \t]|$)|<{_WEBVTT_TIMESTAMP}>", re.MULTILINE
)


def find_webvtt_timings(text: str) -> list[Span]:
    """Where ``text`` holds WebVTT timings: never redacted, only kept out of the other steps."""
    return [Span("timing", match.start(), match.end()) for match in _WEBVTT_TIMING.finditer(text)]


def find_emails(text: str) -> list[Span]:
    return [Span(EMAIL, match.start(), match.end()) for match in _EMAIL.finditer(text)]


def find_phone_numbers(text: str, region: str) -> list[Span]:
    matcher = phonenumbers.PhoneNumberMatcher(text, region, leniency=phonenumbers.Leniency.VALID)
    return [Span(PHONE_NUMBER, match.start, match.end) for match in matcher]


def _mask(text: str, spans: list[Span]) -> str:
    if not spans:
        return text
    chars = list(text)
    for span in spans:
        chars[span.start : span.end] = _MASK * (span.end - span.start)
    return "".join(chars)


def card_numbers_in(text: str) -> list[Span]:
    """The card numbers alone (IBANs masked first, as in ``find_sensitive``): for the payment
    flag, without the cost of the phone matcher."""
    text = _mask(text, find_webvtt_timings(text))
    return find_card_numbers(_mask(text, find_ibans(text)))


def find_sensitive(text: str, *, phone_region: str) -> list[Span]:
    """Every value to redact, in text order, none overlapping another."""
    found: list[Span] = []
    masked = _mask(text, find_webvtt_timings(text))
    for finder in (find_ibans, find_card_numbers, find_emails):
        spans = finder(masked)
        found += spans
        masked = _mask(masked, spans)
    found += [
        span
        for span in find_phone_numbers(masked, phone_region)
        # A phone match never reaches into a masked value, but may not be trusted to.
        if _MASK not in masked[span.start : span.end]
    ]
    return sorted(found, key=lambda span: span.start)


def redact(text: str, *, phone_region: str) -> Redaction:
    """``text`` with each value found replaced by its kind in brackets, and the spans found (in
    the original text)."""
    spans = find_sensitive(text, phone_region=phone_region)
    parts, position = [], 0
    for span in spans:
        parts += [text[position : span.start], PLACEHOLDERS[span.kind]]
        position = span.end
    parts.append(text[position:])
    return Redaction(text="".join(parts), spans=tuple(spans))
