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
# - cpub deploy of the hello C function (cpub init's), BENCH_CLI_DEPLOYS
#   (10) times with --force --json: the whole process (pack, upload, the
#   build followed until the version is ready), and its upload_seconds and
#   build_seconds; p50 and the largest.  Anchor: the same folder deployed
#   with curl (tar -czf, POST .../deploy, then GET of the build log every
#   20 ms until ready), the runs of the two interleaved; beside it, the
#   worker's build alone (build_started_at -> build_finished_at) and the
#   wait in the queue (created_at -> build_started_at) of cpub's versions.
#   The first deploy, which creates the function, is shown apart.
#
# Times come from bash's $EPOCHREALTIME around each command (no process
# of its own).  Nothing is asserted.  Needs root Podman and the base images
# (make images), jq.  Knobs: BENCH_CLI_RUNS, BENCH_CLI_WARM (20),
# BENCH_CLI_DEPLOYS (10), CPUB_BENCH_CLI_PORT (15595).
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
DEPLOYS=${BENCH_CLI_DEPLOYS:-10}
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
	stack_stop
	rm -rf "$work"
}
trap cleanup EXIT

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

make -s -C "$ROOT/cli" >/dev/null
stack_start 4

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
hello_c "$work/src/c"
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

# --- cpub deploy of the hello C function ------------------------------------------------

# ms A B: B - A (seconds, as $EPOCHREALTIME gives them) in ms.
ms()
{
	awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f\n", (b - a) * 1000 }'
}

# deploy_cpub [ARGS]: cpub deploy --json of the folder; its wall time goes
# to $work/deploy, its upload and build seconds (in ms) to $work/upload
# and $work/build.
deploy_cpub()
{
	local t0 t1
	t0=$EPOCHREALTIME
	(cd "$work/hello-deploy" && "$CPUB" deploy --json "$@" </dev/null >"$work/deploy.json" 2>"$work/deploy.err") ||
		die "cpub deploy $*: $(tail -n 3 "$work/deploy.err")"
	t1=$EPOCHREALTIME
	jq -e '.version.status == "ready" and .uploaded' "$work/deploy.json" >/dev/null ||
		die "cpub deploy $*: not uploaded and ready: $(head -c 500 "$work/deploy.json")"
	ms "$t0" "$t1" >>"$work/deploy"
	jq -r '.upload_seconds * 1000 * 1000 | round / 1000' "$work/deploy.json" >>"$work/upload"
	jq -r '.build_seconds * 1000 * 1000 | round / 1000' "$work/deploy.json" >>"$work/build"
}

# deploy_curl: the anchor, the same folder through the API with curl: a
# tar.gz, the POST, then the build log every 20 ms until the version is
# ready; its wall time to $work/deploy-curl.
deploy_curl()
{
	local t0 t1 v st i
	t0=$EPOCHREALTIME
	tar -C "$work/hello-deploy" --exclude cpub.json -czf "$work/hello-deploy.tar.gz" .
	v=$(curl -sf -H "Authorization: Bearer $token" -H 'Content-Type: application/gzip' \
		--data-binary "@$work/hello-deploy.tar.gz" \
		"http://127.0.0.1:$HTTP_PORT/api/functions/hello-deploy/deploy" | jq -r .version) ||
		die "curl deploy failed"
	for ((i = 0; i < 3000; i++)); do
		st=$(curl -sf -H "Authorization: Bearer $token" \
			"http://127.0.0.1:$HTTP_PORT/api/functions/hello-deploy/versions/$v/build-log" |
			jq -r .status)
		[ "$st" = ready ] || [ "$st" = failed ] && break
		sleep 0.02
	done
	[ "$st" = ready ] || die "curl deploy: version $v is ${st:-unknown}"
	t1=$EPOCHREALTIME
	ms "$t0" "$t1" >>"$work/deploy-curl"
}

# max FILE: the largest number in FILE.
max()
{
	sort -n "$1" | tail -n 1
}

(cd "$work" && "$CPUB" init --runtime c hello-deploy >/dev/null) || die "cpub init failed"
: >"$work/deploy" && : >"$work/upload" && : >"$work/build" && : >"$work/deploy-curl"
deploy_cpub
first_ms=$(cat "$work/deploy")
: >"$work/deploy" && : >"$work/upload" && : >"$work/build"
for ((i = 0; i < DEPLOYS; i++)); do
	deploy_cpub --force
	deploy_curl
done
# The worker's side of cpub's versions (the even ones: 1 was the first,
# the odd ones from 3 curl's).
psql_run -F ' ' -c "
	SELECT round(extract(epoch FROM v.build_started_at - v.created_at) * 1000, 3),
		   round(extract(epoch FROM v.build_finished_at - v.build_started_at) * 1000, 3)
	  FROM cpub.function_versions v JOIN cpub.functions f ON f.id = v.function_id
	 WHERE f.name = 'hello-deploy' AND v.version >= 2 AND v.version % 2 = 0" >"$work/worker-side"
awk '{ print $1 }' "$work/worker-side" >"$work/queued"
awk '{ print $2 }' "$work/worker-side" >"$work/built"

echo "(i) the command line: cli/cpub against the stack (bench/cli.sh), $RUNS runs each, interleaved"
printf '  %-60s %s\n' "cpub invoke hello-c, warm, whole process:" \
	"$(figures "$work/cpub")   anchor: curl below; cpub - curl at p50: $over"
printf '  %-60s %s\n' "curl of the same URL, same bearer token, whole process:" "$(figures "$work/curl")"
printf '  %-60s %s\n' "curl of the same URL, no token (public function):" "$(figures "$work/curl-anon")"
printf '  %-60s %s\n' "cpub version (the process alone, no request):" \
	"$(figures "$work/version")   curl --version: $(figures "$work/curl-version")"
printf '  %-60s %s\n' "cpub deploy --force of hello C ($DEPLOYS runs), whole process:" \
	"p50 $(pct 50 "$work/deploy") ms, max $(max "$work/deploy") ms   anchor: curl deploy below; cpub - curl at p50: $(awk -v a="$(pct 50 "$work/deploy")" -v b="$(pct 50 "$work/deploy-curl")" 'BEGIN { printf "%+.0f ms", a - b }')"
printf '  %-60s %s\n' "  its upload (upload_seconds: the POST of the archive):" \
	"p50 $(pct 50 "$work/upload") ms, max $(max "$work/upload") ms"
printf '  %-60s %s\n' "  its build as cpub followed it (build_seconds):" \
	"p50 $(pct 50 "$work/build") ms, max $(max "$work/build") ms"
printf '  %-60s %s\n' "  the worker: queued (created -> build started):" \
	"p50 $(pct 50 "$work/queued") ms, max $(max "$work/queued") ms"
printf '  %-60s %s\n' "  the worker: build alone (build started -> finished):" \
	"p50 $(pct 50 "$work/built") ms, max $(max "$work/built") ms"
printf '  %-60s %s\n' "curl deploy of the same folder, polled every 20 ms:" \
	"p50 $(pct 50 "$work/deploy-curl") ms, max $(max "$work/deploy-curl") ms"
printf '  %-60s %s\n' "the first cpub deploy (the function created), whole process:" "$(printf '%.0f' "$first_ms") ms"
