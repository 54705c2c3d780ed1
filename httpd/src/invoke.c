/*
 * httpd/src/invoke.c
 *	  Invocations.
 *
 *	  ANY /fn/{owner}/{function}/{path...} hands the function the request as
 *	  it came (method, sub-path, raw query, headers, body) and gives the
 *	  caller the function's own status, headers and body.  The caller is a
 *	  developer (a platform access token), a holder of a signed invocation
 *	  key (X-Cpub-* headers), or nobody (public functions).
 *
 *	  POST /api/functions/{function}/invoke is the CLI's form: a JSON
 *	  envelope in, a JSON envelope out.
 *
 *	  Both record the execution (which enqueues its run job) in one
 *	  transaction and then, unless ?async=1 asked for a 202 with the
 *	  execution id, suspend the connection until the dispatcher hears the
 *	  execution finish or the function's timeout plus invoke_grace passes
 *	  (504).  The outcome is read with cpub_api.invocation_result, whose
 *	  argument, the execution id, is the ticket.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <sodium.h>

#include "call.h"
#include "dispatch.h"
#include "handlers.h"
#include "log.h"

#define MAX_BODY_JSON (64 * 1024 * 1024)

/* Headers that describe one hop, never passed on either way. */
static bool
hop_by_hop(const char *name)
{
	static const char *const HOP[] = {
		"connection",
		"keep-alive",
		"proxy-authenticate",
		"proxy-authorization",
		"te",
		"trailer",
		"transfer-encoding",
		"upgrade",
		"content-length",
		"host",
		"expect",
	};

	for (size_t i = 0; i < sizeof(HOP) / sizeof(HOP[0]); i++)
		if (strcasecmp(name, HOP[i]) == 0)
			return true;
	return false;
}

/* A response header the function may set: an RFC 9110 token, and none of
 * the names this server sets itself. */
static bool
header_name_ok(const char *name)
{
	if (name[0] == '\0' ||
		strspn(name, "!#$%&'*+-.^_`|~0123456789"
					 "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") !=
			strlen(name))
		return false;
	return strcasecmp(name, "x-request-id") != 0 &&
		   strncasecmp(name, "x-cpub-", 7) != 0;
}

struct header_walk
{
	json_t *obj;
	bool	strip_authorization;
};

static enum MHD_Result
collect_header(void *cls, enum MHD_ValueKind kind, const char *key,
			   const char *value)
{
	struct header_walk *w = cls;
	char				name[256];
	size_t				i;
	json_t			   *old;

	(void) kind;
	if (hop_by_hop(key) ||
		(w->strip_authorization &&
		 strcasecmp(key, MHD_HTTP_HEADER_AUTHORIZATION) == 0))
		return MHD_YES;
	for (i = 0; key[i] && i < sizeof(name) - 1; i++)
		name[i] =
			(char) ((key[i] >= 'A' && key[i] <= 'Z') ? key[i] + 32 : key[i]);
	name[i] = '\0';
	old = json_object_get(w->obj, name);
	if (old != NULL && json_is_string(old))
	{
		/* Repeated header: one value, joined as HTTP allows. */
		char *joined = NULL;

		if (asprintf(&joined, "%s%s%s", json_string_value(old),
					 strcmp(name, "cookie") == 0 ? "; " : ", ",
					 value ? value : "") >= 0)
		{
			json_object_set_new(w->obj, name, json_string(joined));
			free(joined);
		}
		return MHD_YES;
	}
	if (value != NULL)
		json_object_set_new(w->obj, name,
							json_string(value)); /* NULL: not UTF-8, skipped */
	return MHD_YES;
}

/* async_requested: ?async=1 (or true), or an X-Cpub-Async: 1 header. */
static bool
async_requested(struct request *req)
{
	const char *a = request_query_arg(req, "async");

	if (a == NULL)
		a = request_header(req, "X-Cpub-Async");
	return a != NULL && (strcmp(a, "1") == 0 || strcasecmp(a, "true") == 0);
}

