/*
 * httpd/src/call.c
 *	  The generic route handler, which turns a request into one call of the
 *	  route's SQL function, and the routes close to it: refresh (a
 *	  procedure that commits before it raises) and deploy (a raw upload,
 *	  capped by the owner's tier before the body is read).
 *
 *	  Arguments: path parameters, then query parameters, then the keys of a
 *	  JSON object body, each named after an argument of the function (see
 *	  catalog.c); a name given twice, or one the function does not take, is
 *	  a 400, and so is a required argument not given (22004).  Values go as
 *	  text parameters typed as the arguments, so PostgreSQL's own input
 *	  functions judge them (a bad integer is 22P02); a JSON null is SQL
 *	  NULL, for a required argument too (the function decides, as at psql).
 *	  JSON arrays fill array arguments; any JSON value of the body fills a
 *	  json/jsonb one as itself (a query value is JSON text already); a
 *	  comma-separated query value fills an array argument.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "admin.h"
#include "call.h"
#include "catalog.h"
#include "dispatch.h"
#include "handlers.h"
#include "log.h"

#define TIMESTAMPTZOID 1184 /* pg_type.h, which is server-side */

static const char SQL_AS_ANON[] =
	"SELECT pg_catalog.set_config('role', 'cpub_anon', true)";
static const char SQL_AS_DEVELOPER[] =
	"SELECT pg_catalog.set_config('role', a.role, true), a.user_id::text "
	"FROM cpub_api.authenticate($1) a";
/* As cpub_httpd itself, the one role that may call these two. */
static const char SQL_AS_ADMIN[] =
	"SELECT pg_catalog.set_config('role', a.role, true), a.user_id::text "
	"FROM cpub_api.authenticate_admin($1, $2, $3) a";
static const char SQL_AS_LINKED[] =
	"SELECT pg_catalog.set_config('role', a.role, true), a.user_id::text "
	"FROM cpub_api.authenticate_linked($1) a";

bool
call_wants_developer(struct request *req)
{
	const char *token = request_bearer(req);

	switch (req->route->auth)
	{
		case AUTH_DEVELOPER:
			return true;
		case AUTH_OPTIONAL:
			/* On /fn a non-platform Authorization belongs to the function. */
			return token != NULL && strncmp(token, "cpa_", 4) == 0;
		default:
			return false;
	}
}

/* reply_no_token: 401 for a developer route called without a token. */
static int
reply_no_token(struct request *req)
{
	reply_simple_error(req, "28000", "authentication required",
					   "This route needs a developer's access token.",
					   "Log in and send \"Authorization: Bearer <access "
					   "token>\".");
	return -1;
}

int
call_check_caller(struct request *req)
{
	const char *token;

	if (req->route->auth == AUTH_ADMIN)
	{
		if (!req->admin_verified)
		{
			if (admin_verify(req, &req->admin) != 0)
				return -1;
			req->admin_verified = true;
		}
		return 0;
	}
	if (!call_wants_developer(req))
		return 0;
	token = request_bearer(req);
	if (token == NULL)
		return reply_no_token(req);
	/*
	 * An admin's token on a developer's route acts as the developer linked
	 * to the admin (cpub_api.authenticate_linked), or is refused there.
	 */
	if (!admin_is_platform_token(token) && admin_enabled() &&
		!req->admin_verified)
	{
		char			 err[256];
		enum oidc_result r =
			oidc_check(token, time(NULL), &req->admin, err, sizeof(err));

		if (r == OIDC_OK || r == OIDC_NO_ADMIN_ROLE)
			req->admin_verified = true;
	}
	return 0;
}

