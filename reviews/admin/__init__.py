"""The reviews app's admin, one module per page family: ``calibration`` (calibration sessions)
and ``reports`` (the QA report page)."""

from reviews.admin import calibration, reports  # noqa: F401 - each module registers its pages
