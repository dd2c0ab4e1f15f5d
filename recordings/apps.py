from django.apps import AppConfig


class RecordingsConfig(AppConfig):
    name = "recordings"
    verbose_name = "Recordings"

    def ready(self) -> None:
        from recordings.redaction.segments import sensitive_segments_changed
        from recordings.services import recording_grounds_changed

        recording_grounds_changed.connect(
            _revoke_shares_without_ground, dispatch_uid="recordings-revoke-shares"
        )
        sensitive_segments_changed.connect(_rendition_follows_segments, dispatch_uid="recordings-renditions")


def _revoke_shares_without_ground(sender, *, recordings, **kwargs) -> None:
    """A withdrawn consent revokes, at once, the shares that rested on it."""
    from recordings.sharing.services import shares_revoke_unlawful

    shares_revoke_unlawful(recordings=recordings)


def _rendition_follows_segments(sender, *, recording, **kwargs) -> None:
    """Segments marked or changed: the muted rendition of the new segments is requested (in the
    same transaction), the old one turns stale; and a segment of a kind the policy silences at
    rest has the stored audio rewritten without it."""
    from recordings.redaction_at_rest import redaction_at_rest_request
    from recordings.renditions import muted_rendition_request

    muted_rendition_request(recording=recording)
    redaction_at_rest_request(recording=recording)
