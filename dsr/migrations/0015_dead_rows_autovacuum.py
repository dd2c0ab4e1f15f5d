"""Aggressive autovacuum on the access packages' table, whose dead rows would keep a purged
package's wrapped key (recordings.vault.dead_rows; the recordings app's migration of the same name
does the key and subject tables). PostgreSQL only."""

from django.db import migrations

TABLES = ("dsr_datapackage",)
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
    dependencies = [("dsr", "0014_letter_facts")]

    operations = [migrations.RunPython(aggressive, default, elidable=False)]
