#!/usr/bin/env bash
# tests/e2e/http_server.t: cpub-httpd as a server, with curl and raw
# sockets: /health, /ready, /metrics (and its token), request ids in
# responses and in the access log, a 500 that shows only a request id,
# HTTPS, a slow client dropped, a header too large, PostgreSQL restarting
# under a running server (on a second throwaway cluster of its own: the
# test cluster is shared by every suite), bad configurations, --help, and
# the OpenAPI document (served, and equal to docs/openapi.json).
#
# Needs PGHOST/PGPORT/PGUSER of a cluster with the extension installed
# (tests/run.sh exports them).  Prints TAP.
set -uo pipefail

# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib/http.sh"

db_create cpub_e2e_http_server
tap_ok $? "a fresh database with the extension" || bail_out "could not create $DB"
server_start main || bail_out "cpub-httpd did not start"
MAIN=$URL

# --- health, readiness, request ids, the access log -------------------------------------

req GET /health
expect 200 '. == {"status": "up"}' "/health: 200 up"
req GET /ready
expect 200 '. == {"status": "ready"}' "/ready: 200 ready"

# Every response carries a request id: success, errors of each kind.
ids_ok=0
for probe in "GET /health" "GET /ready" "GET /api/runtimes" "GET /nowhere" \
	"DELETE /health" "GET /api/auth/me" "POST /api/auth/login"; do
	# shellcheck disable=SC2086
	TOKEN='' req $probe -d '{"email":"x@example.com"}'
	[[ "$(header X-Request-Id)" =~ ^[0-9a-f]{16}$ ]] || {
		ids_ok=1
		diag "$probe: $STATUS without a request id"
	}
done
tap_ok $ids_ok "an X-Request-Id on every response (200, 404, 405, 401, 400)"

TOKEN='' req GET /api/auth/me -H 'X-Request-Id: trace-me-42'
[ "$(header X-Request-Id)" = trace-me-42 ]
tap_ok $? "a client's plain X-Request-Id is kept (got: $(header X-Request-Id))"
expect_error 401 28000 "and is the request_id of the error body"
TOKEN='' req GET /health -H 'X-Request-Id: no spaces allowed'
[[ "$(header X-Request-Id)" =~ ^[0-9a-f]{16}$ ]]
tap_ok $? "one that is not plain is replaced (got: $(header X-Request-Id))"

TOKEN='' req GET '/api/functions/some%20thing'
RID=$(header X-Request-Id)
line=
for _ in $(seq 50); do
	line=$(grep -F "\"request_id\":\"$RID\"" "$WORK/main.access")
	[ -n "$line" ] && break
	sleep 0.05
done
jq -e '.method == "GET" and .path == "/api/functions/some%20thing" and .status == 401
	and .route == "GET /api/functions/{function}" and .error == "28000"
	and (.duration_ms | type == "number") and .remote == "127.0.0.1"
	and (.time | test("^[0-9-]{10}T"))' <<<"$line" >/dev/null
tap_ok $? "the access log has a JSON line with the same request id, route, status and error"
[ -n "$line" ] || diag "no line for $RID in: $(tail -n 3 "$WORK/main.access")"

# --- metrics ------------------------------------------------------------------------------

metric()
{
	grep -F "$1" "$WORK/metrics" | awk '{ print $NF }' | head -n 1
}
curl -s -o "$WORK/metrics" "$MAIN/metrics"
before=$(metric 'cpub_http_requests_total{route="GET /health",status="200"}')
for _ in 1 2 3; do curl -s -o /dev/null "$MAIN/health"; done
curl -s -o /dev/null "$MAIN/nowhere"
curl -s -D "$WORK/headers" -o "$WORK/metrics" "$MAIN/metrics"
after=$(metric 'cpub_http_requests_total{route="GET /health",status="200"}')
[ "$((after - before))" = 3 ]
tap_ok $? "cpub_http_requests_total counts by route and status (GET /health 200: $before, then $after)"
[ "$(metric 'cpub_http_requests_total{route="unmatched",status="404"}')" -ge 1 ]
tap_ok $? "unmatched routes are counted apart"
[[ "$(header Content-Type)" == text/plain* ]] &&
	grep -q '^# TYPE cpub_http_request_duration_seconds histogram$' "$WORK/metrics" &&
	[ "$(metric 'cpub_http_request_duration_seconds_bucket{route="GET /health",le="+Inf"}')" = "$after" ] &&
	[ "$(metric 'cpub_http_request_duration_seconds_count{route="GET /health"}')" = "$after" ]
