#!/usr/bin/env bash
# One entry point that sets everything up on a fresh machine, then runs:
#   bash run.sh listen                          the DICOM listener (SQLite in the user data folder)
#   bash run.sh test   [pytest options]          the whole test suite
#   bash run.sh vp-log ARGS...                   any vp-log command in the project's environment
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

PYTHON=${PYTHON:-python3}
VENV=.venv

need_root_for() {
  if [ "$(id -u)" -ne 0 ]; then
    echo "run.sh: $1 is missing and installing it needs root (apt-get install -y $2)" >&2
    exit 1
  fi
}

setup_python() {
  if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "run.sh: Python 3.11 or newer is needed (set PYTHON=/path/to/python3.11)" >&2
    exit 1
  fi
  [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
  # Reinstall only when pyproject.toml changed since the last install.
  stamp="$VENV/.installed-$(sha256sum pyproject.toml | cut -c1-16)"
  if [ ! -f "$stamp" ]; then
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
    "$VENV/bin/python" -m pip install --quiet -e '.[dev]'
    rm -f "$VENV"/.installed-* && touch "$stamp"
  fi
}

setup_dcmtk() {
  if ! command -v storescu >/dev/null || ! command -v echoscu >/dev/null; then
    need_root_for dcmtk dcmtk
    apt-get update && apt-get install -y dcmtk
  fi
}

setup_postgresql() {
  # The store tests also run against the PostgreSQL server on 127.0.0.1:5432 (trust auth).
  if command -v pg_isready >/dev/null && pg_isready -h 127.0.0.1 -p 5432 -q; then
    return
  fi
  if [ -d /etc/postgresql ] && command -v pg_ctlcluster >/dev/null; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
    for _ in $(seq 1 30); do
      pg_isready -h 127.0.0.1 -p 5432 -q && return
      sleep 1
    done
  fi
  echo "run.sh: PostgreSQL is not answering on 127.0.0.1:5432; the PostgreSQL tests will fail" >&2
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
  listen)
    setup_python
    exec "$VENV/bin/vp-log" listen "$@"
    ;;
  test)
    setup_python
    setup_dcmtk
    setup_postgresql
    exec "$VENV/bin/pytest" "$@"
    ;;
  vp-log)
    setup_python
    exec "$VENV/bin/vp-log" "$@"
    ;;
  *)
    echo "usage: bash run.sh listen|test|vp-log [args...]" >&2
    exit 2
    ;;
esac
