#!/usr/bin/env bash
# bench/invoke.sh: invocations end to end, through cpub-httpd, the queue,
# cpub-worker and a Podman container, beside their floors; section (h) of
# bench/run.sh's output.
#
# Setup: cpub-httpd and cpub-worker (run_slots BENCH_INVOKE_SLOTS, 16;
# prewarm 0) on the throwaway cluster; a developer on a tier allowing
# BENCH_INVOKE_CONNECTIONS (16) containers at once; a public hello
# function per runtime (c, python, shell) deployed through the API.
#
# Figures:
# - build: deploy -> version ready, per runtime's hello (the worker's
#   build: extract, podman build, the image tagged).
# - warm, one client: wrk -c 1 against GET /fn/OWNER/hello-c for
#   BENCH_SECONDS (10) after a 2 s warm-up: p50 and p99.  Goal p50 <= 3
#   ms, p99 <= 10 ms.  Anchor: AWS Lambda's measured warm median, about
#   25 ms.
# - warm, loaded: wrk -c BENCH_INVOKE_CONNECTIONS: invocations per second,
#   p50, p99.  Goal >= 1,000/s on 2 cores.  From the executions of that
#   run: the queue hop (created_at -> started_at: enqueue, NOTIFY, claim,
#   execution_start) and the container round trip as the worker timed it
#   (duration_ms), p50 and p99.
# - the floor: bench/shim_rtt -s against a container of the same image
#   started by hand with the worker's hardening flags: the bare unix-socket
#   round trip, p50 (anchor: 39 us in ../shared/PLATFORM.md).
# - cold: BENCH_INVOKE_COLD (10) calls each after a configuration change
#   (PATCH memory_mb) made the worker drain the function's containers:
#   curl's total time, p50; beside the same number of bare
#   `podman run --rm --network none` of the same image (the shim's --help:
#   start, run, exit, remove).  Goal: p50 <= 1.2 x the bare one.
#
# Nothing is asserted.  Needs root Podman, the base images (make images),
# wrk and curl (scripts/deps.sh bench).  Knobs: BENCH_SECONDS,
# BENCH_INVOKE_CONNECTIONS, BENCH_INVOKE_SLOTS, BENCH_INVOKE_COLD,
# CPUB_BENCH_INVOKE_PORT (15590).
set -euo pipefail
[ -n "${BENCH_TRACE:-}" ] && set -x
trap 'echo "bench/invoke.sh: line $LINENO failed (status $?)" >&2' ERR

BENCH=$(cd "$(dirname "$0")" && pwd -P)
if [ -z "${CPUB_BENCH_CLUSTER:-}" ]; then
	exec "$BENCH/run.sh" invoke
fi
ROOT=$(dirname "$BENCH")
PGBIN=/usr/lib/postgresql/15/bin
DURATION=${BENCH_SECONDS:-10}
WARMUP=2
CONNECTIONS=${BENCH_INVOKE_CONNECTIONS:-16}
SLOTS=${BENCH_INVOKE_SLOTS:-16}
COLD=${BENCH_INVOKE_COLD:-10}
HTTP_PORT=${CPUB_BENCH_INVOKE_PORT:-15590}
PASSWORD=bench-password-invoke
export PGOPTIONS="${PGOPTIONS:-} -c client_min_messages=warning"

# shellcheck source-path=SCRIPTDIR
. "$BENCH/lib.sh"

work=$(mktemp -d /tmp/cpub-bench-invoke.XXXXXX)
server_pid=
worker_pid=
floor_name=
inst=

# shellcheck disable=SC2317  # called through trap
cleanup()
{
	[ -n "$floor_name" ] && podman rm -f -t 0 "$floor_name" >/dev/null 2>&1
	stack_stop
	rm -rf "$work"
}
trap cleanup EXIT

command -v wrk >/dev/null || die "wrk is missing; run: scripts/deps.sh bench"
make -s -C "$BENCH" shim_rtt >/dev/null
stack_start "$SLOTS"

email=bench-invoke@example.com
token=
api POST /api/auth/register 201 "{\"email\":\"$email\",\"password\":\"$PASSWORD\"}" >/dev/null
bench_tier "$email" "$CONNECTIONS"
token=$(api POST /api/auth/login 200 "{\"email\":\"$email\",\"password\":\"$PASSWORD\"}" |
	sed -n 's/.*"access_token" *: *"\([^"]*\)".*/\1/p')
