"""The public import path of result records and layouts; they live in ``apps.results.format``."""

from apps.results.format.layout import *  # noqa: F403
from apps.results.format.records import *  # noqa: F403
