#!/usr/bin/env bash
# bench/http.sh: the HTTP front (httpd/cpub-httpd) under load, beside the
# same SQL through pgbench and a bare libmicrohttpd server; section (f) of
# bench/run.sh's output.
#
# cpub-httpd: GET /api/functions of a developer with 10 functions, with a
#     bearer token: wrk -t BENCH_HTTP_THREADS (2) -c BENCH_HTTP_CONNECTIONS
#     (32) -d BENCH_SECONDS (10) --latency, after a 2 s warm-up; req/s and
#     p99.  The developer is made through the server's own API (register,
#     login, 10 times POST /api/functions) on a tier allowing that many
#     functions (the default tier allows 5).  Goal: >= 5,000 req/s, p99 <=
#     10 ms.  The server runs with its default threads and pool_size (two
#     per CPU) unless BENCH_HTTP_SERVER_THREADS / BENCH_HTTP_POOL_SIZE say
#     and access_log = BENCH_HTTP_ACCESS_LOG (off), and, when set,
#     pool_size = BENCH_HTTP_POOL_SIZE; its other settings are its defaults
#     or come from CPUB_HTTPD_* in the environment.  Memory: VmRSS of the
#     server once /ready answers 200 (at rest), and VmHWM (its peak) after
#     the load.  Skipped, saying so, while httpd/cpub-httpd does not exist;
#     when httpd/ has a Makefile, make -C httpd builds it first.
# pgbench, "our overhead over raw SQL": the three prepared statements the
#     server sends for that request, in one pipeline (one round trip, one
#     implicit transaction ending at Sync), connected as cpub_httpd, the
#     token passed with -D; -M prepared, -c BENCH_HTTP_CONNECTIONS
#     -j BENCH_HTTP_THREADS -T BENCH_SECONDS after a 2 s warm-up; tps, and
#     the p99 from pgbench's per-transaction log.  Its own developer (made
#     in SQL) has 10 functions too.
# The floor: bench/http_floor, a bare libmicrohttpd server in the same
#     threading mode (MHD_USE_EPOLL_INTERNAL_THREAD with a pool of
#     BENCH_HTTP_FLOOR_THREADS (2) threads, one per core) answering a fixed small JSON body,
#     under the same wrk load; and its memory, an anchor for ours.
#
# wrk, the server and PostgreSQL share the machine's cores: the figures are
# for this machine, read side by side.  Nothing is asserted.
#
# Run by bench/run.sh (which makes a throwaway cluster and sets PG*); run
# alone, it asks bench/run.sh to make one and run only this.  Needs wrk and
# curl (scripts/deps.sh bench).  Knobs: BENCH_SECONDS, BENCH_HTTP_THREADS,
# BENCH_HTTP_CONNECTIONS, BENCH_HTTP_SERVER_THREADS, BENCH_HTTP_FLOOR_THREADS,
# BENCH_HTTP_POOL_SIZE,
# BENCH_HTTP_ACCESS_LOG, CPUB_BENCH_HTTP_PORT (15580 for the server, the
# next port for the floor).
set -euo pipefail

BENCH=$(cd "$(dirname "$0")" && pwd -P)
if [ -z "${CPUB_BENCH_CLUSTER:-}" ]; then
	exec "$BENCH/run.sh" http
fi
ROOT=$(dirname "$BENCH")

PGBIN=/usr/lib/postgresql/15/bin
DURATION=${BENCH_SECONDS:-10}
WARMUP=2
THREADS=${BENCH_HTTP_THREADS:-2}
CONNECTIONS=${BENCH_HTTP_CONNECTIONS:-32}
SERVER_THREADS=${BENCH_HTTP_SERVER_THREADS:-}
FLOOR_THREADS=${BENCH_HTTP_FLOOR_THREADS:-2}
ACCESS_LOG=${BENCH_HTTP_ACCESS_LOG:-off}
HTTP_PORT=${CPUB_BENCH_HTTP_PORT:-15580}
FLOOR_PORT=$((HTTP_PORT + 1))
SERVER=$ROOT/httpd/cpub-httpd
FUNCTIONS=10
PASSWORD=bench-password-http

