"""Share-link tokens masked in every log line Custos writes or configures.

A recipient's link carries its bearer token after ``/shares/`` (``/shares/<token>/audio``, the
form links had before they moved the token into the fragment of ``/shares/open#<token>``). A
request line, a "Not Found: <path>" warning or an error's subject would keep that token for as
long as the logs live, readable by everyone who reads logs. ``mask_share_tokens`` replaces the
segment after ``/shares/`` with ``…``, except the token-free routes (``open``, ``s/<id>``).

No Django import here: gunicorn's logger class (``compliance_site.gunicorn_logging``) uses this
before any setting is loaded.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping

MASK = "…"
# The segment after /shares/ in a path, a request line or a full URL; ``open`` and ``s/`` are
# the routes that carry no token. Stops at what ends a path segment in any of those.
_SHARE_TOKEN = re.compile(r"(/shares/)(?!open(?:[/?#\s\"]|$)|s/)[^/?#\s\"]+", flags=re.IGNORECASE)


def mask_share_tokens(text: str) -> str:
    """``GET /shares/AbC…xyz/audio HTTP/1.1`` becomes ``GET /shares/…/audio HTTP/1.1``."""
    if "/shares/" not in text.lower():
        return text
    return _SHARE_TOKEN.sub(rf"\g<1>{MASK}", text)


def _masked(value):
    return mask_share_tokens(value) if isinstance(value, str) else value


class ShareTokenRedactingFilter(logging.Filter):
    """Masks share tokens in a record's message and its string arguments (a tuple, or a mapping
    as gunicorn's access log passes). Attached to the loggers that name a request's path
    (``django.server``, ``django.request``, ``django.security.csrf``), so every handler above
    them, the 500 email included, gets the masked record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = mask_share_tokens(record.msg)
        if isinstance(record.args, Mapping):
            record.args = {key: _masked(value) for key, value in record.args.items()}
        elif isinstance(record.args, tuple):
            record.args = tuple(_masked(arg) for arg in record.args)
        return True
