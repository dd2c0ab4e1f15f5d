"""``manage.py rotate_master_key``: a new master-key version, and every subject key (and staff
authenticator key) re-wrapped.

No audio is touched. Resumable: a run interrupted half-way leaves some keys under the old
version (still readable); the next run sees them and finishes instead of starting over.
"""

from django.core.management.base import BaseCommand

from compliance_site.audit.audit_keys import audit_keys_rotate, audit_keys_stale_count
from compliance_site.keys import get_provider
from compliance_site.services import authenticators_rewrap_batch, authenticators_stale_count
from recordings.vault.services import subject_keys_rewrap_batch, subject_keys_stale_count


class Command(BaseCommand):
    help = "Rotate the master key: create a new version and re-wrap every subject key under it."

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=500)
        parser.add_argument(
            "--resume-only",
            action="store_true",
            help="Finish an interrupted rotation; never start a new one.",
        )

    def handle(self, *args, batch_size: int, resume_only: bool, **options):
        provider = get_provider()
        stale = subject_keys_stale_count()
        if stale or authenticators_stale_count() or audit_keys_stale_count():
            self.stdout.write(
                f"Resuming: {stale} subject keys are not yet under {provider.current_version()}."
            )
        elif resume_only:
            self.stdout.write("Nothing to resume: every subject key is under the current version.")
            return
        else:
            version = provider.create_version()
            stale = subject_keys_stale_count()
            self.stdout.write(f"New master-key version {version}; re-wrapping {stale} subject keys.")
        done = 0
        while rewrapped := subject_keys_rewrap_batch(batch_size=batch_size):
            done += rewrapped
            self.stdout.write(f"  {done}/{stale} re-wrapped", ending="\r")
        # Staff authenticators too, or destroying the old version would lock every user out.
        authenticators = 0
        while rewrapped := authenticators_rewrap_batch(batch_size=batch_size):
            authenticators += rewrapped
        # The access log's keys too: a new one signs from now on, the older ones stay readable
        # (every past event verifiable) once the old master-key version is destroyed.
        audit_keys = audit_keys_rotate()
        self.stdout.write(
            self.style.SUCCESS(
                f"\nRotation complete: {done} subject keys, {authenticators} authenticator keys and "
                f"{audit_keys} older audit keys under "
                f"{provider.current_version()}."
            )
        )
