/*
 * httpd/src/dispatch.h
 *	  The dispatcher: one thread and one database session that LISTENs for
 *	  finished executions and resumes the requests waiting for them.
 */
#ifndef HTTPD_DISPATCH_H
#define HTTPD_DISPATCH_H

#include <stdbool.h>

struct request;

/* dispatch_start: starts the thread (it connects by itself, and again
 * after PostgreSQL restarts).  Returns 0 or -1. */
extern int dispatch_start(const char *conninfo);

/* dispatch_shutdown: resumes every waiting request (WAKE_SHUTDOWN) and
 * stops the thread. */
extern void dispatch_shutdown(void);

/*
 * dispatch_wait: parks req until its execution (req->execution_id) or, for
 * a follower (req->is_follow), any execution of req->function_id finishes,
 * or req->deadline (CLOCK_MONOTONIC) passes; then resumes it with
 * req->wake set.  Called from the request's handler, which then returns
 * MHD_YES.  An execution that finished just before is noticed (a ring of
 * recent completions), so no notification is missed.
 */
extern void dispatch_wait(struct request *req);

/* dispatch_seq: the count of notifications heard; a follower takes it
 * before its query (req->wait_seq) so dispatch_wait sees what it missed. */
extern unsigned long long dispatch_seq(void);

/* dispatch_forget: drops req from the waiters (its connection ended). */
extern void dispatch_forget(struct request *req);

/* dispatch_listening: whether the LISTEN session is up. */
extern bool dispatch_listening(void);

/* dispatch_waiting: how many requests wait now (metrics). */
extern int dispatch_waiting(void);

#endif
