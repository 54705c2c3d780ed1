/*
 * cli/src/analysis.h
 *	  The client-side analysis before a deploy: what cpub refuses to ship,
 *	  found on the developer's machine before any byte goes out.
 *
 *	  - the runtime's entry file (main.py, handler.sh, a .c file) exists;
 *	  - no file looks like a secret (.env, keys, credential files, a
 *		"-----BEGIN ... PRIVATE KEY-----" block), unless included by the
 *		manifest's include or --include;
 *	  - no code of the runtime calls what the sandbox will refuse anyway
 *		(C system(), Python subprocess, shell curl, ...), unless
 *		--allow-risky: the sandbox is the real guard, this is early
 *		feedback, with file and line;
 *	  - only regular files and folders (no symbolic link, device, fifo or
 *		socket), within the worker's caps (worker/src/unpack.c): 10,000
 *		entries, 256 MiB per file, 512 MiB in all, paths of 1,024 bytes and
 *		32 levels.
 *
 *	  The deploy command does:
 *
 *		struct manifest m;
 *		struct analysis_options opts = {.include = ..., .allow_risky = ...};
 *		struct analysis_report *report = NULL;
 *		char *err = NULL;
 *
 *		if (manifest_load(path, &m, &err) != 0)			   exit 1, err said
 *		if (analysis_run(path, &m, &opts, &report, &err) != 0) exit 1
 *		analysis_print(report, cli->json, cli->quiet);
 *		if (report->refused)							   EXIT_ANALYSIS
 *		... pack_folder (pack.h), then the upload ...
 *		analysis_free(report);
 *
 *	  The size against the owner's tier is the deploy's to check, with
 *	  the archive's size (pack.h) and the server's limit.
 */
#ifndef CPUB_ANALYSIS_H
#define CPUB_ANALYSIS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "manifest.h"

/* The worker's caps (unpack_limits_default in worker/src/unpack.c). */
#define ANALYSIS_MAX_ENTRIES	 10000
#define ANALYSIS_MAX_FILE_BYTES	 ((uint64_t) 256 * 1024 * 1024)
#define ANALYSIS_MAX_TOTAL_BYTES ((uint64_t) 512 * 1024 * 1024)
#define ANALYSIS_MAX_PATH_LEN	 1024
#define ANALYSIS_MAX_DEPTH		 32

/* How much of each file is searched for a private key block, and of each
 * source file for risky calls. */
#define ANALYSIS_CODE_SCAN_BYTES (8 * 1024 * 1024)

/* What the deploy's command line adds to the manifest. */
struct analysis_options
{
	char *const *include; /* --include PATTERN, repeatable */
	size_t		 ninclude;
	bool		 allow_risky; /* --allow-risky */
};

/* A file that looks like a secret. */
struct analysis_secret
{
	char	   *path;
	const char *reason;	  /* "a private key file", ... (static) */
	bool		included; /* shipped anyway: include or --include */
};

/* A call the sandbox would refuse, in a source file of the runtime. */
struct analysis_risky
{
	char	   *path;
	int			line;	  /* from 1 */
	char		call[32]; /* "system()" (a call), "subprocess" */
	const char *reason;	  /* static */
};

/* A problem that no option lets through: with its message. */
struct analysis_problem
{
	char *path;	   /* NULL when it is about the whole folder */
	char *message; /* "a symbolic link (the worker ...)" */
};

/* What analysis_run found; analysis_free releases it. */
struct analysis_report
{
	bool					 refused;		/* the deploy must not go on */
	char					*runtime;		/* the manifest's */
	char					*entry_missing; /* the message, or NULL */
	uint32_t				 files;
	uint32_t				 folders;
	uint64_t				 bytes; /* of all files */
	struct analysis_secret	*secrets;
	size_t					 nsecrets;
	struct analysis_risky	*risky;
	size_t					 nrisky;
	bool					 risky_allowed; /* --allow-risky */
	struct analysis_problem *problems;		/* links, devices, caps */
	size_t					 nproblems;
};

/*
 * analysis_run: analyses the folder DIR with its manifest M and OPTS into
 * *REPORT (allocated; the caller frees it with analysis_free).  Returns 0
 * whatever was found (report->refused says the verdict), or -1 with *ERR
 * (malloc'd, the caller frees it) when the folder or a file in it cannot
 * be read.
 */
extern int analysis_run(const char *dir, const struct manifest *m,
						const struct analysis_options *opts,
						struct analysis_report **report, char **err);

/*
 * analysis_print: the report on standard error.  A refused one as
 *
 *	  cpub: refusing to deploy: 2 files look like secrets:
 *		.env (an environment file)
 *		certs/server.key (a private key file)
 *	  hint: add them to "include" in cpub.json or pass --include to ship
 *	  them anyway
 *
 * one block per kind of problem; with JSON, one compact line instead:
 * {"error": {"code": "analysis", "message", "hint"}, "analysis": {...}}
 * (the shape of the API's errors under --json).  A report that lets the
 * deploy go on prints only its warnings (secrets included, risky calls
 * allowed), unless QUIET or JSON (analysis_json is then for the deploy's
 * output).
 */
extern void analysis_print(const struct analysis_report *report, bool json,
						   bool quiet);

/*
 * analysis_json: the report as JSON: {"refused", "runtime", "files",
 * "folders", "bytes", "entry_missing", "secrets": [{"path", "reason",
 * "included"}], "risky": [{"path", "line", "call", "reason"}],
 * "risky_allowed", "problems": [{"path", "message"}]}.  A new reference,
 * or NULL when out of memory.
 */
extern json_t *analysis_json(const struct analysis_report *report);

/* analysis_free: releases REPORT (may be NULL). */
extern void analysis_free(struct analysis_report *report);

/*
 * The checks one by one, for the tests: the reason a file named PATH (from
 * the function folder) looks like a secret by its name, or NULL; whether
 * DATA (LEN bytes) holds a private key block.
 */
extern const char *analysis_secret_name(const char *path);
extern bool		   analysis_has_private_key(const char *data, size_t len);

#endif
