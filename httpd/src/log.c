/*
 * httpd/src/log.c
 *	  Writes log lines.  Each line is formatted in a local buffer and written
 *	  with one write(2), so lines from many threads never interleave (an
 *	  O_APPEND file or a pipe keeps each write whole).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "log.h"

static bool json_format = true;
static int	access_fd = -1;

int
log_open(const char *format, const char *access_log)
{
	json_format = strcmp(format, "json") == 0;
	if (strcmp(access_log, "off") == 0)
		access_fd = -1;
	else if (strcmp(access_log, "-") == 0)
		access_fd = STDOUT_FILENO;
	else
	{
		access_fd =
			open(access_log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
		if (access_fd < 0)
		{
			fprintf(stderr,
					"cpub-httpd: could not open access log \"%s\": %s\n",
					access_log, strerror(errno));
			return -1;
		}
	}
	return 0;
}

void
log_close(void)
{
	if (access_fd > STDERR_FILENO)
		close(access_fd);
	access_fd = -1;
}

/* timestamp: ISO 8601 UTC with milliseconds into buf[32]. */
static void
timestamp(char *buf, size_t len)
{
	struct timeval tv;
	struct tm	   tm;
	size_t		   n;

	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, len - n, ".%03ldZ", (long) (tv.tv_usec / 1000));
}

static void
write_line(int fd, json_t *obj, const char *text)
{
	char *line = NULL;

	if (json_format)
		line = json_dumps(obj, JSON_COMPACT | JSON_REAL_PRECISION(6));
	if (line != NULL)
	{
		size_t n = strlen(line);

		line[n] = '\n'; /* json_dumps' terminator becomes the newline */
		if (write(fd, line, n + 1) < 0)
			(void) 0;
		free(line);
	}
	else if (text != NULL)
	{
		if (write(fd, text, strlen(text)) < 0)
			(void) 0;
	}
}

static void
log_message(const char *level, const char *fmt, va_list ap)
{
	char	msg[2048];
	char	ts[32];
	char	text[2200];
	json_t *obj;
	size_t	n;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n > 0 && msg[n - 1] == '\n')
		msg[--n] = '\0';
	timestamp(ts, sizeof(ts));
	obj = json_pack("{s:s, s:s, s:s}", "time", ts, "level", level, "message",
					msg);
	snprintf(text, sizeof(text), "%s %s: %s\n", ts, level, msg);
	write_line(STDERR_FILENO, obj, text);
	json_decref(obj);
}

void
log_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_message("error", fmt, ap);
	va_end(ap);
}

void
log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_message("info", fmt, ap);
	va_end(ap);
}

void
log_access(const struct access_entry *e)
{
	char	ts[32];
	char	text[2048];
	json_t *obj;

	if (access_fd < 0)
		return;
	timestamp(ts, sizeof(ts));
	obj = json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:I, s:f, s:s}", "time",
					ts, "request_id", e->request_id, "method", e->method,
					"path", e->path, "route", e->route, "status", e->status,
					"bytes", (json_int_t) e->bytes, "duration_ms",
					e->duration_ms, "remote", e->remote);
	if (obj != NULL && e->user_id != NULL && e->user_id[0] != '\0')
		json_object_set_new(obj, "user_id", json_string(e->user_id));
	if (obj != NULL && e->error_code != NULL)
		json_object_set_new(obj, "error", json_string(e->error_code));
	snprintf(text, sizeof(text), "%s %s %s %s %d %llu %.3fms %s%s%s\n", ts,
			 e->request_id, e->method, e->path, e->status, e->bytes,
			 e->duration_ms, e->remote,
			 e->user_id && *e->user_id ? " user=" : "",
			 e->user_id ? e->user_id : "");
	write_line(access_fd, obj, text);
	json_decref(obj);
}
