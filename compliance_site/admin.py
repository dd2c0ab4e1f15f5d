"""Admin for staff users, with their change history."""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from compliance_site.admin_history import ScopedHistoryAdmin
from compliance_site.models import User


@admin.register(User)
class CustosUserAdmin(UserAdmin, ScopedHistoryAdmin):
    list_filter = ("is_staff", "is_superuser", "is_active", "groups")