/*
 * start_wait: parks req until its execution finishes (timeout_seconds of
 * the function plus invoke_grace).
 */
static void
start_wait(struct request *req, int timeout_seconds)
{
	clock_gettime(CLOCK_MONOTONIC, &req->deadline);
	req->deadline.tv_sec += timeout_seconds + config.invoke_grace;
	dispatch_wait(req);
}

/* reply_accepted: 202 with the execution id to poll. */
static int
reply_accepted(struct request *req)
{
	char				 body[256];
	char				 location[128];
	struct MHD_Response *resp;
	int					 n;

	snprintf(location, sizeof(location), "/api/invocations/%s",
			 req->execution_id);
	n = snprintf(body, sizeof(body),
				 "{\"execution_id\":\"%s\",\"status\":\"queued\","
				 "\"poll\":\"%s\"}",
				 req->execution_id, location);
	resp = MHD_create_response_from_buffer((size_t) n, body,
										   MHD_RESPMEM_MUST_COPY);
	if (resp == NULL)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
							"application/json");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION, location);
	MHD_add_response_header(resp, "X-Cpub-Execution-Id", req->execution_id);
	req->bytes = (size_t) n;
	return reply(req, resp, 202);
}

/* The outcome of one execution, as invocation_result gives it. */
struct outcome
{
	const char	  *status;
	int			   response_status;
	json_t		  *headers; /* owned */
	unsigned char *body;	/* owned (PQfreemem) */
	size_t		   body_len;
	const char	  *error_kind; /* NULL if none */
	const char	  *error_message;
	const char	  *duration_ms;
	PGresult	  *res; /* owns the strings */
};

static const char SQL_RESULT[] =
	"SELECT r.status, r.response_status, r.response_headers::text, "
	"r.error_kind, r.error_message, r.duration_ms, r.response_body "
	"FROM cpub_api.invocation_result($1) r";

static void
outcome_free(struct outcome *o)
{
	json_decref(o->headers);
	if (o->body != NULL)
		PQfreemem(o->body);
	PQclear(o->res);
	memset(o, 0, sizeof(*o));
}

/* outcome_read: reads req's execution.  Returns 0, or -1 after replying. */
static int
outcome_read(struct request *req, struct outcome *o)
{
	const char	  *values[1] = {req->execution_id};
	struct db_step step;
	PGresult	  *res[1] = {NULL};
	PGresult	  *r;

	memset(o, 0, sizeof(*o));
	memset(&step, 0, sizeof(step));
	step.sql = SQL_RESULT;
	step.nparams = 1;
	step.values = values;
	/* The ticket needs no identity: read as cpub_anon. */
	if (call_run(req, &step, 1, res) != 0)
		return -1;
	r = o->res = res[0];
	if (PQntuples(r) != 1)
	{
		reply_simple_error(req, "P0002", "execution not found", NULL, NULL);
		outcome_free(o);
		return -1;
	}
	o->status = PQgetvalue(r, 0, 0);
	o->response_status = PQgetisnull(r, 0, 1) ? 0 : atoi(PQgetvalue(r, 0, 1));
	o->headers =
		PQgetisnull(r, 0, 2) ? NULL : json_loads(PQgetvalue(r, 0, 2), 0, NULL);
	o->error_kind = PQgetisnull(r, 0, 3) ? NULL : PQgetvalue(r, 0, 3);
	o->error_message = PQgetisnull(r, 0, 4) ? NULL : PQgetvalue(r, 0, 4);
	o->duration_ms = PQgetisnull(r, 0, 5) ? NULL : PQgetvalue(r, 0, 5);
	if (!PQgetisnull(r, 0, 6))
		o->body = PQunescapeBytea((const unsigned char *) PQgetvalue(r, 0, 6),
								  &o->body_len);
	return 0;
}

