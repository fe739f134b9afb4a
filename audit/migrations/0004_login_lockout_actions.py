"""New actions: the login throttle's auth.locked_out and auth.unlocked, and policy.changed and user.changed
(changes to who may do what made in the admin). Choices only; no row changes. Irreversible like every audit
migration (audit/irreversible.py)."""

from django.db import migrations, models

from audit.irreversible import IrreversibleAlterField


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0003_auditor_permissions"),
    ]

    operations = [
        IrreversibleAlterField(
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
                    ("policy.changed", "Policy Changed"),
                    ("user.changed", "User Changed"),
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
