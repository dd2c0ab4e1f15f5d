"""Benchmark databases: one PostgreSQL database per size, migrated and filled in plain SQL.

Rows are generated server-side with ``INSERT ... SELECT FROM generate_series`` so that a million
recordings take seconds rather than the ORM's minutes. A database that already holds the dataset
this module would generate (same version, same row count) is reused as it is, so reruns only pay
for ``migrate`` and ``ANALYZE``.

What a database holds, at every size: 50 queues (10 at 1k), one subject per 5 recordings, calls
spread over two years (a mix of lawful bases and directions, every one active) that all state
quality assurance, some also training or dispute handling; the consent ledger of the consent-basis calls
(mostly given, some refused in the call, withdrawn later or overtaken by a later refusal of all of
a subject's calls); an approved legitimate-interest assessment (approved by a generated DPO) for
the legitimate-interest calls, and objections to quality assurance, two in three upheld; 200 QA
leads, each granted review of 1 to 3 queues and a share of the ad-hoc recording grants (5 per 100
recordings: 50,000 at 1M), a quarter of them expired. So a QA lead sees only part of their
queues' calls, as the access rules of ``recordings.selectors`` say.

The data is synthetic and holds no personal data: subjects are bare pseudonymous references
(``BS-0000001``) with empty name, phone and e-mail.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from compliance_site.roles import DPO, QA_LEAD

ROOT = Path(__file__).resolve().parent.parent

# Bump when the generator changes, so that databases filled by an older generator are refilled.
DATASET_VERSION = 2
SUBJECTS_PER_RECORDING = 1 / 5
SPAN_DAYS = 730
# The organisation barely grows with the archive: 200 QA leads at every size, 50 queues from 5,000
# recordings up (fewer below, so that a QA lead's 2 queues still fill a first page at 1k).
QUEUE_COUNT = 50
MIN_QUEUE_COUNT = 10
RECORDINGS_PER_QUEUE_AT_LEAST = 100
QA_LEAD_COUNT = 200
# Ad-hoc grants do grow with it: 50,000 at 1M recordings (5,000 at 100k, 50 at 1k).
AD_HOC_GRANTS_PER_RECORDING = 0.05

# Shares of the generated data that decide what a QA lead may see (see lawful_for_purpose).
TRAINING_SHARE = 0.30  # recordings that state training as well as quality assurance
DISPUTES_SHARE = 0.03  # ... and dispute handling
CONSENT_REFUSED_SHARE = 0.02  # consent-basis calls where the caller said no to QA
CONSENT_WITHDRAWN_SHARE = 0.03  # ... said yes and withdrew it later
SUBJECT_LATER_REFUSAL_SHARE = 0.02  # subjects who later refused QA for all their calls
SUBJECT_BLANKET_CONSENT_SHARE = 0.01  # subjects who consented to QA for all calls (web form)
OBJECTION_SHARE = 0.03  # subjects with legitimate-interest calls who objected to QA
AD_HOC_EXPIRED_SHARE = 0.25
AD_HOC_OPEN_ENDED_SHARE = 0.15  # no expiry; the rest expire in the future

APPROVER_USERNAME = "bench-dpo"
QA_LEAD_USERNAME_FORMAT = "bench-qa-lead-{:03d}"

# Queues, subjects, recordings, assessments and notices plus everything that points at them
# (consents, objections, purposes stated, grants, holds, requests); CASCADE empties the referring
# tables of a previous, differently sized dataset. Purposes and users are upserted instead: the
# migrations and other tables may hold rows of their own there.
GENERATED_TABLES = (
    "recordings_recording",
    "recordings_datasubject",
    "recordings_queue",
    "recordings_legitimateinterestassessment",
    "recordings_recordingnotice",
)

# Tables whose statistics the pages' plans depend on, vacuumed and analysed after every fill.
ANALYZED_TABLES = (
    *GENERATED_TABLES,
    "recordings_recording_purposes",
    "recordings_consent",
    "recordings_objection",
    "recordings_purpose",
    "recordings_legitimateinterestassessment_purposes",
    "recordings_queueuserobjectpermission",
    "recordings_recordinguserobjectpermission",
    "custos_user",
    "custos_user_groups",
)

# (code, name, description). Quality assurance keeps the row the migrations or the DPO made, if
# any; the others are made when missing.
PURPOSES = (
    (
        "quality_assurance",
        "Quality assurance",
        "Reviewing calls to coach agents and improve service quality.",
    ),
    ("training", "Agent training", "Using calls as examples in agent training."),
    ("disputes", "Dispute handling", "Evidence for complaints and contract disputes."),
)

AD_HOC_REASONS = (
    "Customer complaint escalated to QA",
    "Calibration session across queues",
    "Agent covering for another team",
    "Coaching follow-up",
    "Second opinion requested by the team lead",
)


@dataclass(frozen=True)
class QaLead:
    """One generated QA lead: the queues granted (offsets into the generated queues) and the
    share of the ad-hoc grants, as a weight (1.0 is the average lead)."""

    number: int
    queues: tuple[int, ...]
    weight: float

    @property
    def username(self) -> str:
        return QA_LEAD_USERNAME_FORMAT.format(self.number)


def queue_count(size: int) -> int:
    """50 queues, 10 for a small archive (1k recordings)."""
    return max(MIN_QUEUE_COUNT, min(QUEUE_COUNT, size // RECORDINGS_PER_QUEUE_AT_LEAST))


def qa_leads(queues: int = QUEUE_COUNT) -> list[QaLead]:
    """The QA leads, the same at every size: lead 1 holds few ad-hoc grants (10 at 1M), lead 2
    many (1,000 at 1M), the others 100 to 400 (250 on average at 1M); each lead reviews 1 to 3
    of the ``queues`` queues (leads 1 and 2 two, like the typical lead), each of 50 queues has
    about 8 leads."""
    rest = QA_LEAD_COUNT - 2
    low, extremes = 0.4, (0.04, 4.0)
    high = 2 * (QA_LEAD_COUNT - sum(extremes)) / rest - low  # the weights average 1.0
    leads: list[QaLead] = []
    for number in range(1, QA_LEAD_COUNT + 1):
        if number <= 2:
            weight, queue_count = extremes[number - 1], 2
        else:
            weight = low + (high - low) * (number - 3) / (rest - 1)
            queue_count = 1 + number % 3
        first = (number * 7) % queues
        offsets = tuple((first + queues // 3 * k) % queues for k in range(queue_count))
        leads.append(QaLead(number=number, queues=offsets, weight=weight))
    return leads


def _typical_lead() -> QaLead:
    candidates = [lead for lead in qa_leads()[2:] if len(lead.queues) == 2]
    return min(candidates, key=lambda lead: (abs(lead.weight - 1.0), lead.number))


# The leads the benchmark logs in as: a typical one (2 queues, the average number of ad-hoc
# grants), and the ones with the fewest and the most grants.
TYPICAL_QA_LEAD = _typical_lead().username
FEW_GRANTS_QA_LEAD = QA_LEAD_USERNAME_FORMAT.format(1)
MANY_GRANTS_QA_LEAD = QA_LEAD_USERNAME_FORMAT.format(2)


def ad_hoc_grant_count(size: int) -> int:
    return round(size * AD_HOC_GRANTS_PER_RECORDING)


def grants_per_lead(size: int) -> list[int]:
    """Ad-hoc grants of each lead (in qa_leads() order), adding up to ad_hoc_grant_count(size)
    exactly (largest remainders)."""
    leads = qa_leads()
    total = ad_hoc_grant_count(size)
    weight_sum = sum(lead.weight for lead in leads)
    shares = [total * lead.weight / weight_sum for lead in leads]
    counts = [int(share) for share in shares]
    by_remainder = sorted(range(len(leads)), key=lambda i: (counts[i] - shares[i], i))
    for i in by_remainder[: total - sum(counts)]:
        counts[i] += 1
    return counts


PURPOSES_SQL = """
INSERT INTO recordings_purpose (code, name, description)
SELECT * FROM unnest(%(codes)s::text[], %(names)s::text[], %(descriptions)s::text[])
ON CONFLICT (code) DO NOTHING
"""

# Unusable passwords ("!" never matches a hash): the benchmark logs its users in directly.
USERS_SQL = """
INSERT INTO custos_user (password, last_login, is_superuser, username, first_name, last_name,
                         email, is_staff, is_active, date_joined)