tap_ok $? "the latency histogram per route, its +Inf bucket and count equal to the requests"
[ "$(metric 'cpub_db_pool_connections{state="size"}')" = 4 ] &&
	[ "$(metric 'cpub_db_pool_connections{state="open"}')" -ge 1 ] &&
	grep -q '^cpub_db_pool_waiting 0$' "$WORK/metrics" &&
	grep -q '^cpub_database_up 1$' "$WORK/metrics"
tap_ok $? "the pool gauges (size 4 as configured) and cpub_database_up"

# One queued execution, seen by cpub_executions.
ADA=$(register_login ada@example.com)
TOKEN=$ADA req GET /api/auth/me
OWNER=$(jqr .user_id)
mkdir -p "$WORK/fn"
printf 'echo hi\n' >"$WORK/fn/handler.sh"
tar -czf "$WORK/fn.tar.gz" -C "$WORK/fn" .
TOKEN=$ADA req POST /api/functions -d '{"name":"pub","runtime":"shell","visibility":"public","timeout_seconds":20}'
PUB=$(jqr .id)
TOKEN=$ADA req POST /api/functions/pub/deploy --data-binary "@$WORK/fn.tar.gz"
make_ready "$PUB"
TOKEN='' req POST "/fn/$OWNER/pub?async=1"
expect 202 '.status == "queued"' "an asynchronous call, left queued"
curl -s -o "$WORK/metrics" "$MAIN/metrics"
[ "$(metric 'cpub_executions{status="queued"}')" = 1 ] &&
	[ "$(metric 'cpub_executions{status="running"}')" = 0 ] &&
	[ -n "$(metric 'cpub_executions{status="succeeded"}')" ] &&
	[ -n "$(metric 'cpub_executions{status="failed"}')" ]
tap_ok $? "cpub_executions: 1 queued, and the other statuses (got: $(grep '^cpub_executions' "$WORK/metrics" | tr '\n' ' '))"

server_start tok metrics_token=s3cret-scrape || bail_out "cpub-httpd (metrics_token) did not start"
TOKEN='' req GET /metrics
expect_error 401 28000 "metrics_token set: /metrics without it is 401"
TOKEN=wrong req GET /metrics
expect_error 401 28000 "with a wrong token: 401"
TOKEN=s3cret-scrape req GET /metrics
[ "$STATUS" = 200 ] && [[ "$BODY" == *"cpub_http_requests_total"* ]]
tap_ok $? "with the token: 200 and the metrics"
stop_cleanly tok
URL=$MAIN

# --- limits: a header too large, a slow client --------------------------------------------------

big=$(head -c 100000 /dev/zero | tr '\0' a)
req GET /health -H "X-Big: $big"
[ "$STATUS" = 431 ]
tap_ok $? "a 100 KB header (max_header_kb 32): 431 (got $STATUS)"
req GET /health
expect 200 '.status == "up"' "and the server goes on"

server_start slow connection_timeout=1 || bail_out "cpub-httpd (connection_timeout) did not start"
start=$(now_ms)
got=$(exec 3<>"/dev/tcp/127.0.0.1/${SERVER_PORT[slow]}" &&
	printf 'POST /api/auth/login HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n{"em' >&3 &&
	timeout 10 cat <&3)
status=$?
elapsed=$(($(now_ms) - start))
[ $status -eq 0 ] && [ -z "$got" ] && [ "$elapsed" -ge 900 ] && [ "$elapsed" -lt 5000 ]
tap_ok $? "connection_timeout=1: a client that stalls half-way is dropped after about 1 s (took $elapsed ms, status $status)"
req GET /health
expect 200 '.status == "up"' "and the server goes on"
stop_cleanly slow
URL=$MAIN

# --- TLS ------------------------------------------------------------------------------------------------

openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 \
	-addext subjectAltName=IP:127.0.0.1 -keyout "$WORK/tls.key" -out "$WORK/tls.crt" 2>/dev/null
