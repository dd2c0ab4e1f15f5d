"""A transcript's text with its payment data replaced and its form kept: what is sealed when
``CUSTOS_REDACT_AT_REST_KINDS`` names the kinds (``transcripts.transcript_store``). Pure functions.

- WebVTT: each word of a finding (``detection.word_spans``) is replaced in place by its kind's
  placeholder (the words said between the same two timestamps by one); cue timings, cue lines,
  inline timestamps and other tags stay, so the word timings read as before and find nothing of
  those kinds any more.
- JSON: the words' text (every alternative's ``content`` in Amazon Transcribe's items, ``word``
  and ``text`` in a list of words) is replaced and the JSON written again (``ensure_ascii=False``).
  Transcribe says the same digits again elsewhere: its channel items at a replaced word's times
  are replaced too, and in its full texts (``results.transcripts[].transcript``,
  ``results.audio_segments[].transcript``) the words of each finding, said in a row, are.
- Everywhere, last (plain text, a WebVTT's notes and cue identifiers, any string of a JSON): the
  card numbers and IBANs that ``recordings.redaction.text`` finds, for a transcript without
  timings, or a number its timings do not place.

Only payment cards and bank details are ever found in a transcript; other kinds change nothing.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any

from recordings.models import SensitiveKind
from recordings.redaction.detection import (
    Word,
    is_json,
    is_webvtt,
    json_read,
    transcript_head,
    word_spans,
    words_from_json,
    words_from_webvtt,
)
from recordings.redaction.text import CARD_NUMBER, IBAN, PLACEHOLDERS, Span, card_numbers_in, find_ibans

# The reviewers' placeholders (``text.redact``): a stored transcript reads as a redacted one.
PLACEHOLDER_OF_KIND = {
    SensitiveKind.PAYMENT_CARD.value: PLACEHOLDERS[CARD_NUMBER],
    SensitiveKind.BANK_DETAILS.value: PLACEHOLDERS[IBAN],
}
_KIND_OF_TEXT_SPAN = {CARD_NUMBER: SensitiveKind.PAYMENT_CARD.value, IBAN: SensitiveKind.BANK_DETAILS.value}
# Around a word, never part of what it says (as ``detection``'s separators).
_PUNCTUATION = " \t\n-/.,;:!?()\"'"
_TOKEN = re.compile(r"\S+")
_END = object()  # a key of the phrase tree: a phrase ends here


@dataclass(frozen=True)
class TextRedaction:
    text: str
    replaced: int  # how many words and values were replaced by a placeholder


def _spliced(text: str, replacements: Iterable[tuple[int, int, str]]) -> str:
    """``text`` with each (start, end, placeholder) replaced; the ranges do not overlap."""
    parts, position = [], 0
    for start, end, placeholder in sorted(replacements):
        parts += [text[position:start], placeholder]
        position = end
    parts.append(text[position:])
    return "".join(parts)


def _text_found(text: str, kinds: Collection[str]) -> tuple[str, int]:
    """The card numbers and IBANs of ``text`` (of the kinds wanted) replaced; how many."""
    spans: list[Span] = []
    if SensitiveKind.BANK_DETAILS in kinds:
        spans += find_ibans(text)
    if SensitiveKind.PAYMENT_CARD in kinds:
        spans += card_numbers_in(text)  # IBANs masked first: their digits are no card number
    if not spans:
        return text, 0
    placeholders = [(s.start, s.end, PLACEHOLDER_OF_KIND[_KIND_OF_TEXT_SPAN[s.kind]]) for s in spans]
    return _spliced(text, placeholders), len(spans)


def _said(token: str) -> str:
    return unicodedata.normalize("NFC", token.strip(_PUNCTUATION).lower())


def _phrase_tree(phrases: Iterable[tuple[list[Word], str]]) -> dict:
    """The findings' words as a tree of said tokens, a phrase's placeholder under ``_END``."""
    tree: dict = {}
    for words, placeholder in phrases:
        node = tree
        for token in (_said(t) for word in words for t in word.text.split()):
            if token:
                node = node.setdefault(token, {})
        if node is not tree:
            node[_END] = placeholder
    return tree


def _phrases_replaced(text: str, tree: dict) -> tuple[str, int]:
    """Each longest run of ``text``'s tokens that is a phrase of ``tree``, replaced. Linear: a
    phrase is a finding's words, a few dozen at most."""
    tokens = []  # (start, end, said) of each token, punctuation around it left out
    for piece in _TOKEN.finditer(text):
        core = piece.group().strip(_PUNCTUATION)
        if core:
            start = piece.start() + piece.group().index(core)
            tokens.append((start, start + len(core), _said(core)))
    replacements, i = [], 0
    while i < len(tokens):
        node: dict | None = tree
        found = None
        for j in range(i, len(tokens)):
            node = node.get(tokens[j][2]) if node is not None else None
            if node is None:
                break
            if _END in node:
                found = (j, node[_END])
        if found is None:
            i += 1
            continue
        replacements.append((tokens[i][0], tokens[found[0]][1], found[1]))
        i = found[0] + 1
    return _spliced(text, replacements), len(replacements)


