"""One access event per playback, carrying the byte ranges the player asked for and the time
ranges it played.

The admin page hands its player a signed playback token (user, recording, a random playback id)
and loads no audio until the person presses play (``preload="none"``): opening the page is a view,
never a playback. Every Range request made with the token joins one ``PlaybackSession``; while it
plays, and when it pauses or ends, the player reports the time ranges it played
(``playback_heard_record``, from ``custos/player.js``), which also keeps a long listen from being
sealed half-way. ``playbacks_seal_idle`` (run by beat every minute) turns each session idle for
``PLAYBACK_IDLE_SECONDS`` into one chained ``play`` event. A request without a valid token (a
direct link, a script) is a playback of its own and is logged at once.
"""

from __future__ import annotations

import math
import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.core import signing
from django.db import IntegrityError, transaction
from django.utils import timezone

from compliance_site.audit.models import AccessAction, AccessEvent
from compliance_site.audit.services import access_event_record
from recordings.models import PlaybackSession, Recording

_SIGNING_NAMESPACE = "custos.recordings.playback.audio"
# A page left open longer than this starts a new playback on its next request.
TOKEN_MAX_AGE = timedelta(hours=12)
# Past this many separate ranges a session keeps only their span, so a row stays small.
MAX_RANGES = 200


def playback_token(*, user, recording: Recording) -> str:
    """A token for one player on one page: it binds the playback to this user and recording."""
    return signing.dumps({"u": user.pk, "r": recording.pk, "p": uuid.uuid4().hex}, salt=_SIGNING_NAMESPACE)


def _playback_id(token: str, *, user, recording: Recording) -> uuid.UUID | None:
    """The playback id in ``token`` if it is ours, unexpired, and for this user and recording."""
    if not token:
        return None
    try:
        payload = signing.loads(token, salt=_SIGNING_NAMESPACE, max_age=TOKEN_MAX_AGE)
        if payload["u"] != user.pk or payload["r"] != recording.pk:
            return None
        return uuid.UUID(hex=payload["p"])
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        return None


def ranges_merge(ranges: list[list[int]], new: list[int]) -> list[list[int]]:
    """``ranges`` plus ``new``, sorted, overlapping or adjacent ranges joined."""
    merged: list[list[int]] = []
    for first, last in sorted([*ranges, new]):
        if merged and first <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], last)
        else:
            merged.append([first, last])
    if len(merged) > MAX_RANGES:
        merged = [[merged[0][0], max(last for _, last in merged)]]
    return merged


# Gaps shorter than this between two played ranges are joined (a seek by a hair, rounding).
_HEARD_JOIN_SECONDS = 0.5
# A player may report a little past the call's end (container and clock rounding).
_HEARD_SLACK_SECONDS = 5.0


class HeardRangesInvalid(ValueError):
    """A player's report of played time ranges that cannot be one."""


def heard_ranges_clean(raw: object, *, duration_seconds: float) -> list[list[float]]:
    """The played ranges a player reported, checked: a list of at most ``MAX_RANGES`` pairs of
    finite seconds within the call, each from <= to; rounded to a tenth of a second."""
    if not isinstance(raw, list) or len(raw) > MAX_RANGES:
        raise HeardRangesInvalid(f"Expected a list of at most {MAX_RANGES} [from, to] pairs.")
    limit = duration_seconds + _HEARD_SLACK_SECONDS
    cleaned = []
    for pair in raw:
        if not (isinstance(pair, list) and len(pair) == 2):
            raise HeardRangesInvalid("Each range is a [from, to] pair of seconds.")
        start, end = pair
        if not all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in pair):
            raise HeardRangesInvalid("Each range is a [from, to] pair of seconds.")
        if not 0 <= start <= end <= limit:
            raise HeardRangesInvalid("A range lies outside the call.")
        cleaned.append([round(start, 1), round(end, 1)])
    return cleaned


def heard_merge(heard: list[list[float]], new: list[list[float]]) -> list[list[float]]:
    """``heard`` plus ``new``, sorted, overlapping or nearly touching ranges joined."""
    merged: list[list[float]] = []
    for start, end in sorted([*heard, *new]):
        if merged and start <= merged[-1][1] + _HEARD_JOIN_SECONDS:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    if len(merged) > MAX_RANGES:
        merged = [[merged[0][0], max(end for _, end in merged)]]
    return merged


