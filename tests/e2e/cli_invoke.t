#!/usr/bin/env bash
# tests/e2e/cli_invoke.t: the real cli/cpub against the real stack
# (cpub-httpd, cpub-worker, root Podman): invoke, invocation, org,
# early-access and completion, with the exit codes of cli/README.md.
#
# Accounts are registered and logged in with cli/cpub; a shell function
# (private: it echoes the method, path, query, a header, the content type
# and the body, or the raw body, or crashes, or sleeps) and a Python one
# (visibility key: it answers JSON) are created and deployed with curl
# through the HTTP API.  Then: invoke with --data, --data-file, standard
# input, -X, --path, -H; -i; --json parsed with jq; a function's own 404
# with and without --fail; a crash and a timeout (the platform's errors);
# --async then cpub invocation; the private function as its owner and as
# another user; --key (signed, with no session token: a wrong key is
# refused even for the owner logged in), --key-file (its first line only),
# a revoked key; -H Authorization (the function's: no session token goes
# along); the usage errors, a server that is down and one whose execution
# has no status.  Organizations: create (twice),
# list, add a second user, members, role, remove, and the refusals.
# Early access: status before, request, status, request again.
# Completion: the script from cpub completion bash, driven as bash does.
#
# Needs PGHOST/PGPORT/PGUSER of a cluster with the extension installed,
# root Podman and the base images (tests/run.sh, make images).  Prints TAP.
set -uo pipefail

# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib/http.sh"
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib/worker.sh"
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib/cli.sh"

unset CPUB_SERVER

# as USER: the configuration folder (credentials) of USER's runs.
AS=ada
cfg()
{
	echo "$WORK/config-$AS"
}

# cpub ARGS...: cli/cpub against $URL as $AS, standard input empty; sets
# OUT, ERR and RC.
cpub()
{
	OUT=$(XDG_CONFIG_HOME=$(cfg) "$CPUB" --server "$URL" "$@" 2>"$WORK/cpub.err" </dev/null)
	RC=$?
	ERR=$(cat "$WORK/cpub.err")
}

# cpub_in INPUT ARGS...: the same with INPUT on standard input.
cpub_in()
{
	local input=$1
	shift
	OUT=$(printf '%s' "$input" | XDG_CONFIG_HOME=$(cfg) "$CPUB" --server "$URL" "$@" 2>"$WORK/cpub.err")
	RC=$?
	ERR=$(cat "$WORK/cpub.err")
}

# check DESC COMMAND...: an assertion that COMMAND succeeds, showing the
# last run when it does not.
check()
{
	local desc=$1
	shift
	"$@"
	tap_ok $? "$desc" || diag "exit $RC" "stdout: $OUT" "stderr: $ERR"
}

# tap_skip DESC REASON: an assertion that cannot be made here.
tap_skip()
{
	n=$((n + 1))
	echo "ok $n - $1 # SKIP $2"
}

# signup EMAIL: registers and logs in with cpub, as $AS.
signup()
{
	cpub_in 'correct horse battery' register "$1" &&
		cpub_in 'correct horse battery' login "$1"
}

db_create cpub_e2e_cli_invoke || bail_out "could not create the database"
# Many calls in a row: more than the free tier's 10 a second.
q "SELECT count(*) FROM cpub_admin.tier_update(name => 'free', requests_per_second => 1000)" >/dev/null
server_start main || bail_out "cpub-httpd did not start"
worker_start w1 || bail_out "cpub-worker did not start"

signup ada@example.com
is_rc 0 "ada registers and logs in with cpub"
CREDS=$(cfg)/cpub/credentials.json
TOKEN=$(jq -r --arg s "$URL" '.servers[$s].access_token' "$CREDS")
ADA_ID=$(jq -r --arg s "$URL" '.servers[$s].user_id' "$CREDS")
[[ $TOKEN == cpa_* && -n $ADA_ID ]] || bail_out "no token in $CREDS"
AS=carol signup carol@example.com
is_rc 0 "carol registers and logs in with cpub"

# --- the functions, through the HTTP API ---------------------------------------------

SRC=$WORK/src
mkdir -p "$SRC/echo" "$SRC/pyjson"
cat >"$SRC/echo/handler.sh" <<'SH'
#!/bin/sh
case "$PATH_INFO" in
/raw)
	echo "Content-Type: application/octet-stream"
	echo
	exec cat
	;;
/crash)
	kill -SEGV $$
	;;
