"""FraudCase settings, read from the environment (see .env.example).

Production defaults fail closed: DEBUG is off unless set, and then SECRET_KEY, DATABASE_URL,
CELERY_BROKER_URL and FRAUDCASE_S3_ENDPOINT_URL must be set. With DEBUG on (./dev sets it) any
of those URLs left unset starts the matching embedded server (fraudcase.embedded), so a fresh
checkout runs with Python alone.
"""

from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import environ
from django.core.exceptions import ImproperlyConfigured

from fraudcase import embedded

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)

# The dev key is only accepted with DEBUG on; production must bring its own.
_DEV_SECRET_KEY = "dev-only-insecure-key-do-not-use-in-production"
SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. With DEBUG off FraudCase refuses to start without one: "
            "set SECRET_KEY in the environment (for example: "
            "python -c 'import secrets; print(secrets.token_urlsafe(50))')."
        )
    SECRET_KEY = _DEV_SECRET_KEY

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# Where the embedded servers keep their data and sockets.
# Absolute: the embedded Redis changes its working directory to its own folder.
FRAUDCASE_VAR_DIR = Path(env.str("FRAUDCASE_VAR_DIR", default=str(BASE_DIR / "var"))).resolve()

# With DEBUG off nothing embedded ever starts: a missing URL stops start-up, naming it (all
# of them at once), before any server is started.
_missing_urls = [
    name
    for name in ("DATABASE_URL", "CELERY_BROKER_URL", "FRAUDCASE_S3_ENDPOINT_URL")
    if not env.str(name, default="")
]
if _missing_urls and not DEBUG:
    raise ImproperlyConfigured(
        f"{', '.join(_missing_urls)} {'is' if len(_missing_urls) == 1 else 'are'} not set. With "
        "DEBUG off FraudCase starts no embedded server: set them (see .env.example), or "
        "DEBUG=true for development."
    )


def _service_url(variable: str, start_embedded) -> str:
    """The URL from the environment, else (DEBUG on, checked above) an embedded server's."""
    return env.str(variable, default="") or start_embedded(FRAUDCASE_VAR_DIR)


INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI's files, served locally (no CDN)
    "django_otp",
    "django_otp.plugins.otp_totp",
    "axes",
    "csp",
    "cases",
    "analytics",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Content-Security-Policy on every response past the static files (CONTENT_SECURITY_POLICY).
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Cache-Control: no-store on every response to a signed-in user (pages, exports, files).
    "cases.middleware.NoStoreForSignedInMiddleware",
    # request.user.is_verified(): has this session passed the second factor?
    "django_otp.middleware.OTPMiddleware",
    # The signed-in user as actor of model changes recorded in the trail (cases.audit.model_changes).
    "cases.audit.middleware.CurrentActorMiddleware",
    # Server-made request id (also the X-Request-ID response header) and client IP (through
    # FRAUDCASE_TRUSTED_PROXY_COUNT proxies only) for the audit events a request records.
    "cases.audit.middleware.AuditContextMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # An htmx request bound for the sign-in or 2FA page loads it as a whole page instead.
    "cases.accounts.middleware.HtmxFullPageSignInMiddleware",
    # Sends a signed-in user whose role needs a second factor to /auth/2fa/ until verified.
    "cases.accounts.middleware.TwoFactorRequiredMiddleware",
    # Last, as axes asks: turns a lockout flagged during the request into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "fraudcase.urls"
WSGI_APPLICATION = "fraudcase.wsgi.application"

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
            ],
        },
    },
]

