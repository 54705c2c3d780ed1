/*
 * cli/src/cli.h
 *	  What every part of cpub shares: the exit codes, the global options of
 *	  one run, the command table's row, option parsing and output.
 */
#ifndef CPUB_CLI_H
#define CPUB_CLI_H

#include <getopt.h>
#include <stdbool.h>

#include <jansson.h>

/* Exit codes (cli/README.md). */
#define EXIT_USAGE	  2 /* bad command line */
#define EXIT_API	  3 /* the server refused (its error printed) */
#define EXIT_CONNECT  4 /* the server could not be reached */
#define EXIT_ANALYSIS 5 /* deploy's analysis refused */

#define DEFAULT_SERVER "http://127.0.0.1:8080"

/* One run's global options and state. */
struct cli
{
	char	   *server;	 /* base URL, no trailing slash (owned) */
	bool		json;	 /* --json: machine-readable output */
	bool		quiet;	 /* --quiet: no progress or success lines */
	json_t	   *creds;	 /* the whole credentials file (owned) */
	const char *command; /* the command's name ("env set"), for messages */
	bool		session_dead; /* the server refused the refresh token */
};

/*
 * A row of the command table (main.c).  A name may be two or three words
 * ("env set", "admin user disable"); "cpub env" alone then lists the rows
 * that start with "env".  RUN gets argv[0] = the command's name and the
 * words after it; a row without RUN heads a group ("admin"), which the
 * list of commands shows as one line.
 */
struct command
{
	const char *name;
	int (*run)(struct cli *cli, int argc, char **argv);
	const char *usage;	 /* arguments and options after the name */
	const char *summary; /* one line, for the list of commands */
	const char *help;	 /* the rest: paragraphs, options */
};

/*
 * cli_getopt's answers besides an option's value and -1 (no more options;
 * optind is the first operand): --help was asked for (printed: exit 0),
 * or the command line is wrong (reported: exit EXIT_USAGE).
 */
#define CLI_OPT_HELP  (-2)
#define CLI_OPT_USAGE (-3)

/* main.c */
extern int cli_usage_error(struct cli *cli, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
extern int cli_getopt(struct cli *cli, int argc, char **argv,
					  const char *shortopts, const struct option *longopts);
extern int cli_opt_exit(int c);
extern int cli_operands(struct cli *cli, int argc, char **argv, int min,
						int max);
extern int cli_args(struct cli *cli, int argc, char **argv, int min, int max);
extern int cli_set_server(struct cli *cli, const char *server);

/* output.c */
struct column
{
	const char *header;
	const char *key; /* a member of each row */
};
extern void cli_print_json(const json_t *value);
extern void cli_print_table(const json_t *rows, const struct column *columns);
extern const char *cli_text(const json_t *value, char *buf, size_t size);
extern void cli_print_local_error(const char *code, const char *message);
extern void cli_set_error(char **err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
extern int cli_fail(struct cli *cli, int rc, const char *code, const char *fmt,
					...) __attribute__((format(printf, 4, 5)));

/* auth.c: the commands */
extern int	 cmd_register(struct cli *cli, int argc, char **argv);
extern int	 cmd_login(struct cli *cli, int argc, char **argv);
extern int	 cmd_logout(struct cli *cli, int argc, char **argv);
extern int	 cmd_whoami(struct cli *cli, int argc, char **argv);
extern char *auth_read_secret(const char *prompt, const char *what);
extern void	 auth_wipe(char *secret);

/* init.c */
extern int cmd_init(struct cli *cli, int argc, char **argv);

/* deploy.c */
extern int cmd_deploy(struct cli *cli, int argc, char **argv);

#endif
