#!/usr/bin/env bash
# tests/e2e/http_functions.t: functions and organizations over HTTP, with the
# real cpub-httpd and curl: create, list (paged), get, update, delete;
# deploy (a real tar.gz; not gzip; over the tier's archive limit, refused
# before the body is read or while it streams in chunks), versions, build
# log, rollback; environment variables, invocation keys, executions, logs,
# metrics; organizations and their members' roles; and the errors of the
# request itself (unknown or ill-typed parameters, malformed or oversized
# JSON, unknown routes, wrong methods).  The worker's side (builds,
# executions) is played with psql, as tests/e2e/readme_story.t does.
#
# Needs PGHOST/PGPORT/PGUSER of a cluster with the extension installed
# (tests/run.sh exports them).  Prints TAP.
set -uo pipefail

# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib/http.sh"

db_create cpub_e2e_http_functions
tap_ok $? "a fresh database with the extension" || bail_out "could not create $DB"
# Archives of at most 1 MiB, so that a larger one is quick to make.
q "SELECT count(*) FROM cpub_admin.tier_update(name => 'free', max_archive_mb => 1)" >/dev/null
server_start main max_body_kb=1 || bail_out "cpub-httpd did not start"

ADA=$(register_login ada@example.com)
BOB=$(register_login bob@example.com)
CAROL=$(register_login carol@example.com)
[ -n "$ADA" ] && [ -n "$BOB" ] && [ -n "$CAROL" ]
tap_ok $? "three developers register and log in"

# --- create, list, get, update, delete ------------------------------------------

TOKEN=$ADA
req POST /api/functions -d '{"name":"hello","runtime":"shell","visibility":"public"}'
expect 201 '.name == "hello" and .runtime == "shell" and .visibility == "public"
	and .status == "inactive" and .memory_mb == 128 and .active_version == null
	and (.endpoint | test("^/fn/[0-9a-f-]{36}/hello$"))' "create a function: 201 with its settings"
HELLO_ID=$(jqr .id)

req POST /api/functions -d '{"name":"hello","runtime":"shell"}'
expect_error 409 23505 "create it again: 409 23505"
req POST /api/functions -d '{"name":"Not A Name!","runtime":"shell"}'
expect_error 400 22Q04 "create with an invalid name: 400 22Q04"
req POST /api/functions -d '{"name":"big","runtime":"shell","memory_mb":512}'
expect_error 413 54Q02 "create above the tier's memory cap (256 MB): 413 54Q02"
req POST /api/functions -d '{"name":"big","runtime":"shell","memory_mb":100000}'
expect_error 400 22023 "create with a memory size out of any range: 400 22023"
req POST /api/functions -d '{"name":"nort"}'
expect_error 400 22004 "create without a runtime: 400 22004 (missing parameter)"

for f in gamma alpha beta; do
	req POST /api/functions -d "{\"name\":\"$f\",\"runtime\":\"python\"}"
done
req GET '/api/functions?limit=2'
expect 200 'map(.name) == ["alpha", "beta"]' "list, limit=2: the first page by name"
req GET '/api/functions?after=beta&limit=2'
expect 200 'map(.name) == ["gamma", "hello"]' "list, after=beta: the next page"
req GET '/api/functions?after=hello'
expect 200 '. == []' "list after the last: an empty page"

req GET /api/functions/hello
expect 200 ".id == \"$HELLO_ID\" and .name == \"hello\"" "get a function by name"
req GET "/api/functions/$HELLO_ID"
expect 200 '.name == "hello"' "get it by id"

req PATCH /api/functions/gamma -d '{"memory_mb":256,"timeout_seconds":20}'
expect 200 '.name == "gamma" and .memory_mb == 256 and .timeout_seconds == 20 and .runtime == "python"' \
	"PATCH: the new settings, the others unchanged"
req GET /api/functions/gamma
expect 200 '.memory_mb == 256' "and they stay"