DATABASE_URL = _service_url("DATABASE_URL", embedded.postgres_url)
DATABASES = {"default": env.db_url_config(DATABASE_URL)}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# --- Sign-in: lockout, second factor, idle sessions ---------------------------------------
# The lockout backend goes first: it refuses a locked-out username before any password check.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# A username is locked from one address only, so nobody can lock a colleague out from elsewhere;
# an address is locked after a higher count across every username it tries (office NATs share
# one). The handler gives each its own limit (cases/lockouts.py).
AXES_HANDLER = "cases.accounts.lockouts.FraudCaseAxesHandler"
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"], "ip_address"]
AXES_FAILURE_LIMIT = env.int("FRAUDCASE_LOGIN_FAILURE_LIMIT", default=5)
FRAUDCASE_LOGIN_IP_FAILURE_LIMIT = env.int("FRAUDCASE_LOGIN_IP_FAILURE_LIMIT", default=50)
FRAUDCASE_LOCKOUT_MINUTES = env.int("FRAUDCASE_LOCKOUT_MINUTES", default=15)
AXES_COOLOFF_TIME = timedelta(minutes=FRAUDCASE_LOCKOUT_MINUTES)
# Attempts during a lockout do not extend it, so "try again in N minutes" holds.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_LOCKOUT_CALLABLE = "cases.accounts.views.locked_out"
AXES_SENSITIVE_PARAMETERS = ["username", "ip_address", "otp_token", "enrolment_code"]
# The same client address as the audit trail: REMOTE_ADDR, or X-Forwarded-For read from the
# right through FRAUDCASE_TRUSTED_PROXY_COUNT proxies only (a client cannot pick its address).
AXES_CLIENT_IP_CALLABLE = "cases.audit.client_ip.client_ip"
# Leads, auditors and admins (superusers too) need a TOTP code; analysts only when this is on.
FRAUDCASE_REQUIRE_OTP_FOR_ANALYSTS = env.bool("FRAUDCASE_REQUIRE_OTP_FOR_ANALYSTS", default=False)
OTP_TOTP_ISSUER = "FraudCase"
# Enrolling an authenticator needs a one-time code from an admin, valid this long by default.
FRAUDCASE_OTP_ENROLMENT_CODE_HOURS = env.int("FRAUDCASE_OTP_ENROLMENT_CODE_HOURS", default=24)
# A session ends after this many idle minutes: every request pushes the expiry forward.
FRAUDCASE_SESSION_IDLE_MINUTES = env.int("FRAUDCASE_SESSION_IDLE_MINUTES", default=30)
SESSION_COOKIE_AGE = FRAUDCASE_SESSION_IDLE_MINUTES * 60
SESSION_SAVE_EVERY_REQUEST = True

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
# In development whitenoise serves straight from the app and static folders.
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG
if DEBUG:
    STATIC_ROOT.mkdir(exist_ok=True)  # whitenoise warns on every start when it is missing
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# --- HTTPS, cookies and headers ----------------------------------------------------------
# Safe by default with DEBUG off (`manage.py check --deploy` reports nothing); each one can be
# relaxed from the environment, e.g. for a plain-HTTP trial on localhost (docker/compose.yaml).
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
# Behind a proxy that ends TLS, the header it sets for HTTPS requests, as "HEADER,value"
# (e.g. HTTP_X_FORWARDED_PROTO,https). Set it only when the proxy overwrites that header.
_proxy_ssl_header = env.list("SECURE_PROXY_SSL_HEADER", default=[])
if _proxy_ssl_header:
    if len(_proxy_ssl_header) != 2:
        raise ImproperlyConfigured(
            "SECURE_PROXY_SSL_HEADER must be 'HEADER,value', e.g. HTTP_X_FORWARDED_PROTO,https"
        )
    SECURE_PROXY_SSL_HEADER = tuple(_proxy_ssl_header)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=not DEBUG)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=not DEBUG)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Proxies in front of the app that append to X-Forwarded-For; 0: REMOTE_ADDR is the client
# (cases/client_ip.py). A client can write anything into the header: count only our own.
FRAUDCASE_TRUSTED_PROXY_COUNT = env.int("FRAUDCASE_TRUSTED_PROXY_COUNT", default=0)

# Content-Security-Policy (django-csp): scripts, styles, images, fonts and fetches from this
# origin only; no inline script or style anywhere (templates load static/ files only).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# --- Celery -------------------------------------------------------------------------------
CELERY_BROKER_URL = _service_url("CELERY_BROKER_URL", embedded.redis_url)
CELERY_TASK_IGNORE_RESULT = True


def _cache_url(broker_url: str) -> str:
    """The broker's Redis server, another database (the broker's number + 1): the cache never
    shares the broker's database, so a cache clear (FLUSHDB) cannot drop queued tasks."""
    if broker_url.startswith("redis+socket://"):
        path, _, query = broker_url.removeprefix("redis+socket://").partition("?")
        broker_db = int(dict(parse_qsl(query)).get("virtual_host", "0") or 0)
        return f"unix://{path}?db={broker_db + 1}"
    if broker_url.startswith(("redis://", "rediss://")):
        parts = urlsplit(broker_url)
        broker_db = int(parts.path.strip("/") or 0)
        return urlunsplit(parts._replace(path=f"/{broker_db + 1}"))
    return ""


