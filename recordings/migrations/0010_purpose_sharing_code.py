"""Demo databases seeded before issue 14 hold the sharing purpose under a code the code never
looked for (``sharing_third_parties``): give it the code ``Purpose.SHARING`` names, unless a
purpose with that code already exists."""

from django.db import migrations

LEGACY_CODE = "sharing_third_parties"
SHARING = "sharing_with_third_parties"


def rename_legacy_sharing_code(apps, schema_editor):
    Purpose = apps.get_model("recordings", "Purpose")
    if Purpose.objects.filter(code=SHARING).exists():
        return
    Purpose.objects.filter(code=LEGACY_CODE).update(code=SHARING)


class Migration(migrations.Migration):
    dependencies = [("recordings", "0009_write_path_indexes")]

    operations = [migrations.RunPython(rename_legacy_sharing_code, migrations.RunPython.noop)]
