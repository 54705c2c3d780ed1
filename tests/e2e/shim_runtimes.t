#!/usr/bin/env bash
# tests/e2e/shim_runtimes.t: the three runtimes' shims, for real, on the host
# (no container): a C function built as the worker builds it
# (gcc -static with libcpub-shim.a), cpub-cgi running a busybox sh script,
# and cpub_shim.py under python3, each listening on a unix socket in a
# temporary folder and driven by tests/unit/shim_call, which speaks the
# frames as the worker does (docs/shim-protocol.md).
#
# Checked: status, headers, body bytes (NUL included) and logs; CGI's
# environment, stdin, header block, errors (x-cpub-error crash,
# out_of_memory, bad_response), exit statuses, background children; Python's
# request object, every form of return value, exceptions, an import error;
# logs capped keeping the last bytes; SIGTERM. Needs no database.
# KEEP_TMP=1 keeps the temporary folder (responses in r*/, the shims'
# stderr in *.err).
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd -P)
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib/tap.sh"

SHIM=$ROOT/worker/shim
PYSHIM=$ROOT/worker/runtimes/python/cpub_shim.py
CALL=$ROOT/tests/unit/shim_call
TMP=$(mktemp -d /tmp/cpub-shim-e2e.XXXXXX)
pids=()
export PYTHONDONTWRITEBYTECODE=1 # no __pycache__ in the source tree

# shellcheck disable=SC2317  # called through trap
cleanup()
{
	local p
	exec 2>/dev/null # no "Killed" for each shim left
	for p in "${pids[@]}"; do
		kill -KILL "$p" 2>/dev/null
	done
	wait 2>/dev/null
	[ -n "${KEEP_TMP:-}" ] || rm -rf "$TMP"
}
trap cleanup EXIT

make -s -C "$SHIM" >"$TMP/build.log" 2>&1 &&
	make -s -C "$ROOT/tests/unit" shim_call >>"$TMP/build.log" 2>&1 ||
	{
		cat "$TMP/build.log"
		bail_out "could not build worker/shim or tests/unit/shim_call"
	}

# start NAME DIR CMD...: runs CMD in DIR as a shim on $TMP/NAME.sock, its
# stderr (the container's) in $TMP/NAME.err; its pid in pid_NAME.
start()
{
	local name=$1 dir=$2
	shift 2
	(cd "$dir" && CPUB_SOCKET=$TMP/$name.sock exec "$@" 2>"$TMP/$name.err") &
	pids+=($!)
	printf -v "pid_$name" '%s' $!
}

# call NAME [shim_call options...]: one request to shim NAME; the response
# in the files of a fresh folder $R (status, headers, logs, body, err), the
# exit status of shim_call in $rc.
calls=0
call()
{
	local sock=$TMP/$1.sock
	shift
	calls=$((calls + 1))
	R=$TMP/r$calls
	mkdir -p "$R"
	"$CALL" -o "$R" -t 20 "$@" "$sock" 2>"$R/err"
	rc=$?
}

# stop NAME: SIGTERM, then the exit status in $rc.
stop()
{
	local p="pid_$1"
	kill -TERM "${!p}"
	wait "${!p}"
	rc=$?
}

has_header()
{
	grep -Fqx -- "$1" "$R/headers"
}

is_status()
{
	[ "$rc" = 0 ] && [ "$(cat "$R/status")" = "$1" ]
}

# dead PID: the process is gone (or a zombie), within 2 s.
dead()
{
	local i
	for i in $(seq 1 200); do
		if [ ! -e "/proc/$1" ] || grep -q ') Z ' "/proc/$1/stat" 2>/dev/null; then
			return 0
		fi
		sleep 0.01
	done
	return 1
}

# --- C: a function built the way the worker builds it ------------------------
mkdir -p "$TMP/cfn"
cat >"$TMP/cfn/handler.c" <<'EOF'
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include "cpub.h"

