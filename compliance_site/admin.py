"""Admin for staff users, with their change history."""

from axes import admin as axes_admin
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django_celery_beat.admin import PeriodicTaskAdmin
from django_celery_beat.models import PeriodicTask
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from compliance_site.admin_history import ScopedHistoryAdmin
from compliance_site.admin_readonly import ReadOnlyAdminMixin
from compliance_site.audit.admin import AccessLoggedAdminMixin
from compliance_site.models import User

# Integration tokens (compliance_site.models.IntegrationToken) are issued and revoked by
# `manage.py create_integration` and have no admin page: there is nothing in them to read.

# Second-factor devices hold their secrets (TOTP keys, recovery codes) in the table; they are
# enrolled on the second-factor pages and removed by `manage.py reset_second_factor`, which
# leaves the reset in the user's history. django-otp's admin pages would bypass both.
for _model in (TOTPDevice, StaticDevice):
    if admin.site.is_registered(_model):
        admin.site.unregister(_model)


for _model in (AccessAttempt, AccessFailureLog, AccessLog):
    if admin.site.is_registered(_model):
        admin.site.unregister(_model)


class _ReadOnlyLoginRecordAdmin(ReadOnlyAdminMixin):
    """django-axes' pages as a record: the DPO reads who failed to log in from where, and when a
    pair was locked out. Nothing here is a data subject's; the usernames are staff accounts.
    Unlocking early is `manage.py axes_reset_username`, not a delete button."""

    actions = None


@admin.register(AccessAttempt)
class AccessAttemptAdmin(_ReadOnlyLoginRecordAdmin, axes_admin.AccessAttemptAdmin):
    pass


@admin.register(AccessFailureLog)
class AccessFailureLogAdmin(_ReadOnlyLoginRecordAdmin, axes_admin.AccessFailureLogAdmin):
    pass


@admin.register(AccessLog)
class AccessLogAdmin(_ReadOnlyLoginRecordAdmin, axes_admin.AccessLogAdmin):
    pass


@admin.register(User)
class CustosUserAdmin(AccessLoggedAdminMixin, UserAdmin, ScopedHistoryAdmin):
    """The staff users' pages are access-logged like those of subjects and recordings: the user
    list answers questions about accounts (who exists, who holds which group, whose second factor
    is enrolled) and was the page an auditor used as an oracle, so each of its pages, each user's
    page and history are events naming the ids shown."""

    access_object_type = "user"
    list_filter = ("is_staff", "is_superuser", "is_active", "groups")
    # The stubs type list_display per instance and fieldsets as optional; Django's UserAdmin sets both.
    list_display = (*UserAdmin.list_display, "second_factor_enrolled_at")  # type: ignore[misc]
    readonly_fields = ("second_factor_enrolled_at",)
    fieldsets = (
        *UserAdmin.fieldsets,  # type: ignore[misc]
        ("Second factor", {"fields": ("second_factor_enrolled_at",)}),
    )


class GuardedPeriodicTaskAdmin(PeriodicTaskAdmin):
    """django-celery-beat's actions (enable, disable, toggle, run now) declare no permission, so
    Django offers them to anyone who may view the list: the auditor could run the retention sweep
    or pause the audit-log check. Here each needs the change permission, which only superusers
    hold."""

    @admin.action(description="Enable selected tasks", permissions=["change"])
    def enable_tasks(self, request, queryset):
        return super().enable_tasks(request, queryset)

    @admin.action(description="Disable selected tasks", permissions=["change"])
    def disable_tasks(self, request, queryset):
        return super().disable_tasks(request, queryset)

    @admin.action(description="Toggle activity of selected tasks", permissions=["change"])
    def toggle_tasks(self, request, queryset):
        return super().toggle_tasks(request, queryset)

    @admin.action(description="Run selected tasks", permissions=["change"])
    def run_tasks(self, request, queryset):
        return super().run_tasks(request, queryset)


if admin.site.is_registered(PeriodicTask):
    admin.site.unregister(PeriodicTask)
admin.site.register(PeriodicTask, GuardedPeriodicTaskAdmin)
