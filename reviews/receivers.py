"""The QA reviews' answers to events of the apps below them: an erased call takes its evaluations'
link, comments and free text with it; a new evaluation gets its retention date; the demo gets
its reviews."""

from __future__ import annotations

import datetime

from django.utils import timezone

from reviews.models import Evaluation
from reviews.retention import evaluation_keep_until, evaluations_on_recordings_gone


def evaluations_on_recordings_erasing(
    sender, *, recording_ids: list[int], now: datetime.datetime, actor=None, **kwargs
) -> None:
    """``retention.services.recordings_erasing``: inside the erasure's transaction, set-based."""
    evaluations_on_recordings_gone(recording_ids=recording_ids, now=now, actor=actor)


def evaluation_keep_until_on_create(sender, *, instance: Evaluation, raw: bool = False, **kwargs) -> None:
    """``pre_save`` of an evaluation: a new one is kept CUSTOS_EVALUATION_RETENTION_DAYS from now
    (its ``created_at`` is this moment, give or take the save); fixtures keep what they say."""
    if raw or not instance._state.adding or instance.keep_until is not None:
        return
    instance.keep_until = evaluation_keep_until(instance.created_at or timezone.now())


def demo_reviews_on_seed(sender, *, users: dict, **kwargs) -> None:
    """``dsr.demo.demo_seeded``: the demo's scorecards, evaluations and calibrations."""
    from reviews.demo import demo_reviews_create  # the demo's code loads only for the demo

    demo_reviews_create(users)
