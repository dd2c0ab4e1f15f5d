"""Every admin page a superuser can reach renders without an error, on the demo data."""

from __future__ import annotations

import io

from django.contrib import admin
from django.core.management import call_command
from django.test import RequestFactory
from django.urls import reverse


def _pages_of(model, model_admin, request) -> list[str]:
    info = model._meta.app_label, model._meta.model_name
    pages = [reverse("admin:{}_{}_changelist".format(*info))]
    if model_admin.search_fields:
        pages.append(pages[0] + "?q=DS-0")
    if model_admin.has_add_permission(request):
        pages.append(reverse("admin:{}_{}_add".format(*info)))
    obj = model_admin.get_queryset(request).first()
    if obj is not None:
        pages.append(reverse("admin:{}_{}_change".format(*info), args=[obj.pk]))
        pages.append(reverse("admin:{}_{}_history".format(*info), args=[obj.pk]))
        if hasattr(model_admin, "obj_perms_manage_view"):
            pages.append(reverse("admin:{}_{}_permissions".format(*info), args=[obj.pk]))
    return pages


def test_superuser_opens_every_changelist_add_change_and_history_page(admin_client, admin_user):
    # given: the demo data, which fills every model
    call_command("seed_demo", stdout=io.StringIO())
    request = RequestFactory().get("/admin/")
    request.user = admin_user

    # when
    failures, visited = [], 0
    for model, model_admin in admin.site._registry.items():
        for url in _pages_of(model, model_admin, request):
            visited += 1
            status = admin_client.get(url).status_code
            if status != 200:
                failures.append(f"{url} -> {status}")

    # then
    assert failures == []
    assert visited > 3 * len(admin.site._registry)


def test_admin_index_lists_requests_first(admin_client):
    response = admin_client.get(reverse("admin:index"))

    app_labels = [app["app_label"] for app in response.context["app_list"]]
    assert app_labels[:3] == ["dsr", "recordings", "retention"]
