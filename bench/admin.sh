#!/usr/bin/env bash
# bench/admin.sh: the admin API's figures (issue 7), against the real test
# OpenID Connect provider (tests/oidc, node) and the real cpub-httpd.
#
# (1) Token verification per request, in httpd's own code (httpd/src/oidc.c
#     driven by tests/unit/oidc_check, one oidc_check per TIME line):
#     - a JWT seen before (its verdict cached by SHA-256): the cost of every
#       request after an admin's first;
#     - a JWT never seen: base64url, JSON, RS256 signature, claims, roles;
#     goal <= 50 us.  Anchor: an opaque token never seen, checked by RFC 7662
#     introspection at the provider over loopback (what Keycloak
#     introspection costs per request without a cache: 2-5 ms).  p50 and
#     p99 of BENCH_ADMIN_TOKENS (50) distinct tokens each.
# (2) Admin list routes under wrk next to the developer list route, the
#     same server and settings as bench/http.sh: GET /admin/api/users?limit=10
#     (10 users) with a full_admin JWT, the same with a viewer's opaque
#     token (introspected once, then cached), GET /admin/api/audit?limit=10,
#     and a developer's GET /api/functions (10 functions).  wrk -t
#     BENCH_HTTP_THREADS (2) -c BENCH_HTTP_CONNECTIONS (32) -d BENCH_SECONDS
#     (10) after a 2 s warm-up.
#
# Nothing is asserted.  Run by bench/run.sh (which makes a throwaway cluster
# and sets PG*); run alone, it asks bench/run.sh to make one.  Needs node,
# npm, wrk, curl, jq.  Port: CPUB_BENCH_HTTP_PORT (15580).
set -euo pipefail

BENCH=$(cd "$(dirname "$0")" && pwd -P)
if [ -z "${CPUB_BENCH_CLUSTER:-}" ]; then
	exec "$BENCH/run.sh" admin
fi
ROOT=$(dirname "$BENCH")

PGBIN=/usr/lib/postgresql/15/bin
DURATION=${BENCH_SECONDS:-10}
WARMUP=2
THREADS=${BENCH_HTTP_THREADS:-2}
CONNECTIONS=${BENCH_HTTP_CONNECTIONS:-32}
TOKENS=${BENCH_ADMIN_TOKENS:-50}
HTTP_PORT=${CPUB_BENCH_HTTP_PORT:-15580}
SERVER=$ROOT/httpd/cpub-httpd
DRIVER=$ROOT/tests/unit/oidc_check
PASSWORD=bench-password-admin
export PGOPTIONS="${PGOPTIONS:-} -c client_min_messages=warning"

# shellcheck source-path=SCRIPTDIR
. "$BENCH/lib.sh"

work=$(mktemp -d /tmp/cpub-bench-admin.XXXXXX)
server_pid=
provider_pid=

# shellcheck disable=SC2317  # called through trap
cleanup()
{
	[ -z "$server_pid" ] || stop "$server_pid"
	[ -z "$provider_pid" ] || stop "$provider_pid"
	rm -rf "$work"
}
trap cleanup EXIT

for tool in node npm wrk curl jq; do
	command -v "$tool" >/dev/null || die "$tool is missing; run: scripts/deps.sh bench"
done
[ -d "$ROOT/tests/oidc/node_modules" ] ||
	(cd "$ROOT/tests/oidc" && npm ci --silent) || die "npm ci in tests/oidc failed"
make -s -C "$ROOT/httpd" >/dev/null || die "make -C httpd failed"
make -s -C "$ROOT/tests/unit" oidc_check >/dev/null || die "could not build oidc_check"

# --- the provider -----------------------------------------------------------
node "$ROOT/tests/oidc/provider.mjs" 0 >"$work/provider.out" 2>"$work/provider.err" &
provider_pid=$!
for ((i = 0; i < 150; i++)); do
	grep -q 'ready on' "$work/provider.out" && break
	sleep 0.1
done
issuer=$(sed -n 's/.*ready on //p' "$work/provider.out")
[ -n "$issuer" ] || die "the test provider did not start: $(cat "$work/provider.err")"

# oidc_token ARGS...: an access token of the provider's test-user grant.
oidc_token()
{
	curl -s -u cpub-admin-cli:cpub-admin-cli-secret \
		-d grant_type=urn:containerpub:params:oauth:grant-type:test-user \
		"$@" "$issuer/token" | jq -r '.access_token // empty'
}

# --- (1) token verification -------------------------------------------------
: >"$work/driver.in"
jwt_first=$(oidc_token -d username=admin0 -d roles=full_admin)
[ -n "$jwt_first" ] || die "no token from the provider"
for ((i = 1; i <= TOKENS; i++)); do
	t=$(oidc_token -d "username=admin$i" -d roles=full_admin)
	o=$(oidc_token -d "username=opaque$i" -d roles=viewer \
		-d resource=urn:containerpub-admin:opaque)
	[ -n "$t" ] && [ -n "$o" ] || die "no token $i from the provider"
	echo "TIME $t" >>"$work/jwt_new"
	echo "TIME $o" >>"$work/opaque_new"
	echo "TIME $jwt_first" >>"$work/jwt_seen"
done
# The first check fetches nothing: oidc_init read the keys already.  One
# check of another token first (untimed: OpenSSL's and libcurl's one-time
# set-up in a fresh process, which a running httpd has long paid).
warm=$(oidc_token -d username=warm-up -d roles=viewer)
{ echo "$warm"; cat "$work/jwt_new" "$work/jwt_seen" "$work/opaque_new"; } |
	"$DRIVER" --issuer "$issuer" --audience containerpub-admin \
		--client-id cpub-httpd --client-secret cpub-httpd-secret \
		>"$work/driver.out" 2>"$work/driver.err" ||
	die "oidc_check failed: $(cat "$work/driver.err")"
