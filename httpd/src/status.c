/*
 * httpd/src/status.c
 *	  The operations routes: /health (the process answers), /ready (the
 *	  database answers, the SQL API is read and the dispatcher listens),
 *	  /metrics (Prometheus) and /api/openapi.json.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "catalog.h"
#include "dispatch.h"
#include "handlers.h"
#include "log.h"
#include "metrics.h"
#include "openapi.h"
#include "server.h"

int
handle_health(struct request *req)
{
	static const char BODY[] = "{\"status\":\"up\"}";

	return reply_json(req, 200, BODY, sizeof(BODY) - 1);
}

int
handle_ready(struct request *req)
{
	static const char BODY[] = "{\"status\":\"ready\"}";
	struct db_error	  err;
	struct dbconn	 *c = pool_acquire(&err);
	struct db_step	  step;
	PGresult		 *res[1];
	int				  failed;

	if (c == NULL)
		return reply_error(req, &err);
	memset(&step, 0, sizeof(step));
	step.sql = "SELECT 1";
	if (db_run(c, &step, 1, res, &err, &failed) != 0)
	{
		pool_release(c);
		return reply_error(req, &err);
	}
	PQclear(res[0]);
	if (!catalog_loaded() && catalog_load(dbconn_pg(c)) != 0)
	{
		pool_release(c);
		return reply_simple_error(
			req, "08006", "not ready",
			"The SQL API of the database does not match "
			"this server (see its log).",
			"Install the current containerpub extension.");
	}
	pool_release(c);
	if (!dispatch_listening())
		return reply_simple_error(req, "08006", "not ready",
								  "The dispatcher is not listening for "
								  "finished executions yet.",
								  "Retry in a moment.");
	return reply_json(req, 200, BODY, sizeof(BODY) - 1);
}

/* executions_now: rows of cpub_admin.execution_counts(), or NULL. */
static json_t *
executions_now(void)
{
	struct db_error err;
	struct dbconn  *c = pool_acquire(&err);
	struct db_step	steps[2];
	PGresult	   *res[2];
	int				failed;
	json_t		   *rows = NULL;

	if (c == NULL)
		return NULL;
	memset(steps, 0, sizeof(steps));
	steps[0].sql =
		"SELECT pg_catalog.set_config('role', 'cpub_admin_viewer', true)";
	steps[1].sql = "SELECT coalesce(pg_catalog.json_agg(c), '[]')::text "
				   "FROM cpub_admin.execution_counts() c";
	if (db_run(c, steps, 2, res, &err, &failed) == 0)
	{
		rows = json_loads(PQgetvalue(res[1], 0, 0), 0, NULL);
		PQclear(res[0]);
		PQclear(res[1]);
	}
	else
		log_error("metrics: could not count executions: %s %s", err.sqlstate,
				  err.message);
	pool_release(c);
	return rows;
}

int
handle_metrics(struct request *req)
{
	struct MHD_Response *resp;
	json_t				*rows;
	char				*text;

	if (config.metrics_token != NULL)
	{
		const char *t = request_bearer(req);

		if (t == NULL || strlen(t) != strlen(config.metrics_token) ||
			sodium_memcmp(t, config.metrics_token, strlen(t)) != 0)
			return reply_simple_error(req, "28000", "metrics token required",
									  NULL,
									  "Send \"Authorization: Bearer <the "
									  "metrics_token setting>\".");
	}
	rows = executions_now();
	text = metrics_render(rows, rows != NULL);
	json_decref(rows);
	if (text == NULL)
		return MHD_NO;
	req->bytes = strlen(text);
	resp = MHD_create_response_from_buffer(strlen(text), text,
										   MHD_RESPMEM_MUST_FREE);
	if (resp == NULL)
	{
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
							"text/plain; version=0.0.4");
	return reply(req, resp, 200);
}

int
handle_openapi(struct request *req)
{
	char *doc;
	int	  rc;

	{
		struct db_error err;

		if (catalog_ensure(&err) != 0)
			return reply_error(req, &err);
	}
	doc = openapi_render();
	if (doc == NULL)
		return reply_simple_error(
			req, "XX000", "could not build the OpenAPI document", NULL, NULL);
	rc = reply_json(req, 200, doc, strlen(doc));
	free(doc);
	return rc;
}
