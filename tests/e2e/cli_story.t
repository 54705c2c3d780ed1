#!/usr/bin/env bash
# tests/e2e/cli_story.t: the whole story a new user lives, with the real
# cli/cpub alone against the real stack (cpub-httpd, cpub-worker, root
# Podman), for each runtime (c, python, shell): register (the password on
# standard input), login, whoami; then init, deploy, invoke, logs, env set
# (the handler changed to print the variable, deployed again), env list,
# env unset, visibility key in cpub.json and keys create then invoke --key,
# versions, rollback to version 1, delete --yes (then invoke is exit 3);
# logout at the end.  Outputs are those a user reads, --json where a
# script would parse them (jq); curl only cross-checks the server's side.
#
# The errors a user can hit are tested where their command is: a wrong
# password at login in cli_auth.t, an unknown function on invoke (and on
# info, versions, rollback, delete, logs, env, keys, metrics) in
# cli_invoke.t and cli_functions.t, a server that is down in all of them;
# a bad manifest, secrets, risky calls, an over-size archive and every
# other deploy refusal in cli_deploy.t.
#
# Needs PGHOST/PGPORT/PGUSER of a cluster with the extension installed and
# CONTAINERS_CONF (tests/run.sh exports them), the base images (make
# images).  Prints TAP.
set -uo pipefail

# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib/http.sh"
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib/worker.sh"
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib/cli.sh"

SRC=$WORK/src
mkdir -p "$SRC"

# answers TEXT DESC: the last run exited 0 and printed exactly TEXT.
answers()
{
	[ "$RC" = 0 ] && [ "$OUT" = "$1" ]
	tap_ok $? "$2 (got: $(one "$OUT"))" || diag "exit $RC" "stderr: $ERR"
}

db_create cpub_e2e_cli_story || bail_out "could not create the database"
server_start main || bail_out "cpub-httpd did not start"
worker_start w1 || bail_out "cpub-worker did not start"

# --- an account -----------------------------------------------------------------------

cpub_in $'correct horse battery\n' register grace@example.com
is_rc 0 "register, the password on standard input"
has "registered grace@example.com" "it says so (stdout: $(one "$OUT"))"
cpub_in $'correct horse battery\n' login grace@example.com
is_rc 0 "login"
cpub whoami --json
[ "$RC" = 0 ] && [ "$(jq -r .email <<<"$OUT")" = grace@example.com ]
tap_ok $? "whoami: grace@example.com"
ID=$(jq -r .user_id <<<"$OUT")
TOKEN=$(jq -r --arg s "$URL" '.servers[$s].access_token' "$CREDS")

# --- the story, for each runtime ---------------------------------------------------------

# print_greeting RUNTIME FILE: changes the hello handler FILE to add a line
# "GREETING=<the variable>" to its response.
print_greeting()
{
	case $1 in
	c)
		sed -i -e 's/^#include "cpub.h"$/&\n#include <stdlib.h>/' \
			-e 's/^\tcpub_log(/\tcpub_response_printf(res, "GREETING=%s\\n",\n\t\t\t\t\t\t getenv("GREETING") ? getenv("GREETING") : "");\n&/' \
			"$2"
		;;
	python)
		sed -i -e '1i import os' \
			-e 's/^    return 200/    body += "GREETING=%s\\n" % os.environ.get("GREETING", "")\n&/' "$2"
		;;
	shell)
		# shellcheck disable=SC2016  # the line is shell for the handler
		printf 'printf '\''GREETING=%%s\\n'\'' "${GREETING:-}"\n' >>"$2"
		;;
	esac
}

# invoke_until NAME WANT: invokes NAME until its body is WANT (up to 10 s:
# running instances are replaced after an environment change).
invoke_until()
{
	for _ in $(seq 50); do
		cpub invoke "$1" --data ada
		[ "$OUT" = "$2" ] && return 0
		sleep 0.2
	done
	return 1
}

