"""Deadline reminders under a clock the test drives: across daylight-saving changes, and after
ticks that never ran."""

from __future__ import annotations

import datetime

import pytest
from django.core import mail

from dsr.models import DeadlineReminder
from dsr.reminders import reminders_send_due
from tests.dsr.reminder_clock import (
    Timeline,
    at_local,
    expected_reminders,
    hourly_ticks,
    local_day,
    request_due_on,
    use_reminder_settings,
)

pytestmark = pytest.mark.django_db

# Europe/Berlin in 2026: 02:00 CET becomes 03:00 CEST on 29 March, 03:00 CEST becomes 02:00 CET
# on 25 October.
SPRING_FORWARD = datetime.date(2026, 3, 29)
FALL_BACK = datetime.date(2026, 10, 25)
# Deadlines at the edges of the day, in the hour that does not exist (spring) or comes twice (fall).
DUE_TIMES = [(0, 30), (2, 30), (12, 0), (23, 30)]


@pytest.mark.parametrize(("transition", "hours_that_day"), [(SPRING_FORWARD, 23), (FALL_BACK, 25)])
def test_hourly_ticks_across_a_daylight_saving_change_send_each_reminder_once_on_its_day(
    settings, analyst, dpo, transition, hours_that_day
):
    use_reminder_settings(settings)
    # given: deadlines that put every kind of reminder on the day before, the day of and the day
    # after the change
    timelines, requests = {}, {}
    for days_after in range(-1, 9):
        day = transition + datetime.timedelta(days=days_after)
        for hour, minute in DUE_TIMES[days_after % 2 :: 2]:
            request = request_due_on(day, hour, minute, analyst)
            requests[request.pk] = request.reference
            timelines[request.reference] = Timeline([(0, True, day)])
    # hourly ticks on the UTC clock, for three days from midnight UTC the day before the change
    midnight_utc = datetime.datetime.combine(transition, datetime.time(), tzinfo=datetime.UTC)
    ticks = hourly_ticks(midnight_utc - datetime.timedelta(days=1), 72)
    assert sum(local_day(tick) == transition for tick in ticks) == hours_that_day

    # when: each tick runs; what each one sends is noted
    first_tick = {}
    for index, tick in enumerate(ticks):
        before = set(DeadlineReminder.objects.values_list("pk", flat=True))
        reminders_send_due(now=tick)
        for reminder in DeadlineReminder.objects.exclude(pk__in=before):
            first_tick[(requests[reminder.request_id], reminder.kind, reminder.due_date)] = index

    # then: every reminder went out once, at the first tick of its Berlin day
    expected = expected_reminders(timelines, ticks)
    assert first_tick == expected
    assert DeadlineReminder.objects.count() == len(expected) == len(mail.outbox)
    assert {kind for _, kind, _ in expected} >= {"7-days-before", "3-days-before", "1-days-before", "due-day"}
    on_the_day = [key for key, index in expected.items() if local_day(ticks[index]) == transition]
    assert len(on_the_day) >= 4


def test_a_reminder_whose_day_went_by_without_a_tick_is_sent_the_next_day(settings, analyst):
    use_reminder_settings(settings)
    deadline = datetime.date(2026, 9, 21)
    request = request_due_on(deadline, 12, 0, analyst)

    # when: no tick ran on the 14th (7 days before) nor on the 18th (3 days before)
    sent = {}
    for day in (15, 16, 17, 19, 20):
        for hour in (0, 13):
            reminders_send_due(now=at_local(datetime.date(2026, 9, day), hour))
        sent[day] = sorted(DeadlineReminder.objects.filter(request=request).values_list("kind", flat=True))

    # then: each went out on the following day, once
    assert sent[15] == sent[16] == sent[17] == ["7-days-before"]
    assert sent[19] == ["3-days-before", "7-days-before"]
    assert sent[20] == ["1-days-before", "3-days-before", "7-days-before"]
    assert [m.subject for m in mail.outbox] == [
        f"[Custos] Due in 6 day(s): {request.reference}",
        f"[Custos] Due in 2 day(s): {request.reference}",
        f"[Custos] Due in 1 day(s): {request.reference}",
    ]


def test_a_reminder_sent_on_its_day_is_not_sent_again_the_next_day(settings, analyst):
    use_reminder_settings(settings)
    deadline = datetime.date(2026, 9, 21)
    request = request_due_on(deadline, 12, 0, analyst)

    reminders_send_due(now=at_local(datetime.date(2026, 9, 14), 9))
    reminders_send_due(now=at_local(datetime.date(2026, 9, 15), 9))

    assert list(DeadlineReminder.objects.filter(request=request).values_list("kind", flat=True)) == [
        "7-days-before"
    ]
    assert len(mail.outbox) == 1