# --- Cache ---------------------------------------------------------------------------------
# Shared by every web process and worker (beat warms the IP map's default view for all of
# them): Redis, in a database of its own, as JSON (fraudcase/cache.py: whoever can write to
# Redis must not get code run by unpickling). FRAUDCASE_CACHE_URL overrides; a broker that is
# not Redis leaves each process its own in-memory cache.
FRAUDCASE_CACHE_URL = env.str("FRAUDCASE_CACHE_URL", default="") or _cache_url(CELERY_BROKER_URL)
CACHES = {
    "default": (
        {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": FRAUDCASE_CACHE_URL,
            "OPTIONS": {"serializer": "fraudcase.cache.JsonSerializer"},
        }
        if FRAUDCASE_CACHE_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}
# The dataclasses the cache may store and rebuild (anything else is refused when stored).
FRAUDCASE_CACHE_DATACLASSES = [
    "cases.casefile.explain.PopulationStats",
    "analytics.selectors.IpMap",
    "analytics.selectors.IpMapFilters",
    "analytics.selectors.IpPoint",
]
CELERY_TASK_ACKS_LATE = True
# A worker killed mid-task leaves its message unacknowledged; it is redelivered, not lost.
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Seconds before Redis hands an unacknowledged task (its worker died) to another worker.
# Redis cannot tell a dead worker from a slow one: a task still running when this expires is
# handed to a second worker too. So every task's hard time limit stays below it (the longest:
# the HNSW rebuild, 6 h + 100 s; ingest, CELERY_TASK_TIME_LIMIT), and so does every retry
# countdown (cases/tests/test_architecture.py checks both; a worker logs a warning at start
# when the environment breaks it). What a lost node leaves is not waiting for it alone: the
# inbox scan re-sends ingest runs whose heartbeat stopped, and beat's sweeps redo the rest.
# How often a worker looks for such tasks is the restore interval.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=7 * 3600),
    "unacked_restore_interval": env.int("CELERY_UNACKED_RESTORE_INTERVAL", default=10),
}
# Hard time limit of the tasks that set none of their own (ingest_object among them).
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=3 * 3600)
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULE = {
    "scan-inbox": {
        "task": "cases.ingest.tasks.scan_inbox",
        "schedule": env.float("FRAUDCASE_INBOX_SCAN_SECONDS", default=60.0),
    },
    # Ingest runs that failed because S3 was unreachable, queued again once their backoff ends.
    "retry-unreachable-ingests": {
        "task": "cases.ingest.tasks.retry_unreachable_ingests",
        "schedule": env.float("FRAUDCASE_INGEST_RETRY_SWEEP_SECONDS", default=60.0),
    },
    # New embeddings join the nearest-neighbour graph off the ingest path (ingest also queues
    # this after each chunk; the sweep catches what a lost message left behind).
    "index-new-embeddings": {
        "task": "cases.similarity.tasks.index_new_embeddings",
        "schedule": env.float("FRAUDCASE_EMBEDDING_INDEX_SECONDS", default=60.0),
    },
    # Labels left in the outbox (a lost on-commit message, S3 down): export them.
    "export-labels": {
        "task": "cases.labels.tasks.sweep_label_exports",
        "schedule": env.float("FRAUDCASE_LABEL_EXPORT_SWEEP_SECONDS", default=60.0),
    },
    # New labels anywhere change open cases' neighbour verdicts: recompute them now and then.
    "refresh-neighbour-verdicts": {
        "task": "cases.similarity.tasks.refresh_open_case_neighbour_verdicts",
        "schedule": env.float("FRAUDCASE_NEIGHBOUR_REFRESH_SECONDS", default=3600.0),
    },
    # IPs not yet placed, or placed from an older GeoIP database: enrich them.
    "enrich-ips": {
        "task": "cases.ips.tasks.sweep_ip_enrichment",
        "schedule": env.float("FRAUDCASE_IP_ENRICH_SWEEP_SECONDS", default=3600.0),
    },
    # The IP map's default view (last 30 days) computed into the shared cache before anyone
    # asks: its aggregation over every transaction of the range takes about a second.
    # Drift of new ingest batches and finished days against the days before: alerts, webhooks.
    "check-drift": {
        "task": "analytics.tasks.check_drift",
        "schedule": env.float("FRAUDCASE_DRIFT_CHECK_SECONDS", default=600.0),
    },
    "warm-ip-map": {
        "task": "analytics.tasks.warm_ip_map",
        "schedule": env.float("FRAUDCASE_IP_MAP_WARM_SECONDS", default=240.0),
    },
    # The team's operations figures of the default range (last 30 days) into the shared cache,
    # more often than they expire (FRAUDCASE_OPERATIONS_CACHE_SECONDS): a lead's first request
    # finds them. The task does nothing when that cache is off.
    "warm-operations": {
        "task": "analytics.tasks.warm_operations",
        "schedule": env.float("FRAUDCASE_OPERATIONS_WARM_SECONDS", default=50.0),
    },
    # Shadow scores that came before their transaction, linked to it once it is in (reads
    # are right either way; linked ones are cheaper to compare).
    "link-shadow-scores": {
        "task": "cases.shadow.tasks.link_shadow_scores",
        "schedule": env.float("FRAUDCASE_SHADOW_LINK_SECONDS", default=300.0),
    },
    # The label counters are append-only (a row per label write): fold each key's rows.
    "compact-label-counters": {
        "task": "analytics.tasks.compact_label_counters",
        "schedule": env.float("FRAUDCASE_LABEL_COUNTERS_COMPACT_SECONDS", default=600.0),
    },
    # Fraud rings (accounts sharing IPs or devices): a fresh snapshot for the rings page.
    "compute-rings": {
        "task": "cases.ips.tasks.compute_rings",
        "schedule": env.float("FRAUDCASE_RINGS_REFRESH_SECONDS", default=3600.0),
    },
    # Webhook retries that came due, and deliveries a lost message left pending.
    "deliver-webhooks": {
        "task": "cases.webhooks.tasks.sweep_webhook_deliveries",
        "schedule": env.float("FRAUDCASE_WEBHOOK_SWEEP_SECONDS", default=60.0),
    },
    # Reminders for cases waiting on the customer past their reply date (idempotent).
    "remind-waiting-cases": {
        "task": "cases.watchers.tasks.remind_waiting_cases",
        "schedule": env.float("FRAUDCASE_REMINDER_SWEEP_SECONDS", default=300.0),
    },
    # The audit chain's head written to the audit bucket (tampering detectable from outside).
    "anchor-audit": {
        "task": "cases.audit.tasks.anchor_audit_chain",
        "schedule": env.float("FRAUDCASE_AUDIT_ANCHOR_SECONDS", default=3600.0),
    },
}

