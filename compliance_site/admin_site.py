"""The Custos admin site: the DPO's work (requests) comes first on the index, under a dashboard
of the requests the user may see. With CUSTOS_REQUIRE_2FA, a staff user is a user of this site
only once their session has passed a second factor (as in django-otp's OTPAdminSite)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache

from compliance_site.admin_lookups import SecretLookupGuard
from compliance_site.two_factor import second_factor_pending, second_factor_url

# The order a DPO works in: requests, then the recordings they concern, then retention.
APP_ORDER = [
    "dsr",
    "recordings",
    "retention",
    "audit",
    "compliance_site",
    "axes",
    "auth",
    "django_celery_beat",
]

# A panel of the index page: the context it adds for this request (the DSR dashboard, say).
IndexPanel = Callable[[HttpRequest], dict[str, Any]]


@dataclass(frozen=True)
class Page:
    """A page of an app that is no model's (a report, say), listed with the app's models to the
    users ``shown_to`` accepts; the view checks its own permissions."""

    app_label: str
    route: str
    view: Callable[..., HttpResponse]
    name: str
    title: str
    shown_to: Callable[[Any], bool]


class CustosAdminSite(admin.AdminSite):
    site_header = "Custos — call recording compliance"
    site_title = "Custos"
    index_title = "Back office"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.index_panels: list[IndexPanel] = []
        self.pages: dict[str, Page] = {}

    def register(self, model_or_iterable, admin_class=None, **options):
        # Every ModelAdmin of the site, ours and third-party ones alike, refuses a changelist
        # lookup that reaches a secret (compliance_site.admin_lookups): a count per filter
        # value is an oracle, and one forgotten admin would be enough.
        admin_class = admin_class or admin.ModelAdmin
        if not issubclass(admin_class, SecretLookupGuard):
            admin_class = type(
                admin_class.__name__,
                (SecretLookupGuard, admin_class),
                {"__module__": admin_class.__module__, "__doc__": admin_class.__doc__},
            )
        super().register(model_or_iterable, admin_class, **options)

    def has_permission(self, request) -> bool:
        # django-otp's OTPAdminSite.has_permission, with the second factor asked only where
        # CUSTOS_REQUIRE_2FA says so: an unverified session is treated as not staff.
        return super().has_permission(request) and not second_factor_pending(request)

    @method_decorator(never_cache)
    def login(self, request, extra_context=None):
        # The password comes first, through the admin's own form (django-axes counts the failures);
        # a session that then owes its second factor goes to the second-factor page.
        if request.method == "GET" and second_factor_pending(request):
            return HttpResponseRedirect(second_factor_url(request, request.GET.get("next", "")))
        response = super().login(request, extra_context)
        if request.method == "POST" and response.status_code == 302 and second_factor_pending(request):
            return HttpResponseRedirect(second_factor_url(request, request.POST.get("next", "")))
        return response

    def get_urls(self):
        from compliance_site.two_factor_views import enrol_view, second_factor_view

        urls = super().get_urls()
        # Logging out needs no permission; the stock route would send a session that owes its
        # second factor back to the index (admin_view checks has_permission), so it could not
        # leave. It is replaced by the same view without that check.
        urls = [url for url in urls if getattr(url, "name", None) != "logout"]
        return [
            path("logout/", self.logout, name="logout"),
            path("second-factor/", second_factor_view, {"admin_site": self}, name="second_factor"),
            path("second-factor/enrol/", enrol_view, {"admin_site": self}, name="second_factor_enrol"),
            *(path(page.route, self.admin_view(page.view), name=page.name) for page in self.pages.values()),
            *urls,
        ]

    def get_app_list(self, request, app_label=None):
        apps = super().get_app_list(request, app_label)
        for app in apps:
            app["models"] += [
                {
                    "name": page.title,
                    "object_name": page.name,
                    "perms": {"view": True},
                    "admin_url": reverse(f"{self.name}:{page.name}", current_app=self.name),
                    "add_url": None,
                    "view_only": True,
                }
                for page in self.pages.values()
                if page.app_label == app["app_label"] and page.shown_to(request.user)
            ]

        def position(app: dict) -> tuple[int, str]:
            label = app["app_label"]
            return (APP_ORDER.index(label) if label in APP_ORDER else len(APP_ORDER), label)

        return sorted(apps, key=position)

    def index_panel_register(self, panel: IndexPanel) -> None:
        """Add a panel to the index page: ``panel(request)`` returns context for the index
        template (empty for a user who may not see it). An app registers its own at ``ready()``,
        so this site, which every app stands on, imports none of them (idempotent)."""
        if panel not in self.index_panels:
            self.index_panels.append(panel)

    def page_register(self, page: Page) -> None:
        """Add an app's page to the site, under ``page.route`` and named ``admin:<page.name>``,
        behind the site's own checks (staff, second factor). An app registers it from its admin
        module, which the site loads before it builds its URLs (idempotent by name)."""
        self.pages[page.name] = page

    def index(self, request, extra_context=None):
        context: dict[str, Any] = {}
        for panel in self.index_panels:
            context.update(panel(request))
        return super().index(request, {**context, **(extra_context or {})})
