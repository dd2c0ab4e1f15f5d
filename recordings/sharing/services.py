"""Sharing a recording with a recipient: only on a ground, only to a recipient allowed to receive,
through an expiring, revocable link that serves the audio with its sensitive segments muted.

The link's token is shown once to the DPO who creates the share; only its SHA-256 is stored. Every
fetch re-checks the share, the recording and the ground, so a withdrawal, a restriction or an
erasure stops it at once; those events also revoke the open shares on record.
"""

from __future__ import annotations

import datetime
import hashlib
import logging
import secrets

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from compliance_site.audit.models import AccessAction
from compliance_site.audit.services import access_event_record
from compliance_site.model_update import history_save
from recordings.models import Purpose, Recipient, Recording, Share
from recordings.selectors import recording_usable_for
from recordings.sharing.transfers import transfer_problem

logger = logging.getLogger(__name__)


def recipient_problem(recipient: Recipient) -> str | None:
    return transfer_problem(
        country=recipient.country,
        ground=recipient.transfer_ground,
        role=recipient.role,
        dpa_signed=recipient.dpa_signed,
    )


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def share_ground_problem(*, recording: Recording, ground: str, ground_note: str) -> str | None:
    """Why this recording may not be shared on this ground now, or None."""
    if recording.status != Recording.Status.ACTIVE:
        return (
            f"Recording {recording.reference} is {recording.get_status_display().lower()}: it is not shared."
        )
    if ground == Share.Ground.CONSENT:
        sharing = Purpose.objects.filter(code=Purpose.SHARING).first()
        if sharing is None or not recording_usable_for(recording, sharing):
            return (
                f"Recording {recording.reference} has no active consent for sharing with third parties; "
                "record another lawful ground (legal claim, legal obligation) to share it."
            )
        return None
    if ground not in Share.Ground.values:
        return f"Unknown ground {ground!r}."
    if not ground_note.strip():
        return "State the claim or the obligation: it is written on the share."
    return None


@transaction.atomic
def share_create(
    *,
    recording: Recording,
    recipient: Recipient,
    ground: str,
    ground_note: str = "",
    expires_at: datetime.datetime,
    actor,
) -> tuple[Share, str]:
    """Create a share; returns it and the link's token (shown once, never stored)."""
    recording = Recording.objects.select_for_update().get(pk=recording.pk)
    now = timezone.now()
    problems = {}
    if problem := recipient_problem(recipient):
        problems["recipient"] = problem
    if problem := share_ground_problem(recording=recording, ground=ground, ground_note=ground_note):
        problems["ground"] = problem
    longest = now + datetime.timedelta(days=settings.SHARE_MAX_DAYS)
    if expires_at <= now:
        problems["expires_at"] = "A share must expire in the future."
    elif expires_at > longest:
        problems["expires_at"] = f"A share lasts at most {settings.SHARE_MAX_DAYS} days."
    if problems:
        raise ValidationError(problems)
    token = secrets.token_urlsafe(32)
    share = Share(
        recording=recording,
        recipient=recipient,
        ground=ground,
        ground_note=ground_note.strip(),
        token_hash=token_hash(token),
        created_by=actor,
        created_at=now,
        expires_at=expires_at,
    )
    history_save(share, actor=actor)
    access_event_record(
        action=AccessAction.SHARE,
        object_type="recording",
        object_id=recording.pk,
        object_reference=recording.reference,
        actor=actor,
        detail={
            "share": share.pk,
            "recipient": recipient.pk,
            "ground": ground,
            "expires_at": expires_at.isoformat(),
        },
    )
    return share, token


@transaction.atomic
def share_revoke(*, share: Share, reason: str, actor=None) -> Share:
    share = Share.objects.select_for_update().get(pk=share.pk)
    if share.revoked_at is not None:
        return share
    share.revoked_at, share.revoked_reason = timezone.now(), reason[:200] or "revoked"
    history_save(share, actor=actor, update_fields=["revoked_at", "revoked_reason"])
    access_event_record(
        action=AccessAction.SHARE_REVOKED,
        object_type="recording",
        object_id=share.recording_id,
        actor=actor,
        detail={"share": share.pk, "recipient": share.recipient_id, "reason": share.revoked_reason},
    )
    return share


def shares_revoke_for(
    *, recordings: list[Recording] | list[int], reason: str, only_consent: bool = False, actor=None
) -> int:
    """Revoke the open shares of these recordings, or recordings by id (all their shares, or only
    those resting on consent)."""
    shares = Share.objects.filter(recording__any_of=recordings, revoked_at__isnull=True)
    if only_consent:
        shares = shares.filter(ground=Share.Ground.CONSENT)
    revoked = 0
    for share in shares.order_by("pk"):
        share_revoke(share=share, reason=reason, actor=actor)
        revoked += 1
    return revoked


def shares_revoke_unlawful(*, recordings: list[Recording]) -> int:
    """After a consent changed: revoke the consent-based shares that lost their ground."""
    sharing = Purpose.objects.filter(code=Purpose.SHARING).first()
    lost = [r for r in recordings if sharing is None or not recording_usable_for(r, sharing)]
    return shares_revoke_for(recordings=lost, reason="consent to sharing withdrawn", only_consent=True)


def share_for_token(token: str, now: datetime.datetime | None = None) -> Share | None:
    """The open share this token opens, with its recording still shareable; None otherwise."""
    return share_for_token_hash(token_hash(token), now)


def share_for_token_hash(hashed: str, now: datetime.datetime | None = None) -> Share | None:
    """``share_for_token`` for a token known by its hash (a recipient's pass holds the hash)."""
    now = now or timezone.now()
    share = Share.objects.select_related("recording", "recipient").filter(token_hash=hashed).first()
    if share is None or not share.is_open(now):
        return None
    if recipient_problem(share.recipient):
        return None
    if share_ground_problem(recording=share.recording, ground=share.ground, ground_note=share.ground_note):
        return None
    return share