for rt in c python shell; do
	f=hello-$rt
	case $rt in
	c) handler=hello.c ;;
	python) handler=main.py ;;
	shell) handler=handler.sh ;;
	esac
	hello="hello from $f: POST /, 3 bytes: ada"

	cpub init --runtime $rt $f
	[ "$RC" = 0 ] && [ -f "$SRC/$f/cpub.json" ] && [ -f "$SRC/$f/$handler" ]
	tap_ok $? "$rt: init --runtime $rt $f: cpub.json and $handler" || diag "$OUT $ERR"

	cpub deploy $f
	[ "$RC" = 0 ] && grep -q "^created function $f (runtime $rt)$" <<<"$OUT" &&
		grep -q "^\[cpub\] building $f v1" <<<"$OUT" &&
		grep -q "^deployed $f version 1 is active" <<<"$OUT"
	tap_ok $? "$rt: deploy: created, the build log, version 1 active (exit $RC)" ||
		diag "stdout: $OUT" "stderr: $ERR"

	cpub invoke $f --json --data ada
	[ "$RC" = 0 ] && [ "$(jq -r .status <<<"$OUT")" = 200 ] &&
		[ "$(jq -r .body <<<"$OUT")" = "$hello" ]
	tap_ok $? "$rt: invoke --json: 200, the hello body (got: $(one "$OUT"))"
	exec_id=$(jq -r .execution_id <<<"$OUT")
	cpub invoke $f --data ada
	answers "$hello" "$rt: invoke prints the body"

	# The line the handler wrote, under the execution's short id.
	for _ in $(seq 20); do
		cpub logs $f
		grep -Eq "^[0-9-]{10} [0-9:]{8}  ${exec_id:0:8}  answer(ed|ing) POST /\$" <<<"$OUT" && break
		sleep 0.1
	done
	grep -Eq "^[0-9-]{10} [0-9:]{8}  ${exec_id:0:8}  answer(ed|ing) POST /\$" <<<"$OUT"
	tap_ok $? "$rt: logs: the invocation's output line (got: $(one "$OUT"))"

	cpub env set $f GREETING=bonjour
	[ "$RC" = 0 ] && grep -q "GREETING" <<<"$OUT"
	tap_ok $? "$rt: env set GREETING=bonjour (got: $(one "$OUT"))" || diag "$ERR"
	print_greeting $rt "$SRC/$f/$handler"
	cpub deploy $f
	[ "$RC" = 0 ] && grep -q "^deployed $f version 2 is active" <<<"$OUT"
	tap_ok $? "$rt: the handler prints GREETING: deployed as version 2 (exit $RC)" ||
		diag "stdout: $OUT" "stderr: $ERR"
	cpub invoke $f --data ada
	answers "$hello
GREETING=bonjour" "$rt: invoke: the function sees the value"

	cpub env list $f
	[ "$RC" = 0 ] && grep -q "^GREETING " <<<"$OUT" && ! grep -q bonjour <<<"$OUT"
	tap_ok $? "$rt: env list: the name, not the value (got: $(one "$OUT"))"
	cpub env unset $f GREETING
	is_rc 0 "$rt: env unset GREETING"
	invoke_until $f "$hello
GREETING="
	tap_ok $? "$rt: invoke: the variable is gone (got: $(one "$OUT"))"

	# Visibility key: a setting of cpub.json, sent by deploy.
	jq '.visibility = "key"' "$SRC/$f/cpub.json" >"$WORK/cpub.json" &&
		mv "$WORK/cpub.json" "$SRC/$f/cpub.json"
	cpub deploy $f
	[ "$RC" = 0 ] && grep -q "^updated the settings of $f: visibility private -> key$" <<<"$OUT" &&
		grep -q "^unchanged: version 2 has this archive" <<<"$OUT"
	tap_ok $? "$rt: visibility key in cpub.json: deploy sends it, nothing else (got: $(one "$OUT"))"
	cpub -q keys create $f --label story
	secret=$OUT
	[ "$RC" = 0 ] && [[ $secret == cpk_* ]]
	tap_ok $? "$rt: keys create: the secret (exit $RC)"
	cpub invoke $f --key "$secret" --data ada
	answers "$hello
GREETING=" "$rt: invoke --key: the signed call is answered"
	cpub invoke "$ID/$f" --key "cpk_0000000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" --data ada
	[ "$RC" = 3 ] && grep -q '(28Q06)' <<<"$ERR"
	tap_ok $? "$rt: a key that is not one of its keys: exit 3 (stderr: $(one "$ERR"))"

	cpub versions $f
	[ "$RC" = 0 ] && grep -Eq '^v2 +ready +\* ' <<<"$OUT" && grep -Eq '^v1 +ready +[^*]' <<<"$OUT" &&
		[ "$(grep -c '^v[0-9]' <<<"$OUT")" = 2 ]
	tap_ok $? "$rt: versions: v2 active, v1 ready (got: $(one "$OUT"))"
	cpub rollback $f 1
	[ "$RC" = 0 ] && [ "$OUT" = "function $f: version 1 is active" ]
	tap_ok $? "$rt: rollback $f 1 (got: $(one "$OUT"))" || diag "$ERR"
	cpub invoke $f --data ada
	answers "$hello" "$rt: invoke: version 1's answer again"
	req GET "/api/functions/$f"
	tap_ok "$([ "$(jqr .active_version)" = 1 ]; echo $?)" "$rt: the API says version 1 is active"

	cpub delete $f --yes
	[ "$RC" = 0 ] && grep -q "deleted function $f" <<<"$OUT"
	tap_ok $? "$rt: delete --yes (got: $(one "$OUT"))" || diag "$ERR"
	cpub invoke $f --data ada
	[ "$RC" = 3 ] && grep -q "^cpub: function \"$ID/$f\" not found (P0002)$" <<<"$ERR"
	tap_ok $? "$rt: invoke after delete: exit 3, not found (stderr: $(one "$ERR"))"
done

cpub list --json
[ "$RC" = 0 ] && [ "$OUT" = "[]" ]
tap_ok $? "list: no function left (got: $(one "$OUT"))"
cpub logout
is_rc 0 "logout"
cpub whoami
is_rc 3 "whoami after logout: not logged in"

worker_stop w1
tap_ok $? "the worker stops cleanly"
stop_cleanly main

done_testing
