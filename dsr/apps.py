from django.apps import AppConfig


class DsrConfig(AppConfig):
    name = "dsr"
    verbose_name = "Data-subject requests"

    def ready(self) -> None:
        from django.contrib import admin

        from dsr.admin_dashboard import index_context

        # The dashboard on the admin index: the site, below every app, imports none of them.
        admin.site.index_panel_register(index_context)
