#!/usr/bin/env bash
# bench/shim.sh: request -> response round trips to each runtime's shim over
# a unix socket, on the host (no container yet); section (g) of
# bench/run.sh's output.
#
# bench/shim_rtt (built by bench/Makefile) starts a shim on a socket in a
# temporary folder and sends requests one after the other on one
# connection, each encoded and its response decoded as the worker will: a
# GET with a query and 3 headers, then a POST with a 64 KiB body; p50, p99
# and requests per second, with both processes pinned to one core, then to
# two.  The shims:
#   C       worker/shim/examples/hello (static; sets a header, prints a
#           greeting, logs a line), beside the floor: a bare process echoing
#           the same number of bytes over the same kind of socket
#   shell   worker/shim/cpub-cgi running a busybox sh script per request
#           (fork + exec of the script each time)
#   python  worker/runtimes/python/cpub_shim.py with a main.py that returns
#           a str and prints a line
# beside PLATFORM.md's anchor: 39 us for a request to a long-lived process
# in a container over a bind-mounted unix socket.
#
# Knobs: BENCH_SHIM_REQUESTS (20000, the C shim's), BENCH_SHIM_WARMUP (2000),
# BENCH_SHIM_CGI_REQUESTS (2000), BENCH_SHIM_PY_REQUESTS (10000).
# Needs no database: runs alone as well as from bench/run.sh.
set -euo pipefail

BENCH=$(cd "$(dirname "$0")" && pwd -P)
ROOT=$(dirname "$BENCH")
REQUESTS=${BENCH_SHIM_REQUESTS:-20000}
WARMUP=${BENCH_SHIM_WARMUP:-2000}
CGI_REQUESTS=${BENCH_SHIM_CGI_REQUESTS:-2000}
PY_REQUESTS=${BENCH_SHIM_PY_REQUESTS:-10000}

make -s -C "$ROOT/worker/shim" >/dev/null
make -s -C "$BENCH" shim_rtt >/dev/null

TMP=$(mktemp -d /tmp/cpub-bench-shim.XXXXXX)
trap 'rm -rf "$TMP"' EXIT

SH=/bin/sh
[ -x /bin/busybox ] && SH="/bin/busybox sh"
printf '#!%s\n%s\n' "$SH" \
	'printf "Content-Type: text/plain; charset=utf-8\n\nHello, world!\n"
echo "said hello ($REQUEST_METHOD $PATH_INFO)" >&2' >"$TMP/handler.sh"
chmod +x "$TMP/handler.sh"
cat >"$TMP/main.py" <<'EOF'
def handle(request):
    print("said hello (%s %s)" % (request.method, request.path))
    return "Hello, world!\n"
EOF

echo "(g) shims: request -> response over a unix socket, on the host (no container yet)"
echo "  anchor: 39 us, a request to a long-lived process in a container over a"
echo "  bind-mounted unix socket (PLATFORM.md); the container adds to our figures"
echo
echo "  C: worker/shim/examples/hello (static), $REQUESTS sequential requests after $WARMUP"
"$BENCH/shim_rtt" -f -n "$REQUESTS" -w "$WARMUP" "$ROOT/worker/shim/examples/hello"
echo
echo "  shell: cpub-cgi + a busybox sh script (fork + exec per request), $CGI_REQUESTS requests after $((CGI_REQUESTS / 10))"
"$BENCH/shim_rtt" -n "$CGI_REQUESTS" -w "$((CGI_REQUESTS / 10))" -d "$TMP" \
	"$ROOT/worker/shim/cpub-cgi" "$TMP/handler.sh"
echo
echo "  python: cpub_shim.py ($(python3 --version 2>&1)), $PY_REQUESTS requests after $((PY_REQUESTS / 10))"
"$BENCH/shim_rtt" -n "$PY_REQUESTS" -w "$((PY_REQUESTS / 10))" -d "$TMP" \
	python3 -u "$ROOT/worker/runtimes/python/cpub_shim.py"
