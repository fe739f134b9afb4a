"""Give the auditor role the audit trail's permissions (review_audit, export_audit).

As in deployments' 0002_roles: permissions are normally created after migrations (post_migrate), so a data
migration that assigns them creates them itself, from the model's Meta.permissions in this migration's state.

Never reversed, like every audit migration (audit/irreversible.py); `migrate deployments 0001` and the like
are refused too, since they would unapply this one. Take the permissions away from the group instead.
"""

from django.db import migrations

from audit.irreversible import IrreversibleRunPython

AUDITOR_PERMISSIONS = ["review_audit", "export_audit"]


def grant(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    Group = apps.get_model("auth", "Group")
    AuditEvent = apps.get_model("audit", "AuditEvent")
    content_type, _ = ContentType.objects.get_or_create(app_label="audit", model="auditevent")
    names = dict(AuditEvent._meta.permissions)
    group, _ = Group.objects.get_or_create(name="auditor")
    for codename in AUDITOR_PERMISSIONS:
        permission, _ = Permission.objects.get_or_create(
            content_type=content_type, codename=codename, defaults={"name": names[codename]}
        )
        group.permissions.add(permission)


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0002_append_only_triggers"),
        ("deployments", "0002_roles"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [IrreversibleRunPython(grant)]
