"""The role selector: which applications a user may see or act on."""

import pytest

from deployments.models import Role
from deployments.roles import RoleError, role_grant, role_revoke
from deployments.selectors import applications_for, user_may
from tests.factories import ApplicationFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def apps():
    return [ApplicationFactory() for _ in range(3)]


def test_it_gives_an_unscoped_role_every_application(make_user, apps):
    user = make_user(Role.VIEWER)
    assert set(applications_for(user)) == set(apps)
    later = ApplicationFactory()
    assert later in applications_for(user)


def test_it_limits_a_scoped_user_to_their_applications(make_user, apps):
    user = make_user(Role.OPERATOR, application=apps[0])
    role_grant(user=user, role=Role.VIEWER, application=apps[1])

    assert set(applications_for(user)) == {apps[0], apps[1]}
    assert set(applications_for(user, "deployments.request_stop")) == {apps[0]}
    assert user_may(user, "deployments.request_stop", apps[0])
    assert not user_may(user, "deployments.request_stop", apps[1])
    assert not user_may(user, "deployments.view_console", apps[2])


def test_it_gives_a_role_only_its_own_permissions(make_user, apps):
    viewer = make_user(Role.VIEWER)
    approver = make_user(Role.APPROVER)
    assert not user_may(viewer, "deployments.request_stop")
    assert not user_may(viewer, "deployments.approve_stop")
    assert user_may(approver, "deployments.approve_stop", apps[2])
    assert not user_may(approver, "deployments.request_stop", apps[2])
    assert not user_may(approver, "deployments.stop_without_approval")


def test_it_gives_nothing_to_anonymous_inactive_or_roleless_users(make_user, apps):
    from django.contrib.auth.models import AnonymousUser

    inactive = make_user(Role.VIEWER, is_active=False)
    assert not applications_for(AnonymousUser()).exists()
    assert not applications_for(inactive).exists()
    assert not applications_for(make_user()).exists()


def test_it_gives_superusers_everything(admin_user, apps):
    assert set(applications_for(admin_user, "deployments.stop_without_approval")) == set(apps)


def test_it_takes_access_away_on_revocation(make_user, apps):
    user = make_user(Role.OPERATOR, application=apps[0])
    assert role_revoke(user=user, role=Role.OPERATOR, application=apps[0]) == 1
    assert not applications_for(user).exists()


def test_it_refuses_an_unknown_role(make_user):
    with pytest.raises(RoleError, match="unknown role 'janitor'"):
        role_grant(user=make_user(), role="janitor")
