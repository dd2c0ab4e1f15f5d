"""The letters on the request page: each with "View" (the letter as HTML, with the subject's
name) and "PDF" (a download), under the request page's rule (a request the user may not see is a
404; the auditor reads). Each view or download decrypts the name (an access event naming the
request, ``dsr.letters``) and is itself an access event."""

from __future__ import annotations

import base64
import hashlib
import re

from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html_join

from compliance_site.audit.models import AccessAction
from compliance_site.audit.services import access_event_record
from compliance_site.client_address import client_ip
from dsr.letters import letter_filename, letter_html, letter_pdf
from dsr.models import DataSubjectRequest, ResponseLetter

FORMATS = {"html": ("view", AccessAction.VIEW), "pdf": ("pdf", AccessAction.DOWNLOAD)}
_STYLE = re.compile(r"<style>(.*?)</style>", re.S)


def letter_urls(model_admin) -> list:
    """The views' URLs, for the request admin's ``get_urls``."""

    def view(request, object_id, letter_id, fmt):
        return letter_view(model_admin, request, object_id, letter_id, fmt)

    return [
        path(
            "<path:object_id>/letter/<int:letter_id>/<slug:fmt>/",
            model_admin.admin_site.admin_view(view),
            name="dsr_datasubjectrequest_letter",
        )
    ]


def letters_display(dsr: DataSubjectRequest) -> str:
    """The request's letters, newest last, each with its links and its name-less text."""
    letters = list(dsr.letters.all())
    if not letters:
        return "—"
    rows = (
        (
            f"{timezone.localtime(letter.created_at):%Y-%m-%d %H:%M}",
            letter.get_kind_display(),
            letter.get_language_display(),
            letter.subject_line,
            reverse("admin:dsr_datasubjectrequest_letter", args=[dsr.pk, letter.pk, "html"]),
            reverse("admin:dsr_datasubjectrequest_letter", args=[dsr.pk, letter.pk, "pdf"]),
            letter.body,
        )
        for letter in letters
    )
    return format_html_join(
        "",
        "<details class='dsr-letter'><summary>{} · {} · {} · {}</summary>"
        "<p><a class='button' href='{}' target='_blank' rel='noopener'>View</a> "
        "<a class='button' href='{}'>PDF</a></p><pre class='dsr-letter'>{}</pre></details>",
        rows,
    )


def _letter_of(model_admin, request: HttpRequest, object_id: str, letter_id: int) -> ResponseLetter:
    # The request page's rule: the admin's own lookup over the requests the user may see.
    dsr = model_admin.get_object(request, object_id)
    if dsr is None:
        raise Http404("No such request.")
    letter = (
        ResponseLetter.objects.filter(request=dsr, pk=letter_id).select_related("request__subject").first()
    )
    if letter is None:
        raise Http404("No such letter.")
    return letter


def _csp(html: str) -> str:
    """The letter's own policy: nothing but its inline stylesheet, by hash (no script at all)."""
    hashes = [
        base64.b64encode(hashlib.sha256(css.encode()).digest()).decode() for css in _STYLE.findall(html)
    ]
    styles = " ".join(f"'sha256-{digest}'" for digest in hashes) or "'none'"
    return (
        f"default-src 'none'; style-src {styles}; img-src 'none'; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )


def letter_view(model_admin, request: HttpRequest, object_id: str, letter_id: int, fmt: str) -> HttpResponse:
    if fmt not in FORMATS:
        raise Http404("No such format.")
    if request.method not in ("GET", "HEAD"):
        return HttpResponseNotAllowed(["GET", "HEAD"])
    letter = _letter_of(model_admin, request, object_id, letter_id)
    purpose, action = FORMATS[fmt]
    # The name's decryption and the view are logged together, or not at all.
    with transaction.atomic():
        if fmt == "html":
            html = letter_html(letter, actor=request.user, purpose=purpose)
            response = HttpResponse(html, content_type="text/html; charset=utf-8")
            response["Content-Security-Policy"] = _csp(html)
        else:
            response = HttpResponse(
                letter_pdf(letter, actor=request.user, purpose=purpose), content_type="application/pdf"
            )
            response["Content-Disposition"] = f'attachment; filename="{letter_filename(letter, "pdf")}"'
        access_event_record(
            action=action,
            object_type="letter",
            object_id=letter.pk,
            object_reference=letter.request.reference,
            actor=request.user,
            detail={"format": fmt, "kind": letter.kind, "language": letter.language},
            client_ip=client_ip(request),
        )
    response["Cache-Control"] = "no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response
