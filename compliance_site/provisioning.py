"""Idempotent provisioning of the roles, beat's schedule and the cache table, run after every
``migrate``."""

from __future__ import annotations

from django.contrib.auth.models import Group, Permission
from django.core.management import call_command
from django.db import transaction

from compliance_site.roles import ROLE_PERMISSIONS
from compliance_site.schedule import provision_periodic_tasks


def provision_roles() -> None:
    """Give each role group exactly its listed model permissions."""
    wanted = {perm for perms in ROLE_PERMISSIONS.values() for perm in perms}
    by_name = {
        f"{p.content_type.app_label}.{p.codename}": p
        for p in Permission.objects.select_related("content_type")
    }
    missing = sorted(wanted - by_name.keys())
    if missing:
        raise LookupError(f"Role permissions that do not exist: {', '.join(missing)}")
    for role, perms in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        group.permissions.set([by_name[p] for p in perms])


@transaction.atomic
def provision() -> None:
    provision_roles()
    provision_periodic_tasks()


def provision_after_migrate(sender, *, using: str = "default", **kwargs) -> None:
    provision()
    # The database cache's table (the default CACHE_URL: the API's throttles and wrong-token
    # lockout count there), made here rather than in a migration so that it follows CACHE_URL;
    # nothing to do for Redis, or when the table exists.
    call_command("createcachetable", database=using, verbosity=0)
