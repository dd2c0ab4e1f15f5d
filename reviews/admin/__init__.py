"""The QA reviews' admin, one module per page family; each registers its pages on import:
``scorecards`` (evaluation forms and their versions), ``evaluations`` (the evaluation pages),
``calibration`` (calibration sessions), ``reports`` (the QA report page), ``agents`` (who leads
whom, and an agent's Art. 15 export)."""

from reviews.admin import agents, calibration, evaluations, reports, scorecards  # noqa: F401 - they register