int
cpub_handle(const struct cpub_request *req, struct cpub_response *res)
{
	if (strcmp(req->path, "/crash") == 0)
		raise(SIGSEGV);
	if (strcmp(req->path, "/fail") == 0)
		return 1;
	cpub_response_set_status(res, 201);
	cpub_response_set_header(res, "content-type", "application/octet-stream");
	cpub_response_add_header(res, "x-query", req->query);
	cpub_response_write(res, req->body, req->body_len);
	printf("stdout %s\n", req->method);
	cpub_log("%zu bytes", req->body_len);
	return 0;
}
EOF
gcc -O2 -static -I"$SHIM" -o "$TMP/cfn/fn" "$TMP/cfn/handler.c" \
	"$SHIM/libcpub-shim.a" >"$TMP/cfn/build.log" 2>&1
tap_ok $? "a C function builds with gcc -O2 -static -I<shim> handler.c libcpub-shim.a"
file "$TMP/cfn/fn" 2>/dev/null | grep -q 'statically linked'
tap_ok $? "into a static binary"

printf 'bin\000ary\377\n' >"$TMP/bin.in"
start c "$TMP" "$TMP/cfn/fn"
call c -X PUT -q 'a=1&b=2' -f "$TMP/bin.in"
is_status 201 && has_header "content-type: application/octet-stream" &&
	has_header "x-query: a=1&b=2"
tap_ok $? "C: status and headers set by the handler" || diag "$(cat "$R/err" "$R/headers")"
cmp -s "$R/body" "$TMP/bin.in"
tap_ok $? "C: a body with NUL and 0xff bytes comes back byte for byte"
[ "$(cat "$R/logs")" = "stdout PUT
9 bytes" ]
tap_ok $? "C: stdout and stderr of the request are its logs, in order" || diag "$(cat "$R/logs")"
call c -p /fail
is_status 500 && [ ! -s "$R/body" ] && grep -q 'the handler returned 1: answering 500' "$R/logs"
tap_ok $? "C: a handler returning nonzero answers 500, and the logs say so"
# (bash says "Segmentation fault" when it reaps the shim: not here.)
exec 3>&2 2>/dev/null
call c -p /crash
wait "$pid_c"
c_status=$?
exec 2>&3 3>&-
[ "$rc" = 1 ] && grep -q 'connection closed' "$R/err"
tap_ok $? "C: a handler dying of SIGSEGV: the connection closes, no response" || diag "$(cat "$R/err")"
[ "$c_status" = $((128 + 11)) ] && grep -q 'cpub-shim: the function died of signal 11' "$TMP/c.err"
tap_ok $? "C: the process died of the signal, saying so on the container's stderr"

start hello "$TMP" "$SHIM/examples/hello"
call hello -q name=Ada
is_status 200 && [ "$(cat "$R/body")" = "Hello, Ada!" ] &&
	[ "$(cat "$R/logs")" = "said hello to Ada (GET /)" ]
tap_ok $? "C: examples/hello greets and logs" || diag "$(cat "$R/err" "$R/body" "$R/logs")"
stop hello
[ "$rc" = 0 ] && [ ! -e "$TMP/hello.sock" ]
tap_ok $? "C: SIGTERM: exit 0, the socket removed"

# --- shell: cpub-cgi and a busybox sh script ---------------------------------
SH=/bin/sh
[ -x /bin/busybox ] && SH="/bin/busybox sh"
mkdir -p "$TMP/sh"
cat >"$TMP/sh/handler.sh" <<EOF
#!$SH
EOF
cat >>"$TMP/sh/handler.sh" <<'EOF'
case "$PATH_INFO" in
/env)
	body=$(cat)
	echo "Status: 201 Created"
	echo "Content-Type: text/plain"
	echo "X-Test:   spaced value  "
	echo
	echo "method=$REQUEST_METHOD path=$PATH_INFO query=$QUERY_STRING"
	echo "length=$CONTENT_LENGTH type=$CONTENT_TYPE"
	echo "accept=$HTTP_ACCEPT multi=$HTTP_X_MULTI_WORD proxy=${HTTP_PROXY-unset}"
	echo "fn=$FN_VAR inherited_http=${HTTP_HOST_OF_CONTAINER-unset}"
	echo "body=$body"
	echo "to stderr" >&2
	;;
