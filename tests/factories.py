import factory
from django.contrib.auth import get_user_model

from deployments.models import Account, Application, Deployment, DeploymentEvent, Environment


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
