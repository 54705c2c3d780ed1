#!/usr/bin/env bash
# tests/e2e/worker_runtimes.t: for each runtime (c, python, shell), a hello
# function deployed through the HTTP API, built by the real cpub-worker
# with Podman, invoked through HTTP (status, headers, body), its logs
# recorded; and the figures of a run (cold then warm, duration, memory).
# Real parts only: the test cluster, cpub-httpd, cpub-worker, root Podman.

# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib/http.sh"
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib/worker.sh"

db_create cpub_e2e_worker_runtimes || bail_out "could not create the database"
server_start api || bail_out "cpub-httpd did not start"
worker_start w1 || bail_out "cpub-worker did not start"

TOKEN=$(register_login ada@example.com) || bail_out "could not register"

SRC=$WORK/src
mkdir -p "$SRC/c" "$SRC/python" "$SRC/shell"
cat >"$SRC/c/hello.c" <<'C'
#include <stdio.h>
#include <string.h>
#include "cpub.h"

int
cpub_handle(const struct cpub_request *req, struct cpub_response *res)
{
	const char *who = cpub_request_header(req, "x-who");

	cpub_response_set_status(res, 201);
	cpub_response_set_header(res, "content-type", "text/plain");
	cpub_response_add_header(res, "x-hello", "c");
	cpub_response_printf(res, "hello %s from c: %s %s ?%s body=%.*s\n",
						 who ? who : "nobody", req->method, req->path,
						 req->query, (int) req->body_len, req->body);
	printf("stdout line from c\n");
	fflush(stdout);
	cpub_log("log line from c");
	return 0;
}
C
cat >"$SRC/python/main.py" <<'PY'
import sys


def handle(request):
    print("stdout line from python")
    print("log line from python", file=sys.stderr)
    who = request.headers.get("x-who", "nobody")
    body = "hello %s from python: %s %s ?%s body=%s\n" % (
        who, request.method, request.path, request.query, request.text)
    return 201, {"content-type": "text/plain", "x-hello": "python"}, body
PY
cat >"$SRC/shell/handler.sh" <<'SH'
#!/bin/sh
body=$(cat)
echo "stdout is the response; this goes to the log" >&2
echo "log line from shell" >&2
echo "Status: 201 Created"
echo "Content-Type: text/plain"
echo "X-Hello: shell"
echo
echo "hello ${HTTP_X_WHO:-nobody} from shell: $REQUEST_METHOD $PATH_INFO ?$QUERY_STRING body=$body"
SH
chmod +x "$SRC/shell/handler.sh"

for rt in c python shell; do
	id=$(fn_create "hello-$rt" "$rt" '"visibility":"public"')
	tap_ok $? "$rt: function created"
	req GET "/api/functions/hello-$rt"
	OWNER=$(jqr .endpoint | cut -d/ -f3)
	v=$(deploy "hello-$rt" "$SRC/$rt")
	tap_ok $? "$rt: deployed as version $v"
	t0=$(now_ms)
	st=$(wait_built "hello-$rt" "$v")
	diag "$rt: built in $(($(now_ms) - t0)) ms"
	tap_ok "$([ "$st" = ready ]; echo $?)" "$rt: version $v built: $st"
	if [ "$st" != ready ]; then
		req GET "/api/functions/hello-$rt/versions/$v/build-log"
		diag "$BODY"
		diag "$(tail -n 20 "$WORK/w1.worker.log")"
	fi
	req GET "/api/functions/hello-$rt"
	expect 200 ".active_version == $v and .status == \"active\"" "$rt: the version is active"
	for _ in $(seq 100); do
		[ -n "$(containers "$id")" ] && break
		sleep 0.1
	done
	tap_ok "$([ "$(containers "$id" | wc -l)" = 1 ]; echo $?)" "$rt: one container pre-warmed when it became active"

	call POST "hello-$rt" /some/path?x=1 -H 'X-Who: ada' --data-binary 'payload'
	tap_ok "$([ "$STATUS" = 201 ]; echo $?)" "$rt: the function's status, 201 ($STATUS)"
	tap_ok "$([ "$BODY" = "hello ada from $rt: POST /some/path ?x=1 body=payload" ]; echo $?)" \
		"$rt: the body names the method, path, query, header and body" ||
		diag "got: $STATUS $BODY"
	tap_ok "$([ "$(header x-hello)" = "$rt" ] && header content-type | grep -q '^text/plain'; echo $?)" \
		"$rt: the function's headers (x-hello, content-type)"
	exec_id=$(header X-Cpub-Execution-Id)
	logs=$(q "SELECT logs FROM cpub.executions WHERE id = '$exec_id'")
	tap_ok "$(grep -q "log line from $rt" <<<"$logs"; echo $?)" "$rt: its stderr is in the execution's logs" ||
		diag "logs: $logs"
	row=$(q "SELECT status, duration_ms > 0, memory_peak_kb > 0, response_status FROM cpub.executions WHERE id = '$exec_id'")
	tap_ok "$([ "$row" = "succeeded|t|t|201" ]; echo $?)" \
		"$rt: the execution succeeded with its duration and memory peak ($row)"

	# Warm: the same container answers again.
	call GET "hello-$rt" /again
	tap_ok "$([ "$STATUS" = 201 ] && grep -q "GET /again" <<<"$BODY"; echo $?)" "$rt: a second call answers ($STATUS)"
	exec_id=$(header X-Cpub-Execution-Id)
	tap_ok "$([ "$(q "SELECT cold_start FROM cpub.executions WHERE id = '$exec_id'")" = f ]; echo $?)" \
		"$rt: the second call was warm"
done

worker_stop w1
rc=$?
tap_ok $rc "the worker stops cleanly on SIGTERM (exit status $rc)"
left=$(containers)
tap_ok "$([ -z "$left" ]; echo $?)" "its containers are gone after it stopped" || diag "left: $left"

# A worker on a host without the image (several hosts, no registry)
# builds it there from the version's archive.
image=$(q "SELECT image FROM cpub.function_versions v JOIN cpub.functions f ON f.id = v.function_id
			WHERE f.name = 'hello-c'")
podman rmi -f "$image" >/dev/null 2>&1
tap_ok "$(! podman image exists "$image"; echo $?)" "the c image removed from this host"
worker_start w2 idle_timeout=2 || bail_out "the second worker did not start"
call GET hello-c /rebuilt
tap_ok "$([ "$STATUS" = 201 ] && grep -q "GET /rebuilt" <<<"$BODY"; echo $?)" \
	"a worker lacking the image rebuilds it from the archive and answers ($STATUS)" ||
	diag "$BODY $(tail -n 5 "$WORK/w2.worker.log")"
tap_ok "$(podman image exists "$image"; echo $?)" "the image is back"

# Scale to zero: a container idle past idle_timeout (2 s here) goes.
c_id=$(q "SELECT id FROM cpub.functions WHERE name = 'hello-c'")
before=$(containers "$c_id" | wc -l)
for _ in $(seq 80); do
	[ -z "$(containers "$c_id")" ] && break
	sleep 0.1
done
tap_ok "$([ "$before" -ge 1 ] && [ -z "$(containers "$c_id")" ]; echo $?)" \
	"an idle container is removed after idle_timeout ($before before, $(containers "$c_id" | wc -l) after)"
call GET hello-c /after-idle
tap_ok "$([ "$STATUS" = 201 ]; echo $?)" "and the next call starts one again ($STATUS)"
worker_stop w2
stop_cleanly api
done_testing
