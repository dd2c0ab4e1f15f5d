"""URL routes: the admin is the back office; the root sends people there."""

from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from dsr.views import package_download
from recordings.share_views import share_open, share_open_legacy, shared_audio
from recordings.views import recording_audio

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
    path("admin/", admin.site.urls),
    path("recordings/<int:pk>/audio", recording_audio, name="recording-audio"),
    path("dsr/packages/<int:pk>/download", package_download, name="dsr-package-download"),
    # A recipient's link, /shares/open#<token>: the token is the credential, for that share
    # alone, and travels in the fragment and a POST only, never in a URL that a server logs
    # (recordings.share_views). Links of the old form (/shares/<token>/audio) still open.
    path("shares/open", share_open, name="share-open"),
    path("shares/s/<int:pk>/audio", shared_audio, name="share-audio"),
    path("shares/<str:token>/audio", share_open_legacy, name="share-open-legacy"),
    # The telephony integration's ingest API and its OpenAPI description.
    path("api/v1/", include("recordings.api_urls")),
]

# A refused page says why (compliance_site.bad_requests), never echoing what was sent.
handler400 = "compliance_site.bad_requests.bad_request"
