#!/usr/bin/env bash
# tests/e2e/cli_auth.t: the real cli/cpub against the real cpub-httpd:
# register, login (the password on standard input), whoami (text and
# --json), logout (which revokes the session on the server), the refresh of
# an expired access token, the credentials file's mode, and the exit codes
# of cli/README.md (2 usage, 3 API error, 4 cannot connect).
#
# Needs PGHOST/PGPORT/PGUSER of a cluster with the extension installed
# (tests/run.sh exports them).  Prints TAP.
set -uo pipefail

# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib/http.sh"
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib/cli.sh"


# A configuration folder of our own, and nothing from the environment.

# cpub_pw PASSWORD ARGS...: the same with PASSWORD on standard input.
cpub_pw()
{
	local password=$1
	shift
	OUT=$(printf '%s\n' "$password" | "$CPUB" --server "$URL" "$@" 2>"$WORK/cpub.err")
	RC=$?
	ERR=$(cat "$WORK/cpub.err")
}

db_create cpub_e2e_cli_auth
tap_ok $? "a fresh database with the extension" || bail_out "could not create $DB"
server_start main || bail_out "cpub-httpd did not start"

# --- help, version, usage errors -----------------------------------------------------

cpub --help
is_rc 0 "cpub --help"
grep -q '^  whoami' <<<"$OUT" && grep -q -- '--server URL' <<<"$OUT"
tap_ok $? "--help lists the commands and the global options"

cpub help login
is_rc 0 "cpub help login"
[ "$(head -n 1 <<<"$OUT")" = "usage: cpub login EMAIL" ]
tap_ok $? "help login starts with its usage line (got: $(head -n 1 <<<"$OUT"))"

cpub logout --help
[ "$RC" = 0 ] && [ "$(head -n 1 <<<"$OUT")" = "usage: cpub logout" ]
tap_ok $? "cpub logout --help: its usage, exit 0 (exit $RC)"

cpub version --json
[ "$RC" = 0 ] && jq -e '.version | test("^[0-9]+\\.[0-9]+")' <<<"$OUT" >/dev/null
tap_ok $? "cpub version --json: {\"version\"} (got: $(one "$OUT"))"

cpub frobnicate
is_rc 2 "an unknown command: usage error"
grep -q 'unknown command frobnicate' <<<"$ERR"
tap_ok $? "and it is named (stderr: $(one "$ERR"))"

cpub login
is_rc 2 "login without an email: usage error"
cpub whoami extra
is_rc 2 "whoami with an argument: usage error"
cpub whoami --frobnicate
is_rc 2 "an unknown option: usage error"
"$CPUB" --server 'ftp://nowhere' whoami >/dev/null 2>&1
RC=$?
is_rc 2 "a server that is not an http URL: usage error"
"$CPUB" >/dev/null 2>&1
RC=$?
is_rc 2 "no command: usage error"

# --- register and login ----------------------------------------------------------------

cpub whoami
is_rc 3 "whoami before login: refused"
grep -q 'not logged in' <<<"$ERR"
tap_ok $? "and it says not logged in (stderr: $(one "$ERR"))"

cpub_pw 'analytical engine' register ada@example.com
is_rc 0 "register ada@example.com, the password on stdin"
[ "$(q "SELECT count(*) FROM cpub.users WHERE email = 'ada@example.com'")" = 1 ]
tap_ok $? "the account exists in the database"

cpub_pw 'analytical engine' register ada@example.com
is_rc 3 "register the same email again: API error"
grep -q '(23505)$' <<<"$ERR"
tap_ok $? "with the server's code (stderr: $(one "$ERR"))"

cpub_pw 'wrong password' login ada@example.com
is_rc 3 "login with a wrong password: API error"
grep -qx 'cpub: invalid email or password (28P01)' <<<"$ERR"
tap_ok $? "cpub: invalid email or password (28P01) (stderr: $(one "$ERR"))"
[ ! -e "$CREDS" ]
tap_ok $? "and no credentials file is written"

