"""The staff user (custom from the start so that identity fields can grow without a migration of
auth tables) and the integrations' API tokens; business entities live in the apps, not here."""

from __future__ import annotations

from django.conf import settings
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


class IntegrationToken(models.Model):
    """An integration's API token, as its SHA-256 digest only: the token itself is printed once by
    ``manage.py create_integration`` and never stored, so a database reader (or an admin lookup
    oracle) learns nothing that authenticates. ``prefix`` is the token's first characters, not
    secret, to tell which token an integration holds. One per integration; rotating replaces it.
    No history: a copy of a digest in a history row would outlive its rotation for nothing."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="integration_token"
    )
    prefix = models.CharField(max_length=8, editable=False)
    digest = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(editable=False)

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user_id})"
