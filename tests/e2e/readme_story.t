#!/usr/bin/env bash
# tests/e2e/readme_story.t: runs the DBA's tour of README.md, exactly as
# written there, against a fresh database of the test cluster, then checks
# that it did what the README says.  Keeps the README true.
#
# Needs PGHOST/PGPORT/PGUSER of a cluster with the extension installed
# (tests/run.sh exports them).  Prints TAP.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd -P)
DB=cpub_readme_story
export PGOPTIONS="-c client_min_messages=warning"
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib/tap.sh"


q()
{
	psql -X -q -At -v ON_ERROR_STOP=1 -d "$DB" -c "$1"
}

echo "1..10"

story=$(mktemp)
trap 'rm -f "$story"; psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $DB" >/dev/null 2>&1' EXIT
sed -n '/<!-- readme-story:begin -->/,/<!-- readme-story:end -->/p' "$ROOT/README.md" |
	sed '/^<!--/d; /^```/d' >"$story"
[ -s "$story" ]
ok $? "README.md has the DBA's tour between its markers"

psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB" >/dev/null &&
	psql -X -q -d "$DB" -c "CREATE EXTENSION containerpub" >/dev/null
ok $? "a fresh database with the extension"

out=$(psql -X -v ON_ERROR_STOP=1 -d "$DB" -f "$story" 2>&1)
status=$?
[ $status -ne 0 ] && echo "$out" | sed 's/^/# /'
ok $status "the tour runs in psql without an error"

[ "$(q "SELECT t.name FROM cpub.organizations o JOIN cpub.tiers t ON t.id = o.tier_id
		  WHERE o.name = 'difference-engines'")" = pro ]
ok $? "the organization exists, on tier pro"

[ "$(q "SELECT r.status || ' ' || cpub.has_feature_role(u.uuid, 'early_access')
		  FROM cpub.early_access_requests r JOIN cpub.users u ON u.uuid = r.user_id
		 WHERE u.email = 'ada@example.com'")" = "approved true" ]
ok $? "early access is approved and grants the early_access role"

[ "$(q "SELECT count(*) FROM cpub.sessions s JOIN cpub.users u ON u.uuid = s.user_id
		 WHERE u.email = 'ada@example.com' AND s.refreshed_at IS NOT NULL AND s.revoked_at IS NULL")" = 1 ]
ok $? "the session was refreshed and is still open"

[ "$(q "SELECT f.status || ' ' || v.version || ' ' || e.status || ' ' || e.result::text
		  FROM cpub.functions f JOIN cpub.function_versions v ON v.id = f.active_version_id
		  JOIN cpub.executions e ON e.function_id = f.id WHERE f.name = 'bernoulli'")" = 'active 1 succeeded {"b10": "5/66"}' ]
ok $? "the function is active on version 1 and its execution succeeded with the result"

[ "$(q "SELECT count(*) FROM cpub.function_env WHERE name = 'PRECISION'
		   AND position(convert_to('sixty-four bits', 'UTF8') IN ciphertext) = 0")" = 1 ]
ok $? "the environment variable is stored encrypted"

[ "$(q "SELECT count(*) FROM cpub.jobs")" = 0 ]
ok $? "the worker completed both jobs: the queue is empty"

want="early_access.approve early_access.request early_access.set_capacity feature_role.grant function.create function.deploy function.env_set organization.create session.login tier.assign tier.create user.register"
got=$(q "SELECT string_agg(DISTINCT action, ' ' ORDER BY action) FROM cpub.audit_log")
[ "$got" = "$want" ]
ok $? "the audit log has every step (got: $got)"

[ $failed -eq 0 ]
