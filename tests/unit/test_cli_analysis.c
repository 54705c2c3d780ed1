/*-------------------------------------------------------------------------
 *
 * test_cli_analysis.c
 *	  TAP tests of the local half of cpub deploy (cli/src): the manifest
 *	  cpub.json (manifest.c), the analysis of a function folder
 *	  (analysis.c, walk.c) and its deterministic archive (pack.c).
 *
 *	  The manifest's rules are checked against the server's own sources:
 *	  the ranges and argument names against sql/60_functions.sql, the
 *	  runtimes and their entry files against the worker's runtime table
 *	  (worker/src/runtime.c, linked in), the caps against the worker's
 *	  unpack_limits_default.  Every message a developer can get from a bad
 *	  manifest is compared whole.  Folders are made in a temporary folder:
 *	  secrets by name and by content, risky calls of each runtime with
 *	  their lines and the look-alikes that must not match (comments,
 *	  strings, longer words), links, fifos and the caps.  The archive is
 *	  made twice, then from a folder made in another order with other
 *	  times and modes, and must be the same bytes; it is then extracted by
 *	  the worker's own unpack.c, which proves the worker takes it.
 *
 * tests/unit/test_cli_analysis.c
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "analysis.h"
#include "manifest.h"
#include "pack.h"
#include "runtime.h"
#include "unpack.h"
#include "tap.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
#define MiB		 ((uint64_t) 1024 * 1024)

static char root[] = "/tmp/cpub-cli-test.XXXXXX";

/* path_of: ROOT/REL in a static buffer (one at a time). */
static const char *
path_of(const char *rel)
{
	static char buf[8192];

	snprintf(buf, sizeof(buf), "%s/%s", root, rel);
	return buf;
}

/* mkdirs: makes PATH and the folders on the way. */
static void
mkdirs(const char *path)
{
	char buf[8192];

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *p = buf + 1; *p; p++)
		if (*p == '/')
		{
			*p = '\0';
			mkdir(buf, 0755);
			*p = '/';
		}
	mkdir(buf, 0755);
}

/* put: the file DIR/REL (folders made) with TEXT and MODE. */
static void
put(const char *dir, const char *rel, const char *text, mode_t mode)
{
	char  path[8192];
	char *slash;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	slash = strrchr(path, '/');
	*slash = '\0';
	mkdirs(path);
	*slash = '/';
	f = fopen(path, "w");
	if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0)
	{
		fprintf(stderr, "could not write %s: %s\n", path, strerror(errno));
		exit(2);
	}
	chmod(path, mode);
}

/* fresh: an empty folder ROOT/NAME, its path in a new string. */
static char *
fresh(const char *name)
{
	char *dir = strdup(path_of(name));

	unpack_remove_tree(dir);
	mkdirs(dir);
	return dir;
}

/* parse: a manifest from TEXT that must be valid. */
static void
parse(const char *text, struct manifest *m)
{
	char *err = NULL;

	if (manifest_parse(text, strlen(text), "cpub.json", m, &err) != 0)
	{
		fprintf(stderr, "bad manifest in the test: %s\n", err);
		exit(2);
	}
}

/* analyse: the report of DIR with the manifest TEXT and OPTS (or NULL). */
static struct analysis_report *
analyse(const char *dir, const char *text, const struct analysis_options *opts)
{
	struct manifest			m;
	struct analysis_report *r = NULL;
	char				   *err = NULL;

	parse(text, &m);
	if (analysis_run(dir, &m, opts, &r, &err) != 0)
	{
		diag("analysis_run failed: %s", err);
		free(err);
	}
	manifest_free(&m);
	return r;
}

/* risky_list: "path:line:call" of each risky call, joined by " ". */
static const char *
risky_list(const struct analysis_report *r)
{
	static char buf[4096];
	size_t		used = 0;

	buf[0] = '\0';
	for (size_t i = 0; r && i < r->nrisky; i++)
		used += (size_t) snprintf(buf + used, sizeof(buf) - used, "%s%s:%d:%s",
								  used ? " " : "", r->risky[i].path,
								  r->risky[i].line, r->risky[i].call);
	return buf;
}

/* secret_list: "path" of each secret, "+" after an included one. */
static const char *
secret_list(const struct analysis_report *r)
{
	static char buf[4096];
	size_t		used = 0;

	buf[0] = '\0';
	for (size_t i = 0; r && i < r->nsecrets; i++)
		used += (size_t) snprintf(buf + used, sizeof(buf) - used, "%s%s%s",
								  used ? " " : "", r->secrets[i].path,
								  r->secrets[i].included ? "+" : "");
	return buf;
}

/* problem_list: "path: message" of each problem, joined by "|". */
static const char *
problem_list(const struct analysis_report *r)
{
	static char buf[8192];
	size_t		used = 0;

	buf[0] = '\0';
	for (size_t i = 0; r && i < r->nproblems; i++)
		used += (size_t) snprintf(
			buf + used, sizeof(buf) - used, "%s%s%s%s", used ? "|" : "",
			r->problems[i].path ? r->problems[i].path : "",
			r->problems[i].path ? ": " : "", r->problems[i].message);
	return buf;
}

/* What analysis_print writes on stderr, caught in a file. */
static char *
printed(const struct analysis_report *r, bool json, bool quiet)
{
	char   path[8192];
	int	   saved = dup(STDERR_FILENO);
	int	   fd;
	char  *text = calloc(1, 65536);
	size_t n;

	snprintf(path, sizeof(path), "%s/stderr", root);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	fflush(stderr);
	dup2(fd, STDERR_FILENO);
	close(fd);
	analysis_print(r, json, quiet);
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	fd = open(path, O_RDONLY);
	n = (size_t) read(fd, text, 65535);
	text[n] = '\0';
	close(fd);
	return text;
}

/* --- the manifest ----------------------------------------------------- */

