"""Keyed hashes for the access log: the events written so far keep their plain SHA-256 hashes,
and every event from the head's next sequence on is an HMAC under an audit key (the switch-over
point, ``AuditChainHead.keyed_from``)."""

from django.db import migrations, models


def switch_over_at_head(apps, schema_editor):
    head_model = apps.get_model("audit", "AuditChainHead")
    for head in head_model.objects.all():
        head.keyed_from = head.sequence + 1
        head.save(update_fields=["keyed_from"])


def noop(apps, schema_editor):
    pass


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0003_reattributed_action"),
    ]

    operations = [
        migrations.AddField(
            model_name="accessevent",
            name="key_version",
            field=models.CharField(blank=True, default="", max_length=16),
        ),
        migrations.AddField(
            model_name="auditchainhead",
            name="keyed_from",
            field=models.PositiveBigIntegerField(default=1),
        ),
        migrations.CreateModel(
            name="AuditKey",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("label", models.CharField(max_length=16, unique=True)),
                (
                    "master_version",
                    models.CharField(help_text="Master-key version that wraps it now.", max_length=2048),
                ),
                ("wrapped_key", models.BinaryField()),
                ("created_at", models.DateTimeField()),
            ],
            options={"ordering": ["id"]},
        ),
        migrations.RunPython(switch_over_at_head, noop),
    ]
