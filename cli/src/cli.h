/*
 * cli/src/cli.h
 *	  What every part of cpub shares: the exit codes, the global options of
 *	  one run, and the command table's row.
 */
#ifndef CPUB_CLI_H
#define CPUB_CLI_H

#include <stdbool.h>

#include <jansson.h>

/* Exit codes (cli/README.md). */
#define EXIT_USAGE	  2 /* bad command line */
#define EXIT_API	  3 /* the server refused (its error printed) */
#define EXIT_CONNECT  4 /* the server could not be reached */
#define EXIT_ANALYSIS 5 /* deploy's analysis refused (reserved) */

#define DEFAULT_SERVER "http://127.0.0.1:8080"

/* One run's global options and state. */
struct cli
{
	char   *server; /* base URL, no trailing slash (owned) */
	bool	json;	/* --json: machine-readable output */
	bool	quiet;	/* --quiet: no progress or success lines */
	json_t *creds;	/* the whole credentials file (owned) */
};

/* A row of the command table (main.c). */
struct command
{
	const char *name;
	int (*run)(struct cli *cli, int argc, char **argv);
	const char *usage; /* arguments after the name */
	const char *help;  /* one paragraph */
};

/* main.c */
extern int cli_usage_error(const char *command, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
extern int	cli_args(const char *command, int argc, char **argv, int min,
					 int max);
extern void cli_print_json(const json_t *value);

/* auth.c: the commands */
extern int cmd_register(struct cli *cli, int argc, char **argv);
extern int cmd_login(struct cli *cli, int argc, char **argv);
extern int cmd_logout(struct cli *cli, int argc, char **argv);
extern int cmd_whoami(struct cli *cli, int argc, char **argv);

#endif
