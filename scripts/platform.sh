#!/usr/bin/env bash
# scripts/platform.sh: run the embedded ContainerPub platform (start|stop|status).
#
# The platform's PostgreSQL lives in var/pg of the repository (or
# $CPUB_PGDIR, e.g. when the postgres user cannot reach the checkout) and
# keeps its data across runs.  start creates the cluster on first use, starts it on
# port $CPUB_PGPORT (default 15432) listening on its Unix socket and on
# 127.0.0.1, creates the database "containerpub" with the extension if
# missing, and prints how to connect.  Expects the extension to be installed
# already (make install).  Then starts the HTTP front, httpd/cpub-httpd, on
# 127.0.0.1:$CPUB_HTTP_PORT (default 8080) with the settings in
# var/httpd.conf (written on first start; edit it and restart), logging to
# var/httpd.log (errors) and var/httpd-access.log.  Then the worker,
# worker/cpub-worker, with the settings in var/worker.conf (written on first
# start), its sockets and build folders in var/worker/, Podman configured by
# scripts/podman.sh (make run builds the base images first: make images),
# logging to var/worker.log.
#
# The server secret key, which encrypts functions' environment variables and
# invocation keys (cpub.secret_key_file, docs/secrets.md), is made once next
# to the cluster folder (var/secret.key, or $CPUB_SECRET_KEY_FILE): 32 random
# bytes in hexadecimal, mode 0600, owned by the server's user.  It is never
# replaced; without it the stored secrets cannot be decrypted.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd -P)
CLUSTER=$ROOT/scripts/cluster.sh
PGBIN=/usr/lib/postgresql/15/bin
DIR=${CPUB_PGDIR:-$ROOT/var/pg}
PORT=${CPUB_PGPORT:-15432}
DB=containerpub
KEYFILE=$(realpath -m "${CPUB_SECRET_KEY_FILE:-$(dirname "$DIR")/secret.key}")
VAR=$(dirname "$DIR")
HTTP_PORT=${CPUB_HTTP_PORT:-8080}
HTTPD=$ROOT/httpd/cpub-httpd
WORKER=$ROOT/worker/cpub-worker

psql_admin()
{
	"$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$(cat "$DIR/socketdir")" \
		-p "$(cat "$DIR/port")" -U postgres "$@"
}

