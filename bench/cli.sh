#!/usr/bin/env bash
# bench/cli.sh: the developer's command line, cli/cpub, against the real
# stack; section (i) of bench/run.sh's output.
#
# Setup: cpub-httpd and cpub-worker (run_slots 4, prewarm 0) on the
# throwaway cluster; a developer registered and logged in with cli/cpub
# (its own XDG_CONFIG_HOME); a public hello C function (bench/invoke.sh's)
# created and deployed through the API, then warmed (BENCH_CLI_WARM calls
# with curl and with cpub).
#
# Figures:
# - cpub invoke of the warm function, the whole process as a shell sees it
#   (fork, exec, dynamic linking, reading the credentials, the request,
#   printing, exit), BENCH_CLI_RUNS (200) times: p50 and p99.  Anchor:
#   curl of the same URL with the same bearer token (so the server does the
#   same work), the same number of times, the runs of the two interleaved.
#   Also curl without a token, and `cpub version` beside `curl --version`
#   (each process alone, no request), to show where the time goes.
# - cpub deploy of the hello C function: upload, build and ready time.
#   cpub deploy is being written; bench_deploy below runs only when
#   `cpub deploy --help` succeeds, and says it was skipped otherwise.
#
# Times come from bash's $EPOCHREALTIME around each command (no process
# of its own).  Nothing is asserted.  Needs root Podman and the base images
# (make images).  Knobs: BENCH_CLI_RUNS, BENCH_CLI_WARM (20),
# CPUB_BENCH_CLI_PORT (15595).
set -euo pipefail
[ -n "${BENCH_TRACE:-}" ] && set -x
trap 'echo "bench/cli.sh: line $LINENO failed (status $?)" >&2' ERR

BENCH=$(cd "$(dirname "$0")" && pwd -P)
if [ -z "${CPUB_BENCH_CLUSTER:-}" ]; then
	exec "$BENCH/run.sh" cli
fi
ROOT=$(dirname "$BENCH")
PGBIN=/usr/lib/postgresql/15/bin
RUNS=${BENCH_CLI_RUNS:-200}
WARM=${BENCH_CLI_WARM:-20}
HTTP_PORT=${CPUB_BENCH_CLI_PORT:-15595}
PASSWORD=bench-password-cli
CPUB=$ROOT/cli/cpub
export PGOPTIONS="${PGOPTIONS:-} -c client_min_messages=warning"

# shellcheck source-path=SCRIPTDIR
. "$BENCH/lib.sh"

work=$(mktemp -d /tmp/cpub-bench-cli.XXXXXX)
server_pid=
worker_pid=
inst=

# shellcheck disable=SC2317  # called through trap
cleanup()
{
	[ -n "$worker_pid" ] && stop "$worker_pid"
	[ -n "$server_pid" ] && stop "$server_pid"
	if [ -n "$inst" ]; then
		podman ps -aq --filter "label=cpub.installation=$inst" |
			xargs -r podman rm -f -t 0 >/dev/null 2>&1
		podman images -q --filter "label=cpub.installation=$inst" |
			xargs -r podman rmi -f >/dev/null 2>&1
	fi
	rm -rf "$work"
}
trap cleanup EXIT

# pct P FILE: the P-th percentile of the numbers in FILE (one a line).
pct()
{
	sort -n "$2" | awk -v p="$1" '{ v[NR] = $1 } END {
		if (NR == 0) { print "nan"; exit }
		i = int(NR * p / 100 + 0.999999); if (i < 1) i = 1; print v[i] }'
}

# timed FILE COMMAND...: runs COMMAND (output dropped; it must succeed)
# and appends its wall time in ms to FILE.
timed()
{
	local file=$1 t0 t1
	shift
	t0=$EPOCHREALTIME
	"$@" >/dev/null 2>&1 || die "failed: $*"
	t1=$EPOCHREALTIME
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", (b - a) * 1000 }' >>"$file"
}

# figures FILE: "p50 X ms, p99 Y ms".
figures()
{
	echo "p50 $(pct 50 "$1") ms, p99 $(pct 99 "$1") ms"
}

make -s -C "$ROOT/httpd" >/dev/null
make -s -C "$ROOT/worker" >/dev/null
make -s -C "$ROOT/cli" >/dev/null
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
run_slots = 4
prewarm = 0
log_format = text
EOF
env -u PGOPTIONS "$ROOT/worker/cpub-worker" --config "$work/worker.conf" >"$work/worker.log" 2>&1 &
worker_pid=$!
inst=$(psql_run -c "SELECT cpub_worker.installation_id()")

# The developer, through cpub itself.
export XDG_CONFIG_HOME=$work/config CPUB_SERVER=http://127.0.0.1:$HTTP_PORT
email=bench-cli@example.com
printf '%s\n' "$PASSWORD" | "$CPUB" register "$email" >/dev/null
bench_tier "$email"
printf '%s\n' "$PASSWORD" | "$CPUB" login "$email" >/dev/null
token=$(sed -n 's/.*"access_token": *"\([^"]*\)".*/\1/p' "$XDG_CONFIG_HOME/cpub/credentials.json")
[ -n "$token" ] || die "no access token in the credentials file"

# The hello C function, deployed through the API.
mkdir -p "$work/src/c"
printf '%s\n' '#include "cpub.h"' '' 'int' \
	'cpub_handle(const struct cpub_request *req, struct cpub_response *res)' '{' \
	'	cpub_response_set_header(res, "content-type", "text/plain");' \
	'	cpub_response_printf(res, "hello from %s\n", req->path);' '	return 0;' '}' \
	>"$work/src/c/hello.c"
body=$(api POST /api/functions 201 \
	'{"name":"hello-c","runtime":"c","visibility":"public","memory_mb":128}')
