"""The DSR app's pages outside the admin: a data package's download."""

from __future__ import annotations

from django.urls import path

from dsr.views import package_download

urlpatterns = [
    path("dsr/packages/<int:pk>/download", package_download, name="dsr-package-download"),
]
