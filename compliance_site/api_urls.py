"""Routes of the integrations' API, mounted under ``/api/v1/``. Write-only: calls in, consent
withdrawals and data-subject requests; nothing personal is read back. Each app's endpoints are
its own URLconf (``recordings.api_urls``, ``dsr.api_urls``), named here by dotted path."""

from __future__ import annotations

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

urlpatterns = [
    path("", include("recordings.api_urls")),
    path("", include("dsr.api_urls")),
    # Served to signed-in staff only (SPECTACULAR_SETTINGS["SERVE_PERMISSIONS"]).
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
]
