/*
 * httpd/src/pool.c
 *	  A fixed-size pool of libpq connections as cpub_httpd, and the pipeline
 *	  that runs one request's statements.
 *
 *	  Connections are opened on first use and reopened when found broken
 *	  (PostgreSQL restarted); while PostgreSQL cannot be reached, acquiring
 *	  fails at once with 08006 for a short back-off instead of every request
 *	  waiting for its own connect timeout.  Each connection keeps the
 *	  statements it has prepared (a small hash of SQL text to name), so a
 *	  statement is parsed and planned once per connection: the first
 *	  request that uses it sends Parse in the same pipeline.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "pool.h"

#define STMT_SLOTS		1024 /* per connection; a power of two */
#define CONNECT_BACKOFF 500	 /* ms after a failed connect */
#define MAX_PIPELINE	16

struct stmt
{
	uint64_t hash;
	char	*sql;
	char	 name[16];
};

struct dbconn
{
	PGconn		*conn;
	bool		 in_use;
	unsigned	 next_stmt;
	unsigned	 nstmts;
	struct stmt *stmts; /* STMT_SLOTS */
};

static struct
{
	pthread_mutex_t	   lock;
	pthread_cond_t	   freed;
	struct dbconn	  *conns;
	int				   size;
	int				   in_use;
	int				   waiting;
	int				   wait_ms;
	char			  *conninfo;
	char			   session_sql[256];
	struct timespec	   failed_at; /* last failed connect */
	unsigned long long acquired;
	unsigned long long timeouts;
	unsigned long long connect_failures;
} pool = {.lock = PTHREAD_MUTEX_INITIALIZER,
		  .freed = PTHREAD_COND_INITIALIZER};

void
db_error_set(struct db_error *err, const char *sqlstate, const char *message,
			 const char *detail, const char *hint)
{
	snprintf(err->sqlstate, sizeof(err->sqlstate), "%s", sqlstate);
	snprintf(err->message, sizeof(err->message), "%s", message);
	snprintf(err->detail, sizeof(err->detail), "%s", detail ? detail : "");
	snprintf(err->hint, sizeof(err->hint), "%s", hint ? hint : "");
}

void
db_notice(void *arg, const char *message)
{
	(void) arg;
	log_info("database: %s", message);
}

static long
ms_since(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - t->tv_sec) * 1000 +
		   (now.tv_nsec - t->tv_nsec) / 1000000;
}

int
pool_init(const char *conninfo, int size, int wait_ms,
		  int statement_timeout_ms)
{
	pool.conns = calloc((size_t) size, sizeof(struct dbconn));
	pool.conninfo = strdup(conninfo);
	if (pool.conns == NULL || pool.conninfo == NULL)
		return -1;
	pool.size = size;
	pool.wait_ms = wait_ms;
	snprintf(pool.session_sql, sizeof(pool.session_sql),
			 "SET statement_timeout = %d; SET application_name = "
			 "'cpub-httpd'; SET lock_timeout = %d",
			 statement_timeout_ms, statement_timeout_ms);
	return 0;
}

static void
dbconn_forget_statements(struct dbconn *c)
{
	if (c->stmts != NULL)
		for (unsigned i = 0; i < STMT_SLOTS; i++)
			free(c->stmts[i].sql);
	free(c->stmts);
	c->stmts = NULL;
	c->nstmts = 0;
}

static void
dbconn_close(struct dbconn *c)
{
	if (c->conn != NULL)
		PQfinish(c->conn);
	c->conn = NULL;
	dbconn_forget_statements(c);
}

void
pool_shutdown(void)
{
	for (int i = 0; i < pool.size; i++)
		dbconn_close(&pool.conns[i]);
	free(pool.conns);
	free(pool.conninfo);
	pool.conns = NULL;
	pool.conninfo = NULL;
}

/*
 * dbconn_open: connects c (closing what was there).  Returns 0 or -1 with
 * *err set.  Called without the pool lock.
 */
