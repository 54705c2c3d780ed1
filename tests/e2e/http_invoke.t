#!/usr/bin/env bash
# tests/e2e/http_invoke.t: invocations over HTTP, with the real cpub-httpd
# and curl, the worker's side played with psql (cpub_worker.build_* to make
# a version ready, cpub_worker.execution_* to answer a call):
#   - ANY /fn/{owner}/{function}/{path...}: the caller waits and gets the
#     function's status, headers and body; the function gets the method,
#     sub-path, raw query, headers (less the platform's own Authorization
#     and X-Cpub-*) and body;
#   - ?async=1: 202, then GET /api/invocations/{id} until it is done;
#   - who may call: public, private, key-protected (signed requests as
#     docs/invocation-keys.md says, bad and replayed signatures);
#   - the JSON envelope of POST /api/functions/{f}/invoke, sync and async;
#   - no ready version (503), no answer in time (504), a crash (502);
#   - logs?follow=1, which waits for the next execution to finish.
#
# Needs PGHOST/PGPORT/PGUSER of a cluster with the extension installed
# and a server key file (tests/run.sh).  Prints TAP.
set -uo pipefail

# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib/http.sh"

db_create cpub_e2e_http_invoke
tap_ok $? "a fresh database with the extension" || bail_out "could not create $DB"
# Many calls a second are fine here.
q "SELECT count(*) FROM cpub_admin.tier_update(name => 'free', requests_per_second => 1000)" >/dev/null
# A synchronous call waits for the function's timeout plus 1 s.
server_start main invoke_grace=1 || bail_out "cpub-httpd did not start"

ADA=$(register_login ada@example.com)
CAROL=$(register_login carol@example.com)
TOKEN=$ADA req GET /api/auth/me
OWNER=$(jqr .user_id)
[ -n "$ADA" ] && [ -n "$CAROL" ] && [ -n "$OWNER" ]
tap_ok $? "two developers register and log in"

mkdir -p "$WORK/fn"
printf '#!/bin/sh\necho hi\n' >"$WORK/fn/handler.sh"
tar -czf "$WORK/fn.tar.gz" -C "$WORK/fn" .

# new_function NAME VISIBILITY [TIMEOUT]: creates NAME as Ada and prints
# its id; the caller deploys.
new_function()
{
	TOKEN=$ADA req POST /api/functions \
		-d "{\"name\":\"$1\",\"runtime\":\"shell\",\"visibility\":\"$2\",\"timeout_seconds\":${3:-10}}"
	jqr .id
}
deploy()
{
	TOKEN=$ADA req POST "/api/functions/$1/deploy" -H 'Content-Type: application/gzip' \
		--data-binary "@$WORK/fn.tar.gz"
	[ "$STATUS" = 202 ]
}

ECHO=$(new_function echo private)
PUB=$(new_function pub public)
SIGNED=$(new_function signed key)
SLOW=$(new_function slow private 1)

# --- no ready version ---------------------------------------------------------------

TOKEN=$ADA req POST "/fn/$OWNER/echo" -d 'x'
expect_error 503 55Q04 "call a function with nothing deployed: 503 55Q04"
[ "$(header Retry-After)" = 1 ]
tap_ok $? "with Retry-After (got: $(header Retry-After))"
deploy echo
TOKEN=$ADA req POST /api/functions/echo/invoke -d '{}'
expect_error 503 55Q04 "its version still queued, through the envelope: 503 55Q04"

for f in echo pub signed slow; do
	deploy "$f"
done
for id in "$ECHO" "$PUB" "$SIGNED" "$SLOW"; do
	make_ready "$id"
done
TOKEN=$ADA req GET /api/functions/echo
expect 200 '.status == "active"' "the worker's side built the versions: active"

# --- a synchronous call ---------------------------------------------------------------

seq=$(last_seq)
TOKEN=$ADA req_bg sync PUT "/fn/$OWNER/echo/a/b%20c?x=1&y=two%20words" \
	-H 'X-Custom: one' -H 'X-Cpub-Trace: platform only' -H 'Content-Type: text/plain' \
	--data-binary 'the request body'
