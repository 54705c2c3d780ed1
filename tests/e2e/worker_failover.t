#!/usr/bin/env bash
# tests/e2e/worker_failover.t: workers that die, share a database, or are
# stopped with work in hand, through the real stack (HTTP, the queue,
# cpub-worker, root Podman).  A worker killed with SIGKILL in the middle of
# a call: a second worker finishes the call and removes the containers
# the dead one left (found by label).  Two workers on one database: 40
# concurrent calls all answered, each execution by one worker, no call run
# twice.  SIGTERM while a call runs (4 s, longer than worker_timeout,
# with another worker claiming meanwhile): the call is answered by that
# worker, not run again by the other, and the worker exits 0 with its
# containers gone.
#
# worker_timeout is 3 s here (30 s by default) and maintenance runs every
# 2 s, so that a dead worker is noticed in seconds.  Throughout, each
# worker's heartbeat (every second) reports its containers, as admins
# read them in cpub_admin.platform_load: the one running a call while it
# runs, and, once the calls are over, none running and every container it
# has warm.

# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib/http.sh"
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib/worker.sh"

db_create cpub_e2e_worker_failover || bail_out "could not create the database"
q "SELECT count(*) FROM cpub_admin.tier_update(name => 'free', requests_per_second => 1000)" >/dev/null ||
	bail_out "could not change the tier"
q "SELECT cpub_admin.setting_set('worker_timeout', '\"3 seconds\"'),
		  cpub_admin.setting_set('maintenance_interval', '\"2 seconds\"')" >/dev/null ||
	bail_out "could not change the settings"
INST=$(q "SELECT cpub_worker.installation_id()")
server_start api || bail_out "cpub-httpd did not start"
TOKEN=$(register_login ada@example.com) || bail_out "could not register"

# A function that sleeps as long as its path says, then answers with its
# container's random id and how many calls that container has served.
mkdir -p "$WORK/fn"
cat >"$WORK/fn/main.py" <<'PY'
import os
import time

ME = os.urandom(6).hex()
SERVED = 0


def handle(request):
    global SERVED
    SERVED += 1
    parts = request.path.strip("/").split("/")
    if parts[0] == "sleep":
        time.sleep(float(parts[1]))
    return "%s %d\n" % (ME, SERVED)
PY

# worker_containers WORKER_ID: this database's containers of that worker.
worker_containers()
{
	podman ps -a --format '{{.Names}}' --filter "label=cpub.installation=$INST" \
		--filter "label=cpub.worker=$1"
}

# reported WORKER_ID: "RUNNING WARM", the containers the worker's last
# heartbeat reported, as admins read them (null: not reported).
reported()
{
	q "SELECT coalesce(w->>'running_containers', 'null') || ' ' ||
			  coalesce(w->>'warm_containers', 'null')
		 FROM jsonb_array_elements(cpub_admin.platform_load()->'workers') w
		WHERE w->>'id' = '$1'"
}

# wait_reported WORKER_ID REGEX SECONDS: polls reported until it matches
# the extended REGEX, at most SECONDS; what it last read is in $got.
wait_reported()
{
	for _ in $(seq $(($3 * 10))); do
		got=$(reported "$1")
		[[ $got =~ $2 ]] && return 0
		sleep 0.1
	done
	return 1
}

# exec_row EXECUTION_ID COLUMNS: those columns of the execution.
exec_row()
{
	q "SELECT $2 FROM cpub.executions WHERE id = '$1'"
}

# wait_status EXECUTION_ID STATUS SECONDS: waits until the execution has
# that status.
wait_status()
{
	for _ in $(seq $(($3 * 10))); do
		[ "$(exec_row "$1" status)" = "$2" ] && return 0
		sleep 0.1
	done
	return 1
}

# --- SIGKILL in the middle of a call -------------------------------------------------