/crlf)
	printf 'Status: 200\r\nContent-Type: application/octet-stream\r\n\r\n'
	printf 'bin\000ary\377\n'
	;;
/echo)
	printf 'Content-Type: application/octet-stream\n\n'
	cat
	;;
/nostdin)
	printf 'Content-Type: text/plain\n\nignored the body\n'
	;;
/location)
	printf 'Location: /elsewhere\n\n'
	;;
/nohead)
	echo "just some text"
	;;
/nothing) ;;
/unfinished)
	printf 'Content-Type: text/plain\nX-Other: 1\n'
	;;
/badstatus)
	printf 'Status: 99 Low\n\n'
	;;
/exit3)
	printf 'Content-Type: text/plain\n\npartial but complete\n'
	exit 3
	;;
/exit3-nohead)
	echo "oops" >&2
	exit 3
	;;
/segv)
	echo "about to die" >&2
	kill -SEGV $$
	;;
/kill9)
	kill -KILL $$
	;;
/oom)
	echo "oom_kill 1" >"$CPUB_OOM_FILE"
	kill -KILL $$
	;;
/background)
	sleep 30 &
	echo $! >"$TEST_DIR/bg.pid"
	printf 'Content-Type: text/plain\n\nleft a child behind\n'
	;;
/loud)
	i=0
	while [ $i -lt 20000 ]; do
		echo "log line $i of 20000, some padding to make it longer" >&2
		i=$((i + 1))
	done
	printf 'Content-Type: text/plain\n\nloud\n'
	;;
/huge)
	printf 'Content-Type: text/plain\n\n'
	head -c 7000000 /dev/zero
	;;
esac
EOF
chmod +x "$TMP/sh/handler.sh"
printf 'oom_kill 0\n' >"$TMP/oom"
export TEST_DIR=$TMP
FN_VAR=fromenv HTTP_HOST_OF_CONTAINER=x CPUB_OOM_FILE=$TMP/oom \
	start cgi "$TMP/sh" "$SHIM/cpub-cgi" "$TMP/sh/handler.sh"

call cgi -X POST -p /env -q 'x=1&y=2' -H 'accept: text/a' -H 'accept: text/b' \
	-H 'x-multi-word: m' -H 'content-type: text/x-test' -H 'proxy: evil' -d 'hello body'
is_status 201 && has_header "Content-Type: text/plain" && has_header "X-Test: spaced value" &&
	! grep -qi '^status' "$R/headers"
