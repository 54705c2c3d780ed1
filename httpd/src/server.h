/*
 * httpd/src/server.h
 *	  One HTTP request as the handlers see it, and the replies they give.
 */
#ifndef HTTPD_SERVER_H
#define HTTPD_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <microhttpd.h>

#include "config.h"
#include "pool.h"
#include "oidc.h"
#include "route.h"

/* Where a request stands between the calls of MHD's access handler. */
enum request_state
{
	REQ_NEW,	  /* headers read, nothing done */
	REQ_BODY,	  /* receiving the body */
	REQ_WAITING,  /* suspended until the dispatcher resumes it */
	REQ_RESUMED,  /* resumed: the handler finishes it */
	REQ_ANSWERED, /* a response is queued */
};

/* Why a waiting request was resumed. */
enum wake_reason
{
	WAKE_NONE,
	WAKE_DONE,	   /* its execution finished */
	WAKE_TIMEOUT,  /* its deadline passed */
	WAKE_SHUTDOWN, /* the server is stopping */
	WAKE_EVENT,	   /* a follow: something happened to its function */
};

struct request
{
	struct MHD_Connection *conn;
	char				   id[33];
	char				  *target; /* raw request target; owned */
	char				  *path;   /* its path, NUL-terminated copy; owned */
	const char			  *query;  /* raw query after '?', or "" */
	const char			  *method;
	struct route_match	   match;
	const struct route	  *route;
	enum request_state	   state;
	struct timespec		   start;

	/* the body */
	char  *body;
	size_t body_len;
	size_t body_cap;
	size_t body_limit;
	bool   body_too_large;
	bool   close_after; /* answer with Connection: close */

	/* the outcome, for the access log and metrics */
	int				   status;
	unsigned long long bytes;
	char			   user_id[40];
	char			   error_code[6];

	/* waits (dispatch.c) */
	enum wake_reason   wake;
	struct timespec	   deadline;
	char			   execution_id[40];
	char			   function_id[40];
	bool			   waiting;
	bool			   is_follow;
	unsigned long long wait_seq; /* dispatch_seq() before a follower's query */
	struct request	  *wait_next;
	void			  *handler_state; /* a handler's own, freed by it */
	/* an admin's token, once verified (call_check_caller) */
	bool				 admin_verified;
	struct oidc_identity admin;
	void (*handler_free)(void *);
};

extern struct config config;

/* server_start / server_stop: the MHD daemon.  Returns 0 or -1. */
extern int				  server_start(void);
extern void				  server_stop(void);
extern struct MHD_Daemon *server_daemon(void);

/* Header and argument access. */
extern const char *request_header(struct request *req, const char *name);
extern const char *request_query_arg(struct request *req, const char *name);

/*
 * request_bearer: the token of "Authorization: Bearer <token>", or NULL.
 */
extern const char *request_bearer(struct request *req);

/*
 * Replies.  Each queues a response on req's connection and returns what the
 * access handler returns.  reply_json takes the body as is (len bytes);
 * reply_error builds {"error": {...}} from err and picks the status from
 * its SQLSTATE (a 500 shows only the request id; the log gets all).
 */
extern int reply(struct request *req, struct MHD_Response *resp, int status);
extern int reply_json(struct request *req, int status, const char *body,
					  size_t len);
extern int reply_error(struct request *req, const struct db_error *err);
extern int reply_error_status(struct request *req, int status,
							  const struct db_error *err);
extern int reply_simple_error(struct request *req, const char *sqlstate,
							  const char *message, const char *detail,
							  const char *hint);

/* error_status: the HTTP status of a SQLSTATE (docs/errors.md). */
extern int error_status(const char *sqlstate);

/* request_suspend / request_resume: park a request (dispatch.c). */
extern void request_suspend(struct request *req);
extern void request_resume(struct request *req);

#endif