static int
dbconn_open(struct dbconn *c, struct db_error *err)
{
	const char *keys[] = {"dbname", "connect_timeout", NULL};
	const char *vals[] = {pool.conninfo, "3", NULL};
	PGresult   *res;

	dbconn_close(c);
	c->conn = PQconnectdbParams(keys, vals, 1);
	if (c->conn != NULL)
		PQsetNoticeProcessor(c->conn, db_notice, NULL);
	if (c->conn == NULL || PQstatus(c->conn) != CONNECTION_OK)
	{
		log_error("could not connect to the database: %s",
				  c->conn ? PQerrorMessage(c->conn) : "out of memory");
		goto fail;
	}
	res = PQexec(c->conn, pool.session_sql);
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
	{
		log_error("could not set up a database session: %s",
				  PQerrorMessage(c->conn));
		PQclear(res);
		goto fail;
	}
	PQclear(res);
	c->stmts = calloc(STMT_SLOTS, sizeof(struct stmt));
	if (c->stmts == NULL)
		goto fail;
	return 0;

fail:
	dbconn_close(c);
	db_error_set(err, "08006", "the database is unavailable",
				 "The server could not connect to PostgreSQL.",
				 "Retry in a moment.");
	return -1;
}

/*
 * dbconn_idle_ok: whether an idle connection is still usable.  An idle
 * session is sent nothing unless it is ending (FATAL 57P01 and end of file
 * when PostgreSQL shuts down), so anything to read means it is gone: one
 * poll(2) that does not wait.
 */
static bool
dbconn_idle_ok(struct dbconn *c)
{
	struct pollfd pfd = {.fd = PQsocket(c->conn), .events = POLLIN};

	if (PQstatus(c->conn) != CONNECTION_OK || pfd.fd < 0)
		return false;
	return poll(&pfd, 1, 0) == 0;
}

struct dbconn *
pool_acquire(struct db_error *err)
{
	struct dbconn  *c = NULL;
	struct timespec deadline;

	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += pool.wait_ms / 1000;
	deadline.tv_nsec += (long) (pool.wait_ms % 1000) * 1000000;
	if (deadline.tv_nsec >= 1000000000)
	{
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000;
	}

	pthread_mutex_lock(&pool.lock);
	for (;;)
	{
		struct dbconn *unopened = NULL;

		for (int i = 0; i < pool.size; i++)
		{
			if (pool.conns[i].in_use)
				continue;
			if (pool.conns[i].conn != NULL)
			{
				c = &pool.conns[i];
				break;
			}
			if (unopened == NULL)
				unopened = &pool.conns[i];
		}
		if (c == NULL)
			c = unopened;
		if (c != NULL)
			break;
		pool.waiting++;
		if (pthread_cond_timedwait(&pool.freed, &pool.lock, &deadline) ==
			ETIMEDOUT)
		{
			pool.waiting--;
			pool.timeouts++;
			pthread_mutex_unlock(&pool.lock);
			db_error_set(err, "53300", "the server is busy",
						 "Every database connection stayed in use.",
						 "Retry in a moment.");
			return NULL;
		}
		pool.waiting--;
	}
	c->in_use = true;
	pool.in_use++;
	pool.acquired++;
	pthread_mutex_unlock(&pool.lock);

	if (c->conn != NULL && !dbconn_idle_ok(c))
		dbconn_close(c);
	if (c->conn == NULL)
	{
		bool backoff;

		pthread_mutex_lock(&pool.lock);
		backoff = pool.failed_at.tv_sec != 0 &&
				  ms_since(&pool.failed_at) < CONNECT_BACKOFF;
		pthread_mutex_unlock(&pool.lock);
		if (backoff)
			db_error_set(err, "08006", "the database is unavailable",
						 "The server could not connect to PostgreSQL.",
						 "Retry in a moment.");
		if (backoff || dbconn_open(c, err) != 0)
		{
			pthread_mutex_lock(&pool.lock);
			if (!backoff)
			{
				clock_gettime(CLOCK_MONOTONIC, &pool.failed_at);
				pool.connect_failures++;
			}
			pthread_mutex_unlock(&pool.lock);
			pool_release(c);
			return NULL;
		}
		pthread_mutex_lock(&pool.lock);
		pool.failed_at.tv_sec = 0;
		pthread_mutex_unlock(&pool.lock);
	}
	return c;
}

