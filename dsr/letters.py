"""Letters to the subject: written with the request (the extension notice, Art. 12(3); the
response, completed or refused; the notice that a restriction is lifted, Art. 18(3)) and rendered
in the request's language, as HTML, plain text or PDF, whenever they are shown, printed or sent.

A letter row keeps the facts it states (``dsr.letter_facts``) and a name-less plain-text copy for
the request page and history, never the subject's name: that is decrypted when the letter is
rendered, and each decryption is an access event naming the request. Once the subject is erased
(their key destroyed) or while the request has no subject, the letter greets neutrally.

The wording lives in ``templates/dsr/letters/`` and the German catalogue under ``locale/``.
"""

from __future__ import annotations

import datetime
from typing import Any

from django.conf import settings
from django.template.loader import render_to_string
from django.utils import formats, timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from compliance_site.audit.models import AccessAction
from compliance_site.audit.services import access_event_record
from compliance_site.model_update import history_save
from dsr.letter_facts import letter_facts
from dsr.letter_formats import html_fragment_pdf, html_fragment_text
from dsr.models import DataSubjectRequest, RequestType, ResponseLetter
from recordings.vault.keys import KeyDestroyedError, personal_data_read

LANGUAGES = ("en", "de")
PURPOSES = ("view", "pdf", "email")

# The request as the subject would name it, in the letter's language.
TYPE_PHRASES = {
    RequestType.ACCESS: gettext_lazy("request for access to your personal data (Art. 15 GDPR)"),
    RequestType.RECTIFICATION: gettext_lazy("request for rectification (Art. 16 GDPR)"),
    RequestType.ERASURE: gettext_lazy("request for erasure (Art. 17 GDPR)"),
    RequestType.RESTRICTION: gettext_lazy("request for restriction of processing (Art. 18 GDPR)"),
    RequestType.PORTABILITY: gettext_lazy("request for data portability (Art. 20 GDPR)"),
    RequestType.OBJECTION: gettext_lazy("objection to processing (Art. 21 GDPR)"),
    RequestType.CONSENT_WITHDRAWAL: gettext_lazy("withdrawal of your consent (Art. 7(3) GDPR)"),
}
REFUSAL_GROUNDS = {
    DataSubjectRequest.RefusalGround.MANIFESTLY_UNFOUNDED: gettext_lazy(
        "The request is manifestly unfounded (Art. 12(5) GDPR)."
    ),
    DataSubjectRequest.RefusalGround.EXCESSIVE: gettext_lazy(
        "The request is excessive, in particular because it repeats earlier requests (Art. 12(5) GDPR)."
    ),
    DataSubjectRequest.RefusalGround.IDENTITY_NOT_VERIFIED: gettext_lazy(
        "We could not confirm that the request comes from you (Art. 12(6) GDPR). We disclose or "
        "change personal data only once we are sure whose it is. You are welcome to make the "
        "request again with proof of your identity."
    ),
    DataSubjectRequest.RefusalGround.LEGAL_CLAIMS: gettext_lazy(
        "We need the data concerned for the establishment, exercise or defence of legal claims "
        "(Art. 17(3)(e) GDPR)."
    ),
    DataSubjectRequest.RefusalGround.LEGAL_OBLIGATION: gettext_lazy(
        "A legal obligation requires us to keep the data concerned (Art. 17(3)(b) GDPR)."
    ),
    DataSubjectRequest.RefusalGround.NO_DATA: gettext_lazy("We hold no personal data about you."),
}
FIELD_NAMES = {
    "full_name": gettext_lazy("your name"),
    "phone": gettext_lazy("your phone number"),
    "email": gettext_lazy("your email address"),
}


def letter_write(
    *, dsr: DataSubjectRequest, kind: str, actor=None, extra: dict[str, Any] | None = None
) -> ResponseLetter:
    """Write the letter of ``kind`` to the request's subject and attach it to the request;
    ``extra`` adds what a kind needs beyond the request (the lift's date and reason)."""
    language = dsr.language if dsr.language in LANGUAGES else "en"
    letter = ResponseLetter(
        request=dsr,
        kind=kind,
        language=language,
        facts=letter_facts(dsr=dsr, kind=kind, extra=extra),
        created_at=timezone.now(),
        created_by=actor if actor is not None and actor.is_authenticated else None,
    )
    # The stored copy greets neutrally: the name is rendered in only when the letter is read.
    context = _context(letter, name=None)
    letter.subject_line = context["subject_line"][:200]
    letter.body = html_fragment_text(_fragment(letter, context))
    return history_save(letter, actor=letter.created_by)


def letter_html(letter: ResponseLetter, *, actor, purpose: str) -> str:
    """The letter as a complete HTML document: print CSS inline, no script, nothing external."""
    context = _context(letter, name=_subject_name(letter, actor=actor, purpose=purpose))
    context["body"] = _fragment(letter, context)
    with translation.override(letter.language):
        return render_to_string("dsr/letters/letter.html", context)


