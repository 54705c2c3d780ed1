#!/usr/bin/env bash
# tests/e2e/podman_images.t: the base images of `make images` and the
# hardened Podman setup the worker runs functions with.
#
# Real root Podman with the project's containers.conf (scripts/podman.sh).
# Expects the images built (make test runs make images first); builds only
# throwaway images of its own, under localhost/cpub/test-PID/.  Every
# container it starts carries the labels cpub.test=podman_images and
# cpub.test.run=PID; at the end (trap) it removes its containers (both
# labels: a concurrent run of this test elsewhere keeps its own) and its
# images.
#
# Checks, every container under the worker's hardening flags (HARDEN below):
# - every image of scripts/images.sh exists with the label of its current
#   recipe, and each runs its runtime: busybox sh, python3 -c, gcc --version;
# - in each image of the table: uid and gid 65534; a user namespace whose uid 0 is a host
#   uid in the subordinate range of "containers" (--userns=auto); no
#   capability, not even in the bounding set (a non-root process has no
#   effective ones anyway); no-new-privileges; the memory, pids and cpu
#   limits in its cgroup; a write to / fails with EROFS (not merely EACCES);
#   /tmp is our 16 MiB tmpfs and writable; no interface but lo, and a
#   connection to the apt mirror, which the host reaches, fails;
# - a process allocating 200 MB under --memory 64m --memory-swap 64m is
#   OOM-killed (exit 137, the cgroup's oom_kill counter), 20 MB works;
# - a fork bomb is held by --pids-limit 64, the container ends, no process
#   of its host uid is left;
# - a C hello compiled with the host's gcc -static, and one compiled inside
#   c-build, run FROM scratch in an image made by podman build --pull=never
#   --network none;
# - images.sh builds a missing image, leaves a current one alone, rebuilds a
#   stale one, and a run over the real images builds nothing.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd -P)
# shellcheck source-path=SCRIPTDIR
. "$ROOT/tests/e2e/lib/tap.sh"

IMAGES=$ROOT/scripts/images.sh
PREFIX=localhost/cpub
RUN=$$
TESTPREFIX=localhost/cpub/test-$RUN
TMP=$(mktemp -d /tmp/cpub-podman-test.XXXXXX) || bail_out "mktemp"
LABELS=(--label cpub.test=podman_images --label "cpub.test.run=$RUN")
# conmon (2.1.6 here) drops an empty file "oom" into its working directory,
# podman's, when a container's cgroup sees an OOM kill (containers/conmon#504):
# work in TMP, not in the checkout.
cd "$TMP" || bail_out "cd $TMP"

if [ -z "${CONTAINERS_CONF:-}" ]; then
	CONTAINERS_CONF=$("$ROOT/scripts/podman.sh") || bail_out "scripts/podman.sh failed"
fi
export CONTAINERS_CONF

# The flags every function container of the worker gets.
HARDEN=(--network none --read-only --tmpfs /tmp:size=16m --cap-drop all
	--security-opt no-new-privileges --pids-limit 64 --memory 64m
	--memory-swap 64m --cpus 0.5 --userns=auto --user 65534:65534)

