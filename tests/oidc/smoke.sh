#!/usr/bin/env bash
# tests/oidc/smoke.sh: check the test OpenID Connect provider (provider.mjs)
#
# Starts the provider on a free port of 127.0.0.1 and checks what the admin
# API's tests rely on: discovery, an RS256 JWT access token for a full_admin
# user (header, claims, and its signature against /jwks with openssl), an
# opaque token and its RFC 7662 introspection, key rotation (a new kid, both
# kids published, then the old one dropped), client credentials, a chosen
# token lifetime (an opaque token expiring), and a clean exit on SIGTERM.  Prints TAP.
#
# Needs node and npm (runs `npm ci` when node_modules is missing), curl, jq,
# openssl and base64.
set -uo pipefail

cd "$(dirname "$0")" || exit 1

if [ ! -d node_modules ]; then
	npm ci --no-audit --no-fund --loglevel=error >&2 || {
		echo "Bail out! npm ci failed"
		exit 1
	}
fi

TMP=$(mktemp -d)
PID=
cleanup()
{
	if [ -n "$PID" ]; then
		kill "$PID" 2>/dev/null
		wait "$PID" 2>/dev/null
	fi
	rm -rf "$TMP"
}
trap cleanup EXIT

N=0
FAILED=0
ok()
{
	N=$((N + 1))
	echo "ok $N - $1"
}
not_ok()
{
	N=$((N + 1))
	FAILED=$((FAILED + 1))
	echo "not ok $N - $1"
	shift
	for line in "$@"; do
		echo "#   $line"
	done
}
# check DESCRIPTION COMMAND...: ok when the command succeeds
check()
{
	local desc=$1
	shift
	if "$@" >"$TMP/check.out" 2>&1; then
		ok "$desc"
	else
		not_ok "$desc" "$(head -c 400 "$TMP/check.out")"
	fi
}

