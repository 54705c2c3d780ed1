# tests/e2e/lib/http.sh: what the HTTP end-to-end tests (tests/e2e/http_*.t)
# share: TAP output, a database of their own in the test cluster, the real
# cpub-httpd started on a free port with a configuration file, requests with
# curl over real sockets, assertions on the status, the headers and the
# JSON body (jq), and the worker's side played with psql.  Sourced, never
# run.
#
#   tap_ok STATUS DESC          one assertion (STATUS 0 passes; returns it
#                               passed or not); diag TEXT
#   done_testing                the plan, after the last assertion
#   db_create NAME              a fresh database NAME with the extension ($DB)
#   q SQL                       one statement as the superuser, unaligned
#   server_start NAME [K=V..]   cpub-httpd NAME with these settings, waits
#                               for /ready; sets $URL.  server_stop NAME,
#                               stop_cleanly NAME (an assertion),
#                               server_log NAME, $WORK/NAME.access
#   req METHOD PATH [CURL..]    a request to $URL as $TOKEN (empty: none);
#                               sets STATUS and BODY; header NAME, jqr FILTER
#   req_bg NAME ..., req_wait NAME
#                               the same in the background, for calls that
#                               wait
#   expect STATUS FILTER DESC   the last response had STATUS and the jq
#                               FILTER is true of its body ('' = no body)
#   expect_error STATUS CODE DESC
#                               the error body with that SQLSTATE, its
#                               request id the X-Request-Id header
#   register_login EMAIL        an account; prints its access token
#   make_ready FUNCTION_ID      builds its queued versions (the worker's side)
#   last_seq, wait_execution FUNCTION_ID SEQ, finish EXECUTION_ID [ARGS]
#                               find and answer an execution (the worker's
#                               side)
#
# Needs PGHOST/PGPORT/PGUSER of a cluster with the extension installed (as
# tests/run.sh exports them), the built httpd/cpub-httpd, curl, jq and
# openssl.  HTTP ports are taken from 18600-18699.  CPUB_E2E_KEEP=1 keeps
# the work folder (configurations, server logs, access logs).

# shellcheck shell=bash
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd -P)
HTTPD=$ROOT/httpd/cpub-httpd
export PGOPTIONS="-c client_min_messages=warning"

WORK=$(mktemp -d /tmp/cpub-e2e-http.XXXXXX) || exit 1
DB=
URL=
TOKEN=
STATUS=
BODY=
declare -A SERVER_PID=() SERVER_PORT=() BG_PID=()
CLEANUP_HOOKS=()

# shellcheck source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/tap.sh"

for tool in curl jq openssl; do
	command -v "$tool" >/dev/null || bail_out "$tool is missing (make deps)"
done
[ -x "$HTTPD" ] || bail_out "$HTTPD is missing (make builds it)"

# --- cleanup --------------------------------------------------------------------

# shellcheck disable=SC2317  # called through trap
http_cleanup()
{
	local name hook
	for name in "${!BG_PID[@]}"; do
		kill "${BG_PID[$name]}" 2>/dev/null
	done
	for name in "${!SERVER_PID[@]}"; do
		server_stop "$name"
	done
	for hook in "${CLEANUP_HOOKS[@]}"; do
		eval "$hook"
	done
	if [ -n "$DB" ]; then
		psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $DB" >/dev/null 2>&1
	fi
	if [ -n "${CPUB_E2E_KEEP:-}" ]; then
		echo "# kept $WORK" >&2
	else
		rm -rf "$WORK"
	fi
}
trap http_cleanup EXIT

# --- the database -----------------------------------------------------------------

db_create()
{
	DB=$1
	psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB" >/dev/null &&
		psql -X -q -d "$DB" -c "CREATE EXTENSION containerpub" >/dev/null
}

q()
{
	psql -X -q -At -v ON_ERROR_STOP=1 -d "$DB" -c "$1"
}

# --- the server --------------------------------------------------------------------