/sleep)
	sleep 30
	;;
/auth)
	echo "Content-Type: text/plain"
	echo
	printf 'auth=%s\n' "$HTTP_AUTHORIZATION"
	exit 0
	;;
esac
echo "Content-Type: text/plain"
echo "X-Echo: yes"
[ -n "$HTTP_X_STATUS" ] && echo "Status: $HTTP_X_STATUS"
echo
printf 'method=%s path=%s query=%s who=%s type=%s\n' "$REQUEST_METHOD" "$PATH_INFO" \
	"$QUERY_STRING" "$HTTP_X_WHO" "$CONTENT_TYPE"
printf 'body='
cat
SH
chmod +x "$SRC/echo/handler.sh"
cat >"$SRC/pyjson/main.py" <<'PY'
def handle(request):
    return {"method": request.method, "path": request.path,
            "who": request.headers.get("x-who"), "body": request.text}
PY

fn_create echo shell '"timeout_seconds":3' >/dev/null
tap_ok $? "echo: a private shell function"
fn_create pyjson python '"visibility":"key"' >/dev/null
tap_ok $? "pyjson: a python function called with keys"
for f in echo pyjson; do
	v=$(deploy "$f" "$SRC/$f")
	st=$(wait_built "$f" "$v")
	tap_ok "$([ "$st" = ready ]; echo $?)" "$f: version $v built ($st)" ||
		diag "$(req GET "/api/functions/$f/versions/$v/build-log"; echo "$BODY")"
done

# --- invoke: the request -------------------------------------------------------------

cpub invoke echo --data '{"a":1}'
is_rc 0 "invoke echo --data JSON"
[ "$OUT" = $'method=POST path=/ query= who= type=application/json\nbody={"a":1}' ]
tap_ok $? "POST by default with a body, JSON typed as such, the body as sent (got: $(one "$OUT"))"

cpub invoke echo --data 'plain words'
grep -q 'type=text/plain; charset=utf-8' <<<"$OUT" && grep -qx 'body=plain words' <<<"$OUT"
tap_ok $? "a body that is not JSON is text/plain (got: $(one "$OUT"))"

cpub invoke echo
[ "$RC" = 0 ] && grep -q '^method=GET path=/ query= who= type= *$' <<<"$OUT"
tap_ok $? "GET without a body (got: $(one "$OUT"))"

cpub invoke echo -X put --path '/a/b c?x=1&y=2' -H 'X-Who: ada' -H 'Content-Type: text/csv' --data 'a,b'
[ "$RC" = 0 ] && [ "$OUT" = $'method=PUT path=/a/b%20c query=x=1&y=2 who=ada type=text/csv\nbody=a,b' ]
tap_ok $? "-X put, --path with a space and a query, -H, a Content-Type of -H wins (got: $(one "$OUT"))"

cpub invoke echo -X DELETE --path users/7
[ "$RC" = 0 ] && grep -q '^method=DELETE path=/users/7 query= who= type= *$' <<<"$OUT"
tap_ok $? "DELETE without a body has no content type; a path without / gets one (got: $(one "$OUT"))"

printf 'from\0stdin' >"$WORK/expect.stdin"
printf 'from\0stdin' | XDG_CONFIG_HOME=$(cfg) "$CPUB" --server "$URL" invoke echo \
	--data-file - --path /raw >"$WORK/got.stdin" 2>"$WORK/cpub.err"
RC=$?
[ "$RC" = 0 ] && cmp -s "$WORK/expect.stdin" "$WORK/got.stdin"
tap_ok $? "--data-file - reads standard input; bytes with a NUL come back as they were (exit $RC)" ||
	diag "got: $(od -c "$WORK/got.stdin" | head -3)"

head -c 3000 /dev/urandom >"$WORK/random.bin"
XDG_CONFIG_HOME=$(cfg) "$CPUB" --server "$URL" invoke echo --data-file "$WORK/random.bin" \
	--path /raw >"$WORK/random.out" 2>"$WORK/cpub.err"
RC=$?
[ "$RC" = 0 ] && cmp -s "$WORK/random.bin" "$WORK/random.out"
tap_ok $? "--data-file of 3000 random bytes: printed back byte for byte, no newline added (exit $RC)"

