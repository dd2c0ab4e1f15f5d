"""``manage.py retention_preview [--at 2027-01-31] [--all] [--subjects]``: a dry run of the sweep.

Lists what the sweep would delete at that moment, and with ``--all`` why each survivor is kept.
``--subjects`` lists instead the subjects whose personal data the sweep's last stage would erase
(nothing left to keep: ``retention.subject_expiry``) and why each other one is kept, as things
stand now (a subject whose last call the same sweep deletes goes the night after the preview
says so). Writes nothing.
"""

from __future__ import annotations

import datetime

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from recordings.models import Recording
from retention.explain import retention_verdict
from retention.subject_expiry import keep_reasons, subjects_with_keep_reasons


class Command(BaseCommand):
    help = "Show what the retention sweep would delete now or at a given date, and why the rest is kept."

    def add_arguments(self, parser):
        parser.add_argument("--at", help="Date (YYYY-MM-DD) or ISO date-time to preview; default now.")
        parser.add_argument(
            "--all", action="store_true", dest="show_all", help="Also list the recordings kept, with why."
        )
        parser.add_argument(
            "--subjects",
            action="store_true",
            help="List the subjects whose personal data the sweep would erase, and why the others are kept.",
        )

    def handle(self, *args, at: str | None, show_all: bool, subjects: bool = False, **options):
        moment = self._moment(at)
        if subjects:
            self._subjects(moment)
            return
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

    def _subjects(self, moment: datetime.datetime) -> None:
        self.stdout.write(
            f"Subjects preview at {timezone.localtime(moment):%Y-%m-%d %H:%M %Z} (nothing is changed)"
        )
        erased = kept = 0
        for subject in subjects_with_keep_reasons(moment).order_by("pk").iterator(chunk_size=500):
            reasons = keep_reasons(subject)
            if reasons:
                kept += 1
                self.stdout.write(f"keep    {subject.reference}  kept for {'; '.join(reasons)}")
            else:
                erased += 1
                self.stdout.write(f"ERASE   {subject.reference}  nothing left to keep (Art. 5(1)(e))")
        self.stdout.write(self.style.SUCCESS(f"{erased} subject(s) would be erased, {kept} kept."))

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
