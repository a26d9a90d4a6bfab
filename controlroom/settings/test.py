"""Tests: the same stack, real PostgreSQL and Redis; only timings are shortened."""

from controlroom.settings.base import *  # noqa: F403
from controlroom.settings.base import CONTROLROOM, DATABASES, ENV

DATABASES["default"]["TEST"] = {"NAME": DATABASES["default"]["NAME"]}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
if not ENV.email.delivers:  # a test may point a worker at a loopback SMTP server
    EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
CONTROLROOM["EXTRA_TOOL_MODULES"] = ["tests.support.tools"]
# Each test session has a throwaway data dir: its Fernet key file is made on first use.
CONTROLROOM["FERNET_KEY_CREATE"] = True
