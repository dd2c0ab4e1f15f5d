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


NUL_MESSAGE = "Bad request: a NUL character is not allowed in the address or its query."


class NulCharacterMiddleware:
    """Refuses a NUL character anywhere in the path or the query string, with a 400.

    No value of Custos holds one, and PostgreSQL refuses NUL in any text parameter: an admin list
    filter (``?status=%00``), an id or a lookup would otherwise reach the database and fail there
    (a DataError, a 500). Forms refuse NUL already (Django's ``ProhibitNullCharactersValidator``)
    and the API's lookups do (``recordings.intake.serializers.LookupSlugField``); this is the one
    place for everything that arrives in the address.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest):
        if "\x00" in request.path or any(
            "\x00" in key or any("\x00" in value for value in values) for key, values in request.GET.lists()
        ):
            return bad_request(request, ClearBadRequest(NUL_MESSAGE))
        return self.get_response(request)
