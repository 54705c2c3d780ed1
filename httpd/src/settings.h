/*
 * httpd/src/settings.h
 *	  A program's settings from one table: defaults, a "key = value" file,
 *	  environment variables <PREFIX><KEY> and --key=value options, in that
 *	  order of precedence (later wins).  cpub-httpd and cpub-worker both
 *	  read theirs with it (the worker compiles this file from here).
 */
#ifndef CPUB_SETTINGS_H
#define CPUB_SETTINGS_H

#include <stddef.h>
#include <stdio.h>

enum setting_type
{
	SETTING_STRING,
	SETTING_INT,
	SETTING_LONG
};

/* One setting: a field of the program's settings struct. */
struct setting
{
	const char		 *key;
	enum setting_type type;
	size_t			  offset;
	const char		 *def; /* default, NULL for none */
	long			  min; /* numbers: inclusive range */
	long			  max;
	const char		 *help;
	const char		 *choices; /* strings: "a|b|c", the only values, or NULL */
};

/* SETTING(struct, key, type, default, min, max, help): a row of a table. */
#define SETTING(st, key, type, def, min, max, help)                           \
	{                                                                         \
#key, type, offsetof(struct st, key), def, min, max, help, NULL       \
	}

/* SETTING_ONE_OF(struct, key, default, "a|b", help): a string setting
 * that must be one of the choices. */
#define SETTING_ONE_OF(st, key, def, choices, help)                           \
	{                                                                         \
#key, SETTING_STRING, offsetof(struct st, key), def, 0, 0, help,      \
			choices                                                           \
	}

/* A program's table and how it is named. */
struct settings_spec
{
	const char			 *program;	  /* "cpub-httpd": prefix of errors */
	const char			 *version;	  /* printed by --version */
	const char			 *env_prefix; /* "CPUB_HTTPD_" */
	const char			 *about;	  /* a paragraph for --help */
	const struct setting *table;
	size_t				  n;
	size_t				  size; /* of the settings struct */
};

/*
 * settings_load: fills the struct at cfg (zeroed first) from the table's
 * defaults, the file named by --config FILE (or <PREFIX>CONFIG), the
 * environment and argv.  Returns 0, 1 when the caller should exit
 * successfully (--help, --version), or -1 after printing one error line to
 * stderr.  Strings in cfg are owned by it (settings_free).
 */
extern int settings_load(const struct settings_spec *spec, void *cfg, int argc,
						 char **argv);
extern void settings_free(const struct settings_spec *spec, void *cfg);
extern void settings_usage(const struct settings_spec *spec, FILE *out);

#endif
