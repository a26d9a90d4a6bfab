"""The e-mail block: where the outbox and approval notices go (``agents/outbox.py``).

Owns ``EmailEnv`` and the parsing of ``CONTROLROOM_EMAIL_URL`` (``email_url_parse``, or the
older ``CONTROLROOM_SMTP_URL``) and ``CONTROLROOM_EMAIL_FROM`` (``email_from_parse``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from email.utils import getaddresses
from urllib.parse import parse_qs, unquote, urlparse

from controlroom.env.readers import EnvError, _str

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
