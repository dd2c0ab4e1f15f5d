"""The DSR desk's endpoints outside the admin: downloading a package through its signed link, as
staff and as the subject."""

from __future__ import annotations

from django.contrib.admin.views.decorators import staff_member_required
from django.core import signing
from django.http import Http404, HttpRequest, HttpResponseGone, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_GET

from compliance_site.client_address import client_ip
from dsr.models import DataPackage
from dsr.packages import PackageUnavailable, package_download_record, package_link_check, package_open
from dsr.response_delivery import subject_download_record
from dsr.selectors import packages_downloadable_by
from dsr.subject_links import subject_package_from_token


@require_GET
@staff_member_required
def package_download(request: HttpRequest, pk: int) -> HttpResponseBase:
    """``/dsr/packages/<id>/download?token=...``: the decrypted ZIP, streamed.

    404 for a package the user may not download and for a link that is not theirs (existence not
    revealed); 410 for an expired link, an expired package or an erased subject.
    """
    package = get_object_or_404(
        packages_downloadable_by(request.user).select_related("request__subject"), pk=pk
    )
    try:
        package_link_check(token=request.GET.get("token", ""), package=package, user=request.user)
    except signing.SignatureExpired:
        return HttpResponseGone(
            "This download link has expired: open the request again for a fresh one.",
            content_type="text/plain",
        )
    except signing.BadSignature as exc:
        raise Http404("No such download link.") from exc
    try:
        body = package_open(package=package)
    except PackageUnavailable as exc:
        return HttpResponseGone(str(exc), content_type="text/plain")
    package_download_record(package=package, actor=request.user, client_ip=client_ip(request))
    return _archive_response(package, body)


_GONE = "This download is no longer available. Please contact us if you still need your data."


@require_GET
def subject_package_download(request: HttpRequest, token: str) -> HttpResponseBase:
    """``/dsr/p/<token>``: the subject's package, through the link of their response email.

    No login: the signed token is the credential (``dsr.subject_links``). 404 for a bad token,
    whatever it names; 410 once the package expired, was purged or the subject was erased. A
    download is an access event by the subject and the response's delivery: a request ready to
    send is completed by it.
    """
    try:
        package = subject_package_from_token(token)
    except DataPackage.DoesNotExist as exc:
        raise Http404("No such download.") from exc
    if package.purged_at is not None:
        return _gone()
    try:
        body = package_open(package=package)
    except PackageUnavailable:
        return _gone()
    package = subject_download_record(package=package, client_ip=client_ip(request))
    return _archive_response(package, body)


def _archive_response(package: DataPackage, body) -> StreamingHttpResponse:
    response = StreamingHttpResponse(body, content_type="application/zip")
    response["Content-Length"] = str(package.size_bytes)
    response["Content-Disposition"] = f'attachment; filename="{package.name}"'
    # A subject's decrypted data must never sit in a shared or browser cache.
    response["Cache-Control"] = "no-store, private"
    return response


def _gone() -> HttpResponseGone:
    response = HttpResponseGone(_GONE, content_type="text/plain")
    response["Cache-Control"] = "no-store, private"
    return response
