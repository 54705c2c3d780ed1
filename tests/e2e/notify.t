#!/usr/bin/env bash
# tests/e2e/notify.t: the notifications that wake workers and waiting HTTP
# requests, seen by a real LISTENing session while another session works:
# cpub_jobs when a build or run job is enqueued, cpub_versions when a
# version becomes active or the function's containers need a new
# configuration, cpub_executions with "ID STATUS FUNCTION_ID" when
# an execution finishes (waking both its caller and the followers of the
# function's logs); and nothing for work that is rolled back.
#
# Needs PGHOST/PGPORT/PGUSER of a cluster with the extension installed
# (tests/run.sh exports them).  Prints TAP.
set -uo pipefail

DB=cpub_e2e_notify
export PGOPTIONS="-c client_min_messages=warning"
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib/tap.sh"


q()
{
	psql -X -q -At -v ON_ERROR_STOP=1 -d "$DB" -c "$1"
}

# listen SECONDS CHANNEL...: a session that listens for SECONDS and prints
# what it received, one "CHANNEL PAYLOAD" per line.
listen()
{
	local secs=$1 sql="" c
	shift
	for c in "$@"; do sql="$sql LISTEN $c;"; done
	psql -X -q -At -d "$DB" -c "$sql" -c "SELECT pg_sleep($secs)" -c "SELECT 1" 2>&1 |
		sed -n 's/^Asynchronous notification "\([a-z_]*\)" with payload "\(.*\)" received.*/\1 \2/p'
}

echo "1..7"

out=$(mktemp)
trap 'rm -f "$out"; psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $DB" >/dev/null 2>&1' EXIT
psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB" >/dev/null &&
	psql -X -q -d "$DB" -c "CREATE EXTENSION containerpub" >/dev/null
ok $? "a fresh database with the extension"

uid=$(q "INSERT INTO cpub.users (email, password_hash, status)
		 VALUES ('n@example.com', 'x', 'active') RETURNING uuid")
as_user="SELECT cpub.set_user_identity('$uid', gen_random_uuid(), false);"
gz="'\\x1f8b0800000000000003030000000000000000'::bytea"

# A deploy enqueues a build job: workers hear "build" on cpub_jobs.  A
# rolled-back deploy is never heard.
listen 2 cpub_jobs >"$out" &
sleep 0.5
psql -X -q -d "$DB" -v ON_ERROR_STOP=1 >/dev/null <<EOF
BEGIN; $as_user SELECT cpub_api.function_create('hello', 'shell', visibility => 'public');
SELECT cpub_api.function_deploy('hello', $gz); ROLLBACK;
BEGIN; $as_user SELECT cpub_api.function_create('hello', 'shell', visibility => 'public');
SELECT cpub_api.function_deploy('hello', $gz); COMMIT;
EOF
wait
[ "$(cat "$out")" = "cpub_jobs build" ]
ok $? "one cpub_jobs 'build' notification, for the committed deploy only"

# The build finishes: cpub_versions carries the function's id.
vid=$(q "SELECT id FROM cpub.function_versions")
fid=$(q "SELECT id FROM cpub.functions")
listen 2 cpub_versions >"$out" &
sleep 0.5
q "SELECT cpub_worker.build_start('$vid')" >/dev/null &&
	q "SELECT cpub_worker.build_finish('$vid', true, 'ok', 'localhost/cpub/hello:1')" >/dev/null
wait
[ "$(cat "$out")" = "cpub_versions $fid" ]
ok $? "cpub_versions names the function whose active version changed"

# A new environment variable and a new memory size each send it again, at
# their commits (workers replace the containers started with the old
# configuration), with a new config generation each; a change the
# containers do not see (metadata) sends nothing.
listen 2 cpub_versions >"$out" &
sleep 0.5
psql -X -q -d "$DB" -v ON_ERROR_STOP=1 >/dev/null <<EOF
BEGIN; $as_user SELECT cpub_api.function_env_set('hello', 'GREETING', 'hi'); COMMIT;
BEGIN; $as_user SELECT cpub_api.function_update('hello', memory_mb => 64); COMMIT;
BEGIN; $as_user SELECT cpub_api.function_update('hello', metadata => '{"team": "core"}'); COMMIT;
EOF
wait
[ "$(cat "$out")" = "cpub_versions $fid
cpub_versions $fid" ] &&
	[ "$(q "SELECT config_generation FROM cpub.functions WHERE id = '$fid'")" = 3 ]
ok $? "cpub_versions names the function at each new configuration, and only then"

# An anonymous invocation of the public function enqueues a run job.
listen 2 cpub_jobs >"$out" &
sleep 0.5
eid=$(q "SELECT execution_id FROM cpub_api.invoke('$uid', 'hello', 'GET', '/')")
wait
[ -n "$eid" ] && [ "$(cat "$out")" = "cpub_jobs run" ]
ok $? "an invocation wakes workers with cpub_jobs 'run'"

# The worker finishes the execution: a waiting request hears its id and
# status, and a logs follower its function's id, only once the finish
# commits.
listen 3 cpub_executions >"$out" &
sleep 0.5
psql -X -q -d "$DB" -v ON_ERROR_STOP=1 >/dev/null <<EOF
SELECT * FROM cpub_worker.execution_start('$eid', NULL);
BEGIN; SELECT cpub_worker.execution_finish('$eid', NULL, 200, '{}', 'hi'); ROLLBACK;
EOF
sleep 0.5
q "SELECT cpub_worker.execution_finish('$eid', NULL, 200, '{}', 'hi')" >/dev/null
wait
[ "$(cat "$out")" = "cpub_executions $eid succeeded $fid" ]
ok $? "cpub_executions carries 'ID succeeded FUNCTION_ID' once, for the committed finish"

[ "$(q "SELECT status || ' ' || response_status || ' ' || convert_from(response_body, 'UTF8')
		  FROM cpub.executions WHERE id = '$eid'")" = "succeeded 200 hi" ]
ok $? "the execution holds the response"
