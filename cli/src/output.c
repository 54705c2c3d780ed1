/*
 * cli/src/output.c
 *	  What commands print: JSON for --json, and tables of rows for people,
 *	  their columns as wide as their widest cell.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* cli_print_json: VALUE on standard output, indented, and a new line. */
void
cli_print_json(const json_t *value)
{
	json_dumpf(value, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
	putchar('\n');
}

/*
 * cli_text: VALUE as a table cell: a string as it is, a number or boolean
 * written into BUF (SIZE bytes), null or missing as "-", an array or
 * object as compact JSON (cut to SIZE).  Returns a string valid while BUF
 * and VALUE are.
 */
const char *
cli_text(const json_t *value, char *buf, size_t size)
{
	char *dump;

	if (!value)
		return "-";
	switch (json_typeof(value))
	{
		case JSON_STRING:
			return json_string_value(value);
		case JSON_INTEGER:
			snprintf(buf, size, "%" JSON_INTEGER_FORMAT,
					 json_integer_value(value));
			return buf;
		case JSON_REAL:
			snprintf(buf, size, "%g", json_real_value(value));
			return buf;
		case JSON_TRUE:
			return "yes";
		case JSON_FALSE:
			return "no";
		case JSON_OBJECT:
		case JSON_ARRAY:
			dump = json_dumps(value, JSON_COMPACT);
			snprintf(buf, size, "%s", dump ? dump : "?");
			free(dump);
			return buf;
		default:
			return "-";
	}
}

/*
 * cli_print_table: ROWS (an array of objects) on standard output under
 * the headers of COLUMNS (ended by a NULL header), each column as wide as
 * its widest cell.  The last column is not padded.
 */
void
cli_print_table(const json_t *rows, const struct column *columns)
{
	size_t	ncol = 0;
	size_t	width[32] = {0};
	char	buf[256];
	size_t	i;
	json_t *row;

	while (columns[ncol].header && ncol < 32)
	{
		width[ncol] = strlen(columns[ncol].header);
		ncol++;
	}
	json_array_foreach(rows, i, row) for (size_t c = 0; c < ncol; c++)
	{
		size_t w = strlen(
			cli_text(json_object_get(row, columns[c].key), buf, sizeof(buf)));

		if (w > width[c])
			width[c] = w;
	}
	for (size_t c = 0; c < ncol; c++)
		printf("%-*s%s", c + 1 < ncol ? (int) width[c] : 0, columns[c].header,
			   c + 1 < ncol ? "  " : "\n");
	json_array_foreach(rows, i, row) for (size_t c = 0; c < ncol; c++)
	{
		const char *cell =
			cli_text(json_object_get(row, columns[c].key), buf, sizeof(buf));

		printf("%-*s%s", c + 1 < ncol ? (int) width[c] : 0, cell,
			   c + 1 < ncol ? "  " : "\n");
	}
}

/*
 * cli_print_local_error: with --json, an error of cpub's own (not the
 * server's) as one line on standard error, in the shape of the API's:
 * {"error": {"code": CODE, "message": MESSAGE}}.  CODE is "usage",
 * "connect" or "not_logged_in".
 */
void
cli_print_local_error(const char *code, const char *message)
{
	json_t *e =
		json_pack("{s:{s:s, s:s}}", "error", "code", code, "message", message);

	json_dumpf(e, stderr, JSON_COMPACT | JSON_SORT_KEYS);
	fputc('\n', stderr);
	json_decref(e);
}

/*
 * cli_fail: a failure of cpub's own said once: "cpub: MESSAGE" on standard
 * error, or with --json its JSON line (cli_print_local_error) with CODE.
 * Returns RC, the exit code.
 */
int
cli_fail(struct cli *cli, int rc, const char *code, const char *fmt, ...)
{
	char	message[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	if (cli->json)
		cli_print_local_error(code, message);
	else
		fprintf(stderr, "cpub: %s\n", message);
	return rc;
}

/*
 * cli_set_error: *ERR becomes the formatted message (malloc'd: the caller
 * frees it; NULL when out of memory), for the functions that hand their
 * failures up as a message (manifest, walk, analysis, pack).
 */
void
cli_set_error(char **err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(err, fmt, ap) < 0)
		*err = NULL;
	va_end(ap);
}
