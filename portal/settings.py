"""Settings for the AppConfig deployment console, all driven by environment variables.

Every variable is documented in `.env.example` and the README. With none set, the defaults are safe for
production (DEBUG off, a secret required) except where the dev runner (`make run`) turns demo mode on.
"""

import ipaddress
import os
import tempfile
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from portal.env import env_bool, env_float, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("PORTAL_VAR_DIR") or BASE_DIR / "var")

DEBUG = env_bool("DJANGO_DEBUG", False)
# Demo mode: the embedded emulator is the AppConfig backend and demo users exist; set by `make run`.
DEMO_MODE = env_bool("PORTAL_DEMO_MODE", False)

SECRET_KEY = env_str("DJANGO_SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is off")
    SECRET_KEY = "django-insecure-dev-only-key-never-used-with-debug-off"  # noqa: S105

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost" if DEBUG or DEMO_MODE else "")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    # First: its createsuperuser and changepassword (Django's, audited) take the place of
    # django.contrib.auth's; its ready() starts sessions' clocks at sign-in.
    "portal",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "template_partials",
    "deployments",
    "audit",
    "stops",
    "axes",
    "csp",  # for its system checks; the header comes from its middleware
    "django_prometheus",  # request latency and status by view, for /metrics (portal/metrics.py)
]

MIDDLEWARE = [
    # Outermost (with its After twin last): times the whole request, for /metrics.
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    # First, so every response (errors included) carries the X-Request-ID the audit trail records.
    "audit.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Django's, with a client redirect for htmx requests.
    "portal.sessions.LoginRequiredMiddleware",
    # After authentication: records the 404 answered for an object outside the user's scope.
    "audit.middleware.DeniedAccessMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "portal.security.PrivateCacheMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # After the session, the user, messages and request.htmx, which it uses.
    "portal.sessions.SessionTimeoutMiddleware",
    # Last, as axes asks: turns a request its handler marked as locked out into the lockout page.
    "axes.middleware.AxesMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

# A failed CSRF check is a refused attempt like any other: recorded, then the console's 403 page.
CSRF_FAILURE_VIEW = "audit.views.csrf_failure"

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "portal.context_processors.console",
                "audit.context_processors.navigation",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'db.sqlite3'}",
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60, minimum=0),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web, worker and beat share one file: WAL lets readers proceed while a writer commits, and the
    # busy timeout turns a brief writer collision into a wait instead of "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    # Tests use a file too, not the in-memory default: the real worker threads and the live server then
    # share it through WAL and the busy timeout, as processes do in production, instead of through
    # shared-cache table locks that fail at once.
    # One file per test process, so parallel runs never share it.
    DATABASES["default"]["TEST"] = {
        "NAME": str(Path(tempfile.gettempdir()) / f"appconfig-console-test-{os.getpid()}.sqlite3")
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# The axes backend comes first: it refuses a locked-out username or address before any password is checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

# --- Static files (production profile, issue 15) ---
# Collected into STATIC_ROOT (`manage.py release`, and gunicorn at start: portal/gunicorn.conf.py) and served
# by WhiteNoise under content-hashed names, cached for good by browsers; compressed copies (gzip) sit beside
# them. With DEBUG, files are served from the source folders as they are edited. DJANGO_STATIC_MANIFEST=false
# keeps plain names without collecting (the test suite, which renders pages but serves no static file).
STATIC_URL = "static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT") or BASE_DIR / "staticfiles")
STATICFILES_DIRS = [BASE_DIR / "static"]
WHITENOISE_USE_FINDERS = DEBUG
STATIC_MANIFEST = env_bool("DJANGO_STATIC_MANIFEST", not DEBUG)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if STATIC_MANIFEST
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# Security headers; `manage.py check --deploy` is clean with DJANGO_SECURE=true behind TLS.
SECURE = env_bool("DJANGO_SECURE", not DEBUG and not DEMO_MODE)
SESSION_COOKIE_SECURE = SECURE
CSRF_COOKIE_SECURE = SECURE
SECURE_SSL_REDIRECT = SECURE and env_bool("DJANGO_SSL_REDIRECT", True)
SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 31536000 if SECURE else 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE
SECURE_HSTS_PRELOAD = SECURE
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("DJANGO_BEHIND_PROXY") else None
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
# A session ends after SESSION_IDLE_TIMEOUT seconds without the person doing anything (background polls do not
# count) and SESSION_ABSOLUTE_LIFETIME seconds after sign-in in any case (portal/sessions.py). The cookie and
# the stored session expire with the absolute lifetime too, instead of Django's two weeks.
SESSION_IDLE_TIMEOUT = env_int("SESSION_IDLE_TIMEOUT", 30 * 60, minimum=60)
SESSION_ABSOLUTE_LIFETIME = env_int("SESSION_ABSOLUTE_LIFETIME", 12 * 3600, minimum=60)
if SESSION_ABSOLUTE_LIFETIME < SESSION_IDLE_TIMEOUT:
    raise ImproperlyConfigured("SESSION_ABSOLUTE_LIFETIME must be at least SESSION_IDLE_TIMEOUT")
