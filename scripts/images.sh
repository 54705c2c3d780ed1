#!/usr/bin/env bash
# scripts/images.sh: build the runtimes' base images locally, without a registry.
#
#   scripts/images.sh [build] [IMAGE...]  build the images that are missing or
#                                         stale (all, or the IMAGEs named)
#   scripts/images.sh status [IMAGE...]   one line per image: name, state
#                                         (current, stale, missing), size,
#                                         recipe; exit 1 unless all current
#   scripts/images.sh recipe IMAGE        print IMAGE's recipe hash
#
# No container registry is reachable, so nothing is pulled: each base image is
# made from the Debian packages of this machine's apt mirror and imported with
# `podman import`.  The table below has one row per image a runtime needs
# (adding a runtime starts with a row here; docs/podman.md):
#
#   runtime  the function runtime the image serves
#   image    its name under $CPUB_IMAGE_PREFIX (default localhost/cpub)
#   role     run (functions run on it) or build (functions compile in it)
#   made by  busybox: /bin/busybox of busybox-static with its applets as
#            symlinks, /etc/passwd and /etc/group with nobody (65534) and a
#            1777 /tmp;  debootstrap: debootstrap --variant=minbase of
#            $SUITE with the packages, then docs, man pages, locales and apt
#            caches removed
#   packages what debootstrap adds (--include), comma-separated
#
# The c runtime runs its functions FROM scratch: a static binary and nothing
# else, an image the worker builds per function; there is nothing to build for
# it here but its build image.
#
# Each image carries the label cpub.recipe, a hash of its recipe: the row,
# the suite, the functions that make it, and for busybox the installed
# busybox-static version.  An image whose label matches is left alone, so a
# run with every image current costs a podman inspect per image; any other is
# rebuilt (the images missing are made concurrently, their rootfs in a
# temporary folder under /tmp that is removed afterwards).  A lock
# ($CPUB_IMAGES_LOCK, default /run/lock/cpub-images.lock: Podman's image
# store is machine-wide) keeps two runs from building at once; the second
# waits, then finds the images current.  Prints what it did and how long each
# step took.
#
# Podman runs with CONTAINERS_CONF from scripts/podman.sh (or the one in the
# environment).  Needs root (debootstrap, chroot, root Podman); re-runs
# itself with sudo otherwise.  The mirror is the first URI for $SUITE in
# /etc/apt/sources.list.d/debian.sources (or /etc/apt/sources.list);
# CPUB_DEBIAN_MIRROR overrides it.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd -P)
PREFIX=${CPUB_IMAGE_PREFIX:-localhost/cpub}
LOCK=${CPUB_IMAGES_LOCK:-/run/lock/cpub-images.lock}
SUITE=bookworm

# runtime  image        role   made by      packages
IMAGES=(
	"shell     shell-base   run    busybox      -"
	"python    python-base  run    debootstrap  python3"
	"c         c-build      build  debootstrap  gcc,libc6-dev"
)

if [ "$(id -u)" -ne 0 ]; then
	exec sudo --preserve-env=CONTAINERS_CONF,CPUB_IMAGE_PREFIX,CPUB_IMAGES_LOCK,CPUB_DEBIAN_MIRROR \
		-- "$0" "$@"
fi

WORK=
T0=$EPOCHREALTIME

die()
{
	echo "images: $*" >&2
	exit 1
}

usage()
{
	sed -n '3,9p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
}

# Seconds since $1 (an $EPOCHREALTIME), one decimal.
elapsed()
{
	awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'
}

# The row of image $1, or nothing.
row_of()
{
	local row runtime image rest
	for row in "${IMAGES[@]}"; do
		read -r runtime image rest <<<"$row"
		if [ "$image" = "$1" ]; then
			echo "$row"
			return 0
		fi
	done
	return 1
}

