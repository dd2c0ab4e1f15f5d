"""The vault's key tables: a subject's key and a recording's key, wrapped, with no history (a
history row would keep a copy of what crypto-shredding destroys)."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from recordings.models.calls import Recording
from recordings.models.subjects import DataSubject


class SubjectKey(models.Model):
    """A subject's data key, wrapped by a master-key version. No history: a copy of a wrapped key
    in a history row would survive its destruction. Destroying it leaves this row as a tombstone.
    """

    subject = models.OneToOneField(DataSubject, on_delete=models.PROTECT, related_name="key")
    master_version = models.CharField(max_length=255, blank=True)
    wrapped_key = models.BinaryField(default=b"", blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    rewrapped_at = models.DateTimeField(null=True, blank=True)
    destroyed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["master_version"], name="subjectkey_version_idx")]
        constraints = [
            models.CheckConstraint(
                condition=Q(destroyed_at__isnull=True) & ~Q(master_version="")
                | Q(destroyed_at__isnull=False, master_version=""),
                name="subjectkey_live_or_tombstone",
            ),
        ]

    def __str__(self) -> str:
        return f"Key of {self.subject_id}" + (" (destroyed)" if self.destroyed_at else "")


class RecordingKey(models.Model):
    """A recording's data key, wrapped by its subject's key with the recording id as associated
    data. No history, for the same reason as SubjectKey."""

    recording = models.OneToOneField(Recording, on_delete=models.PROTECT, related_name="key")
    wrapped_key = models.BinaryField(default=b"", blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    destroyed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(destroyed_at__isnull=True) | Q(destroyed_at__isnull=False, wrapped_key=b""),
                name="recordingkey_destroyed_is_empty",
            ),
        ]

    def __str__(self) -> str:
        return f"Key of recording {self.recording_id}" + (" (destroyed)" if self.destroyed_at else "")


class MasterKeyVersionRetirement(models.Model):
    """A master-key version that no wrapped key uses any more: since when (the first check that
    found it unused), and when it was destroyed. The record of a destruction that old backups'
    readability ends with; no key material, only the provider's version id."""

    version = models.CharField(max_length=255, unique=True)
    retired_at = models.DateTimeField()
    destroyed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        state = f"destroyed {self.destroyed_at:%Y-%m-%d}" if self.destroyed_at else "retired"
        return f"Master-key version {self.version} ({state})"
