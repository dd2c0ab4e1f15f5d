"""No admin changelist answers a filter that reaches a secret, for anyone.

The attack (issue 14): the auditor asked the user list ``?auth_token__key__startswith=<prefix>``
and read "1 user" / "0 users"; 640 requests spelled out the integration's token. Here every
registered admin's changelist is asked, as the auditor, the DPO and a superuser, every path from
its model to a secret (found by walking the model's relations, so a new model or relation is
covered without editing this test). Each answer must be a refusal (400: Django's
DisallowedModelAdminLookup; 403: no permission on the list), never a page, so no count can differ
between a right and a wrong guess.

The secrets are named here independently of the guard (compliance_site.admin_lookups), so that
this test judges it rather than repeats it.
"""

from __future__ import annotations

import pytest
from django.apps import apps
from django.conf import settings
from django.contrib import admin
from django.contrib.admin import ModelAdmin
from django.core.checks import run_checks
from django.db import models
from django.urls import reverse

from tests.factories import RecordingFactory

pytestmark = pytest.mark.django_db

# Model label -> fields that are secrets; a path into these models at all is a secret path too.
SECRET_FIELDS = {
    settings.AUTH_USER_MODEL: ["password"],
    "recordings.Share": ["token_hash"],
    "recordings.DataSubject": ["phone_index", "email_index", "phone_encrypted"],
    "recordings.SubjectKey": ["wrapped_key"],
    "recordings.RecordingKey": ["wrapped_key"],
    "dsr.DataPackage": ["wrapped_key"],
}
SECRET_MODELS = {
    "authtoken.Token": ["key"],
    "compliance_site.IntegrationToken": ["digest", "prefix", "pk"],
    "otp_totp.TOTPDevice": ["key"],
    "otp_static.StaticDevice": ["token_set__token"],
    "otp_static.StaticToken": ["token"],
    "sessions.Session": ["session_key", "session_data"],
}
MAX_HOPS = 2


def _relations(model):
    # A reverse relation's name is its related query name: the name a lookup uses.
    for field in model._meta.get_fields():
        if field.is_relation and isinstance(field.related_model, type):
            yield field.name, field.related_model


def secret_paths(model, hops: int = MAX_HOPS, prefix: str = "") -> list[str]:
    """Every lookup from ``model`` (through at most ``hops`` relations) that ends in a secret."""
    paths = [f"{prefix}{name}" for name in SECRET_FIELDS.get(model._meta.label, [])]
    paths += [f"{prefix}{name}" for name in SECRET_MODELS.get(model._meta.label, [])]
    if hops == 0 or model._meta.label in SECRET_MODELS:
        return paths
    for name, related in _relations(model):
        paths += secret_paths(related, hops - 1, f"{prefix}{name}__")
    return paths


@pytest.fixture
def world(dpo):
    RecordingFactory()  # a subject, a queue, a purpose, a recording, a consent: lists are not empty


@pytest.mark.parametrize("persona", ["auditor", "dpo", "admin_user"])
def test_no_changelist_filters_through_a_secret(client, request, world, persona):
    # given: the persona signed in
    client.force_login(request.getfixturevalue(persona))
    answered, tried = [], 0

    # when: every secret path of every registered admin, with a prefix every value matches (a
    # page would show the whole count; the right-or-wrong pair is the test below)
    for model in admin.site._registry:
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        for path in sorted(set(secret_paths(model))):
            response = client.get(url, {f"{path}__startswith": ""})
            tried += 1
            if response.status_code not in (400, 403):
                answered.append(f"{url}?{path}__startswith=: {response.status_code}")

    # then: nothing answered, and the walk did reach the attack's paths
    assert tried > 100
    assert answered == []


def test_the_walk_reaches_the_paths_of_the_attack():
    user = apps.get_model(settings.AUTH_USER_MODEL)
    paths = set(secret_paths(user))

    assert {"password", "totpdevice__key", "staticdevice__token_set__token"} <= paths
    assert any(path.startswith(("auth_token__", "integration_token__")) for path in paths)
    assert "created_by__password" in secret_paths(apps.get_model("recordings", "Share"))


def test_the_auditor_cannot_spell_out_the_integration_token_through_the_user_list(client, auditor):
    # given: an integration with a token, and the auditor on the user list
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("create_integration", "pbx-berlin", stdout=out, stderr=StringIO())
    token = out.getvalue().strip()
    client.force_login(auditor)
    url = reverse("admin:compliance_site_user_changelist")

    # when: the first character of the token, right and wrong, through each relation that ever held it
    answers = {
        (path, value): client.get(url, {path: value}).status_code
        for path in (
            "auth_token__key__startswith",
            "auth_token__pk__startswith",
            "integration_token__prefix__startswith",
            "integration_token__digest__startswith",
            "integration_token__pk__startswith",
            "integration_token__isnull",
        )
        for value in (token[:1], "~")
    }

    # then: a refusal whatever the value (400; 302 to "?e=1" for a relation that no longer
    # exists), never a page with a count
    assert 200 not in answers.values(), answers
    assert {answers[path, token[:1]] == answers[path, "~"] for path, _ in answers} == {True}
    assert {code for (path, _), code in answers.items() if path.startswith("integration_token")} == {400}


def test_ordinary_filters_still_work(client, auditor, world):
    client.force_login(auditor)

    users = client.get(reverse("admin:compliance_site_user_changelist"), {"groups__id__exact": 1})
    recordings = client.get(reverse("admin:recordings_recording_changelist"), {"status__exact": "active"})

    assert (users.status_code, recordings.status_code) == (200, 200)


def test_every_admin_of_the_site_carries_the_guard():
    from compliance_site.admin_lookups import SecretLookupGuard

    unguarded = [
        m._meta.label for m, a in admin.site._registry.items() if not isinstance(a, SecretLookupGuard)
    ]

    assert unguarded == []


def test_a_list_filter_or_search_through_a_secret_stops_the_start(monkeypatch):
    # given: an admin that filters shares by their creator's password hash and searches token hashes
    share = apps.get_model("recordings", "Share")

    class LeakyShareAdmin(ModelAdmin):
        list_filter = ("created_by__password",)
        search_fields = ("=token_hash",)

    monkeypatch.setitem(admin.site._registry, share, LeakyShareAdmin(share, admin.site))

    # when
    errors = [e for e in run_checks() if e.id == "custos.E021"]

    # then
    assert len(errors) == 1
    assert "created_by__password" in errors[0].msg and "token_hash" in errors[0].msg


def test_binary_fields_count_as_secrets_wherever_they_are():
    from compliance_site.admin_lookups import lookup_reaches_secret

    binary = [
        (model, field.name)
        for model in apps.get_models()
        for field in model._meta.get_fields()
        if isinstance(field, models.BinaryField)
    ]

    assert binary  # sealed personal data and wrapped keys
    assert all(lookup_reaches_secret(model, f"{name}__startswith") for model, name in binary)