printf 'some bytes' >"$WORK/body.txt"
cpub invoke echo --data-file "$WORK/body.txt"
[ "$RC" = 0 ] && grep -q 'type=application/octet-stream' <<<"$OUT" && grep -qx 'body=some bytes' <<<"$OUT"
tap_ok $? "--data-file is application/octet-stream (got: $(head -n 1 <<<"$OUT"))"

# --- invoke: what is printed ------------------------------------------------------------

cpub invoke echo -i --data hi
is_rc 0 "invoke -i"
[ "$(head -n 1 <<<"$OUT")" = 'HTTP/1.1 200 OK' ] && grep -qix 'X-Echo: yes' <<<"$OUT" &&
	grep -qi '^X-Cpub-Execution-Id: [0-9a-f-]\{36\}$' <<<"$OUT" &&
	[ "$(sed -n '/^$/,$p' <<<"$OUT")" = $'\nmethod=POST path=/ query= who= type=text/plain; charset=utf-8\nbody=hi' ]
tap_ok $? "-i: the status line, the headers, an empty line, the body (got: $(one "$OUT"))"

cpub invoke echo --json --data hi -H 'X-Who: json'
[ "$RC" = 0 ] && jq -e '.status == 200 and .headers["x-echo"] == "yes"
	and (.headers["content-type"] | startswith("text/plain"))
	and (.body | type == "string" and endswith("body=hi") and contains("who=json"))
	and (.execution_id | test("^[0-9a-f-]{36}$")) and .duration_ms > 0' <<<"$OUT" >/dev/null
tap_ok $? "--json: status, headers, body as a string, execution_id, duration_ms (got: $(one "$OUT"))"

cpub invoke pyjson --json --data '{"x":[1,2]}' --path /p -H 'X-Who: py'
[ "$RC" = 0 ] && jq -e '.status == 200 and .body.method == "POST" and .body.path == "/p"
	and .body.who == "py" and .body.body == "{\"x\":[1,2]}"' <<<"$OUT" >/dev/null
tap_ok $? "--json of a JSON response: the body parsed (the owner calls a key function) (got: $(one "$OUT"))"

cpub invoke echo -H 'X-Status: 404' --data gone
[ "$RC" = 0 ] && grep -qx 'body=gone' <<<"$OUT"
tap_ok $? "the function's own 404: exit 0, its body printed (exit $RC)"
cpub invoke echo -H 'X-Status: 404' --data gone --fail
[ "$RC" = 6 ] && grep -qx 'body=gone' <<<"$OUT" && grep -q 'the function answered 404' <<<"$ERR"
tap_ok $? "with --fail: exit 6, the body printed, said on stderr (exit $RC, stderr: $ERR)"
cpub invoke echo -i -H 'X-Status: 503' --fail
[ "$RC" = 6 ] && [ "$(head -n 1 <<<"$OUT")" = 'HTTP/1.1 503 Service Unavailable' ]
tap_ok $? "-i --fail of a function's 503: its status line, exit 6 (exit $RC)"

cpub invoke echo --path /crash
[ "$RC" = 3 ] && grep -q '^cpub: the function crashed (58Q01)$' <<<"$ERR" &&
	grep -q '^detail: Execution [0-9a-f-]*: killed by signal 11' <<<"$ERR" && [ -z "$OUT" ]
tap_ok $? "a crash is the platform's error: exit 3, message, code and detail (exit $RC, stderr: $(one "$ERR"))"

cpub invoke echo --path /sleep
[ "$RC" = 3 ] && grep -q '(57014)$' <<<"$ERR"
tap_ok $? "a function over its timeout: exit 3, 57014 (exit $RC, stderr: $(one "$ERR"))"

# --- async ----------------------------------------------------------------------------------

cpub invoke echo --async --data later
ID=$OUT
[ "$RC" = 0 ] && [[ $ID =~ ^[0-9a-f-]{36}$ ]] && grep -q "cpub invocation $ID" <<<"$ERR"
tap_ok $? "--async prints the execution id, and says how to wait (got: $ID, stderr: $ERR)"
cpub invocation "$ID"
[ "$RC" = 0 ] && grep -qx 'body=later' <<<"$OUT" && grep -q '^method=POST' <<<"$OUT"
tap_ok $? "cpub invocation ID waits and prints the function's body (got: $(one "$OUT"))"
AS=nobody cpub invocation "$ID" --json -i
[ "$RC" = 0 ] && jq -e --arg id "$ID" '.status == 200 and .execution_id == $id
	and (.body | endswith("body=later")) and .headers["x-echo"] == "yes"' <<<"$OUT" >/dev/null
