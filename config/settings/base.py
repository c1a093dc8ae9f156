"""Settings true in every environment. Everything that varies comes from the environment."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import environ

from apps.core import logs

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()

SECRET_KEY = env("DJANGO_SECRET_KEY", default="local-insecure-key-change-me-for-development-only")
DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])

INSTALLED_APPS = [
    "apps.desk.admin_config.BackOfficeAdminConfig",  # django.contrib.admin, with the back office's site
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_simplejwt",
    "rest_framework_simplejwt.token_blacklist",  # rotated and revoked refresh tokens
    "django_filters",
    "drf_spectacular",
    "guardian",
    "auditlog",
    "pgtrigger",
    "django_celery_beat",
    "django_prometheus",
    "apps.core",
    "apps.users",
    "apps.accounts",
    "apps.instruments",
    "apps.ledger",
    "apps.risk",
    "apps.orders",
    "apps.brokers",
    "apps.compliance",
    "apps.reports",
    "apps.desk",
    "apps.monitoring",
    "plugins.paper",
    "plugins.fix44",
]

MIDDLEWARE = [
    # first and last: request counts and latencies for /metrics (docs/observability.md)
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",  # Content-Security-Policy (below)
    "apps.core.middleware.RequestContextMiddleware",
    "apps.core.middleware.AuditlogMiddleware",  # auditlog's, with the client address of apps.core.middleware
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]


def database_settings(url: str, *, pool: bool = False) -> dict[str, object]:
    """One PostgreSQL database from a URL; never anything but PostgreSQL. ``pool``: connections
    from a per-process psycopg pool (``DATABASE_POOL``, on by default for the service)."""
    db = environ.Env.db_url_config(url)
    if db["ENGINE"] != "django.db.backends.postgresql":
        raise RuntimeError(f"This service runs on PostgreSQL only (got {db['ENGINE']}).")
    # Django's PostgreSQL backend, counting connections, statements and their latency (/metrics)
    db["ENGINE"] = "django_prometheus.db.backends.postgresql"
    db["CONN_MAX_AGE"] = env.int("DJANGO_CONN_MAX_AGE", default=60)
    db["CONN_HEALTH_CHECKS"] = True
    db.setdefault("OPTIONS", {})
    if pool:
        # Django 5.2's psycopg pool, one per process (web threads and a worker's relay loop share
        # it); it needs CONN_MAX_AGE = 0: connections go back to the pool, not closed.
        db["OPTIONS"]["pool"] = {"min_size": 1, "max_size": env.int("DATABASE_POOL_MAX_SIZE", default=16)}
        db["CONN_MAX_AGE"] = 0
        db["CONN_HEALTH_CHECKS"] = False
    db["TEST"] = {"NAME": env("DJANGO_TEST_DATABASE", default="test_backoffice")}
    return db


AUTH_USER_MODEL = "users.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Content-Security-Policy (django-csp) -------------------------------------------------
# Every page: scripts, styles, images and fonts from this origin only; no inline script or
# style (the admin of Django 5.2 has none: its data rides in data-* attributes of <script src>
# elements; ours are in static files), no plugins, no framing, forms post here only. A page that
# needs more says so with csp.decorators (the API docs: config/urls.py).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'none'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "manifest-src": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
        "base-uri": ["'none'"],
        "object-src": ["'none'"],
    }
}

# Whether `manage.py seed_demo` may write its demo users, accounts and money here (never in
# production: production.py turns it off).
DEMO_DATA_ALLOWED = True

# --- Cache (throttles, failed log-in counters) ------------------------------------------
# Redis when REDIS_URL is set (shared by every process); else a per-process memory cache,
# good enough for one local process. Production refuses to start without Redis.
REDIS_URL = env("REDIS_URL", default="")
CACHES = {
    "default": (
        # Django's own backends, counting gets, hits and misses for /metrics (apps/monitoring/cache.py)
        {"BACKEND": "apps.monitoring.cache.RedisCache", "LOCATION": REDIS_URL, "KEY_PREFIX": "bo"}
        if REDIS_URL
        else {"BACKEND": "apps.monitoring.cache.LocMemCache", "LOCATION": "backoffice"}
    )
}

# --- Client addresses ------------------------------------------------------------------
# The number of reverse proxies in front of the service, each appending to X-Forwarded-For. 0:
# the client address is REMOTE_ADDR (the header is ignored); N: the Nth entry from the right of
# X-Forwarded-For. Used for throttles, log-in lockouts, security events, order events and the
# audit log (apps.core.middleware.client_ip).
TRUSTED_PROXY_COUNT = max(0, env.int("TRUSTED_PROXY_COUNT", default=0))

# --- Django REST framework -------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework_simplejwt.authentication.JWTAuthentication",
        # The browsable Swagger UI works for a user logged in to the admin (CSRF enforced).
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["apps.core.api.parsers.DecimalJSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "apps.core.api.schema.ProblemAutoSchema",
    "DEFAULT_PAGINATION_CLASS": "apps.core.api.pagination.IdCursorPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_THROTTLE_CLASSES": [  # DRF's, keyed on the client address of apps.core.middleware.client_ip
        "apps.core.api.throttling.AnonRateThrottle",
        "apps.core.api.throttling.UserRateThrottle",
        "apps.core.api.throttling.ScopedRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env("API_THROTTLE_ANON", default="60/min"),
        "user": env("API_THROTTLE_USER", default="6000/min"),
        # Order entry (place, replace, cancel) has its own, stricter budget per user.
        "orders": env("API_THROTTLE_ORDERS", default="3000/min"),
        # Log-in attempts per client address (failed ones are also counted per user name).
        "auth": env("API_THROTTLE_AUTH", default="30/min"),
    },
    "NUM_PROXIES": TRUSTED_PROXY_COUNT,
    "EXCEPTION_HANDLER": "apps.core.api.exception_handler.problem_exception_handler",
    "COERCE_DECIMAL_TO_STRING": True,
    "DATETIME_FORMAT": "%Y-%m-%dT%H:%M:%S.%fZ",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

# JSON Web Tokens: short-lived access tokens, signed with their own key when one is given.
SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env.int("JWT_ACCESS_MINUTES", default=5)),
    "REFRESH_TOKEN_LIFETIME": timedelta(hours=env.int("JWT_REFRESH_HOURS", default=24)),
    "SIGNING_KEY": env("JWT_SIGNING_KEY", default="") or SECRET_KEY,
    "ALGORITHM": "HS256",
    "AUTH_HEADER_TYPES": ("Bearer",),
    "UPDATE_LAST_LOGIN": True,
    # A refresh answers a new refresh token and blacklists the one presented; a password change
    # or deactivation blacklists all of the user's refresh tokens (apps/users/tokens.py). Access
    # tokens are not blacklisted: they stay valid until they expire (JWT_ACCESS_MINUTES).
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
}
# Failed log-ins per user name within the window before that name is locked out for the window.
LOGIN_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
LOGIN_FAILURE_WINDOW_SECONDS = env.int("LOGIN_FAILURE_WINDOW_SECONDS", default=15 * 60)

SPECTACULAR_SETTINGS = {
    "TITLE": "Back office API",
    "DESCRIPTION": (
        "Accounts, cash, positions, orders and fills of the brokerage back office. "
        "Decimals are strings; times are ISO 8601 UTC with microseconds; errors are RFC 9457 "
        "problem details (application/problem+json) with a stable `code`."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {},
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
}

# --- django-guardian -------------------------------------------------------------------
ANONYMOUS_USER_NAME = None  # no anonymous user row: anonymous requests see nothing

# --- django-auditlog -------------------------------------------------------------------
AUDITLOG_INCLUDE_ALL_MODELS = False
AUDITLOG_STORE_JSON_CHANGES = True
AUDITLOG_DISABLE_REMOTE_ADDR = False
AUDITLOG_CID_HEADER = "x-correlation-id"
# Every model whose rows can change. Append-only records (ledger, order events, fills,
# security events) are their own audit trail and are not listed. QuerySet.update(),
# bulk_create(), bulk_update() and raw SQL on these models bypass auditlog: they are forbidden
# (tests/compliance/test_audit_bypass.py fails on a new one).
AUDITLOG_INCLUDE_TRACKING_MODELS = (
    {"model": "accounts.TradingAccount", "m2m_fields": {"owners"}},
    "accounts.TradingAccountUserObjectPermission",
    "accounts.TradingAccountGroupObjectPermission",
    "instruments.Instrument",
    "instruments.ReferencePrice",
    "risk.RiskLimits",
    "risk.TradingState",
    "risk.RestrictedInstrument",
    "brokers.AccountRoute",
    "brokers.BrokerControl",
    {
        "model": "users.User",
        "m2m_fields": {"groups", "user_permissions"},
        "exclude_fields": ["last_login"],
        "mask_fields": ["password"],
    },
    {"model": "auth.Group", "m2m_fields": {"permissions"}},
    {
        "model": "django_celery_beat.PeriodicTask",
        "exclude_fields": ["last_run_at", "total_run_count", "date_changed"],
    },
    {"model": "compliance.ComplianceAlert", "include_fields": ["acknowledged_by", "acknowledged_at"]},
    "reports.ReportRun",
    "reports.ReportRecipient",
)

# --- Reports: storage and e-mail ---------------------------------------------------------
# Report files go to Django's default storage: the file system under MEDIA_ROOT locally, an
# S3-compatible store in production (config/settings/production.py, django-storages).
MEDIA_ROOT = Path(env("MEDIA_ROOT", default=str(VAR_DIR / "media")))
MEDIA_URL = "media/"  # never served directly: downloads go through the permission-checked views
# E-mail: the file backend under var/mail locally (each message a file); SMTP when EMAIL_HOST is set.
EMAIL_HOST = env("EMAIL_HOST", default="")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=30)
EMAIL_BACKEND = env(
    "EMAIL_BACKEND",
    default="django.core.mail.backends.smtp.EmailBackend"
    if EMAIL_HOST
    else "django.core.mail.backends.filebased.EmailBackend",
)
EMAIL_FILE_PATH = env("EMAIL_FILE_PATH", default=str(VAR_DIR / "mail"))
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="Back office reports <reports@backoffice.local>")
# Reports for a business date are produced this long after its session close (REPORT_GRACE in
# apps/reports/periods.py is the floor), by the beat schedules in apps/core/schedules.py.

# --- Celery ----------------------------------------------------------------------------
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="") or "filesystem://"
if CELERY_BROKER_URL == "filesystem://":
    # No broker server needed: kombu's filesystem transport under var/ (or CELERY_FILESYSTEM_DIR).
    _fs_dir = Path(env("CELERY_FILESYSTEM_DIR", default=str(VAR_DIR / "celery")))
    _queue_dir, _processed_dir, _control_dir = _fs_dir / "queue", _fs_dir / "processed", _fs_dir / "control"
    for _d in (_queue_dir, _processed_dir, _control_dir):
        _d.mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue_dir),
        "data_folder_out": str(_queue_dir),
        "processed_folder": str(_processed_dir),
        "control_folder": str(_control_dir),
        "store_processed": False,
    }
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TIMEZONE = "UTC"
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_TASK_ACKS_ON_FAILURE_OR_TIMEOUT = False
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = True
CELERY_TASK_TIME_LIMIT = 15 * 60
CELERY_TASK_SOFT_TIME_LIMIT = 14 * 60
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# Queues, so that each kind of work scales on its own workers (`celery worker -Q brokers`, ...). A
# worker started without -Q consumes them all. The relay itself runs in every worker's relay loop
# (apps/brokers/relay_loop.py); the brokers queue carries its safety net, polls and resyncs.
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_TASK_QUEUES: dict[str, dict[str, str]] = {name: {} for name in ("celery", "brokers", "sequencers", "scheduled")}
CELERY_TASK_ROUTES = {
    "brokers.*": {"queue": "brokers"},
    "ledger.sequence": {"queue": "sequencers"},
    "orders.sequence_events": {"queue": "sequencers"},
    "ledger.verify": {"queue": "scheduled"},
    "compliance.*": {"queue": "scheduled"},
    "orders.expire_day_orders": {"queue": "scheduled"},
    "orders.mark_to_market": {"queue": "scheduled"},
    "reports.*": {"queue": "scheduled"},
}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

# --- Logging ---------------------------------------------------------------------------
# structlog renders every line, stdlib loggers' too (apps/core/logs.py): "console" (readable,
# the default here) or "json" (one object a line, the default in production). Each line carries
# the correlation id, the actor, and the account and order where the code bound them; keys that
# name secrets (password, token, authorization, ...) are masked. docs/observability.md.
LOG_FORMAT = env("LOG_FORMAT", default="console")
LOGGING = logs.logging_settings(LOG_FORMAT, level=env("DJANGO_LOG_LEVEL", default="INFO"))

# --- Observability (apps/monitoring, docs/observability.md) ------------------------------
# /metrics: open when METRICS_OPEN (the default, not in production); else only to the client
# addresses in METRICS_ALLOWED_IPS (CIDRs) or a request with "Authorization: Bearer METRICS_TOKEN".
METRICS_OPEN = env.bool("METRICS_OPEN", default=True)
METRICS_ALLOWED_IPS = env.list("METRICS_ALLOWED_IPS", default=[])
METRICS_TOKEN = env("METRICS_TOKEN", default="")
# A Celery worker serves its metrics (its own and its pool processes', with PROMETHEUS_MULTIPROC_DIR)
# on this port; 0: not at all (config/celery_app.py).
WORKER_METRICS_PORT = env.int("WORKER_METRICS_PORT", default=0)
# /health/ready: the components whose failure answers 503 (the others are reported only), how
# stale beat's heartbeat (the last run of a periodic task every few seconds) and the sequencers'
# backlogs may be, and how long the broker connection may take.
HEALTH_READY_REQUIRED = env.list("HEALTH_READY_REQUIRED", default=["database", "broker", "cache"])
HEALTH_BEAT_TASK = env("HEALTH_BEAT_TASK", default="ledger: number committed transactions")
HEALTH_BEAT_MAX_AGE_SECONDS = env.int("HEALTH_BEAT_MAX_AGE_SECONDS", default=300)
HEALTH_SEQUENCER_MAX_BACKLOG = env.int("HEALTH_SEQUENCER_MAX_BACKLOG", default=10_000)
HEALTH_SEQUENCER_MAX_AGE_SECONDS = env.int("HEALTH_SEQUENCER_MAX_AGE_SECONDS", default=120)
HEALTH_BROKER_TIMEOUT_SECONDS = env.float("HEALTH_BROKER_TIMEOUT_SECONDS", default=2.0)

# --- The product -----------------------------------------------------------------------
# The named system actor: every change made by a task, command or the system itself.
SYSTEM_USERNAME = "system"

# --- Risk ------------------------------------------------------------------------------
# Commission estimate used for buying power (per share, with a minimum per order).
RISK_FEE_ESTIMATE = {
    "per_share": env("RISK_FEE_PER_SHARE", default="0.005"),
    "minimum": env("RISK_FEE_MINIMUM", default="1.00"),
}
# Trading session (UTC) for DAY orders: they expire at the close on trading days.
TRADING_SESSION_CLOSE_UTC = env("TRADING_SESSION_CLOSE_UTC", default="21:00")
TRADING_DAYS = env.list("TRADING_DAYS", default=["mon", "tue", "wed", "thu", "fri"])
TRADING_HOLIDAYS = env.list("TRADING_HOLIDAYS", default=[])  # ISO dates

# --- Brokers ---------------------------------------------------------------------------
# Only the plugins named here are enabled. Each one's settings are merged over the defaults
# its PluginSpec declares (see docs/plugins.md); decimals are given as strings, never floats.
_PAPER_ENV = {
    "seed": "PAPER_SEED",
    "slippage_bps": "PAPER_SLIPPAGE_BPS",
    "commission_per_share": "PAPER_COMMISSION_PER_SHARE",
    "commission_minimum": "PAPER_COMMISSION_MINIMUM",
    "partial_fill_quantity": "PAPER_PARTIAL_FILL_QUANTITY",
    "max_fill_ratio": "PAPER_MAX_FILL_RATIO",
    "max_price_age_seconds": "PAPER_MAX_PRICE_AGE_SECONDS",
    "day_close_utc": "PAPER_DAY_CLOSE_UTC",
    "random_walk": "PAPER_RANDOM_WALK",
    "random_walk_max_bps": "PAPER_RANDOM_WALK_MAX_BPS",
}
BROKERS: dict[str, dict[str, object]] = {
    "paper": {key: env.str(var) for key, var in _PAPER_ENV.items() if env.str(var, default="")},
}
# The FIX 4.4 session (plugins/fix44, docs/plugins.md), enabled by FIX44_ENABLED; its gateway runs
# as `manage.py fix_gateway` (and under `make run` with FIX44_ENABLED=true, beside a local venue).
_FIX44_ENV = {
    "sender_comp_id": "FIX44_SENDER_COMP_ID",
    "target_comp_id": "FIX44_TARGET_COMP_ID",
    "host": "FIX44_HOST",
    "port": "FIX44_PORT",
    "heartbeat_seconds": "FIX44_HEARTBEAT_SECONDS",
    "reconnect_seconds": "FIX44_RECONNECT_SECONDS",
    "reset_on_logon": "FIX44_RESET_ON_LOGON",
    "data_dir": "FIX44_DATA_DIR",
    "tls": "FIX44_TLS",
    "tls_ca_file": "FIX44_TLS_CA_FILE",
    "tls_certificate": "FIX44_TLS_CERTIFICATE",
    "tls_private_key": "FIX44_TLS_PRIVATE_KEY",
    "answer_timeout_seconds": "FIX44_ANSWER_TIMEOUT_SECONDS",
    "log_messages": "FIX44_LOG_MESSAGES",
}
if env.bool("FIX44_ENABLED", default=False):
    BROKERS["fix44"] = {key: env.str(var) for key, var in _FIX44_ENV.items() if env.str(var, default="")}
DEFAULT_BROKER = env("DEFAULT_BROKER", default="paper")
# An outbox instruction in flight longer than this is presumed orphaned by a dead worker:
# its outcome is resolved by asking the broker, never by sending it again blindly.
BROKERS_RELAY_STALE_SECONDS = env.int("BROKERS_RELAY_STALE_SECONDS", default=120)
# Every Celery worker runs a relay loop (apps/brokers/relay_loop.py), woken by LISTEN/NOTIFY when
# outbox rows commit, claiming up to BROKERS_RELAY_BATCH instructions at a time; it also wakes every
# BROKERS_RELAY_WAKE_SECONDS for instructions whose backoff ended. Beat's relay task is the safety net.
BROKERS_RELAY_LOOP = env.bool("BROKERS_RELAY_LOOP", default=True)
BROKERS_RELAY_BATCH = max(1, env.int("BROKERS_RELAY_BATCH", default=100))
BROKERS_RELAY_WAKE_SECONDS = max(0.05, env.float("BROKERS_RELAY_WAKE_SECONDS", default=1.0))
# The relay's circuit breaker per broker: after this many consecutive transport failures it stops
# calling the broker for the cool-down, then sends one probe (apps/brokers/circuit.py).
BROKERS_CIRCUIT_FAILURES = env.int("BROKERS_CIRCUIT_FAILURES", default=5)
BROKERS_CIRCUIT_COOLDOWN_SECONDS = env.int("BROKERS_CIRCUIT_COOLDOWN_SECONDS", default=30)
# Reconciliation with the brokers (apps/compliance/reconciliation): an order or a position whose
# last change (order event, fill, position update) is this recent, counted back from the moment
# the broker was asked, is not compared: its reports may still be on their way. Never below 0.
RECONCILIATION_BROKER_GRACE_SECONDS = max(0, env.int("RECONCILIATION_BROKER_GRACE_SECONDS", default=60))

# --- Records retention (apps/compliance/records/; `manage.py retention_report`) ---------
# Years each record class is kept, counted from the record's own timestamp; the longest rule
# that applies wins. Nothing is ever deleted automatically: the report only says what has
# become eligible (and ledger, order-event and audit rows are append-only in the database).
#   SEC 17a-4(a): blotters, ledgers, trade confirmations (17a-3(a)(1)-(3)) - six years;
#   SEC 17a-4(b): order memoranda (17a-3(a)(6)) - three years;
#   MiFID II Art. 16(6) / MiFIR Art. 25 / Delegated Reg. 2017/565 Art. 72: orders and
#     transactions - five years (so orders and their events: five, not three);
#   FINRA Rule 4511(b): books and records with no period of their own - six years. Security
#     events and audit log entries are the audit trail of the books and records (17a-4(f)
#     requires that trail for as long as the records it covers): six years, the longest.
RECORDS_RETENTION: dict[str, dict[str, int | str]] = {
    "ledger.journaltransaction": {"years": 6, "basis": "SEC 17a-4(a) ledgers/blotters (6y) > MiFID II (5y)"},
    "ledger.journalentry": {"years": 6, "basis": "SEC 17a-4(a) ledgers (6y) > MiFID II (5y)"},
    "orders.fill": {"years": 6, "basis": "SEC 17a-4(a) blotter of purchases and sales (6y) > MiFID II (5y)"},
    "orders.order": {"years": 5, "basis": "MiFID II Art. 16(6) (5y) > SEC 17a-4(b) order memoranda (3y)"},
    "orders.orderevent": {"years": 5, "basis": "MiFID II Art. 16(6) (5y) > SEC 17a-4(b) order memoranda (3y)"},
    "compliance.securityevent": {"years": 6, "basis": "FINRA 4511(b) default (6y); audit trail of the records"},
    "compliance.compliancealert": {"years": 6, "basis": "FINRA 4511(b) default (6y)"},
    "auditlog.logentry": {"years": 6, "basis": "SEC 17a-4(f) audit trail, kept as long as the records (6y)"},
}