static bool
outcome_finished(const struct outcome *o)
{
	return strcmp(o->status, "succeeded") == 0 ||
		   strcmp(o->status, "failed") == 0;
}

/* The error of a failed execution: its SQLSTATE-like code and message. */
static void
outcome_error(const struct outcome *o, struct db_error *err,
			  const char *execution_id)
{
	static const struct
	{
		const char *kind;
		const char *code;
		const char *message;
	} KINDS[] = {
		{"timeout", "57014", "the function timed out"},
		{"crash", "58Q01", "the function crashed"},
		{"out_of_memory", "58Q02", "the function ran out of memory"},
		{"bad_response", "58Q03", "the function gave an invalid response"},
		{"rejected", "58Q04", "the function could not be run"},
	};
	char detail[600];

	snprintf(detail, sizeof(detail), "Execution %s: %s", execution_id,
			 o->error_message ? o->error_message : "no detail");
	for (size_t i = 0; i < sizeof(KINDS) / sizeof(KINDS[0]); i++)
		if (o->error_kind != NULL && strcmp(o->error_kind, KINDS[i].kind) == 0)
		{
			db_error_set(err, KINDS[i].code, KINDS[i].message, detail,
						 "Its logs: cpub logs <function>.");
			return;
		}
	db_error_set(err, "58Q03", "the function failed", detail, NULL);
}

/* reply_still_running: 504 when the wait ran out. */
static int
reply_still_running(struct request *req, const char *status)
{
	char detail[300];
	char hint[200];

	snprintf(detail, sizeof(detail),
			 "Execution %s is still %s; the wait ended after the function's "
			 "timeout.",
			 req->execution_id, status);
	snprintf(hint, sizeof(hint), "Poll /api/invocations/%s for its outcome.",
			 req->execution_id);
	return reply_simple_error(
		req, "57014", "the function did not answer in time", detail, hint);
}

/* --- ANY /fn/{owner}/{function}/{path...} ----------------------------------- */

static const char SQL_INVOKE[] =
	"SELECT i.execution_id, i.timeout_seconds "
	"FROM cpub_api.invoke(\"owner\" => $1, \"function\" => $2, method => $3, "
	"path => $4, query => $5, headers => $6, body => $7, async => $8, "
	"key_id => $9, \"timestamp\" => $10, nonce => $11, signature => $12, "
	"target => $13) i";

/*
 * outcome_when_finished: after a waiting request woke, reads its execution.
 * Returns true with *o filled when the execution finished; otherwise it
 * replied (shutdown, an error, 504 when the wait ran out) or went back to
 * waiting (woken early, by a reconnect), *rc holds what the handler
 * returns, and *o holds nothing.
 */
static bool
outcome_when_finished(struct request *req, struct outcome *o, int *rc)
{
	*rc = MHD_YES;
	memset(o, 0, sizeof(*o));
	if (req->wake == WAKE_SHUTDOWN)
	{
		*rc = reply_simple_error(req, "57P01", "the server is shutting down",
								 NULL, "Retry; another server will answer.");
		return false;
	}
	if (outcome_read(req, o) != 0)
		return false;
	if (outcome_finished(o))
		return true;
	if (req->wake == WAKE_TIMEOUT)
		*rc = reply_still_running(req, o->status);
	else
		dispatch_wait(req);
	outcome_free(o);
	return false;
}

