/*
 * cli/src/config.h
 *	  The credentials file: $XDG_CONFIG_HOME/cpub/credentials.json (default
 *	  ~/.config/cpub/), the tokens of each server logged in to.
 */
#ifndef CPUB_CONFIG_H
#define CPUB_CONFIG_H

#include "cli.h"

/* The member of the credentials file naming the server last logged in
 * to, used when neither --server nor CPUB_SERVER names one. */
#define CONFIG_DEFAULT_SERVER "default_server"

/* The member of a server's entry holding its admin token (oidc.c). */
#define CONFIG_ADMIN "admin"

extern int	   config_load(struct cli *cli);
extern int	   config_save(struct cli *cli);
extern json_t *config_session(struct cli *cli);
extern void	   config_set_session(struct cli *cli, json_t *session);
extern json_t *config_admin(struct cli *cli);
extern void	   config_set_admin(struct cli *cli, json_t *admin);
extern int	   config_lock(void);
extern void	   config_unlock(int fd);
extern int	   config_reload(struct cli *cli);

#endif
