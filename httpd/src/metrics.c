/*
 * httpd/src/metrics.c
 *	  Request counters by route and status, a latency histogram per route,
 *	  and the gauges /metrics adds (pool, waiting requests, executions).
 *	  Counters are plain arrays updated with atomic adds: no lock on the
 *	  request path.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch.h"
#include "metrics.h"
#include "pool.h"
#include "route.h"

#define MAX_ROUTES 128
#define NSTATUS	   600

static const double BUCKETS[] = {0.001, 0.0025, 0.005, 0.01, 0.025,
								 0.05,	0.1,	0.25,  0.5,	 1.0,
								 2.5,	5.0,	10.0,  30.0};
#define NBUCKETS (sizeof(BUCKETS) / sizeof(BUCKETS[0]))

/* Row MAX_ROUTES - 1 counts unmatched requests. */
static uint64_t by_status[MAX_ROUTES][NSTATUS];
static uint64_t histogram[MAX_ROUTES][NBUCKETS + 1];
static uint64_t sum_us[MAX_ROUTES];

void
metrics_request(const struct route *r, int status, double seconds)
{
	size_t i = r ? route_index(r) : MAX_ROUTES - 1;
	size_t b = 0;

	if (i >= MAX_ROUTES)
		i = MAX_ROUTES - 1;
	if (status < 0 || status >= NSTATUS)
		status = 0;
	__atomic_fetch_add(&by_status[i][status], 1, __ATOMIC_RELAXED);
	while (b < NBUCKETS && seconds > BUCKETS[b])
		b++;
	__atomic_fetch_add(&histogram[i][b], 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&sum_us[i], (uint64_t) (seconds * 1e6),
					   __ATOMIC_RELAXED);
}

struct buf
{
	char  *data;
	size_t len;
	size_t cap;
	bool   failed;
};

static void out(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
out(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int		n;

	if (b->failed)
		return;
	for (;;)
	{
		va_start(ap, fmt);
		n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n < 0)
		{
			b->failed = true;
			return;
		}
		if ((size_t) n < b->cap - b->len)
		{
			b->len += (size_t) n;
			return;
		}
		b->cap = b->cap * 2 + (size_t) n;
		b->data = realloc(b->data, b->cap);
		if (b->data == NULL)
		{
			b->failed = true;
			return;
		}
	}
}

/* The route label; quotes and backslashes cannot occur in our patterns. */
static const char *
label(size_t i)
{
	return i == MAX_ROUTES - 1 ? "unmatched" : route_name(&ROUTES[i]);
}

char *
metrics_render(json_t *executions, bool database_up)
{
	struct buf		  b = {.data = malloc(65536), .len = 0, .cap = 65536};
	struct pool_stats ps;

	if (b.data == NULL)
		return NULL;
	b.data[0] = '\0';
	out(&b, "# HELP cpub_http_requests_total HTTP requests by route and "
			"status.\n# TYPE cpub_http_requests_total counter\n");
	for (size_t i = 0; i < MAX_ROUTES; i++)
	{
		if (i >= NROUTES && i != MAX_ROUTES - 1)
			continue;
		for (int s = 0; s < NSTATUS; s++)
		{
			uint64_t n = __atomic_load_n(&by_status[i][s], __ATOMIC_RELAXED);

			if (n > 0)
				out(&b,
					"cpub_http_requests_total{route=\"%s\",status=\"%d\"} "
					"%llu\n",
					label(i), s, (unsigned long long) n);
		}
	}
	out(&b, "# HELP cpub_http_request_duration_seconds Time from the "
			"request line to the end of the response.\n"
			"# TYPE cpub_http_request_duration_seconds histogram\n");
	for (size_t i = 0; i < MAX_ROUTES; i++)
	{
		uint64_t cum = 0;

		if (i >= NROUTES && i != MAX_ROUTES - 1)
			continue;
		for (size_t k = 0; k <= NBUCKETS; k++)
			cum += __atomic_load_n(&histogram[i][k], __ATOMIC_RELAXED);
		if (cum == 0)
			continue;
		cum = 0;
		for (size_t k = 0; k <= NBUCKETS; k++)
		{
			cum += __atomic_load_n(&histogram[i][k], __ATOMIC_RELAXED);
			if (k < NBUCKETS)
				out(&b,
					"cpub_http_request_duration_seconds_bucket{route=\"%s\","
					"le=\"%g\"} %llu\n",
					label(i), BUCKETS[k], (unsigned long long) cum);
			else
				out(&b,
					"cpub_http_request_duration_seconds_bucket{route=\"%s\","
					"le=\"+Inf\"} %llu\n",
					label(i), (unsigned long long) cum);
		}
		out(&b,
			"cpub_http_request_duration_seconds_sum{route=\"%s\"} %.6f\n"
			"cpub_http_request_duration_seconds_count{route=\"%s\"} %llu\n",
			label(i),
			(double) __atomic_load_n(&sum_us[i], __ATOMIC_RELAXED) / 1e6,
			label(i), (unsigned long long) cum);
	}

	pool_get_stats(&ps);
	out(&b,
		"# HELP cpub_db_pool_connections Database connections of the pool.\n"
		"# TYPE cpub_db_pool_connections gauge\n"
		"cpub_db_pool_connections{state=\"size\"} %d\n"
		"cpub_db_pool_connections{state=\"open\"} %d\n"
		"cpub_db_pool_connections{state=\"in_use\"} %d\n"
		"# HELP cpub_db_pool_waiting Requests waiting for a connection.\n"
		"# TYPE cpub_db_pool_waiting gauge\n"
		"cpub_db_pool_waiting %d\n"
		"# HELP cpub_db_pool_acquired_total Connections handed out.\n"
		"# TYPE cpub_db_pool_acquired_total counter\n"
		"cpub_db_pool_acquired_total %llu\n"
		"# HELP cpub_db_pool_timeouts_total Requests refused (503) for "
		"want of a connection.\n"
		"# TYPE cpub_db_pool_timeouts_total counter\n"
		"cpub_db_pool_timeouts_total %llu\n"
		"# HELP cpub_db_connect_failures_total Failed connection attempts.\n"
		"# TYPE cpub_db_connect_failures_total counter\n"
		"cpub_db_connect_failures_total %llu\n"
		"# HELP cpub_http_waiting_requests Requests suspended until an "
		"execution finishes (or logs follow).\n"
		"# TYPE cpub_http_waiting_requests gauge\n"
		"cpub_http_waiting_requests %d\n"
		"# HELP cpub_database_up Whether the database answered this scrape.\n"
		"# TYPE cpub_database_up gauge\n"
		"cpub_database_up %d\n",
		ps.size, ps.open, ps.in_use, ps.waiting, ps.acquired, ps.timeouts,
		ps.connect_failures, dispatch_waiting(), database_up ? 1 : 0);
	if (executions != NULL)
	{
		size_t	i;
		json_t *row;

		out(&b, "# HELP cpub_executions Executions queued or running now, "
				"and finished in the last 5 minutes, by status.\n"
				"# TYPE cpub_executions gauge\n");
		json_array_foreach(executions, i, row)
		{
			out(&b, "cpub_executions{status=\"%s\"} %lld\n",
				json_string_value(json_object_get(row, "status")),
				(long long) json_integer_value(json_object_get(row, "count")));
		}
	}
	if (b.failed)
	{
		free(b.data);
		return NULL;
	}
	return b.data;
}
