#!/usr/bin/env bash
# tests/e2e/admin_auth.t: admins' tokens over HTTP, with the real test
# OpenID Connect provider (tests/oidc), the real cpub-httpd and the real
# PostgreSQL.
#
#   - refused with 401 28000 and WWW-Authenticate: Bearer
#     error="invalid_token" (the server's log says why, under the request
#     id): expired, not yet valid, another issuer (a second provider, with
#     keys and an issuer URL of its own), another audience, a signature
#     byte flipped, the payload changed under the signature, a key id the
#     provider never published, alg none, garbage; no token: 401 with
#     WWW-Authenticate: Bearer; a developer's cpa_ token: 401; a token
#     without an admin role: 403 42501, error="insufficient_scope";
#   - opaque tokens, checked by RFC 7662 introspection;
#   - legacy HS256 tokens (admin_hs256_secret_file), made here with openssl;
#   - the admin API off (no admin_oidc_issuer): 404 P0002;
#   - an admin token on a developer's route: 401 unless its subject is
#     linked to a user (PUT /admin/api/users/{id}/oidc-subject), whose
#     developer it then is; the linked admin's admin changes name that user;
#   - key rotation at the provider, then the old key unpublished;
#   - the provider down: what the server holds keeps working, nothing new
#     does (fail closed).
#
# What the server does when the provider unpublishes a key (POST
# /test/drop-old-keys), asserted below: nothing at once.  It fetches the
# JWKS only at start and when a token names a kid it does not hold (at
# most once per admin_jwks_refresh_min), never on a schedule, so until
# such a token comes the old key is still held and a JWT signed by it,
# even one never seen, verifies.  After a fetch the key is gone and such
# a JWT is refused.  A verdict, though, is cached by the token's SHA-256
# until the token's own exp (docs/admin-auth.md), so a JWT verified before
# stays accepted until it expires, whatever happens at the provider: the
# price of no call to the provider on the request path, bounded by the
# tokens' lifetime (the provider's access token TTL).
#
# Needs node (skipped without it), PGHOST/PGPORT/PGUSER of a cluster with
# the extension installed (tests/run.sh), curl, jq, openssl.  Prints TAP.
set -uo pipefail

# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib/http.sh"
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib/oidc.sh"
oidc_need

db_create cpub_e2e_admin_auth
tap_ok $? "a fresh database with the extension" || bail_out "could not create $DB"
oidc_start idp || bail_out "the test OpenID Connect provider did not start"
I=${OIDC_URL[idp]}
printf 'cpub-httpd-secret\n' >"$WORK/client.secret"
ADMIN_SETTINGS=(admin_oidc_issuer="$I" admin_oidc_client_id=cpub-httpd
	admin_oidc_client_secret_file="$WORK/client.secret" admin_clock_skew=0
	admin_jwks_refresh_min=1 admin_introspection_cache=30)
server_start main "${ADMIN_SETTINGS[@]}" || bail_out "cpub-httpd did not start"
MAIN_URL=$URL

# b64url: standard input in base64url, unpadded.
b64url() { base64 -w0 | tr '+/' '-_' | tr -d '='; }

