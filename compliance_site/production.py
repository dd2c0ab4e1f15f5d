"""Refuses a production configuration that is unsafe, with a message naming what to fix.

Settings are checked at import so that a misconfigured process fails at start, not on the first
request or the first nightly sweep.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured


def production_problems(settings: dict[str, Any]) -> list[str]:
    """Every reason the given settings module globals are unsafe for production."""
    problems: list[str] = []
    secret_key = settings.get("SECRET_KEY") or ""
    if not secret_key:
        problems.append("SECRET_KEY (or SECRET_KEY_FILE) must be set.")
    elif secret_key.startswith("django-insecure") or len(set(secret_key)) < 5 or len(secret_key) < 50:
        problems.append("SECRET_KEY must be a random value of at least 50 characters.")
    if settings.get("DEBUG"):
        problems.append("DEBUG must be off.")
    if not settings.get("ALLOWED_HOSTS"):
        problems.append("ALLOWED_HOSTS must list the host names the back office is served on.")
    engine = settings["DATABASES"]["default"]["ENGINE"]
    if "postgresql" not in engine:
        problems.append(
            f"DATABASE_URL must point at PostgreSQL (got engine {engine}); SQLite is for laptops."
        )
    broker = settings.get("CELERY_BROKER_URL", "")
    if not broker.startswith(("redis://", "rediss://")):
        problems.append("CELERY_BROKER_URL must be a redis:// or rediss:// URL.")
    cache_backend = settings.get("CACHES", {}).get("default", {}).get("BACKEND", "")
    if not cache_backend.endswith("RedisCache"):
        problems.append(
            "CACHE_URL must be a redis:// or rediss:// URL: the API's throttles and its wrong-token "
            f"lockout count there, across every web process (got {cache_backend or 'none'})."
        )
    if settings.get("RECORDINGS_STORAGE_BACKEND") != "s3":
        problems.append("RECORDINGS_STORAGE must be 's3' (with a bucket in an EU/EEA region).")
    else:
        options = settings["STORAGES"]["recordings"]["OPTIONS"]
        if not options.get("bucket_name"):
            problems.append("AWS_STORAGE_BUCKET_NAME must be set.")
        region = options.get("region_name") or ""
        if region not in settings["EU_ADEQUATE_S3_REGIONS"]:
            problems.append(
                f"AWS_S3_REGION_NAME={region!r} is outside the EU/EEA and the countries with an "
                "adequacy decision (GDPR Art. 44-45); call audio may not be stored there."
            )
    if not settings.get("CUSTOS_REQUIRE_2FA"):
        problems.append(
            "CUSTOS_REQUIRE_2FA must be on: every staff user sees personal data and logs in with a "
            "second factor."
        )
    if settings.get("TRUSTED_PROXY_NETWORKS") and settings.get("TLS_WITHOUT_PROXY"):
        problems.append("Set CUSTOS_TRUSTED_PROXIES or CUSTOS_TLS_WITHOUT_PROXY, not both.")
    elif not settings.get("TRUSTED_PROXY_NETWORKS") and not settings.get("TLS_WITHOUT_PROXY"):
        problems.append(
            "CUSTOS_TRUSTED_PROXIES must name the TLS-terminating reverse proxy (its addresses or "
            "networks), whose X-Forwarded-Proto alone is trusted; or set CUSTOS_TLS_WITHOUT_PROXY=true "
            "if the WSGI server terminates TLS itself."
        )
    from compliance_site.checks import HASHED_SESSION_ENGINES

    if settings.get("SESSION_ENGINE") not in HASHED_SESSION_ENGINES:
        problems.append(
            "SESSION_ENGINE must be 'compliance_site.sessions': server-side sessions whose keys the "
            "database holds only as digests (signed cookies, or Django's own database backend, make a "
            "copied cookie or a database dump a live login)."
        )
    problems.extend(_letterhead_problems(settings))
    site_url = settings.get("CUSTOS_SITE_URL", "")
    if not site_url.startswith("https://"):
        problems.append(
            f"CUSTOS_SITE_URL must be the back office's https:// address (got {site_url!r}): it is "
            "the address of every link in an email, the subject's download link among them."
        )
    from compliance_site.keys import production_key_problems

    problems.extend(production_key_problems(settings))
    return problems


def _letterhead_problems(settings: dict[str, Any]) -> list[str]:
    """The letters to subjects must name the real controller, DPO and authority, not the demo's
    fictional ones (their defaults say "(demo)" and use example.com addresses)."""
    controller = settings.get("CUSTOS_CONTROLLER", {})
    dpo = settings.get("CUSTOS_DPO_CONTACT", {})
    authority = settings.get("CUSTOS_SUPERVISORY_AUTHORITY", {})
    demo_values = [
        ("CUSTOS_CONTROLLER_NAME", controller.get("name", "")),
        ("CUSTOS_CONTROLLER_EMAIL", controller.get("email", "")),
        ("CUSTOS_DPO_EMAIL", dpo.get("email", "")),
        ("CUSTOS_AUTHORITY_NAME", authority.get("name", "")),
        ("CUSTOS_AUTHORITY_WEBSITE", authority.get("website", "")),
    ]
    return [
        f"{name} is the demo's fictional value: set the one your letters to subjects must name."
        for name, value in demo_values
        if "(demo)" in value or "example.com" in value
    ]


def validate_production_settings(settings: dict[str, Any]) -> None:
    problems = production_problems(settings)
    if problems:
        raise ImproperlyConfigured(
            "Custos refuses to start with CUSTOS_ENV=production:\n- " + "\n- ".join(problems)
        )