void
pool_release(struct dbconn *c)
{
	pthread_mutex_lock(&pool.lock);
	c->in_use = false;
	pool.in_use--;
	pthread_cond_signal(&pool.freed);
	pthread_mutex_unlock(&pool.lock);
}

void
pool_get_stats(struct pool_stats *out)
{
	pthread_mutex_lock(&pool.lock);
	out->size = pool.size;
	out->open = 0;
	for (int i = 0; i < pool.size; i++)
		if (pool.conns[i].conn != NULL)
			out->open++;
	out->in_use = pool.in_use;
	out->waiting = pool.waiting;
	out->acquired = pool.acquired;
	out->timeouts = pool.timeouts;
	out->connect_failures = pool.connect_failures;
	pthread_mutex_unlock(&pool.lock);
}

PGconn *
dbconn_pg(struct dbconn *c)
{
	return c->conn;
}

/* FNV-1a, for the statement cache. */
static uint64_t
sql_hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *s; s++)
	{
		h ^= (unsigned char) *s;
		h *= 1099511628211ULL;
	}
	return h;
}

/*
 * stmt_lookup: the slot of sql in c's cache; *found says whether it is
 * prepared there.  NULL when the cache is full (run it unnamed).
 */
static struct stmt *
stmt_lookup(struct dbconn *c, const char *sql, bool *found)
{
	uint64_t h = sql_hash(sql);

	for (unsigned i = 0; i < STMT_SLOTS; i++)
	{
		struct stmt *s = &c->stmts[(h + i) & (STMT_SLOTS - 1)];

		if (s->sql == NULL)
		{
			*found = false;
			return c->nstmts < STMT_SLOTS / 2 ? s : NULL;
		}
		if (s->hash == h && strcmp(s->sql, sql) == 0)
		{
			*found = true;
			return s;
		}
	}
	*found = false;
	return NULL;
}

static void
error_from_result(struct db_error *err, const PGresult *res, PGconn *conn)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *msg =
		res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	const char *severity =
		res ? PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED) : NULL;
	bool fatal = severity != NULL && (strcmp(severity, "FATAL") == 0 ||
									  strcmp(severity, "PANIC") == 0);

	if (state == NULL || fatal || PQstatus(conn) != CONNECTION_OK)
	{
		/*
		 * No SQLSTATE: the connection broke under us.  A FATAL error
		 * (57P01 when PostgreSQL shuts down) ends the session too, though
		 * libpq may not have seen the socket close yet.
		 */
		db_error_set(err, "08006", "the database is unavailable",
					 "The connection to PostgreSQL was lost.",
					 "Retry in a moment.");
		if (msg == NULL)
			msg = PQerrorMessage(conn);
		log_error("database connection lost: %s", msg ? msg : "");
		return;
	}
	db_error_set(err, state, msg ? msg : "",
				 PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL),
				 PQresultErrorField(res, PG_DIAG_MESSAGE_HINT));
}

