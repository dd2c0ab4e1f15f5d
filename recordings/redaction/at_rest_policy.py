"""What redaction at rest silences (``CUSTOS_REDACT_AT_REST_KINDS``): the segment kinds, the rule
as the recording page and the access log state it, and a recording's segments still to silence.
The rewrite itself is ``recordings.redaction_at_rest``."""

from __future__ import annotations

from django.conf import settings
from django.db.models import OuterRef, QuerySet

from recordings.models import Recording, SensitiveKind, SensitiveSegment
from recordings.selectors import segments_muted_when_played


def policy_kinds() -> tuple[str, ...]:
    return tuple(settings.CUSTOS_REDACT_AT_REST_KINDS)


def policy_rule() -> str:
    """The rule as the recording page and the access log name it."""
    labels = ", ".join(str(SensitiveKind(kind).label).lower() for kind in policy_kinds())
    return f"CUSTOS_REDACT_AT_REST_KINDS: {labels} segments are silenced in the stored audio"


def segments_to_redact(recording: Recording | OuterRef) -> QuerySet[SensitiveSegment]:
    """The recording's (with an OuterRef, each recording's) segments of the policy's kinds not yet
    silenced in its stored audio: what the request, the claim and beat all ask."""
    return segments_muted_when_played(recording).filter(kind__in=policy_kinds())
