"""Hostile pickled values: loading one would create its ``marker`` file, which the tests look for."""

from __future__ import annotations

import os


class MarkerPayload:
    """A malicious value: loading it would create ``marker`` (os.system via __reduce__)."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class OpenMarkerPayload(MarkerPayload):
    """A malicious value: loading it would create ``marker`` (open for writing via __reduce__)."""

    def __reduce__(self):
        return (open, (self.marker, "w"))
