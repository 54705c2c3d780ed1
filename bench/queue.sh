#!/usr/bin/env bash
# bench/queue.sh: the job queue (sql/55_jobs.sql) beside graphile-worker on
# the same PostgreSQL, with durable commits.
#
# (c) claim+complete throughput with BENCH_QUEUE_CLIENTS (2) workers, each
#     a thread of bench/queue_bench with its own connection: the queue is
#     filled with run jobs, the workers drain it, jobs/s is jobs over the
#     time from their start to the last completion; medians of BENCH_ROUNDS
#     (3) rounds.  Ours unbatched (one job per call) and batched
#     (BENCH_QUEUE_BATCH jobs per call, 100), each with one call per job
#     (cpub_worker.job_complete_and_claim: one round trip, one commit) and
#     with two (job_claim, then job_complete).  graphile-worker (from the
#     npm registry, installed into bench/node_modules) drains the same
#     number of jobs with a task that does nothing, in as many Node
#     processes: unbatched (concurrency 1, its defaults: a transaction to
#     get a job and one to complete it) and batched (its published
#     high-throughput preset: concurrency 24, localQueue 500,
#     completeJobBatchDelay 0).  Anchors: a one-row durable UPDATE with
#     pgbench, the ceiling of anything that commits once per job.
# (d) enqueue -> claim latency: a worker LISTENs on cpub_jobs and, woken,
#     loops on job_complete_and_claim until nothing comes back (as a worker
#     does) while a client enqueues a job every 5 ms; from just before the
#     enqueue is sent to when the claim has returned, both commits durable;
#     after a CHECKPOINT, so that the throughput runs' writes are done.  graphile-worker the same (add_job to task start).
#     Anchor: one durable one-row UPDATE round trip from one client.
# (e) the unbatched drain again for BENCH_BLOAT_SECONDS (180) while another
#     session holds a REPEATABLE READ snapshot, so VACUUM can remove no dead
#     row: jobs/s over time and the table and index sizes before and after;
#     first the same drain for a third of that time without the snapshot.
#
# Run by bench/run.sh (which makes a throwaway cluster with PostgreSQL's
# default settings); run alone, it asks bench/run.sh to make one and run
# only this.  Knobs: BENCH_QUEUE_JOBS (30000 unbatched),
# BENCH_QUEUE_BATCHED_JOBS (300000), BENCH_QUEUE_BATCH, BENCH_QUEUE_CLIENTS,
# BENCH_ROUNDS, BENCH_LATENCY_SAMPLES (2000), BENCH_BLOAT_SECONDS,
# GRAPHILE_WORKER_VERSION (0.17.3, the last for Node 20), BENCH_NO_GRAPHILE=1.
set -euo pipefail

BENCH=$(cd "$(dirname "$0")" && pwd -P)
if [ -z "${CPUB_BENCH_CLUSTER:-}" ]; then
	exec "$BENCH/run.sh" queue
fi

PGBIN=/usr/lib/postgresql/15/bin
CLIENTS=${BENCH_QUEUE_CLIENTS:-2}
BATCH=${BENCH_QUEUE_BATCH:-100}
JOBS=${BENCH_QUEUE_JOBS:-30000}
BATCHED_JOBS=${BENCH_QUEUE_BATCHED_JOBS:-300000}
ROUNDS=${BENCH_ROUNDS:-3}
SAMPLES=${BENCH_LATENCY_SAMPLES:-2000}
BLOAT_SECONDS=${BENCH_BLOAT_SECONDS:-180}
GW_VERSION=${GRAPHILE_WORKER_VERSION:-0.17.3}
GW_DB=cpub_bench_graphile

# Notices (IF EXISTS, IF NOT EXISTS) are not figures.
export PGOPTIONS="${PGOPTIONS:-} -c client_min_messages=warning"

