# tests/e2e/lib/worker.sh: what the worker's end-to-end tests
# (tests/e2e/worker_*.t) add to lib/http.sh: the real cpub-worker started
# with a configuration of its own, functions deployed through the HTTP API
# from folders, and their containers and images, cleaned up at exit.
# Sourced after lib/http.sh, never run.
#
#   worker_start NAME [K=V..]  cpub-worker NAME (state in $WORK/NAME.state),
#                              waits for "worker ready"; worker_stop NAME
#                              [SECONDS] (SIGTERM, returns its exit status),
#                              worker_kill NAME (SIGKILL), worker_log NAME,
#                              worker_id NAME
#   containers [FUNCTION_ID]   names of this database's live containers
#   fn_create NAME RUNTIME [JSON]  POST /api/functions (extra JSON fields)
#   deploy NAME DIR [QUERY]    tar.gz of DIR deployed; prints the version
#   wait_built NAME VERSION    waits (up to 180 s) until the version is
#                              ready or failed; prints its status
#   call METHOD NAME [PATH] [CURL..]  a request to /fn/$OWNER/NAME/PATH;
#                              sets STATUS and BODY like req
#
# Needs root Podman with CONTAINERS_CONF (tests/run.sh exports it) and the
# base images (make images).  $OWNER is the handle of the account whose
# TOKEN deploys.

# shellcheck shell=bash
WORKER=$ROOT/worker/cpub-worker
declare -A WORKER_PID=()
OWNER=

[ -x "$WORKER" ] || bail_out "$WORKER is missing (make builds it)"
[ -n "${CONTAINERS_CONF:-}" ] || CONTAINERS_CONF=$("$ROOT/scripts/podman.sh")
export CONTAINERS_CONF

# shellcheck disable=SC2317  # called through the cleanup hooks
worker_cleanup()
{
	local name inst
	for name in "${!WORKER_PID[@]}"; do
		kill -KILL "${WORKER_PID[$name]}" 2>/dev/null
		wait "${WORKER_PID[$name]}" 2>/dev/null
	done
	[ -n "$DB" ] || return 0
	inst=$(q "SELECT cpub_worker.installation_id()" 2>/dev/null) || return 0
	[ -n "$inst" ] || return 0
	podman ps -aq --filter "label=cpub.installation=$inst" |
		xargs -r podman rm -f -t 0 >/dev/null 2>&1
	podman images -q --filter "label=cpub.installation=$inst" |
		xargs -r podman rmi -f >/dev/null 2>&1
}
CLEANUP_HOOKS+=(worker_cleanup)

# worker_start NAME [KEY=VALUE ...]
worker_start()
{
	local name=$1 conf=$WORK/$1.worker.conf kv pid
	shift
	{
		echo "database = 'host=$PGHOST port=$PGPORT dbname=$DB user=cpub_worker'"
		echo "state_dir = '$WORK/$name.state'"
		echo "run_slots = 4"
		echo "heartbeat = 1"
		echo "log_format = text"
		for kv in "$@"; do
			echo "${kv%%=*} = '${kv#*=}'"
		done
	} >"$conf"
	"$WORKER" --config "$conf" >>"$WORK/$name.worker.log" 2>&1 &
	pid=$!
	for _ in $(seq 300); do
		kill -0 "$pid" 2>/dev/null || break
		if grep -q "worker ready" "$WORK/$name.worker.log"; then
			WORKER_PID[$name]=$pid
			return 0
		fi
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	diag "worker $name did not come up within 30 s; its log:"
	diag "$(tail -n 20 "$WORK/$name.worker.log")"
	return 1
}

# worker_stop NAME [SECONDS]: SIGTERM, up to SECONDS (60) to exit, then
# SIGKILL; returns its exit status.
worker_stop()
{
	local name=$1 wait=${2:-60} pid=${WORKER_PID[$1]:-} rc
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null
	for _ in $(seq $((wait * 10))); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	rc=$?
	unset "WORKER_PID[$name]"
	return $rc
}

worker_kill()
{
	local pid=${WORKER_PID[$1]:-}
	[ -n "$pid" ] || return 0
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	unset "WORKER_PID[$1]"
	return 0
}

worker_log()
{
	cat "$WORK/$1.worker.log"
}

# worker_id NAME: the id it registered with (the last one).
worker_id()
{
	sed -n 's/.*registered as worker \([0-9a-f-]*\).*/\1/p' "$WORK/$1.worker.log" | tail -n 1
}

# containers [FUNCTION_ID]: this database's containers, one name a line.
containers()
{
	local inst filter=()
	inst=$(q "SELECT cpub_worker.installation_id()")
	[ -n "${1:-}" ] && filter=(--filter "label=cpub.function=$1")
	podman ps -a --format '{{.Names}}' --filter "label=cpub.installation=$inst" "${filter[@]}"
}

# fn_create NAME RUNTIME [EXTRA_JSON_FIELDS]: a function of the token's
# owner; fails the test run when refused.
fn_create()
{
	local extra=${3:+,$3}
	req POST /api/functions -d "{\"name\":\"$1\",\"runtime\":\"$2\"$extra}"
	[ "$STATUS" = 201 ] || { diag "create $1: $STATUS $BODY"; return 1; }
	jqr .id
}

# deploy NAME DIR [QUERY]: packs DIR's content (tar.gz) and deploys it;
# prints the new version number.
deploy()
{
	local name=$1 dir=$2 query=${3:+?$3}
	tar -C "$dir" -czf "$WORK/$name.tar.gz" . || return 1
	req POST "/api/functions/$name/deploy$query" -H 'Content-Type: application/gzip' \
		--data-binary "@$WORK/$name.tar.gz"
	[ "$STATUS" = 202 ] || { diag "deploy $name: $STATUS $BODY"; return 1; }
	jqr .version
}

# wait_built NAME VERSION: waits until the version is ready or failed;
# prints the status (or "timeout").
wait_built()
{
	local st
	for _ in $(seq 900); do
		req GET "/api/functions/$1/versions"
		st=$(jqr ".[] | select(.version == $2) | .status")
		case $st in
		ready | failed)
			echo "$st"
			return 0
			;;
		esac
		sleep 0.2
	done
	echo timeout
	return 1
}

# call METHOD NAME [PATH] [CURL ARGS...]: invokes the function over HTTP.
call()
{
	local method=$1 name=$2 path=${3:-}
	shift 2
	[ $# -gt 0 ] && shift
	rm -f "$WORK/body" "$WORK/headers"
	STATUS=$(curl -sS -X "$method" -o "$WORK/body" -D "$WORK/headers" \
		-w '%{http_code}' --max-time 120 "$@" "$URL/fn/$OWNER/$name$path" 2>"$WORK/curl.err")
	BODY=$(cat "$WORK/body" 2>/dev/null)
}