tap_ok $? "... with no login too (the id is the ticket), as --json (got: $(one "$OUT"))"
cpub invoke echo --async --json
[ "$RC" = 0 ] && jq -e '.status == "queued" and (.execution_id | length == 36)' <<<"$OUT" >/dev/null
tap_ok $? "--async --json: the server's {execution_id, status, poll} (got: $(one "$OUT"))"
cpub invocation 00000000-0000-4000-8000-000000000000
[ "$RC" = 3 ] && grep -q '(P0002)' <<<"$ERR"
tap_ok $? "an unknown execution: exit 3 (exit $RC, stderr: $ERR)"
cpub invoke echo --async --path /crash
cpub invocation "$OUT"
[ "$RC" = 3 ] && grep -q '^cpub: the function crashed (58Q01)$' <<<"$ERR"
tap_ok $? "a crashed execution fetched later: the platform's error, exit 3 (stderr: $(one "$ERR"))"

# --- who may call ----------------------------------------------------------------------------

cpub invoke "$ADA_ID/echo" --data owner
[ "$RC" = 0 ] && grep -qx 'body=owner' <<<"$OUT"
tap_ok $? "OWNER/NAME: ada calls her private function by its owner id (exit $RC)"
AS=carol cpub invoke "$ADA_ID/echo"
[ "$RC" = 3 ] && grep -q "function \"$ADA_ID/echo\" not found (P0002)" <<<"$ERR" && [ -z "$OUT" ]
tap_ok $? "carol calls ada's private function: it does not exist for her, exit 3 (stderr: $(one "$ERR"))"
AS=nobody cpub invoke echo
[ "$RC" = 3 ] && grep -q 'not logged in' <<<"$ERR"
tap_ok $? "NAME alone without a login: exit 3, not logged in (stderr: $(one "$ERR"))"
AS=nobody cpub invoke "$ADA_ID/pyjson"
[ "$RC" = 3 ] && grep -q '(28Q06)' <<<"$ERR"
tap_ok $? "a key function without a key: exit 3, 28Q06 (stderr: $(one "$ERR"))"

# --- an Authorization of -H is the function's ---------------------------------------------------

req PATCH /api/functions/echo -d '{"visibility":"public"}'
[ "$STATUS" = 200 ]
tap_ok $? "echo made public for a while (through the API: $STATUS)"
cpub invoke echo --path /auth -H 'Authorization: Basic dXNlcjpwdw==' -i
RID=$(tr -d '\r' <<<"$OUT" | sed -n 's/^X-Request-Id: //Ip' | head -n 1)
line=$(grep "\"request_id\":\"$RID\"" "$WORK/main.access")
[ "$RC" = 0 ] && grep -qx 'auth=Basic dXNlcjpwdw==' <<<"$OUT" &&
	[ -n "$RID" ] && [ -n "$line" ] && ! grep -q '"user_id"' <<<"$line"
tap_ok $? "-H Authorization: the function gets it as given, and ada's session token does not go along ($line; got: $(one "$OUT"))"
req PATCH /api/functions/echo -d '{"visibility":"private"}'
[ "$STATUS" = 200 ]
tap_ok $? "echo private again ($STATUS)"
cpub invoke echo -H 'Authorization: Basic dXNlcjpwdw=='
[ "$RC" = 3 ] && grep -q '(P0002)' <<<"$ERR"
tap_ok $? "... so a private function is not found then, although ada is logged in: exit 3 (stderr: $(one "$ERR"))"

# --- keys --------------------------------------------------------------------------------------

req POST /api/functions/pyjson/keys -d '{"label":"cli"}'
SECRET=$(jqr .secret)
KEY_ID=$(jqr .key_id)
[[ $SECRET == cpk_* ]]
tap_ok $? "an invocation key for pyjson (through the API)"

