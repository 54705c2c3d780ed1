/*
 * httpd/src/route.c
 *	  The route table and the matcher.
 *
 *	  Most rows name a SQL function: the generic handler (call.c) calls it
 *	  with named arguments taken from the path parameters, the query string
 *	  and the JSON body, as the role the row's auth column selects, and
 *	  turns its result into JSON.  A path parameter is named after the SQL
 *	  argument it fills.  Admin routes (/admin/api) are rows of the same kind
 *	  with AUTH_ADMIN: an admin's OpenID Connect token, the database role
 *	  its admin role maps to (cpub_admin_viewer may call the read functions
 *	  only; the database refuses the rest with 42501).
 *
 *	  Patterns are split into segments once (route_init); matching compares
 *	  segments of the raw path and percent-decodes only the parameters, so
 *	  an encoded '/' inside a parameter never splits it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handlers.h"
#include "route.h"

#define T_AUTH "auth"
#define T_FN   "functions"
#define T_EXEC "executions"
#define T_ORG  "organizations"
#define T_ACC  "account"
#define T_INV  "invocation"
#define T_OPS  "operations"
#define T_AUSR "admin: users"
#define T_AORG "admin: organizations and tiers"
#define T_AACC "admin: early access and feature roles"
#define T_AOBS "admin: observability"
#define T_APLT "admin: platform"

/* An admin route: read ones are the viewer's too, the database decides. */
#define ADMIN(method, path, fn, status, flags, key, tag, summary)             \
	{                                                                         \
		method, "/admin/api" path, "cpub_admin." fn, AUTH_ADMIN, status,      \
			flags, key, NULL, tag, summary                                    \
	}

