#!/usr/bin/env bash
# Make sure a PostgreSQL server is reachable for the test suite and print its
# URL (e.g. postgres://postgres@127.0.0.1:5432/postgres) as the ONLY line on
# stdout. All logging goes to stderr. Safe to run repeatedly.
#
# Tried in order:
#   1. $HARVESTER_TEST_PG_URL, if set and reachable;
#   2. a server on 127.0.0.1:5432 (user postgres, db postgres, trust auth);
#   3. installed-but-stopped clusters (pg_lsclusters), started, then step 2;
#   4. if no PostgreSQL binaries exist: apt-get install postgresql, then 2-3;
#   5. a throwaway trust-auth cluster on 127.0.0.1:$ENSURE_PG_THROWAWAY_PORT
#      (default 55432) in $ENSURE_PG_THROWAWAY_DIR (default
#      /tmp/harvester-pg-<port>); reused if it is already running.
#      Stop it with: pg_ctl -D <dir> stop   (as the user that owns <dir>)
#
# Env knobs: ENSURE_PG_FORCE_THROWAWAY=1 skips steps 1-4 (for testing step 5).
set -euo pipefail

# Everything printed by this script or its children goes to stderr; the final
# URL is written to the saved stdout (fd 3).
exec 3>&1 1>&2

THROWAWAY_PORT="${ENSURE_PG_THROWAWAY_PORT:-55432}"
THROWAWAY_DIR="${ENSURE_PG_THROWAWAY_DIR:-/tmp/harvester-pg-${THROWAWAY_PORT}}"
LOCAL_URL="postgres://postgres@127.0.0.1:5432/postgres"
THROWAWAY_URL="postgres://postgres@127.0.0.1:${THROWAWAY_PORT}/postgres"
export PGCONNECT_TIMEOUT="${PGCONNECT_TIMEOUT:-5}"
STARTED_PORTS=()

log() { echo "ensure-postgres: $*"; }
die() { echo "ensure-postgres: ERROR: $*"; exit 1; }

done_with() { # print the URL on the real stdout and stop
    log "using $1"
    printf '%s\n' "$1" >&3
    exit 0
}

as_root() { # run a command as root (sudo only when we are not root)
    if [ "$(id -u)" -eq 0 ]; then "$@"
    elif command -v sudo >/dev/null; then sudo -n "$@"
    else "$@"
    fi
}
# NB: commands that may leave a server daemon behind (pg_ctl/pg_ctlcluster
# start, apt-get install) run with fd 3 closed: a daemon holding the real
# stdout would make the caller's $(...) wait forever.

