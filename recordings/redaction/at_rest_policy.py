"""What redaction at rest silences (``CUSTOS_REDACT_AT_REST_KINDS``): the segment kinds, the rule
as the recording page and the access log state it, and a recording's segments still to silence.
The rewrite itself is ``recordings.redaction_at_rest``."""

from __future__ import annotations

from django.conf import settings
from django.db.models import QuerySet

from recordings.models import Recording, SensitiveKind, SensitiveSegment


def policy_kinds() -> tuple[str, ...]:
    return tuple(settings.CUSTOS_REDACT_AT_REST_KINDS)


def policy_rule() -> str:
    """The rule as the recording page and the access log name it."""
    labels = ", ".join(str(SensitiveKind(kind).label).lower() for kind in policy_kinds())
    return f"CUSTOS_REDACT_AT_REST_KINDS: {labels} segments are silenced in the stored audio"


def segments_to_redact(recording: Recording) -> QuerySet[SensitiveSegment]:
    """The recording's segments of the policy's kinds not yet silenced in its stored audio."""
    return recording.sensitive_segments.filter(kind__in=policy_kinds(), redacted_at_rest__isnull=True)
