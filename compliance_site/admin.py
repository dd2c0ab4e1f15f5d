"""Admin for staff users, with their change history."""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from simple_history.admin import SimpleHistoryAdmin

from compliance_site.models import User


@admin.register(User)
class CustosUserAdmin(UserAdmin, SimpleHistoryAdmin):
    list_filter = ("is_staff", "is_superuser", "is_active", "groups")
