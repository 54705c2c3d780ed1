/*
 * worker/src/runtime.c
 *	  The runtime table (runtime.h).  Each runtime's Containerfile is
 *	  runtimes/<name>/Containerfile under share_dir, with @BASE@ replaced
 *	  by the image prefix (make images builds the base images there).
 */
#include <string.h>

#include "runtime.h"

static const struct runtime RUNTIMES[] = {
	{
		.name = "c",
		.entry = "*.c",
		.entry_hint = "a C function is one or more .c files defining "
					  "cpub_handle (see cpub.h)",
		.assets = {"shim/libcpub-shim.a", "shim/cpub.h", NULL},
	},
	{
		.name = "python",
		.entry = "main.py",
		.entry_hint = "a Python function is a module main.py with "
					  "handle(request)",
		.assets = {"runtimes/python/cpub_shim.py", NULL},
	},
	{
		.name = "shell",
		.entry = "handler.sh",
		.entry_hint = "a shell function is a script handler.sh answering "
					  "like a CGI script",
		.assets = {"shim/cpub-cgi", NULL},
	},
};

const struct runtime *
runtime_find(const char *name)
{
	for (size_t i = 0; i < sizeof(RUNTIMES) / sizeof(RUNTIMES[0]); i++)
		if (strcmp(RUNTIMES[i].name, name) == 0)
			return &RUNTIMES[i];
	return NULL;
}
