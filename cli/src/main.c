/*
 * cli/src/main.c
 *	  cpub: the command table, the global options (--server, --json,
 *	  --quiet, --help), the options of each command (cli_getopt), help and
 *	  version, and the exit codes of cli/README.md.
 *
 *	  Global options come before the command or anywhere among its own
 *	  options; a command's name is one to three words ("env set", "admin
 *	  user disable"): the longest name the words spell is the command, so
 *	  "admin user" (a command) and "admin user disable" both exist.  A row
 *	  without RUN heads a group that the list of commands shows as one
 *	  line ("admin"); "cpub admin" lists the group.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands_fn.h"
#include "commands_admin.h"
#include "commands_inv.h"
#include "config.h"
#include "http.h"

static int cmd_help(struct cli *cli, int argc, char **argv);
static int cmd_version(struct cli *cli, int argc, char **argv);

/*
 * The command table: one row per command, in the order help lists them;
 * the admin commands (admin.c) follow it (cli_commands).
 */
static const struct command core_commands[] = {
	{"register", cmd_register, "EMAIL", "create an account",
	 "The password is asked for without echo on a terminal (twice), or read "
	 "as one line from standard input."},
	{"login", cmd_login, "EMAIL", "log in and keep the tokens",
	 "The password is read as for register.  The tokens go to the "
	 "credentials file, under the server's URL."},
	{"logout", cmd_logout, "", "revoke the session on the server", NULL},
	{"whoami", cmd_whoami, "", "show the account logged in to", NULL},
	{"init", cmd_init, "[--runtime c|python|shell] [NAME]",
	 "make a function folder that deploys as it is",
	 "Writes cpub.json (the function's name, runtime and settings), a hello "
	 "handler of the runtime (hello.c, main.py or handler.sh) and a "
	 "README.md.  With NAME, into the folder ./NAME (made, or used when "
	 "empty); without, into the current folder, named after it.  Never "
	 "overwrites a file.\n"
	 "  --runtime, -r RUNTIME   c (the default), python or shell"},
	{"deploy", cmd_deploy, "[PATH] [OPTIONS]",
	 "deploy a function folder and follow its build",
	 "Reads PATH/cpub.json (default: the current folder), checks the folder "
	 "(the runtime's entry file, files that look like secrets, risky calls, "
	 "the worker's limits), packs it into a tar.gz and checks its size "
	 "against the function's tier, all before any byte is sent.  Creates "
	 "the function when the server has none of that name, or sends the "
	 "settings of cpub.json that changed.  Uploads the archive (a progress "
	 "bar on a terminal) unless a version built from the very same archive "
	 "is there already, then follows the build log until the version is "
	 "ready or failed.\n"
	 "  --no-wait          return once the archive is uploaded\n"
	 "  --activate         serve the new version once built (the default)\n"
	 "  --no-activate      build it without serving it (cpub rollback "
	 "serves it)\n"
	 "  --force, -f        upload even when nothing changed\n"
	 "  --allow-risky      deploy despite risky calls found in the code\n"
	 "  --include PATTERN  ship files that look like secrets and match "
	 "PATTERN\n"
	 "Exit status: 0 ready (or unchanged), 3 the server refused or the "
	 "build failed, 4 no server, 5 the analysis refused (the manifest, "
	 "secrets, risky calls, sizes)."},
	/* Calling a function (commands_inv.h). */
	{"invoke", cmd_invoke, "NAME [OPTIONS]",
	 "call a function and print its response's body", INVOKE_HELP},
	{"invocation", cmd_invocation, "EXECUTION_ID [-i] [--fail]",
	 "wait for an invocation (invoke --async) and print its response",
	 INVOCATION_HELP},
	/* One's functions (commands_fn.h). */
	{"list", cmd_list, "[--org ORG]", "list your functions",
	 "NAME, runtime, status, active version, visibility and last change of "
	 "each of your functions, or of organization ORG's.\n"
	 "  --org ORG      an organization's functions"},
	{"info", cmd_info, "NAME", "show a function: status, settings, endpoint",
	 "Its status, active and latest versions, memory, timeout, concurrency, "
	 "visibility and the URL it answers at (SERVER/fn/OWNER/NAME, OWNER "
	 "being the organization's name or your user id).  NAME is one of your "
	 "functions, ORGANIZATION/NAME, or a function's id."},
	{"versions", cmd_versions, "NAME", "list a function's versions",
	 "Newest first: status (queued, building, ready, failed), * for the "
	 "active one, archive size, the start of its SHA-256, when it was "
	 "deployed and how long its build took."},
	{"rollback", cmd_rollback, "NAME [VERSION]",
	 "serve an earlier ready version",
	 "Makes VERSION the active version at once.  Without VERSION: the newest "
	 "ready version older than the active one."},
	{"delete", cmd_delete, "NAME [--yes]",
	 "delete a function and all its versions",
	 "It stops serving at once; its name can be used again.  On a terminal "
	 "cpub asks first; otherwise --yes is required.\n"
	 "  --yes, -y      do not ask"},
	{"env set", cmd_env_set, "NAME KEY=VALUE... [--from-file KEY=PATH]...",
	 "set a function's environment variables",
	 "Every variable in one change: all are set or none.  Running instances "
	 "are replaced by ones with the new values.  VALUE is taken as written; "
	 "--from-file takes the exact bytes of a file (its final line end "
	 "included).\n"
	 "  --from-file KEY=PATH   the value of KEY from PATH (- for standard "
	 "input)"},
	{"env unset", cmd_env_unset, "NAME KEY...",
	 "remove a function's environment variables",
	 "All or none: when one is not set nothing is removed."},
	{"env list", cmd_env_list, "NAME",
	 "list a function's variable names, not values",
	 "Values are never shown: the server does not give them back."},
	{"keys create", cmd_keys_create,
	 "NAME [--label LABEL] [--expires DURATION]",
	 "create an invocation key; its secret, once",
	 "Prints the key id and its secret (alone with --quiet).  The secret is "
	 "shown this once only: keep it.  docs/invocation-keys.md says how a "
	 "request is signed with it.\n"
	 "  --label LABEL        a name for the key\n"
	 "  --expires DURATION   it stops working after DURATION (90d, 12h, "
	 "30m)"},
	{"keys list", cmd_keys_list, "NAME", "list a function's invocation keys",
	 "Key id, label, status (active, expired, revoked), creation, expiry and "
	 "last use; never a secret."},
	{"keys revoke", cmd_keys_revoke, "NAME KEY_ID",
	 "stop an invocation key for good", NULL},
	{"keys roll", cmd_keys_roll, "NAME KEY_ID",
	 "give an invocation key a new secret",
	 "The old secret stops working at once.  To switch clients without a "
	 "gap, create a second key, move the clients to it, then revoke the "
	 "first."},
	{"logs", cmd_logs,
	 "NAME [--follow] [--since DURATION] [--limit N] [--execution ID]",
	 "show what a function's executions wrote",
	 "One line per line: when the execution started (local time), the start "
	 "of its id, the text.  Lines the platform adds start with [cpub].  "
	 "Without options: the logs of the 100 most recent finished "
	 "executions.\n"
	 "  --follow, -f         then print new lines as they come, until "
	 "interrupted\n"
	 "  --since DURATION     only executions of the last 30s, 5m, 2h, 7d...\n"
	 "  --limit N, -n N      at most the N most recent executions (0 to "
	 "500)\n"
	 "  --execution ID       one execution (ID may be the start of its id)\n"
	 "With --json: the server's rows, as one array, or with --follow one "
	 "JSON object per line."},
	{"metrics", cmd_metrics, "NAME [--period 1h|24h|7d|30d]",
	 "a function's invocations, errors, latency",
	 "Invocations, errors, latency percentiles and cold starts over the "
	 "period (default 24h), then per hour (1h, 24h) or per day (7d, 30d): "
	 "a chart on a terminal, a table otherwise.\n"
	 "  --period P     1h, 24h, 7d or 30d"},
	/* The admin commands, admin.c's table (commands_admin.h). */
	{"admin", NULL, "COMMAND [ARGS]",
	 "administer the platform (an admin's OpenID Connect sign-in)",
	 ADMIN_HELP},
	/* org, early access, completion (commands_inv.h) */
	{"org create", cmd_org_create, "ORG_NAME [--display-name TEXT]",
	 "create an organization, with you as its owner", NULL},
	{"org list", cmd_org_list, "", "the organizations you are a member of",
	 NULL},
	{"org members", cmd_org_members, "ORG", "an organization's members", NULL},
	{"org add", cmd_org_add, "ORG EMAIL [--role owner|admin|member]",
	 "add a registered user to an organization", ORG_ADD_HELP},
	{"org remove", cmd_org_remove, "ORG EMAIL",
	 "remove a member (yourself: leave)", NULL},
	{"org role", cmd_org_role, "ORG EMAIL ROLE",
	 "set a member's role: owner, admin or member", NULL},
	{"early-access request", cmd_early_access_request, "--reason TEXT",
	 "ask for early access", NULL},
	{"early-access status", cmd_early_access_status, "",
	 "your early-access request and its decision", NULL},
	{"completion", cmd_completion, "bash", "print the bash completion script",
	 COMPLETION_HELP},
	{"help", cmd_help, "[COMMAND]", "show the commands, or one command's help",
	 NULL},
	{"version", cmd_version, "", "show cpub's version", NULL},
	{NULL, NULL, NULL, NULL, NULL}};

