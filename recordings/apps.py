from django.apps import AppConfig


class RecordingsConfig(AppConfig):
    name = "recordings"
    verbose_name = "Recordings"

    def ready(self) -> None:
        from recordings.services import recording_grounds_changed

        recording_grounds_changed.connect(
            _revoke_shares_without_ground, dispatch_uid="recordings-revoke-shares"
        )


def _revoke_shares_without_ground(sender, *, recordings, **kwargs) -> None:
    """A withdrawn consent revokes, at once, the shares that rested on it."""
    from recordings.sharing.services import shares_revoke_unlawful

    shares_revoke_unlawful(recordings=recordings)
