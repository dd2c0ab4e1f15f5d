"""Write use-cases of recordings' subjects, consents and objections: creating a subject (and the
lock that serialises its calls), withdrawing consent, deciding an objection, rectifying personal
fields. The ingest is ``recordings.intake.services``; crypto-shredding ``recordings.vault.services``."""

from __future__ import annotations

import logging
import secrets

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.dispatch import Signal
from django.utils import timezone

from compliance_site.audit.models import AccessAction
from compliance_site.audit.services import access_event_record
from compliance_site.display import local_minutes
from compliance_site.model_update import history_save
from recordings.models import (
    Consent,
    DataSubject,
    Objection,
    Purpose,
    Recording,
)
from recordings.vault.keys import (
    PersonalData,
    personal_data_read,
    personal_data_seal,
    subject_key,
    subject_key_new,
)

logger = logging.getLogger(__name__)

# Sent inside the ingest transaction; retention answers it with the recording's keep-until.
recording_ingested = Signal()
# Sent with ``recordings``: the purposes these recordings may serve changed (a consent withdrawn,
# given or refused, an objection decided, the recording's purposes edited), so their retention
# must be computed again (retention.receivers) and their shares checked (recordings.apps).
recording_grounds_changed = Signal()


def _new_subject_reference() -> str:
    return f"DS-{secrets.token_hex(5).upper()}"


@transaction.atomic
def subject_create(*, personal: PersonalData, reference: str = "") -> tuple[DataSubject, bytes]:
    """A new subject with its own key and its personal fields sealed under it."""
    personal = personal.normalised()
    subject = DataSubject(reference=reference or _new_subject_reference())
    key, key_row = subject_key_new(subject)
    personal_data_seal(subject, personal, key)
    subject.full_clean(exclude=["full_name_encrypted", "phone_encrypted", "email_encrypted"])
    subject.save()
    key_row.subject = subject
    key_row.save()
    return subject, key


def subject_share_lock(subject: DataSubject) -> None:
    """Hold the subject's row in share mode until this transaction ends. Other calls of the same
    caller take it too and go on; an erasure, which locks the subject for update first thing,
    waits for them, and a call arriving during an erasure waits for it. Django's
    ``select_for_update`` has no share mode. SQLite (the demo) has no row locks: there the erasure
    and a call of its subject are not ordered."""
    if connection.vendor != "postgresql":
        return
    table = connection.ops.quote_name(DataSubject._meta.db_table)
    with connection.cursor() as cursor:
        # The table's name is the model's own, quoted; the id is a parameter.
        cursor.execute(f"SELECT 1 FROM {table} WHERE id = %s FOR SHARE", [subject.pk])  # noqa: S608


def grounds_changed_announce(*, subject_id: int, purpose_id: int | None = None) -> None:
    """What the subject's calls (for this purpose, or all) may serve changed: a consent given,
    refused or withdrawn, an objection decided. Retention recomputes their keep-until and sharing
    revokes the shares that lost their ground, in the caller's transaction."""
    recordings = Recording.objects.filter(subject_id=subject_id).exclude(status=Recording.Status.ERASED)
    if purpose_id is not None:
        recordings = recordings.filter(purposes=purpose_id)
    found = list(recordings)
    if found:
        recording_grounds_changed.send(sender=Recording, recordings=found)


def _grounds_changed(subject_id: int, purpose_id: int) -> None:
    grounds_changed_announce(subject_id=subject_id, purpose_id=purpose_id)


@transaction.atomic
def consent_withdraw(
    *, consent: Consent, via: str, actor=None, at=None, client_ip: str | None = None, under: str = ""
) -> Consent:
    """Record a withdrawal (Art. 7(3)): the consent stays, with when, through which channel, who
    recorded it and ``under`` which request (a data-subject request's reference: retention's
    tombstone names it). Recordings for which it was the only ground leave every QA lead's list and
    player at once (the access selectors read the ledger), and their retention is recomputed.
    The withdrawal is an access event too: it brings retention forward, so whoever recorded it
    (a DPO, an integration's account) is in the chained log, not only in history."""
    consent = _consent_withdrawal_record(
        consent=consent, via=via, actor=actor, at=at, client_ip=client_ip, under=under
    )
    _grounds_changed(consent.subject_id, consent.purpose_id)
    return consent


