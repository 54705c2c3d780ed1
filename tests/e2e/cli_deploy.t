#!/usr/bin/env bash
# tests/e2e/cli_deploy.t: cpub deploy, the real cli/cpub against the real
# stack (cpub-httpd, cpub-worker, root Podman), every path of it:
#
# - a first deploy creates the function, shows the build log as the worker
#   writes it and ends with the active version and its endpoint;
# - an unchanged folder is not sent again (--force sends it), a changed
#   setting of cpub.json is PATCHed without an upload;
# - --no-activate builds without serving, and a plain deploy of the same
#   folder then serves it (ready, or still building); --no-wait returns
#   before the build is done; an interrupted deploy leaves the build going;
# - a build that fails: the compiler's line, exit 3, the old version still
#   serves;
# - what the analysis refuses before any byte is sent (exit 5): manifests,
#   entry files, secrets (by name and content; --include and "include" let
#   them through), risky calls of each runtime (--allow-risky), links, an
#   archive over the tier's limit; each with its message, and nothing
#   created or uploaded (the server's versions and its access log);
# - not logged in (3), no server (4), usage (2);
# - the upload's progress bar on a terminal (script), and none without.
# --json outputs are parsed with jq; the function's answers come from cpub
# invoke.
#
# Needs PGHOST/PGPORT/PGUSER of a cluster with the extension installed and
# CONTAINERS_CONF (tests/run.sh exports them), the base images (make
# images), script (util-linux) for a terminal.  Prints TAP.
set -uo pipefail

# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib/http.sh"
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib/worker.sh"
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib/cli.sh"

command -v script >/dev/null || bail_out "script (util-linux) is missing"

SRC=$WORK/src
mkdir -p "$SRC"

# cpub (lib/cli.sh) runs from $SRC, or from $CWD when it is set.
CWD=

# cpub_tty ARGS...: cpub on a terminal (script); OUT is what the terminal
# showed (standard output and error, line ends as the terminal has them),
# RC the exit status.
cpub_tty()
{
	local cmd
	cmd=$(printf '%q ' "$CPUB" --server "$URL" "$@")
	OUT=$(cd "$SRC" && LC_ALL=C.UTF-8 script -qec "$cmd" /dev/null </dev/null 2>&1)
	RC=$?
	ERR=
}

# json FILTER DESC: the last stdout is JSON and FILTER holds.
json()
{
	jq -e "$1" <<<"$OUT" >/dev/null 2>&1
	tap_ok $? "$2" || diag "stdout: $OUT" "stderr: $ERR"
}

# check DESC COMMAND...: an assertion that COMMAND succeeds, showing the
# last run when it does not.
check()
{
	local desc=$1
	shift
	"$@"
	tap_ok $? "$desc" || diag "exit $RC" "stdout: $OUT" "stderr: $ERR"
}

# nversions NAME: how many versions the database has of ada's function
# NAME ("none" when there is no such function).
nversions()
{
	q "SELECT CASE WHEN count(f.id) = 0 THEN 'none' ELSE count(v.id)::text END
		 FROM cpub.functions f LEFT JOIN cpub.function_versions v ON v.function_id = f.id
		WHERE f.name = '$1'"
}

# version_field NAME VERSION FIELD: a field of a version, asked with curl.
version_field()
{
	req GET "/api/functions/$1/versions?limit=100"
	jqr ".[] | select(.version == $2) | .$3"
}

# uploads: how many deploys (POST .../deploy) the server's access log has.
uploads()
{
	jq -c 'select(.method == "POST" and (.path | test("/deploy")))' \
		"$WORK/main.access" 2>/dev/null | wc -l
}

# wait_ready NAME VERSION: up to 180 s for the version to be built; prints
# its status.
wait_ready()
{
	local st
	for _ in $(seq 900); do
		st=$(version_field "$1" "$2" status)
		case $st in
		ready | failed)
			echo "$st"
			return 0
			;;
		esac
		sleep 0.2
	done
	echo timeout
	return 1
}

