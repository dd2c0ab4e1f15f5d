"""The recordings app's admin, one module per page family: ``recording`` (a call's page, its
list and its read-only fields), ``subjects`` (data subjects and reference tables), ``consents``
(consents and objections), ``restrictions`` (restrictions of processing), ``grants`` (ad-hoc
grants), ``sharing`` (shares), and the pieces of the recording's page: ``upload`` (the add
page), ``transcript``, ``sensitive`` (segments and unredacted playback), ``search`` (exact
references and the blind index). Every write goes through a service; the page views of a
recording are functions its one ``get_urls`` routes to.
"""

from recordings.admin import (  # noqa: F401 - each module registers its ModelAdmins
    consents,
    grants,
    recording,
    restrictions,
    sharing,
    subjects,
)
