"""WSGI entry point for the back office."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "compliance_site.settings")
application = get_wsgi_application()

# Before serving: delete what uploads of dead processes (a kill mid-upload) left in the spool.
# A live process's uploads are untouched (compliance_site.spool), so a second web process or a
# gunicorn worker starting next to busy ones is safe.
from compliance_site.spool import spool_clean_at_startup  # noqa: E402

spool_clean_at_startup()
