"""Error reports and server logs without personal data.

Django's 500 report (the email ``AdminEmailHandler`` sends to ADMINS, or any handler given a
reporter) shows the request's POST, GET, files, URL and META and, in its HTML form, every local
variable of every frame. In this product nearly every form and most locals carry a caller's
name, phone number or email (decrypted fields, search terms, rectified values), so naming the
sensitive ones view by view would miss the next one. While the filter is active (``DEBUG`` off,
as in production) it keeps the names and hides every value: the traceback (files, lines,
functions, the exception) is still there to debug from.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from django.http import HttpRequest
from django.views.debug import ExceptionReporter, SafeExceptionReporterFilter

from compliance_site.log_redaction import mask_share_tokens

SUBSTITUTE = SafeExceptionReporterFilter.cleansed_substitute


class PersonalDataExceptionReporterFilter(SafeExceptionReporterFilter):
    """``DEFAULT_EXCEPTION_REPORTER_FILTER``: no value of a form, a query or a local variable."""

    # Django's list, plus the request's query string and referrer: an admin search URL holds the
    # phone number or email searched for.
    hidden_settings = re.compile(
        "API|AUTH|TOKEN|KEY|SECRET|PASS|SIGNATURE|HTTP_COOKIE|QUERY_STRING|REFERER|REQUEST_URI|RAW_URI",
        flags=re.IGNORECASE,
    )

    def get_post_parameters(self, request):
        if request is None:
            return {}
        if not self.is_active(request):
            return request.POST
        return self._cleansed(request.POST)

    def get_cleansed_multivaluedict(self, request, multivaluedict):
        return self._cleansed(multivaluedict) if self.is_active(request) else multivaluedict

    def get_traceback_frame_variables(self, request, tb_frame):
        if not self.is_active(request):
            return super().get_traceback_frame_variables(request, tb_frame)
        return [(name, SUBSTITUTE) for name in tb_frame.f_locals]

    def get_safe_request_meta(self, request):
        # PATH_INFO, RAW_URI and the like name a share link's token (compliance_site.log_redaction).
        meta = super().get_safe_request_meta(request)
        return {name: mask_share_tokens(v) if isinstance(v, str) else v for name, v in meta.items()}

    def get_safe_get_parameters(self, request) -> dict[str, Any]:
        if request is None:
            return {}
        if not self.is_active(request):
            return dict(request.GET.items())
        return {name: SUBSTITUTE for name in request.GET}

    @staticmethod
    def _cleansed(multivaluedict):
        cleansed = multivaluedict.copy()
        for name in cleansed:
            cleansed[name] = SUBSTITUTE
        return cleansed


class PersonalDataExceptionReporter(ExceptionReporter):
    """``DEFAULT_EXCEPTION_REPORTER``: besides the filter's work, the URL without its query
    string, GET values and uploaded file names hidden, and no fragment of a string that failed
    to decode (Django's "unicode hint" quotes the text around the bad byte)."""

    def get_traceback_data(self):
        data = super().get_traceback_data()
        if self.request is None or not self.filter.is_active(self.request):
            return data
        data["request_GET_items"] = self._safe_get_items(self.request)
        data["request_FILES_items"] = [(name, SUBSTITUTE) for name in self.request.FILES]
        if "request_insecure_uri" in data:
            data["request_insecure_uri"] = mask_share_tokens(data["request_insecure_uri"].split("?", 1)[0])
        data["request"] = _MaskedPathRequest(self.request)
        if data.get("unicode_hint"):
            data["unicode_hint"] = SUBSTITUTE
        return data

    def _safe_get_items(self, request: HttpRequest):
        if isinstance(self.filter, PersonalDataExceptionReporterFilter):
            return self.filter.get_safe_get_parameters(request).items()
        return [(name, SUBSTITUTE) for name in request.GET]


class _MaskedPathRequest:
    """The request as the report's templates read it (``request.path_info`` in the title and
    the first line), with a share link's token masked."""

    def __init__(self, request) -> None:
        self._request = request
        self.path_info = mask_share_tokens(request.path_info)

    def __getattr__(self, name: str):
        return getattr(self._request, name)


_QUERY = re.compile(r"\?[^\s\"]*")


class QueryStringRedactingFilter(logging.Filter):
    """On the web server's request log (``django.server``): ``GET /admin/...?q=+4930... 200``
    becomes ``GET /admin/...?… 200``. The admin's search puts the phone number or email typed
    into the URL, and a request log is kept longer and read by more people than the database."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and "?" in record.msg:
            record.msg = _QUERY.sub("?…", record.msg)
        if record.args:
            args = record.args if isinstance(record.args, tuple) else (record.args,)
            record.args = tuple(_QUERY.sub("?…", arg) if isinstance(arg, str) else arg for arg in args)
        return True
