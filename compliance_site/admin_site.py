"""The Custos admin site: the DPO's work (requests) comes first on the index, under a dashboard
of the requests the user may see."""

from __future__ import annotations

from django.contrib import admin

# The order a DPO works in: requests, then the recordings they concern, then retention.
APP_ORDER = ["dsr", "recordings", "retention", "compliance_site", "auth", "django_celery_beat"]


class CustosAdminSite(admin.AdminSite):
    site_header = "Custos — call recording compliance"
    site_title = "Custos"
    index_title = "Back office"

    def get_app_list(self, request, app_label=None):
        apps = super().get_app_list(request, app_label)

        def position(app: dict) -> tuple[int, str]:
            label = app["app_label"]
            return (APP_ORDER.index(label) if label in APP_ORDER else len(APP_ORDER), label)

        return sorted(apps, key=position)

    def index(self, request, extra_context=None):
        from dsr.admin_dashboard import index_context  # the DSR app is loaded after this site

        return super().index(request, {**index_context(request), **(extra_context or {})})
