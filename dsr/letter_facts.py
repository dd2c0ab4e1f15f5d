"""What a letter to the subject says, gathered when it is written: the facts the letter's
templates turn into sentences (``dsr.letters``).

Facts, not text: the letter is rendered again in its language each time it is shown, printed or
sent. Never the subject's name (decrypted only when the letter is rendered, so an erasure of the
subject leaves no name behind in the letter). The controller, its DPO and the supervisory
authority are copied as they stand when the letter is written, so a letter keeps the letterhead
it was sent with. Dates are ISO strings (the row is JSON).
"""

from __future__ import annotations

import datetime
from typing import Any

from django.conf import settings
from django.db.models import Max
from django.utils import timezone

from dsr.models import DataSubjectRequest, RequestType, ResponseLetter
from dsr.package_information import package_information
from recordings.models import Consent, Objection, Recording, SubjectKey, SubjectRestriction
from recordings.vault.horizon import erasure_horizon
from retention.models import DeletionRecord, HeldErasure
from retention.selectors import retention_policies_for

Status = DataSubjectRequest.Status
# The personal fields a rectification may correct, as ``rights.rectification_execute`` names them.
RECTIFIABLE_FIELDS = ("full_name", "phone", "email")


def _date(moment: datetime.datetime | datetime.date | None) -> str | None:
    if moment is None:
        return None
    if isinstance(moment, datetime.datetime):
        return timezone.localdate(moment).isoformat()
    return moment.isoformat()


def variant_of(dsr: DataSubjectRequest, kind: str) -> str:
    """Which letter this is: an extension notice, a lift notice, a refusal or a response."""
    if kind == ResponseLetter.Kind.EXTENSION:
        return "extension"
    if kind == ResponseLetter.Kind.RESTRICTION_LIFTED:
        return "lifted"
    return "refused" if dsr.status == Status.REFUSED else "completed"


def _package(dsr: DataSubjectRequest) -> dict[str, Any]:
    package = dsr.packages.order_by("-created_at", "-pk").first()
    if package is None:
        return {"recordings": 0, "expires": None}
    return {"recordings": package.recordings, "expires": _date(package.expires_at)}


def _access_information(dsr: DataSubjectRequest) -> dict[str, Any] | None:
    """Art. 15(1)(a)-(h) and 15(2), as the package gives it (``dsr.package_information``)."""
    if dsr.subject is None:
        return None
    recordings = list(
        Recording.objects.filter(subject=dsr.subject)
        .prefetch_related("purposes")
        .order_by("started_at", "pk")
    )
    purpose_ids = {p.pk for r in recordings for p in r.purposes.all()}
    return package_information(
        language=dsr.language,
        subject=dsr.subject,
        recordings=recordings,
        policies=retention_policies_for(purpose_ids),
    )


def _erasure(dsr: DataSubjectRequest) -> dict[str, Any]:
    erased = DeletionRecord.objects.filter(
        reason=DeletionRecord.Reason.ERASURE_REQUEST, rule=dsr.reference
    ).count()
    held = HeldErasure.objects.filter(request_reference=dsr.reference).count()
    shredded = (
        dsr.subject_id is not None
        and not SubjectKey.objects.filter(subject_id=dsr.subject_id, destroyed_at__isnull=True).exists()
    )
    return {
        "erased": erased,
        "held": held,
        "personal_data_erased": shredded,
        # The date by which no backup can be read any more (recordings.vault.horizon).
        "backups_by": _date(erasure_horizon(dsr.executed_at or timezone.now())) if shredded else None,
        "grace_days": settings.CUSTOS_HELD_ERASURE_GRACE_DAYS,
        "record_years": max(1, round(settings.CUSTOS_REQUEST_RECORD_RETENTION_DAYS / 365)),
    }


def _rectified_fields(dsr: DataSubjectRequest) -> list[str]:
    # The right's outcome names the corrected fields ("Corrected: full_name, phone.").
    if not dsr.outcome.startswith("Corrected:"):
        return []
    named = dsr.outcome.removeprefix("Corrected:")
    return [field for field in RECTIFIABLE_FIELDS if field in named]


def _objections(dsr: DataSubjectRequest) -> list[dict[str, str]]:
    # An objection request decides one objection per purpose, dated with the request's receipt.
    objections = (
        Objection.objects.filter(subject_id=dsr.subject_id, received_at=dsr.received_at)
        .exclude(decision=Objection.Decision.PENDING)
        .select_related("purpose")
        .order_by("purpose__name", "pk")
    )
    return [{"purpose": o.purpose.name, "decision": o.decision, "grounds": o.reason} for o in objections]


def _withdrawn_purposes(dsr: DataSubjectRequest) -> list[str]:
    consents = Consent.objects.filter(subject_id=dsr.subject_id, withdrawn_under=dsr.reference)
    return sorted({c.purpose.name for c in consents.select_related("purpose")})


def _outcome(dsr: DataSubjectRequest) -> dict[str, Any]:
    kind = dsr.request_type
    if kind == RequestType.ACCESS:
        return {**_package(dsr), "information": _access_information(dsr)}
    if kind == RequestType.PORTABILITY:
        return _package(dsr)
    if kind == RequestType.ERASURE:
        return _erasure(dsr)
    if kind == RequestType.RECTIFICATION:
        return {"fields": _rectified_fields(dsr)}
    if kind == RequestType.RESTRICTION:
        restricted = Recording.objects.filter(subject_id=dsr.subject_id, status=Recording.Status.RESTRICTED)
        return {"recordings": restricted.count() if dsr.subject_id else 0}
    if kind == RequestType.OBJECTION:
        return {"decisions": _objections(dsr)}
    if kind == RequestType.CONSENT_WITHDRAWAL:
        return {"purposes": _withdrawn_purposes(dsr)}
    return {}


def _restricted_since(dsr: DataSubjectRequest) -> datetime.datetime | None:
    placed = SubjectRestriction.objects.filter(request_reference=dsr.reference).aggregate(at=Max("placed_at"))
    return placed["at"]


def letter_facts(
    *, dsr: DataSubjectRequest, kind: str, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Everything the letter of ``kind`` says about ``dsr``, without the subject's name."""
    extra = extra or {}
    variant = variant_of(dsr, kind)
    facts: dict[str, Any] = {
        "version": 1,
        "variant": variant,
        "reference": dsr.reference,
        "request_type": dsr.request_type,
        "received": _date(dsr.received_at),
        "written": _date(timezone.now()),
        "controller": dict(settings.CUSTOS_CONTROLLER),
        "dpo": dict(settings.CUSTOS_DPO_CONTACT),
        "authority": dict(settings.CUSTOS_SUPERVISORY_AUTHORITY),
    }
    if variant == "extension":
        facts["extension"] = {"until": _date(dsr.extended_until), "reason": dsr.extension_reason}
    elif variant == "lifted":
        facts["lift"] = {
            "restricted_since": _date(extra.get("restricted_since") or _restricted_since(dsr)),
            "lifted_on": _date(extra.get("lifted_at") or timezone.now()),
            "reason": str(extra.get("lift_reason", "")),
        }
    elif variant == "refused":
        facts["refusal"] = {"ground": dsr.refusal_ground}
    else:
        facts["outcome"] = _outcome(dsr)
    return facts
