#!/usr/bin/env bash
# tests/e2e/worker_deploys.t: what deploys do to a function's service,
# through the real stack (HTTP, the queue, cpub-worker, root Podman).
# A redeploy and a rollback switch versions without a failed call: calls
# made all the while are answered 200 by one version or the other, calls
# after each switch by the new one, and the old version's containers are
# drained.  A build that fails (a compile error) leaves the active version
# serving, with the compiler's error in the build log; a compile error
# shows nothing of the host's files.  Malicious archives (a path leaving
# the folder, an absolute path, symbolic and hard links, a compression
# bomb) and an archive without the runtime's entry point are refused with
# a failed version naming the rule, and nothing is written outside the
# build folder.

# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib/http.sh"
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib/worker.sh"

db_create cpub_e2e_worker_deploys || bail_out "could not create the database"
# The loops below call faster than the free tier's 10 a second.
q "SELECT count(*) FROM cpub_admin.tier_update(name => 'free', requests_per_second => 1000)" >/dev/null
server_start api || bail_out "cpub-httpd did not start"
worker_start w1 || bail_out "cpub-worker did not start"
TOKEN=$(register_login ada@example.com) || bail_out "could not register"

# A version's containers on this host: names cpub-<function>-v<N>-<random>.
version_containers()
{
	containers "$1" | grep -- "-v$2-"
}

# drained FUNCTION_ID VERSION DESC: passes when no container of that
# version is left within 10 s.
drained()
{
	local t0 left
	t0=$(now_ms)
	for _ in $(seq 100); do
		left=$(version_containers "$1" "$2")
		[ -z "$left" ] && break
		sleep 0.1
	done
	tap_ok "$([ -z "$left" ]; echo $?)" "$3 (after $(($(now_ms) - t0)) ms)" ||
		diag "left: $left"
}

# answers NAME WANT DESC: five calls in a row, each 200 with body WANT.
answers()
{
	local got=""
	for _ in 1 2 3 4 5; do
		call GET "$1"
		got="$got $STATUS:$BODY"
	done
	tap_ok "$([ "$got" = "$(printf " 200:$2%.0s" 1 2 3 4 5)" ]; echo $?)" "$3" || diag "got:$got"
}

# version_field NAME VERSION FIELD: a field of the version in the list.
version_field()
{
	req GET "/api/functions/$1/versions"
	jqr ".[] | select(.version == $2) | .$3"
}

# --- switching versions under calls --------------------------------------------------

SRC=$WORK/src
mkdir -p "$SRC/ver"
ver_source()
{
	cat >"$SRC/ver/handler.sh" <<SH
#!/bin/sh
echo "Content-Type: text/plain"
echo
printf '%s' "$1"
SH
	chmod +x "$SRC/ver/handler.sh"
}

ver_id=$(fn_create ver shell '"visibility":"public"') || bail_out "could not create ver"
req GET /api/functions/ver
OWNER=$(jqr .endpoint | cut -d/ -f3)
ver_source v1
v=$(deploy ver "$SRC/ver")
st=$(wait_built ver "$v")
tap_ok "$([ "$v" = 1 ] && [ "$st" = ready ]; echo $?)" "ver: version 1 built ($v $st)"
answers ver v1 "ver: version 1 answers"

# Two loops of calls, each recording "BODY STATUS" per call, until the
# stop file appears (or the test ends).
call_loop()
{
	local out=$1
	while [ -d "$WORK" ] && [ ! -e "$WORK/stop-loops" ]; do
		curl -sS --max-time 30 -w ' %{http_code}\n' "$URL/fn/$OWNER/ver" >>"$out" 2>>"$out.err" ||
			echo " curl-failed" >>"$out"
	done
}
rm -f "$WORK/stop-loops"
call_loop "$WORK/loop1" &
loop1=$!
call_loop "$WORK/loop2" &
loop2=$!
CLEANUP_HOOKS+=("kill $loop1 $loop2 2>/dev/null")
sleep 1

