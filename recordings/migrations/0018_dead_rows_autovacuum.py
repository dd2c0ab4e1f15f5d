"""Aggressive autovacuum on the tables whose dead rows would keep a destroyed key or a subject's
ciphertext (recordings.vault.dead_rows): vacuumed as soon as one row is dead, without cost-based
throttling. The backstop for the vacuum task an erasure enqueues. PostgreSQL only."""

from django.db import migrations

TABLES = (
    "recordings_subjectkey",
    "recordings_recordingkey",
    "recordings_datasubject",
    "recordings_historicaldatasubject",
)
# scale factor 0 and threshold 0: a single dead tuple makes the table due at the next naptime.
OPTIONS = {
    "autovacuum_vacuum_scale_factor": "0",
    "autovacuum_vacuum_threshold": "0",
    "autovacuum_vacuum_cost_delay": "0",
    "toast.autovacuum_vacuum_scale_factor": "0",
    "toast.autovacuum_vacuum_threshold": "0",
}


def _alter(schema_editor, clause: str) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in TABLES:
        schema_editor.execute(f"ALTER TABLE {schema_editor.quote_name(table)} {clause}")


def aggressive(apps, schema_editor):
    _alter(schema_editor, "SET (" + ", ".join(f"{k} = {v}" for k, v in OPTIONS.items()) + ")")


def default(apps, schema_editor):
    _alter(schema_editor, "RESET (" + ", ".join(OPTIONS) + ")")


class Migration(migrations.Migration):
    dependencies = [("recordings", "0017_master_key_retirement")]

    operations = [migrations.RunPython(aggressive, default, elidable=False)]
