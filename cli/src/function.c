/*
 * cli/src/function.c
 *	  The commands about a function as a whole: list, info, versions,
 *	  rollback and delete; and what every command about a function shares
 *	  (commands_fn.h): its API path with the name escaped, reading every
 *	  page of a list, durations such as 5m, and the server's timestamps.
 *
 *	  A function is named as the API names it: NAME (one of one's own),
 *	  ORGANIZATION/NAME, or its id.  Errors are the server's, printed by
 *	  api_call (a function that does not exist is its 404, P0002, whose
 *	  message names the function).
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "commands_fn.h"
#include "http.h"

/* The page size asked for when reading a whole list (the API's largest). */
#define PAGE_SIZE 500

/*
 * fn_path: "/api/functions/NAME" with NAME escaped as one path segment
 * (ORGANIZATION/NAME keeps its '/' inside the segment), followed by FMT
 * formatted.  Returns a malloc'd string (the caller frees it), or NULL
 * when out of memory (reported).
 */
char *
fn_path(const char *name, const char *fmt, ...)
{
	char   *escaped = http_escape(name);
	char   *suffix = NULL;
	char   *path = NULL;
	va_list ap;

	if (!escaped)
		return NULL;
	va_start(ap, fmt);
	if (vasprintf(&suffix, fmt, ap) < 0)
		suffix = NULL;
	va_end(ap);
	if (!suffix || asprintf(&path, "/api/functions/%s%s", escaped, suffix) < 0)
	{
		path = NULL;
		fprintf(stderr, "cpub: out of memory\n");
	}
	free(suffix);
	free(escaped);
	return path;
}

/*
 * fn_get_all: every row of the list at PATH (a GET that takes limit and
 * after), a page of PAGE_SIZE at a time; AFTER_KEY is the member of a row
 * that the next page starts after.  On success returns 0 and sets *out
 * to the rows in the server's order (the caller releases it); otherwise
 * an exit code (reported).
 */
int
fn_get_all(struct cli *cli, const char *path, const char *after_key,
		   json_t **out)
{
	json_t *all = json_array();
	json_t *page = NULL;
	char   *after = NULL;
	char   *url = NULL;
	int		rc = 1;

	*out = NULL;
	for (;;)
	{
		size_t n;
		char   buf[64];
		int	   len;

		if (after)
			len = asprintf(&url, "%s%climit=%d&after=%s", path,
						   strchr(path, '?') ? '&' : '?', PAGE_SIZE, after);
		else
			len = asprintf(&url, "%s%climit=%d", path,
						   strchr(path, '?') ? '&' : '?', PAGE_SIZE);
		if (len < 0)
		{
			url = NULL;
			fprintf(stderr, "cpub: out of memory\n");
			goto done;
		}
		rc = api_call(cli, "GET", url, NULL, true, &page);
		if (rc != 0)
			goto done;
		if (!json_is_array(page))
		{
			fprintf(stderr,
					"cpub: the server's answer to GET %s is not a list\n",
					url);
			rc = EXIT_API;
			goto done;
		}
		n = json_array_size(page);
		json_array_extend(all, page);
		if (n < PAGE_SIZE)
			break;
		free(after);
		after = http_escape(
			cli_text(json_object_get(json_array_get(page, n - 1), after_key),
					 buf, sizeof(buf)));
		if (!after)
		{
			rc = 1;
			goto done;
		}
		json_decref(page);
		page = NULL;
		free(url);
		url = NULL;
	}
	*out = all;
	all = NULL;
	rc = 0;
done:
	json_decref(page);
	json_decref(all);
	free(after);
	free(url);
	return rc;
}

/*
 * fn_show_list: a list of function NAME's at its path SUFFIX ("/keys"), every page when AFTER_KEY is not NULL (see
 * fn_get_all), else one GET: with --json the server's rows; none,
 * "function NAME EMPTY" unless --quiet; otherwise a table
 * of COLUMNS whose cells SHAPE makes of each row (a new object).  Returns
 * 0 or an exit code (reported).
 */
