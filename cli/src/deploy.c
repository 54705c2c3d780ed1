/*
 * cli/src/deploy.c
 *	  cpub deploy [PATH]: the function folder's manifest read, its files
 *	  analysed and packed (manifest.c, analysis.c, pack.c), the archive
 *	  checked against the tier's limit, the function created or its
 *	  settings brought in line with the manifest, the archive checked
 *	  against the versions already there (an unchanged archive is not sent
 *	  again unless --force), uploaded with a progress bar on a terminal,
 *	  and its build followed until the version is ready or failed (unless
 *	  --no-wait).  Nothing changes on the server for a folder refused.
 *
 *	  The build log goes to standard output as the server has it (the
 *	  worker writes it as the build runs); with --json it is part of the
 *	  one JSON object printed at the end, and with --quiet it is shown only
 *	  when the build failed.
 */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "analysis.h"
#include "http.h"
#include "manifest.h"
#include "pack.h"

/* The build-log poll: every POLL_MIN ms for POLL_FAST s, then every
 * POLL_MAX ms. */
#define POLL_MIN_MS 100
#define POLL_FAST_S 10.0
#define POLL_MAX_MS 250
/* Said once when no worker took the build for this long. */
#define QUEUED_NOTICE_S 5.0

/* What one run of deploy knows; deploy_free releases it. */
struct deploy
{
	struct cli	   *cli;
	const char	   *dir;
	bool			wait;
	bool			activate;
	bool			force;
	bool			show;	  /* people's lines and the log (not --json/-q) */
	bool			progress; /* a progress bar on standard error */
	bool			bar_done; /* the bar was drawn full and its line ended */
	struct manifest m;
	char *ref; /* the function in paths: escaped NAME or ORG%2FNAME */
	struct pack_archive pack;
	json_t			   *function; /* function_info, after create or update */
	json_t			   *version;  /* version_info of the version deployed */
	json_t			   *result;	  /* the --json object */
	double				t0;
	double				upload_s;
	double				build_s;
};

static volatile sig_atomic_t interrupted = 0;

