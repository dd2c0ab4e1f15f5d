"""The retention benchmark's dataset (``benchmarks/retention.py``): its layout and its SQL.

Plain data and SQL text, importable before Django is set up; ``benchmarks/retention_measure.py``
runs the statements. Everything is synthetic and holds no personal data: subjects are bare
pseudonymous references with empty personal fields, the "wrapped keys" are hashes (the sweep only
empties them), and the blobs are random bytes, not ciphertext (the sweep deletes them unread).
"""

from __future__ import annotations

from dataclasses import dataclass

BLOB_BYTES = 64 * 1024
KEEP_DAYS = 365  # the quality-assurance policy of the generated data
SUBJECT_EVERY = 5  # one subject per 5 recordings
QUEUES = 20
BENCH_USER = "bench-retention-dpo"

# Each generated recording falls in one of these; only "expired" is for the sweep to delete.
#   expired  keep-until passed (1 to 365 days ago), no hold, no review: deleted
#   held     keep-until passed, but its subject is under an active legal hold: kept
#   review   keep-until passed, but one purpose asks for a DPO's disposition review: kept
#   live     keep-until in the future (1 to 365 days ahead): kept
HELD_SHARE = 0.01
REVIEW_SHARE = 0.01
LIVE_SHARE = 0.10
HELD_RECORDINGS_PER_SUBJECT = 5
RELEASED_HOLD_SHARE = 0.002  # released holds on subjects of deletable recordings: they hold nothing