# answer NAME: the body cpub invoke prints for NAME (GET), into BODY.
answer()
{
	BODY=$(cd "$SRC" && "$CPUB" --server "$URL" invoke "$1" 2>&1 </dev/null)
}

# manifest_set DIR JQ: edits DIR/cpub.json with a jq filter.
manifest_set()
{
	jq "$2" "$1/cpub.json" >"$WORK/cpub.json" && mv "$WORK/cpub.json" "$1/cpub.json"
}

db_create cpub_e2e_cli_deploy || bail_out "could not create the database"
# More functions than the free tier's 5, and calls in a row.
q "SELECT count(*) FROM cpub_admin.tier_update(name => 'free', max_functions => 50,
		requests_per_second => 1000)" >/dev/null
server_start main || bail_out "cpub-httpd did not start"
worker_start w1 || bail_out "cpub-worker did not start"

cpub init --runtime c hello
[ "$RC" = 0 ] || bail_out "cpub init failed: $ERR"

# --- before a login; usage ---------------------------------------------------------

cpub deploy hello
is_rc 3 "deploy before login: refused"
err_has "not logged in to $URL" "it says not logged in (stderr: $(one "$ERR"))"
tap_ok "$([ "$(nversions hello)" = none ]; echo $?)" "and no function was created"

cpub_in $'analytical engine\n' register ada@example.com
is_rc 0 "register with the real binary"
cpub_in $'analytical engine\n' login ada@example.com
is_rc 0 "login with the real binary"
TOKEN=$(jq -r --arg s "$URL" '.servers[$s].access_token' "$CREDS")
ADA_ID=$(jq -r --arg s "$URL" '.servers[$s].user_id' "$CREDS")
[[ $TOKEN == cpa_* && -n $ADA_ID ]] || bail_out "no token in $CREDS"

cpub deploy hello --bogus
is_rc 2 "an unknown option: usage error"
err_has "unknown or ambiguous option --bogus" "it names the option (stderr: $(one "$ERR"))"
cpub deploy --no
is_rc 2 "an ambiguous option (--no-wait or --no-activate): usage error"
err_has "unknown or ambiguous option --no" "it says it may be ambiguous (stderr: $(one "$ERR"))"
cpub deploy hello hello
is_rc 2 "two paths: usage error"
err_has "unexpected argument hello" "it names the second (stderr: $(one "$ERR"))"
err_has "usage: cpub deploy [PATH] [OPTIONS]" "and shows the usage"

# The credentials under the name of a server that does not answer.
jq --arg s "$URL" '.servers["http://127.0.0.1:1"] = .servers[$s]' "$CREDS" >"$WORK/creds" &&
	cat "$WORK/creds" >"$CREDS"
