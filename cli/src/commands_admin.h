/*
 * cli/src/commands_admin.h
 *	  The admin commands (admin.c): their rows of the command table, which
 *	  main.c appends to its own, and the help of the "admin" heading.
 */
#ifndef CPUB_COMMANDS_ADMIN_H
#define CPUB_COMMANDS_ADMIN_H

#include <stddef.h>

#include "cli.h"

extern const char ADMIN_HELP[];
extern size_t	  admin_ncommands(void);
extern void		  admin_commands(struct command *out);

#endif
