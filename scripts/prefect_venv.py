#!/usr/bin/env python3
"""Create (once) a throwaway virtualenv with real Prefect 3.9.1 for interop tests and benchmarks.

prefect 3.9.1 pins ``certifi>=2026.10.19``, newer than the package index here serves, so its
requirements are read from the wheel's metadata and installed with that one pin relaxed, then
the wheel itself goes in with ``--no-deps``. A marker file records a finished install, so a
second run returns at once; a half-finished venv (no marker) is rebuilt from scratch.

    python scripts/prefect_venv.py            # prints the venv's python
    PREFECT3_VENV=/some/dir python scripts/prefect_venv.py
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

PREFECT_VERSION = "3.9.1"
RELAXED_PINS = {"certifi": "certifi==2026.10.18"}
# Values our interop tests and benchmarks hand to Prefect need these to unpickle.
EXTRA_PACKAGES = ("cloudpickle", "orjson", "numpy", "pandas")
MARKER_NAME = ".resultdeck-prefect-venv-complete"
PROJECT_ROOT = Path(__file__).resolve().parent.parent


def venv_path_default() -> Path:
    return Path(os.environ.get("PREFECT3_VENV") or PROJECT_ROOT / ".cache" / f"prefect-{PREFECT_VERSION}")


def venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def wheel_requirements(*, wheel: Path) -> list[str]:
    """The wheel's Requires-Dist lines without extras-only ones, with known-unavailable pins relaxed."""
    with zipfile.ZipFile(wheel) as archive:
        metadata_name = next(name for name in archive.namelist() if name.endswith(".dist-info/METADATA"))
        metadata = archive.read(metadata_name).decode()
    requirements = []
    for line in metadata.splitlines():
        if not line.startswith("Requires-Dist:"):
            continue
        requirement = line.split(":", 1)[1].strip()
        if "extra ==" in requirement.replace('"', "'").replace("extra=='", "extra == '"):
            continue
        name = re.split(r"[\s<>=!~;\[(]", requirement, maxsplit=1)[0].lower()
        requirements.append(RELAXED_PINS.get(name, requirement))
    return requirements


def _run(command: list[str], *, quiet: bool) -> None:
    # The commands are built here from constants and paths, never from outside input.
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL if quiet else None)  # noqa: S603


def prefect_venv_ensure(*, venv: Path | None = None, quiet: bool = True) -> Path:
    """Return the python of a complete Prefect venv, creating it first when needed."""
    venv = venv or venv_path_default()
    marker = venv / MARKER_NAME
    if marker.exists() and venv_python(venv).exists():
        return venv_python(venv)
    if venv.exists():
        shutil.rmtree(venv)
    venv.parent.mkdir(parents=True, exist_ok=True)
    _run([sys.executable, "-m", "venv", str(venv)], quiet=quiet)
    pip = [str(venv_python(venv)), "-m", "pip", "--disable-pip-version-check"]
    with tempfile.TemporaryDirectory() as wheels:
        _run([*pip, "download", "--no-deps", f"prefect=={PREFECT_VERSION}", "-d", wheels], quiet=quiet)
        wheel = next(Path(wheels).glob("prefect-*.whl"))
        requirements = Path(wheels) / "requirements.txt"
        requirements.write_text("\n".join(wheel_requirements(wheel=wheel)) + "\n")
        _run([*pip, "install", "-r", str(requirements), *EXTRA_PACKAGES], quiet=quiet)
        _run([*pip, "install", "--no-deps", str(wheel)], quiet=quiet)
    marker.write_text(f"prefect=={PREFECT_VERSION}\n")
    return venv_python(venv)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--venv", type=Path, default=None, help="default: $PREFECT3_VENV or .cache/prefect-3.9.1"
    )
    parser.add_argument("--verbose", action="store_true", help="show pip's output")
    arguments = parser.parse_args()
    print(prefect_venv_ensure(venv=arguments.venv, quiet=not arguments.verbose))


if __name__ == "__main__":
    main()
