from django.apps import AppConfig


class ReviewsConfig(AppConfig):
    name = "reviews"
    verbose_name = "QA reviews"

    def ready(self) -> None:
        from reviews.calibration import calibration_reveal_on_submit
        from reviews.signals import evaluation_submitted

        # A calibration is revealed when its last participant submits (same transaction).
        evaluation_submitted.connect(calibration_reveal_on_submit, dispatch_uid="calibration_reveal")