server_start tls "tls_cert=$WORK/tls.crt" "tls_key=$WORK/tls.key"
tap_ok $? "a server with tls_cert and tls_key starts"
URL=https://127.0.0.1:${SERVER_PORT[tls]:-}
req GET /ready --cacert "$WORK/tls.crt"
expect 200 '.status == "ready"' "curl --cacert over https: 200"
TOKEN='' req POST /api/auth/register --cacert "$WORK/tls.crt" \
	-d '{"email":"tls@example.com","password":"over the wire"}'
expect 201 '.user_id | length == 36' "a JSON POST over https"
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:${SERVER_PORT[tls]}/ready")
[ "$code" = 000 ]
tap_ok $? "plain http to the https port gets no HTTP answer (got $code)"
curl -s -o /dev/null "https://127.0.0.1:${SERVER_PORT[tls]}/ready"
[ $? -eq 60 ]
tap_ok $? "nor https with an untrusted certificate (curl: 60)"
stop_cleanly tls
URL=$MAIN

# --- a 500 shows only a request id ---------------------------------------------------------------------

# Connections of this database are read-only: a write fails with 25006,
# which has no status of its own.  A server started now has only such
# connections.
psql -X -q -d postgres -c "ALTER DATABASE $DB SET default_transaction_read_only = on" &&
	server_start ro || URL=http://127.0.0.1:0
TOKEN='' req POST /api/auth/register -d '{"email":"ro@example.com","password":"read only please"}'
psql -X -q -d postgres -c "ALTER DATABASE $DB RESET default_transaction_read_only"
RID=$(header X-Request-Id)
expect 500 ".error == {\"code\": \"XX000\", \"message\": \"internal server error\", \"detail\": null,
	\"hint\": .error.hint, \"request_id\": \"$RID\"} and (.error.hint | contains(\"$RID\"))" \
	"an unmapped error: 500 with a generic message and the request id"
[[ "$BODY" != *read-only* ]] && [[ "$BODY" != *25006* ]] && [[ "$BODY" != *INSERT* ]]
tap_ok $? "the body reveals nothing of the error"
server_log ro | grep "$RID" | grep -q 25006
tap_ok $? "the server log has the full error under that request id"
stop_cleanly ro
URL=$MAIN

# --- bad configurations ------------------------------------------------------------------------------------

printf 'port = 18699\nbogus_setting = 1\n' >"$WORK/bad.conf"
out=$("$HTTPD" --config "$WORK/bad.conf" 2>&1)
status=$?
[ $status -eq 2 ] && [[ "$out" == *'bad.conf:2: unknown setting "bogus_setting"'* ]]
tap_ok $? "an unknown setting in the file: exit 2, naming the file, line and setting (got $status: $out)"
printf 'port = 70000\n' >"$WORK/bad.conf"
out=$("$HTTPD" --config "$WORK/bad.conf" 2>&1)
status=$?
[ $status -eq 2 ] && [[ "$out" == *'invalid value "70000" for port (an integer from 1 to 65535)'* ]]
tap_ok $? "an invalid port: exit 2 with the valid range (got $status: $out)"
out=$("$HTTPD" --port=http 2>&1)
status=$?
[ $status -eq 2 ] && [[ "$out" == *'invalid value "http" for port'* ]]
tap_ok $? "an invalid port on the command line: exit 2 (got $status: $out)"
out=$("$HTTPD" --config "$WORK/nonexistent.conf" 2>&1)
status=$?
[ $status -eq 2 ] && [[ "$out" == *'could not open configuration file'* ]]
tap_ok $? "a configuration file that does not exist: exit 2 (got $status: $out)"
out=$("$HTTPD" --tls_cert /x.pem 2>&1)
status=$?
[ $status -eq 2 ] && [[ "$out" == *'tls_cert and tls_key must be set together'* ]]
tap_ok $? "tls_cert without tls_key: exit 2 (got $status: $out)"
out=$("$HTTPD" --help 2>&1)
status=$?
[ $status -eq 0 ] && [[ "$out" == Usage:* ]] && [[ "$out" == *invoke_grace* ]] &&
	[[ "$out" == *metrics_token* ]]
tap_ok $? "--help: exit 0, the usage and every setting"

# --- OpenAPI ----------------------------------------------------------------------------------------------------

