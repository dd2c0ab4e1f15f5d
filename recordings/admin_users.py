"""The staff users' admin pages are access-logged like those of subjects and recordings.

The user list answers questions about accounts (who exists, who holds which group, whose second
factor is enrolled) and was the page an auditor used as an oracle; each of its pages, each user's
page and history are events naming the ids shown. The access log lives in ``recordings``, below
which ``compliance_site`` (where the user admin is declared) may not import, so the access-logged
admin replaces it here, once every admin module has been loaded (``RecordingsConfig.ready``).
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import get_user_model

from compliance_site.admin import CustosUserAdmin
from recordings.admin_access import AccessLoggedAdminMixin


class AccessLoggedUserAdmin(AccessLoggedAdminMixin, CustosUserAdmin):
    access_object_type = "user"


def user_admin_access_log() -> None:
    """Register the access-logged user admin in place of the plain one (idempotent)."""
    user_model = get_user_model()
    current = admin.site.get_model_admin(user_model) if admin.site.is_registered(user_model) else None
    if isinstance(current, AccessLoggedUserAdmin):
        return
    if current is not None:
        admin.site.unregister(user_model)
    admin.site.register(user_model, AccessLoggedUserAdmin)