int
fn_show_list(struct cli *cli, const char *name, const char *suffix,
			 const char *after_key, const char						  *empty,
			 json_t *(*shape)(const json_t *row), const struct column *columns)
{
	json_t *rows = NULL;
	json_t *shown = NULL;
	char   *path = fn_path(name, "%s", suffix);
	size_t	i;
	json_t *row;
	int		rc = 1;

	if (!path)
		goto done;
	if (after_key)
		rc = fn_get_all(cli, path, after_key, &rows);
	else
		rc = api_call(cli, "GET", path, NULL, true, &rows);
	if (rc != 0)
		goto done;
	if (cli->json)
		cli_print_json(rows);
	else if (json_array_size(rows) == 0)
	{
		if (!cli->quiet)
			printf("function %s %s\n", name, empty);
	}
	else
	{
		shown = json_array();
		json_array_foreach(rows, i, row)
			json_array_append_new(shown, shape(row));
		cli_print_table(shown, columns);
	}
done:
	free(path);
	json_decref(shown);
	json_decref(rows);
	return rc;
}


/*
 * fn_parse_duration: TEXT such as 30s, 5m, 2h or 7d (a positive whole
 * number and one unit, at most ten years) in *seconds.  Returns whether
 * it is one.
 */
bool
fn_parse_duration(const char *text, long *seconds)
{
	char *end;
	long  n;
	long  unit;

	if (!isdigit((unsigned char) text[0]))
		return false;
	n = strtol(text, &end, 10);
	switch (end[0])
	{
		case 's':
			unit = 1;
			break;
		case 'm':
			unit = 60;
			break;
		case 'h':
			unit = 3600;
			break;
		case 'd':
			unit = 86400;
			break;
		default:
			return false;
	}
	if (end[1] != '\0' || n <= 0 || n > 3650L * 86400 / unit)
		return false;
	*seconds = n * unit;
	return true;
}

/*
 * fn_time_param: T as a query value the server reads as a timestamptz:
 * "2024-05-01T10:00:00Z" (UTC), into BUF of SIZE bytes.
 */
void
fn_time_param(time_t t, char *buf, size_t size)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/*
 * fn_parse_time: a timestamp as the server writes them in JSON,
 * "2024-05-01T10:00:00.123456+02:00" (the fraction and the offset's
 * minutes optional, or "Z"), into *t.  Returns whether TEXT is one.
 */
bool
fn_parse_time(const char *text, time_t *t)
{
	struct tm	tm;
	int			used = 0;
	int			oh = 0;
	int			om = 0;
	int			sign = 1;
	const char *p;

	memset(&tm, 0, sizeof(tm));
	if (!text ||
		sscanf(text, "%4d-%2d-%2d%*1[T ]%2d:%2d:%2d%n", &tm.tm_year,
			   &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec,
			   &used) < 6 ||
		used == 0)
		return false;
	p = text + used;
	if (*p == '.')
		for (p++; isdigit((unsigned char) *p); p++)
			;
	if (*p == '+' || *p == '-')
	{
		sign = *p == '-' ? -1 : 1;
		if (sscanf(p + 1, "%2d", &oh) != 1)
			return false;
		p += 3;
		if (*p == ':')
			p++;
		if (isdigit((unsigned char) *p) && sscanf(p, "%2d", &om) == 1)
			p += 2;
	}
	else if (*p == 'Z')
		p++;
	if (*p != '\0')
		return false;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	*t = timegm(&tm) - sign * (oh * 3600 + om * 60);
	return true;
}

/*
 * fn_local_time: VALUE (a timestamp of the server's) as the local time
 * "2024-05-01 12:00:00", written into BUF (SIZE bytes); anything else as
 * cli_text shows it.  Returns a string valid while BUF and VALUE are.
 */
const char *
fn_local_time(const json_t *value, char *buf, size_t size)
{
	time_t	  t;
	struct tm tm;

	if (!json_is_string(value) || !fn_parse_time(json_string_value(value), &t))
		return cli_text(value, buf, size);
	localtime_r(&t, &tm);
	strftime(buf, size, "%Y-%m-%d %H:%M:%S", &tm);
	return buf;
}