work=$(mktemp -d /tmp/cpub-bench-queue.XXXXXX)
holder_pid=
# shellcheck disable=SC2317  # called through trap
cleanup()
{
	if [ -n "$holder_pid" ]; then
		kill "$holder_pid" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT

psql_run()
{
	"$PGBIN/psql" -X -q -At -v ON_ERROR_STOP=1 "$@"
}

# median WORDS...: the median of numbers.
median()
{
	printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 }
		END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# field NAME LINE: the value of NAME=value in a line of key=value words.
field()
{
	tr ' ' '\n' <<<"$2" | sed -n "s/^$1=//p"
}

make -s -C "$BENCH" queue_bench >/dev/null

# fill N: N run jobs (straight into the table, as a restore would: the
# insert trigger keeps the queue's head), then a clean start.
fill()
{
	psql_run -v n="$1" >/dev/null <<'SQL'
DELETE FROM cpub.jobs;
DELETE FROM cpub.workers;
VACUUM cpub.jobs;
INSERT INTO cpub.jobs (kind, payload, priority)
SELECT 'run', jsonb_build_object('execution_id', gen_random_uuid()), 100
  FROM generate_series(1, :n);
VACUUM ANALYZE cpub.jobs;
CHECKPOINT;
SQL
}

# ours N ARGS...: fills N jobs, drains them with queue_bench ARGS, prints
# jobs/s; fails unless every job was completed.
ours()
{
	local n=$1 out left
	shift
	fill "$n"
	out=$("$BENCH/queue_bench" throughput -c "$CLIENTS" "$@") ||
		{ echo "bench: queue_bench $* failed" >&2; exit 1; }
	left=$(psql_run -c 'SELECT count(*) FROM cpub.jobs')
	if [ "$left" != 0 ] || [ "$(field jobs "$out")" != "$n" ]; then
		echo "bench: queue_bench $* left $left of $n jobs: $out" >&2
		exit 1
	fi
	field rate "$out"
}

# graphile N CONCURRENCY LOCAL_QUEUE BATCH_DELAY: the same through
# graphile-worker in CLIENTS Node processes, released together (they wait on
# a lock of its jobs table), prints jobs/s.
graphile()
{
	local n=$1 i first last total=0 line
	shift
	psql_run -d "$GW_DB" -v n="$n" >/dev/null <<'SQL'
DELETE FROM graphile_worker._private_jobs;
VACUUM graphile_worker._private_jobs;
SELECT count(*) FROM graphile_worker.add_jobs(ARRAY(
	SELECT ROW('noop', '{}', NULL, NULL, NULL, NULL, NULL, NULL)::graphile_worker.job_spec
	  FROM generate_series(1, :n)));
VACUUM ANALYZE graphile_worker._private_jobs;
CHECKPOINT;
SQL
	psql_run -d "$GW_DB" -c "BEGIN; LOCK TABLE graphile_worker._private_jobs IN SHARE MODE;
		SELECT pg_sleep(3); COMMIT;" >/dev/null &
	local gate=$! pids=()
	for ((i = 0; i < CLIENTS; i++)); do
		GW_DATABASE=$GW_DB node "$BENCH/graphile_bench.js" drain "$@" >"$work/gw$i" &
		pids+=($!)
	done
	for i in "${pids[@]}"; do
		wait "$i" || { echo "bench: graphile-worker drain failed" >&2; exit 1; }
	done
	wait "$gate" || true
	first=
	last=0
	for ((i = 0; i < CLIENTS; i++)); do
		line=$(cat "$work/gw$i")
		total=$((total + $(field jobs "$line")))
		first=$(awk -v a="${first:-$(field first_ms "$line")}" -v b="$(field first_ms "$line")" \
			'BEGIN { printf "%.3f", (a < b) ? a : b }')
		last=$(awk -v a="$last" -v b="$(field last_ms "$line")" \
			'BEGIN { printf "%.3f", (a > b) ? a : b }')
	done
	[ "$total" = "$n" ] ||
		{ echo "bench: graphile-worker completed $total of $n jobs" >&2; exit 1; }
	awk -v n="$n" -v f="$first" -v l="$last" 'BEGIN { printf "%.0f", n / ((l - f) / 1000) }'
}

# pgbench_update CLIENTS: tps of a one-row durable UPDATE (one row per
# client), 5 seconds.
pgbench_update()
{
	psql_run -c 'CREATE TABLE IF NOT EXISTS bench_anchor (id int PRIMARY KEY, v int)' \
		-c 'INSERT INTO bench_anchor SELECT g, 0 FROM generate_series(1, 64) g ON CONFLICT DO NOTHING'
	echo 'UPDATE bench_anchor SET v = v + 1 WHERE id = :client_id + 1;' >"$work/update.sql"
	"$PGBIN/pgbench" -n -M prepared -c "$1" -j "$1" -T 5 -f "$work/update.sql" 2>&1 |
		awk '/^tps = / { print $3; exit } /^latency average = / { lat = $4 } END { if (lat) print lat > "/dev/stderr" }'
}

# --- graphile-worker ------------------------------------------------------
gw=0
gw_note="skipped (BENCH_NO_GRAPHILE=1)"
if [ "${BENCH_NO_GRAPHILE:-0}" != 1 ]; then
	if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
		gw_note="skipped (no node or npm on this machine)"
	elif [ "$(node -p "require('$BENCH/node_modules/graphile-worker/package.json').version" 2>/dev/null)" != "$GW_VERSION" ] &&
		! (cd "$BENCH" && npm install --no-save --no-package-lock --no-audit --no-fund \
			--loglevel=error "graphile-worker@$GW_VERSION" >"$work/npm.log" 2>&1); then
		gw_note="skipped (npm install graphile-worker@$GW_VERSION failed: $(tail -n 1 "$work/npm.log"))"
	else
		"$PGBIN/dropdb" --if-exists "$GW_DB"
		"$PGBIN/createdb" "$GW_DB"
		GW_DATABASE=$GW_DB node "$BENCH/graphile_bench.js" migrate
		gw=1
		gw_note="graphile-worker $GW_VERSION on Node $(node --version)"
	fi
fi

# --- (c) throughput ---------------------------------------------------------
unbatched=()
unbatched2=()
batched=()
batched2=()
gw_unbatched=()
gw_batched=()
for ((r = 0; r < ROUNDS; r++)); do
	unbatched+=("$(ours "$JOBS" -b 1)")
	unbatched2+=("$(ours "$JOBS" -b 1 -s)")
	batched+=("$(ours "$BATCHED_JOBS" -b "$BATCH")")
	batched2+=("$(ours "$BATCHED_JOBS" -b "$BATCH" -s)")
	if [ "$gw" = 1 ]; then
		gw_unbatched+=("$(graphile "$JOBS" 1 -1 -1)")
		gw_batched+=("$(graphile "$BATCHED_JOBS" 24 500 0)")
	fi
done
anchor_tps=$(pgbench_update "$CLIENTS" 2>/dev/null)

per_core()
{
	awk -v r="$1" -v c="$(nproc)" 'BEGIN { printf "%.0f", r / c }'
}

echo "(c) job queue: claim+complete throughput, $CLIENTS workers, durable commits," \
	"medians of $ROUNDS rounds ($JOBS jobs unbatched, $BATCHED_JOBS batched)"
printf '    ours, unbatched, job_complete_and_claim (1 call, 1 commit per job): %6.0f jobs/s   goal >= 4000\n' \
	"$(median "${unbatched[@]}")"
printf '    ours, unbatched, job_claim + job_complete (2 calls, 2 commits):     %6.0f jobs/s\n' \
	"$(median "${unbatched2[@]}")"
printf '    ours, batched %d, job_complete_and_claim:                          %6.0f jobs/s   goal >= 30000\n' \
	"$BATCH" "$(median "${batched[@]}")"
printf '    ours, batched %d, job_claim + job_complete:                        %6.0f jobs/s\n' \
	"$BATCH" "$(median "${batched2[@]}")"
if [ "$gw" = 1 ]; then
	printf '    graphile-worker, unbatched (concurrency 1, get + complete):          %6.0f jobs/s   (%s/core; publishes ~2000/s per core)\n' \
		"$(median "${gw_unbatched[@]}")" "$(per_core "$(median "${gw_unbatched[@]}")")"
	printf '    graphile-worker, batched (concurrency 24, localQueue 500, batch 0):  %6.0f jobs/s\n' \
		"$(median "${gw_batched[@]}")"
fi
echo "    $gw_note"
printf '    anchor: pgbench one-row durable UPDATE, %d clients:                 %6.0f tps (one commit per job cannot beat it)\n' \
	"$CLIENTS" "$anchor_tps"
for ((r = 0; r < ROUNDS; r++)); do
	echo "    round $((r + 1)): ours ${unbatched[r]} / ${unbatched2[r]} / ${batched[r]} / ${batched2[r]}" \
		"${gw_unbatched[r]:+graphile-worker ${gw_unbatched[r]} / ${gw_batched[r]}}"
done

# --- (d) latency ------------------------------------------------------------
psql_run -c 'DELETE FROM cpub.jobs' -c 'DELETE FROM cpub.workers' -c 'VACUUM cpub.jobs' \
	-c 'CHECKPOINT'
lat=$("$BENCH/queue_bench" latency -n "$SAMPLES" -i 5)
gw_lat=
if [ "$gw" = 1 ]; then
	psql_run -d "$GW_DB" -c 'DELETE FROM graphile_worker._private_jobs' -c 'CHECKPOINT'
	gw_lat=$(GW_DATABASE=$GW_DB node "$BENCH/graphile_bench.js" latency "$SAMPLES" 5)
fi
anchor_lat=$(pgbench_update 1 2>&1 >/dev/null)
echo
echo "(d) enqueue -> claim latency, LISTEN/NOTIFY, $SAMPLES jobs one every 5 ms, durable commits"
printf '    ours:            p50 %6.2f ms   p90 %6.2f ms   p99 %6.2f ms   max %6.2f ms   goal p50 <= 1, p99 <= 5\n' \
	"$(field p50_ms "$lat")" "$(field p90_ms "$lat")" "$(field p99_ms "$lat")" "$(field max_ms "$lat")"
if [ -n "$gw_lat" ]; then
	printf '    graphile-worker: p50 %6.2f ms   p90 %6.2f ms   p99 %6.2f ms   max %6.2f ms   (add_job to task start)\n' \
		"$(field p50_ms "$gw_lat")" "$(field p90_ms "$gw_lat")" "$(field p99_ms "$gw_lat")" "$(field max_ms "$gw_lat")"
fi
printf '    ours, medians of its parts: the enqueue call %.2f ms (its commit included), the listener woken %.2f ms after the enqueue was sent, the claim call %.2f ms\n' \
	"$(field enqueue_p50_ms "$lat")" "$(field woken_p50_ms "$lat")" "$(field claim_p50_ms "$lat")"
printf '    anchor: one durable one-row UPDATE, 1 client: %.3f ms a round trip (the path has two commits)\n' \
	"$anchor_lat"

# --- (e) an open transaction ------------------------------------------------
# sizes: table and indexes of cpub.jobs, and the jobs left in it.
sizes()
{
	psql_run -F ' ' -c "SELECT round(pg_table_size('cpub.jobs') / 1048576.0) || '_MB',
		round(pg_indexes_size('cpub.jobs') / 1048576.0) || '_MB',
		(SELECT count(*) FROM cpub.jobs)"
}

# sustained SECONDS: an unbatched drain for SECONDS, its progress every
# SECONDS / 6; prints "rate r1 r2 ..." (overall, then per interval).
sustained()
{
	local out
	out=$("$BENCH/queue_bench" throughput -c "$CLIENTS" -b 1 -T "$1" \
		-P "$(awk -v s="$1" 'BEGIN { print s / 6 }')") ||
		{ echo "bench: sustained queue_bench failed" >&2; exit 1; }
	echo "$(field rate "$(tail -n 1 <<<"$out")")" \
		"$(grep '^progress' <<<"$out" | sed 's/.*rate=//' | tr '\n' ' ')"
}

base_seconds=$((BLOAT_SECONDS / 3))
fill $((base_seconds * 6000))
read -r base_rate base_series < <(sustained "$base_seconds")
fill $((BLOAT_SECONDS * 6000))
read -r before_table before_index before_left < <(sizes)
"$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 \
	-c "SET application_name = 'cpub_bench_snapshot'" \
	-c "BEGIN ISOLATION LEVEL REPEATABLE READ" \
	-c "SELECT count(*) FROM cpub.jobs" \
	-c "SELECT pg_sleep($BLOAT_SECONDS + 600)" >/dev/null 2>&1 &
holder_pid=$!
for _ in $(seq 1 100); do
	[ "$(psql_run -c "SELECT count(*) FROM pg_stat_activity
		WHERE application_name = 'cpub_bench_snapshot' AND backend_xmin IS NOT NULL")" = 1 ] && break
	sleep 0.1
done
read -r bloat_rate bloat_series < <(sustained "$BLOAT_SECONDS")
read -r after_table after_index after_left < <(sizes)
psql_run -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
	WHERE application_name = 'cpub_bench_snapshot'" >/dev/null
wait "$holder_pid" 2>/dev/null || true
holder_pid=
psql_run -c 'VACUUM cpub.jobs'
read -r vac_table vac_index _ < <(sizes)

echo
echo "(e) unbatched, sustained, with and without a REPEATABLE READ snapshot held open"
echo "    without, $base_seconds s: $base_rate jobs/s; per $(awk -v s="$base_seconds" 'BEGIN { printf "%.2g", s / 6 }') s: $base_series"
echo "    with, $BLOAT_SECONDS s:   $bloat_rate jobs/s; per $(awk -v s="$BLOAT_SECONDS" 'BEGIN { printf "%.2g", s / 6 }') s: $bloat_series"
echo "    cpub.jobs before:         table ${before_table/_/ }, indexes ${before_index/_/ } ($before_left jobs)"
echo "    after, snapshot held:     table ${after_table/_/ }, indexes ${after_index/_/ } ($after_left jobs left; VACUUM could remove no dead row)"
echo "    after VACUUM, released:   table ${vac_table/_/ }, indexes ${vac_index/_/ }"
