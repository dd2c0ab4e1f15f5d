"""Unredacted playback: a holder of ``play_unredacted`` hears the sensitive segments only with a
reason given each time.

The admin's "Play unredacted" page asks for the reason and gives its player a signed token bound
to the user, the recording and that reason, valid for ``TOKEN_MAX_AGE``. The audio endpoint serves
unredacted audio only for a valid token of the user asking, for that recording, while they still
hold the permission; every such request is an ``unredacted`` access event carrying the reason.
Any other token (forged, expired, another user's or another recording's) is refused with 403:
asking for unredacted audio never quietly falls back to something else.

The token is signed, not encrypted: the reason travels in the player's address, so it is a case
or ticket reference and never personal data (the form says so).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

from django.core import signing

from compliance_site.audit.models import AccessAction, AccessEvent
from compliance_site.audit.services import access_event_record
from recordings.models import Recording

PERMISSION = "recordings.play_unredacted"
TOKEN_MAX_AGE = timedelta(minutes=30)
# As for the unredacted transcript: a reference and a few words, not an essay.
REASON_MIN_LENGTH, REASON_MAX_LENGTH = 10, 500
REFUSED_MESSAGE = (
    "This unredacted-playback link is not valid for you (expired, altered, or issued to someone "
    "else or for another recording); open 'Play unredacted' again and give the reason."
)
_SIGNING_NAMESPACE = "custos.recordings.playback.unredacted"


@dataclass(frozen=True)
class UnredactedGrant:
    """One reason given for one recording: what a valid token says."""

    reason: str
    grant_id: str


def unredacted_token(*, user, recording: Recording, reason: str) -> str:
    """A token for one unredacted player: this user, this recording, this reason."""
    reason = reason.strip()
    if not reason:
        raise ValueError("unredacted playback needs a reason")
    payload = {"u": user.pk, "r": recording.pk, "why": reason[:REASON_MAX_LENGTH], "g": uuid.uuid4().hex}
    return signing.dumps(payload, salt=_SIGNING_NAMESPACE)


def unredacted_grant(token: str, *, user, recording: Recording) -> UnredactedGrant | None:
    """The grant in ``token`` if it is ours, unexpired, for this user and recording, and the user
    holds ``play_unredacted`` now; otherwise None."""
    if not token or not user.has_perm(PERMISSION):
        return None
    try:
        payload = signing.loads(token, salt=_SIGNING_NAMESPACE, max_age=TOKEN_MAX_AGE)
        if payload["u"] != user.pk or payload["r"] != recording.pk:
            return None
        reason, grant_id = payload["why"], payload["g"]
    except (signing.BadSignature, KeyError, TypeError):
        return None
    if not isinstance(reason, str) or not reason.strip() or not isinstance(grant_id, str):
        return None
    return UnredactedGrant(reason=reason, grant_id=grant_id)


def unredacted_playback_record(
    *, grant: UnredactedGrant, user, recording: Recording, byte_range: tuple[int, int] | None, client_ip
) -> AccessEvent:
    """The ``unredacted`` access event of one request served unredacted, before any byte of it."""
    return access_event_record(
        action=AccessAction.UNREDACTED,
        object_type="recording",
        object_id=recording.pk,
        object_reference=recording.reference,
        actor=user,
        detail={
            "what": "audio",
            "reason": grant.reason,
            "grant": grant.grant_id,
            "range": list(byte_range) if byte_range else None,
        },
        client_ip=client_ip,
    )