def _consent_withdrawal_record(
    *, consent: Consent, via: str, actor, at, client_ip: str | None, under: str = ""
) -> Consent:
    """``consent_withdraw`` but for the recordings' recomputation, which the caller makes (once
    for many consents of one subject and purpose). In the caller's transaction."""
    # The subject and the purpose come with the lock (the event names them); only the consent is locked.
    consent = (
        Consent.objects.select_for_update(of=("self",))
        .select_related("subject", "purpose")
        .get(pk=consent.pk)
    )
    if consent.decision != Consent.Decision.GIVEN:
        raise ValidationError("A refusal cannot be withdrawn; record a new consent instead.")
    if consent.withdrawn_at is not None:
        raise ValidationError(f"This consent was already withdrawn on {local_minutes(consent.withdrawn_at)}.")
    if via not in Consent.Channel.values:
        raise ValidationError({"via": f"Unknown channel {via!r}."})
    at = at or timezone.now()
    if at < consent.captured_at:
        raise ValidationError({"withdrawn_at": "A consent cannot be withdrawn before it was given."})
    consent.withdrawn_at, consent.withdrawn_via = at, via
    consent.withdrawn_by = actor if actor is not None and actor.is_authenticated else None
    consent.withdrawn_under = under[:40]
    withdrawal = ["withdrawn_at", "withdrawn_via", "withdrawn_by", "withdrawn_under"]
    history_save(consent, actor=actor, update_fields=withdrawal)
    access_event_record(
        action=AccessAction.CONSENT_WITHDRAWN,
        object_type="subject",
        object_id=consent.subject_id,
        object_reference=consent.subject.reference,
        actor=actor,
        purpose=consent.purpose.code,
        detail={"consent": consent.pk, "channel": via, "recording": consent.recording_id},
        client_ip=client_ip,
    )
    logger.info("Consent %s withdrawn via %s", consent.pk, via)
    return consent


def consents_withdraw_for(
    *, subject: DataSubject, purpose: Purpose, via: str, actor=None, client_ip: str | None = None
) -> list[Consent]:
    """Withdraw every active consent of the subject for the purpose (the caller said "stop"); the
    recordings' grounds are recomputed once, after the last one (one consent per call is common)."""
    with transaction.atomic():
        active = Consent.objects.filter(
            subject=subject, purpose=purpose, decision=Consent.Decision.GIVEN, withdrawn_at__isnull=True
        ).order_by("pk")
        withdrawn = [
            _consent_withdrawal_record(consent=consent, via=via, actor=actor, at=None, client_ip=client_ip)
            for consent in active
        ]
        if withdrawn:
            _grounds_changed(subject.pk, purpose.pk)
        return withdrawn


@transaction.atomic
def objection_decide(*, objection: Objection, decision: str, actor, reason: str) -> Objection:
    """Uphold or overrule an objection (Art. 21(1)); an upheld one stops the purpose at once."""
    objection = Objection.objects.select_for_update().get(pk=objection.pk)
    if objection.decision != Objection.Decision.PENDING:
        raise ValidationError(f"This objection was already decided: {objection.get_decision_display()}.")
    if decision not in (Objection.Decision.UPHELD, Objection.Decision.OVERRULED):
        raise ValidationError({"decision": "Uphold or overrule."})
    if decision == Objection.Decision.OVERRULED and not reason.strip():
        raise ValidationError({"reason": "Overruling needs the compelling legitimate grounds."})
    objection.decision, objection.reason = decision, reason
    objection.decided_at, objection.decided_by = timezone.now(), actor
    history_save(objection, actor=actor)
    # Upheld, the purpose stays stopped; overruled, it serves again: either way retention follows.
    _grounds_changed(objection.subject_id, objection.purpose_id)
    return objection


@transaction.atomic
def subject_personal_data_rectify(*, subject: DataSubject, personal: PersonalData, actor=None) -> list[str]:
    """Correct the subject's personal fields (Art. 16); returns the names of those changed.

    Empty fields of ``personal`` keep the value on file. The new values are sealed under the
    subject key like the old ones, so history keeps only ciphertext of both.
    """
    subject = DataSubject.objects.select_for_update().get(pk=subject.pk)
    current = personal_data_read(subject)
    corrected = personal.normalised()
    merged = PersonalData(
        full_name=corrected.full_name or current.full_name,
        phone=corrected.phone or current.phone,
        email=corrected.email or current.email,
    )
    changed = [
        name for name in ("full_name", "phone", "email") if getattr(merged, name) != getattr(current, name)
    ]
    if changed:
        personal_data_seal(subject, merged, subject_key(subject))
        history_save(subject, actor=actor)
    return changed
