"""The public import path of the lock managers; they live in ``apps.results.format.locking``."""

from apps.results.format.locking import *  # noqa: F403
