"""The access layer: which applications a user may see or act on."""

import pytest
from django.contrib.auth.models import AnonymousUser, Group
from django.utils import timezone

from deployments.access import (
    ROLE_PERMISSIONS,
    access_of,
    applications_for,
    find_deployment,
    find_poll_state,
    grants_holding,
    holds,
    user_may,
)
from deployments.models import Role
from deployments.roles import RoleError, role_grant, role_revoke
from deployments.selectors import deployment_is_live
from stops.selectors import stop_panel
from tests.factories import ApplicationFactory, DeploymentFactory, EnvironmentFactory, StopRequestFactory

PERMISSIONS = sorted({perm for perms in ROLE_PERMISSIONS.values() for perm in perms})

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


def _grant_shapes(make_user, apps):
    """A user for every role held for every application, for one application, and for two; plus a viewer
    who also approves one application, a roleless user and an inactive one."""
    users = []
    for role in Role.values:
        users += [
            make_user(role),
            make_user(role, application=apps[0]),
            make_user(role, application=apps[1]),
        ]
        role_grant(user=users[-1], role=role, application=apps[2])
    mixed = make_user(Role.VIEWER)
    role_grant(user=mixed, role=Role.APPROVER, application=apps[1])
    return [*users, mixed, make_user(), make_user(Role.OPERATOR, is_active=False)]


def test_it_reads_access_in_one_query_agreeing_with_the_role_filter(
    make_user, apps, admin_user, django_assert_num_queries
):
    # access_of is the pages' written-out SQL; applications_for is the ORM filter every other read uses.
    # They must answer alike for every permission, role and scope.
    for user in [*_grant_shapes(make_user, apps), admin_user, AnonymousUser()]:
        with django_assert_num_queries(1 if user.is_active and not user.is_superuser else 0):
            access = access_of(user)
        for perm in PERMISSIONS:
            allowed = set(applications_for(user, perm))
            assert {a for a in apps if access.may(perm, a)} == allowed, (user, perm)
            for application in apps:
                assert holds(access.on(application), perm) == (application in allowed), (user, perm)
            held = user.is_superuser or (user.is_active and grants_holding(user, perm).exists())
            assert access.anywhere(perm) == held, (user, perm)


def test_it_reads_a_role_change_on_the_next_access(make_user, apps):
    user = make_user(Role.VIEWER, application=apps[0])
    assert access_of(user).may("deployments.view_console", apps[0])
    role_revoke(user=user, role=Role.VIEWER, application=apps[0])
    assert not access_of(user).may("deployments.view_console", apps[0])
    # A permission taken from the role itself is gone too.
    role_grant(user=user, role=Role.OPERATOR)
    operator = Group.objects.get(name=Role.OPERATOR)
    operator.permissions.remove(operator.permissions.get(codename="request_stop"))
    access = access_of(user)
    assert access.may("deployments.sync_now", apps[2])
    assert not access.may("deployments.request_stop", apps[2])


def test_it_answers_the_poll_in_one_query_agreeing_with_the_full_lookup(
    make_user, apps, admin_user, django_assert_max_num_queries
):
    """The live poll's written-out query (`find_poll_state`) must see exactly what `find_deployment` sees,
    and report the versions and liveness the full path would compare: a 204 for a deployment a user may
    not see would tell them it exists."""
    now = timezone.now()
    deployments = []
    for i, application in enumerate(apps):
        environment = EnvironmentFactory(application=application)
        running = DeploymentFactory(environment=environment, state="DEPLOYING", details_fetched_at=now)
        done = DeploymentFactory(environment=environment, state="COMPLETE", details_fetched_at=now)
        pending = DeploymentFactory(environment=environment, state="COMPLETE", details_fetched_at=None)
        deployments += [running, done, pending]
        if i == 1:
            StopRequestFactory(deployment=running, status="rejected", version=3)
            StopRequestFactory(deployment=running, status="pending", version=2)
    apps[2].account.enabled = False
    apps[2].account.save()
    for user in [*_grant_shapes(make_user, apps), admin_user]:
        for deployment in deployments:
            keys = (
                deployment.environment.application.application_id,
                deployment.environment.environment_id,
                deployment.deployment_number,
            )
            with django_assert_max_num_queries(1):
                state = find_poll_state(user, *keys)
            found = find_deployment(user, *keys)
            assert (state is not None) == (found is not None), (user, deployment)
            if found is None:
                continue
            assert state.version == found.version
            assert state.panel_version == stop_panel(found, user)["panel_version"]
            assert state.live == deployment_is_live(found)
            assert state.details_settled == (
                found.details_fetched_at is not None or bool(found.details_error)
            )
    assert find_poll_state(AnonymousUser(), *keys) is None
