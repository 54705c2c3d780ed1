/*
 * cli/src/org.c
 *	  The organization commands (org create, list, members, add, remove,
 *	  role) and early access (early-access request, status): each one call
 *	  of the HTTP API (docs/http-api.md), whose SQL functions
 *	  (sql/30_organizations.sql, sql/45_early_access.sql) decide who may do
 *	  what.  People get a line or a table, scripts --json.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands_inv.h"
#include "http.h"

const char ORG_ADD_HELP[] =
	"The user must have registered already.  Owners add any role; admins "
	"add admins and members.\n"
	"\n"
	"Options:\n"
	"  --role ROLE    owner, admin or member (default member)";

static const struct option org_create_options[] = {
	{"display-name", required_argument, NULL, 'n'}, {NULL, 0, NULL, 0}};

static const struct option org_add_options[] = {
	{"role", required_argument, NULL, 'r'}, {NULL, 0, NULL, 0}};

static const struct option early_access_options[] = {
	{"reason", required_argument, NULL, 'r'}, {NULL, 0, NULL, 0}};

/*
 * org_path: "/api/organizations/ORG/members", and "/EMAIL" when EMAIL is
 * not NULL, each part percent-encoded.  Returns a malloc'd string, or
 * NULL (reported).
 */
static char *
org_path(const char *org, const char *email)
{
	char *o = http_escape(org);
	char *e = email ? http_escape(email) : NULL;
	char *path = NULL;

	if (!o || (email && !e))
		goto done; /* reported */
	if (asprintf(&path, "/api/organizations/%s/members%s%s", o, e ? "/" : "",
				 e ? e : "") < 0)
	{
		path = NULL;
		fprintf(stderr, "cpub: out of memory\n");
	}
done:
	free(o);
	free(e);
	return path;
}

/*
 * org_done: the success of a call that answered nothing (204): WHAT on
 * standard output for people (unless --quiet), or SHOWN as JSON.  Takes
 * SHOWN.  Returns 0.
 */
static int
org_done(struct cli *cli, json_t *shown, const char *what)
{
	if (cli->json)
		cli_print_json(shown);
	else if (!cli->quiet)
		printf("%s\n", what);
	json_decref(shown);
	return 0;
}

/* org_short_time: a timestamp's "YYYY-MM-DD HH:MM" into ROW's KEY. */
static void
org_short_time(json_t *row, const char *key)
{
	const char *t = json_string_value(json_object_get(row, key));
	char		buf[17];

	if (!t || strlen(t) < 16)
		return;
	memcpy(buf, t, 16);
	buf[10] = ' ';
	buf[16] = '\0';
	json_object_set_new(row, key, json_string(buf));
}

int
cmd_org_create(struct cli *cli, int argc, char **argv)
{
	const char *display = NULL;
	json_t	   *body = NULL;
	json_t	   *out = NULL;
	int			c;
	int			rc;

	while ((c = cli_getopt(cli, argc, argv, "", org_create_options)) != -1)
	{
		if (c != 'n')
			return cli_opt_exit(c);
		display = optarg;
	}
	rc = cli_operands(cli, argc, argv, 1, 1);
	if (rc != 0)
		return rc;
	body = json_pack("{ss}", "name", argv[optind]);
	if (!body || (display && json_object_set_new(body, "display_name",
												 json_string(display)) != 0))
	{
		json_decref(body);
		fprintf(stderr, "cpub: the name is not UTF-8\n");
		return EXIT_USAGE;
	}
	rc = api_call(cli, "POST", "/api/organizations", body, true, &out);
	if (rc == 0)
	{
		char line[300];

		snprintf(line, sizeof(line),
				 "created organization %s; you are its owner", argv[optind]);
		rc = org_done(cli,
					  json_pack("{sssO}", "name", argv[optind], "id",
								json_object_get(out, "id")
									? json_object_get(out, "id")
									: json_null()),
					  line);
	}
	json_decref(out);
	json_decref(body);
	return rc;
}

