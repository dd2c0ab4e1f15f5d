"""``manage.py retention_preview [--at 2027-01-31] [--all]``: a dry run of the retention sweep.

Lists what the sweep would delete at that moment, and with ``--all`` why each survivor is kept.
Writes nothing.
"""

from __future__ import annotations

import datetime

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from recordings.models import Recording
from retention.explain import retention_verdict


class Command(BaseCommand):
    help = "Show what the retention sweep would delete now or at a given date, and why the rest is kept."

    def add_arguments(self, parser):
        parser.add_argument("--at", help="Date (YYYY-MM-DD) or ISO date-time to preview; default now.")
        parser.add_argument(
            "--all", action="store_true", dest="show_all", help="Also list the recordings kept, with why."
        )

    def handle(self, *args, at: str | None, show_all: bool, **options):
        moment = self._moment(at)
        deleted = kept = 0
        live = (
            Recording.objects.exclude(status=Recording.Status.ERASED)
            .select_related("queue")
            .order_by("keep_until", "pk")
        )
        self.stdout.write(
            f"Retention preview at {timezone.localtime(moment):%Y-%m-%d %H:%M %Z} (nothing is changed)"
        )
        for recording in live.iterator(chunk_size=500):
            verdict = retention_verdict(recording, moment)
            if verdict.deleted_by_sweep:
                deleted += 1
                self.stdout.write(f"DELETE  {recording.reference}  {verdict.reason}")
            else:
                kept += 1
                if show_all:
                    self.stdout.write(f"keep    {recording.reference}  {verdict.reason}")
        self.stdout.write(self.style.SUCCESS(f"{deleted} would be deleted, {kept} kept."))

    @staticmethod
    def _moment(value: str | None) -> datetime.datetime:
        if not value:
            return timezone.now()
        try:
            parsed = datetime.datetime.fromisoformat(value)
        except ValueError as exc:
            raise CommandError(f"--at {value!r}: use YYYY-MM-DD or an ISO date-time.") from exc
        if timezone.is_naive(parsed):
            parsed = timezone.make_aware(parsed)
        return parsed