owner=$(sed -n 's|.*"endpoint" *: *"/fn/\([^/]*\)/.*|\1|p' <<<"$body")
tar -C "$work/src/c" -czf "$work/c.tar.gz" .
curl -s -o /dev/null -H "Authorization: Bearer $token" -H 'Content-Type: application/gzip' \
	--data-binary "@$work/c.tar.gz" "http://127.0.0.1:$HTTP_PORT/api/functions/hello-c/deploy"
st=
for ((i = 0; i < 3000; i++)); do
	st=$(api GET /api/functions/hello-c/versions 200 |
		sed -n 's/.*"status" *: *"\([a-z]*\)".*/\1/p' | head -n 1)
	[ "$st" = ready ] || [ "$st" = failed ] && break
	sleep 0.02
done
[ "$st" = ready ] || die "hello-c did not build ($st)"
url=http://127.0.0.1:$HTTP_PORT/fn/$owner/hello-c

# The same answer both ways, then warm.
[ "$("$CPUB" invoke hello-c)" = "hello from /" ] || die "cpub invoke hello-c: $("$CPUB" invoke hello-c 2>&1)"
[ "$(curl -s -H "Authorization: Bearer $token" "$url")" = "hello from /" ] || die "curl $url"
for ((i = 0; i < WARM; i++)); do
	curl -s -o /dev/null -H "Authorization: Bearer $token" "$url"
	"$CPUB" invoke hello-c >/dev/null
done

# Interleaved: each round runs each command once.
: >"$work/cpub" && : >"$work/curl" && : >"$work/curl-anon"
: >"$work/version" && : >"$work/curl-version"
for ((i = 0; i < RUNS; i++)); do
	timed "$work/cpub" "$CPUB" invoke hello-c
	timed "$work/curl" curl -sf -o /dev/null -H "Authorization: Bearer $token" "$url"
	timed "$work/curl-anon" curl -sf -o /dev/null "$url"
	timed "$work/version" "$CPUB" version
	timed "$work/curl-version" curl --version
done
over=$(awk -v a="$(pct 50 "$work/cpub")" -v b="$(pct 50 "$work/curl")" \
	'BEGIN { printf "%+.2f ms, %.2f x", a - b, a / b }')

# --- cpub deploy: the issue's second figure -----------------------------------------------
#
# PLACE FOR `cpub deploy` (cli/src/deploy.c is being written by another
# engineer).  This runs only when `cpub deploy --help` succeeds; until then
# it prints that it was skipped.  When deploy lands, check that it is what
# the figure needs (and that it ran once): a hello C folder made by
# `cpub init`, `cpub deploy` of it timed as one process (upload, then the
# build followed until the version is ready), the upload and the build
# split by the version's own timestamps (created_at: the archive stored;
# build_started_at, build_finished_at: the worker's build).
bench_deploy()
{
	local t0 t1 created started finished fid
	if ! "$CPUB" deploy --help >/dev/null 2>&1; then
		printf '  %-60s %s\n' "cpub deploy of hello C: upload, build, ready:" \
			"skipped: this cpub has no deploy command yet"
		return 0
	fi
	(cd "$work" && "$CPUB" init --runtime c hello-deploy >"$work/init.log" 2>&1) ||
		{ printf '  %-60s %s\n' "cpub deploy of hello C:" "cpub init failed: $(tail -n 1 "$work/init.log")"; return 0; }
	t0=$EPOCHREALTIME
	(cd "$work/hello-deploy" && "$CPUB" deploy </dev/null >"$work/deploy.log" 2>&1) ||
		{ printf '  %-60s %s\n' "cpub deploy of hello C:" "cpub deploy failed: $(tail -n 1 "$work/deploy.log")"; return 0; }
	t1=$EPOCHREALTIME
	fid=$(psql_run -c "SELECT id FROM cpub.functions WHERE name = 'hello-deploy'")
	read -r created started finished < <(psql_run -F ' ' -c "
		SELECT extract(epoch FROM created_at), extract(epoch FROM build_started_at),
			   extract(epoch FROM build_finished_at)
		  FROM cpub.function_versions WHERE function_id = '$fid' ORDER BY version DESC LIMIT 1")
	printf '  %-60s %s\n' "cpub deploy of hello C (one run), whole process:" \
		"$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f ms", (b - a) * 1000 }')"
	printf '  %-60s %s\n' "  upload (start -> version stored):" \
		"$(awk -v a="$t0" -v b="$created" 'BEGIN { printf "%.0f ms", (b - a) * 1000 }')"
	printf '  %-60s %s\n' "  queue + build (stored -> built), build alone:" \
		"$(awk -v a="$created" -v s="$started" -v b="$finished" \
			'BEGIN { printf "%.0f ms, %.0f ms", (b - a) * 1000, (b - s) * 1000 }')"
	printf '  %-60s %s\n' "  ready seen by cpub (built -> exit):" \
		"$(awk -v a="$finished" -v b="$t1" 'BEGIN { printf "%.0f ms", (b - a) * 1000 }')"
}

echo "(i) the command line: cli/cpub against the stack (bench/cli.sh), $RUNS runs each, interleaved"
printf '  %-60s %s\n' "cpub invoke hello-c, warm, whole process:" \
	"$(figures "$work/cpub")   anchor: curl below; cpub - curl at p50: $over"
printf '  %-60s %s\n' "curl of the same URL, same bearer token, whole process:" "$(figures "$work/curl")"
printf '  %-60s %s\n' "curl of the same URL, no token (public function):" "$(figures "$work/curl-anon")"
printf '  %-60s %s\n' "cpub version (the process alone, no request):" \
	"$(figures "$work/version")   curl --version: $(figures "$work/curl-version")"
bench_deploy
