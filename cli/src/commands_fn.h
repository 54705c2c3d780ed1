/*
 * cli/src/commands_fn.h
 *	  The commands about one's functions once they exist: list, info,
 *	  versions, rollback, delete (function.c), env (env.c), keys (keys.c),
 *	  logs (logs.c) and metrics (metrics.c), and the helpers they share
 *	  (function.c): a function's API path, durations, timestamps, paging.
 */
#ifndef CPUB_COMMANDS_FN_H
#define CPUB_COMMANDS_FN_H

#include <time.h>

#include "cli.h"

/* function.c: the commands */
extern int cmd_list(struct cli *cli, int argc, char **argv);
extern int cmd_info(struct cli *cli, int argc, char **argv);
extern int cmd_versions(struct cli *cli, int argc, char **argv);
extern int cmd_rollback(struct cli *cli, int argc, char **argv);
extern int cmd_delete(struct cli *cli, int argc, char **argv);

/* env.c */
extern int cmd_env_set(struct cli *cli, int argc, char **argv);
extern int cmd_env_unset(struct cli *cli, int argc, char **argv);
extern int cmd_env_list(struct cli *cli, int argc, char **argv);

/* keys.c */
extern int cmd_keys_create(struct cli *cli, int argc, char **argv);
extern int cmd_keys_list(struct cli *cli, int argc, char **argv);
extern int cmd_keys_revoke(struct cli *cli, int argc, char **argv);
extern int cmd_keys_roll(struct cli *cli, int argc, char **argv);

/* logs.c */
extern int cmd_logs(struct cli *cli, int argc, char **argv);

/* metrics.c */
extern int cmd_metrics(struct cli *cli, int argc, char **argv);

/* function.c: the helpers */
extern char *fn_path(const char *name, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
extern int fn_get_all(struct cli *cli, const char *path, const char *after_key,
					  json_t **out);
extern int fn_show_list(struct cli *cli, const char *name, const char *suffix,
						const char *after_key, const char *empty,
						json_t *(*shape)(const json_t *row),
						const struct column *columns);
extern bool		   fn_parse_duration(const char *text, long *seconds);
extern void		   fn_time_param(time_t t, char *buf, size_t size);
extern const char *fn_local_time(const json_t *value, char *buf, size_t size);
extern bool		   fn_parse_time(const char *text, time_t *t);
extern bool		   fn_is_uuid(const char *text);

#endif
