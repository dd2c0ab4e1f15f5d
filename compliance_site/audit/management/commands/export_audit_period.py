"""``manage.py export_audit_period --from 2026-03-01 --to 2026-04-01 DIR``: the digests of the
periods that overlap [from, to) as stored, and every event they cover, for an auditor to verify
with ``docs/verify_audit_export.py`` (no Custos code; the HMAC keys given separately).

``--keys-file`` writes the audit keys that signed them (hex, by label): whoever holds them can
forge events, so hand them over apart from the export and only to the auditor.
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path

from django.core.files.storage import storages
from django.core.management.base import BaseCommand, CommandError

from compliance_site.audit.audit_keys import AuditKeyUnknownError, audit_key
from compliance_site.audit.digests import digest_names, digest_read
from compliance_site.audit.models import AccessEvent
from compliance_site.audit.services import event_fields


def _moment(value: str) -> datetime.datetime:
    moment = datetime.datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=datetime.UTC)


class Command(BaseCommand):
    help = "Export the access-log digests of a period and the events they cover, for an auditor."

    def add_arguments(self, parser):
        parser.add_argument("--from", dest="start", required=True, help="ISO date or time (UTC if naive)")
        parser.add_argument("--to", dest="end", required=True, help="ISO date or time, exclusive")
        parser.add_argument("--keys-file", help="Also write the audit keys (hex) to this separate file.")
        parser.add_argument("directory")

    def handle(self, *args, start: str, end: str, directory: str, keys_file: str | None, **options):
        try:
            since, until = _moment(start), _moment(end)
        except ValueError as exc:
            raise CommandError(f"--from and --to must be ISO dates or times ({exc}).") from None
        folder = Path(directory)
        (folder / "digests").mkdir(parents=True, exist_ok=True)
        previous, chosen = None, []
        for name in digest_names():
            digest = digest_read(name)
            period_start = datetime.datetime.fromisoformat(digest.document["period_start"])
            period_end = datetime.datetime.fromisoformat(digest.document["period_end"])
            if period_end <= since:
                previous = digest
            elif period_start < until:
                chosen.append(digest)
        if not chosen:
            raise CommandError("No digest covers that period.")
        if previous is not None:
            # What the first exported digest names as its predecessor, and where its events link to.
            (folder / "previous-digest.json").write_bytes(storages["recordings"].open(previous.name).read())
        for digest in chosen:
            (folder / "digests" / Path(digest.name).name).write_bytes(
                storages["recordings"].open(digest.name).read()
            )
        after = previous.last_sequence if previous else 0
        through = chosen[-1].last_sequence
        labels = {d.document["key_version"] for d in chosen}
        count = 0
        with (folder / "events.jsonl").open("w") as out:
            events = AccessEvent.objects.filter(sequence__gt=after, sequence__lte=through).order_by(
                "sequence"
            )
            for event in events.iterator(chunk_size=2000):
                record = {"id": event.pk, "prev_hash": event.prev_hash, "hash": event.hash}
                out.write(json.dumps({**record, "fields": event_fields(event)}, default=str) + "\n")
                if event.key_version:
                    labels.add(event.key_version)
                count += 1
        if keys_file:
            try:
                keys = {label: audit_key(label).hex() for label in sorted(labels)}
            except AuditKeyUnknownError as exc:
                raise CommandError(str(exc)) from None
            path = Path(keys_file)
            path.touch(mode=0o600)
            path.write_text(json.dumps(keys, indent=2))
        self.stdout.write(
            self.style.SUCCESS(f"Exported {len(chosen)} digests and {count} events to {folder}.")
        )