/* clang-format off */
const struct route ROUTES[] = {
	/* operations */
	{"GET", "/health", NULL, AUTH_NONE, 200, 0, NULL, handle_health, T_OPS,
	 "The process is up"},
	{"GET", "/ready", NULL, AUTH_NONE, 200, 0, NULL, handle_ready, T_OPS,
	 "The database answers"},
	{"GET", "/metrics", NULL, AUTH_NONE, 200, 0, NULL, handle_metrics, T_OPS,
	 "Prometheus metrics"},
	{"GET", "/api/openapi.json", NULL, AUTH_NONE, 200, 0, NULL, handle_openapi,
	 T_OPS, "This API as an OpenAPI 3 document"},

	/* auth */
	{"POST", "/api/auth/register", "cpub_api.register", AUTH_ANON, 201, 0,
	 "user_id", NULL, T_AUTH, "Create an account"},
	{"POST", "/api/auth/login", "cpub_api.login", AUTH_ANON, 200, 0, NULL,
	 NULL, T_AUTH, "Log in: an access and a refresh token"},
	{"POST", "/api/auth/refresh", "cpub_api.refresh", AUTH_ANON, 200, 0, NULL,
	 handle_refresh, T_AUTH, "Exchange a refresh token for a new pair"},
	{"POST", "/api/auth/logout", "cpub_api.logout", AUTH_DEVELOPER, 204, 0,
	 NULL, NULL, T_AUTH, "End this session"},
	{"POST", "/api/auth/password", "cpub_api.change_password", AUTH_DEVELOPER,
	 204, 0, NULL, NULL, T_AUTH, "Change the password"},
	{"GET", "/api/auth/me", "cpub_api.me", AUTH_DEVELOPER, 200, ROUTE_FIRST,
	 NULL, NULL, T_AUTH, "Who am I"},
	{"PATCH", "/api/auth/me", "cpub_api.update_profile", AUTH_DEVELOPER, 204,
	 0, NULL, NULL, T_AUTH, "Change first or last name"},
	{"GET", "/api/auth/sessions", "cpub_api.sessions", AUTH_DEVELOPER, 200, 0,
	 NULL, NULL, T_AUTH, "Open sessions"},
	{"DELETE", "/api/auth/sessions/{session_id}", "cpub_api.revoke_session",
	 AUTH_DEVELOPER, 204, 0, NULL, NULL, T_AUTH, "Revoke a session"},

	/* account */
	{"GET", "/api/tier", "cpub_api.my_tier", AUTH_DEVELOPER, 200, ROUTE_FIRST,
	 NULL, NULL, T_ACC, "My tier and its limits"},
	{"GET", "/api/feature-roles", "cpub_api.my_feature_roles", AUTH_DEVELOPER,
	 200, 0, NULL, NULL, T_ACC, "My feature roles"},
	{"GET", "/api/early-access", "cpub_api.early_access_status",
	 AUTH_DEVELOPER, 200, ROUTE_FIRST, NULL, NULL, T_ACC,
	 "My early-access request"},
	{"POST", "/api/early-access", "cpub_api.early_access_request",
	 AUTH_DEVELOPER, 201, ROUTE_FIRST, NULL, NULL, T_ACC,
	 "Request early access"},
	{"GET", "/api/audit", "cpub_api.my_audit_log", AUTH_DEVELOPER, 200, 0,
	 NULL, NULL, T_ACC, "What I did (paged by id)"},
	{"GET", "/api/runtimes", "cpub_api.runtimes", AUTH_DEVELOPER, 200, 0, NULL,
	 NULL, T_ACC, "Runtimes a function can use"},

	/* organizations */
	{"GET", "/api/organizations", "cpub_api.my_organizations", AUTH_DEVELOPER,
	 200, 0, NULL, NULL, T_ORG, "My organizations"},
	{"POST", "/api/organizations", "cpub_api.organization_create",
	 AUTH_DEVELOPER, 201, 0, "id", NULL, T_ORG, "Create an organization"},
	{"PATCH", "/api/organizations/{organization}",
	 "cpub_api.organization_rename", AUTH_DEVELOPER, 204, 0, NULL, NULL, T_ORG,
	 "Rename an organization"},
	{"DELETE", "/api/organizations/{organization}",
	 "cpub_api.organization_delete", AUTH_DEVELOPER, 204, 0, NULL, NULL, T_ORG,
	 "Delete an organization"},
	{"GET", "/api/organizations/{organization}/tier",
	 "cpub_api.organization_tier", AUTH_DEVELOPER, 200, ROUTE_FIRST, NULL, NULL,
	 T_ORG, "An organization's tier"},
	{"GET", "/api/organizations/{organization}/members",
	 "cpub_api.organization_members", AUTH_DEVELOPER, 200, 0, NULL, NULL, T_ORG,
	 "Members"},
	{"POST", "/api/organizations/{organization}/members",
	 "cpub_api.organization_add_member", AUTH_DEVELOPER, 204, 0, NULL, NULL,
	 T_ORG, "Add a member"},
	{"PUT", "/api/organizations/{organization}/members/{email}",
	 "cpub_api.organization_set_role", AUTH_DEVELOPER, 204, 0, NULL, NULL,
	 T_ORG, "Change a member's role"},
	{"DELETE", "/api/organizations/{organization}/members/{email}",
	 "cpub_api.organization_remove_member", AUTH_DEVELOPER, 204, 0, NULL, NULL,
	 T_ORG, "Remove a member"},

	/* functions */
	{"GET", "/api/functions", "cpub_api.function_list", AUTH_DEVELOPER, 200, 0,
	 NULL, NULL, T_FN, "My functions (paged by name)"},
	{"POST", "/api/functions", "cpub_api.function_create", AUTH_DEVELOPER, 201,
	 0, NULL, NULL, T_FN, "Create a function"},
	{"GET", "/api/functions/{function}", "cpub_api.function_get",
	 AUTH_DEVELOPER, 200, 0, NULL, NULL, T_FN, "A function"},
	{"PATCH", "/api/functions/{function}", "cpub_api.function_update",
	 AUTH_DEVELOPER, 200, 0, NULL, NULL, T_FN, "Change a function's settings"},
	{"DELETE", "/api/functions/{function}", "cpub_api.function_delete",
	 AUTH_DEVELOPER, 204, 0, NULL, NULL, T_FN, "Delete a function"},
	{"POST", "/api/functions/{function}/deploy", "cpub_api.function_deploy",
	 AUTH_DEVELOPER, 202, ROUTE_UPLOAD, NULL, handle_deploy, T_FN,
	 "Deploy a tar.gz archive (the body) as a new version"},
	{"GET", "/api/functions/{function}/upload-limit",
	 "cpub_api.function_upload_limit", AUTH_DEVELOPER, 200, 0, NULL, NULL, T_FN,
	 "The largest archive a deploy of it accepts, in bytes (its tier's)"},
	{"GET", "/api/functions/{function}/versions", "cpub_api.function_versions",
	 AUTH_DEVELOPER, 200, 0, NULL, NULL, T_FN, "Versions, newest first"},
	{"GET", "/api/functions/{function}/versions/{version}/build-log",
	 "cpub_api.function_build_log", AUTH_DEVELOPER, 200, ROUTE_FIRST, NULL,
	 NULL, T_FN, "A version's build log"},
	{"POST", "/api/functions/{function}/rollback", "cpub_api.function_rollback",
	 AUTH_DEVELOPER, 200, 0, NULL, NULL, T_FN,
	 "Serve an earlier ready version"},
	{"GET", "/api/functions/{function}/env", "cpub_api.function_env_list",
	 AUTH_DEVELOPER, 200, 0, NULL, NULL, T_FN,
	 "Environment variable names (never values)"},
	{"POST", "/api/functions/{function}/env", "cpub_api.function_env_set_many",
	 AUTH_DEVELOPER, 200, 0, NULL, NULL, T_FN,
	 "Set environment variables ({\"vars\": {...}})"},
	{"PUT", "/api/functions/{function}/env/{name}", "cpub_api.function_env_set",
	 AUTH_DEVELOPER, 200, 0, NULL, NULL, T_FN, "Set one environment variable"},
	{"DELETE", "/api/functions/{function}/env", "cpub_api.function_env_unset",
	 AUTH_DEVELOPER, 200, 0, "removed", NULL, T_FN,
	 "Unset environment variables (names=A,B)"},
	{"GET", "/api/functions/{function}/keys", "cpub_api.function_key_list",
	 AUTH_DEVELOPER, 200, 0, NULL, NULL, T_FN, "Invocation keys"},
	{"POST", "/api/functions/{function}/keys", "cpub_api.function_key_create",
	 AUTH_DEVELOPER, 201, 0, NULL, NULL, T_FN,
	 "Create an invocation key (its secret is shown once)"},
	{"DELETE", "/api/functions/{function}/keys/{key_id}",
	 "cpub_api.function_key_revoke", AUTH_DEVELOPER, 200, 0, NULL, NULL, T_FN,
	 "Revoke an invocation key"},
	{"POST", "/api/functions/{function}/keys/{key_id}/roll",
	 "cpub_api.function_key_roll", AUTH_DEVELOPER, 201, 0, NULL, NULL, T_FN,
	 "Replace an invocation key's secret"},
	{"POST", "/api/functions/{function}/invoke", "cpub_api.function_invoke",
	 AUTH_DEVELOPER, 200, ROUTE_ENVELOPE, NULL, handle_invoke_api, T_INV,
	 "Invoke with a JSON envelope (?async=1: 202)"},
	{"GET", "/api/functions/{function}/executions", "cpub_api.execution_list",
	 AUTH_DEVELOPER, 200, 0, NULL, NULL, T_EXEC,
	 "A function's executions, newest first"},
	{"GET", "/api/functions/{function}/logs", "cpub_api.function_logs",
	 AUTH_DEVELOPER, 200, ROUTE_FOLLOW, NULL, NULL, T_EXEC,
	 "Logs of finished executions in order (follow=1 long-polls)"},
	{"GET", "/api/functions/{function}/metrics", "cpub_api.metrics",
	 AUTH_DEVELOPER, 200, 0, NULL, NULL, T_EXEC, "Counts and latency"},
	{"GET", "/api/functions/{function}/metrics/series",
	 "cpub_api.metrics_series", AUTH_DEVELOPER, 200, 0, NULL, NULL, T_EXEC,
	 "Counts and latency per bucket"},
	{"GET", "/api/executions", "cpub_api.execution_list", AUTH_DEVELOPER, 200,
	 0, NULL, NULL, T_EXEC, "My executions, newest first"},
	{"GET", "/api/executions/{id}", "cpub_api.execution_get", AUTH_DEVELOPER,
	 200, 0, NULL, NULL, T_EXEC, "An execution, with its request and logs"},
	{"GET", "/api/metrics", "cpub_api.metrics", AUTH_DEVELOPER, 200, 0, NULL,
	 NULL, T_EXEC, "Counts and latency of all my functions"},

	/* invocation */
	{"GET", "/api/invocations/{execution_id}", "cpub_api.invocation_result",
	 AUTH_OPTIONAL, 200, 0, NULL, handle_invocation_get, T_INV,
	 "The outcome of an invocation (the id is the ticket)"},
	{"*", "/fn/{owner}/{function}", "cpub_api.invoke", AUTH_OPTIONAL, 200,
	 ROUTE_RAW, NULL, handle_invoke_fn, T_INV,
	 "Call a function: it sees the method, path, query, headers and body"},
	{"*", "/fn/{owner}/{function}/{path...}", "cpub_api.invoke", AUTH_OPTIONAL,
	 200, ROUTE_RAW, NULL, handle_invoke_fn, T_INV,
	 "Call a function at a sub-path"},

	/* admin: sign-in */
	{"GET", "/admin/api/sign-in", NULL, AUTH_NONE, 200, 0, NULL,
	 handle_admin_sign_in, T_AUSR,
	 "Where admins get a token: issuer, audience, resource"},
	/* admin: who am I */
	ADMIN("GET", "/whoami", "whoami", 200, ROUTE_FIRST, NULL, T_AUSR,
		  "The admin the token speaks for, and the database role"),

	/* admin: users */
	ADMIN("GET", "/users", "user_list", 200, 0, NULL, T_AUSR,
		  "Users by email; search, status, after (an email), limit"),
	ADMIN("GET", "/users/{user_id}", "user_get", 200, ROUTE_FIRST, NULL,
		  T_AUSR, "A user"),
	ADMIN("DELETE", "/users/{user_id}", "user_delete", 200, ROUTE_FIRST, NULL,
		  T_AUSR, "Soft-delete a user (sessions revoked; restore undoes)"),
	ADMIN("POST", "/users/{user_id}/disable", "user_disable", 200,
		  ROUTE_FIRST, NULL, T_AUSR, "Disable (block) a user"),
	ADMIN("POST", "/users/{user_id}/enable", "user_enable", 200, ROUTE_FIRST,
		  NULL, T_AUSR, "Enable a blocked user"),
	ADMIN("POST", "/users/{user_id}/restore", "user_restore", 200,
		  ROUTE_FIRST, NULL, T_AUSR, "Restore a deleted user"),
	ADMIN("POST", "/users/{user_id}/temporary-password",
		  "user_set_temporary_password", 200, ROUTE_FIRST, NULL, T_AUSR,
		  "Set a temporary password (shown once; changed at next login)"),
	ADMIN("DELETE", "/users/{user_id}/sessions", "user_revoke_sessions", 200,
		  0, "revoked", T_AUSR, "Revoke all of a user's sessions"),
	ADMIN("PUT", "/users/{user_id}/oidc-subject", "user_link_oidc", 200,
		  ROUTE_FIRST, NULL, T_AUSR,
		  "Link a user to an OpenID Connect subject (null unlinks)"),
	ADMIN("PUT", "/users/{user_id}/tier", "tier_assign_user", 200, 0, NULL,
		  T_AORG, "Assign a tier to a user (null: the default tier)"),
	ADMIN("GET", "/users/{user_id}/feature-roles", "feature_role_list", 200,
		  0, NULL, T_AACC, "A user's feature roles"),
	ADMIN("PUT", "/users/{user_id}/feature-roles/{role}",
		  "feature_role_grant", 200, 0, NULL, T_AACC,
		  "Grant a feature role"),
	ADMIN("DELETE", "/users/{user_id}/feature-roles/{role}",
		  "feature_role_revoke", 200, 0, NULL, T_AACC,
		  "Revoke a feature role"),

	/* admin: feature roles and early access */
	ADMIN("GET", "/feature-roles", "feature_role_list", 200, 0, NULL, T_AACC,
		  "Feature role grants; user_id, role"),
	ADMIN("GET", "/early-access", "early_access_list", 200, 0, NULL, T_AACC,
		  "Early access requests; status, after, limit"),
	ADMIN("GET", "/early-access/capacity", "early_access_capacity", 200,
		  ROUTE_FIRST, NULL, T_AACC, "Early access capacity and use"),
	ADMIN("PUT", "/early-access/capacity", "early_access_set_capacity", 200,
		  ROUTE_FIRST, NULL, T_AACC, "Set the early access capacity"),
	ADMIN("POST", "/early-access/{request_id}/approve",
		  "early_access_approve", 200, ROUTE_FIRST, NULL, T_AACC,
		  "Approve a request"),
	ADMIN("POST", "/early-access/{request_id}/reject", "early_access_reject",
		  200, ROUTE_FIRST, NULL, T_AACC, "Reject a request (note required)"),
	ADMIN("POST", "/early-access/{request_id}/waitlist",
		  "early_access_waitlist", 200, ROUTE_FIRST, NULL, T_AACC,
		  "Waitlist a request (note required)"),

	/* admin: organizations and tiers */
	ADMIN("GET", "/organizations", "organization_list", 200, 0, NULL, T_AORG,
		  "Organizations by name; search, after, limit"),
	ADMIN("POST", "/organizations", "organization_create", 201, ROUTE_FIRST,
		  NULL, T_AORG, "Create an organization for an owner"),
	ADMIN("GET", "/organizations/{name}", "organization_get", 200,
		  ROUTE_FIRST, NULL, T_AORG, "An organization"),
	ADMIN("PATCH", "/organizations/{organization}", "organization_rename",
		  200, 0, NULL, T_AORG, "Rename an organization (new_name)"),
	ADMIN("DELETE", "/organizations/{organization}", "organization_delete",
		  200, 0, NULL, T_AORG, "Delete an organization"),
	ADMIN("PUT", "/organizations/{organization}/tier",
		  "tier_assign_organization", 200, 0, NULL, T_AORG,
		  "Assign a tier to an organization"),
	ADMIN("GET", "/organizations/{organization}/members",
		  "organization_members", 200, 0, NULL, T_AORG, "Members and roles"),
	ADMIN("POST", "/organizations/{organization}/members",
		  "organization_add_member", 200, 0, NULL, T_AORG,
		  "Add a member (email, role)"),
	ADMIN("PUT", "/organizations/{organization}/members/{email}",
		  "organization_set_role", 200, 0, NULL, T_AORG,
		  "Change a member's role"),
	ADMIN("DELETE", "/organizations/{organization}/members/{email}",
		  "organization_remove_member", 200, 0, NULL, T_AORG,
		  "Remove a member"),
	ADMIN("GET", "/tiers", "tier_list", 200, 0, NULL, T_AORG, "Tiers"),
	ADMIN("POST", "/tiers", "tier_create", 201, ROUTE_FIRST, NULL, T_AORG,
		  "Create a tier"),
	ADMIN("GET", "/tiers/{name}", "tier_get", 200, ROUTE_FIRST, NULL, T_AORG,
		  "A tier"),
	ADMIN("PATCH", "/tiers/{name}", "tier_update", 200, ROUTE_FIRST, NULL,
		  T_AORG, "Change a tier's limits"),
	ADMIN("DELETE", "/tiers/{name}", "tier_delete", 200, 0, NULL, T_AORG,
		  "Delete a tier nobody uses"),
	ADMIN("POST", "/tiers/{name}/default", "tier_set_default", 200, 0, NULL,
		  T_AORG, "Make a tier the default"),

	/* admin: observability */
	ADMIN("GET", "/audit", "audit_log", 200, 0, NULL, T_AOBS,
		  "The audit log, newest first; since, until, actor_user_id, "
		  "actor_name, action (prefix*), target_kind, target_id, after, limit"),
	ADMIN("GET", "/errors", "platform_errors", 200, 0, NULL, T_AOBS,
		  "Failed builds, failed and dead jobs, executions by error kind; "
		  "since, until, limit"),
	ADMIN("GET", "/load", "platform_load", 200, 0, NULL, T_AOBS,
		  "Queue depth, workers, containers, invocations per bucket, "
		  "latency; since, until, bucket"),
	ADMIN("GET", "/executions", "execution_list", 200, 0, NULL, T_AOBS,
		  "Every execution, newest first"),
	ADMIN("GET", "/functions", "function_list", 200, 0, NULL, T_AOBS,
		  "Every function"),
	ADMIN("GET", "/jobs", "job_list", 200, 0, NULL, T_AOBS,
		  "Jobs; state, kind, after, limit"),
	ADMIN("GET", "/jobs/{id}", "job_get", 200, ROUTE_FIRST, NULL, T_AOBS,
		  "A job"),
	ADMIN("POST", "/jobs/{id}/retry", "job_retry", 200, ROUTE_FIRST, NULL,
		  T_AOBS, "Retry a dead job"),
	ADMIN("DELETE", "/jobs/{id}", "job_delete", 200, 0, NULL, T_AOBS,
		  "Delete a dead job"),
	ADMIN("GET", "/queue", "queue_stats", 200, 0, NULL, T_AOBS,
		  "Jobs by kind and state"),
	ADMIN("GET", "/workers", "workers", 200, 0, NULL, T_AOBS,
		  "Workers and their heartbeats; include_stopped"),

	/* admin: platform settings */
	ADMIN("GET", "/settings", "settings", 200, 0, NULL, T_APLT, "Settings"),
	ADMIN("PUT", "/settings/{name}", "setting_set", 200, 0, NULL, T_APLT,
		  "Change a setting (value)"),
	ADMIN("GET", "/runtimes", "runtime_list", 200, 0, NULL, T_APLT,
		  "Runtimes"),
	ADMIN("PATCH", "/runtimes/{name}", "runtime_set", 200, 0, NULL, T_APLT,
		  "Describe, enable or disable a runtime"),
	ADMIN("GET", "/secrets", "secrets_status", 200, 0, NULL, T_APLT,
		  "Secret keys in use"),
	ADMIN("POST", "/secrets/rekey", "secrets_rekey", 200, 0, NULL, T_APLT,
		  "Seal every secret under the current key"),
};
/* clang-format on */

