#!/usr/bin/env bash
# scripts/deps.sh: install the Debian packages ContainerPub needs, when missing.
#
#   scripts/deps.sh          what make, make test and make run need
#   scripts/deps.sh bench    that, and what the benchmarks need besides
#                            (make bench): wrk and curl for bench/http.sh
#
# Idempotent: asks dpkg first and calls apt-get only for what is absent, so a
# second run costs a fraction of a second.  Works as root, uses sudo otherwise.
# Non-interactive (CI has no stdin).
set -euo pipefail

PACKAGES=(
	build-essential pkg-config clang-format
	postgresql-15 postgresql-server-dev-15 postgresql-contrib
	postgresql-15-pgtap libtap-parser-sourcehandler-pgtap-perl
	libpq-dev libsodium-dev libmicrohttpd-dev libjansson-dev
	libcurl4-openssl-dev libarchive-dev libssl-dev
	curl jq openssl
	# the worker's containers (scripts/podman.sh, scripts/images.sh; see
	# docs/podman.md): root podman with both OCI runtimes (podman.sh picks
	# one), netavark as the network stack podman's common files require
	# (rather than the CNI plugins; our containers all run --network none),
	# newuidmap for user namespaces, and what the base images are made from:
	# debootstrap and busybox-static; catatonit, the init of --init
	podman runc crun netavark uidmap debootstrap busybox-static catatonit
)
BENCH_PACKAGES=(wrk curl)
# node and npm for the tests' OpenID Connect provider (tests/oidc/README.md),
# asked for as commands rather than packages: a NodeSource nodejs bundles npm,
# and Debian's npm package would fight it.  Debian 12's own nodejs has no npm,
# so both: node 18.20 and npm 9.2, which the provider runs on.
NODE_PACKAGES=(nodejs npm)

case "${1:-}" in
'') ;;
bench) PACKAGES+=("${BENCH_PACKAGES[@]}") ;;
*)
	echo "usage: $0 [bench]" >&2
	exit 2
	;;
esac

missing=()
for p in "${PACKAGES[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed'; then
		missing+=("$p")
	fi
done
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
	missing+=("${NODE_PACKAGES[@]}")
fi

if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi

SUDO=
if [ "$(id -u)" -ne 0 ]; then
	SUDO=sudo
fi

echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Wait for a dpkg lock held by another install instead of failing at once.
APT=(apt-get -o DPkg::Lock::Timeout=600)
$SUDO "${APT[@]}" update -qq
# Debian starts a "main" cluster on install; we never use it, so keep it off.
if [ ! -e /etc/postgresql-common/createcluster.d/containerpub.conf ]; then
	$SUDO mkdir -p /etc/postgresql-common/createcluster.d
	echo "create_main_cluster = false" |
		$SUDO tee /etc/postgresql-common/createcluster.d/containerpub.conf >/dev/null
fi
$SUDO "${APT[@]}" install -y -qq --no-install-recommends "${missing[@]}"
