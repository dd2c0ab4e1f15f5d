"""Letters to the subject, rendered from ``templates/dsr/letters/<language>/`` and kept with the
request: the extension notice (Art. 12(3)), the response (completed or refused) and the notice
that a restriction is lifted (Art. 18(3))."""

from __future__ import annotations

from typing import Any

from django.template.loader import render_to_string
from django.utils import timezone, translation

from compliance_site.model_update import history_save
from dsr.models import DataSubjectRequest, RequestType, ResponseLetter

# The request's words in each letter language (the model's labels are the staff's English).
TYPE_NAMES: dict[str, dict[str, str]] = {
    "en": {
        RequestType.ACCESS: "request for access to your data (Art. 15 GDPR)",
        RequestType.RECTIFICATION: "request for rectification (Art. 16 GDPR)",
        RequestType.ERASURE: "request for erasure (Art. 17 GDPR)",
        RequestType.RESTRICTION: "request for restriction of processing (Art. 18 GDPR)",
        RequestType.PORTABILITY: "request for data portability (Art. 20 GDPR)",
        RequestType.OBJECTION: "objection (Art. 21 GDPR)",
        RequestType.CONSENT_WITHDRAWAL: "withdrawal of consent (Art. 7(3) GDPR)",
    },
    "de": {
        RequestType.ACCESS: "Auskunft (Art. 15 DSGVO)",
        RequestType.RECTIFICATION: "Berichtigung (Art. 16 DSGVO)",
        RequestType.ERASURE: "Löschung (Art. 17 DSGVO)",
        RequestType.RESTRICTION: "Einschränkung der Verarbeitung (Art. 18 DSGVO)",
        RequestType.PORTABILITY: "Datenübertragbarkeit (Art. 20 DSGVO)",
        RequestType.OBJECTION: "Widerspruch (Art. 21 DSGVO)",
        RequestType.CONSENT_WITHDRAWAL: "Widerruf der Einwilligung (Art. 7 Abs. 3 DSGVO)",
    },
}
REFUSAL_GROUNDS = {
    "en": {value: label for value, label in DataSubjectRequest.RefusalGround.choices},
    "de": {
        "manifestly_unfounded": "offenkundig unbegründet (Art. 12 Abs. 5 DSGVO)",
        "excessive": "exzessiv, insbesondere häufig wiederholt (Art. 12 Abs. 5 DSGVO)",
        "identity_not_verified": "Identität nicht nachgewiesen (Art. 12 Abs. 6 DSGVO)",
        "legal_claims": (
            "Geltendmachung, Ausübung oder Verteidigung von Rechtsansprüchen (Art. 17 Abs. 3 lit. e DSGVO)"
        ),
        "legal_obligation": "rechtliche Verpflichtung (Art. 17 Abs. 3 lit. b DSGVO)",
        "no_data": "es liegen keine Daten über Sie vor",
    },
}


def _template(dsr: DataSubjectRequest, kind: str) -> str:
    if kind == ResponseLetter.Kind.EXTENSION:
        name = "extension"
    elif kind == ResponseLetter.Kind.RESTRICTION_LIFTED:
        name = "restriction_lifted"
    else:
        name = "refused" if dsr.status == DataSubjectRequest.Status.REFUSED else "completed"
    return f"dsr/letters/{dsr.language}/{name}.txt"


def letter_write(
    *, dsr: DataSubjectRequest, kind: str, actor=None, extra: dict[str, Any] | None = None
) -> ResponseLetter:
    """Render the letter in the request's language and attach it to the request; ``extra`` adds
    what a kind's template needs beyond the request (the lift's date and reason)."""
    language = dsr.language if dsr.language in TYPE_NAMES else "en"
    context = {
        "request": dsr,
        "request_type": TYPE_NAMES[language][dsr.request_type],
        "refusal_ground": REFUSAL_GROUNDS[language].get(dsr.refusal_ground, ""),
        "received": timezone.localtime(dsr.received_at),
        "extended_until": timezone.localtime(dsr.extended_until) if dsr.extended_until else None,
        **(extra or {}),
    }
    with translation.override(language):
        text = render_to_string(_template(dsr, kind), context)
    subject_line, _, body = text.partition("\n")
    letter = ResponseLetter(
        request=dsr,
        kind=kind,
        language=language,
        subject_line=subject_line.strip(),
        body=body.strip() + "\n",
        created_at=timezone.now(),
        created_by=actor if actor is not None and actor.is_authenticated else None,
    )
    return history_save(letter, actor=letter.created_by)
