/*
 * cli/src/admin.c
 *	  The admin commands: one row each, and one way to run them.  A row
 *	  names its route of the admin API (httpd's /admin/api, whose SQL
 *	  functions, cpub_admin.*, decide what an admin may do) and how the
 *	  command line fills the route's parameters, in a small language:
 *
 *		params   "user_id=1:user reason"  items KEY[=SOURCE][:KIND][!]
 *				 KEY is the SQL argument: a {KEY} of the path, else a query
 *				 parameter (GET, DELETE) or a member of the JSON body.
 *				 SOURCE: N, operand N; N?, an operand that may be left out;
 *				 N|--flag, operand N or the flag standing for null;
 *				 --name, an option of another name; none: the option
 *				 --KEY (with "-" for "_").  "!" makes an option required.
 *				 KIND: text (none), user (an id, or an email looked up
 *				 among the users), time (as the server reads it, or a
 *				 duration ago: 30m, 2h, 7d), json, flag (true), int, count
 *				 (an int or "none", null).
 *		route    "POST /users/{user_id}/disable"; "GET|PUT /x": the second
 *				 method when an optional operand is given.
 *		columns  "email active_sessions=SESSIONS": a list's table, the
 *				 header being the key in capitals unless given.
 *		done     what a change says: %1 the first operand as given (or
 *				 its flag's name), %{key} a member of the reply or of the
 *				 parameters, %r a reply that is a lone value.
 *
 *	  People get a table, a key-value listing or the done line; --json the
 *	  server's reply (a lone value or none: the parameters sent, with the
 *	  value under RESULT).  Login and logout are oidc.c's.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "commands_admin.h"
#include "commands_fn.h"
#include "config.h"
#include "http.h"
#include "oidc.h"

#define MAX_PARAMS 16
#define NAME_LEN   48

/* A row: a command of the table and what it calls. */
struct admin_row
{
	const char *name;
	int (*run)(struct cli *cli, int argc, char **argv); /* NULL: the call */
	const char *usage;
	const char *summary;
	const char *help;
	const char *route;	 /* "METHOD /path" under /admin/api */
	const char *params;	 /* the parameters, in the language above */
	const char *columns; /* a list's columns */
	const char *empty;	 /* what an empty list says */
	const char *done;	 /* what a change says */
	const char *result;	 /* the name of a lone value in --json */
	bool		json;	 /* always JSON (a document, not rows) */
};

/* One parameter of a row, parsed. */
struct param
{
	char key[NAME_LEN];
	char option[NAME_LEN]; /* the option's (or null flag's) name, no "--" */
	int	 operand;		   /* 1..: that operand; 0: an option */
	bool optional;		   /* an operand that may be left out */
	bool required;		   /* an option that must be given */
	char kind;			   /* s u t j f i c: the KINDs above */
};

static int admin_run(struct cli *cli, int argc, char **argv);

const char ADMIN_HELP[] =
	"The admin API of the server (/admin/api), for the admins of the "
	"platform's OpenID Connect provider (Keycloak or another): sign in "
	"with cpub admin login, which asks the server for its provider and "
	"gets a token with the client credentials grant (or takes one got "
	"elsewhere with --token-file); the token is kept like a developer's "
	"and renewed when it expires.  The role in the token decides: "
	"full_admin may do everything, viewer may only read.\n"
	"A USER is a user's id or email; TIME is a time as the server reads it "
	"(2024-05-01, '2024-05-01 12:00', an ISO 8601 time) or a duration "
	"ago (30m, 2h, 7d).  Lists show a page (--limit, default 50, and "
	"--after the last one shown).  Exit status: 0 done, 2 usage, 3 the "
	"server or the provider refused (401: sign in again; 403: the role "
	"does not allow it), 4 no server or provider.";

static const char LOGIN_HELP[] =
	"Asks the server which OpenID Connect provider its admins sign in with "
	"(GET /admin/api/sign-in), reads the provider's discovery document for "
	"its token endpoint and gets a token with the client credentials "
	"grant, as the client ID (default: the one of the last sign-in of the "
	"same kind, else cpub-admin-cli), with the resource indicator the server names.  The "
	"server checks the token (GET /admin/api/whoami) before it is kept in "
	"the credentials file, under the server's URL.  The client secret is "
	"never kept, only where it came from: when the token expires and the "
	"secret can be read again from there (the same file, or "
	"CPUB_ADMIN_CLIENT_SECRET), a new token is got without a word; "
	"otherwise cpub says to sign in again.\n"
	"  --client-id ID               the provider's client (a service "
	"account with the full_admin or viewer role)\n"
	"  --client-secret-file FILE    its secret, on the file's first line; "
	"else CPUB_ADMIN_CLIENT_SECRET, else asked for (a line of standard "
	"input)\n"
	"  --device                     sign in as yourself in a browser (the "
	"device flow, RFC 8628): cpub prints an address and a code, and waits; "
	"without a secret the client is a public one.  The token is not "
	"renewed\n"
	"  --token-file FILE            keep this token instead (its first "
	"line; - for standard input), got elsewhere: it is not renewed";

