/*
 * httpd/src/openapi.c
 *	  Builds the OpenAPI 3 document from the route table and the SQL
 *	  signatures (catalog.c), so it cannot drift from what the server does.
 *	  docs/openapi.json is this output (cpub-httpd --openapi_out FILE); a
 *	  test compares the two.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "catalog.h"
#include "openapi.h"
#include "route.h"

/* schema_of: a JSON Schema for a PostgreSQL type name. */
static json_t *
schema_of(const char *type)
{
	size_t n = strlen(type);

	if (n > 2 && strcmp(type + n - 2, "[]") == 0)
		return json_pack("{s:s, s:{s:s}}", "type", "array", "items", "type",
						 "string");
	if (strcmp(type, "integer") == 0 || strcmp(type, "bigint") == 0 ||
		strcmp(type, "smallint") == 0)
		return json_pack("{s:s}", "type", "integer");
	if (strcmp(type, "double precision") == 0 || strcmp(type, "numeric") == 0)
		return json_pack("{s:s}", "type", "number");
	if (strcmp(type, "boolean") == 0)
		return json_pack("{s:s}", "type", "boolean");
	if (strcmp(type, "jsonb") == 0 || strcmp(type, "json") == 0)
		return json_pack("{s:s}", "type", "object");
	if (strcmp(type, "uuid") == 0)
		return json_pack("{s:s, s:s}", "type", "string", "format", "uuid");
	if (strncmp(type, "timestamp", 9) == 0)
		return json_pack("{s:s, s:s}", "type", "string", "format",
						 "date-time");
	return json_pack("{s:s}", "type", "string");
}

static bool
is_path_param(const struct route *r, const char *name)
{
	char pat[80];

	snprintf(pat, sizeof(pat), "{%s}", name);
	return strstr(r->pattern, pat) != NULL;
}

/* openapi_path: the pattern with "{x...}" as "{x}". */
static void
openapi_path(const char *pattern, char *out, size_t len)
{
	size_t o = 0;

	for (const char *p = pattern; *p && o + 1 < len; p++)
	{
		if (strncmp(p, "...}", 4) == 0)
			p += 3;
		out[o++] = *p;
	}
	out[o] = '\0';
}

static json_t *
error_responses(json_t *responses)
{
	json_object_set_new(responses, "default",
						json_pack("{s:s, s:{s:{s:{s:s}}}}", "description",
								  "An error (docs/errors.md)", "content",
								  "application/json", "schema", "$ref",
								  "#/components/schemas/Error"));
	return responses;
}

static json_t *
success_response(const struct route *r, const struct sqlfunc *f)
{
	json_t *schema = NULL;
	char	status[8];
	json_t *responses = json_object();

	snprintf(status, sizeof(status), "%d", r->status);
	if (f != NULL && r->handler == NULL)
	{
		if (f->result == RESULT_SET && !(r->flags & ROUTE_FIRST))
			schema = json_pack("{s:s, s:{s:s}}", "type", "array", "items",
							   "type", "object");
		else if (f->result == RESULT_SCALAR && r->result_key != NULL)
			schema =
				json_pack("{s:s, s:{s:o}}", "type", "object", "properties",
						  r->result_key, schema_of(f->resulttype));
		else if (f->result != RESULT_VOID)
			schema = json_pack("{s:s}", "type", "object");
	}
	else if (strcmp(r->method, "*") == 0)
		schema = json_pack("{s:s, s:s}", "description",
						   "The function's own response", "type", "string");
	else
		schema = json_pack("{s:s}", "type", "object");
	if (schema != NULL && r->status != 204)
		json_object_set_new(responses, status,
							json_pack("{s:s, s:{s:{s:o}}}", "description",
									  r->summary, "content",
									  "application/json", "schema", schema));
	else
	{
		json_decref(schema);
		json_object_set_new(responses, status,
							json_pack("{s:s}", "description", r->summary));
	}
	return error_responses(responses);
}