EID=$(wait_execution "$ECHO" "$seq")
[ -n "$EID" ]
tap_ok $? "the call is recorded as an execution while the caller waits"
finish "$EID" "response_status => 201,
	response_headers => '{\"X-Fn\": \"yes\", \"Content-Type\": \"text/plain\"}',
	response_body => convert_to('hello from the function', 'UTF8')"
req_wait sync
[ "$STATUS" = 201 ] && [ "$BODY" = 'hello from the function' ]
tap_ok $? "the caller gets the function's status and body (got: $STATUS $BODY)"
[ "$(header X-Fn)" = yes ] && [ "$(header Content-Type)" = text/plain ] &&
	[ "$(header X-Cpub-Execution-Id)" = "$EID" ]
tap_ok $? "its headers, and the execution id (got: $(header X-Fn) $(header Content-Type) $(header X-Cpub-Execution-Id))"

TOKEN=$ADA req GET "/api/executions/$EID"
expect 200 '.trigger == "sync" and .request_method == "PUT" and .request_path == "/a/b%20c"
	and .request_query == "x=1&y=two%20words"' \
	"the function got the real method, the sub-path and the raw query"
expect 200 '.request_headers["x-custom"] == "one" and .request_headers["content-type"] == "text/plain"' \
	"and the caller's headers"
expect 200 '.request_headers | has("authorization") or has("x-cpub-trace") | not' \
	"but not the platform's Authorization or X-Cpub-* headers"
expect 200 ".request_body == \"\\\\x$(printf 'the request body' | od -An -tx1 | tr -d ' \n')\"" \
	"and the body as sent"

# --- who may call --------------------------------------------------------------------------

seq=$(last_seq)
TOKEN='' req_bg anon GET "/fn/$OWNER/pub/hello" -H 'Authorization: Basic dXNlcjpwYXNz'
EID=$(wait_execution "$PUB" "$seq")
finish "$EID" "response_status => 200, response_body => convert_to('public answer', 'UTF8')"
req_wait anon
[ "$STATUS" = 200 ] && [ "$BODY" = 'public answer' ]
tap_ok $? "anyone calls a public function (got: $STATUS $BODY)"
TOKEN=$ADA req GET "/api/executions/$EID"
expect 200 '.request_headers.authorization == "Basic dXNlcjpwYXNz"' \
	"an Authorization that is not the platform's goes to the function"

TOKEN='' req GET "/fn/$OWNER/echo"
expect_error 404 P0002 "a private function, anonymously: 404"
TOKEN=$CAROL req GET "/fn/$OWNER/echo"
expect_error 404 P0002 "a private function, to another developer: 404"
TOKEN='' req GET "/fn/$OWNER/nothing"
expect_error 404 P0002 "a function that does not exist: 404"

# Signed requests (docs/invocation-keys.md).
TOKEN=$ADA req POST /api/functions/signed/keys -d '{"label":"test"}'
SECRET=$(jqr .secret)
KEY_ID=$(jqr .key_id)
K=$(printf '%s' "$SECRET" | openssl dgst -sha256 -binary | od -An -tx1 -v | tr -d ' \n')
printf '{"n": 10}' >"$WORK/signed-request"
# sign TS NONCE METHOD TARGET: the signature of the body file.
sign()
{
	{
		printf '%s\n%s\n%s\n%s\n' "$1" "$2" "$3" "$4"
		cat "$WORK/signed-request"
	} | openssl dgst -sha256 -mac HMAC -macopt "hexkey:$K" -r | cut -d' ' -f1
}
TARGET="/fn/$OWNER/signed/hook?lang=en"
TS=$(date +%s)
NONCE=$(openssl rand -hex 16)
SIG=$(sign "$TS" "$NONCE" POST "$TARGET")
signed_headers=(-H "X-Cpub-Key: $KEY_ID" -H "X-Cpub-Timestamp: $TS" -H "X-Cpub-Nonce: $NONCE"
	-H "X-Cpub-Signature: v1=$SIG" -H 'Content-Type: application/json')

