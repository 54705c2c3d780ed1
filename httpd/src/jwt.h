/*
 * httpd/src/jwt.h
 *	  Checking an admin's JSON Web Token locally: RS256 against the
 *	  provider's keys (or HS256 under the legacy secret), then issuer,
 *	  audience, expiry and not-before; and the admin roles it carries.
 */
#ifndef HTTPD_JWT_H
#define HTTPD_JWT_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <jansson.h>

#include "jwks.h"

/* What jwt_verify found; every value but JWT_OK is a 401. */
enum jwt_result
{
	JWT_OK = 0,
	JWT_MALFORMED,	 /* not three base64url parts of JSON objects */
	JWT_BAD_ALG,	 /* alg not the one the verifier accepts */
	JWT_UNKNOWN_KID, /* no key with that kid: refetch the JWKS */
	JWT_BAD_SIGNATURE,
	JWT_EXPIRED,	   /* exp <= now - skew */
	JWT_NOT_YET_VALID, /* nbf > now + skew */
	JWT_WRONG_ISSUER,
	JWT_WRONG_AUDIENCE
};

/* What a token must say besides its signature. */
struct jwt_expect
{
	const char *issuer;	  /* iss must equal it */
	const char *audience; /* aud (a string or an array) must hold it */
	int			skew;	  /* seconds of clock skew allowed */
};

/* A verified token's claims; release with jwt_claims_free. */
struct jwt_claims
{
	json_t	   *payload; /* the whole payload, owned */
	const char *sub;	 /* borrowed from payload; NULL when absent */
	const char *email;	 /* borrowed from payload; NULL when absent */
	time_t		exp;
};

/*
 * jwt_verify: checks a compact RS256 JWT against keys and expect at time
 * now.  On JWT_OK, *out holds the claims (the caller frees them with
 * jwt_claims_free); otherwise *out is empty and err says why in a line.
 * A token without a kid is checked against the only key of a set of one.
 */
extern enum jwt_result jwt_verify(const char *token, const struct jwks *keys,
								  const struct jwt_expect *expect, time_t now,
								  struct jwt_claims *out, char *err,
								  size_t errlen);

/*
 * jwt_verify_hs256: the same for the legacy fallback, an HS256 JWT whose
 * HMAC-SHA256 key is secret (secretlen bytes).  Any other alg is
 * JWT_BAD_ALG.
 */
extern enum jwt_result
jwt_verify_hs256(const char *token, const unsigned char *secret,
				 size_t secretlen, const struct jwt_expect *expect, time_t now,
				 struct jwt_claims *out, char *err, size_t errlen);

/* jwt_claims_free: releases the payload and empties *claims. */
extern void jwt_claims_free(struct jwt_claims *claims);

/* jwt_result_name: "JWT_OK", ... for logs and tests. */
extern const char *jwt_result_name(enum jwt_result r);

#define JWT_ROLE_FULL_ADMIN 0x1
#define JWT_ROLE_VIEWER		0x2

/*
 * jwt_roles: the admin roles (JWT_ROLE_* bits) named in payload along the
 * n claim paths.  A path is segments separated by '.', each a member name
 * in turn (realm_access.roles); a segment "{client}" stands for client_id
 * as one member name, dots and all (resource_access.{client}.roles).  The
 * path must end at an array of strings; any other shape adds nothing.
 */
extern int jwt_roles(const json_t *payload, const char *const paths[],
					 size_t n, const char *client_id);

#endif /* HTTPD_JWT_H */
