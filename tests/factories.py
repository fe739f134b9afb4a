from datetime import timedelta

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone

from deployments.models import (
    Account,
    Application,
    Deployment,
    DeploymentEvent,
    Environment,
    Role,
    RoleGrant,
    StopRequest,
)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.django.Password("correct horse battery staple")


class AccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Account
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"account-{n}")
    region = "us-east-1"


class ApplicationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Application

    account = factory.SubFactory(AccountFactory)
    application_id = factory.Sequence(lambda n: f"app{n:04d}")
    name = factory.Sequence(lambda n: f"application-{n}")


class EnvironmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Environment

    application = factory.SubFactory(ApplicationFactory)
    environment_id = factory.Sequence(lambda n: f"env{n:04d}")
    name = factory.Sequence(lambda n: f"environment-{n}")
    state = "READY_FOR_DEPLOYMENT"


class DeploymentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Deployment

    environment = factory.SubFactory(EnvironmentFactory)
    deployment_number = factory.Sequence(lambda n: n + 1)
    configuration_name = "flags"
    configuration_version = "1"
    growth_type = "LINEAR"
    growth_factor = 20.0
    deployment_duration_in_minutes = 10
    final_bake_time_in_minutes = 5
    state = "COMPLETE"
    percentage_complete = 100.0


class DeploymentEventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = DeploymentEvent

    deployment = factory.SubFactory(DeploymentFactory)
    sequence = factory.Sequence(lambda n: n)
    event_type = "PERCENTAGE_UPDATED"
    triggered_by = "APPCONFIG"
    description = "Configuration available to 20.00% of clients"


class RoleGrantFactory(factory.django.DjangoModelFactory):
    """A grant made behind the role services' back (no audit record): for tests of reads only; tests of
    granting use `deployments.roles.role_grant`."""

    class Meta:
        model = RoleGrant

    user = factory.SubFactory(UserFactory)
    group = factory.LazyFunction(lambda: Group.objects.get(name=Role.VIEWER))
    application = None


class StopRequestFactory(factory.django.DjangoModelFactory):
    """A stop request row in any status, without the service's checks (for reads: queue, panel, history)."""

    class Meta:
        model = StopRequest

    deployment = factory.SubFactory(DeploymentFactory, state="DEPLOYING")
    kind = "stop"
    status = "pending"
    state_at_request = "DEPLOYING"
    requested_by = factory.SubFactory(UserFactory)
    reason = "error rate up"
    approvals_required = 1
    expires_at = factory.LazyFunction(lambda: timezone.now() + timedelta(hours=1))
