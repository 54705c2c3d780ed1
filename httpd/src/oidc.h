/*
 * httpd/src/oidc.h
 *	  The provider side of admin token checks: the issuer's discovery
 *	  document and keys, fetched with libcurl and cached; JWTs verified
 *	  locally, opaque tokens introspected (RFC 7662); verdicts cached by the
 *	  token's SHA-256.  Safe to call from any number of threads at once.
 */
#ifndef HTTPD_OIDC_H
#define HTTPD_OIDC_H

#include <stddef.h>
#include <time.h>

#include "jwt.h"

/* What oidc_init needs; copied, so the caller may free it afterwards. */
struct oidc_config
{
	const char *issuer;	   /* admin_oidc_issuer, no trailing slash needed */
	const char *audience;  /* admin_oidc_audience */
	const char *client_id; /* for introspection (HTTP basic) */
	const char *client_secret; /* for introspection */
	const char *roles_client;  /* "{client}" in role paths; NULL: audience */
	int			jwks_refresh_min;	 /* seconds between two JWKS fetches */
	int			introspection_cache; /* seconds an introspection is kept */
	int			skew;				 /* seconds of clock skew allowed */
	const char *const *role_paths;	 /* claim paths of the roles */
	size_t			   n_role_paths;
	/* Legacy: HS256 JWTs signed with these bytes are accepted too (their
	 * iss, aud, exp and nbf checked alike); none when hs256_secret_len is 0. */
	const unsigned char *hs256_secret;
	size_t				 hs256_secret_len;
};

/* The verdict on a token. */
enum oidc_result
{
	OIDC_OK = 0,
	OIDC_INVALID,		/* refused: 401 */
	OIDC_NO_ADMIN_ROLE, /* a good token without full_admin or viewer: 403 */
	OIDC_UNAVAILABLE	/* the provider was needed and is down: 401 */
};

#define OIDC_SUBJECT_MAX 256
#define OIDC_EMAIL_MAX	 256

/* Who a token speaks for; "" when the token does not say. */
struct oidc_identity
{
	char subject[OIDC_SUBJECT_MAX];
	char email[OIDC_EMAIL_MAX];
	int	 roles; /* JWT_ROLE_* bits */
};

/*
 * oidc_init: keeps a copy of cfg, fetches the discovery document (whose
 * issuer must be cfg->issuer) and the JWKS it names.  A provider that
 * cannot be reached is logged and fetched again when a token needs it;
 * that is not a failure.  Returns -1 with err set only when cfg is
 * unusable or memory or libcurl cannot be set up.  Call it once, before
 * any thread calls oidc_check.
 */
extern int oidc_init(const struct oidc_config *cfg, char *err, size_t errlen);

/*
 * oidc_check: the verdict on token at time now.  On OIDC_OK and
 * OIDC_NO_ADMIN_ROLE, *out holds the identity; otherwise err says why in
 * a line (for the log, not the client).  A JWT (three dot-separated
 * parts) is verified against the cached keys, the JWKS being fetched
 * again on an unknown kid at most once per jwks_refresh_min; any other
 * token is introspected.  Good answers are cached by the token's
 * SHA-256 until the token expires (introspections at most
 * introspection_cache seconds).
 */
extern enum oidc_result oidc_check(const char *token, time_t now,
								   struct oidc_identity *out, char *err,
								   size_t errlen);

/* oidc_result_name: "OIDC_OK", ... for logs and tests. */
extern const char *oidc_result_name(enum oidc_result r);

/*
 * oidc_cache_forget: drops token's cached verdict, if any, so that the
 * next oidc_check verifies it afresh (for benchmarks of that path).
 */
extern void oidc_cache_forget(const char *token);

/* oidc_shutdown: releases the keys, the cache and libcurl. */
extern void oidc_shutdown(void);

#endif /* HTTPD_OIDC_H */