OUT=$(cd "$SRC" && "$CPUB" --server http://127.0.0.1:1 deploy hello 2>"$WORK/cpub.err" </dev/null)
RC=$?
ERR=$(cat "$WORK/cpub.err")
is_rc 4 "deploy to a server that is down: cannot connect"
err_has "could not connect to http://127.0.0.1:1" "it says so (stderr: $(one "$ERR"))"
tap_ok "$([ "$(nversions hello)" = none ] && [ "$(uploads)" = 0 ]; echo $?)" \
	"nothing was created or uploaded so far"

# --- the first deploy ----------------------------------------------------------------

cpub deploy hello
is_rc 0 "the first deploy of hello"
has "created function hello (runtime c)" "it creates the function"
grep -Eq "^uploaded hello \([0-9.]+ [KMG]?i?B, sha256 [0-9a-f]{12}\) as version 1 in [0-9.]+ s$" <<<"$OUT"
tap_ok $? "it says what it uploaded: size, sha256, version 1 (stdout: $(grep '^uploaded' <<<"$OUT"))"
has "[cpub] building hello v1 (runtime c" "the build log: the worker's own line"
grep -Eq '^(\[[0-9]/[0-9]\] )?STEP [0-9]+/[0-9]+: FROM ' <<<"$OUT"
tap_ok $? "the build log: podman build's STEP lines" || diag "$OUT"
grep -Eq '^deployed hello version 1 is active \(built in [0-9.]+ s\)$' <<<"$OUT"
tap_ok $? "it ends with the active version (stdout: $(tail -n 2 <<<"$OUT" | one))"
has "call it: cpub invoke hello   (or $URL/fn/$ADA_ID/hello)" "and how to call it: the endpoint"
[ "$(grep -n '^\[cpub\] building' <<<"$OUT" | cut -d: -f1)" -lt "$(grep -n '^deployed' <<<"$OUT" | cut -d: -f1)" ]
tap_ok $? "the log comes before the closing line"
tap_ok "$([ "$(nversions hello)" = 1 ] && [ "$(uploads)" = 1 ]; echo $?)" "the server has version 1, from one upload"
answer hello
tap_ok "$([ "$BODY" = "hello from hello: GET /, 0 bytes: " ]; echo $?)" "cpub invoke hello answers ($BODY)"

# --- unchanged, --force -----------------------------------------------------------------

cpub deploy hello
is_rc 0 "deploy again, nothing changed"
has "unchanged: version 1 has this archive (--force deploys it again)" "it says unchanged (stdout: $(one "$OUT"))"
tap_ok "$(! grep -q -e '^uploaded' -e '^created' -e '^updated' <<<"$OUT"; echo $?)" \
	"nothing created, updated or uploaded"
tap_ok "$([ "$(nversions hello)" = 1 ] && [ "$(uploads)" = 1 ]; echo $?)" \
	"still one version on the server, and no new upload in its access log"
cpub deploy hello --json
is_rc 0 "deploy --json, nothing changed"
json ".uploaded == false and .version.version == 1 and .version.active == true
	and .archive_sha256 == .version.archive_sha256" \
	"--json: uploaded false, the version that has the archive"
SHA1=$(jq -r .archive_sha256 <<<"$OUT")

CWD=$SRC/hello cpub deploy --force --json
is_rc 0 "deploy --force --json from the function's folder (no PATH)"
json '.uploaded == true and .version.version == 2 and .version.status == "ready"
	and .version.active == true' "--json: uploaded, version 2 ready and active"
json '(.archive_sha256 | test("^[0-9a-f]{64}$")) and .archive_sha256 == .version.archive_sha256' \
	"--json: archive_sha256, 64 hex digits, the server's hash of what it received"
json ".archive_sha256 == \"$SHA1\"" "the same folder packs to the same archive (sha256)"
json '.files == 2 and .archive_size > 0 and .archive_size == .version.archive_size' \
	"--json: files (hello.c, README.md) and archive_size, as the server has it"
json '(.upload_seconds | type) == "number" and .build_seconds > 0
	and (.build_log | contains("[cpub] building hello v2"))' \
	"--json: upload_seconds, build_seconds and the build log"
json ".function.name == \"hello\" and .function.endpoint == \"/fn/$ADA_ID/hello\"" \
	"--json: the function and its endpoint"
tap_ok "$([ "$(nversions hello)" = 2 ] && [ "$(uploads)" = 2 ]; echo $?)" "--force made version 2"

cpub -q deploy hello
tap_ok "$([ "$RC" = 0 ] && [ -z "$OUT" ] && [ -z "$ERR" ]; echo $?)" \
	"--quiet, unchanged: nothing printed (exit $RC)"

# --- a setting of cpub.json changed ---------------------------------------------------------

manifest_set "$SRC/hello" '.memory_mb = 256'
cpub deploy hello
is_rc 0 "deploy with memory_mb changed in cpub.json"
has "updated the settings of hello: memory_mb 128 -> 256" "it says what it updated (stdout: $(one "$OUT"))"
has "unchanged: version 2 has this archive" "cpub.json is not in the archive: nothing uploaded"
tap_ok "$([ "$(nversions hello)" = 2 ] && [ "$(uploads)" = 2 ]; echo $?)" "no new version, no upload"
cpub info hello --json
json '.memory_mb == 256 and .timeout_seconds == 10 and .active_version == 2' \
	"cpub info: memory 256 MB, the rest as it was"
req GET /api/functions/hello
tap_ok "$([ "$(jqr .memory_mb)" = 256 ]; echo $?)" "and the API says so too"
cpub deploy hello
tap_ok "$([ "$RC" = 0 ] && ! grep -q updated <<<"$OUT"; echo $?)" "again: no setting sent twice (stdout: $(one "$OUT"))"

# --- --no-activate, then a plain deploy -----------------------------------------------------

sed -i 's/hello from/hi from/' "$SRC/hello/hello.c"
cpub deploy hello --no-activate
is_rc 0 "deploy --no-activate of a changed handler"
grep -Eq '^deployed hello version 3 is ready, not active \(built in' <<<"$OUT"
tap_ok $? "it says version 3 is ready, not active (stdout: $(tail -n 2 <<<"$OUT" | one))"
has "serve it with: cpub rollback hello 3" "and how to serve it"
tap_ok "$([ "$(version_field hello 3 status)/$(version_field hello 3 active)" = ready/false ]; echo $?)" \
	"the server: version 3 ready, not active"
answer hello
tap_ok "$([ "$BODY" = "hello from hello: GET /, 0 bytes: " ]; echo $?)" "version 2 still answers ($BODY)"

cpub deploy hello
is_rc 0 "a plain deploy of the same folder"
has "unchanged: activated hello version 3 is active" "it activates version 3 (stdout: $(one "$OUT"))"
tap_ok "$([ "$(nversions hello)" = 3 ] && [ "$(uploads)" = 3 ]; echo $?)" "without an upload"
tap_ok "$([ "$(version_field hello 3 active)" = true ]; echo $?)" "the server: version 3 active"
answer hello
tap_ok "$([ "$BODY" = "hi from hello: GET /, 0 bytes: " ]; echo $?)" "version 3 answers ($BODY)"

# The same while the version is still being built: the plain deploy
# follows that build, then serves it.
sed -i 's/hi from/hey from/' "$SRC/hello/hello.c"
cpub deploy hello --no-activate --no-wait --json
is_rc 0 "deploy --no-activate --no-wait --json"
json '.uploaded == true and .version.version == 4 and (.version.status == "queued" or .version.status == "building")
	and .version.activate == false' "it returns at once: version 4 queued or building, not to be activated"
cpub deploy hello
is_rc 0 "a plain deploy of the same folder at once"
grep -Eq '^unchanged: (version 4 has this archive and is (queued|building)|activated hello version 4 is active)' <<<"$OUT"
tap_ok $? "it finds version 4 (stdout: $(one "$OUT"))"
grep -Eq 'hello version 4 is active' <<<"$OUT"
tap_ok $? "and ends with version 4 active (stdout: $(tail -n 2 <<<"$OUT" | one))"
tap_ok "$([ "$(version_field hello 4 active)" = true ] && [ "$(uploads)" = 4 ]; echo $?)" \
	"the server: version 4 active, not uploaded twice"
answer hello
tap_ok "$([ "$BODY" = "hey from hello: GET /, 0 bytes: " ]; echo $?)" "version 4 answers ($BODY)"

# --- --no-wait ------------------------------------------------------------------------------

sed -i 's/hey from/yo from/' "$SRC/hello/hello.c"
cpub deploy hello --no-wait
is_rc 0 "deploy --no-wait"
has "the build goes on: cpub versions hello shows it" "it says the build goes on"
tap_ok "$(! grep -q -e '^deployed' -e 'STEP' <<<"$OUT"; echo $?)" "and returns before the build (stdout: $(one "$OUT"))"
st=$(wait_ready hello 5)
tap_ok "$([ "$st" = ready ] && [ "$(version_field hello 5 active)" = true ]; echo $?)" \
	"version 5 becomes ready and active ($st)"
answer hello
tap_ok "$([ "$BODY" = "yo from hello: GET /, 0 bytes: " ]; echo $?)" "version 5 answers ($BODY)"

# --- a build that fails --------------------------------------------------------------------------

cp "$SRC/hello/hello.c" "$WORK/hello.c.good"
printf 'int\nbroken(void)\n{\n\treturn 1\n}\n' >>"$SRC/hello/hello.c"
cpub deploy hello
is_rc 3 "a handler that does not compile: exit 3"
grep -Eq '^(\./)?hello\.c:[0-9]+:[0-9]+: error: ' <<<"$OUT"
tap_ok $? "the compiler's error line is shown (got: $(grep -m1 'error:' <<<"$OUT"))" || diag "$OUT"
err_has "cpub: the build of hello version 6 failed" "it says the build failed (stderr: $(one "$ERR"))"
err_has "the version that served before still serves" "and that the old version still serves"
tap_ok "$([ "$(version_field hello 6 status)" = failed ] && [ "$(version_field hello 5 active)" = true ]; echo $?)" \
	"the server: version 6 failed, version 5 active"
answer hello
tap_ok "$([ "$BODY" = "yo from hello: GET /, 0 bytes: " ]; echo $?)" "version 5 still answers ($BODY)"
cpub deploy hello --json
is_rc 3 "the same folder again, --json: a failed archive is built again, and fails (exit 3)"
json '.uploaded == true and .version.version == 7 and .version.status == "failed" and (.version.error | length > 0)
	and (.build_log | test("error: "))' "--json: version 7 failed, its error and log"
cp "$WORK/hello.c.good" "$SRC/hello/hello.c"
cpub deploy hello
is_rc 0 "the handler mended"
has "unchanged: version 5 has this archive" "it is version 5's archive: nothing to send (stdout: $(one "$OUT"))"

# --- the analysis refuses: nothing created, nothing uploaded ----------------------------------------

UP=$(uploads)
# refused DIR DESC: the last deploy exited 5 and neither the server's
# versions of hello nor its access log's uploads changed; DIR's function
# does not exist.
refused()
{
	local name
	name=$(jq -r .name "$SRC/$1/cpub.json" 2>/dev/null)
	[ "$RC" = 5 ] && [ "$(nversions hello)" = 7 ] && [ "$(uploads)" = "$UP" ] &&
		{ [ "$name" = hello ] || [ -z "$name" ] || [ "$(nversions "$name")" = none ]; }
	tap_ok $? "$2: exit 5, nothing created or uploaded (exit $RC)" || diag "stdout: $OUT" "stderr: $ERR"
}

cp -r "$SRC/hello" "$SRC/unknown-key"
manifest_set "$SRC/unknown-key" '.colour = "red"'
cpub deploy unknown-key
refused unknown-key "an unknown key in cpub.json"
err_has 'cpub: unknown-key/cpub.json: unknown key "colour"' "it names the file and the key (stderr: $(one "$ERR"))"

cp -r "$SRC/hello" "$SRC/bad-memory"
manifest_set "$SRC/bad-memory" '.memory_mb = 5'
cpub deploy bad-memory
refused bad-memory "memory_mb 5"
err_has "cpub: bad-memory/cpub.json: memory_mb must be an integer between 16 and 65536" \
	"it says the range (stderr: $(one "$ERR"))"

cp -r "$SRC/hello" "$SRC/bad-json"
printf '{"name": "hello",\n' >"$SRC/bad-json/cpub.json"
cpub deploy bad-json
refused bad-json "a cpub.json that is not JSON"
err_has "cpub: bad-json/cpub.json" "it names the file (stderr: $(one "$ERR"))"

mkdir "$SRC/no-manifest" && cp "$SRC/hello/hello.c" "$SRC/no-manifest/"
cpub deploy no-manifest
refused no-manifest "no cpub.json"
err_has "cpub: no-manifest/cpub.json: no such file (cpub init writes one)" "it says so (stderr: $(one "$ERR"))"

mkdir "$SRC/no-entry"
cpub init --runtime c no-entry >/dev/null && rm "$SRC/no-entry/hello.c"
cpub deploy no-entry
refused no-entry "a C function without a .c file"
err_has "refusing to deploy: a .c file is missing" "it says the entry file is missing (stderr: $(one "$ERR"))"
cpub init --runtime python no-main >/dev/null && rm "$SRC/no-main/main.py"
cpub deploy no-main
refused no-main "a Python function without main.py"
err_has "refusing to deploy: main.py is missing" "it names main.py (stderr: $(one "$ERR"))"

# Secrets, by name and by content.
cpub init --runtime shell secrets >/dev/null
printf 'TOKEN=hunter2\n' >"$SRC/secrets/.env"
mkdir "$SRC/secrets/certs"
printf 'not really a certificate\n' >"$SRC/secrets/certs/server.pem"
printf 'notes\n-----BEGIN RSA PRIVATE KEY-----\nMIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf9Cnzj4p4WGeKLs1Pt8Qu\n-----END RSA PRIVATE KEY-----\n' \
	>"$SRC/secrets/notes.txt"
cpub deploy secrets
refused secrets "three files that look like secrets"
err_has "cpub: refusing to deploy: 3 files look like secrets:" "it counts them (stderr: $(one "$ERR"))"
err_has "  .env (an environment file)" "it lists .env by name"
err_has "  certs/server.pem (a PEM key or certificate)" "it lists certs/server.pem"
err_has "  notes.txt (holds a private key)" "it lists notes.txt, found by its content"
err_has 'hint: add them to "include" in cpub.json or pass --include' "and says how to ship them anyway"
cpub deploy secrets --json
refused secrets "the same with --json"
jq -e '.error.code == "analysis" and (.analysis.secrets | map(.path) | sort) == [".env", "certs/server.pem", "notes.txt"]' \
	<<<"$ERR" >/dev/null 2>&1
tap_ok $? "--json: the error and the analysis, one JSON line on stderr (stderr: $ERR)"
tap_ok "$([ -z "$OUT" ]; echo $?)" "--json: nothing on stdout"
cpub deploy secrets --include .env --include '*.pem'
refused secrets "--include naming two of the three"
err_has "cpub: refusing to deploy: 1 file looks like a secret:
  notes.txt (holds a private key)
hint: add it to \"include\"" "the third alone is refused (stderr: $(one "$ERR"))"
err_has "cpub: shipping 2 files that look like secrets, as included:
  .env (an environment file)
  certs/server.pem (a PEM key or certificate)" "the two included are said to be shipped"

cpub deploy secrets --include .env --include '*.pem' --include notes.txt --no-wait --json
is_rc 0 "--include for each: deployed"
json '.uploaded == true and .files == 5' "--json: uploaded, the three files with handler.sh and README.md"
cpub deploy secrets
tap_ok "$([ "$RC" = 5 ]; echo $?)" "without --include again: refused (exit $RC)"
manifest_set "$SRC/secrets" '.include = [".env*", "*.pem", "notes.txt"]'
printf 'TOKEN=\n' >"$SRC/secrets/.env.example"
cpub deploy secrets --no-wait --json
is_rc 0 '"include" in cpub.json: deployed'
json '.uploaded == true and .files == 6 and .version.version == 2' "--json: a new version with .env.example too"
st=$(wait_ready secrets 2)
tap_ok "$([ "$st" = ready ]; echo $?)" "it builds ($st)"

# Risky calls, one runtime after the other.
UP=$(uploads)
cpub init --runtime c risky-c >/dev/null
printf '#include <stdlib.h>\n\nint run_it(void);\n\nint\nrun_it(void)\n{\n\treturn system("true");\n}\n' \
	>"$SRC/risky-c/run.c"
cpub deploy risky-c
refused risky-c "C: system("
err_has "  run.c:8: system() runs a command through the shell" "it names the file and line (stderr: $(one "$ERR"))"
err_has "pass --allow-risky to deploy anyway" "and the way out"
cpub init --runtime python risky-py >/dev/null
printf 'import subprocess\n\n\ndef run_it():\n    return subprocess.run(["true"])\n' >"$SRC/risky-py/tools.py"
cpub deploy risky-py
refused risky-py "Python: subprocess"
err_has "  tools.py:1: subprocess runs other programs" "the import, file and line (stderr: $(one "$ERR"))"
err_has "  tools.py:5: subprocess runs other programs" "the call, file and line"
cpub init --runtime shell risky-sh >/dev/null
printf '\ncurl -s https://example.com >/dev/null\n' >>"$SRC/risky-sh/handler.sh"
cpub deploy risky-sh
refused risky-sh "shell: curl"
line=$(grep -n '^curl' "$SRC/risky-sh/handler.sh" | cut -d: -f1)
err_has "  handler.sh:$line: curl talks to the network" "it names the file and line (stderr: $(one "$ERR"))"
cpub deploy risky-c --allow-risky
is_rc 0 "C with --allow-risky: deployed and built"
err_has "warning: 1 risky call, allowed by --allow-risky:" "with a warning (stderr: $(one "$ERR"))"
has "deployed risky-c version 1 is active" "it is active"
for f in risky-py risky-sh; do
	cpub deploy "$f" --allow-risky --no-wait --json
	[ "$RC" = 0 ] && jq -e '.uploaded and .version.version == 1' <<<"$OUT" >/dev/null
	tap_ok $? "$f with --allow-risky: uploaded (exit $RC)" || diag "stdout: $OUT" "stderr: $ERR"
done

UP=$(uploads)
cpub init --runtime c linked >/dev/null
ln -s /etc/passwd "$SRC/linked/passwd"
cpub deploy linked
refused linked "a symbolic link"
err_has "cpub: refusing to deploy: 1 problem:
  passwd: a symbolic link (the worker accepts only regular files and folders)
hint: remove it, or add it to \"exclude\" in cpub.json" "it names the link, and what to do (stderr: $(one "$ERR"))"

# --- over the tier's archive limit ---------------------------------------------------------------

q "SELECT cpub_admin.tier_create('tiny', 50, 256, 30, 5, 100000, 1, 1000)" >/dev/null &&
	q "SELECT cpub_admin.tier_assign_user('$ADA_ID', 'tiny')" >/dev/null
tap_ok $? "ada's tier is now tiny: archives up to 1 MiB"
head -c 1572864 /dev/urandom >"$SRC/hello/blob.bin"
manifest_set "$SRC/hello" '.memory_mb = 200'
cpub deploy hello
refused hello "hello with 1.5 MiB of random bytes"
err_has "cpub: the archive of hello is 1.5 MiB; its tier accepts at most 1.0 MiB" \
	"it says the size and the tier's limit (stderr: $(one "$ERR"))"
err_has 'hint: exclude what the function does not need' "and what to do"
tap_ok "$([ "$(q "SELECT memory_mb FROM cpub.functions WHERE name = 'hello'")" = 256 ] &&
	! grep -q updated <<<"$OUT"; echo $?)" "the memory_mb changed with it is not sent either"