SELECT '!', NULL, false, u, '', '', '', true, true, %(anchor)s - interval '800 days'
FROM unnest(%(usernames)s::text[]) AS u
ON CONFLICT (username) DO UPDATE SET is_superuser = false, is_staff = true, is_active = true
"""

# Each generated user in exactly one group: the approver in DPO, the leads in QA lead.
USER_GROUPS_CLEAR_SQL = """
DELETE FROM custos_user_groups g USING custos_user u
WHERE g.user_id = u.id AND u.username = ANY(%(usernames)s::text[])
"""
USER_GROUPS_SQL = """
INSERT INTO custos_user_groups (user_id, group_id)
SELECT u.id, g.id
FROM custos_user u
JOIN auth_group g
  ON g.name = CASE WHEN u.username = %(approver)s THEN %(dpo)s ELSE %(qa_lead)s END
WHERE u.username = ANY(%(usernames)s::text[])
"""

QUEUES_SQL = """
INSERT INTO recordings_queue (code, name, description, created_at)
SELECT 'bench-queue-' || lpad(q::text, 2, '0'), 'Bench queue ' || lpad(q::text, 2, '0'), '',
       %(anchor)s - interval '800 days'
FROM generate_series(1, %(queues)s) AS q
"""

NOTICE_SQL = """
INSERT INTO recordings_recordingnotice (version, language, text, published_at)
VALUES ('bench-1', 'en', 'This call is recorded for quality assurance and training.',
        %(anchor)s - interval '900 days')
