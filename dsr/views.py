"""The DSR desk's one endpoint outside the admin: downloading a package through its signed link."""

from __future__ import annotations

from django.contrib.admin.views.decorators import staff_member_required
from django.core import signing
from django.http import Http404, HttpRequest, HttpResponseGone, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_GET

from compliance_site.client_address import client_ip
from dsr.packages import PackageUnavailable, package_download_record, package_link_check, package_open
from dsr.selectors import packages_downloadable_by


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
    response = StreamingHttpResponse(body, content_type="application/zip")
    response["Content-Length"] = str(package.size_bytes)
    response["Content-Disposition"] = f'attachment; filename="{package.name}"'
    # A subject's decrypted data must never sit in a shared or browser cache.
    response["Cache-Control"] = "no-store, private"
    return response