static void
on_sigint(int sig)
{
	(void) sig;
	interrupted = 1;
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

/* human_size: N bytes as "812 B", "3.4 KiB", "12.0 MiB" into BUF. */
static const char *
human_size(double n, char *buf, size_t size)
{
	static const char *units[] = {"B", "KiB", "MiB", "GiB"};
	int				   u = 0;

	while (n >= 1024 && u < 3)
	{
		n /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, size, "%.0f B", n);
	else
		snprintf(buf, size, "%.1f %s", n, units[u]);
	return buf;
}

/*
 * show_progress: the upload's bar on standard error, redrawn in place:
 * "uploading [#######.........]  45%  1.2 MiB/2.7 MiB  3.1 MiB/s".
 * libcurl goes on calling it, all sent, until the server answers: the
 * full bar is drawn once, its line ended, and left alone after that.
 */
static int
show_progress(void *arg, curl_off_t sent, curl_off_t total)
{
	struct deploy *d = arg;
	char		   a[32], b[32], r[32];
	double		   now = now_s();
	double		   elapsed = now - d->t0;
	int			   width = 30;
	int			   filled;
	double		   frac;

	if (interrupted)
		return 1;
	if (!d->progress)
		return 0;
	if (total <= 0 || d->bar_done)
		return 0;
	frac = (double) sent / (double) total;
	filled = (int) (frac * width + 0.5);
	fprintf(
		stderr, "\ruploading [%.*s%.*s] %3d%%  %s/%s  %s/s ", filled,
		"##############################", width - filled,
		"..............................", (int) (frac * 100),
		human_size((double) sent, a, sizeof(a)),
		human_size((double) total, b, sizeof(b)),
		human_size(elapsed > 0 ? (double) sent / elapsed : 0, r, sizeof(r)));
	if (sent == total)
	{
		fputc('\n', stderr);
		d->bar_done = true;
	}
	fflush(stderr);
	return 0;
}

/*
 * function_path: "/api/functions/REF" and SUFFIX, into a malloc'd string
 * (NULL when out of memory, reported).
 */
static char *
function_path(const struct deploy *d, const char *suffix)
{
	char *path;

	if (asprintf(&path, "/api/functions/%s%s", d->ref, suffix) < 0)
	{
		fprintf(stderr, "cpub: out of memory\n");
		return NULL;
	}
	return path;
}

/*
 * check_limit: refuses (EXIT_ANALYSIS) an archive larger than the tier of
 * the function accepts, asked from the server before anything changes
 * there: for a function that EXISTS, its own limit (GET .../upload-limit);
 * for one still to be created, the max_archive_mb of its owner's tier (GET
 * /api/tier, or /api/organizations/ORG/tier), so that a refused archive
 * leaves no empty function behind.  Returns 0 or an exit code (reported).
 */
static int
check_limit(struct deploy *d, bool exists)
{
	json_t	  *answer = NULL;
	char	  *path = NULL;
	json_int_t limit = -1;
	char	   a[32], b[32];
	int		   rc;

	if (exists)
	{
		path = function_path(d, "/upload-limit");
		if (!path)
			return 1;
	}
	else
	{
		char *org = d->m.organization ? http_escape(d->m.organization) : NULL;

		if (d->m.organization == NULL)
			path = strdup("/api/tier");
		else if (!org ||
				 asprintf(&path, "/api/organizations/%s/tier", org) < 0)
			path = NULL;
		free(org);
		if (!path)
		{
			fprintf(stderr, "cpub: out of memory\n");
			return 1;
		}
	}
	rc = api_call(d->cli, "GET", path, NULL, true, &answer);
	if (rc != 0)
		goto done;
	if (exists && json_is_integer(answer))
		limit = json_integer_value(answer);
	else if (!exists &&
			 json_is_integer(json_object_get(answer, "max_archive_mb")))
		limit = json_integer_value(json_object_get(answer, "max_archive_mb")) *
				1048576;
	if (limit >= 0 && (json_int_t) d->pack.size > limit)
	{
		fprintf(stderr,
				"cpub: the archive of %s is %s; its tier accepts at most %s\n"
				"hint: exclude what the function does not need (\"exclude\" "
				"in cpub.json), or ask for a larger tier\n",
				d->m.name, human_size((double) d->pack.size, a, sizeof(a)),
				human_size((double) limit, b, sizeof(b)));
		rc = EXIT_ANALYSIS;
	}
done:
	json_decref(answer);
	free(path);
	return rc;
}

/*
 * ensure_function: creates the function when the server has none of that
 * name, or sends the manifest's settings that differ from the server's,
 * once the archive is known to fit its tier (check_limit).  Sets
 * d->function.  Returns 0 or an exit code (reported).
 */
static int
ensure_function(struct deploy *d)
{
	struct http_request	 req = {.method = "GET", .auth = true};
	struct http_response r;
	json_t				*settings = NULL;
	json_t				*changed = NULL;
	char				*path = function_path(d, "");
	const char			*key;
	json_t				*value;
	int					 rc = 1;

	if (!path)
		return 1;
	req.path = path;
	rc = http_send(d->cli, &req, &r);
	if (rc != 0)
		goto done;
	if (r.status == 404)
	{
		rc = check_limit(d, false);
		if (rc != 0)
			goto done;
		settings = manifest_settings_json(&d->m, true);
		rc = api_call(d->cli, "POST", "/api/functions", settings, true,
					  &d->function);
		if (rc == 0 && d->show)
			printf("created function %s (runtime %s)\n", d->m.name,
				   d->m.runtime);
		goto done;
	}
	if (r.status != 200)
	{
		rc = http_print_error(d->cli, &r);
		goto done;
	}
	rc = check_limit(d, true);
	if (rc != 0)
		goto done;
	/* Only what differs, so that an unchanged manifest changes nothing. */
	settings = manifest_settings_json(&d->m, false);
	changed = json_object();
	json_object_foreach(settings, key, value)
	{
		if (!json_equal(value, json_object_get(r.json, key)))
			json_object_set(changed, key, value);
	}
	if (json_object_size(changed) == 0)
	{
		d->function = r.json;
		r.json = NULL;
		rc = 0;
		goto done;
	}
	rc = api_call(d->cli, "PATCH", path, changed, true, &d->function);
	if (rc == 0 && d->show)
	{
		printf("updated the settings of %s:", d->m.name);
		json_object_foreach(changed, key, value)
		{
			char old[64], now[64];

			printf(" %s %s -> %s", key,
				   cli_text(json_object_get(r.json, key), old, sizeof(old)),
				   cli_text(value, now, sizeof(now)));
		}
		putchar('\n');
	}
done:
	http_response_free(&r);
	json_decref(changed);
	json_decref(settings);
	free(path);
	return rc;
}

/*
 * find_same: among the function's latest versions, the newest one built
 * from the very archive at hand and not failed, or NULL.  Sets *versions
 * to the page asked for (the caller releases it; the row is borrowed from
 * it).  Returns 0 or an exit code (reported).
 */
static int
find_same(struct deploy *d, json_t **versions, json_t **same)
{
	char   *path = function_path(d, "/versions?limit=100");
	size_t	i;
	json_t *v;
	int		rc;

	*same = NULL;
	if (!path)
		return 1;
	rc = api_call(d->cli, "GET", path, NULL, true, versions);
	free(path);
	if (rc != 0)
		return rc;
	json_array_foreach(*versions, i, v)
	{
		const char *sha =
			json_string_value(json_object_get(v, "archive_sha256"));
		const char *status = json_string_value(json_object_get(v, "status"));

		if (sha && strcmp(sha, d->pack.sha256) == 0 && status &&
			strcmp(status, "failed") != 0)
		{
			*same = v;
			break;
		}
	}
	return 0;
}

/*
 * upload: POST the archive to .../deploy?activate=, with the progress bar.
 * Sets d->version.  Returns 0 or an exit code (reported).
 */
static int
upload(struct deploy *d)
{
	struct http_request	 req = {.method = "POST", .auth = true};
	struct http_response r;
	char  *path = function_path(d, d->activate ? "/deploy?activate=true"
											   : "/deploy?activate=false");
	double t = now_s();
	int	   rc;

	if (!path)
		return 1;
	req.path = path;
	req.body = (const char *) d->pack.data;
	req.body_len = d->pack.size;
	req.content_type = "application/gzip";
	/* Always called, so that Ctrl-C stops the upload; it draws only on
	 * a terminal. */
	d->t0 = t;
	req.progress = show_progress;
	req.progress_arg = d;
	rc = http_send(d->cli, &req, &r);
	if (rc != 0 && interrupted)
		return 130;
	free(path);
	if (rc != 0)
		return rc;
	d->upload_s = now_s() - t;
	if (r.status != 202 && r.status != 200)
		rc = http_print_error(d->cli, &r);
	else if (!json_is_object(r.json))
	{
		fprintf(stderr, "cpub: the server's deploy reply is not JSON\n");
		rc = EXIT_API;
	}
	else
	{
		d->version = json_incref(r.json);
		if (d->show)
		{
			char size[32];

			printf(
				"uploaded %s (%s, sha256 %.12s) as version %" JSON_INTEGER_FORMAT
				" in %.2f s\n",
				d->m.name,
				human_size((double) d->pack.size, size, sizeof(size)),
				d->pack.sha256,
				json_integer_value(json_object_get(r.json, "version")),
				d->upload_s);
		}
	}
	http_response_free(&r);
	return rc;
}

/*
 * follow: polls the version's build log until it is ready or failed,
 * printing what the log gained since the last poll.  Sets d->version's
 * status, error and build_log.  Returns 0 when ready, EXIT_API when the
 * build failed, or an exit code (reported; 130 when interrupted).
 */
static int
follow(struct deploy *d)
{
	json_int_t number =
		json_integer_value(json_object_get(d->version, "version"));
	char	   *path = NULL;
	char		suffix[64];
	size_t		shown = 0;
	int			wait_ms = POLL_MIN_MS;
	bool		noticed = false;
	double		t = now_s();
	const char *status = "queued";
	const char *log = "";
	json_t	   *row = NULL;
	int			rc;

	snprintf(suffix, sizeof(suffix),
			 "/versions/%" JSON_INTEGER_FORMAT "/build-log", number);
	path = function_path(d, suffix);
	if (!path)
		return 1;
	for (;;)
	{
		json_decref(row);
		row = NULL;
		if (interrupted)
		{
			fprintf(stderr,
					"\ncpub: interrupted; the build goes on (cpub versions %s "
					"shows it)\n",
					d->m.name);
			rc = 130;
			goto done;
		}
		rc = api_call(d->cli, "GET", path, NULL, true, &row);
		if (rc != 0)
			goto done;
		status = json_string_value(json_object_get(row, "status"));
		log = json_string_value(json_object_get(row, "build_log"));
		if (!status)
			status = "?";
		if (!log)
			log = "";
		/* The log keeps its last 1 MB: it may shrink at its start. */
		if (strlen(log) < shown)
			shown = 0;
		if (d->show && strlen(log) > shown)
		{
			fputs(log + shown, stdout);
			fflush(stdout);
		}
		shown = strlen(log);
		if (strcmp(status, "ready") == 0 || strcmp(status, "failed") == 0)
			break;
		if (d->show && !noticed && strcmp(status, "queued") == 0 &&
			now_s() - t > QUEUED_NOTICE_S)
		{
			fprintf(stderr,
					"cpub: waiting for a worker to take the build...\n");
			noticed = true;
		}
		/* Builds of a second or so are the common case: seen within
		 * 0.1 s; a long build is asked about four times a second. */
		wait_ms = now_s() - t < POLL_FAST_S ? POLL_MIN_MS : POLL_MAX_MS;
		usleep((useconds_t) wait_ms * 1000);
	}
	d->build_s = now_s() - t;
	json_object_set_new(d->result, "build_log", json_string(log));
	json_object_set(d->version, "status", json_object_get(row, "status"));
	json_object_set(d->version, "error", json_object_get(row, "error"));
	if (strcmp(status, "failed") == 0)
	{
		const char *error = json_string_value(json_object_get(row, "error"));

		/* Quiet runs showed nothing: the log is what explains it. */
		if (d->cli->quiet && !d->cli->json)
			fputs(log, stderr);
		fprintf(stderr,
				"cpub: the build of %s version %" JSON_INTEGER_FORMAT
				" failed: %s\n",
				d->m.name, number, error ? error : "see the log above");
		if (!d->cli->json)
			fprintf(stderr, "hint: the version that served before still "
							"serves\n");
		rc = EXIT_API;
	}
done:
	json_decref(row);
	free(path);
	return rc;
}

/*
 * refresh_version: the version's row as the server has it now (active or
 * not), into d->version.  Returns 0 or an exit code (reported).
 */
static int
refresh_version(struct deploy *d)
{
	json_t	  *versions = NULL;
	json_t	  *v;
	size_t	   i;
	json_int_t number =
		json_integer_value(json_object_get(d->version, "version"));
	char  suffix[64];
	char *path;
	int	  rc;

	snprintf(suffix, sizeof(suffix),
			 "/versions?after=%" JSON_INTEGER_FORMAT "&limit=1", number + 1);
	path = function_path(d, suffix);
	if (!path)
		return 1;
	rc = api_call(d->cli, "GET", path, NULL, true, &versions);
	free(path);
	if (rc != 0)
		return rc;
	json_array_foreach(versions, i, v)
	{
		if (json_integer_value(json_object_get(v, "version")) == number)
		{
			json_decref(d->version);
			d->version = json_incref(v);
		}
	}
	json_decref(versions);
	return 0;
}

/* say_done: the closing lines of a deploy whose version is ready, the
 * first starting with WHAT. */
static void
say_done(struct deploy *d, const char *what)
{
	const char *endpoint =
		json_string_value(json_object_get(d->function, "endpoint"));
	bool active = json_is_true(json_object_get(d->version, "active"));

	if (!d->show)
		return;
	printf("%s%s version %" JSON_INTEGER_FORMAT " is %s", what, d->m.name,
		   json_integer_value(json_object_get(d->version, "version")),
		   active ? "active" : "ready, not active");
	if (d->build_s > 0)
		printf(" (built in %.1f s)", d->build_s);
	putchar('\n');
	/* The invoke name: an organization's function is ORG/NAME. */
	if (active && endpoint)
		printf("call it: cpub invoke %s%s%s   (or %s%s)\n",
			   d->m.organization ? d->m.organization : "",
			   d->m.organization ? "/" : "", d->m.name, d->cli->server,
			   endpoint);
	else if (!active)
		printf("serve it with: cpub rollback %s%s%s %" JSON_INTEGER_FORMAT
			   "\n",
			   d->m.organization ? d->m.organization : "",
			   d->m.organization ? "/" : "", d->m.name,
			   json_integer_value(json_object_get(d->version, "version")));
}

/*
 * unchanged: the archive is one a version was built from already (SAME):
 * follows its build when it is still queued or building (unless
 * --no-wait); then, once it is ready, activates it when --activate and it
 * is not active (a version deployed with --no-activate).  Returns 0 or an
 * exit code (reported).
 */
static int
unchanged(struct deploy *d, json_t *same)
{
	const char *status = json_string_value(json_object_get(same, "status"));
	bool		was_ready = status && strcmp(status, "ready") == 0;
	json_int_t	number = json_integer_value(json_object_get(same, "version"));
	int			rc = 0;

	d->version = json_incref(same);
	json_object_set_new(d->result, "uploaded", json_false());
	if (!was_ready)
	{
		if (d->show)
			printf("unchanged: version %" JSON_INTEGER_FORMAT
				   " has this archive and is %s\n",
				   number, status ? status : "?");
		if (!d->wait)
			return 0;
		/* follow changes the row's status: status is not used after. */
		rc = follow(d);
		if (rc == 0)
			rc = refresh_version(d);
		if (rc != 0)
			return rc;
	}
	if (d->activate && !json_is_true(json_object_get(d->version, "active")))
	{
		char   *path = function_path(d, "/rollback");
		json_t *body = json_pack("{sI}", "version", number);
		json_t *v = NULL;

		if (!path || !body)
			rc = 1;
		else
			rc = api_call(d->cli, "POST", path, body, true, &v);
		free(path);
		json_decref(body);
		if (rc != 0)
			return rc;
		json_decref(d->version);
		d->version = v;
		say_done(d, "unchanged: activated ");
		return 0;
	}
	if (!was_ready)
		say_done(d, "unchanged: ");
	else if (d->show)
		printf("unchanged: version %" JSON_INTEGER_FORMAT
			   " has this archive (--force deploys it again)\n",
			   number);
	return 0;
}

int
cmd_deploy(struct cli *cli, int argc, char **argv)
{
	static const struct option options[] = {
		{"no-wait", no_argument, NULL, 'n'},
		{"activate", no_argument, NULL, 'a'},
		{"no-activate", no_argument, NULL, 'A'},
		{"force", no_argument, NULL, 'f'},
		{"allow-risky", no_argument, NULL, 'r'},
		{"include", required_argument, NULL, 'i'},
		{NULL, 0, NULL, 0}};
	struct deploy			d = {.cli = cli, .wait = true, .activate = true};
	struct analysis_options aopts = {0};
	char				  **include = NULL;
	size_t					ninclude = 0;
	struct analysis_report *report = NULL;
	json_t				   *versions = NULL;
	json_t				   *same = NULL;
	char				   *err = NULL;
	struct sigaction		sa = {.sa_handler = on_sigint};
	int						c;
	int						rc;

	while ((c = cli_getopt(cli, argc, argv, "f", options)) != -1)
		switch (c)
		{
			case 'n':
				d.wait = false;
				break;
			case 'a':
				d.activate = true;
				break;
			case 'A':
				d.activate = false;
				break;
			case 'f':
				d.force = true;
				break;
			case 'r':
				aopts.allow_risky = true;
				break;
			case 'i':
			{
				char **grown =
					realloc(include, (ninclude + 1) * sizeof(char *));

				if (!grown)
				{
					free(include);
					fprintf(stderr, "cpub: out of memory\n");
					return 1;
				}
				include = grown;
				include[ninclude++] = optarg;
			}
			break;
			default:
				free(include);
				return cli_opt_exit(c);
		}
	aopts.include = include;
	aopts.ninclude = ninclude;
	rc = cli_operands(cli, argc, argv, 0, 1);
	if (rc != 0)
		goto done;
	d.dir = optind < argc ? argv[optind] : ".";
	d.show = !cli->json && !cli->quiet;
	d.progress = d.show && isatty(STDERR_FILENO);
	d.result = json_object();

	/* Everything local first: nothing is sent for a folder refused. */
	rc = 1;
	if (manifest_load(d.dir, &d.m, &err) != 0)
	{
		fprintf(stderr, "cpub: %s\n", err ? err : "out of memory");
		rc = EXIT_ANALYSIS;
		goto done;
	}
	if (analysis_run(d.dir, &d.m, &aopts, &report, &err) != 0)
	{
		fprintf(stderr, "cpub: %s\n", err ? err : "out of memory");
		goto done;
	}
	analysis_print(report, cli->json, cli->quiet);
	if (report->refused)
	{
		rc = EXIT_ANALYSIS;
		goto done;
	}
	rc = pack_folder(d.dir, &d.m, &d.pack, &err);
	if (rc != 0)
	{
		fprintf(stderr, "cpub: %s\n", err ? err : "out of memory");
		rc = rc == PACK_REFUSED ? EXIT_ANALYSIS : 1;
		goto done;
	}
	/* The pack walks the folder again: a file that came or went since
	 * the analysis (an editor saving a .env) was not looked at. */
	if (d.pack.files != report->files || d.pack.folders != report->folders ||
		d.pack.unpacked_bytes != report->bytes)
	{
		fprintf(stderr,
				"cpub: the folder changed while it was checked "
				"(%u files then, %u now): run cpub deploy again\n",
				(unsigned) report->files, (unsigned) d.pack.files);
		rc = EXIT_ANALYSIS;
		goto done;
	}
	rc = 1;
	d.ref = manifest_ref(&d.m);
	if (!d.ref)
		goto done;
	{
		char *escaped = http_escape(d.ref);

		free(d.ref);
		d.ref = escaped;
		if (!d.ref)
			goto done;
	}

	rc = ensure_function(&d);
	if (rc != 0)
		goto done;
	if (!d.force)
	{
		rc = find_same(&d, &versions, &same);
		if (rc != 0)
			goto done;
	}
	sigaction(SIGINT, &sa, NULL);
	if (same)
		rc = unchanged(&d, same);
	else
	{
		json_object_set_new(d.result, "uploaded", json_true());
		rc = upload(&d);
		if (rc == 0 && d.wait)
			rc = follow(&d);
	}
	if (rc == 0 && d.wait &&
		strcmp(json_string_value(json_object_get(d.version, "status")),
			   "ready") == 0)
	{
		rc = refresh_version(&d);
		if (rc == 0 && json_is_true(json_object_get(d.result, "uploaded")))
			say_done(&d, "deployed ");
	}
	else if (rc == 0 && !d.wait && d.show &&
			 json_is_true(json_object_get(d.result, "uploaded")))
		printf("the build goes on: cpub versions %s shows it\n", d.m.name);
	if (cli->json && d.version)
	{
		/* What the analysis let through: included secrets, risky calls. */
		json_object_set_new(d.result, "analysis", analysis_json(report));
		json_object_set(d.result, "function", d.function);
		json_object_set(d.result, "version", d.version);
		json_object_set_new(d.result, "files",
							json_integer((json_int_t) d.pack.files));
		json_object_set_new(d.result, "archive_size",
							json_integer((json_int_t) d.pack.size));
		json_object_set_new(d.result, "archive_sha256",
							json_string(d.pack.sha256));
		json_object_set_new(d.result, "upload_seconds", json_real(d.upload_s));
		json_object_set_new(d.result, "build_seconds", json_real(d.build_s));
		cli_print_json(d.result);
	}
done:
	analysis_free(report);
	free(include);
	json_decref(versions);
	json_decref(d.function);
	json_decref(d.version);
	json_decref(d.result);
	pack_archive_free(&d.pack);
	manifest_free(&d.m);
	free(d.ref);
	free(err);
	return rc;
}
