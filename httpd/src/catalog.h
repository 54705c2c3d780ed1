/*
 * httpd/src/catalog.h
 *	  The signatures of the SQL functions the routes call, read from
 *	  pg_proc, and the SQL text of a call with named arguments.
 */
#ifndef HTTPD_CATALOG_H
#define HTTPD_CATALOG_H

#include <stdbool.h>
#include <libpq-fe.h>

#define SQLFUNC_MAX_ARGS 16

enum sqlfunc_result
{
	RESULT_VOID,
	RESULT_SCALAR,
	RESULT_ROW, /* a composite or OUT parameters */
	RESULT_SET
};

struct sqlfunc
{
	char				name[128]; /* schema.function */
	int					nargs;
	int					nrequired; /* the first nrequired have no default */
	char				argname[SQLFUNC_MAX_ARGS][64];
	Oid					argtype[SQLFUNC_MAX_ARGS];
	char				argtypename[SQLFUNC_MAX_ARGS][64];
	enum sqlfunc_result result;
	char				resulttype[64];
};

/*
 * catalog_load: reads the signature of every function the route table
 * names, through conn.  Idempotent and thread-safe; returns 0 or -1
 * (logged: a function is missing or overloaded, or the query failed).
 */
extern int	catalog_load(PGconn *conn);
extern bool catalog_loaded(void);

/*
 * catalog_ensure: loads the catalog through a pooled connection unless it
 * is loaded.  Returns 0, or -1 with *err set.
 */
struct db_error;
extern int catalog_ensure(struct db_error *err);

/* catalog_get: the signature of a routed function, or NULL. */
extern const struct sqlfunc *catalog_get(const char *name);

/* catalog_arg: the index of argument name in f, or -1. */
extern int catalog_arg(const struct sqlfunc *f, const char *name);

/*
 * catalog_call_sql: the statement calling f with the arguments whose
 * present[i] is set, as $1..$n in argument order, shaped by f's result
 * (first: one row of a set).  Returns a malloc'd string (the caller frees)
 * or NULL.
 */
extern char *catalog_call_sql(const struct sqlfunc *f, const bool *present,
							  bool first);

#endif
