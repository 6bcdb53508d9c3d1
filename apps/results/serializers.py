"""The public import path of the serializers; they live in ``apps.results.format``."""

from apps.results.format.codecs import *  # noqa: F403
from apps.results.format.errors import *  # noqa: F403
from apps.results.format.json_objects import *  # noqa: F403
from apps.results.format.serializers import *  # noqa: F403
from apps.results.format.trust import *  # noqa: F403