static const char USER_HELP[] =
	"USER is the user's id, or their email (looked up among the users).  "
	"Status is active, blocked (admin user disable) or deleted (admin user "
	"delete; admin user restore undoes it).";

static const char TIER_LIMITS[] =
	"  --max-functions N          functions per owner\n"
	"  --max-memory-mb N          memory of a function, MB\n"
	"  --max-timeout-seconds N    timeout of a function, seconds\n"
	"  --max-concurrency N        executions of a function at once\n"
	"  --monthly-invocations N    invocations per month\n"
	"  --max-archive-mb N         a deploy's archive, MB\n"
	"  --requests-per-second N    invocations per second\n"
	"  --description TEXT         what the tier is for";

#define TIER_PARAMS                                                           \
	"max_functions:int max_memory_mb:int max_timeout_seconds:int "            \
	"max_concurrency:int monthly_invocations:int max_archive_mb:int "         \
	"requests_per_second:int description"

/* clang-format off */
static const struct admin_row ROWS[] = {
	/* sign-in (oidc.c) */
	{.name = "admin login", .run = cmd_admin_login,
	 .usage = "[--client-id ID] [--client-secret-file FILE] [--device | --token-file FILE]",
	 .summary = "sign in as an admin; the token is kept", .help = LOGIN_HELP},
	{.name = "admin logout", .run = cmd_admin_logout, .usage = "",
	 .summary = "forget the admin token"},
	{.name = "admin whoami", .usage = "",
	 .summary = "the admin the server sees: subject, email, role",
	 .route = "GET /whoami"},

	/* users */
	{.name = "admin users",
	 .usage = "[--search TEXT] [--status active|blocked|deleted] [--limit N] [--after EMAIL]",
	 .summary = "list users by email",
	 .help = "--search matches emails and names, in any case.",
	 .route = "GET /users", .params = "search status limit:int after",
	 .columns = "email status tier active_sessions=SESSIONS "
				"last_login_at=LAST_LOGIN created_at=CREATED user_id=ID",
	 .empty = "no users"},
	{.name = "admin user", .usage = "USER",
	 .summary = "a user: status, tier, sessions, sign-in link",
	 .help = USER_HELP, .route = "GET /users/{user_id}",
	 .params = "user_id=1:user"},
	{.name = "admin user disable", .usage = "USER [--reason TEXT]",
	 .summary = "block a user: no login, sessions revoked",
	 .route = "POST /users/{user_id}/disable",
	 .params = "user_id=1:user reason", .done = "%{email} is now %{status}"},
	{.name = "admin user enable", .usage = "USER [--reason TEXT]",
	 .summary = "unblock a user", .route = "POST /users/{user_id}/enable",
	 .params = "user_id=1:user reason", .done = "%{email} is now %{status}"},
	{.name = "admin user delete", .usage = "USER [--reason TEXT]",
	 .summary = "soft-delete a user (restore undoes it)",
	 .route = "DELETE /users/{user_id}", .params = "user_id=1:user reason",
	 .done = "%{email} is now %{status}"},
	{.name = "admin user restore", .usage = "USER [--reason TEXT]",
	 .summary = "restore a deleted user",
	 .route = "POST /users/{user_id}/restore",
	 .params = "user_id=1:user reason", .done = "%{email} is now %{status}"},
	{.name = "admin user temp-password", .usage = "USER",
	 .summary = "a temporary password for a user, shown once",
	 .help = "The user must change it at their next login.  With --quiet "
			 "the password alone is printed.",
	 .route = "POST /users/{user_id}/temporary-password",
	 .params = "user_id=1:user", .result = "temporary_password",
	 .done = "temporary password of %1: %r (shown this once; it must be "
			 "changed at the next login)"},
	{.name = "admin user revoke-sessions", .usage = "USER",
	 .summary = "end all of a user's sessions",
	 .route = "DELETE /users/{user_id}/sessions", .params = "user_id=1:user",
	 .done = "revoked %{revoked} sessions of %1"},
	{.name = "admin user link", .usage = "USER SUBJECT|--unlink",
	 .summary = "link a user to an OpenID Connect subject",
	 .help = "SUBJECT is the provider's \"sub\" (Keycloak's user id): an "
			 "admin token of that subject then also acts as the user on the "
			 "developer API, and the admin's changes are audited under the "
			 "user too.\n"
			 "  --unlink    remove the link",
	 .route = "PUT /users/{user_id}/oidc-subject",
	 .params = "user_id=1:user subject=2|--unlink",
	 .done = "OpenID Connect subject of %{email}: %{keycloak_user_id}"},
	{.name = "admin user tier", .usage = "USER TIER|--default",
	 .summary = "give a user a tier",
	 .help = "  --default    back to the default tier, whichever it is "
			 "(naming the default tier pins it)",
	 .route = "PUT /users/{user_id}/tier",
	 .params = "user_id=1:user tier=2|--default", .done = "tier of %1: %2"},

	/* feature roles */
	{.name = "admin roles", .usage = "[USER] [--role FEATURE_ROLE]",
	 .summary = "feature roles granted, to everyone or to a user",
	 .route = "GET /feature-roles", .params = "user_id=1?:user role",
	 .columns = "email role granted_at=GRANTED granted_by=BY",
	 .empty = "no feature roles granted"},
	{.name = "admin role grant", .usage = "USER FEATURE_ROLE",
	 .summary = "grant a user a feature role",
	 .route = "PUT /users/{user_id}/feature-roles/{role}",
	 .params = "user_id=1:user role=2", .done = "granted %2 to %1"},
	{.name = "admin role revoke", .usage = "USER FEATURE_ROLE",
	 .summary = "revoke a user's feature role",
	 .route = "DELETE /users/{user_id}/feature-roles/{role}",
	 .params = "user_id=1:user role=2", .done = "revoked %2 from %1"},

	/* early access */
	{.name = "admin early-access",
	 .usage = "[--status pending|approved|rejected|waitlisted] [--limit N] [--after ID]",
	 .summary = "early access requests, oldest first",
	 .route = "GET /early-access", .params = "status limit:int after",
	 .columns = "id email status created_at=REQUESTED decided_by=DECIDED_BY "
				"note reason",
	 .empty = "no early access requests"},
	{.name = "admin early-access approve", .usage = "ID [--note TEXT]",
	 .summary = "approve an early access request",
	 .route = "POST /early-access/{request_id}/approve",
	 .params = "request_id=1 note",
	 .done = "the request of %{email} is now %{status}"},
	{.name = "admin early-access reject", .usage = "ID --note TEXT",
	 .summary = "reject an early access request, saying why",
	 .route = "POST /early-access/{request_id}/reject",
	 .params = "request_id=1 note!",
	 .done = "the request of %{email} is now %{status}"},
	{.name = "admin early-access waitlist", .usage = "ID --note TEXT",
	 .summary = "waitlist an early access request, saying why",
	 .route = "POST /early-access/{request_id}/waitlist",
	 .params = "request_id=1 note!",
	 .done = "the request of %{email} is now %{status}"},
	{.name = "admin early-access capacity", .usage = "[N|none]",
	 .summary = "how many may be approved, and how many are; N sets it",
	 .help = "N is the most requests approved at once (none: no cap).  "
			 "Lowering it below those approved keeps them and blocks new "
			 "approvals.",
	 .route = "GET|PUT /early-access/capacity", .params = "capacity=1?:count"},

	/* organizations */
	{.name = "admin orgs", .usage = "[--search TEXT] [--limit N] [--after ORG]",
	 .summary = "list organizations by name", .route = "GET /organizations",
	 .params = "search limit:int after",
	 .columns = "name display_name=DISPLAY_NAME tier members "
				"created_at=CREATED",
	 .empty = "no organizations"},
	{.name = "admin org", .usage = "ORG", .summary = "an organization",
	 .route = "GET /organizations/{name}", .params = "name=1"},
	{.name = "admin org create",
	 .usage = "ORG_NAME --owner EMAIL [--display-name TEXT]",
	 .summary = "create an organization owned by a user",
	 .route = "POST /organizations",
	 .params = "name=1 owner_email=--owner! display_name", .result = "id",
	 .done = "created organization %1, owned by %{owner_email}"},
	{.name = "admin org rename", .usage = "ORG NEW_NAME",
	 .summary = "rename an organization",
	 .route = "PATCH /organizations/{organization}",
	 .params = "organization=1 new_name=2",
	 .done = "renamed organization %1 to %2"},
	{.name = "admin org delete", .usage = "ORG",
	 .summary = "delete an organization",
	 .route = "DELETE /organizations/{organization}",
	 .params = "organization=1", .done = "deleted organization %1"},
	{.name = "admin org members", .usage = "ORG",
	 .summary = "an organization's members",
	 .route = "GET /organizations/{organization}/members",
	 .params = "organization=1",
	 .columns = "email role status joined_at=JOINED user_id=ID",
	 .empty = "no members"},
	{.name = "admin org add", .usage = "ORG EMAIL [--role owner|admin|member]",
	 .summary = "add a user to an organization",
	 .route = "POST /organizations/{organization}/members",
	 .params = "organization=1 email=2 role", .done = "added %2 to %1"},
	{.name = "admin org remove", .usage = "ORG EMAIL",
	 .summary = "remove a member from an organization",
	 .route = "DELETE /organizations/{organization}/members/{email}",
	 .params = "organization=1 email=2", .done = "removed %2 from %1"},
	{.name = "admin org role", .usage = "ORG EMAIL ROLE",
	 .summary = "set a member's role: owner, admin or member",
	 .route = "PUT /organizations/{organization}/members/{email}",
	 .params = "organization=1 email=2 role=3", .done = "%2 is now %3 of %1"},
	{.name = "admin org tier", .usage = "ORG TIER|--default",
	 .summary = "give an organization a tier",
	 .help = "  --default    back to the default tier",
	 .route = "PUT /organizations/{organization}/tier",
	 .params = "organization=1 tier=2|--default", .done = "tier of %1: %2"},

	/* tiers */
	{.name = "admin tiers", .usage = "", .summary = "the tiers and their limits",
	 .route = "GET /tiers",
	 .columns = "name is_default=DEFAULT max_functions=FUNCTIONS "
				"max_memory_mb=MEMORY_MB max_timeout_seconds=TIMEOUT_S "
				"max_concurrency=CONCURRENCY "
				"monthly_invocations=INVOCATIONS/MONTH "
				"max_archive_mb=ARCHIVE_MB requests_per_second=RPS "
				"assigned_users=USERS assigned_organizations=ORGS"},
	{.name = "admin tier", .usage = "TIER", .summary = "a tier",
	 .route = "GET /tiers/{name}", .params = "name=1"},
	{.name = "admin tier create",
	 .usage = "TIER --max-functions N --max-memory-mb N "
			  "--max-timeout-seconds N --max-concurrency N "
			  "--monthly-invocations N --max-archive-mb N "
			  "--requests-per-second N [--description TEXT]",
	 .summary = "create a tier", .help = TIER_LIMITS,
	 .route = "POST /tiers",
	 .params = "name=1 max_functions:int! max_memory_mb:int! "
			   "max_timeout_seconds:int! max_concurrency:int! "
			   "monthly_invocations:int! max_archive_mb:int! "
			   "requests_per_second:int! description",
	 .result = "id", .done = "created tier %1"},
	{.name = "admin tier update",
	 .usage = "TIER [--max-functions N] [--max-memory-mb N] "
			  "[--max-timeout-seconds N] [--max-concurrency N] "
			  "[--monthly-invocations N] [--max-archive-mb N] "
			  "[--requests-per-second N] [--description TEXT] "
			  "[--new-name NAME]",
	 .summary = "change a tier's limits or name", .help = TIER_LIMITS,
	 .route = "PATCH /tiers/{name}",
	 .params = "name=1 " TIER_PARAMS " new_name", .done = "updated tier %1"},
	{.name = "admin tier delete", .usage = "TIER",
	 .summary = "delete a tier nobody has", .route = "DELETE /tiers/{name}",
	 .params = "name=1", .done = "deleted tier %1"},
	{.name = "admin tier default", .usage = "TIER",
	 .summary = "make a tier the default",
	 .route = "POST /tiers/{name}/default", .params = "name=1",
	 .done = "%1 is now the default tier"},

	/* observability */
	{.name = "admin audit",
	 .usage = "[--since TIME] [--until TIME] [--action ACTION] "
			  "[--actor NAME] [--actor-user USER] [--target-kind KIND "
			  "--target-id ID] [--limit N] [--after ID]",
	 .summary = "the audit log, newest first",
	 .help = "--action user.disable, or a prefix: user.*; --actor is the "
			 "actor's name as logged (an admin's email).",
	 .route = "GET /audit",
	 .params = "since:time until:time action actor_name=--actor "
			   "actor_user_id=--actor-user:user target_kind target_id "
			   "limit:int after:int",
	 .columns = "id at actor_name=ACTOR action target_kind=KIND "
				"target_id=TARGET detail",
	 .empty = "nothing in the audit log"},
	{.name = "admin errors", .usage = "[--since TIME] [--until TIME] [--limit N]",
	 .summary = "the platform's errors: builds, jobs, executions",
	 .route = "GET /errors", .params = "since:time until:time limit:int",
	 .json = true},
	{.name = "admin load",
	 .usage = "[--since TIME] [--until TIME] [--bucket INTERVAL]",
	 .summary = "the platform's load: queue, workers, invocations, latency",
	 .route = "GET /load", .params = "since:time until:time bucket",
	 .json = true},
	{.name = "admin jobs",
	 .usage = "[--state pending|running|dead] "
			  "[--kind run|build|cleanup|maintenance] [--limit N] [--after ID]",
	 .summary = "the job queue's jobs", .route = "GET /jobs",
	 .params = "state kind limit:int after:int",
	 .columns = "id kind state attempts max_attempts=MAX "
				"run_after=RUN_AFTER last_error=LAST_ERROR",
	 .empty = "no jobs"},
	{.name = "admin job", .usage = "ID", .summary = "a job",
	 .route = "GET /jobs/{id}", .params = "id=1:int"},
	{.name = "admin job retry", .usage = "ID", .summary = "retry a dead job",
	 .route = "POST /jobs/{id}/retry", .params = "id=1:int",
	 .done = "job %1 is %{state} again"},
	{.name = "admin job delete", .usage = "ID", .summary = "delete a dead job",
	 .route = "DELETE /jobs/{id}", .params = "id=1:int",
	 .done = "deleted job %1"},
	{.name = "admin queue", .usage = "", .summary = "jobs by kind and state",
	 .route = "GET /queue",
	 .columns = "kind state jobs delayed oldest_wait=OLDEST_WAIT"},
	{.name = "admin workers", .usage = "[--all]",
	 .summary = "the workers and their heartbeats",
	 .help = "  --all    the stopped ones too",
	 .route = "GET /workers", .params = "include_stopped=--all:flag",
	 .columns = "id host pid version alive running_jobs=JOBS "
				"heartbeat_at=HEARTBEAT started_at=STARTED",
	 .empty = "no workers"},
	{.name = "admin executions",
	 .usage = "[--function ID] [--owner USER] [--status STATUS] "
			  "[--error-kind KIND] [--since TIME] [--limit N] [--after SEQ]",
	 .summary = "every function's executions, newest first",
	 .route = "GET /executions",
	 .params = "function_id=--function owner_id=--owner:user status "
			   "error_kind since:time limit:int after:int",
	 .columns = "seq id function_name=FUNCTION status "
				"response_status=HTTP duration_ms=MS error_kind=ERROR "
				"created_at=CREATED",
	 .empty = "no executions"},
	{.name = "admin functions",
	 .usage = "[--search TEXT] [--owner USER] [--deleted] [--limit N] [--after ID]",
	 .summary = "every function", .route = "GET /functions",
	 .params = "search owner_id=--owner:user include_deleted=--deleted:flag "
			   "limit:int after",
	 .columns = "name organization owner_id=OWNER runtime status "
				"active_version=ACTIVE id",
	 .empty = "no functions"},

	/* settings */
	{.name = "admin settings", .usage = "", .summary = "the platform's settings",
	 .route = "GET /settings",
	 .columns = "name value default_value=DEFAULT description"},
	{.name = "admin setting set", .usage = "NAME JSON",
	 .summary = "change a setting (JSON null: back to the default)",
	 .help = "JSON is the value as JSON: '\"20 minutes\"' for an interval, "
			 "100 or null for a count.",
	 .route = "PUT /settings/{name}", .params = "name=1 value=2:json",
	 .result = "value", .done = "%1 is now %r"},
};
/* clang-format on */