SESSION_COOKIE_AGE = SESSION_ABSOLUTE_LIFETIME
X_FRAME_OPTIONS = "DENY"

# Content-Security-Policy (django-csp): the console's own files only; no inline script or style anywhere
# (htmx is configured for it in base.html's htmx-config, and console.js compiles the one hx-trigger filter
# the pages use). Violations are reported to CSP_REPORT_URI when it is set. Read into a lower-case name:
# django-csp's checks refuse a CSP_REPORT_URI setting, the name of its pre-4.0 API.
csp_report_uri = env_str("CSP_REPORT_URI")
if csp_report_uri and not csp_report_uri.startswith(("https://", "http://", "/")):
    raise ImproperlyConfigured(f"CSP_REPORT_URI must be an http(s) URL or a path, not {csp_report_uri!r}")
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
        "report-uri": csp_report_uri or None,
    }
}

# Redis: the Celery broker. Without REDIS_URL, `make run` starts an embedded server on this port.
EMBEDDED_REDIS_PORT = env_int("EMBEDDED_REDIS_PORT", 6390, minimum=1, maximum=65535)
REDIS_URL = env_str("REDIS_URL") or f"redis://127.0.0.1:{EMBEDDED_REDIS_PORT}/0"

CELERY_BROKER_URL = REDIS_URL

# The cache holds rendered fragments (a deployment's timeline and chart, per version) and the throttles of
# "Sync now" and of the lazy event-log fetch. Per process by default; with several web processes, point
# CACHE_URL at a Redis (the broker's server, another database number, will do) so that a throttle holds
# across all of them.
CACHE_URL = env_str("CACHE_URL")
if CACHE_URL and not CACHE_URL.startswith(("redis://", "rediss://", "unix://")):
    raise ImproperlyConfigured(f"CACHE_URL must be a redis://, rediss:// or unix:// URL, not {CACHE_URL!r}")
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL}
    if CACHE_URL
    else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
}
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600, minimum=60)
}
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 600, minimum=10)
CELERY_TASK_SOFT_TIME_LIMIT = CELERY_TASK_TIME_LIMIT - 5
CELERY_TASK_DEFAULT_QUEUE = "sync"
# `sync`: full passes. `live`: what a page is waiting for (refresh of live deployments, detail fetches, "Sync
# now"). `stops`: the stop workflow. Each has its own worker in the Procfile (`worker`, `worker-live`,
# `worker-stops`), so a backlog of full passes on `sync` never delays the other two.
CELERY_TASK_ROUTES = {
    "deployments.tasks.stop_*": {"queue": "stops"},
    "deployments.tasks.refresh_*": {"queue": "live"},
    "deployments.tasks.fetch_deployment_details": {"queue": "live"},
    # Someone is looking at the page that waits for it (the configuration diff beside the Stop button).
    "deployments.tasks.fetch_deployment_configuration": {"queue": "live"},
    "deployments.tasks.sync_environment": {"queue": "live"},
}
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
# Seconds a web request (or a service) waits for the broker when it publishes a task (connect, then each
# answer; one retry): a broker down or stalled costs a page at most about twice this, never a hang. The work
# is not lost: its row waits for the relay or the next beat pass (portal/queue.py).
CELERY_PUBLISH_TIMEOUT = env_float("CELERY_PUBLISH_TIMEOUT", 0.5, minimum=0.05)