manifest_set "$SRC/hello" '.memory_mb = 256'
cpub init --runtime shell big >/dev/null && mv "$SRC/hello/blob.bin" "$SRC/big/"
cpub deploy big
refused big "a new function of 1.5 MiB"
err_has "its tier accepts at most 1.0 MiB" "it says the limit (stderr: $(one "$ERR"))"
q "SELECT cpub_admin.tier_assign_user('$ADA_ID', NULL)" >/dev/null
cpub deploy big --no-wait
tap_ok "$([ "$RC" = 0 ] && [ "$(nversions big)" = 1 ]; echo $?)" "back on the free tier (20 MiB) it goes (exit $RC)"

# An organization's function: its organization's tier.
UP=$(uploads)
cpub org create acme
cpub init --runtime shell orgbig >/dev/null && manifest_set "$SRC/orgbig" '.organization = "acme"'
head -c 1572864 /dev/urandom >"$SRC/orgbig/blob.bin"
q "SELECT cpub_admin.tier_assign_organization('acme', 'tiny')" >/dev/null
cpub deploy orgbig
refused orgbig "acme/orgbig of 1.5 MiB, acme on tier tiny"
err_has "cpub: the archive of orgbig is 1.5 MiB; its tier accepts at most 1.0 MiB" \
	"it says the organization's limit (stderr: $(one "$ERR"))"