const size_t NROUTES = sizeof(ROUTES) / sizeof(ROUTES[0]);

#define MAX_SEGMENTS 8

/* A compiled pattern. */
struct pattern
{
	int	  nseg;
	char *seg[MAX_SEGMENTS]; /* literal, or the parameter's name */
	bool  param[MAX_SEGMENTS];
	bool  rest;		 /* the last segment takes the rest of the path */
	char  name[160]; /* "GET /api/..." */
};

static struct pattern patterns[sizeof(ROUTES) / sizeof(ROUTES[0])];

int
route_init(void)
{
	for (size_t i = 0; i < NROUTES; i++)
	{
		struct pattern *p = &patterns[i];
		char		   *copy = strdup(ROUTES[i].pattern);
		char		   *save = NULL;
		int				nparams = 0;

		if (copy == NULL || copy[0] != '/')
		{
			free(copy);
			return -1;
		}
		snprintf(p->name, sizeof(p->name), "%s %s", ROUTES[i].method,
				 ROUTES[i].pattern);
		for (char *s = strtok_r(copy + 1, "/", &save); s != NULL;
			 s = strtok_r(NULL, "/", &save))
		{
			size_t n = strlen(s);

			if (p->nseg == MAX_SEGMENTS || p->rest)
				return -1;
			if (s[0] == '{' && s[n - 1] == '}')
			{
				s[n - 1] = '\0';
				s++;
				n -= 2;
				if (n > 3 && strcmp(s + n - 3, "...") == 0)
				{
					s[n - 3] = '\0';
					p->rest = true;
				}
				p->param[p->nseg] = true;
				if (++nparams > ROUTE_MAX_PARAMS)
					return -1;
			}
			p->seg[p->nseg++] = s;
		}
		/* copy stays allocated: the segments point into it */
	}
	return 0;
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * decode: percent-decodes s[0..len) into a new string.  NULL for a bad
 * escape or an encoded NUL.
 */
static char *
decode(const char *s, size_t len)
{
	char  *out = malloc(len + 1);
	size_t o = 0;

	if (out == NULL)
		return NULL;
	for (size_t i = 0; i < len; i++)
	{
		if (s[i] == '%')
		{
			int hi, lo;

			if (i + 2 >= len)
				goto bad;
			hi = hexval(s[i + 1]);
			lo = hexval(s[i + 2]);
			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
				goto bad;
			out[o++] = (char) (hi * 16 + lo);
			i += 2;
		}
		else
			out[o++] = s[i];
	}
	out[o] = '\0';
	return out;

bad:
	free(out);
	return NULL;
}

/*
 * pattern_match: whether path matches p; on a match with m != NULL the
 * parameters are decoded into m (a "rest" parameter stays raw).  Returns 1
 * match, 0 no match, -1 a parameter that does not decode.
 */
static int
pattern_match(const struct pattern *p, const char *path, struct route_match *m)
{
	const char *s;
	const char *starts[MAX_SEGMENTS];
	size_t		lens[MAX_SEGMENTS];

	if (path[0] != '/')
		return 0;
	s = path + 1;
	for (int k = 0; k < p->nseg; k++)
	{
		const char *e;

		if (p->rest && k == p->nseg - 1)
		{
			/* The rest of the path: may be empty, keeps its slashes. */
			starts[k] = s;
			lens[k] = strlen(s);
			s += lens[k];
			break;
		}
		e = strchrnul(s, '/');
		if (e == s)
			return 0; /* an empty segment, or the path ended */
		if (!p->param[k] && (strlen(p->seg[k]) != (size_t) (e - s) ||
							 strncmp(p->seg[k], s, (size_t) (e - s)) != 0))
			return 0;
		starts[k] = s;
		lens[k] = (size_t) (e - s);
		s = e;
		if (*s == '/' && (k < p->nseg - 1 || s[1] == '\0'))
			s++; /* a separator, or one trailing slash */
	}
	if (*s != '\0')
		return 0;
	if (m == NULL)
		return 1;
	m->nparams = 0;
	for (int i = 0; i < p->nseg; i++)
	{
		if (!p->param[i])
			continue;
		m->names[m->nparams] = p->seg[i];
		if (p->rest && i == p->nseg - 1)
			m->values[m->nparams] = strndup(starts[i], lens[i]);
		else
			m->values[m->nparams] = decode(starts[i], lens[i]);
		if (m->values[m->nparams] == NULL)
		{
			route_match_free(m);
			return -1;
		}
		m->nparams++;
	}
	return 1;
}

int
route_find(const char *method, const char *path, struct route_match *m,
		   char *allow, size_t allow_len)
{
	bool path_matched = false;

	memset(m, 0, sizeof(*m));
	allow[0] = '\0';
	for (size_t i = 0; i < NROUTES; i++)
	{
		const struct route *r = &ROUTES[i];
		bool				method_ok =
			strcmp(r->method, "*") == 0 || strcmp(r->method, method) == 0;
		int rc;

		if (!method_ok)
		{
			if (pattern_match(&patterns[i], path, NULL) == 1)
			{
				size_t n = strlen(allow);

				path_matched = true;
				if (strstr(allow, r->method) == NULL)
					snprintf(allow + n, allow_len - n, "%s%s", n ? ", " : "",
							 r->method);
			}
			continue;
		}
		rc = pattern_match(&patterns[i], path, m);
		if (rc < 0)
			return 400;
		if (rc == 1)
		{
			m->route = r;
			return 0;
		}
	}
	return path_matched ? 405 : 404;
}

void
route_match_free(struct route_match *m)
{
	for (int i = 0; i < m->nparams; i++)
		free(m->values[i]);
	m->nparams = 0;
}

const char *
route_param(const struct route_match *m, const char *name)
{
	for (int i = 0; i < m->nparams; i++)
		if (strcmp(m->names[i], name) == 0)
			return m->values[i];
	return NULL;
}

const char *
route_name(const struct route *r)
{
	return patterns[route_index(r)].name;
}

size_t
route_index(const struct route *r)
{
	return (size_t) (r - ROUTES);
}