RETURNING id
"""

# Approved by the generated DPO; lists quality assurance and training, not disputes.
ASSESSMENT_SQL = """
INSERT INTO recordings_legitimateinterestassessment
    (title, balancing_summary, approved_at, approved_by_id, created_at)
VALUES ('Benchmark assessment: call review', 'Generated by the benchmark.',
        %(anchor)s - interval '790 days', %(approver_id)s, %(anchor)s - interval '800 days')
RETURNING id
"""

ASSESSMENT_PURPOSES_SQL = """
INSERT INTO recordings_legitimateinterestassessment_purposes (legitimateinterestassessment_id, purpose_id)
VALUES (%(assessment)s, %(qa)s), (%(assessment)s, %(training)s)
"""

# The personal columns (whatever the schema calls them: clear text today, ciphertext and blind
# indexes with the vault) are filled with empty values; see subjects_sql().
SUBJECTS_SQL = """
INSERT INTO recordings_datasubject (reference, created_at{columns})
SELECT 'BS-' || lpad(s::text, 7, '0'),
       %(anchor)s - interval '800 days' + interval '730 days' * (s::float8 / %(subjects)s){values}
FROM generate_series(1, %(subjects)s) AS s
"""

# An empty value per column type, for the NOT NULL columns without a default.
EMPTY_VALUES = {
    "character varying": "''",
    "text": "''",
    "bytea": "'\\x'::bytea",
}

# Calls arrive in time order (ids follow started_at, with a few minutes of jitter), last 2 years,
# 30 s to 30 min long with most calls short; 8 kHz 16-bit mono WAV sizes.
RECORDINGS_SQL = """
INSERT INTO recordings_recording (
    reference, direction, started_at, ended_at, lawful_basis, status, storage_ref, size_bytes,
    content_type, checksum_sha256, keep_until, created_at, agent_id,
    legitimate_interest_assessment_id, queue_id, subject_id
)
SELECT
    g.reference,
    CASE WHEN g.r_direction < 0.8 THEN 'inbound' ELSE 'outbound' END,
    g.started_at,
    g.started_at + make_interval(secs => g.seconds),
    g.basis,
    'active',
    'bench/' || g.reference || '.wav',
    44 + g.seconds * 16000,
    'audio/wav',
    encode(sha256(convert_to(g.reference, 'UTF8')), 'hex'),
    g.started_at + interval '3 years',
    g.started_at + make_interval(secs => g.seconds + 120),
    NULL,
    CASE WHEN g.basis = 'legitimate_interests' THEN %(assessment)s END,
    %(first_queue)s + floor(g.r_queue * %(queues)s)::bigint,
    %(first_subject)s + floor(g.r_subject * %(subjects)s)::bigint