# The apt mirror debootstrap fetches from.
debian_mirror()
{
	local m=${CPUB_DEBIAN_MIRROR:-} f=/etc/apt/sources.list.d/debian.sources
	if [ -z "$m" ] && [ -r "$f" ]; then
		# deb822: the first URI of the first "deb" stanza naming the suite.
		m=$(awk -v suite="$SUITE" 'BEGIN { RS = "" }
			{
				deb = 0; uri = ""; has = 0
				n = split($0, lines, "\n")
				for (i = 1; i <= n; i++) {
					split(lines[i], w, /[ \t]+/)
					if (w[1] == "Types:")
						for (j = 2; j in w; j++) if (w[j] == "deb") deb = 1
					if (w[1] == "Suites:")
						for (j = 2; j in w; j++) if (w[j] == suite) has = 1
					if (w[1] == "URIs:") uri = w[2]
				}
				if (deb && has && uri != "") { print uri; exit }
			}' "$f")
	fi
	if [ -z "$m" ] && [ -r /etc/apt/sources.list ]; then
		m=$(awk -v suite="$SUITE" '$1 == "deb" {
				sub(/^deb[ \t]+(\[[^]]*\][ \t]+)?/, "")
				if ($2 == suite) { print $1; exit }
			}' /etc/apt/sources.list)
	fi
	echo "${m:-http://deb.debian.org/debian}"
}

# make_busybox DIR PACKAGES: a busybox rootfs in DIR (PACKAGES unused).
make_busybox()
{
	local dir=$1
	[ "$(dpkg-query -W -f='${Status}' busybox-static 2>/dev/null)" = "install ok installed" ] ||
		die "busybox-static is not installed (scripts/deps.sh)"
	mkdir -p "$dir"/{bin,etc,tmp,dev,proc,sys,root,usr}
	cp /bin/busybox "$dir/bin/busybox"
	chroot "$dir" /bin/busybox --install -s /bin
	# One bin for every usual path, so "#!/usr/bin/env sh" works.
	ln -s bin "$dir/sbin"
	ln -s ../bin "$dir/usr/bin"
	ln -s ../bin "$dir/usr/sbin"
	printf '%s\n' 'root:x:0:0:root:/root:/bin/sh' \
		'nobody:x:65534:65534:nobody:/nonexistent:/bin/false' >"$dir/etc/passwd"
	printf '%s\n' 'root:x:0:' 'nogroup:x:65534:' >"$dir/etc/group"
	chmod 0700 "$dir/root"
	chmod 1777 "$dir/tmp"
}