#define NROWS (sizeof(ROWS) / sizeof(ROWS[0]))

size_t
admin_ncommands(void)
{
	return NROWS;
}

/* admin_commands: the rows as rows of the command table, into OUT. */
void
admin_commands(struct command *out)
{
	for (size_t i = 0; i < NROWS; i++)
	{
		out[i].name = ROWS[i].name;
		out[i].run = ROWS[i].run ? ROWS[i].run : admin_run;
		out[i].usage = ROWS[i].usage;
		out[i].summary = ROWS[i].summary;
		out[i].help = ROWS[i].help;
	}
}

/* find_row: the row named NAME, or NULL. */
static const struct admin_row *
find_row(const char *name)
{
	for (size_t i = 0; i < NROWS; i++)
		if (strcmp(ROWS[i].name, name) == 0)
			return &ROWS[i];
	return NULL;
}

/* kind_code: the code of a KIND's name ("user": 'u'), or 0. */
static char
kind_code(const char *name)
{
	static const char *const KINDS[] = {"user", "time",	 "json", "flag",
										"int",	"count", NULL};
	static const char		 CODES[] = "utjfic";

	for (int i = 0; KINDS[i]; i++)
		if (strcmp(name, KINDS[i]) == 0)
			return CODES[i];
	return 0;
}

