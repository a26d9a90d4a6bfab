"""What an outbound request can fail with, by whether a retry may help.

``EgressRefused`` (the target is not allowed, raised before connecting) and ``EgressTooLarge``
are ``EgressError``s, final; ``EgressTransient`` (and its ``EgressTimeout``) may succeed on a
retry.
"""

from __future__ import annotations


class EgressError(Exception):
    """The request cannot be made or completed; retrying will not help."""


class EgressRefused(EgressError):
    """The target is not allowed. Raised before any connection is opened."""


class EgressTooLarge(EgressError):
    """The response is bigger than the size limit; reading stopped there."""


class EgressTransient(EgressError):
    """A timeout, a dropped connection or a resolver hiccup: a retry may succeed."""


class EgressTimeout(EgressTransient):
    """A connect, read or total time limit ran out."""