@dataclass(frozen=True)
class Layout:
    """How many recordings of each kind a dataset of ``expired`` deletable recordings holds."""

    expired: int

    @property
    def held(self) -> int:
        return max(1, int(self.expired * HELD_SHARE))

    @property
    def review(self) -> int:
        return max(1, int(self.expired * REVIEW_SHARE))

    @property
    def live(self) -> int:
        return max(1, int(self.expired * LIVE_SHARE))

    @property
    def kept(self) -> int:
        return self.held + self.review + self.live

    @property
    def total(self) -> int:
        return self.expired + self.kept

    @property
    def subjects(self) -> int:
        """Subjects of the expired, review and live recordings (shared, one per 5 calls)."""
        return -(-(self.expired + self.review + self.live) // SUBJECT_EVERY)

    @property
    def held_subjects(self) -> int:
        return -(-self.held // HELD_RECORDINGS_PER_SUBJECT)

    @property
    def released_holds(self) -> int:
        return max(1, int(self.expired * RELEASED_HOLD_SHARE))


# Rebuilt from nothing before each timed run: everything the sweep reads or writes.
TRUNCATED_TABLES = (
    "recordings_recording",
    "recordings_datasubject",
    "recordings_queue",
    "recordings_purpose",
    "recordings_accessevent",
    "recordings_auditchainhead",
    "retention_deletionrecord",
    "retention_sweeprun",
    "recordings_historicalrecording",
    "recordings_historicalrecording_purposes",
    "recordings_historicaldatasubject",
    "recordings_historicalqueue",
    "recordings_historicalpurpose",
    "retention_historicaldeletionrecord",
    "retention_historicalsweeprun",
    "retention_historicallegalhold",
    "retention_historicalretentionpolicy",
)

VACUUMED_TABLES = (
    "recordings_recording",
    "recordings_recording_purposes",
    "recordings_recordingkey",
    "recordings_datasubject",
    "recordings_subjectkey",
    "recordings_purpose",
    "retention_retentionpolicy",
    "retention_legalhold",
    "retention_deletionrecord",
)

PURPOSES_SQL = """
INSERT INTO recordings_purpose (code, name, description) VALUES
    ('quality_assurance', 'Quality assurance', 'Reviewing calls to coach agents.'),
    ('disputes', 'Dispute handling', 'Evidence for complaints and contract disputes.')
"""

POLICIES_SQL = """
INSERT INTO retention_retentionpolicy (keep_days, disposition_review, legal_reference, updated_at, purpose_id)
SELECT CASE code WHEN 'quality_assurance' THEN %(keep_days)s ELSE 730 END,
       code = 'disputes', 'Benchmark policy', %(now)s, id
FROM recordings_purpose
"""

QUEUES_SQL = """
INSERT INTO recordings_queue (code, name, description, created_at)
SELECT 'ret-queue-' || lpad(q::text, 2, '0'), 'Queue ' || q, '', %(now)s - interval '5 years'
FROM generate_series(1, %(queues)s) AS q
"""

SUBJECT_KEYS_SQL = """
INSERT INTO recordings_subjectkey (master_version, wrapped_key, created_at, subject_id)
SELECT 'bench-v1', decode(md5('s' || id) || md5('S' || id), 'hex'), created_at, id
FROM recordings_datasubject
"""

# One INSERT per kind; ``keep_until`` is ``now`` minus (or plus) 1 to 365 days, the call a year
# (the policy's keep_days) before it. Blob names follow ``audio_blob_name``: audio/YYYY/MM/<hex>.
RECORDINGS_SQL = """
INSERT INTO recordings_recording (
    reference, direction, started_at, ended_at, lawful_basis, status, storage_ref, size_bytes,
    content_type, checksum_sha256, keep_until, created_at, agent_id,
    legitimate_interest_assessment_id, queue_id, subject_id
)
SELECT
    'RET-' || %(kind)s || '-' || lpad(g::text, 7, '0'),
    CASE WHEN g %% 5 = 0 THEN 'outbound' ELSE 'inbound' END,
    t.keep_until - make_interval(days => %(keep_days)s),
    t.keep_until - make_interval(days => %(keep_days)s) + interval '4 minutes',
    (ARRAY['contract', 'consent', 'legal_obligation'])[1 + g %% 3],
    'active',
    'audio/' || to_char(t.keep_until - make_interval(days => %(keep_days)s), 'YYYY/MM') || '/'
        || md5(%(kind)s || g) || '.wav.tink',
    %(blob_bytes)s,
    'audio/wav',
    md5(%(kind)s || g) || md5(g || %(kind)s),
    t.keep_until,
    t.keep_until - make_interval(days => %(keep_days)s) + interval '6 minutes',
    NULL,
    NULL,
    %(first_queue)s + g %% %(queues)s,
    %(first_subject)s + (g - 1) / %(per_subject)s
FROM generate_series(1, %(rows)s) AS g
CROSS JOIN LATERAL (
    SELECT %(now)s + %(sign)s * make_interval(
        days => 1 + (364 * g::float8 / %(rows)s)::int, secs => (g::bigint * 7919) %% 86400
    ) AS keep_until
) AS t
"""

RECORDING_KEYS_SQL = """
INSERT INTO recordings_recordingkey (wrapped_key, created_at, recording_id)
SELECT decode(md5('k' || id) || md5('K' || id) || md5('w' || id), 'hex'), created_at, id
FROM recordings_recording
"""

RECORDING_PURPOSES_SQL = """
INSERT INTO recordings_recording_purposes (recording_id, purpose_id)
SELECT r.id, p.id FROM recordings_recording r, recordings_purpose p
WHERE p.code = 'quality_assurance' OR (p.code = 'disputes' AND r.reference LIKE 'RET-review-%%')
"""

USER_SQL = """
INSERT INTO custos_user (password, last_login, is_superuser, username, first_name, last_name,
                         email, is_staff, is_active, date_joined)
VALUES ('!', NULL, false, %(username)s, '', '', '', true, true, %(now)s - interval '5 years')
ON CONFLICT (username) DO NOTHING
"""

HOLDS_SQL = """
INSERT INTO retention_legalhold (scope, case_reference, reason, placed_at, released_at,
                                 release_reason, placed_by_id, released_by_id, subject_id)
SELECT 'subject', 'CASE-' || s.id, 'Benchmark: litigation', %(now)s - interval '400 days', NULL, '',
       u.id, NULL, s.id
FROM recordings_datasubject s, custos_user u
WHERE s.id > %(last_regular_subject)s AND u.username = %(username)s
UNION ALL
SELECT 'subject', 'CASE-OLD-' || s.id, 'Benchmark: settled', %(now)s - interval '800 days',
       %(now)s - interval '500 days', 'Settled.', u.id, u.id, s.id
FROM recordings_datasubject s, custos_user u
WHERE s.id <= %(released)s AND u.username = %(username)s
"""

# What the sweep may delete, in plain SQL (retention.selectors.recordings_past_retention):
# not erased, keep-until passed, no active hold on the recording, its subject or its queue, no
# purpose whose policy asks for a disposition review.
DOOMED_SQL = """
CREATE TEMPORARY TABLE bench_doomed ON COMMIT DROP AS
SELECT r.id, r.storage_ref FROM recordings_recording r
WHERE r.status <> 'erased' AND r.keep_until < %(now)s
  AND NOT EXISTS (
      SELECT 1 FROM retention_legalhold h
      WHERE h.released_at IS NULL
        AND (h.recording_id = r.id OR h.subject_id = r.subject_id OR h.queue_id = r.queue_id))
  AND NOT EXISTS (
      SELECT 1 FROM recordings_recording_purposes rp
      JOIN retention_retentionpolicy p ON p.purpose_id = rp.purpose_id
      WHERE rp.recording_id = r.id AND p.disposition_review)
"""

# The rows that point at a recording go first (the foreign keys are checked at commit anyway).
BASELINE_DELETES = (
    "DELETE FROM recordings_recording_purposes t USING bench_doomed d WHERE t.recording_id = d.id",
    "DELETE FROM recordings_recordingkey t USING bench_doomed d WHERE t.recording_id = d.id",
    "DELETE FROM recordings_recording t USING bench_doomed d WHERE t.id = d.id",
)


REQUEST_TYPES = (
    "access",
    "erasure",
    "objection",
    "rectification",
    "restriction",
    "portability",
    "consent_withdrawal",
)
CHANNELS = ("phone", "email", "letter", "web", "api")
OPEN_STATUSES = ("new", "identity_pending", "in_progress", "awaiting_approval")
CLOSED_STATUSES = ("completed", "completed", "completed", "refused", "withdrawn")

DSR_TRUNCATED_TABLES = (
    "dsr_datasubjectrequest",
    "dsr_deadlinereminder",
    "dsr_historicaldatasubjectrequest",
    "dsr_historicaldeadlinereminder",
)

# Closed requests: received over the ten years before the open ones, answered within the month
# (a few after an extension). Open requests: due between 60 days ago and 60 days ahead (received
# 30 days before), a tenth extended by 60 days; most assigned to one of the DPOs, some not yet.
REQUESTS_SQL = """
INSERT INTO dsr_datasubjectrequest (
    reference, request_type, channel, received_at, due_at, extended_until, extension_reason,
    identity_method, identity_note, identity_verified_at, status, outcome, refusal_ground,
    closed_at, created_at, assignee_id, identity_verified_by_id, subject_id, approved_at,
    approved_by_id, executed_at, exemption, language, prepared_by_id
)
SELECT
    'DSR-' || to_char(t.received_at, 'YYYY') || '-'
        || lpad((row_number() OVER (PARTITION BY to_char(t.received_at, 'YYYY') ORDER BY g))::text, 6, '0'),
    (%(types)s::text[])[1 + g %% cardinality(%(types)s::text[])],
    (%(channels)s::text[])[1 + g %% cardinality(%(channels)s::text[])],
    t.received_at,
    t.received_at + interval '30 days',
    CASE WHEN t.extended THEN t.received_at + interval '90 days' END,
    CASE WHEN t.extended THEN 'Complex request (Art. 12(3)).' ELSE '' END,
    '', '', NULL,
    t.status,
    '',
    CASE WHEN t.status = 'refused' THEN 'manifestly_unfounded' ELSE '' END,
    CASE WHEN t.open THEN NULL ELSE t.received_at + interval '20 days' END,
    t.received_at,
    CASE WHEN g %% 10 = 0 THEN NULL ELSE (%(dpos)s::bigint[])[1 + g %% cardinality(%(dpos)s::bigint[])] END,
    NULL, NULL, NULL, NULL, NULL, '', 'en', NULL
FROM generate_series(1, %(rows)s) AS g
CROSS JOIN LATERAL (
    SELECT g > %(closed)s AS open, g %% 10 = 3 AS extended
) AS o
CROSS JOIN LATERAL (
    SELECT
        o.open,
        o.extended AND o.open AS extended,
        CASE WHEN o.open
             THEN %(now)s - interval '30 days' - interval '60 days'
                  + interval '120 days' * ((g - %(closed)s)::float8 / %(open)s)
             ELSE %(now)s - interval '91 days' - interval '3650 days' * (1 - g::float8 / %(closed)s)
        END AS received_at,
        CASE WHEN o.open
             THEN (%(open_statuses)s::text[])[1 + g %% 4]
             ELSE (%(closed_statuses)s::text[])[1 + g %% 5]
        END AS status
) AS t
"""

DPO_USERS_SQL = """
INSERT INTO custos_user (password, last_login, is_superuser, username, first_name, last_name,
                         email, is_staff, is_active, date_joined)
SELECT '!', NULL, false, u, '', '', u || '@example.invalid', true, true, now() - interval '5 years'
FROM unnest(%(usernames)s::text[]) AS u
ON CONFLICT (username) DO NOTHING
"""

DPO_GROUPS_SQL = """
INSERT INTO custos_user_groups (user_id, group_id)
SELECT u.id, g.id FROM custos_user u, auth_group g
WHERE u.username = ANY(%(usernames)s::text[]) AND g.name = %(group)s
ON CONFLICT DO NOTHING
"""