cpub invoke pyjson --key "$SECRET" --data signed -i
[ "$RC" = 0 ] && grep -q '"body": *"signed"' <<<"$OUT"
tap_ok $? "--key: the signed call is answered (exit $RC, got: $(one "$OUT"))"
RID=$(tr -d '\r' <<<"$OUT" | sed -n 's/^X-Request-Id: //Ip' | head -n 1)
line=$(grep "\"request_id\":\"$RID\"" "$WORK/main.access")
[ -n "$RID" ] && [ -n "$line" ] && ! grep -q '"user_id"' <<<"$line"
tap_ok $? "... and no session went with it: the access log has no user for it ($line)"
WRONG=${SECRET%?}$([ "${SECRET: -1}" = A ] && echo B || echo A)
cpub invoke pyjson --key "$WRONG" --data signed
[ "$RC" = 3 ] && grep -q '(28Q06)' <<<"$ERR"
tap_ok $? "a wrong secret is refused although ada is logged in: exit 3, 28Q06 (stderr: $(one "$ERR"))"
printf '%s\n' "$SECRET" >"$WORK/key"
AS=nobody cpub invoke "$ADA_ID/pyjson" --key-file "$WORK/key" -X PATCH --path '/k?q=1' --data-file "$WORK/key"
[ "$RC" = 0 ] && jq -e '.method == "PATCH" and .path == "/k"' <<<"$OUT" >/dev/null
tap_ok $? "--key-file with no login at all: PATCH, a query and a file body, signed (got: $(one "$OUT"))"
printf '%s\nnot part of it\n' "$SECRET" >"$WORK/key2"
cpub invoke pyjson --key-file "$WORK/key2" --data first-line
[ "$RC" = 0 ] && grep -q '"body": *"first-line"' <<<"$OUT"
tap_ok $? "--key-file: the secret is the first line only, what follows is not read (exit $RC, stderr: $(one "$ERR"))"
printf '\n%s\n' "$SECRET" >"$WORK/key3"
cpub invoke pyjson --key-file "$WORK/key3"
[ "$RC" = 2 ] && grep -q 'no secret on its first line' <<<"$ERR"
tap_ok $? "--key-file whose first line is empty: usage error (exit $RC, stderr: $(one "$ERR"))"
cpub invoke pyjson --key not-a-secret
is_rc 2 "--key that is not a secret: usage error"
cpub invoke pyjson --key "$SECRET" --key-file "$WORK/key"
is_rc 2 "--key and --key-file: usage error"
req DELETE "/api/functions/pyjson/keys/$KEY_ID"
cpub invoke pyjson --key "$SECRET"
[ "$RC" = 3 ] && grep -q '(28Q06)' <<<"$ERR"
tap_ok $? "the revoked key is refused: exit 3, 28Q06 (stderr: $(one "$ERR"))"

# --- errors -------------------------------------------------------------------------------------

cpub invoke nope
[ "$RC" = 3 ] && grep -q "^cpub: function \"$ADA_ID/nope\" not found (P0002)$" <<<"$ERR"
tap_ok $? "an unknown function: exit 3, P0002 (stderr: $(one "$ERR"))"
cpub invoke echo --data x --data-file "$WORK/key"
[ "$RC" = 2 ] && grep -q 'give the body once' <<<"$ERR" && grep -q '^usage: cpub invoke NAME' <<<"$ERR"
tap_ok $? "--data and --data-file: usage error, exit 2 (stderr: $(one "$ERR"))"
cpub invoke echo --data-file "$WORK/no-such-file"
[ "$RC" = 1 ] && grep -q "could not read $WORK/no-such-file: No such file" <<<"$ERR"
tap_ok $? "a missing data file: exit 1 (stderr: $(one "$ERR"))"
cpub invoke echo -H 'NoColon'
is_rc 2 "-H without a colon: usage error"
cpub invoke echo -H 'Bad Name: x'
is_rc 2 "-H with a space in the name: usage error"
cpub invoke echo -X 'GE T'
is_rc 2 "-X that is not a method: usage error"
cpub invoke
is_rc 2 "invoke without a name: usage error"
cpub invoke a/b/c
is_rc 2 "a name with two slashes: usage error"
SAVED=$URL
URL=http://127.0.0.1:1
cpub invoke "$ADA_ID/echo" --data x
[ "$RC" = 4 ] && grep -q '^cpub: could not connect to http://127.0.0.1:1' <<<"$ERR"
tap_ok $? "the server down: exit 4 (stderr: $(one "$ERR"))"
URL=$SAVED

# --- organizations ------------------------------------------------------------------------------

