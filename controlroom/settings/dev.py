"""`make run`: the local product on embedded PostgreSQL and Redis."""

from controlroom.settings.base import *  # noqa: F403
from controlroom.settings.base import CONTROLROOM

# `make run` writes .data/fernet_key before anything starts; a bare `manage.py` makes it too.
CONTROLROOM["FERNET_KEY_CREATE"] = True
