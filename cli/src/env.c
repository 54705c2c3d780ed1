/*
 * cli/src/env.c
 *	  A function's environment variables: env set, env unset, env list.
 *
 *	  env set sends every variable in one request (POST .../env, the
 *	  server's function_env_set_many: all or none).  KEY=VALUE takes VALUE
 *	  as it is written; --from-file KEY=PATH takes the bytes of a file
 *	  (PATH "-": standard input) as they are, final line end included, so
 *	  that a certificate or a value with line ends goes in unchanged.
 *	  Names are checked here first, as the server checks them, so that a
 *	  mistyped argument is a usage error naming it.  env list shows names,
 *	  never values: the server never gives them back.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands_fn.h"
#include "http.h"

/* The largest value file read; the server's own limit is much lower. */
#define MAX_VALUE_FILE (1024 * 1024)

/* env_name_ok: whether NAME (LEN bytes) is a variable name. */
static bool
env_name_ok(const char *name, size_t len)
{
	if (len == 0 || isdigit((unsigned char) name[0]))
		return false;
	for (size_t i = 0; i < len; i++)
		if (!isalnum((unsigned char) name[i]) && name[i] != '_')
			return false;
	return true;
}

/*
 * env_read_file: the content of PATH ("-": standard input) as a JSON
 * string in *value (the caller releases it).  Returns 0, or EXIT_USAGE
 * when it cannot be read or is not UTF-8 text (reported).
 */
static int
env_read_file(const char *key, const char *path, json_t **value)
{
	FILE  *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	char  *data = NULL;
	size_t len = 0;
	int	   rc = EXIT_USAGE;

	*value = NULL;
	if (!f)
	{
		fprintf(stderr, "cpub: could not read the value of %s from %s: %s\n",
				key, path, strerror(errno));
		return EXIT_USAGE;
	}
	data = malloc(MAX_VALUE_FILE + 1);
	if (!data)
	{
		fprintf(stderr, "cpub: out of memory\n");
		rc = 1;
		goto done;
	}
	len = fread(data, 1, MAX_VALUE_FILE + 1, f);
	if (ferror(f))
	{
		fprintf(stderr, "cpub: could not read the value of %s from %s: %s\n",
				key, path, strerror(errno));
		goto done;
	}
	if (len > MAX_VALUE_FILE)
	{
		fprintf(stderr, "cpub: the value of %s in %s is over %d bytes\n", key,
				path, MAX_VALUE_FILE);
		goto done;
	}
	if (memchr(data, '\0', len) || !(*value = json_stringn(data, len)))
	{
		fprintf(stderr, "cpub: the value of %s in %s is not UTF-8 text\n", key,
				path);
		goto done;
	}
	rc = 0;
done:
	free(data);
	if (f != stdin)
		fclose(f);
	return rc;
}

/*
 * env_add: the variable of ARG ("KEY=VALUE", or with FROM_FILE
 * "KEY=PATH") into VARS.  Returns 0, or an exit code (reported).
 */
static int
env_add(struct cli *cli, json_t *vars, const char *arg, bool from_file)
{
	const char *eq = strchr(arg, '=');
	size_t		klen = eq ? (size_t) (eq - arg) : 0;
	char	   *key;
	json_t	   *value = NULL;
	int			rc;

	if (!eq)
		return cli_usage_error(cli, "not %s: %s",
							   from_file ? "KEY=PATH" : "KEY=VALUE", arg);
	if (!env_name_ok(arg, klen))
		return cli_usage_error(
			cli,
			"not a variable name in %s (letters, digits and underscores, "
			"not starting with a digit)",
			arg);
	key = strndup(arg, klen);
	if (!key)
	{
		fprintf(stderr, "cpub: out of memory\n");
		return 1;
	}
	if (from_file)
		rc = env_read_file(key, eq + 1, &value);
	else if (!(value = json_string(eq + 1)))
		rc = cli_usage_error(cli, "the value in %s is not UTF-8 text", arg);
	else
		rc = 0;
	if (rc == 0)
		json_object_set_new(vars, key, value);
	free(key);
	return rc;
}

/* env_names: the "name" members of ROWS joined by ", " (malloc'd). */
static char *
env_names(const json_t *rows)
{
	size_t	i;
	json_t *row;
	size_t	len = 1;
	char   *out;

	json_array_foreach(rows, i, row)
	{
		const char *name = json_string_value(json_object_get(row, "name"));

		len += strlen(name ? name : "?") + 2;
	}
	out = calloc(1, len);
	if (!out)
		return NULL;
	json_array_foreach(rows, i, row)
	{
		const char *name = json_string_value(json_object_get(row, "name"));

		if (i > 0)
			strcat(out, ", ");
		strcat(out, name ? name : "?");
	}
	return out;
}

