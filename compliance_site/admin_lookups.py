"""No admin changelist filters through a secret.

A changelist turns its query string into a filter and answers with a count: a filter on a secret
is an oracle. Django refuses most multi-step relation lookups, but lets through a local field and
a relation followed by its target's primary key, so ``/admin/compliance_site/user/
?auth_token__key__startswith=ab`` answered "1 user" or "0 users" while DRF's token was its
primary key, and 640 requests spelled the token out.

Here a lookup is refused (Django answers ``DisallowedModelAdminLookup`` with a 400) as soon as its
path reaches a secret, from any model, along any relation:

- a model that is a secret as a whole: integration tokens, second-factor devices and their
  recovery codes, sessions (any of their subclasses, so a replacement model is covered too);
- a secret field: the password hash, a share link's token hash, the blind indexes of phone and
  email, and every ``BinaryField`` (personal data sealed under a subject key, wrapped keys).

``CustosAdminSite.register`` puts ``SecretLookupGuard`` in front of every ModelAdmin registered
on the site (third-party ones included), so a new admin cannot forget it; the system check
``custos.E021`` refuses a ``list_filter``, ``search_fields`` or ``date_hierarchy`` that reaches a
secret, which would bypass a lookup check.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib import admin
from django.contrib.sessions.base_session import AbstractBaseSession
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.db.models.constants import LOOKUP_SEP
from django_otp.models import Device

if TYPE_CHECKING:
    from django.contrib.contenttypes.fields import GenericForeignKey

    # The mixin is always combined with a ModelAdmin: checked as one, a plain class at run time.
    _Base = admin.ModelAdmin[Any]
else:
    _Base = object

# Models that are secrets as a whole, by label (some may not be installed). DRF's authtoken is
# no longer used; it is named so that putting it back cannot bring the oracle back with it.
SECRET_MODELS = frozenset(
    {"compliance_site.IntegrationToken", "otp_static.StaticToken", "authtoken.Token", "sessions.Session"}
)
SECRET_MODEL_BASES: tuple[type[models.Model], ...] = (Device, AbstractBaseSession)
# Secret fields by model label; every BinaryField is one too.
SECRET_FIELDS: dict[str, frozenset[str]] = {
    settings.AUTH_USER_MODEL: frozenset({"password"}),
    "recordings.Share": frozenset({"token_hash"}),
    "recordings.DataSubject": frozenset({"phone_index", "email_index"}),
    "recordings.HistoricalDataSubject": frozenset({"phone_index", "email_index"}),
}


def is_secret_model(model: type[models.Model]) -> bool:
    return model._meta.label in SECRET_MODELS or issubclass(model, SECRET_MODEL_BASES)


def _is_secret_field(model: type[models.Model], field) -> bool:
    return isinstance(field, models.BinaryField) or field.name in SECRET_FIELDS.get(
        model._meta.label, frozenset()
    )


def lookup_reaches_secret(model: type[models.Model], lookup: str) -> bool:
    """Whether the ``__``-separated ``lookup``, read from ``model``, touches a secret field or
    passes through a secret model before it ends in a transform or lookup name."""
    if is_secret_model(model):
        return True
    field: models.Field | models.ForeignObjectRel | GenericForeignKey | None
    for part in lookup.split(LOOKUP_SEP):
        if part == "pk":
            field = model._meta.pk
        else:
            try:
                field = model._meta.get_field(part)
            except FieldDoesNotExist:
                return False  # the field path has ended: what follows is a lookup or a transform
        if _is_secret_field(model, field):
            return True
        if field is None or not field.is_relation or field.related_model is None:
            return False
        if isinstance(field.related_model, str):
            # "self" or a lazy reference: resolved once the apps are loaded, which they are here.
            raise LookupError(f"{model._meta.label}.{part} points to an unresolved model")
        model = field.related_model
        if is_secret_model(model):
            return True
    return False


class SecretLookupGuard(_Base):
    """In front of every ModelAdmin of the site (``CustosAdminSite.register``)."""

    def lookup_allowed(self, lookup, value, request=None) -> bool:
        if lookup_reaches_secret(self.model, lookup):
            return False
        return super().lookup_allowed(lookup, value, request)


def admin_paths_reaching_secrets(model_admin) -> list[str]:
    """The list filters, search fields and date hierarchy of ``model_admin`` that reach a secret
    (the changelist applies them without asking ``lookup_allowed``)."""
    model = model_admin.model
    paths: list[str] = []
    for item in model_admin.list_filter or ():
        if isinstance(item, str):
            paths.append(item)
        elif isinstance(item, list | tuple) and item and isinstance(item[0], str):
            paths.append(item[0])
    paths += [name.lstrip("^=@") for name in model_admin.search_fields or ()]
    if model_admin.date_hierarchy:
        paths.append(model_admin.date_hierarchy)
    return [path for path in paths if lookup_reaches_secret(model, path)]