# --- S3 -----------------------------------------------------------------------------------
# For AWS itself give the regional endpoint (https://s3.eu-west-1.amazonaws.com); unset starts
# the embedded S3 server.
_S3_EMBEDDED = not env.str("FRAUDCASE_S3_ENDPOINT_URL", default="")
FRAUDCASE_S3_ENDPOINT_URL = _service_url("FRAUDCASE_S3_ENDPOINT_URL", embedded.s3_endpoint_url)
FRAUDCASE_S3_REGION = env.str("FRAUDCASE_S3_REGION", default="us-east-1")
# Credentials: the AWS_* variables or boto3's usual chain; the embedded server accepts any.
FRAUDCASE_S3_ACCESS_KEY_ID = (
    env.str("AWS_ACCESS_KEY_ID", default="fraudcase-dev" if _S3_EMBEDDED else "") or None
)
FRAUDCASE_S3_SECRET_ACCESS_KEY = (
    env.str("AWS_SECRET_ACCESS_KEY", default="fraudcase-dev" if _S3_EMBEDDED else "") or None
)
FRAUDCASE_INBOX_BUCKET = env.str("FRAUDCASE_INBOX_BUCKET", default="fraudcase-inbox")
FRAUDCASE_RETRAINING_BUCKET = env.str("FRAUDCASE_RETRAINING_BUCKET", default="fraudcase-retraining")
# Case attachments are stored under cases/<reference>/attachments/ in this bucket.
FRAUDCASE_ATTACHMENTS_BUCKET = env.str(
    "FRAUDCASE_ATTACHMENTS_BUCKET", default="fraudcase-attachments"
)
FRAUDCASE_ATTACHMENT_MAX_BYTES = env.int("FRAUDCASE_ATTACHMENT_MAX_BYTES", default=10 * 1024 * 1024)
# Anchors of the audit chain (cases.audit.anchors): a bucket of their own, ideally
# with Object Lock; signed with the HMAC key when set (keep it out of the database's reach).
FRAUDCASE_AUDIT_BUCKET = env.str("FRAUDCASE_AUDIT_BUCKET", default="fraudcase-audit")
FRAUDCASE_AUDIT_ANCHOR_SECONDS = env.float("FRAUDCASE_AUDIT_ANCHOR_SECONDS", default=3600.0)
FRAUDCASE_AUDIT_ANCHOR_HMAC_KEY = env.str("FRAUDCASE_AUDIT_ANCHOR_HMAC_KEY", default="")
FRAUDCASE_AUDIT_ANCHOR_RETENTION_DAYS = env.int(
    "FRAUDCASE_AUDIT_ANCHOR_RETENTION_DAYS", default=2557
)