/*
 * cli_commands: the whole command table, core_commands then the admin
 * ones, ended by a row whose name is NULL.  Made once (malloc'd, kept to
 * the end); NULL when out of memory (reported).
 */
const struct command *
cli_commands(void)
{
	static struct command *all = NULL;
	size_t				   ncore = 0;

	if (all)
		return all;
	while (core_commands[ncore].name)
		ncore++;
	all = calloc(ncore + admin_ncommands() + 1, sizeof(*all));
	if (!all)
	{
		fprintf(stderr, "cpub: out of memory\n");
		return NULL;
	}
	memcpy(all, core_commands, ncore * sizeof(*all));
	admin_commands(all + ncore);
	return all;
}

static const char global_help[] =
	"Global options:\n"
	"  --server URL   the platform's server (also CPUB_SERVER; default: the "
	"last\n"
	"                 one logged in to, else " DEFAULT_SERVER ")\n"
	"  --json         machine-readable output on standard output\n"
	"  --quiet, -q    no progress or success messages\n"
	"  --help, -h     help\n";

/* The global options, which every command also takes (cli_getopt). */
enum
{
	OPT_SERVER = 1000,
	OPT_JSON
};
static const struct option global_options[] = {
	{"server", required_argument, NULL, OPT_SERVER},
	{"json", no_argument, NULL, OPT_JSON},
	{"quiet", no_argument, NULL, 'q'},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0}};

