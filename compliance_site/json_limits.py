"""JSON from outside, bounded in depth: the API's bodies and the ingest metadata.

Python's JSON decoder recurses once per nested array or object, so ``[[[[...`` a few thousand
deep raises RecursionError, which no parser turns into a 400 (DRF's ``JSONParser`` catches
ValueError only). A value that parses just below the interpreter's limit would still reach
recursive code later (validation, error rendering). So both are refused as a parse error: the
decoder running out of stack, and any value nested deeper than ``MAX_JSON_DEPTH``. No call's
metadata or request body needs more than a handful of levels.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

MAX_JSON_DEPTH = 32
TOO_DEEP = f"The JSON is nested deeper than {MAX_JSON_DEPTH} levels."


def json_depth_problem(value: Any, *, limit: int = MAX_JSON_DEPTH) -> str | None:
    """TOO_DEEP when ``value`` nests arrays or objects deeper than ``limit``, else None.

    Walks with an explicit stack, never by recursion, for the reason this module exists.
    """
    stack: list[tuple[Any, int]] = [(value, 1)]
    children: Iterable[Any]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return TOO_DEEP
        stack.extend((child, depth + 1) for child in children)
    return None


class BoundedJSONParser(JSONParser):
    """DRF's JSON parser, with a nesting too deep for the decoder or past MAX_JSON_DEPTH
    answered as a ParseError (400) instead of a RecursionError (500)."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError as exc:
            raise ParseError(TOO_DEEP) from exc
        if problem := json_depth_problem(data):
            raise ParseError(problem)
        return data