static json_t *
operation(const struct route *r, const char *method)
{
	const struct sqlfunc *f = r->sql ? catalog_get(r->sql) : NULL;
	json_t				 *op = json_object();
	json_t				 *params = json_array();
	json_t				 *props = json_object();
	json_t				 *required = json_array();
	bool in_body = strcmp(method, "post") == 0 || strcmp(method, "put") == 0 ||
				   strcmp(method, "patch") == 0;
	char opid[160];

	snprintf(opid, sizeof(opid), "%s%s%s", r->sql ? r->sql + 9 : r->pattern,
			 strcmp(r->method, "*") == 0 ? "_" : "",
			 strcmp(r->method, "*") == 0 ? method : "");
	for (char *p = opid; *p; p++)
		if (*p == '/' || *p == '.' || *p == '{' || *p == '}' || *p == '-')
			*p = '_';
	json_object_set_new(
		op, "operationId",
		json_string(strcmp(r->method, "GET") == 0 && r->sql == NULL
						? r->pattern
						: opid));
	json_object_set_new(op, "summary", json_string(r->summary));
	json_object_set_new(op, "tags", json_pack("[s]", r->tag));

	/* path parameters */
	for (const char *p = strchr(r->pattern, '{'); p; p = strchr(p + 1, '{'))
	{
		const char *e = strchr(p, '}');
		char		name[64];
		size_t		n = (size_t) (e - p - 1);

		if (n >= 4 && strncmp(e - 3, "...", 3) == 0)
			n -= 3;
		snprintf(name, sizeof(name), "%.*s", (int) n, p + 1);
		json_array_append_new(params,
							  json_pack("{s:s, s:s, s:b, s:o}", "name", name,
										"in", "path", "required", 1, "schema",
										json_pack("{s:s}", "type", "string")));
	}
	if (f != NULL && r->handler == NULL)
	{
		for (int i = 0; i < f->nargs; i++)
		{
			if (is_path_param(r, f->argname[i]))
				continue;
			if (in_body)
			{
				json_object_set_new(props, f->argname[i],
									schema_of(f->argtypename[i]));
				if (i < f->nrequired)
					json_array_append_new(required,
										  json_string(f->argname[i]));
			}
			else
				json_array_append_new(
					params,
					json_pack("{s:s, s:s, s:b, s:o}", "name", f->argname[i],
							  "in", "query", "required", i < f->nrequired,
							  "schema", schema_of(f->argtypename[i])));
		}
		if (r->flags & ROUTE_FOLLOW)
		{
			json_array_append_new(
				params, json_pack("{s:s, s:s, s:s, s:{s:s}}", "name", "follow",
								  "in", "query", "description",
								  "1: wait for new rows when there are none",
								  "schema", "type", "integer"));
			json_array_append_new(
				params,
				json_pack("{s:s, s:s, s:s, s:{s:s}}", "name", "wait", "in",
						  "query", "description", "longest wait in seconds",
						  "schema", "type", "integer"));
		}
	}
	if (r->flags & ROUTE_UPLOAD)
	{
		json_array_append_new(params, json_pack("{s:s, s:s, s:{s:s}}", "name",
												"activate", "in", "query",
												"schema", "type", "boolean"));
		json_object_set_new(op, "requestBody",
							json_pack("{s:b, s:{s:{s:{s:s, s:s}}}}",
									  "required", 1, "content",
									  "application/gzip", "schema", "type",
									  "string", "format", "binary"));
	}
	else if (r->handler != NULL && r->sql != NULL &&
			 (r->flags & ROUTE_RAW) == 0 && in_body)
	{
		/* the envelope or the refresh body */
		json_object_set_new(op, "requestBody",
							json_pack("{s:{s:{s:{s:s}}}}", "content",
									  "application/json", "schema", "type",
									  "object"));
	}
	else if (r->flags & ROUTE_RAW)
	{
		json_array_append_new(
			params, json_pack("{s:s, s:s, s:s, s:{s:s}}", "name", "async",
							  "in", "query", "description",
							  "1: answer 202 with the execution id at once",
							  "schema", "type", "integer"));
		if (in_body)
			json_object_set_new(op, "requestBody",
								json_pack("{s:{s:{s:{s:s}}}}", "content",
										  "*/*", "schema", "type", "string"));
	}
	else if (in_body && json_object_size(props) > 0)
	{
		json_t *schema =
			json_pack("{s:s, s:O}", "type", "object", "properties", props);

		if (json_array_size(required) > 0)
			json_object_set(schema, "required", required);
		json_object_set_new(op, "requestBody",
							json_pack("{s:b, s:{s:{s:o}}}", "required",
									  json_array_size(required) > 0, "content",
									  "application/json", "schema", schema));
	}
	if (json_array_size(params) > 0)
		json_object_set(op, "parameters", params);
	if (r->auth == AUTH_DEVELOPER)
		json_object_set_new(op, "security", json_pack("[{s:[]}]", "bearer"));
	else if (r->auth == AUTH_ADMIN)
		json_object_set_new(op, "security",
							json_pack("[{s:[]}]", "adminBearer"));
	else if (r->auth == AUTH_OPTIONAL)
		json_object_set_new(op, "security",
							json_pack("[{}, {s:[]}, {s:[], s:[], s:[], s:[]}]",
									  "bearer", "invocationKey",
									  "invocationTimestamp", "invocationNonce",
									  "invocationSignature"));
	json_object_set_new(op, "responses", success_response(r, f));
	json_decref(params);
	json_decref(props);
	json_decref(required);
	return op;
}

