#!/usr/bin/env bash
# tests/run.sh: run every test suite against a throwaway PostgreSQL cluster.
#
# Expects the extension built and installed (make test does both).  The
# cluster lives in a mktemp -d folder under /tmp, on port $CPUB_TEST_PGPORT
# (default 15499), with cheap argon2 settings, fsync off and a fresh server
# secret key file (two keys: current and old); the folder goes away at the
# end, also on failure or interrupt.
#
# CPUB_TEST_SUITES and CPUB_TEST_E2E (below) pick a part of them.
# Suites: format (make format-check), unit (tests/unit, C, prove), pgtap (tests/pgtap/*.sql, pg_prove),
# isolation (tests/isolation/specs/*.spec with expected/*.out, through
# PostgreSQL's pg_isolation_regress), e2e (tests/e2e/*.t, bash TAP scripts,
# prove, with CONTAINERS_CONF from scripts/podman.sh for the ones that drive
# Podman, which expect the base images built: make test runs make images
# first); a suite with no files is skipped.
# The output ends with one line "N passed, N failed" counting assertions
# over all suites; the exit status is nonzero when anything failed.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd -P)
PGBIN=/usr/lib/postgresql/15/bin
PORT=${CPUB_TEST_PGPORT:-15499}
DB=cpub_test
CLUSTER=$ROOT/scripts/cluster.sh

TMP=$(mktemp -d /tmp/cpub-test.XXXXXX) || exit 1
SOCK=

