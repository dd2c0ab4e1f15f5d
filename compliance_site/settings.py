"""Custos settings, read from the environment (django-environ).

Laptop defaults need nothing installed: SQLite and a filesystem Celery broker under ``var/``.
``CUSTOS_ENV=production`` turns on the production profile, which refuses unsafe values at start
with a message that names the variable to fix.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import environ
from django.core.exceptions import ImproperlyConfigured

from compliance_site.proxy import trusted_proxy_networks

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# A local .env is convenient on a laptop; production passes real environment variables.
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

CUSTOS_ENV = env.str("CUSTOS_ENV", default="development")
if CUSTOS_ENV not in {"development", "test", "production"}:
    raise ImproperlyConfigured(f"CUSTOS_ENV={CUSTOS_ENV!r} is not one of development, test, production.")
PRODUCTION = CUSTOS_ENV == "production"

VAR_DIR = Path(env.str("CUSTOS_VAR_DIR", default=str(BASE_DIR / "var")))
if not PRODUCTION:
    VAR_DIR.mkdir(parents=True, exist_ok=True)


def _secret(name: str, default: str | None = None) -> str | None:
    """A secret from ``NAME`` or from the file named by ``NAME_FILE`` (Docker/K8s secrets)."""
    file_path = env.str(f"{name}_FILE", default="")
    if file_path:
        try:
            return Path(file_path).read_text().strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"{name}_FILE={file_path!r} cannot be read: {exc}") from exc
    return env.str(name, default=default)


# --- Core -----------------------------------------------------------------------------------

_INSECURE_DEV_KEY = "django-insecure-custos-development-key-do-not-use-in-production"
SECRET_KEY = _secret("SECRET_KEY", default=None if PRODUCTION else _INSECURE_DEV_KEY)
DEBUG = env.bool("DEBUG", default=not PRODUCTION)
ALLOWED_HOSTS = env.list(
    "ALLOWED_HOSTS", default=[] if PRODUCTION else ["localhost", "127.0.0.1", "[::1]", "testserver"]
)
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "compliance_site.apps.CustosAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "guardian",
    "simple_history",
    "django_celery_beat",
    # The access log, below every app (label "audit").
    "compliance_site.audit.apps.AuditConfig",
    "recordings.apps.RecordingsConfig",
    "retention.apps.RetentionConfig",
    "dsr.apps.DsrConfig",
    "reviews.apps.ReviewsConfig",
    # Staff login: a second factor (TOTP, recovery codes), lockout after failed passwords, and a
    # content security policy (compliance_site.two_factor, the "Staff login" section below).
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "axes",
    "csp",
    # Last, so that its post_migrate provisioning sees every app's permissions.
    "compliance_site.apps.ComplianceSiteConfig",
]

MIDDLEWARE = [
    # First: forwarded headers (X-Forwarded-Proto...) from anyone but the named proxy are dropped.
    "compliance_site.proxy.TrustedProxyMiddleware",
    # A NUL anywhere in the address is a 400 before it can reach PostgreSQL (which refuses it).
    "compliance_site.bad_requests.NulCharacterMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    # Serves the admin's static files in production without a separate web server config.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # request.user.is_verified(): whether this session passed a second factor.
    "django_otp.middleware.OTPMiddleware",
    # With CUSTOS_REQUIRE_2FA, a staff session without its second factor reaches only the login,
    # logout and second-factor pages.
    "compliance_site.two_factor.SecondFactorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Attributes every history row to the user who made the change.
    "simple_history.middleware.HistoryRequestMiddleware",
    # Last, as django-axes requires: turns a locked-out login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "compliance_site.urls"
WSGI_APPLICATION = "compliance_site.wsgi.application"

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

AUTH_USER_MODEL = "compliance_site.User"
# History is evidence, not an undo button: every write goes through a service.
SIMPLE_HISTORY_REVERT_DISABLED = True
AUTHENTICATION_BACKENDS = [
    # First: refuses a locked-out username and address before any password is checked.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en"
TIME_ZONE = env.str("TIME_ZONE", default="Europe/Berlin")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(VAR_DIR / "static")))
if not PRODUCTION:
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise expects it; collectstatic fills it
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Database -------------------------------------------------------------------------------

DATABASES = {"default": env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'custos.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The demo runs web, worker and beat on one SQLite file: WAL lets readers run beside the
    # writer, IMMEDIATE transactions take the write lock up front instead of failing mid-way.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
else:
    # A persistent connection is safe where one thread serves request after request: gunicorn's
    # sync workers (compliance_site/gunicorn_conf.py says so through CUSTOS_PERSISTENT_DB_CONNECTIONS)
    # and Celery's prefork workers. runserver starts a thread per request, and each thread's
    # connection would stay open until the server runs out of connections.
    _persistent = env.bool("CUSTOS_PERSISTENT_DB_CONNECTIONS", default=False)
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60 if _persistent else 0))
    DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)

# --- Cache -----------------------------------------------------------------------------------

# The API's throttles and its wrong-token lockout count here, so the cache must be one that every
# web process shares: a database table by default (created by `migrate`, compliance_site.
# provisioning), Redis in production (`redis://host:6379/1`; the production profile refuses
# anything else). A per-process cache (locmemcache://) would let each worker count on its own.
CACHE_URL = env.str("CACHE_URL", default="") or "dbcache://custos_cache"
try:
    CACHES = {"default": environ.Env.cache_url_config(CACHE_URL)}
except (ImproperlyConfigured, KeyError, ValueError) as exc:
    # The scheme only: the URL may hold the Redis password.
    raise ImproperlyConfigured(
        f"CACHE_URL with scheme {CACHE_URL.partition(':')[0]!r} is not a cache URL "
        "(redis://host:6379/1, rediss://..., dbcache://table)."
    ) from exc
# django-environ lower-cases every query option of a Django RedisCache URL, its own base options
# too, where Django reads those in upper case: `?key_prefix=custos` would be silently ignored.
for _option in ("key_prefix", "timeout", "version", "key_function"):
    if _option in CACHES["default"]:
        CACHES["default"][_option.upper()] = CACHES["default"].pop(_option)
# The dead-rows vacuum's debounce (recordings.vault.dead_rows), never in the database: there it
# cost statements in every erasure batch's commit. The shared Redis when CACHE_URL is one (one
# vacuum per window for every worker), else this process's memory (one per worker and window).
CACHES["dead_rows"] = (
    dict(CACHES["default"])
    if CACHES["default"]["BACKEND"].endswith(".RedisCache")
    else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "custos-dead-rows"}
)

# --- Storage --------------------------------------------------------------------------------

# Adequacy decisions and the EU/EEA, as AWS region codes (GDPR Art. 45). Kept here so that the
# production profile and the system check refuse the same regions.
EU_ADEQUATE_S3_REGIONS = frozenset(
    {
        "eu-central-1",
        "eu-central-2",
        "eu-west-1",
        "eu-west-2",
        "eu-west-3",
        "eu-north-1",
        "eu-south-1",
        "eu-south-2",
        "ca-central-1",
        "ap-northeast-1",
        "ap-northeast-2",
        "il-central-1",
    }
)

RECORDINGS_STORAGE_BACKEND = env.str("RECORDINGS_STORAGE", default="local")  # "local" or "s3"
if RECORDINGS_STORAGE_BACKEND == "s3":
    _recordings_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": env.str("AWS_STORAGE_BUCKET_NAME", default=""),
            "region_name": env.str("AWS_S3_REGION_NAME", default=""),
            "endpoint_url": env.str("AWS_S3_ENDPOINT_URL", default=None),
            "default_acl": None,
            "querystring_auth": True,
            "file_overwrite": False,
            "object_parameters": {"ServerSideEncryption": "AES256"},
        },
    }
elif RECORDINGS_STORAGE_BACKEND == "local":
    _recordings_storage = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {
            "location": str(VAR_DIR / "recordings"),
            "base_url": None,
            "file_permissions_mode": 0o600,
            "directory_permissions_mode": 0o700,
        },
    }
else:
    raise ImproperlyConfigured(f"RECORDINGS_STORAGE={RECORDINGS_STORAGE_BACKEND!r} must be 'local' or 's3'.")

STORAGES: dict[str, dict[str, Any]] = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
    "recordings": _recordings_storage,
}

# --- Keys -----------------------------------------------------------------------------------

# Envelope encryption (compliance_site.keys): a master key wraps one key per data subject.
# "local" keeps the master key versions in a 0600 file under var/, for laptops and the demo;
# "aws-kms" keeps them in KMS, and is the only provider the production profile accepts.
KEY_PROVIDER = env.str("KEY_PROVIDER", default="local")
if KEY_PROVIDER not in {"local", "aws-kms"}:
    raise ImproperlyConfigured(f"KEY_PROVIDER={KEY_PROVIDER!r} must be 'local' or 'aws-kms'.")
LOCAL_KEYRING_PATH = Path(env.str("CUSTOS_KEYRING_PATH", default=str(VAR_DIR / "keyring.json")))
# An alias (alias/...) rather than a key id, so that rotation can move it to a new key.
AWS_KMS_KEY_ID = env.str("AWS_KMS_KEY_ID", default="")
AWS_KMS_REGION_NAME = env.str("AWS_KMS_REGION_NAME", default=env.str("AWS_S3_REGION_NAME", default=""))
AWS_KMS_ENDPOINT_URL = env.str("AWS_KMS_ENDPOINT_URL", default=None)  # moto or LocalStack
# HMAC key of the phone/email blind indexes: base64 of 32 random bytes. With the local provider
# it lives in the keyring file; KMS cannot hand out a stable key, so it comes from here.
BLIND_INDEX_KEY = _secret("BLIND_INDEX_KEY", default="")
if KEY_PROVIDER == "aws-kms" and not BLIND_INDEX_KEY and not PRODUCTION:
    # The production profile reports this with every other problem instead.
    raise ImproperlyConfigured("KEY_PROVIDER='aws-kms' needs BLIND_INDEX_KEY (or BLIND_INDEX_KEY_FILE).")

# --- Celery ---------------------------------------------------------------------------------

CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    # A broker that needs no server, for the demo: queues are folders under var/.
    _broker_dir = VAR_DIR / "celery-broker"
    for _sub in ("queue", "processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # kombu writes its exchange table to ./control unless told where: keep it under var/.
        "control_folder": str(_broker_dir / "control"),
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "store_processed": False,
    }
elif CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    # How long Redis keeps a message a worker took but has not acknowledged (acks late) before it
    # hands it to another worker: a worker killed mid-job is redelivered after this. A job still
    # running past it gets a second delivery, which finds the job's lease held and does nothing.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600),
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True  # a task whose worker died is redelivered, not lost
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = TIME_ZONE
# DatabaseScheduler behind the deployment's beat lock: a second beat stands by (compliance_site.beat).
CELERY_BEAT_SCHEDULER = "compliance_site.beat:SingleBeatScheduler"
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)

# --- Email ----------------------------------------------------------------------------------

EMAIL_BACKEND = env.str(
    "EMAIL_BACKEND",
    default="django.core.mail.backends.smtp.EmailBackend"
    if PRODUCTION
    else "django.core.mail.backends.console.EmailBackend",
)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="custos@localhost")
EMAIL_FILE_PATH = env.str("EMAIL_FILE_PATH", default=str(VAR_DIR / "mail"))  # filebased backend
# Seconds an SMTP conversation may block: a deadline reminder is sent under its row lock.
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=30)
if PRODUCTION:
    EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
    EMAIL_PORT = env.int("EMAIL_PORT", default=587)
    EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
    EMAIL_HOST_PASSWORD = _secret("EMAIL_HOST_PASSWORD", default="")
    EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=True)

# --- Domain rules ---------------------------------------------------------------------------

# GDPR Art. 12(3): a request is answered within one month; the product default is 30 days.
DSR_PERIOD_RULE = env.str("DSR_PERIOD_RULE", default="days")
DSR_PERIOD_DAYS = env.int("DSR_PERIOD_DAYS", default=30)
if DSR_PERIOD_RULE not in {"days", "calendar_month"}:
    raise ImproperlyConfigured(f"DSR_PERIOD_RULE={DSR_PERIOD_RULE!r} must be 'days' or 'calendar_month'.")
if DSR_PERIOD_DAYS < 1:
    raise ImproperlyConfigured(f"DSR_PERIOD_DAYS={DSR_PERIOD_DAYS} must be at least 1.")
# A deadline is a date and ends at the end of that day in TIME_ZONE (Reg. 1182/71 Art. 3, dsr.deadlines).
# Off (the default, the stricter rule): a period ending on a Saturday, Sunday or holiday ends then.
# On: it ends at the end of the next working day (Art. 3(4)); holidays are ISO dates, comma-separated.
DSR_DEADLINE_NEXT_WORKING_DAY = env.bool("DSR_DEADLINE_NEXT_WORKING_DAY", default=False)
DSR_PUBLIC_HOLIDAYS = env.list("DSR_PUBLIC_HOLIDAYS", default=[])
for _holiday in DSR_PUBLIC_HOLIDAYS:
    try:
        date.fromisoformat(_holiday)
    except ValueError:
        raise ImproperlyConfigured(
            f"DSR_PUBLIC_HOLIDAYS: {_holiday!r} is not an ISO date (YYYY-MM-DD)."
        ) from None
# Whether the response period runs from receipt (default) or from identity verification.
DSR_CLOCK_START = env.str("DSR_CLOCK_START", default="receipt")
if DSR_CLOCK_START not in {"receipt", "verification"}:
    raise ImproperlyConfigured(f"DSR_CLOCK_START={DSR_CLOCK_START!r} must be 'receipt' or 'verification'.")
# An erasure waits for a second DPO's approval before it runs.
DSR_ERASURE_FOUR_EYES = env.bool("DSR_ERASURE_FOUR_EYES", default=True)
# Reminders go to the assignee this many days before the deadline, and on the day itself.
DSR_REMINDER_OFFSETS = sorted(env.list("DSR_REMINDER_OFFSETS", cast=int, default=[7, 3, 1]), reverse=True)
# A reminder whose email fails is tried again after 5, 10, 20, ... minutes (dsr.reminders); after
# this many attempts it is given up and the DPO group is alerted once.
DSR_REMINDER_RETRY_SECONDS = env.int("DSR_REMINDER_RETRY_SECONDS", default=300)
DSR_REMINDER_MAX_ATTEMPTS = env.int("DSR_REMINDER_MAX_ATTEMPTS", default=6)
if DSR_REMINDER_RETRY_SECONDS < 1 or DSR_REMINDER_MAX_ATTEMPTS < 1:
    raise ImproperlyConfigured("DSR_REMINDER_RETRY_SECONDS and DSR_REMINDER_MAX_ATTEMPTS must be at least 1.")
# An access or portability package can be downloaded for this many days after it is built.
DSR_PACKAGE_TTL_DAYS = env.int("DSR_PACKAGE_TTL_DAYS", default=30)
if DSR_PACKAGE_TTL_DAYS < 1:
    raise ImproperlyConfigured(f"DSR_PACKAGE_TTL_DAYS={DSR_PACKAGE_TTL_DAYS} must be at least 1.")
# Phone numbers written without a country code are read as numbers of this region.
PHONE_DEFAULT_REGION = env.str("PHONE_DEFAULT_REGION", default="DE")
# Card numbers, security codes and IBANs found in a transcript's word timings are muted from this
# many seconds before the first word to as many after the last: word timings of speech-to-text are
# approximate, and muting a little more is the safe side (recordings.redaction.detection).
_margin = env.str("CUSTOS_DETECTED_SEGMENT_MARGIN_SECONDS", default="0.5")
try:
    CUSTOS_DETECTED_SEGMENT_MARGIN_SECONDS = Decimal(_margin)
except InvalidOperation as exc:
    raise ImproperlyConfigured(
        f"CUSTOS_DETECTED_SEGMENT_MARGIN_SECONDS={_margin!r} is not a number."
    ) from exc
if not (
    CUSTOS_DETECTED_SEGMENT_MARGIN_SECONDS.is_finite()
    and Decimal(0) <= CUSTOS_DETECTED_SEGMENT_MARGIN_SECONDS <= Decimal(10)
):
    raise ImproperlyConfigured(
        f"CUSTOS_DETECTED_SEGMENT_MARGIN_SECONDS={_margin!r} must be between 0 and 10 seconds."
    )
# Redaction at rest (recordings.redaction_at_rest): the sensitive segments of these kinds are
# silenced in the stored audio itself, under a new recording key, the old key destroyed; the words
# found in a transcript for them are replaced in the stored text. PCI DSS forbids keeping the card
# security code after authorisation, even encrypted: payment_card is the least this should hold.
CUSTOS_REDACT_AT_REST_KINDS = tuple(env.list("CUSTOS_REDACT_AT_REST_KINDS", default=["payment_card"]))
# The unredacted version may be kept this many hours after redaction (its key wrapped apart, then
# destroyed by beat): 0, the default, destroys it at once. Keeping it is for a reviewed window
# (a DPO checking a detection) and must stay short under PCI DSS 3.3.1 (docs/SECURITY.md).
CUSTOS_UNREDACTED_KEEP_HOURS = env.int("CUSTOS_UNREDACTED_KEEP_HOURS", default=0)
if not 0 <= CUSTOS_UNREDACTED_KEEP_HOURS <= 72:
    raise ImproperlyConfigured(
        f"CUSTOS_UNREDACTED_KEEP_HOURS={CUSTOS_UNREDACTED_KEEP_HOURS} must be between 0 and 72 hours."
    )
# Largest audio file accepted by ingest, in bytes (default 500 MiB).
RECORDING_MAX_BYTES = env.int("RECORDING_MAX_BYTES", default=500 * 1024 * 1024)
# An admin list counts what a QA lead (or anyone who may not know the table's size) may see
# exactly, up to this many rows; past it the total reads "10,000+" (compliance_site.pagination).
# Below a thousand most QA leads' lists would stop before their first filter.
CUSTOS_LIST_COUNT_CAP = env.int("CUSTOS_LIST_COUNT_CAP", default=10_000)
if CUSTOS_LIST_COUNT_CAP < 1_000:
    raise ImproperlyConfigured(f"CUSTOS_LIST_COUNT_CAP={CUSTOS_LIST_COUNT_CAP} must be at least 1000.")
RETENTION_DEFAULT_DAYS = env.int("RETENTION_DEFAULT_DAYS", default=90)
RETENTION_SWEEP_BATCH_SIZE = env.int("RETENTION_SWEEP_BATCH_SIZE", default=500)
# An erasure a legal hold deferred becomes due when the last hold covering the recording is
# released; two DPOs may confirm it at once, else beat carries it out this many days after the
# release (time for the DPO to see a release made in error; Art. 17(1): without undue delay).
CUSTOS_HELD_ERASURE_GRACE_DAYS = env.int("CUSTOS_HELD_ERASURE_GRACE_DAYS", default=14)
if CUSTOS_HELD_ERASURE_GRACE_DAYS < 0:
    raise ImproperlyConfigured(
        f"CUSTOS_HELD_ERASURE_GRACE_DAYS={CUSTOS_HELD_ERASURE_GRACE_DAYS} must be 0 or more."
    )
# A subject with nothing left to keep is erased by the sweep once their last request has been
# closed this long (default three years: the regular limitation period for a claim about how a
# request was handled, § 195 BGB). Art. 5(1)(e): no longer than necessary.
CUSTOS_REQUEST_RECORD_RETENTION_DAYS = env.int("CUSTOS_REQUEST_RECORD_RETENTION_DAYS", default=1095)
if CUSTOS_REQUEST_RECORD_RETENTION_DAYS < 1:
    raise ImproperlyConfigured(
        f"CUSTOS_REQUEST_RECORD_RETENTION_DAYS={CUSTOS_REQUEST_RECORD_RETENTION_DAYS} must be at least 1."
    )
# Recordings per batch (one transaction each) of a keep-until recomputation (retention.recompute).
RETENTION_RECOMPUTE_BATCH_SIZE = env.int("RETENTION_RECOMPUTE_BATCH_SIZE", default=1000)
# QA evaluations are personal data of the agent (and refer to a caller): each is deleted, with a
# tombstone keeping its numbers, this many days after it was started (reviews.retention; Art.
# 5(1)(e)). The nightly sweep applies the current value, so shortening it takes effect at once.
CUSTOS_EVALUATION_RETENTION_DAYS = env.int("CUSTOS_EVALUATION_RETENTION_DAYS", default=365)
if CUSTOS_EVALUATION_RETENTION_DAYS < 1:
    raise ImproperlyConfigured(
        f"CUSTOS_EVALUATION_RETENTION_DAYS={CUSTOS_EVALUATION_RETENTION_DAYS} must be at least 1."
    )
# When a recording is erased or expires, its evaluations either keep their scores without the
# call (detach: no link, no comments, no free-text answers) or go, leaving a tombstone (delete).
CUSTOS_EVALUATIONS_ON_RECORDING_GONE = env.str("CUSTOS_EVALUATIONS_ON_RECORDING_GONE", default="detach")
if CUSTOS_EVALUATIONS_ON_RECORDING_GONE not in {"detach", "delete"}:
    raise ImproperlyConfigured(
        f"CUSTOS_EVALUATIONS_ON_RECORDING_GONE={CUSTOS_EVALUATIONS_ON_RECORDING_GONE!r} must be "
        "'detach' or 'delete'."
    )
# Evaluations per batch (one transaction each) of the evaluations' retention sweep.
CUSTOS_EVALUATION_SWEEP_BATCH_SIZE = env.int("CUSTOS_EVALUATION_SWEEP_BATCH_SIZE", default=1000)
if CUSTOS_EVALUATION_SWEEP_BATCH_SIZE < 1:
    raise ImproperlyConfigured(
        f"CUSTOS_EVALUATION_SWEEP_BATCH_SIZE={CUSTOS_EVALUATION_SWEEP_BATCH_SIZE} must be at least 1."
    )
# Where staff reach this back office: every link in an email is made from it
# (``compliance_site.site_url.absolute_url``), since a worker has no request to take the host from.
# ``make demo PORT=...`` sets it to the demo's address; CUSTOS_BASE_URL is its former name.
CUSTOS_SITE_URL = env.str(
    "CUSTOS_SITE_URL",
    default=env.str("CUSTOS_BASE_URL", default=f"http://127.0.0.1:{env.str('CUSTOS_PORT', default='8000')}"),
)
_site = urlsplit(CUSTOS_SITE_URL)
if _site.scheme not in {"http", "https"} or not _site.netloc or _site.query or _site.fragment:
    raise ImproperlyConfigured(
        f"CUSTOS_SITE_URL={CUSTOS_SITE_URL!r} must be an http(s) address such as https://custos.example.com "
        "(a path prefix is allowed; no query or fragment)."
    )

# Letters to the subject (dsr.letters): who writes, whom to ask, where to complain. Printed on
# every letter (Art. 12(4), 13(1)(a)-(b), 15(1)(f), 77). The defaults are a fictional demo
# company (example.com, "Musterstadt"); production sets its own. Address lines are separated by
# "|", e.g. CUSTOS_CONTROLLER_ADDRESS="Hauptstraße 5|10115 Berlin|Germany".


def _lines(name: str, default: str) -> list[str]:
    return [line.strip() for line in env.str(name, default=default).split("|") if line.strip()]


CUSTOS_CONTROLLER = {
    "name": env.str("CUSTOS_CONTROLLER_NAME", default="Musterfirma Kundenservice GmbH (demo)"),
    "address": _lines("CUSTOS_CONTROLLER_ADDRESS", "Beispielweg 1|12345 Musterstadt|Germany"),
    "email": env.str("CUSTOS_CONTROLLER_EMAIL", default="privacy@musterfirma.example.com"),
}
CUSTOS_DPO_CONTACT = {
    "email": env.str("CUSTOS_DPO_EMAIL", default="dpo@musterfirma.example.com"),
    "address": _lines(
        "CUSTOS_DPO_ADDRESS",
        "Musterfirma Kundenservice GmbH|Datenschutz|Beispielweg 1|12345 Musterstadt|Germany",
    ),
}
CUSTOS_SUPERVISORY_AUTHORITY = {
    "name": env.str("CUSTOS_AUTHORITY_NAME", default="Landesbeauftragte für Datenschutz Musterland (demo)"),
    "address": _lines("CUSTOS_AUTHORITY_ADDRESS", "Amtsplatz 2|12345 Musterstadt|Germany"),
    "website": env.str("CUSTOS_AUTHORITY_WEBSITE", default="https://datenschutz.musterland.example.com"),
}
if not CUSTOS_CONTROLLER["name"] or not CUSTOS_CONTROLLER["address"] or not CUSTOS_DPO_CONTACT["email"]:
    raise ImproperlyConfigured(
        "CUSTOS_CONTROLLER_NAME, CUSTOS_CONTROLLER_ADDRESS and CUSTOS_DPO_EMAIL must not be empty: "
        "every letter to a subject names them."
    )
if not CUSTOS_SUPERVISORY_AUTHORITY["name"]:
    raise ImproperlyConfigured("CUSTOS_AUTHORITY_NAME must not be empty: every letter names it.")
# Letters are written in English or German, from the gettext catalogue under locale/ (the
# compiled .mo is committed, so no gettext tools are needed to run).
LANGUAGES = [("en", "English"), ("de", "Deutsch")]
LOCALE_PATHS = [BASE_DIR / "locale"]

# Beat's periodic tasks, provisioned idempotently after every migrate (compliance_site.schedule).
CUSTOS_REMINDER_CRONTAB = env.str("CUSTOS_REMINDER_CRONTAB", default="0 * * * *")
CUSTOS_REMINDER_RETRY_CRONTAB = env.str("CUSTOS_REMINDER_RETRY_CRONTAB", default="*/5 * * * *")
CUSTOS_RESPONSE_DELIVERY_CRONTAB = env.str("CUSTOS_RESPONSE_DELIVERY_CRONTAB", default="*/5 * * * *")
CUSTOS_RETENTION_SWEEP_CRONTAB = env.str("CUSTOS_RETENTION_SWEEP_CRONTAB", default="30 2 * * *")
# After the recordings' sweep, whose erasures detach evaluations: the evaluations' own retention.
CUSTOS_EVALUATION_SWEEP_CRONTAB = env.str("CUSTOS_EVALUATION_SWEEP_CRONTAB", default="50 2 * * *")
CUSTOS_PACKAGE_PURGE_CRONTAB = env.str("CUSTOS_PACKAGE_PURGE_CRONTAB", default="0 3 * * *")
CUSTOS_LOGIN_LOG_PRUNE_CRONTAB = env.str("CUSTOS_LOGIN_LOG_PRUNE_CRONTAB", default="10 3 * * *")
CUSTOS_PLAYBACK_SEAL_CRONTAB = env.str("CUSTOS_PLAYBACK_SEAL_CRONTAB", default="* * * * *")
# Muted renditions left pending (a lost message, a dead worker) or stale (segments changed).
CUSTOS_RENDITIONS_CRONTAB = env.str("CUSTOS_RENDITIONS_CRONTAB", default="*/5 * * * *")
# Redactions at rest left pending or abandoned, and unredacted versions whose window ended.
CUSTOS_REDACTIONS_AT_REST_CRONTAB = env.str("CUSTOS_REDACTIONS_AT_REST_CRONTAB", default="*/5 * * * *")
# After the sweep, which writes events: the whole access-log chain is verified nightly.
CUSTOS_AUDIT_VERIFY_CRONTAB = env.str("CUSTOS_AUDIT_VERIFY_CRONTAB", default="15 4 * * *")
# The access log's signed digests (compliance_site.audit.digests): one per period of this many
# minutes (a divisor of a day), written to the recordings storage under audit-digests/. Beat runs
# the writer at least once a period; it catches up every period that has ended.
CUSTOS_AUDIT_DIGEST_MINUTES = env.int("CUSTOS_AUDIT_DIGEST_MINUTES", default=60)
if CUSTOS_AUDIT_DIGEST_MINUTES <= 0 or 1440 % CUSTOS_AUDIT_DIGEST_MINUTES:
    raise ImproperlyConfigured("CUSTOS_AUDIT_DIGEST_MINUTES must divide a day (1440 minutes), e.g. 60.")
CUSTOS_AUDIT_DIGEST_CRONTAB = env.str("CUSTOS_AUDIT_DIGEST_CRONTAB", default="1 * * * *")
CUSTOS_ORPHAN_PERMISSIONS_CRONTAB = env.str("CUSTOS_ORPHAN_PERMISSIONS_CRONTAB", default="45 3 * * *")
CUSTOS_LOGIN_STATE_PURGE_CRONTAB = env.str("CUSTOS_LOGIN_STATE_PURGE_CRONTAB", default="20 3 * * *")
# Every few minutes: the upload spool (compliance_site.spool) and the blobs of package builds
# that died before their row was committed (dsr.packages.package_orphans_delete).
CUSTOS_SPOOL_CLEAN_CRONTAB = env.str("CUSTOS_SPOOL_CLEAN_CRONTAB", default="*/10 * * * *")
CUSTOS_PACKAGE_ORPHAN_CRONTAB = env.str("CUSTOS_PACKAGE_ORPHAN_CRONTAB", default="*/15 * * * *")
# Package builds and erasures whose message was lost (or whose worker died) are sent again.
CUSTOS_REQUEST_JOB_RESUME_CRONTAB = env.str("CUSTOS_REQUEST_JOB_RESUME_CRONTAB", default="*/5 * * * *")
# Carries out the erasures whose holds were released and whose grace period has passed, and
# sends again the approved ones whose message was lost.
CUSTOS_HELD_ERASURE_CRONTAB = env.str("CUSTOS_HELD_ERASURE_CRONTAB", default="50 * * * *")
CUSTOS_RECOMPUTE_RESUME_CRONTAB = env.str("CUSTOS_RECOMPUTE_RESUME_CRONTAB", default="*/5 * * * *")
# The erasure horizon (recordings.vault.rotation, recordings.vault.horizon): every hour beat asks
# whether the current master-key version is older than CUSTOS_MASTER_KEY_ROTATION_DAYS and, if so,
# rotates and re-wraps every key; a version no key uses any more is destroyed once it has been
# retired for CUSTOS_BACKUP_RETENTION_DAYS. Set that to the LONGEST of the database backups' and
# the WAL archive's retention: a backup older than it would no longer be readable, and an erasure
# reaches every copy only once each version that wrapped the erased key is destroyed.
CUSTOS_MASTER_KEY_ROTATION_CRONTAB = env.str("CUSTOS_MASTER_KEY_ROTATION_CRONTAB", default="40 * * * *")
CUSTOS_MASTER_KEY_ROTATION_DAYS = env.int("CUSTOS_MASTER_KEY_ROTATION_DAYS", default=7)
CUSTOS_BACKUP_RETENTION_DAYS = env.int("CUSTOS_BACKUP_RETENTION_DAYS", default=30)
if CUSTOS_MASTER_KEY_ROTATION_DAYS < 1 or CUSTOS_BACKUP_RETENTION_DAYS < 0:
    raise ImproperlyConfigured(
        "CUSTOS_MASTER_KEY_ROTATION_DAYS must be at least 1 and CUSTOS_BACKUP_RETENTION_DAYS at least 0."
    )
# A package blob that no package row names is deleted once it is this old: longer than any build
# takes between writing its blob and committing its row (a 2.5 GB build takes seconds; a web
# worker's timeout kills a build long before).
DSR_PACKAGE_ORPHAN_MINUTES = env.int("DSR_PACKAGE_ORPHAN_MINUTES", default=60)
if DSR_PACKAGE_ORPHAN_MINUTES < 5:
    raise ImproperlyConfigured(
        f"DSR_PACKAGE_ORPHAN_MINUTES={DSR_PACKAGE_ORPHAN_MINUTES} must be at least 5: a build in "
        "progress must never lose its blob."
    )
# A playback whose player has sent no request for this long is over; its access event is written.
PLAYBACK_IDLE_SECONDS = env.int("CUSTOS_PLAYBACK_IDLE_SECONDS", default=120)
# The longest a share link to a recipient may stay open.
SHARE_MAX_DAYS = env.int("CUSTOS_SHARE_MAX_DAYS", default=30)

# --- Staff login and HTTP hardening ---------------------------------------------------------

# Every staff user of the admin sees personal data, so every one of them passes a second factor
# (TOTP, or a single-use recovery code) when this is on. The production profile refuses it off;
# the demo and the tests leave it off unless asked (README, "Two-factor login").
CUSTOS_REQUIRE_2FA = env.bool("CUSTOS_REQUIRE_2FA", default=PRODUCTION)
OTP_TOTP_ISSUER = env.str("CUSTOS_OTP_ISSUER", default="Custos")
# Recovery codes handed out at enrolment, each good for one login (stored as keyed digests).
CUSTOS_RECOVERY_CODE_COUNT = 10
# Devices are enrolled on the second-factor pages and reset by `manage.py reset_second_factor`
# (with history); django-otp's admin pages would show secrets, so they are not registered.
# Authenticator keys are wrapped by the master key (compliance_site.models.Authenticator).
OTP_ADMIN_HIDE_SENSITIVE_DATA = True
# Enrolling an authenticator needs an enrolment code from an administrator
# (`manage.py issue_enrolment_code`, or the one `reset_second_factor` prints): the password alone
# never shows a second-factor secret. A code is good once, for this many hours.
CUSTOS_ENROLMENT_CODE_HOURS = env.int("CUSTOS_ENROLMENT_CODE_HOURS", default=72)
if CUSTOS_ENROLMENT_CODE_HOURS < 1:
    raise ImproperlyConfigured(
        f"CUSTOS_ENROLMENT_CODE_HOURS={CUSTOS_ENROLMENT_CODE_HOURS} must be at least 1."
    )

# django-axes: the 5th wrong password for a username from one address locks that pair out for the
# cool-off period; during it even the right password is refused. Keyed on both, so that a guesser
# cannot lock a colleague out from elsewhere, nor try one password on every username.
AXES_FAILURE_LIMIT = env.int("CUSTOS_LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("CUSTOS_LOGIN_COOLOFF_MINUTES", default=30))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_ENABLE_ACCESS_FAILURE_LOG = True
AXES_LOCKOUT_TEMPLATE = "admin/login_locked.html"
AXES_VERBOSE = False  # axes would log every attempt with the username; its tables say the same
# The client address is REMOTE_ADDR, as in the access log; a proxy in front must set it.
AXES_CLIENT_IP_CALLABLE = "compliance_site.client_address.client_ip"
# Staff usernames and addresses in axes' login logs are kept this long, then pruned under beat.
CUSTOS_LOGIN_LOG_DAYS = env.int("CUSTOS_LOGIN_LOG_DAYS", default=90)
if CUSTOS_LOGIN_LOG_DAYS < 1:
    raise ImproperlyConfigured(f"CUSTOS_LOGIN_LOG_DAYS={CUSTOS_LOGIN_LOG_DAYS} must be at least 1.")
if AXES_FAILURE_LIMIT < 1:
    raise ImproperlyConfigured(f"CUSTOS_LOGIN_FAILURE_LIMIT={AXES_FAILURE_LIMIT} must be at least 1.")

# Idle timeout: each request moves the session's expiry forward, so a staff session ends after
# this many minutes without a request (and when the browser closes).
SESSION_IDLE_MINUTES = env.int("CUSTOS_SESSION_IDLE_MINUTES", default=30)
if SESSION_IDLE_MINUTES < 1:
    raise ImproperlyConfigured(f"CUSTOS_SESSION_IDLE_MINUTES={SESSION_IDLE_MINUTES} must be at least 1.")
SESSION_COOKIE_AGE = SESSION_IDLE_MINUTES * 60
# Server-side sessions whose table holds only a digest of each key: a database dump yields no
# cookie that logs in (compliance_site.sessions). The system check custos.E020 refuses any other
# engine, signed cookies above all. Expired rows are purged nightly under beat.
SESSION_ENGINE = "compliance_site.sessions"
SESSION_SAVE_EVERY_REQUEST = True
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
# Lax, not Strict: a link in a reminder email must open the request for a logged-in DPO.
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"

X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
# Share links carry their token in the path: no other origin may learn a URL of this site.
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"

# Content security policy (django-csp 4): same-origin scripts, styles, audio and images only; no
# inline script or style anywhere (admin overrides use classes from custos/admin.css), no plugin,
# no framing, forms post only here.
CONTENT_SECURITY_POLICY: dict[str, Any] = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'"],
        "media-src": ["'self'"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    }
}

# --- Logging --------------------------------------------------------------------------------

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    # The admin's search puts a phone number or email into the URL: the development server's
    # request log leaves query strings out (compliance_site.error_reports). A share link's token
    # is masked wherever a path is logged (compliance_site.log_redaction): on the loggers that
    # write one, so the 500 email sees it masked too, and on the console for anything else.
    "filters": {
        "no_query_strings": {"()": "compliance_site.error_reports.QueryStringRedactingFilter"},
        "no_share_tokens": {"()": "compliance_site.log_redaction.ShareTokenRedactingFilter"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["no_share_tokens"]}
    },
    "loggers": {
        "django.server": {
            "handlers": ["console"],
            "level": "INFO",
            "propagate": False,
            "filters": ["no_query_strings", "no_share_tokens"],
        },
        "django.request": {"filters": ["no_share_tokens"]},
        "django.security.csrf": {"filters": ["no_share_tokens"]},
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
}
# Error reports (the 500 email to ADMINS) keep the traceback and hide every value of the request
# and of the frames' variables: in this product they are a caller's name, phone or email.
DEFAULT_EXCEPTION_REPORTER_FILTER = "compliance_site.error_reports.PersonalDataExceptionReporterFilter"
DEFAULT_EXCEPTION_REPORTER = "compliance_site.error_reports.PersonalDataExceptionReporter"

# --- API ------------------------------------------------------------------------------------

# The telephony integration's ingest API (recordings.intake.api): Django REST framework with one token
# per integration, described by drf-spectacular. Inserted before compliance_site, which stays
# last so that its post_migrate provisioning sees every app's permissions. Tokens are Custos's
# own (compliance_site.models.IntegrationToken, digests only), not DRF's authtoken, which stores
# them in clear; migration compliance_site 0004 moved its tokens over and dropped its table.
INSTALLED_APPS = [
    *INSTALLED_APPS[:-1],
    "rest_framework",
    "drf_spectacular",
    INSTALLED_APPS[-1],
]

# Non-file form fields held in memory per request: one call's metadata is a few kB. Uploaded
# files do not count here; above FILE_UPLOAD_MAX_MEMORY_SIZE (2.5 MB) they stream to a
# temporary file in the upload spool, so memory stays flat whatever RECORDING_MAX_BYTES allows.
#
# The upload spool (compliance_site.spool): the only folder where an upload's plaintext touches
# the disk, never the system's temporary folder. Each process writes into a folder of its own,
# locked while it lives; the web process and the worker delete dead processes' folders as they
# start, and beat's task every CUSTOS_SPOOL_CLEAN_CRONTAB. Files older than
# CUSTOS_SPOOL_MAX_AGE_MINUTES (longer than any upload takes) go too.
CUSTOS_SPOOL_DIR = Path(env.str("CUSTOS_SPOOL_DIR", default=str(VAR_DIR / "spool")))
try:  # 0700 from the start (the umask only narrows it); compliance_site.spool checks the owner
    CUSTOS_SPOOL_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)
except OSError as _exc:
    raise ImproperlyConfigured(f"CUSTOS_SPOOL_DIR={CUSTOS_SPOOL_DIR} cannot be created: {_exc}") from _exc
CUSTOS_SPOOL_MAX_AGE_MINUTES = env.int("CUSTOS_SPOOL_MAX_AGE_MINUTES", default=360)
if CUSTOS_SPOOL_MAX_AGE_MINUTES < 30:
    raise ImproperlyConfigured(
        f"CUSTOS_SPOOL_MAX_AGE_MINUTES={CUSTOS_SPOOL_MAX_AGE_MINUTES} must be at least 30: an upload "
        "in progress must never lose its file."
    )
FILE_UPLOAD_HANDLERS = [
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "compliance_site.spool.SpoolUploadHandler",
]
# Django's own handler, should anything use it, writes to the spool's top level (cleaned by age).
FILE_UPLOAD_TEMP_DIR = str(CUSTOS_SPOOL_DIR)
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=1024 * 1024)
# Pushes per integration account; a busy contact centre ends a few calls a second at peak.
API_INGEST_THROTTLE_RATE = env.str("API_INGEST_THROTTLE_RATE", default="600/minute")
_throttle_count, _, _throttle_period = API_INGEST_THROTTLE_RATE.partition("/")
if not (_throttle_count.isdigit() and _throttle_period[:1] in {"s", "m", "h", "d"}):  # DRF's parse_rate
    raise ImproperlyConfigured(
        f"API_INGEST_THROTTLE_RATE={API_INGEST_THROTTLE_RATE!r} must look like 600/minute (s, m, h or d)."
    )

# A client address that sends this many wrong tokens within the window is refused (429, with
# Retry-After) for one window, right token or not (compliance_site.api_auth).
CUSTOS_API_TOKEN_FAILURE_LIMIT = env.int("CUSTOS_API_TOKEN_FAILURE_LIMIT", default=10)
CUSTOS_API_TOKEN_FAILURE_WINDOW_MINUTES = env.int("CUSTOS_API_TOKEN_FAILURE_WINDOW_MINUTES", default=15)
for _name in ("CUSTOS_API_TOKEN_FAILURE_LIMIT", "CUSTOS_API_TOKEN_FAILURE_WINDOW_MINUTES"):
    if globals()[_name] < 1:
        raise ImproperlyConfigured(f"{_name}={globals()[_name]} must be at least 1.")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["compliance_site.api_auth.IntegrationTokenAuthentication"],
    # Closed by default to integrations (never staff): a view that forgets to say who it serves
    # cannot become a way for the telephony system to read something back.
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAdminUser"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.MultiPartParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],  # no browsable API
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_THROTTLE_RATES": {"recording-ingest": API_INGEST_THROTTLE_RATE},
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Custos ingest API",
    "DESCRIPTION": (
        "How a telephony integration pushes call recordings with their consent evidence. "
        "Integrations write only: there is no endpoint to read a recording back."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Staff read the description from their admin session; integrations get it from their docs.
    "SERVE_AUTHENTICATION": ["rest_framework.authentication.SessionAuthentication"],
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAdminUser"],
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
}

# --- Reverse proxy --------------------------------------------------------------------------

# The TLS-terminating proxy in front (its addresses or networks): only its X-Forwarded-* headers
# count. Production refuses to start unless it is named, or CUSTOS_TLS_WITHOUT_PROXY says the WSGI
# server terminates TLS itself.
TRUSTED_PROXY_NETWORKS = trusted_proxy_networks(env.list("CUSTOS_TRUSTED_PROXIES", default=[]))
TLS_WITHOUT_PROXY = env.bool("CUSTOS_TLS_WITHOUT_PROXY", default=False)

# --- Production profile ---------------------------------------------------------------------

if PRODUCTION:
    from compliance_site.production import validate_production_settings

    validate_production_settings(globals())

    if TRUSTED_PROXY_NETWORKS:
        # Trusted only from the named proxy: compliance_site.proxy drops it from anyone else.
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    # HSTS for a year, for subdomains too, and eligible for the browsers' preload list: the back
    # office serves staff only, over TLS only, so there is no plain-HTTP visitor to keep. Preload
    # takes effect only once the registrable domain is submitted (and binds all of its
    # subdomains), which is the operator's decision; SECURE_HSTS_PRELOAD=false withholds the
    # eligibility (and check --deploy then warns, security.W021).
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31_536_000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    # __Host- cookies are sent only over TLS, to this exact host, for the whole path: a sibling
    # subdomain cannot plant or overwrite them.
    SESSION_COOKIE_NAME = "__Host-sessionid"
    CSRF_COOKIE_NAME = "__Host-csrftoken"
    CONTENT_SECURITY_POLICY["DIRECTIVES"]["upgrade-insecure-requests"] = True
