"""The staff roles as Django groups and their model permissions.

Model permissions say what kind of user someone is; which objects they may touch is decided by
guardian grants and the selectors. Nobody but a superuser holds delete permissions: records are
closed, withdrawn or shredded through services, never silently deleted.
"""

from __future__ import annotations

DPO = "DPO"
PRIVACY_ANALYST = "Privacy analyst"
QA_LEAD = "QA lead"
AUDITOR = "Auditor"
# Edits and publishes the scorecards QA leads evaluate with (the DPO may too).
QA_ADMINISTRATOR = "QA administrator"
# A machine account per telephony system: pushes recordings, reads nothing back.
TELEPHONY_INTEGRATION = "Telephony integration"

_VIEW_RECORDINGS_APP = [
    "recordings.view_datasubject",
    "recordings.view_objection",
    "recordings.view_recipient",
    "recordings.view_share",
    "recordings.view_queue",
    "recordings.view_purpose",
    "recordings.view_recordingnotice",
    "recordings.view_legitimateinterestassessment",
    "recordings.view_recording",
    "recordings.view_consent",
    "recordings.view_subjectrestriction",
]
_VIEW_RETENTION_APP = [
    "retention.view_dispositionapproval",
    "retention.view_pendingdisposition",
    "retention.view_restrictedpastretention",
    "retention.view_retentionpolicy",
    "retention.view_legalhold",
    "retention.view_sweeprun",
    "retention.view_deletionrecord",
    "retention.view_helderasure",
    "retention.view_subjectdeletionrecord",
    "retention.view_keepuntilrecomputation",
]
_EDIT_SCORECARDS = [
    "reviews.view_scorecard",
    "reviews.add_scorecard",
    "reviews.change_scorecard",
    "reviews.view_scorecardversion",
    "reviews.add_scorecardversion",
    "reviews.change_scorecardversion",
    "reviews.publish_scorecardversion",
    "reviews.view_scorecardsection",
    "reviews.add_scorecardsection",
    "reviews.change_scorecardsection",
    "reviews.view_scorecardquestion",
    "reviews.add_scorecardquestion",
    "reviews.change_scorecardquestion",
]
_VIEW_REVIEWS_APP = [
    "reviews.view_scorecard",
    "reviews.view_scorecardversion",
    "reviews.view_scorecardsection",
    "reviews.view_scorecardquestion",
    "reviews.view_evaluation",
    "reviews.view_all_evaluations",
    "reviews.view_calibrationsession",
    "reviews.view_timelinecomment",
    "reviews.view_agentsupervision",
    "reviews.view_evaluationtombstone",
]
_VIEW_DSR_APP = [
    "dsr.view_datasubjectrequest",
    "dsr.view_recipientnotification",
    "dsr.view_requestnote",
    "dsr.view_deadlinereminder",
]

ROLE_PERMISSIONS: dict[str, list[str]] = {
    DPO: [
        *_VIEW_RECORDINGS_APP,
        *_VIEW_REVIEWS_APP,
        *_EDIT_SCORECARDS,
        "reviews.add_agentsupervision",
        "reviews.change_agentsupervision",
        *_VIEW_RETENTION_APP,
        *_VIEW_DSR_APP,
        "recordings.view_all_recordings",
        "recordings.view_all_subjects",
        "audit.view_accessevent",
        "dsr.view_all_requests",
        "dsr.match_request",
        "recordings.play_recording",
        "recordings.play_unredacted",
        "recordings.mark_sensitive",
        "recordings.remove_sensitive_segment",
        "recordings.reattribute_recording",
        "recordings.change_datasubject",
        "recordings.add_datasubject",
        "recordings.add_queue",
        "recordings.change_queue",
        "recordings.add_purpose",
        "recordings.change_purpose",
        "recordings.add_recordingnotice",
        "recordings.change_recordingnotice",
        "recordings.add_legitimateinterestassessment",
        "recordings.change_legitimateinterestassessment",
        "recordings.add_recording",
        "recordings.change_recording",
        "recordings.add_consent",
        "recordings.change_consent",
        "recordings.withdraw_consent",
        "recordings.lift_restriction",
        "recordings.add_objection",
        "recordings.change_objection",
        "recordings.view_recordinguserobjectpermission",
        "recordings.add_recordinguserobjectpermission",
        "recordings.change_recordinguserobjectpermission",
        "retention.add_retentionpolicy",
        "retention.change_retentionpolicy",
        "retention.add_legalhold",
        "retention.change_legalhold",
        "retention.add_dispositionapproval",
        "dsr.add_datasubjectrequest",
        "dsr.change_datasubjectrequest",
        "dsr.add_requestnote",
        "dsr.change_recipientnotification",
        "recordings.add_recipient",
        "recordings.change_recipient",
        "recordings.share_recording",
        "recordings.add_share",
        "recordings.change_share",
        # Login attempts and lockouts (django-axes): staff accounts only, no data subject's data.
        "axes.view_accessattempt",
        "axes.view_accessfailurelog",
        "axes.view_accesslog",
    ],
    PRIVACY_ANALYST: [
        *_VIEW_DSR_APP,
        "recordings.view_datasubject",
        "recordings.view_consent",
        "recordings.view_purpose",
        "recordings.view_recordingnotice",
        "recordings.view_queue",
        "dsr.change_datasubjectrequest",
        "dsr.add_requestnote",
    ],
    QA_LEAD: [
        "recordings.view_recording",
        "recordings.play_recording",
        "recordings.mark_sensitive",
        "recordings.view_queue",
        "recordings.view_purpose",
        "reviews.view_scorecard",
        "reviews.view_scorecardversion",
        "reviews.view_evaluation",
        "reviews.add_evaluation",
        "reviews.change_evaluation",
        "reviews.view_timelinecomment",
        "reviews.add_timelinecomment",
        "reviews.view_calibrationsession",
        "reviews.add_calibrationsession",
        "reviews.calibrate",
        "reviews.acknowledge_evaluation",
    ],
    QA_ADMINISTRATOR: [
        *_EDIT_SCORECARDS,
        "recordings.view_queue",
    ],
    AUDITOR: [
        *_VIEW_RECORDINGS_APP,
        *_VIEW_REVIEWS_APP,
        *_VIEW_RETENTION_APP,
        *_VIEW_DSR_APP,
        "recordings.view_all_recordings",
        "recordings.view_all_subjects",
        "recordings.view_recordinguserobjectpermission",
        "audit.view_accessevent",
        "dsr.view_all_requests",
        "django_celery_beat.view_periodictask",
        "compliance_site.view_user",
    ],
    TELEPHONY_INTEGRATION: [
        "recordings.ingest_recording",
        "recordings.withdraw_consent",
        "dsr.add_datasubjectrequest",
    ],
}


def is_dpo(user) -> bool:
    """A DPO, or a superuser: who approves an erasure, retries a failed job and issues enrolment
    codes. One rule for every service that asks."""
    return bool(user.is_active and (user.is_superuser or user.groups.filter(name=DPO).exists()))
