from django.apps import AppConfig
from django.db.models.signals import m2m_changed, post_delete, post_save


class RetentionConfig(AppConfig):
    name = "retention"
    verbose_name = "Retention"

    def ready(self) -> None:
        from recordings.models import LegitimateInterestAssessment
        from recordings.reattribution import recording_reattributing
        from recordings.restrictions import restriction_lifting
        from recordings.services import recording_grounds_changed, recording_ingested
        from retention import receivers
        from retention.models import RetentionPolicy

        recording_ingested.connect(
            receivers.keep_until_on_ingest, dispatch_uid="retention-keep-until-on-ingest"
        )
        recording_grounds_changed.connect(
            receivers.keep_until_on_grounds_changed, dispatch_uid="retention-keep-until-on-grounds-changed"
        )
        # Keep-until follows every input (retention.recompute): policies and assessments too.
        post_save.connect(
            receivers.keep_until_on_policy_saved,
            sender=RetentionPolicy,
            dispatch_uid="retention-policy-saved",
        )
        post_delete.connect(
            receivers.keep_until_on_policy_deleted,
            sender=RetentionPolicy,
            dispatch_uid="retention-policy-deleted",
        )
        post_save.connect(
            receivers.keep_until_on_assessment_saved,
            sender=LegitimateInterestAssessment,
            dispatch_uid="retention-assessment-saved",
        )
        m2m_changed.connect(
            receivers.keep_until_on_assessment_purposes,
            sender=LegitimateInterestAssessment.purposes.through,
            dispatch_uid="retention-assessment-purposes",
        )
        restriction_lifting.connect(
            receivers.restricted_for_held_erasure, dispatch_uid="retention-restricted-for-held-erasure"
        )
        recording_reattributing.connect(
            receivers.reattribution_refused_by_holds, dispatch_uid="retention-reattribution-holds"
        )