/* finish_fn: replies with the function's own response. */
static int
finish_fn(struct request *req)
{
	struct outcome		 o;
	struct MHD_Response *resp;
	const char			*name;
	json_t				*value;
	int					 rc;

	if (!outcome_when_finished(req, &o, &rc))
		return rc;
	if (strcmp(o.status, "failed") == 0 ||
		(o.response_status > 0 && o.response_status < 200))
	{
		struct db_error err;

		if (strcmp(o.status, "failed") == 0)
			outcome_error(&o, &err, req->execution_id);
		else
			db_error_set(
				&err, "58Q03", "the function gave an invalid response",
				"An interim (1xx) status cannot end a response.", NULL);
		outcome_free(&o);
		return reply_error(req, &err);
	}
	resp = MHD_create_response_from_buffer(
		o.body_len, o.body ? o.body : (void *) "", MHD_RESPMEM_MUST_COPY);
	if (resp == NULL)
	{
		outcome_free(&o);
		return MHD_NO;
	}
	json_object_foreach(o.headers, name, value)
	{
		if (hop_by_hop(name) || !header_name_ok(name))
			continue;
		if (json_is_string(value))
			MHD_add_response_header(resp, name, json_string_value(value));
		else if (json_is_array(value))
		{
			size_t	i;
			json_t *v;

			json_array_foreach(value, i, v) if (json_is_string(v))
				MHD_add_response_header(resp, name, json_string_value(v));
		}
	}
	MHD_add_response_header(resp, "X-Cpub-Execution-Id", req->execution_id);
	req->bytes = o.body_len;
	rc = reply(req, resp, o.response_status > 0 ? o.response_status : 200);
	outcome_free(&o);
	return rc;
}

int
handle_invoke_fn(struct request *req)
{
	const char		  *values[13];
	int				   lengths[13];
	int				   formats[13];
	struct db_step	   step;
	PGresult		  *res[1] = {NULL};
	char			  *sub = NULL;
	char			  *headers = NULL;
	const char		  *rest;
	const char		  *token = request_bearer(req);
	struct header_walk walk;
	bool			   async;
	int				   timeout;

	if (req->state == REQ_RESUMED)
		return finish_fn(req);

	walk.obj = json_object();
	walk.strip_authorization = token != NULL && strncmp(token, "cpa_", 4) == 0;
	MHD_get_connection_values(req->conn, MHD_HEADER_KIND, collect_header,
							  &walk);
	headers = json_dumps(walk.obj, JSON_COMPACT);
	json_decref(walk.obj);
	rest = route_param(&req->match, "path");
	if (asprintf(&sub, "/%s", rest ? rest : "") < 0 || headers == NULL)
	{
		free(headers);
		return MHD_NO;
	}
	async = async_requested(req);
	memset(lengths, 0, sizeof(lengths));
	memset(formats, 0, sizeof(formats));
	values[0] = route_param(&req->match, "owner");
	values[1] = route_param(&req->match, "function");
	values[2] = req->method;
	values[3] = sub;
	values[4] = req->query;
	values[5] = headers;
	values[6] = req->body ? req->body : "";
	lengths[6] = (int) req->body_len;
	formats[6] = 1;
	values[7] = async ? "true" : "false";
	values[8] = request_header(req, "X-Cpub-Key");
	values[9] = request_header(req, "X-Cpub-Timestamp");
	values[10] = request_header(req, "X-Cpub-Nonce");
	values[11] = request_header(req, "X-Cpub-Signature");
	values[12] = values[8] != NULL ? req->target : NULL;
	if (values[9] != NULL &&
		strspn(values[9], "0123456789") != strlen(values[9]))
		values[9] = "-1"; /* not a timestamp: the check refuses it (28Q07) */
	memset(&step, 0, sizeof(step));
	step.sql = SQL_INVOKE;
	step.nparams = 13;
	step.values = values;
	step.lengths = lengths;
	step.formats = formats;
	if (call_run(req, &step, 1, res) != 0)
		goto done;
	snprintf(req->execution_id, sizeof(req->execution_id), "%s",
			 PQgetvalue(res[0], 0, 0));
	timeout = atoi(PQgetvalue(res[0], 0, 1));
	PQclear(res[0]);
	free(sub);
	free(headers);
	if (async)
		return reply_accepted(req);
	start_wait(req, timeout);
	return MHD_YES;

done:
	free(sub);
	free(headers);
	return MHD_YES;
}

/* --- the JSON envelope ------------------------------------------------------- */