# AppConfig access. One Account row per AWS account/role; these are the defaults for rows that leave
# fields blank, and what the demo Account is created from.
AWS_REGION = env_str("AWS_REGION") or env_str("AWS_DEFAULT_REGION") or "us-east-1"
AWS_ENDPOINT_URL_APPCONFIG = env_str("AWS_ENDPOINT_URL_APPCONFIG")
APPCONFIG_CONNECT_TIMEOUT = env_float("APPCONFIG_CONNECT_TIMEOUT", 5.0, minimum=0.1)
APPCONFIG_READ_TIMEOUT = env_float("APPCONFIG_READ_TIMEOUT", 15.0, minimum=0.1)
APPCONFIG_MAX_ATTEMPTS = env_int("APPCONFIG_MAX_ATTEMPTS", 4, minimum=1, maximum=10)
# Each Account's API budget (Account.api_rate_limit calls a second) is shared through Redis by every worker.
# The fraction of its bucket that full sync passes leave to stops, live refresh and detail fetches:
APPCONFIG_RATE_LIMIT_RESERVE = env_float("APPCONFIG_RATE_LIMIT_RESERVE", 0.3, minimum=0.0)
if APPCONFIG_RATE_LIMIT_RESERVE > 0.9:
    raise ImproperlyConfigured("APPCONFIG_RATE_LIMIT_RESERVE must be at most 0.9 (a fraction of the budget)")
# The longest a call waits for a token before its task gives up (and is retried later).
APPCONFIG_RATE_LIMIT_MAX_WAIT = env_float("APPCONFIG_RATE_LIMIT_MAX_WAIT", 120.0, minimum=1.0)
# How long throttling answers (429) are retried inside one call, after botocore's own attempts.
APPCONFIG_THROTTLE_RETRY_SECONDS = env_float("APPCONFIG_THROTTLE_RETRY_SECONDS", 60.0, minimum=0.0)

# Sync cadence (seconds): a full incremental pass, and a fast refresh of deployments still in progress.
SYNC_INTERVAL_SECONDS = env_int("SYNC_INTERVAL_SECONDS", 30, minimum=5)
ACTIVE_REFRESH_SECONDS = env_int("ACTIVE_REFRESH_SECONDS", 5, minimum=1)
# An environment's sync claim lapses after this long, so a crashed worker never blocks it for good.
SYNC_LOCK_SECONDS = env_int("SYNC_LOCK_SECONDS", 300, minimum=10)
# A full pass as soon as a worker is ready (portal/celery.py), not one SYNC_INTERVAL_SECONDS after start.
SYNC_AT_WORKER_START = env_bool("SYNC_AT_WORKER_START", True)
# Sync health: an account whose last successful pass is older than this is shown as stale.
SYNC_STALE_AFTER_SECONDS = env_int("SYNC_STALE_AFTER_SECONDS", 180, minimum=10)

# Stop policy default for environments first seen by sync (admins change it per environment).
STOP_APPROVALS_REQUIRED_DEFAULT = env_int("STOP_APPROVALS_REQUIRED_DEFAULT", 1, minimum=0, maximum=3)

EMAIL_BACKEND = env_str("EMAIL_BACKEND") or (
    "django.core.mail.backends.console.EmailBackend"
    if DEBUG or DEMO_MODE
    else "django.core.mail.backends.smtp.EmailBackend"
)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "appconfig-console@localhost")

# --- Logging (issue 15; portal/logs.py) ---
# LOG_FORMAT=plain (the default): one readable line per event. LOG_FORMAT=json: one JSON object per line
# (time, level, logger, message, request_id, user, and in Celery tasks task_name and task_id) for a log
# pipeline. gunicorn's own and access logs use the same format (portal/gunicorn.conf.py).
LOG_FORMAT = env_str("LOG_FORMAT", "plain").lower()
if LOG_FORMAT not in ("plain", "json"):
    raise ImproperlyConfigured(f"LOG_FORMAT must be plain or json, not {LOG_FORMAT!r}")
LOG_LEVEL = env_str("LOG_LEVEL", "INFO").upper()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "portal.logs.ContextFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "portal.logs.JsonFormatter"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["context"]}
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "botocore": {"level": "WARNING"},
        "urllib3": {"level": "WARNING"},
        # axes says INFO at every start and sign-in; its warnings (failures, lockouts) stay.
        "axes": {"level": "WARNING"},
    },
}

