"""Keep-until after a policy change: the recomputation job against one bulk UPDATE computing the
same dates, at 1k, 10k and 100k recordings; the method and the target are in docs/PERFORMANCE.md.

    .venv/bin/python benchmarks/recompute.py            # full run, 3 rounds, updates the doc
    .venv/bin/python benchmarks/recompute.py --quick    # 1k, 1 round
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.harness import Bench


@dataclass(frozen=True)
class Scale:
    sizes: tuple[int, ...] = (1_000, 10_000, 100_000)
    rounds: int = 3


BENCH = Bench(
    "recompute",
    script="recompute.py",
    title=lambda s: (
        f"Keep-until recomputed after a policy change, {s.sizes[0]:,} to {s.sizes[-1]:,} recordings"
    ),
    database="custos_bench_recompute",
    full=Scale(),
    quick=Scale(sizes=(1_000,), rounds=1),
)
if __name__ == "__main__":
    sys.exit(BENCH.main())

import datetime
from typing import Any

from django.apps import apps
from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Value
from django.db.models.functions import Coalesce, Least
from django.utils import timezone

from benchmarks import harness as h
from recordings.models import (
    Consent,
    DataSubject,
    LawfulBasis,
    LegitimateInterestAssessment,
    Purpose,
    Queue,
    Recording,
    RecordingNotice,
)
from retention.keep_until import (
    keep_until_compute,
    keep_until_expression,
    purpose_retentions,
    recordings_in_scope,
)
from retention.models import KeepUntilRecomputation, RetentionPolicy
from retention.recompute import recomputation_run

TARGET_RATIO = 2.0  # job time / bulk UPDATE time, at the largest size
TARGET_SPREAD = 0.25  # the job's time per 1,000: the largest size's / the smallest's
OLD_DAYS, NEW_DAYS, DISPUTE_DAYS, PER_SUBJECT = 180, 30, 90, 5
BASES = (
    LawfulBasis.CONTRACT,
    LawfulBasis.LEGAL_OBLIGATION,
    LawfulBasis.CONSENT,
    LawfulBasis.LEGITIMATE_INTERESTS,
)


def fill(n: int, now: datetime.datetime) -> int:
    """``n`` recordings of n/5 subjects stating quality assurance (policy: 180 days), every tenth
    disputes too (90 days); bases by subject: contract, legal obligation, consent (a given consent
    for both purposes; withdrawn for one consent subject in 25: no ground left), legitimate
    interests (one approved assessment of both). keep-until, cause and rule as the rule says before
    the change. Returns the quality-assurance purpose's id."""
    historical = [m for label in ("recordings", "retention") for m in apps.get_app_config(label).get_models()]
    h.truncate(
        Recording,
        DataSubject,
        Queue,
        Purpose,
        RecordingNotice,
        LegitimateInterestAssessment,
        KeepUntilRecomputation,
        *[m for m in historical if m.__name__.startswith("Historical")],
    )
    dpo = h.staff_user("bench-recompute-dpo")
    with transaction.atomic():
        qa = h.quality_assurance()
        disputes = Purpose.objects.create(code="disputes", name="Disputes", description="Evidence.")
        RetentionPolicy.objects.bulk_create(
            [
                RetentionPolicy(purpose=qa, keep_days=OLD_DAYS),
                RetentionPolicy(purpose=disputes, keep_days=DISPUTE_DAYS),
            ]
        )
        notice = h.recording_notice("bench-1")
        lia = LegitimateInterestAssessment.objects.create(
            title="Bench",
            balancing_summary="Bench.",
            approved_by=dpo,
            approved_at=now - datetime.timedelta(days=800),
        )
        lia.purposes.set([qa, disputes])
        h.numbered_rows(Queue, 1, code="bench-{n}", name="Bench {n}")
        subjects = -(-n // PER_SUBJECT)
        h.numbered_rows(DataSubject, subjects, reference="BS-{n:07d}")
        consents = [
            Consent(
                subject_id=s,
                purpose=p,
                decision="given",
                method="ivr_keypress",
                notice=notice,
                captured_at=now - datetime.timedelta(days=700),
                jurisdiction="DE",
                **(
                    {"withdrawn_at": now - datetime.timedelta(days=3), "withdrawn_via": "web"}
                    if s % 100 == 2
                    else {}
                ),
            )
            for s in range(1, subjects + 1)
            if s % 4 == 2
            for p in (qa, disputes)
        ]
        h.copy_rows(Consent, consents)
        entry = {e.purpose.pk: e for e in purpose_retentions()}[qa.pk]  # 180 days decide before
        rows = []
        for i in range(1, n + 1):
            subject = 1 + (i - 1) // PER_SUBJECT
            started = now - datetime.timedelta(days=i % 400, seconds=i * 7919 % 86400)
            basis = BASES[subject % 4]
            rows.append(
                Recording(
                    id=i,
                    reference=f"REC-{i:07d}",
                    subject_id=subject,
                    queue_id=1,
                    direction="inbound",
                    started_at=started,
                    ended_at=started + datetime.timedelta(minutes=4),
                    lawful_basis=basis,
                    legitimate_interest_assessment=lia if basis == LawfulBasis.LEGITIMATE_INTERESTS else None,
                    storage_ref=f"audio/{i}.wav.tink",
                    keep_until=started + datetime.timedelta(days=entry.days),
                    keep_until_cause="retention_expired",
                    keep_until_rule=entry.rule,
                )
            )
        h.copy_rows(Recording, rows, with_ids=True)
        link = Recording.purposes.through
        h.copy_rows(
            link,
            [link(recording_id=i, purpose_id=qa.pk) for i in range(1, n + 1)]
            + [link(recording_id=i, purpose_id=disputes.pk) for i in range(10, n + 1, 10)],
        )
        lost = [r.pk for r in rows if r.subject_id % 100 == 2]  # their consents were withdrawn
        Recording.objects.bulk_update(
            [
                Recording(pk=pk, keep_until=k.keep_until, keep_until_cause=k.cause, keep_until_rule=k.rule)
                for pk, k in keep_until_compute(lost, now=now).items()
            ],
            ["keep_until", "keep_until_cause", "keep_until_rule"],
            batch_size=1000,
        )
    h.analyze(Recording, link, Consent, DataSubject, Purpose, RetentionPolicy, LegitimateInterestAssessment)
    return qa.pk


class Counter:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)