FROM (
    SELECT
        raw.*,
        CASE
            WHEN raw.r_basis < 0.45 THEN 'consent'
            WHEN raw.r_basis < 0.70 THEN 'contract'
            WHEN raw.r_basis < 0.80 THEN 'legal_obligation'
            WHEN raw.r_basis < 0.95 THEN 'legitimate_interests'
            WHEN raw.r_basis < 0.99 THEN 'public_task'
            ELSE 'vital_interests'
        END AS basis
    FROM (
        SELECT
            'BR-' || lpad(i::text, 8, '0') AS reference,
            %(anchor)s - make_interval(days => %(span)s) * (1 - (i - 1)::float8 / %(rows)s)
                - random() * interval '15 minutes' AS started_at,
            30 + floor(random() ^ 2 * 1770)::int AS seconds,
            random() AS r_basis,
            random() AS r_direction,
            random() AS r_queue,
            random() AS r_subject
        FROM generate_series(1, %(rows)s) AS i
    ) AS raw
) AS g
"""


# Every recording states quality assurance; a share also training and dispute handling. Three
# statements rather than one with a LATERAL draw, so that each row gets its own random().
RECORDING_PURPOSES_SQL = """
INSERT INTO recordings_recording_purposes (recording_id, purpose_id)
SELECT r.id, %(purpose)s FROM recordings_recording r WHERE random() < %(share)s
"""

# The consent ledger of the consent-basis calls, for quality assurance: each call's own answer,
# asked by the agent or the IVR in the first half minute. Mostly yes; some callers said no, and
# some who said yes withdrew it later (on the web, by e-mail, ...), before the dataset's anchor.
CALL_CONSENTS_SQL = """
INSERT INTO recordings_consent (
    decision, method, captured_at, evidence_offset, jurisdiction, withdrawn_at, withdrawn_via,
    captured_by_id, withdrawn_by_id, subject_id, purpose_id, recording_id, notice_id
)
SELECT
    CASE WHEN c.refused THEN 'refused' ELSE 'given' END,
    CASE WHEN c.r_method < 0.6 THEN 'verbal_agent' ELSE 'ivr_keypress' END,
    c.captured_at,
    c.evidence_offset,
    (ARRAY['DE', 'AT', 'FR', 'NL'])[1 + floor(c.r_jurisdiction * 4)::int],
    CASE WHEN c.withdrawn THEN
        c.captured_at + greatest(%(anchor)s - c.captured_at, interval '1 hour') * c.r_when
    END,
    CASE WHEN c.withdrawn THEN (ARRAY['web', 'email', 'phone', 'letter'])[1 + floor(c.r_via * 4)::int]
         ELSE '' END,
    NULL, NULL, c.subject_id, %(purpose)s, c.id, %(notice)s
