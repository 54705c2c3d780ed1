#!/usr/bin/env bash
# tests/e2e/http_auth.t: accounts over HTTP, with the real cpub-httpd and
# curl: register, login, me, profile, password, sessions, logout, refresh
# (and the reuse of a refresh token, which revokes the session), the errors
# a client meets on the way (wrong password, invalid or taken email, no or
# unknown token), and the account's own routes (tier, feature roles, early
# access, audit, runtimes).
#
# Needs PGHOST/PGPORT/PGUSER of a cluster with the extension installed
# (tests/run.sh exports them).  Prints TAP.
set -uo pipefail

# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib/http.sh"

db_create cpub_e2e_http_auth
tap_ok $? "a fresh database with the extension" || bail_out "could not create $DB"
server_start main || bail_out "cpub-httpd did not start"

# --- register and login ---------------------------------------------------------

TOKEN='' req POST /api/auth/register \
	-d '{"email":"Ada@Example.com","password":"analytical engine","first_name":"Ada"}'
expect 201 '.user_id | test("^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")' \
	"register: 201 with the new user's id"
ADA_ID=$(jqr .user_id)

TOKEN='' req POST /api/auth/register -d '{"email":"ada@example.com","password":"another password"}'
expect_error 409 23505 "register with an email already taken: 409 23505"

TOKEN='' req POST /api/auth/register -d '{"email":"not an email","password":"analytical engine"}'
expect_error 400 22Q01 "register with an invalid email: 400 22Q01"

TOKEN='' req POST /api/auth/register -d '{"email":"short@example.com","password":"short"}'
expect_error 400 22Q03 "register with a password below the policy: 400 22Q03"

TOKEN='' req POST /api/auth/login -d '{"email":"ada@example.com","password":"analytical engine"}'
expect 200 "(.access_token | startswith(\"cpa_\")) and (.refresh_token | startswith(\"cpr_\"))
	and .user_id == \"$ADA_ID\" and (.session_id | length == 36) and .must_change_password == false" \
	"login: 200 with an access and a refresh token"
ACCESS=$(jqr .access_token)
REFRESH=$(jqr .refresh_token)
SESSION=$(jqr .session_id)

TOKEN='' req POST /api/auth/login -d '{"email":"ada@example.com","password":"wrong password"}'
expect_error 401 28P01 "login with a wrong password: 401 28P01"

TOKEN='' req POST /api/auth/login -d '{"email":"nobody@example.com","password":"wrong password"}'
expect_error 401 28P01 "login with an unknown email: the same 401 28P01"

# --- the token ----------------------------------------------------------------------

TOKEN=$ACCESS req GET /api/auth/me
expect 200 ".user_id == \"$ADA_ID\" and .email == \"ada@example.com\" and .first_name == \"Ada\"
	and .status == \"active\" and .tier == \"free\"" "me: the account of the token"

TOKEN='' req GET /api/auth/me
expect_error 401 28000 "me without a token: 401 28000"
[ "$(header WWW-Authenticate)" = Bearer ]
tap_ok $? "and a WWW-Authenticate: Bearer header (got: $(header WWW-Authenticate))"

TOKEN=cpa_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA req GET /api/auth/me
expect_error 401 28000 "me with an unknown token: 401 28000"
[ "$(header WWW-Authenticate)" = 'Bearer error="invalid_token"' ]
tap_ok $? "and WWW-Authenticate: Bearer error=\"invalid_token\" (got: $(header WWW-Authenticate))"

TOKEN='' req GET '/api/functions?bogus=1'
expect_error 401 28000 "no token and a bad parameter: 401 first, not 400"

TOKEN='' req GET /api/auth/me -H "Authorization: Basic $(printf 'ada:x' | base64)"
expect_error 401 28000 "me with Basic credentials instead of a bearer token: 401 28000"

TOKEN=$ACCESS req PATCH /api/auth/me -d '{"last_name":"Lovelace"}'
expect 204 '' "PATCH me: 204, no body"
TOKEN=$ACCESS req GET /api/auth/me
expect 200 '.first_name == "Ada" and .last_name == "Lovelace"' "me shows the new last name, the first unchanged"

TOKEN=$ACCESS req PATCH /api/auth/me -d '{"first_name":"\u0007bell"}'
expect_error 400 22Q02 "PATCH me with a control character in the name: 400 22Q02"

# --- sessions -----------------------------------------------------------------------------

TOKEN='' req POST /api/auth/login -d '{"email":"ada@example.com","password":"analytical engine"}'
ACCESS2=$(jqr .access_token)
SESSION2=$(jqr .session_id)

