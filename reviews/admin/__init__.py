"""The QA reviews' admin: each part registers its own module here (``evaluations``, and
``calibration`` and ``reports``: calibration sessions and the QA report page)."""

from reviews.admin import calibration, evaluations, reports  # noqa: F401 - each registers its pages
