/*
 * worker/src/db.h
 *	  The worker's database connections (libpq, role cpub_worker): connect
 *	  with back-off, run a statement and keep its SQLSTATE, and run a few
 *	  statements as one pipeline (one round trip, one implicit
 *	  transaction).
 */
#ifndef WORKER_DB_H
#define WORKER_DB_H

#include <libpq-fe.h>
#include <stdbool.h>

struct db_error
{
	char sqlstate[6];  /* "" when the connection itself failed */
	char message[512]; /* primary message, and the detail when there is one */
};

/* One statement of a pipeline: a prepared name, or SQL text when name is
 * NULL; formats NULL for all-text parameters.  Results in text. */
struct db_stmt
{
	const char		  *name;
	const char		  *sql;
	int				   nparams;
	const char *const *values;
	const int		  *lengths;
	const int		  *formats;
};

/*
 * db_connect: a connection to conninfo named application_name, after
 * running each of the NULL-terminated prepare[] pairs (name, sql) through
 * PQprepare.  Retries with back-off (100 ms doubling to 5 s) until it
 * works or *stop becomes true (then NULL).
 */
extern PGconn *db_connect(const char *conninfo, const char *application_name,
						  const char *const *prepare, volatile bool *stop);

/* db_exec: one statement (prepared when stmt->name is set).  Returns its
 * result (tuples or command OK), or NULL with *err filled. */
extern PGresult *db_exec(PGconn *conn, const struct db_stmt *stmt,
						 struct db_error *err);

/*
 * db_pipeline: n statements in one pipeline ending in one Sync: one round
 * trip, one implicit transaction (all or nothing).  results[i] gets each
 * one's result.  Returns -1 when all succeeded; otherwise the index of the
 * statement that failed (n for a connection failure), with *err filled,
 * the transaction rolled back and every results[i] NULL.
 */
extern int db_pipeline(PGconn *conn, int n, const struct db_stmt *stmts,
					   PGresult **results, struct db_error *err);

/* db_broken: whether conn is unusable (reconnect). */
extern bool db_broken(PGconn *conn);

/* db_is: whether err has this SQLSTATE. */
extern bool db_is(const struct db_error *err, const char *sqlstate);

#endif
