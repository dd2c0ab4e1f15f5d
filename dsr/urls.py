"""The DSR app's pages outside the admin: a data package's download."""

from __future__ import annotations

from django.urls import path

from dsr.views import package_download, subject_package_download

urlpatterns = [
    path("dsr/packages/<int:pk>/download", package_download, name="dsr-package-download"),
    # The subject's link, mailed with their response; the token is the credential.
    path("dsr/p/<str:token>", subject_package_download, name="dsr-subject-package"),
]
