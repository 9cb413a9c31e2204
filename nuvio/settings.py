"""Nuvio settings: one file, read from the environment.

Nothing set gives the embedded mode (SQLite, local-memory cache, Celery tasks
run eagerly). ``DATABASE_URL`` and ``REDIS_URL`` give the production mode
(PostgreSQL with persistent connections, Redis cache, Celery on Redis). Every
variable is listed in ``.env.example`` and in ``docs/operations.md``.
"""

import base64
import hashlib
from pathlib import Path
from zoneinfo import available_timezones

import environ
from csp.constants import NONCE, NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from nuvio.env import (
    env_bool,
    env_int,
    env_list,
    env_str,
    parse_refund_tiers,
    parse_throttle_rates,
)

BASE_DIR = Path(__file__).resolve().parent.parent
_env = environ.Env()

# --- Core -------------------------------------------------------------------

DEV_SECRET_KEY = "dev-insecure-nuvio-key-change-me-for-production-0123456789"
SECRET_KEY = env_str("DJANGO_SECRET_KEY", DEV_SECRET_KEY)
DEBUG = env_bool("DJANGO_DEBUG", False)
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "accounts",
    "events",
    "bookings",
    "analytics",
    "nuvio",  # project-wide management commands (er_diagram)
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Content-Security-Policy on every response (CONTENT_SECURITY_POLICY below;
    # nuvio.csp: django-csp's, with a plain response's header built once).
    "nuvio.csp.CSPMiddleware",
    # Anonymous GET /api/events/ and /api/events/{id}/ from the shared page cache.
    "events.middleware.CatalogListMiddleware",
    # Every other request's deferred Redis writes go out together at its end.
    "nuvio.redis_batch.RequestBatchMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # An API endpoint's missing method is a 405 before authentication and throttling.
    "nuvio.middleware.ApiMethodMiddleware",
]

ROOT_URLCONF = "nuvio.urls"
WSGI_APPLICATION = "nuvio.wsgi.application"

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
                "bookings.context_processors.notifications",
            ],
        },
    },
]

# --- Database ---------------------------------------------------------------

DATABASES = {"default": _env.db_url("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
USING_SQLITE = DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3"
if not USING_SQLITE:
    # Persistent connections: opening one per request costs about 65 % of the
    # booking throughput. Health checks drop a connection the server closed.
    DATABASES["default"]["CONN_MAX_AGE"] = env_int("DATABASE_CONN_MAX_AGE", 600, minimum=0)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        # The same backend, with a health check that polls the socket first.
        DATABASES["default"]["ENGINE"] = "nuvio.db"
    # A row lock that cannot be taken quickly means extreme contention: fail
    # with 503 `busy` instead of piling up requests behind it.
    _lock_ms = env_int("NUVIO_LOCK_TIMEOUT_MS", 3000, minimum=1)
    # No JIT compilation: Nuvio's statements are short, and the few whose
    # estimated cost passes jit_above_cost (a filter or an order on
    # availability over a catalog of 100,000 events) spent 200 ms compiling
    # to save nothing (docs/performance.md).
    _session = f"-c lock_timeout={_lock_ms} -c jit=off"
    DATABASES["default"].setdefault("OPTIONS", {})
    DATABASES["default"]["OPTIONS"].setdefault("connect_timeout", 5)
# Behind PgBouncer in transaction pooling mode (docs/operations.md, "PgBouncer")
# consecutive transactions of one connection may run on different server
# connections: nothing may outlive a transaction. No server-side cursors
# (``.iterator()`` fetches in chunks instead), no prepared statements
# (``nuvio.db.prepared`` binds on the client), and no startup options, which
# PgBouncer refuses: the lock timeout and JIT are PgBouncer's ``connect_query``.
DATABASE_TRANSACTION_POOLING = env_bool("DATABASE_TRANSACTION_POOLING", False)
if not USING_SQLITE:
    if DATABASE_TRANSACTION_POOLING:
        DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = True
    else:
        DATABASES["default"]["OPTIONS"]["options"] = _session

# Read replicas: catalog and analytics reads of anyone who has not just written
# go to a healthy one (nuvio.replicas). Unset: no router, no middleware.
DATABASE_REPLICAS = []
for _number, _url in enumerate(env_list("DATABASE_REPLICA_URLS", ""), start=1):
    _replica = _env.db_url_config(_url)
    _postgres = _replica.get("ENGINE") == "django.db.backends.postgresql"
    if not _postgres or DATABASES["default"]["ENGINE"] != "nuvio.db":
        raise ImproperlyConfigured(
            "DATABASE_REPLICA_URLS names PostgreSQL replicas of a PostgreSQL DATABASE_URL"
        )
    _replica.update(
        ENGINE=DATABASES["default"]["ENGINE"],
        CONN_MAX_AGE=DATABASES["default"]["CONN_MAX_AGE"],
        CONN_HEALTH_CHECKS=True,
        DISABLE_SERVER_SIDE_CURSORS=DATABASE_TRANSACTION_POOLING,
        # A replica that is down must cost a request little: it is skipped.
        OPTIONS={
            **DATABASES["default"]["OPTIONS"],
            "connect_timeout": 2,
            **_replica.get("OPTIONS", {}),
        },
        # Tests read the test database through the replica aliases.
        TEST={"MIRROR": "default"},
    )
    DATABASES[f"replica_{_number}"] = _replica
    DATABASE_REPLICAS.append(f"replica_{_number}")
# A user's reads stay on the primary this long after any write of theirs.
NUVIO_REPLICA_STICKY_SECONDS = env_int("NUVIO_REPLICA_STICKY_SECONDS", 5, minimum=0)
# A replica further behind than this is skipped.
NUVIO_REPLICA_MAX_LAG_SECONDS = env_int("NUVIO_REPLICA_MAX_LAG_SECONDS", 5, minimum=0)
if DATABASE_REPLICAS:
    DATABASE_ROUTERS = ["nuvio.replicas.ReplicaRouter"]
    MIDDLEWARE.insert(
        MIDDLEWARE.index("events.middleware.CatalogListMiddleware"),
        "nuvio.replica_middleware.ReplicaMiddleware",
    )

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

if not DEBUG and not USING_SQLITE and SECRET_KEY == DEV_SECRET_KEY:
    raise ImproperlyConfigured(
        "DJANGO_SECRET_KEY must be set in production (DJANGO_DEBUG off, database "
        "not SQLite); the built-in development key is refused."
    )

# --- Cache and Celery ---------------------------------------------------------

REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env_str("NUVIO_CACHE_PREFIX", "nuvio"),
            "OPTIONS": {
                # Short timeouts: a dead Redis must cost milliseconds, not seconds.
                "SOCKET_CONNECT_TIMEOUT": 0.5,
                "SOCKET_TIMEOUT": 0.5,
            },
        }
    }
    # The cache is an accelerator: when Redis is down, pages are served straight
    # from the database and the failure is logged (and /healthz says so).
    DJANGO_REDIS_IGNORE_EXCEPTIONS = True
    DJANGO_REDIS_LOG_IGNORED_EXCEPTIONS = True
    DJANGO_REDIS_LOGGER = "nuvio.cache"
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "nuvio",
        }
    }

CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {"socket_connect_timeout": 1, "socket_timeout": 2}
# Publishing a task must never hang a web request when Redis is away.
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.2}
CELERY_TIMEZONE = "UTC"

# --- Auth -------------------------------------------------------------------

AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "home"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Internationalisation and time ----------------------------------------------

LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static files (vendored, served by WhiteNoise; no CDN) ---------------------

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # No manifest: a web process serves pages even where collectstatic never ran
    # (WhiteNoise then serves straight from the app and project static folders).
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

# --- Security -----------------------------------------------------------------

SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", False)
SECURE_HSTS_SECONDS = env_int("DJANGO_SECURE_HSTS_SECONDS", 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("DJANGO_SECURE_HSTS_PRELOAD", False)
if env_bool("DJANGO_BEHIND_PROXY", False):
    # Trust the load balancer's scheme header (only set this behind one).
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
CSRF_FAILURE_VIEW = "nuvio.views.csrf_failure"


def _csp_hash(source: str) -> str:
    return f"'sha256-{base64.b64encode(hashlib.sha256(source.encode()).digest()).decode()}'"


# Scripts and style sheets come from our own origin (everything is vendored)
# or are inline blocks carrying the response's nonce (`request.csp_nonce`);
# no inline event handlers, no eval. docs/operations.md explains each source.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, NONCE],
        # Style attributes: only those that Django REST framework's browsable
        # API puts on its buttons and on the fieldset of a nested list (an
        # event's ticket_types in its form), by hash.
        "style-src-attr": [
            "'unsafe-hashes'",
            _csp_hash("float: right; margin-right: 10px"),
            _csp_hash("border-bottom: 1px solid #e5e5e5"),
            _csp_hash("border-bottom: 0"),
        ],
        "img-src": [SELF, "data:"],
        "worker-src": [SELF, "blob:"],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

# --- E-mail -------------------------------------------------------------------

# EMAIL_BACKEND, EMAIL_HOST, EMAIL_PORT, EMAIL_HOST_USER, ... from one URL.
# Without one: in the embedded mode each e-mail is written as a file to
# NUVIO_MAIL_DIR, for a developer to read (django-environ reads no folder from
# a filemail:// URL); with a worker (REDIS_URL), the console backend, as API.md says.
globals().update(
    _env.email_url("EMAIL_URL", default="consolemail://" if REDIS_URL else "filemail://")
)
EMAIL_FILE_PATH = env_str("NUVIO_MAIL_DIR", str(BASE_DIR / "var" / "mail"))
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Nuvio <tickets@nuvio.local>")

# --- Django REST framework and the API docs --------------------------------------

# A scope left out of NUVIO_THROTTLE_RATES keeps its default rate.
_DEFAULT_THROTTLE_RATES = "auth=10/min,register=20/hour,write=120/min,read=1200/min"
NUVIO_THROTTLE_RATES = {
    **parse_throttle_rates(_DEFAULT_THROTTLE_RATES),
    **parse_throttle_rates(env_str("NUVIO_THROTTLE_RATES", _DEFAULT_THROTTLE_RATES)),
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first: its `WWW-Authenticate` header makes a missing login a 401.
        "nuvio.authentication.CachedTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # JSON nested deeper than nuvio.parsers.MAX_DEPTH is a 400, not a RecursionError.
    "DEFAULT_PARSER_CLASSES": [
        "nuvio.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_THROTTLE_CLASSES": ["nuvio.throttling.ScopedThrottle"],
    "DEFAULT_THROTTLE_RATES": NUVIO_THROTTLE_RATES,
    "DEFAULT_PAGINATION_CLASS": "nuvio.pagination.PageNumberPagination",
    "PAGE_SIZE": 20,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    # DRF's, answering the usual Accept (none, */*, JSON) without parsing it.
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "nuvio.negotiation.ContentNegotiation",
    "DEFAULT_SCHEMA_CLASS": "nuvio.schema.NuvioAutoSchema",
    "EXCEPTION_HANDLER": "nuvio.errors.api_exception_handler",
    # Per-IP throttles read X-Forwarded-For only behind our load balancer (its
    # last hop); otherwise a client could pick a new "IP" for every request.
    "NUM_PROXIES": 1 if env_bool("DJANGO_BEHIND_PROXY", False) else 0,
    "COERCE_DECIMAL_TO_STRING": True,
    "DATETIME_FORMAT": "iso-8601",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Nuvio API",
    "DESCRIPTION": (
        "Event booking without overselling. Every error uses the envelope "
        '`{"error": {"code", "message", "details"}}`.'
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "EventStatusEnum": "events.models.EventStatus",
        "BookingStatusEnum": "bookings.models.BookingStatus",
        "PaymentStatusEnum": "bookings.models.PaymentStatus",
        "RefundStatusEnum": "bookings.models.RefundStatus",
    },
}

# --- Nuvio --------------------------------------------------------------------

NUVIO_HOLD_SECONDS = env_int("NUVIO_HOLD_SECONDS", 900, minimum=1)
NUVIO_CURRENCY = env_str("NUVIO_CURRENCY", "INR").upper()
if len(NUVIO_CURRENCY) != 3 or not NUVIO_CURRENCY.isalpha():
    raise ImproperlyConfigured("NUVIO_CURRENCY must be an ISO 4217 code such as INR")
NUVIO_TIME_ZONE = env_str("NUVIO_TIME_ZONE", "UTC")
if NUVIO_TIME_ZONE not in available_timezones():
    raise ImproperlyConfigured("NUVIO_TIME_ZONE must be an IANA time zone such as Asia/Kolkata")
NUVIO_REFUND_TIERS = parse_refund_tiers(env_str("NUVIO_REFUND_TIERS", "7:100,2:50,0:0"))
# Absolute links in e-mails, and when the "your hold is about to expire" mail goes.
NUVIO_SITE_URL = env_str("NUVIO_SITE_URL", "http://127.0.0.1:8000").rstrip("/")
NUVIO_HOLD_REMINDER_SECONDS = env_int("NUVIO_HOLD_REMINDER_SECONDS", 300, minimum=1)
NUVIO_TOKEN_CACHE_SECONDS = env_int("NUVIO_TOKEN_CACHE_SECONDS", 300, minimum=0)
NUVIO_PAYMENT_GATEWAY = env_str("NUVIO_PAYMENT_GATEWAY", "bookings.gateway.MockGateway")
# An Idempotency-Key is kept this long; a request still "running" after
# NUVIO_IDEMPOTENCY_STALE_SECONDS is taken to have died and may be retried.
NUVIO_IDEMPOTENCY_TTL_HOURS = 24
NUVIO_IDEMPOTENCY_STALE_SECONDS = env_int("NUVIO_IDEMPOTENCY_STALE_SECONDS", 60, minimum=1)
# The body of PUT /api/events/{id}/seating/ (a plan of up to 100,000 seats, a
# few MB of JSON) may be this large; every other request keeps Django's
# DATA_UPLOAD_MAX_MEMORY_SIZE.
NUVIO_SEATING_MAX_BYTES = env_int("NUVIO_SEATING_MAX_BYTES", 32 * 1024 * 1024, minimum=1)

# --- Logging ------------------------------------------------------------------

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("NUVIO_LOG_LEVEL", "INFO")},
    # django-redis logs every failure it swallows with a traceback: during an
    # outage, one line per cause and interval instead (nuvio.outage).
    "filters": {
        "outage": {
            "()": "nuvio.outage.OutageFilter",
            "what": "cache unavailable; answered without it",
        }
    },
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "nuvio.cache": {"filters": ["outage"]},
    },
}
