"""Webhook signatures, Stripe-style: ``X-Controlroom-Signature: t=<unix seconds>,v1=<hex>``
where ``v1`` is HMAC-SHA256 over ``"<t>.<raw body>"`` with the endpoint's secret (the signing
string is exactly the decimal ``t``, one ``.``, then the body bytes as sent). Several ``v1``
entries may be given (a sender mid-rotation); any one matching passes. The event id header is
not part of the signing string: deduplication keys on ``signed_hash`` of what the signature
covers (``flows.triggers.webhooks``), never on a header a replayer can change. Pure functions:
no database, no request objects."""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass

HEADER = "X-Controlroom-Signature"
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_DIGITS = re.compile(r"^[0-9]{1,12}$")


class SignatureError(Exception):
    """The signature is missing, malformed, stale or does not match (always a 401)."""


@dataclass(frozen=True)
class Signature:
    timestamp: int
    digests: tuple[str, ...]


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The header value a sender computes (used by tests and documented for senders)."""
    return f"t={timestamp},v1={digest(secret, body, timestamp)}"


def digest(secret: str, body: bytes, timestamp: int) -> str:
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signed_hash(body: bytes, timestamp: int) -> str:
    """SHA-256 (hex) of the exact signing string ``"<t>.<body>"``: the same for every replay of
    one signed request, whatever else the replayer changes (event id, extra ``v1`` entries)."""
    return hashlib.sha256(str(timestamp).encode() + b"." + body).hexdigest()


def parse(header: str | None) -> Signature:
    """Parse the header; several ``v1`` entries are allowed (a sender mid-rotation)."""
    if not header or len(header) > 1000:
        raise SignatureError(f"the {HEADER} header is missing")
    timestamp: int | None = None
    digests: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and _DIGITS.match(value):
            timestamp = int(value)
        elif key == "v1" and _HEX64.match(value):
            digests.append(value)
    if timestamp is None or not digests:
        raise SignatureError(f"the {HEADER} header needs t=<unix seconds> and v1=<hex sha256>")
    return Signature(timestamp, tuple(digests[:5]))


def check_fresh(signature: Signature, *, now: float, tolerance: int) -> None:
    """Refuse timestamps more than ``tolerance`` seconds away from ``now``, either way."""
    if abs(now - signature.timestamp) > tolerance:
        raise SignatureError(f"the signature timestamp is more than {tolerance} s off")


def verify(signature: Signature, body: bytes, secrets: list[str]) -> None:
    """Constant-time comparison of every (secret, v1) pair; any match passes."""
    matched = False
    for secret in secrets:
        expected = digest(secret, body, signature.timestamp)
        for candidate in signature.digests:
            # No early exit: the time taken does not tell which pair came close.
            matched |= hmac.compare_digest(expected, candidate)
    if not matched:
        raise SignatureError("the signature does not match")