/* The server's rules, read from its sources. */
static void
test_manifest_matches_server(void)
{
	const char	   *sql_path = "../../sql/60_functions.sql";
	FILE		   *f = fopen(sql_path, "r");
	static char		sql[1 << 20];
	size_t			n = f ? fread(sql, 1, sizeof(sql) - 1, f) : 0;
	char			row[256];
	bool			rows_ok = true;
	bool			names_ok = true;
	struct manifest m;
	json_t		   *settings;
	const char	   *key;
	json_t		   *value;
	const struct
	{
		const char *name;
		int			lo, hi;
	} ranges[] = {
		{"memory_mb", MANIFEST_MEMORY_MIN, MANIFEST_MEMORY_MAX},
		{"timeout_seconds", MANIFEST_TIMEOUT_MIN, MANIFEST_TIMEOUT_MAX},
		{"max_concurrency", MANIFEST_CONCURRENCY_MIN,
		 MANIFEST_CONCURRENCY_MAX},
	};

	if (f)
		fclose(f);
	sql[n] = '\0';
	ok(n > 0, "sql/60_functions.sql read");
	for (size_t i = 0; i < NELEM(ranges); i++)
	{
		snprintf(row, sizeof(row),
				 "('%s', function_check_settings.f.%s, %d, %d,",
				 ranges[i].name, ranges[i].name, ranges[i].lo, ranges[i].hi);
		if (strstr(sql, row) == NULL)
		{
			diag("not in the SQL: %s", row);
			rows_ok = false;
		}
	}
	ok(rows_ok, "the ranges of memory_mb, timeout_seconds, max_concurrency "
				"are cpub.function_check_settings's");
	ok(strstr(sql, "visibility IN ('public', 'key', 'private')") != NULL,
	   "the visibilities are the server's");

	/* Every setting sent is an argument of function_create. */
	parse("{\"name\": \"f\", \"runtime\": \"c\", \"organization\": \"acme\", "
		  "\"memory_mb\": 64, \"timeout_seconds\": 5, \"max_concurrency\": 2, "
		  "\"visibility\": \"key\", \"metadata\": {\"a\": 1}}",
		  &m);
	settings = manifest_settings_json(&m, true);
	json_object_foreach(settings, key, value)
	{
		char arg[128];

		snprintf(arg, sizeof(arg), " %s %s DEFAULT NULL", key,
				 json_is_integer(value)	 ? "integer"
				 : json_is_object(value) ? "jsonb"
										 : "text");
		if (strcmp(key, "name") != 0 && strcmp(key, "runtime") != 0 &&
			strstr(sql, arg) == NULL)
		{
			diag("not an argument of the SQL: %s", arg + 1);
			names_ok = false;
		}
	}
	ok(json_object_size(settings) == 8 && names_ok &&
		   strstr(sql, "cpub_api.function_create(name text, runtime text,") !=
			   NULL,
	   "the settings sent are function_create's arguments, by name");
	json_decref(settings);
	settings = manifest_settings_json(&m, false);
	ok(json_object_size(settings) == 6 &&
		   json_object_get(settings, "name") == NULL &&
		   json_object_get(settings, "organization") == NULL &&
		   json_integer_value(json_object_get(settings, "memory_mb")) == 64,
	   "an update sends the settings without name and organization");
	json_decref(settings);
	{
		char *ref = manifest_ref(&m);

		is_str(ref, "acme/f", "manifest_ref: ORGANIZATION/NAME");
		free(ref);
	}
	manifest_free(&m);

	/* The worker's runtime table. */
	{
		bool same = true;
		int	 count = 0;

		for (const struct manifest_runtime *r = manifest_runtimes; r->name;
			 r++)
		{
			const struct runtime *w = runtime_find(r->name);

			count++;
			if (w == NULL || strcmp(w->entry, r->entry) != 0 ||
				strcmp(w->entry_hint, r->entry_hint) != 0)
			{
				diag("runtime %s differs from the worker's", r->name);
				same = false;
			}
		}
		ok(same && count == 3,
		   "the runtimes, their entry files and hints are the worker's");
	}
	{
		struct unpack_limits l;

		unpack_limits_default(&l);
		ok(l.max_entries == ANALYSIS_MAX_ENTRIES &&
			   l.max_file_bytes == ANALYSIS_MAX_FILE_BYTES &&
			   l.max_total_bytes == ANALYSIS_MAX_TOTAL_BYTES &&
			   l.max_path_len == ANALYSIS_MAX_PATH_LEN &&
			   l.max_depth == ANALYSIS_MAX_DEPTH &&
			   l.max_ratio == PACK_MAX_RATIO &&
			   UNPACK_RATIO_FLOOR == PACK_RATIO_FLOOR,
		   "the caps are the worker's (unpack_limits_default)");
	}
}

static void
test_manifest_valid(void)
{
	struct manifest m;
	json_t		   *s;

	parse("{\"name\": \"hello\", \"runtime\": \"python\"}", &m);
	ok(strcmp(m.name, "hello") == 0 && strcmp(m.runtime, "python") == 0 &&
		   m.memory_mb == 0 && m.timeout_seconds == 0 &&
		   m.max_concurrency == 0 && m.visibility == NULL &&
		   m.organization == NULL && m.ninclude == 0 && m.nexclude == 0,
	   "name and runtime alone: the rest is the server's default");
	s = manifest_settings_json(&m, true);
	ok(json_object_size(s) == 2, "and only name and runtime are sent");
	json_decref(s);
	manifest_free(&m);

	parse("{\"name\": \"a-b_c9\", \"runtime\": \"shell\", \"memory_mb\": 16, "
		  "\"timeout_seconds\": 3600, \"max_concurrency\": 1000, "
		  "\"visibility\": \"public\", \"include\": [\".env.example\", "
		  "\"certs\"], \"exclude\": [\"*.o\"]}",
		  &m);
	ok(m.memory_mb == 16 && m.timeout_seconds == 3600 &&
		   m.max_concurrency == 1000 && strcmp(m.visibility, "public") == 0 &&
		   m.ninclude == 2 && strcmp(m.include[1], "certs") == 0 &&
		   m.nexclude == 1 && strcmp(m.exclude[0], "*.o") == 0,
	   "every key, at the ends of the ranges");
	manifest_free(&m);
}

