"""The recordings app's tables, one module per concept; every model is importable from here.

``subjects`` (data subjects, queues, purposes, recipients, notices, legitimate-interest
assessments), ``calls`` (recordings, sensitive segments, transcripts), ``consents`` (consents,
objections), ``restrictions`` (restrictions of processing, Art. 18), ``sharing`` (shares),
``keys`` (the vault's wrapped keys), ``playback`` (playback sessions), ``renditions`` (muted
renditions of compressed audio), ``redactions`` (redactions at rest), ``grants`` (guardian's
object-permission tables). Invariants the database can hold are constraints here; rules that
need the clock or other rows live in selectors and services.
"""

from recordings.models.calls import (
    Recording,
    RecordingDirection,
    RecordingStatus,
    SensitiveKind,
    SensitiveSegment,
    Transcript,
)
from recordings.models.consents import (
    Consent,
    ConsentDecision,
    ConsentMethod,
    Objection,
    ObjectionDecision,
)
from recordings.models.grants import (
    AdHocGrantFields,
    DataSubjectGroupObjectPermission,
    DataSubjectUserObjectPermission,
    QueueGroupObjectPermission,
    QueueUserObjectPermission,
    RecordingGroupObjectPermission,
    RecordingUserObjectPermission,
)
from recordings.models.keys import (
    MasterKeyVersionRetirement,
    RecordingKey,
    SubjectKey,
)
from recordings.models.playback import (
    PlaybackSession,
)
from recordings.models.redactions import (
    AtRestRedaction,
    AtRestRedactionStatus,
)
from recordings.models.renditions import (
    MutedRendition,
    RenditionStatus,
)
from recordings.models.restrictions import (
    RestrictionGround,
    SubjectRestriction,
)
from recordings.models.sharing import (
    Share,
    ShareGround,
)
from recordings.models.subjects import (
    DataSubject,
    LawfulBasis,
    LegitimateInterestAssessment,
    Purpose,
    Queue,
    Recipient,
    RecordingNotice,
)

__all__ = [
    "AdHocGrantFields",
    "AtRestRedaction",
    "AtRestRedactionStatus",
    "Consent",
    "ConsentDecision",
    "ConsentMethod",
    "DataSubject",
    "DataSubjectGroupObjectPermission",
    "DataSubjectUserObjectPermission",
    "LawfulBasis",
    "LegitimateInterestAssessment",
    "MasterKeyVersionRetirement",
    "MutedRendition",
    "Objection",
    "ObjectionDecision",
    "PlaybackSession",
    "Purpose",
    "Queue",
    "QueueGroupObjectPermission",
    "QueueUserObjectPermission",
    "Recipient",
    "Recording",
    "RecordingDirection",
    "RecordingGroupObjectPermission",
    "RecordingKey",
    "RecordingNotice",
    "RecordingStatus",
    "RecordingUserObjectPermission",
    "RenditionStatus",
    "RestrictionGround",
    "SensitiveKind",
    "SensitiveSegment",
    "Share",
    "ShareGround",
    "SubjectKey",
    "SubjectRestriction",
    "Transcript",
]
