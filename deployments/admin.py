"""Admin: accounts and stop policy are the portal's own and editable; the cached AppConfig data is read-only
(sync owns it). Everything that changes who may do what is recorded in the audit trail or impossible here:
role grants go through the role services, stop policy through `environment_policy_set`, users' standing
(superuser, staff, active, groups, permissions) is recorded on every change, and the role groups'
permissions are defined in code (migrations, `deployments.access.ROLE_PERMISSIONS`) and read-only here."""

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group

from audit.records import record
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
from deployments.policy import environment_policy_set
from deployments.roles import role_grant, role_revoke
from portal.admin import ReadOnlyAdmin


@admin.register(Account)
class AccountAdmin(admin.ModelAdmin):
    list_display = ["name", "region", "endpoint_url", "role_arn", "api_rate_limit", "enabled"]


@admin.register(Application)
class ApplicationAdmin(ReadOnlyAdmin):
    list_display = ["name", "application_id", "account", "deleted_at", "synced_at"]
    list_filter = ["account"]
    search_fields = ["name", "application_id"]


@admin.register(Environment)
class EnvironmentAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "environment_id",
        "application",
        "state",
        "approvals_required",
        "is_critical",
        "deleted_at",
    ]
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
        "is_critical",
    ]
    # Only the portal's own policy is editable; the rest mirrors AppConfig.
    readonly_fields = ["application", "environment_id", "name", "description", "state", "monitors"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change) -> None:
        # Through the policy service: the change and its audit event, or nothing.
        environment_policy_set(
            environment=obj,
            approvals_required=form.cleaned_data.get("approvals_required"),
            is_critical=form.cleaned_data.get("is_critical"),
            changed_by=request.user,
            via="admin",
        )


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
        "throttles",
        "rows_created",
        "rows_updated",
    ]
    list_filter = ["scope", "status", "account"]


@admin.register(RoleGrant)
class RoleGrantAdmin(admin.ModelAdmin):
    """Grants are added or revoked, never edited, and always through the role services."""

    list_display = ["user", "group", "application", "source", "idp_group", "granted_by", "granted_at"]
    list_filter = ["group", "source"]
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


# ---------------------------------------------------------------------------------------------------------
# Who may do what, outside the role grants

admin.site.unregister(Group)
admin.site.unregister(get_user_model())


@admin.register(Group)
class RoleGroupAdmin(ReadOnlyAdmin, GroupAdmin):
    """The role groups and their permissions are defined in code; shown here, never edited: a permission
    added to a group here would give it to every holder of the role, unrecorded."""


STANDING_FIELDS = ("is_superuser", "is_staff", "is_active")


def _standing(user) -> dict:
    """What a user may do outside the role grants: the flags, groups and direct permissions."""
    if user is None or user.pk is None:
        return {}
    return {
        **{name: getattr(user, name) for name in STANDING_FIELDS},
        "groups": sorted(user.groups.values_list("name", flat=True)),
        "user_permissions": sorted(
            f"{app}.{codename}"
            for app, codename in user.user_permissions.values_list("content_type__app_label", "codename")
        ),
    }


@admin.register(get_user_model())
class AuditedUserAdmin(UserAdmin):
    """Django's user admin, with every change to a user's standing recorded (`user.changed`: the fields
    before and after), and so are creations and deletions."""

    def save_model(self, request, obj, form, change) -> None:
        before = get_user_model().objects.filter(pk=obj.pk).first() if change else None
        request._standing_before = _standing(before)  # groups and permissions are saved after the user
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change) -> None:
        super().save_related(request, form, formsets, change)
        user = form.instance
        before, after = getattr(request, "_standing_before", {}), _standing(user)
        changed = {k: {"before": before.get(k), "after": v} for k, v in after.items() if before.get(k) != v}
        if changed:
            record(
                action="user.changed",
                actor=request.user,
                target={"label": f"user {user.get_username()}"},
                details={"user": user.get_username(), "user_id": user.pk, "created": not change, **changed},
                source="admin",
            )

    def delete_model(self, request, obj) -> None:
        username, pk = obj.get_username(), obj.pk
        super().delete_model(request, obj)
        record(
            action="user.changed",
            actor=request.user,
            target={"label": f"user {username}"},
            details={"user": username, "user_id": pk, "deleted": True},
            source="admin",
        )

    def delete_queryset(self, request, queryset) -> None:
        for user in queryset:
            self.delete_model(request, user)
