"""Routes of the integrations' API, mounted under ``/api/v1/``. Write-only: calls in, consent
withdrawals and data-subject requests; nothing personal is read back."""

from __future__ import annotations

from django.urls import path
from drf_spectacular.views import SpectacularAPIView

from dsr.api import RequestIntakeView
from recordings.api import ConsentWithdrawalView, RecordingIngestView

urlpatterns = [
    path("recordings/", RecordingIngestView.as_view(), name="api-recording-ingest"),
    path("consents/withdrawals/", ConsentWithdrawalView.as_view(), name="api-consent-withdrawal"),
    path("requests/", RequestIntakeView.as_view(), name="api-request-intake"),
    # Served to signed-in staff only (SPECTACULAR_SETTINGS["SERVE_PERMISSIONS"]).
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
]