# server_start NAME [KEY=VALUE ...]: writes $WORK/NAME.conf (port, database,
# access_log $WORK/NAME.access, then the given settings, which win), starts
# cpub-httpd with it (standard output and error in $WORK/NAME.log) and waits
# until /ready answers 200 (with tls_cert: over https, trusting it).
# Tries other ports while the chosen one is taken.  Sets URL.  Returns 1
# when the server does not come up.
server_start()
{
	local name=$1 conf=$WORK/$1.conf port pid kv
	local scheme=http curl_tls=()
	shift
	for _ in 1 2 3 4 5 6 7 8; do
		port=$((18600 + RANDOM % 100))
		# Taken already (another server answers): try another.
		if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			continue
		fi
		{
			echo "port = $port"
			echo "database = 'host=$PGHOST port=$PGPORT dbname=$DB user=cpub_httpd'"
			echo "access_log = '$WORK/$name.access'"
			echo "threads = 4"
			echo "pool_size = 4"
			for kv in "$@"; do
				case "$kv" in
				tls_cert=*)
					scheme=https
					curl_tls=(--cacert "${kv#tls_cert=}")
					echo "${kv%%=*} = '${kv#*=}'"
					;;
				*) echo "${kv%%=*} = '${kv#*=}'" ;;
				esac
			done
		} >"$conf"
		"$HTTPD" --config "$conf" >>"$WORK/$name.log" 2>&1 &
		pid=$!
		# Up to 10 s for the first answer.
		for _ in $(seq 100); do
			if ! kill -0 "$pid" 2>/dev/null; then
				break
			fi
			# Our server listens (its log says so), and answers.
			if grep -q "listening on 127.0.0.1 port $port " "$WORK/$name.log" &&
				[ "$(curl -s -o /dev/null -w '%{http_code}' "${curl_tls[@]}" \
					"$scheme://127.0.0.1:$port/ready")" = 200 ]; then
				SERVER_PID[$name]=$pid
				# shellcheck disable=SC2034  # read by the .t files
				SERVER_PORT[$name]=$port
				URL=$scheme://127.0.0.1:$port
				return 0
			fi
			sleep 0.1
		done
		if kill -0 "$pid" 2>/dev/null; then
			kill "$pid"
			wait "$pid" 2>/dev/null
			break
		fi
		wait "$pid" 2>/dev/null
		grep -q 'could not listen' "$WORK/$name.log" || break
	done
	diag "server $name did not come up; its log:"
	diag "$(tail -n 20 "$WORK/$name.log")"
	return 1
}

# server_stop NAME: SIGTERM, up to 5 s to exit, then SIGKILL.  Returns the
# server's exit status (0 when it stopped cleanly; 128 + N when a signal N
# ended it, such as a crash before the SIGTERM).
server_stop()
{
	local name=$1 pid=${SERVER_PID[$1]:-} rc
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null
	for _ in $(seq 50); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	rc=$?
	unset "SERVER_PID[$name]"
	return $rc
}

# stop_cleanly NAME: an assertion that the server ran to the end without
# crashing and stops cleanly on SIGTERM.
stop_cleanly()
{
	server_stop "$1"
	local rc=$?
	tap_ok $rc "server $1 stops cleanly on SIGTERM (exit status $rc)"
	[ $rc -eq 0 ] || diag "$(tail -n 20 "$WORK/$1.log")"
}

# server_log NAME: the server's standard output and error so far.
server_log()
{
	cat "$WORK/$1.log"
}

# --- requests ----------------------------------------------------------------------

# req METHOD PATH [CURL ARGS...]: one request to $URL$PATH, with
# "Authorization: Bearer $TOKEN" unless TOKEN is empty.  A JSON body is
# given as curl arguments (-d '{...}' sends it as application/json).
# Sets STATUS and BODY; the headers stay in $WORK/headers, the raw body in
# $WORK/body.
req()
{
	local method=$1 path=$2 auth=()
	shift 2
	[ -n "$TOKEN" ] && auth=(-H "Authorization: Bearer $TOKEN")
	rm -f "$WORK/body" "$WORK/headers"
	STATUS=$(curl -sS -X "$method" -o "$WORK/body" -D "$WORK/headers" \
		-w '%{http_code}' -H 'Content-Type: application/json' \
		"${auth[@]}" "$@" "$URL$path" 2>"$WORK/curl.err")
	BODY=$(cat "$WORK/body" 2>/dev/null)
}

# req_bg NAME METHOD PATH [CURL ARGS...]: req in the background (for calls
# that wait); req_wait NAME waits for it and sets STATUS, BODY and the
# headers as req does.
req_bg()
{
	local name=$1 method=$2 path=$3 auth=()
	shift 3
	[ -n "$TOKEN" ] && auth=(-H "Authorization: Bearer $TOKEN")
	curl -sS -X "$method" -o "$WORK/$name.body" -D "$WORK/$name.headers" \
		-w '%{http_code}' "${auth[@]}" "$@" "$URL$path" \
		>"$WORK/$name.status" 2>"$WORK/$name.err" &
	BG_PID[$name]=$!
}

