from django.apps import AppConfig
from django.core.exceptions import ImproperlyConfigured


class DsrConfig(AppConfig):
    name = "dsr"
    verbose_name = "Data-subject requests"

    def ready(self) -> None:
        from django.contrib import admin

        from compliance_site.admin_site import CustosAdminSite
        from dsr.admin_dashboard import index_context

        site = admin.site
        if not isinstance(site, CustosAdminSite):
            raise ImproperlyConfigured("The admin site must be compliance_site's CustosAdminSite.")
        # The dashboard on the admin index: the site, below every app, imports none of them.
        site.index_panel_register(index_context)

        from dsr.subject_keeper import REQUEST_KEEPER
        from retention.subject_expiry import subject_keeper_register

        # A subject's requests keep their personal data from the sweep's subject stage.
        subject_keeper_register(REQUEST_KEEPER)

        from dsr.receivers import reattribution_refused_by_requests
        from recordings.reattribution import recording_reattributing

        # A call does not move between subjects under a request built from their calls.
        recording_reattributing.connect(
            reattribution_refused_by_requests, dispatch_uid="dsr-reattribution-requests"
        )