req DELETE /api/functions/gamma
expect 204 '' "delete: 204"
req GET /api/functions/gamma
expect_error 404 P0002 "then it is not found: 404 P0002"
req DELETE /api/functions/gamma
expect_error 404 P0002 "delete again: 404 P0002"

TOKEN=$CAROL req GET /api/functions/hello
expect_error 404 P0002 "another developer does not find it: 404"

# --- deploy, versions, build log, rollback ----------------------------------------

mkdir -p "$WORK/fn"
printf '#!/bin/sh\necho "hello from the function"\n' >"$WORK/fn/handler.sh"
tar -czf "$WORK/fn.tar.gz" -C "$WORK/fn" .
SIZE=$(stat -c %s "$WORK/fn.tar.gz")
SHA=$(sha256sum "$WORK/fn.tar.gz" | cut -d' ' -f1)

req POST /api/functions/hello/deploy -H 'Content-Type: application/gzip' --data-binary "@$WORK/fn.tar.gz"
expect 202 ".version == 1 and .status == \"queued\" and .active == false
	and .archive_size == $SIZE and .archive_sha256 == \"$SHA\"" \
	"deploy a tar.gz: 202, version 1 queued, the archive's size and SHA-256"

printf 'just some text, not an archive at all' >"$WORK/not.gz"
req POST /api/functions/hello/deploy -H 'Content-Type: application/gzip' --data-binary "@$WORK/not.gz"
expect_error 400 22Q05 "deploy what is not gzip: 400 22Q05"

# Over the tier's 1 MiB: refused on its Content-Length alone, before the
# body, which is never sent here.
head -c 1300000 /dev/urandom >"$WORK/big.gz"
raw=$(exec 3<>"/dev/tcp/127.0.0.1/${SERVER_PORT[main]}" &&
	printf 'POST /api/functions/hello/deploy HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer %s\r\nContent-Type: application/gzip\r\nContent-Length: 1300000\r\n\r\n' "$ADA" >&3 &&
	timeout 5 cat <&3)
[[ "$raw" == "HTTP/1.1 413 "* ]] && [[ "$raw" == *'"code":"54Q03"'* ]] && [[ "$raw" == *"at most 1048576"* ]]
tap_ok $? "deploy over the tier's max_archive_mb by Content-Length: 413 54Q03 before the body is sent"
[[ "$raw" == "HTTP/1.1 413 "* ]] || diag "got: $raw"

req POST /api/functions/hello/deploy -H 'Content-Type: application/gzip' \
	-H 'Transfer-Encoding: chunked' --data-binary "@$WORK/big.gz"
expect_error 413 54Q03 "the same archive chunked (no Content-Length): 413 54Q03"

req GET /api/functions/hello/versions
expect 200 'length == 1 and .[0].version == 1 and .[0].status == "queued"' \
	"versions: only version 1 (the refused deploys left none)"

req GET /api/functions/hello/versions/1/build-log
expect 200 '.version == 1 and .status == "queued" and .build_log == ""' "build log of a queued version: empty"
req GET /api/functions/hello/versions/9/build-log
expect_error 404 P0002 "build log of a version that does not exist: 404"

req POST /api/functions/hello/rollback -d '{"version":1}'
expect_error 400 23514 "rollback to a version that is not ready: 400 23514"

make_ready "$HELLO_ID"
req GET /api/functions/hello/versions/1/build-log
expect 200 '.status == "ready" and .build_log == "built v1"' "once built: ready, with its log"
req GET /api/functions/hello
expect 200 '.status == "active" and .active_version == 1' "and the function serves version 1"

req POST /api/functions/hello/deploy -H 'Content-Type: application/gzip' --data-binary "@$WORK/fn.tar.gz"
expect 202 '.version == 2 and .status == "queued"' "a second deploy: version 2"
make_ready "$HELLO_ID"
req GET /api/functions/hello
expect 200 '.active_version == 2' "which serves once built"
req POST /api/functions/hello/rollback -d '{}'
expect 200 '.version == 1 and .active == true' "rollback (no version): back to version 1"
req GET /api/functions/hello/versions
expect 200 'map([.version, .active]) == [[2, false], [1, true]]' "versions newest first, 1 active"
req GET '/api/functions/hello/versions?limit=1'
expect 200 'map(.version) == [2]' "versions page with limit"

