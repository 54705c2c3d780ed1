/*
 * tests/unit/test_route.c
 *	  The HTTP front's route matcher (httpd/src/route.c) against the real
 *	  route table: which route a method and path find, the parameters it
 *	  decodes, 404, 405 with the Allow list, and bad escapes.
 *
 *	  The table names handler functions; this program links the matcher
 *	  alone, so it defines those names as functions that are never called.
 */
#include <stdlib.h>
#include <string.h>

#include "route.h"
#include "tap.h"

#define UNCALLED(name)                                                        \
	int name(struct request *req)                                             \
	{                                                                         \
		(void) req;                                                           \
		abort();                                                              \
	}
UNCALLED(handle_sql)
UNCALLED(handle_refresh)
UNCALLED(handle_deploy)
UNCALLED(deploy_begin)
UNCALLED(handle_invoke_fn)
UNCALLED(handle_invoke_api)
UNCALLED(handle_invocation_get)
UNCALLED(handle_health)
UNCALLED(handle_ready)
UNCALLED(handle_metrics)
UNCALLED(handle_openapi)
UNCALLED(handle_admin_sign_in)

/* find: the route name for method + path, or "404"/"405"/"400". */
static const char *
find(const char *method, const char *path, struct route_match *m)
{
	static char buf[200];
	char		allow[128];
	int			rc = route_find(method, path, m, allow, sizeof(allow));

	if (rc == 0)
		return route_name(m->route);
	snprintf(buf, sizeof(buf), "%d%s%s", rc, rc == 405 ? " " : "",
			 rc == 405 ? allow : "");
	return buf;
}

static const struct
{
	const char *method;
	const char *path;
	const char *want;
} CASES[] = {
	{"GET", "/api/functions", "GET /api/functions"},
	{"POST", "/api/functions", "POST /api/functions"},
	{"GET", "/api/functions/", "GET /api/functions"},
	{"GET", "/api/functions/hello", "GET /api/functions/{function}"},
	{"PATCH", "/api/functions/hello", "PATCH /api/functions/{function}"},
	{"POST", "/api/functions/hello/deploy",
	 "POST /api/functions/{function}/deploy"},
	{"GET", "/api/functions/hello/versions/3/build-log",
	 "GET /api/functions/{function}/versions/{version}/build-log"},
	{"POST", "/api/functions/acme%2Fhello/invoke",
	 "POST /api/functions/{function}/invoke"},
	{"GET", "/fn/ada/hello", "* /fn/{owner}/{function}"},
	{"DELETE", "/fn/ada/hello/", "* /fn/{owner}/{function}"},
	{"PUT", "/fn/ada/hello/a/b/c", "* /fn/{owner}/{function}/{path...}"},
	{"GET", "/nope", "404"},
	{"GET", "/api/functions/hello/nope", "404"},
	{"GET", "/api//functions", "404"},
	{"GET", "api/functions", "404"},
	{"PUT", "/api/functions", "405 GET, POST"},
	{"POST", "/api/functions/hello", "405 GET, PATCH, DELETE"},
	{"GET", "/api/functions/%zz", "400"},
	{"GET", "/api/functions/a%00b", "400"},
	{"GET", "/api/functions/a%2", "400"},
	{"GET", "/admin/api/users", "GET /admin/api/users"},
	{"DELETE", "/admin/api/users/7d2c", "DELETE /admin/api/users/{user_id}"},
	{"POST", "/admin/api/users/7d2c/disable",
	 "POST /admin/api/users/{user_id}/disable"},
	{"PUT", "/admin/api/early-access/capacity",
	 "PUT /admin/api/early-access/capacity"},
	{"POST", "/admin/api/early-access/e1/approve",
	 "POST /admin/api/early-access/{request_id}/approve"},
	{"GET", "/admin/api/organizations/acme",
	 "GET /admin/api/organizations/{name}"},
	{"PATCH", "/admin/api/organizations/acme",
	 "PATCH /admin/api/organizations/{organization}"},
	{"PUT", "/admin/api/users", "405 GET"},
	{"GET", "/admin/api/nope", "404"},
};

int
main(void)
{
	struct route_match m;
	size_t			   n = sizeof(CASES) / sizeof(CASES[0]);

	plan((int) n + 7);
	ok(route_init() == 0, "the route table compiles");
	for (size_t i = 0; i < n; i++)
	{
		is_str(find(CASES[i].method, CASES[i].path, &m), CASES[i].want,
			   "%s %s", CASES[i].method, CASES[i].path);
		route_match_free(&m);
	}

	find("POST", "/api/functions/acme%2Fhello/invoke", &m);
	is_str(
		route_param(&m, "function"), "acme/hello",
		"a parameter is percent-decoded, %%2F included, and does not split");
	route_match_free(&m);

	find("GET", "/fn/ada/hello/a%20b/c", &m);
	is_str(route_param(&m, "owner"), "ada", "the owner");
	is_str(route_param(&m, "path"), "a%20b/c",
		   "the rest of the path stays as sent, for the function");
	ok(route_param(&m, "nope") == NULL, "an absent parameter is NULL");
	route_match_free(&m);

	find("GET", "/fn/ada/hello", &m);
	ok(route_param(&m, "path") == NULL, "no sub-path on the short form");
	route_match_free(&m);

	{
		bool unique = true;

		for (size_t i = 0; i < NROUTES; i++)
			for (size_t k = i + 1; k < NROUTES; k++)
				if (strcmp(route_name(&ROUTES[i]), route_name(&ROUTES[k])) ==
					0)
					unique = false;
		ok(unique, "no route appears twice in the table");
	}
	return done_testing();
}
