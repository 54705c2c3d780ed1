/*
 * httpd/src/metrics.h
 *	  Counters for /metrics (Prometheus text format).
 */
#ifndef HTTPD_METRICS_H
#define HTTPD_METRICS_H

#include <stdbool.h>

#include <jansson.h>

struct route;

/* metrics_request: counts one finished request (r NULL: unmatched). */
extern void metrics_request(const struct route *r, int status, double seconds);

/*
 * metrics_render: the whole exposition as a malloc'd string (the caller
 * frees).  executions: rows {"status", "count"} from the database, or NULL
 * when it could not be asked.
 */
extern char *metrics_render(json_t *executions, bool database_up);

#endif
