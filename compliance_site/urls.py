"""URL routes: the admin is the back office; the root sends people there.

Each app's routes are its own URLconf, named here by dotted path as ``INSTALLED_APPS`` names the
apps: the project composes the apps without importing one (they all stand on it).
"""

from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
    path("admin/", admin.site.urls),
    # Playback, and a recipient's share link (recordings.urls).
    path("", include("recordings.urls")),
    # A data package's download (dsr.urls).
    path("", include("dsr.urls")),
    # The integrations' API and its OpenAPI description.
    path("api/v1/", include("compliance_site.api_urls")),
]

# A refused page says why (compliance_site.bad_requests), never echoing what was sent.
handler400 = "compliance_site.bad_requests.bad_request"