# b64url_decode: base64url (no padding) on stdin to bytes on stdout
b64url_decode()
{
	local s
	s=$(tr -- '-_' '+/')
	while [ $((${#s} % 4)) -ne 0 ]; do
		s="$s="
	done
	printf '%s' "$s" | base64 -d
}
jwt_header() { cut -d. -f1 <<<"$1" | b64url_decode; }
jwt_payload() { cut -d. -f2 <<<"$1" | b64url_decode; }

# verify_jwt TOKEN: its RS256 signature checks against its kid's key at /jwks
verify_jwt()
{
	local token=$1 kid
	kid=$(jwt_header "$token" | jq -r .kid)
	curl -sf "$ISSUER/jwks" | jq -e --arg kid "$kid" '.keys[] | select(.kid == $kid)' \
		>"$TMP/jwk.json" || return 1
	node -e '
		const crypto = require("node:crypto");
		const jwk = JSON.parse(require("node:fs").readFileSync(0, "utf8"));
		process.stdout.write(crypto.createPublicKey({ key: jwk, format: "jwk" })
			.export({ type: "spki", format: "pem" }));
	' <"$TMP/jwk.json" >"$TMP/pub.pem" || return 1
	cut -d. -f3 <<<"$token" | b64url_decode >"$TMP/sig.bin"
	printf '%s' "$(cut -d. -f1,2 <<<"$token")" |
		openssl dgst -sha256 -verify "$TMP/pub.pem" -signature "$TMP/sig.bin"
}

CLIENT=cpub-admin-cli:cpub-admin-cli-secret
HTTPD=cpub-httpd:cpub-httpd-secret
GRANT=urn:containerpub:params:oauth:grant-type:test-user
TTL=120

# user_token USERNAME ROLES [curl args...]: an access token from the test-user grant
user_token()
{
	local user=$1 roles=$2
	shift 2
	curl -sf -u "$CLIENT" -d grant_type="$GRANT" -d username="$user" \
		--data-urlencode roles="$roles" "$@" "$ISSUER/token" | jq -r .access_token
}
introspect()
{
	curl -sf -u "$HTTPD" --data-urlencode token="$1" "$ISSUER/token/introspection"
}

# --- start
OIDC_TOKEN_TTL=$TTL node provider.mjs 0 >"$TMP/out" 2>"$TMP/err" &
PID=$!
for _ in $(seq 100); do
	grep -q '^oidc-provider ready on ' "$TMP/out" && break
	kill -0 "$PID" 2>/dev/null || break
	sleep 0.1
done
ISSUER=$(sed -n 's/^oidc-provider ready on //p' "$TMP/out")
if [ -z "$ISSUER" ]; then
	echo "Bail out! the provider did not start: $(tr '\n' ' ' <"$TMP/err")"
	exit 1
fi
ok "provider ready on $ISSUER"

# --- discovery
curl -sf "$ISSUER/.well-known/openid-configuration" >"$TMP/disc.json"
check "discovery names the issuer, /jwks and /token/introspection" \
	jq -e --arg i "$ISSUER" '.issuer == $i and .jwks_uri == $i + "/jwks"
		and .introspection_endpoint == $i + "/token/introspection"
		and .token_endpoint == $i + "/token"' "$TMP/disc.json"

# --- a JWT for a full_admin user
NOW=$(date +%s)
JWT=$(user_token alice full_admin)
if [ "$(tr -cd . <<<"$JWT" | wc -c)" -eq 2 ]; then
	ok "test-user grant gives a JWT for alice"
else
	not_ok "test-user grant gives a JWT for alice" "got: $JWT"
fi
jwt_header "$JWT" >"$TMP/h.json"
jwt_payload "$JWT" >"$TMP/p.json"
KID1=$(jq -r .kid "$TMP/h.json")
check "header: alg RS256, typ at+jwt, a kid" \
	jq -e '.alg == "RS256" and .typ == "at+jwt" and (.kid | length > 0)' "$TMP/h.json"
check "payload: iss, aud containerpub-admin, exp in $TTL s" \
	jq -e --arg i "$ISSUER" --argjson now "$NOW" --argjson ttl "$TTL" \
	'.iss == $i and .aud == "containerpub-admin"
		and .exp - .iat == $ttl and .exp >= $now + $ttl and .exp <= $now + $ttl + 5' \
	"$TMP/p.json"
check "payload: realm_access.roles, sub, email, preferred_username" \
	jq -e '.realm_access.roles == ["full_admin"] and .preferred_username == "alice"
		and .email == "alice@example.test"
		and (.sub | test("^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"))' \
	"$TMP/p.json"
check "signature verifies against /jwks with openssl" verify_jwt "$JWT"
# the same signature over a changed payload must not verify
FORGED="$(cut -d. -f1 <<<"$JWT").$(jq -c '.realm_access.roles = ["full_admin","x"]' "$TMP/p.json" |
	base64 -w0 | tr '+/' '-_' | tr -d =).$(cut -d. -f3 <<<"$JWT")"
if verify_jwt "$FORGED" >/dev/null 2>&1; then
	not_ok "a changed payload does not verify"
else
	ok "a changed payload does not verify"
fi

# --- client roles, nbf, another audience
jwt_payload "$(user_token vera '' -d client_roles=viewer -d nbf_offset=60)" >"$TMP/p2.json"
check "client_roles go to resource_access.containerpub-admin.roles; nbf_offset sets nbf" \
	jq -e '.realm_access.roles == [] and .resource_access["containerpub-admin"].roles == ["viewer"]
		and .nbf == .iat + 60' "$TMP/p2.json"
jwt_payload "$(user_token alice full_admin -d resource=urn:containerpub-other)" >"$TMP/p3.json"
check "resource urn:containerpub-other gives aud containerpub-other" \
	jq -e '.aud == "containerpub-other"' "$TMP/p3.json"
jwt_payload "$(user_token short full_admin -d ttl=1)" >"$TMP/p4.json"
check "ttl=1 gives a token living 1 s" jq -e '.exp - .iat == 1' "$TMP/p4.json"

# --- client credentials
CC=$(curl -sf -u "$CLIENT" -d grant_type=client_credentials "$ISSUER/token" | jq -r .access_token)
jwt_payload "$CC" >"$TMP/cc.json"
check "client credentials: a JWT for the service account, full_admin" \
	jq -e '.preferred_username == "service-account-cpub-admin-cli"
		and .realm_access.roles == ["full_admin"] and .aud == "containerpub-admin"
		and .azp == "cpub-admin-cli"' "$TMP/cc.json"
check "client credentials token verifies" verify_jwt "$CC"

# --- opaque token and introspection
OPAQUE=$(user_token bob viewer -d resource=urn:containerpub-admin:opaque)
if [[ "$OPAQUE" =~ ^[A-Za-z0-9_-]{20,}$ ]]; then
	ok "resource urn:containerpub-admin:opaque gives an opaque token"
else
	not_ok "resource urn:containerpub-admin:opaque gives an opaque token" "got: $OPAQUE"
fi
introspect "$OPAQUE" >"$TMP/i.json"
check "introspection: active, roles, sub, aud, iss" \
	jq -e --arg i "$ISSUER" '.active == true and .realm_access.roles == ["viewer"]
		and .preferred_username == "bob" and .email == "bob@example.test"
		and .aud == "containerpub-admin" and .iss == $i and (.sub | length == 36)
		and .exp > .iat' "$TMP/i.json"
introspect "${OPAQUE}x" >"$TMP/i2.json"
check "introspection of an unknown token: active false" \
	jq -e '. == {active: false}' "$TMP/i2.json"
# exp is whole seconds (iat + ttl): a token of ttl N lives N - 1 to N seconds
SHORT=$(user_token brief viewer -d resource=urn:containerpub-admin:opaque -d ttl=2)
introspect "$SHORT" >"$TMP/i4.json"
check "an opaque token with ttl=2 is active at first" jq -e '.active == true' "$TMP/i4.json"
sleep 3
introspect "$SHORT" >"$TMP/i5.json"
check "and inactive 3 s later" jq -e '. == {active: false}' "$TMP/i5.json"
CODE=$(curl -s -o /dev/null -w '%{http_code}' -u cpub-httpd:wrong \
	--data-urlencode token="$OPAQUE" "$ISSUER/token/introspection")
check "introspection with a wrong client secret: 401" test "$CODE" = 401

# --- key rotation
curl -sf -X POST "$ISSUER/test/rotate-key" >"$TMP/rot.json"
JWT2=$(user_token alice full_admin)
KID2=$(jwt_header "$JWT2" | jq -r .kid)
check "after rotation a new token has a new kid" \
	test -n "$KID2" -a "$KID2" != "$KID1" -a "$KID2" = "$(jq -r .current "$TMP/rot.json")"
curl -sf "$ISSUER/jwks" >"$TMP/jwks.json"
check "/jwks publishes both kids" \
	jq -e --arg a "$KID1" --arg b "$KID2" '[.keys[].kid] | sort == ([$a, $b] | sort)' \
	"$TMP/jwks.json"
check "the new token verifies against /jwks" verify_jwt "$JWT2"
check "the old token still verifies against /jwks" verify_jwt "$JWT"
introspect "$OPAQUE" >"$TMP/i3.json"
check "an opaque token from before the rotation is still active" \
	jq -e '.active == true' "$TMP/i3.json"
curl -sf -X POST "$ISSUER/test/drop-old-keys" >/dev/null
curl -sf "$ISSUER/jwks" >"$TMP/jwks2.json"
check "after drop-old-keys /jwks has only the new kid" \
	jq -e --arg b "$KID2" '[.keys[].kid] == [$b]' "$TMP/jwks2.json"
if verify_jwt "$JWT" >/dev/null 2>&1; then
	not_ok "the old token's kid is no longer published"
else
	ok "the old token's kid is no longer published"
fi

# --- stop
kill -TERM "$PID"
wait "$PID"
RC=$?
PID=
check "exits 0 on SIGTERM" test "$RC" = 0

echo "1..$N"
[ "$FAILED" -eq 0 ]