# --- Stopping deployments ---
# A pending stop request expires after this many seconds without enough approvals.
STOP_REQUEST_TTL = env_int("STOP_REQUEST_TTL", 3600, minimum=60)
# The relay re-enqueues an approved request that no task claimed within this many seconds (broker down at
# approval time, a crash between commit and publish).
STOP_RELAY_DELAY_SECONDS = env_int("STOP_RELAY_DELAY_SECONDS", 15, minimum=1)
# An executing request whose worker has said nothing for this long is taken over and reconciled. Must exceed
# the stop task's time limit, so a live worker is never overtaken.
STOP_EXECUTION_LEASE_SECONDS = env_int("STOP_EXECUTION_LEASE_SECONDS", 180, minimum=1)
STOP_TASK_TIME_LIMIT = env_int("STOP_TASK_TIME_LIMIT", 120, minimum=5)
# Executions of one request (first run, retries, takeovers) before it is failed for good.
STOP_MAX_ATTEMPTS = env_int("STOP_MAX_ATTEMPTS", 6, minimum=1, maximum=20)
if CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"] <= STOP_TASK_TIME_LIMIT:
    raise ImproperlyConfigured("STOP_TASK_TIME_LIMIT must be below CELERY_VISIBILITY_TIMEOUT")
if STOP_EXECUTION_LEASE_SECONDS <= STOP_TASK_TIME_LIMIT:
    raise ImproperlyConfigured("STOP_EXECUTION_LEASE_SECONDS must be above STOP_TASK_TIME_LIMIT")
# Optional Slack-compatible incoming webhook for stop notifications; the console's own base URL for links.
STOP_WEBHOOK_URL = env_str("STOP_WEBHOOK_URL")
CONSOLE_BASE_URL = env_str("CONSOLE_BASE_URL", "http://127.0.0.1:8000").rstrip("/")

# --- Audit trail (audit/) ---
# Comma-separated addresses or networks (CIDR) of the reverse proxies in front of the console. Only when a
# request comes from one of them is X-Forwarded-For believed for the client address the audit trail records
# (its right-most address that is not itself a trusted proxy). Empty: REMOTE_ADDR is the client. A bad
# entry stops start-up (checked when the audit app loads).
TRUSTED_PROXIES = env_list("TRUSTED_PROXIES")
# Beat verifies the whole hash chain this often (seconds); /audit/ shows the latest result.
AUDIT_VERIFY_INTERVAL_SECONDS = env_int("AUDIT_VERIFY_INTERVAL_SECONDS", 300, minimum=10)
# Events per page on /audit/.
AUDIT_PAGE_SIZE = env_int("AUDIT_PAGE_SIZE", 50, minimum=10, maximum=500)

# --- Configuration diff and evidence pack (issue 17) ---
# Whether the console reads and shows the content of hosted configuration versions (the deployment page's
# diff, the evidence pack). Off: digests and sizes only, and no content is stored in the database.
SHOW_CONFIG_CONTENT = env_bool("SHOW_CONFIG_CONTENT", True)
# Diff lines shown on the deployment page before the diff is collapsed behind a link to the full diff.
CONFIG_DIFF_PREVIEW_LINES = env_int("CONFIG_DIFF_PREVIEW_LINES", 200, minimum=10, maximum=10000)

# --- Audit trail: integrity controls (security review, issue 12) ---
# The largest file `manage.py verify_audit` reads (--export, --anchor), in bytes; it reads regular files
# only. 1 GiB holds about 1.4 million typical exported events; raise it to verify larger exports.
AUDIT_EXPORT_MAX_BYTES = env_int("AUDIT_EXPORT_MAX_BYTES", 1024**3, minimum=1024)
# The HMAC-SHA256 key that signs audit export manifests (audit/signing.py). Empty: a key derived from
# SECRET_KEY, which only this console can check; manifests say which ("configured" or "derived").
AUDIT_EXPORT_SIGNING_KEY = env_str("AUDIT_EXPORT_SIGNING_KEY")
if AUDIT_EXPORT_SIGNING_KEY and len(AUDIT_EXPORT_SIGNING_KEY) < 32:
    raise ImproperlyConfigured("AUDIT_EXPORT_SIGNING_KEY must be at least 32 characters (or empty)")
# Every verification of the chain (beat, `manage.py verify_audit`) logs its head (sequence, hash, time) and,
# when set, appends it as one JSON line to AUDIT_ANCHOR_FILE (O_APPEND; keep it out of reach of whoever can
# write the database) and POSTs it as JSON to AUDIT_ANCHOR_WEBHOOK_URL (http or https; a failure is logged).
# `manage.py verify_audit --anchor FILE` then checks that the chain still holds every anchored head.
AUDIT_ANCHOR_FILE = env_str("AUDIT_ANCHOR_FILE")
AUDIT_ANCHOR_WEBHOOK_URL = env_str("AUDIT_ANCHOR_WEBHOOK_URL")
if AUDIT_ANCHOR_WEBHOOK_URL and not AUDIT_ANCHOR_WEBHOOK_URL.startswith(("https://", "http://")):
    raise ImproperlyConfigured("AUDIT_ANCHOR_WEBHOOK_URL must be an http:// or https:// URL")