# Make the server secret key unless it exists; refuse one others can read.
ensure_secret_key()
{
	local mode
	if [ ! -e "$KEYFILE" ]; then
		mkdir -p "$(dirname "$KEYFILE")"
		# noclobber: never overwrite a key that appeared meanwhile.
		(set -C && umask 077 &&
			od -An -tx1 -N32 -v /dev/urandom | tr -d ' \n' >"$KEYFILE" &&
			echo >>"$KEYFILE")
		if [ "$(id -u)" -eq 0 ]; then
			chown postgres: "$KEYFILE"
		fi
		echo "platform: created the server secret key $KEYFILE;" \
			"back it up (stored secrets cannot be decrypted without it)"
	fi
	mode=$(stat -c %a "$KEYFILE")
	if [ $((8#$mode & 8#077)) -ne 0 ]; then
		echo "platform: $KEYFILE is accessible to group or others" \
			"(mode $mode); the server refuses it: chmod 0600 $KEYFILE" >&2
		exit 1
	fi
}

start()
{
	mkdir -p "$(dirname "$DIR")"
	"$CLUSTER" init "$DIR" "$PORT" || {
		echo "platform: or choose another folder:" \
			"CPUB_PGDIR=/var/lib/containerpub/pg make run" >&2
		exit 1
	}
	ensure_secret_key
	"$CLUSTER" start "$DIR" "$PORT" -c listen_addresses=127.0.0.1 \
		-c cpub.secret_key_file="$KEYFILE"
	# An already running server keeps the port and settings it was started with.
	PORT=$(cat "$DIR/port")
	if [ "$(psql_admin -At -d postgres -c "SHOW cpub.secret_key_file" 2>/dev/null)" != "$KEYFILE" ]; then
		echo "platform: the running server was started without" \
			"cpub.secret_key_file=$KEYFILE, so secrets cannot be used;" \
			"restart it: make stop && make run" >&2
	fi
	if [ "$(psql_admin -At -d postgres \
		-c "SELECT count(*) FROM pg_database WHERE datname = '$DB'")" = 0 ]; then
		psql_admin -d postgres -c "CREATE DATABASE $DB"
		echo "platform: created database $DB"
	fi
	# Until the first release the install script changes without upgrade
	# scripts: remember which one made the database's extension and say so
	# when the installed one differs.
	local script stamp
	script="$(pg_config --sharedir)/extension/containerpub--0.1.sql"
	stamp=$(md5sum "$script" | cut -d' ' -f1)
	if [ "$(psql_admin -At -d "$DB" \
		-c "SELECT count(*) FROM pg_extension WHERE extname = 'containerpub'")" = 0 ]; then
		psql_admin -d "$DB" -c "SET client_min_messages = warning" \
			-c "CREATE EXTENSION containerpub CASCADE" &&
			echo "$stamp" >"$DIR/extension.md5"
	elif [ "$(cat "$DIR/extension.md5" 2>/dev/null)" != "$stamp" ]; then
		echo "platform: WARNING: database $DB has the extension of an older" \
			"build (before 1.0 there are no upgrade scripts); to start afresh," \
			"losing its data: make stop && rm -rf $DIR && make run" >&2
	fi
	echo "platform: extension containerpub $(psql_admin -At -d "$DB" \
		-c "SELECT extversion FROM pg_extension WHERE extname = 'containerpub'")" \
		"ready in database $DB"
	echo
	echo "Connect with:"
	echo "  $("$CLUSTER" psql-hint "$DIR" "$PORT" "$DB")"
	echo "  psql \"host=127.0.0.1 port=$PORT user=postgres dbname=$DB\""
	local stop_cmd="make stop"
	if [ -n "${CPUB_PGDIR:-}" ]; then
		stop_cmd="CPUB_PGDIR=$DIR make stop"
	fi
	echo "Server log: $DIR/log    Stop with: $stop_cmd"
	echo "Server secret key: $KEYFILE (back it up with the data)"
	start_httpd
	start_worker
}

# start_daemon NAME: starts "$@" (after NAME) in the background unless
# var/NAME.pid names a live process; output to var/NAME.log.
start_daemon()
{
	local name=$1 pid
	shift
	if pid=$(cat "$VAR/$name.pid" 2>/dev/null) && kill -0 "$pid" 2>/dev/null; then
		echo "platform: $name already running (pid $pid)"
		return 0
	fi
	"$@" </dev/null >>"$VAR/$name.log" 2>&1 &
	echo $! >"$VAR/$name.pid"
}

# stop_daemon NAME [SECONDS]: SIGTERM to var/NAME.pid, waiting up to
# SECONDS (default 5) for it to exit.
stop_daemon()
{
	local name=$1 wait=${2:-5} pid i
	pid=$(cat "$VAR/$name.pid" 2>/dev/null) || return 0
	if kill "$pid" 2>/dev/null; then
		for i in $(seq 1 $((wait * 10))); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$pid" 2>/dev/null; then
			echo "platform: $name did not stop within $wait s; killing it" >&2
			kill -9 "$pid" 2>/dev/null || true
		else
			echo "platform: $name stopped"
		fi
	fi
	rm -f "$VAR/$name.pid"
}

# The worker: builds and runs functions with root Podman.
start_worker()
{
	local conf=$VAR/worker.conf pid
	if [ ! -f "$conf" ]; then
		{
			echo "# cpub-worker settings (cpub-worker --help lists them all)."
			echo "# Written by scripts/platform.sh; edit, then make stop && make run."
			echo "database = 'host=$(cat "$DIR/socketdir") port=$PORT dbname=$DB user=cpub_worker'"
			echo "state_dir = $VAR/worker"
		} >"$conf"
	fi
	CONTAINERS_CONF=$("$ROOT/scripts/podman.sh") \
		start_daemon worker "$WORKER" --config "$conf"
	sleep 0.3
	pid=$(cat "$VAR/worker.pid")
	if ! kill -0 "$pid" 2>/dev/null; then
		echo "platform: the worker exited; the end of $VAR/worker.log:" >&2
		tail -n 20 "$VAR/worker.log" >&2
		exit 1
	fi
	echo "worker: running (pid $pid), log $VAR/worker.log"
}

# The HTTP front: started unless already running; waits until /ready.
start_httpd()
{
	local conf=$VAR/httpd.conf i url
	if [ ! -f "$conf" ]; then
		{
			echo "# cpub-httpd settings (cpub-httpd --help lists them all)."
			echo "# Written by scripts/platform.sh; edit, then make stop && make run."
			echo "listen_address = 127.0.0.1"
			echo "port = $HTTP_PORT"
			echo "database = 'host=$(cat "$DIR/socketdir") port=$PORT dbname=$DB user=cpub_httpd'"
			echo "access_log = $VAR/httpd-access.log"
		} >"$conf"
	fi
	start_daemon httpd "$HTTPD" --config "$conf"
	url="http://$(sed -n 's/^listen_address *= *//p' "$conf" | tail -n 1):$(sed -n 's/^port *= *//p' "$conf" | tail -n 1)"
	for i in $(seq 1 50); do
		if curl -fs "$url/ready" >/dev/null 2>&1; then
			echo
			echo "HTTP API: $url  (curl $url/health; the routes: $url/api/openapi.json)"
			echo "httpd log: $VAR/httpd.log    access log: $VAR/httpd-access.log"
			if [ "$url" = "http://127.0.0.1:8080" ]; then
				echo "CLI: cpub register EMAIL, then cpub login EMAIL (cpub help lists the commands)"
			else
				echo "CLI: export CPUB_SERVER=$url; then cpub register EMAIL, cpub login EMAIL (cpub help)"
			fi
			return 0
		fi
		if ! kill -0 "$(cat "$VAR/httpd.pid")" 2>/dev/null; then
			break
		fi
		sleep 0.1
	done
	echo "platform: httpd did not become ready; the end of $VAR/httpd.log:" >&2
	tail -n 20 "$VAR/httpd.log" >&2
	exit 1
}

stop()
{
	# The worker first: it finishes what it holds and removes its
	# containers (a build may take a while).
	stop_daemon worker 120
	stop_daemon httpd
	if [ ! -d "$DIR/data" ]; then
		echo "platform: nothing to stop (no cluster in $DIR;" \
			"set CPUB_PGDIR to the folder given to make run)"
		return 0
	fi
	"$CLUSTER" stop "$DIR"
}

status()
{
	if [ ! -d "$DIR/data" ]; then
		echo "platform: no cluster in $DIR"
		return 3
	fi
	local pid name
	for name in httpd worker; do
		if pid=$(cat "$VAR/$name.pid" 2>/dev/null) && kill -0 "$pid" 2>/dev/null; then
			echo "$name: running (pid $pid)"
		else
			echo "$name: not running"
		fi
	done
	"$CLUSTER" status "$DIR"
}

case "${1:-}" in
start) start ;;
stop) stop ;;
status) status ;;
*)
	echo "usage: $0 start|stop|status" >&2
	exit 2
	;;
esac