# --- Detector contract and ingest ---------------------------------------------------------
FRAUDCASE_EMBEDDING_DIM = env.int("FRAUDCASE_EMBEDDING_DIM", default=384)
# Amounts convert to this currency (ISO 4217) for priority, sorting, filters, routing and
# "at risk"; rates come from `manage.py load_exchange_rates` or the admin (cases.currency).
FRAUDCASE_REPORTING_CURRENCY = env.str("FRAUDCASE_REPORTING_CURRENCY", default="EUR").upper()
# Rows per committed chunk: the unit of progress and of resumption after a crash.
FRAUDCASE_INGEST_CHUNK_ROWS = env.int("FRAUDCASE_INGEST_CHUNK_ROWS", default=5000)
# ... or fewer, so that a chunk holds at most this much source text (rows near the line limit).
FRAUDCASE_INGEST_CHUNK_MAX_BYTES = env.int("FRAUDCASE_INGEST_CHUNK_MAX_BYTES", default=64 << 20)
# What one file may make a worker hold (cases/ingest/limits.py): a file past one fails its run
# with the reason; the rows read before it are kept. A line (CSV, JSON Lines) is refused before
# it is read whole; a gzip stream that inflates more than the ratio (judged past 16 MiB out) or
# past the size is a bomb; a Parquet row group over the size (uncompressed, from the footer)
# refuses the file before any row is read.
FRAUDCASE_INGEST_MAX_LINE_BYTES = env.int("FRAUDCASE_INGEST_MAX_LINE_BYTES", default=1 << 20)
FRAUDCASE_INGEST_MAX_GZIP_RATIO = env.float("FRAUDCASE_INGEST_MAX_GZIP_RATIO", default=200.0)
FRAUDCASE_INGEST_MAX_DECOMPRESSED_BYTES = env.int(
    "FRAUDCASE_INGEST_MAX_DECOMPRESSED_BYTES", default=64 << 30
)
FRAUDCASE_INGEST_MAX_ROW_GROUP_BYTES = env.int(
    "FRAUDCASE_INGEST_MAX_ROW_GROUP_BYTES", default=512 << 20
)
# Parquet is read from S3 by ranged GETs of this many bytes (aligned blocks, two kept): fewer,
# larger requests for a far S3, smaller ones to hold less (cases/ingest/s3_object.py).
FRAUDCASE_INGEST_S3_RANGE_BYTES = env.int("FRAUDCASE_INGEST_S3_RANGE_BYTES", default=8 << 20)
# random_page_cost for ingest's chunk transactions, which look cases up by key by the thousand
# (cases.ingest.services._plan_for_lookups_by_key); empty: the server's own.
_ingest_page_cost = env.str("FRAUDCASE_INGEST_RANDOM_PAGE_COST", default="1.1").strip()
FRAUDCASE_INGEST_RANDOM_PAGE_COST = float(_ingest_page_cost) if _ingest_page_cost else None
# The inbox scan lists each prefix only after the last key it saw (S3 lists in key order);
# this often it lists everything, finding keys that sort before that one (uploaded late under
# an earlier name, or a new version of a key already seen). 0: every scan lists everything.
FRAUDCASE_INBOX_FULL_RESCAN_SECONDS = env.int(
    "FRAUDCASE_INBOX_FULL_RESCAN_SECONDS", default=24 * 3600
)
# An unfinished ingest run whose heartbeat (claimed, a chunk committed, queued) is older than
# this stopped progressing: its worker's lease has expired, another worker may take it, and the
# inbox scan sends it again. Keep it well above the time one chunk takes to read and load.
FRAUDCASE_INGEST_STALE_SECONDS = env.int("FRAUDCASE_INGEST_STALE_SECONDS", default=900)
# Times a worker may take one run (an operator's re-run grants as many again): a file that
# kills its worker (memory, time limit) is not redelivered forever, it fails with the reason.
FRAUDCASE_INGEST_MAX_ATTEMPTS = env.int("FRAUDCASE_INGEST_MAX_ATTEMPTS", default=10)
# A run that failed because S3 was unreachable is queued again by beat after this many
# seconds, doubling per attempt up to the max (with 10 attempts: about 4 hours of outage).
FRAUDCASE_INGEST_RETRY_BACKOFF = env.int("FRAUDCASE_INGEST_RETRY_BACKOFF", default=60)
FRAUDCASE_INGEST_RETRY_BACKOFF_MAX = env.int("FRAUDCASE_INGEST_RETRY_BACKOFF_MAX", default=3600)

# --- Nearest neighbours (pgvector HNSW indexes, cosine distance) ---------------------------
# Graph degree and build-time candidate list of the HNSW indexes. The migration reads them
# once; after changing them run `manage.py rebuild_similarity_index` (builds concurrently).
# ef_construction 128, not pgvector's 64: recall@10 0.99 instead of 0.96-0.98 on bench/knn.py
# for twice the build time (bench/RESULTS.md).
FRAUDCASE_HNSW_M = env.int("FRAUDCASE_HNSW_M", default=16)
FRAUDCASE_HNSW_EF_CONSTRUCTION = env.int("FRAUDCASE_HNSW_EF_CONSTRUCTION", default=128)
# Query-time candidate list: recall against latency (bench/knn.py). A lookup for k > this uses k.
FRAUDCASE_HNSW_EF_SEARCH = env.int("FRAUDCASE_HNSW_EF_SEARCH", default=64)
# maintenance_work_mem for building an HNSW index: a graph that does not fit builds far slower.
FRAUDCASE_HNSW_BUILD_MEMORY = env.str("FRAUDCASE_HNSW_BUILD_MEMORY", default="1GB")
# The worker rebuilds the graph at once, instead of adding row by row, when this many
# embeddings wait and they are at least this share of the graph (a backfill): a build
# covers the whole graph, at about three times the rate of adding row by row.
FRAUDCASE_GRAPH_BULK_FILL_MIN_ROWS = env.int("FRAUDCASE_GRAPH_BULK_FILL_MIN_ROWS", default=20_000)
FRAUDCASE_GRAPH_BULK_FILL_SHARE = env.float("FRAUDCASE_GRAPH_BULK_FILL_SHARE", default=1.0)
# A time-window lookup over at most this many rows is answered by an exact scan of them
# (about 3 microseconds a row; a wider window searches the index with a larger ef_search).
FRAUDCASE_KNN_EXACT_SCAN_MAX_ROWS = env.int("FRAUDCASE_KNN_EXACT_SCAN_MAX_ROWS", default=2000)