# shellcheck disable=SC2317  # called through trap
cleanup()
{
	local ids
	mapfile -t ids < <(podman ps -aq --filter label=cpub.test=podman_images \
		--filter "label=cpub.test.run=$RUN" 2>/dev/null)
	[ ${#ids[@]} -gt 0 ] && podman rm -f "${ids[@]}" >/dev/null 2>&1
	mapfile -t ids < <(podman images -q --filter "reference=$TESTPREFIX/*" 2>/dev/null | sort -u)
	[ ${#ids[@]} -gt 0 ] && podman rmi -f "${ids[@]}" >/dev/null 2>&1
	rm -rf "$TMP"
}
trap cleanup EXIT

# prun ARGS...: podman run --rm under the hardening flags, labelled, with a
# time limit so that a hung container fails the test instead of hanging it
# (the trap removes what the limit leaves).
prun()
{
	timeout 120 podman run --rm "${LABELS[@]}" "${HARDEN[@]}" "$@"
}

image_id()
{
	podman image inspect --format '{{.Id}}' "$1" 2>/dev/null
}

command -v podman >/dev/null || bail_out "podman is not installed (scripts/deps.sh)"

# --- the images, their recipe labels, their runtimes ---------------------------
mapfile -t names < <("$IMAGES" status | awk 'NR > 1 { print $1 }')
[ ${#names[@]} -ge 3 ] || bail_out "scripts/images.sh status lists no images"
for ref in "${names[@]}"; do
	name=${ref#"$PREFIX"/}
	want=$("$IMAGES" recipe "$name")
	got=$(podman image inspect --format '{{index .Labels "cpub.recipe"}}' "$ref" 2>&1)
	tap_ok "$([ -n "$want" ] && [ "$got" = "$want" ] && echo 0 || echo 1)" \
		"$ref exists with the label of its current recipe" ||
		diag "label: $got; recipe: $want (run: make images)"
done

# shellcheck disable=SC2016  # expanded by the container's sh
out=$(prun "$PREFIX/shell-base" sh -c 'echo "$((6 * 7))"; busybox | head -n 1' 2>&1)
tap_ok "$([ "$(head -n 1 <<<"$out")" = 42 ] && grep -q '^BusyBox v' <<<"$out" && echo 0 || echo 1)" \
	"shell-base: busybox sh runs ($(sed -n 2p <<<"$out" | cut -d' ' -f1-2))" || diag "$out"
out=$(prun "$PREFIX/python-base" python3 -c \
	'import json, sys; print(json.dumps({"python": sys.version_info[0], "sum": sum(range(10))}))' 2>&1)
tap_ok "$([ "$out" = '{"python": 3, "sum": 45}' ] && echo 0 || echo 1)" \
	"python-base: python3 -c runs" || diag "$out"
out=$(prun "$PREFIX/c-build" gcc --version 2>&1)
tap_ok "$(grep -q '^gcc (Debian ' <<<"$out" && echo 0 || echo 1)" \
	"c-build: gcc --version runs ($(head -n 1 <<<"$out"))" || diag "$out"

# --- each base under the hardening flags -------------------------------------
# The mirror's address: the host reaches it (checked), a container must not.
mirror_host=$(sed -n 's|^URIs: *[a-z]*://\([^/: ]*\).*|\1|p' \
	/etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n 1)
mirror_ip=$(getent ahostsv4 "${mirror_host:-deb.debian.org}" | awk '{ print $1; exit }')
if [ -n "$mirror_ip" ] && timeout 5 bash -c "exec 3<>/dev/tcp/$mirror_ip/80" 2>/dev/null; then
	diag "the host reaches ${mirror_host:-deb.debian.org} ($mirror_ip) on port 80"
else
	diag "the host does not reach ${mirror_host:-the mirror} on port 80 either;" \
		"the network checks below prove less"
	mirror_ip=${mirror_ip:-192.0.2.1}
fi
# The subordinate uids of "containers", where --userns=auto takes its ranges.
subuid_start=$(awk -F: '$1 == "containers" { print $2; exit }' /etc/subuid)
[ -n "$subuid_start" ] || bail_out "/etc/subuid has no range for containers (scripts/podman.sh adds it)"

# Run inside each base (busybox sh or dash): one line per property.
cat >"$TMP/probe.sh" <<'EOF'
echo "uid=$(id -u) gid=$(id -g)"
read -r inner outer count </proc/self/uid_map
echo "uidmap=$inner $outer $count"
caps=
for c in CapInh CapPrm CapEff CapBnd CapAmb; do
	caps="$caps${caps:+ }$(sed -n "s/^$c:[[:space:]]*//p" /proc/self/status)"
done
echo "caps=$caps"
echo "nnp=$(sed -n 's/^NoNewPrivs:[[:space:]]*//p' /proc/self/status)"
if [ -r /sys/fs/cgroup/memory/memory.limit_in_bytes ]; then
	echo "mem=$(cat /sys/fs/cgroup/memory/memory.limit_in_bytes)"
	echo "pids=$(cat /sys/fs/cgroup/pids/pids.max)"
	echo "cpu=$(cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us) $(cat /sys/fs/cgroup/cpu/cpu.cfs_period_us)"
else
	echo "mem=$(cat /sys/fs/cgroup/memory.max)"
	echo "pids=$(cat /sys/fs/cgroup/pids.max)"
	echo "cpu=$(cat /sys/fs/cgroup/cpu.max)"
fi
echo "rootmount=$(awk '$2 == "/" { split($4, o, ","); print o[1] }' /proc/self/mounts)"
echo "rootwrite=$(touch /cpub-probe 2>&1 && echo written)"
echo "tmpmount=$(awk '$2 == "/tmp" { print $3, $4 }' /proc/self/mounts)"
if echo x >/tmp/probe && [ "$(cat /tmp/probe)" = x ]; then echo tmp=writable; else echo tmp=failed; fi
echo "ifaces=$(ls /sys/class/net | tr '\n' ' ')"
if command -v bash >/dev/null; then
	bash -c "exec 3<>/dev/tcp/$1/80" 2>&1 | tail -n 1 | sed 's/^/connect=/'
else
	nc -w 3 "$1" 80 </dev/null 2>&1 | sed 's/^/connect=/'
fi
echo end
EOF

for ref in "${names[@]}"; do
	name=${ref#"$PREFIX"/}
	out=$(prun "$ref" sh -c "$(cat "$TMP/probe.sh")" probe "$mirror_ip" 2>&1)
	status=$?
	line()
	{
		sed -n "s/^$1=//p" <<<"$out"
	}
	tap_ok "$([ $status = 0 ] && grep -qx end <<<"$out" && echo 0 || echo 1)" \
		"$name: a container runs under the hardening flags" || diag "status $status: $out"
	tap_ok "$([ "$(line uid)" = "65534 gid=65534" ] && echo 0 || echo 1)" \
		"$name: --user: runs as uid and gid 65534" || diag "$out"
	read -r inner outer count <<<"$(line uidmap)"
	tap_ok "$([ "${inner:-}" = 0 ] && [ "${outer:-0}" -ge "$subuid_start" ] &&
		[ "${count:-0}" -gt 65534 ] && echo 0 || echo 1)" \
		"$name: --userns=auto: its uid 0 is host uid ${outer:-?}, 65534 is $((${outer:-0} + 65534))" ||
		diag "uid_map: $(line uidmap); the range of containers starts at $subuid_start"
	tap_ok "$([ "$(line caps)" = "0000000000000000 0000000000000000 0000000000000000 0000000000000000 0000000000000000" ] &&
		echo 0 || echo 1)" \
		"$name: --cap-drop all: no capability, the bounding set empty" || diag "$out"
	tap_ok "$([ "$(line nnp)" = 1 ] && echo 0 || echo 1)" \
		"$name: --security-opt no-new-privileges: NoNewPrivs 1" || diag "$out"
	tap_ok "$([ "$(line mem)" = 67108864 ] && [ "$(line pids)" = 64 ] && echo 0 || echo 1)" \
		"$name: --memory 64m, --pids-limit 64 in its cgroup" || diag "$out"
	tap_ok "$([ "$(line cpu)" = "50000 100000" ] && echo 0 || echo 1)" \
		"$name: --cpus 0.5: a quota of 50 ms per 100 ms" || diag "$out"
	tap_ok "$([ "$(line rootmount)" = ro ] && grep -q '^rootwrite=.*Read-only file system' <<<"$out" &&
		echo 0 || echo 1)" \
		"$name: --read-only: / is mounted ro, a write fails with EROFS" || diag "$out"
	tap_ok "$(grep -q '^tmpmount=tmpfs .*size=16384k' <<<"$out" && [ "$(line tmp)" = writable ] &&
		echo 0 || echo 1)" \
		"$name: --tmpfs /tmp:size=16m: /tmp is a 16 MiB tmpfs and writable" || diag "$out"
	tap_ok "$([ "$(line ifaces)" = "lo " ] &&
		grep -q '^connect=.*Network is unreachable' <<<"$out" && echo 0 || echo 1)" \
		"$name: --network none: no interface but lo, a connection to the mirror fails" ||
		diag "$out"
done

# --- memory: the OOM killer ------------------------------------------------------
# PID 1 (dash) runs python3 allocating $2 MB, then reports its status and the
# cgroup's oom_kill counter, and exits with python's status.  (podman
# inspect's State.OOMKilled stays false with runc on a cgroup v1 host, so the
# kernel's counter is the witness.)
cat >"$TMP/oom.sh" <<'EOF'
python3 -c "$1" "$2"
s=$?
f=/sys/fs/cgroup/memory/memory.oom_control
[ -r $f ] || f=/sys/fs/cgroup/memory.events
echo "status=$s $(grep '^oom_kill ' $f)"
exit $s
EOF
alloc='import sys; b = b"x" * (int(sys.argv[1]) << 20); print("allocated", len(b) >> 20, "MB")'
out=$(prun "$PREFIX/python-base" sh -c "$(cat "$TMP/oom.sh")" oom "$alloc" 20 2>&1)
status=$?
tap_ok "$([ $status = 0 ] && grep -qx 'allocated 20 MB' <<<"$out" &&
	grep -qx 'status=0 oom_kill 0' <<<"$out" && echo 0 || echo 1)" \
	"--memory 64m: allocating 20 MB works" || diag "status $status: $out"
out=$(prun "$PREFIX/python-base" sh -c "$(cat "$TMP/oom.sh")" oom "$alloc" 200 2>&1)
status=$?
tap_ok "$([ $status = 137 ] && ! grep -q allocated <<<"$out" &&
	grep -q '^status=137 oom_kill [1-9]' <<<"$out" && echo 0 || echo 1)" \
	"--memory 64m --memory-swap 64m: allocating 200 MB is OOM-killed (exit 137, $(sed -n 's/^status=[0-9]* //p' <<<"$out"))" ||
	diag "status $status: $out"

# --- a fork bomb against --pids-limit ------------------------------------------
# PID 1 starts a timer, lights the bomb, waits for the timer with builtins
# only (a fork may be refused), reads the pids cgroup and exits, which ends
# every process of the container.
cat >"$TMP/bomb.sh" <<'EOF'
read -r inner outer count </proc/self/uid_map
echo "hostuid=$((outer + 65534))"
sleep 3 & timer=$!
bomb() { bomb | bomb & }
bomb
wait $timer
d=/sys/fs/cgroup/pids
[ -r $d/pids.events ] || d=/sys/fs/cgroup
read -r max <$d/pids.max
read -r event refused <$d/pids.events
echo "max=$max refused=$refused"
EOF
t=$EPOCHREALTIME
out=$(prun --name "cpub-test-$RUN-bomb" "$PREFIX/shell-base" sh -c "$(cat "$TMP/bomb.sh")" 2>/dev/null)
status=$?
secs=$(awk -v a="$t" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
refused=$(sed -n 's/.*refused=\([0-9]*\).*/\1/p' <<<"$out")
tap_ok "$([ $status = 0 ] && grep -q '^max=64 ' <<<"$out" && [ "${refused:-0}" -gt 0 ] && echo 0 || echo 1)" \
	"--pids-limit 64: a fork bomb is refused ${refused:-no} forks and the container ends (${secs} s)" ||
	diag "status $status (124: still running after 120 s): $out"
# The bomb's processes ran as this host uid (the container's own while it
# ran, --userns=auto): none may be left behind.
hostuid=$(sed -n 's/^hostuid=//p' <<<"$out")
left=$(pgrep -c -u "${hostuid:-0}")
container=$(podman ps -aq --filter "name=cpub-test-$RUN-bomb")
tap_ok "$([ -z "$container" ] && [ -n "$hostuid" ] && [ "$left" = 0 ] && echo 0 || echo 1)" \
	"after the bomb: no container and no process of its host uid ${hostuid:-?} left" ||
	diag "container: $container; processes of uid $hostuid: $left"

# --- C: static binaries FROM scratch ---------------------------------------------
cat >"$TMP/hello.c" <<'EOF'
#include <stdio.h>
#include <unistd.h>

int
main(void)
{
	printf("hello from C as uid %d\n", (int) getuid());
	return 0;
}
EOF
mkdir -p "$TMP/c"
out=$(gcc -static -O2 -o "$TMP/c/hello-host" "$TMP/hello.c" 2>&1)
tap_ok $? "the host's gcc -static compiles a hello" || diag "$out"
# In c-build: the source in on stdin, the binary out on stdout (nothing
# mounted into the build container).
prun -i "$PREFIX/c-build" sh -c \
	'cat >/tmp/hello.c && gcc -static -O2 -o /tmp/hello /tmp/hello.c && cat /tmp/hello' \
	<"$TMP/hello.c" >"$TMP/c/hello-cbuild" 2>"$TMP/gcc.err"
status=$?
tap_ok "$([ $status = 0 ] && [ -s "$TMP/c/hello-cbuild" ] && echo 0 || echo 1)" \
	"c-build: gcc -static compiles the hello under the hardening flags" ||
	diag "status $status: $(cat "$TMP/gcc.err")"
chmod 0755 "$TMP/c/hello-host" "$TMP/c/hello-cbuild"
printf '%s\n' 'FROM scratch' 'COPY hello-host hello-cbuild /' 'USER 65534:65534' >"$TMP/c/Containerfile"
t=$EPOCHREALTIME
out=$(timeout 120 podman build -q --pull=never --network none \
	-t "$TESTPREFIX/hello-c" "$TMP/c" 2>&1)
status=$?
secs=$(awk -v a="$t" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
tap_ok "$status" "podman build --pull=never --network none makes the FROM scratch image (${secs} s)" ||
	diag "$out"
files=$(podman image inspect --format '{{len .RootFS.Layers}}' "$TESTPREFIX/hello-c" 2>&1)
tap_ok "$([ "$files" = 1 ] && echo 0 || echo 1)" \
	"the FROM scratch image is one layer (the binaries and nothing else)" || diag "$files"
# No loader, no libc in a scratch image: only a static binary can run.
for bin in hello-host hello-cbuild; do
	out=$(prun "$TESTPREFIX/hello-c" "/$bin" 2>&1)
	tap_ok "$([ "$out" = "hello from C as uid 65534" ] && echo 0 || echo 1)" \
		"$bin runs FROM scratch under the hardening flags" || diag "$out"
done

# --- images.sh: missing, current, stale --------------------------------------------
# Under a prefix and a lock of this run (a real build elsewhere need not be
# waited for); shell-base because busybox takes a fraction of a second.
mine()
{
	CPUB_IMAGE_PREFIX=$TESTPREFIX CPUB_IMAGES_LOCK=$TMP/images.lock "$IMAGES" "$@" 2>&1
}
before=$(mine status shell-base)
before_status=$?
out=$(mine build shell-base)
after=$(mine status shell-base)
after_status=$?
tap_ok "$([ $before_status = 1 ] && grep -q " missing " <<<"$before" &&
	grep -q "^images: built $TESTPREFIX/shell-base in" <<<"$out" &&
	[ $after_status = 0 ] && grep -q " current " <<<"$after" && echo 0 || echo 1)" \
	"images.sh builds a missing image; status says missing, then current ($(
		sed -n 's/^images: built [^ ]* in \([0-9.]*\) s.*/\1/p' <<<"$out") s)" ||
	diag "$before" "$out" "$after"
id1=$(image_id "$TESTPREFIX/shell-base")
out=$(mine build shell-base)
tap_ok "$([ -n "$id1" ] && grep -q "^images: $TESTPREFIX/shell-base up to date" <<<"$out" &&
	[ "$(image_id "$TESTPREFIX/shell-base")" = "$id1" ] && echo 0 || echo 1)" \
	"images.sh leaves a current image alone" || diag "$out"
# The same name with another recipe label: what an edited row leaves behind.
tar -cf - -T /dev/null | podman import -q --change "LABEL cpub.recipe=0123" - \
	"$TESTPREFIX/shell-base" >/dev/null
[ -n "$id1" ] && podman rmi "$id1" >/dev/null
stale=$(mine status shell-base)
out=$(mine build shell-base)
label=$(podman image inspect --format '{{index .Labels "cpub.recipe"}}' "$TESTPREFIX/shell-base")
tap_ok "$(grep -q " stale " <<<"$stale" && grep -q 'is stale' <<<"$out" &&
	grep -q "^images: built $TESTPREFIX/shell-base" <<<"$out" &&
	[ "$label" = "$("$IMAGES" recipe shell-base)" ] && echo 0 || echo 1)" \
	"images.sh rebuilds an image whose recipe label differs" || diag "$stale" "$out"

# The real images: when current (checked at the top) a run builds nothing.
# When not, say so rather than rebuild them inside a test.
declare -A before_ids
for ref in "${names[@]}"; do
	before_ids[$ref]=$(image_id "$ref")
done
if "$IMAGES" status >/dev/null 2>&1; then
	t=$EPOCHREALTIME
	out=$("$IMAGES" 2>&1)
	status=$?
	secs=$(awk -v a="$t" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }')
	same=0
	for ref in "${names[@]}"; do
		[ "$(image_id "$ref")" = "${before_ids[$ref]}" ] || same=1
		grep -q "^images: $ref up to date" <<<"$out" || same=1
	done
	tap_ok "$([ $status = 0 ] && [ $same = 0 ] && ! grep -q '^images: built' <<<"$out" && echo 0 || echo 1)" \
		"images.sh over current images rebuilds nothing (${secs} s)" || diag "$out"
else
	tap_ok 1 "images.sh over current images rebuilds nothing" ||
		diag "the images are not current (above), not rebuilt here: run make images"
fi

done_testing
