#!/usr/bin/env python3
"""Create (once) a throwaway virtualenv with real Prefect, 3.9.1 unless told, for interop tests,
benchmarks and the result corpus (scripts/make_corpus.py, which also needs 2.20.27).

prefect 3.9.1 and 2.20.27 pin ``certifi>=2026.10.19``, newer than the package index may serve, so
their requirements are read from the wheel's metadata and installed with that one pin relaxed,
then the wheel itself goes in with ``--no-deps``. A marker file records a finished install, so a
second run returns at once; a half-finished venv (no marker) is rebuilt from scratch.

Packages beside Prefect (``--with prefect-aws``) make a venv of their own, named after them, so
the plain venvs and their markers stay as they are; a package's requirement of Prefect itself is
left out, as Prefect is already there.

    python scripts/prefect_venv.py                      # prints the venv's python
    python scripts/prefect_venv.py --version 2.20.27    # .cache/prefect-2.20.27
    python scripts/prefect_venv.py --with prefect-aws==0.7.12   # .cache/prefect-3.9.1-prefect-aws
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
PREFECT2_VERSION = "2.20.27"
RELAXED_PINS = {"certifi": "certifi==2026.10.18"}
# Values our interop tests, benchmarks and corpus hand to Prefect need these to unpickle.
EXTRA_PACKAGES = ("cloudpickle", "orjson", "numpy", "pandas")
# Where a venv of that major version goes when one is named in the environment.
VENV_VARIABLES = {"2": "PREFECT2_VENV", "3": "PREFECT3_VENV"}
MARKER_NAME = ".resultdeck-prefect-venv-complete"
PROJECT_ROOT = Path(__file__).resolve().parent.parent


def requirement_name(requirement: str) -> str:
    return re.split(r"[\s<>=!~;\[(]", requirement, maxsplit=1)[0].lower()


def venv_path_default(*, version: str = PREFECT_VERSION, extras: tuple[str, ...] = ()) -> Path:
    if extras:
        names = "-".join(sorted(requirement_name(extra) for extra in extras))
        return PROJECT_ROOT / ".cache" / f"prefect-{version}-{names}"
    variable = VENV_VARIABLES.get(version.split(".")[0], "")
    return Path(os.environ.get(variable) or PROJECT_ROOT / ".cache" / f"prefect-{version}")


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
        requirements.append(RELAXED_PINS.get(requirement_name(requirement), requirement))
    return requirements


def _run(command: list[str], *, quiet: bool) -> None:
    # The commands are built here from constants and paths, never from outside input.
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL if quiet else None)  # noqa: S603


def wheel_install(*, pip: list[str], requirement: str, wheels: Path, skip: set[str], quiet: bool) -> None:
    """Install one package from its wheel: its requirements (less ``skip``) first, then it, no deps."""
    folder = wheels / requirement_name(requirement)
    _run([*pip, "download", "--no-deps", requirement, "-d", str(folder)], quiet=quiet)
    wheel = next(folder.glob("*.whl"))
    needed = [r for r in wheel_requirements(wheel=wheel) if requirement_name(r) not in skip]
    listing = folder / "requirements.txt"
    listing.write_text("\n".join(needed) + "\n")
    _run([*pip, "install", "-r", str(listing)], quiet=quiet)
    _run([*pip, "install", "--no-deps", str(wheel)], quiet=quiet)


def prefect_venv_ensure(
    *,
    version: str = PREFECT_VERSION,
    venv: Path | None = None,
    quiet: bool = True,
    extras: tuple[str, ...] = (),
) -> Path:
    """Return the python of a complete venv with prefect==``version`` (and ``extras``, requirements
    such as ``prefect-aws==0.7.12``), creating it first when needed."""
    venv = venv or venv_path_default(version=version, extras=extras)
    marker = venv / MARKER_NAME
    expected = f"prefect=={version}\n" + "".join(f"{extra}\n" for extra in extras)
    if marker.exists() and marker.read_text() == expected and venv_python(venv).exists():
        return venv_python(venv)
    if venv.exists():
        shutil.rmtree(venv)
    venv.parent.mkdir(parents=True, exist_ok=True)
    _run([sys.executable, "-m", "venv", str(venv)], quiet=quiet)
    pip = [str(venv_python(venv)), "-m", "pip", "--disable-pip-version-check"]
    with tempfile.TemporaryDirectory() as wheels:
        _run([*pip, "download", "--no-deps", f"prefect=={version}", "-d", wheels], quiet=quiet)
        wheel = next(Path(wheels).glob("prefect-*.whl"))
        requirements = Path(wheels) / "requirements.txt"
        requirements.write_text("\n".join(wheel_requirements(wheel=wheel)) + "\n")
        _run([*pip, "install", "-r", str(requirements), *EXTRA_PACKAGES], quiet=quiet)
        _run([*pip, "install", "--no-deps", str(wheel)], quiet=quiet)
        for extra in extras:
            wheel_install(pip=pip, requirement=extra, wheels=Path(wheels), skip={"prefect"}, quiet=quiet)
    marker.write_text(expected)
    return venv_python(venv)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", default=PREFECT_VERSION, help=f"default: {PREFECT_VERSION}")
    parser.add_argument(
        "--venv",
        type=Path,
        default=None,
        help="default: $PREFECT3_VENV (or $PREFECT2_VENV for 2.x), else .cache/prefect-<version>",
    )
    parser.add_argument(
        "--with",
        dest="extras",
        action="append",
        default=[],
        metavar="REQUIREMENT",
        help="a package beside Prefect, e.g. prefect-aws==0.7.12 (a venv of its own)",
    )
    parser.add_argument("--verbose", action="store_true", help="show pip's output")
    arguments = parser.parse_args()
    python = prefect_venv_ensure(
        version=arguments.version,
        venv=arguments.venv,
        quiet=not arguments.verbose,
        extras=tuple(arguments.extras),
    )
    print(python)


if __name__ == "__main__":
    main()