cpub_pw 'analytical engine' login ada@example.com
is_rc 0 "login with the password on stdin"
grep -q 'logged in .* as ada@example.com' <<<"$OUT"
tap_ok $? "it says so (stdout: $(one "$OUT"))"
[ "$(stat -c %a "$CREDS")" = 600 ] && [ "$(stat -c %a "$(dirname "$CREDS")")" = 700 ]
tap_ok $? "credentials file mode 600, folder 700 ($(stat -c %a "$CREDS" "$(dirname "$CREDS")" | tr '\n' ' '))"
ACCESS=$(jq -r --arg s "$URL" '.servers[$s].access_token' "$CREDS")
REFRESH=$(jq -r --arg s "$URL" '.servers[$s].refresh_token' "$CREDS")
[[ $ACCESS == cpa_* && $REFRESH == cpr_* ]]
tap_ok $? "the tokens are kept under the server's URL"
[ -z "$(find "$(dirname "$CREDS")" -name '.credentials.json.*')" ]
tap_ok $? "no temporary file is left behind"

# --- whoami ----------------------------------------------------------------------------------

ADA_ID=$(q "SELECT uuid FROM cpub.users WHERE email = 'ada@example.com'")
cpub whoami
is_rc 0 "whoami"
[ "$OUT" = "ada@example.com (user $ADA_ID, tier free) on $URL" ]
tap_ok $? "whoami: email, user id, tier, server (got: $(one "$OUT"))"

cpub whoami --json
[ "$RC" = 0 ] && jq -e --arg id "$ADA_ID" '.email == "ada@example.com" and .user_id == $id
	and .tier == "free" and .status == "active"' <<<"$OUT" >/dev/null
tap_ok $? "whoami --json: the account as JSON (got: $(one "$OUT"))"

OUT=$(CPUB_SERVER=$URL "$CPUB" whoami 2>/dev/null)
RC=$?
[ "$RC" = 0 ] && grep -q '^ada@example.com ' <<<"$OUT"
tap_ok $? "CPUB_SERVER names the server (exit $RC: $OUT)"

