/*
 * worker/shim/shim.h
 *	  The inside of the C runtime's shim: the response a handler builds
 *	  (cpub.c) and the serve loop (shim.c).  Not for developers: they see
 *	  cpub.h.  The unit tests use it to run the serve loop with handlers of
 *	  their own.
 */
#ifndef CPUB_SHIM_H
#define CPUB_SHIM_H

#include <stdbool.h>
#include <stddef.h>

#include "cpub.h"
#include "frame.h"

#define SHIM_DEFAULT_SOCKET	  "/run/cpub/fn.sock"
#define SHIM_DEFAULT_ENV_FILE "/run/cpub/env"

struct cpub_response
{
	int						   status;
	struct frame_header		  *headers; /* each name owns "name\0value\0" */
	size_t					   nheaders;
	size_t					   headers_cap;
	size_t					   header_bytes; /* names and values */
	char					  *body;
	size_t					   body_len;
	size_t					   body_cap;
	const struct frame_limits *limits;
	const char				  *failed; /* why it must become a 500, or NULL */
};

/* The handler a serve loop calls (cpub_handle in a function's binary). */
typedef int (*shim_handler)(const struct cpub_request *req,
							struct cpub_response	  *res);

struct shim_options
{
	const char		   *socket_path;
	struct frame_limits limits;
	bool				capture; /* stdout and stderr into the logs */
};

/*
 * cpub.c: cpub_response_init prepares res under limits (which must outlive
 * it); cpub_response_reset empties it for the next request (200, nothing
 * else), keeping a modest body buffer; cpub_response_free releases it;
 * cpub_response_fail turns it into a bare 500.
 */
extern void cpub_response_init(struct cpub_response		 *res,
							   const struct frame_limits *limits);
extern void cpub_response_reset(struct cpub_response *res);
extern void cpub_response_free(struct cpub_response *res);
extern void cpub_response_fail(struct cpub_response *res);

/* cpub_header_ok: 1 when name is an RFC 9110 token and value has no
 * control characters but tab, else 0. */
extern int cpub_header_ok(const char *name, const char *value);

/*
 * shim_options_load: options from argv (the socket path as the one
 * argument) and the environment: CPUB_SOCKET, CPUB_MAX_HEADERS,
 * CPUB_MAX_HEADER_BYTES, CPUB_MAX_BODY, CPUB_MAX_LOGS.  Returns 0, 1 when
 * --help was shown, -1 for a bad value (reported).
 */
extern int shim_options_load(struct shim_options *o, int argc, char **argv);

/*
 * shim_init: once per process, before serving: fds 0 to 2 opened on
 * /dev/null if closed; SIGTERM and SIGINT ask the loops to stop after the
 * request in hand; with o->capture, fds 1 and 2 go to the capture pipe
 * (capture.h) whose bytes each response carries as its logs, while the
 * shim's own messages keep going to the original stderr.  When capture
 * cannot start, the output goes to stderr and responses carry no logs
 * (reported, not an error).  Returns 0 or -1 (reported).
 */
extern int shim_init(const struct shim_options *o);

/*
 * shim_serve_connection: serves requests on fd (a connected stream, which
 * it closes) one at a time until the peer closes (0), SIGTERM (0), or a
 * malformed frame or an error (-1, reported).
 */
extern int shim_serve_connection(int fd, shim_handler handler,
								 const struct frame_limits *limits);

/*
 * shim_run: listens on o->socket_path (mode 0666, a stale socket there is
 * replaced) and serves connections one after another until SIGTERM; then
 * removes the socket and returns 0.  -1 when it cannot listen (reported).
 */
extern int shim_run(const struct shim_options *o, shim_handler handler);

/* shim_report: one line "cpub-shim: ..." on the original stderr. */
extern void shim_report(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

#endif /* CPUB_SHIM_H */
