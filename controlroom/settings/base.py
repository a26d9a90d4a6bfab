"""Settings shared by every environment. Overrides live in dev/test/prod, values in env/."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils.csp import CSP

from controlroom import env as envmod

ENV = envmod.load()
BASE_DIR = envmod.BASE_DIR

SECRET_KEY = ENV.secret_key
DEBUG = ENV.debug
ALLOWED_HOSTS = ENV.allowed_hosts

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django.contrib.postgres",
    "channels",
    "django_htmx",
    "axes",  # login throttling (AXES_* below)
    # Only for its templates and static files: /api/docs then serves Swagger UI from our own
    # origin with no inline script (without it, ninja renders a CDN page with one).
    "ninja",
    "controlroom",
    "agents",
    "flows",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Before WhiteNoise and every other middleware: static files and the error pages any later
    # layer answers with carry the Content-Security-Policy too (SECURE_CSP below).
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Names the request's user on the audit rows written while it is handled.
    "agents.audit.AuditActorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Answers a locked-out sign-in with the lockout page (AXES_* below).
    "axes.middleware.AxesMiddleware",
    # Last, so it sees a view's exception first: PostgreSQL or Redis down → 503, not 500.
    "controlroom.outage.OutageMiddleware",
]

# Content-Security-Policy on every response (issue 14, finding 11). Everything the pages run or
# style is a file from our own origin: no inline <script>, no on*= handlers, no style=
# attributes, htmx with allowEval off and no injected indicator style (templates/base.html),
# Swagger UI from ninja's static files. So there is no 'unsafe-inline' and no 'unsafe-eval'
# anywhere, and no nonce is needed. Styles set from script through the CSSOM (React Flow's node
# positions, Chart.js canvas sizes) are not governed by CSP; style= attributes in markup are,
# and style-src-attr falls back to style-src, so they are refused too — keep them out.
# img-src allows data: for the SVG icons Swagger UI's and the admin's CSS embed. connect-src
# 'self' covers same-origin ws:/wss: (CSP Level 3; the live pages' websocket).
SECURE_CSP: dict[str, Any] = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "font-src": [CSP.SELF],
    "connect-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.SELF],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
}

ROOT_URLCONF = "controlroom.urls"
ASGI_APPLICATION = "controlroom.asgi.application"

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
                "controlroom.context_processors.navigation",
                "flows.context_processors.approvals_badge",
                "flows.context_processors.kill_switch",
            ],
        },
    },
]

DATABASES = {"default": envmod.database_from_url(ENV.database_url)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        # redis-py 8 reads with a 5 s socket timeout by default, the same as channels_redis's
        # blocking BZPOPMIN: an idle websocket's receive then raised TimeoutError and the
        # connection dropped every few seconds. Reads get room; connecting stays quick.
        "CONFIG": {
            "hosts": [
                {"address": ENV.redis_url, "socket_timeout": 30, "socket_connect_timeout": 3}
            ],
            "prefix": "controlroom:ws",
        },
    }
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
# Login throttling (django-axes), for every password sign-in: our login page and the admin's.
# The API takes bearer tokens (256 random bits, nothing to guess) and sessions made here.
# Ten failures for one username from one address lock that pair for 15 minutes, answered
# with 429 and templates/controlroom/lockout.html; keyed on the pair, so an attacker cannot
# lock a user out from elsewhere, and a success resets the count. Unlock early with
# `manage.py axes_reset_username USERNAME`.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = 10
AXES_COOLOFF_TIME = timedelta(minutes=15)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "controlroom/lockout.html"
AXES_HTTP_RESPONSE_CODE = 429
AXES_VERBOSE = False
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = ENV.data_dir / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

# Outbound e-mail (the outbox, approval notices): CONTROLROOM_EMAIL_URL (controlroom/env/mail.py,
# ``EmailEnv``); unset, messages are printed to the worker's log and not delivered.
EMAIL_BACKEND = ENV.email.backend
EMAIL_HOST, EMAIL_PORT = ENV.email.host or "localhost", ENV.email.port or 25
EMAIL_HOST_USER, EMAIL_HOST_PASSWORD = ENV.email.user, ENV.email.password
EMAIL_USE_TLS, EMAIL_USE_SSL = ENV.email.use_tls, ENV.email.use_ssl
EMAIL_TIMEOUT = ENV.email.timeout_seconds
DEFAULT_FROM_EMAIL = SERVER_EMAIL = ENV.email.from_email

# --- Celery -----------------------------------------------------------------------------------
# Facts this configuration is built on (DESIGN.md): acks_late alone loses a step on SIGKILL,
# reject_on_worker_lost redelivers it, a task outliving the visibility timeout is redelivered
# while running, so step time limits stay below it and every claim is fenced in PostgreSQL.
CELERY_BROKER_URL = ENV.redis_url
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": ENV.visibility_timeout_seconds}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Keep running steps when the broker connection drops: their completion is fenced in PostgreSQL.
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
CELERY_TASK_DEFAULT_QUEUE = "steps"
# Steps wait on the outside world; control tasks (the reconciler, deliveries, cancellations)
# must not queue behind them.
CELERY_TASK_ROUTES = {
    "flows.step_execute": {"queue": "steps"},
    "flows.*": {"queue": "control"},
    "agents.*": {"queue": "control"},
    "controlroom.*": {"queue": "steps"},
}
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_WORKER_SEND_TASK_EVENTS = False
CELERY_BEAT_SCHEDULE = {
    "engine-tick": {
        "task": "flows.engine_tick",
        "schedule": ENV.reconcile_every_seconds,
        "options": {"queue": "control", "expires": max(ENV.reconcile_every_seconds * 2, 1.0)},
    },
    # Runs accepted on hot paths (webhooks) leave their first steps unpublished; this hands
    # them to the workers in batches (the reconciler is the slower backstop).
    "dispatch-pending": {
        "task": "flows.dispatch_pending",
        "schedule": ENV.dispatch_every_seconds,
        "options": {"queue": "control", "expires": max(ENV.dispatch_every_seconds * 2, 1.0)},
    },
    # Webhook receipts (replay detection) outlive the signature window only briefly.
    "webhook-receipts-prune": {
        "task": "flows.webhook_receipts_prune",
        "schedule": 60.0,
        "options": {"queue": "control", "expires": 60.0},
    },
    # Schedule triggers: due times live in PostgreSQL; this fires the ones that are due.
    "schedules-fire": {
        "task": "flows.schedules_fire",
        "schedule": 15.0,
        "options": {"queue": "control", "expires": 15.0},
    },
    # Audit rows are inserted unsealed on hot paths; this chains them (agents.audit).
    "audit-seal": {
        "task": "agents.audit_seal",
        "schedule": 1.0,
        "options": {"queue": "control", "expires": 2.0},
    },
    # ROI facts appended on hot paths are folded into per-day rollups (flows.roi.rollups).
    "roi-fold": {
        "task": "flows.roi_fold",
        "schedule": 2.0,
        "options": {"queue": "control", "expires": 4.0},
    },
    # Outbox messages still pending past their next attempt are published again: the broker
    # may have lost the first message (agents.outbox.outbox_redrive).
    "outbox-redrive": {
        "task": "agents.outbox_redrive",
        "schedule": ENV.reconcile_every_seconds,
        "options": {"queue": "control", "expires": max(ENV.reconcile_every_seconds * 2, 1.0)},
    },
    # Expired long-term memory goes, and each key keeps at most MEMORY_MAX_PER_KEY entries.
    "memory-purge": {
        "task": "agents.memory_purge",
        "schedule": 3600.0,
        "options": {"queue": "control", "expires": 3600.0},
    },
}

CONTROLROOM: dict[str, Any] = {
    "HEARTBEAT_SECONDS": ENV.heartbeat_seconds,
    "HEARTBEAT_LAPSE_SECONDS": ENV.heartbeat_lapse_seconds,
    "REQUEUE_AFTER_SECONDS": ENV.requeue_after_seconds,
    "STEP_TIME_LIMIT_SECONDS": ENV.step_time_limit_seconds,
    # How long a worker keeps retrying a step's claim or completion while the database is
    # unreachable (flows.engine.runner.with_database); past it the reconciler takes over.
    "DATABASE_RETRY_SECONDS": ENV.database_retry_seconds,
    # Eager continuation (flows.engine.runner.Continuation): a worker that completes a step
    # runs the run's next step itself, while its task is younger than the slice and for at
    # most this many steps; 0 turns it off (every step crosses the queue).
    "EAGER_SLICE_SECONDS": ENV.eager_slice_seconds,
    "EAGER_CHAIN_MAX": ENV.eager_chain_max,
    # Outbox delivery (agents.outbox): a message not delivered this long after its publish is
    # published again; a mail server refusing it this many times fails it for good.
    "OUTBOX_REDRIVE_AFTER_SECONDS": ENV.requeue_after_seconds,
    "OUTBOX_MAX_ATTEMPTS": 8,
    "MAX_DOCUMENT_BYTES": 1_000_000,
    "MAX_NODES": 500,
    "MAX_TEMPLATE_OUTPUT": 100_000,
    "EXTRA_TOOL_MODULES": [],
    # Secrets (agents.secrets): the keys from the environment, else this file. Creating the
    # file on first use is for dev and tests; production fails loudly without a key.
    "FERNET_KEYS": list(ENV.fernet_keys),
    "FERNET_KEY_FILE": ENV.data_dir / "fernet_key",
    "FERNET_KEY_CREATE": False,
    "MEMORY_RETENTION_DAYS": ENV.memory_retention_days,
    "MEMORY_MAX_PER_KEY": ENV.memory_max_per_key,
    # Tools: outbound HTTP on an agent's behalf (agents.egress), MCP calls, meeting slots.
    "EGRESS": ENV.egress,
    "MCP_TIMEOUT_SECONDS": ENV.mcp_timeout_seconds,
    "WORKING_HOURS": ENV.working_hours,
    # Approvals: reminders and escalations (flows.approvals.notices).
    "SLACK_WEBHOOK_URL": ENV.slack_webhook_url,
    "PUBLIC_URL": ENV.public_url,
    # Triggers (flows.triggers): webhook body cap and signature tolerance.
    "WEBHOOK_MAX_BYTES": ENV.webhook_max_bytes,
    "WEBHOOK_TOLERANCE_SECONDS": ENV.webhook_tolerance_seconds,
    # Public form triggers: submissions per client IP per flow, per 60 s window.
    "FORM_RATE_LIMIT": (ENV.form_rate_per_minute, 60),
    # The JSON API: requests per bearer token per 60 s window (429 + Retry-After beyond).
    "API_RATE_PER_MINUTE": ENV.api_rate_per_minute,
    # The home page's stuck-run alarm, /metrics access, OTLP traces (controlroom.observability).
    "OBSERVABILITY": ENV.observability,
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        # CONTROLROOM_LOG_FORMAT=json: one JSON object per line, with the run and step ids.
        "json": {"()": "controlroom.observability.logs.JsonFormatter"},
    },
    # Every handler carries the redacting filter: no stored secret value, API key or bearer
    # token reaches a log line (a filter on a handler sees the records of every logger).
    # The periodic housekeeping tasks' "sending due task / received / succeeded" INFO lines
    # are dropped (controlroom.observability.housekeeping); what those tasks did is logged.
    "filters": {
        "redact": {"()": "agents.redaction.RedactingFilter"},
        "housekeeping": {
            "()": "controlroom.observability.housekeeping.HousekeepingFilter",
            "tasks": sorted({str(entry["task"]) for entry in CELERY_BEAT_SCHEDULE.values()}),
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if ENV.observability.log_format == "json" else "plain",
            "filters": ["redact", "housekeeping"],
        }
    },
    "root": {"handlers": ["console"], "level": "INFO"},
    "loggers": {
        "django.channels.server": {"level": "WARNING"},
        # django-axes logs every sign-in at INFO ("Deleted 0 failed login attempts"); its
        # lockouts are WARNING and stay visible.
        "axes": {"level": "WARNING"},
    },
}