# --- Why was this flagged ---------------------------------------------------------------
# The feature dictionary (TOML; format at the top of the default): the detector's feature
# names in words. Empty: the default, which describes the demo's features.
FRAUDCASE_FEATURE_DICTIONARY_PATH = env.str("FRAUDCASE_FEATURE_DICTIONARY_PATH", default="")
# A feature's deviation is shown only against at least this many of the account's (or the
# population's) values; with fewer the page says there is too little history.
FRAUDCASE_EXPLAIN_MIN_BASELINE = env.int("FRAUDCASE_EXPLAIN_MIN_BASELINE", default=5)

# --- IP enrichment (MaxMind-format .mmdb files, read offline) ------------------------------
# City database: empty means the GeoLite2 City (2018) shipped by maxminddb-geolite2. Point it at
# a licensed, current GeoIP2/GeoLite2 City file; cached places refresh when its build changes.
FRAUDCASE_GEOIP_CITY_PATH = env.str("FRAUDCASE_GEOIP_CITY_PATH", default="")
# ASN database (GeoLite2-ASN / GeoIP2-ISP): no PyPI package ships one, so empty = ASN unknown.
FRAUDCASE_GEOIP_ASN_PATH = env.str("FRAUDCASE_GEOIP_ASN_PATH", default="")
# Two transactions of one account further apart than this speed allows are flagged.
FRAUDCASE_IMPOSSIBLE_TRAVEL_KMH = env.float("FRAUDCASE_IMPOSSIBLE_TRAVEL_KMH", default=900.0)

# --- Link analysis, rings and the IP map -------------------------------------------------
# An IP or device used by more accounts than this is shared infrastructure (a carrier NAT, a
# shop terminal): shown as a hub, never followed, and no ring is built through it.
FRAUDCASE_LINK_HUB_DEGREE = env.int("FRAUDCASE_LINK_HUB_DEGREE", default=25)
# A case moved to "waiting on customer" without a date expects the reply within these days;
# after the date its assignee and followers get a reminder (beat, every few minutes).
FRAUDCASE_CUSTOMER_REPLY_DAYS = env.int("FRAUDCASE_CUSTOMER_REPLY_DAYS", default=3)
# The rings page lists rings of at most this many accounts unless asked for larger ones: a
# ring of hundreds of accounts without confirmed fraud is a shared network, not a lead.
FRAUDCASE_RING_MAX_SIZE = env.int("FRAUDCASE_RING_MAX_SIZE", default=50)
# Nodes drawn in a case's link graph; the rest are counted ("N more").
FRAUDCASE_LINK_GRAPH_MAX_NODES = env.int("FRAUDCASE_LINK_GRAPH_MAX_NODES", default=150)
# Points drawn on the IP map: the IPs with the most transactions (the page says so).
FRAUDCASE_IP_MAP_MAX_POINTS = env.int("FRAUDCASE_IP_MAP_MAX_POINTS", default=1000)
# The map's aggregation over a million transactions takes about a second (bench/ips.py): each
# time range and filter set is kept this long (0: never cached).
FRAUDCASE_IP_MAP_CACHE_SECONDS = env.int("FRAUDCASE_IP_MAP_CACHE_SECONDS", default=300)

