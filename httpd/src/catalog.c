/*
 * httpd/src/catalog.c
 *	  Reads, once, the signatures of the SQL functions in the route table:
 *	  their input arguments (name, type, whether defaulted) and the shape
 *	  of their result.  So the route table names a function and nothing
 *	  else: the arguments a route accepts are the function's own, and the
 *	  OpenAPI document lists them from here.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "log.h"
#include "pool.h"
#include "route.h"

#define MAX_FUNCS 256

static pthread_mutex_t catalog_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sqlfunc  funcs[MAX_FUNCS];
static int			   nfuncs;
static atomic_bool	   loaded; /* release after funcs are written */

/* One row per input argument (or one row with a NULL position for a
 * function without arguments). */
static const char CATALOG_SQL[] =
	"SELECT n.nspname || '.' || p.proname, p.proretset, "
	"       p.prorettype = 'pg_catalog.void'::pg_catalog.regtype, t.typtype, "
	"       pg_catalog.format_type(p.prorettype, NULL), p.pronargs, "
	"       p.pronargdefaults, a.ord, a.nm, a.typ, "
	"       pg_catalog.format_type(a.typ, NULL) "
	"  FROM pg_catalog.pg_proc p "
	"  JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace "
	"  JOIN pg_catalog.pg_type t ON t.oid = p.prorettype "
	"  LEFT JOIN LATERAL ( "
	"       SELECT pg_catalog.row_number() OVER (ORDER BY u.o) AS ord, "
	"              u.nm, u.typ "
	"         FROM ROWS FROM ( "
	"                pg_catalog.unnest(coalesce(p.proallargtypes, "
	"                                  p.proargtypes::pg_catalog.oid[])), "
	"                pg_catalog.unnest(coalesce(p.proargmodes, "
	"                     pg_catalog.array_fill('i'::\"char\", "
	"                                           ARRAY[p.pronargs::int]))), "
	"                pg_catalog.unnest(coalesce(p.proargnames, "
	"                     pg_catalog.array_fill(''::text, "
	"                                           ARRAY[p.pronargs::int])))) "
	"              WITH ORDINALITY AS u(typ, md, nm, o) "
	"        WHERE u.md IN ('i', 'b', 'v')) a ON true "
	" WHERE n.nspname || '.' || p.proname = ANY ($1::text[]) "
	" ORDER BY 1, a.ord";

bool
catalog_loaded(void)
{
	return atomic_load_explicit(&loaded, memory_order_acquire);
}

const struct sqlfunc *
catalog_get(const char *name)
{
	if (!catalog_loaded())
		return NULL;
	for (int i = 0; i < nfuncs; i++)
		if (strcmp(funcs[i].name, name) == 0)
			return &funcs[i];
	return NULL;
}

int
catalog_arg(const struct sqlfunc *f, const char *name)
{
	for (int i = 0; i < f->nargs; i++)
		if (strcmp(f->argname[i], name) == 0)
			return i;
	return -1;
}

/* names: '{"cpub_api.a","cpub_api.b"}' of every routed function. */
static char *
routed_names(void)
{
	size_t len = 3;
	char  *buf, *p;

	for (size_t i = 0; i < NROUTES; i++)
		if (ROUTES[i].sql != NULL)
			len += strlen(ROUTES[i].sql) + 3;
	buf = malloc(len);
	if (buf == NULL)
		return NULL;
	p = buf;
	*p++ = '{';
	for (size_t i = 0; i < NROUTES; i++)
		if (ROUTES[i].sql != NULL)
			p +=
				sprintf(p, "%s\"%s\"", p == buf + 1 ? "" : ",", ROUTES[i].sql);
	*p++ = '}';
	*p = '\0';
	return buf;
}

