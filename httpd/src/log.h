/*
 * httpd/src/log.h
 *	  The error log (standard error) and the access log, as JSON lines or
 *	  plain text (setting log_format).
 */
#ifndef HTTPD_LOG_H
#define HTTPD_LOG_H

#include <stdbool.h>

struct access_entry
{
	const char		  *request_id;
	const char		  *method;
	const char		  *path; /* without the query: it may carry secrets */
	const char		  *route;
	const char		  *user_id; /* "" for anonymous */
	const char		  *remote;
	int				   status;
	unsigned long long bytes;
	double			   duration_ms;
	const char		  *error_code; /* SQLSTATE of an error reply, or NULL */
};

/* log_open: sets the format and opens the access log (path, "-", "off").
 * Returns 0 or -1 (reported). */
extern int	log_open(const char *format, const char *access_log);
extern void log_close(void);
extern void log_error(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
extern void log_info(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
extern void log_access(const struct access_entry *e);

#endif
