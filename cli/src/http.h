/*
 * cli/src/http.h
 *	  Requests to the server's API (libcurl), its errors printed once, and
 *	  the refresh of an expired access token.
 */
#ifndef CPUB_HTTP_H
#define CPUB_HTTP_H

#include "cli.h"

extern int	http_init(void);
extern void http_cleanup(void);
extern int	api_call(struct cli *cli, const char *method, const char *path,
					 json_t *body, bool auth, json_t **out);

#endif
