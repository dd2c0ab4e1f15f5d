"""DRF's authtoken kept integration tokens in clear (its primary key); Custos now keeps only
their SHA-256 digest (IntegrationToken). Every token in DRF's table becomes a digest, so that
integrations keep working without a new token, and then DRF's table is dropped: leaving it would
leave the clear tokens in the database and in every later backup, which is what this change is
for. Its content types (and so their permissions) and its rows in django_migrations go too, so
that nothing refers to an app that is no longer installed.

The table is found by introspection, not through a dependency on DRF's migrations: the app is no
longer installed, and a fresh database never had the table (then this does nothing). There is no
way back: a digest does not give the token again.
"""

import datetime
import hashlib

from django.db import migrations
from django.db.migrations.recorder import MigrationRecorder
from django.utils.dateparse import parse_datetime

AUTHTOKEN_TABLE = "authtoken_token"
TOKEN_PREFIX_LENGTH = 8  # compliance_site.api_auth.TOKEN_PREFIX_LENGTH, as of this migration


def _aware(value) -> datetime.datetime:
    if isinstance(value, str):
        value = parse_datetime(value)
    if value is None:
        return datetime.datetime.now(tz=datetime.UTC)
    return value if value.tzinfo is not None else value.replace(tzinfo=datetime.UTC)


def tokens_from_authtoken(apps, schema_editor):
    connection = schema_editor.connection
    if AUTHTOKEN_TABLE not in connection.introspection.table_names():
        return
    IntegrationToken = apps.get_model("compliance_site", "IntegrationToken")
    table = schema_editor.quote_name(AUTHTOKEN_TABLE)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT key, user_id, created FROM {table}")  # noqa: S608 - a constant name
        rows = cursor.fetchall()
    for key, user_id, created in rows:
        IntegrationToken.objects.update_or_create(
            user_id=user_id,
            defaults={
                "prefix": key[:TOKEN_PREFIX_LENGTH],
                "digest": hashlib.sha256(key.encode()).hexdigest(),
                "created_at": _aware(created),
            },
        )
    schema_editor.execute(f"DROP TABLE {table}")
    apps.get_model("contenttypes", "ContentType").objects.filter(app_label="authtoken").delete()
    MigrationRecorder(connection).migration_qs.filter(app="authtoken").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("compliance_site", "0005_integrationtoken"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [
        migrations.RunPython(tokens_from_authtoken, migrations.RunPython.noop),
    ]
