/*
 * httpd/src/jwks.c
 *	  Parsing a JSON Web Key Set (RFC 7517) into OpenSSL public keys.
 *
 *	  Only RSA signature keys are kept: n and e (base64url, big-endian) are
 *	  made into an EVP_PKEY with OSSL_PARAM_BLD and EVP_PKEY_fromdata, once,
 *	  when the set is fetched, so that verifying a token costs only the
 *	  signature check.  The base64url decoding is libsodium's.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <sodium.h>

#include "jwks.h"

unsigned char *
b64url_decode(const char *text, size_t len, size_t *outlen)
{
	size_t		   cap = len / 4 * 3 + 3;
	unsigned char *buf = malloc(cap + 1);
	const char	  *end;

	if (buf == NULL)
		return NULL;
	if (sodium_base642bin(buf, cap, text, len, NULL, outlen, &end,
						  sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
		end != text + len)
	{
		free(buf);
		return NULL;
	}
	buf[*outlen] = '\0';
	return buf;
}

/* A member that is a string, or NULL. */
static const char *
member_str(const json_t *obj, const char *name)
{
	return json_string_value(json_object_get(obj, name));
}

/*
 * rsa_from_ne: an RSA public key from base64url n and e; NULL when either
 * does not decode or OpenSSL refuses them.  The caller owns the key.
 */
static EVP_PKEY *
rsa_from_ne(const char *n64, const char *e64)
{
	unsigned char  *n = NULL;
	unsigned char  *e = NULL;
	size_t			nlen, elen;
	BIGNUM		   *bn_n = NULL;
	BIGNUM		   *bn_e = NULL;
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM	   *params = NULL;
	EVP_PKEY_CTX   *ctx = NULL;
	EVP_PKEY	   *pkey = NULL;

	n = b64url_decode(n64, strlen(n64), &nlen);
	e = b64url_decode(e64, strlen(e64), &elen);
	if (n == NULL || e == NULL || nlen == 0 || elen == 0)
		goto done;
	bn_n = BN_bin2bn(n, (int) nlen, NULL);
	bn_e = BN_bin2bn(e, (int) elen, NULL);
	bld = OSSL_PARAM_BLD_new();
	if (bn_n == NULL || bn_e == NULL || bld == NULL ||
		!OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n) ||
		!OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e))
		goto done;
	params = OSSL_PARAM_BLD_to_param(bld);
	ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	if (params == NULL || ctx == NULL || EVP_PKEY_fromdata_init(ctx) <= 0 ||
		EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0)
	{
		EVP_PKEY_free(pkey);
		pkey = NULL;
	}

done:
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_free(bn_n);
	BN_free(bn_e);
	free(n);
	free(e);
	return pkey;
}

int
jwks_parse(const char *text, size_t len, struct jwks *out, char *err,
		   size_t errlen)
{
	json_error_t jerr;
	json_t		*doc;
	json_t		*keys;
	json_t		*jwk;
	size_t		 i;
	int			 rc = -1;

	out->keys = NULL;
	out->n = 0;
	doc = json_loadb(text, len, 0, &jerr);
	if (doc == NULL)
	{
		snprintf(err, errlen, "JWKS is not JSON: %s", jerr.text);
		return -1;
	}
	keys = json_object_get(doc, "keys");
	if (!json_is_array(keys))
	{
		snprintf(err, errlen, "JWKS has no \"keys\" array");
		goto done;
	}
	out->keys = calloc(json_array_size(keys) + 1, sizeof(*out->keys));
	if (out->keys == NULL)
	{
		snprintf(err, errlen, "out of memory");
		goto done;
	}
	json_array_foreach(keys, i, jwk)
	{
		const char *kty = member_str(jwk, "kty");
		const char *use = member_str(jwk, "use");
		const char *alg = member_str(jwk, "alg");
		const char *kid = member_str(jwk, "kid");
		const char *n64 = member_str(jwk, "n");
		const char *e64 = member_str(jwk, "e");
		EVP_PKEY   *pkey;
		char	   *kid_copy;

		if (kty == NULL || strcmp(kty, "RSA") != 0 ||
			(use != NULL && strcmp(use, "sig") != 0) ||
			(alg != NULL && strcmp(alg, "RS256") != 0) || n64 == NULL ||
			e64 == NULL)
			continue;
		pkey = rsa_from_ne(n64, e64);
		if (pkey == NULL)
			continue;
		kid_copy = strdup(kid ? kid : "");
		if (kid_copy == NULL)
		{
			EVP_PKEY_free(pkey);
			snprintf(err, errlen, "out of memory");
			jwks_free(out);
			goto done;
		}
		out->keys[out->n].kid = kid_copy;
		out->keys[out->n].pkey = pkey;
		out->n++;
	}
	rc = 0;

done:
	if (rc != 0)
		jwks_free(out);
	json_decref(doc);
	return rc;
}

EVP_PKEY *
jwks_find(const struct jwks *keys, const char *kid)
{
	size_t i;

	for (i = 0; i < keys->n; i++)
		if (strcmp(keys->keys[i].kid, kid) == 0)
			return keys->keys[i].pkey;
	return NULL;
}

void
jwks_free(struct jwks *keys)
{
	size_t i;

	for (i = 0; i < keys->n; i++)
	{
		free(keys->keys[i].kid);
		EVP_PKEY_free(keys->keys[i].pkey);
	}
	free(keys->keys);
	keys->keys = NULL;
	keys->n = 0;
}