/*
 * parse_params: ROW's parameters into P (MAX_PARAMS of room), *n of them.
 * Returns 0, or -1 for a row written wrong (reported: cpub's bug).
 */
static int
parse_params(const struct admin_row *row, struct param *p, int *n)
{
	const char *s = row->params ? row->params : "";

	*n = 0;
	for (;;)
	{
		char		  item[128];
		size_t		  len;
		char		 *kind;
		char		 *src;
		struct param *q;

		while (*s == ' ')
			s++;
		if (*s == '\0')
			return 0;
		len = strcspn(s, " ");
		if (len >= sizeof(item) || *n == MAX_PARAMS)
			break;
		memcpy(item, s, len);
		item[len] = '\0';
		s += len;
		q = &p[(*n)++];
		memset(q, 0, sizeof(*q));
		q->kind = 's';
		if (item[len - 1] == '!')
		{
			q->required = true;
			item[len - 1] = '\0';
		}
		kind = strchr(item, ':');
		if (kind)
		{
			*kind++ = '\0';
			q->kind = kind_code(kind);
			if (q->kind == 0)
				break;
		}
		src = strchr(item, '=');
		if (src)
			*src++ = '\0';
		if (snprintf(q->key, sizeof(q->key), "%s", item) >= NAME_LEN)
			break;
		if (!src)
		{
			memcpy(q->option, q->key, sizeof(q->option));
			for (char *c = q->option; *c; c++)
				if (*c == '_')
					*c = '-';
		}
		else if (strncmp(src, "--", 2) == 0)
			snprintf(q->option, sizeof(q->option), "%s", src + 2);
		else if (src[0] >= '1' && src[0] <= '9')
		{
			q->operand = src[0] - '0';
			if (src[1] == '?')
				q->optional = true;
			else if (strncmp(src + 1, "|--", 3) == 0)
				snprintf(q->option, sizeof(q->option), "%s", src + 4);
			else if (src[1] != '\0')
				break;
		}
		else
			break;
	}
	fprintf(stderr, "cpub: the parameters of %s are written wrong: %s\n",
			row->name, row->params);
	return -1;
}

