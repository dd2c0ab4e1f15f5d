"""The QA reviews app; ready() connects its receivers to the signals of the apps below it."""

from __future__ import annotations

from django.apps import AppConfig


class ReviewsConfig(AppConfig):
    name = "reviews"
    verbose_name = "QA reviews"

    def ready(self) -> None:
        from django.db.models.signals import pre_save

        from retention.services import recordings_erasing
        from reviews import receivers
        from reviews.models import Evaluation

        recordings_erasing.connect(
            receivers.evaluations_on_recordings_erasing,
            dispatch_uid="reviews.evaluations_on_recordings_erasing",
        )
        pre_save.connect(
            receivers.evaluation_keep_until_on_create,
            sender=Evaluation,
            dispatch_uid="reviews.evaluation_keep_until_on_create",
        )
