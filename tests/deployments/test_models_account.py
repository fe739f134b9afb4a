"""Account: one per AWS account and region, refused by `clean()` (the admin form's validation) with a message
naming the Account that already mirrors it, and by a database constraint."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from deployments.models import Account, account_id_from_role_arn

pytestmark = pytest.mark.django_db


def test_it_reads_the_aws_account_from_a_role_arn():
    assert account_id_from_role_arn("arn:aws:iam::123456789012:role/console") == "123456789012"
    assert account_id_from_role_arn("arn:aws-us-gov:iam::123456789012:role/a/b") == "123456789012"
    assert account_id_from_role_arn("arn:aws:iam::123:role/x") == ""
    assert account_id_from_role_arn("") == ""


def test_it_refuses_a_second_account_for_the_same_aws_account_and_region(settings):
    settings.AWS_REGION = "us-east-1"
    Account.objects.create(name="payments", region="", aws_account_id="123456789012")

    twin = Account(name="payments-again", region="us-east-1", role_arn="arn:aws:iam::123456789012:role/c")
    with pytest.raises(ValidationError, match="already mirrored by the Account 'payments'"):
        twin.full_clean()

    elsewhere = Account(name="payments-eu", region="eu-west-1", role_arn="arn:aws:iam::123456789012:role/c")
    elsewhere.full_clean()
    assert elsewhere.aws_account_id == "123456789012"


def test_the_database_refuses_a_duplicate_too():
    Account.objects.create(name="a", region="us-east-1", aws_account_id="123456789012")
    Account.objects.create(name="b", region="us-east-1")  # not identified yet: allowed
    with pytest.raises(IntegrityError), transaction.atomic():
        Account.objects.create(name="c", region="us-east-1", aws_account_id="123456789012")
