"""Admin for staff users, with their change history."""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from rest_framework.authtoken import admin as authtoken_admin
from rest_framework.authtoken.models import TokenProxy

from compliance_site.admin_history import ScopedHistoryAdmin
from compliance_site.models import User

# Integration tokens are secrets issued and revoked by `manage.py create_integration`; the
# admin page DRF registers would list them in clear to anyone with the view permission.
if admin.site.is_registered(TokenProxy):
    admin.site.unregister(TokenProxy)
del authtoken_admin


@admin.register(User)
class CustosUserAdmin(UserAdmin, ScopedHistoryAdmin):
    list_filter = ("is_staff", "is_superuser", "is_active", "groups")
