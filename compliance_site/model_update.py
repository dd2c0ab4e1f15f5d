"""Saving a historied model with its author: the one place that sets simple-history's attributes.

django-simple-history takes a history row's author from ``instance._history_user`` (else from the
request the middleware saw, which a Celery task or a command does not have) and its reason from
``instance._change_reason``. Services write through ``model_update`` / ``history_save`` instead of
setting those attributes and ``update_fields`` by hand (HackSoft's ``model_update``).
"""

from __future__ import annotations

from typing import Any, TypeVar

from django.db.models import Model

M = TypeVar("M", bound=Model)


def history_save(
    instance: M, *, actor: Any, update_fields: list[str] | None = None, reason: str = "", clean: bool = False
) -> M:
    """Save ``instance`` (only ``update_fields`` when given) with a history row by ``actor``
    (None or an anonymous user: no author) and ``reason``; ``clean`` runs ``full_clean`` first."""
    if actor is not None and getattr(actor, "is_authenticated", False):
        instance._history_user = actor  # type: ignore[attr-defined]
    if reason:
        instance._change_reason = reason  # type: ignore[attr-defined]
    if clean:
        instance.full_clean()
    instance.save(update_fields=update_fields)
    return instance


def model_update(instance: M, *, actor: Any, reason: str = "", clean: bool = False, **fields: Any) -> M:
    """Set ``fields`` on ``instance`` and save just those, with a history row by ``actor``."""
    for name, value in fields.items():
        setattr(instance, name, value)
    return history_save(instance, actor=actor, update_fields=list(fields), reason=reason, clean=clean)


def history_delete(instance: Model, *, actor: Any, reason: str = "") -> None:
    """Delete ``instance`` with a history row (``-``) by ``actor`` and ``reason``."""
    if actor is not None and getattr(actor, "is_authenticated", False):
        instance._history_user = actor  # type: ignore[attr-defined]
    if reason:
        instance._change_reason = reason  # type: ignore[attr-defined]
    instance.delete()