def playback_heard_record(*, token: str, user, recording: Recording, heard: list[list[float]]) -> bool:
    """Add what the player reports it played to its open playback; False when there is none to
    add to (a forged or foreign token, or nothing was served with it: a report alone is never a
    playback). A report counts as activity: a long listen is not sealed while it plays."""
    playback_id = _playback_id(token, user=user, recording=recording)
    if playback_id is None:
        return False
    with transaction.atomic():
        session = (
            PlaybackSession.objects.select_for_update()
            .filter(playback_id=playback_id, event__isnull=True, actor=user, recording=recording)
            .first()
        )
        if session is None:
            return False
        session.heard = heard_merge(session.heard, heard)
        session.last_request_at = timezone.now()
        session.save(update_fields=["heard", "last_request_at"])
    return True


def _event_for(*, recording_id: int, reference: str, actor, purpose: str, client_ip, detail) -> AccessEvent:
    return access_event_record(
        action=AccessAction.PLAY,
        object_type="recording",
        object_id=recording_id,
        object_reference=reference,
        actor=actor,
        purpose=purpose,
        detail=detail,
        client_ip=client_ip,
    )


def playback_request_record(
    *,
    token: str,
    user,
    recording: Recording,
    byte_range: tuple[int, int] | None,
    purpose: str,
    client_ip: str | None,
) -> None:
    """Log one audio request before any byte of it is sent.

    ``byte_range`` is the (first, last) byte served, None for an empty recording.
    """
    requested = [list(byte_range)] if byte_range else []
    playback_id = _playback_id(token, user=user, recording=recording)
    if playback_id is None:
        _event_for(
            recording_id=recording.pk,
            reference=recording.reference,
            actor=user,
            purpose=purpose,
            client_ip=client_ip,
            detail={"playback": None, "ranges": requested, "requests": 1},
        )
        return
    now = timezone.now()
    for _ in range(2):  # a concurrent first request may create the session under us: join it
        try:
            with transaction.atomic():
                session = (
                    PlaybackSession.objects.select_for_update()
                    .filter(playback_id=playback_id, event__isnull=True)
                    .first()
                )
                if session is None:
                    session = PlaybackSession(
                        playback_id=playback_id,
                        recording=recording,
                        actor=user,
                        purpose=purpose,
                        client_ip=client_ip,
                        started_at=now,
                    )
                for served in requested:
                    session.ranges = ranges_merge(session.ranges, served)
                session.requests += 1
                session.last_request_at = now
                session.save()
                return
        except IntegrityError:
            continue
    raise RuntimeError("Could not record the playback request.")


def playbacks_seal_idle(*, now: datetime | None = None, idle_seconds: int | None = None) -> int:
    """Write one ``play`` event for each playback idle long enough; returns how many.

    Sessions are claimed with ``skip_locked``, one transaction each, so two workers never seal
    the same playback and a crash leaves unsealed sessions for the next run.
    """
    now = now or timezone.now()
    idle = timedelta(seconds=settings.PLAYBACK_IDLE_SECONDS if idle_seconds is None else idle_seconds)
    sealed = 0
    while True:
        with transaction.atomic():
            session = (
                PlaybackSession.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("recording", "actor")
                .filter(event__isnull=True, last_request_at__lte=now - idle)
                .order_by("last_request_at")
                .first()
            )
            if session is None:
                return sealed
            session.event = _event_for(
                recording_id=session.recording_id,
                reference=session.recording.reference,
                actor=session.actor,
                purpose=session.purpose,
                client_ip=session.client_ip,
                detail={
                    "playback": str(session.playback_id),
                    "ranges": session.ranges,
                    "heard_seconds": session.heard,
                    "requests": session.requests,
                    "started_at": session.started_at.isoformat(),
                    "last_request_at": session.last_request_at.isoformat(),
                },
            )
            session.save(update_fields=["event"])
            sealed += 1
