"""System checks: call audio and its keys stay in the EU/EEA or an adequacy country."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, Tags, register


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
