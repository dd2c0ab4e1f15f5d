"""The recordings app's pages outside the admin: playback, and a recipient's share link."""

from __future__ import annotations

from django.urls import path

from recordings.playback.views import recording_audio, recording_heard
from recordings.sharing.views import share_open, share_open_legacy, shared_audio

urlpatterns = [
    path("recordings/<int:pk>/audio", recording_audio, name="recording-audio"),
    path("recordings/<int:pk>/heard", recording_heard, name="recording-heard"),
    # A recipient's link, /shares/open#<token>: the token is the credential, for that share
    # alone, and travels in the fragment and a POST only, never in a URL that a server logs
    # (recordings.sharing.views). Links of the old form (/shares/<token>/audio) still open.
    path("shares/open", share_open, name="share-open"),
    path("shares/s/<int:pk>/audio", shared_audio, name="share-audio"),
    path("shares/<str:token>/audio", share_open_legacy, name="share-open-legacy"),
]