# part N JWT: part N (1 header, 2 payload) decoded.
part()
{
	local p
	p=$(cut -d. -f"$1" <<<"$2" | tr '_-' '/+')
	while [ $((${#p} % 4)) -ne 0 ]; do p="$p="; done
	base64 -d <<<"$p" 2>/dev/null
}

# token ARGS: an access token of the main provider's test-user grant.
token() { oidc_token idp "$@"; }

# whoami TOKEN: GET /admin/api/whoami with TOKEN.
whoami() { TOKEN=$1 req GET /admin/api/whoami; }

# logged PATTERN: the server's log has PATTERN (fixed string) on the line
# of the last request's id.
logged()
{
	local rid
	rid=$(header X-Request-Id)
	server_log main | grep -F "request $rid" | grep -qF "$1"
}

# invalid TOKEN DESC REASON: the token is refused on /admin/api with 401
# 28000, WWW-Authenticate: Bearer error="invalid_token", and the server's
# log gives REASON for it.
invalid()
{
	local www
	whoami "$1"
	expect_error 401 28000 "$2: 401 28000"
	www=$(header WWW-Authenticate)
	[ "$www" = 'Bearer error="invalid_token"' ] && logged "$3"
	tap_ok $? "  WWW-Authenticate: Bearer error=\"invalid_token\"; the log says: $3" ||
		diag "WWW-Authenticate: $www; log: $(server_log main | grep -F "request $(header X-Request-Id)")"
}

FULL=$(token -d username=alice -d roles=full_admin -d ttl=3600)
VIEW=$(token -d username=vic -d roles=viewer -d ttl=3600)
{ [ -n "$FULL" ] && [ -n "$VIEW" ]; } || bail_out "no tokens from the provider"
FULL_SUB=$(part 2 "$FULL" | jq -r .sub)
KID1=$(part 1 "$FULL" | jq -r .kid)

whoami "$FULL"
expect 200 ".subject == \"$FULL_SUB\" and .email == \"alice@example.test\" and .role == \"cpub_admin_full\"" \
	"a full_admin's JWT opens the admin API"
whoami "$VIEW"
expect 200 '.email == "vic@example.test" and .role == "cpub_admin_viewer"' "and a viewer's"

# --- tokens refused ----------------------------------------------------------------------

SHORT=$(token -d username=alice -d roles=full_admin -d ttl=1)
SEEN_SHORT=$(token -d username=alice -d roles=full_admin -d ttl=2)
whoami "$SEEN_SHORT"
expect 200 '.role == "cpub_admin_full"' "a JWT with 2 s to live works at once (its verdict is cached)"
sleep 3
invalid "$SHORT" "expired (ttl 1, 3 s later, admin_clock_skew 0)" "token expired"
invalid "$SEEN_SHORT" "expired after it was seen (the cached verdict ends with exp)" "token expired"

invalid "$(token -d username=alice -d roles=full_admin -d nbf_offset=60)" \
	"not yet valid (nbf 60 s ahead)" "token not valid yet"

oidc_start other || bail_out "the second provider did not start"
OTHER=$(oidc_token other -d username=alice -d roles=full_admin)
[ "$(part 2 "$OTHER" | jq -r .iss)" = "${OIDC_URL[other]}" ] && [ "${OIDC_URL[other]}" != "$I" ] &&
	[ "$(part 1 "$OTHER" | jq -r .kid)" != "$KID1" ]
tap_ok $? "a second provider issues a JWT of its own issuer (${OIDC_URL[other]}) and key"
oidc_stop other
invalid "$OTHER" "another issuer (the second provider's)" "no key with kid"

invalid "$(token -d username=alice -d roles=full_admin -d resource=urn:containerpub-other)" \
	"another audience (containerpub-other)" "audience does not include containerpub-admin"

IFS=. read -r H P S <<<"$VIEW"
c=${S:10:1}
[ "$c" = A ] && c=B || c=A
invalid "$H.$P.${S:0:10}$c${S:11}" "a signature byte flipped" "signature does not verify"
FORGED=$(part 2 "$VIEW" | jq -c '.realm_access.roles = ["full_admin"] | .sub = "mallory"' | b64url)
invalid "$H.$FORGED.$S" "the payload changed under the signature (viewer made full_admin)" \
	"signature does not verify"
sleep 1.1 # a JWKS fetch allowed again (admin_jwks_refresh_min 1)
NOPE=$(part 1 "$VIEW" | jq -c '.kid = "nope"' | b64url)
invalid "$NOPE.$P.$S" "a key id the provider never published" "no key with kid nope"
server_log main | grep -q "oidc: 1 signing keys from $I/jwks"
tap_ok $? "  (the server fetched the JWKS again to look for it)"
NONE=$(printf '{"alg":"none","typ":"at+jwt"}' | b64url)
invalid "$NONE.$P." "alg none, no signature" "alg none is not accepted"
invalid "$NONE.$P.$S" "alg none, the real signature kept" "alg none is not accepted"
invalid "not.a.token" "garbage in three parts" "header is not base64url of a JSON object"
invalid "garbage.garbage" "garbage in two parts" "token neither a JWT nor opaque"

TOKEN='' req GET /admin/api/whoami
expect_error 401 28000 "no token: 401 28000"
[ "$(header WWW-Authenticate)" = Bearer ]
tap_ok $? "  WWW-Authenticate: Bearer (got: $(header WWW-Authenticate))"
TOKEN='' req GET /admin/api/whoami -H "Authorization: Basic $(printf 'alice:x' | base64)"
expect_error 401 28000 "Basic credentials instead of a bearer token: 401 28000"

DEV=$(register_login ada@example.com)
ADA_ID=$(q "SELECT uuid FROM cpub.users WHERE email = 'ada@example.com'")
[ -n "$DEV" ] || bail_out "no developer"
TOKEN=$DEV req GET /admin/api/users
expect_error 401 28000 "a developer's cpa_ access token on /admin/api: 401 28000"
[ "$(header WWW-Authenticate)" = 'Bearer error="invalid_token"' ] &&
	[ "$(jqr .error.message)" = "not an admin token" ]
tap_ok $? "  WWW-Authenticate: Bearer error=\"invalid_token\", \"not an admin token\""
TOKEN=$DEV req GET /api/auth/me
expect 200 '.email == "ada@example.com"' "  (the same token works on the developer API)"

NOROLE=$(token -d username=dora -d roles=developer)
whoami "$NOROLE"
expect_error 403 42501 "a token without an admin role (roles developer): 403 42501"
[ "$(header WWW-Authenticate)" = 'Bearer error="insufficient_scope"' ]
tap_ok $? "  WWW-Authenticate: Bearer error=\"insufficient_scope\" (got: $(header WWW-Authenticate))"
TOKEN=$(token -d username=dora -d roles=developer -d client_roles=viewer) req GET /admin/api/whoami
expect 200 '.role == "cpub_admin_viewer"' "  the viewer role as a client role (resource_access) is enough"

# --- opaque tokens ------------------------------------------------------------------------

OPAQUE_FULL=$(token -d username=olga -d roles=full_admin -d resource=urn:containerpub-admin:opaque)
OPAQUE_VIEW=$(token -d username=oscar -d roles=viewer -d resource=urn:containerpub-admin:opaque)
[[ "$OPAQUE_FULL" != *.* ]] && [ -n "$OPAQUE_FULL" ] && [[ "$OPAQUE_VIEW" != *.* ]]
tap_ok $? "the provider issues opaque tokens (no dots)"
whoami "$OPAQUE_FULL"
expect 200 '.email == "olga@example.test" and .role == "cpub_admin_full"' \
	"an opaque full_admin token, by introspection: cpub_admin_full"
TOKEN=$OPAQUE_FULL req PUT /admin/api/early-access/capacity -d '{"capacity":3}'
expect 200 '.capacity == 3' "  and it writes"
[ "$(q "SELECT actor_name FROM cpub.audit_log WHERE action = 'early_access.set_capacity'")" = olga@example.test ]
tap_ok $? "  audited under its email"
whoami "$OPAQUE_VIEW"
expect 200 '.email == "oscar@example.test" and .role == "cpub_admin_viewer"' \
	"an opaque viewer token: cpub_admin_viewer"
TOKEN=$OPAQUE_VIEW req PUT /admin/api/early-access/capacity -d '{"capacity":4}'
expect_error 403 42501 "  which cannot write: 403 42501"
invalid "OpaqueTokenTheProviderNeverIssued0123456789" "an opaque token unknown to the provider" \
	"token not active"
invalid "$(token -d username=otto -d roles=full_admin -d resource=urn:containerpub-other)" \
	"a JWT for another audience (it is not introspected either)" "audience does not include"

# --- legacy HS256 ---------------------------------------------------------------------------

# hs256 SECRET CLAIMS: a JWT signed with HMAC-SHA256 under SECRET (openssl).
hs256()
{
	local h p
	h=$(printf '{"alg":"HS256","typ":"JWT"}' | b64url)
	p=$(printf '%s' "$2" | b64url)
	printf '%s.%s.%s\n' "$h" "$p" "$(printf '%s.%s' "$h" "$p" |
		openssl dgst -sha256 -mac HMAC -macopt "key:$1" -binary | b64url)"
}
HS_SECRET=$(openssl rand -hex 32)
printf '%s\n' "$HS_SECRET" >"$WORK/hs256.secret"
EXP=$(($(date +%s) + 600))
HS_CLAIMS=$(jq -nc --arg iss "$I" --argjson exp "$EXP" '{iss: $iss, aud: "containerpub-admin",
	sub: "legacy-admin-1", email: "legacy@example.test", realm_access: {roles: ["full_admin"]}, exp: $exp}')
HS=$(hs256 "$HS_SECRET" "$HS_CLAIMS")

server_start legacy "${ADMIN_SETTINGS[@]}" admin_hs256_secret_file="$WORK/hs256.secret" ||
	bail_out "cpub-httpd with admin_hs256_secret_file did not start"
whoami "$HS"
expect 200 '.subject == "legacy-admin-1" and .email == "legacy@example.test" and .role == "cpub_admin_full"' \
	"legacy: an HS256 JWT under admin_hs256_secret_file works"
whoami "$(hs256 "$(openssl rand -hex 32)" "$HS_CLAIMS")"
expect_error 401 28000 "legacy: an HS256 JWT signed with another secret: 401 28000"
whoami "$(hs256 "$HS_SECRET" "$(jq -c '.iss = "http://127.0.0.1:1"' <<<"$HS_CLAIMS")")"
expect_error 401 28000 "legacy: an HS256 JWT of another issuer: 401 28000"
whoami "$(hs256 "$HS_SECRET" "$(jq -c '.realm_access.roles = ["developer"]' <<<"$HS_CLAIMS")")"
expect_error 403 42501 "legacy: an HS256 JWT without an admin role: 403 42501"
whoami "$FULL"
expect 200 '.role == "cpub_admin_full"' "legacy: RS256 tokens of the provider still work"
grep -q 'admin token refused (OIDC_INVALID): signature does not verify' "$WORK/legacy.log" &&
	grep -q 'admin token refused (OIDC_INVALID): issuer is not' "$WORK/legacy.log"
tap_ok $? "  (its log: the signature, then the issuer refused)"
stop_cleanly legacy
URL=$MAIN_URL
invalid "$HS" "the same HS256 JWT on a server without admin_hs256_secret_file" "alg HS256 is not accepted"

# --- the admin API off ----------------------------------------------------------------------------

server_start off || bail_out "cpub-httpd without admin settings did not start"
whoami "$FULL"
expect_error 404 P0002 "no admin_oidc_issuer: /admin/api/whoami is 404 P0002"
TOKEN='' req GET /admin/api/sign-in
expect_error 404 P0002 "  and so is /admin/api/sign-in"
TOKEN=$FULL req GET /api/auth/me
expect_error 401 28000 "  an admin JWT on a developer route: 401 28000"
stop_cleanly off
URL=$MAIN_URL

# --- an admin token on a developer's route --------------------------------------------------------

LIN=$(token -d username=lin -d roles=full_admin -d ttl=3600)
LIN_SUB=$(part 2 "$LIN" | jq -r .sub)
for path in /api/auth/me /api/functions; do
	TOKEN=$FULL req GET "$path"
	expect_error 401 28000 "an admin JWT not linked to a user on GET $path: 401 28000"
done
[ "$(header WWW-Authenticate)" = 'Bearer error="invalid_token"' ] &&
	[ "$(jqr .error.message)" = "this admin token is not linked to a developer" ]
tap_ok $? "  WWW-Authenticate: Bearer error=\"invalid_token\", not linked"
TOKEN=$LIN req GET /api/auth/me
expect_error 401 28000 "lin's admin JWT on /api/auth/me before the link: 401"

TOKEN=$DEV req POST /api/functions -d '{"name":"hello","runtime":"shell"}'
TOKEN=$FULL req PUT "/admin/api/users/$ADA_ID/oidc-subject" -d "{\"subject\":\"$LIN_SUB\"}"
expect 200 ".keycloak_user_id == \"$LIN_SUB\"" "alice links ada's account to lin's subject"
TOKEN=$LIN req GET /api/auth/me
expect 200 ".user_id == \"$ADA_ID\" and .email == \"ada@example.com\"" \
	"lin's admin JWT on /api/auth/me: ada's account"
TOKEN=$LIN req GET /api/functions
expect 200 'map(.name) == ["hello"]' "  and on /api/functions: ada's functions"
TOKEN=$LIN req POST /api/early-access -d '{"reason":"through the link"}'
expect 201 '.status == "pending"' "  a developer write as ada works"
[ "$(q "SELECT user_id FROM cpub.early_access_requests")" = "$ADA_ID" ]
tap_ok $? "  and is ada's"
TOKEN=$FULL req GET /api/auth/me
expect_error 401 28000 "alice's JWT, not linked, is still refused there"

whoami "$LIN"
expect 200 ".subject == \"$LIN_SUB\" and .user_id == \"$ADA_ID\" and .role == \"cpub_admin_full\"" \
	"whoami for lin: the linked user"
BOB=$(register_login bob@example.com)
BOB_ID=$(q "SELECT uuid FROM cpub.users WHERE email = 'bob@example.com'")
TOKEN=$LIN req PUT "/admin/api/users/$BOB_ID/feature-roles/beta"
expect 200 '.[0].role == "beta"' "lin, linked, grants bob a feature role on /admin/api"
GOT=$(q "SELECT actor_kind || '|' || actor_name || '|' || actor_user_id || '|' || (detail->>'admin_subject')
		   FROM cpub.audit_log WHERE action = 'feature_role.grant'")
[ "$GOT" = "admin|lin@example.test|$ADA_ID|$LIN_SUB" ]
tap_ok $? "  audited as the admin lin, with actor_user_id ada's" || diag "got: $GOT"

TOKEN=$FULL req POST "/admin/api/users/$ADA_ID/disable"
TOKEN=$LIN req GET /api/auth/me
expect_error 401 28000 "the linked user disabled: lin's JWT is refused on /api/auth/me"
TOKEN=$FULL req POST "/admin/api/users/$ADA_ID/enable"
TOKEN=$LIN req GET /api/auth/me
expect 200 ".user_id == \"$ADA_ID\"" "  enabled again: accepted again"
# An opaque token of the same subject is not taken on developer routes:
# that would cost a call to the provider for any string sent there.
LIN_OPAQUE=$(token -d username=lin -d roles=full_admin -d resource=urn:containerpub-admin:opaque)
TOKEN=$LIN_OPAQUE req GET /api/auth/me
expect_error 401 28000 "lin's opaque token (linked subject) on /api/auth/me: 401, JWTs only"
whoami "$LIN_OPAQUE"
expect 200 ".subject == \"$LIN_SUB\"" "  though the same token works on /admin/api"

TOKEN=$FULL req PUT "/admin/api/users/$ADA_ID/oidc-subject" -d '{"subject":null}'
expect 200 '.keycloak_user_id == null' "alice unlinks ada"
for path in /api/auth/me /api/functions; do
	TOKEN=$LIN req GET "$path"
	expect_error 401 28000 "after the unlink, lin's JWT on GET $path: 401 again"
done
whoami "$LIN"
expect 200 '.user_id == null' "  and whoami has no linked user"

# --- key rotation ----------------------------------------------------------------------------------

# Minted under the first key: OLD_SEEN is shown to the server now, the
# others later, each at a different stage.
OLD_SEEN=$(token -d username=alice -d roles=full_admin -d ttl=3600)
OLD_UNSEEN_A=$(token -d username=vic -d roles=viewer -d ttl=3600)
OLD_UNSEEN_B=$(token -d username=olga -d roles=full_admin -d ttl=3600)
OLD_UNSEEN_C=$(token -d username=oscar -d roles=viewer -d ttl=3600)
whoami "$OLD_SEEN"
expect 200 '.role == "cpub_admin_full"' "a JWT under the first key ($KID1)"

sleep 1.1
KID2=$(curl -s -X POST "$I/test/rotate-key" | jq -r .current)
NEW=$(token -d username=alice -d roles=full_admin -d ttl=3600)
[ "$(part 1 "$NEW" | jq -r .kid)" = "$KID2" ] && [ "$KID2" != "$KID1" ]
tap_ok $? "the provider rotates to a new signing key ($KID2)"
whoami "$NEW"
expect 200 '.role == "cpub_admin_full"' "a JWT under the new key works (the server fetched the JWKS)"
server_log main | grep -q "oidc: 2 signing keys from $I/jwks"
tap_ok $? "  the server's log: 2 signing keys"
whoami "$OLD_SEEN"
expect 200 '.role == "cpub_admin_full"' "the JWT under the old key, seen before, still works"
whoami "$OLD_UNSEEN_A"
expect 200 '.role == "cpub_admin_viewer"' "and one never seen (the old key is still published)"

[ "$(curl -s -X POST "$I/test/drop-old-keys" | jq -c .published)" = "[\"$KID2\"]" ]
tap_ok $? "the provider unpublishes the old key"
whoami "$OLD_UNSEEN_B"
expect 200 '.role == "cpub_admin_full"' \
	"at once, a JWT under it never seen still works: the server holds the key until it fetches again"
sleep 1.1
N_FETCH=$(server_log main | grep -c "oidc: 1 signing keys from $I/jwks")
invalid "$NOPE.$P.$S" "then a JWT with an unknown kid makes it fetch the JWKS" "no key with kid nope"
[ "$(server_log main | grep -c "oidc: 1 signing keys from $I/jwks")" -eq $((N_FETCH + 1)) ]
tap_ok $? "  the server's log: a fetch of 1 signing key"
sleep 1.1
invalid "$OLD_UNSEEN_C" "now a JWT under the dropped key, never seen, is refused" "no key with kid $KID1"
whoami "$OLD_SEEN"
expect 200 '.role == "cpub_admin_full"' \
	"a JWT under the dropped key verified before: accepted until its exp (cached verdict)"
whoami "$OLD_UNSEEN_B"
expect 200 '.role == "cpub_admin_full"' "  as is the one verified after the drop, before the fetch"

# --- the provider down ------------------------------------------------------------------------------

UNSEEN_KNOWN=$(token -d username=vic -d roles=viewer -d ttl=3600)
OPAQUE_UNSEEN=$(token -d username=olga -d roles=full_admin -d resource=urn:containerpub-admin:opaque)
KID3=$(curl -s -X POST "$I/test/rotate-key" | jq -r .current)
UNKNOWN_KID=$(token -d username=alice -d roles=full_admin -d ttl=3600)
[ "$(part 1 "$UNKNOWN_KID" | jq -r .kid)" = "$KID3" ] && [ "$(part 1 "$UNSEEN_KNOWN" | jq -r .kid)" = "$KID2" ]
tap_ok $? "tokens for the outage: one under $KID2 (held), one under $KID3 (not), an opaque one"
oidc_stop idp
curl -s -o /dev/null --max-time 2 "$I/jwks"
[ $? -eq 7 ]
tap_ok $? "the provider is down (connection refused at $I)"
sleep 1.1

whoami "$NEW"
expect 200 '.role == "cpub_admin_full"' "provider down: a JWT verified before works (cached)"
whoami "$UNSEEN_KNOWN"
expect 200 '.email == "vic@example.test" and .role == "cpub_admin_viewer"' \
	"provider down: a JWT never seen, under a key held, works (no call to the provider)"
TOKEN=$UNSEEN_KNOWN req GET /admin/api/users
expect 200 'map(.email) | index("ada@example.com") != null' "  and reads through the admin API"
whoami "$OPAQUE_FULL"
expect 200 '.role == "cpub_admin_full"' "provider down: an opaque token introspected before works (cached)"
invalid "$UNKNOWN_KID" "provider down: a JWT under a key not held" "OIDC_UNAVAILABLE"
jq -e '.error.detail | test("could not be reached")' <<<"$BODY" >/dev/null
tap_ok $? "  its detail: the provider could not be reached" || diag "$BODY"
invalid "$OPAQUE_UNSEEN" "provider down: an opaque token never seen" "OIDC_UNAVAILABLE"
TOKEN=$BOB req GET /api/auth/me
expect 200 '.email == "bob@example.com"' "provider down: developers' tokens are not affected"

stop_cleanly main
done_testing
