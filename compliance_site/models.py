"""The staff user. Custom from the start so that identity fields can grow without a migration
of auth tables; business entities live in the apps, not here."""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models
from simple_history.models import HistoricalRecords


class User(AbstractUser):
    # Password hashes and login times stay out of history: they are secrets and noise, not audit.
    history = HistoricalRecords(excluded_fields=["password", "last_login"])
    # Set when an authenticator is confirmed, cleared by a reset: its history says who enrolled
    # when, and who reset whose second factor and why. The devices are django-otp's.
    second_factor_enrolled_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta(AbstractUser.Meta):
        swappable = "AUTH_USER_MODEL"
        db_table = "custos_user"
