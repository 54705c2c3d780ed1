# tests/e2e/lib/tap.sh: TAP output for the bash e2e tests (sourced).
#
# tap_ok STATUS DESCRIPTION (also ok): one "ok N" / "not ok N" line, counted
# in n and failed; diag TEXT; done_testing prints the plan last and exits;
# bail_out TEXT.

n=0
failed=0

tap_ok()
{
	n=$((n + 1))
	if [ "$1" = 0 ]; then
		echo "ok $n - $2"
	else
		echo "not ok $n - $2"
		failed=$((failed + 1))
	fi
	[ "$1" = 0 ]
}

# diag TEXT: a comment line per line of TEXT (shown by prove on failure).
diag()
{
	printf '%s\n' "$*" | head -c 2000 | sed 's/^/# /'
}

# The plan comes last: a script that dies half-way has none, and prove
# counts it failed.
done_testing()
{
	echo "1..$n"
	[ "$failed" -eq 0 ]
	exit $?
}

bail_out()
{
	echo "Bail out! $*"
	exit 1
}

# ok: the older tests' name for tap_ok.
ok()
{
	tap_ok "$@"
}