def letter_text(letter: ResponseLetter, *, actor, purpose: str) -> str:
    """The letter as plain text (an email's text part)."""
    context = _context(letter, name=_subject_name(letter, actor=actor, purpose=purpose))
    return html_fragment_text(_fragment(letter, context))


def letter_pdf(letter: ResponseLetter, *, actor, purpose: str) -> bytes:
    """The letter as an A4 PDF document."""
    context = _context(letter, name=_subject_name(letter, actor=actor, purpose=purpose))
    return html_fragment_pdf(
        _fragment(letter, context), title=context["subject_line"], language=letter.language
    )


def letter_for_email(
    letter: ResponseLetter, *, actor, appendix: dict[str, str] | None = None
) -> tuple[str, str, bytes]:
    """The letter as an email carries it: plain text, HTML and the PDF attachment, rendered from
    one decryption of the name (one access event for the one send). ``appendix`` ({"text", "url"}:
    the package's download link) follows the letter in the text and HTML parts, not in the PDF."""
    context = _context(letter, name=_subject_name(letter, actor=actor, purpose="email"))
    fragment = _fragment(letter, context)
    with translation.override(letter.language):
        html = render_to_string(
            "dsr/letters/letter.html", {**context, "body": fragment, "appendix": appendix}
        )
    pdf = html_fragment_pdf(fragment, title=context["subject_line"], language=letter.language)
    text = html_fragment_text(fragment)
    if appendix:
        text = f"{text.rstrip()}\n\n{appendix['text']}\n{appendix['url']}\n"
    return text, html, pdf


def letter_filename(letter: ResponseLetter, extension: str) -> str:
    return f"{letter.request.reference}-{letter.kind}-{letter.pk}.{extension}"


def _subject_name(letter: ResponseLetter, *, actor, purpose: str) -> str | None:
    """The subject's name for the salutation, decrypted now and logged; None once they are
    erased, or while the request has no subject."""
    if purpose not in PURPOSES:
        raise ValueError(f"Unknown purpose {purpose!r}: one of {', '.join(PURPOSES)}.")
    subject = letter.request.subject
    if subject is None:
        return None
    try:
        name = personal_data_read(subject).full_name
    except KeyDestroyedError:
        return None
    access_event_record(
        action=AccessAction.DECRYPT,
        object_type="subject",
        object_id=subject.pk,
        object_reference=subject.reference,
        actor=actor,
        purpose=f"letter_{purpose}",
        detail={"request": letter.request.reference, "letter": letter.pk, "fields": ["full_name"]},
    )
    return name or None


def _day(iso: str | None) -> str:
    if not iso:
        return ""
    # Translators: the date format of a letter (Django's date format characters).
    return formats.date_format(datetime.date.fromisoformat(iso), _("j F Y"))


def _context(letter: ResponseLetter, *, name: str | None) -> dict[str, Any]:
    """What the templates need, in the letter's language: the facts, with dates and labels
    written out."""
    facts = letter.facts
    with translation.override(letter.language):
        context: dict[str, Any] = {
            "language": letter.language,
            "name": name,
            "facts": facts,
            "variant": facts.get("variant", ""),
            "reference": facts.get("reference", letter.request.reference),
            "request_type": facts.get("request_type", ""),
            "type_phrase": str(TYPE_PHRASES.get(facts.get("request_type", ""), "")),
            "received": _day(facts.get("received")),
            "written": _day(facts.get("written")),
            # A letter written before letters kept their facts shows today's letterhead.
            "controller": facts.get("controller") or settings.CUSTOS_CONTROLLER,
            "dpo": facts.get("dpo") or settings.CUSTOS_DPO_CONTACT,
            "authority": facts.get("authority") or settings.CUSTOS_SUPERVISORY_AUTHORITY,
        }
        if "extension" in facts:
            context["until"] = _day(facts["extension"]["until"])
        if "lift" in facts:
            context["restricted_since"] = _day(facts["lift"]["restricted_since"])
            context["lifted_on"] = _day(facts["lift"]["lifted_on"])
        if "refusal" in facts:
            context["refusal_ground"] = str(REFUSAL_GROUNDS.get(facts["refusal"]["ground"], ""))
        outcome = facts.get("outcome", {})
        if outcome.get("expires"):
            context["expires"] = _day(outcome["expires"])
        if outcome.get("backups_by"):
            context["backups_by"] = _day(outcome["backups_by"])
        if "fields" in outcome:
            context["fields"] = [
                str(FIELD_NAMES[field]) for field in outcome["fields"] if field in FIELD_NAMES
            ]
        if facts:
            context["subject_line"] = render_to_string("dsr/letters/subject_line.txt", context).strip()
        else:
            context["subject_line"] = letter.subject_line
            context["paragraphs"] = [p.strip() for p in letter.body.split("\n\n") if p.strip()]
    return context


def _fragment(letter: ResponseLetter, context: dict[str, Any]) -> str:
    """The letter's body as an HTML fragment: what the HTML document, the text and the PDF share."""
    template = "dsr/letters/body.html" if letter.facts else "dsr/letters/body_legacy.html"
    with translation.override(letter.language):
        return render_to_string(template, {**context, "letter": letter})
