"""The login throttle's two actions: auth.locked_out and auth.unlocked (choices only; no data changes)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0003_auditor_permissions"),
    ]

    operations = [
        migrations.AlterField(
            model_name="auditevent",
            name="action",
            field=models.CharField(
                choices=[
                    ("auth.login", "Auth Login"),
                    ("auth.login_failed", "Auth Login Failed"),
                    ("auth.logout", "Auth Logout"),
                    ("auth.locked_out", "Auth Locked Out"),
                    ("auth.unlocked", "Auth Unlocked"),
                    ("role.granted", "Role Granted"),
                    ("role.revoked", "Role Revoked"),
                    ("sync.requested", "Sync Requested"),
                    ("audit.viewed", "Audit Viewed"),
                    ("audit.exported", "Audit Exported"),
                    ("audit.verified", "Audit Verified"),
                    ("access.denied", "Access Denied"),
                    ("stop.requested", "Stop Requested"),
                    ("stop.approved", "Stop Approved"),
                    ("stop.rejected", "Stop Rejected"),
                    ("stop.cancelled", "Stop Cancelled"),
                    ("stop.expired", "Stop Expired"),
                    ("stop.executing", "Stop Executing"),
                    ("stop.succeeded", "Stop Succeeded"),
                    ("stop.failed", "Stop Failed"),
                    ("stop.superseded", "Stop Superseded"),
                    ("stop.break_glass", "Stop Break Glass"),
                ],
                max_length=32,
            ),
        ),
    ]
