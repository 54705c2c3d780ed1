/*
 * httpd/src/handlers.h
 *	  The handlers of the routes that are not a single generic SQL call.
 */
#ifndef HTTPD_HANDLERS_H
#define HTTPD_HANDLERS_H

struct request;

/* call.c */
extern int handle_sql(struct request *req);
extern int handle_refresh(struct request *req);
extern int handle_deploy(struct request *req);
extern int deploy_begin(struct request *req);

/* invoke.c */
extern int handle_invoke_fn(struct request *req);
extern int handle_invoke_api(struct request *req);
extern int handle_invocation_get(struct request *req);

/* status.c */
extern int handle_health(struct request *req);
extern int handle_ready(struct request *req);
extern int handle_admin_sign_in(struct request *req);
extern int handle_metrics(struct request *req);
extern int handle_openapi(struct request *req);

#endif
