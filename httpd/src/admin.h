/*
 * httpd/src/admin.h
 *	  Admins' bearer tokens on /admin/api (and on developer routes, for an
 *	  admin linked to a developer).
 */
#ifndef HTTPD_ADMIN_H
#define HTTPD_ADMIN_H

#include <stdbool.h>

#include "oidc.h"
#include "server.h"

struct config;

/*
 * admin_init: the admin_* settings into oidc_init, when admin_oidc_issuer
 * is set (else the admin API stays off).  Returns 0, or -1 after printing
 * why to stderr (an unreadable secret file, a bad claim path list).
 */
extern int admin_init(const struct config *cfg);

/* admin_enabled: whether admin_oidc_issuer is set. */
extern bool admin_enabled(void);

/* admin_is_platform_token: a token of our own (cpa_, cpr_), not an admin's. */
extern bool admin_is_platform_token(const char *token);

/* admin_is_jwt: token has the three parts of a JWT (two dots). */
extern bool admin_is_jwt(const char *token);

/*
 * admin_verify: the admin behind req's bearer token into *id.  Returns 0,
 * or -1 after replying: 401 (28000) for no token, a developer's token or a
 * refused one, 403 (42501) for a good token without an admin role, 404
 * (P0002) when the admin API is off.
 */
extern int admin_verify(struct request *req, struct oidc_identity *id);

extern void admin_shutdown(void);

#endif
