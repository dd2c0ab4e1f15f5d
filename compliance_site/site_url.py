"""Absolute links to this back office for emails, made from the configured CUSTOS_SITE_URL.

A mail is often written by a worker, with no request to take the host from; and a link built
from a request's Host header would trust what the client sent. So every link that leaves by
email is ``absolute_url(reverse(...))``.
"""

from __future__ import annotations

from django.conf import settings


def absolute_url(path: str) -> str:
    """``path`` (a site path such as ``reverse()`` returns) on the configured site URL."""
    if not path.startswith("/"):
        raise ValueError("absolute_url takes a path that starts with '/', such as reverse() returns.")
    return settings.CUSTOS_SITE_URL.rstrip("/") + path