/*
 * envelope: {"execution_id", "status", "error_kind", "error_message",
 * "duration_ms", "response": {"status", "headers", "body" | "body_base64"}}
 * as a malloc'd string.
 */
static char *
envelope(const char *execution_id, const struct outcome *o)
{
	json_t *env = json_object();
	char   *text;

	json_object_set_new(env, "execution_id", json_string(execution_id));
	json_object_set_new(env, "status", json_string(o->status));
	json_object_set_new(env, "error_kind",
						o->error_kind ? json_string(o->error_kind)
									  : json_null());
	json_object_set_new(env, "error_message",
						o->error_message ? json_string(o->error_message)
										 : json_null());
	json_object_set_new(env, "duration_ms",
						o->duration_ms ? json_real(atof(o->duration_ms))
									   : json_null());
	if (o->response_status > 0)
	{
		json_t *resp = json_object();
		json_t *body = o->body
						   ? json_stringn((const char *) o->body, o->body_len)
						   : json_string("");

		json_object_set_new(resp, "status", json_integer(o->response_status));
		json_object_set_new(resp, "headers",
							o->headers ? json_incref(o->headers)
									   : json_object());
		if (body != NULL)
			json_object_set_new(resp, "body", body);
		else
		{
			/* Not UTF-8: base64 */
			size_t len = sodium_base64_encoded_len(
				o->body_len, sodium_base64_VARIANT_ORIGINAL);
			char *b64 = malloc(len);

			if (b64 != NULL)
			{
				sodium_bin2base64(b64, len, o->body, o->body_len,
								  sodium_base64_VARIANT_ORIGINAL);
				json_object_set_new(resp, "body_base64", json_string(b64));
				free(b64);
			}
		}
		json_object_set_new(env, "response", resp);
	}
	else
		json_object_set_new(env, "response", json_null());
	text = json_dumps(env, JSON_COMPACT);
	json_decref(env);
	return text;
}

static int
reply_envelope(struct request *req, int status, struct outcome *o)
{
	char *text = envelope(req->execution_id, o);
	int	  rc;

	if (text == NULL)
		return MHD_NO;
	rc = reply_json(req, status, text, strlen(text));
	free(text);
	return rc;
}

/* finish_api: the envelope, once the execution finished. */
static int
finish_api(struct request *req)
{
	struct outcome o;
	int			   rc;

	if (!outcome_when_finished(req, &o, &rc))
		return rc;
	rc = reply_envelope(req, 200, &o);
	outcome_free(&o);
	return rc;
}

static const char SQL_FUNCTION_INVOKE[] =
	"SELECT i.execution_id, i.timeout_seconds "
	"FROM cpub_api.function_invoke(\"function\" => $1, method => $2, "
	"path => $3, query => $4, headers => $5, body => $6, async => $7) i";

