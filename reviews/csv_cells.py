"""CSV cells a spreadsheet shows as text: the reports' and the agent's export's one rule."""

from __future__ import annotations

# A cell starting with one of these is a formula to a spreadsheet (OWASP "CSV injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n")


def csv_safe(value: object) -> object:
    """Text that a spreadsheet would run as a formula, prefixed with an apostrophe; other values
    as they are."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value
