/*
 * cli/src/manifest.h
 *	  cpub.json, the manifest of a function folder: the function's name and
 *	  runtime, its settings under the server's own names (the arguments of
 *	  cpub_api.function_create and function_update, sql/60_functions.sql),
 *	  and which files a deploy ships (include, exclude).
 *
 *		{
 *		  "name": "hello",				required; the server's function names
 *		  "runtime": "c",				required; c, python or shell
 *		  "organization": "acme",		optional; the developer's own when absent
 *		  "memory_mb": 128,				optional; 16 to 65536
 *		  "timeout_seconds": 10,		optional; 1 to 3600
 *		  "max_concurrency": 4,			optional; 1 to 1000
 *		  "visibility": "private",		optional; public, key or private
 *		  "metadata": {},				optional; any JSON object
 *		  "include": [".env.example"],	files shipped although they look
 *										like secrets
 *		  "exclude": ["tests", "*.o"]	files never shipped
 *		}
 *
 *	  A setting left out takes the server's default at creation (128 MB,
 *	  10 s, 4 at once, private, lowered to the tier's caps) and stays as it
 *	  is on an update.  The ranges are the server's absolute ones
 *	  (cpub.function_check_settings); the owner's tier may cap them lower,
 *	  which only the server knows.  Unknown keys are refused, so that a
 *	  typo never goes unnoticed.
 *
 *	  Patterns of include and exclude are globs (fnmatch): one without a
 *	  slash matches a file or folder name at any depth ("*.pem", "tests");
 *	  one with a slash matches the path from the function folder
 *	  ("config/app.*", where "*" stops at slashes; a leading "/" or "./"
 *	  and a final "/" are ignored).  A folder that matches covers all it
 *	  holds.
 */
#ifndef CPUB_MANIFEST_H
#define CPUB_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#define MANIFEST_FILE "cpub.json"

/* The server's absolute ranges (cpub.function_check_settings). */
#define MANIFEST_MEMORY_MIN		 16
#define MANIFEST_MEMORY_MAX		 65536
#define MANIFEST_TIMEOUT_MIN	 1
#define MANIFEST_TIMEOUT_MAX	 3600
#define MANIFEST_CONCURRENCY_MIN 1
#define MANIFEST_CONCURRENCY_MAX 1000

/*
 * A runtime the worker builds (worker/src/runtime.c): the file a deploy
 * must hold, "*.c" meaning any .c file at any depth, and what to say when
 * it is missing.
 */
struct manifest_runtime
{
	const char *name;
	const char *entry;
	const char *entry_hint;
};

/* A parsed manifest; manifest_free releases what it owns. */
struct manifest
{
	char   *name;			 /* always set */
	char   *runtime;		 /* always set: a manifest_runtimes name */
	char   *organization;	 /* NULL: the developer's own function */
	int		memory_mb;		 /* 0: not given */
	int		timeout_seconds; /* 0: not given */
	int		max_concurrency; /* 0: not given */
	char   *visibility;		 /* NULL: not given */
	json_t *metadata;		 /* NULL: not given; else an object (owned) */
	char  **include;		 /* ninclude patterns (owned) */
	size_t	ninclude;
	char  **exclude; /* nexclude patterns (owned) */
	size_t	nexclude;
};

/* The runtimes, ended by a row with a NULL name. */
extern const struct manifest_runtime manifest_runtimes[];

/* manifest_runtime_find: the row of NAME, or NULL. */
extern const struct manifest_runtime *manifest_runtime_find(const char *name);

/*
 * manifest_name_error: NULL when NAME is a valid function name, else the
 * server's rule in a sentence (static), as cpub.check_identifier says it.
 */
extern const char *manifest_name_error(const char *name);

/*
 * manifest_load: reads DIR/cpub.json into *M (zeroed first).  Returns 0,
 * or -1 with *M empty and *ERR set to a one-line message naming the file
 * and the key, such as "cpub.json: memory_mb must be an integer between 16
 * and 65536" (malloc'd: the caller frees it; NULL when out of memory).
 * The file is named "cpub.json" when DIR is ".", else "DIR/cpub.json".
 */
extern int manifest_load(const char *dir, struct manifest *m, char **err);

/*
 * manifest_parse: the same from TEXT (LEN bytes), with FILE the name the
 * messages give.  manifest_load reads the file and calls it.
 */
extern int manifest_parse(const char *text, size_t len, const char *file,
						  struct manifest *m, char **err);

/*
 * manifest_settings_json: the settings to send, under the server's
 * argument names: for a creation (POST /api/functions) name, runtime,
 * organization and each setting given; for an update (PATCH
 * /api/functions/{function}) runtime and each setting given.  Settings
 * left out of the manifest are left out of the object.  Returns a new
 * reference, or NULL when out of memory.
 */
extern json_t *manifest_settings_json(const struct manifest *m, bool create);

/*
 * manifest_ref: the function's reference in the API's paths: NAME, or
 * ORGANIZATION/NAME (which a path needs escaped: http_escape).  Malloc'd
 * (the caller frees it), NULL when out of memory.
 */
extern char *manifest_ref(const struct manifest *m);

/* manifest_free: releases what *M owns and zeroes it; M may be empty. */
extern void manifest_free(struct manifest *m);

#endif
