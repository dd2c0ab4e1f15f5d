"""The newest audit key is read once per transaction: not once per append, and never past the
transaction that read it (another process's rotation, a rollback)."""

from __future__ import annotations

import os

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from compliance_site.audit import audit_keys
from compliance_site.audit.models import AccessEvent, AuditKey
from compliance_site.audit.services import access_event_record
from compliance_site.audit.verification import access_log_first_break
from compliance_site.keys import get_provider

pytestmark = pytest.mark.django_db


def _record(n: int) -> AccessEvent:
    return access_event_record(action="view", object_type="recording", object_id=n)


def _key_reads(queries: CaptureQueriesContext) -> int:
    return sum(
        1
        for query in queries.captured_queries
        if query["sql"].lstrip().upper().startswith("SELECT") and '"audit_auditkey"' in query["sql"]
    )


def _key_made_elsewhere() -> str:
    """What another process's rotation leaves behind: a newer key row, committed."""
    label = f"a{AuditKey.objects.count() + 1}"
    aad = f"custos/audit-key/{label}".encode()
    version, wrapped = get_provider().wrap(os.urandom(32), associated_data=aad)
    AuditKey.objects.create(
        label=label, master_version=version, wrapped_key=wrapped, created_at=timezone.now()
    )
    return label


@pytest.mark.django_db(transaction=True)
def test_appends_in_one_transaction_read_the_key_once():
    _record(0)  # the first key exists, and that transaction committed

    with CaptureQueriesContext(connection) as queries, transaction.atomic():
        for n in range(1, 6):
            _record(n)

    assert _key_reads(queries) == 1
    assert access_log_first_break() is None


@pytest.mark.django_db(transaction=True)
def test_a_rotation_by_another_process_is_seen_by_the_next_transaction():
    # given: events appended and committed, the key cached by their transaction
    _record(1)
    first = AccessEvent.objects.get().key_version

    # when: another process makes a newer key, and this one appends again
    newer = _key_made_elsewhere()
    _record(2)

    # then: the new event is signed with the newer key, and the chain verifies
    assert first != newer
    assert AccessEvent.objects.get(sequence=2).key_version == newer
    assert access_log_first_break() is None


def test_a_key_read_in_a_rolled_back_savepoint_is_read_again():
    # given: the first key ever made, in a savepoint that is rolled back
    with transaction.atomic():
        try:
            with transaction.atomic():
                _record(1)
                made = bytes(AuditKey.objects.get().wrapped_key)
                raise RuntimeError("the batch fails")
        except RuntimeError:
            pass
        # when: the transaction appends again
        _record(2)

    # then: a key of its own (the rolled-back one is gone), which signs a verifiable event
    assert bytes(AuditKey.objects.get().wrapped_key) != made
    assert access_log_first_break() is None


def test_a_key_made_in_this_transaction_replaces_the_cached_one():
    _record(1)
    with transaction.atomic():
        _record(2)
        get_provider().create_version()
        audit_keys.audit_keys_rotate()
        _record(3)

    labels = list(AccessEvent.objects.order_by("sequence").values_list("key_version", flat=True))
    assert labels[1] != labels[2] == AuditKey.objects.order_by("-id").first().label
    assert access_log_first_break() is None
