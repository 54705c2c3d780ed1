# tests/e2e/lib/oidc.sh: the test OpenID Connect provider (tests/oidc) for
# the end-to-end tests: started on a free port, stopped at exit, and tokens
# of its test-user grant.  Sourced after tap.sh (and http.sh, whose cleanup
# hooks it uses when loaded), never run.
#
#   oidc_start NAME [VAR=VALUE...]  a provider with these environment
#                                   settings (tests/oidc/README.md); sets
#                                   OIDC_URL[NAME]; 1 when it does not come up
#   oidc_stop NAME                  SIGTERM, waited for
#   oidc_token NAME [CURL ARGS...]  an access token of the test-user grant
#                                   (-d username=.. -d roles=.. ...), printed
#
# A file that needs the provider skips itself without node: oidc_need.

# shellcheck shell=bash
declare -A OIDC_PID=() OIDC_URL=()
OIDC_WORK=$(mktemp -d /tmp/cpub-e2e-oidc.XXXXXX) || exit 1
OIDC_CLIENT=cpub-admin-cli:cpub-admin-cli-secret
OIDC_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd -P)

oidc_cleanup()
{
	local name
	for name in "${!OIDC_PID[@]}"; do
		oidc_stop "$name"
	done
	rm -rf "$OIDC_WORK"
}
if declare -p CLEANUP_HOOKS >/dev/null 2>&1; then
	CLEANUP_HOOKS+=(oidc_cleanup)
else
	trap oidc_cleanup EXIT
fi

# oidc_need: skips the whole file (TAP plan 0) without node; installs the
# provider's packages once (npm ci).
oidc_need()
{
	if ! command -v node >/dev/null; then
		echo "1..0 # SKIP node is not installed (the test OIDC provider runs on it)"
		exit 0
	fi
	[ -d "$OIDC_ROOT/tests/oidc/node_modules" ] ||
		(cd "$OIDC_ROOT/tests/oidc" && npm ci --silent) ||
		bail_out "npm ci in tests/oidc failed"
}

oidc_start()
{
	local name=$1 out=$OIDC_WORK/$1.out
	shift
	: >"$out" # before the loop below reads it
	env "$@" node "$OIDC_ROOT/tests/oidc/provider.mjs" 0 \
		>"$out" 2>"$OIDC_WORK/$name.err" &
	OIDC_PID[$name]=$!
	for _ in $(seq 150); do
		grep -q 'ready on' "$out" && break
		kill -0 "${OIDC_PID[$name]}" 2>/dev/null || break
		sleep 0.1
	done
	OIDC_URL[$name]=$(sed -n 's/.*ready on //p' "$out")
	if [ -z "${OIDC_URL[$name]}" ]; then
		diag "provider $name did not start: $(cat "$OIDC_WORK/$name.err")"
		return 1
	fi
}

oidc_stop()
{
	local pid=${OIDC_PID[$1]:-}
	[ -n "$pid" ] || return 0
	kill "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	unset "OIDC_PID[$1]"
}

oidc_token()
{
	local name=$1
	shift
	curl -s -u "$OIDC_CLIENT" \
		-d grant_type=urn:containerpub:params:oauth:grant-type:test-user \
		"$@" "${OIDC_URL[$name]}/token" | jq -r '.access_token // empty'
}
