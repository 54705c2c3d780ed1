#!/usr/bin/env bash
# tests/e2e/cli_init.t: the real cli/cpub's init, and the hello functions it
# writes run for real on the host, as tests/e2e/shim_runtimes.t runs
# functions: the C one built as the worker builds it (gcc -static with
# libcpub-shim.a, here with -Werror), the Python one under cpub_shim.py, the
# shell one under cpub-cgi and busybox sh, each called through its shim's
# socket by tests/unit/shim_call.  Also: the files and their modes, the
# manifest's settings, --json, and every error a user can hit (exit 2 for a
# bad runtime or name, 1 for a folder or file in the way, nothing written).
# Needs no database and no server.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd -P)
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib/tap.sh"

CPUB=$ROOT/cli/cpub
SHIM=$ROOT/worker/shim
PYSHIM=$ROOT/worker/runtimes/python/cpub_shim.py
CALL=$ROOT/tests/unit/shim_call
TMP=$(mktemp -d /tmp/cpub-cli-init.XXXXXX)
pids=()
export PYTHONDONTWRITEBYTECODE=1
export XDG_CONFIG_HOME=$TMP/config
unset CPUB_SERVER

# shellcheck disable=SC2317  # called through trap
cleanup()
{
	local p
	exec 2>/dev/null
	for p in "${pids[@]}"; do
		kill -KILL "$p" 2>/dev/null
	done
	wait 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT

[ -x "$CPUB" ] || bail_out "$CPUB is missing (make builds it)"
make -s -C "$SHIM" >"$TMP/build.log" 2>&1 &&
	make -s -C "$ROOT/tests/unit" shim_call >>"$TMP/build.log" 2>&1 ||
	{
		cat "$TMP/build.log"
		bail_out "could not build worker/shim or tests/unit/shim_call"
	}

# cpub ARGS...: runs cli/cpub in the current folder; OUT, ERR and RC.
cpub()
{
	OUT=$("$CPUB" "$@" 2>"$TMP/cpub.err" </dev/null)
	RC=$?
	ERR=$(cat "$TMP/cpub.err")
}

# start NAME DIR CMD...: CMD in DIR as a shim on $TMP/NAME.sock.
start()
{
	local name=$1 dir=$2
	shift 2
	(cd "$dir" && CPUB_SOCKET=$TMP/$name.sock exec "$@" 2>"$TMP/$name.err") &
	pids+=($!)
}

# call NAME ARGS...: one request to shim NAME; the response in $R/.
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

mkdir -p "$TMP/work"
cd "$TMP/work" || bail_out "no work folder"

# --- one hello per runtime ----------------------------------------------------
declare -A HANDLER=([c]=hello.c [python]=main.py [shell]=handler.sh)
for rt in c python shell; do
	name=hello-$rt
	cpub init --runtime "$rt" "$name"
	tap_ok "$RC" "$rt: cpub init --runtime $rt $name" || diag "$ERR"
	[ "$OUT" = "wrote the function folder of $name (runtime $rt) in $name:
  $name/cpub.json
  $name/${HANDLER[$rt]}
  $name/README.md
next: cd $name && cpub deploy" ]
	tap_ok $? "$rt: it says what it made and the next command" || diag "$OUT"
	[ "$(cd "$name" && find . -type f | sort | tr '\n' ' ')" = "./README.md ./cpub.json ./${HANDLER[$rt]} " ]
	tap_ok $? "$rt: cpub.json, ${HANDLER[$rt]} and README.md, nothing else"
	want_mode=644
	[ "$rt" = shell ] && want_mode=755
	[ "$(stat -c %a "$name/${HANDLER[$rt]}")" = "$want_mode" ]
	tap_ok $? "$rt: ${HANDLER[$rt]} has mode $want_mode"
	[ "$(jq -c . "$name/cpub.json")" = "{\"name\":\"$name\",\"runtime\":\"$rt\",\"memory_mb\":128,\"timeout_seconds\":10,\"max_concurrency\":4,\"visibility\":\"private\"}" ]
	tap_ok $? "$rt: cpub.json: the name, runtime and the server's default settings, by its names" ||
		diag "$(cat "$name/cpub.json")"
	grep -qx '    cpub deploy' "$name/README.md" &&
		grep -qxF "    cpub invoke $name --data '{\"who\": \"ada\"}'" "$name/README.md"
	tap_ok $? "$rt: README.md says how to deploy and call it"
done

# C: built as the worker builds it, warnings fatal here.
gcc -O2 -static -Wall -Wextra -Werror -I"$SHIM" -o "$TMP/hello-c.fn" \
	hello-c/hello.c "$SHIM/libcpub-shim.a" -lm >"$TMP/gcc.log" 2>&1
tap_ok $? "c: hello.c builds with the shim, without a warning" || diag "$(cat "$TMP/gcc.log")"
start c "$TMP/work/hello-c" "$TMP/hello-c.fn"
call c -X POST -p /x -d '{"who":"ada"}'
[ "$rc" = 0 ] && [ "$(cat "$R/status")" = 200 ] &&
	grep -qx 'content-type: text/plain; charset=utf-8' "$R/headers" &&
	[ "$(cat "$R/body")" = 'hello from hello-c: POST /x, 13 bytes: {"who":"ada"}' ] &&
	[ "$(cat "$R/logs")" = "answered POST /x" ]
tap_ok $? "c: it answers and logs" || diag "$(cat "$R/err" "$R/status" "$R/body" "$R/logs")"

# Python: under the runtime's shim.
start py "$TMP/work/hello-python" python3 -u "$PYSHIM"
call py -X POST -p /x -d '{"who":"ada"}'
[ "$rc" = 0 ] && [ "$(cat "$R/status")" = 200 ] &&
	grep -qx 'content-type: text/plain; charset=utf-8' "$R/headers" &&
	[ "$(cat "$R/body")" = 'hello from hello-python: POST /x, 13 bytes: {"who":"ada"}' ] &&
	[ "$(cat "$R/logs")" = "answering POST /x" ]
tap_ok $? "python: it answers and logs" || diag "$(cat "$R/err" "$R/status" "$R/body" "$R/logs" "$TMP/py.err")"

# Shell: cpub-cgi running it with busybox sh, as in the shell image.
SH=/bin/sh
[ -x /bin/busybox ] && SH="/bin/busybox sh"
# shellcheck disable=SC2086  # SH is a command and its argument
start sh "$TMP/work/hello-shell" "$SHIM/cpub-cgi" $SH "$TMP/work/hello-shell/handler.sh"
call sh -X POST -p /x -d '{"who":"ada"}'
[ "$rc" = 0 ] && [ "$(cat "$R/status")" = 200 ] &&
	grep -qix 'content-type: text/plain; charset=utf-8' "$R/headers" &&
	[ "$(cat "$R/body")" = 'hello from hello-shell: POST /x, 13 bytes: {"who":"ada"}' ] &&
	[ "$(cat "$R/logs")" = "answering POST /x" ]
tap_ok $? "shell: it answers and logs" || diag "$(cat "$R/err" "$R/status" "$R/headers" "$R/body" "$R/logs" "$TMP/sh.err")"

# --- --json, --quiet, the current folder, an empty folder ------------------------
cpub --json init -r python json-fn
[ "$RC" = 0 ] && [ "$(jq -c . <<<"$OUT")" = "{\"files\":[\"cpub.json\",\"main.py\",\"README.md\"],\"name\":\"json-fn\",\"path\":\"$TMP/work/json-fn\",\"runtime\":\"python\"}" ]
tap_ok $? "--json: the folder's path, name, runtime and files" || diag "$OUT"
cpub init -q quiet-fn
[ "$RC" = 0 ] && [ -z "$OUT" ] && [ -f quiet-fn/hello.c ]
tap_ok $? "--quiet: made, nothing said"

mkdir -p "$TMP/work/here-fn/.git" && cd "$TMP/work/here-fn" || bail_out "no here-fn"
cpub init
[ "$RC" = 0 ] && [ -f cpub.json ] && [ "$(jq -r .name cpub.json)" = here-fn ] &&
	[ "$OUT" = "wrote the function folder of here-fn (runtime c) in this folder:
  cpub.json
  hello.c
  README.md
next: cpub deploy" ]
tap_ok $? "no NAME: the current folder (a git clone, say) becomes the function, named after it" || diag "$OUT$ERR"
cpub init
[ "$RC" = 1 ] && [ "$ERR" = "cpub: cpub.json exists already: this folder is a function already" ]
tap_ok $? "again: exit 1, it is a function already" || diag "$RC $ERR"
cd "$TMP/work" || bail_out "no work folder"

mkdir -p readme-fn && echo "mine" >readme-fn/README.md && cd readme-fn || bail_out "no readme-fn"
cpub init -r shell
[ "$RC" = 1 ] && [ "$ERR" = "cpub: README.md exists already (cpub init never overwrites a file)" ] &&
	[ "$(ls)" = README.md ] && [ "$(cat README.md)" = mine ]
tap_ok $? "a README.md of its own: exit 1, nothing written, the file kept" || diag "$RC $ERR $(ls)"
cd "$TMP/work" || bail_out "no work folder"

mkdir empty-fn
cpub init empty-fn
[ "$RC" = 0 ] && [ -f empty-fn/cpub.json ]
tap_ok $? "NAME an empty folder: used"

# --- errors ----------------------------------------------------------------------
cpub init hello-c
[ "$RC" = 1 ] && [ "$ERR" = "cpub: the folder hello-c exists and is not empty
hint: choose another name, or run cpub init in it to make it the function" ]
tap_ok $? "NAME a folder that is not empty: exit 1" || diag "$RC $ERR"
[ "$(jq -r .runtime hello-c/cpub.json)" = c ] && [ -f hello-c/hello.c ]
tap_ok $? "  and what it holds is untouched"

touch a-file
cpub init a-file
[ "$RC" = 1 ] && [ "$ERR" = "cpub: a-file exists and is not a folder" ]
tap_ok $? "NAME a file: exit 1" || diag "$RC $ERR"

mkdir elsewhere && ln -s elsewhere link-fn
cpub init link-fn
[ "$RC" = 1 ] && [ "$ERR" = "cpub: link-fn is a symbolic link: cpub init never writes through one
hint: choose another name, or run cpub init in the folder it points to" ] &&
	[ -z "$(ls -A elsewhere)" ] && [ -L link-fn ]
tap_ok $? "NAME a symbolic link to an empty folder: exit 1, nothing written through it" || diag "$RC $ERR $(ls -A elsewhere)"
ln -s nowhere dangling-fn
cpub init dangling-fn
[ "$RC" = 1 ] && grep -q '^cpub: dangling-fn is a symbolic link' <<<"$ERR" && [ ! -e nowhere ]
tap_ok $? "NAME a dangling link: exit 1, nothing made where it points" || diag "$RC $ERR"

cpub init --runtime java j
[ "$RC" = 2 ] && [ "$ERR" = 'cpub: unknown runtime "java": c, python or shell
usage: cpub init [--runtime c|python|shell] [NAME] (cpub init --help tells more)' ] && [ ! -e j ]
tap_ok $? "an unknown runtime: usage, exit 2, nothing made" || diag "$RC $ERR"

cpub init Hello
[ "$RC" = 2 ] && [ "$(head -n 1 <<<"$ERR")" = 'cpub: invalid function name "Hello": A function name is 1 to 63 lowercase letters, digits, underscores or inner single hyphens, starting with a letter.' ] &&
	[ ! -e Hello ]
tap_ok $? "a bad name: the server's rule, exit 2, nothing made" || diag "$RC $ERR"

mkdir -p Not_A_Name && cd Not_A_Name || bail_out "no Not_A_Name"
cpub init
[ "$RC" = 2 ] && grep -q '^cpub: this folder.s name "Not_A_Name" is not a valid function name (give one: cpub init NAME): ' <<<"$ERR" &&
	[ -z "$(ls)" ]
tap_ok $? "no NAME in a folder whose name is not one: exit 2, says to give one" || diag "$RC $ERR"
cd "$TMP/work" || bail_out "no work folder"

cpub init a b
[ "$RC" = 2 ] && grep -q '^cpub: unexpected argument b' <<<"$ERR"
tap_ok $? "two names: usage, exit 2" || diag "$RC $ERR"

cpub help init
[ "$RC" = 0 ] && grep -q '^usage: cpub init \[--runtime c|python|shell\] \[NAME\]' <<<"$OUT"
tap_ok $? "cpub help init" || diag "$OUT"
cpub --help
grep -q '^  init \[--runtime c|python|shell\] \[NAME\]' <<<"$OUT"
tap_ok $? "init is in the list of commands" || diag "$OUT"

done_testing
