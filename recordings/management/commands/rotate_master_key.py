"""``manage.py rotate_master_key``: a new master-key version, and every subject key (and staff
authenticator key) re-wrapped.

No audio is touched. Resumable: a run interrupted half-way leaves some keys under the old
version (still readable); the next run sees them and finishes instead of starting over.
"""

from django.core.management.base import BaseCommand

from compliance_site.keys import get_provider
from compliance_site.services import authenticators_stale_count
from recordings.vault.retirement import master_key_versions_retire
from recordings.vault.rotation import master_key_rotate
from recordings.vault.services import subject_keys_stale_count


class Command(BaseCommand):
    help = "Rotate the master key: create a new version and re-wrap every subject key under it."

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=500)
        parser.add_argument(
            "--resume-only",
            action="store_true",
            help="Finish an interrupted rotation; never start a new one.",
        )
        parser.add_argument(
            "--retire",
            action="store_true",
            help="Then destroy the versions retired longer than CUSTOS_BACKUP_RETENTION_DAYS.",
        )

    def handle(self, *args, batch_size: int, resume_only: bool, retire: bool, **options):
        provider = get_provider()
        stale = subject_keys_stale_count()
        if stale or authenticators_stale_count():
            self.stdout.write(
                f"Resuming: {stale} subject keys are not yet under {provider.current_version()}."
            )
        elif resume_only:
            self.stdout.write("Nothing to resume: every subject key is under the current version.")
        if stale or authenticators_stale_count() or not resume_only:
            result = master_key_rotate(
                force=not resume_only,
                resume_only=resume_only,
                batch_size=batch_size,
                progress=lambda done, total: self.stdout.write(f"  {done}/{total} re-wrapped", ending="\r"),
            )
            if result.started:
                self.stdout.write(f"\nNew master-key version {result.started}.")
            self.stdout.write(
                self.style.SUCCESS(
                    f"\nRotation complete: {result.subject_keys} subject keys and "
                    f"{result.authenticator_keys} authenticator keys under {provider.current_version()}."
                )
            )
        if retire:
            for version in master_key_versions_retire():
                self.stdout.write(f"Destroyed retired master-key version {version}.")