# --- Login throttle (django-axes; portal/lockout.py) ---
# LOGIN_FAILURE_LIMIT failed sign-ins for one username, or from one client address, within
# LOGIN_LOCKOUT_SECONDS lock that username, or that address, out for LOGIN_LOCKOUT_SECONDS after the last
# counted failure. Counted in the database, so the limit holds across web processes.
LOGIN_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1, maximum=100)
LOGIN_LOCKOUT_SECONDS = env_int("LOGIN_LOCKOUT_SECONDS", 900, minimum=60)
AXES_FAILURE_LIMIT = LOGIN_FAILURE_LIMIT
AXES_COOLOFF_TIME = timedelta(seconds=LOGIN_LOCKOUT_SECONDS)
# Per username and, separately, per client address (not only their combination): a password sprayed over
# many usernames from one address, and one username tried from many addresses, are both stopped.
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
# A successful sign-in forgets that username's failures from that address (portal.lockout narrows axes'
# reset, which would also forget the address's failures on other accounts).
AXES_RESET_ON_SUCCESS = True
# Attempts refused during a lockout are not counted: the lockout ends LOGIN_LOCKOUT_SECONDS after it began,
# and a client hammering the page cannot grow the throttle's record (axes appends every counted attempt's
# form data to it) or keep the lock on forever.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_HANDLER = "portal.lockout.AuditedAxesHandler"
AXES_CLIENT_IP_CALLABLE = "portal.lockout.client_address"  # the audit trail's address (TRUSTED_PROXIES)
AXES_USERNAME_CALLABLE = "portal.lockout.attempted_username"
AXES_LOCKOUT_CALLABLE = "portal.lockout.lockout_response"
# Successful sign-ins are in the audit trail already; axes' own log of them would be a second copy.
AXES_DISABLE_ACCESS_LOG = True

# --- Single sign-on (OpenID Connect, mozilla-django-oidc; portal/sso.py) and step-up ---
# OIDC_ISSUER turns single sign-on on: the provider's issuer URL, whose /.well-known/openid-configuration
# gives every endpoint (read on first use, cached). Authorization code flow with PKCE (S256), state and nonce;
# the ID token's signature is checked against the provider's JWKS, and its issuer, audience, expiry and nonce.
OIDC_ISSUER = env_str("OIDC_ISSUER").rstrip("/")
OIDC_ENABLED = bool(OIDC_ISSUER)
OIDC_CLIENT_ID = env_str("OIDC_CLIENT_ID")
OIDC_CLIENT_SECRET = env_str("OIDC_CLIENT_SECRET")
OIDC_SCOPES = env_str("OIDC_SCOPES", "openid profile email")
# The ID token (or userinfo) claim with the user's groups, and the one that names the console user.
OIDC_GROUPS_CLAIM = env_str("OIDC_GROUPS_CLAIM", "groups")
OIDC_USERNAME_CLAIM = env_str("OIDC_USERNAME_CLAIM", "preferred_username")
# YAML or JSON: identity provider group -> console roles, optionally per application
# (deployments/idp_groups.py).
OIDC_GROUP_ROLES_FILE = env_str("OIDC_GROUP_ROLES_FILE")
# The name on the sign-in button.
OIDC_PROVIDER_NAME = env_str("OIDC_PROVIDER_NAME", "single sign-on")
OIDC_SIGN_ALGO = env_str("OIDC_SIGN_ALGO", "RS256")
# Seconds to wait for the provider (discovery, token, JWKS, userinfo).
OIDC_TIMEOUT = env_float("OIDC_TIMEOUT", 5.0, minimum=0.5)
if OIDC_ENABLED:
    if not (OIDC_CLIENT_ID and OIDC_CLIENT_SECRET):
        raise ImproperlyConfigured("OIDC_CLIENT_ID and OIDC_CLIENT_SECRET must be set with OIDC_ISSUER")
    issuer_host = OIDC_ISSUER.split("://", 1)[-1].split("/", 1)[0].rsplit(":", 1)[0]
    if not OIDC_ISSUER.startswith("https://") and issuer_host not in ("127.0.0.1", "localhost", "[::1]"):
        raise ImproperlyConfigured("OIDC_ISSUER must be an https:// URL (http only on loopback)")
    if OIDC_SIGN_ALGO not in ("RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256"):
        raise ImproperlyConfigured(
            f"OIDC_SIGN_ALGO must be an asymmetric JWS algorithm, not {OIDC_SIGN_ALGO!r}"
        )