/*
 * resolve_user: TEXT, a user's id or email, as the user's id in *id (a JSON
 * string; the caller releases it).  An email is looked up among the users
 * (GET /users?search=EMAIL), in any case.  Returns 0 or an exit code
 * (reported: no such user is P0002, exit 3).
 */
static int
resolve_user(struct cli *cli, const char *text, json_t **id)
{
	struct http_request req = {.method = "GET", .admin = true};
	json_t			   *list = NULL;
	json_t			   *row;
	char			   *esc = NULL;
	char			   *path = NULL;
	long				status;
	size_t				i;
	int					rc = 1;

	*id = NULL;
	if (fn_is_uuid(text))
	{
		*id = json_string(text);
		return 0;
	}
	esc = http_escape(text);
	if (!esc ||
		asprintf(&path, "/admin/api/users?search=%s&limit=500", esc) < 0)
	{
		path = NULL;
		goto done;
	}
	req.path = path;
	rc = http_call(cli, &req, &list, &status);
	if (rc != 0)
		goto done;
	json_array_foreach(list, i, row)
	{
		const char *email = json_string_value(json_object_get(row, "email"));

		if (email && strcasecmp(email, text) == 0)
		{
			*id = json_incref(json_object_get(row, "user_id"));
			break;
		}
	}
	if (!json_is_string(*id))
	{
		json_decref(*id);
		*id = NULL;
		rc =
			cli_fail(cli, EXIT_API, "P0002", "no user has the email %s", text);
	}
done:
	json_decref(list);
	free(path);
	free(esc);
	return rc;
}