int
call_run(struct request *req, const struct db_step *steps, int n,
		 PGresult **results)
{
	struct db_step	all[CALL_MAX_STEPS + 2];
	PGresult	   *res[CALL_MAX_STEPS + 2];
	const char	   *params[3];
	struct db_error err;
	struct dbconn  *c;
	int				k = 0;
	int				who = -1; /* the step naming the user, if any */
	int				failed;

	if (call_check_caller(req) != 0)
		return -1;
	memset(all, 0, sizeof(all));
	if (req->admin_verified)
	{
		/* An admin (on /admin/api) or a linked admin (on a developer's
		 * route): the gateway sets the role, from cpub_httpd's own. */
		params[0] = req->admin.subject;
		params[1] = req->admin.email[0] ? req->admin.email : NULL;
		params[2] =
			(req->admin.roles & JWT_ROLE_FULL_ADMIN) ? "full_admin" : "viewer";
		who = k;
		if (req->route->auth == AUTH_ADMIN)
		{
			all[k].sql = SQL_AS_ADMIN;
			all[k].nparams = 3;
		}
		else
		{
			all[k].sql = SQL_AS_LINKED;
			all[k].nparams = 1;
		}
		all[k++].values = params;
	}
	else
	{
		all[k++].sql = SQL_AS_ANON;
		if (call_wants_developer(req))
		{
			params[0] = request_bearer(req);
			who = k;
			all[k].sql = SQL_AS_DEVELOPER;
			all[k].nparams = 1;
			all[k++].values = params;
		}
	}
	for (int i = 0; i < n; i++)
		all[k + i] = steps[i];

	c = pool_acquire(&err);
	if (c == NULL)
	{
		reply_error(req, &err);
		return -1;
	}
	if (!catalog_loaded() && catalog_load(dbconn_pg(c)) != 0)
	{
		pool_release(c);
		reply_simple_error(req, "XX000", "the SQL API could not be read", NULL,
						   NULL);
		return -1;
	}
	if (db_run(c, all, k + n, res, &err, &failed) != 0)
	{
		pool_release(c);
		reply_error(req, &err);
		return -1;
	}
	pool_release(c);
	if (who >= 0 && !PQgetisnull(res[who], 0, 1))
		snprintf(req->user_id, sizeof(req->user_id), "%s",
				 PQgetvalue(res[who], 0, 1));
	for (int i = 0; i < k; i++)
		PQclear(res[i]);
	for (int i = 0; i < n; i++)
		results[i] = res[k + i];
	return 0;
}

/* --- turning JSON into parameters ------------------------------------------ */

struct params
{
	bool  present[SQLFUNC_MAX_ARGS];
	char *text[SQLFUNC_MAX_ARGS]; /* malloc'd, NULL = SQL NULL */
};

/* params_free: frees the texts; p may be freed again (bind_args frees it
 * on failure, and its caller's cleanup frees it once more). */
static void
params_free(struct params *p)
{
	for (int i = 0; i < SQLFUNC_MAX_ARGS; i++)
	{
		free(p->text[i]);
		p->text[i] = NULL;
	}
}

static bool
is_array_type(const char *typname)
{
	size_t n = strlen(typname);

	return n > 2 && strcmp(typname + n - 2, "[]") == 0;
}

/* array_literal: a PostgreSQL array literal of strings, or NULL. */
static char *
array_literal(json_t *arr)
{
	size_t	len = 3;
	size_t	i;
	json_t *v;
	char   *out, *p;

	json_array_foreach(arr, i, v)
	{
		if (!json_is_string(v))
			return NULL;
		len += 2 * json_string_length(v) + 4;
	}
	out = malloc(len);
	if (out == NULL)
		return NULL;
	p = out;
	*p++ = '{';
	json_array_foreach(arr, i, v)
	{
		const char *s = json_string_value(v);

		if (i > 0)
			*p++ = ',';
		*p++ = '"';
		for (size_t k = 0; k < json_string_length(v); k++)
		{
			if (s[k] == '"' || s[k] == '\\')
				*p++ = '\\';
			*p++ = s[k];
		}
		*p++ = '"';
	}
	*p++ = '}';
	*p = '\0';
	return out;
}

/* csv_array: "a,b" as a JSON array of strings. */
static json_t *
csv_array(const char *s)
{
	json_t *arr = json_array();

	while (arr != NULL && *s)
	{
		const char *e = strchrnul(s, ',');

		json_array_append_new(arr, json_stringn(s, (size_t) (e - s)));
		s = *e ? e + 1 : e;
	}
	return arr;
}

/*
 * param_text: the text of value for argument i of f, in *out (malloc'd;
 * NULL for SQL NULL); from_body: the value is a JSON value of the body,
 * not the text of a path or query parameter.  Returns 0 or -1 (the value
 * does not fit).
 */