worker_start A || bail_out "worker A did not start"
A=$(worker_id A)
for f in slow share; do
	fn_create "$f" python '"visibility":"public","timeout_seconds":20,"max_concurrency":4' >/dev/null ||
		bail_out "could not create $f"
	v=$(deploy "$f" "$WORK/fn")
	st=$(wait_built "$f" "$v")
	tap_ok "$([ "$st" = ready ]; echo $?)" "$f: built by worker A ($st)"
done
req GET /api/functions/slow
OWNER=$(jqr .endpoint | cut -d/ -f3)

call POST slow "/sleep/3?async=1"
exec_id=$(jqr .execution_id)
tap_ok "$([ "$STATUS" = 202 ] && [ "$(header Location)" = "/api/invocations/$exec_id" ]; echo $?)" \
	"an async call: 202 with its execution id and Location" || diag "$STATUS $BODY"
wait_status "$exec_id" running 10
row=$(exec_row "$exec_id" "status, worker_id")
tap_ok "$([ "$row" = "running|$A" ]; echo $?)" "worker A runs it ($row)"
wait_reported "$A" '^[1-9][0-9]* [0-9]+$' 2
tap_ok $? "worker A's heartbeat reports the container running the call (running, warm: $got)"
sleep 1
orphans=$(worker_containers "$A")
worker_kill A
sleep 1
tap_ok "$([ -n "$orphans" ] && [ "$(worker_containers "$A")" = "$orphans" ]; echo $?)" \
	"worker A killed with SIGKILL; its containers are left: $(echo "$orphans" | tr '\n' ' ')"

t0=$(now_ms)
worker_start B || bail_out "worker B did not start"
B=$(worker_id B)
for _ in $(seq 300); do
	req GET "/api/invocations/$exec_id"
	[ "$(jqr .status)" = succeeded ] && break
	sleep 0.1
done
diag "finished $(($(now_ms) - t0)) ms after worker B started"
tap_ok "$([ "$STATUS" = 200 ] && [ "$(jqr .status)" = succeeded ] &&
	[ "$(jqr .response.status)" = 200 ] && [ -n "$(jqr .response.body)" ]; echo $?)" \
	"the call finished: $(jqr .status) $(jqr .response.status) $(jqr .response.body)" || diag "$STATUS $BODY"
row=$(exec_row "$exec_id" "status, worker_id")
tap_ok "$([ "$row" = "succeeded|$B" ]; echo $?)" "by worker B ($row, B is $B)"
t0=$(now_ms)
for _ in $(seq 150); do
	[ -z "$(worker_containers "$A")" ] && break
	sleep 0.1
done
left=$(worker_containers "$A")
tap_ok "$([ -z "$left" ]; echo $?)" \
	"worker B removed worker A's containers ($(($(now_ms) - t0)) ms later)" || diag "left: $left"
tap_ok "$(for c in $orphans; do grep -q "removing container $c of a worker that is gone" "$WORK/B.worker.log" || exit 1; done; echo 0)" \
	"worker B's log names each of them"

# --- two workers, one database -------------------------------------------------------

worker_start C || bail_out "worker C did not start"
C=$(worker_id C)
seq0=$(last_seq)
pids=()
for i in $(seq 40); do
	curl -sS --max-time 60 -o "$WORK/share.$i" -w '%{http_code}\n' \
		"$URL/fn/$OWNER/share/sleep/0.3" >"$WORK/share.$i.status" 2>&1 &
	pids+=($!)
done
wait "${pids[@]}"
statuses=$(cat "$WORK"/share.*.status | sort | uniq -c | tr -s ' ' | tr '\n' ' ')
tap_ok "$([ "$(cat "$WORK"/share.*.status | grep -c '^200$')" = 40 ]; echo $?)" \
	"40 concurrent calls on two workers: all 200 ($statuses)"
