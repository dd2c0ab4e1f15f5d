"""The QA reviews' admin, one module per page family; each registers its ModelAdmins on import:
``scorecards`` (evaluation forms and their versions)."""

from reviews.admin import scorecards  # noqa: F401 - registers the scorecard admins
