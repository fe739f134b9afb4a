"""Give the auditor role the audit trail's permissions (review_audit, export_audit).

As in deployments' 0002_roles: permissions are normally created after migrations (post_migrate), so a data
migration that assigns them creates them itself, from the model's Meta.permissions in this migration's state.
"""

from django.db import migrations

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


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group = Group.objects.filter(name="auditor").first()
    if group is not None:
        group.permissions.remove(
            *Permission.objects.filter(content_type__app_label="audit", codename__in=AUDITOR_PERMISSIONS)
        )


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0002_append_only_triggers"),
        ("deployments", "0002_roles"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
