/*
 * cli/src/logs.c
 *	  logs: what a function's executions wrote, one line per line:
 *
 *		2024-05-01 12:00:03  3f9a0c51  the line
 *
 *	  (the execution's start in local time, the first 8 characters of its
 *	  id, the text).  The platform keeps what a run wrote to standard
 *	  output and error as one text, so a line does not say which stream it
 *	  came from; the lines the platform adds itself start with "[cpub]".
 *
 *	  The server gives the logs of finished executions in order
 *	  (function_logs, after a seq).  Without --follow, the logs of the
 *	  --limit (100) most recent executions, those since --since only when
 *	  it is given: their list (GET .../executions, newest first) says from
 *	  which seq to read.  --follow then long-polls GET
 *	  .../logs?after=SEQ&follow=1 (docs/http-api.md, "Logs follow") and
 *	  prints every new line as it comes, until it is interrupted: like
 *	  tail -f, SIGINT or SIGTERM end it as they end any program (the shell
 *	  sees status 130 or 143); standard output is flushed after every
 *	  answer, so nothing printed is lost.  --execution ID shows one
 *	  execution (GET /api/executions/ID); ID may be the short id the lines
 *	  show.  --json prints the server's rows: one array, or with --follow
 *	  one object per line (NDJSON).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "commands_fn.h"
#include "http.h"

#define DEFAULT_LIMIT 100
#define MAX_LIMIT	  500
#define FOLLOW_WAIT	  30 /* seconds a long-poll waits on the server */

struct logs_options
{
	bool		follow;
	long		limit;
	char		since[32]; /* a query value, "" when none */
	const char *execution;
};

/*
 * logs_print_row: ROW (a row of function_logs, or an execution) as text
 * lines, or with --json as one line of JSON.
 */
static void
logs_print_row(struct cli *cli, const json_t *row)
{
	const char *id = json_string_value(json_object_get(row, "execution_id"));
	const char *logs = json_string_value(json_object_get(row, "logs"));
	char		t[64];

	if (cli->json)
	{
		json_dumpf(row, stdout, JSON_COMPACT | JSON_SORT_KEYS);
		putchar('\n');
		return;
	}
	if (!id)
		id = json_string_value(json_object_get(row, "id"));
	fn_local_time(json_object_get(row, "created_at"), t, sizeof(t));
	for (const char *p = logs ? logs : ""; *p;)
	{
		size_t len = strcspn(p, "\n");

		printf("%s  %.8s  %.*s\n", t, id ? id : "-", (int) len, p);
		p += len + (p[len] == '\n');
	}
}

/*
 * logs_get: GET PATH, whose answer is a list, within TIMEOUT seconds (0:
 * none).  Returns 0 with *rows set (the caller releases it), or an exit
 * code (reported).
 */
static int
logs_get(struct cli *cli, const char *path, long timeout, json_t **rows)
{
	struct http_request req = {
		.method = "GET", .path = path, .auth = true, .timeout = timeout};
	struct http_response r;
	int					 rc;

	*rows = NULL;
	rc = http_send(cli, &req, &r);
	if (rc != 0)
		return rc;
	if (r.status < 200 || r.status >= 300)
		rc = http_print_error(cli, &r);
	else if (!json_is_array(r.json))
	{
		fprintf(stderr, "cpub: the server's answer to GET %s is not a list\n",
				path);
		rc = EXIT_API;
	}
	else
	{
		*rows = r.json;
		r.json = NULL;
	}
	http_response_free(&r);
	return rc;
}

/* row_seq: the "seq" of ROW, or 0. */
static long long
row_seq(const json_t *row)
{
	return (long long) json_integer_value(json_object_get(row, "seq"));
}

/*
 * logs_recent: prints the logs of the most recent executions as the
 * options ask and sets *after to the seq to follow from.  Returns 0 or an
 * exit code (reported).
 */
