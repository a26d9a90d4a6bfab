"""The approval tests' fixtures: the cast from ``tests.support.approvals``."""

from tests.support.approvals import cast

__all__ = ["cast"]