tap_ok $? "CGI: Status sets the status; the other headers pass, trimmed" || diag "$(cat "$R/err" "$R/status" "$R/headers")"
[ "$(cat "$R/body")" = "method=POST path=/env query=x=1&y=2
length=10 type=text/x-test
accept=text/a, text/b multi=m proxy=unset
fn=fromenv inherited_http=unset
body=hello body" ]
tap_ok $? "CGI: REQUEST_METHOD, PATH_INFO, QUERY_STRING, CONTENT_*, HTTP_* (joined), the container's env, the body on stdin; no HTTP_PROXY" ||
	diag "$(cat "$R/body")"
[ "$(cat "$R/logs")" = "to stderr" ]
tap_ok $? "CGI: the script's stderr is the request's logs" || diag "$(cat "$R/logs")"

call cgi -p /crlf
is_status 200 && has_header "Content-Type: application/octet-stream" &&
	printf 'bin\000ary\377\n' | cmp -s - "$R/body"
tap_ok $? "CGI: CRLF header lines, a binary body byte for byte"

head -c 1048576 /dev/urandom >"$TMP/mib.in"
call cgi -X POST -p /echo -f "$TMP/mib.in"
is_status 200 && cmp -s "$R/body" "$TMP/mib.in"
tap_ok $? "CGI: a 1 MiB body through the script's stdin and back from its stdout" || diag "$(cat "$R/err")"
call cgi -X POST -p /nostdin -f "$TMP/mib.in"
is_status 200 && [ "$(cat "$R/body")" = "ignored the body" ]
tap_ok $? "CGI: a script that never reads a 1 MiB body still answers" || diag "$(cat "$R/err")"
call cgi -p /location
is_status 302 && has_header "Location: /elsewhere"
tap_ok $? "CGI: Location without Status: 302"

call cgi -p /exit3
is_status 200 && [ "$(cat "$R/body")" = "partial but complete" ] &&
	[ "$(cat "$R/logs")" = "cpub-cgi: exit status 3" ] && ! grep -q x-cpub-error "$R/headers"
tap_ok $? "CGI: exit status 3 after a complete response: the response, 'exit status 3' in the logs" ||
	diag "$(cat "$R/status" "$R/headers" "$R/logs")"

for case in nohead:"is not a header line" nothing:"wrote nothing" \
	unfinished:"no CGI header block" badstatus:"not a status from 100 to 599"; do
	path=${case%%:*}
	call cgi -p "/$path"
	is_status 500 && has_header "x-cpub-error: bad_response" && grep -q "${case#*:}" "$R/body" &&
		grep -q "${case#*:}" "$R/logs"
	tap_ok $? "CGI: /$path: x-cpub-error: bad_response ($(cat "$R/body"))"
done
call cgi -p /exit3-nohead
is_status 500 && has_header "x-cpub-error: bad_response" && grep -q '(exit status 3)$' "$R/body" &&
	grep -q '^oops$' "$R/logs"
tap_ok $? "CGI: no response and exit 3: bad_response saying the exit status, stderr kept" ||
	diag "$(cat "$R/body" "$R/logs")"
call cgi -p /huge
is_status 500 && has_header "x-cpub-error: bad_response" && grep -q 'over the size limit' "$R/body"
tap_ok $? "CGI: 7 MB of output, over the caps: bad_response" || diag "$(cat "$R/err" "$R/body")"

call cgi -p /segv
is_status 500 && has_header "x-cpub-error: crash" && [ "$(cat "$R/body")" = "killed by signal 11" ] &&
	grep -q '^about to die$' "$R/logs"
tap_ok $? "CGI: killed by SIGSEGV: x-cpub-error: crash, 'killed by signal 11', its logs kept" ||
	diag "$(cat "$R/headers" "$R/body" "$R/logs")"
call cgi -p /kill9
is_status 500 && has_header "x-cpub-error: crash" && [ "$(cat "$R/body")" = "killed by signal 9" ]
tap_ok $? "CGI: SIGKILL with the OOM counter unchanged: crash" || diag "$(cat "$R/headers" "$R/body")"
call cgi -p /oom
is_status 500 && has_header "x-cpub-error: out_of_memory" && [ "$(cat "$R/body")" = "killed by signal 9" ]
tap_ok $? "CGI: SIGKILL while the cgroup's oom_kill counter went up: out_of_memory" ||
	diag "$(cat "$R/headers" "$R/body")"

call cgi -p /background
bg=$(cat "$TMP/bg.pid" 2>/dev/null)
is_status 200 && [ "$(cat "$R/body")" = "left a child behind" ]
tap_ok $? "CGI: a script leaving a child that holds its stdout answers at once (no 30 s wait)" ||
	diag "$(cat "$R/err")"
[ -n "$bg" ] && dead "$bg"
tap_ok $? "CGI: and that child was killed with the script's process group"

call cgi -p /loud
is_status 200 && [ "$(wc -c <"$R/logs")" = 262144 ] && head -n 1 "$R/logs" | grep -q '^\[cpub: [0-9]* earlier bytes of output dropped\]$' &&
	[ "$(tail -n 1 "$R/logs")" = "log line 19999 of 20000, some padding to make it longer" ]
tap_ok $? "CGI: 1 MB on stderr: logs of 256 KiB, the last bytes, after the 'dropped' line" ||
	diag "$(wc -c <"$R/logs"; head -n 1 "$R/logs"; tail -n 1 "$R/logs")"

call cgi -p /crlf -n 5
is_status 200 && [ ! -s "$R/logs" ]
tap_ok $? "CGI: five requests on one connection, the last with logs of its own (none)"
stop cgi
[ "$rc" = 0 ] && [ ! -e "$TMP/cgi.sock" ] && [ ! -s "$TMP/cgi.err" ]
tap_ok $? "CGI: SIGTERM: exit 0, the socket removed, nothing on the container's stderr" || diag "$(cat "$TMP/cgi.err")"

# --- Python: cpub_shim.py -----------------------------------------------------
mkdir -p "$TMP/py" "$TMP/pybad" "$TMP/pynohandle"
cat >"$TMP/py/main.py" <<'EOF'
import os
import subprocess
import sys
import time

print("imported main")


class Opaque:
    pass


def handle(request):
    p = request.path
    if p == "/request":
        return {
            "method": request.method,
            "path": request.path,
            "query": request.query,
            "headers": request.headers,
            "header_list": request.header_list,
            "body_hex": request.body.hex(),
            "text": request.text,
            "json": request.json() if request.headers.get("content-type") == "application/json" else None,
        }
    if p == "/str":
        return "plain text é"
    if p == "/bytes":
        return b"\x00\x01\xffbytes"
    if p == "/none":
        return None
    if p == "/list":
        return [1, "two", None]
    if p == "/tuple":
        return (201, {"x-made": "yes", "set-cookie": "a=1"}, "created")
    if p == "/tuple-list":
        return (202, [("set-cookie", "a=1"), ("set-cookie", "b=2")], b"\x00")
    if p == "/pair":
        return (418, {"teapot": True})
    if p == "/raise":
        raise ValueError("boom in handle")
    if p == "/opaque":
        return Opaque()
    if p == "/badheader":
        return (200, {"x-bad": "a\r\nb"}, "x")
    if p == "/logs":
        print("print line")
        sys.stdout.flush()
        os.write(2, b"fd 2 line\n")
        subprocess.run(["echo", "child line"], check=True)
        print("stderr line", file=sys.stderr)
        return "logged"
    if p == "/loud":
        for i in range(20000):
            print("log line %d of 20000, some padding to make it longer" % i)
        return "loud"
    if p == "/slow":
        open(os.environ["TEST_DIR"] + "/slow.started", "w").close()
        time.sleep(1)
        return "finished"
    return (404, "no such path")
EOF
cat >"$TMP/pybad/main.py" <<'EOF'
print("importing the bad main")
import nonexistent_module_xyz  # noqa: F401
EOF
cat >"$TMP/pynohandle/main.py" <<'EOF'
def handel(request):
    return "typo"
EOF
start py "$TMP/py" python3 -u "$PYSHIM"

# The Python frames are frame.c's: the documented example, both ways.
PYTHONPATH=$(dirname "$PYSHIM") python3 - <<'EOF'
import sys
import cpub_shim as c
L = c.DEFAULT_LIMITS
req = bytes.fromhex("4350015100 00001e 00000003 474554 00000001 2f 00000003 613d31 00000000 00000003 680069".replace(" ", ""))
res = bytes.fromhex("4350015200 00001e 000000c8 00000001 00000001 61 00000001 62 00000002 6c0a 00000002 6f6b".replace(" ", ""))
ok = (c.encode_request(b"GET", b"/", b"a=1", [], b"h\x00i", L) == req
      and c.encode_response(200, [(b"a", b"b")], b"l\n", b"ok", L) == res
      and c.decode_request_payload(req[8:], L) == (b"GET", b"/", b"a=1", [], b"h\x00i")
      and c.decode_response_payload(res[8:], L) == (200, [(b"a", b"b")], b"l\n", b"ok")
      and c.check_head(req[:8], c.KIND_REQUEST, L) == 30)
for bad, err in ((b"GP" + req[2:8], c.EMAGIC), (req[:2] + b"\x02" + req[3:8], c.EVERSION),
                 (res[:8], c.EKIND), (req[:4] + b"\xff\xff\xff\xff", c.ETOOBIG)):
    try:
        c.check_head(bad, c.KIND_REQUEST, L)
        ok = False
    except c.FrameError as e:
        ok = ok and str(e) == err
for payload, err in ((req[8:] + b"x", c.ETRAILING), (req[8:-1], c.EFIELD)):
    try:
        c.decode_request_payload(payload, L)
        ok = False
    except c.FrameError as e:
        ok = ok and str(e) == err
sys.exit(0 if ok else 1)
EOF
tap_ok $? "Python: the frames of docs/shim-protocol.md's example encode and decode to the same bytes, malformed heads and payloads refused with frame.c's errors"

call py -X POST -p /request -q 'a=1&b=%20' -H 'accept: x/a' -H 'Accept: x/b' \
	-H 'content-type: application/json' -d '{"k": [1, "é"]}'
is_status 200 && has_header "content-type: application/json" &&
	python3 - "$R/body" <<'EOF'
import json, sys
b = json.load(open(sys.argv[1]))
want = {
    "method": "POST", "path": "/request", "query": "a=1&b=%20",
    "headers": {"accept": "x/a, x/b", "content-type": "application/json"},
    "header_list": [["accept", "x/a"], ["Accept", "x/b"], ["content-type", "application/json"]],
    "body_hex": '{"k": [1, "é"]}'.encode().hex(),
    "text": '{"k": [1, "é"]}',
    "json": {"k": [1, "é"]},
}
sys.exit(0 if b == want else print(b) or 1)
EOF
tap_ok $? "Python: request.method, path, query, headers (joined), header_list, body, text, json(); a dict answers 200 JSON" ||
	diag "$(cat "$R/err" "$R/body")"
call py -p /str
is_status 200 && has_header "content-type: text/plain; charset=utf-8" && [ "$(cat "$R/body")" = "plain text é" ]
tap_ok $? "Python: a str: 200 text/plain; charset=utf-8, UTF-8 encoded"
call py -p /bytes
is_status 200 && has_header "content-type: application/octet-stream" &&
	printf '\000\001\377bytes' | cmp -s - "$R/body"
tap_ok $? "Python: bytes: 200 application/octet-stream, byte for byte"
call py -p /none
is_status 204 && [ ! -s "$R/body" ] && [ ! -s "$R/headers" ]
tap_ok $? "Python: None: 204, no body"
call py -p /list
is_status 200 && has_header "content-type: application/json" && [ "$(cat "$R/body")" = '[1, "two", null]' ]
tap_ok $? "Python: a list: 200 JSON"
call py -p /tuple
is_status 201 && has_header "x-made: yes" && has_header "set-cookie: a=1" &&
	has_header "content-type: text/plain; charset=utf-8" && [ "$(cat "$R/body")" = created ]
tap_ok $? "Python: (status, headers dict, str): all of it, content-type from the body" || diag "$(cat "$R/headers")"
call py -p /tuple-list
is_status 202 && [ "$(grep -c '^set-cookie: ' "$R/headers")" = 2 ] &&
	printf '\000' | cmp -s - "$R/body"
tap_ok $? "Python: (status, list of pairs, bytes): repeated headers kept"
call py -p /pair
is_status 418 && [ "$(cat "$R/body")" = '{"teapot": true}' ]
tap_ok $? "Python: (status, body)"
call py -p /raise
is_status 500 && [ "$(cat "$R/body")" = "internal error" ] &&
	grep -q '^Traceback' "$R/logs" && grep -q 'main.py", line [0-9]*, in handle' "$R/logs" &&
	grep -q '^ValueError: boom in handle$' "$R/logs" && ! grep -q 'cpub_shim.py' "$R/logs"
tap_ok $? "Python: an exception: 500 'internal error', the function's traceback in the logs" || diag "$(cat "$R/logs")"
call py -p /opaque
is_status 500 && [ ! -s "$R/body" ] && grep -q 'cpub: handle returned a Opaque' "$R/logs"
tap_ok $? "Python: an unsupported return value: 500, the logs say why" || diag "$(cat "$R/logs")"
call py -p /badheader
is_status 500 && grep -q 'x-bad has control characters' "$R/logs"
tap_ok $? "Python: a header value with CR LF is refused: 500" || diag "$(cat "$R/logs")"
call py -p /logs
is_status 200 && [ "$(cat "$R/logs")" = "print line
fd 2 line
child line
stderr line" ]
tap_ok $? "Python: print, os.write on fd 2, a child process and sys.stderr: the logs, in order" || diag "$(cat "$R/logs")"
call py -p /loud
is_status 200 && [ "$(wc -c <"$R/logs")" = 262144 ] &&
	head -n 1 "$R/logs" | grep -q '^\[cpub: [0-9]* earlier bytes of output dropped\]$' &&
	[ "$(tail -n 1 "$R/logs")" = "log line 19999 of 20000, some padding to make it longer" ]
tap_ok $? "Python: 1 MB printed: logs of 256 KiB, the last bytes, after the 'dropped' line" ||
	diag "$(wc -c <"$R/logs"; head -n 1 "$R/logs")"
grep -q '^imported main$' "$TMP/py.err" && ! grep -rq 'imported main' "$TMP"/r*/logs
tap_ok $? "Python: output at import goes to the container's stderr, not to a request's logs"

# SIGTERM while a request runs: answered first, then exit 0.
rm -f "$TMP/slow.started"
"$CALL" -o "$TMP/slow" -t 20 -p /slow "$TMP/py.sock" 2>/dev/null &
slow_call=$!
mkdir -p "$TMP/slow"
for i in $(seq 1 500); do
	[ -e "$TMP/slow.started" ] && break
	sleep 0.01
done
kill -TERM "$pid_py"
wait "$slow_call"
[ $? = 0 ] && [ "$(cat "$TMP/slow/body")" = finished ]
tap_ok $? "Python: SIGTERM mid-request: the request in hand is answered"
for i in $(seq 1 500); do
	kill -0 "$pid_py" 2>/dev/null || break
	sleep 0.01
done
! kill -0 "$pid_py" 2>/dev/null && [ ! -e "$TMP/py.sock" ]
tap_ok $? "Python: then the shim exits and removes its socket"

start pybad "$TMP/pybad" python3 -u "$PYSHIM"
call pybad -p /anything
is_status 500 && has_header "x-cpub-error: crash" &&
	[ "$(cat "$R/body")" = "could not import main: ModuleNotFoundError: No module named 'nonexistent_module_xyz'" ]
tap_ok $? "Python: main fails to import: every request gets x-cpub-error: crash and the error" ||
	diag "$(cat "$R/err" "$R/headers" "$R/body")"
grep -q '^Traceback' "$R/logs" && grep -q 'import nonexistent_module_xyz' "$R/logs"
tap_ok $? "Python: with the traceback as the logs"
call pybad -p /again
has_header "x-cpub-error: crash"
tap_ok $? "Python: the shim keeps answering after that"
grep -q '^importing the bad main$' "$TMP/pybad.err" && grep -q 'cpub-shim: could not import main' "$TMP/pybad.err" &&
	grep -q "ModuleNotFoundError" "$TMP/pybad.err"
tap_ok $? "Python: the container's stderr has the import's output and the traceback" || diag "$(cat "$TMP/pybad.err")"

start pynohandle "$TMP/pynohandle" python3 -u "$PYSHIM"
call pynohandle
is_status 500 && has_header "x-cpub-error: crash" && grep -q 'main has no function handle' "$R/body"
tap_ok $? "Python: a main without handle: crash, saying so" || diag "$(cat "$R/body")"

# A malformed frame: the connection is closed, the shim serves the next one.
python3 - "$TMP/pynohandle.sock" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(b"GET / HTTP/1.1\r\n\r\n")
s.settimeout(10)
try:
    got = s.recv(100)
except ConnectionResetError:  # closed with the request unread
    got = b""
sys.exit(0 if got == b"" else 1)
EOF
[ $? = 0 ]
tap_ok $? "Python: an HTTP request instead of a frame: the connection is closed"
call pynohandle
has_header "x-cpub-error: crash"
tap_ok $? "Python: and the next connection is served"

done_testing