ver_source v2
v=$(deploy ver "$SRC/ver")
st=$(wait_built ver "$v")
req GET /api/functions/ver
tap_ok "$([ "$st" = ready ] && [ "$(jqr .active_version)" = 2 ]; echo $?)" \
	"ver: version 2 built and active under calls ($st, active $(jqr .active_version))"
answers ver v2 "ver: calls after the deploy are answered by version 2"
drained "$ver_id" 1 "ver: version 1's containers drained after the deploy"
sleep 1

req POST /api/functions/ver/rollback -d '{"version":1}'
expect 200 '.version == 1 and .active == true' "ver: rolled back to version 1"
answers ver v1 "ver: calls after the rollback are answered by version 1"
drained "$ver_id" 2 "ver: version 2's containers drained after the rollback"
sleep 1

ver_source v3
v=$(deploy ver "$SRC/ver")
st=$(wait_built ver "$v")
req GET /api/functions/ver
tap_ok "$([ "$v" = 3 ] && [ "$st" = ready ] && [ "$(jqr .active_version)" = 3 ]; echo $?)" \
	"ver: version 3 built and active under calls ($v $st, active $(jqr .active_version))"
answers ver v3 "ver: calls after the redeploy are answered by version 3"
drained "$ver_id" 1 "ver: version 1's containers drained after the redeploy"
sleep 1

touch "$WORK/stop-loops"
wait "$loop1" "$loop2"
cat "$WORK/loop1" "$WORK/loop2" >"$WORK/loops"
total=$(wc -l <"$WORK/loops")
bad=$(grep -cvE '^v[123] 200$' "$WORK/loops")
diag "the loops made $total calls: $(sort "$WORK/loops" | uniq -c | tr '\n' ' ')"
tap_ok "$([ "$total" -ge 100 ] && [ "$bad" = 0 ]; echo $?)" \
	"ver: every one of $total calls during the switches got 200 from version 1, 2 or 3 ($bad did not)" ||
	diag "$(grep -vE '^v[123] 200$' "$WORK/loops" | sort | uniq -c | head -n 10) $(head -c 500 "$WORK/loop1.err" "$WORK/loop2.err")"
tap_ok "$(for x in v1 v2 v3; do grep -q "^$x 200$" "$WORK/loops" || exit 1; done; echo 0)" \
	"ver: the loops saw each of the three versions (they ran across the switches)"
# Version 1 answered before version 2 and again between 2 and 3, in order.
tap_ok "$(uniq <(cut -d' ' -f1 "$WORK/loop1") | tr '\n' ' ' | grep -qx 'v1 v2 v1 v3 '; echo $?)" \
	"ver: one loop saw the versions switch in order v1 v2 v1 v3 ($(uniq <(cut -d' ' -f1 "$WORK/loop1") | tr '\n' ' '))"

# --- a build that fails ---------------------------------------------------------------

mkdir -p "$SRC/c1" "$SRC/c2" "$SRC/c3"
cat >"$SRC/c1/answer.c" <<'C'
#include "cpub.h"

int
cpub_handle(const struct cpub_request *req, struct cpub_response *res)
{
	(void) req;
	cpub_response_printf(res, "c v1");
	return 0;
}
C
cat >"$SRC/c2/broken.c" <<'C'
#include "cpub.h"

int
cpub_handle(const struct cpub_request *req, struct cpub_response *res)
{
	this is not C at all
	return 0;
}
C
cfn_id=$(fn_create cfn c '"visibility":"public"') || bail_out "could not create cfn"
v=$(deploy cfn "$SRC/c1")
st=$(wait_built cfn "$v")
tap_ok "$([ "$st" = ready ]; echo $?)" "cfn: version 1 built ($st)"
answers cfn "c v1" "cfn: version 1 answers"

