/*
 * cli/src/commands_inv.h
 *	  The commands of invoke.c (invoke, invocation), org.c (org ...,
 *	  early-access ...) and completion.c (completion), for main.c's
 *	  command table, and the table itself for completion.c.
 */
#ifndef CPUB_COMMANDS_INV_H
#define CPUB_COMMANDS_INV_H

#include "cli.h"

/*
 * invoke's exit code when --fail was given and the function itself
 * answered 400 or more (cli/README.md).  The platform's own refusals
 * (unknown function, timeout, crash) are EXIT_API.
 */
#define EXIT_FUNCTION 6

/* main.c: the command table, ended by a row whose name is NULL. */
extern const struct command *cli_commands(void);

/* invoke.c */
extern const char INVOKE_HELP[];
extern const char INVOCATION_HELP[];
extern int		  cmd_invoke(struct cli *cli, int argc, char **argv);
extern int		  cmd_invocation(struct cli *cli, int argc, char **argv);

/* org.c */
extern const char ORG_ADD_HELP[];
extern int		  cmd_org_create(struct cli *cli, int argc, char **argv);
extern int		  cmd_org_list(struct cli *cli, int argc, char **argv);
extern int		  cmd_org_members(struct cli *cli, int argc, char **argv);
extern int		  cmd_org_add(struct cli *cli, int argc, char **argv);
extern int		  cmd_org_remove(struct cli *cli, int argc, char **argv);
extern int		  cmd_org_role(struct cli *cli, int argc, char **argv);
extern int cmd_early_access_request(struct cli *cli, int argc, char **argv);
extern int cmd_early_access_status(struct cli *cli, int argc, char **argv);

/* completion.c */
extern const char COMPLETION_HELP[];
extern int		  cmd_completion(struct cli *cli, int argc, char **argv);

#endif