[ "$(jq -r .default_server "$CREDS")" = "$URL" ]
tap_ok $? "login made its server the default one (default_server in the credentials file)"
OUT=$("$CPUB" whoami 2>"$WORK/cpub.err")
RC=$?
[ "$RC" = 0 ] && grep -q "^ada@example.com .* on $URL\$" <<<"$OUT"
tap_ok $? "without --server nor CPUB_SERVER, the server last logged in to (exit $RC: $OUT)"
OUT=$(CPUB_SERVER=http://127.0.0.1:1 "$CPUB" whoami 2>&1)
RC=$?
[ "$RC" = 3 ] && grep -q 'not logged in to http://127.0.0.1:1' <<<"$OUT"
tap_ok $? "CPUB_SERVER wins over the default one (exit $RC: $OUT)"

# --- errors with --json: one JSON line on stderr, in the API's shape -------------------------

ERR=$("$CPUB" --json --server "$URL" bogus 2>&1 >/dev/null)
RC=$?
[ "$RC" = 2 ] && jq -e '.error.code == "usage" and (.error.message | test("unknown command bogus"))' <<<"$ERR" >/dev/null
tap_ok $? "--json: a usage error is JSON on stderr (exit $RC: $ERR)"
ERR=$("$CPUB" --json --server http://127.0.0.1:1 whoami 2>&1 >/dev/null)
RC=$?
[ "$RC" = 3 ] && jq -e '.error.code == "not_logged_in"' <<<"$ERR" >/dev/null
tap_ok $? "--json: not logged in is JSON on stderr (exit $RC: $ERR)"
# The session copied under a server that is down: cpub cannot connect.
cp "$CREDS" "$WORK/creds.saved"
jq --arg s "$URL" '.servers["http://127.0.0.1:1"] = .servers[$s]' "$WORK/creds.saved" >"$CREDS"
ERR=$("$CPUB" --json --server http://127.0.0.1:1 whoami 2>&1 >/dev/null)
RC=$?
cp "$WORK/creds.saved" "$CREDS"
[ "$RC" = 4 ] && jq -e '.error.code == "connect"' <<<"$ERR" >/dev/null
tap_ok $? "--json: cannot connect is JSON on stderr (exit $RC: $ERR)"

# --- an expired access token is refreshed --------------------------------------------------------

q "UPDATE cpub.access_tokens SET expires_at = now() - interval '1 minute'" >/dev/null
TOKEN=$ACCESS req GET /api/auth/me
expect_error 401 28Q03 "the stored access token has expired (the server says 28Q03)"
cpub whoami
is_rc 0 "whoami with the expired token: refreshed and retried"
grep -q '^ada@example.com ' <<<"$OUT"
tap_ok $? "and it answers (got: $(one "$OUT"))"
ACCESS2=$(jq -r --arg s "$URL" '.servers[$s].access_token' "$CREDS")
REFRESH2=$(jq -r --arg s "$URL" '.servers[$s].refresh_token' "$CREDS")
[[ $ACCESS2 == cpa_* && $ACCESS2 != "$ACCESS" && $REFRESH2 == cpr_* && $REFRESH2 != "$REFRESH" ]]
tap_ok $? "the new pair of tokens is saved"
[ "$(stat -c %a "$CREDS")" = 600 ]
tap_ok $? "still mode 600 after the rewrite"
grep -q '"path":"/api/auth/refresh".*"status":200' "$WORK/main.access"
tap_ok $? "the server's access log has the refresh"

# The server forgot the expired access token (purge_expired_sessions): it
# is unknown now (28000), and the refresh token still works.
q "DELETE FROM cpub.access_tokens" >/dev/null
cpub whoami
is_rc 0 "whoami after the access token was purged: refreshed and retried"
grep -q '^ada@example.com ' <<<"$OUT"
tap_ok $? "and it answers (got: $(one "$OUT"))"

# Four runs at once with an expired token: one refreshes, under the lock
# on the credentials, and the others take its tokens; a refresh token used
# twice would revoke the session (28Q05).
q "UPDATE cpub.access_tokens SET expires_at = now() - interval '1 minute'" >/dev/null
for k in 1 2 3 4; do
	"$CPUB" --server "$URL" whoami >"$WORK/race$k.out" 2>&1 </dev/null &
done
races=0
for k in 1 2 3 4; do
	wait -n && races=$((races + 1))
done
[ "$races" = 4 ] && ! grep -q 28Q05 "$WORK"/race*.out
tap_ok $? "four concurrent runs after expiry all succeed (exit 0: $races of 4; $(one "$(cat "$WORK"/race*.out)"))"
SID=$(jq -r --arg s "$URL" '.servers[$s].session_id' "$CREDS")
[ "$(q "SELECT revoked_at IS NULL FROM cpub.sessions WHERE id = '$SID'")" = t ]
tap_ok $? "and the session is still alive"

# The refresh token also expired: refused, log in again.
q "UPDATE cpub.access_tokens SET expires_at = now() - interval '1 minute'" >/dev/null
q "UPDATE cpub.refresh_tokens SET expires_at = now() - interval '1 minute'" >/dev/null
cpub whoami
is_rc 3 "both tokens expired: API error"
grep -q '(28Q04)$' <<<"$ERR"
tap_ok $? "the refresh's error is shown (stderr: $(one "$ERR"))"
cpub_pw 'analytical engine' -q login ada@example.com
[ "$RC" = 0 ] && [ -z "$OUT" ]
tap_ok $? "login again, --quiet prints nothing (exit $RC, stdout: $OUT)"

# --- server down ---------------------------------------------------------------------------------

SAVED_URL=$URL
URL=http://127.0.0.1:1
cpub_pw 'analytical engine' login ada@example.com
is_rc 4 "a server that cannot be reached: cannot connect"
grep -q '^cpub: could not connect to http://127.0.0.1:1' <<<"$ERR"
tap_ok $? "and it says so (stderr: $(one "$ERR"))"
URL=$SAVED_URL

# --- logout revokes the session ------------------------------------------------------------------

cp "$CREDS" "$WORK/creds.before"
SESSION=$(jq -r --arg s "$URL" '.servers[$s].session_id' "$CREDS")
cpub logout
is_rc 0 "logout"
[ "$(q "SELECT revoked_at IS NOT NULL FROM cpub.sessions WHERE id = '$SESSION'")" = t ]
tap_ok $? "the session is revoked on the server"
jq -e --arg s "$URL" '.servers | has($s) | not' "$CREDS" >/dev/null
tap_ok $? "the tokens are gone from the credentials file"
cpub whoami
is_rc 3 "whoami after logout: refused"
# The old tokens, put back by hand, are refused by the server.
cp "$WORK/creds.before" "$CREDS"
cpub whoami
is_rc 3 "the revoked session's tokens: API error"
# 28000 for the access token, then its refresh token refused too: the
# error said is the refresh's.
grep -q '^cpub: invalid refresh token (28Q04)' <<<"$ERR"
tap_ok $? "the server refuses them, the refresh token too (stderr: $(one "$ERR"))"

stop_cleanly main
done_testing