cpub org create acme --display-name 'Acme Corp'
[ "$RC" = 0 ] && grep -q 'created organization acme' <<<"$OUT"
tap_ok $? "org create acme (got: $OUT)"
cpub org create acme
[ "$RC" = 3 ] && grep -q 'organization name "acme" is already taken (23505)' <<<"$ERR"
tap_ok $? "the same name again: 409, exit 3 (stderr: $(one "$ERR"))"
cpub org create beta --json
[ "$RC" = 0 ] && jq -e '.name == "beta" and (.id | length == 36)' <<<"$OUT" >/dev/null
tap_ok $? "org create --json: {name, id} (got: $(one "$OUT"))"
cpub org list
[ "$RC" = 0 ] && [ "$(head -n 1 <<<"$OUT" | tr -s ' ')" = 'NAME ROLE MEMBERS TIER DISPLAY NAME' ] &&
	grep -q '^acme  *owner  *1 .*Acme Corp$' <<<"$OUT"
tap_ok $? "org list: a table (got: $(one "$OUT"))"
cpub org list --json
[ "$RC" = 0 ] && jq -e 'map(.name) == ["acme", "beta"] and .[0].role == "owner"' <<<"$OUT" >/dev/null
tap_ok $? "org list --json (got: $(one "$OUT"))"

cpub org add acme carol@example.com
[ "$RC" = 0 ] && [ "$OUT" = 'added carol@example.com to acme as member' ]
tap_ok $? "org add acme carol (got: $OUT)"
cpub org add acme carol@example.com
[ "$RC" = 3 ] && grep -q '(23505)' <<<"$ERR"
tap_ok $? "added twice: exit 3 (stderr: $(one "$ERR"))"
cpub org add acme nobody@example.com
[ "$RC" = 3 ] && grep -q 'user "nobody@example.com" not found (P0002)' <<<"$ERR"
tap_ok $? "adding an unknown user: exit 3, P0002 (stderr: $(one "$ERR"))"
cpub org members acme
[ "$RC" = 0 ] && [ "$(head -n 1 <<<"$OUT" | tr -s ' ')" = 'EMAIL ROLE JOINED NAME' ] &&
	grep -q '^ada@example.com  *owner ' <<<"$OUT" && grep -q '^carol@example.com  *member ' <<<"$OUT"
tap_ok $? "org members: a table, owners first (got: $(one "$OUT"))"
cpub org role acme carol@example.com admin
[ "$RC" = 0 ] && [ "$OUT" = 'carol@example.com is now admin of acme' ]
tap_ok $? "org role carol admin (got: $OUT)"
cpub org members acme --json
[ "$RC" = 0 ] && jq -e 'map({(.email): .role}) | add == {"ada@example.com": "owner", "carol@example.com": "admin"}' <<<"$OUT" >/dev/null
tap_ok $? "org members --json shows the new role (got: $(one "$OUT"))"
AS=carol cpub org role acme ada@example.com member
[ "$RC" = 3 ] && grep -q '(42501)' <<<"$ERR"
tap_ok $? "carol, an admin, may not demote the owner: exit 3, 42501 (stderr: $(one "$ERR"))"
cpub org role acme carol@example.com king
[ "$RC" = 3 ] && grep -q '(22023)' <<<"$ERR"
tap_ok $? "a role that does not exist: exit 3, 22023 (stderr: $(one "$ERR"))"
AS=dave signup dave@example.com
AS=dave cpub org members acme
[ "$RC" = 3 ] && grep -q 'organization "acme" not found (P0002)' <<<"$ERR"
tap_ok $? "dave, no member, sees no acme: exit 3, P0002 (stderr: $(one "$ERR"))"
AS=dave cpub org add acme dave@example.com
[ "$RC" = 3 ] && grep -q '(P0002)' <<<"$ERR"
tap_ok $? "nor may he add himself (stderr: $(one "$ERR"))"
cpub org remove acme dave@example.com
[ "$RC" = 3 ] && grep -q '"dave@example.com" is not a member of organization "acme" (P0002)' <<<"$ERR"
tap_ok $? "removing a user who is no member: exit 3 (stderr: $(one "$ERR"))"
cpub org remove acme carol@example.com --json
[ "$RC" = 0 ] && jq -e '.removed and .email == "carol@example.com"' <<<"$OUT" >/dev/null
tap_ok $? "org remove carol --json (got: $(one "$OUT"))"
cpub org members acme
[ "$RC" = 0 ] && ! grep -q carol <<<"$OUT"
tap_ok $? "carol is gone from the members"
cpub org members
is_rc 2 "org members without ORG: usage error"
cpub org frob
is_rc 2 "an unknown org command: usage error"

# --- early access --------------------------------------------------------------------------------