/* Each message of a bad manifest, whole. */
static void
test_manifest_errors(void)
{
	static const struct
	{
		const char *text;
		const char *message;
	} cases[] = {
		{"[]", "cpub.json: the manifest must be a JSON object"},
		{"{\"name\": \"f\", \"runtime\": \"c\", \"memory\": 128}",
		 "cpub.json: unknown key \"memory\" (a manifest has name, runtime, "
		 "organization, memory_mb, timeout_seconds, max_concurrency, "
		 "visibility, metadata, include and exclude)"},
		{"{\"runtime\": \"c\"}",
		 "cpub.json: name is required (the function's name)"},
		{"{\"name\": 5, \"runtime\": \"c\"}",
		 "cpub.json: name must be a non-empty string"},
		{"{\"name\": \"\", \"runtime\": \"c\"}",
		 "cpub.json: name must be a non-empty string"},
		{"{\"name\": \"Hello\", \"runtime\": \"c\"}",
		 "cpub.json: invalid function name \"Hello\": A function name is 1 to "
		 "63 lowercase letters, digits, underscores or inner single hyphens, "
		 "starting with a letter."},
		{"{\"name\": \"a--b\", \"runtime\": \"c\"}",
		 "cpub.json: invalid function name \"a--b\": A function name is 1 to "
		 "63 lowercase letters, digits, underscores or inner single hyphens, "
		 "starting with a letter."},
		{"{\"name\": \"f\"}",
		 "cpub.json: runtime is required (c, python or shell)"},
		{"{\"name\": \"f\", \"runtime\": \"java\"}",
		 "cpub.json: runtime must be c, python or shell, not \"java\""},
		{"{\"name\": \"f\", \"runtime\": \"c\", \"organization\": \"-x\"}",
		 "cpub.json: invalid organization name \"-x\": An organization name "
		 "is 2 to 39 lowercase letters, digits or inner single hyphens, "
		 "starting with a letter."},
		{"{\"name\": \"f\", \"runtime\": \"c\", \"memory_mb\": 15}",
		 "cpub.json: memory_mb must be an integer between 16 and 65536"},
		{"{\"name\": \"f\", \"runtime\": \"c\", \"memory_mb\": 65537}",
		 "cpub.json: memory_mb must be an integer between 16 and 65536"},
		{"{\"name\": \"f\", \"runtime\": \"c\", \"memory_mb\": \"128\"}",
		 "cpub.json: memory_mb must be an integer between 16 and 65536"},
		{"{\"name\": \"f\", \"runtime\": \"c\", \"memory_mb\": 128.5}",
		 "cpub.json: memory_mb must be an integer between 16 and 65536"},
		{"{\"name\": \"f\", \"runtime\": \"c\", \"timeout_seconds\": 0}",
		 "cpub.json: timeout_seconds must be an integer between 1 and 3600"},
		{"{\"name\": \"f\", \"runtime\": \"c\", \"timeout_seconds\": 3601}",
		 "cpub.json: timeout_seconds must be an integer between 1 and 3600"},
		{"{\"name\": \"f\", \"runtime\": \"c\", \"max_concurrency\": 1001}",
		 "cpub.json: max_concurrency must be an integer between 1 and 1000"},
		{"{\"name\": \"f\", \"runtime\": \"c\", \"max_concurrency\": true}",
		 "cpub.json: max_concurrency must be an integer between 1 and 1000"},
		{"{\"name\": \"f\", \"runtime\": \"c\", \"visibility\": \"secret\"}",
		 "cpub.json: visibility must be \"public\", \"key\" or \"private\", "
		 "not \"secret\""},
		{"{\"name\": \"f\", \"runtime\": \"c\", \"visibility\": 1}",
		 "cpub.json: visibility must be \"public\", \"key\" or \"private\""},
		{"{\"name\": \"f\", \"runtime\": \"c\", \"metadata\": []}",
		 "cpub.json: metadata must be a JSON object"},
		{"{\"name\": \"f\", \"runtime\": \"c\", \"include\": \".env\"}",
		 "cpub.json: include must be an array of file names or patterns"},
		{"{\"name\": \"f\", \"runtime\": \"c\", \"exclude\": [\"a\", \"\"]}",
		 "cpub.json: exclude[1] must be a non-empty string"},
		{"{\"name\": \"f\", \"runtime\": \"c\", \"include\": [3]}",
		 "cpub.json: include[0] must be a non-empty string"},
	};

	for (size_t i = 0; i < NELEM(cases); i++)
	{
		struct manifest m;
		char		   *err = NULL;
		int rc = manifest_parse(cases[i].text, strlen(cases[i].text),
								"cpub.json", &m, &err);

		ok(rc == -1 && m.name == NULL, "refused: %s", cases[i].text);
		is_str(err, cases[i].message, "  with its message");
		free(err);
	}

	/* jansson's own: line and column, duplicate keys. */
	{
		struct manifest m;
		char		   *err = NULL;
		const char	   *text = "{\n  \"name\": \"f\",\n  \"runtime\": c\n}";

		manifest_parse(text, strlen(text), "fn/cpub.json", &m, &err);
		ok(err && strncmp(err, "fn/cpub.json:3:", 15) == 0,
		   "bad JSON: the file, line and column (%s)", err ? err : "");
		free(err);
		text = "{\"name\": \"f\", \"runtime\": \"c\", \"name\": \"g\"}";
		manifest_parse(text, strlen(text), "cpub.json", &m, &err);
		ok(err && strstr(err, "duplicate object key") != NULL,
		   "a key twice is refused (%s)", err ? err : "");
		free(err);
	}
}

static void
test_manifest_load(void)
{
	char		   *dir = fresh("load");
	char		   *err = NULL;
	char			want[8192];
	char			cwd[8192];
	struct manifest m;

	ok(manifest_load(dir, &m, &err) == -1, "manifest_load: no cpub.json");
	snprintf(want, sizeof(want),
			 "%s/cpub.json: no such file (cpub init "
			 "writes one)",
			 dir);
	is_str(err, want, "  said with its path and what makes one");
	free(err);
	put(dir, "cpub.json", "{\"name\": \"f\", \"runtime\": \"c\"}", 0644);
	ok(manifest_load(dir, &m, &err) == 0 && strcmp(m.name, "f") == 0,
	   "manifest_load reads DIR/cpub.json");
	manifest_free(&m);
	put(dir, "cpub.json", "{\"name\": \"f\"}", 0644);
	if (getcwd(cwd, sizeof(cwd)) != NULL && chdir(dir) == 0)
	{
		manifest_load(".", &m, &err);
		is_str(err, "cpub.json: runtime is required (c, python or shell)",
			   "in the current folder the file is named cpub.json");
		free(err);
		if (chdir(cwd) != 0)
			diag("could not go back to %s", cwd);
	}
	free(dir);
}

/* --- secrets ------------------------------------------------------------ */

static void
test_secret_names(void)
{
	static const char *secrets[] = {
		".env",
		"config/.env",
		".env.production",
		".ENV",
		".envrc",
		".env-local",
		".env_production",
		".env.example",
		"store.jks",
		"app.keystore",
		"putty.ppk",
		".pgpass",
		".my.cnf",
		".htpasswd",
		"prod.tfvars",
		"secrets.yaml",
		"deploy/secrets.yml",
		"secrets.json",
		".docker/config.json",
		"home/.kube/config",
		"server.pem",
		"certs/server.key",
		"store.p12",
		"store.pfx",
		"vault.kdbx",
		"id_rsa",
		".ssh/id_rsa.old",
		"id_dsa",
		"id_ecdsa",
		"id_ed25519",
		"id_ed25519.bak",
		".netrc",
		".npmrc",
		".pypirc",
		".git-credentials",
		"credentials",
		"credentials.json",
		".aws/credentials",
		"home/.aws/credentials",
	};
	static const char *not_secrets[] = {
		"id_rsa.pub",		  "env.c",
		"environment.py",	  "key.c",
		"keys/readme.md",	  "monkey",
		"my.env.c",			  "credentials.py",
		"server.pem.txt",	  "aws/credentials.md",
		"id_rsa_test.c",	  "environment",
		"docker/config.json", "kube/config",
		"config.json",		  "my.cnf",
		"secrets.py",		  "tfvars.md",
	};
	bool all = true;

	for (size_t i = 0; i < NELEM(secrets); i++)
		if (analysis_secret_name(secrets[i]) == NULL)
		{
			diag("not taken for a secret: %s", secrets[i]);
			all = false;
		}
	ok(all, "every secret name pattern (%zu names)", NELEM(secrets));
	all = true;
	for (size_t i = 0; i < NELEM(not_secrets); i++)
		if (analysis_secret_name(not_secrets[i]) != NULL)
		{
			diag("taken for a secret: %s", not_secrets[i]);
			all = false;
		}
	ok(all, "no look-alike name is (%zu names)", NELEM(not_secrets));
	is_str(analysis_secret_name("a/b.key"), "a private key file",
		   "the reason of *.key");
}