/*
 * name_words: how many words NAME has when WORDS (NWORDS of them) start
 * with them all ("admin user" and {"admin", "user", "ada"}: 2), else 0.
 */
static int
name_words(const char *name, int nwords, char **words)
{
	int k = 0;

	while (*name)
	{
		size_t n = strcspn(name, " ");

		if (k == nwords || strlen(words[k]) != n ||
			strncmp(name, words[k], n) != 0)
			return 0;
		k++;
		name += n;
		if (*name == ' ')
			name++;
	}
	return k;
}

/*
 * find_command: the command (a row with RUN) whose name is the longest run
 * of the first of WORDS, with *used set to its number of words; NULL when
 * none.
 */
static const struct command *
find_command(int nwords, char **words, int *used)
{
	const struct command *found = NULL;

	*used = 0;
	for (const struct command *c = cli_commands(); c && c->name; c++)
	{
		int k = c->run ? name_words(c->name, nwords, words) : 0;

		if (k > *used)
		{
			found = c;
			*used = k;
		}
	}
	if (!found)
		*used = 1;
	return found;
}

/*
 * under: whether NAME is a command of group GROUP (GLEN bytes): "admin
 * user disable" is under "admin" and "admin user".
 */
static bool
under(const char *name, const char *group, size_t glen)
{
	return strncmp(name, group, glen) == 0 && name[glen] == ' ';
}

