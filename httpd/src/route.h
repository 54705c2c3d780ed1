/*
 * httpd/src/route.h
 *	  The route table: every HTTP route is one row mapping a method and a
 *	  path pattern onto a SQL function of the extension (or, for the few
 *	  routes that are not one call, onto a handler).
 */
#ifndef HTTPD_ROUTE_H
#define HTTPD_ROUTE_H

#include <stdbool.h>
#include <stddef.h>

struct request;

/* Who may call a route, hence which database role its SQL runs as. */
enum route_auth
{
	AUTH_NONE,		/* no database: health, metrics */
	AUTH_ANON,		/* as cpub_anon; Authorization is ignored */
	AUTH_OPTIONAL,	/* as the developer with a token, else cpub_anon */
	AUTH_DEVELOPER, /* a developer's access token is required */
	AUTH_ADMIN,		/* an admin's OpenID Connect token (admin.c); the
					 * database role its admin role maps to */
};

/* Route flags */
#define ROUTE_FIRST	   0x01 /* a set-returning function's one row (404 if none) */
#define ROUTE_UPLOAD   0x02 /* raw body, capped by max_upload_mb and the tier */
#define ROUTE_RAW	   0x04 /* raw body, capped by max_invoke_kb */
#define ROUTE_FOLLOW   0x08 /* ?follow=1 long-polls for new rows */
#define ROUTE_ENVELOPE 0x10 /* an invocation envelope: its body in base64 */

#define ROUTE_MAX_PARAMS 4

/*
 * A handler answers a request whose body is complete (or which was
 * resumed); it returns what MHD's access handler returns.
 */
typedef int (*route_handler)(struct request *req);

struct route
{
	const char	   *method;	 /* "GET" ...; "*" for any */
	const char	   *pattern; /* "/api/functions/{function}"; "{x...}" = rest */
	const char	   *sql;	 /* schema-qualified function, or NULL */
	enum route_auth auth;
	int				status; /* on success */
	unsigned		flags;
	const char	   *result_key; /* wraps a scalar result: {"key": value} */
	route_handler	handler;	/* NULL: the generic SQL call */
	const char	   *tag;		/* OpenAPI */
	const char	   *summary;	/* OpenAPI */
};

struct route_match
{
	const struct route *route;
	int					nparams;
	const char		   *names[ROUTE_MAX_PARAMS]; /* static, from the pattern */
	char			   *values[ROUTE_MAX_PARAMS]; /* decoded; owned */
};

extern const struct route ROUTES[];
extern const size_t		  NROUTES;

/* route_init: compiles the patterns.  Returns 0 or -1 (a bad table). */
extern int route_init(void);

/*
 * route_find: the route for method and path (raw, still percent-encoded).
 * Returns 0 with *m filled (free with route_match_free), 404 when no
 * pattern matches, 405 when patterns match but not the method (allow gets
 * "GET, POST" ...), 400 for a path that does not decode (%00, bad escape).
 */
extern int	route_find(const char *method, const char *path,
					   struct route_match *m, char *allow, size_t allow_len);
extern void route_match_free(struct route_match *m);

/* route_param: the value of a path parameter, or NULL. */
extern const char *route_param(const struct route_match *m, const char *name);

/* route_name: "GET /api/functions/{function}" for logs and metrics. */
extern const char *route_name(const struct route *r);

/* The index of r in ROUTES, for per-route counters. */
extern size_t route_index(const struct route *r);

#endif