static void
test_private_key_content(void)
{
	static const char *keys[] = {
		"-----BEGIN PRIVATE KEY-----\nMIIE...\n",
		"x\n-----BEGIN RSA PRIVATE KEY-----\n",
		"-----BEGIN EC PRIVATE KEY-----",
		"-----BEGIN OPENSSH PRIVATE KEY-----\r\n",
		"-----BEGIN ENCRYPTED PRIVATE KEY-----\n",
		"-----BEGIN PGP PRIVATE KEY BLOCK-----\n",
		"const char *k = \"-----BEGIN DSA PRIVATE KEY-----\\n\";\n",
	};
	static const char *not_keys[] = {
		"-----BEGIN CERTIFICATE-----\n",	"-----BEGIN PUBLIC KEY-----\n",
		"-----BEGIN RSA PUBLIC KEY-----\n", "BEGIN PRIVATE KEY\n",
		"-----BEGIN PRIVATE KEY\n-----\n",	"-----BEGIN \nPRIVATE KEY-----\n",
		"a private key goes here\n",
	};
	bool all = true;

	for (size_t i = 0; i < NELEM(keys); i++)
		if (!analysis_has_private_key(keys[i], strlen(keys[i])))
		{
			diag("not seen: %s", keys[i]);
			all = false;
		}
	ok(all, "each kind of private key block is seen");
	all = true;
	for (size_t i = 0; i < NELEM(not_keys); i++)
		if (analysis_has_private_key(not_keys[i], strlen(not_keys[i])))
		{
			diag("seen: %s", not_keys[i]);
			all = false;
		}
	ok(all, "certificates, public keys and broken lines are not");
}

static const char *C_MANIFEST = "{\"name\": \"f\", \"runtime\": \"c\"}";

static void
test_secret_files(void)
{
	char				   *dir = fresh("secrets");
	struct analysis_report *r;
	char				   *text;
	struct analysis_options opts = {NULL, 0, false};
	char				   *inc[] = {"certs"};
	char				   *manifest;

	put(dir, "main.c", "int x;\n", 0644);
	put(dir, ".env", "TOKEN=1\n", 0644);
	put(dir, "certs/server.key", "k\n", 0600);
	put(dir, "certs/ca.crt", "-----BEGIN CERTIFICATE-----\n", 0644);
	put(dir, "config/app.yaml",
		"db: x\nkey: |\n  -----BEGIN RSA PRIVATE KEY-----\n  MII\n", 0644);
	put(dir, "id_rsa.pub", "ssh-rsa AAAA\n", 0644);
	/* Never looked at: .git at any depth, and what exclude names. */
	put(dir, ".git/config", "-----BEGIN RSA PRIVATE KEY-----\n", 0644);
	put(dir, "vendor/lib/.git/.env", "X=1\n", 0644);
	put(dir, "build/.env", "X=1\n", 0644);
	manifest = "{\"name\": \"f\", \"runtime\": \"c\", \"exclude\": "
			   "[\"build\"]}";

	r = analyse(dir, manifest, NULL);
	ok(r && r->refused, "secrets: refused");
	is_str(secret_list(r), ".env certs/server.key config/app.yaml",
		   "by name and by content, sorted; not .git, excluded or .pub");
	is_str(r ? r->secrets[2].reason : NULL, "holds a private key",
		   "a key inside a file is said so");
	text = r ? printed(r, false, false) : NULL;
	is_str(text,
		   "cpub: refusing to deploy: 3 files look like secrets:\n"
		   "  .env (an environment file)\n"
		   "  certs/server.key (a private key file)\n"
		   "  config/app.yaml (holds a private key)\n"
		   "hint: add them to \"include\" in cpub.json or pass --include to "
		   "ship them anyway\n",
		   "the report on stderr");
	free(text);
	text = r ? printed(r, true, false) : NULL;
	{
		json_t *j = text ? json_loads(text, 0, NULL) : NULL;
		json_t *a = json_object_get(j, "analysis");

		ok(j &&
			   strcmp(json_string_value(json_object_get(
						  json_object_get(j, "error"), "code")),
					  "analysis") == 0 &&
			   strcmp(json_string_value(json_object_get(
						  json_object_get(j, "error"), "message")),
					  "refusing to deploy: 3 files look like secrets") == 0 &&
			   json_is_true(json_object_get(a, "refused")) &&
			   json_array_size(json_object_get(a, "secrets")) == 3 &&
			   strchr(text, '\n') == text + strlen(text) - 1,
		   "--json: one line, the API's error shape and the analysis");
		json_decref(j);
	}
	free(text);
	analysis_free(r);

	/* include in the manifest, --include a folder. */
	manifest = "{\"name\": \"f\", \"runtime\": \"c\", \"exclude\": "
			   "[\"build\"], \"include\": [\".env\", \"config/*.yaml\"]}";
	r = analyse(dir, manifest, NULL);
	is_str(secret_list(r), ".env+ certs/server.key config/app.yaml+",
		   "include in cpub.json lets a name and a path pattern through");
	ok(r && r->refused, "  the one left still refuses");
	analysis_free(r);
	opts.include = inc;
	opts.ninclude = 1;
	r = analyse(dir, manifest, &opts);
	is_str(secret_list(r), ".env+ certs/server.key+ config/app.yaml+",
		   "--include of a folder covers what it holds");
	ok(r && !r->refused, "  nothing refused then");
	text = r ? printed(r, false, false) : NULL;
	is_str(text,
		   "cpub: shipping 3 files that look like secrets, as included:\n"
		   "  .env (an environment file)\n"
		   "  certs/server.key (a private key file)\n"
		   "  config/app.yaml (holds a private key)\n",
		   "  and said once");
	free(text);
	text = r ? printed(r, false, true) : NULL;
	is_str(text, "", "  but not with --quiet");
	free(text);
	analysis_free(r);
	free(dir);

	/* A key block after 70 KB of padding: the whole file is searched. */
	dir = fresh("secrets-far");
	{
		size_t pad = 70 * 1024;
		char  *big = malloc(pad + 64);

		memset(big, 'x', pad);
		strcpy(big + pad, "\n-----BEGIN PRIVATE KEY-----\nMII\n");
		put(dir, "main.c", "int x;\n", 0644);
		put(dir, "data/blob.txt", big, 0644);
		free(big);
	}
	r = analyse(dir, C_MANIFEST, NULL);
	is_str(secret_list(r), "data/blob.txt",
		   "a key block after 70 KB of padding is found");
	analysis_free(r);
	free(dir);
}

/* --- risky calls ----------------------------------------------------------- */

