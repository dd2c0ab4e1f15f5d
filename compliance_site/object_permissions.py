"""Object permissions (django-guardian) must not outlive their object.

guardian's generic tables (``UserObjectPermission``, ``GroupObjectPermission``) store the object's
id as text, with no foreign key: deleting the object leaves its grants behind, and a new object
that reuses the id (a restored backup, a reset sequence, an explicit id) inherits them. So every
model Custos grants on has guardian's direct foreign-key tables instead (``recordings.models``:
subjects, queues, recordings; ``dsr.models``: requests): their rows go with the object
(``CASCADE``), and the database refuses any other delete that would leave one behind.

What could still land in the generic tables (a grant made from a shell on another model) is
swept nightly by ``object_permissions_clean_orphans`` under beat.
"""

from __future__ import annotations

import logging

from django.apps import apps
from django.db import models
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase
from guardian.utils import clean_orphan_obj_perms

logger = logging.getLogger(__name__)

# Rows read per batch: keeps the sweep's memory flat whatever the tables hold.
ORPHAN_BATCH_SIZE = 1000


def models_with_direct_grants() -> set[type[models.Model]]:
    """The models that have guardian's direct foreign-key permission tables."""
    return {
        # Each concrete grant model declares content_object; the plugin looks on guardian's bases.
        model._meta.get_field("content_object").related_model  # type: ignore[misc]
        for model in apps.get_models()
        if issubclass(model, UserObjectPermissionBase | GroupObjectPermissionBase)
    }


def object_permissions_clean_orphans() -> int:
    """Delete the generic grants whose object is gone; returns how many."""
    removed = clean_orphan_obj_perms(batch_size=ORPHAN_BATCH_SIZE)
    if removed:
        logger.warning("Removed %d object permission(s) whose object no longer exists", removed)
    return removed