int
handle_invoke_api(struct request *req)
{
	json_t		  *env = NULL;
	json_error_t   jerr;
	const char	  *values[7];
	int			   lengths[7] = {0};
	int			   formats[7] = {0};
	struct db_step step;
	PGresult	  *res[1] = {NULL};
	char		  *headers = NULL;
	unsigned char *body = NULL;
	size_t		   body_len = 0;
	json_t		  *v;
	bool		   async;
	int			   timeout;

	if (req->state == REQ_RESUMED)
		return finish_api(req);

	env = req->body_len > 0 ? json_loadb(req->body, req->body_len,
										 JSON_REJECT_DUPLICATES, &jerr)
							: json_object();
	if (env == NULL || !json_is_object(env))
	{
		json_decref(env);
		return reply_simple_error(req, "22032", "invalid JSON envelope",
								  "The body is a JSON object: method, path, "
								  "query, headers, body or body_base64, "
								  "async.",
								  NULL);
	}
	{
		const char				*key;
		json_t					*val;
		static const char *const KNOWN[] = {"method",  "path", "query",
											"headers", "body", "body_base64",
											"async"};

		json_object_foreach(env, key, val)
		{
			bool known = false;

			for (size_t i = 0; i < sizeof(KNOWN) / sizeof(KNOWN[0]); i++)
				known = known || strcmp(key, KNOWN[i]) == 0;
			if (!known)
			{
				char msg[160];

				snprintf(msg, sizeof(msg), "unknown field \"%.100s\"", key);
				json_decref(env);
				return reply_simple_error(
					req, "22023", msg, NULL,
					"The envelope takes method, path, query, headers, body or "
					"body_base64, and async.");
			}
		}
	}
	values[0] = route_param(&req->match, "function");
	v = json_object_get(env, "method");
	values[1] = json_is_string(v) ? json_string_value(v) : "POST";
	v = json_object_get(env, "path");
	values[2] = json_is_string(v) ? json_string_value(v) : "/";
	v = json_object_get(env, "query");
	values[3] = json_is_string(v) ? json_string_value(v) : "";
	v = json_object_get(env, "headers");
	if (v != NULL && !json_is_object(v))
	{
		json_decref(env);
		return reply_simple_error(req, "22023",
								  "headers must be a JSON object of strings",
								  NULL, NULL);
	}
	headers = v ? json_dumps(v, JSON_COMPACT) : strdup("{}");
	if ((v = json_object_get(env, "body_base64")) != NULL)
	{
		const char *b64 = json_string_value(v);
		size_t		cap = b64 ? strlen(b64) : 0;

		body = malloc(cap + 1);
		if (b64 == NULL || body == NULL ||
			sodium_base642bin(body, cap + 1, b64, strlen(b64), " \n",
							  &body_len, NULL,
							  sodium_base64_VARIANT_ORIGINAL) != 0)
		{
			free(body);
			free(headers);
			json_decref(env);
			return reply_simple_error(
				req, "22023", "body_base64 is not valid base64", NULL, NULL);
		}
		values[5] = (const char *) body;
		lengths[5] = (int) body_len;
	}
	else if ((v = json_object_get(env, "body")) != NULL)
	{
		if (!json_is_string(v))
		{
			free(headers);
			json_decref(env);
			return reply_simple_error(req, "22023", "body must be a string",
									  "Send JSON as a string, or bytes as "
									  "body_base64.",
									  NULL);
		}
		values[5] = json_string_value(v);
		lengths[5] = (int) json_string_length(v);
	}
	else
		values[5] = "";
	formats[5] = 1;
	v = json_object_get(env, "async");
	async = json_is_true(v) || async_requested(req);
	values[4] = headers;
	values[6] = async ? "true" : "false";

	memset(&step, 0, sizeof(step));
	step.sql = SQL_FUNCTION_INVOKE;
	step.nparams = 7;
	step.values = values;
	step.lengths = lengths;
	step.formats = formats;
	if (call_run(req, &step, 1, res) == 0)
	{
		snprintf(req->execution_id, sizeof(req->execution_id), "%s",
				 PQgetvalue(res[0], 0, 0));
		timeout = atoi(PQgetvalue(res[0], 0, 1));
		PQclear(res[0]);
		if (async)
		{
			free(body);
			free(headers);
			json_decref(env);
			return reply_accepted(req);
		}
		start_wait(req, timeout);
	}
	free(body);
	free(headers);
	json_decref(env);
	return MHD_YES;
}

/* --- GET /api/invocations/{execution_id} --------------------------------------- */

int
handle_invocation_get(struct request *req)
{
	struct outcome o;
	const char	  *id = route_param(&req->match, "execution_id");
	int			   rc;

	snprintf(req->execution_id, sizeof(req->execution_id), "%s", id ? id : "");
	if (outcome_read(req, &o) != 0)
		return MHD_YES;
	rc = reply_envelope(req, 200, &o);
	outcome_free(&o);
	return rc;
}
