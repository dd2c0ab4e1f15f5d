"""Playback sessions: the byte ranges one listen asked for, sealed into one access event."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from recordings.models.calls import Recording


class PlaybackSession(models.Model):
    """One playback in progress: the byte ranges a player asked for, sealed into one access event.

    A browser's player sends several Range requests for one listen (the start, the index at the
    end, each seek). They are gathered here under the playback id the admin page gave the player,
    and once the player has been idle a while, ``playbacks_seal_idle`` writes the single chained
    ``play`` event that carries them all. A work table without history: the event is the record,
    and a session not yet sealed is still proof that the audio was served.
    """

    playback_id = models.UUIDField()
    recording = models.ForeignKey(Recording, on_delete=models.PROTECT, related_name="+")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    purpose = models.CharField(max_length=50, blank=True)
    client_ip = models.GenericIPAddressField(null=True, blank=True)
    ranges = models.JSONField(default=list, help_text="Requested byte ranges, merged: [[first, last], ...].")
    # What the listener's player reports it played, in seconds of the call, merged: the bytes a
    # browser fetches run ahead of what is heard (it buffers), this is what was heard.
    heard = models.JSONField(default=list, help_text="Played time ranges in seconds: [[from, to], ...].")
    requests = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField()
    last_request_at = models.DateTimeField()
    event = models.OneToOneField(
        "audit.AccessEvent", null=True, blank=True, on_delete=models.PROTECT, related_name="playback"
    )

    class Meta:
        constraints = [
            # One open session per playback id: concurrent Range requests join the same one.
            models.UniqueConstraint(
                fields=["playback_id"], condition=Q(event__isnull=True), name="playback_open_once"
            ),
        ]
        indexes = [
            models.Index(
                fields=["last_request_at"], condition=Q(event__isnull=True), name="playback_open_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"Playback {self.playback_id} of recording {self.recording_id}"