sed -i 1d "$work/driver.out"
bad=$(grep -vc ' OIDC_OK$' "$work/driver.out" || true)
[ "$bad" = 0 ] || die "$bad token checks were not OIDC_OK: $(grep -v ' OIDC_OK$' "$work/driver.out" | head -3)"
awk 'NR <= n { print $2 }' n="$TOKENS" "$work/driver.out" >"$work/t_new"
awk 'NR > n && NR <= 2 * n { print $2 }' n="$TOKENS" "$work/driver.out" >"$work/t_seen"
awk 'NR > 2 * n { print $2 }' n="$TOKENS" "$work/driver.out" >"$work/t_opaque"

# --- (2) the server under wrk -------------------------------------------------
printf 'cpub-httpd-secret\n' >"$work/client-secret"
cat >"$work/httpd.conf" <<EOF
# bench/admin.sh: cpub-httpd for the benchmark
listen_address = 127.0.0.1
port = $HTTP_PORT
database = host=$PGHOST port=$PGPORT dbname=$PGDATABASE user=cpub_httpd
access_log = off
log_format = text
admin_oidc_issuer = $issuer
admin_oidc_client_id = cpub-httpd
admin_oidc_client_secret_file = $work/client-secret
EOF
env -u PGOPTIONS "$SERVER" --config "$work/httpd.conf" >"$work/httpd.log" 2>&1 &
server_pid=$!
wait_http "http://127.0.0.1:$HTTP_PORT/ready" "$server_pid" "$work/httpd.log"

token=
for ((i = 1; i <= 10; i++)); do
	api POST /api/auth/register 201 \
		"{\"email\":\"bench-admin-$i@example.com\",\"password\":\"$PASSWORD\"}" >/dev/null
done
bench_tier bench-admin-1@example.com
token=$(api POST /api/auth/login 200 \
	"{\"email\":\"bench-admin-1@example.com\",\"password\":\"$PASSWORD\"}" | jq -r .access_token)
[ -n "$token" ] || die "no developer token"
for ((i = 1; i <= 10; i++)); do
	api POST /api/functions 201 "{\"name\":\"f$i\",\"runtime\":\"shell\"}" >/dev/null
done
dev_token=$token
admin_jwt=$(oidc_token -d username=bench-admin -d roles=full_admin -d email=bench-admin@corp.test -d ttl=3600)
viewer_opaque=$(oidc_token -d username=bench-viewer -d roles=viewer -d ttl=3600 \
	-d resource=urn:containerpub-admin:opaque)
token=$admin_jwt
n=$(api GET '/admin/api/users?limit=10' 200 | jq length)
[ "$n" = 10 ] || die "GET /admin/api/users listed $n users, not 10"
api GET '/admin/api/audit?limit=10' 200 >/dev/null
token=$viewer_opaque
[ "$(api GET '/admin/api/users?limit=10' 200 | jq length)" = 10 ] ||
	die "the viewer's opaque token did not list 10 users"

# wrk_route NAME PATH TOKEN: wrk on PATH with TOKEN, figures into NAME.
wrk_route()
{
	local name=$1 path=$2 tok=$3 url="http://127.0.0.1:$HTTP_PORT$2"
	wrk -t "$THREADS" -c "$CONNECTIONS" -d "${WARMUP}s" \
		-H "Authorization: Bearer $tok" "$url" >/dev/null || die "wrk $path (warm-up)"
	wrk -t "$THREADS" -c "$CONNECTIONS" -d "${DURATION}s" --latency \
		-H "Authorization: Bearer $tok" "$url" >"$work/wrk-$name" ||
		die "wrk $path failed: $(cat "$work/wrk-$name")"
}
wrk_route dev /api/functions "$dev_token"
wrk_route users '/admin/api/users?limit=10' "$admin_jwt"
wrk_route opaque '/admin/api/users?limit=10' "$viewer_opaque"
wrk_route audit '/admin/api/audit?limit=10' "$admin_jwt"

# --- report -------------------------------------------------------------------
echo "(admin) the admin API: token verification and list routes (bench/admin.sh)"
echo "  token verification, in httpd's code (tests/unit/oidc_check), $TOKENS tokens each, p50 / p99:"
printf '    JWT seen before (verdict cached):     %8s / %8s us   goal <= 50 us\n' \
	"$(pct 50 "$work/t_seen")" "$(pct 99 "$work/t_seen")"
printf '    JWT never seen (RS256, claims, roles): %8s / %8s us   goal <= 50 us\n' \
	"$(pct 50 "$work/t_new")" "$(pct 99 "$work/t_new")"
printf '    opaque token never seen (introspection at the provider): %s / %s us   anchor: Keycloak introspection 2-5 ms\n' \
	"$(pct 50 "$work/t_opaque")" "$(pct 99 "$work/t_opaque")"
echo "  under wrk (-t $THREADS -c $CONNECTIONS -d ${DURATION}s), req/s, p50 / p99:"
for r in "dev:developer GET /api/functions (10 functions), cpa_ token" \
	"users:admin GET /admin/api/users?limit=10, full_admin JWT" \
	"opaque:admin GET /admin/api/users?limit=10, viewer opaque token" \
	"audit:admin GET /admin/api/audit?limit=10, full_admin JWT"; do
	read -r rps p50 p99 nbad nerr < <(wrk_figures "$work/wrk-${r%%:*}")
	printf '    %-62s %8s req/s  %6.2f / %6.2f ms%s\n' "${r#*:}" "$(commas "$rps")" \
		"$p50" "$p99" "$(wrk_trouble "$nbad" "$nerr")"
done