# Username and password sign-in: for a break-glass administrator and the demo. On in demo mode and when no
# single sign-on is configured; off by default once it is.
LOCAL_LOGIN = env_bool("LOCAL_LOGIN", DEMO_MODE or not OIDC_ENABLED)
if not (LOCAL_LOGIN or OIDC_ENABLED):
    raise ImproperlyConfigured("LOCAL_LOGIN is off and OIDC_ISSUER is not set: nobody could sign in")
# A break-glass stop, and a stop request or approval on a critical environment, need an authentication at
# most this many seconds old (SSO: a round trip to the provider with prompt=login and max_age; a local
# account: the password again).
STEP_UP_MAX_AGE = env_int("STEP_UP_MAX_AGE", 300, minimum=30, maximum=3600)
# What a step-up keeps of the action it interrupted (the reason, the confirmation), and for how long.
STEP_UP_PENDING_SECONDS = 15 * 60

AUTHENTICATION_BACKENDS = [
    # First: refuses a locked-out username or address before any password or token is checked, and counts
    # failed single sign-ons (forged or replayed callbacks, bad tokens) per client address like passwords.
    "axes.backends.AxesStandaloneBackend",
    *(["django.contrib.auth.backends.ModelBackend"] if LOCAL_LOGIN else []),
    *(["portal.sso.ConsoleOIDCBackend"] if OIDC_ENABLED else []),
]
# mozilla-django-oidc's own settings, from the ones above.
OIDC_RP_CLIENT_ID = OIDC_CLIENT_ID
OIDC_RP_CLIENT_SECRET = OIDC_CLIENT_SECRET
OIDC_RP_SCOPES = OIDC_SCOPES
OIDC_RP_SIGN_ALGO = OIDC_SIGN_ALGO
OIDC_USE_PKCE = True
OIDC_PKCE_CODE_CHALLENGE_METHOD = "S256"
OIDC_USE_NONCE = True
# Sign-ins started and not finished that one session keeps (state, nonce and PKCE verifier each).
OIDC_MAX_STATES = 10
# For RP-initiated logout (id_token_hint).
OIDC_STORE_ID_TOKEN = True
OIDC_AUTHENTICATION_CALLBACK_URL = "oidc_authentication_callback"
LOGIN_REDIRECT_URL_FAILURE = "login"

# --- Metrics (issue 15; portal/metrics.py) ---
# /metrics answers a scraper that sends `Authorization: Bearer <METRICS_TOKEN>` or comes from one of
# METRICS_ALLOWED_NETWORKS (the client address as the audit trail sees it, TRUSTED_PROXIES applied), and
# 404 to anyone else, so its existence is not revealed. Neither set: 404 always (demo mode: loopback may).
METRICS_TOKEN = env_str("METRICS_TOKEN")
if METRICS_TOKEN and len(METRICS_TOKEN) < 16:
    raise ImproperlyConfigured("METRICS_TOKEN must be at least 16 characters (or empty)")
METRICS_ALLOWED_NETWORKS = env_list("METRICS_ALLOWED_NETWORKS", "127.0.0.1/32,::1/128" if DEMO_MODE else "")
for network in METRICS_ALLOWED_NETWORKS:
    try:
        ipaddress.ip_network(network, strict=False)
    except ValueError:
        raise ImproperlyConfigured(
            f"METRICS_ALLOWED_NETWORKS: {network!r} is not an address or network (CIDR)"
        ) from None
# The window (seconds) of the windowed metrics: AppConfig API calls and throttled runs per account, and the
# approval-to-StopDeployment latency histogram of the stop requests finished in it.
METRICS_WINDOW_SECONDS = env_int("METRICS_WINDOW_SECONDS", 3600, minimum=60)
# django-prometheus: no database query at start (its migration gauges); request metrics come from its
# middleware. Several gunicorn workers share them through PROMETHEUS_MULTIPROC_DIR (portal/gunicorn.conf.py).
PROMETHEUS_EXPORT_MIGRATIONS = False
