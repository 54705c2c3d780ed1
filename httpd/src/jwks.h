/*
 * httpd/src/jwks.h
 *	  A provider's JSON Web Key Set, as the RSA public keys that verify its
 *	  tokens, found by key id.
 */
#ifndef HTTPD_JWKS_H
#define HTTPD_JWKS_H

#include <stddef.h>

#include <openssl/types.h>

struct jwks_key
{
	char	 *kid;	/* the key's "kid"; "" when it has none */
	EVP_PKEY *pkey; /* RSA public key */
};

struct jwks
{
	struct jwks_key *keys;
	size_t			 n;
};

/*
 * jwks_parse: the keys of a JWKS document (text of len bytes) into *out,
 * which the caller releases with jwks_free.  Keys that are not RSA
 * signature keys ("kty" other than RSA, "use" other than sig, "alg" other
 * than RS256) are skipped, as are RSA keys whose n or e do not decode.
 * Returns 0, or -1 with a message in err when the document is not a JSON
 * object with a "keys" array (out is then empty).
 */
extern int jwks_parse(const char *text, size_t len, struct jwks *out,
					  char *err, size_t errlen);

/* jwks_find: the key whose kid is kid, or NULL; borrowed from keys. */
extern EVP_PKEY *jwks_find(const struct jwks *keys, const char *kid);

/* jwks_free: releases the keys of *keys and empties it. */
extern void jwks_free(struct jwks *keys);

/*
 * b64url_decode: base64url without padding (RFC 7515) of len characters
 * into a malloc'd buffer the caller frees, its length in *outlen (a NUL
 * follows it, not counted).  NULL when the text is not base64url or
 * memory runs out.
 */
extern unsigned char *b64url_decode(const char *text, size_t len,
									size_t *outlen);

#endif /* HTTPD_JWKS_H */
