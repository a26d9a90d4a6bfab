"""The test settings with one change: the URLconf is the insert-only endpoint's."""

from controlroom.settings.test import *  # noqa: F403

ROOT_URLCONF = "tests.bench.intake.urls"
