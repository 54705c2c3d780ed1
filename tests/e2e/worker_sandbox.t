#!/usr/bin/env bash
# tests/e2e/worker_sandbox.t: what a function's container may not do, and
# what happens when a function misbehaves, through the real stack (HTTP,
# the queue, cpub-worker, root Podman): no network, a read-only root with a
# writable /tmp, no capabilities, a non-root user in a user namespace, a
# fork bomb held by the pids limit, its own environment and files only; a
# timeout (504), a crash (502 58Q01), running out of memory (502 58Q02),
# each recorded on the execution, the container replaced and the function
# answering again afterwards.

# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib/http.sh"
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib/worker.sh"

db_create cpub_e2e_worker_sandbox || bail_out "could not create the database"
server_start api || bail_out "cpub-httpd did not start"
worker_start w1 || bail_out "cpub-worker did not start"
TOKEN=$(register_login ada@example.com) || bail_out "could not register"

mkdir -p "$WORK/probe" "$WORK/c"
cat >"$WORK/probe/main.py" <<'PY'
import ctypes
import json
import os
import socket
import time


def check(fn):
    try:
        return fn()
    except Exception as e:  # the refusal is the answer
        return "refused: %s" % type(e).__name__ + ": " + str(e)


def caps():
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs"):
                out[k] = v.strip()
    return out


def write(path):
    with open(path, "w") as f:
        f.write("x")
    return "written"


def forkbomb():
    made = 0
    for _ in range(500):
        try:
            pid = os.fork()
        except OSError as e:
            return {"forks": made, "stopped_by": e.strerror}
        if pid == 0:
            time.sleep(3)
            os._exit(0)
        made += 1
    return {"forks": made, "stopped_by": None}


def handle(request):
    what = request.path.strip("/")
    if what == "inside":
        return {
            "uid": os.getuid(), "gid": os.getgid(),
            "uid_map": open("/proc/self/uid_map").read().split(),
            "caps": caps(),
            "interfaces": [n for _, n in socket.if_nameindex()],
            "connect": check(lambda: socket.create_connection(("10.1.2.3", 80), timeout=2) and "connected"),
            "root_write": check(lambda: write("/fn/new-file")),
            "etc_write": check(lambda: write("/etc/new-file")),
            "tmp_write": check(lambda: write("/tmp/mark-" + os.environ.get("SECRET", "none"))),
            "tmp": sorted(os.listdir("/tmp")),
            "run_cpub": sorted(os.listdir("/run/cpub")),
            "secret": os.environ.get("SECRET"),
            "env_names": sorted(k for k in os.environ if k.startswith(("SECRET", "OTHER"))),
        }
    if what == "sleep":
        time.sleep(60)
    if what == "crash":
        ctypes.string_at(0)
    if what == "exit":
        os._exit(3)
    if what == "oom":
        hog = []
        while True:
            hog.append(bytearray(16 * 1024 * 1024))
    if what == "forkbomb":
        return forkbomb()
    return "ok\n"
PY

for f in probe other; do
	fn_create "$f" python '"memory_mb":64,"timeout_seconds":3,"visibility":"public"' >/dev/null ||
		bail_out "could not create $f"
done
req GET /api/functions/probe
OWNER=$(jqr .endpoint | cut -d/ -f3)
req POST /api/functions/probe/env -d '{"vars":{"SECRET":"probe-secret"}}'
expect 200 '.[0].name == "SECRET"' "probe: its SECRET set"
req POST /api/functions/other/env -d '{"vars":{"SECRET":"other-secret","OTHER":"x"}}'
for f in probe other; do
	v=$(deploy "$f" "$WORK/probe")
	st=$(wait_built "$f" "$v")
	tap_ok "$([ "$st" = ready ]; echo $?)" "$f: built ($st)"
done

call GET probe /inside
tap_ok "$([ "$STATUS" = 200 ]; echo $?)" "probe answers ($STATUS)" || diag "$BODY"
P=$BODY
call GET other /inside
O=$BODY

