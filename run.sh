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

setup_chromium() {
  # The HTML report test renders the page in a real headless browser.
  if ! command -v chromium >/dev/null && ! command -v chromium-browser >/dev/null; then
    need_root_for chromium chromium
    apt-get update && apt-get install -y chromium
  fi
}

# The PostgreSQL tests use the server named by VPLOG_TEST_PG_URL (tests/conftest.py reads the
# same variable with the same default): a role that may create and drop its own databases.
export VPLOG_TEST_PG_URL=${VPLOG_TEST_PG_URL:-postgresql://vp_log_test:vp_log_test@127.0.0.1:5432/postgres}

pg_answers() {
  "$VENV/bin/python" -c 'import sys, psycopg; psycopg.connect(sys.argv[1], connect_timeout=3).close()' \
    "$VPLOG_TEST_PG_URL" 2>/dev/null
}

setup_postgresql() {
  pg_answers && return
  local pg_host pg_port pg_user pg_password version name
  # host, port, role and password, taken apart as libpq does
  read -r pg_host pg_port pg_user pg_password < <("$VENV/bin/python" -c '
import sys
from urllib.parse import unquote, urlsplit
u = urlsplit(sys.argv[1])
print(u.hostname or "127.0.0.1", u.port or 5432, unquote(u.username or "postgres"),
      unquote(u.password or ""))' "$VPLOG_TEST_PG_URL")
  case "$pg_host" in
    127.0.0.1 | localhost) ;;
    *)
      echo "run.sh: PostgreSQL at $pg_host:$pg_port (VPLOG_TEST_PG_URL) does not answer;" \
        "start it, or unset VPLOG_TEST_PG_URL to use a local server" >&2
      exit 1
      ;;
  esac
  if [ "$(id -u)" -ne 0 ]; then
    local todo="apt-get install -y --no-install-recommends postgresql"
    read -r version name < <(pg_lsclusters -h 2>/dev/null | awk -v p="$pg_port" '$3 == p {print $1, $2; exit}') || true
    [ -n "${name:-}" ] && todo="pg_ctlcluster $version $name start"
    cat >&2 <<EOF
run.sh: the PostgreSQL tests need a server on 127.0.0.1:$pg_port where the role '$pg_user'
(password '$pg_password') may create databases; setting that up needs root. As root run:
  $todo
  runuser -u postgres -- psql -p $pg_port -c "CREATE ROLE $pg_user LOGIN CREATEDB PASSWORD '$pg_password'"
or point VPLOG_TEST_PG_URL at a PostgreSQL server where you may create databases
(the fast tier alone needs neither: bash run.sh test tests/unit).
EOF
    exit 1
  fi
  if ! command -v pg_createcluster >/dev/null || ! compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null; then
    echo "run.sh: installing PostgreSQL (apt-get install -y --no-install-recommends postgresql)" >&2
    apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql
  fi
  # The cluster on that port: Debian's "main" if it is there, else one made for the tests.
  read -r version name < <(pg_lsclusters -h | awk -v p="$pg_port" '$3 == p {print $1, $2; exit}') || true
  if [ -z "${name:-}" ]; then
    version=$(ls /usr/lib/postgresql | sort -V | tail -n1)
    name=main
    [ -d "/etc/postgresql/$version/main" ] && name=vp_log_test
    echo "run.sh: creating PostgreSQL cluster $version/$name on 127.0.0.1:$pg_port" >&2
    pg_createcluster -p "$pg_port" "$version" "$name"
  fi
  if ! pg_isready -q -h 127.0.0.1 -p "$pg_port"; then
    echo "run.sh: starting PostgreSQL cluster $version/$name" >&2
    pg_ctlcluster --skip-systemctl-redirect "$version" "$name" start
  fi
  for _ in $(seq 1 30); do
    pg_isready -q -h 127.0.0.1 -p "$pg_port" && break
    sleep 1
  done
  # The role the tests connect as: created, or given its password and CREATEDB again.
  # Nothing else on the server changes.
  echo "run.sh: PostgreSQL role '$pg_user' may create databases (for the tests)" >&2
  runuser -u postgres -- psql -q -X -p "$pg_port" -v ON_ERROR_STOP=1 \
    -v user="$pg_user" -v password="$pg_password" <<'SQL'
SELECT format('CREATE ROLE %I LOGIN CREATEDB PASSWORD %L', :'user', :'password')
  WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'user') \gexec
SELECT format('ALTER ROLE %I LOGIN CREATEDB PASSWORD %L', :'user', :'password') \gexec
SQL
  if ! pg_answers; then
    echo "run.sh: PostgreSQL on 127.0.0.1:$pg_port still refuses $VPLOG_TEST_PG_URL" >&2
    exit 1
  fi
}

# Only tests/unit given: the fast tier needs no dcmtk and no PostgreSQL.
needs_services() {
  local arg units=0
  for arg in "$@"; do
    case "$arg" in
      tests/unit | tests/unit/* | tests/unit::*) units=$((units + 1)) ;;
      -*) ;;
      *) [ -e "${arg%%::*}" ] && return 0 ;;  # another test path; option values are no paths
    esac
  done
  [ "$units" -eq 0 ]
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
    if needs_services "$@"; then
      setup_dcmtk
      setup_chromium
      setup_postgresql
    fi
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