# --- environment variables ------------------------------------------------------------

req POST /api/functions/hello/env -d '{"vars":{"GREETING":"s3cr3t-one","TARGET":"s3cr3t-two"}}'
expect 200 'map(.name) == ["GREETING", "TARGET"]' "set two variables: their names"
req PUT /api/functions/hello/env/MOOD -d '{"value":"s3cr3t-three"}'
expect 200 '.name == "MOOD"' "set one by its path"
req GET /api/functions/hello/env
expect 200 'map(.name) == ["GREETING", "MOOD", "TARGET"] and all(.[]; has("value") | not)' \
	"list: the names only"
[[ "$BODY" != *s3cr3t* ]]
tap_ok $? "no value anywhere in the list"
req DELETE '/api/functions/hello/env?names=GREETING,TARGET'
expect 200 '.removed == 2' "unset two by names=A,B: removed 2"
req DELETE '/api/functions/hello/env?names=NOPE'
expect_error 404 P0002 "unset one that is not set: 404"
req GET /api/functions/hello/env
expect 200 'map(.name) == ["MOOD"]' "one left"
req PUT /api/functions/hello/env/bad-name -d '{"value":"x"}'
expect_error 400 22Q04 "a variable with an invalid name: 400 22Q04"

# --- invocation keys ---------------------------------------------------------------------

req POST /api/functions/hello/keys -d '{"label":"ci"}'
expect 201 '(.secret | test("^cpk_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$")) and .label == "ci"
	and (.secret | split("_")[1]) == .key_id' "create a key: 201, its secret shown"