def run_job(purpose_id: int) -> dict[str, Any]:
    """The DPO saves the policy with 30 days (a recomputation queued); the worker's run, timed."""
    with transaction.atomic():  # the save queues the job; its message goes to the temporary broker
        policy = RetentionPolicy.objects.get(purpose_id=purpose_id)
        policy.keep_days = NEW_DAYS
        policy.save()
    job_id = KeepUntilRecomputation.objects.get(state="queued").pk
    counter = Counter()
    with connection.execute_wrapper(counter):
        job, seconds, _ = h.timed(lambda: recomputation_run(job_id=job_id))
    assert job is not None and job.state == "done", job
    return {"seconds": seconds, "statements": counter.count, "changed": job.changed}


def run_bulk(purpose_id: int, now: datetime.datetime) -> dict[str, Any]:
    """The same dates in one UPDATE: policy changed without its signal, one statement."""
    RetentionPolicy.objects.filter(purpose_id=purpose_id).update(keep_days=NEW_DAYS)
    until = Coalesce(keep_until_expression(purpose_retentions()), Least(F("keep_until"), Value(now)))
    counter = Counter()
    with connection.execute_wrapper(counter):
        changed, seconds, _ = h.timed(
            lambda: recordings_in_scope(purpose_id=purpose_id).update(keep_until=until)
        )
    return {"seconds": seconds, "statements": counter.count, "changed": changed}


def dates() -> dict[int, datetime.datetime]:
    return dict(Recording.objects.values_list("pk", "keep_until"))


