# Shared by the two set-up scripts: a virtual environment that is created once and
# reinstalled only when the requirements change.
venv_ensure() {
  local reqs=$1
  local python=${PYTHON:-python3.11}
  command -v "$python" >/dev/null || python=python3
  if [ ! -x .venv/bin/python ]; then
    echo "Creating the virtual environment (.venv)..."
    "$python" -m venv .venv
  fi
  local stamp=".venv/.installed-$(cat requirements*.txt | sha256sum | cut -c1-16)-$reqs"
  if [ ! -f "$stamp" ]; then
    echo "Installing $reqs..."
    .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -r "$reqs"
    touch "$stamp"
  fi
}

pip_ensure_pinned() {  # pip_ensure_pinned PACKAGE FILE: install PACKAGE at the version FILE pins
  local pkg=$1 file=$2 pin installed
  pin=$(grep -i "^$pkg==" "$file") || { echo "$pkg is not pinned in $file" >&2; return 1; }
  installed=$(.venv/bin/python -m pip show "$pkg" 2>/dev/null | sed -n 's/^Version: //p')
  if [ "$installed" != "${pin#*==}" ]; then
    echo "Installing $pin..."
    .venv/bin/python -m pip install --quiet --disable-pip-version-check "$pin"
  fi
}

apt_ensure() {  # apt_ensure COMMAND PACKAGE: install a Debian package when its command is missing
  local cmd=$1 pkg=$2
  [ -x "$cmd" ] || command -v "$cmd" >/dev/null 2>&1 && return 0
  local sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  echo "Installing $pkg..."
  if [ ! -f /tmp/.resultdeck-apt-updated ]; then
    $sudo apt-get update -qq && touch /tmp/.resultdeck-apt-updated
  fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$pkg" >/dev/null
}