FROM (
    SELECT
        x.*,
        x.started_at + x.evidence_offset AS captured_at,
        x.r_decision < %(refused)s AS refused,
        x.r_decision >= %(refused)s AND x.r_withdrawn < %(withdrawn)s AS withdrawn
    FROM (
        SELECT r.id, r.subject_id, r.started_at,
               make_interval(secs => 5 + floor(random() * 25)) AS evidence_offset,
               random() AS r_decision, random() AS r_withdrawn, random() AS r_method,
               random() AS r_jurisdiction, random() AS r_when, random() AS r_via
        FROM recordings_recording r
        WHERE r.lawful_basis = 'consent'
    ) AS x
) AS c
"""

# The same calls' answer for training, where training is stated: nine in ten say yes.
TRAINING_CONSENTS_SQL = """
INSERT INTO recordings_consent (
    decision, method, captured_at, evidence_offset, jurisdiction, withdrawn_at, withdrawn_via,
    captured_by_id, withdrawn_by_id, subject_id, purpose_id, recording_id, notice_id
)
SELECT CASE WHEN random() < 0.1 THEN 'refused' ELSE 'given' END, 'ivr_keypress',
       r.started_at + interval '35 seconds', interval '35 seconds', 'DE', NULL, '', NULL, NULL,
       r.subject_id, %(purpose)s, r.id, %(notice)s
FROM recordings_recording r
JOIN recordings_recording_purposes rp ON rp.recording_id = r.id AND rp.purpose_id = %(purpose)s
WHERE r.lawful_basis = 'consent'
"""

# Decisions for all of a subject's calls (no recording), on the web: a refusal of quality
# assurance overtakes every consent given before it (not those given after); a blanket consent
# covers every call of the subject, even one whose own answer was withdrawn.
SUBJECT_CONSENTS_SQL = """
INSERT INTO recordings_consent (
    decision, method, captured_at, evidence_offset, jurisdiction, withdrawn_at, withdrawn_via,
    captured_by_id, withdrawn_by_id, subject_id, purpose_id, recording_id, notice_id
)
SELECT s.decision, 'web_form',
       s.first_call + greatest(%(anchor)s - s.first_call, interval '1 hour') * s.r_when,
       NULL, 'DE', NULL, '', NULL, NULL, s.subject_id, %(purpose)s, NULL, %(notice)s
FROM (
    SELECT subject_id, min(started_at) AS first_call, random() AS r_when,
           CASE WHEN random() < %(refusal)s / (%(refusal)s + %(blanket)s) THEN 'refused'
                ELSE 'given' END AS decision,
           random() AS r_pick
    FROM recordings_recording
    WHERE lawful_basis = 'consent'
    GROUP BY subject_id
) AS s
WHERE s.r_pick < %(refusal)s + %(blanket)s
"""

# Objections to quality assurance from subjects with legitimate-interest calls, all decided two
# weeks after they came in: two in three upheld (those calls leave the QA leads' lists), one in
# three overruled. None pending, so that the data does not depend on what a pending objection
# stops (nothing yet, or everything until the DPO decides).
OBJECTIONS_SQL = """
INSERT INTO recordings_objection
    (received_at, decision, decided_at, reason, decided_by_id, purpose_id, subject_id)
SELECT o.received_at, o.decision, o.received_at + interval '14 days',
       CASE o.decision WHEN 'upheld' THEN 'No compelling legitimate grounds.'
                       ELSE 'Compelling grounds: an open dispute.' END,
       %(approver)s, %(purpose)s, o.subject_id
FROM (
    SELECT subject_id,
           min(started_at) + greatest(%(anchor)s - min(started_at), interval '1 hour') * random()
               AS received_at,
           (ARRAY['upheld', 'upheld', 'overruled'])[1 + floor(random() * 3)::int] AS decision,
           random() AS r_pick
    FROM recordings_recording
    WHERE lawful_basis = 'legitimate_interests'
    GROUP BY subject_id
) AS o
WHERE o.r_pick < %(share)s
"""

QUEUE_GRANTS_SQL = """
INSERT INTO recordings_queueuserobjectpermission (content_object_id, permission_id, user_id)
SELECT %(first_queue)s + g.queue_offset, %(permission)s, u.id
FROM unnest(%(usernames)s::text[], %(queue_offsets)s::int[]) AS g(username, queue_offset)
JOIN custos_user u ON u.username = g.username
"""

# Each lead's ad-hoc grants: distinct recordings outside the lead's queues, most of them recent
# (ids follow time; random()^2 leans to the newest calls), with a reason; a quarter expired, some
# open-ended, the rest expiring years after the anchor. Candidates are drawn twice over, and the
# first n distinct ones of each lead kept, so that the total is exact.
AD_HOC_GRANTS_SQL = """
INSERT INTO recordings_recordinguserobjectpermission
    (content_object_id, permission_id, user_id, reason, expires_at)
