from django.apps import AppConfig


class RetentionConfig(AppConfig):
    name = "retention"
    verbose_name = "Retention"

    def ready(self) -> None:
        from recordings.restrictions import restriction_lifting
        from recordings.services import recording_grounds_changed, recording_ingested
        from retention.receivers import (
            keep_until_on_grounds_changed,
            keep_until_on_ingest,
            restricted_for_held_erasure,
        )

        recording_ingested.connect(keep_until_on_ingest, dispatch_uid="retention-keep-until-on-ingest")
        recording_grounds_changed.connect(
            keep_until_on_grounds_changed, dispatch_uid="retention-keep-until-on-grounds-changed"
        )
        restriction_lifting.connect(
            restricted_for_held_erasure, dispatch_uid="retention-restricted-for-held-erasure"
        )
