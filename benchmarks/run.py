"""The recordings changelist at 1k, 100k and 1M recordings; the method and the targets are
in docs/PERFORMANCE.md, which a full run rewrites.

    .venv/bin/python benchmarks/run.py                 # full run
    .venv/bin/python benchmarks/run.py --quick         # 1k only, one short round
    .venv/bin/python benchmarks/run.py --sizes 1000,100000 --pages qa-lead,search-subject
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.harness import Bench, count_label


def _ints(text: str) -> tuple[int, ...]:
    return tuple(sorted({int(part.replace("_", "")) for part in text.split(",") if part.strip()}))


def _words(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


@dataclass(frozen=True)
class Scale:
    sizes: tuple[int, ...] = (1_000, 100_000, 1_000_000)
    pages: tuple[str, ...] = ()  # empty: every page
    requests: int = 30  # timed GETs per page, size and round
    warmup: int = 5
    usable_calls: int = 200  # timed recording_usable_for calls per case and round
    regenerate: bool = False
    db_suffix: str = ""  # appended to the databases' names, so that two checkouts keep apart
    rounds: int = 5


BENCH = Bench(
    "admin-recordings-changelist",
    script="run.py",
    title=lambda s: (
        "Admin: recordings changelist at " + " / ".join(map(count_label, s.sizes)) + " recordings"
    ),
    database=None,  # one database per size, kept between runs
    full=Scale(),
    quick=Scale(sizes=(1_000,), requests=5, warmup=1, usable_calls=20, rounds=1),
    options=[
        ("sizes", _ints, "recordings per database, comma-separated (1000,100000,1000000)"),
        ("pages", _words, "pages to measure, comma-separated (default all)"),
        ("regenerate", bool, "refill the databases even if they hold the dataset"),
        ("db_suffix", str, "appended to the databases' names (custos_bench_1m_SUFFIX)"),
    ],
)
if __name__ == "__main__":
    sys.exit(BENCH.main())

import datetime
import functools
import json
import random
import re
import time
from typing import Any
from urllib.parse import urlencode

import psycopg
import sqlparse
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db import connection, transaction
from django.db.models import Max, Min, Q
from django.utils import timezone

from benchmarks import harness as h
from compliance_site.audit.models import AuditKey
from compliance_site.pagination import EXACT_COUNT_LIMIT, list_count_cap
from compliance_site.roles import DPO, QA_LEAD
from recordings.models import (
    Consent,
    DataSubject,
    LegitimateInterestAssessment,
    Objection,
    Purpose,
    Queue,
    QueueUserObjectPermission,
    Recording,
    RecordingNotice,
    RecordingUserObjectPermission,
)

TARGET_RATIO = 2.0  # 1M page over 1k page
TARGET_QA_LEAD_RATIO = 1.5  # the QA lead's page over the superuser's at the largest size
USABLE_MAX_QUERIES = 3
LIST_PER_PAGE, SMALL_LIST_PER_PAGE = 100, 20
FULL_SCAN_SHARE = 0.9  # a COUNT visiting this share of the rows counts the whole table
PAGE_SIZE_PAGES = ("qa-lead", "qa-lead-20")
GRANT_COUNT_PAGES = ("qa-lead-few-grants", "qa-lead", "qa-lead-many-grants")
PLANNED_PAGES = ("superuser", "qa-lead")  # their plan at the largest size always goes in the doc
CHANGELIST_URL = "/admin/recordings/recording/"
TABLE = Recording._meta.db_table

# --- The dataset, through the models ------------------------------------------------------------

DATASET_VERSION = 3  # bump when the generator changes: older databases are refilled
ANCHOR = datetime.datetime(2026, 11, 1, tzinfo=datetime.UTC)  # the data's "now", reproducible
SPAN_DAYS = 730
QA_LEADS = 200
AD_HOC_GRANTS_PER_RECORDING = 0.05  # 50,000 at 1M
BASES = ((0.45, "consent"), (0.70, "contract"), (0.80, "legal_obligation"), (0.95, "legitimate_interests"))
BASES += ((0.99, "public_task"), (1.00, "vital_interests"))
PURPOSES = (
    (
        "quality_assurance",
        "Quality assurance",
        "Reviewing calls to coach agents and improve service quality.",
    ),
    ("training", "Agent training", "Using calls as examples in agent training."),
    ("disputes", "Dispute handling", "Evidence for complaints and contract disputes."),
)
REASONS = (
    "Customer complaint escalated to QA",
    "Calibration session across queues",
    "Agent covering for another team",
    "Coaching follow-up",
    "Second opinion requested by the team lead",
)
SECOND, HOUR, DAY = (datetime.timedelta(seconds=1), datetime.timedelta(hours=1), datetime.timedelta(days=1))


def lead_name(number: int) -> str:
    return f"bench-qa-lead-{number:03d}"


def queue_count(size: int) -> int:
    """50 queues, 10 for a small archive (so that a lead's 2 queues still fill a page at 1k)."""
    return max(10, min(50, size // 100))


def qa_leads(queues: int = 50) -> list[tuple[int, tuple[int, ...], float]]:
    """(number, queue offsets, weight of their share of the ad-hoc grants): lead 1 holds few
    grants (10 at 1M), lead 2 many (1,000), the others 100 to 400 (250 on average); each reviews
    1 to 3 queues (leads 1 and 2 two, as the typical lead)."""
    rest, low, extremes = QA_LEADS - 2, 0.4, (0.04, 4.0)
    high = 2 * (QA_LEADS - sum(extremes)) / rest - low  # the weights average 1.0
    leads = []
    for number in range(1, QA_LEADS + 1):
        if number <= 2:
            weight, count = extremes[number - 1], 2
        else:
            weight, count = low + (high - low) * (number - 3) / (rest - 1), 1 + number % 3
        first = (number * 7) % queues
        leads.append((number, tuple((first + queues // 3 * k) % queues for k in range(count)), weight))
    return leads


_TYPICAL = min((x for x in qa_leads()[2:] if len(x[1]) == 2), key=lambda x: (abs(x[2] - 1), x[0]))
TYPICAL_QA_LEAD, FEW_GRANTS_QA_LEAD, MANY_GRANTS_QA_LEAD = lead_name(_TYPICAL[0]), lead_name(1), lead_name(2)


def grants_per_lead(size: int) -> list[int]:
    """Each lead's ad-hoc grants, adding up to 5 per 100 recordings exactly (largest remainders)."""
    leads, total = qa_leads(), round(size * AD_HOC_GRANTS_PER_RECORDING)
    shares = [total * weight / sum(w for *_, w in leads) for *_, weight in leads]
    counts = [int(share) for share in shares]
    for i in sorted(range(len(leads)), key=lambda i: (counts[i] - shares[i], i))[: total - sum(counts)]:
        counts[i] += 1
    return counts


def generate(size: int) -> dict[str, Any]:
    """Empties the generated tables and fills them for ``size`` recordings (this process's
    database). Synthetic, no personal data: subjects are bare references (``BS-0000001``)."""
    rng, users, queues, subjects = random.Random(42), get_user_model(), queue_count(size), max(1, size // 5)

    def later(first: datetime.datetime) -> datetime.datetime:  # between ``first`` and ANCHOR
        return first + max(ANCHOR - first, HOUR) * rng.random()

    with transaction.atomic():
        h.truncate(Recording, DataSubject, Queue, LegitimateInterestAssessment, RecordingNotice)
        qa, training, disputes = (
            Purpose.objects.get_or_create(code=code, defaults={"name": name, "description": text})[0].pk
            for code, name, text in PURPOSES
        )
        people = {
            username: h.staff_user(username, group=group)
            for username, group in [("bench-dpo", DPO), *((lead_name(n), QA_LEAD) for n, *_ in qa_leads())]
        }
        approver = people["bench-dpo"]
        h.numbered_rows(Queue, queues, code="bench-queue-{n:02d}", name="Bench queue {n:02d}")
        text = "This call is recorded for quality assurance and training."
        notice = RecordingNotice.objects.create(
            version="bench-1", language="en", published_at=ANCHOR - 900 * DAY, text=text
        )
        assessment = LegitimateInterestAssessment.objects.create(
            title="Benchmark assessment: call review",
            balancing_summary="Generated by the benchmark.",
            approved_at=ANCHOR - 790 * DAY,
            approved_by=approver,
        )
        assessment.purposes.set([qa, training])
        h.numbered_rows(DataSubject, subjects, reference="BS-{n:07d}")

        # Calls in time order (ids follow started_at, a few minutes of jitter), 30 s to 30 min;
        # every one active, as audio/wav (the model's defaults).
        calls, rows = [], []  # calls: (id, subject, basis, started_at)
        for i in range(1, size + 1):
            jitter = datetime.timedelta(minutes=15) * rng.random()
            started = ANCHOR - SPAN_DAYS * DAY * (1 - (i - 1) / size) - jitter
            seconds, draw = 30 + int(rng.random() ** 2 * 1770), rng.random()
            basis = next(name for bound, name in BASES if draw < bound)
            subject, reference = 1 + int(rng.random() * subjects), f"BR-{i:08d}"
            calls.append((i, subject, basis, started))
            rows.append(
                Recording(
                    id=i,
                    reference=reference,
                    direction="inbound" if rng.random() < 0.8 else "outbound",
                    started_at=started,
                    ended_at=started + datetime.timedelta(seconds=seconds),
                    lawful_basis=basis,
                    storage_ref=f"bench/{reference}.wav",
                    size_bytes=44 + seconds * 16000,
                    checksum_sha256=f"{i:064x}",
                    keep_until=started + 3 * 365 * DAY,
                    queue_id=1 + int(rng.random() * queues),
                    subject_id=subject,
                    legitimate_interest_assessment_id=assessment.pk
                    if basis == "legitimate_interests"
                    else None,
                )
            )
        h.copy_rows(Recording, rows, with_ids=True)
        del rows
        # Every call states quality assurance; 30% training too, 3% dispute handling.
        link = Recording.purposes.through
        stated = {(i, training) for i, *_ in calls if rng.random() < 0.30}
        stated |= {(i, disputes) for i, *_ in calls if rng.random() < 0.03}
        links = [*((i, qa) for i, *_ in calls), *stated]
        h.copy_rows(link, (link(recording_id=i, purpose_id=p) for i, p in links))

        # The consent ledger of the consent-basis calls: mostly given in the call, 2% refused,
        # 3% given and withdrawn later; their training answers (nine in ten yes); then decisions
        # for all of a subject's calls on the web (2% of subjects refuse QA later, overtaking
        # every earlier consent; 1% consent to it for all calls).
        consents, first_call = [], {}
        for i, subject, basis, started in calls:
            if basis != "consent":
                continue
            first_call[subject] = min(first_call.get(subject, started), started)
            offset = datetime.timedelta(seconds=5 + int(rng.random() * 25))
            refused = rng.random() < 0.02
            withdrawn = not refused and rng.random() < 0.03
            ledger = {"subject_id": subject, "recording_id": i, "notice": notice}
            consents.append(
                Consent(
                    **ledger,
                    purpose_id=qa,
                    captured_at=started + offset,
                    decision="refused" if refused else "given",
                    method="verbal_agent" if rng.random() < 0.6 else "ivr_keypress",
                    evidence_offset=offset,
                    jurisdiction=rng.choice(("DE", "AT", "FR", "NL")),
                    withdrawn_at=later(started + offset) if withdrawn else None,
                    withdrawn_via=rng.choice(("web", "email", "phone", "letter")) if withdrawn else "",
                )
            )
            if (i, training) in stated:
                consents.append(
                    Consent(
                        **ledger,
                        purpose_id=training,
                        decision="refused" if rng.random() < 0.1 else "given",
                        method="ivr_keypress",
                        captured_at=started + 35 * SECOND,
                        evidence_offset=35 * SECOND,
                        jurisdiction="DE",
                    )
                )
        for subject, first in first_call.items():
            if (pick := rng.random()) < 0.03:
                consents.append(
                    Consent(
                        subject_id=subject,
                        purpose_id=qa,
                        notice=notice,
                        method="web_form",
                        jurisdiction="DE",
                        decision="refused" if pick < 0.02 else "given",
                        captured_at=later(first),
                    )
                )
        h.copy_rows(Consent, consents)
        # Objections to QA from 3% of the subjects with legitimate-interest calls, all decided two
        # weeks later: two in three upheld (their calls leave the leads' lists), one overruled.
        objecting: dict[int, datetime.datetime] = {}
        for _, subject, basis, started in calls:
            if basis == "legitimate_interests":
                objecting[subject] = min(objecting.get(subject, started), started)
        objections = []
        for subject, first in objecting.items():
            if rng.random() < 0.03:
                received, decision = later(first), rng.choice(("upheld", "upheld", "overruled"))
                reason = (
                    "No compelling legitimate grounds."
                    if decision == "upheld"
                    else "Compelling grounds: an open dispute."
                )
                objections.append(
                    Objection(
                        subject_id=subject,
                        purpose_id=qa,
                        received_at=received,
                        decision=decision,
                        decided_at=received + 14 * DAY,
                        decided_by=approver,
                        reason=reason,
                    )
                )
        h.copy_rows(Objection, objections)

        # Queue grants, and each lead's ad-hoc grants: distinct recordings outside their queues,
        # mostly recent, with a reason; a quarter expired, 15% open-ended.
        review_queue, review_recording = (
            Permission.objects.get(codename=codename, content_type__app_label="recordings")
            for codename in ("review_queue", "review_recording")
        )
        h.copy_rows(
            QueueUserObjectPermission,
            (
                QueueUserObjectPermission(
                    content_object_id=1 + offset, permission=review_queue, user=people[lead_name(n)]
                )
                for n, offsets, _ in qa_leads(queues)
                for offset in offsets
            ),
        )
        recording_queue = dict(Recording.objects.values_list("id", "queue_id"))
        grants = []
        for (number, offsets, _), count in zip(qa_leads(queues), grants_per_lead(size), strict=True):
            mine, chosen = {1 + offset for offset in offsets}, set()
            while len(chosen) < count:
                candidate = size - int(rng.random() ** 2 * size)
                if recording_queue.get(candidate) not in mine:
                    chosen.add(candidate)
            for recording_id in sorted(chosen):
                draw = rng.random()
                if draw < 0.25:
                    expires = ANCHOR - DAY * (1 + int(rng.random() * 300))
                else:
                    expires = None if draw < 0.40 else ANCHOR + DAY * (3 * 365 + int(rng.random() * 365))
                grants.append(
                    RecordingUserObjectPermission(
                        content_object_id=recording_id,
                        permission=review_recording,
                        user=people[lead_name(number)],
                        reason=rng.choice(REASONS),
                        expires_at=expires,
                    )
                )
        h.copy_rows(RecordingUserObjectPermission, grants)
    # The paginator reads pg_class.reltuples; the plans need the ledger's and grants' statistics.
    h.analyze(Recording, link, DataSubject, Queue, Consent, Objection, Purpose, users, users.groups.through)
    h.analyze(LegitimateInterestAssessment, LegitimateInterestAssessment.purposes.through)
    h.analyze(QueueUserObjectPermission, RecordingUserObjectPermission)
    name = connection.ops.quote_name(connection.settings_dict["NAME"])
    with connection.cursor() as cursor:
        cursor.execute(f"COMMENT ON DATABASE {name} IS %s", [_marker(size)])
    return {"recordings": size, "grants": len(grants)}


def _marker(size: int) -> str:
    return f"custos benchmark dataset v{DATASET_VERSION}: {size} recordings"


def prepare(ctx: h.Context, size: int) -> str:
    """The database of ``size`` recordings, created if missing, migrated, filled unless it holds
    the dataset already; its URL."""
    name = f"custos_bench_{h.count_label(size).lower()}" + (
        f"_{ctx.scale.db_suffix}" if ctx.scale.db_suffix else ""
    )
    url = h.with_database(ctx.server_url, name)
    started = time.perf_counter()
    if not h.database_exists(ctx.server_url, name):
        h.create_database(ctx.server_url, name)
    # The dataset outlives the run's keyring (a fresh one per run, in its temporary folder): an
    # audit key wrapped under an earlier run's keyring cannot be opened by this one (migrate's
    # system check custos.E030 refuses it), so the access log starts a key of its own
    # (``audit_key_current`` makes it on the next event).
    with psycopg.connect(url) as conn:
        if conn.execute("SELECT to_regclass(%s)", [AuditKey._meta.db_table]).fetchone()[0]:
            conn.execute(f"DELETE FROM {AuditKey._meta.db_table}")
    h.migrate(url)
    with psycopg.connect(url) as conn:
        comment = (
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = current_database()"
        )
        (marker,) = conn.execute(comment).fetchone()
    if regenerate := ctx.scale.regenerate or marker != _marker(size):
        h.run_child("run.py", "generate", env={"DATABASE_URL": url}, size=size)
    ctx.log(f"  {name}: {'generated' if regenerate else 'reused'} in {time.perf_counter() - started:.1f} s")
    return url


# --- The pages ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Page:
    key: str
    title: str
    user: str  # "superuser" or a generated QA lead (docs/PERFORMANCE.md describes each page)
    list_per_page: int = LIST_PER_PAGE


PAGES = {
    page.key: page
    for page in (
        Page("superuser", "Superuser, first page", "superuser"),
        Page("qa-lead", "QA lead, first page", TYPICAL_QA_LEAD),
        Page(
            "qa-lead-20",
            f"QA lead, first page, {SMALL_LIST_PER_PAGE} per page",
            TYPICAL_QA_LEAD,
            SMALL_LIST_PER_PAGE,
        ),
        Page("qa-lead-few-grants", "QA lead with few ad-hoc grants, first page", FEW_GRANTS_QA_LEAD),
        Page("qa-lead-many-grants", "QA lead with many ad-hoc grants, first page", MANY_GRANTS_QA_LEAD),
        Page("filter", "Superuser, filtered by status", "superuser"),
        Page("search-recording", "Superuser, search by recording reference", "superuser"),
        Page("search-subject", "Superuser, search by subject reference", "superuser"),
    )
}

# The access rules of recordings/selectors.py written out again in plain SQL, without the ORM, as
# the reference the QA leads' pages and recording_usable_for are checked against (a check, not
# data: if a migration renames what it names, it fails loudly). ``r``: the recording.
LAWFUL_FOR_QA_SQL = """
EXISTS (SELECT 1 FROM recordings_recording_purposes rp
        WHERE rp.recording_id = r.id AND rp.purpose_id = %(qa)s)
AND CASE r.lawful_basis
    WHEN 'consent' THEN EXISTS (
        SELECT 1 FROM recordings_consent c
        WHERE c.subject_id = r.subject_id AND c.purpose_id = %(qa)s
          AND (c.recording_id = r.id OR c.recording_id IS NULL)
          AND c.decision = 'given' AND c.withdrawn_at IS NULL
          AND NOT EXISTS (SELECT 1 FROM recordings_consent later
                          WHERE later.subject_id = c.subject_id AND later.purpose_id = %(qa)s
                            AND later.decision = 'refused' AND later.captured_at > c.captured_at))
    WHEN 'legitimate_interests' THEN EXISTS (
        SELECT 1 FROM recordings_legitimateinterestassessment a
        JOIN recordings_legitimateinterestassessment_purposes ap ON ap.legitimateinterestassessment_id = a.id
        WHERE a.id = r.legitimate_interest_assessment_id AND a.approved_at IS NOT NULL
          AND ap.purpose_id = %(qa)s
    ) AND NOT EXISTS (SELECT 1 FROM recordings_objection o WHERE o.subject_id = r.subject_id
                      AND o.purpose_id = %(qa)s AND o.decision <> 'overruled')
    ELSE true
END
"""
_GRANTED = """
    SELECT g.content_object_id FROM recordings_{kind}userobjectpermission g
    JOIN auth_permission p ON p.id = g.permission_id
    WHERE g.user_id = %(user)s AND p.codename = '{perm}' {expiry}
    UNION
    SELECT g.content_object_id FROM recordings_{kind}groupobjectpermission g
    JOIN auth_permission p ON p.id = g.permission_id JOIN custos_user_groups ug ON ug.group_id = g.group_id
    WHERE ug.user_id = %(user)s AND p.codename = '{perm}' {expiry}
"""
_UNEXPIRED = "AND (g.expires_at IS NULL OR g.expires_at > %(now)s)"
VISIBLE_TO_LEAD_SQL = f"""
(r.queue_id IN ({_GRANTED.format(kind="queue", perm="review_queue", expiry="")})
 OR r.id IN ({_GRANTED.format(kind="recording", perm="review_recording", expiry=_UNEXPIRED)}))
AND r.status = 'active' AND (r.keep_until IS NULL OR r.keep_until > %(now)s)
AND {LAWFUL_FOR_QA_SQL}
"""
ROW_RE = re.compile(r'<th class="field-reference"><a href="[^"]*">([^<]+)</a></th>')
TOTAL_RE = re.compile(r'<p class="paginator">.*?([\d,]+)(\+?)\s+recordings?', re.S)
SESSION_KEY_RE = re.compile(r"session_key\" = '[^']*'")
SELECTED_RE = re.compile(r"^SELECT (.{60,}?) FROM ", re.S)  # a long column list, shortened in the doc


def _is_count(sql: str) -> bool:
    upper = sql.upper()
    return upper.startswith("SELECT") and "COUNT(" in upper and f'FROM "{TABLE.upper()}"' in upper


def _is_capped_count(sql: str) -> bool:
    """The QA lead's count: ``COUNT(*)`` over a subquery that stops at the cap and one more."""
    return _is_count(sql) and bool(re.search(rf"LIMIT {list_count_cap() + 1}\)", sql))


def _is_page_query(sql: str) -> bool:
    upper = sql.upper()
    return (
        upper.startswith("SELECT")
        and f'FROM "{TABLE.upper()}"' in upper
        and " ORDER BY " in upper
        and not _is_count(sql)
    )


def _rows_read(plan: dict[str, Any]) -> int:
    """Rows of the recordings table a plan visited: returned plus filtered out, over all loops."""
    total = 0
    if plan.get("Relation Name") == TABLE:
        per_loop = sum(
            plan.get(k, 0) for k in ("Actual Rows", "Rows Removed by Filter", "Rows Removed by Index Recheck")
        )
        total += round(per_loop * plan.get("Actual Loops", 1))
    return total + sum(_rows_read(child) for child in plan.get("Plans", ()))


def _qa_id() -> int | None:
    return Purpose.objects.filter(code=Purpose.QUALITY_ASSURANCE).values_list("pk", flat=True).first()


def _page_setup(page: Page) -> tuple[Any, str, int, list[str], dict]:
    """The page's user, path, and the list it should show computed without the admin nor the
    selectors: its length and first references."""
    if page.user != "superuser":
        user = get_user_model().objects.get(username=page.user, groups__name=QA_LEAD)
        params = {"user": user.pk, "now": timezone.now(), "qa": _qa_id(), "limit": page.list_per_page}
        visible = f"FROM recordings_recording r WHERE {VISIBLE_TO_LEAD_SQL}"
        with connection.cursor() as cursor:
            # The planner prices this count's probes high enough to JIT-compile it, which
            # takes longer than running it; off for this query only.
            cursor.execute("SET jit = off")
            cursor.execute(f"SELECT count(*) {visible}", params)
            (total,) = cursor.fetchone()
            cursor.execute("RESET jit")
            cursor.execute(
                f"SELECT r.reference {visible} ORDER BY r.started_at DESC, r.id DESC LIMIT %(limit)s", params
            )
            refs = [ref for (ref,) in cursor.fetchall()]
        grants = RecordingUserObjectPermission.objects.filter(
            user=user, permission__codename="review_recording"
        )
        unexpired = grants.filter(Q(expires_at__isnull=True) | Q(expires_at__gt=params["now"])).count()
        queues = QueueUserObjectPermission.objects.filter(user=user).count()
        info = {"username": user.username, "queues": queues, "ad_hoc_grants": grants.count()}
        return user, CHANGELIST_URL, total, refs, info | {"ad_hoc_grants_unexpired": unexpired}
    user = h.staff_user("bench-superuser", superuser=True)
    queryset, path, info = Recording.objects.all(), CHANGELIST_URL, {}
    if page.key == "filter":
        queryset = queryset.filter(status="active")
        path += "?" + urlencode({"status__exact": "active"})
    elif page.key.startswith("search"):
        bounds = Recording.objects.aggregate(low=Min("pk"), high=Max("pk"))
        middle = (
            Recording.objects.filter(pk__gte=(bounds["low"] + bounds["high"]) // 2)
            .order_by("pk")
            .select_related("subject")
            .first()
        )
        term = middle.reference if page.key == "search-recording" else middle.subject.reference
        queryset = queryset.filter(Q(reference=term) | Q(subject__reference=term))
        path += "?" + urlencode({"q": term})
        info["term"] = term
    refs = queryset.order_by("-started_at", "-pk").values_list("reference", flat=True)
    return user, path, queryset.count(), list(refs[: page.list_per_page]), info


def measure_page(page: Page, requests: int, warmup: int, captured: int = 3) -> dict[str, Any]:
    """One page: timed GETs through the test client, then GETs with the SQL captured and timed,
    each captured query on the table explained, the rows and total checked."""
    from django.contrib import admin
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    admin.site._registry[Recording].list_per_page = page.list_per_page
    user, path, expected_total, expected_refs, info = _page_setup(page)
    client = Client()
    client.force_login(user)

    def get() -> str:
        response = client.get(path)
        if response.status_code != 200:
            raise RuntimeError(f"GET {path} returned {response.status_code}")
        return response.content.decode()

    timings = h.timings_ms(get, requests, warmup)
    counts, sql_ms, queries, html = [], [], [], ""
    for _ in range(captured):
        with CaptureQueriesContext(connection) as ctx, h.counting(by_kind=True) as counter:
            html = get()
        counts.append(len(ctx.captured_queries))
        sql_ms.append(sum(counter.seconds.values()) * 1000)
        queries = [q["sql"] for q in ctx.captured_queries]
    rows_read: list[int | None] = []
    with connection.cursor() as cursor:
        for sql in queries:
            rows_read.append(None)
            if sql.upper().startswith("SELECT") and f'"{TABLE.upper()}"' in sql.upper():
                cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}")
                plan = cursor.fetchone()[0]
                rows_read[-1] = _rows_read((json.loads(plan) if isinstance(plan, str) else plan)[0]["Plan"])
    refs, total = ROW_RE.findall(html), TOTAL_RE.search(html)
    shown = (int(total.group(1).replace(",", "")), bool(total.group(2))) if total else None
    # A QA lead's total is exact up to the cap, and the cap with a "+" past it; the superuser's
    # (who may know the table's size) exact below EXACT_COUNT_LIMIT, an estimate above.
    cap = list_count_cap()
    if page.user != "superuser":
        total_right = shown == (min(expected_total, cap), expected_total > cap)
    else:
        total_right = expected_total > EXACT_COUNT_LIMIT or shown == (expected_total, False)
    page_at = next((i for i, q in enumerate(queries) if _is_page_query(q)), None)
    paginator = [
        q for q in queries if _is_count(q) or "PG_CLASS" in q.upper() or q.upper().startswith("EXPLAIN")
    ]
    return {
        "path": path,
        "info": info,
        "median_ms": h.median(timings),
        "timings_ms": timings,
        "sql_ms": h.median(sql_ms),
        "query_count": max(counts),
        "query_count_stable": len(set(counts)) == 1,
        "paginator_queries": len(paginator),
        "full_count": any(_is_count(q) and " WHERE " not in q.upper() for q in queries),
        "count_rows": [
            rows_read[i] or 0 for i, q in enumerate(queries) if _is_count(q) and not _is_capped_count(q)
        ],
        "capped_count_rows": [rows_read[i] or 0 for i, q in enumerate(queries) if _is_capped_count(q)],
        "queries": [SESSION_KEY_RE.sub("session_key\" = '<redacted>'", q) for q in queries],
        "page_sql": queries[page_at] if page_at is not None else None,
        "page_rows_read": rows_read[page_at] if page_at is not None else None,
        "rows_on_page": len(refs),
        "rows_match": refs == expected_refs,
        "expected_rows": len(expected_refs),
        "total_shown": shown[0] if shown else None,
        "total_capped": shown[1] if shown else False,
        "total_right": total_right,
        "expected_total": expected_total,
    }


# recording_usable_for is timed on the newest recording of each case: (basis, case, a filter on
# ``r``; {lawful} is LAWFUL_FOR_QA_SQL).
_CONSENT = (
    "EXISTS (SELECT 1 FROM recordings_consent c {} WHERE c.recording_id = r.id AND c.purpose_id = %(qa)s"
)
_LATER = """JOIN recordings_consent later ON later.subject_id = c.subject_id
    AND later.purpose_id = c.purpose_id AND later.recording_id IS NULL AND later.decision = 'refused'
    AND later.captured_at > c.captured_at"""
_UPHELD = """EXISTS (SELECT 1 FROM recordings_objection o WHERE o.subject_id = r.subject_id
    AND o.purpose_id = %(qa)s AND o.decision = 'upheld')"""
USABLE_CASES = (
    ("consent", "consent given", "{lawful}"),
    ("consent", "consent withdrawn", _CONSENT.format("") + " AND c.withdrawn_at IS NOT NULL)"),
    ("consent", "refused later, for all calls", _CONSENT.format(_LATER) + " AND c.decision = 'given')"),
    ("legitimate_interests", "assessment approved", "{lawful}"),
    ("legitimate_interests", "objection upheld", _UPHELD),
    *(
        (basis, "stated purpose", "true")
        for basis in ("contract", "legal_obligation", "vital_interests", "public_task")
    ),
)


def measure_usable(calls: int, warmup: int) -> list[dict[str, Any]]:
    """Queries and time of ``recording_usable_for(recording, QA)`` per case, the purpose given by
    its code (as the API passes it) and as an object (as the admin does); answers checked."""
    from django.test.utils import CaptureQueriesContext

    from recordings.selectors import recording_usable_for

    qa_id = _qa_id()
    purpose = Purpose.objects.get(pk=qa_id)
    cases = []
    for basis, case, where in USABLE_CASES:
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT r.id, r.reference, ({LAWFUL_FOR_QA_SQL}) FROM recordings_recording r WHERE "
                f"r.lawful_basis = '{basis}' AND {where.format(lawful=LAWFUL_FOR_QA_SQL)} "
                "ORDER BY r.started_at DESC, r.id DESC LIMIT 1",
                {"qa": qa_id},
            )
            row = cursor.fetchone()
        if row is None:
            continue  # a small dataset may hold no recording of this case
        recording = Recording.objects.get(pk=row[0])
        outcome = {"basis": basis, "case": case, "reference": row[1], "expected": row[2]}
        for label, argument in (("code", Purpose.QUALITY_ASSURANCE), ("object", purpose)):
            timings = h.timings_ms(
                functools.partial(recording_usable_for, recording, argument), calls, warmup
            )
            with CaptureQueriesContext(connection) as ctx:
                outcome[f"usable_by_{label}"] = recording_usable_for(recording, argument)
            outcome[f"queries_by_{label}"] = len(ctx.captured_queries)
            outcome[f"ms_by_{label}"] = h.median(timings)
            outcome[f"sql_by_{label}"] = [q["sql"] for q in ctx.captured_queries]
        cases.append(outcome)
    return cases


def child(kind: str, **options: str) -> Any:
    if kind == "generate":
        return generate(int(options["size"]))
    if kind == "page":
        return measure_page(PAGES[options["page"]], int(options["requests"]), int(options["warmup"]))
    return measure_usable(int(options["calls"]), int(options["warmup"]))


# --- Rounds, verdicts --------------------------------------------------------------------------------


@dataclass
class Result:
    """Every round of one page on one database, and (``settle``, after the last) figures over them."""

    size: int
    rounds: list[dict[str, Any]]

    def settle(self) -> Result:
        rounds, self.last = self.rounds, self.rounds[-1]
        self.medians = [r["median_ms"] for r in rounds]
        self.median_ms, self.sql_ms = h.median(self.medians), h.median_of(rounds, "sql_ms")
        self.p90_ms = h.percentile([t for r in rounds for t in r["timings_ms"]], 0.9)
        self.queries = max(r["query_count"] for r in rounds)
        counts = {r["query_count"] for r in rounds}
        self.stable = len(counts) == 1 and all(r["query_count_stable"] for r in rounds)
        # Besides the paginator's counting (reltuples, EXPLAIN, exact COUNT).
        self.other_queries = self.queries - max(r["paginator_queries"] for r in rounds)
        self.count_rows = sum(self.last["count_rows"]) if self.last["count_rows"] else None
        self.full_count = any(
            r["full_count"] or any(n >= FULL_SCAN_SHARE * self.size for n in r["count_rows"]) for r in rounds
        )
        return self


def judge(results: list[Result]) -> tuple[bool, bool, bool, list[str]]:
    """(time ok, queries ok, rows and total right, notes) of one page over the sizes."""
    base, notes, query_notes, page_notes = results[0], [], [], []
    for r in results[1:]:
        if r.median_ms / base.median_ms > TARGET_RATIO:
            vs = f"{r.median_ms / base.median_ms:.2f}x the {base.size:,}-row page"
            notes.append(f"{r.size:,} rows: {vs} (target <= {TARGET_RATIO:g}x)")
    # Below EXACT_COUNT_LIMIT the paginator counts exactly, above it it estimates: its own queries
    # may differ across the limit; the page's other queries may not, nor anything above it.
    big = [r for r in results if r.size > EXACT_COUNT_LIMIT]
    query_notes += [f"{r.size:,} rows: query count varies between requests" for r in results if not r.stable]
    if len({r.other_queries for r in results}) > 1:
        counts = ", ".join(f"{r.size:,}: {r.other_queries}" for r in results)
        query_notes.append("the queries besides the paginator's differ: " + counts)
    if len({r.queries for r in big}) > 1:
        counts = ", ".join(f"{r.size:,}: {r.queries}" for r in big)
        query_notes.append("the query count differs above the exact-count limit: " + counts)
    for r in big:
        if r.full_count:
            query_notes.append(f"{r.size:,} rows: an exact COUNT(*) over the whole table ran")
        elif (r.count_rows or 0) > EXACT_COUNT_LIMIT:
            query_notes.append(f"{r.size:,} rows: the exact COUNT visits {r.count_rows:,} rows")
    for r in results:
        if not all(x["rows_match"] for x in r.rounds):
            shown = f"{r.last['rows_on_page']} rows, not the {r.last['expected_rows']} expected first rows"
            page_notes.append(f"{r.size:,} rows: the page shows {shown} of the list")
        shown, expected = r.last["total_shown"], r.last["expected_total"]
        if not all(x["total_right"] for x in r.rounds):
            claim = "none" if shown is None else f"{shown:,}" + ("+" if r.last["total_capped"] else "")
            page_notes.append(
                f"{r.size:,} rows: the page claims {claim} results where the list has {expected:,} (exact up "
                f"to the cap of {list_count_cap():,} for a QA lead, under {EXACT_COUNT_LIMIT:,} for all)"
            )
    return not notes, not query_notes, not page_notes, notes + query_notes + page_notes


def run(ctx: h.Context) -> h.Outcome:
    scale = ctx.scale
    pages = [PAGES[key] for key in (scale.pages or PAGES)]
    ctx.log("Preparing " + ", ".join(f"{n:,}" for n in scale.sizes) + " recordings ...")
    urls = {size: prepare(ctx, size) for size in scale.sizes}
    results = {page.key: [Result(size, []) for size in scale.sizes] for page in pages}
    usable: dict[int, list[list[dict]]] = {size: [] for size in scale.sizes}
    for round_no in range(1, scale.rounds + 1):
        for page in pages:
            for res in results[page.key]:
                env = {"DATABASE_URL": urls[res.size]}
                figures = h.run_child(
                    "run.py", "page", env=env, page=page.key, requests=scale.requests, warmup=scale.warmup
                )
                res.rounds.append(figures)
                ctx.log(
                    f"round {round_no}/{scale.rounds} {page.key:<20} {res.size:>9,}: median "
                    f"{figures['median_ms']:.1f} ms, {figures['query_count']} queries"
                )
        for size in scale.sizes:
            env = {"DATABASE_URL": urls[size]}
            usable[size].append(
                h.run_child("run.py", "usable", env=env, calls=scale.usable_calls, warmup=scale.warmup)
            )
    for res in results.values():
        for r in res:
            r.settle()
    judged = {page.key: judge(results[page.key]) for page in pages}
    target = "1M within 2x of 1k, flat queries, right rows"
    verdicts = [
        h.Verdict(
            p.key,
            p.title,
            "; ".join(judged[p.key][3]) or "every size right, flat",
            target,
            all(judged[p.key][:3]),
        )
        for p in pages
    ]
    comparisons = _compare(results, usable)
    body = _render(ctx, pages, results, judged, comparisons, usable, urls[scale.sizes[-1]])
    data = {
        key: {r.size: {k: v for k, v in r.last.items() if k not in ("timings_ms", "queries")} for r in res}
        for key, res in results.items()
    }
    return h.Outcome(verdicts + comparisons, body, data=data, summary=False)


def _lead_ratios(results: dict[str, list[Result]]) -> list[dict[str, Any]]:
    if "superuser" not in results or "qa-lead" not in results:
        return []
    return [
        {
            "size": su.size,
            "su": su,
            "qa": qa,
            "ratio": qa.median_ms / su.median_ms,
            "per_round": ", ".join(
                f"{q['median_ms'] / s['median_ms']:.2f}" for s, q in zip(su.rounds, qa.rounds, strict=True)
            ),
        }
        for su, qa in zip(results["superuser"], results["qa-lead"], strict=True)
    ]


def _usable_cases(rounds: list[list[dict]]) -> list[dict[str, Any]]:
    by_case: dict[tuple[str, str], list[dict]] = {}
    for outcome in rounds:
        for case in outcome:
            by_case.setdefault((case["basis"], case["case"]), []).append(case)
    return [
        {
            **runs[-1],
            "right": all(r["usable_by_code"] == r["expected"] == r["usable_by_object"] for r in runs),
            "queries": max(max(r["queries_by_code"], r["queries_by_object"]) for r in runs),
            "ms_by_code": h.median_of(runs, "ms_by_code"),
            "ms_by_object": h.median_of(runs, "ms_by_object"),
        }
        for runs in by_case.values()
    ]


def _compare(results: dict[str, list[Result]], usable: dict[int, list[list[dict]]]) -> list[h.Verdict]:
    out = []
    if ratios := _lead_ratios(results):
        last, target = ratios[-1], TARGET_QA_LEAD_RATIO
        measured = f"{last['ratio']:.2f}x at {last['size']:,}"
        title = "QA lead vs superuser, same rounds"
        out.append(h.Verdict("qa-vs-superuser", title, measured, f"<= {target:g}x", last["ratio"] <= target))
    for key, title, keys in (
        ("page-size", "QA lead's queries by page size", PAGE_SIZE_PAGES),
        ("grant-count", "QA lead's queries by grant count", GRANT_COUNT_PAGES),
    ):
        if all(k in results for k in keys):
            notes = [
                f"{results[keys[0]][i].size:,} rows: "
                + ", ".join(f"{k}: {results[k][i].queries}" for k in keys)
                for i in range(len(results[keys[0]]))
                if len({results[k][i].queries for k in keys}) > 1
                or not all(results[k][i].stable for k in keys)
            ]
            out.append(
                h.Verdict(key, title, "; ".join(notes) or "the same count", "the same count", not notes)
            )
    notes = [
        f"{size:,} rows, {c['basis']} ({c['case']}): {c['queries']} queries"
        + ("" if c["right"] else ", answered otherwise than the rules in SQL")
        for size, rounds in usable.items()
        for c in _usable_cases(rounds)
        if c["queries"] > USABLE_MAX_QUERIES or not c["right"]
    ]
    measured, target = "; ".join(notes) or "right, few queries", f"<= {USABLE_MAX_QUERIES} queries"
    return [*out, h.Verdict("usable", "recording_usable_for", measured, target, not notes)]


# --- Report ------------------------------------------------------------------------------------------


def _grants(res: Result) -> str:
    info = res.last["info"]
    unexpired = info["ad_hoc_grants_unexpired"]
    return f"{info['queues']} queues, {info['ad_hoc_grants']:,} grants ({unexpired:,} unexpired)"


def _n(value: int | None, none: str = "none") -> str:
    return none if value is None else f"{value:,}"


PAGE_COLUMNS = """
Recordings> {r.size:,}
Median ms> {r.median_ms:.1f}
p90 ms> {r.p90_ms:.1f}
vs smallest> {vs:.2f}x
SQL ms> {r.sql_ms:.2f}
Queries> {r.queries}
Full-table COUNT(*)^ {full}
Rows read by COUNT> {count_rows}
Rows read by capped COUNT> {capped_rows}
Rows read by page query> {page_rows}
Total shown> {shown}
Actual total> {r.last[expected_total]:,}
Round medians (ms) {medians}
"""
LEAD_COLUMNS = """
Recordings> {size:,}
Superuser median ms> {su.median_ms:.1f}
QA lead median ms> {qa.median_ms:.1f}
QA lead / superuser> {ratio:.2f}x
Per round {per_round}
Superuser SQL ms> {su.sql_ms:.2f}
QA lead SQL ms> {qa.sql_ms:.2f}
"""
QUERY_COLUMNS = f"""
Recordings> {{size:,}}
{LIST_PER_PAGE} per page (typical lead)> {{c0.queries}} ({{c0.median_ms:.1f}} ms)
{SMALL_LIST_PER_PAGE} per page> {{c1.queries}} ({{c1.median_ms:.1f}} ms)
Lead with few grants> {{c2.queries}} ({{c2.median_ms:.1f}} ms)
Lead with many grants> {{c3.queries}} ({{c3.median_ms:.1f}} ms)
"""
USABLE_COLUMNS = """
Lawful basis {basis}
Case {case}
Recording {reference}
May serve QA^ {answer}
Queries (code / object)^ {queries_by_code} / {queries_by_object}
Median ms (code / object)> {ms_by_code:.2f} / {ms_by_object:.2f}
"""
TARGET_COLUMNS = """
Page {title}
Time vs smallest {time}
Queries {queries}
Full-table COUNT(*) above the limit^ {full}
Rows and total^ {rows}
Verdict^ {cell}
"""


def _sql(query: str) -> str:
    return sqlparse.format(query, reindent=True, indent_width=4).strip()


def _render(ctx, pages, results, judged, comparisons, usable, largest_url) -> list[str]:
    label, sizes, out = h.count_label, ctx.scale.sizes, []
    for page in pages:
        res = results[page.key]
        paths = {r.last["path"] for r in res}
        where = (
            ", ".join(f"{label(r.size)}: `{r.last['path']}`" for r in res)
            if len(paths) > 1
            else f"`{paths.pop()}`"
        )
        rows = [
            {
                "r": r,
                "vs": r.median_ms / res[0].median_ms,
                "full": "yes" if r.full_count else "no",
                "count_rows": _n(r.count_rows),
                "capped_rows": _n(sum(r.last["capped_count_rows"]) if r.last["capped_count_rows"] else None),
                "page_rows": _n(r.last["page_rows_read"]),
                "shown": _n(r.last["total_shown"], "?") + ("+" if r.last["total_capped"] else ""),
                "medians": ", ".join(f"{m:.1f}" for m in r.medians),
            }
            for r in res
        ]
        out += [f"### {page.title}", "", where, "", *h.table(rows, PAGE_COLUMNS)]
        sql = [r.sql_ms for r in res]
        if max(sql) - min(sql) < 1:
            out += [
                f"The database time is {min(sql):.2f} to {max(sql):.2f} ms at every size; the rest: Python.",
                "",
            ]
        else:
            out += [
                f"The database time grows from {sql[0]:.2f} ms at {label(sizes[0])} to {sql[-1]:.2f} ms.",
                "",
            ]
    if ratios := _lead_ratios(results):
        qa = results["qa-lead"][-1]
        out += [
            f"### QA lead against the superuser, same rounds (target: at most {TARGET_QA_LEAD_RATIO:g}x)",
            "",
        ]
        out += h.table(ratios, LEAD_COLUMNS)
        out += [f"At {label(qa.size)} the QA lead ({_grants(qa)}) may see {qa.last['expected_total']:,}.", ""]
    keys = (*PAGE_SIZE_PAGES, GRANT_COUNT_PAGES[0], GRANT_COUNT_PAGES[2])
    if all(k in results for k in keys):
        out += ["### QA lead's query count by page size and by grant count (target: the same count)", ""]
        rows = [
            {"size": size, **{f"c{j}": results[k][i] for j, k in enumerate(keys)}}
            for i, size in enumerate(sizes)
        ]
        out += h.table(rows, QUERY_COLUMNS)
        grants = "; ".join(
            f"{results[k][-1].last['info']['username']}: {_grants(results[k][-1])}" for k in GRANT_COUNT_PAGES
        )
        out += [f"Grants at {label(sizes[-1])}: {grants}.", ""]
    cases = _usable_cases(usable[sizes[-1]])
    for c in cases:
        c["answer"] = ("yes" if c["expected"] else "no") + ("" if c["right"] else " (**wrong**)")
    title = f"`recording_usable_for` at {label(sizes[-1])} (target: at most {USABLE_MAX_QUERIES} queries)"
    out += [f"### {title}", "", *h.table(cases, USABLE_COLUMNS)]
    if consent_sql := next((c["sql_by_code"] for c in cases if c["basis"] == "consent"), []):
        out += ["Its queries for a consent-basis recording, the purpose given by its code:", "", "```sql"]
        out += [_sql(q) + ";" for q in consent_sql] + ["```", ""]
    rows = []
    for page in pages:
        res, (time_ok, queries_ok, page_ok, _) = results[page.key], judged[page.key]
        ratio = (
            ", ".join(f"{label(r.size)}: {r.median_ms / res[0].median_ms:.2f}x" for r in res[1:])
            or "one size"
        )
        queries = ", ".join(f"{label(r.size)}: {r.queries}" for r in res)
        rows.append(
            {
                "title": page.title,
                "time": ratio + (" (met)" if time_ok else " (**missed**)"),
                "queries": queries + (" (met)" if queries_ok else " (**missed**)"),
                "full": "yes" if any(r.full_count for r in res if r.size > EXACT_COUNT_LIMIT) else "no",
                "rows": "right" if page_ok else "**wrong**",
                "cell": "**met**" if time_ok and queries_ok and page_ok else "**missed**",
            }
        )
    out += ["### Targets per page", "", *h.table(rows, TARGET_COLUMNS)]
    out += h.table(
        [{"title": c.title, "cell": c.cell} for c in comparisons], "QA lead target {title}\nVerdict^ {cell}"
    )
    notes = [f"- {page.title}: {note}" for page in pages for note in judged[page.key][3]]
    notes += [f"- {c.title}: {c.measured}" for c in comparisons if c.ok is False]
    if notes:
        out += ["What is missed:", "", *notes, ""]
    off = [
        f"{page.title}: {r.last['total_shown']:,} shown for {r.last['expected_total']:,}"
        for page in pages
        for r in results[page.key][-1:]
        if r.size > EXACT_COUNT_LIMIT and r.last["total_shown"] is not None and page.user == "superuser"
    ]
    if off:
        out += [f"Totals under the list at {label(sizes[-1])} (planner's estimates): {'; '.join(off)}.", ""]
    with psycopg.connect(largest_url, autocommit=True) as conn:
        started = time.perf_counter()
        conn.execute(f'SELECT count(*) FROM "{TABLE}"').fetchone()
        count_ms = (time.perf_counter() - started) * 1000
        out += [f"An exact `COUNT(*)` of the {sizes[-1]:,}-row table takes {count_ms:.0f} ms here.", ""]
        for page in pages:
            res = results[page.key][-1]
            if res.last["page_sql"] and (page.key in PLANNED_PAGES or not all(judged[page.key][:2])):
                for _ in range(3):
                    plan = conn.execute(f"EXPLAIN (ANALYZE, BUFFERS) {res.last['page_sql']}").fetchall()
                out += [f"### {page.title}: queries and plan at {res.size:,} recordings", ""]
                out += [
                    f"{n}. `{SELECTED_RE.sub('SELECT … FROM ', q, count=1)}`"
                    for n, q in enumerate(res.last["queries"], 1)
                ]
                out += ["", "The page query:", "", "```sql", _sql(res.last["page_sql"]), "```", ""]
                out += [
                    f"`EXPLAIN (ANALYZE, BUFFERS)` at {res.size:,} recordings, warm cache:",
                    "",
                    "```text",
                ]
                out += [*(line for (line,) in plan), "```", ""]
    return out