int
db_run(struct dbconn *c, const struct db_step *steps, int n,
	   PGresult **results, struct db_error *err, int *failed_step)
{
	PGconn		*conn = c->conn;
	struct stmt *pending[MAX_PIPELINE]; /* prepared in this pipeline */
	bool		 prepared_here[MAX_PIPELINE];
	char		 names[MAX_PIPELINE][16]; /* their names, cached on success */
	int			 rc = -1;
	int			 got_error = -1;

	*failed_step = -1;
	for (int i = 0; i < n; i++)
		results[i] = NULL;
	if (n > MAX_PIPELINE || PQenterPipelineMode(conn) != 1)
	{
		error_from_result(err, NULL, conn);
		goto broken;
	}

	for (int i = 0; i < n; i++)
	{
		const struct db_step *s = &steps[i];
		bool				  found = false;
		struct stmt			 *st = stmt_lookup(c, s->sql, &found);
		int					  ok;

		pending[i] = NULL;
		prepared_here[i] = false;
		if (st != NULL && !found)
		{
			snprintf(names[i], sizeof(names[i]), "h%u", c->next_stmt++);
			if (PQsendPrepare(conn, names[i], s->sql, s->nparams, s->types) !=
				1)
				goto send_failed;
			pending[i] = st;
			prepared_here[i] = true;
		}
		if (st != NULL)
			ok = PQsendQueryPrepared(
				conn, prepared_here[i] ? names[i] : st->name, s->nparams,
				s->values, s->lengths, s->formats, s->result_format);
		else
			ok = PQsendQueryParams(conn, s->sql, s->nparams, s->types,
								   s->values, s->lengths, s->formats,
								   s->result_format);
		if (ok != 1)
			goto send_failed;
	}
	if (PQpipelineSync(conn) != 1)
		goto send_failed;

	/* Read: per step, [the Parse's result, NULL], the result, NULL; then
	 * the Sync. */
	for (int i = 0; i < n; i++)
	{
		PGresult *res;

		if (prepared_here[i])
		{
			res = PQgetResult(conn);
			if (res == NULL)
				goto lost;
			if (PQresultStatus(res) == PGRES_COMMAND_OK)
			{
				/* Cached from now on, under the name it was prepared as
				 * (another step of this pipeline may have claimed the
				 * same free slot: then the first one keeps it). */
				struct stmt *st = pending[i];

				if (st->sql == NULL &&
					(st->sql = strdup(steps[i].sql)) != NULL)
				{
					st->hash = sql_hash(steps[i].sql);
					memcpy(st->name, names[i], sizeof(st->name));
					c->nstmts++;
				}
			}
			else if (got_error < 0 &&
					 PQresultStatus(res) != PGRES_PIPELINE_ABORTED)
			{
				error_from_result(err, res, conn);
				got_error = i;
			}
			PQclear(res);
			if ((res = PQgetResult(conn)) != NULL)
			{
				PQclear(res);
				goto lost;
			}
		}
		res = PQgetResult(conn);
		if (res == NULL)
			goto lost;
		switch (PQresultStatus(res))
		{
			case PGRES_TUPLES_OK:
			case PGRES_COMMAND_OK:
				results[i] = res;
				break;
			case PGRES_PIPELINE_ABORTED:
				PQclear(res);
				break;
			default:
				if (got_error < 0)
				{
					error_from_result(err, res, conn);
					got_error = i;
				}
				PQclear(res);
				if (PQstatus(conn) != CONNECTION_OK)
					goto broken;
				break;
		}
		if ((res = PQgetResult(conn)) != NULL)
		{
			PQclear(res);
			goto lost;
		}
	}
	{
		PGresult *res = PQgetResult(conn);

		if (res == NULL || PQresultStatus(res) != PGRES_PIPELINE_SYNC)
		{
			PQclear(res);
			goto lost;
		}
		PQclear(res);
	}
	if (PQexitPipelineMode(conn) != 1)
		goto lost;
	if (got_error >= 0)
	{
		*failed_step = got_error;
		goto fail;
	}
	return 0;

send_failed:
lost:
	if (got_error < 0)
		error_from_result(err, NULL, conn);
broken:
	/* Unknown protocol state: never reuse this connection. */
	log_error("database connection dropped: %s", PQerrorMessage(conn));
	dbconn_close(c);
fail:
	for (int i = 0; i < n; i++)
	{
		PQclear(results[i]);
		results[i] = NULL;
	}
	return rc;
}
