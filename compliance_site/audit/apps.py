"""The audit app: the access log every app writes to, with the label ``audit``."""

from __future__ import annotations

from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "compliance_site.audit"
    label = "audit"
    verbose_name = "Access log"
