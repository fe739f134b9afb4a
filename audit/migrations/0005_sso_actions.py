"""Single sign-on (issue 14): the actions auth.no_access and auth.step_up, and the source "sso" (role grants
reconciled with the identity provider's groups). Choices only; no row changes. Irreversible like every audit
migration (audit/irreversible.py)."""

from django.db import migrations, models

from audit.irreversible import IrreversibleAlterField

SOURCES = [
    ("web", "Web"),
    ("command", "Command"),
    ("worker", "Worker"),
    ("beat", "Beat"),
    ("admin", "Admin"),
    ("sso", "SSO"),
]


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0004_login_lockout_actions"),
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
                    ("auth.no_access", "Auth No Access"),
                    ("auth.step_up", "Auth Step Up"),
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
        IrreversibleAlterField(
            model_name="auditevent",
            name="source",
            field=models.CharField(choices=SOURCES, default="web", max_length=8),
        ),
        IrreversibleAlterField(
            model_name="auditverification",
            name="source",
            field=models.CharField(choices=SOURCES, max_length=8),
        ),
    ]
