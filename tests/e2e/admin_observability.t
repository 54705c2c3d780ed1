#!/usr/bin/env bash
# tests/e2e/admin_observability.t: GET /admin/api/errors and /admin/api/load
# over HTTP, with the real test OpenID Connect provider and cpub-httpd: what
# a failed build, a dead job and failed and succeeded invocations (made
# through the developer API, the worker's side played with psql) look like
# to a full admin and a viewer, the time ranges, and the refusals.

set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/e2e/lib/http.sh
. tests/e2e/lib/oidc.sh
oidc_need

db_create cpub_e2e_admin_obs || bail_out "could not create the database"
q "SELECT count(*) FROM cpub_admin.tier_update(name => 'free', requests_per_second => 1000)" >/dev/null
oidc_start p || bail_out "the test provider did not start"
printf 'cpub-httpd-secret\n' >"$WORK/client-secret"
server_start main invoke_grace=1 admin_oidc_issuer="${OIDC_URL[p]}" \
	admin_oidc_client_id=cpub-httpd admin_oidc_client_secret_file="$WORK/client-secret" ||
	bail_out "cpub-httpd did not start"

ADMIN=$(oidc_token p -d username=olga -d roles=full_admin -d email=olga@ops.test)
VIEWER=$(oidc_token p -d username=vera -d roles=viewer)
ADA=$(register_login ada@example.com)
[ -n "$ADMIN" ] && [ -n "$VIEWER" ] && [ -n "$ADA" ]
tap_ok $? "a full admin, a viewer (tokens from the provider) and a developer" ||
	bail_out "no tokens"
TOKEN=$ADA req GET /api/auth/me
OWNER=$(jqr .user_id)

# --- the platform's troubles, made for real --------------------------------------
mkdir -p "$WORK/fn"
printf '#!/bin/sh\necho hi\n' >"$WORK/fn/handler.sh"
tar -czf "$WORK/fn.tar.gz" -C "$WORK/fn" .
for f in good broken; do
	TOKEN=$ADA req POST /api/functions -d "{\"name\":\"$f\",\"runtime\":\"shell\"}"
	TOKEN=$ADA req POST "/api/functions/$f/deploy" -H 'Content-Type: application/gzip' \
		--data-binary "@$WORK/fn.tar.gz"
done
GOOD=$(q "SELECT id FROM cpub.functions WHERE name = 'good'")
BROKEN=$(q "SELECT id FROM cpub.functions WHERE name = 'broken'")
make_ready "$GOOD"
# The worker's side of a failed build.
q "SELECT count(*) FROM cpub.function_versions v, cpub_worker.build_start(v.id) b
	WHERE v.function_id = '$BROKEN'" >/dev/null
q "SELECT cpub_worker.build_finish(v.id, false, 'step 2: error: no such file handler.sh',
							   NULL, 'the build failed (podman build status 1)')
	 FROM cpub.function_versions v WHERE v.function_id = '$BROKEN'" >/dev/null
# Two calls: one succeeds in 12 ms, one times out.
for outcome in ok timeout; do
	seq=$(last_seq)
	TOKEN=$ADA req_bg "call_$outcome" POST "/fn/$OWNER/good" -d x
	EID=$(wait_execution "$GOOD" "$seq")
	if [ "$outcome" = ok ]; then
		finish "$EID" "response_status => 200, response_body => convert_to('ok', 'UTF8'), duration_ms => 12"
	else
		finish "$EID" "error_kind => 'timeout', error_message => 'over 10 s', duration_ms => 10000"
	fi
	req_wait "call_$outcome"
done
# A job that died (as the superuser: an admin's troubles, not a test's).
q "INSERT INTO cpub.jobs (kind, payload, state, attempts, max_attempts, last_error, failed_at)
   VALUES ('cleanup', '{}', 'dead', 5, 5, 'podman rm: exit 125', now())" >/dev/null

# --- errors ---------------------------------------------------------------------
for who in ADMIN VIEWER; do
	TOKEN=${!who} req GET /admin/api/errors
	expect 200 '.failed_builds.count == 1
		and .failed_builds.recent[0].function == "broken"
		and .failed_builds.recent[0].owner == "ada@example.com"
		and (.failed_builds.recent[0].log_tail | test("no such file"))
		and .jobs.dead.count == 1 and .jobs.dead.recent[0].error == "podman rm: exit 125"
		and .executions.failed == 1
		and ([.executions.by_error_kind[] | select(.error_kind == "timeout")][0].count == 1)' \
		"errors as $who: the failed build, the dead job, the timed-out call"
done
TOKEN=$ADMIN req GET "/admin/api/errors?since=$(date -u -d '+1 hour' +%FT%TZ)&until=$(date -u -d '+2 hours' +%FT%TZ)"
expect 200 '.failed_builds.count == 0 and .jobs.dead.count == 0 and .executions.failed == 0' \
	"errors of a later hour: none"
TOKEN=$ADMIN req GET "/admin/api/errors?limit=0"
expect_error 400 22023 "errors with limit 0: 400 22023"
TOKEN=$ADMIN req GET "/admin/api/errors?since=2026-01-02&until=2026-01-01"
expect_error 400 22023 "errors with until before since: 400 22023"
TOKEN=$ADMIN req GET "/admin/api/errors?since=yesterday-ish"
expect_error 400 22007 "errors with a since that is no time: 400 22007"
TOKEN=$ADMIN req GET "/admin/api/errors?bucket=1%20minute"
expect_error 400 22023 "errors with an argument it does not take: 400 22023"

# --- load -----------------------------------------------------------------------
# Ten minutes up to a minute from now, in two buckets.
now=$(date -u +%s)
range="since=$(date -u -d "@$((now - 540))" +%FT%TZ)&until=$(date -u -d "@$((now + 60))" +%FT%TZ)"
for who in ADMIN VIEWER; do
	TOKEN=${!who} req GET "/admin/api/load?$range&bucket=5%20minutes"
	expect 200 '.bucket_seconds == 300 and (.invocations | length) == 2
		and ([.invocations[].count] | add) == 2 and ([.invocations[].failed] | add) == 1
		and .latency.count == 2
		and ([.queue[] | select(.kind == "cleanup" and .state == "dead")][0].count == 1)
		and (.queue | length) == 12' \
		"load as $who: two calls in 5-minute buckets, one failed; the dead job in the queue"
done
TOKEN=$ADMIN req GET "/admin/api/load?bucket=1%20second&since=$(date -u -d '-1 day' +%FT%TZ)"
expect_error 400 22023 "load with more than 1440 buckets: 400 22023"
TOKEN=$ADMIN req GET "/admin/api/load?bucket=0"
expect_error 400 22023 "load with a zero bucket: 400 22023"
TOKEN=$ADMIN req GET "/admin/api/load?bucket=soon"
expect_error 400 22007 "load with a bucket that is no interval: 400 22007"

# --- refusals --------------------------------------------------------------------
TOKEN=$ADA req GET /admin/api/load
expect_error 401 28000 "load with a developer's token: 401"
TOKEN='' req GET /admin/api/errors
expect_error 401 28000 "errors without a token: 401"
TOKEN=$(oidc_token p -d username=dan -d roles=developer) req GET /admin/api/errors
expect_error 403 42501 "errors with a token of no admin role: 403"

stop_cleanly main
done_testing
