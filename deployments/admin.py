"""Admin: accounts and stop policy are the portal's own and editable; the cached AppConfig data is read-only
(sync owns it), and role grants go through the role services so every change is recorded."""

from django.contrib import admin
from django.contrib.auth.models import Group

from deployments.models import (
    Account,
    Application,
    Deployment,
    DeploymentEvent,
    Environment,
    Role,
    RoleGrant,
    SyncRun,
)
from deployments.roles import role_grant, role_revoke
from portal.admin import ReadOnlyAdmin


@admin.register(Account)
class AccountAdmin(admin.ModelAdmin):
    list_display = ["name", "region", "endpoint_url", "role_arn", "enabled"]


@admin.register(Application)
class ApplicationAdmin(ReadOnlyAdmin):
    list_display = ["name", "application_id", "account", "deleted_at", "synced_at"]
    list_filter = ["account"]
    search_fields = ["name", "application_id"]


@admin.register(Environment)
class EnvironmentAdmin(admin.ModelAdmin):
    list_display = ["name", "environment_id", "application", "state", "approvals_required", "deleted_at"]
    list_filter = ["application__account", "state"]
    search_fields = ["name", "environment_id", "application__name"]
    fields = [
        "application",
        "environment_id",
        "name",
        "description",
        "state",
        "monitors",
        "approvals_required",
    ]
    # Only the portal's own policy is editable; the rest mirrors AppConfig.
    readonly_fields = ["application", "environment_id", "name", "description", "state", "monitors"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class EventInline(admin.TabularInline):
    model = DeploymentEvent
    fields = ["sequence", "event_type", "triggered_by", "description", "occurred_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Deployment)
class DeploymentAdmin(ReadOnlyAdmin):
    list_display = ["deployment_number", "environment", "state", "percentage_complete", "started_at"]
    list_filter = ["state"]
    list_select_related = ["environment__application"]
    inlines = [EventInline]


@admin.register(SyncRun)
class SyncRunAdmin(ReadOnlyAdmin):
    list_display = [
        "started_at",
        "scope",
        "account",
        "application",
        "status",
        "api_calls",
        "rows_created",
        "rows_updated",
    ]
    list_filter = ["scope", "status", "account"]


@admin.register(RoleGrant)
class RoleGrantAdmin(admin.ModelAdmin):
    """Grants are added or revoked, never edited, and always through the role services."""

    list_display = ["user", "group", "application", "granted_by", "granted_at"]
    list_filter = ["group"]
    fields = ["user", "group", "application"]

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "group":
            kwargs["queryset"] = Group.objects.filter(name__in=Role.values)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change) -> None:
        grant, _ = role_grant(
            user=obj.user,
            role=obj.group.name,
            application=obj.application,
            granted_by=request.user,
            via="admin",
        )
        obj.pk = grant.pk

    def delete_model(self, request, obj) -> None:
        role_revoke(
            user=obj.user,
            role=obj.group.name,
            application=obj.application,
            revoked_by=request.user,
            via="admin",
        )

    def delete_queryset(self, request, queryset) -> None:
        for grant in queryset.select_related("user", "group", "application"):
            self.delete_model(request, grant)