cpub early-access status
[ "$RC" = 3 ] && grep -q 'no early access request (P0002)' <<<"$ERR"
tap_ok $? "early-access status before a request: exit 3, P0002 (stderr: $(one "$ERR"))"
cpub early-access request
[ "$RC" = 2 ] && grep -q -- '--reason is needed' <<<"$ERR"
tap_ok $? "early-access request without --reason: usage error (stderr: $(one "$ERR"))"
cpub early-access request --reason '   '
[ "$RC" = 3 ] && grep -q 'reason is required (22023)' <<<"$ERR"
tap_ok $? "a blank reason: the server refuses it, exit 3 (stderr: $(one "$ERR"))"
cpub early-access request --reason 'to try the CLI'
[ "$RC" = 0 ] && grep -q 'it is pending' <<<"$OUT"
tap_ok $? "early-access request --reason (got: $OUT)"
cpub early-access status
[ "$RC" = 0 ] && grep -q '^status  *pending$' <<<"$OUT" && grep -q '^reason  *to try the CLI$' <<<"$OUT"
tap_ok $? "early-access status: pending, with the reason (got: $(one "$OUT"))"
cpub early-access status --json
[ "$RC" = 0 ] && jq -e '.status == "pending" and .reason == "to try the CLI"' <<<"$OUT" >/dev/null
tap_ok $? "early-access status --json (got: $(one "$OUT"))"
cpub early-access request --reason 'again'
[ "$RC" = 3 ] && grep -q 'early access already requested (23505)' <<<"$ERR"
tap_ok $? "requested twice: the server says already requested, exit 3 (stderr: $(one "$ERR"))"

# --- completion ----------------------------------------------------------------------------------

"$CPUB" completion bash >"$WORK/completion.bash"
RC=$?
[ "$RC" = 0 ] && bash -n "$WORK/completion.bash" && grep -q '^complete -F _cpub cpub$' "$WORK/completion.bash"
tap_ok $? "cpub completion bash: a script bash parses"
cpub completion zsh
is_rc 2 "cpub completion zsh: usage error"

# complete WORDS...: what bash offers for the line WORDS (the last one the
# word being completed), the script sourced as `source <(cpub completion
# bash)` would.
complete_line()
{
	XDG_CONFIG_HOME=$(cfg) CPUB=$CPUB bash -c '
		source <("$CPUB" completion bash)
		COMP_WORDS=("$@")
		COMP_WORDS[0]=$CPUB
		COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
		_cpub
		echo "${COMPREPLY[*]}"' complete "$@"
}

got=$(complete_line cpub or)
[ "$got" = org ]
tap_ok $? "cpub or<TAB> -> org (got: $got)"
got=$(complete_line cpub org '')
[ "$got" = 'create list members add remove role' ]
tap_ok $? "cpub org <TAB> -> its commands (got: $got)"
got=$(complete_line cpub --json early-access '')
[ "$got" = 'request status' ]
tap_ok $? "cpub --json early-access <TAB> -> request status (got: $got)"
got=$(complete_line cpub invoke --da)
[ "$got" = '--data --data-file' ]
tap_ok $? "cpub invoke --da<TAB> -> --data --data-file (got: $got)"
got=$(complete_line cpub org add acme x@example.com --role '')
[ "$got" = 'owner admin member' ]
tap_ok $? "--role <TAB> -> the roles (got: $got)"
got=$(complete_line cpub --server "$URL" org members '')
[ "$got" = 'acme beta' ]
tap_ok $? "cpub --server URL org members <TAB> -> the organizations, asked of that server (got: $got)"
if "$CPUB" help env >/dev/null 2>&1; then
	got=$(complete_line cpub en)
	[ "$got" = env ]
	tap_ok $? "cpub en<TAB> -> env (got: $got)"
	got=$(complete_line cpub env '')
	[ "$got" = 'set unset list' ]
	tap_ok $? "cpub env <TAB> -> set unset list (got: $got)"
else
	tap_skip "cpub en<TAB> -> env" "no env command in this build yet"
	tap_skip "cpub env <TAB> -> set unset list" "no env command in this build yet"
fi
if "$CPUB" list --help >/dev/null 2>&1; then
	got=$(complete_line cpub --server "$URL" invoke '')
	[ "$got" = 'echo pyjson' ]
	tap_ok $? "cpub invoke <TAB> -> the functions, from cpub list --json (got: $got)"
else
	tap_skip "cpub invoke <TAB> -> the functions" "no list command in this build yet"
fi

stop_cleanly main
done_testing
