#!/usr/bin/env bash
# scripts/cluster.sh: manage a PostgreSQL 15 cluster that lives in one folder.
#
#   cluster.sh init DIR PORT          initdb into DIR/data unless it exists
#   cluster.sh start DIR PORT [ARG..] start it; ARGs go to postgres (-c x=y)
#   cluster.sh stop DIR               stop it (fast shutdown), if running
#   cluster.sh status DIR             pg_ctl status; exit 3 when not running
#   cluster.sh psql-hint DIR PORT     print how to connect with psql
#
# Layout of DIR: data/ (the cluster), log (server log), socketdir (the folder
# holding the Unix socket: DIR itself, or /tmp/cpub-<hash> when the socket
# path would be too long), port (the port of the last start).
#
# initdb and postgres refuse to run as root: as root we run them as the
# "postgres" system user (created when missing) and hand DIR over to it.
# Existing data is never removed.  The server listens on the Unix socket only
# (listen_addresses=''); pass -c listen_addresses=127.0.0.1 to add TCP.
# Set CPUB_INITDB_NOSYNC=1 to skip fsync in initdb (throwaway clusters).
set -euo pipefail

PGBIN=/usr/lib/postgresql/15/bin
PGUSER_OS=postgres
SOCKET_PATH_MAX=100

die()
{
	echo "cluster: $*" >&2
	exit 1
}

usage()
{
	sed -n '3,8p' "$0" | sed 's/^# *//' >&2
	exit 2
}

is_root()
{
	[ "$(id -u)" -eq 0 ]
}

# Run a command as the user that owns the cluster.
as_owner()
{
	if is_root; then
		# From /, as PostgreSQL's tools try to return to the current folder,
		# which the owner may not be able to enter (e.g. a checkout in /root).
		(cd / && runuser -u "$PGUSER_OS" -- "$@")
	else
		"$@"
	fi
}

# Quote one word for /bin/sh (pg_ctl passes -o through a shell).
shquote()
{
	printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"
}

ensure_os_user()
{
	is_root || return 0
	if ! id -u "$PGUSER_OS" >/dev/null 2>&1; then
		useradd --system --user-group --home-dir /var/lib/postgresql \
			--shell /usr/sbin/nologin "$PGUSER_OS"
	fi
}

# The first folder on the way to $1 that the cluster owner cannot enter.
blocking_ancestor()
{
	local p=$1 acc=""
	local IFS=/
	for part in $p; do
		[ -n "$part" ] || continue
		acc="$acc/$part"
		if ! as_owner test -x "$acc" 2>/dev/null; then
			echo "$acc"
			return
		fi
	done
	echo "$p"
}

# DIR is handed over to the owner, so what matters are the folders above it.
check_reachable()
{
	local dir=$1 parent
	is_root || return 0
	parent=$(dirname "$dir")
	if ! runuser -u "$PGUSER_OS" -- test -x "$parent" 2>/dev/null; then
		local block
		block=$(blocking_ancestor "$parent")
		die "the '$PGUSER_OS' user, which runs the server, cannot reach $dir" \
			"because it cannot enter $block.  Put the cluster under a folder" \
			"it can traverse (e.g. /tmp or /var/lib), or allow it with:" \
			"chmod o+x $block"
	fi
}

# Absolute path of DIR (created if missing).
resolve_dir()
{
	[ -n "${1:-}" ] || usage
	mkdir -p "$1"
	(cd "$1" && pwd -P)
}

check_port()
{
	case "${1:-}" in
	'' | *[!0-9]*) die "bad port '${1:-}'" ;;
	esac
}

