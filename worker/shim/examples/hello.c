/*
 * worker/shim/examples/hello.c
 *	  A ContainerPub function in C: greets the caller by the name in the
 *	  query (?name=Ada) or the body, and logs one line.
 *
 *	  Build it into a static binary with the shim (worker/shim/README.md):
 *		make -C worker/shim HANDLER=examples/hello.c OUT=hello
 */
#include <string.h>

#include "cpub.h"

int
cpub_handle(const struct cpub_request *req, struct cpub_response *res)
{
	const char *name = "world";
	int			name_len = 5;

	if (strncmp(req->query, "name=", 5) == 0 && req->query[5] != '\0')
	{
		name = req->query + 5;
		name_len = (int) strcspn(name, "&");
	}
	else if (req->body_len > 0 && req->body_len < 200)
	{
		name = req->body;
		name_len = (int) strcspn(req->body, "\r\n");
	}

	cpub_response_set_header(res, "content-type", "text/plain; charset=utf-8");
	cpub_response_printf(res, "Hello, %.*s!\n", name_len, name);
	cpub_log("said hello to %.*s (%s %s)", name_len, name, req->method,
			 req->path);
	return 0;
}
