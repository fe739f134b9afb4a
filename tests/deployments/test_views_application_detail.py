"""The application page: its environments with state and latest deployment; 404 when invisible."""

import pytest
from django.utils import timezone

from deployments.models import Environment
from tests.factories import AccountFactory, DeploymentFactory, EnvironmentFactory
from tests.helpers import deployment_url

pytestmark = pytest.mark.django_db


def test_it_lists_environments_with_their_latest_deployment(client_for, viewer, estate):
    quiet = EnvironmentFactory(application=estate.application, name="staging", environment_id="stag123")
    EnvironmentFactory(
        application=estate.application, name="old", environment_id="old1234", deleted_at=timezone.now()
    )

    html = client_for(viewer).get("/applications/pay1234/").content.decode()

    assert "/applications/pay1234/environments/prod123/" in html
    assert deployment_url(estate.running) in html and "40.00%" in html
    assert deployment_url(estate.done) not in html  # only the latest
    assert quiet.name in html and "No deployments yet." in html
    assert "old1234" not in html


def test_it_runs_a_fixed_number_of_queries(client_for, viewer, estate, django_assert_max_num_queries):
    client = client_for(viewer)

    def count() -> int:
        with django_assert_max_num_queries(10) as captured:
            assert client.get("/applications/pay1234/").status_code == 200
        return len(captured)

    few = count()
    for _ in range(5):
        environment = EnvironmentFactory(application=estate.application)
        DeploymentFactory.create_batch(3, environment=environment)
    assert count() == few


@pytest.mark.parametrize(
    "path", ["/applications/nosuch1/", "/applications/%00/", "/applications/" + "x" * 300 + "/"]
)
def test_it_answers_unknown_ids_with_404(client_for, viewer, estate, path):
    assert client_for(viewer).get(path).status_code == 404


def test_it_hides_applications_the_user_may_not_see(client_for, outsider, estate):
    assert client_for(outsider).get("/applications/pay1234/").status_code == 404


def test_it_shows_each_environments_stop_policy(client_for, viewer, estate):
    Environment.objects.filter(pk=estate.environment.pk).update(approvals_required=2, is_critical=True)
    html = client_for(viewer).get("/applications/pay1234/").content.decode()
    assert '<td data-label="Stop approvals">2</td>' in html
    assert '<td data-label="Critical"><strong>critical</strong></td>' in html


def test_it_names_the_account_when_there_are_several(client_for, viewer, estate):
    assert "Account " not in client_for(viewer).get("/applications/pay1234/").content.decode()
    AccountFactory(name="second")
    assert (
        f"Account {estate.application.account.name}"
        in client_for(viewer).get("/applications/pay1234/").content.decode()
    )
