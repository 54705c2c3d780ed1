/*
 * httpd/src/call.h
 *	  Running a request's statements as its caller.
 */
#ifndef HTTPD_CALL_H
#define HTTPD_CALL_H

#include "pool.h"
#include "server.h"

#define CALL_MAX_STEPS 6

/*
 * call_run: runs steps[0..n) on a pooled connection in one pipeline, after
 * the steps that make the transaction act for the caller: as cpub_anon, and
 * then, when the route wants a developer (or allows one and a platform
 * token came), as the developer cpub_api.authenticate names.  results[i]
 * get the results of steps[i] (the caller PQclears them).  Returns 0, or -1
 * after replying with the error.
 */
extern int call_run(struct request *req, const struct db_step *steps, int n,
					PGresult **results);

/*
 * call_check_caller: whether req's caller may go on: an admin route needs a
 * verified admin token (kept in req), a developer route a token.  Returns 0,
 * or -1 after replying (401, 403).  call_run calls it too; handlers call it
 * first, so that who may call comes before what was asked.
 */
extern int call_check_caller(struct request *req);

/* call_wants_developer: whether req runs as a developer. */
extern bool call_wants_developer(struct request *req);

#endif