/* fn_is_uuid: whether TEXT is a uuid (8-4-4-4-12 hexadecimal digits). */
bool
fn_is_uuid(const char *text)
{
	for (int i = 0; i < 36; i++)
	{
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;

		if (dash ? text[i] != '-' : !isxdigit((unsigned char) text[i]))
			return false;
	}
	return text[36] == '\0';
}

/* seconds_between: B - A in seconds (both the server's timestamps), or -1. */
static double
seconds_between(const json_t *a, const json_t *b)
{
	const char *sa = json_string_value(a);
	const char *sb = json_string_value(b);
	const char *fa;
	const char *fb;
	time_t		ta;
	time_t		tb;

	if (!fn_parse_time(sa, &ta) || !fn_parse_time(sb, &tb))
		return -1;
	/* The fractions of a second, which fn_parse_time leaves out. */
	fa = strchr(sa, '.');
	fb = strchr(sb, '.');
	return (double) (tb - ta) + (fb ? atof(fb) : 0) - (fa ? atof(fa) : 0);
}

/* human_size: BYTES as "812 B", "3.4 KiB", "1.2 MiB" into BUF. */
static const char *
human_size(json_int_t bytes, char *buf, size_t size)
{
	if (bytes < 1024)
		snprintf(buf, size, "%" JSON_INTEGER_FORMAT " B", bytes);
	else if (bytes < 1024 * 1024)
		snprintf(buf, size, "%.1f KiB", bytes / 1024.0);
	else
		snprintf(buf, size, "%.1f MiB", bytes / (1024.0 * 1024.0));
	return buf;
}

/* version_text: "v3", or "-" when VALUE is not a number. */
static const char *
version_text(const json_t *value, char *buf, size_t size)
{
	if (!json_is_integer(value))
		return "-";
	snprintf(buf, size, "v%" JSON_INTEGER_FORMAT, json_integer_value(value));
	return buf;
}

int
cmd_list(struct cli *cli, int argc, char **argv)
{
	static const struct option options[] = {
		{"org", required_argument, NULL, 'o'}, {NULL, 0, NULL, 0}};
	static const struct column columns[] = {{"NAME", "name"},
											{"RUNTIME", "runtime"},
											{"STATUS", "status"},
											{"ACTIVE", "active"},
											{"VISIBILITY", "visibility"},
											{"UPDATED", "updated"},
											{NULL, NULL}};
	const char				  *org = NULL;
	char					  *escaped = NULL;
	char					  *path = NULL;
	json_t					  *rows = NULL;
	json_t					  *shown = NULL;
	size_t					   i;
	json_t					  *row;
	int						   c;
	int						   rc;

	while ((c = cli_getopt(cli, argc, argv, "", options)) != -1)
	{
		if (c != 'o')
			return cli_opt_exit(c);
		org = optarg;
	}
	rc = cli_operands(cli, argc, argv, 0, 0);
	if (rc != 0)
		return rc;
	rc = 1;
	if (org)
	{
		escaped = http_escape(org);
		if (!escaped ||
			asprintf(&path, "/api/functions?organization=%s", escaped) < 0)
		{
			path = NULL;
			goto done;
		}
	}
	rc = fn_get_all(cli, path ? path : "/api/functions", "name", &rows);
	if (rc != 0)
		goto done;
	if (cli->json)
	{
		cli_print_json(rows);
		goto done;
	}
	if (json_array_size(rows) == 0)
	{
		if (!cli->quiet)
			printf("no functions%s%s\n", org ? " in organization " : "",
				   org ? org : "");
		goto done;
	}
	shown = json_array();
	json_array_foreach(rows, i, row)
	{
		char v[32];
		char t[64];

		json_array_append_new(
			shown,
			json_pack("{s:O?, s:O?, s:O?, s:s, s:O?, s:s}", "name",
					  json_object_get(row, "name"), "runtime",
					  json_object_get(row, "runtime"), "status",
					  json_object_get(row, "status"), "active",
					  version_text(json_object_get(row, "active_version"), v,
								   sizeof(v)),
					  "visibility", json_object_get(row, "visibility"),
					  "updated",
					  fn_local_time(json_object_get(row, "updated_at"), t,
									sizeof(t))));
	}
	cli_print_table(shown, columns);
done:
	json_decref(shown);
	json_decref(rows);
	free(path);
	free(escaped);
	return rc;
}

