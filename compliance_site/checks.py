"""System checks: call audio and its keys stay in the EU/EEA or an adequacy country; object grants
have a foreign key to their object; no admin filters or searches through a secret; the keyring
opens the access log's audit keys."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register


@register(Tags.security, deploy=False)
def storage_region_is_adequate(app_configs=None, **kwargs) -> list[Error]:
    errors = []
    allowed = settings.EU_ADEQUATE_S3_REGIONS
    if settings.RECORDINGS_STORAGE_BACKEND == "s3":
        region = settings.STORAGES["recordings"]["OPTIONS"].get("region_name") or ""
        if region not in allowed:
            errors.append(
                Error(
                    f"Recordings storage region {region!r} is outside the EU/EEA and the countries with an "
                    "adequacy decision.",
                    hint="GDPR Art. 44-45: set AWS_S3_REGION_NAME to one of "
                    + ", ".join(sorted(allowed))
                    + ".",
                    id="custos.E001",
                )
            )
    if getattr(settings, "KEY_PROVIDER", "local") == "aws-kms":
        region = getattr(settings, "AWS_KMS_REGION_NAME", "") or ""
        if region not in allowed:
            errors.append(
                Error(
                    f"Master-key region {region!r} is outside the EU/EEA and the countries with an "
                    "adequacy decision.",
                    hint="GDPR Art. 44-45: set AWS_KMS_REGION_NAME to an EU/EEA or adequacy region.",
                    id="custos.E002",
                )
            )
    return errors


@register(Tags.security)
def object_grants_use_direct_tables(app_configs=None, **kwargs) -> list[Error]:
    """guardian's object-permission pages (GuardedModelAdmin) only on models whose grants have a
    foreign key to them, so that a deleted object's grants cannot pass to a new one reusing its id
    (compliance_site.object_permissions)."""
    from django.contrib import admin
    from guardian.admin import GuardedModelAdminMixin

    from compliance_site.object_permissions import models_with_direct_grants

    direct = models_with_direct_grants()
    return [
        Error(
            f"{model._meta.label} has guardian's object-permission admin but no direct foreign-key "
            "permission tables: its grants would outlive a deleted object.",
            hint="Add UserObjectPermissionBase and GroupObjectPermissionBase subclasses for it.",
            obj=model_admin,
            id="custos.E010",
        )
        for model, model_admin in admin.site._registry.items()
        if isinstance(model_admin, GuardedModelAdminMixin) and model not in direct
    ]


# The session backends Custos accepts: server-side, with the key stored as a digest only.
HASHED_SESSION_ENGINES = frozenset({"compliance_site.sessions"})


@register(Tags.security)
def sessions_are_server_side_and_hashed(app_configs=None, **kwargs) -> list[Error]:
    """Signed-cookie sessions put the whole session in the browser (a verified second factor
    travels with a copied cookie and outlives a logout); Django's own database backend stores
    each key usable in the table. Either is refused."""
    engine = settings.SESSION_ENGINE
    if engine in HASHED_SESSION_ENGINES:
        return []
    return [
        Error(
            f"SESSION_ENGINE={engine!r}: staff sessions must be server-side with their keys stored "
            "as digests, or a database dump (or, with signed cookies, a copied cookie) is a live "
            "second-factor-verified login.",
            hint="Use SESSION_ENGINE = 'compliance_site.sessions'.",
            id="custos.E020",
        )
    ]


@register(Tags.security)
def admin_filters_reach_no_secret(app_configs=None, **kwargs) -> list[Error]:
    """A list filter, search field or date hierarchy is applied without ``lookup_allowed``: one
    that reaches a secret (a password hash, a token, a second-factor key, a session, sealed or
    wrapped bytes) would be an oracle on it (compliance_site.admin_lookups)."""
    from django.contrib import admin

    from compliance_site.admin_lookups import admin_paths_reaching_secrets

    return [
        Error(
            f"The admin of {model._meta.label} filters or searches through a secret: {', '.join(paths)}.",
            hint="Remove it from list_filter, search_fields and date_hierarchy.",
            obj=model_admin,
            id="custos.E021",
        )
        for model, model_admin in admin.site._registry.items()
        if (paths := admin_paths_reaching_secrets(model_admin))
    ]


@register(Tags.security, Tags.database)
def audit_keys_open(app_configs=None, databases=None, **kwargs) -> list[CheckMessage]:
    """Audit keys the keyring cannot unwrap, left by a lost keyring or a database restored beside
    another one, are named here (``manage.py check --database default``, ``migrate``) instead of
    surfacing as a 500 on the first access to personal data: that access must write an event
    signed with the newest audit key (compliance_site.audit.audit_keys)."""
    if not databases:
        return []
    from django.db import DatabaseError

    from compliance_site.audit.audit_keys import audit_key_newest_label, audit_keys_unopenable
    from compliance_site.audit.verification import unopenable_keys_problem

    try:
        unopenable = audit_keys_unopenable()
        newest = audit_key_newest_label()
    except DatabaseError:  # not migrated yet: migrate runs this check before it creates the table
        return []
    if not unopenable:
        return []
    if newest in unopenable:
        return [
            Error(
                f"The access log cannot sign events: {unopenable_keys_problem(unopenable)}.",
                hint="Start Custos with the keyring (LOCAL_KEYRING_PATH, or the KMS key) this database "
                "was written with. Until then every page that shows personal data fails, because "
                "its access event is signed with the newest audit key.",
                id="custos.E030",
            )
        ]
    return [
        Warning(
            f"The access log cannot be fully verified: {unopenable_keys_problem(unopenable)}.",
            hint="New events are signed with a key the keyring opens; verify_audit_log reports the "
            "older events as unverifiable until that keyring is restored.",
            id="custos.W030",
        )
    ]
