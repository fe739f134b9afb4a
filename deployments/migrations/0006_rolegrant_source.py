"""Where a role grant came from: by hand (admin, command; every existing grant) or single sign-on, and for
SSO the identity provider group that caused it (issue 14)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("deployments", "0005_rolegrant_group_protect"),
    ]

    operations = [
        migrations.AddField(
            model_name="rolegrant",
            name="source",
            field=models.CharField(
                choices=[("manual", "By hand (admin, command)"), ("sso", "Single sign-on")],
                default="manual",
                max_length=8,
            ),
        ),
        migrations.AddField(
            model_name="rolegrant",
            name="idp_group",
            field=models.CharField(blank=True, max_length=255),
        ),
    ]
