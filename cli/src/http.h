/*
 * cli/src/http.h
 *	  Requests to the server (libcurl): any body out, the status, headers
 *	  and body back; the API's errors printed once, and the refresh of an
 *	  expired access token.
 */
#ifndef CPUB_HTTP_H
#define CPUB_HTTP_H

#include <curl/curl.h>

#include "cli.h"

/* One request.  Fields left zero take their defaults. */
struct http_request
{
	const char *method; /* "GET", "POST", ... */
	const char *path;	/* after the server's URL, from its "/" */
	bool		auth;	/* as the logged-in developer (refreshed once) */
	json_t	   *json;	/* a JSON body, or NULL */
	const char *body;	/* or a body of BODY_LEN bytes (not copied) */
	size_t		body_len;
	const char *content_type;	/* BODY's (default application/octet-stream) */
	struct curl_slist *headers; /* more request headers (the caller's) */
	bool			   want_headers; /* collect the reply's headers */
	long			   timeout;		 /* whole request, seconds (0: none) */
	/* Called as the body goes out; nonzero aborts.  NULL: none. */
	int (*progress)(void *arg, curl_off_t sent, curl_off_t total);
	void *progress_arg;
	/* The caller's own request (invoke): no Accept of ours, and the path
	 * sent as it is (dot segments kept), as it was signed. */
	bool raw;
	/* As the signed-in admin (oidc.c's token, renewed when it can be). */
	bool admin;
	/* A whole URL instead of the server's PATH (the identity provider). */
	const char *url;
	/* This bearer token (not the developer's nor the admin's). */
	const char *token;
	/* HTTP basic authentication: user and password, form-encoded. */
	const char *basic_user;
	const char *basic_password;
};

/* Its reply; http_response_free releases it. */
struct http_response
{
	long	status;
	char   *body; /* NUL-terminated (also when empty) */
	size_t	len;
	json_t *json;	 /* the body parsed, when it is JSON; else NULL */
	json_t *headers; /* [[name, value], ...] when want_headers */
	double	seconds; /* the whole transfer */
};

extern int	http_init(void);
extern void http_cleanup(void);
extern int	http_send(struct cli *cli, const struct http_request *req,
					  struct http_response *resp);
extern void http_response_free(struct http_response *resp);
extern int http_print_error(struct cli *cli, const struct http_response *resp);
extern const char *http_error_code(const struct http_response *resp);
extern int	 api_call(struct cli *cli, const char *method, const char *path,
					  json_t *body, bool auth, json_t **out);
extern int	 api_call_status(struct cli *cli, const char *method,
							 const char *path, json_t *body, bool auth,
							 json_t **out, long *status);
extern int	 http_call(struct cli *cli, const struct http_request *req,
					   json_t **out, long *status);
extern char *http_escape(const char *s);

#endif
