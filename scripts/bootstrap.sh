#!/usr/bin/env bash
# Installs what Glasshouse needs on a Debian 12 machine with Python 3.11: the system packages
# (when run as root and something is missing) and a virtual environment with the project.
set -euo pipefail
venv=${1:-.venv}

need_apt=()
python3 -c 'import venv, ensurepip' 2>/dev/null || need_apt+=(python3-venv)
command -v gcc >/dev/null || need_apt+=(gcc)
python3 -c 'import sysconfig, os, sys; sys.exit(0 if os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")) else 1)' \
  || need_apt+=(python3-dev)
# headless Chromium for the tests that look at pages as a person would (never a downloaded build)
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
# voice: sipp and baresip are the SIP peers of the interop tests; espeak-ng speaks IVR prompts
command -v sipp >/dev/null || need_apt+=(sip-tester)
command -v baresip >/dev/null || need_apt+=(baresip)
command -v espeak-ng >/dev/null || need_apt+=(espeak-ng)
command -v sox >/dev/null || need_apt+=(sox)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "Installing system packages: ${need_apt[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    echo "Please install: ${need_apt[*]} (e.g. sudo apt-get install ${need_apt[*]})" >&2
  fi
fi

python3 - <<'PY'
import sys
if sys.version_info < (3, 11):
    sys.exit(f"Glasshouse needs Python 3.11 or newer; this is {sys.version.split()[0]}")
PY

[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
"$venv/bin/python" -m pip install -q --disable-pip-version-check -e '.[dev]' 2>&1 | grep -v "^WARNING: Location" || true
"$venv/bin/python" -c 'import glasshouse, pytest, hypothesis' || { echo "installation failed" >&2; exit 1; }