static void
test_risky_c(void)
{
	char				   *dir = fresh("risky-c");
	struct analysis_report *r;
	struct analysis_options allow = {NULL, 0, true};
	char				   *text;

	put(dir, "main.c",
		"#include <stdlib.h>\n"									/* 1 */
		"#include <sys/socket.h>\n"								/* 2 */
		"int my_system(int x) { return x; }\n"					/* 3 */
		"/* system(\"ls\") in a comment */\n"					/* 4 */
		"// popen(\"x\", \"r\");\n"								/* 5 */
		"static const char *m = \"call system() here\";\n"		/* 6 */
		"int f(void) { return system (\"ls\"); }\n"				/* 7 */
		"int g(void) { return my_system(1) + ecosystem(2); }\n" /* 8 */
		"/*\n"													/* 9 */
		" fork();\n"											/* 10 */
		"*/\n"													/* 11 */
		"int h(void) { int p = fork(); execvp(\"a\", 0); return s.connect(1) "
		"+ t->fork(); }\n"											 /* 12 */
		"void *d = dlopen(\"x\", 0); int k = socket(2, 1, 0);\n"	 /* 13 */
		"char c = '\"'; int v = vfork();\n"							 /* 14 */
		"const char *s2 = \"a \\\" system(\";\n"					 /* 15 */
		"int forks(void); int z = posix_spawn(0, 0, 0, 0, 0, 0);\n", /* 16 */
		0644);
	/* The function itself as a value, not called where it is named. */
	put(dir, "value.c",
		"int (*run)(const char *) = system;\n"	 /* 1 */
		"int r = (popen)(\"ls\", \"r\") != 0;\n" /* 2 */
		"void *h = pick(dlopen, 1);\n"			 /* 3 */
		"int system_ok; int n = ecosystem;\n",	 /* 4 */
		0644);
	put(dir, "include/net.h",
		"static int c(void) { return connect(0, 0, 0); }\n", 0644);
	put(dir, "tool.py", "import os\nos.system('ls')\n", 0644);
	put(dir, "run.sh", "curl http://x\n", 0755);

	r = analyse(dir, C_MANIFEST, NULL);
	is_str(risky_list(r),
		   "include/net.h:1:connect() main.c:7:system() main.c:12:execvp() "
		   "main.c:12:fork() main.c:13:socket() main.c:13:dlopen() "
		   "main.c:14:vfork() main.c:16:posix_spawn() value.c:1:system() "
		   "value.c:2:popen() value.c:3:dlopen()",
		   "C: each call with its line; none in comments, strings, longer "
		   "names or members; .h files too, not .py or .sh; a function "
		   "taken as a value (\"= system;\", \"(popen)(\", \"f(dlopen, \")");
	ok(r && r->refused, "C: risky calls refuse");
	text = r ? printed(r, false, false) : NULL;
	ok(text &&
		   strncmp(text,
				   "cpub: refusing to deploy: 11 risky calls:\n"
				   "  include/net.h:1: connect() connects a socket\n"
				   "  main.c:7: system() runs a command through the shell\n",
				   120) == 0 &&
		   strstr(text, "hint: the sandbox refuses these at run time; pass "
						"--allow-risky to deploy anyway\n") != NULL,
	   "C: the report on stderr, with the hint");
	free(text);
	analysis_free(r);

	r = analyse(dir, C_MANIFEST, &allow);
	ok(r && !r->refused && r->nrisky == 11 && r->risky_allowed,
	   "--allow-risky: the same calls, not refused");
	text = r ? printed(r, false, false) : NULL;
	ok(text && strncmp(text,
					   "cpub: warning: 11 risky calls, allowed by "
					   "--allow-risky:\n",
					   57) == 0,
	   "  they are a warning");
	free(text);
	analysis_free(r);
	free(dir);
}

static void
test_risky_python(void)
{
	char				   *dir = fresh("risky-py");
	struct analysis_report *r;

	put(dir, "main.py",
		"import os\n"											/* 1 */
		"import subprocess\n"									/* 2 */
		"# os.system(\"ls\")\n"									/* 3 */
		"def handle(request):\n"								/* 4 */
		"    \"\"\"eval(this) is a docstring\n"					/* 5 */
		"    exec(that) too, and socket\"\"\"\n"				/* 6 */
		"    x = request.json()\n"								/* 7 */
		"    y = eval (\"1+1\")\n"								/* 8 */
		"    df.eval(\"a\")  # a method\n"						/* 9 */
		"    s = 'os.popen in a string'\n"						/* 10 */
		"    ecosystem = subprocesses = 1\n"					/* 11 */
		"    os.system(\"ls\")\n"								/* 12 */
		"    return my_exec(1), __import__(\"json\"), ctypes\n" /* 13 */
		"import socketserver, websocket\n"						/* 14 */
		"t = '''\nexec(x)\n'''; exec(t)\n"						/* 15-17 */
		"from socket import create_connection\n",				/* 18 */
		0644);
	put(dir, "lib/util.py", "r = os.popen('x')  # here\n", 0644);
	put(dir, "lib/imports.py",
		"from os import system, popen\n"					/* 1 */
		"from os import path, environ\n"					/* 2 */
		"from subprocess import run\n"						/* 3 */
		"x = f\"{eval('1+1')}\"\n"							/* 4 */
		"y = f'{{eval(1)}} {name!r:>{width}}'\n"			/* 5 */
		"z = rf\"{ {'k': exec('x')}['k'] }\" + 'exec(s)'\n" /* 6 */
		"w = \"{eval(2)}\" + b'{exec(3)}'\n"				/* 7 */
		"from os.path import system_of\n",					/* 8 */
		0644);

	r = analyse(dir, "{\"name\": \"f\", \"runtime\": \"python\"}", NULL);
	is_str(risky_list(r),
		   "lib/imports.py:1:os.system lib/imports.py:1:os.popen "
		   "lib/imports.py:3:subprocess lib/imports.py:4:eval() "
		   "lib/imports.py:6:exec() "
		   "lib/util.py:1:os.popen main.py:2:subprocess main.py:8:eval() "
		   "main.py:12:os.system main.py:13:ctypes main.py:13:__import__ "
		   "main.py:17:exec() main.py:18:socket",
		   "Python: each call with its line, \"from os import system\" and "
		   "the {...} of an f-string too; none in comments, strings, "
		   "docstrings, methods or longer words");
	ok(r && r->refused && r->entry_missing == NULL, "Python: refused");
	analysis_free(r);
	free(dir);
}

static void
test_risky_shell(void)
{
	char				   *dir = fresh("risky-sh");
	struct analysis_report *r;

	put(dir, "handler.sh",
		"#!/bin/sh\n"								   /* 1 */
		"# curl http://example.com\n"				   /* 2 */
		"body=$(cat)\n"								   /* 3 */
		"echo \"sync done\" # wget in a comment\n"	   /* 4 */
		"data=$(curl -s http://x)\n"				   /* 5 */
		"ssh-keygen -l; cat .curlrc\n"				   /* 6 */
		"echo $nc ${#body} \"#\" not-a-comment curl\n" /* 7 */
		"exec 3<>/dev/tcp/example.com/80\n"			   /* 8 */
		"/usr/bin/wget -q x; nc -l 8080\n",			   /* 9 */
		0755);
	put(dir, "bin/tool", "#!/usr/bin/env bash\n\nscp a b:\n", 0755);
	put(dir, "notes.txt", "curl it\n", 0644);
	put(dir, "lib.py", "import socket\n", 0644);

	r = analyse(dir, "{\"name\": \"f\", \"runtime\": \"shell\"}", NULL);
	is_str(risky_list(r),
		   "bin/tool:3:scp handler.sh:5:curl handler.sh:7:curl "
		   "handler.sh:8:/dev/tcp/ handler.sh:9:wget handler.sh:9:nc",
		   "shell: each tool with its line, scripts known by their #! too; "
		   "not in comments, longer words, variables, .txt or .py");
	analysis_free(r);
	free(dir);
}

/* --- entry files, links, caps ----------------------------------------------- */

