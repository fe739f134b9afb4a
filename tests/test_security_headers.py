"""Browser hardening headers (security review, issue 12, finding 3): a Content-Security-Policy with no inline
script or style and htmx configured to live within it; pages that need no exception to it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
from django.urls import reverse

from deployments.models import Role
from deployments.roles import role_grant
from tests.factories import DeploymentFactory

pytestmark = pytest.mark.django_db

# The one hx-trigger filter static/portal/console.js hands htmx already compiled (htmx would need eval).
COMPILED_FILTER = re.compile(r"^every \d+(ms|s|m)? \[document\.visibilityState === 'visible'\]$")


def _policy(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    directives = [part.split() for part in header.split(";") if part.strip()]
    return {name: values for name, *values in directives}


@pytest.fixture
def everyone(make_user):
    """Sees every page: operator and auditor on every application."""
    user = make_user(Role.OPERATOR, username="everyone")
    role_grant(user=user, role=Role.AUDITOR)
    return user


@pytest.fixture
def live_deployment(db):
    return DeploymentFactory(state="DEPLOYING", percentage_complete=40.0)


def test_it_sends_a_content_security_policy_without_inline_script_or_style(client_for, viewer):
    for response in (client_for(viewer).get("/"), client_for(viewer).get("/applications/nosuch1/")):
        policy = _policy(response)
        assert policy["default-src"] == ["'self'"]
        assert policy["script-src"] == ["'self'"]
        assert policy["style-src"] == ["'self'"]
        assert policy["object-src"] == ["'none'"]
        assert policy["base-uri"] == ["'none'"]
        assert policy["form-action"] == ["'self'"]
        assert policy["frame-ancestors"] == ["'none'"]
        assert "report-uri" not in policy
        assert "unsafe" not in response["Content-Security-Policy"]


def test_it_sends_the_policy_to_anonymous_visitors_and_the_admin(client):
    for path in (reverse("login"), reverse("admin:login")):
        assert _policy(client.get(path))["script-src"] == ["'self'"]


def _settings_in_a_process(env: dict[str, str], expression: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PORTAL_", "CSP_"))}
    code = f"from django.conf import settings; print({expression})"
    return subprocess.run(
        [sys.executable, "manage.py", "shell", "--no-imports", "-c", code],
        env={**clean, "DJANGO_SECRET_KEY": "x" * 50, **env},
        capture_output=True,
        text=True,
    )


def test_it_names_a_report_uri_only_when_csp_report_uri_is_set():
    expression = "settings.CONTENT_SECURITY_POLICY['DIRECTIVES'].get('report-uri')"
    assert _settings_in_a_process({}, expression).stdout.strip() == "None"
    reported = _settings_in_a_process({"CSP_REPORT_URI": "https://csp.example.com/r"}, expression)
    assert reported.stdout.strip() == "https://csp.example.com/r"

    refused = _settings_in_a_process({"CSP_REPORT_URI": "csp.example.com"}, expression)
    assert refused.returncode == 1
    assert refused.stderr.startswith("error: CSP_REPORT_URI must be")


def test_it_configures_htmx_to_live_within_the_policy(client):
    page = client.get(reverse("login")).content.decode()
    [config] = re.findall(r"<meta name=\"htmx-config\" content='([^']*)'>", page)
    assert json.loads(config) == {
        # htmx's indicator styles are an inline <style>; nothing in the console uses them.
        "includeIndicatorStyles": False,
        # hx-on, js: values and trigger filters are eval; console.js compiles the one filter used.
        "allowEval": False,
        "allowScriptTags": False,
        # No copies of pages in sessionStorage: back and forward reload them (Cache-Control: no-store).
        "historyCacheSize": 0,
        "refreshOnHistoryMiss": True,
    }


def test_it_renders_pages_that_need_no_exception_to_the_policy(client_for, everyone, live_deployment):
    client = client_for(everyone)
    environment = live_deployment.environment
    application = environment.application
    paths = [
        "/",
        "/applications/",
        f"/applications/{application.application_id}/",
        f"/applications/{application.application_id}/environments/{environment.environment_id}/",
        live_deployment.get_absolute_url(),
        "/stop-requests/",
        "/audit/",
        "/applications/nosuch1/",
    ]
    seen_filters = set()
    for path in paths:
        response = client.get(path)
        assert response.status_code in (200, 404), path
        page = response.content.decode()
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page), f"inline script on {path}"
        assert not re.search(r"<style|\sstyle=", page), f"inline style on {path}"
        assert not re.search(r"\son[a-z]+=|\shx-on|javascript:|\bjs:", page), f"handler or eval on {path}"
        for trigger in re.findall(r'hx-trigger="([^"]*\[[^"]*)"', page):
            seen_filters.add(trigger)
    assert seen_filters, "no live region was rendered: the test would prove nothing about filters"
    for trigger in seen_filters:
        assert COMPILED_FILTER.match(trigger), f"{trigger!r} needs eval; compile it in console.js"


def test_it_ships_console_js_that_compiles_the_filter_the_pages_use():
    with open("static/portal/console.js") as script:
        source = script.read()
    assert "triggerSpecsCache" in source
    assert "document.visibilityState === 'visible'" in source.replace("\\.", ".")


# ---------------------------------------------------------------------------------------------------------
# Cache-Control: nothing a signed-in user sees is kept by a shared cache or written to the browser's disk


def _cache_control(response) -> set[str]:
    return {part.strip() for part in response.get("Cache-Control", "").split(",") if part.strip()}


def test_it_keeps_pages_for_signed_in_users_private_and_unstored(client_for, everyone, live_deployment):
    client = client_for(everyone)
    for response in (
        client.get("/"),
        client.get("/", headers={"HX-Request": "true"}),
        client.get(live_deployment.get_absolute_url()),
        client.get("/applications/nosuch1/"),
        client.get("/audit/"),
    ):
        assert {"private", "no-store"} <= _cache_control(response), response.request["PATH_INFO"]


def test_it_leaves_a_cache_control_the_view_chose(client_for, viewer):
    response = client_for(viewer).get("/healthz")
    assert response["Cache-Control"] == "max-age=0, no-cache, no-store, must-revalidate, private"


def test_it_leaves_responses_to_anonymous_visitors_alone(client):
    assert "Cache-Control" not in client.get("/")  # the redirect to the sign-in page
