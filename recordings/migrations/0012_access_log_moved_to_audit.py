"""The access log's models moved to the audit app (audit 0001): state only, the tables stay."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0001_initial"),
        ("recordings", "0011_accessevent_consent_and_request_actions"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.AlterField(
                    model_name="playbacksession",
                    name="event",
                    field=models.OneToOneField(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="playback",
                        to="audit.accessevent",
                    ),
                ),
                migrations.DeleteModel(name="AuditChainHead"),
                migrations.DeleteModel(name="AccessEvent"),
            ],
        ),
    ]