def _webvtt_redacted(head: str, kinds: Collection[str]) -> tuple[str, int]:
    words = words_from_webvtt(head)
    replacements: list[tuple[int, int, str]] = []
    for span in word_spans(words):
        if span.kind not in kinds:
            continue
        placeholder = PLACEHOLDER_OF_KIND[span.kind]
        for word in sorted(words[span.first : span.last + 1], key=lambda word: word.at):
            start, end = word.at, word.at + len(word.text)
            last = replacements[-1] if replacements else None
            if last is not None and last[2] == placeholder and head[last[1] : start].isspace():
                # Said in one breath (no timestamp between): one placeholder for the words.
                replacements[-1] = (last[0], end, placeholder)
            else:
                replacements.append((start, end, placeholder))
    text, found = _text_found(_spliced(head, replacements), kinds)
    return text, len(replacements) + found


def _time_key(item: dict) -> tuple[str, str] | None:
    start, end = item.get("start_time"), item.get("end_time")
    if isinstance(start, (str, int, float)) and isinstance(end, (str, int, float)):
        return str(start), str(end)
    return None


def _contents_replaced(item: Any, placeholder: str) -> None:
    """Every alternative's ``content`` of a Transcribe item."""
    alternatives = item.get("alternatives") if isinstance(item, dict) else None
    for alternative in alternatives if isinstance(alternatives, list) else ():
        if isinstance(alternative, dict) and "content" in alternative:
            alternative["content"] = placeholder


def _entries(container: Any, key: str) -> list:
    value = container.get(key) if isinstance(container, dict) else None
    return value if isinstance(value, list) else []


def _transcribe_redacted(data: dict, replaced: dict[int, str], tree: dict) -> int:
    """Transcribe's items of the words ``replaced`` (item index: placeholder), the channel items
    at their times, and the full texts; how many places."""
    results = data["results"]  # read by ``words_from_json``: an object with a list of items
    times = {}
    for index, placeholder in replaced.items():
        _contents_replaced(results["items"][index], placeholder)
        times[_time_key(results["items"][index])] = placeholder
    count = len(replaced)
    for channel in _entries(results.get("channel_labels"), "channels"):
        for item in _entries(channel, "items"):
            key = _time_key(item) if isinstance(item, dict) else None
            if key is not None and key in times:
                _contents_replaced(item, times[key])
                count += 1
    for entry in [*_entries(results, "transcripts"), *_entries(results, "audio_segments")]:
        if isinstance(entry, dict) and isinstance(entry.get("transcript"), str):
            entry["transcript"], found = _phrases_replaced(entry["transcript"], tree)
            count += found
    return count


def _strings_found(data: Any, kinds: Collection[str]) -> int:
    """The text finders over every string value of the JSON, in place (iteratively: a deep JSON
    does not exhaust the stack)."""
    count, stack = 0, [data]
    while stack:
        node = stack.pop()
        slots: Iterable = node.items() if isinstance(node, dict) else enumerate(node)
        for key, value in list(slots):
            if isinstance(value, str):
                node[key], found = _text_found(value, kinds)
                count += found
            elif isinstance(value, (dict, list)):
                stack.append(value)
    return count


def _json_redacted(head: str, kinds: Collection[str]) -> tuple[str, int]:
    data = json_read(head)
    words = words_from_json(data)
    spans = [span for span in word_spans(words) if span.kind in kinds]
    replaced = {
        words[index].at: PLACEHOLDER_OF_KIND[span.kind]
        for span in spans
        for index in range(span.first, span.last + 1)
    }
    if isinstance(data, dict):
        tree = _phrase_tree((words[s.first : s.last + 1], PLACEHOLDER_OF_KIND[s.kind]) for s in spans)
        count = _transcribe_redacted(data, replaced, tree)
    else:
        for index, placeholder in replaced.items():
            for key in ("word", "text"):  # the one read, and the other if it is there too
                if key in data[index]:
                    data[index][key] = placeholder
        count = len(replaced)
    if isinstance(data, (dict, list)):
        count += _strings_found(data, kinds)
    return json.dumps(data, ensure_ascii=False), count


def transcript_text_redact(text: str, *, kinds: Collection[str]) -> TextRedaction:
    """``text`` with the payment data of ``kinds`` (``SensitiveKind`` values) replaced by their
    placeholders, in its form (WebVTT, JSON or plain text). Raises ValidationError naming
    ``transcript`` for a JSON or WebVTT that cannot be read, as ``detection`` does."""
    kinds = {kind for kind in kinds if kind in PLACEHOLDER_OF_KIND}
    if not kinds:
        return TextRedaction(text, 0)
    lead, head = transcript_head(text)
    if is_webvtt(head):
        redacted, count = _webvtt_redacted(head, kinds)
    elif is_json(head):
        redacted, count = _json_redacted(head, kinds)
    else:
        redacted, count = _text_found(head, kinds)
    return TextRedaction(lead + redacted if count else text, count)
