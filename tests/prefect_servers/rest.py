"""Plain calls to a real Prefect server's REST API, for tests that change what the server holds."""

from __future__ import annotations

import json
import urllib.request


def api_call(api_url: str, method: str, path: str, body=None):
    request = urllib.request.Request(  # noqa: S310
        f"{api_url}/{path}",
        data=None if body is None else json.dumps(body).encode(),
        method=method,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        raw = response.read()
    return json.loads(raw) if raw else None
