/*
 * worker/src/runtime.h
 *	  The runtimes a function can be written for: one row each
 *	  (runtime.c), naming its base image, what its archive must hold, its
 *	  Containerfile (runtimes/<name>/Containerfile) and the shim files
 *	  copied into the build.  worker/README.md says how to add one.
 */
#ifndef WORKER_RUNTIME_H
#define WORKER_RUNTIME_H

struct runtime
{
	const char *name;		/* as in cpub.function_versions.runtime */
	const char *entry;		/* a file the archive must hold, or "*.c" */
	const char *entry_hint; /* said when it is missing */
	/* Files copied from share_dir into the build context's cpub/ folder
	 * (NULL-terminated): the shim and what it needs. */
	const char *assets[4];
};

/* runtime_find: the row of name, or NULL. */
extern const struct runtime *runtime_find(const char *name);

#endif
