"""Routes of the ingest API, mounted under ``/api/v1/``. Write-only for integrations."""

from __future__ import annotations

from django.urls import path
from drf_spectacular.views import SpectacularAPIView

from recordings.api import ConsentWithdrawalView, RecordingIngestView

urlpatterns = [
    path("recordings/", RecordingIngestView.as_view(), name="api-recording-ingest"),
    path("consents/withdrawals/", ConsentWithdrawalView.as_view(), name="api-consent-withdrawal"),
    # Served to signed-in staff only (SPECTACULAR_SETTINGS["SERVE_PERMISSIONS"]).
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
]
