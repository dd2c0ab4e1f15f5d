"""The batch recomputation of keep-until writes exactly the rows that change, each with its history
row (its new keep-until, cause and rule, who changed it, its purposes), and nothing for the rows
that stay: on PostgreSQL in one statement per batch, elsewhere through ``history_copy``."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone

from recordings.models import LawfulBasis, Recording
from retention.keep_until import keep_until_recompute
from retention.models import RetentionPolicy
from tests.factories import PurposeFactory, RecordingFactory, UserFactory

pytestmark = pytest.mark.django_db
DAY = datetime.timedelta(days=1)


def test_a_shortened_policy_rewrites_only_the_calls_it_moves_each_with_a_history_row(dpo):
    """Given calls stating quality assurance (one also disputes, 90 days) and one stating disputes
    only, their keep-until recomputed; when the DPO shortens quality assurance from 180 to 30 days
    and the batch runs again, then the calls quality assurance decides get day 30, the call stating
    both day 90 (disputes now decides), each with a history row naming the DPO and holding its
    purposes; the disputes-only call is left alone, and running the batch once more changes
    nothing and writes no history."""
    qa, disputes = PurposeFactory(code="qa_h"), PurposeFactory(code="disputes_h")
    RetentionPolicy.objects.create(purpose=qa, keep_days=180)
    RetentionPolicy.objects.create(purpose=disputes, keep_days=90)
    now = timezone.now()
    plain = RecordingFactory(started_at=now - 3 * DAY, purposes=[qa], lawful_basis=LawfulBasis.CONTRACT)
    whole = RecordingFactory(started_at=(now - 5 * DAY).replace(microsecond=0), purposes=[qa])
    both = RecordingFactory(
        started_at=now - 7 * DAY, purposes=[qa, disputes], lawful_basis=LawfulBasis.CONTRACT
    )
    other = RecordingFactory(started_at=now - 9 * DAY, purposes=[disputes], lawful_basis=LawfulBasis.CONTRACT)
    ids = [plain.pk, whole.pk, both.pk, other.pk]
    assert keep_until_recompute(ids, now=now) == 4
    assert keep_until_recompute(ids, now=now) == 0  # nothing moved: nothing written

    RetentionPolicy.objects.filter(purpose=qa).update(keep_days=30)
    versions = {pk: Recording.history.filter(id=pk).count() for pk in ids}
    assert keep_until_recompute(ids, now=now, actor=dpo) == 3

    for call, days, rule, purposes in (
        (plain, 30, "Policy qa_h: 30 days", [qa.pk]),
        (whole, 30, "Policy qa_h: 30 days", [qa.pk]),
        (both, 90, "Policy disputes_h: 90 days", sorted([qa.pk, disputes.pk])),
    ):
        call.refresh_from_db()
        assert call.keep_until == call.started_at + days * DAY
        assert call.keep_until_rule.startswith(rule)
        assert Recording.history.filter(id=call.pk).count() == versions[call.pk] + 1
        latest = call.history.order_by("-history_id").first()
        assert (latest.keep_until, latest.keep_until_rule, latest.history_user) == (
            call.keep_until,
            call.keep_until_rule,
            dpo,
        )
        assert sorted(p.purpose_id for p in latest.purposes.all()) == purposes
    other.refresh_from_db()
    assert other.keep_until == other.started_at + 90 * DAY
    assert Recording.history.filter(id=other.pk).count() == versions[other.pk]
    assert keep_until_recompute(ids, now=now, actor=UserFactory()) == 0
