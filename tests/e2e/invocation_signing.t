#!/usr/bin/env bash
# tests/e2e/invocation_signing.t: the signing example of
# docs/invocation-keys.md, run as written (sh and openssl) with a real key's
# secret, makes a signature cpub.invocation_key_check accepts; the same
# request again is a replay.  Keeps the documentation true.
#
# Needs PGHOST/PGPORT/PGUSER of a cluster with the extension installed and
# a server key file (tests/run.sh).  Prints TAP.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd -P)
DB=cpub_invocation_signing
export PGOPTIONS="-c client_min_messages=warning"
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib/tap.sh"


echo "1..6"

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"; psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $DB" >/dev/null 2>&1' EXIT
sed -n '/<!-- signing-example:begin -->/,/<!-- signing-example:end -->/p' \
	"$ROOT/docs/invocation-keys.md" | sed '/^<!--/d; /^```/d' >"$WORK/example.sh"
grep -q '^SIG=' "$WORK/example.sh" && grep -q '^SECRET=' "$WORK/example.sh"
ok $? "docs/invocation-keys.md has the signing example between its markers"

psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB" >/dev/null &&
	psql -X -q -d "$DB" -c "CREATE EXTENSION containerpub" >/dev/null
ok $? "a fresh database with the extension"

out=$(psql -X -q -At -v ON_ERROR_STOP=1 -d "$DB" <<'EOF' 2>&1
INSERT INTO cpub.users (email, password_hash) VALUES ('ada@example.com', 'x');
BEGIN;
SELECT cpub.set_user_identity((SELECT uuid FROM cpub.users WHERE email = 'ada@example.com'),
                              gen_random_uuid(), false) \g /dev/null
SELECT cpub_api.function_create('hello', 'shell', visibility => 'key') \g /dev/null
SELECT f.id || ' ' || k.secret FROM cpub_api.function_key_create('hello') k,
       cpub.functions f WHERE f.name = 'hello';
COMMIT;
EOF
)
read -r FID SECRET <<<"$out"
[[ "$SECRET" == cpk_* ]]
ok $? "a function and an invocation key (got: ${out%% *} ...)"

# The example, with the real secret instead of the documented one, in a
# folder holding its body file.  Leading zero bytes and a final line without
# a newline make sure the body is signed raw.
printf '\0{"name": "Ada"}\r\nno final newline' >"$WORK/body.json"
vars=$(cd "$WORK" && SECRET=$SECRET sh -c "$(sed '/^SECRET=/d' example.sh)"'
	printf "%s %s %s %s %s %s\n" "$KEY_ID" "$TS" "$NONCE" "$METHOD" "$REQ_PATH" "$SIG"')
read -r KEY_ID TS NONCE METHOD REQ_PATH SIG <<<"$vars"
[ ${#SIG} -eq 64 ] && [ "$KEY_ID" = "$(printf '%s' "$SECRET" | cut -d_ -f2)" ]
ok $? "the example computes a key id and a 64-digit signature (got: $vars)"

check()
{
	psql -X -q -At -d "$DB" -v ON_ERROR_STOP=1 -c "SELECT cpub.invocation_key_check(
		'$FID', '$KEY_ID', $TS, '$NONCE', 'v1=$SIG', '$METHOD', '$REQ_PATH',
		decode('$(od -An -tx1 -v "$WORK/body.json" | tr -d ' \n')', 'hex')) IS NOT NULL" 2>&1
}
got=$(check)
[ "$got" = t ]
ok $? "the server accepts the example's signature (got: $got)"
got=$(check)
[[ "$got" == *"replayed invocation signature"* ]]
ok $? "and refuses the same request again (got: $got)"

[ $failed -eq 0 ]
