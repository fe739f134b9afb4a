"""The demo and test identity provider: oidc-provider-mock (a real OpenID Connect server, from PyPI) with
demo identities whose groups map to every console role (portal/demo_group_roles.yaml).

`make run` starts it on loopback (`python -m portal.mock_idp --port 9400`, the Procfile's `idp`); the tests
run it in a thread (`serve_in_thread`) and set each user's claims over its HTTP API (PUT /users/<sub>).
Its sign-in page asks for no password: type or click a subject. It is a development tool, never a
production dependency (requirements-dev.txt).

One addition: the mock (0.3.4, the last release for Python 3.11) leaves `auth_time` out of its ID tokens.
Real providers put it there, and the console's step-up needs it, so the authorization code records when the
person submitted the mock's sign-in form and the ID token carries that as `auth_time` (a user's own
`auth_time` claim, set over the API, still wins: the tests use that for a stale authentication).
"""

from __future__ import annotations

import argparse
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

# subject (also the preferred_username) -> groups.
DEMO_IDENTITIES: dict[str, list[str]] = {
    "sso-viewer": ["appconfig-viewers"],
    "sso-operator": ["appconfig-operators", "staff"],
    "sso-approver": ["appconfig-approvers"],
    "sso-approver2": ["appconfig-approvers-payments"],
    "sso-auditor": ["appconfig-auditors"],
    "sso-breakglass": ["appconfig-breakglass", "appconfig-operators"],
    "sso-nobody": ["staff"],  # no mapped group: the "no access" page
}


def demo_users() -> list:
    from oidc_provider_mock import User

    return [
        User(
            sub=username,
            claims={
                "preferred_username": username,
                "email": f"{username}@example.com",
                "name": username.replace("sso-", "SSO ").title(),
                "groups": groups,
            },
        )
        for username, groups in DEMO_IDENTITIES.items()
    ]


def _record_auth_time() -> None:
    import oidc_provider_mock._app as mock_app
    from oidc_provider_mock._storage import AuthorizationCode

    if getattr(mock_app.AuthorizationCode, "records_auth_time", False):
        return

    @dataclass(kw_only=True, frozen=True)
    class TimedAuthorizationCode(AuthorizationCode):
        records_auth_time = True
        auth_time: int = field(default_factory=lambda: int(time.time()))

        def get_auth_time(self) -> int:
            return self.auth_time

    mock_app.AuthorizationCode = TimedAuthorizationCode


def make_app(*, users: list | None = None):
    """The provider as a WSGI app: nonces required, any client id and secret accepted."""
    import oidc_provider_mock

    _record_auth_time()
    return oidc_provider_mock.app(require_nonce=True, user_claims=demo_users() if users is None else users)


@contextmanager
def serve_in_thread(host: str = "127.0.0.1", port: int = 0, *, users: list | None = None) -> Iterator[str]:
    """Run the provider on a loopback port in a thread; yields its issuer URL."""
    import werkzeug.serving

    server = werkzeug.serving.make_server(host, port, make_app(users=users), threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def main() -> None:
    parser = argparse.ArgumentParser(description="The demo OpenID Connect provider (oidc-provider-mock).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9400)
    args = parser.parse_args()
    import werkzeug.serving

    print(f"Demo identity provider at http://{args.host}:{args.port} (no passwords: pick an identity)")
    for username, groups in DEMO_IDENTITIES.items():
        print(f"  {username:<15} groups: {', '.join(groups)}")
    werkzeug.serving.run_simple(args.host, args.port, make_app(), threaded=True)


if __name__ == "__main__":
    main()
