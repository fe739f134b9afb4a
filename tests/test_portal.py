"""Project-level behaviour: login everywhere, error pages, settings from the environment."""

import os
import subprocess
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.urls import reverse

from deployments.models import SyncRun
from portal.env import env_bool, env_int

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("url", ["/", "/applications/", "/applications/abc1234/"])
def test_it_sends_anonymous_users_to_the_login_page(client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_it_shows_a_proper_login_page_and_signs_in(client, viewer):
    page = client.get(reverse("login"))
    assert page.status_code == 200
    assert b'<label for="id_username">' in page.content

    response = client.post(
        reverse("login"), {"username": "viewer", "password": "correct horse battery staple"}
    )
    assert response.status_code == 302
    assert client.get("/").status_code == 200


def test_it_shows_the_sync_problem_on_the_dashboard(client_for, viewer, account, emulator):
    from deployments import sync

    emulator.add_fault(operation="ListApplications", kind="error", count=None)
    with pytest.raises(sync.AppConfigError):
        sync.sync_account(account=account)

    page = client_for(viewer).get("/")
    assert b"last sync failed" in page.content
    assert SyncRun.objects.get().status == "failed"


def test_it_answers_unknown_pages_with_a_friendly_404(client_for, viewer):
    response = client_for(viewer).get("/applications/nosuch1/environments/x/deployments/1/")
    assert response.status_code == 404
    assert b"There is nothing here that you can see" in response.content


def test_it_reads_typed_settings_from_the_environment(monkeypatch):
    monkeypatch.setenv("X_FLAG", "yes")
    monkeypatch.setenv("X_NUM", "12")
    assert env_bool("X_FLAG") is True
    assert env_int("X_NUM", 1, maximum=20) == 12
    monkeypatch.setenv("X_FLAG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="X_FLAG must be true or false"):
        env_bool("X_FLAG")
    monkeypatch.setenv("X_NUM", "lots")
    with pytest.raises(ImproperlyConfigured, match="X_NUM must be a whole number"):
        env_int("X_NUM", 1)
    monkeypatch.setenv("X_NUM", "30")
    with pytest.raises(ImproperlyConfigured, match="X_NUM must be at most 20"):
        env_int("X_NUM", 1, maximum=20)


def _check(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PORTAL_"))}
    return subprocess.run(
        [sys.executable, "manage.py", "check", *args], env={**clean, **env}, capture_output=True, text=True
    )


def test_it_refuses_to_start_without_a_secret_outside_debug():
    result = _check({})
    assert result.returncode == 1
    assert result.stderr.startswith("error: DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is off")
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def test_it_reports_a_malformed_setting_in_one_line():
    result = _check({"DJANGO_SECRET_KEY": "x" * 50, "SYNC_INTERVAL_SECONDS": "soon"})
    assert result.returncode == 1
    assert result.stderr.startswith("error: SYNC_INTERVAL_SECONDS")
    assert result.stderr.count("\n") == 1


def test_it_reports_an_unreadable_group_mapping_file_in_one_line(tmp_path):
    """Start-up: a broken OIDC_GROUP_ROLES_FILE stops every command with one readable line, no traceback."""
    mapping = tmp_path / "roles.yaml"
    mapping.write_text("platform-admins: [{role: emperor}]\n")
    sso = {"OIDC_ISSUER": "https://idp.example.com", "OIDC_CLIENT_ID": "console", "OIDC_CLIENT_SECRET": "s"}
    for path in (mapping, tmp_path / "missing.yaml"):
        result = _check({"DJANGO_SECRET_KEY": "x" * 50, **sso, "OIDC_GROUP_ROLES_FILE": str(path)})
        assert result.returncode == 1, result.stderr
        assert result.stderr.startswith("error: OIDC_GROUP_ROLES_FILE"), result.stderr
        assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def test_it_passes_the_deploy_checklist_with_production_settings():
    result = _check(
        {
            "DJANGO_SECRET_KEY": "a-long-random-production-secret-" + "x" * 40,
            "DJANGO_ALLOWED_HOSTS": "console.example.com",
        },
        "--deploy",
        "--fail-level",
        "WARNING",
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_it_caches_in_redis_only_when_cache_url_says_so():
    secret = {"DJANGO_SECRET_KEY": "x" * 50}
    refused = _check({**secret, "CACHE_URL": "memcached://127.0.0.1:11211"})
    assert refused.returncode == 1 and refused.stderr.startswith("error: CACHE_URL must be a redis://")

    def backend(env: dict[str, str]) -> str:
        clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PORTAL_", "CACHE_"))}
        code = "from django.conf import settings; print(settings.CACHES['default']['BACKEND'])"
        result = subprocess.run(
            [sys.executable, "manage.py", "shell", "-c", code],
            env={**clean, **secret, **env},
            capture_output=True,
            text=True,
        )
        return result.stdout.strip()

    assert backend({}).endswith("LocMemCache")
    assert backend({"CACHE_URL": "redis://127.0.0.1:6379/1"}).endswith("RedisCache")


def test_it_runs_one_management_command_with_the_dev_runners_environment(tmp_path):
    ours = ("DJANGO_", "PORTAL_", "AWS_", "REDIS_")
    clean = {k: v for k, v in os.environ.items() if not k.startswith(ours)}
    result = subprocess.run(
        [sys.executable, "-m", "portal.devrun", "manage", "diffsettings", "--all"],
        env={**clean, "PORTAL_VAR_DIR": str(tmp_path), "DATABASE_URL": ""},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    # The production profile on loopback: DEBUG off, and this checkout's own secret key, kept in var/.
    assert "DEBUG = False" in result.stdout and "DEMO_MODE = True" in result.stdout
    key = (tmp_path / "secret-key").read_text().strip()
    assert len(key) >= 50 and f"SECRET_KEY = '{key}'" in result.stdout
    assert (tmp_path / "secret-key").stat().st_mode & 0o077 == 0
    assert "AWS_ENDPOINT_URL_APPCONFIG = 'http://127.0.0.1:4566'" in result.stdout


def test_it_passes_the_deploy_checklist_with_single_sign_on_configured(tmp_path):
    mapping = tmp_path / "group-roles.yaml"
    mapping.write_text("appconfig-operators: operator\n")
    result = _check(
        {
            "DJANGO_SECRET_KEY": "a-long-random-production-secret-" + "x" * 40,
            "DJANGO_ALLOWED_HOSTS": "console.example.com",
            "OIDC_ISSUER": "https://idp.example.com/realms/ops",
            "OIDC_CLIENT_ID": "appconfig-console",
            "OIDC_CLIENT_SECRET": "s3cret",
            "OIDC_GROUP_ROLES_FILE": str(mapping),
        },
        "--deploy",
        "--fail-level",
        "WARNING",
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"OIDC_ISSUER": "http://idp.example.com", "OIDC_CLIENT_ID": "c", "OIDC_CLIENT_SECRET": "s"},
            "https://",
        ),
        ({"OIDC_ISSUER": "https://idp.example.com"}, "OIDC_CLIENT_ID and OIDC_CLIENT_SECRET"),
        ({"LOCAL_LOGIN": "false"}, "nobody could sign in"),
    ],
)
def test_it_refuses_an_unusable_single_sign_on_configuration(env, message):
    result = _check({"DJANGO_SECRET_KEY": "x" * 50, **env})
    assert result.returncode == 1 and message in result.stderr


def test_it_refuses_a_group_mapping_with_an_unknown_role(tmp_path):
    mapping = tmp_path / "group-roles.yaml"
    mapping.write_text("appconfig-admins: superuser\n")
    env = {"OIDC_ISSUER": "https://idp.example.com", "OIDC_CLIENT_ID": "c", "OIDC_CLIENT_SECRET": "s"}
    result = _check({"DJANGO_SECRET_KEY": "x" * 50, **env, "OIDC_GROUP_ROLES_FILE": str(mapping)})
    assert result.returncode == 1 and "unknown role 'superuser'" in result.stderr


def test_it_points_console_links_at_the_web_port_make_run_serves(monkeypatch, tmp_path):
    from portal import devrun

    for name in (
        "CONSOLE_BASE_URL",
        "WEB_PORT",
        "AWS_ENDPOINT_URL_APPCONFIG",
        "AWS_PROFILE",
        "AWS_ACCESS_KEY_ID",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PORTAL_VAR_DIR", str(tmp_path))
    monkeypatch.setenv("WEB_PORT", "8123")
    env, _ = devrun._environment()
    assert env["CONSOLE_BASE_URL"] == "http://127.0.0.1:8123"

    monkeypatch.setenv("CONSOLE_BASE_URL", "https://console.example.com")
    env, _ = devrun._environment()
    assert env["CONSOLE_BASE_URL"] == "https://console.example.com"