v=$(deploy cfn "$SRC/c2")
st=$(wait_built cfn "$v")
tap_ok "$([ "$v" = 2 ] && [ "$st" = failed ]; echo $?)" "cfn: version 2, which does not compile, failed ($v $st)"
err=$(version_field cfn 2 error)
tap_ok "$(grep -q 'the build failed' <<<"$err"; echo $?)" "cfn: its error says the build failed: $err"
req GET /api/functions/cfn/versions/2/build-log
tap_ok "$([ "$STATUS" = 200 ] && jqr .build_log | grep -q 'broken.c:[0-9]*:[0-9]*: error:'; echo $?)" \
	"cfn: its build log shows gcc's error in broken.c" || diag "$STATUS $(jqr .build_log | tail -n 20)"
req GET /api/functions/cfn
tap_ok "$([ "$(jqr .active_version)" = 1 ]; echo $?)" "cfn: version 1 stays active ($(jqr .active_version))"
answers cfn "c v1" "cfn: calls are still answered by version 1"
tap_ok "$([ -n "$(version_containers "$cfn_id" 1)" ]; echo $?)" "cfn: version 1's container still runs"

# --- a compile error shows nothing of the host -------------------------------------

SECRET_FILE=/tmp/cpub-host-secret-$$
token=cpubsecret$(openssl rand -hex 16)
printf '%s\n' "$token" >"$SECRET_FILE"
CLEANUP_HOOKS+=("rm -f '$SECRET_FILE'")
cat >"$SRC/c3/absolute.c" <<C
#include "$SECRET_FILE"
int absolute_included;
C
cat >"$SRC/c3/relative.c" <<C
#include "../../../../../../../../../../../../..$SECRET_FILE"
int relative_included;
C
# The control: the same files compiled on the host do show the token.
if command -v gcc >/dev/null; then
	host_out=$(cd "$SRC/c3" && gcc -fsyntax-only absolute.c relative.c 2>&1)
	tap_ok "$(grep -q "$token" <<<"$host_out"; echo $?)" \
		"c3: compiled on the host, these files would show the host file's token"
fi
v=$(deploy cfn "$SRC/c3")
st=$(wait_built cfn "$v")
tap_ok "$([ "$v" = 3 ] && [ "$st" = failed ]; echo $?)" "cfn: version 3, including host files, failed ($v $st)"
req GET /api/functions/cfn/versions/3/build-log
log=$(jqr .build_log)
tap_ok "$([ "$STATUS" = 200 ] && [ "$(grep -c "$SECRET_FILE: No such file or directory" <<<"$log")" = 2 ]; echo $?)" \
	"cfn: in the build container both includes of the host's file find no such file" ||
	diag "$STATUS $(tail -n 20 <<<"$log")"
tap_ok "$(! grep -q "$token" <<<"$BODY$(version_field cfn 3 error)"; echo $?)" \
	"cfn: the build log and error show nothing of the host file's content"
answers cfn "c v1" "cfn: version 1 still answers"

# --- malicious archives ---------------------------------------------------------------

evil_id=$(fn_create evil python) || bail_out "could not create evil"
EVIL=/tmp/cpub-evil-$$
CLEANUP_HOOKS+=("rm -rf '$EVIL'-*")
ARCH=$WORK/archives
mkdir -p "$ARCH"
python3 - "$ARCH" "$EVIL" <<'PY' || bail_out "could not make the archives"
import io
import sys
import tarfile

out, evil = sys.argv[1], sys.argv[2]
MAIN = b"def handle(request):\n    return 'pwned'\n"


def reg(t, name, data):
    i = tarfile.TarInfo(name)
    i.size = len(data)
    i.mode = 0o644
    t.addfile(i, io.BytesIO(data))


def link(t, name, target, kind):
    i = tarfile.TarInfo(name)
    i.type = kind
    i.linkname = target
    t.addfile(i)


class Zeros(io.RawIOBase):
    def __init__(self, n):
        self.left = n

    def readable(self):
        return True

    def readinto(self, b):
        n = min(len(b), self.left)
        b[:n] = bytes(n)
        self.left -= n
        return n


with tarfile.open(out + "/dotdot.tar.gz", "w:gz") as t:
    reg(t, "main.py", MAIN)
    reg(t, "../../../../../../../../../../../../.." + evil + "-dotdot", b"escaped\n")