int
cmd_org_list(struct cli *cli, int argc, char **argv)
{
	static const struct column columns[] = {{"NAME", "name"},
											{"ROLE", "role"},
											{"MEMBERS", "members"},
											{"TIER", "tier"},
											{"DISPLAY NAME", "display_name"},
											{NULL, NULL}};
	json_t					  *out = NULL;
	int						   rc = cli_args(cli, argc, argv, 0, 0);

	if (rc != 0)
		return rc;
	rc = api_call(cli, "GET", "/api/organizations", NULL, true, &out);
	if (rc != 0)
		return rc;
	if (cli->json)
	{
		if (!out)
			out = json_array();
		cli_print_json(out);
	}
	else if (json_array_size(out) == 0)
	{
		if (!cli->quiet)
			printf("no organizations (cpub org create NAME makes one)\n");
	}
	else
		cli_print_table(out, columns);
	json_decref(out);
	return 0;
}

int
cmd_org_members(struct cli *cli, int argc, char **argv)
{
	static const struct column columns[] = {{"EMAIL", "email"},
											{"ROLE", "role"},
											{"JOINED", "joined_at"},
											{"NAME", "name"},
											{NULL, NULL}};
	json_t					  *out = NULL;
	char					  *path;
	size_t					   i;
	json_t					  *row;
	int						   rc = cli_args(cli, argc, argv, 1, 1);

	if (rc != 0)
		return rc;
	path = org_path(argv[optind], NULL);
	if (!path)
		return 1;
	rc = api_call(cli, "GET", path, NULL, true, &out);
	free(path);
	if (rc != 0)
		return rc;
	if (cli->json)
		cli_print_json(out);
	else
	{
		json_array_foreach(out, i, row)
		{
			const char *first =
				json_string_value(json_object_get(row, "first_name"));
			const char *last =
				json_string_value(json_object_get(row, "last_name"));
			char name[300];

			snprintf(name, sizeof(name), "%s%s%s", first ? first : "",
					 first && last ? " " : "", last ? last : "");
			json_object_set_new(row, "name",
								name[0] ? json_string(name) : json_null());
			org_short_time(row, "joined_at");
		}
		cli_print_table(out, columns);
	}
	json_decref(out);
	return 0;
}

int
cmd_org_add(struct cli *cli, int argc, char **argv)
{
	const char *role = NULL;
	json_t	   *body = NULL;
	json_t	   *out = NULL;
	char	   *path = NULL;
	char		line[600];
	int			c;
	int			rc;

	while ((c = cli_getopt(cli, argc, argv, "", org_add_options)) != -1)
	{
		if (c != 'r')
			return cli_opt_exit(c);
		role = optarg;
	}
	rc = cli_operands(cli, argc, argv, 2, 2);
	if (rc != 0)
		return rc;
	path = org_path(argv[optind], NULL);
	if (!path)
		return 1;
	body = json_pack("{ss}", "email", argv[optind + 1]);
	if (role)
		json_object_set_new(body, "role", json_string(role));
	rc = api_call(cli, "POST", path, body, true, &out);
	if (rc == 0)
	{
		snprintf(line, sizeof(line), "added %s to %s as %s", argv[optind + 1],
				 argv[optind], role ? role : "member");
		rc = org_done(cli,
					  json_pack("{ssssss}", "organization", argv[optind],
								"email", argv[optind + 1], "role",
								role ? role : "member"),
					  line);
	}
	json_decref(out);
	json_decref(body);
	free(path);
	return rc;
}

