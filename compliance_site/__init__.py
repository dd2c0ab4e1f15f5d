"""Custos project package: settings, URLs, the Celery app and cross-cutting pieces; the access log
(``compliance_site.audit``) lives here too, below every app."""

from compliance_site.celery import app as celery_app

__all__ = ("celery_app",)