/* is_group: whether NAME heads a group: some command's name starts with
 * "NAME " ("env", "admin", "admin user"). */
static bool
is_group(const char *name)
{
	size_t n = strlen(name);

	for (const struct command *c = cli_commands(); c && c->name; c++)
		if (c->run && under(c->name, name, n))
			return true;
	return false;
}

/*
 * find_group: the longest group the first of WORDS name, joined into BUF
 * (SIZE bytes), with *used set to its number of words; 0 words when none.
 */
static void
find_group(int nwords, char **words, char *buf, size_t size, int *used)
{
	size_t len = 0;

	*used = 0;
	buf[0] = '\0';
	for (int k = 0; k < nwords && words[k][0] != '-'; k++)
	{
		int n =
			snprintf(buf + len, size - len, "%s%s", k ? " " : "", words[k]);

		if (n < 0 || (size_t) n >= size - len)
			break;
		if (!is_group(buf))
		{
			buf[len] = '\0';
			break;
		}
		len += (size_t) n;
		*used = k + 1;
	}
}

/* heading_of: the row without RUN that heads NAME's group, or NULL. */
static const struct command *
heading_of(const char *name)
{
	for (const struct command *c = cli_commands(); c && c->name; c++)
		if (!c->run && under(name, c->name, strlen(c->name)))
			return c;
	return NULL;
}

static const struct command *
find_by_name(const char *name)
{
	for (const struct command *c = cli_commands(); c && c->name; c++)
		if (strcmp(c->name, name) == 0)
			return c;
	return NULL;
}

/*
 * print_commands: the list of commands on F, with their summaries: those
 * of GROUP ("env", "admin user") when it is not NULL; otherwise every
 * command but those of a heading's group, which is one line.
 */
static void
print_commands(FILE *f, const char *group)
{
	size_t glen = group ? strlen(group) : 0;

	for (const struct command *c = cli_commands(); c && c->name; c++)
	{
		char line[512];

		if (group ? !c->run || !under(c->name, group, glen)
				  : c->run && heading_of(c->name))
			continue;
		snprintf(line, sizeof(line), "%s%s%s", c->name, c->usage[0] ? " " : "",
				 c->usage);
		/* Too long for a line: its operands, and [OPTIONS] for the rest. */
		if (strlen(line) > 76)
		{
			char *opt = strstr(line, " [-");

			if (!opt || (strstr(line, " --") && strstr(line, " --") < opt))
				opt = strstr(line, " --");
			if (opt)
				strcpy(opt, " [OPTIONS]");
		}
		if (strlen(line) > 30)
			fprintf(f, "  %s\n  %-30s %s\n", line, "", c->summary);
		else
			fprintf(f, "  %-30s %s\n", line, c->summary);
	}
}

static void
print_usage(FILE *f)
{
	fprintf(f, "usage: cpub [--server URL] [--json] [--quiet] COMMAND [ARGS]\n"
			   "\nCommands:\n");
	print_commands(f, NULL);
	fprintf(f, "\n%s\n'cpub help COMMAND' tells more of one.\n", global_help);
}

/*
 * print_wrapped: TEXT on standard output, its lines filled to 78 columns;
 * a line of its own that starts with spaces (an option's) is kept as is.
 */
