"""How a stored value reads to a person (the DPO, the auditor) on history pages and in stories:
times in the configured time zone to the minute, choices by their label, related objects by
their reference, "—" for nothing. An auditor compares these with the request page and with the
letters, which all speak local time; a raw code or a UTC time with microseconds misleads.
"""

from __future__ import annotations

import datetime
from typing import Any

from django.db import models
from django.utils import timezone

EMPTY = "—"


def local_minutes(moment: datetime.datetime | None) -> str:
    """``2026-03-10 14:05`` in ``TIME_ZONE`` (an aware moment); "—" for none."""
    if moment is None:
        return EMPTY
    if timezone.is_aware(moment):
        moment = timezone.localtime(moment, timezone.get_default_timezone())
    return f"{moment:%Y-%m-%d %H:%M}"


def object_display(obj: Any) -> str:
    """A related object by its pseudonymous reference where it has one (REC-…, DSR-…, DS-…),
    a user by name and login, anything else by its ``str``."""
    if obj is None:
        return EMPTY
    reference = getattr(obj, "reference", "")
    if reference:
        return str(reference)
    if hasattr(obj, "get_full_name") and hasattr(obj, "get_username"):
        return user_display(obj)
    return str(obj)


def user_display(user: Any) -> str:
    """``Dana Example (dana.dpo)``, or the login alone when no name is on file."""
    if user is None:
        return EMPTY
    name = user.get_full_name().strip()
    return f"{name} ({user.get_username()})" if name else user.get_username()


def field_value_display(field: models.Field | Any, value: Any) -> str:
    """``value`` of ``field`` as a reader should see it (a history row's old or new value)."""
    if value is None or value == "" or value == []:
        return EMPTY
    choices = getattr(field, "flatchoices", None)
    if choices:
        return str(dict(choices).get(value, value))
    if isinstance(value, datetime.datetime):
        return local_minutes(value)
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, bytes | memoryview):
        return "(encrypted)"  # a sealed field: its ciphertext says nothing to a reader
    if isinstance(value, list):
        return ", ".join(object_display(item) for item in value) or EMPTY
    if isinstance(value, models.Model):
        return object_display(value)
    return str(value)
