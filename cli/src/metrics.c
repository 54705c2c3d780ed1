/*
 * cli/src/metrics.c
 *	  metrics: a function's invocations, errors, latency percentiles and
 *	  cold starts over a period (GET .../metrics, cpub_api.metrics), and
 *	  the same per bucket (GET .../metrics/series): hours for --period 1h
 *	  and 24h, days for 7d and 30d, the only buckets the server has.
 *
 *	  On a terminal the series is drawn as two sparklines, invocations and
 *	  p99 latency, one column per bucket (Unicode blocks ▁ to █ when the
 *	  locale is UTF-8, else ASCII), with their minimum and maximum;
 *	  otherwise it is a table of the buckets.  --json prints
 *	  {"summary": the server's figures, "series": its buckets}.
 */
#include <langinfo.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "commands_fn.h"
#include "http.h"

struct period
{
	const char *name;
	long		seconds;
	const char *bucket; /* metrics_series's: hour or day */
};

static const struct period PERIODS[] = {{"1h", 3600, "hour"},
										{"24h", 86400, "hour"},
										{"7d", 7 * 86400, "day"},
										{"30d", 30 * 86400, "day"},
										{NULL, 0, NULL}};

static const char *const BLOCKS[8] = {"▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"};
static const char ASCII_BLOCKS[8] = {'_', '.', '-', ':', '=', '+', '*', '#'};

/* metrics_utf8: whether the user's locale writes UTF-8. */
static bool
metrics_utf8(void)
{
	bool utf8;

	setlocale(LC_CTYPE, "");
	utf8 = strcmp(nl_langinfo(CODESET), "UTF-8") == 0;
	setlocale(LC_CTYPE, "C");
	return utf8;
}

/* number: VALUE as a double, NAN when it is not a number (null). */
static double
number(const json_t *value)
{
	return json_is_number(value) ? json_number_value(value) : NAN;
}

/* ms_text: milliseconds as "3.1 ms" or "2.35 s", "-" for NAN, into BUF. */
static const char *
ms_text(double ms, char *buf, size_t size)
{
	if (isnan(ms))
		return "-";
	if (ms < 1000)
		snprintf(buf, size, "%.1f ms", ms);
	else
		snprintf(buf, size, "%.2f s", ms / 1000);
	return buf;
}

/* bucket_time: a bucket's start as local "2024-05-01 10:00" into BUF. */
static const char *
bucket_time(const json_t *value, char *buf, size_t size)
{
	fn_local_time(value, buf, size);
	if (strlen(buf) == 19)
		buf[16] = '\0';
	return buf;
}

/*
 * metrics_spark: one line of the chart: LABEL, then a column per bucket
 * of SERIES for its member KEY (blank where it is null), then the least
 * and greatest values, latencies when MS.
 */
static void
metrics_spark(const json_t *series, const char *label, const char *key,
			  bool ms, bool utf8)
{
	double	min = NAN;
	double	max = NAN;
	size_t	i;
	json_t *b;
	char	lo[32];
	char	hi[32];

	json_array_foreach(series, i, b)
	{
		double v = number(json_object_get(b, key));

		if (isnan(v))
			continue;
		if (isnan(min) || v < min)
			min = v;
		if (isnan(max) || v > max)
			max = v;
	}
	printf("  %-12s ", label);
	json_array_foreach(series, i, b)
	{
		double v = number(json_object_get(b, key));
		int	   level;

		if (isnan(v))
		{
			putchar(' ');
			continue;
		}
		if (max > min)
			level = (int) ((v - min) / (max - min) * 7 + 0.5);
		else
			level = v > 0 ? 3 : 0;
		if (utf8)
			fputs(BLOCKS[level], stdout);
		else
			putchar(ASCII_BLOCKS[level]);
	}
	if (isnan(min))
		printf("  no data\n");
	else if (ms)
		printf("  min %s, max %s\n", ms_text(min, lo, sizeof(lo)),
			   ms_text(max, hi, sizeof(hi)));
	else
		printf("  min %.0f, max %.0f\n", min, max);
}

/* metrics_chart: the series as sparklines, for a terminal. */
static void
metrics_chart(const json_t *series, const struct period *p)
{
	bool   utf8 = metrics_utf8();
	size_t n = json_array_size(series);
	char   first[32];
	char   last[32];

	if (n == 0)
		return;
	putchar('\n');
	metrics_spark(series, "invocations", "invocations", false, utf8);
	metrics_spark(series, "p99 latency", "p99_ms", true, utf8);
	printf(
		"  %-12s %s to %s, one column per %s\n", "",
		bucket_time(json_object_get(json_array_get(series, 0), "bucket"),
					first, sizeof(first)),
		bucket_time(json_object_get(json_array_get(series, n - 1), "bucket"),
					last, sizeof(last)),
		p->bucket);
}

