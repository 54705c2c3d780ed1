#!/usr/bin/env bash
# tests/e2e/cli_functions.t: the real cli/cpub against the real stack
# (cpub-httpd, cpub-worker, root Podman) on functions that exist: list,
# info, versions, rollback, delete, env set/unset/list, keys
# create/list/roll/revoke, logs (also --follow, ended by SIGTERM and
# SIGINT, and -n 0 --follow started while a call runs), metrics (a
# table, and the chart on a terminal through script), their --json output
# parsed with jq, and every error a user can hit with
# its message and exit code (cli/README.md: 2 usage, 3 API error, 4 cannot
# connect).  Functions are created and deployed with curl: deploying is
# another command's job.
#
# Needs PGHOST/PGPORT/PGUSER of a cluster with the extension installed and
# CONTAINERS_CONF (tests/run.sh exports them), the base images (make
# images), script (util-linux) for a terminal.  Prints TAP.
set -uo pipefail

# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib/http.sh"
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib/worker.sh"
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib/cli.sh"

command -v script >/dev/null || bail_out "script (util-linux) is missing"


# cpub_tty INPUT ARGS...: cpub on a terminal (script), INPUT typed in;
# OUT is what the terminal showed (standard output and error), RC the
# exit status.
cpub_tty()
{
	local input=$1 cmd
	shift
	cmd=$(printf '%q ' "$CPUB" --server "$URL" "$@")
	OUT=$({
		(sleep 0.5; printf '%s' "$input") |
			LC_ALL=C.UTF-8 script -qec "$cmd" /dev/null 2>&1
		echo "exit=$?"
	} | tr -d '\r')
	RC=${OUT##*exit=}
	OUT=${OUT%exit=*}
	ERR=
}

# json FILTER DESC: the last stdout is JSON and FILTER holds.
json()
{
	jq -e "$1" <<<"$OUT" >/dev/null 2>&1
	tap_ok $? "$2" || diag "stdout: $OUT" "stderr: $ERR"
}

db_create cpub_e2e_cli_functions || bail_out "could not create the database"
# The loops below call faster than the free tier's 10 a second.
q "SELECT count(*) FROM cpub_admin.tier_update(name => 'free', requests_per_second => 1000)" >/dev/null
server_start api || bail_out "cpub-httpd did not start"
worker_start w1 || bail_out "cpub-worker did not start"

# --- not logged in, server down -------------------------------------------------

cpub list
is_rc 3 "list before login: refused"
err_has "not logged in to $URL" "it says not logged in (stderr: $(one "$ERR"))"

cpub_in $'analytical engine\n' register ada@example.com
is_rc 0 "register with the real binary"
cpub_in $'analytical engine\n' login ada@example.com
is_rc 0 "login with the real binary"
TOKEN=$(jq -r --arg s "$URL" '.servers[$s].access_token' "$CREDS")
ADA_ID=$(q "SELECT uuid FROM cpub.users WHERE email = 'ada@example.com'")

# The credentials under another server's name, which does not answer.
jq --arg s "$URL" '.servers["http://127.0.0.1:1"] = .servers[$s]' "$CREDS" >"$WORK/creds" &&
	cat "$WORK/creds" >"$CREDS"
for c in "list" "info hello" "logs hello" "metrics hello" "env list hello"; do
	# shellcheck disable=SC2086  # the words of the command
	OUT=$("$CPUB" --server http://127.0.0.1:1 $c 2>"$WORK/cpub.err" </dev/null)
	RC=$?
	ERR=$(cat "$WORK/cpub.err")
	[ "$RC" = 4 ] && grep -q '^cpub: could not connect to http://127.0.0.1:1' <<<"$ERR"
	tap_ok $? "$c, server down: exit 4, could not connect (exit $RC: $(one "$ERR"))"
done

cpub list
is_rc 0 "list with no functions"
has "no functions" "it says there are none"
cpub list --json
json '. == []' "list --json: []"

# --- two functions, deployed with curl ------------------------------------------

SRC=$WORK/src
mkdir -p "$SRC/hello" "$SRC/py"
hello_source()
{
	cat >"$SRC/hello/handler.sh" <<SH
#!/bin/sh
case "\$QUERY_STRING" in *slow*) sleep 3 ;; esac
echo "log line \${QUERY_STRING:-none}" >&2
echo "Content-Type: text/plain"
echo
echo "$1 greeting=\${GREETING:-} cert=\${#CERT}"
SH
	chmod +x "$SRC/hello/handler.sh"
}
cat >"$SRC/py/main.py" <<'PY'
import sys


def handle(request):
    print("py was called", file=sys.stderr)
    return 200, {"content-type": "text/plain"}, "py\n"
PY

hello_id=$(fn_create hello shell '"visibility":"public"') || bail_out "could not create hello"
py_id=$(fn_create py python '"memory_mb":64') || bail_out "could not create py"
OWNER=$ADA_ID
hello_source v1
v=$(deploy hello "$SRC/hello") && st=$(wait_built hello "$v")
tap_ok "$([ "$v" = 1 ] && [ "$st" = ready ]; echo $?)" "hello: version 1 built ($v $st)"
hello_source v2
v=$(deploy hello "$SRC/hello") && st=$(wait_built hello "$v")
tap_ok "$([ "$v" = 2 ] && [ "$st" = ready ]; echo $?)" "hello: version 2 built ($v $st)"
v=$(deploy py "$SRC/py") && st=$(wait_built py "$v")
tap_ok "$([ "$v" = 1 ] && [ "$st" = ready ]; echo $?)" "py: version 1 built ($v $st)"

# --- list, info -----------------------------------------------------------------

cpub list
is_rc 0 "list"
[ "$(head -n 1 <<<"$OUT" | tr -s ' ')" = "NAME RUNTIME STATUS ACTIVE VISIBILITY UPDATED" ]
tap_ok $? "list: its header (got: $(head -n 1 <<<"$OUT"))"
grep -Eq '^hello +shell +active +v2 +public +[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:]{8}$' <<<"$OUT" &&
	grep -Eq '^py +python +active +v1 +private +' <<<"$OUT"
tap_ok $? "list: hello (shell, v2, public) and py (python, v1, private)" || diag "$OUT"
cpub list --json
json 'map(.name) == ["hello", "py"] and .[0].runtime == "shell" and .[0].active_version == 2' \
	"list --json: the server's rows"
cpub list --org nowhere
is_rc 3 "list --org of an organization one is not in: API error"
err_has 'organization "nowhere" not found (P0002)' "it names the organization (stderr: $(one "$ERR"))"

cpub info hello
is_rc 0 "info hello"
has "  endpoint      $URL/fn/$ADA_ID/hello" "info: the endpoint URL, SERVER/fn/USER_ID/NAME"
grep -Eq '^  status +active$' <<<"$OUT" && grep -Eq '^  active +v2$' <<<"$OUT" &&
	grep -Eq '^  memory +128 MB$' <<<"$OUT" && grep -Eq '^  timeout +10 s$' <<<"$OUT" &&
	grep -Eq '^  concurrency +4 at once$' <<<"$OUT" && grep -Eq '^  visibility +public$' <<<"$OUT" &&
	grep -Eq '^  runtime +shell$' <<<"$OUT" && grep -Eq "^  id +$hello_id\$" <<<"$OUT"
tap_ok $? "info: status, active version, memory, timeout, concurrency, visibility, runtime, id" ||
	diag "$OUT"
curl -sS "$(sed -n 's/^  endpoint *//p' <<<"$OUT")" >"$WORK/answer"
tap_ok "$(grep -q '^v2 ' "$WORK/answer"; echo $?)" "the endpoint info shows answers ($(cat "$WORK/answer"))"
cpub info py --json
json ".endpoint == \"/fn/$ADA_ID/py\" and .memory_mb == 64 and .visibility == \"private\"" \
	"info --json: the server's object"
cpub info "$py_id"
is_rc 0 "info by the function's id"
grep -q '^py$' <<<"$OUT"
tap_ok $? "and it shows py"

# --- a function that does not exist, for every command ----------------------------

for c in "info nope" "versions nope" "rollback nope" "delete nope --yes" "env list nope" \
	"env set nope A=1" "env unset nope A" "keys list nope" "keys create nope" \
	"keys revoke nope 0123456789abcdef" "keys roll nope 0123456789abcdef" "logs nope" \
	"metrics nope"; do
	# shellcheck disable=SC2086  # the words of the command
	cpub $c
	[ "$RC" = 3 ] && grep -qx 'cpub: function "nope" not found (P0002)' <<<"$ERR"
	tap_ok $? "$c: exit 3, function \"nope\" not found (exit $RC: $(one "$ERR"))"
done

# --- versions, rollback -------------------------------------------------------------

cpub versions hello
is_rc 0 "versions hello"
sha2=$(q "SELECT encode(archive_sha256, 'hex') FROM cpub.function_versions
	WHERE function_id = '$hello_id' AND version = 2")
[ "$(head -n 1 <<<"$OUT" | tr -s ' ')" = "VERSION STATUS ACTIVE SIZE SHA256 CREATED BUILD" ] &&
	grep -Eq "^v2 +ready +\\* +[0-9.]+ (B|KiB) +${sha2:0:12} +[0-9-]{10} [0-9:]{8} +[0-9]+\\.[0-9] s$" <<<"$OUT" &&
	grep -Eq "^v1 +ready +[0-9.]+ (B|KiB) +[0-9a-f]{12} +" <<<"$OUT" &&
	[ "$(sed -n 2p <<<"$OUT" | cut -d' ' -f1)" = v2 ]
tap_ok $? "versions: newest first, v2 active (*), size, sha256 short, created, build time" ||
	diag "$OUT"
cpub versions hello --json
json "length == 2 and .[0].version == 2 and .[0].active and (.[1].active | not)
	and .[0].archive_sha256 == \"$sha2\"" "versions --json: the server's rows"

cpub rollback hello
is_rc 0 "rollback hello, no version"
has "function hello: version 1 is active" "it goes back to the previous ready version, 1"
call GET hello
tap_ok "$([ "$STATUS" = 200 ] && grep -q '^v1 ' <<<"$BODY"; echo $?)" "hello answers with version 1 ($BODY)"
cpub rollback hello
is_rc 3 "rollback again: no earlier ready version"
err_has 'function "hello" has no earlier ready version (23514)' "it says so (stderr: $(one "$ERR"))"
cpub rollback hello 9
is_rc 3 "rollback to a version that does not exist"
err_has 'function "hello" has no version 9 (P0002)' "it names the function and version (stderr: $(one "$ERR"))"
cpub rollback hello two
is_rc 2 "rollback to a version that is not a number: usage error"
err_has "not a version number: two" "it names the argument"
cpub rollback hello 2 --json
json '.version == 2 and .active == true' "rollback hello 2 --json: the version, active"
cpub -q rollback hello 2
[ "$RC" = 0 ] && [ -z "$OUT" ]
tap_ok $? "rollback --quiet to the active version: nothing printed (exit $RC)"
call GET hello
tap_ok "$([ "$STATUS" = 200 ] && grep -q '^v2 ' <<<"$BODY"; echo $?)" "hello answers with version 2 again ($BODY)"

# --- env ---------------------------------------------------------------------------

cpub env set hello GREETING='hi there' EMPTY=
is_rc 0 "env set hello GREETING='hi there' EMPTY="
has "set EMPTY, GREETING on function hello" "it names what it set (stdout: $(one "$OUT"))"
[ "$(q "SELECT string_agg(name, ',' ORDER BY name) FROM cpub.function_env WHERE function_id = '$hello_id'")" = "EMPTY,GREETING" ]
tap_ok $? "both are set, in one change"
printf 'line one\nline two\n' >"$WORK/cert.pem"
cpub_in 'from standard input' env set hello --from-file CERT="$WORK/cert.pem" --from-file STDIN=-
is_rc 0 "env set --from-file KEY=PATH and KEY=- (standard input)"
cpub env list hello
is_rc 0 "env list"
[ "$(tail -n +2 <<<"$OUT" | cut -d' ' -f1 | tr '\n' ' ')" = "CERT EMPTY GREETING STDIN " ] &&
	[ "$(head -n 1 <<<"$OUT" | tr -s ' ')" = "NAME UPDATED" ]
tap_ok $? "env list: the names (got: $(one "$OUT"))"
! grep -qE 'hi there|line one|standard input' <<<"$OUT"
tap_ok $? "env list shows no value"
cpub env list hello --json
json 'map(.name) == ["CERT", "EMPTY", "GREETING", "STDIN"] and all(.[]; has("value") | not)' \
	"env list --json: names, no values"
# A new configuration: containers started before it stop serving.
for _ in $(seq 50); do
	call GET hello
	grep -q 'greeting=hi there' <<<"$BODY" && break
	sleep 0.2
done
tap_ok "$([ "$BODY" = "v2 greeting=hi there cert=18" ]; echo $?)" \
	"the function sees GREETING, and CERT's bytes as in the file, final line end included ($BODY)"

cpub env set hello GREETING
is_rc 2 "env set KEY without =VALUE: usage error"
err_has "not KEY=VALUE: GREETING" "it names the argument (stderr: $(one "$ERR"))"
cpub env set hello 1ST=x
is_rc 2 "env set with a bad name: usage error"
err_has "not a variable name in 1ST=x" "it names the argument"
cpub env set hello
is_rc 2 "env set with nothing to set: usage error"
cpub env set hello --from-file CERT="$WORK/missing.pem"
is_rc 2 "env set --from-file of a missing file: usage error"
err_has "could not read the value of CERT from $WORK/missing.pem" "it names the file"
cpub env set hello CPUB_X=1
is_rc 3 "env set of a reserved name: the server refuses"
err_has 'invalid environment variable name "CPUB_X" (22Q04)' "with its message"
err_has 'detail: Names starting with CPUB_ are reserved for the platform.' "and its detail"

cpub env unset hello GREETING EMPTY
is_rc 0 "env unset hello GREETING EMPTY"
has "unset GREETING, EMPTY on function hello" "it says so"
cpub env list hello --json
json 'map(.name) == ["CERT", "STDIN"]' "they are gone"
cpub env unset hello NOPE
is_rc 3 "env unset of a variable that is not set"
err_has 'environment variable "NOPE" is not set (P0002)' "it names the variable"
err_has 'Not set in function "hello": NOPE.' "and the function (detail)"
cpub env unset hello bad-name
is_rc 2 "env unset with a bad name: usage error"
cpub env unset hello
is_rc 2 "env unset without a name: usage error"
for _ in $(seq 50); do
	call GET hello
	grep -q 'greeting= ' <<<"$BODY" && break
	sleep 0.2
done
tap_ok "$([ "$BODY" = "v2 greeting= cert=18" ]; echo $?)" "the function no longer sees GREETING ($BODY)"

# --- keys -----------------------------------------------------------------------------

cpub keys create hello --label ci
is_rc 0 "keys create --label ci"
KEY1=$(sed -n 's/^created key \([0-9a-f]\{16\}\) of function hello (label ci)$/\1/p' <<<"$OUT")
SECRET1=$(sed -n 's/^secret: //p' <<<"$OUT")
[ -n "$KEY1" ] && [[ $SECRET1 == cpk_${KEY1}_* ]] && [ ${#SECRET1} = $((4 + 16 + 1 + 43)) ]
tap_ok $? "it prints the key id and the secret cpk_<key id>_... (stdout: $(one "$OUT"))"
err_has "the secret is shown only this once" "and warns that it is not shown again (stderr: $(one "$ERR"))"
cpub -q keys create hello
is_rc 0 "keys create --quiet"
[[ $OUT =~ ^cpk_([0-9a-f]{16})_[A-Za-z0-9_-]{43}$ ]]
tap_ok $? "--quiet: the secret alone on stdout (got: $OUT)"
KEY2=${BASH_REMATCH[1]}
cpub keys create hello --label 'expiring' --expires 90d --json
json '(.secret | startswith("cpk_")) and .label == "expiring" and (.expires_at | type) == "string"' \
	"keys create --expires 90d --json: the server's object, with the secret"
KEY3=$(jq -r .key_id <<<"$OUT")
exp_days=$(q "SELECT round(extract(epoch FROM expires_at - now()) / 86400) FROM cpub.function_keys WHERE key_id = '$KEY3'")
tap_ok "$([ "$exp_days" = 90 ]; echo $?)" "it expires in 90 days ($exp_days)"
cpub keys create hello --expires soon
is_rc 2 "keys create --expires soon: usage error"

cpub keys list hello
is_rc 0 "keys list"
[ "$(head -n 1 <<<"$OUT" | tr -s ' ')" = "KEY_ID LABEL STATUS CREATED EXPIRES LAST_USED" ] &&
	grep -Eq "^$KEY1 +ci +active +[0-9-]{10} [0-9:]{8} +- +-$" <<<"$OUT" &&
	grep -Eq "^$KEY2 +- +active " <<<"$OUT" &&
	grep -Eq "^$KEY3 +expiring +active +[0-9-]{10} [0-9:]{8} +[0-9-]{10} [0-9:]{8} +-$" <<<"$OUT"
tap_ok $? "keys list: key id, label, status, created, expires, last used" || diag "$OUT"
! grep -q cpk_ <<<"$OUT"
tap_ok $? "keys list shows no secret"

cpub keys roll hello "$KEY1"
is_rc 0 "keys roll"
SECRET1B=$(sed -n 's/^secret: //p' <<<"$OUT")
[[ $SECRET1B == cpk_${KEY1}_* && $SECRET1B != "$SECRET1" ]]
tap_ok $? "a new secret for the same key id"
err_has "the secret is shown only this once" "with the warning"

cpub keys revoke hello "$KEY2"
is_rc 0 "keys revoke"
has "revoked key $KEY2 of function hello" "it says so"
cpub keys revoke hello "$SECRET1B"
is_rc 0 "keys revoke, the key named by its secret"
cpub keys list hello --json
json "map(select(.status == \"revoked\") | .key_id) == [\"$KEY1\", \"$KEY2\"] and all(.[]; has(\"secret\") | not)" \
	"keys list --json: both revoked, no secrets"
cpub keys revoke hello "$KEY2"
is_rc 3 "revoke a revoked key: API error"
err_has "invocation key \"$KEY2\" is revoked already (23514)" "it says so"
cpub keys revoke hello 0123456789abcdef
is_rc 3 "revoke an unknown key"
err_has 'invocation key "0123456789abcdef" not found (P0002)' "it names the key"
err_has 'of function "hello"' "and the hint names the function"
err_has 'hint: cpub keys list NAME lists the keys' "said as a cpub command, not a SQL function"
# ".." is a key id like any other: it must never climb to the function's
# own route (DELETE /api/functions/hello).
cpub keys revoke hello ..
is_rc 3 "revoke key \"..\": API error"
err_has 'invocation key ".." not found (P0002)' "it is taken as a key id"
[ "$(q "SELECT count(*) FROM cpub.functions WHERE name = 'hello' AND deleted_at IS NULL")" = 1 ]
tap_ok $? "and the function is still there"
cpub keys roll hello "$KEY1"
is_rc 3 "roll a revoked key: API error"
cpub keys revoke hello
is_rc 2 "keys revoke without a key: usage error"

# --- logs ----------------------------------------------------------------------------------

EXEC=()
for i in 1 2 3; do
	call GET hello "?call=$i"
	EXEC+=("$(header X-Cpub-Execution-Id)")
done
tap_ok "$([ ${#EXEC[2]} = 36 ]; echo $?)" "three calls of hello (${EXEC[*]})"
# The calls before (env changes) made more executions.
nexec=$(q "SELECT count(*) FROM cpub.executions WHERE function_id = '$hello_id'")

cpub logs hello
is_rc 0 "logs hello"
for i in 1 2 3; do
	grep -Eq "^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}  ${EXEC[$((i - 1))]:0:8}  log line call=$i\$" <<<"$OUT"
	tap_ok $? "logs: call $i's line: time, short execution id, text" || diag "$OUT"
done
[ "$(grep -c 'log line' <<<"$OUT")" = "$nexec" ] &&
	[ "$(grep 'log line call=' <<<"$OUT" | sed 's/.*=//' | tr -d '\n')" = 123 ]
tap_ok $? "logs: every execution's line ($nexec), oldest first"
cpub logs hello --limit 2
[ "$RC" = 0 ] && [ "$(grep -o 'call=[0-9]' <<<"$OUT" | tr '\n' ' ')" = "call=2 call=3 " ] &&
	[ "$(wc -l <<<"$OUT")" = 2 ]
tap_ok $? "logs --limit 2: the two most recent executions (got: $(one "$OUT"))"
cpub logs hello -n 1 --json
json "length == 1 and .[0].execution_id == \"${EXEC[2]}\" and (.[0].logs | test(\"log line call=3\"))
	and .[0].status == \"succeeded\" and (.[0].seq | type) == \"number\"" \
	"logs -n 1 --json: the server's row"
cpub logs hello --since 1h
[ "$RC" = 0 ] && [ "$(grep -c 'log line' <<<"$OUT")" = "$nexec" ]
tap_ok $? "logs --since 1h: all of them (exit $RC)"
q "UPDATE cpub.executions SET created_at = now() - interval '2 hours'
	WHERE function_id = '$hello_id' AND id <> '${EXEC[2]}'" >/dev/null
cpub logs hello --since 30m
[ "$RC" = 0 ] && [ "$(grep -c 'log line' <<<"$OUT")" = 1 ] && grep -q 'call=3$' <<<"$OUT"
tap_ok $? "logs --since 30m: only the execution of the last 30 minutes (got: $(one "$OUT"))"
for bad in 30 5x 1.5h -1h 0s ''; do
	cpub logs hello --since "$bad"
	[ "$RC" = 2 ] && grep -q "^cpub: --since takes a duration such as 30s, 5m, 2h or 7d: $bad\$" <<<"$ERR"
	tap_ok $? "logs --since '$bad': usage error naming it (exit $RC)"
done
cpub logs hello --limit lots
is_rc 2 "logs --limit lots: usage error"

cpub logs hello --execution "${EXEC[1]}"
[ "$RC" = 0 ] && [ "$(wc -l <<<"$OUT")" = 1 ] && grep -q "  ${EXEC[1]:0:8}  log line call=2\$" <<<"$OUT"
tap_ok $? "logs --execution ID: that execution's lines (got: $(one "$OUT"))"
cpub logs hello --execution "${EXEC[0]:0:8}"
[ "$RC" = 0 ] && grep -q "log line call=1\$" <<<"$OUT"
tap_ok $? "logs --execution with the short id the lines show (exit $RC)"
cpub logs hello --execution "${EXEC[0]}" --json
json ".id == \"${EXEC[0]}\" and .function_name == \"hello\" and (.logs | test(\"call=1\"))" \
	"logs --execution --json: the server's execution"
call_py=$(TOKEN=$TOKEN req POST /api/functions/py/invoke -d '{"method": "GET"}'; jqr .execution_id)
cpub logs hello --execution "$call_py"
is_rc 3 "logs --execution of another function's execution: refused"
err_has "execution $call_py is not one of function hello's" "it says so"
cpub logs py --execution "$call_py"
[ "$RC" = 0 ] && grep -q "  ${call_py:0:8}  py was called\$" <<<"$OUT"
tap_ok $? "and py's logs show it (got: $(one "$OUT"))"
cpub logs hello --execution 00000000-0000-4000-8000-000000000000
is_rc 3 "logs --execution of an unknown execution"
cpub logs hello --execution ffff
is_rc 3 "logs --execution with a start that no execution has"
err_has "function hello has no execution ffff" "it says so"
cpub logs hello --execution not-an-id
is_rc 2 "logs --execution not-an-id: usage error"
cpub logs hello --execution "${EXEC[0]}" --follow
is_rc 2 "logs --execution with --follow: usage error"

# --follow: the recent lines, then a new call's line as it comes.
follow_start()
{
	local out=$1
	shift
	"$CPUB" --server "$URL" logs hello --follow "$@" >"$out" 2>"$out.err" </dev/null &
	FOLLOW_PID=$!
	CLEANUP_HOOKS+=("kill -KILL $FOLLOW_PID 2>/dev/null")
}
# wait_for FILE PATTERN: up to 15 s for a line of FILE to match.
wait_for()
{
	for _ in $(seq 150); do
		grep -q -- "$2" "$1" && return 0
		sleep 0.1
	done
	return 1
}
follow_start "$WORK/follow1" --limit 1
wait_for "$WORK/follow1" 'log line call=3$'
tap_ok $? "logs --follow --limit 1: the most recent line first" || diag "$(cat "$WORK/follow1" "$WORK/follow1.err")"
call GET hello "?call=4"
EXEC+=("$(header X-Cpub-Execution-Id)")
wait_for "$WORK/follow1" "  ${EXEC[3]:0:8}  log line call=4\$"
tap_ok $? "logs --follow: a new call's line comes as it happens" || diag "$(cat "$WORK/follow1" "$WORK/follow1.err")"
call GET hello "?call=5"
wait_for "$WORK/follow1" 'log line call=5$'
tap_ok $? "logs --follow: and the next one"
kill -TERM "$FOLLOW_PID"
wait "$FOLLOW_PID"
rc=$?
tap_ok "$([ "$rc" = 143 ]; echo $?)" "logs --follow ends on SIGTERM like tail -f: status 143 ($rc)"
[ "$(grep -c 'log line' "$WORK/follow1")" = 3 ] && [ ! -s "$WORK/follow1.err" ]
tap_ok $? "it printed each line once, no error ($(one "$(cat "$WORK/follow1" "$WORK/follow1.err")"))"

# With job control, as in an interactive shell, SIGINT (Ctrl-C) reaches it.
set -m
follow_start "$WORK/follow2" --json --limit 2
set +m
wait_for "$WORK/follow2" 'call=5'
call GET hello "?call=6"
wait_for "$WORK/follow2" 'call=6'
tap_ok $? "logs --follow --json: a new call comes" || diag "$(cat "$WORK/follow2" "$WORK/follow2.err")"
kill -INT "$FOLLOW_PID"
wait "$FOLLOW_PID"
rc=$?
tap_ok "$([ "$rc" = 130 ]; echo $?)" "logs --follow ends on SIGINT like tail -f: status 130 ($rc)"
[ "$(jq -r '.logs' "$WORK/follow2" | grep -o 'call=[0-9]' | tr '\n' ' ')" = "call=4 call=5 call=6 " ] &&
	[ "$(wc -l <"$WORK/follow2")" = 3 ] && jq -e 'has("seq") and has("execution_id")' "$WORK/follow2" >/dev/null
tap_ok $? "--follow --json: one JSON row per line, NDJSON ($(one "$(cat "$WORK/follow2")"))"

# --limit 0 --follow while a call is running: its lines come when it ends.
curl -s -o /dev/null --max-time 60 "$URL/fn/$OWNER/hello?call=slow" &
SLOW_PID=$!
for _ in $(seq 100); do
	[ "$(q "SELECT count(*) FROM cpub.executions WHERE function_id = '$hello_id' AND status = 'running'")" = 1 ] && break
	sleep 0.1
done
follow_start "$WORK/follow3" --limit 0
wait_for "$WORK/follow3" 'log line call=slow$'
tap_ok $? "logs -n 0 --follow started while a call runs: its line comes when it ends" || diag "$(cat "$WORK/follow3" "$WORK/follow3.err")"
kill -TERM "$FOLLOW_PID"
wait "$FOLLOW_PID" 2>/dev/null
wait "$SLOW_PID" 2>/dev/null
[ "$(grep -c 'log line' "$WORK/follow3")" = 1 ]
tap_ok $? "  and nothing from before it ($(one "$(cat "$WORK/follow3")"))"

# --- metrics -----------------------------------------------------------------------------------

ncalls=$(q "SELECT count(*) FROM cpub.executions WHERE function_id = '$hello_id' AND created_at > now() - interval '24 hours'")
cpub metrics hello
is_rc 0 "metrics hello (not a terminal)"
grep -Eq "^  invocations +$ncalls\$" <<<"$OUT" && grep -Eq '^  errors +0 \(0\.0 %\)$' <<<"$OUT" &&
	grep -Eq '^  p50 latency +[0-9.]+ m?s$' <<<"$OUT" && grep -Eq '^  p99 latency +[0-9.]+ m?s$' <<<"$OUT" &&
	grep -Eq '^  cold starts +[0-9]+$' <<<"$OUT" && grep -q '^function hello, the last 24h$' <<<"$OUT"
tap_ok $? "metrics: the last 24 hours' invocations ($ncalls), errors, latency, cold starts" || diag "$OUT"
[ "$(grep -c '^20[0-9-]* [0-9:]* ' <<<"$OUT")" -ge 24 ] &&
	grep -q '^BUCKET  *INVOCATIONS  *ERRORS  *P50  *P99$' <<<"$OUT"
tap_ok $? "not on a terminal: a table of the hours" || diag "$OUT"
total=$(grep '^20[0-9-]* [0-9:]* ' <<<"$OUT" | awk '{ s += $3 } END { print s }')
tap_ok "$([ "$total" = "$ncalls" ]; echo $?)" "the hours add up to the invocations ($total)"
cpub metrics hello --json --period 7d
json ".summary.invocations == $ncalls and (.series | length) >= 7 and (.series | length) <= 8
	and (.series[0] | has(\"bucket\") and has(\"p99_ms\"))" "metrics --period 7d --json: summary and daily series"
cpub metrics hello --period 1h --json
json '.summary.invocations >= 1 and (.series | length) <= 2' "metrics --period 1h: hours"
cpub metrics hello --period 2h
is_rc 2 "metrics --period 2h: usage error"
err_has "--period is one of 1h, 24h, 7d or 30d, not 2h" "it lists the choices"

cpub_tty '' metrics hello
is_rc 0 "metrics on a terminal"
LC_ALL=C.UTF-8 grep -Eq '^  invocations +[▁▂▃▄▅▆▇█]{24,25}  min 0, max [0-9]+$' <<<"$OUT" &&
	LC_ALL=C.UTF-8 grep -Eq '^  p99 latency +[ ▁▂▃▄▅▆▇█]{24,25}  min [0-9.]+ m?s, max [0-9.]+ m?s$' <<<"$OUT" &&
	grep -q 'one column per hour$' <<<"$OUT" && ! grep -q '^BUCKET' <<<"$OUT"
tap_ok $? "on a terminal: sparklines of invocations and p99 latency with their min and max" ||
	diag "$OUT"

# --- delete -----------------------------------------------------------------------------------------

cpub delete py
is_rc 2 "delete without --yes, standard input not a terminal: usage error"
err_has "standard input is not a terminal to confirm on; pass --yes" "it says to pass --yes"
cpub info py
is_rc 0 "py is still there"
cpub_tty $'n\n' delete py
[ "$RC" = 1 ] && grep -q 'Delete function py and all its versions? \[y/N\]' <<<"$OUT" &&
	grep -q 'cpub: function py not deleted' <<<"$OUT"
tap_ok $? "delete on a terminal asks; n keeps it (exit $RC: $(one "$OUT"))"
cpub info py
is_rc 0 "py is still there"
cpub_tty $'y\n' delete py
[ "$RC" = 0 ] && grep -q 'deleted function py' <<<"$OUT"
tap_ok $? "delete on a terminal, y: deleted (exit $RC: $(one "$OUT"))"
cpub info py
is_rc 3 "py is gone"
cpub delete hello --yes --json
json '.function == "hello" and .deleted == true' "delete --yes --json"
cpub list --json
json '. == []' "no functions left"
call GET hello
tap_ok "$([ "$STATUS" = 404 ]; echo $?)" "hello's endpoint answers 404 ($STATUS)"

worker_stop w1
tap_ok $? "the worker stops cleanly"
stop_cleanly api
done_testing
