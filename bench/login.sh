#!/usr/bin/env bash
# bench/login.sh: the cost of cpub_api.login with the default argon2id cost.
#
# Logins are slow on purpose: the password hash is argon2id with OWASP's
# parameters (cpub.argon2_opslimit = 2 iterations, cpub.argon2_memlimit_kib
# = 19456 KiB, one lane).  Printed beside two anchors: the raw
# cpub.password_hash and cpub.password_verify at the same cost (what login
# cannot go below), and a login at the cheapest cost (t = 1, m = 64 KiB:
# what login costs besides the hash).  Each is BENCH_LOGINS calls timed in
# SQL with clock_timestamp(), one transaction per kind (so no commit is
# counted); then login throughput with pgbench, BENCH_LOGIN_CLIENTS
# clients each logging its own user in again and again for BENCH_SECONDS,
# with durable commits.
#
# Connects through the PG* environment (bench/run.sh sets it) as a
# superuser, which SET of cpub.argon2_* needs.
set -euo pipefail

PGBIN=/usr/lib/postgresql/15/bin
LOGINS=${BENCH_LOGINS:-20}
CLIENTS=${BENCH_LOGIN_CLIENTS:-2}
DURATION=${BENCH_SECONDS:-10}

work=$(mktemp -d /tmp/cpub-bench-login.XXXXXX)
trap 'rm -rf "$work"' EXIT

psql_run()
{
	"$PGBIN/psql" -X -q -At -v ON_ERROR_STOP=1 "$@"
}

# Users: bench-login-N (default cost), bench-cheap-N (cheapest cost) and
# bench-tput-N for the pgbench clients, whose client_id starts at 0.  Then
# the timings, with the hashes' cost shown by the settings in force.
psql_run -F ' ' -v n="$LOGINS" -v clients="$CLIENTS" >"$work/timings" <<'SQL'
\o /dev/null
RESET cpub.argon2_opslimit;
RESET cpub.argon2_memlimit_kib;
SELECT count(cpub_api.register(format('bench-login-%s@example.com', g),
							   format('bench-password-%s', g)))
  FROM generate_series(1, :n) g;
SELECT count(cpub_api.register(format('bench-tput-%s@example.com', g),
							   'bench-password-tput'))
  FROM generate_series(0, :clients - 1) g;
SET cpub.argon2_opslimit = 1;
SET cpub.argon2_memlimit_kib = 64;
SELECT count(cpub_api.register(format('bench-cheap-%s@example.com', g),
							   format('bench-password-%s', g)))
  FROM generate_series(1, :n) g;

CREATE TEMP TABLE timing (ord int, what text, ms float8);
-- timed(ord, what, stmt, n): runs format(stmt, i) for i in 1..n, timing each.
CREATE FUNCTION pg_temp.timed(ord int, what text, stmt text, n int)
	RETURNS void LANGUAGE plpgsql AS $f$
DECLARE
	t0 timestamptz;
BEGIN
	FOR i IN 1..n LOOP
		t0 := clock_timestamp();
		EXECUTE format(stmt, i);
		INSERT INTO timing
		VALUES (ord, what,
				1000 * extract(epoch FROM clock_timestamp() - t0));
	END LOOP;
END
$f$;

RESET cpub.argon2_opslimit;
RESET cpub.argon2_memlimit_kib;
SELECT pg_temp.timed(1, 'login', $$
	SELECT cpub_api.login('bench-login-%1$s@example.com', 'bench-password-%1$s')
$$, :n);
SELECT pg_temp.timed(2, 'password_verify', $$
	SELECT cpub.password_verify(u.password_hash, 'bench-password-%1$s')
	  FROM cpub.users u WHERE u.email = 'bench-login-%1$s@example.com'
$$, :n);
SELECT pg_temp.timed(3, 'password_hash', $$
	SELECT cpub.password_hash('bench-password-%1$s')
$$, :n);
SET cpub.argon2_opslimit = 1;
SET cpub.argon2_memlimit_kib = 64;
SELECT pg_temp.timed(4, 'login t=1 m=64KiB', $$
	SELECT cpub_api.login('bench-cheap-%1$s@example.com', 'bench-password-%1$s')
$$, :n);
RESET cpub.argon2_opslimit;
RESET cpub.argon2_memlimit_kib;
\o
SELECT current_setting('cpub.argon2_opslimit'),
	   (SELECT setting FROM pg_settings
		 WHERE name = 'cpub.argon2_memlimit_kib');
SELECT replace(what, ' ', '_'), count(*),
	   round(avg(ms)::numeric, 1),
	   round((percentile_cont(0.5) WITHIN GROUP (ORDER BY ms))::numeric, 1),
	   round(max(ms)::numeric, 1)
  FROM timing GROUP BY ord, what ORDER BY ord;
SQL

read -r ops mem < <(head -n 1 "$work/timings")
verify_p50=$(awk '$1 == "password_verify" { print $4 }' "$work/timings")

echo 'SELECT access_token FROM cpub_api.login('"'"'bench-tput-'"'"' || :client_id || '"'"'@example.com'"'"', '"'"'bench-password-tput'"'"');' \
	>"$work/login.sql"
if ! out=$("$PGBIN/pgbench" -n -M prepared -c "$CLIENTS" -j "$CLIENTS" \
	-T "$DURATION" -f "$work/login.sql" 2>&1); then
	echo "bench: pgbench login failed:" >&2
	echo "$out" >&2
	exit 1
fi
tps=$(awk '/^tps = / { print $3; exit }' <<<"$out")

echo "(b) cpub_api.login cost, argon2id t=$ops m=${mem}KiB p=1 (OWASP: m=19MiB t=2 p=1)" \
	"unless stated; $LOGINS calls each, timed in SQL"
tail -n +2 "$work/timings" | while read -r what n mean p50 max; do
	printf '    %-20s n=%-3s mean %7.1f ms   p50 %7.1f ms   max %7.1f ms\n' \
		"${what//_/ }" "$n" "$mean" "$p50" "$max"
done
cores=$(nproc)
awk -v tps="$tps" -v c="$CLIENTS" -v cores="$cores" -v v="$verify_p50" \
	-v d="$DURATION" 'BEGIN {
	par = c < cores ? c : cores
	printf "    login throughput: %.1f logins/s (pgbench -M prepared -c %d -j %d -T %d, durable commits)\n",
		tps, c, c, d
	printf "    anchor: %d parallel password_verify at p50 %.1f ms = %.1f/s\n",
		par, v, par * 1000 / v
}'
