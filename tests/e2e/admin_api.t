#!/usr/bin/env bash
# tests/e2e/admin_api.t: the admin API (/admin/api) over HTTP, with the real
# test OpenID Connect provider (tests/oidc), the real cpub-httpd and the
# real PostgreSQL: a full_admin and a viewer doing each route.
#
#   - read routes: both succeed, with the right shape;
#   - write routes: the viewer gets 403 42501 (WWW-Authenticate
#     insufficient_scope) and the database is unchanged (no audit record
#     either); the full_admin's change happens (the answer, a second read,
#     the database) and its audit record names the admin: actor_kind
#     admin, actor_name the token's email, detail.admin_subject its sub;
#   - the errors an admin client meets: 404 P0002, 400 22P02, 400 22023,
#     400 23514, 409 23505/23503, 429 54Q01.
#
# What the routes need is seeded the way it happens for real: developers
# register and ask for early access through the developer API, a function
# is created, deployed and invoked; the worker's side (a build, an
# execution's end, a worker, dead jobs, a secret under the older server
# key) is played with psql as the superuser.  GET /admin/api/errors and
# /admin/api/load are not covered here.
#
# Needs node (skipped without it), PGHOST/PGPORT/PGUSER of a cluster with
# the extension installed and a server key file with two keys (tests/run.sh).
# Prints TAP.
set -uo pipefail

# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib/http.sh"
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib/oidc.sh"
oidc_need

db_create cpub_e2e_admin_api
tap_ok $? "a fresh database with the extension" || bail_out "could not create $DB"
oidc_start idp || bail_out "the test OpenID Connect provider did not start"
ISSUER=${OIDC_URL[idp]}
printf 'cpub-httpd-secret\n' >"$WORK/client.secret"
server_start main admin_oidc_issuer="$ISSUER" admin_oidc_client_id=cpub-httpd \
	admin_oidc_client_secret_file="$WORK/client.secret" \
	admin_oidc_resource=urn:containerpub-admin admin_clock_skew=0 \
	admin_jwks_refresh_min=1 admin_introspection_cache=30 ||
	bail_out "cpub-httpd did not start"