[ -n "$token" ] || die "no access token"

# The hello functions.
mkdir -p "$work/src/c" "$work/src/python" "$work/src/shell"
hello_c "$work/src/c"
printf '%s\n' 'def handle(request):' '    return "hello from %s\n" % request.path' \
	>"$work/src/python/main.py"
printf '%s\n' '#!/bin/sh' 'echo "Content-Type: text/plain"' 'echo' 'echo "hello from $PATH_INFO"' \
	>"$work/src/shell/handler.sh"
chmod +x "$work/src/shell/handler.sh"

declare -A build_s=()
owner=
for rt in c python shell; do
	body=$(api POST /api/functions 201 \
		"{\"name\":\"hello-$rt\",\"runtime\":\"$rt\",\"visibility\":\"public\",\"memory_mb\":128,\"max_concurrency\":$CONNECTIONS}")
	owner=$(sed -n 's|.*"endpoint" *: *"/fn/\([^/]*\)/.*|\1|p' <<<"$body")
	tar -C "$work/src/$rt" -czf "$work/$rt.tar.gz" .
	t0=$(date +%s%N)
	curl -s -o /dev/null -H "Authorization: Bearer $token" -H 'Content-Type: application/gzip' \
		--data-binary "@$work/$rt.tar.gz" "http://127.0.0.1:$HTTP_PORT/api/functions/hello-$rt/deploy"
	st=
	for ((i = 0; i < 3000; i++)); do
		st=$(api GET "/api/functions/hello-$rt/versions" 200 |
			sed -n 's/.*"status" *: *"\([a-z]*\)".*/\1/p' | head -n 1)
		[ "$st" = ready ] || [ "$st" = failed ] && break
		sleep 0.02
	done
	[ "$st" = ready ] ||
		die "hello-$rt did not build ($st): $(api GET "/api/functions/hello-$rt/versions/1/build-log" 200 | head -c 2000)"
	build_s[$rt]=$(awk -v a="$t0" -v b="$(date +%s%N)" 'BEGIN { printf "%.2f", (b - a) / 1e9 }')
done
url=http://127.0.0.1:$HTTP_PORT/fn/$owner/hello-c/

# Warm, one client, then loaded.
[ "$(curl -s -o /dev/null -w '%{http_code}' "$url")" = 200 ] ||
	die "hello-c does not answer 200: $(curl -s "$url")"
wrk -t 1 -c 1 -d "${WARMUP}s" "$url" >/dev/null
wrk -t 1 -c 1 -d "${DURATION}s" --latency "$url" >"$work/wrk1"
read -r s_rps s_p50 s_p99 s_bad s_err < <(wrk_figures "$work/wrk1")
wrk -t 2 -c "$CONNECTIONS" -d "${WARMUP}s" "$url" >/dev/null
since=$(psql_run -c "SELECT now()")
wrk -t 2 -c "$CONNECTIONS" -d "${DURATION}s" --latency "$url" >"$work/wrkn"
read -r l_rps l_p50 l_p99 l_bad l_err < <(wrk_figures "$work/wrkn")
psql_run -c "SELECT extract(epoch FROM started_at - created_at) * 1000 FROM cpub.executions
			  WHERE created_at >= '$since' AND status = 'succeeded'" >"$work/hop"
psql_run -c "SELECT duration_ms FROM cpub.executions
			  WHERE created_at >= '$since' AND status = 'succeeded'" >"$work/dur"