# Notices (IF EXISTS, IF NOT EXISTS) are not figures.
export PGOPTIONS="${PGOPTIONS:-} -c client_min_messages=warning"

# shellcheck source-path=SCRIPTDIR
. "$BENCH/lib.sh"

work=$(mktemp -d /tmp/cpub-bench-http.XXXXXX)
server_pid=
floor_pid=

# shellcheck disable=SC2317  # called through trap
cleanup()
{
	if [ -n "$server_pid" ]; then
		stop "$server_pid"
	fi
	if [ -n "$floor_pid" ]; then
		stop "$floor_pid"
	fi
	rm -rf "$work"
}
trap cleanup EXIT

# wrk_run FILE URL ARGS...: wrk with the benchmark's settings, its output
# in FILE (after a warm-up whose output is dropped).
wrk_run()
{
	local out=$1 url=$2
	shift 2
	wrk -t "$THREADS" -c "$CONNECTIONS" -d "${WARMUP}s" "$@" "$url" >/dev/null ||
		die "wrk against $url failed (warm-up)"
	wrk -t "$THREADS" -c "$CONNECTIONS" -d "${DURATION}s" --latency "$@" "$url" >"$out" ||
		die "wrk against $url failed: $(cat "$out")"
}

# count_functions: how many of the names f1..f$FUNCTIONS appear, quoted, on
# stdin (a JSON list of the developer's functions).
count_functions()
{
	grep -oE "\"f[0-9]+\"" | sort -u | grep -cE "^\"f([1-9]|10)\"$" || true
}

command -v wrk >/dev/null || die "wrk is missing; run: scripts/deps.sh bench"
command -v curl >/dev/null || die "curl is missing; run: scripts/deps.sh bench"
make -s -C "$BENCH" http_floor >/dev/null

# --- cpub-httpd ---------------------------------------------------------------
server_note=
if [ -f "$ROOT/httpd/Makefile" ]; then
	make -s -C "$ROOT/httpd" >"$work/make.log" 2>&1 ||
		{ cat "$work/make.log" >&2; die "make -C httpd failed"; }
fi
if [ ! -x "$SERVER" ]; then
	server_note="skipped: httpd/cpub-httpd is missing (make -C httpd builds it)"
else
	cat >"$work/httpd.conf" <<EOF
# bench/http.sh: cpub-httpd for the benchmark
listen_address = 127.0.0.1
port = $HTTP_PORT
database = host=$PGHOST port=$PGPORT dbname=$PGDATABASE user=cpub_httpd
access_log = $ACCESS_LOG
log_format = text
EOF
	if [ -n "$SERVER_THREADS" ]; then
		echo "threads = $SERVER_THREADS" >>"$work/httpd.conf"
	fi
	if [ -n "${BENCH_HTTP_POOL_SIZE:-}" ]; then
		echo "pool_size = $BENCH_HTTP_POOL_SIZE" >>"$work/httpd.conf"
	fi
	# Without our PGOPTIONS: the server's sessions get only what it sets.
	env -u PGOPTIONS "$SERVER" --config "$work/httpd.conf" >"$work/httpd.log" 2>&1 &
	server_pid=$!
	wait_http "http://127.0.0.1:$HTTP_PORT/ready" "$server_pid" "$work/httpd.log"
	rest_kb=$(proc_kb "$server_pid" VmRSS)

	email=bench-http@example.com
	token=
	api POST /api/auth/register 201 \
		"{\"email\":\"$email\",\"password\":\"$PASSWORD\"}" >/dev/null
	bench_tier "$email"
	token=$(api POST /api/auth/login 200 \
		"{\"email\":\"$email\",\"password\":\"$PASSWORD\"}" |
		sed -n 's/.*"access_token" *: *"\([^"]*\)".*/\1/p')
	[ -n "$token" ] || die "POST /api/auth/login gave no access_token"
	for ((i = 1; i <= FUNCTIONS; i++)); do
		api POST /api/functions 201 "{\"name\":\"f$i\",\"runtime\":\"shell\"}" >/dev/null
	done
	n=$(api GET /api/functions 200 | count_functions)
	[ "$n" = "$FUNCTIONS" ] ||
		die "GET /api/functions listed $n of the $FUNCTIONS functions: $(head -c 500 "$work/body")"

	wrk_run "$work/wrk-httpd" "http://127.0.0.1:$HTTP_PORT/api/functions" \
		-H "Authorization: Bearer $token"
	read -r h_rps h_p50 h_p99 h_bad h_err < <(wrk_figures "$work/wrk-httpd")
	peak_kb=$(proc_kb "$server_pid" VmHWM)
	stop "$server_pid"
	server_pid=