KEY=$(jqr .key_id)
SECRET=$(jqr .secret)
req GET /api/functions/hello/keys
expect 200 "length == 1 and .[0].key_id == \"$KEY\" and .[0].status == \"active\"
	and all(.[]; has(\"secret\") | not)" "list keys: no secret"
[[ "$BODY" != *"${SECRET##*_}"* ]]
tap_ok $? "the secret appears nowhere in the list"
req POST "/api/functions/hello/keys/$KEY/roll"
expect 201 ".key_id == \"$KEY\" and (.secret | startswith(\"cpk_${KEY}_\")) and .secret != \"$SECRET\"" \
	"roll: the same key id, a new secret"
req DELETE "/api/functions/hello/keys/$KEY"
expect 200 ".key_id == \"$KEY\" and .status == \"revoked\"" "revoke: the key, revoked"
req DELETE "/api/functions/hello/keys/$KEY"
expect_error 400 23514 "revoke again: 400 23514"
req POST "/api/functions/hello/keys/$KEY/roll"
expect_error 400 23514 "roll a revoked key: 400 23514"
req DELETE /api/functions/hello/keys/0000000000000000
expect_error 404 P0002 "revoke an unknown key: 404"

# --- executions, logs, metrics ------------------------------------------------------------

q "SELECT count(*) FROM cpub_admin.tier_update(name => 'free', requests_per_second => 1000)" >/dev/null
req POST '/api/functions/hello/invoke?async=1' -d '{"method":"POST","path":"/one","body":"first"}'
expect 202 '.status == "queued" and (.execution_id | length == 36)' "an asynchronous invocation: 202"
E1=$(jqr .execution_id)
req POST '/api/functions/hello/invoke?async=1' -d '{"method":"GET","path":"/two"}'
E2=$(jqr .execution_id)
finish "$E1" "response_status => 200, response_body => convert_to('done', 'UTF8'),
	logs => 'log line of one', duration_ms => 12.5"
tap_ok $? "the worker's side runs the first (psql)"

req GET /api/functions/hello/executions
expect 200 "map(.id) == [\"$E2\", \"$E1\"] and .[1].status == \"succeeded\" and .[0].status == \"queued\"" \
	"a function's executions, newest first"
req GET '/api/functions/hello/executions?status=queued'
expect 200 "map(.id) == [\"$E2\"]" "filtered by status"
req GET '/api/functions/hello/executions?status=lost'
expect_error 400 22023 "an unknown status: 400 22023"
req GET /api/executions
expect 200 "map(.id) == [\"$E2\", \"$E1\"]" "all my executions"
req GET "/api/executions/$E1"
expect 200 ".id == \"$E1\" and .request_method == \"POST\" and .request_path == \"/one\"
	and .response_status == 200 and .logs == \"log line of one\" and .duration_ms == 12.5" \
	"an execution with its request, response and logs"
req GET /api/executions/00000000-0000-4000-8000-000000000000
expect_error 404 P0002 "an unknown execution: 404"
TOKEN=$CAROL req GET "/api/executions/$E1"
expect_error 404 P0002 "another developer's execution: 404"

req GET /api/functions/hello/logs
expect 200 "length == 1 and .[0].execution_id == \"$E1\" and .[0].logs == \"log line of one\"" \
	"logs: the finished execution's (not the queued one)"

req GET /api/functions/hello/metrics
expect 200 '.invocations == 2 and .errors == 0 and .p50_ms == 12.5' "metrics of the function"
req GET /api/metrics
expect 200 '.invocations == 2' "metrics of all my functions"
req GET '/api/functions/hello/metrics/series?bucket=hour'
expect 200 '(length == 24 or length == 25) and (map(.invocations) | add) == 2' \
	"hourly series: every bucket of the day, the two invocations in them"
req GET '/api/functions/hello/metrics/series?bucket=week'
expect_error 400 22023 "a series by week: 400 22023"

# --- organizations and roles ----------------------------------------------------------------

req POST /api/organizations -d '{"name":"engines","display_name":"Engines"}'
expect 201 '.id | test("^[0-9a-f-]{36}$")' "create an organization: 201 with its id"
req POST /api/organizations -d '{"name":"engines"}'
expect_error 409 23505 "create it again: 409 23505"
req GET /api/organizations
expect 200 'map([.name, .role]) == [["engines", "owner"]]' "my organizations: owner of engines"
req GET /api/organizations/engines/tier
expect 200 '.name == "free"' "the organization's tier"

req POST /api/organizations/engines/members -d '{"email":"bob@example.com","role":"member"}'
expect 204 '' "add a member: 204"
req POST /api/organizations/engines/members -d '{"email":"bob@example.com","role":"member"}'
expect_error 409 23505 "add the same member again: 409 23505"
req GET /api/organizations/engines/members
expect 200 'map([.email, .role]) | sort == [["ada@example.com", "owner"], ["bob@example.com", "member"]]' \
	"members with their roles"
req PUT /api/organizations/engines/members/bob%40example.com -d '{"role":"admin"}'
expect 204 '' "change a member's role (email percent-encoded in the path): 204"
req GET /api/organizations/engines/members
expect 200 'map(select(.email == "bob@example.com"))[0].role == "admin"' "bob is admin now"
req PUT /api/organizations/engines/members/bob@example.com -d '{"role":"member"}'
expect 204 '' "and a member again"

req POST /api/functions -d '{"name":"calc","runtime":"python","organization":"engines"}'
expect 201 '.organization == "engines" and .name == "calc"' "create a function of the organization"

TOKEN=$BOB req POST /api/functions -d '{"name":"mine","runtime":"python","organization":"engines"}'
expect_error 403 42501 "a plain member creating an organization's function: 403 42501"
TOKEN=$BOB req GET /api/functions/engines%2Fcalc
expect 200 '.name == "calc" and .organization == "engines"' "a member reads it (ORG%2FNAME in the path)"
TOKEN=$BOB req PATCH /api/functions/engines%2Fcalc -d '{"memory_mb":64}'
expect_error 403 42501 "a member changing it: 403 42501"
TOKEN=$BOB req POST /api/functions/engines%2Fcalc/deploy -H 'Content-Type: application/gzip' \
	--data-binary "@$WORK/fn.tar.gz"
expect_error 403 42501 "a member deploying it: 403 42501"
TOKEN=$BOB req GET '/api/functions?organization=engines'
expect 200 'map(.name) == ["calc"]' "a member lists the organization's functions"

TOKEN=$CAROL req GET /api/organizations/engines/members
expect_error 404 P0002 "a non-member reading the members: 404"
TOKEN=$CAROL req GET /api/functions/engines%2Fcalc
expect_error 404 P0002 "a non-member reading its function: 404"
TOKEN=$CAROL req POST /api/functions/engines%2Fcalc/deploy -H 'Content-Type: application/gzip' \
	--data-binary "@$WORK/fn.tar.gz"
expect_error 404 P0002 "a non-member deploying to it: 404, before the upload"

req DELETE /api/organizations/engines/members/bob%40example.com
expect 204 '' "remove the member: 204"
TOKEN=$BOB req GET /api/functions/engines%2Fcalc
expect_error 404 P0002 "the removed member finds nothing any more"

req PATCH /api/organizations/engines -d '{"new_name":"analytical"}'
expect 204 '' "rename the organization: 204"
req DELETE /api/organizations/analytical
expect_error 409 23503 "delete it while it has a function: 409 23503"
req DELETE /api/functions/analytical%2Fcalc
expect 204 '' "delete its function"
req DELETE /api/organizations/analytical
expect 204 '' "then the organization: 204"
req GET /api/organizations
expect 200 '. == []' "no organization left"

# --- errors of the request itself ----------------------------------------------------------

req GET '/api/functions?bogus=1'
expect_error 400 22023 "an unknown query parameter: 400 22023"
expect 400 '.error.hint | test("organization, after, limit")' "whose hint lists the parameters"
req GET '/api/functions?limit=abc'
expect_error 400 22P02 "a bad integer: 400 22P02"
req GET '/api/functions?limit=0'
expect_error 400 22023 "a page size out of range: 400 22023"
req POST /api/functions -d '{"name":"x","runtime":'
expect_error 400 22032 "malformed JSON: 400 22032"
req POST /api/functions -d '["name","x"]'
expect_error 400 22023 "a body that is not an object: 400"
expect 400 '.error.message | test("JSON object")' "which says so"
req PATCH /api/functions/hello -d '{"function":"other"}'
expect_error 400 22023 "a parameter in both the path and the body: 400 22023"
req POST /api/functions -d '{"name":"x","runtime":"shell","memory_mb":"lots"}'
expect_error 400 22P02 "a string where an integer goes: 400 22P02"
long=$(head -c 2000 /dev/zero | tr '\0' x)
req POST /api/functions -d "{\"name\":\"x\",\"runtime\":\"shell\",\"metadata\":{\"pad\":\"$long\"}}"
expect_error 413 54000 "a JSON body over max_body_kb (1 KiB): 413 54000"
req POST /api/functions -H 'Transfer-Encoding: chunked' \
	-d "{\"name\":\"x\",\"runtime\":\"shell\",\"metadata\":{\"pad\":\"$long\"}}"
expect_error 413 54000 "the same chunked: 413 54000"
req GET /api/nothing/here
expect_error 404 P0002 "an unknown route: 404"
req DELETE /api/functions
expect_error 405 0A000 "a wrong method: 405"
[ "$(header Allow)" = "GET, POST" ]
tap_ok $? "with an Allow header (got: $(header Allow))"
req GET /api/functions/%zz
expect_error 400 22P02 "a path with a bad percent escape: 400"
req GET /api/functions
expect 200 'map(.name) == ["alpha", "beta", "hello"]' "the server goes on answering"

stop_cleanly main
done_testing
