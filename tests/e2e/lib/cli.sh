# tests/e2e/lib/cli.sh: what the end-to-end tests of cpub (tests/e2e/cli_*.t)
# share: the binary, its own configuration folder, and runs of it that set
# OUT, ERR and RC.  Sourced after lib/http.sh, never run.
#
#   cpub ARGS...           cli/cpub --server $URL ARGS, from $CWD, else $SRC,
#                          else the current folder; standard input not a
#                          terminal
#   cpub_in INPUT ARGS...  the same with INPUT on standard input
#   is_rc WANT DESC        the last run exited WANT
#   has TEXT DESC, err_has TEXT DESC   its standard output (error) holds TEXT
#   one [TEXT]             TEXT (or standard input) on one line
#
# $CREDS is the credentials file of the XDG_CONFIG_HOME under $WORK.

# shellcheck shell=bash
CPUB=$ROOT/cli/cpub
[ -x "$CPUB" ] || bail_out "$CPUB is missing (make builds it)"

export XDG_CONFIG_HOME=$WORK/config
unset CPUB_SERVER
CREDS=$XDG_CONFIG_HOME/cpub/credentials.json

cpub()
{
	OUT=$(cd "${CWD:-${SRC:-.}}" && "$CPUB" --server "$URL" "$@" 2>"$WORK/cpub.err" </dev/null)
	RC=$?
	ERR=$(cat "$WORK/cpub.err")
}

cpub_in()
{
	local input=$1
	shift
	OUT=$(cd "${CWD:-${SRC:-.}}" && printf '%s' "$input" |
		"$CPUB" --server "$URL" "$@" 2>"$WORK/cpub.err")
	RC=$?
	ERR=$(cat "$WORK/cpub.err")
}

is_rc()
{
	[ "$RC" = "$1" ]
	tap_ok $? "$2 (exit $RC)" || diag "stdout: $OUT" "stderr: $ERR"
}

has()
{
	[[ $OUT == *"$1"* ]]
	tap_ok $? "$2" || diag "stdout: $OUT" "stderr: $ERR"
}

err_has()
{
	[[ $ERR == *"$1"* ]]
	tap_ok $? "$2" || diag "stdout: $OUT" "stderr: $ERR"
}

one()
{
	if [ $# -gt 0 ]; then
		tr '\n' ' ' <<<"$1"
	else
		tr '\n' ' '
	fi
}