fi

# --- the same SQL through pgbench ---------------------------------------------
sql_email=bench-http-sql@example.com
sql_token=$(psql_run -v email="$sql_email" -v password="$PASSWORD" <<'SQL'
SET cpub.argon2_opslimit = 1;
SET cpub.argon2_memlimit_kib = 64;
SET ROLE cpub_anon;
\o /dev/null
SELECT cpub_api.register(:'email', :'password');
\o
SELECT access_token FROM cpub_api.login(:'email', :'password');
SQL
)
bench_tier "$sql_email"
psql_run -v token="$sql_token" -v n="$FUNCTIONS" >/dev/null <<'SQL'
BEGIN;
SET LOCAL ROLE cpub_anon;
SELECT pg_catalog.set_config('role', a.role, true)
  FROM cpub_api.authenticate(:'token') a;
SELECT count(cpub_api.function_create(format('f%s', g), 'shell'))
  FROM generate_series(1, :n) g;
COMMIT;
SQL

cat >"$work/list.sql" <<'SQL'
\startpipeline
SELECT pg_catalog.set_config('role', 'cpub_anon', true);
SELECT pg_catalog.set_config('role', a.role, true) FROM cpub_api.authenticate(:token) a;
SELECT coalesce(jsonb_agg(r), '[]'::jsonb)::text FROM cpub_api.function_list() r;
\endpipeline
SQL

# The same statements once through psql as cpub_httpd: the list must hold
# the functions, or we would time an error path.
n=$(psql_run -U cpub_httpd -v token="$sql_token" <<'SQL' | tail -n 1 | count_functions
BEGIN;
\o /dev/null
SELECT pg_catalog.set_config('role', 'cpub_anon', true);
SELECT pg_catalog.set_config('role', a.role, true) FROM cpub_api.authenticate(:'token') a;
\o
SELECT coalesce(jsonb_agg(r), '[]'::jsonb)::text FROM cpub_api.function_list() r;
COMMIT;
SQL
)
[ "$n" = "$FUNCTIONS" ] || die "the pgbench script's list holds $n of the $FUNCTIONS functions"

# pgbench -M prepared prepares a pipeline's statements before it starts it,
# outside any transaction: as cpub_httpd itself, which has no USAGE on
# schema cpub_api, that fails ("permission denied for schema cpub_api").  So
# its sessions start as cpub_anon (-c role=..., as SET ROLE would; the
# session user is still cpub_httpd); each transaction still runs all three
# statements, the first setting the role to cpub_anon as the server does.
pgbench_run()
{
	PGOPTIONS="$PGOPTIONS -c role=cpub_anon" \
		"$PGBIN/pgbench" -n -U cpub_httpd -M prepared -c "$CONNECTIONS" -j "$THREADS" \
		-D token="$sql_token" -f "$work/list.sql" "$@" >"$work/pgbench.out" 2>&1 ||
		{ cat "$work/pgbench.out" >&2; die "pgbench failed"; }
}
pgbench_run -T "$WARMUP"
pgbench_run -T "$DURATION" -l --log-prefix="$work/pgblog"
s_tps=$(awk '/^tps = / { print $3; exit }' "$work/pgbench.out")
s_failed=$(awk '/^number of failed transactions: / { print $5; exit }' "$work/pgbench.out")
read -r s_p50 s_p99 < <(cat "$work"/pgblog.* | awk '{ print $3 / 1000 }' | sort -g |
	awk '{ v[NR] = $1 } END { printf "%.3f %.3f\n", v[int(NR * 0.50) + 1], v[int(NR * 0.99) + 1] }')