# Choose the socket folder for DIR and PORT, create it, record it.
choose_socketdir()
{
	local dir=$1 port=$2 sock
	sock=$dir
	if [ $((${#dir} + ${#port} + 12)) -gt $SOCKET_PATH_MAX ]; then
		sock=/tmp/cpub-$(printf '%s' "$dir" | sha1sum | cut -c1-16)
		mkdir -p "$sock"
		chmod 0700 "$sock"
		if is_root; then
			chown "$PGUSER_OS": "$sock"
		fi
	fi
	echo "$sock" >"$dir/socketdir"
	echo "$sock"
}

socketdir_of()
{
	if [ -s "$1/socketdir" ]; then
		cat "$1/socketdir"
	else
		echo "$1"
	fi
}

is_running()
{
	[ -f "$1/data/PG_VERSION" ] &&
		as_owner "$PGBIN/pg_ctl" -D "$1/data" status >/dev/null 2>&1
}

cmd_init()
{
	local dir port
	dir=$(resolve_dir "${1:-}")
	port=${2:-}
	check_port "$port"
	ensure_os_user
	check_reachable "$dir"
	if is_root; then
		chown "$PGUSER_OS": "$dir"
	fi
	choose_socketdir "$dir" "$port" >/dev/null
	if [ -f "$dir/data/PG_VERSION" ]; then
		echo "cluster: reusing existing data in $dir/data"
		return 0
	fi
	if [ -e "$dir/data" ] && [ -n "$(ls -A "$dir/data")" ]; then
		die "$dir/data exists and is not a PostgreSQL cluster; not touching it"
	fi
	local nosync=()
	if [ "${CPUB_INITDB_NOSYNC:-0}" = 1 ]; then
		nosync=(--no-sync)
	fi
	as_owner "$PGBIN/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 \
		--locale=C "${nosync[@]}" >"$dir/initdb.log" 2>&1 ||
		{
			cat "$dir/initdb.log" >&2
			die "initdb failed in $dir/data"
		}
	echo "cluster: initialised $dir/data"
}

cmd_start()
{
	local dir port sock opts
	dir=$(resolve_dir "${1:-}")
	port=${2:-}
	check_port "$port"
	shift 2
	[ -f "$dir/data/PG_VERSION" ] || die "no cluster in $dir/data; run: $0 init $dir $port"
	check_reachable "$dir"
	if is_running "$dir"; then
		echo "cluster: already running in $dir (port $(cat "$dir/port" 2>/dev/null || echo '?'))"
		return 0
	fi
	sock=$(choose_socketdir "$dir" "$port")
	echo "$port" >"$dir/port"
	if is_root; then
		chown "$PGUSER_OS": "$dir/socketdir" "$dir/port"
		touch "$dir/log"
		chown "$PGUSER_OS": "$dir/log"
	fi
	opts="-p $port -k $(shquote "$sock") -c listen_addresses=''"
	for a in "$@"; do
		opts="$opts $(shquote "$a")"
	done
	if ! as_owner "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/log" -o "$opts" \
		-w -t 60 start >/dev/null; then
		echo "cluster: could not start the server; end of $dir/log:" >&2
		tail -n 20 "$dir/log" >&2 || true
		exit 1
	fi
	echo "cluster: running in $dir on port $port, socket in $sock"
}

cmd_stop()
{
	local dir
	[ -n "${1:-}" ] || usage
	[ -d "$1" ] || die "no such folder $1"
	dir=$(cd "$1" && pwd -P)
	if ! is_running "$dir"; then
		echo "cluster: not running in $dir"
		return 0
	fi
	as_owner "$PGBIN/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null
	echo "cluster: stopped $dir"
}

cmd_status()
{
	local dir
	[ -n "${1:-}" ] || usage
	[ -d "$1/data" ] || die "no cluster in $1/data"
	dir=$(cd "$1" && pwd -P)
	as_owner "$PGBIN/pg_ctl" -D "$dir/data" status
}

cmd_psql_hint()
{
	local dir port sock
	[ -n "${1:-}" ] || usage
	dir=$(cd "$1" && pwd -P)
	port=${2:-$(cat "$dir/port" 2>/dev/null || true)}
	check_port "$port"
	sock=$(socketdir_of "$dir")
	echo "psql -h $sock -p $port -U postgres ${3:-postgres}"
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
init) cmd_init "$@" ;;
start) cmd_start "$@" ;;
stop) cmd_stop "$@" ;;
status) cmd_status "$@" ;;
psql-hint) cmd_psql_hint "$@" ;;
*) usage ;;
esac