char *
openapi_render(void)
{
	json_t *doc, *paths;
	char   *text;

	if (!catalog_loaded())
		return NULL;
	paths = json_object();
	for (size_t i = 0; i < NROUTES; i++)
	{
		const struct route *r = &ROUTES[i];
		char				path[256];
		json_t			   *item;

		openapi_path(r->pattern, path, sizeof(path));
		item = json_object_get(paths, path);
		if (item == NULL)
		{
			item = json_object();
			json_object_set_new(paths, path, item);
		}
		if (strcmp(r->method, "*") == 0)
		{
			static const char *const ANY[] = {"get", "post", "put", "patch",
											  "delete"};

			for (size_t k = 0; k < sizeof(ANY) / sizeof(ANY[0]); k++)
				json_object_set_new(item, ANY[k], operation(r, ANY[k]));
		}
		else
		{
			char   m[16];
			size_t k;

			for (k = 0; r->method[k] && k < sizeof(m) - 1; k++)
				m[k] = (char) (r->method[k] | 0x20);
			m[k] = '\0';
			json_object_set_new(item, m, operation(r, m));
		}
	}
	doc = json_pack(
		"{s:s, s:{s:s, s:s, s:s}, s:o, s:{s:{s:{s:s, s:s}, s:{s:s, s:s, s:s}, "
		"s:{s:s, s:s, s:s}, s:{s:s, s:s, s:s}, s:{s:s, s:s, s:s}}, "
		"s:{s:{s:s, s:[s], s:{s:{s:s, s:[s, s, s, s, s], "
		"s:{s:{s:s}, s:{s:s}, s:{s:[s, s]}, s:{s:[s, s]}, s:{s:s}}}}}}}}",
		"openapi", "3.1.0", "info", "title", "ContainerPub API", "version",
		"0.1", "description",
		"The developer and admin APIs of ContainerPub: every route calls one "
		"SQL function of the containerpub extension (README.md, "
		"docs/http-api.md, docs/admin-api.md).",
		"paths", paths, "components", "securitySchemes", "bearer", "type",
		"http", "scheme", "bearer", "invocationKey", "type", "apiKey", "in",
		"header", "name", "X-Cpub-Key", "invocationTimestamp", "type",
		"apiKey", "in", "header", "name", "X-Cpub-Timestamp",
		"invocationNonce", "type", "apiKey", "in", "header", "name",
		"X-Cpub-Nonce", "invocationSignature", "type", "apiKey", "in",
		"header", "name", "X-Cpub-Signature", "schemas", "Error", "type",
		"object", "required", "error", "properties", "error", "type", "object",
		"required", "code", "message", "detail", "hint", "request_id",
		"properties", "code", "type", "string", "message", "type", "string",
		"detail", "type", "string", "null", "hint", "type", "string", "null",
		"request_id", "type", "string");
	if (doc == NULL)
		return NULL;
	json_object_set_new(
		json_object_get(json_object_get(doc, "components"), "securitySchemes"),
		"adminBearer",
		json_pack("{s:s, s:s, s:s, s:s}", "type", "http", "scheme", "bearer",
				  "bearerFormat", "JWT", "description",
				  "An admin's access token from the OpenID Connect provider "
				  "(admin_oidc_issuer): a JWT, or an opaque token checked by "
				  "introspection; its role full_admin or viewer."));
	text = json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS);
	json_decref(doc);
	return text;
}