int
cmd_org_remove(struct cli *cli, int argc, char **argv)
{
	json_t *out = NULL;
	char   *path;
	char	line[600];
	int		rc = cli_args(cli, argc, argv, 2, 2);

	if (rc != 0)
		return rc;
	path = org_path(argv[optind], argv[optind + 1]);
	if (!path)
		return 1;
	rc = api_call(cli, "DELETE", path, NULL, true, &out);
	if (rc == 0)
	{
		snprintf(line, sizeof(line), "removed %s from %s", argv[optind + 1],
				 argv[optind]);
		rc = org_done(cli,
					  json_pack("{sssssb}", "organization", argv[optind],
								"email", argv[optind + 1], "removed", 1),
					  line);
	}
	json_decref(out);
	free(path);
	return rc;
}

int
cmd_org_role(struct cli *cli, int argc, char **argv)
{
	json_t *body = NULL;
	json_t *out = NULL;
	char   *path;
	char	line[600];
	int		rc = cli_args(cli, argc, argv, 3, 3);

	if (rc != 0)
		return rc;
	path = org_path(argv[optind], argv[optind + 1]);
	if (!path)
		return 1;
	body = json_pack("{ss}", "role", argv[optind + 2]);
	rc = api_call(cli, "PUT", path, body, true, &out);
	if (rc == 0)
	{
		snprintf(line, sizeof(line), "%s is now %s of %s", argv[optind + 1],
				 argv[optind + 2], argv[optind]);
		rc = org_done(cli,
					  json_pack("{ssssss}", "organization", argv[optind],
								"email", argv[optind + 1], "role",
								argv[optind + 2]),
					  line);
	}
	json_decref(out);
	json_decref(body);
	free(path);
	return rc;
}

/* early_access_print: a request's row for people. */
static void
early_access_print(json_t *row)
{
	static const struct
	{
		const char *label;
		const char *key;
	} FIELDS[] = {
		{"status", "status"}, {"requested", "created_at"},
		{"reason", "reason"}, {"decided", "decided_at"},
		{"note", "note"},
	};

	org_short_time(row, "created_at");
	org_short_time(row, "decided_at");
	for (size_t i = 0; i < sizeof(FIELDS) / sizeof(FIELDS[0]); i++)
	{
		const char *v = json_string_value(json_object_get(row, FIELDS[i].key));

		if (v)
			printf("%-10s %s\n", FIELDS[i].label, v);
	}
}

int
cmd_early_access_request(struct cli *cli, int argc, char **argv)
{
	const char *reason = NULL;
	json_t	   *body = NULL;
	json_t	   *out = NULL;
	int			c;
	int			rc;

	while ((c = cli_getopt(cli, argc, argv, "", early_access_options)) != -1)
	{
		if (c != 'r')
			return cli_opt_exit(c);
		reason = optarg;
	}
	rc = cli_operands(cli, argc, argv, 0, 0);
	if (rc != 0)
		return rc;
	if (!reason)
		return cli_usage_error(cli, "--reason is needed: say in a few words "
									"why you want early access");
	body = json_pack("{ss}", "reason", reason);
	if (!body)
	{
		fprintf(stderr, "cpub: the reason is not UTF-8\n");
		return EXIT_USAGE;
	}
	rc = api_call(cli, "POST", "/api/early-access", body, true, &out);
	if (rc == 0)
	{
		if (cli->json)
			cli_print_json(out);
		else if (!cli->quiet)
		{
			const char *st = json_string_value(json_object_get(out, "status"));

			printf("early access requested; it is %s (cpub early-access "
				   "status tells when it changes)\n",
				   st ? st : "of an unknown status");
		}
	}
	json_decref(out);
	json_decref(body);
	return rc;
}

int
cmd_early_access_status(struct cli *cli, int argc, char **argv)
{
	json_t *out = NULL;
	int		rc = cli_args(cli, argc, argv, 0, 0);

	if (rc != 0)
		return rc;
	rc = api_call(cli, "GET", "/api/early-access", NULL, true, &out);
	if (rc != 0)
		return rc;
	if (cli->json)
		cli_print_json(out);
	else
		early_access_print(out);
	json_decref(out);
	return 0;
}
