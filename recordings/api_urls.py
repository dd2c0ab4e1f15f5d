"""The recordings app's API routes (under ``/api/v1/``, through ``compliance_site.api_urls``):
a call in, and a consent withdrawal."""

from __future__ import annotations

from django.urls import path

from recordings.intake.api import ConsentWithdrawalView, RecordingIngestView

urlpatterns = [
    path("recordings/", RecordingIngestView.as_view(), name="api-recording-ingest"),
    path("consents/withdrawals/", ConsentWithdrawalView.as_view(), name="api-consent-withdrawal"),
]
