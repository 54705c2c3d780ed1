#!/usr/bin/env bash
# tests/e2e/oidc_verify.t: httpd's admin token checks (httpd/src/oidc.c)
# against the real OpenID Connect provider of tests/oidc, through the
# driver tests/unit/oidc_check: good tokens, every kind of bad one, opaque
# tokens by introspection, key rotation, and the provider down.
#
# Needs node (skipped without it), curl, jq, and make -C tests/unit
# oidc_check.

set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/e2e/lib/tap.sh

if ! command -v node >/dev/null; then
	echo "1..0 # SKIP node is not installed (the test OIDC provider runs on it)"
	exit 0
fi
[ -d tests/oidc/node_modules ] || (cd tests/oidc && npm ci --silent) ||
	bail_out "npm ci in tests/oidc failed"
make -s -C tests/unit oidc_check || bail_out "could not build oidc_check"

tmp=$(mktemp -d)
provider_pid=
driver_pid=
cleanup()
{
	[ -n "$driver_pid" ] && kill "$driver_pid" 2>/dev/null
	[ -n "$provider_pid" ] && kill "$provider_pid" 2>/dev/null
	wait 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

node tests/oidc/provider.mjs 0 >"$tmp/provider.out" 2>"$tmp/provider.err" &
provider_pid=$!
for _ in $(seq 100); do
	grep -q 'ready on' "$tmp/provider.out" && break
	sleep 0.1
done
I=$(sed -n 's/.*ready on //p' "$tmp/provider.out")
[ -n "$I" ] || bail_out "provider did not start: $(cat "$tmp/provider.err")"

# token ARGS...: an access token of the test-user grant.
token()
{
	curl -s -u cpub-admin-cli:cpub-admin-cli-secret \
		-d grant_type=urn:containerpub:params:oauth:grant-type:test-user \
		"$@" "$I/token" | jq -r .access_token
}

# The driver runs for the whole file (its caches matter), fed through a
# FIFO and read line by line.
mkfifo "$tmp/in"
tests/unit/oidc_check --issuer "$I" --audience containerpub-admin \
	--client-id cpub-httpd --client-secret cpub-httpd-secret \
	--jwks-refresh-min 2 --skew 0 --introspection-cache 30 \
	<"$tmp/in" >"$tmp/out" 2>"$tmp/driver.err" &
driver_pid=$!
exec 3>"$tmp/in"
lines=0

# check TOKEN: its output line from the driver, in $reply.
check()
{
	printf '%s\n' "$1" >&3
	lines=$((lines + 1))
	for _ in $(seq 200); do
		[ "$(wc -l <"$tmp/out")" -ge "$lines" ] && break
		sleep 0.05
	done
	reply=$(sed -n "${lines}p" "$tmp/out")
}

# pause N: the driver sleeps N seconds (no output line).
pause()
{
	printf 'SLEEP %s\n' "$1" >&3
}

# expect NAME TOKEN VERDICT [ROLES]: one test.
expect()
{
	check "$2"
	local verdict roles
	verdict=$(cut -f1 <<<"$reply")
	roles=$(cut -f4 <<<"$reply")
	[ "$verdict" = "$3" ] && { [ -z "${4:-}" ] || [ "$roles" = "$4" ]; }
	tap_ok $? "$1: $3${4:+ ($4)}" || diag "got: $reply"
}

# b64url: stdin in base64url without padding.
b64url() { base64 -w0 | tr '+/' '-_' | tr -d '='; }

alice=$(token -d username=alice -d roles=full_admin)
vic=$(token -d username=vic -d roles=viewer)
dev=$(token -d username=dev -d roles=developer)
both=$(token -d username=carol -d roles=viewer -d client_roles=full_admin)
short=$(token -d username=eve -d roles=full_admin -d ttl=1)
early=$(token -d username=nina -d roles=full_admin -d nbf_offset=60)
other=$(token -d username=otto -d roles=full_admin -d resource=urn:containerpub-other)
opaque=$(token -d username=bob -d roles=full_admin -d resource=urn:containerpub-admin:opaque)
for t in alice vic dev both short early other opaque; do
	[ -n "${!t}" ] && [ "${!t}" != null ] || bail_out "no $t token from the provider"
done

expect "full_admin JWT" "$alice" OIDC_OK full_admin
tap_ok "$([ "$(cut -f2,3 <<<"$reply")" = "$(printf '75dd5545-3bf2-5c91-88eb-6b97ca0b2879\talice@example.test')" ]; echo $?)" \
	"full_admin JWT: subject and email" || diag "got: $reply"
expect "viewer JWT" "$vic" OIDC_OK viewer
expect "client role full_admin beside realm viewer" "$both" OIDC_OK full_admin,viewer
expect "JWT without an admin role" "$dev" OIDC_NO_ADMIN_ROLE
expect "JWT not yet valid (nbf in 60 s)" "$early" OIDC_INVALID
expect "JWT for another audience" "$other" OIDC_INVALID

IFS=. read -r h p s <<<"$alice"
none_header=$(printf '{"alg":"none","typ":"at+jwt"}' | b64url)
expect "alg none, no signature" "$none_header.$p." OIDC_INVALID
expect "alg none, original signature" "$none_header.$p.$s" OIDC_INVALID
c=${s:10:1}
[ "$c" = A ] && c=B || c=A
expect "a signature byte flipped" "$h.$p.${s:0:10}$c${s:11}" OIDC_INVALID
claims=$(printf '%s' "$p" | tr '_-' '/+' | base64 -d 2>/dev/null)
claims=$(jq -c '.realm_access.roles = ["full_admin"] | .sub = "mallory"' <<<"$claims" 2>/dev/null)
expect "payload changed under the signature" "$h.$(printf '%s' "$claims" | b64url).$s" OIDC_INVALID
expect "not a token" "a.b" OIDC_INVALID

expect "opaque full_admin" "$opaque" OIDC_OK full_admin
expect "opaque full_admin again (cached)" "$opaque" OIDC_OK full_admin
# exp is whole seconds (iat + ttl), so a token of ttl N lives between N - 1
# and N seconds: ttl 2, asked for just before its check, is still active.
opaque_short=$(token -d username=oscar -d roles=viewer -d ttl=2 \
	-d resource=urn:containerpub-admin:opaque)
[ -n "$opaque_short" ] && [ "$opaque_short" != null ] ||
	bail_out "no opaque_short token from the provider"
expect "opaque viewer, ttl 2" "$opaque_short" OIDC_OK viewer
expect "opaque unknown to the provider" "NotAToken0123456789abcdef" OIDC_INVALID

pause 3
expect "JWT expired (ttl 1, 3 s later)" "$short" OIDC_INVALID
expect "opaque expired (ttl 2, 3 s later): cache gone, inactive" "$opaque_short" OIDC_INVALID

# Key rotation: a token signed by the new key makes the driver fetch the
# JWKS again (2 s after the last fetch, at start); old tokens still pass.
rotated=$(curl -s -X POST "$I/test/rotate-key" | jq -r .current)
new=$(token -d username=alice -d roles=full_admin)
[ "$(printf '%s' "${new%%.*}" | tr '_-' '/+' | base64 -d 2>/dev/null | jq -r .kid)" = "$rotated" ]
tap_ok $? "the provider signs with its new key $rotated"
expect "JWT under the rotated key (JWKS fetched again)" "$new" OIDC_OK full_admin
expect "JWT under the old key still" "$vic" OIDC_OK viewer

# A token under a key the driver never fetched; then the provider stops.
known=$(token -d username=vic -d roles=viewer)
curl -s -X POST "$I/test/rotate-key" >/dev/null
unseen=$(token -d username=alice -d roles=full_admin)
unseen_vic=$(token -d username=vic -d roles=viewer)
kill "$provider_pid"
wait "$provider_pid" 2>/dev/null
provider_pid=

expect "provider down: a token verified before (cache)" "$alice" OIDC_OK full_admin
expect "provider down: a new token under a known key" "$known" OIDC_OK viewer
pause 2
check "$unseen"
verdict=$(cut -f1 <<<"$reply")
[ "$verdict" = OIDC_UNAVAILABLE ]
tap_ok $? "provider down: unknown kid fails closed (OIDC_UNAVAILABLE)" || diag "got: $reply"
check "$unseen_vic"
verdict=$(cut -f1 <<<"$reply")
[ "$verdict" = OIDC_UNAVAILABLE ] || [ "$verdict" = OIDC_INVALID ]
tap_ok $? "provider down: unknown kid again, no stampede, still refused" || diag "got: $reply"
expect "provider down: opaque token seen before (cache)" "$opaque" OIDC_OK full_admin
expect "provider down: opaque token never seen" "SomeOpaqueToken0123456789" OIDC_UNAVAILABLE

# Figures: the cost of a check, cached and with the signature verified.
check "BENCH 2000 $alice"
diag "oidc_check per call: $reply"
grep -q '^BENCH cached [0-9.]* us signature [0-9.]* us$' <<<"$reply"
tap_ok $? "BENCH: every timed check OIDC_OK" || diag "got: $reply"

exec 3>&-
wait "$driver_pid"
tap_ok $? "the driver exits 0 at end of input" || diag "$(cat "$tmp/driver.err")"
driver_pid=
done_testing
