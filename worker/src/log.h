/*
 * worker/src/log.h
 *	  The worker's log on standard error: one line per event, JSON or text
 *	  (setting log_format), with the job or execution it concerns.
 */
#ifndef WORKER_LOG_H
#define WORKER_LOG_H

#include <stdbool.h>

extern void log_init(bool json);
extern void log_error(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
extern void log_warning(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
extern void log_info(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

#endif
