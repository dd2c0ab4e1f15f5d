"""The access log is a hash chain: an edited, inserted or deleted event is caught and named."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from compliance_site.audit.models import AccessEvent, AuditChainHead
from compliance_site.audit.services import access_event_record
from compliance_site.audit.verification import access_log_first_break

pytestmark = pytest.mark.django_db


@pytest.fixture
def five_events(dpo):
    return [
        access_event_record(action="view", object_type="recording", object_id=n, actor=dpo, detail={"n": n})
        for n in range(1, 6)
    ]


def test_intact_chain_verifies(five_events):
    out = io.StringIO()
    call_command("verify_audit_log", stdout=out)

    assert "intact: 5 events verified" in out.getvalue()
    assert [e.sequence for e in five_events] == [1, 2, 3, 4, 5]
    assert five_events[1].prev_hash == five_events[0].hash


def test_edited_event_is_named(five_events):
    AccessEvent.objects.filter(sequence=3).update(detail={"n": 99})

    with pytest.raises(CommandError, match=r"event #3 .*edited"):
        call_command("verify_audit_log", stdout=io.StringIO())


def test_deleted_event_is_named(five_events):
    AccessEvent.objects.filter(sequence=2).delete()

    broken = access_log_first_break()
    assert broken.sequence == 2
    assert "deleted" in broken.problem


def test_deleted_last_event_is_caught_by_the_head(five_events):
    AccessEvent.objects.filter(sequence=5).delete()

    broken = access_log_first_break()
    assert "head records #5" in broken.problem


def test_inserted_event_is_caught(five_events):
    # given: a forged event slipped in with a plausible sequence and a correct self-hash
    from compliance_site.audit.chain import event_hash
    from compliance_site.audit.services import event_fields as _fields

    for event in AccessEvent.objects.filter(sequence__gte=3).order_by("-sequence"):
        AccessEvent.objects.filter(pk=event.pk).update(sequence=event.sequence + 1)
    forged = AccessEvent(
        sequence=3,
        occurred_at=five_events[2].occurred_at,
        actor_label="mallory",
        action="view",
        object_type="recording",
        object_id=42,
        prev_hash="f" * 64,
    )
    forged.hash = event_hash(forged.prev_hash, _fields(forged))
    forged.save()

    broken = access_log_first_break()
    assert broken.sequence == 3
    assert "link to the previous event" in broken.problem


def test_events_hold_no_personal_data(dpo):
    from tests.factories import DataSubjectFactory

    subject = DataSubjectFactory(full_name="Erika Mustermann", email="erika@example.org")
    event = access_event_record(
        action="decrypt",
        object_type="subject",
        object_id=subject.pk,
        object_reference=subject.reference,
        actor=dpo,
    )

    assert "Mustermann" not in repr(event.__dict__)
    assert AuditChainHead.objects.get().last_hash == AccessEvent.objects.order_by("-sequence").first().hash