static void
test_entry(void)
{
	static const struct
	{
		const char *runtime;
		const char *file; /* the only file of the folder */
		const char *missing;
	} cases[] = {
		{"c", "src/deep/fn.c", NULL},
		{"c", "fn.h",
		 "a .c file is missing: a C function is one or more .c files "
		 "defining cpub_handle (see cpub.h)"},
		{"python", "main.py", NULL},
		{"python", "app/main.py",
		 "main.py is missing: a Python function is a module main.py with "
		 "handle(request)"},
		{"shell", "handler.sh", NULL},
		{"shell", "handler",
		 "handler.sh is missing: a shell function is a script handler.sh "
		 "answering like a CGI script"},
	};

	for (size_t i = 0; i < NELEM(cases); i++)
	{
		char				   *dir = fresh("entry");
		char					manifest[256];
		struct analysis_report *r;

		put(dir, cases[i].file, "\n", 0644);
		snprintf(manifest, sizeof(manifest),
				 "{\"name\": \"f\", \"runtime\": \"%s\"}", cases[i].runtime);
		r = analyse(dir, manifest, NULL);
		is_str(r ? r->entry_missing : "?", cases[i].missing,
			   "%s with only %s: %s", cases[i].runtime, cases[i].file,
			   cases[i].missing ? "refused" : "fine");
		ok(r && r->refused == (cases[i].missing != NULL),
		   "  refused accordingly");
		analysis_free(r);
		free(dir);
	}
	{
		char				   *dir = fresh("entry");
		struct analysis_report *r;
		char				   *text;

		put(dir, "main.py", "\n", 0644);
		r = analyse(dir,
					"{\"name\": \"f\", \"runtime\": \"python\", \"exclude\": "
					"[\"main.py\"]}",
					NULL);
		ok(r && r->entry_missing != NULL, "an entry file excluded is missing");
		text = r ? printed(r, false, false) : NULL;
		is_str(text,
			   "cpub: refusing to deploy: main.py is missing: a Python "
			   "function is a module main.py with handle(request)\n",
			   "  said on stderr");
		free(text);
		analysis_free(r);
		free(dir);
	}
}

static void
test_links_and_others(void)
{
	char				   *dir = fresh("links");
	struct analysis_report *r;
	char				   *text;

	put(dir, "main.c", "int x;\n", 0644);
	put(dir, "outside/.env", "X=1\n", 0644);
	if (symlink("../outside", path_of("links/inside")) != 0 ||
		symlink("/etc/passwd", path_of("links/passwd")) != 0 ||
		mkfifo(path_of("links/pipe"), 0644) != 0)
		diag("could not make the links: %s", strerror(errno));
	r = analyse(dir,
				"{\"name\": \"f\", \"runtime\": \"c\", \"exclude\": "
				"[\"outside\"]}",
				NULL);
	is_str(problem_list(r),
		   "inside: a symbolic link (the worker accepts only regular files "
		   "and folders)|passwd: a symbolic link (the worker accepts only "
		   "regular files and folders)|pipe: neither a regular file nor a "
		   "folder (a device, fifo or socket)",
		   "links and fifos are refused, never followed (no secret seen "
		   "through one)");
	ok(r && r->refused && r->nsecrets == 0, "  refused");
	text = r ? printed(r, false, false) : NULL;
	ok(text &&
		   strncmp(text, "cpub: refusing to deploy: 3 problems:\n", 38) == 0 &&
		   strstr(text, "hint: remove them, or add them to \"exclude\" in "
						"cpub.json\n") != NULL,
	   "  the report says what to do");
	free(text);
	analysis_free(r);
	r = analyse(dir,
				"{\"name\": \"f\", \"runtime\": \"c\", \"exclude\": "
				"[\"outside\", \"inside\", \"passwd\", \"pipe\"]}",
				NULL);
	ok(r && !r->refused && r->files == 1 && r->folders == 0,
	   "excluded, they are not looked at");
	analysis_free(r);
	free(dir);
}

static void
test_caps(void)
{
	char				   *dir = fresh("caps");
	struct analysis_report *r;
	char					rel[2048];
	char				   *big;
	FILE				   *f;
	int						fd;

	put(dir, "main.c", "int x;\n", 0644);
	/* Sparse files: sizes without the disk. */
	fd = open(path_of("caps/big.bin"), O_WRONLY | O_CREAT, 0644);
	if (fd < 0 || ftruncate(fd, (off_t) (256 * MiB + 1)) != 0)
		diag("could not make big.bin");
	close(fd);
	fd = open(path_of("caps/half.bin"), O_WRONLY | O_CREAT, 0644);
	if (fd < 0 || ftruncate(fd, (off_t) (256 * MiB)) != 0)
		diag("could not make half.bin");
	close(fd);
	r = analyse(dir, C_MANIFEST, NULL);
	is_str(problem_list(r),
		   "big.bin: 268435457 bytes, more than the worker's limit of 256 MiB "
		   "per file|the files add up to 536870920 bytes, more than the "
		   "worker's limit of 512 MiB in all",
		   "a file over 256 MiB, files over 512 MiB in all");
	analysis_free(r);
	unlink(path_of("caps/big.bin"));
	r = analyse(dir, C_MANIFEST, NULL);
	ok(r && !r->refused && r->bytes == 256 * MiB + 7,
	   "a file of 256 MiB exactly is fine");
	analysis_free(r);
	unlink(path_of("caps/half.bin"));

	/* 33 levels: one too deep; a path of 1,025 bytes. */
	snprintf(rel, sizeof(rel), "%s/d", dir);
	for (int i = 1; i < 33; i++)
		strcat(rel, "/d");
	mkdirs(rel);
	big = malloc(2048);
	snprintf(big, 2048, "%s", dir);
	for (int i = 0; i < 4; i++)
	{
		size_t len = strlen(big);

		/* Four folders of 250 bytes: 1,004 bytes with their slashes. */
		big[len] = '/';
		memset(big + len + 1, 'a' + i, 250);
		big[len + 251] = '\0';
	}
	mkdirs(big);
	/* A file of 21 bytes makes the path 1,025 bytes. */
	strcat(big, "/eeeeeeeeeeeeeeeeeeeee");
	f = fopen(big, "w");
	if (f)
		fclose(f);
	r = analyse(dir, C_MANIFEST, NULL);
	{
		const char *list = problem_list(r);

		ok(r && r->nproblems == 2 &&
			   strstr(list, "a path longer than 1024 bytes (the worker's "
							"limit)") != NULL &&
			   strstr(list, "/d/d: a path deeper than 32 levels (the "
							"worker's limit)") != NULL,
		   "a path over 1,024 bytes and one over 32 levels");
	}
	analysis_free(r);
	free(big);
	free(dir);
}

static void
test_many_entries(void)
{
	char				   *dir = fresh("many");
	struct analysis_report *r;
	char					rel[64];

	put(dir, "main.c", "int x;\n", 0644);
	for (int i = 0; i < ANALYSIS_MAX_ENTRIES - 1; i++)
	{
		int fd;

		snprintf(rel, sizeof(rel), "many/f%05d", i);
		fd = open(path_of(rel), O_WRONLY | O_CREAT, 0644);
		close(fd);
	}
	r = analyse(dir, C_MANIFEST, NULL);
	ok(r && !r->refused && r->files == ANALYSIS_MAX_ENTRIES,
	   "10,000 entries are fine");
	analysis_free(r);
	close(open(path_of("many/one-more"), O_WRONLY | O_CREAT, 0644));
	r = analyse(dir, C_MANIFEST, NULL);
	is_str(problem_list(r),
		   "10001 files and folders, more than the worker's limit of 10000",
		   "10,001 are refused");
	analysis_free(r);
	unpack_remove_tree(dir);
	free(dir);
}

/* --- the archive ------------------------------------------------------------ */

/* make_tree: the same files; REVERSE makes them in the other order, with
 * group and other bits, another time and another cpub.json and .git. */