req GET /api/openapi.json
expect 200 '.openapi == "3.1.0" and (.paths | length > 0) and .components.schemas.Error.type == "object"' \
	"/api/openapi.json: an OpenAPI 3.1.0 document"
cp "$WORK/body" "$WORK/openapi.json"
# Every route of the route table, METHOD and pattern ("*": any method).
missing=
while read -r method pattern; do
	path=${pattern//.../}
	if [ "$method" = '*' ]; then
		methods="get post put patch delete"
	else
		methods=$(printf '%s' "$method" | tr '[:upper:]' '[:lower:]')
	fi
	for m in $methods; do
		jq -e --arg p "$path" --arg m "$m" '.paths[$p][$m].responses' \
			"$WORK/openapi.json" >/dev/null || missing="$missing $m $path;"
	done
done < <(grep -oE '^[[:space:]]*\{"[A-Z*]+", "/[^"]*"' "$ROOT/httpd/src/route.c" |
	sed -E 's/^[[:space:]]*\{"([^"]+)", "([^"]+)"/\1 \2/')
nroutes=$(grep -cE '^[[:space:]]*\{"[A-Z*]+", "/' "$ROOT/httpd/src/route.c")
[ -z "$missing" ] && [ "$nroutes" -gt 50 ]
tap_ok $? "a path and method for each of the $nroutes routes of httpd/src/route.c${missing:+ (missing:$missing)}"
# The file has the document and a final newline.
if cmp -s <(cat "$WORK/openapi.json" && echo) "$ROOT/docs/openapi.json"; then
	tap_ok 0 "docs/openapi.json is the served document, byte for byte"
else
	tap_ok 1 "docs/openapi.json is the served document, byte for byte"
	diag "docs/openapi.json differs from GET /api/openapi.json; regenerate it with:"
	diag "  httpd/cpub-httpd --openapi_out docs/openapi.json --database 'dbname=DB user=cpub_httpd'"
	diag "(against a database with the current extension), then commit it."
fi

# --- PostgreSQL restarts under a running server ------------------------------------------------------------------

# A second cluster of our own, as tests/run.sh makes one (secret key file
# included), so that stopping it disturbs no other suite.
CLUSTER=$ROOT/scripts/cluster.sh
PG2=$(mktemp -d /tmp/cpub-e2e-pg2.XXXXXX)
PORT2=$((PGPORT + 1))
CLEANUP_HOOKS+=("'$CLUSTER' stop '$PG2' >/dev/null 2>&1; rm -rf '$PG2'")
pg2_start()
{
	"$CLUSTER" start "$PG2" "$PORT2" -c fsync=off -c synchronous_commit=off \
		-c cpub.argon2_opslimit=1 -c cpub.argon2_memlimit_kib=64 \
		-c cpub.secret_key_file="$PG2/secret.key" >/dev/null
}
CPUB_INITDB_NOSYNC=1 "$CLUSTER" init "$PG2" "$PORT2" >/dev/null &&
	(umask 077 && od -An -tx1 -N32 -v /dev/urandom | tr -d ' \n' >"$PG2/secret.key") &&
	{ [ "$(id -u)" -ne 0 ] || chown postgres: "$PG2/secret.key"; } &&
	pg2_start
tap_ok $? "a second throwaway cluster" || bail_out "could not make a second cluster"
SOCK2=$(cat "$PG2/socketdir")
CLEANUP_HOOKS+=("[ '$SOCK2' = '$PG2' ] || rm -rf '$SOCK2'")
q2()
{
	PGHOST=$SOCK2 PGPORT=$PORT2 DB=cpub_e2e_restart q "$1"
}
psql -X -q -h "$SOCK2" -p "$PORT2" -d postgres -c "CREATE DATABASE cpub_e2e_restart" >/dev/null &&
	psql -X -q -h "$SOCK2" -p "$PORT2" -d cpub_e2e_restart -c "CREATE EXTENSION containerpub" >/dev/null &&
	server_start pg2 invoke_grace=1 threads=16 pool_size=8 \
		"database=host=$SOCK2 port=$PORT2 dbname=cpub_e2e_restart user=cpub_httpd"
tap_ok $? "a server on it" || bail_out "cpub-httpd did not start on the second cluster"
GRACE=$(register_login grace@example.com)
TOKEN=$GRACE req GET /api/auth/me
expect 200 '.email == "grace@example.com"' "a request there: 200"
OWNER2=$(jqr .user_id)
TOKEN=$GRACE req POST /api/functions -d '{"name":"pub","runtime":"shell","visibility":"public","timeout_seconds":20}'
PUB2=$(jqr .id)
TOKEN=$GRACE req POST /api/functions/pub/deploy --data-binary "@$WORK/fn.tar.gz"
PGHOST=$SOCK2 PGPORT=$PORT2 DB=cpub_e2e_restart make_ready "$PUB2"

# The pooled connections open, so that some are still stale when
# PostgreSQL is back (each request while it is down drops one): requests
# held at once by a lock on the access tokens, twice as many as the pool
# (each of the 16 threads serves the connections the kernel hands it).
for _ in 1 2 3; do
	q2 "BEGIN; LOCK TABLE cpub.access_tokens; SELECT pg_sleep(1); COMMIT" >/dev/null &
	locker=$!
	sleep 0.3
	pids=()
	for _ in $(seq 16); do
		curl -s -o /dev/null -H "Authorization: Bearer $GRACE" "$URL/api/auth/me" &
		pids+=($!)
	done
	wait "${pids[@]}" "$locker"
	curl -s -o "$WORK/metrics" "$URL/metrics"
	open=$(metric 'cpub_db_pool_connections{state="open"}')
	[ "$open" = 8 ] && break
done
[ "$open" -ge 6 ]
tap_ok $? "requests held at once open most of the pool ($open of 8)"

# A synchronous call that waits across the restart.
seq=$(PGHOST=$SOCK2 PGPORT=$PORT2 DB=cpub_e2e_restart last_seq)
TOKEN='' req_bg across GET "/fn/$OWNER2/pub/across"
EID=$(PGHOST=$SOCK2 PGPORT=$PORT2 DB=cpub_e2e_restart wait_execution "$PUB2" "$seq")
[ -n "$EID" ]
tap_ok $? "a synchronous call waits for its execution"

"$CLUSTER" stop "$PG2" >/dev/null
TOKEN=$GRACE req GET /api/auth/me
expect_error 503 08006 "PostgreSQL stopped: a request gets 503 08006"
[ "$(header Retry-After)" = 1 ]
tap_ok $? "with Retry-After (got: $(header Retry-After))"
TOKEN=$GRACE req GET /api/functions
expect_error 503 08006 "and so does the next"
req GET /ready
expect_error 503 08006 "/ready: 503"
req GET /health
expect 200 '.status == "up"' "/health: still 200, the process is up"

pg2_start
tap_ok $? "PostgreSQL starts again"
# The dispatcher reconnects and wakes the waiting call, which looks at its
# execution again (on a pooled connection) and, still queued, waits on.
for _ in $(seq 50); do
	[ "$(grep -c 'listening for finished executions' "$WORK/pg2.log")" -ge 2 ] && break
	sleep 0.1
done
sleep 0.3
kill -0 "${BG_PID[across]}" 2>/dev/null
tap_ok $? "the call waiting across the restart is still waiting once the dispatcher is back"
refused=0
for _ in $(seq 50); do
	TOKEN=$GRACE req GET /api/auth/me
	[ "$STATUS" = 200 ] && break
	refused=$((refused + 1))
	sleep 0.1
done
expect 200 '.email == "grace@example.com"' \
	"requests succeed again without restarting the server ($refused refused first)"
for _ in $(seq 50); do
	req GET /ready
	[ "$STATUS" = 200 ] && break
	sleep 0.1
done
expect 200 '.status == "ready"' "/ready: 200 again, the dispatcher listening again"

q2 "SELECT count(*) FROM cpub_worker.execution_start('$EID', NULL)" >/dev/null &&
	q2 "SELECT cpub_worker.execution_finish('$EID', NULL, 200, NULL,
		  convert_to('after the restart', 'UTF8'))" >/dev/null
req_wait across
[ "$STATUS" = 200 ] && [ "$BODY" = 'after the restart' ]
tap_ok $? "the call that waited across the restart gets its answer (got: $STATUS $BODY)"
stop_cleanly pg2
URL=$MAIN

stop_cleanly main
done_testing
