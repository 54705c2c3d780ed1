/*
 * cli/src/keys.c
 *	  A function's invocation keys (docs/invocation-keys.md): keys create,
 *	  keys list, keys revoke, keys roll.
 *
 *	  create and roll print the key's secret, which the server shows only
 *	  in that answer: on standard output (alone with --quiet, for
 *	  SECRET=$(cpub -q keys create NAME)), with a warning on standard
 *	  error that it cannot be shown again.  A key is named by its key id
 *	  (16 hexadecimal digits, what keys list shows); its secret
 *	  cpk_<key id>_... names it too.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "commands_fn.h"
#include "http.h"

/*
 * keys_id: the key id ARG names: ARG itself, or the key id inside a
 * secret "cpk_<key id>_...", into BUF (SIZE bytes).  Returns BUF.
 */
static const char *
keys_id(const char *arg, char *buf, size_t size)
{
	if (strncmp(arg, "cpk_", 4) == 0 && strchr(arg + 4, '_'))
		snprintf(buf, size, "%.*s", (int) (strchr(arg + 4, '_') - arg - 4),
				 arg + 4);
	else
		snprintf(buf, size, "%s", arg);
	return buf;
}

/*
 * keys_print_secret: what create and roll show of KEY (the server's
 * function_key_secret) of function NAME; DONE says what happened
 * ("created", "rolled").  Returns 0, or 1 when standard output could not
 * take it (reported, naming the key: its secret is lost, so it should be
 * revoked or rolled).
 */
static int
keys_print_secret(struct cli *cli, const json_t *key, const char *name,
				  const char *done)
{
	const char *label = json_string_value(json_object_get(key, "label"));
	const char *secret = json_string_value(json_object_get(key, "secret"));
	char		buf[64];

	if (cli->json)
		cli_print_json(key);
	else if (cli->quiet)
		printf("%s\n", secret ? secret : "");
	else
	{
		printf("%s key %s of function %s%s%s%s\n", done,
			   cli_text(json_object_get(key, "key_id"), buf, sizeof(buf)),
			   name, label ? " (label " : "", label ? label : "",
			   label ? ")" : "");
		if (json_is_string(json_object_get(key, "expires_at")))
			printf("expires %s\n",
				   fn_local_time(json_object_get(key, "expires_at"), buf,
								 sizeof(buf)));
		printf("secret: %s\n", secret ? secret : "");
	}
	if (fflush(stdout) != 0 || ferror(stdout))
	{
		fprintf(stderr,
				"cpub: could not write the secret of key %s of function %s: "
				"it is lost; revoke or roll the key\n",
				cli_text(json_object_get(key, "key_id"), buf, sizeof(buf)),
				name);
		return 1;
	}
	fprintf(stderr, "cpub: the secret is shown only this once: keep it now; "
					"it cannot be shown again\n");
	return 0;
}

int
cmd_keys_create(struct cli *cli, int argc, char **argv)
{
	static const struct option options[] = {
		{"label", required_argument, NULL, 'l'},
		{"expires", required_argument, NULL, 'e'},
		{NULL, 0, NULL, 0}};
	const char *label = NULL;
	long		expires = 0;
	json_t	   *body = NULL;
	json_t	   *out = NULL;
	char	   *path = NULL;
	int			c;
	int			rc;

	while ((c = cli_getopt(cli, argc, argv, "", options)) != -1)
	{
		if (c == 'l')
			label = optarg;
		else if (c == 'e')
		{
			if (!fn_parse_duration(optarg, &expires))
				return cli_usage_error(
					cli,
					"--expires takes a duration such as 90d, 12h or 30m: %s",
					optarg);
		}
		else
			return cli_opt_exit(c);
	}
	rc = cli_operands(cli, argc, argv, 1, 1);
	if (rc != 0)
		return rc;
	rc = 1;
	body = json_object();
	if (label && json_object_set_new(body, "label", json_string(label)) != 0)
	{
		rc = cli_usage_error(cli, "the label is not UTF-8 text");
		goto done;
	}
	if (expires > 0)
	{
		char when[32];

		fn_time_param(time(NULL) + expires, when, sizeof(when));
		json_object_set_new(body, "expires_at", json_string(when));
	}
	path = fn_path(argv[optind], "/keys");
	if (!path)
		goto done;
	rc = api_call(cli, "POST", path, body, true, &out);
	if (rc != 0)
		goto done;
	rc = keys_print_secret(cli, out, argv[optind], "created");
done:
	free(path);
	json_decref(out);
	json_decref(body);
	return rc;
}

/* keys_row: a key's cells (cmd_keys_list). */
static json_t *
keys_row(const json_t *row)
{
	char created[64];
	char expires[64];
	char used[64];

	return json_pack("{s:O?, s:O?, s:O?, s:s, s:s, s:s}", "key_id",
					 json_object_get(row, "key_id"), "label",
					 json_object_get(row, "label"), "status",
					 json_object_get(row, "status"), "created",
					 fn_local_time(json_object_get(row, "created_at"), created,
								   sizeof(created)),
					 "expires",
					 fn_local_time(json_object_get(row, "expires_at"), expires,
								   sizeof(expires)),
					 "last_used",
					 fn_local_time(json_object_get(row, "last_used_at"), used,
								   sizeof(used)));
}

int
cmd_keys_list(struct cli *cli, int argc, char **argv)
{
	static const struct column columns[] = {{"KEY_ID", "key_id"},
											{"LABEL", "label"},
											{"STATUS", "status"},
											{"CREATED", "created"},
											{"EXPIRES", "expires"},
											{"LAST_USED", "last_used"},
											{NULL, NULL}};
	int						   rc = cli_args(cli, argc, argv, 1, 1);

	if (rc != 0)
		return rc;
	return fn_show_list(cli, argv[optind], "/keys", "id",
						"has no invocation keys", keys_row, columns);
}

/*
 * keys_call: METHOD on the key named by argv[optind + 1] (its id or its
 * secret) of function argv[optind], at .../keys/ID and SUFFIX.  Sets *out
 * (the caller releases it) and ID (SIZE bytes) to the key's id.  Returns 0
 * or an exit code (reported).
 */
static int
keys_call(struct cli *cli, int argc, char **argv, const char *method,
		  const char *suffix, json_t **out, char *id, size_t size)
{
	char *path = NULL;
	char *escaped = NULL;
	int	  rc = cli_args(cli, argc, argv, 2, 2);

	*out = NULL;
	if (rc != 0)
		return rc;
	rc = 1;
	escaped = http_escape(keys_id(argv[optind + 1], id, size));
	if (escaped)
		path = fn_path(argv[optind], "/keys/%s%s", escaped, suffix);
	if (path)
		rc = api_call(cli, method, path, NULL, true, out);
	free(escaped);
	free(path);
	return rc;
}

int
cmd_keys_revoke(struct cli *cli, int argc, char **argv)
{
	json_t *out;
	char	id[64];
	int rc = keys_call(cli, argc, argv, "DELETE", "", &out, id, sizeof(id));

	if (rc != 0)
		return rc;
	if (cli->json)
		cli_print_json(out);
	else if (!cli->quiet)
		printf("revoked key %s of function %s\n", id, argv[optind]);
	json_decref(out);
	return 0;
}

int
cmd_keys_roll(struct cli *cli, int argc, char **argv)
{
	json_t *out;
	char	id[64];
	int rc = keys_call(cli, argc, argv, "POST", "/roll", &out, id, sizeof(id));

	if (rc != 0)
		return rc;
	rc = keys_print_secret(cli, out, argv[optind], "rolled");
	json_decref(out);
	return rc;
}