# --- Analytics dashboards (analytics/) ------------------------------------------------------
# Ingest folds each chunk into the dashboards' rollups (analytics.rollups.record_chunk); off
# only to measure what that costs (bench/analytics.py): the dashboards then miss those rows.
FRAUDCASE_ANALYTICS_ROLLUPS = env.bool("FRAUDCASE_ANALYTICS_ROLLUPS", default=True)
# The curation page reads its IPs and ASNs from the snapshot beat's warm-ip-map refreshes
# (every FRAUDCASE_IP_MAP_WARM_SECONDS) while it is younger than this; older (beat stopped),
# it computes them (seconds at a million transactions).
FRAUDCASE_CURATION_SNAPSHOT_MAX_AGE = env.int("FRAUDCASE_CURATION_SNAPSHOT_MAX_AGE", default=900)
# The operations page's figures (mostly GROUP BYs over every case and the audit trail, no
# exact cache key; all but the live label-export backlog) are computed at most once per this
# many seconds for each range and scope (the team's, or one analyst's own) and kept in the
# shared cache; the page says as of when. 0: every request computes them live.
FRAUDCASE_OPERATIONS_CACHE_SECONDS = env.int("FRAUDCASE_OPERATIONS_CACHE_SECONDS", default=60)
# A range without a fresh snapshot or a cached IP map: the page computes its IPs itself when
# the range's flagged volume (from the rollups) is at most this many transactions (well under
# a second), else a worker does (analytics.tasks.compute_curation) while the page shows its
# progress (0: a worker for any range with a flagged transaction).
FRAUDCASE_CURATION_INLINE_MAX_TRANSACTIONS = env.int(
    "FRAUDCASE_CURATION_INLINE_MAX_TRANSACTIONS", default=50_000
)
# A computation not finished this long after it was asked for counts as failed (the task's own
# hard limit is 660 s; the rest is time waiting in the queue); the page offers to retry.
FRAUDCASE_CURATION_COMPUTE_SECONDS = env.int("FRAUDCASE_CURATION_COMPUTE_SECONDS", default=900)
# Snapshots of ranges users picked kept at most (the least recently asked for go first); the
# default range's (beat's) are not counted.
FRAUDCASE_CURATION_CUSTOM_RANGES_KEPT = env.int("FRAUDCASE_CURATION_CUSTOM_RANGES_KEPT", default=20)
# A figure resting on fewer labels than this is shown with a warning.
FRAUDCASE_ANALYTICS_MIN_LABELS = env.int("FRAUDCASE_ANALYTICS_MIN_LABELS", default=100)
# Drift alerts: a batch or day is compared with the days before it (the reference window).
FRAUDCASE_DRIFT_REFERENCE_DAYS = env.int("FRAUDCASE_DRIFT_REFERENCE_DAYS", default=28)
FRAUDCASE_DRIFT_PSI_THRESHOLD = env.float("FRAUDCASE_DRIFT_PSI_THRESHOLD", default=0.25)
# Change of a categorical value's share, in percentage points.
FRAUDCASE_DRIFT_SHARE_THRESHOLD = env.float("FRAUDCASE_DRIFT_SHARE_THRESHOLD", default=10.0)
# Cosine distance between the batch's embedding centroid and the reference's.
FRAUDCASE_DRIFT_CENTROID_THRESHOLD = env.float("FRAUDCASE_DRIFT_CENTROID_THRESHOLD", default=0.05)
# Fewer transactions than this in a batch or day: not judged (PSI on a handful is noise).
FRAUDCASE_DRIFT_MIN_ROWS = env.int("FRAUDCASE_DRIFT_MIN_ROWS", default=200)

# --- Labels to the retraining bucket (cases/services/labels.py, label_export.py) ----------
# Outbox rows per exported object (one gzipped JSON Lines file and its manifest).
FRAUDCASE_LABEL_EXPORT_BATCH_ROWS = env.int("FRAUDCASE_LABEL_EXPORT_BATCH_ROWS", default=5000)
# Key prefix in FRAUDCASE_RETRAINING_BUCKET; objects go under <prefix>/dt=YYYY-MM-DD/.
FRAUDCASE_LABEL_EXPORT_PREFIX = env.str("FRAUDCASE_LABEL_EXPORT_PREFIX", default="labels")
# First retry delay (seconds, doubling up to the max) while S3 is unreachable.
FRAUDCASE_LABEL_EXPORT_RETRY_BACKOFF = env.int("FRAUDCASE_LABEL_EXPORT_RETRY_BACKOFF", default=5)
FRAUDCASE_LABEL_EXPORT_RETRY_BACKOFF_MAX = env.int(
    "FRAUDCASE_LABEL_EXPORT_RETRY_BACKOFF_MAX", default=300
)
# A label save queues no export task while one is pending (queued, not started); past this
# many seconds pending (a lost message) a save queues one again. The beat sweep runs meanwhile.
FRAUDCASE_LABEL_EXPORT_PENDING_SECONDS = env.int(
    "FRAUDCASE_LABEL_EXPORT_PENDING_SECONDS", default=300
)
# An exporter holds the batch it writes to S3 for this long (a lease, not a row lock): more
# than the export task's hard time limit (1,900 s), so a lease that ran out has a dead holder.
FRAUDCASE_LABEL_EXPORT_LEASE_SECONDS = env.int("FRAUDCASE_LABEL_EXPORT_LEASE_SECONDS", default=2100)
# Fault injection for tests only: "raise" or "exit" right after the S3 write, before the mark.
FRAUDCASE_LABEL_EXPORT_FAULT_AFTER_WRITE = env.str(
    "FRAUDCASE_LABEL_EXPORT_FAULT_AFTER_WRITE", default=""
)
# Key of the analyst pseudonym (an HMAC of the user's pk) in exported rows. Keep it stable:
# changing it changes every analyst's id in the training data. Dev default derived from SECRET_KEY.
FRAUDCASE_ANALYST_PSEUDONYM_KEY = env.str("FRAUDCASE_ANALYST_PSEUDONYM_KEY", default="") or (
    "pseudonym:" + SECRET_KEY
)
# Label guard (cases/labels/selectors/guard.py): an analyst's labels that contradict both the
# detector's outcome and the neighbour verdict, within the window, are held for a lead once
# there are at least THRESHOLD of them AND they are a share of the analyst's labels in the
# window at least MARGIN above the team's share (the other analysts' labels over BASELINE_DAYS;
# PRIOR_SHARE while the team has fewer than TEAM_MIN_LABELS). A busy honest analyst labelling
# the detector's misses is judged by their share, not their speed.
FRAUDCASE_LABEL_BURST_WINDOW_MINUTES = env.int("FRAUDCASE_LABEL_BURST_WINDOW_MINUTES", default=1440)
FRAUDCASE_LABEL_BURST_THRESHOLD = env.int("FRAUDCASE_LABEL_BURST_THRESHOLD", default=20)
FRAUDCASE_LABEL_GUARD_MARGIN = env.float("FRAUDCASE_LABEL_GUARD_MARGIN", default=0.4)
FRAUDCASE_LABEL_GUARD_BASELINE_DAYS = env.int("FRAUDCASE_LABEL_GUARD_BASELINE_DAYS", default=30)
FRAUDCASE_LABEL_GUARD_TEAM_MIN_LABELS = env.int(
    "FRAUDCASE_LABEL_GUARD_TEAM_MIN_LABELS", default=100
)
FRAUDCASE_LABEL_GUARD_PRIOR_SHARE = env.float("FRAUDCASE_LABEL_GUARD_PRIOR_SHARE", default=0.1)
# A label save queues no refresh task while one is pending (queued, not started): after this
# long pending it queues one again (a lost message); the hourly sweep is the backstop.
FRAUDCASE_NEIGHBOUR_REFRESH_PENDING_SECONDS = env.int(
    "FRAUDCASE_NEIGHBOUR_REFRESH_PENDING_SECONDS", default=300
)