static void
make_tree(const char *dir, bool reverse)
{
	static const struct
	{
		const char *path;
		const char *text;
		mode_t		mode;
	} files[] = {
		{"main.c", "int cpub_handle(void) { return 0; }\n", 0644},
		{"lib/util.c", "int util;\n", 0640},
		{"lib/util.h", "extern int util;\n", 0600},
		{"bin/run", "#!/bin/sh\necho hi\n", 0750},
		{"h\xc3\xa9llo.txt", "non-ASCII name\n", 0644},
		{"a-b", "sorts between a and a/b (byte order)\n", 0644},
		{"a/b", "inside a\n", 0644},
		{"long/0123456789012345678901234567890123456789/"
		 "0123456789012345678901234567890123456789/"
		 "0123456789012345678901234567890123456789/file.txt",
		 "a path over 100 bytes\n", 0644},
	};
	size_t n = NELEM(files);
	char   empty[8192];

	for (size_t k = 0; k < n; k++)
	{
		size_t i = reverse ? n - 1 - k : k;

		put(dir, files[i].path, files[i].text,
			reverse ? (files[i].mode | 0044) : files[i].mode);
	}
	snprintf(empty, sizeof(empty), "%s/empty", dir);
	mkdirs(empty);
	put(dir, "cpub.json",
		reverse ? "{\"name\": \"f\", \"runtime\": \"c\", \"memory_mb\": 64}"
				: "{\"name\": \"f\", \"runtime\": \"c\"}",
		0644);
	put(dir, ".git/HEAD", reverse ? "ref: b\n" : "ref: a\n", 0644);
	if (reverse)
	{
		struct timeval tv[2] = {{1000, 0}, {1000, 0}};
		char		   path[8192];

		snprintf(path, sizeof(path), "%s/main.c", dir);
		utimes(path, tv);
	}
}

/* list_archive: "path mode uid gid mtime uname|" of each entry. */
static char *
list_archive(const struct pack_archive *a)
{
	struct archive		 *r = archive_read_new();
	struct archive_entry *e;
	char				 *out = calloc(1, 65536);
	size_t				  used = 0;

	archive_read_support_format_tar(r);
	archive_read_support_filter_gzip(r);
	if (archive_read_open_memory(r, a->data, a->size) != ARCHIVE_OK)
		return out;
	while (archive_read_next_header(r, &e) == ARCHIVE_OK)
		used += (size_t) snprintf(
			out + used, 65536 - used, "%s %o %lld %lld %lld %s|",
			archive_entry_pathname(e), (unsigned) archive_entry_mode(e),
			(long long) archive_entry_uid(e), (long long) archive_entry_gid(e),
			(long long) archive_entry_mtime(e),
			archive_entry_uname(e) && archive_entry_uname(e)[0]
				? archive_entry_uname(e)
				: "-");
	archive_read_free(r);
	return out;
}

/* read_back: the text of DIR/REL, or "" (static). */
static const char *
read_back(const char *dir, const char *rel)
{
	static char buf[4096];
	char		path[8192];
	FILE	   *f;
	size_t		n = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	f = fopen(path, "r");
	if (f)
	{
		n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
	}
	buf[n] = '\0';
	return buf;
}

static mode_t
mode_of(const char *dir, const char *rel)
{
	char		path[8192];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	return stat(path, &st) == 0 ? st.st_mode & 07777 : 0;
}

static void
test_pack(void)
{
	char				*a_dir = fresh("pack-a");
	char				*b_dir = fresh("pack-b");
	char				*dest = fresh("pack-dest");
	struct manifest		 m;
	struct pack_archive	 a1, a2, b;
	char				*err = NULL;
	char				 hex[PACK_SHA256_HEX];
	char				*list;
	struct unpack_limits lim;
	struct unpack_stats	 st;
	char				 uerr[512];

	make_tree(a_dir, false);
	make_tree(b_dir, true);
	parse(C_MANIFEST, &m);

	ok(pack_folder(a_dir, &m, &a1, &err) == 0 && a1.size > 0,
	   "pack_folder: an archive");
	ok(pack_folder(a_dir, &m, &a2, &err) == 0 && a1.size == a2.size &&
		   memcmp(a1.data, a2.data, a1.size) == 0 &&
		   strcmp(a1.sha256, a2.sha256) == 0,
	   "the same folder twice: the same bytes and SHA-256");
	pack_sha256_hex(a1.data, a1.size, hex);
	is_str(a1.sha256, hex, "sha256 is the archive's, in hex");
	ok(strlen(a1.sha256) == 64, "  64 hex digits");
	ok(pack_folder(b_dir, &m, &b, &err) == 0 &&
		   strcmp(a1.sha256, b.sha256) == 0,
	   "made in another order, with other times, group and other bits, "
	   "another cpub.json and .git: the same SHA-256");
	ok(a1.files == 8 && a1.folders == 8, "files and folders counted (%u, %u)",
	   a1.files, a1.folders);
	ok(a1.data[0] == 0x1f && a1.data[1] == 0x8b && a1.data[3] == 0 &&
		   a1.data[4] == 0 && a1.data[5] == 0 && a1.data[6] == 0 &&
		   a1.data[7] == 0,
	   "gzip without a file name or a time in its header");

	list = list_archive(&a1);
	is_str(list,
		   "a/ 40755 0 0 0 -|a-b 100644 0 0 0 -|a/b 100644 0 0 0 -|"
		   "bin/ 40755 0 0 0 -|bin/run 100755 0 0 0 -|empty/ 40755 0 0 0 -|"
		   "h\xc3\xa9llo.txt 100644 0 0 0 -|lib/ 40755 0 0 0 -|"
		   "lib/util.c 100644 0 0 0 -|lib/util.h 100644 0 0 0 -|"
		   "long/ 40755 0 0 0 -|"
		   "long/0123456789012345678901234567890123456789/ 40755 0 0 0 -|"
		   "long/0123456789012345678901234567890123456789/"
		   "0123456789012345678901234567890123456789/ 40755 0 0 0 -|"
		   "long/0123456789012345678901234567890123456789/"
		   "0123456789012345678901234567890123456789/"
		   "0123456789012345678901234567890123456789/ 40755 0 0 0 -|"
		   "long/0123456789012345678901234567890123456789/"
		   "0123456789012345678901234567890123456789/"
		   "0123456789012345678901234567890123456789/file.txt 100644 0 0 0 "
		   "-|main.c 100644 0 0 0 -|",
		   "entries sorted, modes 0644/0755, owner 0, no names, time 0; no "
		   "cpub.json, no .git");
	free(list);

	unpack_limits_default(&lim);
	if (!ok(unpack_archive(a1.data, a1.size, dest, &lim, &st, uerr,
						   sizeof(uerr)) == 0,
			"the worker's unpack_archive takes it"))
		diag("%s", uerr);
	ok(st.files == 8 && st.dirs == 8, "  all of it (%u files, %u folders)",
	   st.files, st.dirs);
	is_str(read_back(dest,
					 "long/0123456789012345678901234567890123456789/"
					 "0123456789012345678901234567890123456789/"
					 "0123456789012345678901234567890123456789/file.txt"),
		   "a path over 100 bytes\n", "  a long path whole");
	is_str(read_back(dest, "h\xc3\xa9llo.txt"), "non-ASCII name\n",
		   "  a non-ASCII name as its bytes");
	ok(mode_of(dest, "bin/run") == 0755 && mode_of(dest, "main.c") == 0644,
	   "  an executable stays executable");
	pack_archive_free(&b);

	/* A change of content or of the execute bit is a new archive. */
	put(b_dir, "lib/util.c", "int utim;\n", 0644);
	ok(pack_folder(b_dir, &m, &b, &err) == 0 &&
		   strcmp(a1.sha256, b.sha256) != 0,
	   "a byte changed: another SHA-256");
	pack_archive_free(&b);
	put(b_dir, "lib/util.c", "int util;\n", 0744);
	ok(pack_folder(b_dir, &m, &b, &err) == 0 &&
		   strcmp(a1.sha256, b.sha256) != 0,
	   "the owner's execute bit set: another SHA-256");
	pack_archive_free(&b);
	chmod(path_of("pack-b/lib/util.c"), 0600);
	ok(pack_folder(b_dir, &m, &b, &err) == 0 &&
		   strcmp(a1.sha256, b.sha256) == 0,
	   "  and back: the same again");
	pack_archive_free(&b);
	manifest_free(&m);

	/* exclude leaves files out of the archive. */
	parse("{\"name\": \"f\", \"runtime\": \"c\", \"exclude\": [\"long\", "
		  "\"*.h\"]}",
		  &m);
	ok(pack_folder(a_dir, &m, &b, &err) == 0 && b.files == 6 && b.folders == 4,
	   "exclude: those files and folders are not packed");
	list = list_archive(&b);
	ok(strstr(list, "long") == NULL && strstr(list, ".h ") == NULL,
	   "  none of them in the archive");
	free(list);
	pack_archive_free(&b);
	manifest_free(&m);
	pack_archive_free(&a1);
	pack_archive_free(&a2);

	/* A link cannot be packed. */
	parse(C_MANIFEST, &m);
	if (symlink("main.c", path_of("pack-a/link")) != 0)
		diag("could not make the link");
	ok(pack_folder(a_dir, &m, &b, &err) == -1 && b.data == NULL,
	   "a symbolic link: no archive");
	is_str(err,
		   "cannot pack link: a symbolic link (only regular files and "
		   "folders are shipped)",
		   "  said");
	free(err);
	err = NULL;
	manifest_free(&m);
	free(a_dir);
	free(b_dir);
	free(dest);
}

