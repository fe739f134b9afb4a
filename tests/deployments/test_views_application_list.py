"""The applications list: visible applications only, a filter box (HTMX partial), bad filters answer 400."""

import pytest
from django.utils import timezone

from tests.factories import ApplicationFactory
from tests.helpers import HX

pytestmark = pytest.mark.django_db


def test_it_lists_visible_live_applications_with_environment_counts(client_for, viewer, estate):
    ApplicationFactory(name="gone", application_id="gone123", deleted_at=timezone.now())
    html = client_for(viewer).get("/applications/").content.decode()
    assert "/applications/pay1234/" in html and "<td>1</td>" in html
    assert "gone123" not in html


def test_it_filters_by_name_or_id(client_for, viewer, estate):
    ApplicationFactory(name="search", application_id="srch123")
    client = client_for(viewer)
    by_name = client.get("/applications/", {"q": "PAYM"}).content.decode()
    by_id = client.get("/applications/", {"q": "srch"}).content.decode()
    assert "pay1234" in by_name and "srch123" not in by_name
    assert "srch123" in by_id and "pay1234" not in by_id
    assert "No applications match “zzz”" in client.get("/applications/", {"q": "zzz"}).content.decode()


def test_it_answers_htmx_with_the_results_partial(client_for, viewer, estate):
    response = client_for(viewer).get("/applications/", {"q": "pay"}, headers=HX)
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<div id="application-results">') and "<html" not in html
    assert "HX-Request" in response["Vary"]


def test_it_serves_the_whole_page_to_a_history_restore(client_for, viewer, estate):
    headers = {**HX, "HX-History-Restore-Request": "true"}
    assert b"<html" in client_for(viewer).get("/applications/", headers=headers).content


def test_it_hides_applications_the_user_may_not_see(client_for, outsider, estate):
    html = client_for(outsider).get("/applications/").content.decode()
    assert "pay1234" not in html


@pytest.mark.parametrize("query", ["x" * 101, "nul\x00byte"])
def test_it_answers_a_malformed_filter_with_400(client_for, viewer, query):
    response = client_for(viewer).get("/applications/", {"q": query})
    assert response.status_code == 400
    assert b"could not understand" in response.content
