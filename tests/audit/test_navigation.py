"""The layout offers "Audit trail" in its navigation to those who may review it, and to nobody else."""

from __future__ import annotations

import pytest
from django.urls import reverse

from deployments.models import Role

pytestmark = pytest.mark.django_db

LINK = f'href="{reverse("audit_event_list")}"'


def test_an_auditor_for_every_application_sees_the_link(client_for, auditor):
    html = client_for(auditor).get(reverse("dashboard")).content.decode()
    assert LINK in html and ">Audit trail</a>" in html


def test_an_auditor_of_one_application_sees_the_link(client_for, make_user, deployment):
    scoped = make_user(Role.AUDITOR, application=deployment.environment.application)
    assert LINK in client_for(scoped).get(reverse("dashboard")).content.decode()


def test_a_superuser_sees_the_link(client_for, admin_user):
    assert LINK in client_for(admin_user).get(reverse("dashboard")).content.decode()


@pytest.mark.parametrize("role", [Role.VIEWER, Role.OPERATOR, Role.APPROVER, Role.BREAK_GLASS])
def test_other_roles_do_not(client_for, make_user, role):
    html = client_for(make_user(role)).get(reverse("dashboard")).content.decode()
    assert LINK not in html and "Audit trail" not in html


def test_the_link_is_marked_current_on_the_trail(client_for, auditor):
    html = client_for(auditor).get(reverse("audit_event_list")).content.decode()
    assert f'{LINK} aria-current="page">Audit trail</a>' in html