req_wait()
{
	local name=$1
	wait "${BG_PID[$name]}"
	unset "BG_PID[$name]"
	STATUS=$(cat "$WORK/$name.status")
	BODY=$(cat "$WORK/$name.body" 2>/dev/null)
	cp "$WORK/$name.headers" "$WORK/headers" 2>/dev/null || : >"$WORK/headers"
	cp "$WORK/$name.err" "$WORK/curl.err"
}

# now_ms: the time in milliseconds.
now_ms()
{
	date +%s%3N
}

# header NAME: the value of a header of the last response (the last one
# if repeated), without the line end.
header()
{
	local name
	name=$(printf '%s' "$1" | tr '[:upper:]' '[:lower:]')
	tr -d '\r' <"$WORK/headers" |
		awk -v n="$name" 'index(tolower($0), n ":") == 1 {
			sub(/^[^:]*:[ \t]*/, ""); v = $0 } END { print v }'
}

# jqr FILTER: the raw value of FILTER on the last body.
jqr()
{
	jq -r "$1" <<<"$BODY" 2>/dev/null
}

# expect STATUS FILTER DESC: passes when the last status is STATUS and the
# jq FILTER holds of the body (with FILTER '': the body is empty).
expect()
{
	local want=$1 filter=$2 desc=$3 rc=0
	if [ "$STATUS" != "$want" ]; then
		rc=1
	elif [ -z "$filter" ]; then
		[ -z "$BODY" ] || rc=1
	else
		jq -e "$filter" <<<"$BODY" >/dev/null 2>&1 || rc=1
	fi
	tap_ok $rc "$desc"
	if [ $rc -ne 0 ]; then
		diag "want $want and ${filter:-no body}; got $STATUS $BODY"
		[ -s "$WORK/curl.err" ] && diag "curl: $(cat "$WORK/curl.err")"
	fi
	return $rc
}

# expect_error STATUS CODE DESC: the error format of docs/errors.md with
# that SQLSTATE, a message, and the request id of the X-Request-Id header.
expect_error()
{
	local rid
	rid=$(header X-Request-Id)
	expect "$1" ".error.code == \"$2\" and (.error.message | length > 0)
		and .error.request_id == \"$rid\" and (.error | has(\"detail\") and has(\"hint\"))" "$3"
}

# register_login EMAIL [PASSWORD]: registers EMAIL through the API, logs in
# and prints the access token (nothing on failure).
register_login()
{
	local email=$1 password=${2:-correct horse battery}
	TOKEN='' req POST /api/auth/register -d "{\"email\":\"$email\",\"password\":\"$password\"}"
	[ "$STATUS" = 201 ] || return 1
	TOKEN='' req POST /api/auth/login -d "{\"email\":\"$email\",\"password\":\"$password\"}"
	[ "$STATUS" = 200 ] || return 1
	jqr .access_token
}

# --- the worker's side, by hand -------------------------------------------------------

# make_ready FUNCTION_ID: builds the function's queued versions (as the
# worker would), so its newest one is ready and active.
make_ready()
{
	q "SELECT count(*) FROM cpub.function_versions v, cpub_worker.build_start(v.id) b
		WHERE v.function_id = '$1' AND v.status = 'queued'" >/dev/null &&
		q "SELECT count(cpub_worker.build_finish(v.id, true, 'built v' || v.version,
											   'localhost/cpub/test:' || v.version))
			 FROM (SELECT * FROM cpub.function_versions
					WHERE function_id = '$1' AND status = 'building'
					ORDER BY version) v" >/dev/null
}

# last_seq: the newest execution's seq (0 if none).
last_seq()
{
	q "SELECT coalesce(max(seq), 0) FROM cpub.executions"
}

# wait_execution FUNCTION_ID AFTER_SEQ: prints the id of the first
# execution of the function after seq AFTER_SEQ, waiting up to 5 s for it.
wait_execution()
{
	local id
	for _ in $(seq 100); do
		id=$(q "SELECT id FROM cpub.executions WHERE function_id = '$1'
				   AND seq > $2 ORDER BY seq LIMIT 1")
		if [ -n "$id" ]; then
			echo "$id"
			return 0
		fi
		sleep 0.05
	done
	return 1
}

# finish EXECUTION_ID [ARGS]: runs it as the worker would: started, then
# finished with the named arguments ARGS of cpub_worker.execution_finish
# (default: a 200 with body "ok").
finish()
{
	local args=${2:-"response_status => 200, response_body => convert_to('ok', 'UTF8')"}
	q "SELECT count(*) FROM cpub_worker.execution_start('$1', NULL)" >/dev/null &&
		q "SELECT cpub_worker.execution_finish(execution_id => '$1', worker_id => NULL, $args)" >/dev/null
}
