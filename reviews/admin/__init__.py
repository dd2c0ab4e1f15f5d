"""The QA reviews' admin, one module per page family; each module registers its ModelAdmins."""

from reviews.admin import agents  # noqa: F401 - team leads of agents, an agent's Art. 15 export