with tarfile.open(out + "/absolute.tar.gz", "w:gz") as t:
    reg(t, "main.py", MAIN)
    reg(t, evil + "-absolute", b"escaped\n")
with tarfile.open(out + "/symlink.tar.gz", "w:gz") as t:
    link(t, "main.py", "/etc/passwd", tarfile.SYMTYPE)
    link(t, "out", "/tmp", tarfile.SYMTYPE)
    reg(t, "out/" + evil.split("/")[-1] + "-symlink", b"escaped\n")
with tarfile.open(out + "/hardlink.tar.gz", "w:gz") as t:
    link(t, "main.py", "/etc/passwd", tarfile.LNKTYPE)
with tarfile.open(out + "/bomb.tar.gz", "w:gz", compresslevel=9) as t:
    reg(t, "main.py", MAIN)
    i = tarfile.TarInfo("zeros.bin")
    i.size = 200 * 1024 * 1024
    t.addfile(i, io.BufferedReader(Zeros(i.size)))
with tarfile.open(out + "/noentry.tar.gz", "w:gz") as t:
    reg(t, "handler.py", MAIN)
PY
diag "the bomb: $(stat -c %s "$ARCH/bomb.tar.gz") bytes, 200 MiB unpacked"

# refused ARCHIVE DESC WANT...: deployed to evil, the version fails with
# each WANT in its error and in its build log.
refused()
{
	local archive=$1 desc=$2 v st err want rc=0
	shift 2
	req POST /api/functions/evil/deploy -H 'Content-Type: application/gzip' \
		--data-binary "@$ARCH/$archive.tar.gz"
	v=$(jqr .version)
	if [ "$STATUS" != 202 ]; then
		tap_ok 1 "evil: $desc: deployed"
		diag "$STATUS $BODY"
		return
	fi
	st=$(wait_built evil "$v")
	err=$(version_field evil "$v" error)
	req GET "/api/functions/evil/versions/$v/build-log"
	[ "$st" = failed ] || rc=1
	for want in "$@"; do
		grep -qF "$want" <<<"$err" &&
			jqr .build_log | grep '^\[cpub\] ' | grep -qF "$want" || rc=1
	done
	tap_ok $rc "evil: $desc: version $v $st: $err" ||
		diag "want: $*; log: $(jqr .build_log | tail -n 5)"
}
refused dotdot "a path leaving the folder" \
	'the archive was refused: entry "../../../../' 'a path leaving the archive (..)'
refused absolute "an absolute path" \
	"the archive was refused: entry \"$EVIL-absolute\": an absolute path"
refused symlink "a symbolic link main.py -> /etc/passwd" \
	'the archive was refused: entry "main.py": symbolic links are not allowed'
refused hardlink "a hard link main.py -> /etc/passwd" \
	'the archive was refused: entry "main.py": hard links are not allowed'
refused bomb "200 MiB of zeros in a small tar.gz" \
	'the archive was refused: the archive expands beyond 100 times its compressed size (a compression bomb?)'
refused noentry "no main.py: the runtime's entry point is missing, with the hint" \
	'main.py is missing: a Python function is a module main.py with handle(request)'

written=$(ls -d "$EVIL"-* 2>/dev/null; find "$WORK" -name "$(basename "$EVIL")-*" 2>/dev/null)
tap_ok "$([ -z "$written" ]; echo $?)" "nothing of the archives was written outside the build folder" ||
	diag "written: $written"
left=$(ls -A "$WORK/w1.state/build" 2>/dev/null)
tap_ok "$([ -z "$left" ]; echo $?)" "the build folders are gone" || diag "left: $left"
req GET /api/functions/evil
tap_ok "$([ "$(jqr .active_version)" = null ] && [ -z "$(containers "$evil_id")" ]; echo $?)" \
	"evil: no version became active, no container started"

worker_stop w1
tap_ok $? "the worker stops cleanly"
left=$(containers)
tap_ok "$([ -z "$left" ]; echo $?)" "its containers are gone" || diag "left: $left"
stop_cleanly api
done_testing