q "SELECT cpub_admin.tier_assign_organization('acme', NULL)" >/dev/null
cpub deploy orgbig --no-wait --json
tap_ok "$([ "$RC" = 0 ] && [ "$(jq -r .function.organization <<<"$OUT")" = acme ] &&
	[ "$(nversions orgbig)" = 1 ]; echo $?)" "back on the free tier: acme/orgbig is created and uploaded (exit $RC)" ||
	diag "stdout: $OUT" "stderr: $ERR"

# --- the progress bar -------------------------------------------------------------------------------

cpub init --runtime shell bar >/dev/null
head -c 3145728 /dev/urandom >"$SRC/bar/blob.bin"
cpub_tty deploy bar
is_rc 0 "deploy on a terminal"
# What the terminal shows: after each carriage return the line is drawn anew.
shown=$(sed 's/\r$//; s/.*\r//' <<<"$OUT")
grep -Eq '^uploading \[#{30}\] 100%  3\.0 MiB/3\.0 MiB  ' <<<"$shown"
tap_ok $? "a progress bar: uploading [###...] 100%, the sizes (shown: $(grep uploading <<<"$shown" | one))"
tap_ok "$([ "$(grep -c 'uploading \[' <<<"$shown")" = 1 ]; echo $?)" \
	"one line of it stays on the screen (shown: $(grep uploading <<<"$shown" | one))"
