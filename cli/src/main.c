/*
 * cli/src/main.c
 *	  cpub: the global options (--server, --json, --quiet, --help), the
 *	  command table, help and version, and the exit codes of cli/README.md.
 *
 *	  Global options may come before or after the command; everything after
 *	  "--" is the command's.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "config.h"
#include "http.h"

static int cmd_help(struct cli *cli, int argc, char **argv);
static int cmd_version(struct cli *cli, int argc, char **argv);

/* The command table: one row per command, in the order help lists them. */
static const struct command commands[] = {
	{"register", cmd_register, "EMAIL",
	 "Creates an account with EMAIL.  The password is asked for without "
	 "echo on a terminal, or read as one line from standard input."},
	{"login", cmd_login, "EMAIL",
	 "Logs in as EMAIL and keeps the tokens in the credentials file.  The "
	 "password is read as for register."},
	{"logout", cmd_logout, "",
	 "Revokes the session on the server, then forgets its tokens."},
	{"whoami", cmd_whoami, "", "Shows the account logged in to the server."},
	{"help", cmd_help, "[COMMAND]",
	 "Shows the commands, or one command's help."},
	{"version", cmd_version, "", "Shows cpub's version."},
	{NULL, NULL, NULL, NULL}};

static const char global_help[] =
	"Global options:\n"
	"  --server URL   the platform's server (also CPUB_SERVER; default " DEFAULT_SERVER
	")\n"
	"  --json         machine-readable output\n"
	"  --quiet, -q    no success messages\n"
	"  --help, -h     help (of a command, after it)\n";

static const struct command *
find_command(const char *name)
{
	for (const struct command *c = commands; c->name; c++)
		if (strcmp(c->name, name) == 0)
			return c;
	return NULL;
}

static void
print_usage(FILE *f)
{
	fprintf(f, "usage: cpub [--server URL] [--json] [--quiet] COMMAND [ARGS]\n"
			   "\nCommands:\n");
	for (const struct command *c = commands; c->name; c++)
		fprintf(f, "  %-9s %s\n", c->name, c->usage);
	fprintf(f, "\n%s\n'cpub help COMMAND' tells more of one.\n", global_help);
}

static void
print_command_help(const struct command *c)
{
	printf("usage: cpub %s%s%s\n\n%s\n\n%s", c->name, c->usage[0] ? " " : "",
		   c->usage, c->help, global_help);
}

/*
 * cli_usage_error: prints "cpub: MESSAGE" and COMMAND's usage line (or the
 * general one) on standard error.  Returns EXIT_USAGE.
 */
int
cli_usage_error(const char *command, const char *fmt, ...)
{
	const struct command *c = command ? find_command(command) : NULL;
	va_list				  ap;

	fputs("cpub: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (c)
		fprintf(stderr, "usage: cpub %s%s%s\n", c->name,
				c->usage[0] ? " " : "", c->usage);
	else
		fprintf(stderr, "usage: cpub [--server URL] [--json] [--quiet] "
						"COMMAND [ARGS] (cpub --help lists the commands)\n");
	return EXIT_USAGE;
}

/*
 * cli_args: checks that a command without options of its own got between
 * MIN and MAX arguments.  Returns 0, or EXIT_USAGE (reported).
 */
int
cli_args(const char *command, int argc, char **argv, int min, int max)
{
	for (int i = 0; i < argc; i++)
		if (argv[i][0] == '-' && argv[i][1] != '\0')
			return cli_usage_error(command, "unknown option %s", argv[i]);
	if (argc < min)
		return cli_usage_error(command, "missing argument");
	if (argc > max)
		return cli_usage_error(command, "unexpected argument %s", argv[max]);
	return 0;
}

/* cli_print_json: VALUE on standard output, indented, and a new line. */
void
cli_print_json(const json_t *value)
{
	json_dumpf(value, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
	putchar('\n');
}

static int
cmd_help(struct cli *cli, int argc, char **argv)
{
	const struct command *c;
	int					  rc = cli_args("help", argc, argv, 0, 1);

	(void) cli;
	if (rc != 0)
		return rc;
	if (argc == 0)
	{
		print_usage(stdout);
		return 0;
	}
	c = find_command(argv[0]);
	if (!c)
		return cli_usage_error(NULL, "unknown command %s", argv[0]);
	print_command_help(c);
	return 0;
}

static int
cmd_version(struct cli *cli, int argc, char **argv)
{
	int rc = cli_args("version", argc, argv, 0, 0);

	if (rc != 0)
		return rc;
	if (cli->json)
	{
		json_t *v = json_pack("{ss}", "version", CPUB_VERSION);

		cli_print_json(v);
		json_decref(v);
	}
	else
		printf("cpub %s\n", CPUB_VERSION);
	return 0;
}

int
main(int argc, char **argv)
{
	struct cli			  cli = {NULL, false, false, NULL};
	const struct command *cmd = NULL;
	const char			 *server = getenv("CPUB_SERVER");
	char				**rest = calloc((size_t) argc + 1, sizeof(char *));
	int					  nrest = 0;
	bool				  help = false;
	bool				  dashdash = false;
	size_t				  len;
	int					  rc = EXIT_USAGE;

	if (!rest)
	{
		fprintf(stderr, "cpub: out of memory\n");
		return 1;
	}
	/* Global options anywhere; the first other word is the command. */
	for (int i = 1; i < argc; i++)
	{
		const char *a = argv[i];

		if (dashdash)
			rest[nrest++] = argv[i];
		else if (strcmp(a, "--") == 0)
			dashdash = true;
		else if (strcmp(a, "--json") == 0)
			cli.json = true;
		else if (strcmp(a, "--quiet") == 0 || strcmp(a, "-q") == 0)
			cli.quiet = true;
		else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
			help = true;
		else if (strcmp(a, "--server") == 0)
		{
			if (i + 1 >= argc)
			{
				rc = cli_usage_error(NULL, "--server needs a URL");
				goto done;
			}
			server = argv[++i];
		}
		else if (strncmp(a, "--server=", 9) == 0)
			server = a + 9;
		else if (!cmd && a[0] != '-')
		{
			cmd = find_command(a);
			if (!cmd)
			{
				rc = cli_usage_error(NULL, "unknown command %s", a);
				goto done;
			}
		}
		else
			rest[nrest++] = argv[i];
	}
	if (help || !cmd)
	{
		if (cmd)
			print_command_help(cmd);
		else
			print_usage(help ? stdout : stderr);
		rc = help ? 0 : EXIT_USAGE;
		goto done;
	}

	if (!server || !server[0])
		server = DEFAULT_SERVER;
	if (strncmp(server, "http://", 7) != 0 &&
		strncmp(server, "https://", 8) != 0)
	{
		rc = cli_usage_error(
			NULL, "the server must be an http:// or https:// URL: %s", server);
		goto done;
	}
	cli.server = strdup(server);
	if (!cli.server)
	{
		fprintf(stderr, "cpub: out of memory\n");
		rc = 1;
		goto done;
	}
	len = strlen(cli.server);
	while (len > 0 && cli.server[len - 1] == '/')
		cli.server[--len] = '\0';
	if (config_load(&cli) != 0 || http_init() != 0)
	{
		rc = 1;
		goto done;
	}
	rc = cmd->run(&cli, nrest, rest);
	http_cleanup();
done:
	json_decref(cli.creds);
	free(cli.server);
	free(rest);
	return rc;
}