int
catalog_load(PGconn *conn)
{
	char	   *names = NULL;
	const char *params[1];
	PGresult   *res = NULL;
	int			rc = -1;

	pthread_mutex_lock(&catalog_lock);
	if (loaded)
	{
		pthread_mutex_unlock(&catalog_lock);
		return 0;
	}
	names = routed_names();
	if (names == NULL)
		goto done;
	params[0] = names;
	res = PQexecParams(conn, CATALOG_SQL, 1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		log_error("could not read the SQL API's signatures: %s",
				  PQerrorMessage(conn));
		goto done;
	}
	nfuncs = 0;
	for (int row = 0; row < PQntuples(res); row++)
	{
		const char	   *fname = PQgetvalue(res, row, 0);
		struct sqlfunc *f;

		if (nfuncs > 0 && strcmp(funcs[nfuncs - 1].name, fname) == 0)
			f = &funcs[nfuncs - 1];
		else
		{
			if (nfuncs == MAX_FUNCS)
			{
				log_error("more than %d routed SQL functions (MAX_FUNCS)",
						  MAX_FUNCS);
				goto done;
			}
			f = &funcs[nfuncs++];
			memset(f, 0, sizeof(*f));
			snprintf(f->name, sizeof(f->name), "%s", fname);
			snprintf(f->resulttype, sizeof(f->resulttype), "%s",
					 PQgetvalue(res, row, 4));
			if (PQgetvalue(res, row, 1)[0] == 't')
				f->result = RESULT_SET;
			else if (PQgetvalue(res, row, 2)[0] == 't')
				f->result = RESULT_VOID;
			else if (strcmp(PQgetvalue(res, row, 3), "c") == 0 ||
					 strcmp(PQgetvalue(res, row, 3), "p") == 0)
				f->result = RESULT_ROW;
			else
				f->result = RESULT_SCALAR;
			f->nrequired =
				atoi(PQgetvalue(res, row, 5)) - atoi(PQgetvalue(res, row, 6));
		}
		if (PQgetisnull(res, row, 7))
			continue;
		if (atoi(PQgetvalue(res, row, 7)) != f->nargs + 1 ||
			f->nargs == SQLFUNC_MAX_ARGS)
		{
			log_error("function %s is overloaded or has too many arguments; "
					  "the HTTP front needs one signature",
					  fname);
			goto done;
		}
		snprintf(f->argname[f->nargs], sizeof(f->argname[0]), "%s",
				 PQgetvalue(res, row, 8));
		f->argtype[f->nargs] =
			(Oid) strtoul(PQgetvalue(res, row, 9), NULL, 10);
		snprintf(f->argtypename[f->nargs], sizeof(f->argtypename[0]), "%s",
				 PQgetvalue(res, row, 10));
		f->nargs++;
	}
	for (size_t i = 0; i < NROUTES; i++)
	{
		bool found = false;

		if (ROUTES[i].sql == NULL)
			continue;
		for (int k = 0; k < nfuncs; k++)
			found = found || strcmp(funcs[k].name, ROUTES[i].sql) == 0;
		if (!found)
		{
			log_error("the database has no function %s (is the containerpub "
					  "extension installed and current?)",
					  ROUTES[i].sql);
			goto done;
		}
	}
	atomic_store_explicit(&loaded, true, memory_order_release);
	rc = 0;

done:
	PQclear(res);
	free(names);
	pthread_mutex_unlock(&catalog_lock);
	return rc;
}

int
catalog_ensure(struct db_error *err)
{
	struct dbconn *c;

	if (catalog_loaded())
		return 0;
	c = pool_acquire(err);
	if (c == NULL)
		return -1;
	if (catalog_load(dbconn_pg(c)) != 0)
	{
		pool_release(c);
		db_error_set(err, "XX000", "the SQL API could not be read",
					 "The database's containerpub extension does not match "
					 "this server (see its log).",
					 NULL);
		return -1;
	}
	pool_release(c);
	return 0;
}

char *
catalog_call_sql(const struct sqlfunc *f, const bool *present, bool first)
{
	char   args[2048];
	size_t n = 0;
	int	   k = 0;
	char  *sql;
	int	   len;

	args[0] = '\0';
	for (int i = 0; i < f->nargs; i++)
	{
		if (!present[i])
			continue;
		k++;
		n += (size_t) snprintf(args + n, sizeof(args) - n, "%s\"%s\" => $%d",
							   k > 1 ? ", " : "", f->argname[i], k);
		if (n >= sizeof(args))
			return NULL;
	}
	switch (f->result)
	{
		case RESULT_VOID:
			len = asprintf(&sql, "SELECT %s(%s)", f->name, args);
			break;
		case RESULT_SCALAR:
			len = asprintf(&sql, "SELECT pg_catalog.to_json(%s(%s))::text",
						   f->name, args);
			break;
		case RESULT_SET:
			if (!first)
			{
				len = asprintf(&sql,
							   "SELECT coalesce(pg_catalog.json_agg(r), "
							   "'[]')::text FROM %s(%s) r",
							   f->name, args);
				break;
			}
			/* FALLTHROUGH */
		case RESULT_ROW:
		default:
			len =
				asprintf(&sql,
						 "SELECT pg_catalog.row_to_json(r)::text FROM %s(%s) "
						 "r LIMIT 1",
						 f->name, args);
			break;
	}
	return len < 0 ? NULL : sql;
}