int
cmd_env_set(struct cli *cli, int argc, char **argv)
{
	static const struct option options[] = {
		{"from-file", required_argument, NULL, 'F'}, {NULL, 0, NULL, 0}};
	json_t	   *vars = json_object();
	json_t	   *body = NULL;
	json_t	   *out = NULL;
	char	   *path = NULL;
	char	   *names = NULL;
	const char *stdin_key = NULL;
	int			c;
	int			rc = 1;

	if (!vars)
		return 1;
	while ((c = cli_getopt(cli, argc, argv, "", options)) != -1)
	{
		if (c != 'F')
		{
			rc = cli_opt_exit(c);
			goto done;
		}
		if (strchr(optarg, '=') && strcmp(strchr(optarg, '='), "=-") == 0)
		{
			if (stdin_key)
			{
				rc = cli_usage_error(cli, "only one value can come from "
										  "standard input");
				goto done;
			}
			stdin_key = optarg;
		}
		rc = env_add(cli, vars, optarg, true);
		if (rc != 0)
			goto done;
	}
	rc = cli_operands(cli, argc, argv, 1, -1);
	if (rc != 0)
		goto done;
	for (int i = optind + 1; i < argc; i++)
	{
		rc = env_add(cli, vars, argv[i], false);
		if (rc != 0)
			goto done;
	}
	if (json_object_size(vars) == 0)
	{
		rc = cli_usage_error(cli, "no KEY=VALUE to set");
		goto done;
	}
	rc = 1;
	body = json_pack("{sO}", "vars", vars);
	path = fn_path(argv[optind], "/env");
	if (!body || !path)
		goto done;
	rc = api_call(cli, "POST", path, body, true, &out);
	if (rc != 0)
		goto done;
	if (cli->json)
		cli_print_json(out);
	else if (!cli->quiet)
	{
		names = env_names(out);
		printf("set %s on function %s\n", names ? names : "?", argv[optind]);
	}
done:
	free(names);
	free(path);
	json_decref(out);
	json_decref(body);
	json_decref(vars);
	return rc;
}

int
cmd_env_unset(struct cli *cli, int argc, char **argv)
{
	json_t *out = NULL;
	char   *path = NULL;
	char   *names = NULL;
	size_t	len = 1;
	int		rc = cli_args(cli, argc, argv, 2, -1);

	if (rc != 0)
		return rc;
	for (int i = optind + 1; i < argc; i++)
	{
		if (!env_name_ok(argv[i], strlen(argv[i])))
			return cli_usage_error(
				cli,
				"not a variable name: %s (letters, digits and underscores, "
				"not starting with a digit)",
				argv[i]);
		len += strlen(argv[i]) + 1;
	}
	rc = 1;
	names = calloc(1, len);
	if (!names)
		goto done;
	/* Names need no escaping: letters, digits and underscores. */
	for (int i = optind + 1; i < argc; i++)
	{
		if (i > optind + 1)
			strcat(names, ",");
		strcat(names, argv[i]);
	}
	path = fn_path(argv[optind], "/env?names=%s", names);
	if (!path)
		goto done;
	rc = api_call(cli, "DELETE", path, NULL, true, &out);
	if (rc != 0)
		goto done;
	if (cli->json)
		cli_print_json(out);
	else if (!cli->quiet)
	{
		for (char *p = names; (p = strchr(p, ',')) != NULL;)
		{
			memmove(p + 2, p + 1, strlen(p + 1) + 1);
			p[1] = ' ';
			p += 2;
		}
		printf("unset %s on function %s\n", names, argv[optind]);
	}
done:
	free(names);
	free(path);
	json_decref(out);
	return rc;
}

/* env_row: a variable's cells (cmd_env_list): its name, never its value. */
static json_t *
env_row(const json_t *row)
{
	char t[64];

	return json_pack(
		"{s:O?, s:s}", "name", json_object_get(row, "name"), "updated",
		fn_local_time(json_object_get(row, "updated_at"), t, sizeof(t)));
}

int
cmd_env_list(struct cli *cli, int argc, char **argv)
{
	static const struct column columns[] = {
		{"NAME", "name"}, {"UPDATED", "updated"}, {NULL, NULL}};
	int rc = cli_args(cli, argc, argv, 1, 1);

	if (rc != 0)
		return rc;
	return fn_show_list(cli, argv[optind], "/env", NULL,
						"has no environment variables", env_row, columns);
}
