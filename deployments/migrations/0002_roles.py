"""Create the role groups and give them their permissions.

Permissions are normally created after migrations (post_migrate); a data migration that assigns them must
create them itself, from the model's Meta.permissions as they stand in this migration's state.
"""

from django.db import migrations

ROLE_PERMISSIONS = {
    "viewer": ["view_console"],
    "operator": ["view_console", "sync_now", "request_stop"],
    "approver": ["view_console", "approve_stop"],
    "auditor": ["view_console"],
    "break-glass": ["view_console", "request_stop", "stop_without_approval"],
}


def create_roles(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    Group = apps.get_model("auth", "Group")
    Application = apps.get_model("deployments", "Application")
    content_type, _ = ContentType.objects.get_or_create(app_label="deployments", model="application")
    names = dict(Application._meta.permissions)
    for role, codenames in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        for codename in codenames:
            permission, _ = Permission.objects.get_or_create(
                content_type=content_type, codename=codename, defaults={"name": names[codename]}
            )
            group.permissions.add(permission)


def remove_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=ROLE_PERMISSIONS).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("deployments", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_roles, remove_roles)]
