"""QA reviews at scale: a QA lead's evaluations list and the queue report at 1k and 100k
evaluations, same run; the method and the targets are in docs/PERFORMANCE.md.

    .venv/bin/python benchmarks/reviews.py            # full run, updates the doc
    .venv/bin/python benchmarks/reviews.py --quick    # small sizes, 1 round
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.harness import Bench, count_label


@dataclass(frozen=True)
class Scale:
    sizes: tuple[int, ...] = (1_000, 100_000)
    requests: int = 20  # timed GETs per page, size and round
    warmup: int = 3
    pages: tuple[str, ...] = ()  # empty: every page
    rounds: int = 3


def _words(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


BENCH = Bench(
    "reviews",
    script="reviews.py",
    title=lambda s: (
        "QA reviews: evaluations list and queue report at " + " / ".join(map(count_label, s.sizes))
    ),
    database="custos_bench_reviews",
    full=Scale(),
    quick=Scale(sizes=(200, 1_000), requests=3, warmup=1, rounds=1),
    options=[
        (
            "pages",
            _words,
            "pages to measure, comma-separated: list, report, report-dpo, evaluation, calibration "
            "(default all)",
        )
    ],
)
if __name__ == "__main__":
    sys.exit(BENCH.main())

import datetime
from decimal import Decimal
from typing import Any

from django.apps import apps
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from guardian.shortcuts import assign_perm

from benchmarks import harness as h
from compliance_site.roles import DPO, QA_LEAD
from recordings import models as rec
from reviews import models as rev

TARGET_RATIO = 1.5
SUBMITTED, ACKNOWLEDGED = rev.EvaluationStatus.SUBMITTED, rev.EvaluationStatus.ACKNOWLEDGED
QUEUES, LEAD_QUEUES, AGENTS, EVALUATORS, PER_SUBJECT, CALIBRATIONS = 10, 2, 50, 20, 5, 20
DAYS = 364  # evaluations kept a year (the default retention): a steady state spans 52 weeks
DAY, MINUTE = datetime.timedelta(days=1), datetime.timedelta(minutes=1)
PAGES = (
    ("list", "QA lead: evaluations list", "admin:reviews_evaluation_changelist", ""),
    ("report", "QA lead: queue report", "admin:reviews_report", "dimension=queue"),
    ("report-dpo", "DPO: queue report (every queue)", "admin:reviews_report", "dimension=queue"),
    ("evaluation", "QA lead: one evaluation's page", "admin:reviews_evaluation_change", ""),
    ("calibration", "QA lead: calibration sessions list", "admin:reviews_calibrationsession_changelist", ""),
)
# Judged against the time target; the others are informational (their queries must stay flat).
JUDGED = ("list", "report")


def fill(n: int, now: datetime.datetime) -> dict[str, Any]:
    """``n`` evaluations of ``n`` calls (legitimate interests covering quality assurance) in
    ``QUEUES`` queues, by ``EVALUATORS`` QA leads, of ``AGENTS`` agents, submitted over the last
    year; one in 17 auto-failed, one in 5 acknowledged; n/100 tombstones. The benchmark's lead
    reviews ``LEAD_QUEUES`` of the queues."""
    models = [m for a in ("recordings", "reviews") for m in apps.get_app_config(a).get_models()]
    h.truncate(*[m for m in models if m.__name__.startswith("Historical")])
    h.truncate(rev.EvaluationTombstone, rev.Answer, rev.Evaluation, rev.CalibrationSession, rev.Scorecard)
    h.truncate(rec.Recording, rec.DataSubject, rec.Queue, rec.Purpose, rec.LegitimateInterestAssessment)
    dpo = h.staff_user("bench-reviews-dpo", group=DPO)
    lead = h.staff_user("bench-reviews-lead", group=QA_LEAD)
    evaluators = [lead] + [h.staff_user(f"bench-reviews-qa{k}", group=QA_LEAD) for k in range(1, EVALUATORS)]
    agents = [h.staff_user(f"bench-agent-{k}", first_name="Agent", last_name=str(k)) for k in range(AGENTS)]
    with transaction.atomic():
        qa = h.quality_assurance()
        lia = rec.LegitimateInterestAssessment.objects.create(
            title="Bench", balancing_summary="Bench.", approved_by=dpo, approved_at=now - 800 * DAY
        )
        lia.purposes.set([qa])
        h.numbered_rows(rec.Queue, QUEUES, code="bench-{n}", name="Bench queue {n}")
        for queue_id in range(1, LEAD_QUEUES + 1):
            assign_perm("recordings.review_queue", lead, rec.Queue.objects.get(pk=queue_id))
        scorecard = rev.Scorecard.objects.create(name="Bench scorecard")
        scorecard.queues.set(rec.Queue.objects.all())
        version = rev.ScorecardVersion.objects.create(
            scorecard=scorecard, number=1, status="published", published_at=now - 400 * DAY
        )
        h.numbered_rows(rec.DataSubject, -(-n // PER_SUBJECT), reference="BS-{n:07d}")
        calls, evaluations = [], []
        for i in range(1, n + 1):
            at = now - (i % DAYS) * DAY - (i * 7919 % 1440) * MINUTE
            queue, agent, failed = 1 + i % QUEUES, agents[i % AGENTS], i % 17 == 0
            calls.append(
                rec.Recording(
                    id=i, reference=f"REC-{i:07d}", subject_id=1 + (i - 1) // PER_SUBJECT, queue_id=queue,
                    agent=agent, direction="inbound", started_at=at - 10 * MINUTE, ended_at=at - 6 * MINUTE,
                    lawful_basis="legitimate_interests", legitimate_interest_assessment=lia,
                    storage_ref=f"audio/{i}.wav.tink",
                )
            )  # fmt: skip
            evaluations.append(
                rev.Evaluation(
                    id=i, recording_id=i, scorecard_version=version, queue_id=queue, agent=agent,
                    evaluator=evaluators[i % EVALUATORS], status=ACKNOWLEDGED if i % 5 == 0 else SUBMITTED,
                    score=Decimal(0 if failed else i * 37 % 101), auto_failed=failed, created_at=at,
                    submitted_at=at, acknowledged_at=at if i % 5 == 0 else None,
                    keep_until=at + 365 * DAY,
                )
            )  # fmt: skip
        h.copy_rows(rec.Recording, calls, with_ids=True)
        link = rec.Recording.purposes.through
        h.copy_rows(link, [link(recording_id=i, purpose_id=qa.pk) for i in range(1, n + 1)])
        h.copy_rows(rev.Evaluation, evaluations, with_ids=True)
        tombstones = [
            rev.EvaluationTombstone(
                evaluation_id=n + k, queue_id=1 + k % QUEUES, scorecard_version=version,
                score=Decimal(k % 101), submitted_at=now - (k % 84) * DAY, cause="expired", deleted_at=now,
            )
            for k in range(1, n // 100 + 1)
        ]  # fmt: skip
        h.copy_rows(rev.EvaluationTombstone, tombstones)
        # CALIBRATIONS sessions at every size, the lead taking part, on calls of their queue 2
        # (the sessions list); the evaluation's page shows evaluation #EVALUATORS, the lead's
        # own, in their queue 1.
        for k in range(CALIBRATIONS):
            session = rev.CalibrationSession.objects.create(
                recording_id=1 + k * QUEUES, scorecard_version=version, created_by=dpo
            )
            session.participants.set([lead, evaluators[1]])
    sessions = (rev.CalibrationSession, rev.CalibrationSession.participants.through)
    h.analyze(rec.Recording, link, rec.Queue, rev.Evaluation, rev.EvaluationTombstone, *sessions)
    return {"lead": lead, "dpo": dpo, "evaluation": EVALUATORS}


def measure(user, path: str, requests: int, warmup: int) -> dict[str, Any]:
    """Timed GETs through the test client, then one with its queries captured."""
    client = Client()
    client.force_login(user)

    def get() -> None:
        response = client.get(path)
        if response.status_code != 200:
            raise RuntimeError(f"GET {path} returned {response.status_code}")

    timings = h.timings_ms(get, requests, warmup)
    with CaptureQueriesContext(connection) as captured:
        get()
    return {"median_ms": h.median(timings), "p90_ms": h.percentile(timings, 0.9), "queries": len(captured)}


def run(ctx: h.Context) -> h.Outcome:
    now = timezone.now()
    pages = [page for page in PAGES if not ctx.scale.pages or page[0] in ctx.scale.pages]
    results: dict[tuple[str, int], list[dict[str, Any]]] = {}
    lead_rows: dict[int, int] = {}
    for n in ctx.scale.sizes:
        users = fill(n, now)
        lead_rows[n] = rev.Evaluation.objects.filter(queue_id__lte=LEAD_QUEUES).count()
        for round_no in range(1, ctx.scale.rounds + 1):
            for key, _, url, query in h.ordered(pages, round_no):
                user = users["dpo"] if key.endswith("-dpo") else users["lead"]
                args = [users["evaluation"]] if key == "evaluation" else []
                path = reverse(url, args=args) + (f"?{query}" if query else "")
                result = measure(user, path, ctx.scale.requests, ctx.scale.warmup)
                results.setdefault((key, n), []).append(result)
                ctx.log(f"{n:,} evaluations, round {round_no}, {key}: {result['median_ms']:.1f} ms, "
                        f"{result['queries']} queries")  # fmt: skip
    sizes = ctx.scale.sizes
    small, large = sizes[0], sizes[-1]
    rows, verdicts = [], []
    for key, title, _, _ in pages:
        by_size = {n: results[(key, n)] for n in ctx.scale.sizes}
        ms = {n: h.median(r["median_ms"] for r in runs) for n, runs in by_size.items()}
        queries = {n: max(r["queries"] for r in runs) for n, runs in by_size.items()}
        ratio = ms[large] / ms[small]
        rows.append(
            {
                "title": title,
                "ms": " / ".join(f"{ms[n]:.1f}" for n in ctx.scale.sizes),
                "p90": " / ".join(
                    f"{h.median(r['p90_ms'] for r in by_size[n]):.1f}" for n in ctx.scale.sizes
                ),
                "queries": " / ".join(str(queries[n]) for n in ctx.scale.sizes),
                "ratio": ratio,
            }
        )
        judged = key in JUDGED
        verdicts.append(
            h.Verdict(
                f"{key}-time",
                f"{title}: time at {count_label(large)} / at {count_label(small)}",
                f"{ratio:.2f}x ({ms[large]:.1f} vs {ms[small]:.1f} ms)",
                f"<= {TARGET_RATIO:g}x" if judged else "informational",
                ratio <= TARGET_RATIO if judged else None,
            )
        )
        same = len(set(queries.values())) == 1
        verdicts.append(
            h.Verdict(
                f"{key}-queries",
                f"{title}: queries",
                " / ".join(str(queries[n]) for n in ctx.scale.sizes),
                "the same count",
                same,
            )
        )
    body = h.md(
        """
        How it is measured: a database `custos_bench_reviews`, migrated; for each size, N evaluations
        are written through the models (COPY of model instances, untimed, then `VACUUM (ANALYZE)`): N calls
        in {queues} queues on legitimate interests covering quality assurance, one submitted evaluation each
        (one in five acknowledged, one in 17 auto-failed) by one of {evaluators} QA leads, of one of {agents}
        agents, submitted over the last {days} days (a year: the evaluations' default retention, so a
        steady state), and N/100 tombstones. The QA lead reviews {lead_queues} of the {queues} queues
        ({lead_small:,} evaluations of their queues at {small}, {lead_large:,} at {large}). Timed: GETs
        through Django's test client, logged in, {requests} per page after {warmup} untimed, {rounds}
        round(s) per size, the pages' order rotated; the medians of the rounds' medians. Queries counted with
        `CaptureQueriesContext` on one more GET. Each report GET also writes its access event (one
        chained insert). The report covers the default 12 ISO weeks, grouped in SQL (`TruncWeek`), so it
        reads the {lead_queues} queues' evaluations of 12 weeks: about 12/52 of them. The list is the
        evaluations changelist as the lead opens it (their total counted exactly up to
        `CUSTOS_LIST_COUNT_CAP`, 10,000); the evaluation's page is one of the lead's own (#{own}); the
        calibration list holds {calibrations} sessions at every size, the lead taking part in each.
        Judged against the time target: the list and the QA lead's report; the others are
        informational.
        """,
        queues=QUEUES, evaluators=EVALUATORS, agents=AGENTS, days=DAYS, lead_queues=LEAD_QUEUES,
        lead_small=lead_rows[small], lead_large=lead_rows[large], small=count_label(small),
        large=count_label(large), requests=ctx.scale.requests, warmup=ctx.scale.warmup,
        rounds=ctx.scale.rounds, own=EVALUATORS, calibrations=CALIBRATIONS,
    )  # fmt: skip
    body += h.table(
        rows,
        f"""
        Page {{title}}
        Median ms ({" / ".join(map(count_label, ctx.scale.sizes))})> {{ms}}
        p90 ms> {{p90}}
        Queries> {{queries}}
        Largest / smallest> {{ratio:.2f}}x
        """,
    )
    return h.Outcome(verdicts, body, data={f"{k}@{n}": v for (k, n), v in results.items()})
