#!/usr/bin/env bash
# bench/auth.sh: cpub_api.authenticate(token) throughput beside SELECT 1.
#
# authenticate() runs on every request, so its goal is relative: at least
# 0.7 of the throughput of SELECT 1, the cheapest statement there is,
# measured in the same run with the same pgbench settings (-M prepared,
# BENCH_CLIENTS clients, BENCH_THREADS threads, BENCH_SECONDS seconds).
# pgbench shares the machine's cores with the server, so single runs vary
# by 20% or more: the two alternate for BENCH_ROUNDS rounds and the
# medians are compared.
#
# Setup registers BENCH_USERS users and logs each in, with the cheapest
# argon2id cost (for the setup only: it does not touch authenticate).
# Each pgbench transaction is then one statement, in one of two forms:
#	SELECT cpub_api.authenticate('<token>')             -- as httpd calls it
#	SELECT * FROM cpub_api.authenticate('<token>')      -- as a table
# The first is the figure the target applies to: it is how the HTTP front
# calls it on every request (one composite value, no FunctionScan).  The
# second adds PostgreSQL's FunctionScan, which puts the one row into a
# tuplestore; it is printed for comparison.  There is no second query to
# fetch the token: the tokens are spread over AUTH_SCRIPTS script files, one
# literal token each, which pgbench picks at random per transaction
# (pgbench takes at most 128 scripts).
#
# Connects through the PG* environment (bench/run.sh sets it) as a
# superuser, which the setup's SET of cpub.argon2_* needs.
set -euo pipefail

PGBIN=/usr/lib/postgresql/15/bin
USERS=${BENCH_USERS:-1000}
# One pgbench thread and one client per core: with more clients than cores,
# pgbench and the backends fight over the CPUs and the figure measures the
# scheduler more than the server (4 clients on 2 cores gives about 0.6 here,
# SELECT 1 itself varying by 20% between runs).
CLIENTS=${BENCH_CLIENTS:-$(nproc)}
THREADS=${BENCH_THREADS:-$(nproc)}
DURATION=${BENCH_SECONDS:-10}
ROUNDS=${BENCH_ROUNDS:-3}
AUTH_SCRIPTS=100

work=$(mktemp -d /tmp/cpub-bench-auth.XXXXXX)
trap 'rm -rf "$work"' EXIT

psql_run()
{
	"$PGBIN/psql" -X -q -At -v ON_ERROR_STOP=1 "$@"
}

# pgbench_tps NAME ARGS...: runs pgbench, prints its tps; on failure shows
# pgbench's output and fails.
pgbench_tps()
{
	local name=$1 out
	shift
	if ! out=$("$PGBIN/pgbench" -n -M prepared -c "$CLIENTS" -j "$THREADS" \
		"$@" 2>&1); then
		echo "bench: pgbench $name failed:" >&2
		echo "$out" >&2
		exit 1
	fi
	awk '/^tps = / { print $3; exit }' <<<"$out"
}

psql_run -v users="$USERS" >"$work/tokens" <<'SQL'
SET cpub.argon2_opslimit = 1;
SET cpub.argon2_memlimit_kib = 64;
\o /dev/null
SELECT count(cpub_api.register(format('bench-auth-%s@example.com', g),
							   format('bench-password-%s', g),
							   'Bench', format('User %s', g)))
  FROM generate_series(1, :users) g;
\o
SELECT t.access_token
  FROM generate_series(1, :users) g,
	   LATERAL cpub_api.login(format('bench-auth-%s@example.com', g),
							  format('bench-password-%s', g)) t;
SQL

[ "$(wc -l <"$work/tokens")" -eq "$USERS" ] ||
	{ echo "bench: expected $USERS access tokens" >&2; exit 1; }

echo 'SELECT 1;' >"$work/select1.sql"
scripts=()
table_scripts=()
i=0
while read -r token; do
	i=$((i + 1))
	echo "SELECT cpub_api.authenticate('$token');" >"$work/auth$i.sql"
	echo "SELECT * FROM cpub_api.authenticate('$token');" >"$work/table$i.sql"
	scripts+=(-f "$work/auth$i.sql")
	table_scripts+=(-f "$work/table$i.sql")
done < <(shuf -n "$AUTH_SCRIPTS" "$work/tokens")

# A token must resolve to its user, or we would time an error path.
token=$(head -n 1 "$work/tokens")
[ "$(psql_run -c "SELECT user_id IS NOT NULL FROM cpub_api.authenticate('$token')")" = t ] ||
	{ echo "bench: authenticate did not accept a fresh token" >&2; exit 1; }

# Warm up both (caches, prepared plans), then measure.
pgbench_tps warmup -T 2 -f "$work/select1.sql" >/dev/null
pgbench_tps warmup -T 2 "${scripts[@]}" >/dev/null
select1=()
auth=()
table=()
for ((r = 0; r < ROUNDS; r++)); do
	select1+=("$(pgbench_tps 'SELECT 1' -T "$DURATION" -f "$work/select1.sql")")
	auth+=("$(pgbench_tps authenticate -T "$DURATION" "${scripts[@]}")")
	table+=("$(pgbench_tps 'authenticate as a table' -T "$DURATION" "${table_scripts[@]}")")
done

# median WORDS...: the median of numbers.
median()
{
	printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 }
		END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

echo "(a) cpub_api.authenticate(token) beside SELECT 1"
echo "    pgbench -M prepared -c $CLIENTS -j $THREADS -T $DURATION, one statement per transaction," \
	"$AUTH_SCRIPTS distinct tokens of $USERS live sessions, as superuser;" \
	"medians of $ROUNDS alternating rounds"
for ((r = 0; r < ROUNDS; r++)); do
	awk -v r=$((r + 1)) -v a="${auth[r]}" -v t="${table[r]}" -v s="${select1[r]}" 'BEGIN {
		printf "    round %d: authenticate %.0f tps (%.2f), as a table %.0f tps (%.2f), SELECT 1 %.0f tps\n",
			r, a, a / s, t, t / s, s
	}'
done
awk -v a="$(median "${auth[@]}")" -v t="$(median "${table[@]}")" \
	-v s="$(median "${select1[@]}")" 'BEGIN {
	printf "    SELECT cpub_api.authenticate(t):        %6.0f tps   SELECT 1: %6.0f tps   ratio %.2f (target >= 0.70)\n",
		a, s, a / s
	printf "    SELECT * FROM cpub_api.authenticate(t): %6.0f tps   ratio %.2f (for comparison)\n",
		t, t / s
}'
