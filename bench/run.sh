#!/usr/bin/env bash
# bench/run.sh: run every benchmark against a throwaway PostgreSQL cluster
# and print each figure beside its anchor (what `make bench` calls).
#
# The figures are printed, never asserted: speed goals live here, not in
# tests.  The cluster lives in a mktemp -d folder under /tmp, on port
# $CPUB_BENCH_PGPORT (default 15530), with PostgreSQL's default (durable)
# settings; it is stopped and removed at the end, also on failure or
# interrupt.  Every benchmark connects as the superuser "postgres" over the
# Unix socket.  Expects the extension installed (make install).
#
#   bench/auth.sh    cpub_api.authenticate(token) throughput beside SELECT 1
#   bench/login.sh   cpub_api.login cost with the default argon2id cost,
#                    beside the raw hash and the cheapest cost
#   bench/queue.sh   the job queue's throughput, latency and behaviour with
#                    a snapshot held open, beside graphile-worker
#   bench/http.sh    the HTTP front (httpd/cpub-httpd) under wrk, beside the
#                    same SQL through pgbench and a bare libmicrohttpd server
#   bench/unpack.sh  the worker's extraction of a deploy archive, beside
#                    tar -xzf (needs no database)
#   bench/shim.sh    request -> response round trips to each runtime's shim
#                    (C, shell, Python) over a unix socket, the C one beside a
#                    bare echo of the same bytes (no database)
#   bench/invoke.sh  invocations end to end (httpd, queue, worker, Podman),
#                    warm and cold, beside their floors, and build times
#   bench/cli.sh     cli/cpub: cpub invoke of a warm function, the whole
#                    process, beside curl of the same URL; cpub deploy of
#                    the hello C function beside the same deploy with curl
#   bench/admin.sh   the admin API: token verification per request beside
#                    introspection, admin list routes under wrk beside the
#                    developer list route (needs node for the test provider)
#
# bench/run.sh NAME... runs only those (auth, login, queue, http, unpack, shim, invoke,
# cli, admin);
# bench/queue.sh and bench/http.sh run alone call bench/run.sh with their
# name.
#
# Knobs (environment): BENCH_SECONDS (10), BENCH_ROUNDS (3), BENCH_CLIENTS
# (4), BENCH_THREADS (2), BENCH_USERS (1000), BENCH_LOGINS (20),
# BENCH_LOGIN_CLIENTS (2); bench/queue.sh lists its own.
set -euo pipefail

BENCH=$(cd "$(dirname "$0")" && pwd -P)
ROOT=$(dirname "$BENCH")
PGBIN=/usr/lib/postgresql/15/bin
PORT=${CPUB_BENCH_PGPORT:-15530}
CLUSTER=$ROOT/scripts/cluster.sh

die()
{
	echo "bench: $*" >&2
	exit 1
}

benches=("$@")
if [ ${#benches[@]} -eq 0 ]; then
	benches=(auth login queue http unpack shim invoke cli admin)
fi
for b in "${benches[@]}"; do
	[ -x "$BENCH/$b.sh" ] || die "no benchmark $b (bench/$b.sh)"
done

control="$("$PGBIN/pg_config" --sharedir)/extension/containerpub.control"
[ -f "$control" ] || die "the containerpub extension is not installed; run: make install"

TMP=$(mktemp -d /tmp/cpub-bench.XXXXXX)

# shellcheck disable=SC2317  # called through trap
cleanup()
{
	local sock
	sock=$(cat "$TMP/socketdir" 2>/dev/null || true)
	"$CLUSTER" stop "$TMP" >/dev/null 2>&1 || true
	if [ -n "$sock" ] && [ "$sock" != "$TMP" ]; then
		rm -rf "$sock"
	fi
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

"$CLUSTER" init "$TMP" "$PORT" >/dev/null
"$CLUSTER" start "$TMP" "$PORT" >/dev/null ||
	die "could not start the cluster (log: $TMP/log)"

export PGHOST PGPORT=$PORT PGUSER=postgres PGDATABASE=cpub_bench
PGHOST=$(cat "$TMP/socketdir")
"$PGBIN/createdb" cpub_bench
"$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -c 'CREATE EXTENSION containerpub CASCADE'

q()
{
	"$PGBIN/psql" -X -At -v ON_ERROR_STOP=1 -c "$1"
}

cpu=$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -n 1)
mem=$(free -g 2>/dev/null | awk '/^Mem:/ {print $2 " GiB"}')
echo "ContainerPub benchmarks, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "machine:    $(nproc) cores (${cpu:-unknown CPU}), ${mem:-? GiB} RAM, $(uname -sr)"
echo "postgresql: $(q 'SHOW server_version'), containerpub $(q "SELECT extversion FROM pg_extension WHERE extname = 'containerpub'")," \
	"shared_buffers $(q 'SHOW shared_buffers'), fsync $(q 'SHOW fsync')," \
	"synchronous_commit $(q 'SHOW synchronous_commit')"
echo "connection: superuser postgres over the Unix socket, throwaway cluster on port $PORT"

export CPUB_BENCH_CLUSTER=$TMP
for b in "${benches[@]}"; do
	echo
	"$BENCH/$b.sh"
done