static int
param_text(const struct sqlfunc *f, int i, json_t *value, bool from_body,
		   char **out)
{
	const char *type = f->argtypename[i];

	*out = NULL;
	if (json_is_null(value))
		return 0;
	/* {"value": "15 minutes"} is the JSON string, not the text 15 minutes. */
	if (from_body && (strcmp(type, "jsonb") == 0 || strcmp(type, "json") == 0))
	{
		*out = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
		return *out ? 0 : -1;
	}
	switch (json_typeof(value))
	{
		case JSON_NULL:
			return 0;
		case JSON_STRING:
			if (is_array_type(type))
			{
				json_t *arr = csv_array(json_string_value(value));

				*out = arr ? array_literal(arr) : NULL;
				json_decref(arr);
				return *out ? 0 : -1;
			}
			*out =
				strndup(json_string_value(value), json_string_length(value));
			return *out ? 0 : -1;
		case JSON_ARRAY:
			if (is_array_type(type))
			{
				*out = array_literal(value);
				return *out ? 0 : -1;
			}
			/* FALLTHROUGH */
		case JSON_OBJECT:
			if (strcmp(type, "jsonb") != 0 && strcmp(type, "json") != 0)
				return -1;
			*out = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
			return *out ? 0 : -1;
		default:
			/* numbers and booleans: their JSON text is PostgreSQL's input */
			if (is_array_type(type))
				return -1;
			*out = json_dumps(value, JSON_ENCODE_ANY);
			return *out ? 0 : -1;
	}
}

static enum MHD_Result
collect_query_arg(void *cls, enum MHD_ValueKind kind, const char *key,
				  const char *value)
{
	json_t *args = cls;

	(void) kind;
	if (json_object_get(args, key) != NULL)
	{
		/* given twice: mark it so the caller refuses */
		json_object_set_new(args, "\x01duplicate", json_string(key));
		return MHD_YES;
	}
	json_object_set_new(args, key, json_string(value ? value : ""));
	return MHD_YES;
}

/*
 * request_args: the arguments of req as one JSON object (path parameters,
 * query, body), and in *from_body the names of those the body gave (an
 * object of trues).  Returns the object (the caller decrefs both) or NULL
 * after replying with the error.
 */
static json_t *
request_args(struct request *req, json_t **from_body)
{
	json_t	   *args = json_object();
	json_t	   *dup;
	const char *key;
	json_t	   *value;

	*from_body = json_object();
	if (args == NULL || *from_body == NULL)
	{
		json_decref(args);
		json_decref(*from_body);
		*from_body = NULL;
		return NULL;
	}
	for (int i = 0; i < req->match.nparams; i++)
		json_object_set_new(args, req->match.names[i],
							json_string(req->match.values[i]));
	MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND,
							  collect_query_arg, args);
	if (req->route->flags & ROUTE_FOLLOW)
	{
		json_object_del(args, "follow");
		json_object_del(args, "wait");
	}
	if (req->body_len > 0)
	{
		json_error_t jerr;
		json_t		*body = json_loadb(req->body, req->body_len,
									   JSON_REJECT_DUPLICATES, &jerr);

		if (body == NULL)
		{
			char detail[300];

			snprintf(detail, sizeof(detail), "%s (line %d, column %d).",
					 jerr.text, jerr.line, jerr.column);
			json_decref(args);
			json_decref(*from_body);
			*from_body = NULL;
			reply_simple_error(req, "22032",
							   "invalid JSON in the request body", detail,
							   NULL);
			return NULL;
		}
		if (!json_is_object(body))
		{
			json_decref(body);
			json_decref(args);
			json_decref(*from_body);
			*from_body = NULL;
			reply_simple_error(req, "22023",
							   "the request body must be a JSON object", NULL,
							   NULL);
			return NULL;
		}
		json_object_foreach(body, key, value)
		{
			if (json_object_get(args, key) != NULL)
				json_object_set_new(args, "\x01duplicate", json_string(key));
			else
			{
				json_object_set(args, key, value);
				json_object_set_new(*from_body, key, json_true());
			}
		}
		json_decref(body);
	}
	dup = json_object_get(args, "\x01duplicate");
	if (dup != NULL)
	{
		char msg[200];

		snprintf(msg, sizeof(msg), "parameter \"%.100s\" given twice",
				 json_string_value(dup));
		json_decref(args);
		json_decref(*from_body);
		*from_body = NULL;
		reply_simple_error(req, "22023", msg,
						   "A parameter comes from the path, the query or the "
						   "body, once.",
						   NULL);
		return NULL;
	}
	return args;
}

