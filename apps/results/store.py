"""The public import path of the result store; it lives in ``apps.results.format.store``."""

from apps.results.format.store import *  # noqa: F403
