"""App configs: the project's own app (user model, roles, schedule) and the admin site."""

from __future__ import annotations

from django.apps import AppConfig
from django.contrib.admin.apps import AdminConfig
from django.db.models.signals import post_migrate


class CustosAdminConfig(AdminConfig):
    default_site = "compliance_site.admin_site.CustosAdminSite"


class ComplianceSiteConfig(AppConfig):
    name = "compliance_site"
    verbose_name = "Accounts and settings"

    def ready(self) -> None:
        from compliance_site import (
            checks,  # noqa: F401 - registers the system checks
            lookups,  # noqa: F401 - registers field__any_of
        )
        from compliance_site.provisioning import provision_after_migrate

        # This app is last in INSTALLED_APPS, so its post_migrate comes after every app's
        # permissions exist; roles and beat's schedule are then brought up to date.
        post_migrate.connect(provision_after_migrate, sender=self, dispatch_uid="custos-provision")