/* metrics_table: the series as a table, one row per bucket. */
static void
metrics_table(const json_t *series)
{
	static const struct column columns[] = {
		{"BUCKET", "bucket"}, {"INVOCATIONS", "invocations"},
		{"ERRORS", "errors"}, {"P50", "p50"},
		{"P99", "p99"},		  {NULL, NULL}};
	json_t *shown = json_array();
	size_t	i;
	json_t *b;

	json_array_foreach(series, i, b)
	{
		char t[64];
		char p50[32];
		char p99[32];

		json_array_append_new(
			shown,
			json_pack("{s:s, s:O?, s:O?, s:s, s:s}", "bucket",
					  bucket_time(json_object_get(b, "bucket"), t, sizeof(t)),
					  "invocations", json_object_get(b, "invocations"),
					  "errors", json_object_get(b, "errors"), "p50",
					  ms_text(number(json_object_get(b, "p50_ms")), p50,
							  sizeof(p50)),
					  "p99",
					  ms_text(number(json_object_get(b, "p99_ms")), p99,
							  sizeof(p99))));
	}
	putchar('\n');
	cli_print_table(shown, columns);
	json_decref(shown);
}

/* metrics_summary: the period's figures, one per line. */
static void
metrics_summary(const json_t *m, const char *name, const struct period *p)
{
	double rate = number(json_object_get(m, "error_rate"));
	char   buf[32];

	printf("function %s, the last %s\n", name, p->name);
	printf("  %-12s %s\n", "invocations",
		   cli_text(json_object_get(m, "invocations"), buf, sizeof(buf)));
	printf("  %-12s %s", "errors",
		   cli_text(json_object_get(m, "errors"), buf, sizeof(buf)));
	if (!isnan(rate))
		printf(" (%.1f %%)", rate * 100);
	putchar('\n');
	printf("  %-12s %s\n", "p50 latency",
		   ms_text(number(json_object_get(m, "p50_ms")), buf, sizeof(buf)));
	printf("  %-12s %s\n", "p95 latency",
		   ms_text(number(json_object_get(m, "p95_ms")), buf, sizeof(buf)));
	printf("  %-12s %s\n", "p99 latency",
		   ms_text(number(json_object_get(m, "p99_ms")), buf, sizeof(buf)));
	printf("  %-12s %s\n", "cold starts",
		   cli_text(json_object_get(m, "cold_starts"), buf, sizeof(buf)));
}

int
cmd_metrics(struct cli *cli, int argc, char **argv)
{
	static const struct option options[] = {
		{"period", required_argument, NULL, 'p'}, {NULL, 0, NULL, 0}};
	const struct period *p = &PERIODS[1];
	json_t				*summary = NULL;
	json_t				*series = NULL;
	char				*path = NULL;
	char				 since[32];
	char				 until[32];
	time_t				 now = time(NULL);
	int					 c;
	int					 rc;

	while ((c = cli_getopt(cli, argc, argv, "", options)) != -1)
	{
		if (c != 'p')
			return cli_opt_exit(c);
		for (p = PERIODS; p->name && strcmp(p->name, optarg) != 0; p++)
			;
		if (!p->name)
			return cli_usage_error(
				cli, "--period is one of 1h, 24h, 7d or 30d, not %s", optarg);
	}
	rc = cli_operands(cli, argc, argv, 1, 1);
	if (rc != 0)
		return rc;
	/* Whole seconds: the period ends after this one, so that it has it. */
	fn_time_param(now + 1 - p->seconds, since, sizeof(since));
	fn_time_param(now + 1, until, sizeof(until));
	rc = 1;
	path = fn_path(argv[optind], "/metrics?since=%s&until=%s", since, until);
	if (!path)
		goto done;
	rc = api_call(cli, "GET", path, NULL, true, &summary);
	if (rc != 0)
		goto done;
	free(path);
	rc = 1;
	path = fn_path(argv[optind], "/metrics/series?bucket=%s&since=%s&until=%s",
				   p->bucket, since, until);
	if (!path)
		goto done;
	rc = api_call(cli, "GET", path, NULL, true, &series);
	if (rc != 0)
		goto done;
	if (cli->json)
	{
		json_t *shown =
			json_pack("{sOsO}", "summary", summary, "series", series);

		cli_print_json(shown);
		json_decref(shown);
		goto done;
	}
	metrics_summary(summary, argv[optind], p);
	if (isatty(STDOUT_FILENO))
		metrics_chart(series, p);
	else
		metrics_table(series);
done:
	json_decref(series);
	json_decref(summary);
	free(path);
	return rc;
}