grep -q 'uploading \[#*\.\.*\] *[0-9]*%' <<<"$(tr '\r' '\n' <<<"$OUT")"
tap_ok $? "it was drawn before the end too (a bar not full yet)" || diag "$(tr '\r' '\n' <<<"$OUT" | grep uploading | head)"
grep -q '^\[cpub\] building bar v1' <<<"$shown" && grep -q '^deployed bar version 1 is active' <<<"$shown"
tap_ok $? "then the build log and the closing line" || diag "$shown"
cpub deploy bar --force
is_rc 0 "deploy --force, not on a terminal"
tap_ok "$(! grep -q 'uploading \[' <<<"$OUT$ERR"; echo $?)" "no progress bar (stderr: $(one "$ERR"))"

# --- interrupted ------------------------------------------------------------------------------------

# No worker: the build waits in the queue, and deploy follows it until
# SIGINT.
worker_stop w1
tap_ok $? "the worker stops cleanly"
sed -i 's/yo from/sup from/' "$SRC/hello/hello.c"
(cd "$SRC" && exec "$CPUB" --server "$URL" deploy hello >"$WORK/int.out" 2>"$WORK/int.err" </dev/null) &
pid=$!
for _ in $(seq 100); do
	[ "$(version_field hello 8 status)" = queued ] && break
	sleep 0.1
done
sleep 0.3
kill -INT $pid
wait $pid
rc=$?
tap_ok "$([ "$rc" = 130 ]; echo $?)" "a deploy interrupted while it follows the build: status 130 ($rc)"
grep -q "^cpub: interrupted; the build goes on (cpub versions hello shows it)$" "$WORK/int.err"
tap_ok $? "it says the build goes on ($(one "$(cat "$WORK/int.err")"))"
grep -q "^uploaded hello (.*) as version 8 in " "$WORK/int.out"
tap_ok $? "after it uploaded version 8 ($(one "$(cat "$WORK/int.out")"))"
worker_start w1 || bail_out "cpub-worker did not start again"
st=$(wait_ready hello 8)
tap_ok "$([ "$st" = ready ] && [ "$(version_field hello 8 active)" = true ]; echo $?)" \
	"a worker builds it and serves it all the same: version 8 ready and active ($st)"
answer hello
tap_ok "$([ "$BODY" = "sup from hello: GET /, 0 bytes: " ]; echo $?)" "version 8 answers ($BODY)"

worker_stop w1
tap_ok $? "the worker stops cleanly"
stop_cleanly main

done_testing