TOKEN='' req POST "$TARGET" --data-binary "@$WORK/signed-request"
expect_error 401 28Q06 "a key-protected function without a signature: 401 28Q06"

seq=$(last_seq)
TOKEN='' req_bg signed POST "$TARGET" "${signed_headers[@]}" --data-binary "@$WORK/signed-request"
EID=$(wait_execution "$SIGNED" "$seq")
finish "$EID" "response_status => 200, response_body => convert_to('signed answer', 'UTF8')"
req_wait signed
[ "$STATUS" = 200 ] && [ "$BODY" = 'signed answer' ]
tap_ok $? "a correctly signed request is served (got: $STATUS $BODY)"
TOKEN=$ADA req GET "/api/executions/$EID"
expect 200 '.request_path == "/hook" and .request_query == "lang=en"
	and (.request_headers | keys | map(select(startswith("x-cpub"))) == [])' \
	"its X-Cpub-* headers are not passed on"

TOKEN='' req POST "$TARGET" "${signed_headers[@]}" --data-binary "@$WORK/signed-request"
expect_error 401 28Q08 "the same signed request again: 401 28Q08 (replay)"

NONCE=$(openssl rand -hex 16)
SIG=$(sign "$TS" "$NONCE" POST "$TARGET")
BAD=$(printf '%s' "$SIG" | tr '0-9a-f' '1-9a-f0')
TOKEN='' req POST "$TARGET" -H "X-Cpub-Key: $KEY_ID" -H "X-Cpub-Timestamp: $TS" \
	-H "X-Cpub-Nonce: $NONCE" -H "X-Cpub-Signature: v1=$BAD" --data-binary "@$WORK/signed-request"
expect_error 401 28Q06 "a signature that does not match: 401 28Q06"
TOKEN='' req POST "$TARGET?more=1" -H "X-Cpub-Key: $KEY_ID" -H "X-Cpub-Timestamp: $TS" \
	-H "X-Cpub-Nonce: $NONCE" -H "X-Cpub-Signature: v1=$SIG" --data-binary "@$WORK/signed-request"
expect_error 401 28Q06 "a good signature for another request target: 401 28Q06"
OLD=$((TS - 3600))
SIG=$(sign "$OLD" "$NONCE" POST "$TARGET")
TOKEN='' req POST "$TARGET" -H "X-Cpub-Key: $KEY_ID" -H "X-Cpub-Timestamp: $OLD" \
	-H "X-Cpub-Nonce: $NONCE" -H "X-Cpub-Signature: v1=$SIG" --data-binary "@$WORK/signed-request"
expect_error 401 28Q07 "a signature an hour old: 401 28Q07"

# --- asynchronous calls ----------------------------------------------------------------------

TOKEN='' req POST "/fn/$OWNER/pub/later?async=1" -d 'later'
expect 202 '.status == "queued" and (.execution_id | length == 36)
	and .poll == "/api/invocations/\(.execution_id)"' "?async=1: 202 with the execution id"
EID=$(jqr .execution_id)
[ "$(header Location)" = "/api/invocations/$EID" ] && [ "$(header X-Cpub-Execution-Id)" = "$EID" ]
tap_ok $? "a Location to poll (got: $(header Location))"
TOKEN='' req GET "/api/invocations/$EID"
expect 200 ".execution_id == \"$EID\" and .status == \"queued\" and .response == null" \
	"polled anonymously: queued"
finish "$EID" "response_status => 202, response_headers => '{\"X-Done\": \"1\"}',
	response_body => convert_to('{\"ok\": true}', 'UTF8'), duration_ms => 7"
TOKEN='' req GET "/api/invocations/$EID"
expect 200 '.status == "succeeded" and .response.status == 202 and .response.body == "{\"ok\": true}"
	and .response.headers["X-Done"] == "1" and .duration_ms == 7 and .error_kind == null' \
	"polled again: the function's response"