/*
 * bind_args: the parameters of a call of f from args (from_body: the names
 * the body gave).  Returns 0 or -1 after replying (unknown, missing or
 * ill-typed parameter).
 */
static int
bind_args(struct request *req, const struct sqlfunc *f, json_t *args,
		  json_t *from_body, struct params *p)
{
	const char *key;
	json_t	   *value;
	char		msg[256];
	char		hint[1024];

	memset(p, 0, sizeof(*p));
	json_object_foreach(args, key, value)
	{
		int i = catalog_arg(f, key);

		if (i < 0)
		{
			size_t n = 0;

			snprintf(msg, sizeof(msg), "unknown parameter \"%.100s\"", key);
			n = (size_t) snprintf(hint, sizeof(hint), "This route takes: ");
			for (int k = 0; k < f->nargs && n < sizeof(hint); k++)
				n += (size_t) snprintf(hint + n, sizeof(hint) - n, "%s%s",
									   k ? ", " : "", f->argname[k]);
			if (n < sizeof(hint) - 1)
				strcat(hint, ".");
			params_free(p);
			reply_simple_error(req, "22023", msg, NULL, hint);
			return -1;
		}
		p->present[i] = true;
		if (param_text(f, i, value, json_object_get(from_body, key) != NULL,
					   &p->text[i]) != 0)
		{
			snprintf(msg, sizeof(msg),
					 "parameter \"%.100s\" must be of type %s", key,
					 f->argtypename[i]);
			params_free(p);
			reply_simple_error(req, "22023", msg, NULL, NULL);
			return -1;
		}
	}
	for (int i = 0; i < f->nrequired; i++)
		if (!p->present[i])
		{
			snprintf(msg, sizeof(msg), "missing parameter \"%s\"",
					 f->argname[i]);
			params_free(p);
			reply_simple_error(req, "22004", msg, NULL, NULL);
			return -1;
		}
	return 0;
}

/* The function's id, for a follower (dispatch.c) of its logs. */
static const char SQL_FUNCTION_ID[] =
	"SELECT (cpub_api.function_get(\"function\" => $1)).id::text";

