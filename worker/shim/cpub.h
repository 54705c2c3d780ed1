/*
 * worker/shim/cpub.h
 *	  What a ContainerPub function written in C sees: the request, the
 *	  response it builds, and a logger.  Write
 *
 *		#include "cpub.h"
 *
 *		int
 *		cpub_handle(const struct cpub_request *req, struct cpub_response *res)
 *		{
 *			cpub_response_set_header(res, "content-type", "text/plain");
 *			cpub_response_printf(res, "hello from %s\n", req->path);
 *			cpub_log("answered %s %s", req->method, req->path);
 *			return 0;
 *		}
 *
 *	  and link it with the shim (worker/shim/README.md), which provides
 *	  main: it serves requests one at a time, calling cpub_handle for each.
 *	  The response starts as 200 with no headers and an empty body.
 *	  Returning nonzero answers 500 instead of what was built.
 *
 *	  What the function writes to stdout and stderr (cpub_log, printf,
 *	  fprintf(stderr, ...), its child processes) during a request becomes
 *	  that request's logs: all of it, or the last 256 KiB after a line
 *	  saying how much was dropped.  If the function crashes, the process
 *	  dies and the platform records the execution as a crash.
 */
#ifndef CPUB_H
#define CPUB_H

#include <stddef.h>

#ifdef __cplusplus
extern "C"
{
#endif

	/* One request header.  Names come lower-cased from the platform and may
 * repeat.  Strings are NUL-terminated; the lengths are exact. */
	struct cpub_header
	{
		const char *name;
		size_t		name_len;
		const char *value;
		size_t		value_len;
	};

	/*
 * The request, valid until cpub_handle returns.  path is the part after
 * the function's address ("/" when none), query the raw query string
 * without the '?' ("" when none).  body is NUL-terminated for convenience
 * but may hold NUL bytes: use body_len.
 */
	struct cpub_request
	{
		const char				 *method;
		const char				 *path;
		const char				 *query;
		const struct cpub_header *headers;
		size_t					  nheaders;
		const char				 *body;
		size_t					  body_len;
	};

	/* The response being built (opaque: use the functions below). */
	struct cpub_response;

	/* The function's entry point, written by the developer.  Return 0 to send
 * the response built, nonzero to answer 500. */
	int cpub_handle(const struct cpub_request *req, struct cpub_response *res);

	/* cpub_request_header: the first value of the header named name (any
 * case), or NULL. */
	const char *cpub_request_header(const struct cpub_request *req,
									const char				  *name);

	/* cpub_response_set_status: 100 to 599.  Returns 0, or -1 (EINVAL) and
 * keeps the status it had. */
	int cpub_response_set_status(struct cpub_response *res, int status);

	/*
 * cpub_response_set_header: sets a header, replacing any of that name;
 * cpub_response_add_header adds one more (Set-Cookie).  The name must be
 * an HTTP token, the value free of control characters but tab.  Return 0;
 * -1 with errno EINVAL for a bad name or value (logged, the header is left
 * out), E2BIG past the platform's header limits or ENOMEM (the response
 * then becomes a 500).
 */
	int cpub_response_set_header(struct cpub_response *res, const char *name,
								 const char *value);
	int cpub_response_add_header(struct cpub_response *res, const char *name,
								 const char *value);

	/*
 * cpub_response_write: appends len bytes to the body; cpub_response_printf
 * appends formatted text.  Return 0, or -1 with errno EFBIG past the
 * platform's body limit or ENOMEM (the response then becomes a 500).
 */
	int cpub_response_write(struct cpub_response *res, const void *data,
							size_t len);
	int cpub_response_printf(struct cpub_response *res, const char *fmt, ...)
		__attribute__((format(printf, 2, 3)));

	/* cpub_log: writes one line (a newline is added when missing) to stderr,
 * in one write: it lands in this request's logs. */
	void cpub_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#ifdef __cplusplus
}
#endif

#endif /* CPUB_H */
