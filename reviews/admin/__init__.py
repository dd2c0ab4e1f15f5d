"""The QA reviews' admin, one module per page family; each registers its ModelAdmins on import:
``scorecards`` (evaluation forms and their versions), ``evaluations`` (the evaluation pages)."""

from reviews.admin import evaluations, scorecards  # noqa: F401 - they register the admins