TOKEN=$ACCESS req GET /api/auth/sessions
expect 200 "length == 2 and (map(select(.current)) | .[0].session_id == \"$SESSION\")
	and (map(.session_id) | index(\"$SESSION2\") != null)" \
	"sessions: both, the token's own marked current"

TOKEN=$ACCESS req DELETE "/api/auth/sessions/$SESSION2"
expect 204 '' "revoke the other session: 204"
TOKEN=$ACCESS2 req GET /api/auth/me
expect_error 401 28000 "the revoked session's token is refused: 401"
TOKEN=$ACCESS req DELETE "/api/auth/sessions/$SESSION2"
expect_error 404 P0002 "revoke it again: 404 P0002"
TOKEN=$ACCESS req DELETE /api/auth/sessions/not-a-uuid
expect_error 400 22P02 "revoke a session id that is no uuid: 400 22P02"

# --- refresh ----------------------------------------------------------------------------------

TOKEN='' req POST /api/auth/refresh -d "{\"refresh_token\":\"$REFRESH\"}"
expect 200 "(.access_token | startswith(\"cpa_\")) and .access_token != \"$ACCESS\"
	and (.refresh_token | startswith(\"cpr_\")) and .refresh_token != \"$REFRESH\"
	and (.access_expires_at | test(\"^[0-9]{4}-[0-9]{2}-[0-9]{2}T\"))" \
	"refresh: 200 with a new pair"
ACCESS3=$(jqr .access_token)
REFRESH3=$(jqr .refresh_token)
TOKEN=$ACCESS3 req GET /api/auth/me
expect 200 ".user_id == \"$ADA_ID\"" "the new access token works"

TOKEN='' req POST /api/auth/refresh -d "{\"refresh_token\":\"$REFRESH\"}"
expect_error 401 28Q05 "the old refresh token again: 401 28Q05 (reuse)"
TOKEN=$ACCESS3 req GET /api/auth/me
expect_error 401 28000 "and its whole session is revoked: the new access token is refused"
TOKEN='' req POST /api/auth/refresh -d "{\"refresh_token\":\"$REFRESH3\"}"
expect_error 401 28Q04 "so is the new refresh token: 401 28Q04"

TOKEN='' req POST /api/auth/refresh -d '{}'
expect_error 400 22004 "refresh without a refresh token: 400 22004"

TOKEN='' req POST /api/auth/refresh -d '{"refresh_token":'
expect_error 400 22032 "refresh with a body that is not JSON: 400 22032"

# --- password and logout ------------------------------------------------------------------------

TOKEN='' req POST /api/auth/login -d '{"email":"ada@example.com","password":"analytical engine"}'
ACCESS=$(jqr .access_token)
TOKEN='' req POST /api/auth/login -d '{"email":"ada@example.com","password":"analytical engine"}'
OTHER=$(jqr .access_token)

TOKEN=$ACCESS req POST /api/auth/password \
	-d '{"current_password":"wrong password","new_password":"difference engine"}'
expect_error 401 28P01 "change password with a wrong current password: 401 28P01"

TOKEN=$ACCESS req POST /api/auth/password \
	-d '{"current_password":"analytical engine","new_password":"difference engine"}'
expect 204 '' "change password: 204"
TOKEN=$ACCESS req GET /api/auth/me
expect 200 ".user_id == \"$ADA_ID\"" "the session that changed it goes on"
TOKEN=$OTHER req GET /api/auth/me
expect_error 401 28000 "the other sessions are revoked"
TOKEN='' req POST /api/auth/login -d '{"email":"ada@example.com","password":"analytical engine"}'
expect_error 401 28P01 "the old password is refused"
TOKEN='' req POST /api/auth/login -d '{"email":"ada@example.com","password":"difference engine"}'
expect 200 '.access_token | startswith("cpa_")' "the new one logs in"

TOKEN=$ACCESS req POST /api/auth/logout
expect 204 '' "logout: 204"
TOKEN=$ACCESS req GET /api/auth/me
expect_error 401 28000 "after logout the token is refused: 401"

# --- the account -----------------------------------------------------------------------------------

TOKEN=$(register_login grace@example.com)
[ -n "$TOKEN" ]
tap_ok $? "a second developer registers and logs in"

req GET /api/tier
expect 200 '.name == "free" and .max_functions == 5 and .max_archive_mb == 20 and .is_default' \
	"tier: the free tier and its limits"

req GET /api/feature-roles
expect 200 '. == []' "feature roles: none yet"

req GET /api/early-access
expect_error 404 P0002 "early access status before asking: 404 P0002"
req POST /api/early-access -d '{"reason":"compilers"}'
expect 201 '.status == "pending" and .reason == "compilers" and (.id | length == 36)' \
	"early access request: 201, pending"
req POST /api/early-access -d '{"reason":"again"}'
expect_error 409 23505 "asking twice: 409 23505"
req GET /api/early-access
expect 200 '.status == "pending" and .reason == "compilers"' "early access status: pending"

q "SELECT cpub_admin.early_access_set_capacity(10)" >/dev/null &&
	q "SELECT count(*) FROM cpub_admin.early_access_approve(
		 (SELECT id FROM cpub.early_access_requests), 'welcome')" >/dev/null
req GET /api/early-access
expect 200 '.status == "approved" and .note == "welcome"' "after an admin approves: approved"
req GET /api/feature-roles
expect 200 'map(.role) == ["early_access"]' "and the early_access feature role is there"

req GET /api/runtimes
expect 200 '(map(.name) | index("python") != null and index("shell") != null)
	and all(.[]; .description | length > 0)' "runtimes: the enabled runtimes, described"

req GET /api/audit
expect 200 'map(.action) | index("early_access.request") != null and index("session.login") != null
	and index("user.register") != null' "audit: the developer's own actions"
req GET '/api/audit?limit=1'
expect 200 'length == 1' "audit pages with limit"

stop_cleanly main
done_testing