# --- the floor ----------------------------------------------------------------
"$BENCH/http_floor" -p "$FLOOR_PORT" -t "$FLOOR_THREADS" >"$work/floor.log" 2>&1 &
floor_pid=$!
wait_http "http://127.0.0.1:$FLOOR_PORT/api/functions" "$floor_pid" "$work/floor.log"
floor_rest_kb=$(proc_kb "$floor_pid" VmRSS)
wrk_run "$work/wrk-floor" "http://127.0.0.1:$FLOOR_PORT/api/functions" \
	-H "Authorization: Bearer not-checked"
read -r f_rps f_p50 f_p99 f_bad f_err < <(wrk_figures "$work/wrk-floor")
floor_peak_kb=$(proc_kb "$floor_pid" VmHWM)
stop "$floor_pid"
floor_pid=

# --- the table ----------------------------------------------------------------
row()
{
	printf '    %-34s %-30s %s\n' "$1" "$2" "$3"
}
figure()
{
	printf '%s req/s  p99 %.1f ms' "$(commas "$1")" "$2"
}

echo "(f) HTTP front: GET /api/functions (a developer with $FUNCTIONS functions, bearer token)," \
	"wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s --latency after a ${WARMUP} s warm-up;" \
	"cpub-httpd with ${SERVER_THREADS:-its default (two per CPU)} threads, the floor with $FLOOR_THREADS (epoll, thread pool)"
row "figure" "ours" "anchor / goal"
if [ -z "$server_note" ]; then
	row "http GET /api/functions" "$(figure "$h_rps" "$h_p99")" \
		"goal >= 5,000 req/s, p99 <= 10 ms; PostgREST ~2,000 req/s (2 vCPU)$(wrk_trouble "$h_bad" "$h_err")"
else
	row "http GET /api/functions" "-" "$server_note"
fi
row "pgbench, the same SQL" \
	"$(printf '%s tps    p99 %.1f ms' "$(commas "$s_tps")" "$s_p99")" \
	"3 prepared statements, 1 pipeline, as cpub_httpd, -c$CONNECTIONS -j$THREADS$(
		[ "${s_failed:-0}" = 0 ] || echo " ($s_failed transactions failed: not a clean run)")"
row "http floor (bare libmicrohttpd)" "$(figure "$f_rps" "$f_p99")" \
	"fixed JSON body: no routing, no database$(wrk_trouble "$f_bad" "$f_err")"
if [ -z "$server_note" ]; then
	row "memory of cpub-httpd" "$(mib "$rest_kb") MiB rest, $(mib "$peak_kb") MiB peak" \
		"VmRSS after /ready, VmHWM after the load; floor: $(mib "$floor_rest_kb") MiB rest, $(mib "$floor_peak_kb") MiB peak"
	awk -v h="$h_rps" -v s="$s_tps" -v f="$f_rps" 'BEGIN {
		printf "    ours is %.2g of pgbench (our overhead over raw SQL) and %.2g of the floor\n", h / s, h / f
	}'
else
	row "memory of cpub-httpd" "-" \
		"skipped; floor: $(mib "$floor_rest_kb") MiB rest, $(mib "$floor_peak_kb") MiB peak"
fi
printf '    p50: %spgbench %.2f ms, floor %.2f ms\n' \
	"${h_p50:+$(printf 'http %.2f ms, ' "$h_p50")}" "$s_p50" "$f_p50"
