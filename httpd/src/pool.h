/*
 * httpd/src/pool.h
 *	  The pool of libpq connections, and how one request's statements run on
 *	  one of them: as a pipeline of prepared statements in one implicit
 *	  transaction, in one round trip.
 */
#ifndef HTTPD_POOL_H
#define HTTPD_POOL_H

#include <stdbool.h>
#include <libpq-fe.h>

/* An error from PostgreSQL, or one of ours in the same shape. */
struct db_error
{
	char sqlstate[6];
	char message[512];
	char detail[1024];
	char hint[512];
};

/* One statement of a pipeline. */
struct db_step
{
	const char		  *sql;
	int				   nparams;
	const Oid		  *types;	/* NULL: inferred */
	const char *const *values;	/* NULL entries are SQL NULL */
	const int		  *lengths; /* for binary values, else NULL */
	const int		  *formats; /* 1 = binary, NULL = all text */
	int				   result_format;
};

struct dbconn;

struct pool_stats
{
	int				   size;
	int				   open;
	int				   in_use;
	int				   waiting;
	unsigned long long acquired;
	unsigned long long timeouts;
	unsigned long long connect_failures;
};

/*
 * pool_init: sets up an empty pool of size connections to conninfo (opened
 * on demand).  wait_ms bounds pool_acquire; statement_timeout_ms is set on
 * every connection.  Returns 0 or -1.
 */
extern int	pool_init(const char *conninfo, int size, int wait_ms,
					  int statement_timeout_ms);
extern void pool_shutdown(void);

/*
 * pool_acquire: a connection for the caller alone until pool_release,
 * connected (reconnected when PostgreSQL restarted).  NULL with *err set
 * (08006 cannot connect, 53300 every connection busy past pool_wait).
 */
extern struct dbconn *pool_acquire(struct db_error *err);
extern void			  pool_release(struct dbconn *c);
extern void			  pool_get_stats(struct pool_stats *out);
extern PGconn		 *dbconn_pg(struct dbconn *c);

/*
 * db_run: runs steps[0..n) as one pipeline (one implicit transaction that
 * commits at its end; an error in any step rolls it all back).  On success
 * returns 0 and results[i] holds each step's result (the caller PQclears
 * them all).  On failure returns -1 with *err set, every result cleared,
 * and *failed_step the index of the failing step (or -1).
 */
extern int db_run(struct dbconn *c, const struct db_step *steps, int n,
				  PGresult **results, struct db_error *err, int *failed_step);

/*
 * db_notice: libpq's notice processor for our connections: PostgreSQL's
 * notices and warnings (and the FATAL of a terminated session) go to the
 * error log as one line, not bare to standard error.
 */
extern void db_notice(void *arg, const char *message);

/* db_error_set: fills err with one of our own errors. */
extern void db_error_set(struct db_error *err, const char *sqlstate,
						 const char *message, const char *detail,
						 const char *hint);

#endif