/* extracts: whether the worker's unpack_archive takes A (into ROOT/NAME,
 * made afresh); its message in ERR. */
static bool
extracts(const struct pack_archive *a, const char *name, char *err,
		 size_t errlen)
{
	char				*dest = fresh(name);
	struct unpack_limits lim;
	int					 rc;

	unpack_limits_default(&lim);
	rc = unpack_archive(a->data, a->size, dest, &lim, NULL, err, errlen);
	unpack_remove_tree(dest);
	free(dest);
	return rc == 0;
}

/* The worker's ratio rule, before the upload. */
static void
test_pack_ratio(void)
{
	char			   *dir = fresh("ratio");
	struct manifest		m;
	struct pack_archive a;
	char			   *err = NULL;
	char			   *zeros = calloc(1, 3 * MiB);
	char				uerr[512] = "";
	FILE			   *f;

	parse(C_MANIFEST, &m);
	put(dir, "main.c", "int x;\n", 0644);
	f = fopen(path_of("ratio/zeros.bin"), "w");
	fwrite(zeros, 1, MiB / 2, f);
	fclose(f);
	ok(pack_folder(dir, &m, &a, &err) == 0,
	   "half a MiB of zeros: under the ratio rule's floor");
	if (!ok(a.data && extracts(&a, "ratio-dest", uerr, sizeof(uerr)),
			"  and the worker takes it"))
		diag("%s", uerr);
	pack_archive_free(&a);
	f = fopen(path_of("ratio/zeros.bin"), "w");
	fwrite(zeros, 1, 3 * MiB, f);
	fclose(f);
	ok(pack_folder(dir, &m, &a, &err) == PACK_REFUSED && a.data != NULL,
	   "3 MiB of zeros: PACK_REFUSED");
	ok(err && strstr(err, "expand to more than 100 times the archive") &&
		   strstr(err, "compression bomb"),
	   "  said (%s)", err ? err : "");
	ok(a.data && !extracts(&a, "ratio-dest", uerr, sizeof(uerr)) &&
		   strcmp(uerr, "the archive expands beyond 100 times its compressed "
						"size (a compression bomb?)") == 0,
	   "  which the worker refuses indeed (%s)", uerr);
	pack_archive_free(&a);
	free(err);
	free(zeros);
	manifest_free(&m);
	free(dir);
}

/* What cpub init writes passes the analysis, and packs into an archive
 * the worker takes (cli/cpub is built by make before the tests). */
static void
test_init_output(void)
{
	static const char *runtimes[] = {"c", "python", "shell"};
	char			  *cpub = realpath("../../cli/cpub", NULL);

	ok(cpub != NULL && access(cpub, X_OK) == 0, "cli/cpub is built");
	for (size_t i = 0; cpub && i < NELEM(runtimes); i++)
	{
		char				   *dir = fresh("init");
		char					cmd[16384];
		char					fn[8192];
		char				   *err = NULL;
		char					uerr[512] = "";
		struct manifest			m;
		struct analysis_report *r = NULL;
		struct pack_archive		a;

		snprintf(cmd, sizeof(cmd),
				 "cd '%s' && XDG_CONFIG_HOME='%s' '%s' init -q --runtime %s "
				 "hello",
				 dir, root, cpub, runtimes[i]);
		snprintf(fn, sizeof(fn), "%s/hello", dir);
		if (!ok(system(cmd) == 0 && manifest_load(fn, &m, &err) == 0 &&
					strcmp(m.runtime, runtimes[i]) == 0,
				"%s: cpub init writes a valid cpub.json", runtimes[i]))
		{
			diag("%s", err ? err : "cpub init failed");
			free(err);
			free(dir);
			continue;
		}
		if (!ok(analysis_run(fn, &m, NULL, &r, &err) == 0 && !r->refused &&
					r->nrisky == 0 && r->nsecrets == 0 && r->files == 2,
				"%s: the analysis lets its files through", runtimes[i]))
			diag("%s %s %s", err ? err : "", problem_list(r), risky_list(r));
		if (!ok(pack_folder(fn, &m, &a, &err) == 0 &&
					extracts(&a, "init-dest", uerr, sizeof(uerr)),
				"%s: and the worker takes its archive", runtimes[i]))
			diag("%s %s", err ? err : "", uerr);
		pack_archive_free(&a);
		analysis_free(r);
		manifest_free(&m);
		free(err);
		free(dir);
	}
	free(cpub);
}

int
main(void)
{
	if (mkdtemp(root) == NULL)
	{
		perror("mkdtemp");
		return 2;
	}
	test_manifest_matches_server();
	test_manifest_valid();
	test_manifest_errors();
	test_manifest_load();
	test_secret_names();
	test_private_key_content();
	test_secret_files();
	test_risky_c();
	test_risky_python();
	test_risky_shell();
	test_entry();
	test_links_and_others();
	test_caps();
	test_many_entries();
	test_pack();
	test_pack_ratio();
	test_init_output();
	unpack_remove_tree(root);
	return done_testing();
}