# make_debootstrap DIR PACKAGES: a minimal Debian rootfs in DIR with the
# comma-separated PACKAGES, trimmed.
make_debootstrap()
{
	local dir=$1 packages=$2 mirror
	mirror=$(debian_mirror)
	echo "debootstrap --variant=minbase --include=$packages $SUITE $dir $mirror"
	debootstrap --variant=minbase --include="$packages" "$SUITE" "$dir" "$mirror"
	# What the runtime provides or must not come from this host.
	rm -rf "${dir:?}"/dev/* "$dir"/tmp/*
	: >"$dir/etc/resolv.conf"
	echo cpub >"$dir/etc/hostname"
	# Later apt-get installs (a function's build) stay as lean.
	cat >"$dir/etc/dpkg/dpkg.cfg.d/cpub-nodoc" <<'EOF'
path-exclude=/usr/share/doc/*
path-include=/usr/share/doc/*/copyright
path-exclude=/usr/share/man/*
path-exclude=/usr/share/info/*
path-exclude=/usr/share/locale/*
path-include=/usr/share/locale/locale.alias
path-exclude=/usr/share/lintian/*
EOF
	cat >"$dir/etc/apt/apt.conf.d/cpub-lean" <<'EOF'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
Acquire::Languages "none";
EOF
	find "$dir/usr/share/doc" -mindepth 1 ! -type d ! -name copyright -delete
	find "$dir/usr/share/doc" -mindepth 1 -type d -empty -delete
	find "$dir/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias \
		-exec rm -rf {} +
	rm -rf "$dir"/usr/share/{man,info,lintian}/* \
		"$dir"/var/cache/apt/* "$dir"/var/lib/apt/lists/* \
		"$dir"/var/cache/debconf/*-old "$dir"/var/lib/dpkg/*-old \
		"$dir"/var/log/*
}

# The recipe of a row: everything that decides the image's content.
recipe()
{
	local runtime image role maker packages
	read -r runtime image role maker packages <<<"$1"
	printf '%s\n' "images.sh recipe 1" "$SUITE" \
		"$runtime $image $role $maker $packages" "$(declare -f "make_$maker")"
	if [ "$maker" = busybox ]; then
		dpkg-query -W -f='busybox-static ${Version}\n' busybox-static 2>/dev/null || true
	fi
}

recipe_hash()
{
	recipe "$1" | sha256sum | cut -c1-64
}

# The recipe label of image reference $1, or nothing when it does not exist.
image_label()
{
	podman image inspect --format '{{index .Labels "cpub.recipe"}}' "$1" 2>/dev/null || true
}

image_size()
{
	podman image inspect --format '{{.Size}}' "$1" 2>/dev/null |
		awk '{ printf "%.1f MB", $1 / 1e6 }'
}

# current, stale or missing
image_state()
{
	local label
	label=$(image_label "$PREFIX/$1")
	if [ -z "$label" ] && ! podman image exists "$PREFIX/$1"; then
		echo missing
	elif [ "$label" = "$2" ]; then
		echo current
	else
		echo stale
	fi
}

# kill_tree PID: end PID and its descendants (a debootstrap under a subshell).
kill_tree()
{
	local child
	kill -STOP "$1" 2>/dev/null || return 0
	for child in $(ps -o pid= --ppid "$1"); do
		kill_tree "$child"
	done
	kill -TERM "$1" 2>/dev/null
	kill -CONT "$1" 2>/dev/null || true
}

# Unmount what an interrupted debootstrap left mounted, then remove WORK.
# shellcheck disable=SC2317  # called through trap
cleanup()
{
	[ -n "$WORK" ] && [ -d "$WORK" ] || return 0
	local pid
	for pid in $(jobs -p); do
		kill_tree "$pid"
	done
	wait 2>/dev/null || true
	findmnt -rn -o TARGET | grep -F "$WORK/" | sort -r | xargs -r umount -l 2>/dev/null || true
	rm -rf --one-file-system "$WORK"
}

# import_rootfs DIR ROW HASH: tar DIR into the image of ROW, labelled; drop the image
# it replaces when nothing uses it any more.
import_rootfs()
{
	local dir=$1 runtime image role maker packages hash=$3 ref old new
	read -r runtime image role maker packages <<<"$2"
	ref=$PREFIX/$image
	old=$(podman image inspect --format '{{.Id}}' "$ref" 2>/dev/null || true)
	local changes=(
		--change "LABEL cpub.recipe=$hash"
		--change "LABEL cpub.runtime=$runtime"
		--change "LABEL cpub.role=$role"
		--change "LABEL cpub.made-by=$maker"
		--change "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
		--change 'CMD ["/bin/sh"]'
	)
	if [ "$maker" = debootstrap ]; then
		changes+=(--change "ENV LANG=C.UTF-8")
	fi
	# On failure the name still points at the old image: leave it.
	new=$(tar --numeric-owner -C "$dir" -c . |
		podman import -q "${changes[@]}" --message "scripts/images.sh: $maker $packages" - "$ref") ||
		return 1
	[ -n "$new" ] || return 1
	if [ -n "$old" ] && [ "sha256:$old" != "$new" ] && [ "$old" != "${new#sha256:}" ]; then
		podman rmi "$old" >/dev/null 2>&1 ||
			echo "images: the previous $ref (${old:0:12}) is still in use; left in place"
	fi
}

# Build the images of the rows given, concurrently; print a line per image.
build()
{
	local rows=("$@") row runtime image role maker packages hash i t failed=0
	local -a pids hashes starts
	WORK=$(mktemp -d /tmp/cpub-images.XXXXXX)
	for i in "${!rows[@]}"; do
		row=${rows[$i]}
		read -r runtime image role maker packages <<<"$row"
		hashes[i]=$(recipe_hash "$row")
		starts[i]=$EPOCHREALTIME
		if [ "$packages" = - ]; then
			echo "images: making $PREFIX/$image ($maker)"
		else
			echo "images: making $PREFIX/$image ($maker with $packages)"
		fi
		(
			t=$EPOCHREALTIME
			"make_$maker" "$WORK/$image" "$packages"
			elapsed "$t" >"$WORK/$image.seconds"
		) >"$WORK/$image.log" 2>&1 &
		pids[i]=$!
	done
	for i in "${!rows[@]}"; do
		row=${rows[$i]}
		read -r runtime image role maker packages <<<"$row"
		if ! wait "${pids[$i]}"; then
			echo "images: FAILED to make $PREFIX/$image; the end of its log:" >&2
			tail -n 30 "$WORK/$image.log" >&2
			failed=1
			continue
		fi
		t=$EPOCHREALTIME
		if ! import_rootfs "$WORK/$image" "$row" "${hashes[$i]}"; then
			echo "images: FAILED to import $PREFIX/$image" >&2
			failed=1
			continue
		fi
		echo "images: built $PREFIX/$image in $(elapsed "${starts[$i]}") s" \
			"(rootfs $(cat "$WORK/$image.seconds") s, import $(elapsed "$t") s)," \
			"$(image_size "$PREFIX/$image"), recipe ${hashes[$i]:0:12}"
		rm -rf --one-file-system "${WORK:?}/$image"
	done
	return "$failed"
}

# select_rows [IMAGE...]: the rows of the IMAGEs named (all when none) into
# ROWS.  Run in the main shell, not in $(...), so that an unknown name ends
# the script.
select_rows()
{
	local name row
	ROWS=()
	if [ $# -eq 0 ]; then
		ROWS=("${IMAGES[@]}")
		return 0
	fi
	for name in "$@"; do
		row=$(row_of "${name#"$PREFIX"/}") ||
			die "no image $name in the table (images: $(image_names))"
		ROWS+=("$row")
	done
}

# The image names of the table, space-separated.
image_names()
{
	local row runtime image rest names=()
	for row in "${IMAGES[@]}"; do
		read -r runtime image rest <<<"$row"
		names+=("$image")
	done
	echo "${names[*]}"
}

cmd_build()
{
	local rows=() todo=() row runtime image role maker packages state hash
	select_rows "$@"
	rows=("${ROWS[@]}")
	for row in "${rows[@]}"; do
		read -r runtime image role maker packages <<<"$row"
		if [ "$(image_state "$image" "$(recipe_hash "$row")")" != current ]; then
			todo+=("$row")
		fi
	done
	if [ ${#todo[@]} -gt 0 ]; then
		exec 9>>"$LOCK"
		if ! flock -n 9; then
			echo "images: waiting for another scripts/images.sh ($LOCK)"
			flock 9
		fi
		# Another run may have built them meanwhile.
		todo=()
		for row in "${rows[@]}"; do
			read -r runtime image role maker packages <<<"$row"
			hash=$(recipe_hash "$row")
			state=$(image_state "$image" "$hash")
			if [ "$state" = current ]; then
				echo "images: $PREFIX/$image up to date (recipe ${hash:0:12})"
			else
				[ "$state" = stale ] && echo "images: $PREFIX/$image is stale (its recipe changed)"
				todo+=("$row")
			fi
		done
		if [ ${#todo[@]} -gt 0 ] && ! build "${todo[@]}"; then
			die "some images could not be built (above)"
		fi
	else
		for row in "${rows[@]}"; do
			read -r runtime image role maker packages <<<"$row"
			echo "images: $PREFIX/$image up to date (recipe $(recipe_hash "$row" | cut -c1-12))"
		done
	fi
	echo "images: done in $(elapsed "$T0") s (c functions run FROM scratch: built per function by the worker)"
}

cmd_status()
{
	local rows=() row runtime image role maker packages hash state all=0
	select_rows "$@"
	rows=("${ROWS[@]}")
	printf '%-28s %-8s %-10s %s\n' IMAGE STATE SIZE RECIPE
	for row in "${rows[@]}"; do
		read -r runtime image role maker packages <<<"$row"
		hash=$(recipe_hash "$row")
		state=$(image_state "$image" "$hash")
		printf '%-28s %-8s %-10s %s\n' "$PREFIX/$image" "$state" \
			"$(image_size "$PREFIX/$image")" "${hash:0:12}"
		[ "$state" = current ] || all=1
	done
	return "$all"
}

trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

cmd=build
case "${1:-}" in
build | status | recipe)
	cmd=$1
	shift
	;;
-h | --help | help) usage ;;
esac

command -v podman >/dev/null || die "podman is not installed (scripts/deps.sh)"
if [ -z "${CONTAINERS_CONF:-}" ]; then
	CONTAINERS_CONF=$("$ROOT/scripts/podman.sh")
fi
export CONTAINERS_CONF

case $cmd in
build) cmd_build "$@" ;;
status) cmd_status "$@" ;;
recipe)
	[ $# -eq 1 ] || usage
	select_rows "$1"
	recipe_hash "${ROWS[0]}"
	;;
esac