def run(ctx: h.Context) -> h.Outcome:
    now = timezone.now()
    fixed = run_job(fill(0, now))["statements"]  # a job's own: claim, count, the empty last batch, done
    rows: list[dict[str, Any]] = []
    for round_no in range(1, ctx.scale.rounds + 1):
        for n in ctx.scale.sizes:
            row: dict[str, Any] = {"round": round_no, "n": n}
            results = {}
            for variant in h.ordered(["job", "bulk"], round_no):
                qa = fill(n, now)
                row[variant] = run_job(qa) if variant == "job" else run_bulk(qa, now)
                results[variant] = dates()
            if results["job"] != results["bulk"]:
                wrong = sum(results["job"][pk] != results["bulk"][pk] for pk in results["job"])
                raise RuntimeError(f"the job and the bulk UPDATE disagree on {wrong} of {n} dates")
            for variant in ("job", "bulk"):
                row[variant]["ms_per_k"] = row[variant]["seconds"] / n * 1e6
                row[variant]["st_per_k"] = (
                    (row[variant]["statements"] - fixed * (variant == "job")) / n * 1000
                )
            row["ratio"] = row["job"]["seconds"] / row["bulk"]["seconds"]
            rows.append(row)
            ctx.log(
                f"round {round_no} n={n:,}: job {row['job']['ms_per_k']:.0f} ms/1k, "
                f"{row['job']['st_per_k']:.1f} statements/1k; bulk {row['bulk']['ms_per_k']:.0f} ms/1k: "
                f"{row['ratio']:.2f}x"
            )
    by_size = []
    for n in ctx.scale.sizes:
        mine = [r for r in rows if r["n"] == n]
        by_size.append(
            {
                "size": n,
                "job_ms": h.median(r["job"]["ms_per_k"] for r in mine),
                "job_st": h.median(r["job"]["st_per_k"] for r in mine),
                "bulk_ms": h.median(r["bulk"]["ms_per_k"] for r in mine),
                "ratio": h.median(r["ratio"] for r in mine),
                "changed": mine[-1]["job"]["changed"],
            }
        )
    largest, times, st = by_size[-1], [x["job_ms"] for x in by_size], [x["job_st"] for x in by_size]
    sizes = " / ".join(h.count_label(x["size"]) for x in by_size)
    verdicts = [
        h.Verdict(
            "ratio",
            f"Recomputation of {largest['size']:,} recordings: job time / one bulk UPDATE",
            f"{largest['ratio']:.2f}x ({largest['job_ms']:.0f} vs {largest['bulk_ms']:.0f} ms per 1,000)",
            f"<= {TARGET_RATIO:g}x",
            largest["ratio"] <= TARGET_RATIO,
        ),
        h.Verdict(
            "time",
            f"Job's time per 1,000 recordings at {sizes}",
            " / ".join(f"{x:.0f} ms" for x in times) + f" (largest / smallest {max(times) / min(times):.2f})",
            f"constant (within {TARGET_SPREAD:.0%})",
            max(times) <= min(times) * (1 + TARGET_SPREAD),
        ),
        h.Verdict(
            "statements",
            f"Job's statements per 1,000 recordings at {sizes}, beyond a job's {fixed} own",
            " / ".join(f"{x:.1f}" for x in st),
            "constant (within 1%)",
            max(st) <= min(st) * 1.01,
        ),
    ]
    body = h.md(
        """
        How it is measured: a database `custos_bench_recompute`, migrated; before each timed run the
        recordings are rebuilt through the models (COPY of model instances, untimed, then `VACUUM (ANALYZE)`):
        N recordings of N/{per} subjects, all stating quality assurance (policy {old} days), one in ten
        disputes too ({dispute} days); lawful bases by subject: contract, legal obligation, consent (withdrawn
        for one consent subject in 25: no ground left), legitimate interests (an approved assessment);
        keep-until, cause and rule as the rule gives them before the change. Then the policy goes from
        {old} to {new} days and, timed: (a) the job: `recomputation_run` as the worker runs it (batches of
        {batch}, each committing with its progress, keep-until, cause, rule and a history row written);
        (b) one bulk `UPDATE` of the same scope computing the same dates in SQL
        (`keep_until_expression`, no cause, rule nor history). Both must leave the same dates. {rounds}
        round(s), the variants' order rotated; medians. Statements counted with `execute_wrapper`.
        """,
        per=PER_SUBJECT,
        old=OLD_DAYS,
        new=NEW_DAYS,
        dispute=DISPUTE_DAYS,
        batch=settings.RETENTION_RECOMPUTE_BATCH_SIZE,
        rounds=ctx.scale.rounds,
    )
    body += h.table(
        by_size,
        """
        Recordings> {size:,}
        Job, ms per 1,000> {job_ms:,.0f}
        Job, statements per 1,000> {job_st:,.1f}
        Bulk UPDATE, ms per 1,000> {bulk_ms:,.0f}
        Job / bulk> {ratio:.2f}x
        Changed by the job> {changed:,}
        """,
    )
    return h.Outcome(verdicts, body, data=rows)
