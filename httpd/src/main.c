/*
 * httpd/src/main.c
 *	  cpub-httpd: reads the settings, starts the pool, the dispatcher and
 *	  the HTTP daemon, and stops them in order on SIGTERM or SIGINT
 *	  (in-flight requests finish; waiting invocations get 503).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "admin.h"
#include "catalog.h"
#include "dispatch.h"
#include "log.h"
#include "openapi.h"
#include "pool.h"
#include "route.h"
#include "server.h"

/* write_openapi: --openapi_out FILE.  Returns the exit status. */
static int
write_openapi(const char *path)
{
	struct db_error err;
	struct dbconn  *c = pool_acquire(&err);
	char		   *doc;
	FILE		   *f;

	if (c == NULL)
	{
		fprintf(stderr, "cpub-httpd: %s\n", err.message);
		return 1;
	}
	if (catalog_load(dbconn_pg(c)) != 0 || (doc = openapi_render()) == NULL)
	{
		pool_release(c);
		fprintf(stderr, "cpub-httpd: could not build the OpenAPI document\n");
		return 1;
	}
	pool_release(c);
	f = strcmp(path, "-") == 0 ? stdout : fopen(path, "w");
	if (f == NULL || fprintf(f, "%s\n", doc) < 0 ||
		(f != stdout && fclose(f) != 0))
	{
		fprintf(stderr, "cpub-httpd: could not write %s\n", path);
		free(doc);
		return 1;
	}
	free(doc);
	return 0;
}

int
main(int argc, char **argv)
{
	sigset_t set;
	int		 sig;
	int		 rc;

	rc = config_load(&config, argc, argv);
	if (rc != 0)
		return rc > 0 ? 0 : 2;
	if (sodium_init() < 0 || route_init() != 0)
	{
		fprintf(stderr, "cpub-httpd: could not initialize\n");
		return 1;
	}
	if (log_open(config.log_format, config.access_log) != 0)
		return 2;
	if (pool_init(config.database, config.pool_size, config.pool_wait,
				  config.statement_timeout) != 0)
		return 1;
	if (config.openapi_out != NULL)
	{
		rc = write_openapi(config.openapi_out);
		pool_shutdown();
		config_free(&config);
		return rc;
	}

	/* Signals are taken by sigwait below, in this thread only. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (admin_init(&config) != 0)
		return 2;
	if (dispatch_start(config.database) != 0 || server_start() != 0)
		return 1;
	log_info("cpub-httpd listening on %s port %d (%s, %d threads, pool of "
			 "%d)",
			 config.listen_address, config.port,
			 config.tls_cert ? "https" : "http", config.threads,
			 config.pool_size);
	/* Load the SQL API now if the database is there; else on first use. */
	{
		struct db_error err;
		struct dbconn  *c = pool_acquire(&err);

		if (c != NULL)
		{
			catalog_load(dbconn_pg(c));
			pool_release(c);
		}
	}

	sigwait(&set, &sig);
	log_info("stopping on %s", sig == SIGTERM ? "SIGTERM" : "SIGINT");
	server_stop();
	admin_shutdown();
	pool_shutdown();
	log_close();
	config_free(&config);
	return 0;
}