static void
print_wrapped(const char *text)
{
	const char *p = text;

	while (*p)
	{
		const char *eol = strchr(p, '\n');
		size_t		len = eol ? (size_t) (eol - p) : strlen(p);
		size_t		col = 0;

		if (p[0] == ' ')
			printf("%.*s\n", (int) len, p);
		else
			for (const char *w = p; w < p + len;)
			{
				const char *sp = memchr(w, ' ', (size_t) (p + len - w));
				size_t wl = sp ? (size_t) (sp - w) : (size_t) (p + len - w);

				if (col > 0 && col + 1 + wl > 78)
				{
					putchar('\n');
					col = 0;
				}
				else if (col > 0)
				{
					putchar(' ');
					col++;
				}
				printf("%.*s", (int) wl, w);
				col += wl;
				w += wl;
				while (w < p + len && *w == ' ')
					w++;
			}
		if (p[0] != ' ')
			putchar('\n');
		p += len + (eol ? 1 : 0);
	}
}

/* print_command_help: C's help; when C also heads a group ("admin
 * user"), the group's commands after it. */
static void
print_command_help(const struct command *c)
{
	printf("usage: cpub %s%s%s\n\ncpub %s: %s\n", c->name,
		   c->usage[0] ? " " : "", c->usage, c->name, c->summary);
	if (c->help)
	{
		putchar('\n');
		print_wrapped(c->help);
	}
	if (is_group(c->name))
	{
		printf("\nAlso:\n");
		print_commands(stdout, c->name);
	}
	printf("\n%s", global_help);
}

/* print_group_help: GROUP's commands on F, after its heading's help. */
static void
print_group_help(FILE *f, const char *group)
{
	const struct command *h = find_by_name(group);

	fprintf(f, "usage: cpub %s COMMAND ...\n\n", group);
	if (h && !h->run && f == stdout)
	{
		printf("cpub %s: %s\n\n", h->name, h->summary);
		if (h->help)
		{
			print_wrapped(h->help);
			putchar('\n');
		}
	}
	fprintf(f, "Commands:\n");
	print_commands(f, group);
	fprintf(f, "\n'cpub help %s COMMAND' tells more of one.\n", group);
}

/*
 * cli_usage_error: prints "cpub: MESSAGE" and the usage line of the
 * command being run (or the general one) on standard error.  Returns
 * EXIT_USAGE.
 */
