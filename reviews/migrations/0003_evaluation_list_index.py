"""The evaluations list's order as an index: a QA lead's page walks it and stops after its rows
instead of sorting every evaluation (docs/PERFORMANCE.md, QA reviews)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("reviews", "0002_scorecard_frozen"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="evaluation",
            index=models.Index(fields=["-created_at", "-id"], name="evaluation_created"),
        ),
    ]