/* param_name: how a parameter is named in a message, into BUF (NAME_LEN +
 * 2 bytes): its option or its key. */
static void
param_name(const struct param *q, char *buf)
{
	const char *name = q->operand ? q->key : q->option;
	size_t		off = q->operand ? 0 : 2;
	size_t		n = strnlen(name, NAME_LEN - 1);

	memcpy(buf, "--", off);
	memcpy(buf + off, name, n);
	buf[off + n] = '\0';
}

/*
 * param_value: the JSON value of parameter Q given as TEXT (NULL: its null
 * flag was given), in *v (the caller releases it).  Returns 0 or an exit
 * code (reported: a usage error, an unknown user).
 */
static int
param_value(struct cli *cli, const struct param *q, const char *text,
			json_t **v)
{
	char		 name[NAME_LEN + 2];
	char		 buf[32];
	char		*end;
	long		 seconds;
	json_error_t jerr;

	*v = NULL;
	param_name(q, name);
	if (!text)
	{
		*v = json_null();
		return 0;
	}
	switch (q->kind)
	{
		case 'u':
			return resolve_user(cli, text, v);
		case 't':
			if (fn_parse_duration(text, &seconds))
			{
				fn_time_param(time(NULL) - (time_t) seconds, buf, sizeof(buf));
				text = buf;
			}
			break;
		case 'j':
			*v = json_loads(text, JSON_DECODE_ANY, &jerr);
			if (!*v)
				return cli_usage_error(cli, "%s is not JSON (%s): %s", name,
									   jerr.text, text);
			return 0;
		case 'f':
			*v = json_true();
			return 0;
		case 'c':
			if (strcmp(text, "none") == 0)
			{
				*v = json_null();
				return 0;
			}
			/* FALLTHROUGH */
		case 'i':
			errno = 0;
			{
				long long n = strtoll(text, &end, 10);

				if (errno || end == text || *end)
					return cli_usage_error(
						cli, "%s must be a whole number%s: %s", name,
						q->kind == 'c' ? " or none" : "", text);
				*v = json_integer((json_int_t) n);
			}
			return 0;
	}
	*v = json_string(text);
	if (!*v)
		return cli_usage_error(cli, "%s is not UTF-8", name);
	return 0;
}

/* value_text: V as a parameter's text in a path or query: a string as it
 * is, a number or boolean as JSON writes it (into BUF); NULL for null. */
static const char *
value_text(const json_t *v, char *buf, size_t size)
{
	if (!v || json_is_null(v))
		return NULL;
	if (json_is_boolean(v))
		return json_is_true(v) ? "true" : "false";
	return cli_text(v, buf, size);
}

/*
 * build_path: "/admin/api" and ROUTE's path with its {key}s filled from
 * ARGS (removed from it), then ARGS left as a query string when QUERY.
 * Returns it (malloc'd) or NULL (reported).
 */
static char *
build_path(const char *route, json_t *args, bool query)
{
	const char *p = strchr(route, ' ') + 1;
	char	   *out = strdup("/admin/api");
	char		buf[64];
	const char *key;
	json_t	   *v;
	void	   *tmp;
	bool		first = true;

	while (out && *p)
	{
		const char *open = strchr(p, '{');
		const char *close = open ? strchr(open, '}') : NULL;
		char		name[NAME_LEN];
		char	   *esc;
		char	   *grown = NULL;
		const char *text;

		if (!close)
		{
			if (asprintf(&grown, "%s%s", out, p) < 0)
				grown = NULL;
			free(out);
			out = grown;
			break;
		}
		snprintf(name, sizeof(name), "%.*s", (int) (close - open - 1),
				 open + 1);
		text = value_text(json_object_get(args, name), buf, sizeof(buf));
		esc = http_escape(text ? text : "");
		if (esc &&
			asprintf(&grown, "%s%.*s%s", out, (int) (open - p), p, esc) < 0)
			grown = NULL;
		free(esc);
		free(out);
		out = grown;
		json_object_del(args, name);
		p = close + 1;
	}
	json_object_foreach_safe(args, tmp, key, v)
	{
		const char *text = value_text(v, buf, sizeof(buf));
		char	   *esc;
		char	   *grown = NULL;

		if (!query || !out || !text)
			continue;
		esc = http_escape(text);
		if (esc && asprintf(&grown, "%s%s%s=%s", out, first ? "?" : "&", key,
							esc) < 0)
			grown = NULL;
		free(esc);
		free(out);
		out = grown;
		first = false;
	}
	if (!out)
		fprintf(stderr, "cpub: out of memory\n");
	return out;
}