# --- Webhooks (cases/webhooks/, docs/webhooks.md) ------------------------------------------
# Attempts per delivery before it is marked failed (the admin can send it again).
FRAUDCASE_WEBHOOK_MAX_ATTEMPTS = env.int("FRAUDCASE_WEBHOOK_MAX_ATTEMPTS", default=10)
# Seconds before the second attempt, doubling after each failure up to the max.
FRAUDCASE_WEBHOOK_RETRY_BACKOFF = env.int("FRAUDCASE_WEBHOOK_RETRY_BACKOFF", default=30)
FRAUDCASE_WEBHOOK_RETRY_BACKOFF_MAX = env.int("FRAUDCASE_WEBHOOK_RETRY_BACKOFF_MAX", default=3600)
# How long a receiver may take to answer one POST.
FRAUDCASE_WEBHOOK_TIMEOUT_SECONDS = env.int("FRAUDCASE_WEBHOOK_TIMEOUT_SECONDS", default=10)
# Receivers on loopback, private or link-local addresses (cloud metadata) are refused, when a
# subscription is saved and at each connection; true lifts that for development and tests.
FRAUDCASE_WEBHOOK_ALLOW_PRIVATE_TARGETS = env.bool(
    "FRAUDCASE_WEBHOOK_ALLOW_PRIVATE_TARGETS", default=False
)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "botocore": {"level": "WARNING"},
        "urllib3": {"level": "WARNING"},
        "pgserver": {"level": "WARNING"},
    },
}


# --- REST API (cases/api/) ----------------------------------------------------------------
# Request bodies up to this size (a 1,000-row intake batch with embeddings is a few MB); bigger
# ones get 413. Attachments have their own limit (FRAUDCASE_ATTACHMENT_MAX_BYTES).
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("FRAUDCASE_MAX_REQUEST_BYTES", default=16 * 1024 * 1024)
FRAUDCASE_API_RATE_PER_TOKEN = env.str("FRAUDCASE_API_RATE_PER_TOKEN", default="1200/minute")
FRAUDCASE_API_RATE_PER_IP = env.str("FRAUDCASE_API_RATE_PER_IP", default="600/minute")
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "cases.api.authentication.ApiTokenAuthentication",
        "cases.api.authentication.VerifiedSessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["cases.api.permissions.ApiAccess"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_THROTTLE_CLASSES": [
        "cases.api.throttling.PerTokenThrottle",
        "cases.api.throttling.PerAddressThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "token": FRAUDCASE_API_RATE_PER_TOKEN,
        "address": FRAUDCASE_API_RATE_PER_IP,
    },
    "EXCEPTION_HANDLER": "cases.api.errors.api_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "FraudCase API",
    "DESCRIPTION": (
        "Case sync, real-time intake and the investigation's resources. Errors are RFC 9457 "
        "problem details. Authenticate with `Authorization: Bearer fc_<prefix>_<secret>`."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "cases.api.schema_hooks.problem_media_type",
    ],
    # Transactions' detector outcome and analysts' decision share one set of values.
    "ENUM_NAME_OVERRIDES": {"OutcomeEnum": "cases.models.case.Outcome"},
}