# claims JWT: its payload, decoded.
claims()
{
	local p
	p=$(cut -d. -f2 <<<"$1" | tr '_-' '/+')
	while [ $((${#p} % 4)) -ne 0 ]; do p="$p="; done
	base64 -d <<<"$p" 2>/dev/null
}

FULL=$(oidc_token idp -d username=alice -d roles=full_admin -d ttl=3600)
VIEW=$(oidc_token idp -d username=vic -d roles=viewer -d ttl=3600)
{ [ -n "$FULL" ] && [ -n "$VIEW" ]; } || bail_out "no tokens from the provider"
FULL_SUB=$(claims "$FULL" | jq -r .sub)
FULL_EMAIL=$(claims "$FULL" | jq -r .email)
VIEW_SUB=$(claims "$VIEW" | jq -r .sub)
[ "$FULL_EMAIL" = alice@example.test ] && [ -n "$FULL_SUB" ] && [ -n "$VIEW_SUB" ]
tap_ok $? "the provider issues a full_admin ($FULL_SUB) and a viewer ($VIEW_SUB) JWT"

# full METHOD PATH [CURL ARGS]: req as the full_admin; viewer: as the viewer.
full() { TOKEN=$FULL req "$@"; }
viewer() { TOKEN=$VIEW req "$@"; }

# both PATH FILTER DESC: GET PATH as the full_admin and as the viewer; each
# 200 with FILTER true of the body.
both()
{
	full GET "$1"
	expect 200 "$2" "full_admin: $3"
	viewer GET "$1"
	expect 200 "$2" "viewer: $3"
}

# refused DESC STATE_SQL METHOD PATH [CURL ARGS]: the viewer's write is
# 403 42501 with WWW-Authenticate: Bearer error="insufficient_scope", and
# STATE_SQL (the state the write would change) and the audit log read the
# same before and after.
refused()
{
	local desc=$1 sql=$2 before after www rc=0
	shift 2
	before=$(q "$sql" && q "SELECT coalesce(max(id), 0) FROM cpub.audit_log") || rc=1
	viewer "$@"
	expect_error 403 42501 "viewer: $desc: 403 42501"
	www=$(header WWW-Authenticate)
	after=$(q "$sql" && q "SELECT coalesce(max(id), 0) FROM cpub.audit_log") || rc=1
	[ $rc = 0 ] && [ "$before" = "$after" ] && [ "$www" = 'Bearer error="insufficient_scope"' ]
	tap_ok $? "  and nothing changed (no audit record; WWW-Authenticate insufficient_scope)" ||
		diag "before: $before; after: $after; WWW-Authenticate: $www"
}

# audited ACTION TARGET_ID DESC: the newest audit record of ACTION on
# TARGET_ID names the full_admin (kind, email, subject, database role) and
# no developer.
audited()
{
	local got
	got=$(q "SELECT actor_kind || '|' || actor_name || '|'
				|| coalesce(detail->>'admin_subject', '') || '|'
				|| coalesce(detail->>'admin_role', '') || '|'
				|| coalesce(actor_user_id::text, '-')
			   FROM cpub.audit_log WHERE action = '$1' AND target_id = '$2'
			  ORDER BY id DESC LIMIT 1")
	[ "$got" = "admin|$FULL_EMAIL|$FULL_SUB|cpub_admin_full|-" ]
	tap_ok $? "  audited $1 by the admin ($FULL_EMAIL, $FULL_SUB)" || diag "got: $got"
}

# uid EMAIL: the user's id.
uid()
{
	q "SELECT uuid FROM cpub.users WHERE email = '$1'"
}

# --- sign-in and who am I ---------------------------------------------------------

TOKEN='' req GET /admin/api/sign-in
expect 200 ".issuer == \"$ISSUER\" and .audience == \"containerpub-admin\"
	and .resource == \"urn:containerpub-admin\"" \
	"GET sign-in without a token: the issuer, audience and resource"

full GET /admin/api/whoami
expect 200 ".subject == \"$FULL_SUB\" and .email == \"$FULL_EMAIL\" and .user_id == null
	and .role == \"cpub_admin_full\"" "full_admin: whoami names the token's subject and email, cpub_admin_full"
viewer GET /admin/api/whoami
expect 200 ".subject == \"$VIEW_SUB\" and .email == \"vic@example.test\" and .user_id == null
	and .role == \"cpub_admin_viewer\"" "viewer: whoami, cpub_admin_viewer"

# --- seed: developers, early access requests, a function and its execution ----------

ADA=$(register_login ada@example.com)
BOB=$(register_login bob@example.com)
CAROL=$(register_login carol@example.com)
DAVE=$(register_login dave@example.com)
ADA_ID=$(uid ada@example.com)
BOB_ID=$(uid bob@example.com)
CAROL_ID=$(uid carol@example.com)
DAVE_ID=$(uid dave@example.com)
[ -n "$ADA" ] && [ -n "$BOB" ] && [ -n "$CAROL" ] && [ -n "$DAVE" ] && [ -n "$DAVE_ID" ]
tap_ok $? "four developers register and log in through /api/auth" ||
	bail_out "no developers"

for who in ADA BOB CAROL; do
	TOKEN=${!who} req POST /api/early-access -d "{\"reason\":\"$who wants in\"}"
	[ "$STATUS" = 201 ] || bail_out "early access request of $who: $STATUS $BODY"
	declare "EA_$who=$(jqr .id)"
done
tap_ok 0 "three early access requests through /api/early-access"

mkdir -p "$WORK/fn"
printf '#!/bin/sh\necho hi\n' >"$WORK/fn/handler.sh"
tar -czf "$WORK/fn.tar.gz" -C "$WORK/fn" .
TOKEN=$ADA req POST /api/functions -d '{"name":"hello","runtime":"shell"}'
FN_ID=$(jqr .id)
TOKEN=$ADA req PUT /api/functions/hello/env/GREETING -d '{"value":"hi there"}'
TOKEN=$ADA req POST /api/functions/hello/deploy -H 'Content-Type: application/gzip' \
	--data-binary "@$WORK/fn.tar.gz"
make_ready "$FN_ID"
TOKEN=$ADA req POST /api/functions/hello/invoke -d '{"async":true}'
EXEC_ID=$(jqr .execution_id)
finish "$EXEC_ID"
[ "$(q "SELECT status FROM cpub.executions WHERE id = '$EXEC_ID'")" = succeeded ]
tap_ok $? "ada's function hello, with a variable, deployed, built and invoked once" ||
	bail_out "no execution"

# The worker's side: a worker, two dead jobs, and the variable sealed again
# under the older of the server's two keys (as if written before a key
# rotation), for rekey to find.
WORKER_ID=$(q "SELECT cpub_worker.worker_register('e2e-host', 4242, ARRAY['build', 'run'], 'e2e')")
DEAD1=$(q "INSERT INTO cpub.jobs (kind, state, attempts, max_attempts, last_error)
		   VALUES ('cleanup', 'dead', 5, 5, 'e2e: gave up') RETURNING id")
DEAD2=$(q "INSERT INTO cpub.jobs (kind, state, attempts, max_attempts, last_error)
		   VALUES ('cleanup', 'dead', 5, 5, 'e2e: gave up too') RETURNING id")
CUR_KEY=$(q "SELECT key_id FROM cpub.secret_keys() WHERE is_current")
OLD_KEY=$(q "SELECT key_id FROM cpub.secret_keys() WHERE NOT is_current LIMIT 1")
q "UPDATE cpub.function_env e
	  SET key_id = (x.s).key_id, nonce = (x.s).nonce, ciphertext = (x.s).ciphertext
	 FROM (SELECT function_id, name,
				  cpub.secret_seal('env', function_id, name,
								   cpub.secret_open('env', function_id, name, key_id,
													nonce, ciphertext),
								   '$OLD_KEY') AS s
			 FROM cpub.function_env) x
	WHERE e.function_id = x.function_id AND e.name = x.name" >/dev/null
[ -n "$WORKER_ID" ] && [ -n "$DEAD1" ] && [ -n "$DEAD2" ] && [ -n "$OLD_KEY" ] &&
	[ "$(q "SELECT key_id FROM cpub.function_env")" = "$OLD_KEY" ]
tap_ok $? "a worker, two dead jobs, a variable under the older key (psql)" ||
	bail_out "could not seed the worker's side"

# --- users: reads and errors -------------------------------------------------------------

both '/admin/api/users' \
	'map(.email) == ["ada@example.com", "bob@example.com", "carol@example.com", "dave@example.com"]
	 and all(.[]; .status == "active" and .tier == "free" and (.user_id | length == 36))' \
	"GET users: every user by email, with status and tier"
both '/admin/api/users?search=CAR' 'map(.email) == ["carol@example.com"]' \
	"GET users?search: by part of the email, case-insensitive"
both '/admin/api/users?limit=2&after=ada@example.com' \
	'map(.email) == ["bob@example.com", "carol@example.com"]' "GET users pages with after and limit"
both "/admin/api/users/$ADA_ID" \
	".user_id == \"$ADA_ID\" and .email == \"ada@example.com\" and .status == \"active\"
	 and .active_sessions == 1 and .temporary_password == false and .keycloak_user_id == null" \
	"GET users/{id}: one user, with its open sessions"

full GET /admin/api/users/00000000-0000-0000-0000-000000000000
expect_error 404 P0002 "GET an unknown user: 404 P0002"
viewer GET /admin/api/users/not-a-uuid
expect_error 400 22P02 "GET users/not-a-uuid: 400 22P02"
full GET '/admin/api/users?bogus=1'
expect_error 400 22023 "GET users with an unknown argument: 400 22023"
jq -e '.error.hint | test("search, status, after, limit")' <<<"$BODY" >/dev/null
tap_ok $? "  whose hint lists the arguments the route takes" || diag "$BODY"
full GET '/admin/api/users?limit=0'
expect_error 400 22023 "GET users?limit=0: 400 22023"
viewer GET '/admin/api/users?limit=501'
expect_error 400 22023 "GET users?limit=501: 400 22023"
full GET '/admin/api/users?status=gone'
expect_error 400 22023 "GET users?status=gone: 400 22023"
full GET '/admin/api/users?limit=ten'
expect_error 400 22P02 "GET users?limit=ten: 400 22P02"

# --- users: status changes -----------------------------------------------------------------

STATE="SELECT status, status_reason FROM cpub.users WHERE uuid = '$BOB_ID'"
refused "disable a user" "$STATE" POST "/admin/api/users/$BOB_ID/disable" -d '{"reason":"spam"}'
full POST "/admin/api/users/$BOB_ID/disable" -d '{"reason":"spam"}'
expect 200 ".user_id == \"$BOB_ID\" and .status == \"blocked\" and .status_reason == \"spam\"
	and .active_sessions == 0" "full_admin: disable bob: blocked, his sessions revoked"
viewer GET "/admin/api/users/$BOB_ID"
expect 200 '.status == "blocked"' "  a second read: blocked"
audited user.disable "$BOB_ID"
TOKEN=$BOB req GET /api/auth/me
expect_error 401 28000 "  bob's access token is refused"
TOKEN='' req POST /api/auth/login -d '{"email":"bob@example.com","password":"correct horse battery"}'
expect_error 401 28Q01 "  and he cannot log in: 401 28Q01"
full POST "/admin/api/users/$BOB_ID/disable"
expect_error 400 23514 "disable a blocked user: 400 23514"
full POST "/admin/api/users/$ADA_ID/enable"
expect_error 400 23514 "enable an active user: 400 23514"
full POST "/admin/api/users/00000000-0000-0000-0000-000000000000/disable"
expect_error 404 P0002 "disable an unknown user: 404 P0002"

refused "enable a user" "$STATE" POST "/admin/api/users/$BOB_ID/enable"
full POST "/admin/api/users/$BOB_ID/enable" -d '{"reason":"appeal"}'
expect 200 '.status == "active" and .status_reason == "appeal"' "full_admin: enable bob: active"
viewer GET "/admin/api/users/$BOB_ID"
expect 200 '.status == "active"' "  a second read: active"
audited user.enable "$BOB_ID"
TOKEN='' req POST /api/auth/login -d '{"email":"bob@example.com","password":"correct horse battery"}'
expect 200 '.access_token | startswith("cpa_")' "  bob logs in again"
BOB=$(jqr .access_token)

refused "delete a user" "$STATE" DELETE "/admin/api/users/$BOB_ID"
full DELETE "/admin/api/users/$BOB_ID" -d '{"reason":"asked to leave"}'
expect 200 '.status == "deleted" and .active_sessions == 0' "full_admin: soft-delete bob: deleted"
both '/admin/api/users?status=deleted' 'map(.email) == ["bob@example.com"]' \
	"GET users?status=deleted: bob"
audited user.delete "$BOB_ID"
TOKEN=$BOB req GET /api/auth/me
expect_error 401 28000 "  bob's new session is revoked"

refused "restore a user" "$STATE" POST "/admin/api/users/$BOB_ID/restore"
full POST "/admin/api/users/$BOB_ID/restore"
expect 200 '.status == "active"' "full_admin: restore bob: active"
viewer GET "/admin/api/users/$BOB_ID"
expect 200 '.status == "active"' "  a second read: active"
audited user.restore "$BOB_ID"
full POST "/admin/api/users/$BOB_ID/restore"
expect_error 400 23514 "restore an active user: 400 23514"

# --- users: password, sessions, OpenID Connect subject --------------------------------------

STATE="SELECT password_hash, temporary_password FROM cpub.users WHERE uuid = '$CAROL_ID'"
refused "set a temporary password" "$STATE" POST "/admin/api/users/$CAROL_ID/temporary-password"
full POST "/admin/api/users/$CAROL_ID/temporary-password"
expect 200 'type == "string" and length >= 12' "full_admin: a temporary password, shown once"
TEMP_PW=$(jqr .)
viewer GET "/admin/api/users/$CAROL_ID"
expect 200 '.temporary_password == true and .active_sessions == 0' \
	"  a second read: temporary, her sessions revoked"
audited user.set_temporary_password "$CAROL_ID"
TOKEN='' req POST /api/auth/login -d "$(jq -nc --arg p "$TEMP_PW" '{email: "carol@example.com", password: $p}')"
expect 200 '.must_change_password == true' "  carol logs in with it and must change it"
q "SELECT count(*) FROM cpub.audit_log WHERE detail::text LIKE '%$TEMP_PW%'" | grep -qx 0
tap_ok $? "  the password is in no audit record"

STATE="SELECT count(*) FROM cpub.sessions WHERE user_id = '$ADA_ID' AND revoked_at IS NULL"
refused "revoke a user's sessions" "$STATE" DELETE "/admin/api/users/$ADA_ID/sessions"
TOKEN=$ADA req GET /api/auth/me
expect 200 '.email == "ada@example.com"' "  ada's token still works"
full DELETE "/admin/api/users/$ADA_ID/sessions"
expect 200 '.revoked == 1' "full_admin: revoke ada's sessions: {\"revoked\": 1}"
viewer GET "/admin/api/users/$ADA_ID"
expect 200 '.active_sessions == 0' "  a second read: no open session"
audited user.revoke_sessions "$ADA_ID"
TOKEN=$ADA req GET /api/auth/me
expect_error 401 28000 "  ada's token is refused"
TOKEN='' req POST /api/auth/login -d '{"email":"ada@example.com","password":"correct horse battery"}'
ADA=$(jqr .access_token)

STATE="SELECT keycloak_user_id FROM cpub.users WHERE uuid = '$DAVE_ID'"
refused "link an OpenID Connect subject" "$STATE" PUT "/admin/api/users/$DAVE_ID/oidc-subject" \
	-d '{"subject":"kc-dave"}'
full PUT "/admin/api/users/$DAVE_ID/oidc-subject" -d '{"subject":"kc-dave"}'
expect 200 ".user_id == \"$DAVE_ID\" and .keycloak_user_id == \"kc-dave\"" \
	"full_admin: link dave to the subject kc-dave"
viewer GET "/admin/api/users/$DAVE_ID"
expect 200 '.keycloak_user_id == "kc-dave"' "  a second read: linked"
audited user.link_oidc "$DAVE_ID"
full PUT "/admin/api/users/$CAROL_ID/oidc-subject" -d '{"subject":"kc-dave"}'
expect_error 409 23505 "link a second user to the same subject: 409 23505"
full PUT "/admin/api/users/$DAVE_ID/oidc-subject" -d '{"subject":null}'
expect 200 '.keycloak_user_id == null' "full_admin: unlink dave (subject null)"
audited user.unlink_oidc "$DAVE_ID"
full PUT "/admin/api/users/$DAVE_ID/oidc-subject"
expect_error 400 22004 "link without a subject: 400 22004"

# --- feature roles -------------------------------------------------------------------------

STATE="SELECT count(*) FROM cpub.feature_roles WHERE user_id = '$ADA_ID'"
refused "grant a feature role" "$STATE" PUT "/admin/api/users/$ADA_ID/feature-roles/beta"
full PUT "/admin/api/users/$ADA_ID/feature-roles/beta"
expect 200 "length == 1 and .[0].user_id == \"$ADA_ID\" and .[0].role == \"beta\"" \
	"full_admin: grant ada the feature role beta"
both "/admin/api/users/$ADA_ID/feature-roles" \
	"map(.role) == [\"beta\"] and .[0].email == \"ada@example.com\"" \
	"GET users/{id}/feature-roles: beta"
both '/admin/api/feature-roles?role=beta' "map(.user_id) == [\"$ADA_ID\"]" \
	"GET feature-roles?role=beta: ada"
[ "$(q "SELECT granted_by FROM cpub.feature_roles WHERE user_id = '$ADA_ID' AND role = 'beta'")" = "$FULL_EMAIL" ]
tap_ok $? "  granted_by names the admin, as the audit log does" ||
	diag "granted_by: $(q "SELECT granted_by FROM cpub.feature_roles WHERE role = 'beta'")"
audited feature_role.grant "$ADA_ID"
TOKEN=$ADA req GET /api/feature-roles
expect 200 'map(.role) == ["beta"]' "  ada sees it at /api/feature-roles"
full PUT "/admin/api/users/$ADA_ID/feature-roles/beta"
expect_error 409 23505 "grant it again: 409 23505"
full PUT "/admin/api/users/$ADA_ID/feature-roles/Not%20Valid"
expect_error 400 22Q04 "grant a role with an invalid name: 400 22Q04"
full GET "/admin/api/users/00000000-0000-0000-0000-000000000000/feature-roles"
expect_error 404 P0002 "feature roles of an unknown user: 404 P0002"

refused "revoke a feature role" "$STATE" DELETE "/admin/api/users/$ADA_ID/feature-roles/beta"
full DELETE "/admin/api/users/$ADA_ID/feature-roles/beta"
expect 204 '' "full_admin: revoke it: 204"
both "/admin/api/users/$ADA_ID/feature-roles" '. == []' "  a second read: none"
audited feature_role.revoke "$ADA_ID"
full DELETE "/admin/api/users/$ADA_ID/feature-roles/beta"
expect_error 404 P0002 "revoke it again: 404 P0002"

# --- tiers -------------------------------------------------------------------------------------

PRO='{"name":"pro","max_functions":50,"max_memory_mb":1024,"max_timeout_seconds":120,
	"max_concurrency":20,"monthly_invocations":5000000,"max_archive_mb":100,
	"requests_per_second":100,"description":"For teams"}'
both /admin/api/tiers 'map(.name) == ["free"] and .[0].is_default and .[0].max_functions == 5' \
	"GET tiers: the free tier, the default"
both /admin/api/tiers/free '.name == "free" and .assigned_users == 0' "GET tiers/free"
full GET /admin/api/tiers/gold
expect_error 404 P0002 "GET an unknown tier: 404 P0002"

STATE="SELECT count(*) FROM cpub.tiers"
refused "create a tier" "$STATE" POST /admin/api/tiers -d "$PRO"
full POST /admin/api/tiers -d "$PRO"
expect 201 'type == "string" and length == 36' "full_admin: create the tier pro: 201 with its id"
PRO_ID=$(jqr .)
both /admin/api/tiers/pro ".id == \"$PRO_ID\" and .max_functions == 50 and .description == \"For teams\"
	and .is_default == false" "  a second read: GET tiers/pro"
audited tier.create "$PRO_ID"
full POST /admin/api/tiers -d "$PRO"
expect_error 409 23505 "create it again: 409 23505"
full POST /admin/api/tiers -d '{"name":"half"}'
expect_error 400 22004 "create a tier without its limits: 400 22004"

STATE="SELECT max_functions, description FROM cpub.tiers WHERE name = 'pro'"
refused "change a tier" "$STATE" PATCH /admin/api/tiers/pro -d '{"max_functions":60}'
full PATCH /admin/api/tiers/pro -d '{"max_functions":60,"description":"For larger teams"}'
expect 204 '' "full_admin: change pro's limits: 204"
both /admin/api/tiers/pro '.max_functions == 60 and .description == "For larger teams" and .max_memory_mb == 1024' \
	"  a second read: changed, the rest kept"
audited tier.update "$PRO_ID"
full PATCH /admin/api/tiers/pro -d '{"max_functions":-1}'
expect_error 400 22023 "change a tier to a negative limit: 400 22023"

STATE="SELECT tier_id FROM cpub.users WHERE uuid = '$ADA_ID'"
refused "assign a tier to a user" "$STATE" PUT "/admin/api/users/$ADA_ID/tier" -d '{"tier":"pro"}'
full PUT "/admin/api/users/$ADA_ID/tier" -d '{"tier":"pro"}'
expect 204 '' "full_admin: assign pro to ada: 204"
viewer GET "/admin/api/users/$ADA_ID"
expect 200 '.tier == "pro"' "  a second read: ada is on pro"
audited tier.assign "$ADA_ID"
TOKEN=$ADA req GET /api/tier
expect 200 '.name == "pro" and .max_functions == 60' "  ada sees it at /api/tier"
full PUT "/admin/api/users/$ADA_ID/tier" -d '{"tier":"gold"}'
expect_error 404 P0002 "assign an unknown tier: 404 P0002"

full DELETE /admin/api/tiers/pro
expect_error 409 23503 "delete a tier assigned to a user: 409 23503"
full PUT "/admin/api/users/$BOB_ID/tier" -d '{"tier":"pro"}'
full PUT "/admin/api/users/$BOB_ID/tier" -d '{"tier":null}'
expect 204 '' "full_admin: put bob back on the default tier (tier null): 204"
viewer GET "/admin/api/users/$BOB_ID"
expect 200 '.tier == "free"' "  a second read: bob is on free"
[ "$(q "SELECT tier_id IS NULL FROM cpub.users WHERE uuid = '$BOB_ID'")" = t ]
tap_ok $? "  with no tier of his own"

STATE="SELECT name FROM cpub.tiers WHERE is_default"
refused "make a tier the default" "$STATE" POST /admin/api/tiers/pro/default
full POST /admin/api/tiers/pro/default
expect 204 '' "full_admin: make pro the default: 204"
both /admin/api/tiers 'map(select(.is_default) | .name) == ["pro"]' "  a second read: pro is the default"
audited tier.set_default "$PRO_ID"
full POST /admin/api/tiers/free/default
expect 204 '' "  and free again"

full POST /admin/api/tiers -d "$(jq -c '.name = "spare"' <<<"$PRO")"
SPARE_ID=$(jqr .)
STATE="SELECT count(*) FROM cpub.tiers WHERE name = 'spare'"
refused "delete a tier" "$STATE" DELETE /admin/api/tiers/spare
full DELETE /admin/api/tiers/spare
expect 204 '' "full_admin: delete the unused tier spare: 204"
full GET /admin/api/tiers/spare
expect_error 404 P0002 "  a second read: 404 P0002"
audited tier.delete "$SPARE_ID"
full DELETE /admin/api/tiers/free
expect_error 409 23503 "delete the default tier: 409 23503"

# --- organizations ---------------------------------------------------------------------------

ACME='{"name":"acme","owner_email":"ada@example.com","display_name":"Acme Inc"}'
both /admin/api/organizations '. == []' "GET organizations: none yet"
STATE="SELECT count(*) FROM cpub.organizations"
refused "create an organization" "$STATE" POST /admin/api/organizations -d "$ACME"
full POST /admin/api/organizations -d "$ACME"
expect 201 'type == "string" and length == 36' "full_admin: create acme for ada: 201 with its id"
ORG_ID=$(jqr .)
both /admin/api/organizations/acme ".id == \"$ORG_ID\" and .display_name == \"Acme Inc\" and .members == 1
	and .tier == \"free\" and .tier_assigned == false and .created_by == null" \
	"  a second read: GET organizations/acme"
both '/admin/api/organizations?search=acm' 'map(.name) == ["acme"]' "GET organizations?search"
audited organization.create "$ORG_ID"
TOKEN=$ADA req GET /api/organizations
expect 200 'map(.name) == ["acme"]' "  ada owns it: /api/organizations"
full POST /admin/api/organizations -d "$ACME"
expect_error 409 23505 "create it again: 409 23505"
full POST /admin/api/organizations -d '{"name":"ghost","owner_email":"nobody@example.com"}'
expect_error 404 P0002 "create one for an unknown owner: 404 P0002"
full GET /admin/api/organizations/nope
expect_error 404 P0002 "GET an unknown organization: 404 P0002"

STATE="SELECT count(*) FROM cpub.organization_members WHERE organization_id = '$ORG_ID'"
refused "add a member" "$STATE" POST /admin/api/organizations/acme/members \
	-d '{"email":"carol@example.com","role":"member"}'
full POST /admin/api/organizations/acme/members -d '{"email":"carol@example.com","role":"member"}'
expect 204 '' "full_admin: add carol to acme: 204"
both /admin/api/organizations/acme/members \
	'map([.email, .role]) == [["ada@example.com", "owner"], ["carol@example.com", "member"]]' \
	"  a second read: GET members, owners first"
audited organization.member_add "$ORG_ID"
full POST /admin/api/organizations/acme/members -d '{"email":"carol@example.com"}'
expect_error 409 23505 "add her again: 409 23505"

STATE="SELECT role FROM cpub.organization_members WHERE user_id = '$CAROL_ID'"
refused "change a member's role" "$STATE" PUT /admin/api/organizations/acme/members/carol@example.com \
	-d '{"role":"admin"}'
full PUT /admin/api/organizations/acme/members/carol@example.com -d '{"role":"admin"}'
expect 204 '' "full_admin: make carol an admin of acme: 204"
both /admin/api/organizations/acme/members 'map(.role) == ["owner", "admin"]' "  a second read: admin"
audited organization.member_set_role "$ORG_ID"
full PUT /admin/api/organizations/acme/members/ada@example.com -d '{"role":"member"}'
expect_error 400 23514 "demote the last owner: 400 23514"

STATE="SELECT count(*) FROM cpub.organization_members WHERE organization_id = '$ORG_ID'"
refused "remove a member" "$STATE" DELETE /admin/api/organizations/acme/members/carol@example.com
full DELETE /admin/api/organizations/acme/members/carol@example.com
expect 204 '' "full_admin: remove carol from acme: 204"
both /admin/api/organizations/acme/members 'map(.email) == ["ada@example.com"]' "  a second read: ada alone"
audited organization.member_remove "$ORG_ID"

STATE="SELECT tier_id FROM cpub.organizations WHERE id = '$ORG_ID'"
refused "assign a tier to an organization" "$STATE" PUT /admin/api/organizations/acme/tier \
	-d '{"tier":"pro"}'
full PUT /admin/api/organizations/acme/tier -d '{"tier":"pro"}'
expect 204 '' "full_admin: assign pro to acme: 204"
both /admin/api/organizations/acme '.tier == "pro" and .tier_assigned' "  a second read: acme is on pro"
audited tier.assign "$ORG_ID"

STATE="SELECT name FROM cpub.organizations WHERE id = '$ORG_ID'"
refused "rename an organization" "$STATE" PATCH /admin/api/organizations/acme -d '{"new_name":"acme-labs"}'
full PATCH /admin/api/organizations/acme -d '{"new_name":"acme-labs"}'
expect 204 '' "full_admin: rename acme to acme-labs: 204"
both /admin/api/organizations/acme-labs ".id == \"$ORG_ID\"" "  a second read: GET organizations/acme-labs"
full GET /admin/api/organizations/acme
expect_error 404 P0002 "  and acme is gone: 404 P0002"
audited organization.rename "$ORG_ID"

STATE="SELECT count(*) FROM cpub.organizations"
refused "delete an organization" "$STATE" DELETE /admin/api/organizations/acme-labs
full DELETE /admin/api/organizations/acme-labs
expect 204 '' "full_admin: delete acme-labs: 204"
both /admin/api/organizations '. == []' "  a second read: no organization"
audited organization.delete "$ORG_ID"
full DELETE /admin/api/organizations/acme-labs
expect_error 404 P0002 "delete it again: 404 P0002"

# --- early access ------------------------------------------------------------------------------

both '/admin/api/early-access' \
	"map(.id) == [\"$EA_ADA\", \"$EA_BOB\", \"$EA_CAROL\"] and all(.[]; .status == \"pending\")
	 and .[0].email == \"ada@example.com\" and .[0].reason == \"ADA wants in\"" \
	"GET early-access: the three requests, oldest first"
both "/admin/api/early-access?limit=1&after=$EA_ADA" "map(.id) == [\"$EA_BOB\"]" \
	"GET early-access pages with after and limit"
both /admin/api/early-access/capacity '.capacity == null and .approved == 0 and .remaining == null' \
	"GET early-access/capacity: no cap"
full GET '/admin/api/early-access?status=maybe'
expect_error 400 22023 "GET early-access?status=maybe: 400 22023"

STATE="SELECT cpub.setting('early_access_capacity')"
refused "set the early access capacity" "$STATE" PUT /admin/api/early-access/capacity -d '{"capacity":1}'
full PUT /admin/api/early-access/capacity -d '{"capacity":1}'
expect 200 '.capacity == 1 and .approved == 0 and .remaining == 1' "full_admin: capacity 1"
both /admin/api/early-access/capacity '.capacity == 1 and .remaining == 1' "  a second read: capacity 1"
audited early_access.set_capacity early_access_capacity
full PUT /admin/api/early-access/capacity -d '{"capacity":-1}'
expect_error 400 22023 "a negative capacity: 400 22023"
full PUT /admin/api/early-access/capacity
expect_error 400 22004 "no capacity given: 400 22004"

STATE="SELECT status, note, decided_by FROM cpub.early_access_requests WHERE id = '$EA_ADA'"
refused "approve a request" "$STATE" POST "/admin/api/early-access/$EA_ADA/approve"
full POST "/admin/api/early-access/$EA_ADA/approve" -d '{"note":"welcome"}'
expect 200 ".id == \"$EA_ADA\" and .status == \"approved\" and .note == \"welcome\"
	and .decided_by == \"$FULL_EMAIL\"" "full_admin: approve ada's request, decided by the admin"
both '/admin/api/early-access?status=approved' "map(.id) == [\"$EA_ADA\"]" \
	"  a second read: GET early-access?status=approved"
audited early_access.approve "$EA_ADA"
TOKEN=$ADA req GET /api/feature-roles
expect 200 'map(.role) == ["early_access"]' "  ada holds the feature role early_access"
full POST "/admin/api/early-access/$EA_ADA/approve"
expect_error 400 23514 "approve it again: 400 23514"
full POST "/admin/api/early-access/$EA_BOB/approve"
expect_error 429 54Q01 "approve beyond the capacity: 429 54Q01"
full POST /admin/api/early-access/00000000-0000-0000-0000-000000000000/approve
expect_error 404 P0002 "approve an unknown request: 404 P0002"
full POST /admin/api/early-access/nope/approve
expect_error 400 22P02 "approve a request id that is no uuid: 400 22P02"

STATE="SELECT status, note FROM cpub.early_access_requests WHERE id = '$EA_BOB'"
full POST "/admin/api/early-access/$EA_BOB/reject"
expect_error 400 22004 "reject without a note: 400 22004"
refused "reject a request" "$STATE" POST "/admin/api/early-access/$EA_BOB/reject" -d '{"note":"not now"}'
full POST "/admin/api/early-access/$EA_BOB/reject" -d '{"note":"not now"}'
expect 200 '.status == "rejected" and .note == "not now"' "full_admin: reject bob's request"
both '/admin/api/early-access?status=rejected' "map(.id) == [\"$EA_BOB\"]" "  a second read: rejected"
audited early_access.reject "$EA_BOB"

STATE="SELECT status, note FROM cpub.early_access_requests WHERE id = '$EA_CAROL'"
refused "waitlist a request" "$STATE" POST "/admin/api/early-access/$EA_CAROL/waitlist" -d '{"note":"later"}'
full POST "/admin/api/early-access/$EA_CAROL/waitlist" -d '{"note":"later"}'
expect 200 '.status == "waitlisted" and .note == "later"' "full_admin: waitlist carol's request"
both '/admin/api/early-access?status=waitlisted' "map(.id) == [\"$EA_CAROL\"]" "  a second read: waitlisted"
audited early_access.waitlist "$EA_CAROL"
full PUT /admin/api/early-access/capacity -d '{"capacity":null}'
expect 200 '.capacity == null and .approved == 1 and .remaining == null' \
	"full_admin: capacity null: no cap"
full POST "/admin/api/early-access/$EA_BOB/approve"
expect 200 '.status == "approved"' "  so bob's request can be approved now"

# --- observability --------------------------------------------------------------------------------

N_ADMIN=$(q "SELECT count(*) FROM cpub.audit_log WHERE actor_kind = 'admin'")
both "/admin/api/audit?actor_name=$FULL_EMAIL&limit=500" \
	"length == $N_ADMIN and length > 20
	 and all(.[]; .actor_kind == \"admin\" and .detail.admin_subject == \"$FULL_SUB\")" \
	"GET audit?actor_name: the full_admin's $N_ADMIN records, all of kind admin"
both '/admin/api/audit?action=user.*&target_id='"$BOB_ID" \
	'map(.action) == ["user.restore", "user.delete", "user.enable", "user.disable", "user.register"]' \
	"GET audit?action=user.*&target_id: bob's records, newest first"
both "/admin/api/audit?actor_user_id=$CAROL_ID&action=early_access.request" \
	"length == 1 and .[0].actor_kind == \"user\" and .[0].target_id == \"$EA_CAROL\"" \
	"GET audit?actor_user_id: a developer's own record"
both '/admin/api/audit?limit=2' 'length == 2 and .[0].id > .[1].id' "GET audit?limit=2: newest first"
full GET '/admin/api/audit?limit=501'
expect_error 400 22023 "GET audit?limit=501: 400 22023"
full GET '/admin/api/audit?since=2030-01-02T00:00:00Z&until=2030-01-01T00:00:00Z'
expect_error 400 22023 "GET audit with until before since: 400 22023"
full GET '/admin/api/audit?since=yesterday-ish'
expect_error 400 22007 "GET audit?since that is no time: 400 22007"

both /admin/api/executions \
	"map(.id) == [\"$EXEC_ID\"] and .[0].function_id == \"$FN_ID\" and .[0].function_name == \"hello\"
	 and .[0].status == \"succeeded\" and .[0].trigger == \"async\"" \
	"GET executions: ada's one execution"
both "/admin/api/executions?owner_id=$BOB_ID" '. == []' "GET executions?owner_id: none of bob's"
both /admin/api/functions \
	"map(.name) == [\"hello\"] and .[0].owner_id == \"$ADA_ID\" and .[0].runtime == \"shell\"
	 and .[0].active_version == 1" "GET functions: every function"
both '/admin/api/functions?search=nothing' '. == []' "GET functions?search"

both '/admin/api/jobs?state=dead' \
	"map(.id) == [$DEAD1, $DEAD2] and all(.[]; .kind == \"cleanup\" and .attempts == 5)" \
	"GET jobs?state=dead: the two dead jobs"
both "/admin/api/jobs/$DEAD1" ".id == $DEAD1 and .state == \"dead\" and .last_error == \"e2e: gave up\"" \
	"GET jobs/{id}"
full GET /admin/api/jobs/999999
expect_error 404 P0002 "GET an unknown job: 404 P0002"
full GET /admin/api/jobs/abc
expect_error 400 22P02 "GET jobs/abc: 400 22P02"
full GET '/admin/api/jobs?kind=nap'
expect_error 400 22023 "GET jobs?kind=nap: 400 22023"
both /admin/api/queue \
	'length == 12 and (map(select(.kind == "cleanup" and .state == "dead")) | .[0].jobs == 2)
	 and all(.[]; has("delayed") and has("oldest_wait"))' \
	"GET queue: every kind and state, the two dead cleanup jobs"
q "SELECT cpub_worker.worker_heartbeat('$WORKER_ID')" >/dev/null
both /admin/api/workers \
	"map(.id) == [\"$WORKER_ID\"] and .[0].host == \"e2e-host\" and .[0].pid == 4242 and .[0].alive
	 and .[0].capabilities == [\"build\", \"run\"] and .[0].running_jobs == 0" \
	"GET workers: the live worker and its heartbeat"
q "SELECT cpub_worker.worker_deregister('$WORKER_ID')" >/dev/null
both /admin/api/workers '. == []' "GET workers after it stopped: none"
both '/admin/api/workers?include_stopped=true' \
	"map(.id) == [\"$WORKER_ID\"] and .[0].alive == false and .[0].stopped_at != null" \
	"GET workers?include_stopped=true: the stopped one"

# --- jobs ---------------------------------------------------------------------------------------------

STATE="SELECT state, attempts FROM cpub.jobs WHERE id = $DEAD1"
refused "retry a dead job" "$STATE" POST "/admin/api/jobs/$DEAD1/retry"
full POST "/admin/api/jobs/$DEAD1/retry"
expect 200 ".id == $DEAD1 and .state == \"pending\" and .attempts == 0" \
	"full_admin: retry a dead job: pending, attempts from 0"
both "/admin/api/jobs/$DEAD1" '.state == "pending"' "  a second read: pending"
audited job.retry "$DEAD1"
full POST "/admin/api/jobs/$DEAD1/retry"
expect_error 400 23514 "retry a job that is not dead: 400 23514"

STATE="SELECT count(*) FROM cpub.jobs WHERE id = $DEAD2"
refused "delete a dead job" "$STATE" DELETE "/admin/api/jobs/$DEAD2"
full DELETE "/admin/api/jobs/$DEAD2"
expect 204 '' "full_admin: delete a dead job: 204"
full GET "/admin/api/jobs/$DEAD2"
expect_error 404 P0002 "  a second read: 404 P0002"
audited job.delete "$DEAD2"
full DELETE "/admin/api/jobs/$DEAD1"
expect_error 400 23514 "delete a pending job: 400 23514"

# --- settings, runtimes, secrets ------------------------------------------------------------------------

both /admin/api/settings \
	'(map(.name) | index("access_token_ttl") != null and index("early_access_capacity") != null)
	 and (map(select(.name == "access_token_ttl")) | .[0].value == "15 minutes" and .[0].default_value == "15 minutes")
	 and (map(select(.name == "early_access_capacity")) | .[0].value == null)' \
	"GET settings: each with its value and default"
STATE="SELECT cpub.setting('access_token_ttl')"
refused "change a setting" "$STATE" PUT /admin/api/settings/access_token_ttl -d '{"value":"20 minutes"}'
full PUT /admin/api/settings/access_token_ttl -d '{"value":"20 minutes"}'
expect 200 '. == "20 minutes"' "full_admin: access_token_ttl 20 minutes"
both /admin/api/settings 'map(select(.name == "access_token_ttl")) | .[0].value == "20 minutes"
	and .[0].updated_at != null' "  a second read: 20 minutes"
audited setting.set access_token_ttl
full PUT /admin/api/settings/access_token_ttl -d '{"value":null}'
expect 200 '. == "15 minutes"' "full_admin: value null puts the default back"
[ "$(q "SELECT count(*) FROM cpub.settings WHERE name = 'access_token_ttl'")" = 0 ]
tap_ok $? "  in the database too"
full PUT /admin/api/settings/access_token_ttl -d '{"value":"soon"}'
expect_error 400 22023 "a value that is no interval: 400 22023"
full PUT /admin/api/settings/coffee -d '{"value":"black"}'
expect_error 404 P0002 "an unknown setting: 404 P0002"
full PUT /admin/api/settings/access_token_ttl -d '{"value":"1 hour","extra":1}'
expect_error 400 22023 "a body with an unknown argument: 400 22023"

both /admin/api/runtimes 'map(.name) == ["c", "python", "shell"] and all(.[]; .enabled)' \
	"GET runtimes: every runtime"
STATE="SELECT enabled, description FROM cpub.runtimes WHERE name = 'python'"
refused "disable a runtime" "$STATE" PATCH /admin/api/runtimes/python -d '{"enabled":false}'
full PATCH /admin/api/runtimes/python -d '{"enabled":false,"description":"Python 3, paused"}'
expect 200 '.name == "python" and .enabled == false and .description == "Python 3, paused"' \
	"full_admin: disable python"
both /admin/api/runtimes 'map(select(.enabled) | .name) == ["c", "shell"]' "  a second read: python disabled"
audited runtime.set python
TOKEN=$ADA req GET /api/runtimes
expect 200 'map(.name) | index("python") == null and index("shell") != null' \
	"  developers no longer see it at /api/runtimes"
full PATCH /admin/api/runtimes/Py-thon -d '{"enabled":true}'
expect_error 400 22Q04 "a runtime name that is invalid: 400 22Q04"

both /admin/api/secrets \
	"(map(.key_id) == [\"$CUR_KEY\", \"$OLD_KEY\"]) and .[0].is_current and .[0].env_vars == 0
	 and .[1].is_current == false and .[1].configured and .[1].env_vars == 1" \
	"GET secrets: the two keys, one variable under the older"
STATE="SELECT key_id FROM cpub.function_env"
refused "rekey the secrets" "$STATE" POST /admin/api/secrets/rekey
full POST /admin/api/secrets/rekey
expect 200 "length == 1 and .[0].current_key_id == \"$CUR_KEY\" and .[0].env_vars == 1
	and .[0].invocation_keys == 0" "full_admin: rekey: one variable sealed again"
both /admin/api/secrets "map(select(.key_id == \"$CUR_KEY\")) | .[0].env_vars == 1" \
	"  a second read: the variable is under the current key"
[ "$(q "SELECT key_id FROM cpub.function_env")" = "$CUR_KEY" ]
tap_ok $? "  in the database too"
audited secrets.rekey "$CUR_KEY"

# --- no admin route left unvisited ------------------------------------------------------------------------

full GET /admin/api/nothing-here
expect_error 404 P0002 "an admin path that is no route: 404"
viewer PUT /admin/api/users
expect_error 405 0A000 "a method the path does not have: 405 0A000"
[ "$(header Allow)" = GET ]
tap_ok $? "  with Allow: GET (got: $(header Allow))"

stop_cleanly main
done_testing
