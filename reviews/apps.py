"""The QA reviews app; ready() connects its receivers to the signals of the apps below it."""

from __future__ import annotations

from django.apps import AppConfig


class ReviewsConfig(AppConfig):
    name = "reviews"
    verbose_name = "QA reviews"

    def ready(self) -> None:
        from django.db.models.signals import pre_save

        from dsr.demo import demo_seeded
        from retention.services import recordings_erasing
        from reviews import receivers
        from reviews.calibration import calibration_reveal_on_submit
        from reviews.models import Evaluation
        from reviews.signals import evaluation_submitted

        recordings_erasing.connect(
            receivers.evaluations_on_recordings_erasing,
            dispatch_uid="reviews.evaluations_on_recordings_erasing",
        )
        pre_save.connect(
            receivers.evaluation_keep_until_on_create,
            sender=Evaluation,
            dispatch_uid="reviews.evaluation_keep_until_on_create",
        )
        demo_seeded.connect(receivers.demo_reviews_on_seed, dispatch_uid="reviews.demo_reviews_on_seed")
        # A calibration is revealed when its last participant submits (same transaction).
        evaluation_submitted.connect(calibration_reveal_on_submit, dispatch_uid="calibration_reveal")
