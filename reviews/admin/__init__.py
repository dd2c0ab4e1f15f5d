"""The QA reviews' admin, one module per page family; each registers its ModelAdmins on import:
``scorecards`` (evaluation forms and their versions), ``evaluations`` (the evaluation pages),
``agents`` (who leads whom, and an agent's Art. 15 export)."""

from reviews.admin import agents, evaluations, scorecards  # noqa: F401 - they register the admins
