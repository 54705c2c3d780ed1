#!/usr/bin/env bash
# tests/e2e/secret_keys.t: the server key file on a running server: key ids,
# rotation (a new first key, rekey, the old key dropped), the file re-read
# when it changes (without reconnecting), and the errors when it is unusable
# (group-readable, missing, malformed, or without the key a record needs).
#
# Rewrites the key file the test cluster was started with (SHOW
# cpub.secret_key_file) and puts it back at the end, also on failure; the
# other suites have finished by then and e2e tests run one at a time.
# Needs PGHOST/PGPORT/PGUSER of that cluster (tests/run.sh).  Prints TAP.
set -uo pipefail

DB=cpub_secret_keys
export PGOPTIONS="-c client_min_messages=warning"
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib/tap.sh"


q()
{
	psql -X -q -At -v ON_ERROR_STOP=1 -d "$DB" -c "$1" 2>&1
}

# The SQLSTATE and message of the error a statement raises.
err()
{
	psql -X -q -At -v VERBOSITY=verbose -d "$DB" -c "$1" 2>&1 |
		sed -n 's/^ERROR:  //p' | head -n 1
}

random_key()
{
	od -An -tx1 -N32 -v /dev/urandom | tr -d ' \n'
}

# The key id: the first 8 bytes of BLAKE2b-256 of the key, in hex,
# computed without the extension.
key_id()
{
	printf '%s' "$1" | xxd -r -p | b2sum -l 256 | cut -c1-16
}

echo "1..20"

KEYFILE=$(psql -X -At -d postgres -c "SHOW cpub.secret_key_file")
[ -n "$KEYFILE" ] && [ -f "$KEYFILE" ]
ok $? "the test cluster names its key file ($KEYFILE)"
[ -f "$KEYFILE" ] || {
	echo "Bail out! no key file"
	exit 1
}
ORIG=$(mktemp)
cp -p "$KEYFILE" "$ORIG"

# Replace the key file the way an operator should: a new file renamed over
# the old, with the old file's owner.  The pause makes sure the new file's
# mtime differs from the old one's even on a coarse clock.
write_keyfile()
{
	local mode=$1 tmp
	shift
	sleep 0.05
	tmp=$(mktemp "$KEYFILE.XXXXXX")
	printf '%s\n' "$@" >"$tmp"
	chown --reference="$ORIG" "$tmp"
	chmod "$mode" "$tmp"
	mv -f "$tmp" "$KEYFILE"
}

cleanup()
{
	sleep 0.05
	cp -p "$ORIG" "$KEYFILE.restore" && mv -f "$KEYFILE.restore" "$KEYFILE"
	rm -f "$ORIG"
	psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $DB" >/dev/null 2>&1
}
trap cleanup EXIT

psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB" >/dev/null &&
	psql -X -q -d "$DB" -c "CREATE EXTENSION containerpub" >/dev/null
ok $? "a fresh database with the extension"

K1=$(sed -n 1p "$ORIG")
K_OLD=$(sed -n 2p "$ORIG")
got=$(q "SELECT string_agg(key_id || ':' || is_current, ' ') FROM cpub.secret_keys()")
[ "$got" = "$(key_id "$K1"):true $(key_id "$K_OLD"):false" ]
ok $? "key ids are BLAKE2b-256 prefixes of the keys, the first line current (got: $got)"

# A developer's function with a secret, sealed under K1.
FID=$(psql -X -q -At -v ON_ERROR_STOP=1 -d "$DB" <<'EOF' 2>&1
INSERT INTO cpub.users (email, password_hash) VALUES ('ada@example.com', 'x');
BEGIN;
SELECT cpub.set_user_identity((SELECT uuid FROM cpub.users WHERE email = 'ada@example.com'),
                              gen_random_uuid(), false) \g /dev/null
SELECT cpub_api.function_create('engine', 'shell') \g /dev/null
SELECT cpub_api.function_env_set('engine', 'TOKEN', 'bernoulli') \g /dev/null
SELECT id FROM cpub.functions WHERE name = 'engine';
COMMIT;
EOF
)
[ "$(q "SELECT value FROM cpub_worker.function_env('$FID')")" = bernoulli ]
ok $? "a variable is set and read back"