n_exec=$(wc -l <"$work/hop")
failed=$(psql_run -c "SELECT count(*) FROM cpub.executions
						WHERE created_at >= '$since' AND status <> 'succeeded'")

# The floor: a container of the same image, started by hand the worker's
# way, and bench/shim_rtt on its socket.
fid=$(psql_run -c "SELECT id FROM cpub.functions WHERE name = 'hello-c'")
image=$(psql_run -c "SELECT image FROM cpub.function_versions WHERE function_id = '$fid' AND version = 1")
floor_name=cpub-bench-floor-$$
mkdir -p "$work/floor"
podman run -d --name "$floor_name" --network=none --read-only --read-only-tmpfs=false \
	--tmpfs /tmp:rw,size=16m,mode=1777 --cap-drop=all --security-opt=no-new-privileges \
	--userns=auto:size=65535 --user=65534:65534 --pids-limit 64 --memory 128m --memory-swap 128m \
	--cpus 0.5 -v "$work/floor:/run/cpub:rw,U" "$image" >/dev/null
for ((i = 0; i < 200; i++)); do
	[ -S "$work/floor/fn.sock" ] && break
	sleep 0.02
done
"$BENCH/shim_rtt" -s "$work/floor/fn.sock" >"$work/floor.out" 2>&1 || true
floor_line=$(grep -m1 'p50' "$work/floor.out" | sed 's/^ *//' || true)
# Podman 4.3 sometimes answers 125 to an rm while another container of the
# same image starts; the cleanup trap removes it otherwise.
if podman rm -f -t 0 "$floor_name" >/dev/null 2>&1 ||
	{ sleep 0.5 && podman rm -f -t 0 "$floor_name" >/dev/null 2>&1; }; then
	floor_name=
fi

# Cold: each call after the worker drained the function's containers.
: >"$work/cold"
for ((i = 0; i < COLD; i++)); do
	api PATCH /api/functions/hello-c 200 "{\"memory_mb\":$((129 + i % 2))}" >/dev/null
	for ((k = 0; k < 500; k++)); do
		[ -z "$(podman ps -aq --filter "label=cpub.function=$fid")" ] && break
		sleep 0.02
	done
	curl -s -o /dev/null -w '%{time_total}\n' "$url" >>"$work/cold"
done
cold_n=$(psql_run -c "SELECT count(*) FROM cpub.executions WHERE function_id = '$fid' AND cold_start")
: >"$work/bare"
for ((i = 0; i < COLD; i++)); do
	t0=$(date +%s%N)
	podman run --rm --network none "$image" --help >/dev/null 2>&1 || true
	echo $((($(date +%s%N) - t0) / 1000)) >>"$work/bare"
done
awk '{ print $1 * 1000 }' "$work/cold" >"$work/cold.ms"
awk '{ print $1 / 1000 }' "$work/bare" >"$work/bare.ms"
cold_p50=$(pct 50 "$work/cold.ms")
bare_p50=$(pct 50 "$work/bare.ms")

echo "(h) invocations: httpd -> queue -> worker -> container (bench/invoke.sh), $SLOTS run slots"
printf '  %-60s %s\n' "build, deploy -> ready:" \
	"c ${build_s[c]} s, python ${build_s[python]} s, shell ${build_s[shell]} s"
printf '  %-60s %s\n' "warm, 1 client (wrk -c 1, ${DURATION} s):" \
	"p50 $s_p50 ms, p99 $s_p99 ms, $(commas "$s_rps")/s$(wrk_trouble "$s_bad" "$s_err")   goal p50 <= 3 ms, p99 <= 10 ms; AWS Lambda's warm median ~25 ms"
printf '  %-60s %s\n' "warm, $CONNECTIONS clients (wrk -c $CONNECTIONS, ${DURATION} s):" \
	"$(commas "$l_rps") invocations/s, p50 $l_p50 ms, p99 $l_p99 ms$(wrk_trouble "$l_bad" "$l_err")   goal >= 1,000/s"
printf '  %-60s %s\n' "  its queue hop (created -> started), $n_exec executions:" \
	"p50 $(pct 50 "$work/hop") ms, p99 $(pct 99 "$work/hop") ms ($failed not succeeded)"
printf '  %-60s %s\n' "  its container round trip, timed by the worker:" \
	"p50 $(pct 50 "$work/dur") ms, p99 $(pct 99 "$work/dur") ms"
printf '  %-60s %s\n' "floor: unix-socket round trip to a container of the image:" \
	"${floor_line:-? (see $work/floor.out)}   anchor: 39 us (PLATFORM.md)"
printf '  %-60s %s\n' "cold start, $COLD calls (curl total):" "p50 $cold_p50 ms ($cold_n executions cold)"
printf '  %-60s %s\n' "bare podman run --rm --network none, same image:" \
	"p50 $bare_p50 ms; ratio $(awk -v a="$cold_p50" -v b="$bare_p50" 'BEGIN { printf "%.2f", a / b }')   goal <= 1.2"