# shellcheck disable=SC2317  # called through trap
cleanup()
{
	"$CLUSTER" stop "$TMP" >/dev/null 2>&1
	if [ -n "$SOCK" ] && [ "$SOCK" != "$TMP" ]; then
		rm -rf "$SOCK"
	fi
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

total_pass=0
total_fail=0
any_failed=0

fail_setup()
{
	echo "tests: $*" >&2
	if [ -f "$TMP/log" ]; then
		echo "--- end of the PostgreSQL log ---" >&2
		tail -n 40 "$TMP/log" >&2
	fi
	echo "0 passed, 1 failed"
	exit 1
}

# Add the counts of one prove/pg_prove run (its output in $1, status in $2).
count_prove()
{
	local out=$1 status=$2 tests failed=0 bad_files=0 f
	tests=$(grep -Eo '^Files=[0-9]+, Tests=[0-9]+' "$out" | tail -n 1 |
		sed 's/.*Tests=//')
	# Each file with a problem has a line "NAME (Wstat: W Tests: T Failed: F)".
	while read -r f; do
		failed=$((failed + f))
		if [ "$f" -eq 0 ]; then
			# Died, bad plan or parse error with no failed assertion.
			bad_files=$((bad_files + 1))
		fi
	done < <(grep -Eo 'Tests: [0-9]+ Failed: [0-9]+\)' "$out" |
		sed -E 's/.*Failed: ([0-9]+)\)/\1/')
	if [ -z "$tests" ]; then
		tests=0
		[ "$status" -ne 0 ] && bad_files=$((bad_files + 1))
	fi
	total_pass=$((total_pass + tests - failed))
	total_fail=$((total_fail + failed + bad_files))
	if [ "$status" -ne 0 ] || [ $((failed + bad_files)) -gt 0 ]; then
		any_failed=1
		[ $((failed + bad_files)) -eq 0 ] && total_fail=$((total_fail + 1))
	fi
}

# CPUB_TEST_SUITES (e.g. "unit e2e") runs only those suites;
# CPUB_TEST_E2E (e.g. "cli_*") only the e2e files matching it.
want()
{
	[ -z "${CPUB_TEST_SUITES:-}" ] || [[ " $CPUB_TEST_SUITES " == *" $1 "* ]]
}

suite()
{
	echo
	echo "=== $* ==="
}

# --- the cluster -----------------------------------------------------------
CPUB_INITDB_NOSYNC=1 "$CLUSTER" init "$TMP" "$PORT" >/dev/null ||
	fail_setup "could not create the test cluster"

# The server's secret keys (cpub.secret_key_file): a fresh current key for
# every run, then a second, older key that still decrypts, so that the tests
# can seal records under it and rotate (tests/pgtap/65_secrets.sql,
# tests/e2e/secret_keys.t).  Mode 0600, owned by the server's user.
KEYFILE=$TMP/secret.key
random_key()
{
	od -An -tx1 -N32 -v /dev/urandom | tr -d ' \n'
	echo
}
(umask 077 && { random_key && random_key; } >"$KEYFILE") ||
	fail_setup "could not write $KEYFILE"
if [ "$(id -u)" -eq 0 ]; then
	chown postgres: "$KEYFILE" || fail_setup "could not hand $KEYFILE to postgres"
fi

"$CLUSTER" start "$TMP" "$PORT" \
	-c fsync=off -c synchronous_commit=off -c full_page_writes=off \
	-c cpub.argon2_opslimit=1 -c cpub.argon2_memlimit_kib=64 \
	-c cpub.secret_key_file="$KEYFILE" ||
	fail_setup "could not start the test cluster on port $PORT (set CPUB_TEST_PGPORT to use another)"
SOCK=$(cat "$TMP/socketdir")
export PGHOST=$SOCK PGPORT=$PORT PGUSER=postgres PGDATABASE=$DB

psql_q()
{
	"$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 "$@" 2>&1
}
psql_q -d postgres -c "CREATE DATABASE $DB" >/dev/null ||
	fail_setup "could not create database $DB"
setup_out=$(psql_q -d "$DB" -c "SET client_min_messages = warning" \
	-c "CREATE EXTENSION pgtap" -c "CREATE EXTENSION containerpub") ||
	{
		echo "$setup_out" >&2
		fail_setup "could not create the extensions in $DB"
	}

# --- format ------------------------------------------------------------------
# The C code follows .clang-format (make format fixes it).
if want format; then
	suite "format (clang-format)"
	if out=$(make -s -C "$ROOT" format-check 2>&1); then
		echo "format: every C file follows .clang-format"
		total_pass=$((total_pass + 1))
	else
		echo "$out" | head -n 40
		echo "format: run 'make format' (files above differ from .clang-format)"
		total_fail=$((total_fail + 1))
		any_failed=1
	fi
fi

# --- C unit tests ------------------------------------------------------------
if want unit; then
	suite "unit (tests/unit)"
	out=$TMP/unit.out
	if ls "$ROOT"/tests/unit/test_*.c >/dev/null 2>&1; then
		if make -s -C "$ROOT/tests/unit" SANITIZE="${SANITIZE:-0}" >"$out" 2>&1; then
			progs=()
			for c in "$ROOT"/tests/unit/test_*.c; do
				progs+=("./$(basename "$c" .c)")
			done
			(cd "$ROOT/tests/unit" && prove -e '' "${progs[@]}" 2>&1) | tee "$out"
			count_prove "$out" "${PIPESTATUS[0]}"
		else
			cat "$out"
			echo "unit: build failed"
			total_fail=$((total_fail + 1))
			any_failed=1
		fi
	else
		echo "unit: no tests/unit/test_*.c, skipped"
	fi
fi

# --- pgTAP ---------------------------------------------------------------------
if want pgtap; then
	suite "pgtap (tests/pgtap)"
	out=$TMP/pgtap.out
	shopt -s nullglob
	pgtap_files=("$ROOT"/tests/pgtap/*.sql)
	shopt -u nullglob
	if [ ${#pgtap_files[@]} -gt 0 ]; then
		(cd "$ROOT" && pg_prove --psql-bin "$PGBIN/psql" -h "$SOCK" -p "$PORT" \
			-U postgres -d "$DB" "${pgtap_files[@]#"$ROOT"/}" 2>&1) | tee "$out"
		count_prove "$out" "${PIPESTATUS[0]}"
	else
		echo "pgtap: no tests/pgtap/*.sql, skipped"
	fi
fi

# --- isolation -----------------------------------------------------------------
if want isolation; then
	suite "isolation (tests/isolation)"
	shopt -s nullglob
	specs=("$ROOT"/tests/isolation/specs/*.spec)
	shopt -u nullglob
	ISO_REGRESS=$("$PGBIN/pg_config" --pkglibdir)/pgxs/src/test/isolation/pg_isolation_regress
	if [ ${#specs[@]} -eq 0 ]; then
		echo "isolation: no tests/isolation/specs/*.spec, skipped"
	elif [ ! -x "$ISO_REGRESS" ]; then
		echo "isolation: $ISO_REGRESS missing (postgresql-server-dev-15)"
		total_fail=$((total_fail + 1))
		any_failed=1
	else
		out=$TMP/isolation.out
		names=()
		for s in "${specs[@]}"; do
			names+=("$(basename "$s" .spec)")
		done
		rm -f "$ROOT/tests/isolation/regression.diffs"
		# A database of its own, so the specs see only the extension's data.
		psql_q -d postgres -c "CREATE DATABASE cpub_isolation" >/dev/null &&
			psql_q -d cpub_isolation -c "SET client_min_messages = warning" \
				-c "CREATE EXTENSION containerpub" >/dev/null ||
			echo "isolation: could not create database cpub_isolation"
		"$ISO_REGRESS" --use-existing --host="$SOCK" --port="$PORT" \
			--user=postgres --dbname=cpub_isolation \
			--inputdir="$ROOT/tests/isolation" --outputdir="$TMP/isolation" \
			"${names[@]}" 2>&1 | tee "$out"
		status=${PIPESTATUS[0]}
		p=$(grep -Ec '\.\.\. ok( |$)' "$out")
		f=$(grep -Ec '\.\.\. FAILED( |$)' "$out")
		total_pass=$((total_pass + p))
		total_fail=$((total_fail + f))
		if [ "$status" -ne 0 ] || [ "$f" -gt 0 ]; then
			any_failed=1
			[ "$f" -eq 0 ] && total_fail=$((total_fail + 1))
			if [ -f "$TMP/isolation/regression.diffs" ]; then
				cp "$TMP/isolation/regression.diffs" "$ROOT/tests/isolation/regression.diffs"
				echo "isolation: differences in tests/isolation/regression.diffs"
			fi
		fi
	fi
fi

# --- end to end ------------------------------------------------------------------
# TAP scripts (bash) driving the real parts; each makes its own database in
# the test cluster (PGHOST, PGPORT, PGUSER are exported above).
if want e2e; then
	suite "e2e (tests/e2e)"
	out=$TMP/e2e.out
	shopt -s nullglob
	e2e_files=("$ROOT"/tests/e2e/${CPUB_TEST_E2E:-*}.t)
	shopt -u nullglob
	if [ ${#e2e_files[@]} -gt 0 ]; then
		# The project's Podman setup; without it the Podman tests fail on their own.
		if conf=$("$ROOT/scripts/podman.sh"); then
			export CONTAINERS_CONF=$conf
		else
			echo "e2e: scripts/podman.sh failed; the tests that use Podman will fail"
		fi
		(cd "$ROOT" && PATH=$PGBIN:$PATH prove ${CPUB_TEST_VERBOSE:+-v} -e bash "${e2e_files[@]#"$ROOT"/}" 2>&1) |
			tee "$out"
		count_prove "$out" "${PIPESTATUS[0]}"
	else
		echo "e2e: no tests/e2e/*.t, skipped"
	fi
fi

# --- summary -----------------------------------------------------------------
echo
if [ "$any_failed" -ne 0 ] || [ "$total_fail" -gt 0 ]; then
	echo "--- end of the PostgreSQL log ($TMP/log) ---"
	tail -n 40 "$TMP/log"
	echo
	echo "$total_pass passed, $total_fail failed"
	exit 1
fi
echo "$total_pass passed, $total_fail failed"
exit 0
