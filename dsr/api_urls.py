"""The DSR app's API route (under ``/api/v1/``, through ``compliance_site.api_urls``): a data
subject's request, registered by an integration."""

from __future__ import annotations

from django.urls import path

from dsr.api import RequestIntakeView

urlpatterns = [
    path("requests/", RequestIntakeView.as_view(), name="api-request-intake"),
]