TOKEN='' req GET /api/invocations/00000000-0000-4000-8000-000000000000
expect_error 404 P0002 "an unknown execution id: 404"
TOKEN='' req GET /api/invocations/not-an-id
expect_error 400 22P02 "an execution id that is no uuid: 400 22P02"

TOKEN='' req POST "/fn/$OWNER/pub" -H 'X-Cpub-Async: 1' -d 'later'
expect 202 '.status == "queued"' "X-Cpub-Async: 1 is the same as ?async=1"
finish "$(jqr .execution_id)"

# --- the JSON envelope -------------------------------------------------------------------------

seq=$(last_seq)
TOKEN=$ADA req_bg env POST /api/functions/echo/invoke -H 'Content-Type: application/json' \
	-d '{"method":"PATCH","path":"/items/7","query":"full=1","headers":{"x-h":"v"},"body":"{\"a\":1}"}'
EID=$(wait_execution "$ECHO" "$seq")
finish "$EID" "response_status => 200, response_headers => '{\"X-Bin\": \"yes\"}',
	response_body => '\\xff00fe'::bytea, logs => 'binary out'"
req_wait env
expect 200 ".execution_id == \"$EID\" and .status == \"succeeded\" and .response.status == 200
	and .response.body_base64 == \"/wD+\" and .response.headers[\"X-Bin\"] == \"yes\"" \
	"the envelope, sync: the response, a body that is not UTF-8 as body_base64"
TOKEN=$ADA req GET "/api/executions/$EID"
expect 200 '.request_method == "PATCH" and .request_path == "/items/7" and .request_query == "full=1"
	and .request_headers == {"x-h": "v"} and .request_body == "\\x7b2261223a317d"' \
	"the function got the envelope's request"

TOKEN=$ADA req POST /api/functions/echo/invoke -d '{"async":true,"body_base64":"AAEC"}'
expect 202 '.status == "queued"' "the envelope, async: 202"
EID=$(jqr .execution_id)
TOKEN=$ADA req GET "/api/executions/$EID"
expect 200 '.trigger == "async" and .request_method == "POST" and .request_path == "/"
	and .request_body == "\\x000102"' "the request of body_base64, with the defaults"
finish "$EID"
TOKEN=$ADA req POST '/api/functions/echo/invoke?async=1' -d '{}'
expect 202 '.status == "queued"' "the envelope with ?async=1: 202"
finish "$(jqr .execution_id)"

TOKEN=$ADA req POST /api/functions/echo/invoke -d '{"verb":"GET"}'
expect_error 400 22023 "an envelope with an unknown field: 400 22023"
TOKEN=$ADA req POST /api/functions/echo/invoke -d '{"body":{"a":1}}'
expect_error 400 22023 "an envelope whose body is not a string: 400 22023"
TOKEN=$ADA req POST /api/functions/echo/invoke -d '{"body_base64":"!!"}'
expect_error 400 22023 "invalid base64: 400 22023"
TOKEN=$ADA req POST /api/functions/echo/invoke -d '[1]'
expect_error 400 22032 "an envelope that is not an object: 400 22032"
TOKEN=$CAROL req POST /api/functions/echo/invoke -d '{}'
expect_error 404 P0002 "another developer's function: 404"

# --- no answer, a crash ----------------------------------------------------------------------------

start=$(now_ms)
TOKEN=$ADA req POST "/fn/$OWNER/slow"
elapsed=$(($(now_ms) - start))
expect_error 504 57014 "nobody answers a function with timeout_seconds=1: 504 57014"
expect 504 '.error.hint | test("/api/invocations/[0-9a-f-]{36}")' "whose hint says where to poll"
[ "$elapsed" -ge 1900 ] && [ "$elapsed" -lt 6000 ]
tap_ok $? "after its timeout plus invoke_grace, about 2 s (took $elapsed ms)"

