"""All environment reading for the project, in one typed place.

Every setting that comes from the environment is parsed here and fails loudly on a bad value,
so a typo in a deployment shows up at start-up rather than as odd behaviour later.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import os
import re
import zoneinfo
from dataclasses import dataclass, replace
from datetime import time
from email.utils import getaddresses
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

BASE_DIR = Path(__file__).resolve().parent.parent


class EnvError(ValueError):
    """An environment variable holds a value we cannot use."""


def _str(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def _bool(name: str, default: bool) -> bool:
    raw = _str(name)
    if raw is None:
        return default
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise EnvError(f"{name} must be a boolean (1/0, true/false), got {raw!r}")


def _float(name: str, default: float) -> float:
    raw = _str(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise EnvError(f"{name} must be a number, got {raw!r}") from exc
    if value < 0:
        raise EnvError(f"{name} must not be negative, got {raw!r}")
    return value


def _int(name: str, default: int, *, minimum: int) -> int:
    raw = _str(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise EnvError(f"{name} must be a whole number, got {raw!r}") from exc
    if value < minimum:
        raise EnvError(f"{name} must be at least {minimum}, got {raw!r}")
    return value


def _fernet_keys(name: str) -> tuple[str, ...]:
    """Comma-separated Fernet keys (url-safe base64 of 32 bytes), the primary first.

    Only the shape is checked here; the keys themselves are never echoed in an error.
    """
    keys = tuple(_list(name, []))
    for position, key in enumerate(keys, start=1):
        try:
            decoded = base64.urlsafe_b64decode(key.encode("ascii"))
        except (binascii.Error, UnicodeEncodeError, ValueError):
            decoded = b""
        if len(decoded) != 32:
            raise EnvError(
                f"{name}: key {position} is not a Fernet key (url-safe base64 of 32 bytes; "
                "make one with `python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())'`)"
            )
    return keys


def _list(name: str, default: list[str]) -> list[str]:
    raw = _str(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


# --- Egress: outbound HTTP made on an agent's behalf (agents/egress.py) -------------------------

_HOST_NAME = re.compile(
    r"^(?=.{1,253}$)[a-z0-9_](?:[a-z0-9_-]{0,62})(?:\.[a-z0-9_][a-z0-9_-]{0,62})*$"
)

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class EgressAllow:
    """One ``CONTROLROOM_EGRESS_ALLOW`` entry: a host name or an address network, and a port.

    A name entry (``host``) matches URLs naming that host; an address entry (``network``, a
    single address is a /32 or /128) matches resolved addresses. ``port`` ``None`` means any.
    """

    host: str = ""
    network: IpNetwork | None = None
    port: int | None = None


@dataclass(frozen=True)
class EgressEnv:
    allow: tuple[EgressAllow, ...] = ()
    max_bytes: int = 2_000_000
    connect_timeout_seconds: float = 5.0
    read_timeout_seconds: float = 15.0
    total_timeout_seconds: float = 30.0


def _port(entry: str, raw: str) -> int:
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise EnvError(f"CONTROLROOM_EGRESS_ALLOW entry {entry!r}: bad port {raw!r}")
    return int(raw)


def egress_allow_parse(raw: str) -> tuple[EgressAllow, ...]:
    """Parse ``host[:port]``, ``ip[:port]``, ``[ipv6]:port`` or CIDR entries, comma-separated.

    Raises ``EnvError`` naming the first bad entry; a CIDR with host bits set is an error (it
    usually means a typo, and silently widening or narrowing it would open the wrong thing).
    """
    return tuple(_egress_entry(item.strip()) for item in raw.split(",") if item.strip())


def _egress_entry(entry: str) -> EgressAllow:
    text = entry.lower()
    try:
        if "/" in text:
            return EgressAllow(network=ipaddress.ip_network(text, strict=True))
        if text.startswith("["):
            address, _, rest = text[1:].partition("]")
            if rest and not rest.startswith(":"):
                raise ValueError("expected [address]:port")
            port = _port(entry, rest[1:]) if rest else None
            return EgressAllow(network=ipaddress.ip_network(address), port=port)
        if text.count(":") > 1:
            return EgressAllow(network=ipaddress.ip_network(text))
    except EnvError:
        raise
    except ValueError as exc:
        raise EnvError(f"CONTROLROOM_EGRESS_ALLOW entry {entry!r}: {exc}") from exc
    host, colon, raw_port = text.partition(":")
    port = _port(entry, raw_port) if colon else None
    host = host.removesuffix(".")
    try:
        return EgressAllow(network=ipaddress.ip_network(ipaddress.IPv4Address(host)), port=port)
    except ValueError:
        pass
    if not _HOST_NAME.match(host) or host.replace(".", "").isdigit():
        raise EnvError(f"CONTROLROOM_EGRESS_ALLOW entry {entry!r} is not a host, address or CIDR")
    return EgressAllow(host=host, port=port)


def _egress() -> EgressEnv:
    return EgressEnv(
        allow=egress_allow_parse(_str("CONTROLROOM_EGRESS_ALLOW", "") or ""),
        max_bytes=_int("CONTROLROOM_EGRESS_MAX_BYTES", 2_000_000, minimum=1),
        connect_timeout_seconds=_positive("CONTROLROOM_EGRESS_CONNECT_TIMEOUT_SECONDS", 5.0),
        read_timeout_seconds=_positive("CONTROLROOM_EGRESS_READ_TIMEOUT_SECONDS", 15.0),
        total_timeout_seconds=_positive("CONTROLROOM_EGRESS_TOTAL_TIMEOUT_SECONDS", 30.0),
    )


def _positive(name: str, default: float) -> float:
    value = _float(name, default)
    if value <= 0:
        raise EnvError(f"{name} must be above zero")
    return value


# --- Working hours: meeting slots (agents/scheduling.py) -----------------------------------------

_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class WorkingHours:
    """When meetings may be proposed: weekdays (0 = Monday), a time window, in ``time_zone``."""

    time_zone: str = "UTC"
    weekdays: tuple[int, ...] = (0, 1, 2, 3, 4)
    start: time = time(9, 0)
    end: time = time(17, 0)
    slot_minutes: int = 30


def _weekdays(raw: str) -> tuple[int, ...]:
    """``mon-fri`` or ``mon,wed,fri`` (ranges and lists may mix) into sorted weekday numbers."""
    days: set[int] = set()
    for part in raw.lower().split(","):
        first, _, last = part.strip().partition("-")
        if first not in _WEEKDAYS or (last and last not in _WEEKDAYS):
            raise EnvError(
                f"CONTROLROOM_WORKING_DAYS must look like mon-fri or mon,wed; got {raw!r}"
            )
        start, stop = _WEEKDAYS.index(first), _WEEKDAYS.index(last or first)
        if stop < start:
            raise EnvError(f"CONTROLROOM_WORKING_DAYS range {part.strip()!r} runs backwards")
        days.update(range(start, stop + 1))
    return tuple(sorted(days))


def _clock(raw: str, text: str) -> time:
    try:
        return time.fromisoformat(text.strip())
    except ValueError as exc:
        raise EnvError(
            f"CONTROLROOM_WORKING_HOURS must look like 09:00-17:00, got {raw!r}"
        ) from exc


def _working_hours() -> WorkingHours:
    zone = _str("CONTROLROOM_WORKING_TIME_ZONE", "UTC") or "UTC"
    try:
        zoneinfo.ZoneInfo(zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise EnvError(f"CONTROLROOM_WORKING_TIME_ZONE is not a known time zone: {zone!r}") from exc
    raw_hours = _str("CONTROLROOM_WORKING_HOURS", "09:00-17:00") or ""
    start_text, dash, end_text = raw_hours.partition("-")
    if not dash:
        raise EnvError(f"CONTROLROOM_WORKING_HOURS must look like 09:00-17:00, got {raw_hours!r}")
    hours = WorkingHours(
        time_zone=zone,
        weekdays=_weekdays(_str("CONTROLROOM_WORKING_DAYS", "mon-fri") or ""),
        start=_clock(raw_hours, start_text),
        end=_clock(raw_hours, end_text),
        slot_minutes=_int("CONTROLROOM_SLOT_MINUTES", 30, minimum=5),
    )
    if hours.end <= hours.start:
        raise EnvError(f"CONTROLROOM_WORKING_HOURS must end after it starts, got {raw_hours!r}")
    return hours


def _http_url(name: str) -> str:
    """An optional http(s) URL (empty when unset); anything else is an error at start-up."""
    raw = (_str(name, "") or "").strip()
    if not raw:
        return ""
    parsed = urlparse(raw)
    if parsed.scheme not in {"http", "https"} or not parsed.netloc:
        raise EnvError(f"{name} must be an http(s) URL")  # the value may hold a secret token
    return raw


# --- E-mail: where the outbox and approval notices go (agents/outbox.py) -----------------------

_EMAIL_BACKENDS = {
    "console": "django.core.mail.backends.console.EmailBackend",
    "smtp": "django.core.mail.backends.smtp.EmailBackend",
    "smtps": "django.core.mail.backends.smtp.EmailBackend",
}
_EMAIL_OPTIONS = {"tls", "starttls", "timeout"}
_FLAG_WORDS = {"0", "1", "true", "false", "yes", "no", "on", "off"}


@dataclass(frozen=True)
class EmailEnv:
    """Where ``send_email`` and approval notices go, from ``CONTROLROOM_EMAIL_URL``:

    - ``smtp://[user:password@]host[:port]`` — plain SMTP (port 25 by default); add ``?tls=1``
      for STARTTLS (port 587 by default then);
    - ``smtps://[user:password@]host[:port]`` — TLS from the first byte (port 465 by default);
    - ``console://`` — printed to the worker's log, **not delivered** (the default when unset).

    ``?timeout=<seconds>`` (default 20) bounds every SMTP round trip. User and password are
    percent-decoded (``%40`` for ``@``). ``CONTROLROOM_SMTP_URL`` is read when
    ``CONTROLROOM_EMAIL_URL`` is unset (its older name; ``?starttls=1`` still means ``tls=1``).
    ``from_email`` is ``CONTROLROOM_EMAIL_FROM`` (one address, ``Name <a@x>`` allowed), default
    ``control-room@localhost``. Errors name the variable and the problem, never the password.
    """

    scheme: str = "console"
    host: str = ""
    port: int = 0
    user: str = ""
    password: str = ""
    use_tls: bool = False
    use_ssl: bool = False
    timeout_seconds: float = 20.0
    from_email: str = "control-room@localhost"

    @property
    def delivers(self) -> bool:
        """True when messages leave the process for a mail server."""
        return self.scheme != "console"

    @property
    def backend(self) -> str:
        """The Django ``EMAIL_BACKEND`` dotted path for this scheme."""
        return _EMAIL_BACKENDS[self.scheme]


def email_url_parse(raw: str, *, name: str = "CONTROLROOM_EMAIL_URL") -> EmailEnv:
    """Parse an e-mail URL (see ``EmailEnv``) into its parts; raise ``EnvError`` on an unknown
    scheme or option, a missing host, a bad port or timeout, or TLS asked for twice."""
    parsed = urlparse(raw.strip())
    scheme = parsed.scheme.lower()
    if scheme not in _EMAIL_BACKENDS:
        raise EnvError(
            f"{name} must start with smtp://, smtps:// or console://, got {scheme or 'no'} scheme"
        )
    if scheme == "console":
        if parsed.netloc or parsed.path.strip("/") or parsed.query:
            raise EnvError(f"{name}: console:// takes no host, path or options")
        return EmailEnv()
    if not parsed.hostname:
        raise EnvError(f"{name} must name a host: {scheme}://[user:password@]host[:port]")
    options = _email_options(name, parsed.query)
    use_ssl = scheme == "smtps"
    use_tls = options.get("tls", options.get("starttls", "0")) in {"1", "true", "yes", "on"}
    if use_ssl and use_tls:
        raise EnvError(f"{name}: smtps:// is TLS already; drop ?tls=1 (or use smtp://…?tls=1)")
    try:
        port = parsed.port or (465 if use_ssl else 587 if use_tls else 25)
    except ValueError:
        raise EnvError(f"{name} has a port that is not a number from 1 to 65535") from None
    return EmailEnv(
        scheme=scheme,
        host=parsed.hostname,
        port=port,
        user=unquote(parsed.username or ""),
        password=unquote(parsed.password or ""),
        use_tls=use_tls,
        use_ssl=use_ssl,
        timeout_seconds=_email_timeout(name, options.get("timeout")),
    )


def _email_options(name: str, query: str) -> dict[str, str]:
    try:
        pairs = parse_qs(query, strict_parsing=bool(query), keep_blank_values=True)
    except ValueError:
        raise EnvError(f"{name} has a malformed ?option list") from None
    unknown = sorted(set(pairs) - _EMAIL_OPTIONS)
    if unknown:
        raise EnvError(f"{name}: unknown option(s) {', '.join(unknown)} (known: tls, timeout)")
    options = {key: values[-1].strip().lower() for key, values in pairs.items()}
    for key in ("tls", "starttls"):
        if key in options and options[key] not in _FLAG_WORDS:
            raise EnvError(f"{name}: ?{key}= must be 1 or 0, got {options[key]!r}")
    return options


def _email_timeout(name: str, raw: str | None) -> float:
    if raw is None:
        return 20.0
    try:
        value = float(raw)
    except ValueError:
        raise EnvError(f"{name}: ?timeout= must be a number of seconds, got {raw!r}") from None
    if not 0 < value <= 600:
        raise EnvError(f"{name}: ?timeout= must be above 0 and at most 600 seconds, got {raw!r}")
    return value


def email_from_parse(raw: str) -> str:
    """``CONTROLROOM_EMAIL_FROM``: exactly one address, optionally with a display name
    (``Control Room <ops@example.com>``); no line breaks. Returned as given, stripped."""
    text = raw.strip()
    if any(ord(char) < 32 or ord(char) == 127 for char in text):
        raise EnvError("CONTROLROOM_EMAIL_FROM must not contain line breaks")
    found = [address for _, address in getaddresses([text]) if address]
    if len(found) != 1 or "@" not in found[0] or found[0].startswith("@") or found[0].endswith("@"):
        raise EnvError(
            f"CONTROLROOM_EMAIL_FROM must be one address like ops@example.com, got {text!r}"
        )
    return text


def _email() -> EmailEnv:
    name = "CONTROLROOM_EMAIL_URL" if _str("CONTROLROOM_EMAIL_URL") else "CONTROLROOM_SMTP_URL"
    raw = (_str(name, "") or "").strip()
    parsed = email_url_parse(raw, name=name) if raw else EmailEnv()
    sender = _str("CONTROLROOM_EMAIL_FROM")
    if sender is None:
        return parsed
    return replace(parsed, from_email=email_from_parse(sender))


# --- Observability: the home page's stuck-run alarm, /metrics, traces, logs -------------------


@dataclass(frozen=True)
class ObservabilityEnv:
    """``stuck_after_seconds``: a live run with no recorded progress for this long raises the
    home page's alarm. ``metrics_token``: bearer token that opens ``/metrics`` to non-loopback
    scrapers (empty: loopback only). ``otlp_endpoint``: OTLP/HTTP base URL traces go to (empty:
    tracing off). ``log_format``: ``text`` (default) or ``json`` (one object per line)."""

    stuck_after_seconds: float = 300.0
    metrics_token: str = ""
    otlp_endpoint: str = ""
    service_name: str = "controlroom"
    log_format: str = "text"


def _observability() -> ObservabilityEnv:
    log_format = (_str("CONTROLROOM_LOG_FORMAT", "text") or "text").strip().lower()
    if log_format not in {"text", "json"}:
        raise EnvError(f"CONTROLROOM_LOG_FORMAT must be text or json, got {log_format!r}")
    token = (_str("CONTROLROOM_METRICS_TOKEN", "") or "").strip()
    if token and len(token) < 16:
        raise EnvError("CONTROLROOM_METRICS_TOKEN must be at least 16 characters")
    endpoint_name = (
        "CONTROLROOM_OTLP_ENDPOINT"
        if _str("CONTROLROOM_OTLP_ENDPOINT")
        else "OTEL_EXPORTER_OTLP_ENDPOINT"
    )
    return ObservabilityEnv(
        stuck_after_seconds=_positive("CONTROLROOM_STUCK_AFTER", 300.0),
        metrics_token=token,
        otlp_endpoint=_http_url(endpoint_name).rstrip("/"),
        service_name=_str("OTEL_SERVICE_NAME", "controlroom") or "controlroom",
        log_format=log_format,
    )


# --- HTTPS behind a proxy: what the production settings turn on (controlroom/settings/prod.py) --


@dataclass(frozen=True)
class HttpsEnv:
    """HTTPS knobs the production settings apply; dev and test serve plain HTTP and ignore them.

    The defaults are the production posture behind a TLS-terminating proxy that sends
    ``X-Forwarded-Proto: https``: HSTS for a year on every subdomain with the preload token,
    plain-HTTP requests redirected to HTTPS (except the probes in ``redirect_exempt``).
    ``CONTROLROOM_HSTS_SECONDS=0`` leaves HSTS to the proxy, ``CONTROLROOM_SSL_REDIRECT=0`` the
    redirect; ``CONTROLROOM_PROXY_SSL_HEADER`` is ``Header-Name: value`` (``none`` when clients
    reach the app server directly: a header a client can forge must not mark a request secure).
    """

    hsts_seconds: int = 31_536_000
    hsts_include_subdomains: bool = True
    hsts_preload: bool = True
    ssl_redirect: bool = True
    # (META key, value) as Django's SECURE_PROXY_SSL_HEADER wants it; None trusts no header.
    proxy_ssl_header: tuple[str, str] | None = ("HTTP_X_FORWARDED_PROTO", "https")
    # Paths (regexes, no leading slash) a load balancer or scraper probes over plain HTTP.
    redirect_exempt: tuple[str, ...] = (r"^healthz$", r"^metrics$")


_HEADER_NAME = re.compile(r"^[A-Za-z0-9-]+$")


def proxy_ssl_header_parse(raw: str) -> tuple[str, str] | None:
    """``X-Forwarded-Proto: https`` into ``("HTTP_X_FORWARDED_PROTO", "https")``; ``none`` into
    ``None``. Raises ``EnvError`` on anything else."""
    text = raw.strip()
    if text.lower() == "none":
        return None
    name, colon, value = text.partition(":")
    name, value = name.strip(), value.strip()
    if not colon or not _HEADER_NAME.match(name) or not value:
        raise EnvError(
            f"CONTROLROOM_PROXY_SSL_HEADER must look like 'X-Forwarded-Proto: https' or be "
            f"'none', got {raw!r}"
        )
    return "HTTP_" + name.upper().replace("-", "_"), value


def _https() -> HttpsEnv:
    header = _str("CONTROLROOM_PROXY_SSL_HEADER")
    env = HttpsEnv(
        hsts_seconds=_int("CONTROLROOM_HSTS_SECONDS", 31_536_000, minimum=0),
        hsts_include_subdomains=_bool("CONTROLROOM_HSTS_INCLUDE_SUBDOMAINS", default=True),
        hsts_preload=_bool("CONTROLROOM_HSTS_PRELOAD", default=True),
        ssl_redirect=_bool("CONTROLROOM_SSL_REDIRECT", default=True),
        proxy_ssl_header=(
            HttpsEnv.proxy_ssl_header if header is None else proxy_ssl_header_parse(header)
        ),
    )
    preloadable = env.hsts_include_subdomains and env.hsts_seconds >= 31_536_000
    if env.hsts_seconds and env.hsts_preload and not preloadable:
        # The preload list refuses such a header; asking for it is a configuration mistake.
        raise EnvError(
            "CONTROLROOM_HSTS_PRELOAD needs CONTROLROOM_HSTS_INCLUDE_SUBDOMAINS and "
            "CONTROLROOM_HSTS_SECONDS of at least 31536000 (set CONTROLROOM_HSTS_PRELOAD=0)"
        )
    return env


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
