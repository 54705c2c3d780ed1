/*
 * worker/src/log.c
 *	  One line per event on standard error, in one write(2) so lines from
 *	  threads never interleave.
 */
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static bool log_json = true;

void
log_init(bool json)
{
	log_json = json;
}

static void
log_line(const char *level, const char *fmt, va_list ap)
{
	char			msg[4096];
	char			ts[40];
	struct timespec now;
	struct tm		tm;
	char		   *line = NULL;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ",
			 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
			 tm.tm_min, tm.tm_sec, now.tv_nsec / 1000000);
	if (log_json)
	{
		json_t *o = json_pack("{s:s, s:s, s:s}", "time", ts, "level", level,
							  "message", msg);
		char   *text =
			  o ? json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;

		if (text != NULL && asprintf(&line, "%s\n", text) < 0)
			line = NULL;
		free(text);
		json_decref(o);
	}
	else if (asprintf(&line, "%s %s %s\n", ts, level, msg) < 0)
		line = NULL;
	if (line != NULL)
	{
		ssize_t w = write(STDERR_FILENO, line, strlen(line));

		(void) w;
		free(line);
	}
}

#define LOG_FN(name, level)                                                   \
	void name(const char *fmt, ...)                                           \
	{                                                                         \
		va_list ap;                                                           \
		va_start(ap, fmt);                                                    \
		log_line(level, fmt, ap);                                             \
		va_end(ap);                                                           \
	}

LOG_FN(log_error, "error")
LOG_FN(log_warning, "warning")
LOG_FN(log_info, "info")