int
handle_sql(struct request *req)
{
	const struct sqlfunc *f;
	json_t				 *args = NULL;
	json_t				 *from_body = NULL;
	struct params		  p;
	char				 *sql = NULL;
	const char			 *values[SQLFUNC_MAX_ARGS];
	Oid					  types[SQLFUNC_MAX_ARGS];
	struct db_step		  steps[2];
	PGresult			 *res[2] = {NULL, NULL};
	int					  nsteps = 1;
	int					  np = 0;
	bool				  follow;
	const char			 *fn = NULL;
	int					  rc = MHD_YES;

	memset(&p, 0, sizeof(p));
	{
		struct db_error err;

		if (catalog_ensure(&err) != 0)
			return reply_error(req, &err);
	}
	f = catalog_get(req->route->sql);
	if (f == NULL)
		return reply_simple_error(req, "XX000",
								  "the SQL API could not be read", NULL, NULL);
	/* Who may call comes before what was asked. */
	if (call_check_caller(req) != 0)
		return MHD_YES;
	follow = (req->route->flags & ROUTE_FOLLOW) &&
			 request_query_arg(req, "follow") != NULL &&
			 strcmp(request_query_arg(req, "follow"), "0") != 0;

	args = request_args(req, &from_body);
	if (args == NULL)
		return MHD_YES;
	if (bind_args(req, f, args, from_body, &p) != 0)
		goto done;
	for (int i = 0; i < f->nargs; i++)
		if (p.present[i])
		{
			values[np] = p.text[i];
			types[np] = f->argtype[i];
			np++;
		}
	sql = catalog_call_sql(f, p.present, req->route->flags & ROUTE_FIRST);
	if (sql == NULL)
	{
		rc = reply_simple_error(req, "XX000", "could not build the call", NULL,
								NULL);
		goto done;
	}
	memset(steps, 0, sizeof(steps));
	steps[0].sql = sql;
	steps[0].nparams = np;
	steps[0].types = types;
	steps[0].values = values;
	if (follow)
	{
		/* fn outlives this block: call_run reads it below */
		fn = route_param(&req->match, "function");
		steps[1].sql = SQL_FUNCTION_ID;
		steps[1].nparams = 1;
		steps[1].values = &fn;
		nsteps = 2;
	}
	if (follow)
		req->wait_seq = dispatch_seq();
	if (call_run(req, steps, nsteps, res) != 0)
		goto done;

	if (f->result == RESULT_VOID)
	{
		/* Nothing to say: 204 where the row says 200. */
		rc = reply_json(
			req, req->route->status == 200 ? 204 : req->route->status, "", 0);
		goto done;
	}
	if (PQntuples(res[0]) == 0)
	{
		rc = reply_simple_error(req, "P0002", "not found", NULL, NULL);
		goto done;
	}
	if (follow && strcmp(PQgetvalue(res[0], 0, 0), "[]") == 0 &&
		req->wake != WAKE_TIMEOUT && req->wake != WAKE_SHUTDOWN)
	{
		/* Nothing new yet: wait for the function's next execution. */
		const char *w = request_query_arg(req, "wait");
		int			secs = w ? atoi(w) : config.follow_wait;

		if (secs <= 0 || secs > config.follow_wait)
			secs = config.follow_wait;
		if (req->deadline.tv_sec == 0)
		{
			clock_gettime(CLOCK_MONOTONIC, &req->deadline);
			req->deadline.tv_sec += secs;
		}
		snprintf(req->function_id, sizeof(req->function_id), "%s",
				 PQgetvalue(res[1], 0, 0));
		req->is_follow = true;
		dispatch_wait(req);
		goto done;
	}
	if (req->route->result_key != NULL)
	{
		char *body = NULL;
		int	  len = asprintf(&body, "{\"%s\":%s}", req->route->result_key,
							 PQgetvalue(res[0], 0, 0));

		if (len < 0)
			rc = MHD_NO;
		else
			rc = reply_json(req, req->route->status, body, (size_t) len);
		free(body);
		goto done;
	}
	rc = reply_json(req, req->route->status, PQgetvalue(res[0], 0, 0),
					(size_t) PQgetlength(res[0], 0, 0));

done:
	PQclear(res[0]);
	PQclear(res[1]);
	free(sql);
	params_free(&p);
	json_decref(args);
	json_decref(from_body);
	return rc;
}

/* --- refresh --------------------------------------------------------------- */

/*
 * The procedure cpub_api.refresh commits the revocation of a reused
 * session before it raises 28Q05, so it runs as a CALL of its own.
 */
