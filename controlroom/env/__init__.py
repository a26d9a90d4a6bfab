"""All environment reading for the project, in one typed place.

Every setting that comes from the environment is parsed here and fails loudly on a bad value,
so a typo in a deployment shows up at start-up rather than as odd behaviour later.

The package: ``readers`` (one variable as a typed value, and ``EnvError``), a module per
typed block of settings (``egress``, ``hours``, ``mail``, ``observability``, ``https``), and
here ``Env`` with ``load()``, which reads them all, and ``database_from_url``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

from controlroom.env.egress import EgressAllow, EgressEnv, IpNetwork, _egress, egress_allow_parse
from controlroom.env.hours import WorkingHours, _working_hours
from controlroom.env.https import HttpsEnv, _https, proxy_ssl_header_parse
from controlroom.env.mail import EmailEnv, _email, email_from_parse, email_url_parse
from controlroom.env.observability import ObservabilityEnv, _observability
from controlroom.env.readers import (
    EnvError,
    _bool,
    _fernet_keys,
    _float,
    _http_url,
    _int,
    _list,
    _positive,
    _str,
)

__all__ = [
    "BASE_DIR",
    "EgressAllow",
    "EgressEnv",
    "EmailEnv",
    "Env",
    "EnvError",
    "HttpsEnv",
    "IpNetwork",
    "ObservabilityEnv",
    "WorkingHours",
    "database_from_url",
    "egress_allow_parse",
    "email_from_parse",
    "email_url_parse",
    "load",
    "proxy_ssl_header_parse",
]

BASE_DIR = Path(__file__).resolve().parent.parent.parent


def database_from_url(url: str) -> dict[str, object]:
    """Turn a ``postgresql://user:pass@host:port/name?host=/socket/dir`` URL into Django settings.

    Only PostgreSQL is accepted: there is no other database code path.
    """
    parsed = urlparse(url)
    if parsed.scheme not in {"postgres", "postgresql"}:
        raise EnvError(f"DATABASE_URL must be a postgresql:// URL, got scheme {parsed.scheme!r}")
    query = parse_qs(parsed.query)
    host = unquote(parsed.hostname or "") or query.get("host", [""])[0]
    name = unquote(parsed.path.lstrip("/")) or query.get("dbname", [""])[0]
    if not name:
        raise EnvError("DATABASE_URL must name a database")
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": name,
        "USER": unquote(parsed.username or "") or "postgres",
        "PASSWORD": unquote(parsed.password or ""),
        "HOST": host,
        "PORT": str(parsed.port or ""),
        # Worker processes keep their connection across tasks (a fresh one per Celery task
        # cost a quarter of a step's CPU); each is health-checked before its first use after
        # a task, so one broken by a database restart is replaced, not used. The ASGI server
        # sets CONTROLROOM_CONN_MAX_AGE=0 (controlroom/asgi.py): it handles each request on a
        # thread of its own, so kept connections would pile up until PostgreSQL refuses more.
        "CONN_MAX_AGE": _int("CONTROLROOM_CONN_MAX_AGE", 300, minimum=0),
        "CONN_HEALTH_CHECKS": True,
    }


@dataclass(frozen=True)
class Env:
    debug: bool
    secret_key: str
    database_url: str
    redis_url: str
    allowed_hosts: list[str]
    data_dir: Path
    # Engine timing. Tests shorten them; production keeps the defaults.
    heartbeat_seconds: float
    heartbeat_lapse_seconds: float
    requeue_after_seconds: float
    reconcile_every_seconds: float
    step_time_limit_seconds: float
    database_retry_seconds: float
    eager_slice_seconds: float
    eager_chain_max: int
    visibility_timeout_seconds: float
    # Secrets: Fernet keys, the first encrypts and all decrypt. Empty means the key file in
    # ``data_dir`` (made by `make run`), read at first use.
    fernet_keys: tuple[str, ...]
    # Long-term memory: how long an entry lives, and how many a key keeps.
    memory_retention_days: int
    memory_max_per_key: int
    # Tools: outbound HTTP limits and allowlist, MCP call time limit, meeting-slot hours.
    egress: EgressEnv
    mcp_timeout_seconds: float
    working_hours: WorkingHours
    # Approvals: the Slack-compatible incoming webhook reminders and escalations go to (none if
    # empty), and the address people open the control room at, for links in notifications.
    slack_webhook_url: str
    public_url: str
    # Triggers: inbound webhook body cap and signature clock tolerance; how often accepted
    # runs' first steps are handed to the workers in batches (flows.dispatch_pending).
    webhook_max_bytes: int
    webhook_tolerance_seconds: int
    dispatch_every_seconds: float
    form_rate_per_minute: int
    api_rate_per_minute: int
    observability: ObservabilityEnv
    email: EmailEnv
    https: HttpsEnv


def load() -> Env:
    data_dir = Path(_str("CONTROLROOM_DATA_DIR", str(BASE_DIR / ".data")) or ".data")
    secret = _str("CONTROLROOM_SECRET_KEY") or _str("SECRET_KEY")
    debug = _bool("CONTROLROOM_DEBUG", default=False)
    if secret is None:
        secret_file = data_dir / "secret_key"
        if secret_file.exists():
            secret = secret_file.read_text().strip()
        elif debug:
            secret = "insecure-dev-only-key-set-CONTROLROOM_SECRET_KEY"
        else:
            raise EnvError("CONTROLROOM_SECRET_KEY is not set and no .data/secret_key exists")
    env = Env(
        debug=debug,
        secret_key=secret,
        database_url=_str("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/controlroom") or "",
        redis_url=_str("REDIS_URL", "redis://127.0.0.1:6379/0") or "",
        allowed_hosts=_list("CONTROLROOM_ALLOWED_HOSTS", ["127.0.0.1", "localhost"]),
        data_dir=data_dir,
        heartbeat_seconds=_float("CONTROLROOM_HEARTBEAT_SECONDS", 5.0),
        heartbeat_lapse_seconds=_float("CONTROLROOM_HEARTBEAT_LAPSE_SECONDS", 30.0),
        requeue_after_seconds=_float("CONTROLROOM_REQUEUE_AFTER_SECONDS", 30.0),
        reconcile_every_seconds=_float("CONTROLROOM_RECONCILE_EVERY_SECONDS", 2.0),
        step_time_limit_seconds=_float("CONTROLROOM_STEP_TIME_LIMIT_SECONDS", 300.0),
        database_retry_seconds=_float("CONTROLROOM_DATABASE_RETRY_SECONDS", 60.0),
        eager_slice_seconds=_float("CONTROLROOM_EAGER_SLICE_SECONDS", 1.0),
        eager_chain_max=_int("CONTROLROOM_EAGER_CHAIN_MAX", 50, minimum=0),
        visibility_timeout_seconds=_float("CONTROLROOM_VISIBILITY_TIMEOUT_SECONDS", 900.0),
        fernet_keys=_fernet_keys("CONTROLROOM_FERNET_KEYS"),
        memory_retention_days=_int("CONTROLROOM_MEMORY_RETENTION_DAYS", 90, minimum=1),
        memory_max_per_key=_int("CONTROLROOM_MEMORY_MAX_PER_KEY", 200, minimum=1),
        egress=_egress(),
        mcp_timeout_seconds=_positive("CONTROLROOM_MCP_TIMEOUT_SECONDS", 30.0),
        working_hours=_working_hours(),
        slack_webhook_url=_http_url("CONTROLROOM_SLACK_WEBHOOK_URL"),
        public_url=_http_url("CONTROLROOM_PUBLIC_URL"),
        webhook_max_bytes=_int("CONTROLROOM_WEBHOOK_MAX_BYTES", 1_000_000, minimum=1024),
        webhook_tolerance_seconds=_int("CONTROLROOM_WEBHOOK_TOLERANCE_SECONDS", 300, minimum=1),
        dispatch_every_seconds=_positive("CONTROLROOM_DISPATCH_EVERY_SECONDS", 1.0),
        form_rate_per_minute=_int("CONTROLROOM_FORM_RATE_PER_MINUTE", 10, minimum=1),
        api_rate_per_minute=_int("CONTROLROOM_API_RATE_PER_MINUTE", 600, minimum=1),
        observability=_observability(),
        email=_email(),
        https=_https(),
    )
    if env.step_time_limit_seconds >= env.visibility_timeout_seconds:
        # A step outliving the broker's visibility timeout is redelivered while still running.
        raise EnvError("CONTROLROOM_STEP_TIME_LIMIT_SECONDS must be below the visibility timeout")
    if env.heartbeat_lapse_seconds <= env.heartbeat_seconds:
        raise EnvError("CONTROLROOM_HEARTBEAT_LAPSE_SECONDS must exceed the heartbeat interval")
    return env
