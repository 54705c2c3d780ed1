/*
 * worker/shim/capture.h
 *	  A function's output as the logs of the request that wrote it: fds 1
 *	  and 2 become a pipe that a thread drains into a ring of max_logs
 *	  bytes (capture.c).  Used by the serve loop (shim.c); one per process.
 */
#ifndef CPUB_CAPTURE_H
#define CPUB_CAPTURE_H

#include <stddef.h>
#include <stdint.h>

/*
 * capture_init: redirects fds 1 and 2 into the capture pipe and starts the
 * thread draining it.  *orig_stderr gets a close-on-exec copy of the
 * original stderr (the container's), where the shim's own messages and
 * any output written between requests go.  Returns 0 when capturing, -1
 * when not (reported on stderr; fds 1 and 2 are then left as they were).
 */
extern int capture_init(uint32_t max_logs, int *orig_stderr);

/* capture_begin: what fds 1 and 2 receive from now on is this request's. */
extern void capture_begin(void);

/*
 * capture_end: flushes stdio, takes everything written so far and ends
 * the request.  *logs (owned here, valid until the next capture_begin)
 * holds at most max_logs bytes: all of the output, or, past the cap, a
 * line "[cpub: N earlier bytes of output dropped]" and the last bytes.
 * Without capture_init: NULL and 0.
 */
extern void capture_end(const char **logs, size_t *len);

/*
 * capture_dump: from a handler of a fatal signal: writes what the current
 * request logged so far to fd.  Async-signal-safe, best effort (it takes
 * no lock).
 */
extern void capture_dump(int fd);

#endif /* CPUB_CAPTURE_H */
