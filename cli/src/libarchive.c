/*
 * cli/src/libarchive.c
 *	  libarchive loaded with dlopen on the first deploy that packs
 *	  (libarchive.h says why), its functions looked up by name into one
 *	  table.
 */
#include <dlfcn.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include "libarchive.h"

/* The soname of libarchive 3 (Debian 12: libarchive13). */
#define LIBARCHIVE_SONAME "libarchive.so.13"

static struct libarchive table;
static bool				 loaded = false;

const struct libarchive *
libarchive_load(char **err)
{
	void *lib;

	*err = NULL;
	if (loaded)
		return &table;
	lib = dlopen(LIBARCHIVE_SONAME, RTLD_NOW | RTLD_LOCAL);
	if (!lib)
	{
		if (asprintf(err, "could not load %s: %s (install libarchive13)",
					 LIBARCHIVE_SONAME, dlerror()) < 0)
			*err = NULL;
		return NULL;
	}
#define LIBARCHIVE_LOOKUP(name)                                               \
	table.name = (__typeof__(name) *) dlsym(lib, #name);                      \
	if (!table.name)                                                          \
	{                                                                         \
		if (asprintf(err, "could not load %s: %s has no %s",                  \
					 LIBARCHIVE_SONAME, LIBARCHIVE_SONAME, #name) < 0)        \
			*err = NULL;                                                      \
		dlclose(lib);                                                         \
		return NULL;                                                          \
	}
	LIBARCHIVE_FUNCTIONS(LIBARCHIVE_LOOKUP)
#undef LIBARCHIVE_LOOKUP
	loaded = true;
	return &table;
}
