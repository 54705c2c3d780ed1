/*
 * worker/src/db.c
 *	  Connections, statements and pipelines (db.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db.h"
#include "log.h"

static void
error_from_result(PGconn *conn, const PGresult *r, struct db_error *err)
{
	const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
	const char *msg =
		r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	const char *detail =
		r ? PQresultErrorField(r, PG_DIAG_MESSAGE_DETAIL) : NULL;

	snprintf(err->sqlstate, sizeof(err->sqlstate), "%s", state ? state : "");
	if (msg == NULL)
		msg = PQerrorMessage(conn);
	snprintf(err->message, sizeof(err->message), "%s%s%s", msg,
			 detail ? " " : "", detail ? detail : "");
	/* libpq's own messages end in a newline. */
	err->message[strcspn(err->message, "\n")] = '\0';
}

static void
sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

PGconn *
db_connect(const char *conninfo, const char *application_name,
		   const char *const *prepare, volatile bool *stop)
{
	const char *keys[] = {"dbname", "application_name", NULL};
	const char *values[] = {conninfo, application_name, NULL};
	long		backoff = 100;
	bool		reported = false;

	while (!*stop)
	{
		/* expand_dbname: conninfo is a whole connection string. */
		PGconn *conn = PQconnectdbParams(keys, values, 1);
		bool	ok = PQstatus(conn) == CONNECTION_OK;

		for (const char *const *p = prepare; ok && p && p[0]; p += 2)
		{
			PGresult *r = PQprepare(conn, p[0], p[1], 0, NULL);

			if (PQresultStatus(r) != PGRES_COMMAND_OK)
			{
				log_error("could not prepare %s: %s", p[0],
						  PQresultErrorMessage(r));
				ok = false;
			}
			PQclear(r);
		}
		if (ok)
		{
			if (reported)
				log_info("connected to the database again (%s)",
						 application_name);
			return conn;
		}
		if (!reported)
		{
			char msg[512];

			snprintf(msg, sizeof(msg), "%s", PQerrorMessage(conn));
			msg[strcspn(msg, "\n")] = '\0';
			log_error("cannot connect to the database (%s): %s; retrying",
					  application_name, msg);
			reported = true;
		}
		PQfinish(conn);
		sleep_ms(backoff);
		backoff = backoff * 2 > 5000 ? 5000 : backoff * 2;
	}
	return NULL;
}

static int
send_stmt(PGconn *conn, const struct db_stmt *s)
{
	if (s->name != NULL)
		return PQsendQueryPrepared(conn, s->name, s->nparams, s->values,
								   s->lengths, s->formats, 0);
	return PQsendQueryParams(conn, s->sql, s->nparams, NULL, s->values,
							 s->lengths, s->formats, 0);
}

PGresult *
db_exec(PGconn *conn, const struct db_stmt *stmt, struct db_error *err)
{
	PGresult *r;

	if (stmt->name != NULL)
		r = PQexecPrepared(conn, stmt->name, stmt->nparams, stmt->values,
						   stmt->lengths, stmt->formats, 0);
	else
		r = PQexecParams(conn, stmt->sql, stmt->nparams, NULL, stmt->values,
						 stmt->lengths, stmt->formats, 0);
	if (PQresultStatus(r) == PGRES_TUPLES_OK ||
		PQresultStatus(r) == PGRES_COMMAND_OK)
		return r;
	error_from_result(conn, r, err);
	PQclear(r);
	return NULL;
}

int
db_pipeline(PGconn *conn, int n, const struct db_stmt *stmts,
			PGresult **results, struct db_error *err)
{
	int failed = -1;

	for (int i = 0; i < n; i++)
		results[i] = NULL;
	if (!PQenterPipelineMode(conn))
	{
		error_from_result(conn, NULL, err);
		return n;
	}
	for (int i = 0; i < n; i++)
		if (!send_stmt(conn, &stmts[i]))
		{
			error_from_result(conn, NULL, err);
			failed = n;
			break;
		}
	if (failed < 0 && !PQpipelineSync(conn))
	{
		error_from_result(conn, NULL, err);
		failed = n;
	}
	if (failed < 0)
	{
		/* Each statement's result then a NULL; then the sync. */
		for (int i = 0; i < n; i++)
		{
			PGresult	  *r = PQgetResult(conn);
			ExecStatusType st = PQresultStatus(r);

			if (r == NULL)
			{
				error_from_result(conn, NULL, err);
				failed = n;
				break;
			}
			if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK)
				results[i] = r;
			else
			{
				if (failed < 0)
				{
					failed = st == PGRES_PIPELINE_ABORTED ? n : i;
					error_from_result(conn, r, err);
				}
				PQclear(r);
			}
			while ((r = PQgetResult(conn)) != NULL)
				PQclear(r);
		}
		if (failed != n || PQstatus(conn) == CONNECTION_OK)
		{
			PGresult *r = PQgetResult(conn);

			if (PQresultStatus(r) != PGRES_PIPELINE_SYNC && failed < 0)
			{
				error_from_result(conn, r, err);
				failed = n;
			}
			PQclear(r);
		}
	}
	PQexitPipelineMode(conn);
	if (failed >= 0)
		for (int i = 0; i < n; i++)
		{
			PQclear(results[i]);
			results[i] = NULL;
		}
	return failed;
}

bool
db_broken(PGconn *conn)
{
	return conn == NULL || PQstatus(conn) != CONNECTION_OK;
}

bool
db_is(const struct db_error *err, const char *sqlstate)
{
	return strcmp(err->sqlstate, sqlstate) == 0;
}
