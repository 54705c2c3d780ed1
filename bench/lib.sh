# bench/lib.sh: what the benchmark scripts share (sourced, never run):
# stop, die, psql_run, commas, mib, proc_kb, wrk_figures, wrk_trouble,
# wait_http, api (a call to the server on $HTTP_PORT with $token, bodies
# in $work) and bench_tier (a roomy tier for the benchmark's developer).
# shellcheck shell=bash

# stop PID: SIGTERM, then SIGKILL after 10 s.
stop()
{
	local pid=$1 i
	kill "$pid" 2>/dev/null || return 0
	for ((i = 0; i < 100; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

die()
{
	echo "bench: $*" >&2
	exit 1
}

psql_run()
{
	"$PGBIN/psql" -X -q -At -v ON_ERROR_STOP=1 "$@"
}

# commas NUMBER: rounded, with thousands separators (5812.4 -> 5,812).
commas()
{
	awk -v n="$1" 'BEGIN {
		s = sprintf("%.0f", n); out = ""
		while (length(s) > 3) {
			out = "," substr(s, length(s) - 2) out
			s = substr(s, 1, length(s) - 3)
		}
		print s out
	}'
}

# mib KB: kB as MiB with one decimal.
mib()
{
	awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'
}

# proc_kb PID FIELD: FIELD (VmRSS, VmHWM) of /proc/PID/status in kB.
proc_kb()
{
	awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"
}

# wrk_figures FILE: "REQUESTS_PER_S P50_MS P99_MS NON_2XX SOCKET_ERRORS"
# from the output of wrk --latency.
wrk_figures()
{
	awk '
	function ms(v) {
		if (v ~ /us$/) return substr(v, 1, length(v) - 2) / 1000
		if (v ~ /ms$/) return substr(v, 1, length(v) - 2) + 0
		if (v ~ /s$/) return substr(v, 1, length(v) - 1) * 1000
		if (v ~ /m$/) return substr(v, 1, length(v) - 1) * 60000
		return v + 0
	}
	/^ +50% / { p50 = ms($2) }
	/^ +99% / { p99 = ms($2) }
	/^Requests\/sec:/ { rps = $2 }
	/Non-2xx or 3xx responses:/ { bad = $NF }
	/Socket errors:/ { gsub(",", ""); errs = $4 + $6 + $8 + $10 }
	END {
		if (rps == "" || p99 == "") exit 1
		printf "%s %.3f %.3f %d %d\n", rps, p50, p99, bad, errs
	}' "$1" || die "could not read wrk's output: $(cat "$1")"
}

# wrk_trouble NON_2XX SOCKET_ERRORS: a note when not every answer was a 2xx.
wrk_trouble()
{
	if [ "$1" != 0 ] || [ "$2" != 0 ]; then
		echo " ($1 answers not 2xx, $2 socket errors: not a clean run)"
	fi
}

# wait_http URL PID LOG: until URL answers 200 (15 s at most), while PID
# lives; fails showing the end of LOG otherwise.
wait_http()
{
	local url=$1 pid=$2 log=$3 i
	for ((i = 0; i < 150; i++)); do
		if ! kill -0 "$pid" 2>/dev/null; then
			tail -n 20 "$log" >&2
			die "the server behind $url exited before it was ready"
		fi
		if [ "$(curl -s -o /dev/null -w '%{http_code}' "$url" || true)" = 200 ]; then
			return 0
		fi
		sleep 0.1
	done
	tail -n 20 "$log" >&2
	die "$url did not answer 200 within 15 s"
}

# api METHOD PATH STATUS [BODY]: one call to the server with curl (the
# bearer token in $token, when set); fails unless the status is STATUS;
# prints the body.
api()
{
	local method=$1 path=$2 want=$3 body=${4:-} status
	local args=(-s -o "$work/body" -w '%{http_code}' -X "$method")
	if [ -n "${token:-}" ]; then
		args+=(-H "Authorization: Bearer $token")
	fi
	if [ -n "$body" ]; then
		args+=(-H 'Content-Type: application/json' --data-binary "$body")
	fi
	status=$(curl "${args[@]}" "http://127.0.0.1:$HTTP_PORT$path" || true)
	[ "$status" = "$want" ] ||
		die "$method $path answered ${status:-nothing}, not $want: $(head -c 500 "$work/body")"
	cat "$work/body"
}

# bench_tier EMAIL [CONCURRENCY]: puts the user on tier "bench" (or
# "bench_cN" with another max_concurrency than 5; made on first use), which
# allows more functions, invocations and requests per second than the
# default tier.  As a DBA would, in SQL.
bench_tier()
{
	local n conc=${2:-5} name=bench
	[ "$conc" = 5 ] || name=bench_c$conc
	n=$(psql_run -v email="$1" -v tier="$name" -v conc="$conc" <<'SQL'
\o /dev/null
SELECT cpub_admin.tier_create(:'tier', 1000, 256, 30, :conc, 100000000, 20,
							  1000000, 'bench/: room for its functions')
 WHERE NOT EXISTS (SELECT FROM cpub_admin.tier_list() WHERE name = :'tier');
\o
SELECT count(cpub_admin.tier_assign_user(u.uuid, :'tier'))
  FROM cpub.users u WHERE u.email = :'email';
SQL
)
	[ "$n" = 1 ] || die "no user $1 to put on tier $name"
}

# pct P FILE: the P-th percentile of the numbers in FILE, one a line
# (nearest rank); "nan" when it has none.
pct()
{
	sort -n "$2" | awk -v p="$1" '{ v[NR] = $1 } END {
		if (NR == 0) { print "nan"; exit }
		i = int(NR * p / 100 + 0.999999); if (i < 1) i = 1; print v[i] }'
}

# stack_start SLOTS: the base images, then cpub-httpd on 127.0.0.1:$HTTP_PORT
# and cpub-worker (SLOTS run slots, no prewarm) on the bench cluster, their
# files and logs under $work; sets server_pid, worker_pid and inst (the
# installation id, whose containers and images the caller removes).
stack_start()
{
	make -s -C "$ROOT/httpd" >/dev/null
	make -s -C "$ROOT/worker" >/dev/null
	CONTAINERS_CONF=$("$ROOT/scripts/podman.sh")
	export CONTAINERS_CONF
	"$ROOT/scripts/images.sh" >"$work/images.log" 2>&1 ||
		{ cat "$work/images.log" >&2; die "make images failed"; }
	cat >"$work/httpd.conf" <<EOF
listen_address = 127.0.0.1
port = $HTTP_PORT
database = host=$PGHOST port=$PGPORT dbname=$PGDATABASE user=cpub_httpd
access_log = off
log_format = text
EOF
	env -u PGOPTIONS "$ROOT/httpd/cpub-httpd" --config "$work/httpd.conf" >"$work/httpd.log" 2>&1 &
	server_pid=$!
	wait_http "http://127.0.0.1:$HTTP_PORT/ready" "$server_pid" "$work/httpd.log"
	cat >"$work/worker.conf" <<EOF
database = 'host=$PGHOST port=$PGPORT dbname=$PGDATABASE user=cpub_worker'
state_dir = $work/state
run_slots = $1
prewarm = 0
log_format = text
EOF
	env -u PGOPTIONS "$ROOT/worker/cpub-worker" --config "$work/worker.conf" >"$work/worker.log" 2>&1 &
	worker_pid=$!
	inst=$(psql_run -c "SELECT cpub_worker.installation_id()")
}

# stack_stop: stack_start's worker and httpd stopped, and the containers and
# images of its installation removed (for the caller's exit trap).
stack_stop()
{
	[ -n "${worker_pid:-}" ] && stop "$worker_pid"
	[ -n "${server_pid:-}" ] && stop "$server_pid"
	if [ -n "${inst:-}" ]; then
		podman ps -aq --filter "label=cpub.installation=$inst" |
			xargs -r podman rm -f -t 0 >/dev/null 2>&1
		podman images -q --filter "label=cpub.installation=$inst" |
			xargs -r podman rmi -f >/dev/null 2>&1
	fi
	return 0
}

# hello_c DIR: the hello C function's source, DIR/hello.c.
hello_c()
{
	mkdir -p "$1"
	printf '%s\n' '#include "cpub.h"' '' 'int' \
		'cpub_handle(const struct cpub_request *req, struct cpub_response *res)' '{' \
		'	cpub_response_set_header(res, "content-type", "text/plain");' \
		'	cpub_response_printf(res, "hello from %s\n", req->path);' '	return 0;' '}' \
		>"$1/hello.c"
}
