/*
 * cli/src/oidc.h
 *	  An admin's sign-in with the server's OpenID Connect provider (oidc.c):
 *	  the commands admin login and admin logout, and the admin token that
 *	  requests made as the admin carry (http.c).
 */
#ifndef CPUB_OIDC_H
#define CPUB_OIDC_H

#include "cli.h"

/* oidc_admin_token's answer when a refused token cannot be renewed. */
#define OIDC_NOT_RENEWABLE (-10)

extern int oidc_admin_token(struct cli *cli, const char *failed,
							const char **token);
extern int cmd_admin_login(struct cli *cli, int argc, char **argv);
extern int cmd_admin_logout(struct cli *cli, int argc, char **argv);

#endif
