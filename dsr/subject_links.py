"""The subject's download link for their access or portability package: a signed token, bound to
the package and its request, valid until the package expires (``DataPackage.expires_at``).

No staff login stands behind it: whoever holds the link is taken to be the subject it was mailed
to, as with the recipient's share links. So the token names ids only, is signed under a salt of
its own (a staff download token or a share token never passes for it), and the endpoint answers
a bad token as it answers an unknown package: 404, nothing about what exists.
"""

from __future__ import annotations

from django.core import signing
from django.urls import reverse

from compliance_site.site_url import absolute_url
from dsr.models import DataPackage

_SALT = "custos.dsr.subject-package-download"


def subject_package_token(package: DataPackage) -> str:
    return signing.dumps({"p": package.pk, "r": package.request_id}, salt=_SALT, compress=True)


def subject_package_url(package: DataPackage) -> str:
    return absolute_url(reverse("dsr-subject-package", args=[subject_package_token(package)]))


def subject_package_from_token(token: str) -> DataPackage:
    """The package the token names; DataPackage.DoesNotExist for a bad or foreign token. The
    package's own expiry bounds the link (checked by the caller, who answers 410)."""
    try:
        payload = signing.loads(token, salt=_SALT)
    except signing.BadSignature as exc:
        raise DataPackage.DoesNotExist from exc
    if not isinstance(payload, dict) or set(payload) != {"p", "r"}:
        raise DataPackage.DoesNotExist
    return DataPackage.objects.select_related("request__subject").get(
        pk=payload["p"], request_id=payload["r"]
    )
