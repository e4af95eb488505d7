#!/usr/bin/env bash
# Run a command beside a throwaway PostgreSQL server: scripts/with-postgres.sh CMD [ARGS...]
#
# Finds the machine's PostgreSQL binaries (`pg_config --bindir`, /usr/lib/postgresql/*/bin, or
# initdb on PATH), creates a cluster in a temporary folder, starts it on 127.0.0.1 on a free port
# (and on a unix socket in that folder), creates the database `sessionful_test`, and runs CMD
# with
#
#     SESSIONFUL_TEST_POSTGRES_DSN=postgresql://postgres@127.0.0.1:PORT/sessionful_test
#
# exported (and SESSIONFUL_TEST_POSTGRES_SOCKET_DIR, the folder holding its unix socket).
# Tests give themselves isolated tables with a schema of their own (tests/conftest.py's
# `postgres_dsn` fixture). The server is stopped and the folder removed when CMD ends, however it
# ends (short of SIGKILL); the exit status is CMD's.
#
# PostgreSQL refuses to run as root: as root, the cluster belongs to the `postgres` system user
# and initdb/pg_ctl run through `runuser -u postgres`; otherwise they run as the current user.
# Authentication is `trust`, on loopback only: this server is for tests.
#
# With no PostgreSQL binary at all, a loud warning is printed and CMD runs without the variable
# (the Postgres tests then skip, each saying why).
#
# Settings: SESSIONFUL_PG_BINDIR (where initdb and pg_ctl are), SESSIONFUL_PG_OPTIONS
# (more `postgres` command-line options, e.g. "-c fsync=off"). The server keeps PostgreSQL's
# durable defaults (fsync, synchronous_commit) unless told otherwise, so timings are honest.
set -uo pipefail

if [ "$#" -eq 0 ]; then
    echo "usage: $0 CMD [ARGS...]" >&2
    exit 2
fi

warn_no_postgres() {
    {
        echo
        echo "############################################################################"
        echo "##  WARNING: $1"
        echo "##  The Postgres tests will be SKIPPED. Install PostgreSQL (Debian: apt-get"
        echo "##  install postgresql) or set SESSIONFUL_PG_BINDIR to run them."
        echo "############################################################################"
        echo
    } >&2
}

find_bindir() {
    local dir
    if [ -n "${SESSIONFUL_PG_BINDIR:-}" ]; then
        echo "$SESSIONFUL_PG_BINDIR"
        return 0
    fi
    if command -v pg_config >/dev/null 2>&1; then
        dir="$(pg_config --bindir 2>/dev/null || true)"
        if [ -n "$dir" ] && [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then
            echo "$dir"
            return 0
        fi
    fi
    # The newest version installed the Debian way.
    for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5 -V -r); do
        if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then
            echo "$dir"
            return 0
        fi
    done
    if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
        dirname "$(readlink -f "$(command -v initdb)")"
        return 0
    fi
    return 1
}

if ! BINDIR="$(find_bindir)"; then
    warn_no_postgres "no PostgreSQL binaries (initdb, pg_ctl) found on this machine."
    unset SESSIONFUL_TEST_POSTGRES_DSN
    exec "$@"
fi
for tool in initdb pg_ctl postgres; do
    if [ ! -x "$BINDIR/$tool" ]; then
        warn_no_postgres "$BINDIR/$tool is missing."
        unset SESSIONFUL_TEST_POSTGRES_DSN
        exec "$@"
    fi
done

if [ "$(id -u)" -eq 0 ]; then
    if ! id postgres >/dev/null 2>&1; then
        warn_no_postgres "running as root and there is no 'postgres' user to run the server as."
        unset SESSIONFUL_TEST_POSTGRES_DSN
        exec "$@"
    fi
    as_pg() { runuser -u postgres -- "$@"; }
else
    as_pg() { "$@"; }
fi

PGTMP="$(mktemp -d "${TMPDIR:-/tmp}/sessionful-pg.XXXXXX")"
chmod 755 "$PGTMP"
if [ "$(id -u)" -eq 0 ]; then
    chown postgres: "$PGTMP"
fi
DATA="$PGTMP/data"
LOG="$PGTMP/server.log"
STARTED=0

cleanup() {
    if [ "$STARTED" = 1 ]; then
        # immediate: no shutdown checkpoint, as the data is thrown away next.
        as_pg "$BINDIR/pg_ctl" -D "$DATA" -m immediate -w -t 30 stop >/dev/null 2>&1 || true
    fi
    rm -rf "$PGTMP"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
    python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

if ! as_pg "$BINDIR/initdb" -D "$DATA" -U postgres --auth=trust -E UTF8 --locale=C \
    --no-instructions --no-sync >"$PGTMP/initdb.log" 2>&1; then
    cat "$PGTMP/initdb.log" >&2
    echo "with-postgres: initdb failed" >&2
    exit 1
fi

PORT=""
for _ in 1 2 3 4 5; do
    candidate="$(free_port)"
    if as_pg "$BINDIR/pg_ctl" -D "$DATA" -l "$LOG" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $candidate -k $PGTMP -c max_connections=300 ${SESSIONFUL_PG_OPTIONS:-}" \
        start >/dev/null 2>&1; then
        PORT="$candidate"
        STARTED=1
        break
    fi
    # Most likely the port was taken between probing and binding: try another.
done
if [ -z "$PORT" ]; then
    cat "$LOG" >&2 2>/dev/null
    echo "with-postgres: the server did not start" >&2
    exit 1
fi

PSQL="$BINDIR/psql"
[ -x "$PSQL" ] || PSQL="$(command -v psql || echo psql)"
if ! as_pg "$PSQL" -X -q -h 127.0.0.1 -p "$PORT" -U postgres -d postgres \
    -c "CREATE DATABASE sessionful_test" >/dev/null 2>"$PGTMP/createdb.log"; then
    cat "$PGTMP/createdb.log" >&2
    echo "with-postgres: creating the test database failed" >&2
    exit 1
fi

export SESSIONFUL_TEST_POSTGRES_DSN="postgresql://postgres@127.0.0.1:$PORT/sessionful_test"
export SESSIONFUL_TEST_POSTGRES_SOCKET_DIR="$PGTMP"
echo "with-postgres: PostgreSQL $("$BINDIR/postgres" --version | awk '{print $3}') on" \
    "127.0.0.1:$PORT ($PGTMP); SESSIONFUL_TEST_POSTGRES_DSN is set" >&2

"$@"
exit $?