/* humanize: the times among V's members (strings the server wrote as
 * times) in local time, in place. */
static void
humanize(json_t *v)
{
	const char *key;
	json_t	   *m;
	time_t		t;
	char		buf[32];

	json_object_foreach(v, key, m) if (json_is_string(m) &&
									   fn_parse_time(json_string_value(m), &t))
		json_object_set_new(v, key,
							json_string(fn_local_time(m, buf, sizeof(buf))));
}

/* print_object: V's members, one a line: the key, then the value. */
static void
print_object(json_t *v)
{
	const char *key;
	json_t	   *m;
	size_t		width = 0;
	char		buf[256];

	humanize(v);
	json_object_foreach(v, key, m) if (strlen(key) > width) width =
		strlen(key);
	json_object_foreach(v, key, m)
		printf("%-*s  %s\n", (int) width, key, cli_text(m, buf, sizeof(buf)));
}

/*
 * print_rows: ROWS as a table of ROW's columns ("key=HEADER ...", the
 * header in capitals with spaces for "_").
 */
static void
print_rows(const struct admin_row *row, json_t *rows)
{
	struct column cols[MAX_PARAMS + 1];
	char		  names[MAX_PARAMS][2][NAME_LEN];
	const char	 *s = row->columns;
	size_t		  i;
	json_t		 *r;
	int			  n = 0;

	while (*s && n < MAX_PARAMS)
	{
		size_t len = strcspn(s, " ");
		char  *eq;

		snprintf(names[n][0], NAME_LEN, "%.*s", (int) len, s);
		eq = strchr(names[n][0], '=');
		if (eq)
			*eq++ = '\0';
		snprintf(names[n][1], NAME_LEN, "%s", eq ? eq : names[n][0]);
		for (char *c = names[n][1]; *c; c++)
			*c = *c == '_' ? ' ' : (char) toupper((unsigned char) *c);
		cols[n].key = names[n][0];
		cols[n].header = names[n][1];
		n++;
		s += len;
		while (*s == ' ')
			s++;
	}
	cols[n].key = NULL;
	cols[n].header = NULL;
	json_array_foreach(rows, i, r) humanize(r);
	cli_print_table(rows, cols);
}

/*
 * say_done: ROW's done line with %N (OPS[N]: the operands as given),
 * %{key} (a member of REPLY, or of ARGS) and %r (REPLY, a lone value).
 */
static void
say_done(const struct admin_row *row, const char *const *ops,
		 const json_t *reply, const json_t *args)
{
	const json_t *obj =
		json_is_array(reply) ? json_array_get(reply, 0) : reply;
	char buf[256];

	for (const char *p = row->done; *p; p++)
	{
		const json_t *v = NULL;
		const char	 *text;

		if (p[0] != '%' || !p[1])
		{
			putchar(*p);
			continue;
		}
		p++;
		if (*p >= '1' && *p <= '9')
		{
			fputs(ops[*p - '0'] ? ops[*p - '0'] : "none", stdout);
			continue;
		}
		if (*p == 'r')
			v = reply;
		else if (*p == '{' && strchr(p, '}'))
		{
			char key[NAME_LEN];

			snprintf(key, sizeof(key), "%.*s", (int) (strchr(p, '}') - p - 1),
					 p + 1);
			v = json_object_get(obj, key);
			if (!v)
				v = json_object_get(args, key);
			p = strchr(p, '}');
		}
		text = !v || json_is_null(v) ? "none" : cli_text(v, buf, sizeof(buf));
		fputs(text, stdout);
	}
	putchar('\n');
}

/*
 * show: what the call answered (REPLY, may be NULL: 204), as ROW says:
 * --json the reply (a lone value or none: ARGS, the parameters sent, with
 * the value under ROW's result), else the done line, a table, a listing.
 */
