"""The access log's tables: one hash-chained event per access to personal data or legally
significant act, and the chain's head row that serialises appends.

The tables were created by the recordings app and keep their names (``db_table``); the models
moved here, below every app, so that every app may write the log without importing one above it.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class AccessAction(models.TextChoices):
    LIST = "list", "Listed"
    VIEW = "view", "Viewed"
    PLAY = "play", "Played"
    DOWNLOAD = "download", "Downloaded"
    EXPORT = "export", "Exported"
    SHARE = "share", "Shared"
    SHARE_FETCH = "share_fetch", "Fetched by a recipient"
    SHARE_REVOKED = "share_revoked", "Share revoked"
    UNREDACTED = "unredacted", "Unredacted audio or transcript"
    DECRYPT = "decrypt", "Decrypted personal data"
    INGEST = "ingest", "Ingested"
    CONSENT_WITHDRAWN = "consent_withdrawn", "Consent withdrawn"
    REQUEST_FILED = "request_filed", "Data-subject request registered"
    KEY_DESTROYED = "key_destroyed", "Key destroyed"
    ERASURE = "erasure", "Erasure executed"
    HOLD_PLACED = "hold_placed", "Legal hold placed"
    RETENTION_DELETION = "retention_deletion", "Deleted by retention"
    RESTRICTION_PLACED = "restriction_placed", "Restriction placed (Art. 18)"
    RESTRICTION_LIFTED = "restriction_lifted", "Restriction lifted (Art. 18(3))"
    REATTRIBUTED = "reattributed", "Re-attributed to another subject"
    REDACTED_AT_REST = "redacted_at_rest", "Redacted at rest (segments silenced in the stored audio)"
    SEGMENT_REMOVED = "segment_removed", "Sensitive segment removed"


class AccessEvent(models.Model):
    """One access to personal data or one legally significant act, in a hash chain.

    Append-only: each event carries the hash of the one before it, so an edit, insertion or
    deletion breaks the chain where ``manage.py verify_audit_log`` finds it. Ids and pseudonyms
    only, never personal data in clear. No simple-history: the chain is its own history.
    """

    sequence = models.PositiveBigIntegerField(unique=True)
    occurred_at = models.DateTimeField()
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    actor_label = models.CharField(max_length=150, help_text="Username, integration or 'system'.")
    action = models.CharField(max_length=20, choices=AccessAction.choices)
    object_type = models.CharField(max_length=30)
    object_id = models.BigIntegerField(null=True, blank=True)
    object_reference = models.CharField(max_length=40, blank=True)
    purpose = models.CharField(max_length=50, blank=True)
    detail = models.JSONField(default=dict, blank=True)
    client_ip = models.GenericIPAddressField(null=True, blank=True)
    prev_hash = models.CharField(max_length=64)
    # Not unique, not indexed: the chain is walked by sequence, and no query looks a hash up.
    hash = models.CharField(max_length=64)
    # The audit key whose HMAC ``hash`` is (``AuditKey.label``); blank for the events written
    # before the switch-over to keyed hashes (``AuditChainHead.keyed_from``), which keep their
    # plain SHA-256.
    key_version = models.CharField(max_length=16, blank=True, default="")

    class Meta:
        # The table kept its name when the model moved here from recordings (migration
        # audit 0001): existing databases keep their rows.
        db_table = "recordings_accessevent"
        ordering = ["-sequence"]
        indexes = [models.Index(fields=["object_type", "object_id"], name="accessevent_object_idx")]

    def __str__(self) -> str:
        return f"#{self.sequence} {self.actor_label} {self.action} {self.object_type} {self.object_id}"


class AuditChainHead(models.Model):
    """The chain's last link, one row, locked by every append so appends are serial. A work
    table: it has no history and is rebuilt by nothing."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    sequence = models.PositiveBigIntegerField(default=0)
    last_hash = models.CharField(max_length=64)
    # The first event whose hash is keyed: every event from it on must be. Set by the migration
    # that introduced keyed hashes (the head's sequence + 1); every digest repeats it, so moving
    # it in the database is caught against the digests.
    keyed_from = models.PositiveBigIntegerField(default=1)

    class Meta:
        db_table = "recordings_auditchainhead"

    def __str__(self) -> str:
        return f"Audit chain at #{self.sequence}"


class AuditKey(models.Model):
    """A key of the access log's HMACs (event hashes and period digests), stored wrapped by the
    master key: a database writer can read the row but cannot compute an HMAC with it.

    One per master-key version, made when that version first signs; rotation re-wraps the older
    ones under the new version (``audit_keys_rewrap``), so retiring and destroying a master-key
    version leaves every event verifiable. A work table of keys: no history.
    """

    label = models.CharField(max_length=16, unique=True)
    master_version = models.CharField(max_length=2048, help_text="Master-key version that wraps it now.")
    wrapped_key = models.BinaryField()
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"Audit key {self.label}"