# reachable URL: true if a server at URL accepts a query (psql), or at least
# accepts connections (pg_isready), or - without any client tools - whether
# the TCP port is open.
reachable() {
    local url=$1
    if command -v psql >/dev/null; then
        psql -X -Atq -d "$url" -c 'select 1' >/dev/null 2>&1
    elif command -v pg_isready >/dev/null; then
        pg_isready -q -t 5 -d "$url"
    else
        local hostport host port
        hostport=${url#*://}; hostport=${hostport#*@}; hostport=${hostport%%/*}
        hostport=${hostport%%\?*}
        host=${hostport%%:*}; port=5432
        [[ $hostport == *:* ]] && port=${hostport##*:}
        timeout 5 bash -c "</dev/tcp/${host:-127.0.0.1}/$port" 2>/dev/null
    fi
}

try_local() { # steps 1 and 2
    if [ -n "${HARVESTER_TEST_PG_URL:-}" ]; then
        if reachable "$HARVESTER_TEST_PG_URL"; then done_with "$HARVESTER_TEST_PG_URL"; fi
        log "HARVESTER_TEST_PG_URL=$HARVESTER_TEST_PG_URL is not reachable; looking elsewhere"
    fi
    if reachable "$LOCAL_URL"; then done_with "$LOCAL_URL"; fi
    # Clusters this script just started on a port other than 5432.
    local port url
    for port in "${STARTED_PORTS[@]}"; do
        url="postgres://postgres@127.0.0.1:$port/postgres"
        if reachable "$url"; then done_with "$url"; fi
    done
    # A throwaway cluster left running by an earlier invocation.
    if reachable "$THROWAWAY_URL"; then done_with "$THROWAWAY_URL"; fi
}

start_stopped_clusters() { # step 3; returns 1 if nothing was started
    command -v pg_lsclusters >/dev/null || return 1
    local started=1 ver name port status _
    while read -r ver name port status _; do
        [ "$status" = online ] && continue
        log "starting stopped cluster $ver/$name (port $port)"
        if as_root pg_ctlcluster --skip-systemctl-redirect "$ver" "$name" start </dev/null 3>&-; then
            started=0
            [ "$port" = 5432 ] || STARTED_PORTS+=("$port")
        else
            log "could not start cluster $ver/$name"
        fi
    done < <(pg_lsclusters -h 2>/dev/null || true)
    return $started
}

find_pg_bindir() { # newest /usr/lib/postgresql/*/bin with initdb, or PATH
    local d
    d=$(printf "%s\n" /usr/lib/postgresql/*/bin | sort -V | tail -n1)
    if [ -n "$d" ] && [ -x "$d/initdb" ]; then echo "$d"; return 0; fi
    if command -v initdb >/dev/null; then dirname "$(command -v initdb)"; return 0; fi
    return 1
}

install_postgres() { # step 4
    command -v apt-get >/dev/null || { log "no apt-get; cannot install PostgreSQL"; return 1; }
    log "no PostgreSQL binaries found; installing the 'postgresql' package"
    as_root apt-get update 3>&- \
        && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql 3>&-
}

start_throwaway() { # step 5
    local bindir; bindir=$(find_pg_bindir) || die "no PostgreSQL binaries (initdb) found"
    local run=() # prefix to run initdb/pg_ctl as a non-root user
    if [ "$(id -u)" -eq 0 ]; then
        # initdb refuses to run as root: use (or create) the 'postgres' user.
        if ! id postgres >/dev/null 2>&1; then
            log "creating system user 'postgres'"
            useradd --system --user-group --home-dir /var/lib/postgresql \
                --shell /bin/bash postgres
        fi
        run=(runuser -u postgres --)
    fi

    mkdir -p "$THROWAWAY_DIR"
    [ "$(id -u)" -eq 0 ] && chown postgres: "$THROWAWAY_DIR"
    chmod 700 "$THROWAWAY_DIR"

    if [ -f "$THROWAWAY_DIR/PG_VERSION" ] \
        && [ "$(cat "$THROWAWAY_DIR/PG_VERSION")" != "$("$bindir/postgres" -V | sed -E 's/.* ([0-9]+)\..*/\1/')" ]; then
        log "stale throwaway cluster in $THROWAWAY_DIR (other version); recreating"
        "${run[@]}" "$bindir/pg_ctl" -D "$THROWAWAY_DIR" stop -m fast >/dev/null 2>&1 || true
        find "$THROWAWAY_DIR" -mindepth 1 -delete
    fi
    if [ ! -f "$THROWAWAY_DIR/PG_VERSION" ]; then
        log "initdb of a throwaway cluster in $THROWAWAY_DIR"
        "${run[@]}" "$bindir/initdb" -D "$THROWAWAY_DIR" -U postgres --auth=trust \
            --no-locale -E UTF8 >/dev/null
    fi
    # A cluster that is already running there (e.g. on another port) is fine
    # to stop: it belongs to this script.
    "${run[@]}" "$bindir/pg_ctl" -D "$THROWAWAY_DIR" status >/dev/null 2>&1 \
        && "${run[@]}" "$bindir/pg_ctl" -D "$THROWAWAY_DIR" stop -m fast -w
    log "starting throwaway cluster on 127.0.0.1:$THROWAWAY_PORT"
    "${run[@]}" "$bindir/pg_ctl" -D "$THROWAWAY_DIR" \
        -o "-p $THROWAWAY_PORT -k $THROWAWAY_DIR -c listen_addresses=127.0.0.1" \
        -l "$THROWAWAY_DIR/log" start -w -t 60 3>&- \
        || { tail -n 20 "$THROWAWAY_DIR/log" || true; die "throwaway cluster failed to start"; }
    log "stop it later with: ${run[*]:+${run[*]} }$bindir/pg_ctl -D $THROWAWAY_DIR stop"
}

if [ "${ENSURE_PG_FORCE_THROWAWAY:-0}" != 1 ]; then
    try_local
    if start_stopped_clusters; then sleep 1; try_local; fi
    if ! find_pg_bindir >/dev/null; then
        install_postgres || log "installing PostgreSQL failed"
        # The package usually creates and starts a cluster on 5432.
        try_local
        if start_stopped_clusters; then sleep 1; try_local; fi
        # A fresh Debian cluster needs a password over TCP; fall through to a
        # trust-auth throwaway cluster instead.
    fi
else
    log "ENSURE_PG_FORCE_THROWAWAY=1: skipping the existing servers"
    if reachable "$THROWAWAY_URL"; then done_with "$THROWAWAY_URL"; fi
fi

find_pg_bindir >/dev/null \
    || die "no reachable PostgreSQL and no PostgreSQL binaries to start one (install 'postgresql' or set HARVESTER_TEST_PG_URL)"
start_throwaway
reachable "$THROWAWAY_URL" \
    || die "throwaway cluster started but $THROWAWAY_URL is not reachable (see $THROWAWAY_DIR/log)"
done_with "$THROWAWAY_URL"
