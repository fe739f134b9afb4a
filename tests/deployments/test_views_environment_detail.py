"""The environment page: deployments newest first, paginated, filterable by state (HTMX partial), a "Sync
now" button for operators; bad filters and pages answer 400/404; a fixed number of queries at 10,000 rows."""

import pytest

from deployments.models import Account, Deployment
from tests.factories import AccountFactory
from tests.helpers import HX, deployment_url, environment_url, set_policy

pytestmark = pytest.mark.django_db


def _many(environment, count: int, start: int = 100) -> None:
    Deployment.objects.bulk_create(
        Deployment(
            environment=environment,
            deployment_number=start + i,
            state="ROLLED_BACK" if i % 10 == 0 else "COMPLETE",
            percentage_complete=100.0,
            configuration_name="flags",
        )
        for i in range(count)
    )


def test_it_lists_deployments_newest_first(client_for, viewer, estate):
    html = client_for(viewer).get(environment_url(estate.environment)).content.decode()
    assert html.index(deployment_url(estate.running)) < html.index(deployment_url(estate.done))


def test_it_paginates_fifty_at_a_time(client_for, viewer, estate):
    _many(estate.environment, 120)
    client = client_for(viewer)
    first = client.get(environment_url(estate.environment)).content.decode()
    last = client.get(environment_url(estate.environment), {"page": 3}).content.decode()
    assert "deployments/219/" in first and "deployments/170/" in first and "deployments/169/" not in first
    assert "Page 1 of 3" in first and 'rel="next"' in first
    assert "deployments/1/" in last and "Page 3 of 3" in last


def test_it_filters_by_state_and_keeps_the_filter_in_page_links(client_for, viewer, estate):
    _many(estate.environment, 600)
    html = (
        client_for(viewer).get(environment_url(estate.environment), {"state": "ROLLED_BACK"}).content.decode()
    )
    assert "Deployments in state ROLLED_BACK" in html and ">60<" in html
    assert "?state=ROLLED_BACK&amp;page=2" in html
    assert deployment_url(estate.running) not in html
    assert '<option value="ROLLED_BACK" selected>' in html


def test_it_answers_htmx_with_the_deployments_partial(client_for, viewer, estate):
    response = client_for(viewer).get(environment_url(estate.environment), {"state": "DEPLOYING"}, headers=HX)
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="deployments"') and "<html" not in html
    assert deployment_url(estate.running) in html and deployment_url(estate.done) not in html


@pytest.mark.parametrize("query", [{"state": "EXPLODED"}, {"page": "abc"}, {"page": "0"}, {"page": "-3"}])
def test_it_answers_malformed_filters_with_400(client_for, viewer, estate, query):
    response = client_for(viewer).get(environment_url(estate.environment), query)
    assert response.status_code == 400
    assert b"could not understand" in response.content


def test_it_answers_a_page_past_the_end_with_404(client_for, viewer, estate):
    assert client_for(viewer).get(environment_url(estate.environment), {"page": 2}).status_code == 404


@pytest.mark.parametrize(
    "path",
    [
        "/applications/pay1234/environments/nosuch1/",
        "/applications/nosuch1/environments/prod123/",
        "/applications/pay1234/environments/%00/",
    ],
)
def test_it_answers_unknown_ids_with_404(client_for, viewer, estate, path):
    assert client_for(viewer).get(path).status_code == 404


def test_it_hides_environments_the_user_may_not_see(client_for, outsider, estate):
    assert client_for(outsider).get(environment_url(estate.environment)).status_code == 404


def test_it_offers_sync_now_to_operators_only(client_for, viewer, operator, estate):
    assert b"Sync now" not in client_for(viewer).get(environment_url(estate.environment)).content
    assert b"Sync now" in client_for(operator).get(environment_url(estate.environment)).content


def test_it_runs_a_fixed_number_of_queries_at_ten_thousand_deployments(
    client_for, operator, estate, django_assert_max_num_queries
):
    client = client_for(operator)
    url = environment_url(estate.environment)

    def count(query) -> int:
        with django_assert_max_num_queries(10) as captured:
            assert client.get(url, query).status_code == 200
        return len(captured)

    few = count({}), count({"state": "COMPLETE"})
    _many(estate.environment, 10_000)
    many = count({"page": 150}), count({"state": "COMPLETE"})
    assert few == many


def test_it_shows_the_stop_policy(client_for, viewer, estate):
    set_policy(estate.running, 2, critical=True)
    html = client_for(viewer).get(environment_url(estate.environment)).content.decode()
    assert "<dt>Stop approvals</dt><dd>2 approvers other than the requester</dd>" in html
    assert "<strong>yes</strong>: whoever asks for a stop types <code>prod</code> to confirm" in html
    set_policy(estate.running, 0)
    html = client_for(viewer).get(environment_url(estate.environment)).content.decode()
    assert "none: a stop runs as soon as it is asked" in html and "<dt>Critical</dt><dd>no</dd>" in html


def test_it_names_the_account_and_says_when_it_is_disabled(client_for, viewer, estate):
    assert "Account " not in client_for(viewer).get(environment_url(estate.environment)).content.decode()
    AccountFactory(name="second", enabled=False)
    Account.objects.filter(pk=estate.application.account_id).update(enabled=False)
    html = client_for(viewer).get(environment_url(estate.environment)).content.decode()
    assert f"Account {estate.application.account.name}" in html
    assert "is disabled: this environment's cache is no longer refreshed" in html
