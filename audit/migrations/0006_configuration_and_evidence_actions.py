"""Issue 17: the actions config.viewed (a deployment's configuration content shown) and evidence.exported
(a deployment's evidence pack exported). Choices only; no row changes. Irreversible like every audit
migration (audit/irreversible.py)."""

from django.db import migrations, models

from audit.irreversible import IrreversibleAlterField

ACTIONS = [
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
    ("config.viewed", "Config Viewed"),
    ("evidence.exported", "Evidence Exported"),
]


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0005_sso_actions"),
    ]

    operations = [
        IrreversibleAlterField(
            model_name="auditevent",
            name="action",
            field=models.CharField(choices=ACTIONS, max_length=32),
        ),
    ]