int
handle_refresh(struct request *req)
{
	static const char SQL_REFRESH[] = "CALL cpub_api.refresh($1)";
	json_t			 *body = NULL;
	json_t			 *tok;
	json_t			 *out = NULL;
	const char		 *values[1];
	struct db_step	  steps[1];
	PGresult		 *res[1] = {NULL};
	char			 *text = NULL;
	int				  rc = MHD_YES;

	if (req->body_len > 0)
	{
		body = json_loadb(req->body, req->body_len, 0, NULL);
		if (body == NULL)
			return reply_simple_error(req, "22032",
									  "invalid JSON in the request body",
									  "The body is {\"refresh_token\": "
									  "\"cpr_...\"}.",
									  NULL);
	}
	tok = json_object_get(body, "refresh_token");
	if (!json_is_string(tok))
	{
		rc = reply_simple_error(
			req, "22004",
			"missing parameter "
			"\"refresh_token\"",
			"The body is {\"refresh_token\": \"cpr_...\"}.", NULL);
		goto done;
	}
	values[0] = json_string_value(tok);
	memset(steps, 0, sizeof(steps));
	steps[0].sql = SQL_REFRESH;
	steps[0].nparams = 1;
	steps[0].values = values;
	if (call_run(req, steps, 1, res) != 0)
		goto done;
	out = json_object();
	for (int i = 0; i < PQnfields(res[0]); i++)
	{
		const char *name = PQfname(res[0], i);
		const char *v = PQgetvalue(res[0], 0, i);

		if (PQgetisnull(res[0], 0, i))
			json_object_set_new(out, name, json_null());
		else if (strcmp(name, "must_change_password") == 0)
			json_object_set_new(out, name, json_boolean(v[0] == 't'));
		else if (PQftype(res[0], i) == TIMESTAMPTZOID)
		{
			/* as row_to_json writes them: 2026-01-02T03:04:05.6+00:00 */
			char ts[64];

			snprintf(ts, sizeof(ts), "%s%s", v,
					 strlen(v) > 3 && (v[strlen(v) - 3] == '+' ||
									   v[strlen(v) - 3] == '-')
						 ? ":00"
						 : "");
			if (strlen(ts) > 10 && ts[10] == ' ')
				ts[10] = 'T';
			json_object_set_new(out, name, json_string(ts));
		}
		else
			json_object_set_new(out, name, json_string(v));
	}
	text = json_dumps(out, JSON_COMPACT);
	rc = text ? reply_json(req, 200, text, strlen(text)) : MHD_NO;

done:
	PQclear(res[0]);
	free(text);
	json_decref(out);
	json_decref(body);
	return rc;
}

/* --- deploy ------------------------------------------------------------------ */

/*
 * deploy_begin: before the body is read, asks the database how large an
 * archive this caller may deploy to this function, refusing at once what
 * Content-Length says is larger (and answering 401/404 before any upload).
 */
int
deploy_begin(struct request *req)
{
	static const char SQL_LIMIT[] =
		"SELECT cpub_api.function_upload_limit(\"function\" => $1)";
	const char	  *values[1];
	struct db_step steps[1];
	PGresult	  *res[1] = {NULL};
	long long	   limit;
	const char	  *cl;

	values[0] = route_param(&req->match, "function");
	memset(steps, 0, sizeof(steps));
	steps[0].sql = SQL_LIMIT;
	steps[0].nparams = 1;
	steps[0].values = values;
	if (call_run(req, steps, 1, res) != 0)
		return MHD_YES;
	limit = atoll(PQgetvalue(res[0], 0, 0));
	PQclear(res[0]);
	if (limit > 0 && (size_t) limit < req->body_limit)
		req->body_limit = (size_t) limit;
	cl = request_header(req, MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (cl != NULL && strtoull(cl, NULL, 10) > req->body_limit)
	{
		char detail[160];

		snprintf(detail, sizeof(detail),
				 "The archive has %s bytes; this function takes at most %zu.",
				 cl, req->body_limit);
		return reply_simple_error(req, "54Q03", "archive too large", detail,
								  "Deploy less, or ask for a larger tier.");
	}
	return MHD_YES;
}

int
handle_deploy(struct request *req)
{
	static const char SQL_DEPLOY[] =
		"SELECT pg_catalog.row_to_json(v)::text FROM cpub_api.function_deploy("
		"\"function\" => $1, archive => $2, activate => $3) v";
	const char	  *values[3];
	int			   lengths[3] = {0, 0, 0};
	int			   formats[3] = {0, 1, 0};
	struct db_step steps[1];
	PGresult	  *res[1] = {NULL};
	const char	  *activate = request_query_arg(req, "activate");
	int			   rc;

	if (activate == NULL)
		activate = "true";
	values[0] = route_param(&req->match, "function");
	values[1] = req->body ? req->body : "";
	lengths[1] = (int) req->body_len;
	values[2] = activate;
	memset(steps, 0, sizeof(steps));
	steps[0].sql = SQL_DEPLOY;
	steps[0].nparams = 3;
	steps[0].values = values;
	steps[0].lengths = lengths;
	steps[0].formats = formats;
	if (call_run(req, steps, 1, res) != 0)
		return MHD_YES;
	rc = reply_json(req, req->route->status, PQgetvalue(res[0], 0, 0),
					(size_t) PQgetlength(res[0], 0, 0));
	PQclear(res[0]);
	return rc;
}
