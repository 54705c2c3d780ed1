/*
 * worker/src/podman.h
 *	  Calls to podman: always an argv (never a shell), with the project's
 *	  CONTAINERS_CONF, a time limit and the output captured.
 */
#ifndef WORKER_PODMAN_H
#define WORKER_PODMAN_H

#include <stdbool.h>
#include <stddef.h>

struct podman_result
{
	int	   status;	  /* exit status, or 128 + signal, or -1 (not run) */
	bool   timed_out; /* killed at the time limit */
	char  *out;		  /* stdout and stderr interleaved, NUL-terminated */
	size_t out_len;
	bool   truncated; /* out kept only the last cap bytes */
};

/* podman_init: the program and CONTAINERS_CONF (NULL: podman's default)
 * every call uses. */
extern void podman_init(const char *program, const char *containers_conf);

/*
 * podman_run: runs podman with args (NULL-terminated, without the program
 * name) and the extra environment variables env ("NAME=value", NULL-
 * terminated, or NULL), stdin from /dev/null, capturing at most cap bytes
 * of output (the last ones).  timeout_ms > 0 sends SIGTERM at the limit
 * and SIGKILL 5 s later.  Returns 0 when it ran (look at r->status), -1
 * when it could not be started (r->out says why).  podman_result_free
 * releases r->out.
 */
extern int podman_run(const char *const *args, const char *const *env,
					  int timeout_ms, size_t cap, struct podman_result *r);

/*
 * podman_run_watched: podman_run that also calls WATCH(ARG, r) after each
 * piece of output arrived, r->out holding the output so far (its last cap
 * bytes), for a caller that shows it as it comes (a build's log).
 */
extern int
			podman_run_watched(const char *const *args, const char *const *env,
							   int timeout_ms, size_t cap, struct podman_result *r,
							   void (*watch)(void *arg, const struct podman_result *r),
							   void *arg);
extern void podman_result_free(struct podman_result *r);

/* podman_ok: runs podman args, true when it exited 0; otherwise logs the
 * command's first word and output as a warning (unless quiet) and returns
 * false.  *out (may be NULL) gets the output, trimmed, caller frees. */
extern bool podman_ok(const char *const *args, int timeout_ms, bool quiet,
					  char **out);

#endif
