"""Guardian's direct object-permission tables for the hot models (its documented performance
path), and the ad-hoc grant on one recording with its reason and expiry."""

from __future__ import annotations

from django.db import models
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase
from simple_history.models import HistoricalRecords

from recordings.models.calls import Recording
from recordings.models.subjects import DataSubject, Queue


# guardian's direct foreign-key permission tables: object grants on the hot tables join by
# integer key instead of the generic (content_type, object_pk text) pair.
class DataSubjectUserObjectPermission(UserObjectPermissionBase):
    content_object = models.ForeignKey(DataSubject, on_delete=models.CASCADE)
    history = HistoricalRecords()


class DataSubjectGroupObjectPermission(GroupObjectPermissionBase):
    content_object = models.ForeignKey(DataSubject, on_delete=models.CASCADE)
    history = HistoricalRecords()


class QueueUserObjectPermission(UserObjectPermissionBase):
    content_object = models.ForeignKey(Queue, on_delete=models.CASCADE)
    history = HistoricalRecords()


class QueueGroupObjectPermission(GroupObjectPermissionBase):
    content_object = models.ForeignKey(Queue, on_delete=models.CASCADE)
    history = HistoricalRecords()


class AdHocGrantFields(models.Model):
    """A grant on one recording is an exception to the queue grants: it says why, and it ends.

    The expiry is checked by the access selectors at query time, so an expired grant stops
    working at once, without a job having to remove it.
    """

    reason = models.CharField(max_length=255, blank=True, help_text="Why this recording is granted.")
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Empty: until revoked.")

    class Meta:
        abstract = True


class RecordingUserObjectPermission(AdHocGrantFields, UserObjectPermissionBase):
    content_object = models.ForeignKey(Recording, on_delete=models.CASCADE)
    history = HistoricalRecords()

    class Meta(UserObjectPermissionBase.Meta):
        verbose_name = "recording grant"
        indexes = [models.Index(fields=["user", "permission", "expires_at"], name="recording_user_grant_idx")]

    def __str__(self) -> str:
        return f"{self.user} may review {self.content_object}"


class RecordingGroupObjectPermission(AdHocGrantFields, GroupObjectPermissionBase):
    content_object = models.ForeignKey(Recording, on_delete=models.CASCADE)
    history = HistoricalRecords()

    class Meta(GroupObjectPermissionBase.Meta):
        verbose_name = "recording group grant"

    def __str__(self) -> str:
        return f"{self.group} may review {self.content_object}"