static void
show(struct cli *cli, const struct admin_row *row, const char *const *ops,
	 json_t *reply, json_t *args)
{
	char buf[256];

	if (cli->json || row->json)
	{
		if (json_is_object(reply) || json_is_array(reply))
			cli_print_json(reply);
		else
		{
			if (reply)
				json_object_set(args, row->result ? row->result : "result",
								reply);
			cli_print_json(args);
		}
		return;
	}
	if (row->done)
	{
		if (!cli->quiet)
			say_done(row, ops, reply, args);
		else if (reply && !json_is_object(reply) && !json_is_array(reply))
			printf("%s\n", cli_text(reply, buf, sizeof(buf)));
		return;
	}
	if (json_is_array(reply) && json_array_size(reply) == 0)
	{
		if (!cli->quiet)
			printf("%s\n", row->empty ? row->empty : "none");
	}
	else if (json_is_array(reply) && row->columns)
		print_rows(row, reply);
	else if (json_is_array(reply))
	{
		size_t	i;
		json_t *r;

		json_array_foreach(reply, i, r)
		{
			if (i > 0)
				putchar('\n');
			print_object(r);
		}
	}
	else if (json_is_object(reply))
		print_object(reply);
	else if (reply)
		printf("%s\n", cli_text(reply, buf, sizeof(buf)));
}

/*
 * admin_run: the generic admin command: the command line read as the row
 * of cli->command says, its route called as the signed-in admin, the
 * answer shown.
 */
static int
admin_run(struct cli *cli, int argc, char **argv)
{
	const struct admin_row *row = find_row(cli->command);
	struct param			p[MAX_PARAMS];
	struct option			longopts[MAX_PARAMS + 1];
	const char			   *given[MAX_PARAMS] = {NULL};
	bool					nulled[MAX_PARAMS] = {false};
	const char			   *ops[10] = {NULL};
	struct http_request		req = {.admin = true};
	json_t				   *args = NULL;
	json_t				   *shown = NULL;
	json_t				   *reply = NULL;
	char				   *path = NULL;
	char					method[8];
	bool					optional_given = false;
	long					status;
	int						np;
	int						nopt = 0;
	int						min = 0;
	int						max = 0;
	int						c;
	int						rc;

	if (!row || parse_params(row, p, &np) != 0)
		return 1;
	for (int i = 0; i < np; i++)
		if (p[i].option[0])
			longopts[nopt++] = (struct option){p[i].option,
											   p[i].operand || p[i].kind == 'f'
												   ? no_argument
												   : required_argument,
											   NULL, 256 + i};
	longopts[nopt] = (struct option){NULL, 0, NULL, 0};
	while ((c = cli_getopt(cli, argc, argv, "", longopts)) != -1)
	{
		if (c < 256 || c >= 256 + np)
			return cli_opt_exit(c);
		if (p[c - 256].operand)
			nulled[c - 256] = true;
		else
			given[c - 256] = p[c - 256].kind == 'f' ? "true" : optarg;
	}

	/* Operands: all but those a flag stands for, and the optional ones. */
	for (int i = 0; i < np; i++)
		if (p[i].operand && !nulled[i])
		{
			max = p[i].operand > max ? p[i].operand : max;
			if (!p[i].optional)
				min = p[i].operand > min ? p[i].operand : min;
		}
	rc = cli_operands(cli, argc, argv, min, max);
	if (rc != 0)
		return rc;
	for (int i = 0; i < np; i++)
	{
		char name[NAME_LEN + 2];

		if (p[i].operand && nulled[i])
			ops[p[i].operand] = p[i].option;
		else if (p[i].operand && p[i].operand <= argc - optind)
		{
			given[i] = argv[optind + p[i].operand - 1];
			ops[p[i].operand] = given[i];
			optional_given = optional_given || p[i].optional;
		}
		param_name(&p[i], name);
		if (p[i].required && !given[i])
			return cli_usage_error(cli, "%s is needed", name);
	}

	/* The method: "GET|PUT": the second one when an optional operand is
	 * given. */
	{
		size_t		len = strcspn(row->route, " |");
		const char *second =
			row->route[len] == '|' ? row->route + len + 1 : NULL;

		if (second && optional_given)
			len = strcspn(second, " ");
		snprintf(method, sizeof(method), "%.*s", (int) len,
				 second && optional_given ? second : row->route);
	}

	args = json_object();
	if (!args)
		return 1;
	for (int i = 0; i < np; i++)
	{
		json_t *v;

		if (!given[i] && !nulled[i])
			continue;
		rc = param_value(cli, &p[i], given[i], &v);
		if (rc != 0)
			goto done;
		json_object_set_new(args, p[i].key, v);
	}
	shown = json_deep_copy(args);
	rc = 1;
	path = build_path(row->route, args,
					  strcmp(method, "GET") == 0 ||
						  strcmp(method, "DELETE") == 0);
	if (!shown || !path)
		goto done;
	req.method = method;
	req.path = path;
	if (strcmp(method, "GET") != 0 && strcmp(method, "DELETE") != 0)
		req.json = args;
	rc = http_call(cli, &req, &reply, &status);
	if (rc == 0)
		show(cli, row, ops, reply, shown);
	else if (status == 403 && !cli->json && !cli->quiet)
	{
		const char *role =
			json_string_value(json_object_get(config_admin(cli), "role"));

		fprintf(stderr,
				"hint: 403 Forbidden: the admin role of this token (%s) does "
				"not allow it\n",
				role ? role : "none");
	}
done:
	json_decref(reply);
	json_decref(shown);
	json_decref(args);
	free(path);
	return rc;
}
