#!/usr/bin/env bash
# scripts/podman.sh: the Podman setup every part of ContainerPub uses.
#
#   scripts/podman.sh            write the containers.conf, ensure the subids,
#                                print the file's path (the CONTAINERS_CONF)
#   scripts/podman.sh show       the same, then the file itself on stderr
#
# Root Podman with the stock configuration fails on these machines (see
# ../../shared/PLATFORM.md): it needs explicit ulimits and, on a cgroup v1 or
# hybrid host, the runc runtime.  Rather than change /etc/containers, every
# podman call of ours (make images, the tests, later the worker) runs with
# CONTAINERS_CONF naming the file this script writes:
#
#   [containers] default_ulimits   nofile and nproc 1024 (the runtimes
#                                  cannot raise the host's defaults here)
#   [engine] runtime               crun on a cgroup v2 host when installed
#                                  (faster), runc otherwise (crun refuses
#                                  cgroup v1 and hybrid hosts)
#
# The file lives in one fixed place, var/podman/containers.conf of the
# checkout (CPUB_PODMAN_CONF names another): it describes the machine, not a
# platform instance, so make images, make run, make test and a person at the
# shell share it, and a container a failed test left can be inspected with the
# same setting (CONTAINERS_CONF=$(scripts/podman.sh) podman ps -a).  It is
# regenerated on every call and rewritten only when its content changes.
#
# --userns=auto needs a subordinate uid and gid range for the user
# "containers" in /etc/subuid and /etc/subgid; when that user has none, the
# range containers:2147483647:2147483648 (the upper half of the uid space) is
# added, unless another entry overlaps it.  Nothing else global is changed.
#
# Needs root (root Podman: rootless Podman ignores the memory, pids and cpu
# limits on cgroup v1); re-runs itself with sudo otherwise.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd -P)
CONF=${CPUB_PODMAN_CONF:-$ROOT/var/podman/containers.conf}
SUBID_USER=containers
SUBID_START=2147483647
SUBID_COUNT=2147483648

die()
{
	echo "podman.sh: $*" >&2
	exit 1
}

if [ "$(id -u)" -ne 0 ]; then
	exec sudo -- "$0" "$@"
fi

case "${1:-}" in
'' | show) ;;
*)
	echo "usage: $0 [show]" >&2
	exit 2
	;;
esac

command -v podman >/dev/null || die "podman is not installed (scripts/deps.sh)"

# The OCI runtime for this host: crun needs the unified hierarchy (cgroup v2).
choose_runtime()
{
	if [ "$(stat -fc %T /sys/fs/cgroup 2>/dev/null)" = cgroup2fs ] &&
		command -v crun >/dev/null; then
		echo crun
	elif command -v runc >/dev/null; then
		echo runc
	else
		die "neither a usable crun (cgroup v2 only) nor runc is installed (scripts/deps.sh)"
	fi
}

# Ensure the subordinate id range of $SUBID_USER in one of /etc/subuid or
# /etc/subgid.  Under a lock, so two concurrent runs add one line.
ensure_subids()
{
	local file=$1
	(
		flock 9
		if grep -q "^$SUBID_USER:" "$file"; then
			exit 0
		fi
		# Refuse to hand out ids some other user already has.
		if awk -F: -v s="$SUBID_START" -v c="$SUBID_COUNT" '
			NF == 3 && $2 < s + c && $2 + $3 > s { print; bad = 1 }
			END { exit !bad }' "$file" >&2; then
			die "$file: the entries above overlap $SUBID_START..$((SUBID_START + SUBID_COUNT - 1));" \
				"add a range for \"$SUBID_USER\" by hand"
		fi
		echo "$SUBID_USER:$SUBID_START:$SUBID_COUNT" >>"$file"
		echo "podman.sh: added $SUBID_USER:$SUBID_START:$SUBID_COUNT to $file" \
			"(for --userns=auto)" >&2
	) 9>>/run/lock/cpub-subids.lock
}

runtime=$(choose_runtime)
if [ "$(stat -fc %T /sys/fs/cgroup 2>/dev/null)" = cgroup2fs ]; then
	cgroups="cgroup v2"
else
	cgroups="cgroup v1 or hybrid"
fi

want=$(
	cat <<EOF
# Written by scripts/podman.sh for this machine ($cgroups): every podman call
# of ContainerPub runs with CONTAINERS_CONF=$CONF.
# Regenerated on each make images, make run and make test: edit the script.
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]

[engine]
runtime = "$runtime"
EOF
)

if [ "$(cat "$CONF" 2>/dev/null)" != "$want" ]; then
	mkdir -p "$(dirname "$CONF")"
	tmp=$(mktemp "$CONF.XXXXXX")
	printf '%s\n' "$want" >"$tmp"
	chmod 0644 "$tmp"
	mv -f "$tmp" "$CONF"
	echo "podman.sh: wrote $CONF (runtime $runtime, $cgroups)" >&2
fi

ensure_subids /etc/subuid
ensure_subids /etc/subgid

if [ "${1:-}" = show ]; then
	cat "$CONF" >&2
fi
echo "$CONF"