SELECT p.recording_id, %(permission)s, p.user_id,
       (%(reasons)s::text[])[1 + floor(random() * cardinality(%(reasons)s::text[]))::int],
       CASE WHEN p.r_expiry < %(expired)s
                THEN %(anchor)s - interval '1 day' * (1 + floor(random() * 300))
            WHEN p.r_expiry < %(expired)s + %(open_ended)s THEN NULL
            ELSE %(anchor)s + interval '3 years' + interval '1 day' * floor(random() * 365)
       END
FROM (
    SELECT ranked.user_id, ranked.recording_id, random() AS r_expiry
    FROM (
        SELECT d.user_id, d.recording_id, d.n,
               row_number() OVER (PARTITION BY d.user_id ORDER BY d.k) AS rn
        FROM (
            SELECT DISTINCT ON (c.user_id, c.recording_id) c.user_id, c.recording_id, c.n, c.k
            FROM (
                SELECT l.user_id, l.n, k,
                       %(last_recording)s - floor(random() ^ 2 * %(rows)s)::bigint AS recording_id
                FROM (
                    SELECT u.id AS user_id, x.n
                    FROM unnest(%(usernames)s::text[], %(counts)s::int[]) AS x(username, n)
                    JOIN custos_user u ON u.username = x.username
                    WHERE x.n > 0
                ) AS l
                CROSS JOIN LATERAL generate_series(1, 2 * l.n + 5) AS k
            ) AS c
            JOIN recordings_recording r ON r.id = c.recording_id
            WHERE NOT EXISTS (
                SELECT 1 FROM recordings_queueuserobjectpermission q
                WHERE q.user_id = c.user_id AND q.content_object_id = r.queue_id
            )
            ORDER BY c.user_id, c.recording_id, c.k
        ) AS d
    ) AS ranked
    WHERE ranked.rn <= ranked.n
) AS p
"""


@dataclass(frozen=True)
class BenchDatabase:
    """One benchmark database and the number of recordings it holds."""

    size: int
    name: str
    url: str


def size_label(size: int) -> str:
    """1000 -> '1k', 1000000 -> '1m', 12345 -> '12345'."""
    if size % 1_000_000 == 0:
        return f"{size // 1_000_000}m"
    if size % 1_000 == 0:
        return f"{size // 1_000}k"
    return str(size)


def with_database(url: str, name: str) -> str:
    """The same server URL pointing at another database."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def bench_database(server_url: str, size: int) -> BenchDatabase:
    name = f"custos_bench_{size_label(size)}"
    return BenchDatabase(size=size, name=name, url=with_database(server_url, name))


def _marker(size: int) -> str:
    return f"custos benchmark dataset v{DATASET_VERSION}: {size} recordings"