int
cmd_info(struct cli *cli, int argc, char **argv)
{
	json_t	   *f = NULL;
	char	   *path = NULL;
	char		buf[64];
	const char *org;
	json_t	   *latest;
	int			rc = cli_args(cli, argc, argv, 1, 1);

	if (rc != 0)
		return rc;
	rc = 1;
	path = fn_path(argv[optind], "%s", "");
	if (!path)
		goto done;
	rc = api_call(cli, "GET", path, NULL, true, &f);
	if (rc != 0)
		goto done;
	if (cli->json)
	{
		cli_print_json(f);
		goto done;
	}
	org = json_string_value(json_object_get(f, "organization"));
	printf("%s%s%s\n", org ? org : "", org ? "/" : "",
		   cli_text(json_object_get(f, "name"), buf, 64));
	printf("  %-13s %s\n", "id", cli_text(json_object_get(f, "id"), buf, 64));
	printf("  %-13s %s\n", "owner", org ? org : "you");
	printf("  %-13s %s\n", "status",
		   cli_text(json_object_get(f, "status"), buf, 64));
	printf("  %-13s %s\n", "runtime",
		   cli_text(json_object_get(f, "runtime"), buf, 64));
	printf("  %-13s %s", "active",
		   version_text(json_object_get(f, "active_version"), buf, 64));
	latest = json_object_get(f, "latest_version");
	if (json_is_integer(latest) &&
		!json_equal(latest, json_object_get(f, "active_version")))
		printf(" (latest %s: %s)", version_text(latest, buf, 64),
			   json_string_value(json_object_get(f, "latest_status")));
	putchar('\n');
	printf("  %-13s %s MB\n", "memory",
		   cli_text(json_object_get(f, "memory_mb"), buf, 64));
	printf("  %-13s %s s\n", "timeout",
		   cli_text(json_object_get(f, "timeout_seconds"), buf, 64));
	printf("  %-13s %s at once\n", "concurrency",
		   cli_text(json_object_get(f, "max_concurrency"), buf, 64));
	printf("  %-13s %s\n", "visibility",
		   cli_text(json_object_get(f, "visibility"), buf, 64));
	printf("  %-13s %s%s\n", "endpoint", cli->server,
		   cli_text(json_object_get(f, "endpoint"), buf, 64));
	printf("  %-13s %s\n", "created",
		   fn_local_time(json_object_get(f, "created_at"), buf, 64));
	printf("  %-13s %s\n", "updated",
		   fn_local_time(json_object_get(f, "updated_at"), buf, 64));
done:
	json_decref(f);
	free(path);
	return rc;
}

/* versions_row: a version's cells (cmd_versions). */
static json_t *
versions_row(const json_t *row)
{
	char   v[32];
	char   size[32];
	char   sha[16];
	char   created[64];
	char   build[32] = "-";
	double secs = seconds_between(json_object_get(row, "build_started_at"),
								  json_object_get(row, "build_finished_at"));
	const char *hex =
		json_string_value(json_object_get(row, "archive_sha256"));

	if (secs >= 0)
		snprintf(build, sizeof(build), "%.1f s", secs);
	snprintf(sha, sizeof(sha), "%.12s", hex ? hex : "-");
	return json_pack(
		"{s:s, s:O?, s:s, s:s, s:s, s:s, s:s}", "version",
		version_text(json_object_get(row, "version"), v, sizeof(v)), "status",
		json_object_get(row, "status"), "active",
		json_is_true(json_object_get(row, "active")) ? "*" : "", "size",
		human_size(json_integer_value(json_object_get(row, "archive_size")),
				   size, sizeof(size)),
		"sha256", sha, "created",
		fn_local_time(json_object_get(row, "created_at"), created,
					  sizeof(created)),
		"build", build);
}

int
cmd_versions(struct cli *cli, int argc, char **argv)
{
	static const struct column columns[] = {
		{"VERSION", "version"}, {"STATUS", "status"}, {"ACTIVE", "active"},
		{"SIZE", "size"},		{"SHA256", "sha256"}, {"CREATED", "created"},
		{"BUILD", "build"},		{NULL, NULL}};

	int rc = cli_args(cli, argc, argv, 1, 1);

	if (rc != 0)
		return rc;
	return fn_show_list(cli, argv[optind], "/versions", "version",
						"has no versions yet", versions_row, columns);
}

