"""Checking the access log against its digests (``digests``): what a database writer without
the audit key cannot hide. Each problem is one sentence naming events by sequence and id and
digests by name, never personal data.

- a digest whose signature fails, or signed with a key Custos does not hold: forged or edited;
- a digest whose "previous digest" hash or period does not follow the one before: a digest was
  deleted (or one inserted);
- no digest for the last periods: the newest digests were deleted (or beat stopped writing);
- a digest whose first or last event, or count, differs from the database: events edited,
  deleted, swapped or inserted, or the chain truncated with its head rewound;
- a switch-over to keyed hashes moved in the database.
"""

from __future__ import annotations

import datetime
import hmac

from django.utils import timezone

from compliance_site.audit.audit_keys import AuditKeyUnknownError, AuditKeyUnopenableError, audit_key
from compliance_site.audit.chain import GENESIS_HASH
from compliance_site.audit.digests import StoredDigest, digest_hash, digest_sign, digests_all, period
from compliance_site.audit.models import AccessEvent, AuditChainHead

# Beat writes a period's digest a minute or so after it ends; a digest later than this is missing.
_GRACE_PERIODS = 2


def _signature_problem(digest: StoredDigest) -> str | None:
    label = digest.document.get("key_version", "")
    try:
        key = audit_key(label)
    except AuditKeyUnopenableError:
        return (
            f"digest {digest.name} is signed with the audit key {label!r}, which the keyring cannot "
            "unwrap: forged, or wrapped under a keyring that is lost or not this one; it cannot be verified"
        )
    except AuditKeyUnknownError:
        return f"digest {digest.name} is signed with an audit key Custos does not hold ({label!r}): forged"
    if not hmac.compare_digest(digest_sign(key, digest.body), str(digest.document.get("signature", ""))):
        return f"digest {digest.name} does not match its signature: edited or forged"
    return None


def _event_problem(digest: StoredDigest, which: str) -> str | None:
    ref = digest.document.get(which)
    if ref is None:
        return None
    stored = AccessEvent.objects.filter(sequence=ref["sequence"]).values_list("pk", "hash").first()
    where = (
        f"event #{ref['sequence']} (id {ref['id']}), the {which.replace('_', ' ')} of digest {digest.name}"
    )
    if stored is None:
        return f"{where}, is missing from the database: deleted (the tail, if the head was rewound)"
    if stored != (ref["id"], ref["hash"]):
        return f"{where}, differs in the database: rewritten, swapped or replaced"
    return None


def digest_problems(*, now: datetime.datetime | None = None) -> list[str]:
    """Everything in the database that the digests contradict, and every gap in the digests."""
    now = now or timezone.now()
    problems: list[str] = []
    digests = digests_all()
    head = AuditChainHead.objects.filter(id=1).first()
    previous: StoredDigest | None = None
    for digest in digests:
        doc = digest.document
        if (signature := _signature_problem(digest)) is not None:
            problems.append(signature)
            previous = digest
            continue
        expected_prev = digest_hash(previous.document) if previous else GENESIS_HASH
        if doc["previous_digest_hash"] != expected_prev:
            after = previous.name if previous else "the start of the log"
            problems.append(
                f"digest {digest.name} does not follow {after}: a digest between them was deleted"
            )
        elif previous is not None and doc["period_start"] != previous.document["period_end"]:
            problems.append(f"digest {digest.name} does not start where {previous.name} ends")
        start = previous.last_sequence if previous else 0
        if doc["count"] != digest.last_sequence - start:
            problems.append(
                f"digest {digest.name} counts {doc['count']} events for #{start + 1}-#{digest.last_sequence}"
            )
        problems += filter(
            None, (_event_problem(digest, "first_event"), _event_problem(digest, "last_event"))
        )
        stored = AccessEvent.objects.filter(sequence__gt=start, sequence__lte=digest.last_sequence).count()
        if stored != doc["count"]:
            problems.append(
                f"digest {digest.name} covers {doc['count']} events (#{start + 1}-#{digest.last_sequence}); "
                f"the database holds {stored} of them: events deleted or inserted"
            )
        if head is not None and doc["keyed_from"] != head.keyed_from:
            problems.append(
                f"the switch-over to keyed hashes is at #{head.keyed_from} in the database, but at "
                f"#{doc['keyed_from']} in digest {digest.name}: moved in the database"
            )
        previous = digest
    if head is not None and previous is not None and head.sequence < previous.last_sequence:
        problems.append(
            f"the chain's head is at #{head.sequence}, but digest {previous.name} covers events up to "
            f"#{previous.last_sequence}: the last events were deleted and the head rewound"
        )
    overdue = now - _GRACE_PERIODS * period()
    if previous is not None:
        if datetime.datetime.fromisoformat(previous.document["period_end"]) < overdue:
            problems.append(
                f"the newest digest, {previous.name}, ends at {previous.document['period_end']}: the "
                "digests after it are missing (deleted, or beat stopped writing them)"
            )
    elif AccessEvent.objects.filter(occurred_at__lt=overdue).exists():
        problems.append("no digest exists for events older than two periods: deleted, or never written")
    return problems