static int
logs_recent(struct cli *cli, const char *name, const struct logs_options *o,
			long long *after)
{
	json_t *list = NULL;
	json_t *rows = NULL;
	char   *path = NULL;
	size_t	n;
	int		rc = 1;

	*after = 0;
	if (o->limit > 0)
	{
		path = fn_path(name, "/executions?limit=%ld%s%s", o->limit,
					   o->since[0] ? "&since=" : "", o->since);
		if (!path)
			goto done;
		rc = logs_get(cli, path, 0, &list);
		if (rc != 0)
			goto done;
		n = json_array_size(list);
		if (n > 0)
		{
			long long first = row_seq(json_array_get(list, n - 1));
			size_t	  i;
			json_t	 *row;

			free(path);
			path = fn_path(name, "/logs?after=%lld&limit=%ld%s%s", first - 1,
						   o->limit, o->since[0] ? "&since=" : "", o->since);
			rc = 1;
			if (!path)
				goto done;
			rc = logs_get(cli, path, 0, &rows);
			if (rc != 0)
				goto done;
			if (cli->json && !o->follow)
				cli_print_json(rows);
			else
				json_array_foreach(rows, i, row) logs_print_row(cli, row);
			*after = first - 1;
			if (json_array_size(rows) > 0)
				*after =
					row_seq(json_array_get(rows, json_array_size(rows) - 1));
			rc = 0;
			goto done;
		}
	}
	if (!o->follow)
	{
		if (cli->json)
			printf("[]\n");
		rc = 0;
		goto done;
	}
	/*
	 * Nothing to show: follow from the newest execution on, but from
	 * before the oldest one still queued or running (among the MAX_LIMIT
	 * newest): function_logs gives its logs when it finishes, and nothing
	 * after it until then, so following from a later seq would lose it.
	 */
	json_decref(list);
	list = NULL;
	free(path);
	path = fn_path(name, "/executions?limit=%d", MAX_LIMIT);
	rc = 1;
	if (!path)
		goto done;
	rc = logs_get(cli, path, 0, &list);
	if (rc == 0)
	{
		size_t	i;
		json_t *row;

		*after = row_seq(json_array_get(list, 0));
		/* Newest first: the last unfinished one seen is the oldest. */
		json_array_foreach(list, i, row)
		{
			const char *st = json_string_value(json_object_get(row, "status"));

			if (st &&
				(strcmp(st, "queued") == 0 || strcmp(st, "running") == 0))
				*after = row_seq(row) - 1;
		}
	}
done:
	json_decref(rows);
	json_decref(list);
	free(path);
	return rc;
}

/*
 * logs_follow: long-polls for the logs after seq AFTER and prints them as
 * they come.  Returns only on an error (its exit code, reported).
 */
static int
logs_follow(struct cli *cli, const char *name, const struct logs_options *o,
			long long after)
{
	for (;;)
	{
		char *path = fn_path(
			name, "/logs?after=%lld&limit=%d&follow=1&wait=%d%s%s", after,
			MAX_LIMIT, FOLLOW_WAIT, o->since[0] ? "&since=" : "", o->since);
		json_t *rows = NULL;
		size_t	i;
		json_t *row;
		int		rc;

		if (!path)
			return 1;
		/* The server answers within FOLLOW_WAIT; a minute more is lost. */
		rc = logs_get(cli, path, FOLLOW_WAIT + 60, &rows);
		free(path);
		if (rc != 0)
			return rc;
		json_array_foreach(rows, i, row)
		{
			logs_print_row(cli, row);
			after = row_seq(row);
		}
		json_decref(rows);
		fflush(stdout);
	}
}

/*
 * logs_find_execution: the full id of function NAME's execution whose id
 * starts with PREFIX (among its 500 most recent), into ID (37 bytes).
 * Returns 0 or an exit code (reported).
 */
static int
logs_find_execution(struct cli *cli, const char *name, const char *prefix,
					char *id)
{
	json_t *list = NULL;
	char   *path = fn_path(name, "/executions?limit=%d", MAX_LIMIT);
	size_t	i;
	json_t *row;
	int		found = 0;
	int		rc = 1;

	if (!path)
		return 1;
	rc = logs_get(cli, path, 0, &list);
	if (rc != 0)
		goto done;
	json_array_foreach(list, i, row)
	{
		const char *e = json_string_value(json_object_get(row, "id"));

		if (e && strncmp(e, prefix, strlen(prefix)) == 0 && found++ == 0)
			snprintf(id, 37, "%s", e);
	}
	if (found == 0)
	{
		fprintf(stderr, "cpub: function %s has no execution %s\n", name,
				prefix);
		rc = EXIT_API;
	}
	else if (found > 1)
		rc = cli_usage_error(cli,
							 "%s is the start of %d executions' ids: give "
							 "more of it",
							 prefix, found);
done:
	json_decref(list);
	free(path);
	return rc;
}