rows=$(q "SELECT count(*), count(*) FILTER (WHERE e.status = 'succeeded'),
				 count(*) FILTER (WHERE e.worker_id = '$B'),
				 count(*) FILTER (WHERE e.worker_id = '$C')
			FROM cpub.executions e JOIN cpub.functions f ON f.id = e.function_id
		   WHERE f.name = 'share' AND e.seq > $seq0")
IFS='|' read -r n_all n_ok n_b n_c <<<"$rows"
tap_ok "$([ "$n_all" = 40 ] && [ "$n_ok" = 40 ] && [ $((n_b + n_c)) = 40 ]; echo $?)" \
	"40 executions, all succeeded, each by worker B or C (B $n_b, C $n_c)"
tap_ok "$([ "$n_b" -gt 0 ] && [ "$n_c" -gt 0 ]; echo $?)" "both workers took some"
# Each container counts the calls it served: the answers must show every
# count of every container once (a call run twice would leave a count no
# caller saw) and add up to 40.
for i in $(seq 40); do cat "$WORK/share.$i"; done | sort -k1,1 -k2,2n >"$WORK/share.answers"
counts=$(awk '$2 != seen[$1] + 1 { bad = 1 } { seen[$1] = $2 }
			END { for (c in seen) sum += seen[c]; print (bad ? "gap" : "ok"), sum, length(seen) }' \
	"$WORK/share.answers")
tap_ok "$([ "$counts" = "ok 40 $(cut -d' ' -f1 "$WORK/share.answers" | sort -u | wc -l)" ]; echo $?)" \
	"no call ran twice: the containers' counts are 1..n each, adding up to 40 ($counts)" ||
	diag "$(cat "$WORK/share.answers")"
tap_ok "$(! grep -E 'run slot(:| lost)|could not record|declared stopped' "$WORK/B.worker.log" "$WORK/C.worker.log"; echo $?)" \
	"neither worker lost a job, or could not report one, or was declared stopped"
for w in B C; do
	id=$([ $w = B ] && echo "$B" || echo "$C")
	have=$(worker_containers "$id" | wc -l)
	wait_reported "$id" "^0 $have\$" 3
	tap_ok $? "calls over: worker $w reports no container running and its $have warm (running, warm: $got)"
done

# --- SIGTERM with a call in hand -----------------------------------------------------

seq0=$(last_seq)
req_bg term POST "/fn/$OWNER/slow/sleep/4" --max-time 60
exec_id=$(wait_execution "$(q "SELECT id FROM cpub.functions WHERE name = 'slow'")" "$seq0")
wait_status "$exec_id" running 20
holder=$(exec_row "$exec_id" worker_id)
name=$([ "$holder" = "$B" ] && echo B || echo C)
other=$([ "$name" = B ] && echo C || echo B)
mine=$(worker_containers "$holder")
tap_ok "$({ [ "$holder" = "$B" ] || [ "$holder" = "$C" ]; } && [ -n "$mine" ]; echo $?)" \
	"worker $name runs a 4 s call (its containers: $(echo "$mine" | tr '\n' ' '))"
sleep 0.5
t0=$(now_ms)
worker_stop "$name" 30
rc=$?
took=$(($(now_ms) - t0))
req_wait term
tap_ok "$([ "$STATUS" = 200 ]; echo $?)" "SIGTERM to worker $name: the call is still answered ($STATUS $BODY)"
row=$(exec_row "$exec_id" "status, worker_id")
tap_ok "$([ "$row" = "succeeded|$holder" ]; echo $?)" \
	"by worker $name, which held it (not run again by worker $other: $row)"
tap_ok "$([ $rc = 0 ]; echo $?)" "worker $name exits 0 ($rc) after $took ms" ||
	diag "$(tail -n 20 "$WORK/$name.worker.log")"
left=$(worker_containers "$holder")
tap_ok "$([ -z "$left" ]; echo $?)" "its containers are gone" || diag "left: $left"
call GET slow /after
tap_ok "$([ "$STATUS" = 200 ]; echo $?)" "worker $other answers the next call ($STATUS)"

worker_stop "$other"
tap_ok $? "worker $other stops cleanly"
left=$(containers "")
tap_ok "$([ -z "$left" ]; echo $?)" "no container is left" || diag "left: $left"
stop_cleanly api
done_testing