def ensure_database_exists(server_url: str, name: str) -> bool:
    """Creates the database if missing; True when it was created."""
    with psycopg.connect(with_database(server_url, "postgres"), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if exists:
            return False
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return True


def migrate(db: BenchDatabase) -> None:
    """Runs ``manage.py migrate`` against the database in a subprocess, as deployment would."""
    env = {
        **os.environ,
        "DATABASE_URL": db.url,
        "DJANGO_SETTINGS_MODULE": "compliance_site.settings",
        "LOG_LEVEL": "WARNING",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--no-input"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"migrate failed on {db.name} (exit {result.returncode}):\n{result.stdout}\n{result.stderr}"
        )


def holds_dataset(conn: psycopg.Connection, db: BenchDatabase) -> bool:
    """True when the database was filled by this generator version with this many rows."""
    row = conn.execute(
        "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
        [db.name],
    ).fetchone()
    if not row or row[0] != _marker(db.size):
        return False
    (count,) = conn.execute("SELECT count(*) FROM recordings_recording").fetchone()
    return count == db.size


def subjects_sql(conn: psycopg.Connection) -> sql.Composed:
    """SUBJECTS_SQL with an empty value for each other NOT NULL column of the subjects table, so
    that the generator follows the model's personal fields without naming them."""
    rows = conn.execute(
        """
        SELECT column_name, data_type FROM information_schema.columns
        WHERE table_schema = current_schema() AND table_name = 'recordings_datasubject'
          AND is_nullable = 'NO' AND column_default IS NULL
          AND column_name NOT IN ('id', 'reference', 'created_at')
        ORDER BY ordinal_position
        """
    ).fetchall()
    unknown = [f"{name} ({kind})" for name, kind in rows if kind not in EMPTY_VALUES]
    if unknown:
        raise RuntimeError(f"no empty value for recordings_datasubject columns: {', '.join(unknown)}")
    columns = sql.SQL("").join(sql.SQL(", ") + sql.Identifier(name) for name, _ in rows)
    values = sql.SQL("").join(sql.SQL(", " + EMPTY_VALUES[kind]) for _, kind in rows)
    return sql.SQL(SUBJECTS_SQL).format(columns=columns, values=values)


def _permission_id(conn: psycopg.Connection, codename: str) -> int:
    row = conn.execute(
        """
        SELECT p.id FROM auth_permission p JOIN django_content_type ct ON ct.id = p.content_type_id
        WHERE ct.app_label = 'recordings' AND p.codename = %s
        """,
        [codename],
    ).fetchone()
    if row is None:
        raise RuntimeError(f"permission recordings.{codename} missing: was the database migrated?")
    return row[0]


def generate(conn: psycopg.Connection, db: BenchDatabase) -> None:
    """Empties the generated tables and fills them for ``db.size`` recordings."""
    subjects = max(1, int(db.size * SUBJECTS_PER_RECORDING))
    # A fixed anchor makes the data reproducible to the second; it lies in the past of any run.
    anchor = datetime(2026, 11, 1, tzinfo=UTC)
    queues = queue_count(db.size)
    leads = qa_leads(queues)
    lead_names = [lead.username for lead in leads]
    with conn.transaction():
        conn.execute("SET LOCAL synchronous_commit = off")
        conn.execute("SET LOCAL maintenance_work_mem = '256MB'")
        conn.execute("SET LOCAL work_mem = '256MB'")
        conn.execute(
            sql.SQL("TRUNCATE {} RESTART IDENTITY CASCADE").format(
                sql.SQL(", ").join(sql.Identifier(t) for t in GENERATED_TABLES)
            )
        )
        params: dict[str, Any] = {"anchor": anchor, "queues": queues, "subjects": subjects}

        codes, names, descriptions = (list(column) for column in zip(*PURPOSES, strict=True))
        conn.execute(PURPOSES_SQL, {"codes": codes, "names": names, "descriptions": descriptions})
        purpose = dict(
            conn.execute("SELECT code, id FROM recordings_purpose WHERE code = ANY(%s)", [codes]).fetchall()
        )
        qa, training, disputes = (purpose[code] for code in codes)

        usernames = [APPROVER_USERNAME, *lead_names]
        conn.execute(USERS_SQL, {**params, "usernames": usernames})
        conn.execute(USER_GROUPS_CLEAR_SQL, {"usernames": usernames})
        conn.execute(
            USER_GROUPS_SQL,
            {"usernames": usernames, "approver": APPROVER_USERNAME, "dpo": DPO, "qa_lead": QA_LEAD},
        )
        (approver,) = conn.execute(
            "SELECT id FROM custos_user WHERE username = %s", [APPROVER_USERNAME]
        ).fetchone()

        conn.execute(QUEUES_SQL, params)
        (notice,) = conn.execute(NOTICE_SQL, params).fetchone()
        (assessment,) = conn.execute(ASSESSMENT_SQL, {**params, "approver_id": approver}).fetchone()
        conn.execute(ASSESSMENT_PURPOSES_SQL, {"assessment": assessment, "qa": qa, "training": training})
        conn.execute(subjects_sql(conn), params)
        (first_queue,) = conn.execute("SELECT min(id) FROM recordings_queue").fetchone()
        (first_subject,) = conn.execute("SELECT min(id) FROM recordings_datasubject").fetchone()
        conn.execute("SELECT setseed(0.42)")
        conn.execute(
            RECORDINGS_SQL,
            {
                **params,
                "rows": db.size,
                "span": SPAN_DAYS,
                "assessment": assessment,
                "first_queue": first_queue,
                "first_subject": first_subject,
            },
        )
        (last_recording,) = conn.execute("SELECT max(id) FROM recordings_recording").fetchone()

        for purpose_id, share in ((qa, 1.0), (training, TRAINING_SHARE), (disputes, DISPUTES_SHARE)):
            conn.execute(RECORDING_PURPOSES_SQL, {"purpose": purpose_id, "share": share})
        ledger = {**params, "purpose": qa, "notice": notice}
        conn.execute(
            CALL_CONSENTS_SQL,
            {**ledger, "refused": CONSENT_REFUSED_SHARE, "withdrawn": CONSENT_WITHDRAWN_SHARE},
        )
        conn.execute(TRAINING_CONSENTS_SQL, {**ledger, "purpose": training})
        conn.execute(
            SUBJECT_CONSENTS_SQL,
            {**ledger, "refusal": SUBJECT_LATER_REFUSAL_SHARE, "blanket": SUBJECT_BLANKET_CONSENT_SHARE},
        )
        conn.execute(
            OBJECTIONS_SQL, {**params, "purpose": qa, "approver": approver, "share": OBJECTION_SHARE}
        )

        pairs = [(lead.username, offset) for lead in leads for offset in lead.queues]
        conn.execute(
            QUEUE_GRANTS_SQL,
            {
                "first_queue": first_queue,
                "permission": _permission_id(conn, "review_queue"),
                "usernames": [name for name, _ in pairs],
                "queue_offsets": [offset for _, offset in pairs],
            },
        )
        counts = grants_per_lead(db.size)
        conn.execute(
            AD_HOC_GRANTS_SQL,
            {
                "anchor": anchor,
                "permission": _permission_id(conn, "review_recording"),
                "usernames": lead_names,
                "counts": counts,
                "reasons": list(AD_HOC_REASONS),
                "expired": AD_HOC_EXPIRED_SHARE,
                "open_ended": AD_HOC_OPEN_ENDED_SHARE,
                "last_recording": last_recording,
                "rows": db.size,
            },
        )
        (granted,) = conn.execute("SELECT count(*) FROM recordings_recordinguserobjectpermission").fetchone()
        if granted != sum(counts):
            raise RuntimeError(f"{granted:,} ad-hoc grants generated instead of {sum(counts):,}")
        conn.execute(
            sql.SQL("COMMENT ON DATABASE {} IS {}").format(
                sql.Identifier(db.name), sql.Literal(_marker(db.size))
            )
        )


def prepare(server_url: str, size: int, *, regenerate: bool = False) -> tuple[BenchDatabase, str]:
    """Creates, migrates and fills the database for ``size`` recordings; returns it and a note
    saying what was done."""
    db = bench_database(server_url, size)
    started = time.perf_counter()
    created = ensure_database_exists(server_url, db.name)
    migrate(db)
    with psycopg.connect(db.url, autocommit=True) as conn:
        if not regenerate and not created and holds_dataset(conn, db):
            action = "reused"
        else:
            generate(conn, db)
            action = "generated"
        # The paginator reads pg_class.reltuples, which VACUUM/ANALYZE keep current; the plans
        # of the QA lead's page need the statistics of the ledger and grant tables too.
        for table in ANALYZED_TABLES:
            conn.execute(sql.SQL("VACUUM (ANALYZE) {}").format(sql.Identifier(table)))
    return db, f"{action} in {time.perf_counter() - started:.1f} s"
