"""`make run`: the whole console on one machine, under one Procfile runner (honcho); Ctrl-C stops all of it.

1. Choose the backends: a Redis started here unless REDIS_URL is set; the AppConfig emulator (demo seed,
   scaled clock) unless AWS is configured (AWS_ENDPOINT_URL_APPCONFIG, AWS_PROFILE or AWS_ACCESS_KEY_ID),
   and with it, unless OIDC_ISSUER is set, the demo identity provider (portal/mock_idp.py).
2. The production profile, on loopback: DEBUG off unless DJANGO_DEBUG asks for it, a secret key generated
   once and kept in var/secret-key (unless DJANGO_SECRET_KEY is set), plain HTTP on 127.0.0.1.
3. `manage.py release` (migrate, collect static files, role groups), and in demo mode create the demo
   Account and one demo user per role (printed below).
4. Hand over to honcho with the chosen Procfile entries: `web` is gunicorn, as in production.
A second run reuses the database, the secret key and the emulator's state file under var/.

`python -m portal.devrun dev` (`make dev`) is the same with DEBUG on and Django's autoreloading development
server (`web-dev`) instead of gunicorn.

`python -m portal.devrun manage <command> ...` (`make manage ARGS="..."`) runs one management command with
the same environment, against the same database and emulator, while `make run` is up or not.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent


def _secret_key(var_dir: Path) -> str:
    """This checkout's own secret key: generated on first use, then read back, so sessions survive a
    restart; readable by its owner only. Never a fixed, published one."""
    path = var_dir / "secret-key"
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    key = secrets.token_urlsafe(50)
    with os.fdopen(descriptor, "w") as file:
        file.write(key + "\n")
    return key


def _environment(dev: bool = False) -> tuple[dict[str, str], list[str]]:
    env = dict(os.environ)
    dotenv = BASE_DIR / ".env"
    if dotenv.is_file():
        # The same file honcho reads, read first here so the choices below see it too.
        from honcho.environ import parse

        for key, value in parse(dotenv.read_text()).items():
            env.setdefault(key, value)
    venv_bin = str(Path(sys.executable).parent)
    env["PATH"] = venv_bin + os.pathsep + env.get("PATH", "")
    if dev:
        env.setdefault("DJANGO_DEBUG", "1")
    env.setdefault("PORTAL_VAR_DIR", str(BASE_DIR / "var"))
    # Served on loopback over plain HTTP: no TLS redirect or secure-only cookies, the local names only.
    env.setdefault("DJANGO_SECURE", "false")
    env.setdefault("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost")
    # `release` below has just collected them; gunicorn need not do it again.
    env.setdefault("WEB_COLLECTSTATIC", "false")
    env.setdefault("WEB_PORT", "8000")
    # Links in notifications and the CLI's ApproveAt point at the console this run serves.
    env.setdefault("CONSOLE_BASE_URL", f"http://127.0.0.1:{env['WEB_PORT']}")
    env.setdefault("EMBEDDED_REDIS_PORT", "6390")
    env.setdefault("PYTHONUNBUFFERED", "1")
    processes = ["worker", "worker-live", "worker-stops", "beat", "web-dev" if dev else "web"]
    if not env.get("REDIS_URL"):
        processes.insert(0, "redis")
    real_aws = any(
        env.get(name) for name in ("AWS_ENDPOINT_URL_APPCONFIG", "AWS_PROFILE", "AWS_ACCESS_KEY_ID")
    )
    if not real_aws:
        env.setdefault("EMULATOR_PORT", "4566")
        env.setdefault("EMULATOR_TIME_SCALE", "1")
        env["AWS_ENDPOINT_URL_APPCONFIG"] = f"http://127.0.0.1:{env['EMULATOR_PORT']}"
        # The emulator accepts any SigV4 signature; boto3 only needs something to sign with.
        env["AWS_ACCESS_KEY_ID"] = "AKIADEMOCONSOLE"
        env["AWS_SECRET_ACCESS_KEY"] = "demo-secret"  # noqa: S105
        env.setdefault("AWS_REGION", "us-east-1")
        env["PORTAL_DEMO_MODE"] = "1"
        processes.insert(1 if "redis" in processes else 0, "emulator")
        if not env.get("OIDC_ISSUER"):
            # The demo identity provider (oidc-provider-mock), its identities' groups mapped to every role.
            env.setdefault("OIDC_MOCK_PORT", "9400")
            env["OIDC_ISSUER"] = f"http://127.0.0.1:{env['OIDC_MOCK_PORT']}"
            env["OIDC_CLIENT_ID"] = "appconfig-console-demo"
            env["OIDC_CLIENT_SECRET"] = "demo-client-secret"  # noqa: S105
            env.setdefault("OIDC_GROUP_ROLES_FILE", str(BASE_DIR / "portal" / "demo_group_roles.yaml"))
            env.setdefault("OIDC_PROVIDER_NAME", "the demo identity provider")
            processes.insert(processes.index("emulator") + 1, "idp")
    Path(env["PORTAL_VAR_DIR"]).mkdir(parents=True, exist_ok=True)
    if not env.get("DJANGO_SECRET_KEY"):
        env["DJANGO_SECRET_KEY"] = _secret_key(Path(env["PORTAL_VAR_DIR"]))
    return env, processes


def main() -> None:
    dev = sys.argv[1:2] == ["dev"]
    env, processes = _environment(dev=dev)
    manage = [sys.executable, str(BASE_DIR / "manage.py")]
    if sys.argv[1:2] == ["manage"]:
        os.execve(sys.executable, [*manage, *sys.argv[2:]], env)
    steps = [[*manage, "release", "-v", "0"]]
    if env.get("PORTAL_DEMO_MODE") == "1":
        steps.append([*manage, "demo_setup"])
    for step in steps:
        if subprocess.run(step, env=env, cwd=BASE_DIR).returncode != 0:
            sys.exit(f"error: `{' '.join(step[1:])}` failed; see above")
    url = f"http://127.0.0.1:{env['WEB_PORT']}/"
    print(f"\nThe console: {url}  (starting: {', '.join(processes)}; Ctrl-C stops all)\n")
    sys.stdout.flush()
    honcho = [
        sys.executable,
        "-m",
        "honcho",
        "-f",
        str(BASE_DIR / "Procfile"),
        "-d",
        str(BASE_DIR),
        "start",
        *processes,
    ]
    os.execve(sys.executable, honcho, env)


if __name__ == "__main__":
    main()
