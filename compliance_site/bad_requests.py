"""A 400 that says what was wrong, for the pages (the API answers in JSON through DRF).

Django's own 400 page says only "Bad Request (400)", whatever was refused, because an exception's
text may echo what the client sent. ``ClearBadRequest`` is raised with a message written for the
user that never quotes the input; ``bad_request`` (``handler400``) shows that message, and the
generic one for everything else (a suspicious operation, a malformed form encoding).
"""

from __future__ import annotations

from django.core.exceptions import BadRequest
from django.http import HttpRequest, HttpResponseBadRequest

GENERIC_MESSAGE = "Bad request: the server could not read it."


class ClearBadRequest(BadRequest):
    """A request refused with a message fit to show (no value of the request in it)."""


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponseBadRequest:
    message = str(exception) if isinstance(exception, ClearBadRequest) else GENERIC_MESSAGE
    return HttpResponseBadRequest(message, content_type="text/plain; charset=utf-8")