# Rotation: a new key first, the current one second.
K2=$(random_key)
write_keyfile 0600 "# rotated" "$K2" "$K1"
got=$(q "SELECT key_id FROM cpub.secret_keys() WHERE is_current")
[ "$got" = "$(key_id "$K2")" ]
ok $? "after the file changes, its new first key is current"
[ "$(q "SELECT value FROM cpub_worker.function_env('$FID')")" = bernoulli ]
ok $? "the variable sealed under the previous key still decrypts"
got=$(q "SELECT is_current || ' ' || env_vars FROM cpub_admin.secrets_status() WHERE key_id = '$(key_id "$K1")'")
[ "$got" = "false 1" ]
ok $? "the status counts it under the previous key (got: $got)"
got=$(q "SELECT current_key_id || ' ' || env_vars FROM cpub_admin.secrets_rekey()")
[ "$got" = "$(key_id "$K2") 1" ]
ok $? "rekey seals it again under the new key (got: $got)"
[ "$(q "SELECT key_id FROM cpub.function_env WHERE function_id = '$FID'")" = "$(key_id "$K2")" ]
ok $? "the row names the new key"
write_keyfile 0600 "$K2"
[ "$(q "SELECT value FROM cpub_worker.function_env('$FID')")" = bernoulli ]
ok $? "with the old key dropped from the file, the value still decrypts"

# Re-read within one session, without reconnecting.
K3=$(random_key)
got=$(psql -X -q -At -d "$DB" <<EOF 2>&1
SELECT key_id FROM cpub.secret_keys() WHERE is_current;
\! sleep 0.05; printf '%s\n' $K3 $K2 >"$KEYFILE.tmp" && chown --reference="$ORIG" "$KEYFILE.tmp" && chmod 0600 "$KEYFILE.tmp" && mv -f "$KEYFILE.tmp" "$KEYFILE"
SELECT key_id FROM cpub.secret_keys() WHERE is_current;
EOF
)
[ "$got" = "$(key_id "$K2")
$(key_id "$K3")" ]
ok $? "a session notices the changed file at its next statement"

# Errors.
write_keyfile 0600 "$K1"
got=$(err "SELECT * FROM cpub_worker.function_env('$FID')")
[ "$got" = "55Q03: could not decrypt a stored secret: its server key $(key_id "$K2") is not configured" ]
ok $? "without the key a record was sealed with: 55Q03 (got: $got)"
got=$(err "SELECT * FROM cpub_admin.secrets_rekey()")
[ "${got%%:*}" = 55Q03 ]
ok $? "and rekey cannot proceed either (got: $got)"
write_keyfile 0640 "$K2"
got=$(err "SELECT * FROM cpub_worker.function_env('$FID')")
[ "$got" = "55Q02: server secret key file \"$KEYFILE\" has group or world access" ]
ok $? "a group-readable key file is refused: 55Q02 (got: $got)"
write_keyfile 0604 "$K2"
[ "$(err "SELECT * FROM cpub.secret_keys()")" = "55Q02: server secret key file \"$KEYFILE\" has group or world access" ]
ok $? "so is a world-readable one"
write_keyfile 0600 "not a key"
got=$(err "SELECT * FROM cpub.secret_keys()")
[ "$got" = "55Q02: invalid server secret key file \"$KEYFILE\"" ]
ok $? "a malformed key file is refused: 55Q02 (got: $got)"
got=$(psql -X -q -At -d "$DB" -c "SELECT * FROM cpub.secret_keys()" 2>&1 | sed -n 's/^DETAIL:  //p')
[ "$got" = "Line 1: A key must be 64 hexadecimal digits (32 bytes)." ]
ok $? "the detail names the line and the rule (got: $got)"
write_keyfile 0600 "# no key yet" ""
[ "$(psql -X -q -At -d "$DB" -c "SELECT * FROM cpub.secret_keys()" 2>&1 | sed -n 's/^DETAIL:  //p')" = \
	"The file holds no key." ]
ok $? "a file without a key is refused"
rm -f "$KEYFILE"
got=$(err "SELECT * FROM cpub.secret_keys()")
[ "$got" = "55Q02: could not read server secret key file \"$KEYFILE\": No such file or directory" ]
ok $? "a missing key file: 55Q02 (got: $got)"
hint=$(psql -X -q -At -d "$DB" -c "SELECT * FROM cpub.secret_keys()" 2>&1 | sed -n 's/^HINT:  //p')
case "$hint" in
*cpub.secret_key_file*) true ;;
*) false ;;
esac
ok $? "the hint names the setting (got: $hint)"

[ $failed -eq 0 ]