seq=$(last_seq)
TOKEN=$ADA req_bg crash GET "/fn/$OWNER/echo"
EID=$(wait_execution "$ECHO" "$seq")
finish "$EID" "error_kind => 'crash', error_message => 'segmentation fault'"
req_wait crash
expect_error 502 58Q01 "a crashed execution: 502 58Q01"
expect 502 ".error.detail | contains(\"$EID\") and contains(\"segmentation fault\")" \
	"whose detail names the execution and the error"

# A function cannot end the response with an interim status, nor send
# header names that are not tokens or that the server sets itself.
seq=$(last_seq)
TOKEN=$ADA req_bg interim GET "/fn/$OWNER/echo"
EID=$(wait_execution "$ECHO" "$seq")
finish "$EID" "response_status => 101, response_headers => '{\"Upgrade\": \"websocket\"}'"
req_wait interim
expect_error 502 58Q03 "a function answering 101: 502 58Q03, not a switch of protocols"

seq=$(last_seq)
TOKEN=$ADA req_bg names GET "/fn/$OWNER/echo"
EID=$(wait_execution "$ECHO" "$seq")
finish "$EID" "response_status => 200,
	response_headers => '{\"content-length:0\": \"x\", \"X-Request-Id\": \"forged\", \"X-Cpub-Execution-Id\": \"forged\", \"X-Ok\": \"kept\"}'"
req_wait names
[ "$STATUS" = 200 ] && [ "$(header X-Ok)" = kept ] &&
	! grep -qi '^content-length:0' "$WORK/headers" &&
	[ "$(grep -ci '^x-request-id:' "$WORK/headers")" = 1 ] &&
	[ "$(header X-Request-Id)" != forged ] && [ "$(header X-Cpub-Execution-Id)" = "$EID" ]
tap_ok $? "a function's bad or server-owned header names are dropped, the others kept"

# Two Content-Length headers (request smuggling): refused and closed.
TOKEN='' req POST "/fn/$OWNER/pub" -H 'Content-Length: 4' -H 'Content-Length: 40' --data-binary 'abcd'
[ "$STATUS" = 400 ] && [ "$(header Connection)" = close ]
tap_ok $? "two Content-Length headers: 400 and Connection: close (got: $STATUS $(header Connection))"

# --- logs?follow=1 -----------------------------------------------------------------------------------

TOKEN=$ADA req GET /api/functions/pub/logs
LAST=$(jqr '.[-1].seq')
TOKEN='' req POST "/fn/$OWNER/pub?async=1" -d 'followed'
EID=$(jqr .execution_id)
start=$(now_ms)
TOKEN=$ADA req_bg follow GET "/api/functions/pub/logs?follow=1&wait=8&after=$LAST"
# Once it waits (the server counts it), the execution finishes.
for _ in $(seq 50); do
	curl -s "$URL/metrics" | grep -q '^cpub_http_waiting_requests 1$' && break
	sleep 0.05
done
finish "$EID" "response_status => 200, logs => 'the followed line'"
req_wait follow
elapsed=$(($(now_ms) - start))
expect 200 "length == 1 and .[0].execution_id == \"$EID\" and .[0].logs == \"the followed line\"" \
	"logs?follow=1 answers with the execution that finished while it waited"
[ "$elapsed" -lt 6000 ]
tap_ok $? "as soon as it finished, not after the wait (took $elapsed ms)"

LAST=$(jqr '.[-1].seq')
start=$(now_ms)
TOKEN=$ADA req GET "/api/functions/pub/logs?follow=1&wait=1&after=$LAST"
elapsed=$(($(now_ms) - start))
expect 200 '. == []' "with nothing happening: [] once the wait is over"
[ "$elapsed" -ge 900 ] && [ "$elapsed" -lt 4000 ]
tap_ok $? "after the wait of 1 s (took $elapsed ms)"

TOKEN=$ADA req GET "/api/functions/pub/logs?after=$LAST"
expect 200 '. == []' "without follow: [] at once"

stop_cleanly main
done_testing