j() { jq -r "$1" <<<"$P"; }
tap_ok "$([ "$(j '.uid'):$(j '.gid')" = 65534:65534 ]; echo $?)" "runs as 65534:65534 ($(j '.uid'):$(j '.gid'))"
tap_ok "$([ "$(j '.uid_map[0]')" = 0 ] && [ "$(j '.uid_map[1]')" -ge 100000 ]; echo $?)" \
	"in a user namespace: uid 0 is host uid $(j '.uid_map[1]')"
tap_ok "$([ "$(j '.caps.CapEff')$(j '.caps.CapPrm')$(j '.caps.CapBnd')" = 000000000000000000000000000000000000000000000000 ]; echo $?)" \
	"no capabilities, not even in the bounding set ($(j '.caps.CapBnd'))"
tap_ok "$([ "$(j '.caps.NoNewPrivs')" = 1 ]; echo $?)" "no new privileges"
tap_ok "$([ "$(j '.interfaces | join(",")')" = lo ]; echo $?)" "no network interface but lo ($(j '.interfaces | join(",")'))"
tap_ok "$(j '.connect' | grep -q '^refused'; echo $?)" "a connection out fails: $(j '.connect')"
tap_ok "$(j '.root_write' | grep -q 'Read-only file system'; echo $?)" "the function's folder is read-only: $(j '.root_write')"
tap_ok "$(j '.etc_write' | grep -q 'Read-only file system'; echo $?)" "the root is read-only: $(j '.etc_write')"
tap_ok "$([ "$(j '.tmp_write')" = written ]; echo $?)" "/tmp is writable"
tap_ok "$([ "$(j '.secret')" = probe-secret ] && [ "$(jq -r .secret <<<"$O")" = other-secret ]; echo $?)" \
	"each function sees its own environment variable"
tap_ok "$([ "$(j '.env_names | join(",")')" = SECRET ]; echo $?)" "and none of the other's ($(j '.env_names | join(",")'))"
tap_ok "$([ "$(j '.run_cpub | join(",")')" = fn.sock ]; echo $?)" \
	"its /run/cpub holds only its socket: the environment file is gone ($(j '.run_cpub | join(",")'))"
tap_ok "$([ "$(jq -r '.tmp | join(",")' <<<"$O")" = mark-other-secret ]; echo $?)" \
	"the other function cannot see the first one's /tmp ($(jq -r '.tmp | join(",")' <<<"$O"))"
tap_ok "$(! podman inspect $(containers) --format '{{.Config.Env}}' | grep -q 'probe-secret'; echo $?)" \
	"the secret is not in podman inspect"

# Misbehaving.
call GET probe /forkbomb
tap_ok "$([ "$STATUS" = 200 ] && [ "$(jq -r .forks <<<"$BODY")" -lt 64 ]; echo $?)" \
	"a fork bomb is stopped by the pids limit: $BODY"
call GET probe /again
tap_ok "$([ "$STATUS" = 200 ]; echo $?)" "the function answers after the fork bomb ($STATUS)"

expect_failed()
{
	local path=$1 status=$2 code=$3 kind=$4 row
	call GET probe "$path"
	tap_ok "$([ "$STATUS" = "$status" ] && [ "$(jqr .error.code)" = "$code" ]; echo $?)" \
		"$path: $STATUS $(jqr .error.code) (want $status $code): $(jqr .error.message)" || diag "$BODY"
	row=$(q "SELECT e.status, e.error_kind, e.logs LIKE '%[cpub] ' || e.error_kind || '%'
			   FROM cpub.executions e JOIN cpub.functions f ON f.id = e.function_id
			  WHERE f.name = 'probe' AND e.request_path = '$path'")
	tap_ok "$([ "$row" = "failed|$kind|t" ]; echo $?)" "$path: the execution failed with $kind, said in its logs ($row)"
	call GET probe /after
	tap_ok "$([ "$STATUS" = 200 ]; echo $?)" "$path: the next call is answered by a new container ($STATUS)"
}
t0=$(now_ms)
expect_failed /sleep 504 57014 timeout
took=$(($(now_ms) - t0))
diag "the timeout case took $took ms (timeout 3 s)"
expect_failed /crash 502 58Q01 crash
expect_failed /exit 502 58Q01 crash
expect_failed /oom 502 58Q02 out_of_memory

worker_stop w1
tap_ok $? "the worker stops cleanly"
stop_cleanly api
done_testing
