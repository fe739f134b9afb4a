"""What GetDeployment returns beyond the summary (AppliedExtensions, KmsKeyArn, KmsKeyIdentifier), and the
AWS account an Account reaches, unique per region so the same estate is never mirrored twice."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("deployments", "0006_rolegrant_source"),
    ]

    operations = [
        migrations.AddField(
            model_name="account",
            name="aws_account_id",
            field=models.CharField(
                blank=True, help_text="Filled from the role ARN or on the first sync.", max_length=12
            ),
        ),
        migrations.AddField(
            model_name="deployment",
            name="applied_extensions",
            field=models.JSONField(blank=True, default=list),
        ),
        migrations.AddField(
            model_name="deployment",
            name="kms_key_arn",
            field=models.CharField(blank=True, max_length=2048),
        ),
        migrations.AddField(
            model_name="deployment",
            name="kms_key_identifier",
            field=models.CharField(blank=True, max_length=2048),
        ),
        migrations.AddConstraint(
            model_name="account",
            constraint=models.UniqueConstraint(
                condition=models.Q(("aws_account_id", ""), _negated=True),
                fields=("aws_account_id", "region"),
                name="account_one_per_aws_account_and_region",
                violation_error_message="Another Account already mirrors this AWS account in this region.",
            ),
        ),
    ]