int
cmd_rollback(struct cli *cli, int argc, char **argv)
{
	json_t	   *body = NULL;
	json_t	   *out = NULL;
	char	   *path = NULL;
	const char *name;
	char		buf[32];
	int			rc = cli_args(cli, argc, argv, 1, 2);

	if (rc != 0)
		return rc;
	name = argv[optind];
	if (optind + 1 < argc)
	{
		const char *text = argv[optind + 1];
		char	   *end;
		long		version = strtol(text, &end, 10);

		if (!isdigit((unsigned char) text[0]) || *end != '\0' ||
			version <= 0 || version > 2147483647L)
			return cli_usage_error(cli, "not a version number: %s", text);
		body = json_pack("{sI}", "version", (json_int_t) version);
	}
	else
		body = json_object();
	rc = 1;
	path = fn_path(name, "/rollback");
	if (!path)
		goto done;
	rc = api_call(cli, "POST", path, body, true, &out);
	if (rc != 0)
		goto done;
	if (cli->json)
		cli_print_json(out);
	else if (!cli->quiet)
		printf("function %s: version %s is active\n", name,
			   cli_text(json_object_get(out, "version"), buf, sizeof(buf)));
done:
	json_decref(out);
	json_decref(body);
	free(path);
	return rc;
}

/*
 * confirm: asks QUESTION on the terminal (standard error) and reads the
 * answer from standard input.  Returns whether it was yes.
 */
static bool
confirm(const char *question)
{
	char   line[64];
	size_t n;

	fprintf(stderr, "%s [y/N] ", question);
	fflush(stderr);
	if (!fgets(line, sizeof(line), stdin))
	{
		fputc('\n', stderr);
		return false;
	}
	n = strcspn(line, "\r\n");
	line[n] = '\0';
	return strcmp(line, "y") == 0 || strcmp(line, "Y") == 0 ||
		   strcasecmp(line, "yes") == 0;
}

int
cmd_delete(struct cli *cli, int argc, char **argv)
{
	static const struct option options[] = {{"yes", no_argument, NULL, 'y'},
											{NULL, 0, NULL, 0}};
	json_t					  *f = NULL;
	char					  *path = NULL;
	char					  *question = NULL;
	const char				  *name;
	bool					   yes = false;
	int						   c;
	int						   rc;

	while ((c = cli_getopt(cli, argc, argv, "y", options)) != -1)
	{
		if (c != 'y')
			return cli_opt_exit(c);
		yes = true;
	}
	rc = cli_operands(cli, argc, argv, 1, 1);
	if (rc != 0)
		return rc;
	name = argv[optind];
	if (!yes && !isatty(STDIN_FILENO))
		return cli_usage_error(cli,
							   "not deleting function %s: standard input is "
							   "not a terminal to confirm on; pass --yes",
							   name);
	rc = 1;
	path = fn_path(name, "%s", "");
	if (!path)
		goto done;
	if (!yes)
	{
		/* The function must exist before the question is worth asking. */
		rc = api_call(cli, "GET", path, NULL, true, &f);
		if (rc != 0)
			goto done;
		if (asprintf(&question, "Delete function %s and all its versions?",
					 name) < 0)
		{
			question = NULL;
			rc = 1;
			goto done;
		}
		if (!confirm(question))
		{
			fprintf(stderr, "cpub: function %s not deleted\n", name);
			rc = 1;
			goto done;
		}
	}
	json_decref(f);
	f = NULL;
	rc = api_call(cli, "DELETE", path, NULL, true, &f);
	if (rc != 0)
		goto done;
	if (cli->json)
	{
		json_t *shown = json_pack("{sssb}", "function", name, "deleted", 1);

		cli_print_json(shown);
		json_decref(shown);
	}
	else if (!cli->quiet)
		printf("deleted function %s\n", name);
done:
	free(question);
	json_decref(f);
	free(path);
	return rc;
}