int
cli_usage_error(struct cli *cli, const char *fmt, ...)
{
	const struct command *c =
		cli && cli->command ? find_by_name(cli->command) : NULL;
	va_list ap;

	if (cli && cli->json)
	{
		char message[512];

		va_start(ap, fmt);
		vsnprintf(message, sizeof(message), fmt, ap);
		va_end(ap);
		cli_print_local_error("usage", message);
		return EXIT_USAGE;
	}
	fputs("cpub: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (c)
		fprintf(stderr, "usage: cpub %s%s%s (cpub %s --help tells more)\n",
				c->name, c->usage[0] ? " " : "", c->usage, c->name);
	else
		fprintf(stderr, "usage: cpub [--server URL] [--json] [--quiet] "
						"COMMAND [ARGS] (cpub --help lists the commands)\n");
	return EXIT_USAGE;
}

/*
 * cli_set_server: makes SERVER (an http:// or https:// URL) the server of
 * the run, without its trailing slashes.  Returns 0, or EXIT_USAGE or 1
 * (reported).
 */
int
cli_set_server(struct cli *cli, const char *server)
{
	char  *copy;
	size_t len;

	if (strncmp(server, "http://", 7) != 0 &&
		strncmp(server, "https://", 8) != 0)
		return cli_usage_error(
			cli, "the server must be an http:// or https:// URL: %s", server);
	copy = strdup(server);
	if (!copy)
	{
		fprintf(stderr, "cpub: out of memory\n");
		return 1;
	}
	len = strlen(copy);
	while (len > 0 && copy[len - 1] == '/')
		copy[--len] = '\0';
	free(cli->server);
	cli->server = copy;
	return 0;
}

/*
 * cli_getopt: getopt_long over a command's ARGV (argv[0] is its name) with
 * its SHORTOPTS and LONGOPTS (NULL-terminated; may be NULL) and the global
 * options, which it applies itself.  Returns the next option of the
 * command's own (optarg set), -1 when there are no more (optind is the
 * first operand; options may follow operands, "--" ends them), or
 * CLI_OPT_HELP (the command's help printed) or CLI_OPT_USAGE (reported).
 * The first call starts over.
 */
int
cli_getopt(struct cli *cli, int argc, char **argv, const char *shortopts,
		   const struct option *longopts)
{
	static struct option all[64];
	static char			 shorts[64];
	static char		   **started = NULL;
	size_t				 n = 0;
	int					 c;

	if (started != argv)
	{
		started = argv;
		optind = 0; /* glibc: a full restart */
	}
	for (const struct option *o = longopts; o && o->name && n < 56; o++)
		all[n++] = *o;
	for (const struct option *o = global_options; o->name; o++)
		all[n++] = *o;
	all[n] = (struct option){NULL, 0, NULL, 0};
	snprintf(shorts, sizeof(shorts), ":%sqh", shortopts ? shortopts : "");
	opterr = 0;
	for (;;)
	{
		c = getopt_long(argc, argv, shorts, all, NULL);
		switch (c)
		{
			case OPT_SERVER:
				if (cli_set_server(cli, optarg) != 0)
					return CLI_OPT_USAGE;
				continue;
			case OPT_JSON:
				cli->json = true;
				continue;
			case 'q':
				cli->quiet = true;
				continue;
			case 'h':
				print_command_help(find_by_name(cli->command));
				return CLI_OPT_HELP;
			case ':':
				cli_usage_error(cli, "%s needs a value", argv[optind - 1]);
				return CLI_OPT_USAGE;
			case '?':
				/* A long one may also be ambiguous (--no) or given a value
				 * it does not take (--quiet=1): say it as written. */
				if (strncmp(argv[optind - 1], "--", 2) == 0)
					cli_usage_error(cli, "unknown or ambiguous option %s",
									argv[optind - 1]);
				else if (optopt && optopt < 256)
					cli_usage_error(cli, "unknown option -%c", optopt);
				else
					cli_usage_error(cli, "unknown option %s",
									argv[optind - 1]);
				return CLI_OPT_USAGE;
			default:
				return c;
		}
	}
}

/* cli_opt_exit: the exit code of a cli_getopt answer that ends the run. */
int
cli_opt_exit(int c)
{
	return c == CLI_OPT_HELP ? 0 : EXIT_USAGE;
}

/*
 * cli_operands: checks that the command got between MIN and MAX (-1: any
 * number) operands (after cli_getopt returned -1: argv[optind .. argc)).  Returns 0, or
 * EXIT_USAGE (reported).
 */
int
cli_operands(struct cli *cli, int argc, char **argv, int min, int max)
{
	int n = argc - optind;

	if (n < min)
		return cli_usage_error(cli, "missing argument");
	if (max >= 0 && n > max)
		return cli_usage_error(cli, "unexpected argument %s",
							   argv[optind + max]);
	return 0;
}

/*
 * cli_args: the options of a command that has none of its own (only the
 * global ones), and MIN to MAX operands.  Returns 0 with optind at the
 * first operand, or the exit code (help printed, or usage reported).
 */
int
cli_args(struct cli *cli, int argc, char **argv, int min, int max)
{
	int c = cli_getopt(cli, argc, argv, "", NULL);

	if (c != -1)
		return cli_opt_exit(c);
	return cli_operands(cli, argc, argv, min, max);
}

/* help_row: a row of help --json. */
static json_t *
help_row(const struct command *c)
{
	return json_pack("{s:s, s:s, s:s, s:s?}", "name", c->name, "usage",
					 c->usage, "summary", c->summary, "help", c->help);
}

static int
cmd_help(struct cli *cli, int argc, char **argv)
{
	const struct command *c;
	char				  group[128];
	int					  rc = cli_args(cli, argc, argv, 0, -1);
	int					  used;

	if (rc != 0)
		return rc;
	if (cli->json && optind == argc)
	{
		json_t *list = json_array();

		for (c = cli_commands(); c && c->name; c++)
			if (c->run)
				json_array_append_new(list, help_row(c));
		cli_print_json(list);
		json_decref(list);
		return 0;
	}
	if (optind == argc)
	{
		print_usage(stdout);
		return 0;
	}
	c = find_command(argc - optind, argv + optind, &used);
	if (c && optind + used == argc)
	{
		if (cli->json)
		{
			json_t *row = help_row(c);

			cli_print_json(row);
			json_decref(row);
		}
		else
			print_command_help(c);
		return 0;
	}
	find_group(argc - optind, argv + optind, group, sizeof(group), &used);
	if (used > 0 && optind + used == argc)
	{
		print_group_help(stdout, group);
		return 0;
	}
	/* The words as given, up to the first that is not a command's. */
	used = used > 0 ? used + 1 : 1;
	for (int k = 0, len = 0;
		 k < used && optind + k < argc && len < (int) sizeof(group); k++)
		len += snprintf(group + len, sizeof(group) - (size_t) len, "%s%s",
						k ? " " : "", argv[optind + k]);
	return cli_usage_error(NULL, "unknown command %s", group);
}

static int
cmd_version(struct cli *cli, int argc, char **argv)
{
	int rc = cli_args(cli, argc, argv, 0, 0);

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
	struct cli			  cli = {NULL, false, false, NULL, NULL, false};
	const struct command *cmd;
	const char			 *server = getenv("CPUB_SERVER");
	bool				  help = false;
	int					  used = 0;
	int					  i;
	int					  rc = EXIT_USAGE;

	/* The global options before the command. */
	for (i = 1; i < argc && argv[i][0] == '-'; i++)
	{
		const char *a = argv[i];

		if (strcmp(a, "--json") == 0)
			cli.json = true;
		else if (strcmp(a, "--quiet") == 0 || strcmp(a, "-q") == 0)
			cli.quiet = true;
		else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
			help = true;
		else if (strcmp(a, "--server") == 0 && i + 1 < argc)
			server = argv[++i];
		else if (strncmp(a, "--server=", 9) == 0)
			server = a + 9;
		else if (strcmp(a, "--server") == 0)
			return cli_usage_error(&cli, "--server needs a URL");
		else
			return cli_usage_error(&cli, "unknown option %s", a);
	}
	if (i == argc)
	{
		print_usage(help ? stdout : stderr);
		return help ? 0 : EXIT_USAGE;
	}
	cmd = find_command(argc - i, argv + i, &used);
	if (!cmd)
	{
		char group[128];
		int	 g;

		find_group(argc - i, argv + i, group, sizeof(group), &g);
		if (g == 0)
			return cli_usage_error(&cli, "unknown command %s", argv[i]);
		if (i + g < argc && argv[i + g][0] != '-')
			return cli_usage_error(&cli, "unknown command %s %s", group,
								   argv[i + g]);
		for (int k = i + g; k < argc; k++)
			if (strcmp(argv[k], "--help") == 0 || strcmp(argv[k], "-h") == 0)
				help = true;
		print_group_help(help ? stdout : stderr, group);
		return help ? 0 : EXIT_USAGE;
	}
	if (help)
	{
		print_command_help(cmd);
		return 0;
	}
	cli.command = cmd->name;
	if (config_load(&cli) != 0 || http_init() != 0)
	{
		rc = 1;
		goto done;
	}
	/* No --server nor CPUB_SERVER: the server last logged in to. */
	if (!server || !server[0])
		server = json_string_value(
			json_object_get(cli.creds, CONFIG_DEFAULT_SERVER));
	rc = cli_set_server(&cli, server && server[0] ? server : DEFAULT_SERVER);
	if (rc != 0)
	{
		http_cleanup();
		goto done;
	}
	/* The command sees its name as argv[0], then its words. */
	i += used - 1;
	argv[i] = (char *) cmd->name;
	rc = cmd->run(&cli, argc - i, argv + i);
	http_cleanup();
done:
	json_decref(cli.creds);
	free(cli.server);
	return rc;
}