/*
 * logs_execution: the logs of one execution of function NAME, named by
 * its id or the start of it.  Returns 0 or an exit code (reported).
 */
static int
logs_execution(struct cli *cli, const char *name, const char *arg)
{
	json_t	   *e = NULL;
	char	   *path = NULL;
	char		prefix[37];
	char		id[37];
	const char *slash = strrchr(name, '/');
	const char *status;
	const char *owner;
	bool		mine;
	size_t		len = strlen(arg);
	int			rc;

	for (size_t i = 0; i < len; i++)
		if (!isxdigit((unsigned char) arg[i]) && arg[i] != '-')
			len = 0;
	if (len == 0 || len > 36)
		return cli_usage_error(cli, "not an execution id: %s", arg);
	for (size_t i = 0; i <= len; i++)
		prefix[i] = (char) tolower((unsigned char) arg[i]);
	if (fn_is_uuid(prefix))
		memcpy(id, prefix, sizeof(id));
	else
	{
		rc = logs_find_execution(cli, name, prefix, id);
		if (rc != 0)
			return rc;
	}
	if (asprintf(&path, "/api/executions/%s", id) < 0)
		return 1;
	rc = api_call(cli, "GET", path, NULL, true, &e);
	if (rc != 0)
		goto done;
	/* The id may be another function's. */
	owner = json_string_value(json_object_get(
		e, fn_is_uuid(name) ? "function_id" : "function_name"));
	if (fn_is_uuid(name))
		mine = owner && strcasecmp(name, owner) == 0;
	else
		mine = owner && strcmp(slash ? slash + 1 : name, owner) == 0;
	if (!mine)
	{
		fprintf(stderr, "cpub: execution %s is not one of function %s's\n", id,
				name);
		rc = EXIT_API;
		goto done;
	}
	if (cli->json)
		cli_print_json(e);
	else
		logs_print_row(cli, e);
	status = json_string_value(json_object_get(e, "status"));
	if (!cli->quiet && !cli->json && status &&
		(strcmp(status, "queued") == 0 || strcmp(status, "running") == 0))
		fprintf(stderr,
				"cpub: execution %s is %s: its logs come when it "
				"finishes\n",
				id, status);
done:
	json_decref(e);
	free(path);
	return rc;
}

int
cmd_logs(struct cli *cli, int argc, char **argv)
{
	static const struct option options[] = {
		{"follow", no_argument, NULL, 'f'},
		{"since", required_argument, NULL, 's'},
		{"limit", required_argument, NULL, 'n'},
		{"execution", required_argument, NULL, 'e'},
		{NULL, 0, NULL, 0}};
	struct logs_options o = {false, DEFAULT_LIMIT, "", NULL};
	bool				limit_given = false;
	long				since = 0;
	long long			after = 0;
	int					c;
	int					rc;

	while ((c = cli_getopt(cli, argc, argv, "fn:", options)) != -1)
	{
		char *end;

		switch (c)
		{
			case 'f':
				o.follow = true;
				break;
			case 's':
				if (!fn_parse_duration(optarg, &since))
					return cli_usage_error(cli,
										   "--since takes a duration such as "
										   "30s, 5m, 2h or 7d: %s",
										   optarg);
				break;
			case 'n':
				o.limit = strtol(optarg, &end, 10);
				if (!isdigit((unsigned char) optarg[0]) || *end != '\0' ||
					o.limit > MAX_LIMIT)
					return cli_usage_error(
						cli, "--limit takes a number from 0 to %d: %s",
						MAX_LIMIT, optarg);
				limit_given = true;
				break;
			case 'e':
				o.execution = optarg;
				break;
			default:
				return cli_opt_exit(c);
		}
	}
	rc = cli_operands(cli, argc, argv, 1, 1);
	if (rc != 0)
		return rc;
	if (o.execution && (o.follow || since > 0 || limit_given))
		return cli_usage_error(cli, "--execution shows one execution: it "
									"takes no --follow, --since or --limit");
	if (o.execution)
		return logs_execution(cli, argv[optind], o.execution);
	if (since > 0)
		fn_time_param(time(NULL) - since, o.since, sizeof(o.since));
	rc = logs_recent(cli, argv[optind], &o, &after);
	fflush(stdout);
	if (rc != 0 || !o.follow)
		return rc;
	return logs_follow(cli, argv[optind], &o, after);
}
