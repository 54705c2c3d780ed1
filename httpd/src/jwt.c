/*
 * httpd/src/jwt.c
 *	  Verifying a compact JSON Web Token (RFC 7519) without calling its
 *	  issuer.
 *
 *	  The token is split into header, payload and signature, each
 *	  base64url; header and payload are JSON objects.  The header's alg is
 *	  checked against the one the caller's verifier accepts, before any key
 *	  is touched, so that "none" and an RS256 key used as an HMAC secret
 *	  are both refused.  RS256 is PKCS#1 v1.5 with SHA-256 through
 *	  EVP_DigestVerify; the legacy HS256 is libsodium's HMAC-SHA256 with a
 *	  constant-time comparison.  Then the claims: iss, aud, exp, nbf.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <sodium.h>

#include "jwt.h"

/* Longer than any token a provider issues; refused unread. */
#define JWT_MAX_LEN 16384

/* A token split and decoded; jwt_parts_free releases it. */
struct jwt_parts
{
	json_t		  *header;
	json_t		  *payload;
	unsigned char *sig;
	size_t		   siglen;
	size_t		   signed_len; /* header.payload, what was signed */
};

static void
jwt_parts_free(struct jwt_parts *p)
{
	json_decref(p->header);
	json_decref(p->payload);
	free(p->sig);
	memset(p, 0, sizeof(*p));
}

/* A base64url part decoded and parsed as a JSON object, or NULL. */
static json_t *
decode_json_part(const char *text, size_t len)
{
	unsigned char *raw;
	size_t		   rawlen;
	json_t		  *obj;

	raw = b64url_decode(text, len, &rawlen);
	if (raw == NULL)
		return NULL;
	obj = json_loadb((const char *) raw, rawlen, JSON_REJECT_DUPLICATES, NULL);
	free(raw);
	if (obj != NULL && !json_is_object(obj))
	{
		json_decref(obj);
		obj = NULL;
	}
	return obj;
}

/*
 * jwt_split: the three parts of token into *p.  Returns 0, or -1 with err
 * set and *p empty.
 */
static int
jwt_split(const char *token, struct jwt_parts *p, char *err, size_t errlen)
{
	const char *dot1;
	const char *dot2;
	size_t		len = strnlen(token, JWT_MAX_LEN + 1);

	memset(p, 0, sizeof(*p));
	if (len > JWT_MAX_LEN)
	{
		snprintf(err, errlen, "token longer than %d bytes", JWT_MAX_LEN);
		return -1;
	}
	dot1 = strchr(token, '.');
	dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
	if (dot2 == NULL || strchr(dot2 + 1, '.') != NULL)
	{
		snprintf(err, errlen, "token is not three dot-separated parts");
		return -1;
	}
	p->header = decode_json_part(token, (size_t) (dot1 - token));
	p->payload = decode_json_part(dot1 + 1, (size_t) (dot2 - dot1 - 1));
	p->sig = b64url_decode(dot2 + 1, strlen(dot2 + 1), &p->siglen);
	if (p->header == NULL || p->payload == NULL || p->sig == NULL)
	{
		snprintf(err, errlen, "%s is not base64url of a JSON object",
				 p->header == NULL	  ? "header"
				 : p->payload == NULL ? "payload"
									  : "signature");
		jwt_parts_free(p);
		return -1;
	}
	p->signed_len = (size_t) (dot2 - token);
	return 0;
}

/*
 * check_header: alg must be want; a "crit" header (extensions we would
 * have to understand) is refused as malformed.
 */
static enum jwt_result
check_header(const json_t *header, const char *want, char *err, size_t errlen)
{
	const char *alg = json_string_value(json_object_get(header, "alg"));

	if (alg == NULL)
	{
		snprintf(err, errlen, "header has no alg");
		return JWT_MALFORMED;
	}
	if (strcmp(alg, want) != 0)
	{
		snprintf(err, errlen, "alg %.32s is not accepted (want %s)", alg,
				 want);
		return JWT_BAD_ALG;
	}
	if (json_object_get(header, "crit") != NULL)
	{
		snprintf(err, errlen, "header has crit extensions");
		return JWT_MALFORMED;
	}
	return JWT_OK;
}

/* aud is expected, or an array holding it. */
static bool
aud_holds(const json_t *aud, const char *expected)
{
	size_t		  i;
	const json_t *v;

	if (json_is_string(aud))
		return strcmp(json_string_value(aud), expected) == 0;
	if (json_is_array(aud))
		json_array_foreach(aud, i, v) if (json_is_string(v) &&
										  strcmp(json_string_value(v),
												 expected) == 0) return true;
	return false;
}

/*
 * check_claims: iss, aud, exp (required) and nbf (optional) of a token
 * whose signature was verified.  On JWT_OK moves the payload into *out.
 */
static enum jwt_result
check_claims(struct jwt_parts *p, const struct jwt_expect *expect, time_t now,
			 struct jwt_claims *out, char *err, size_t errlen)
{
	json_t	   *exp = json_object_get(p->payload, "exp");
	json_t	   *nbf = json_object_get(p->payload, "nbf");
	const char *iss = json_string_value(json_object_get(p->payload, "iss"));
	double		exp_v;

	if (!json_is_number(exp) || (nbf != NULL && !json_is_number(nbf)))
	{
		snprintf(err, errlen, "exp missing or not a number, or nbf not one");
		return JWT_MALFORMED;
	}
	exp_v = json_number_value(exp);
	if (exp_v <= (double) now - expect->skew)
	{
		snprintf(err, errlen, "token expired");
		return JWT_EXPIRED;
	}
	if (nbf != NULL && json_number_value(nbf) > (double) now + expect->skew)
	{
		snprintf(err, errlen, "token not valid yet");
		return JWT_NOT_YET_VALID;
	}
	if (iss == NULL || strcmp(iss, expect->issuer) != 0)
	{
		snprintf(err, errlen, "issuer is not %s", expect->issuer);
		return JWT_WRONG_ISSUER;
	}
	if (!aud_holds(json_object_get(p->payload, "aud"), expect->audience))
	{
		snprintf(err, errlen, "audience does not include %s",
				 expect->audience);
		return JWT_WRONG_AUDIENCE;
	}
	out->payload = p->payload;
	p->payload = NULL;
	out->sub = json_string_value(json_object_get(out->payload, "sub"));
	out->email = json_string_value(json_object_get(out->payload, "email"));
	out->exp = (time_t) exp_v;
	return JWT_OK;
}

/* The RS256 signature: PKCS#1 v1.5, SHA-256.  True when it verifies. */
static bool
rs256_ok(EVP_PKEY *pkey, const char *msg, size_t msglen,
		 const unsigned char *sig, size_t siglen)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	bool		good = false;

	if (ctx == NULL)
		return false;
	if (EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, pkey) == 1 &&
		EVP_DigestVerify(ctx, sig, siglen, (const unsigned char *) msg,
						 msglen) == 1)
		good = true;
	EVP_MD_CTX_free(ctx);
	return good;
}

enum jwt_result
jwt_verify(const char *token, const struct jwks *keys,
		   const struct jwt_expect *expect, time_t now, struct jwt_claims *out,
		   char *err, size_t errlen)
{
	struct jwt_parts p;
	enum jwt_result	 rc;
	const char		*kid;
	EVP_PKEY		*pkey;

	memset(out, 0, sizeof(*out));
	if (jwt_split(token, &p, err, errlen) != 0)
		return JWT_MALFORMED;
	rc = check_header(p.header, "RS256", err, errlen);
	if (rc != JWT_OK)
		goto done;
	kid = json_string_value(json_object_get(p.header, "kid"));
	if (kid != NULL)
		pkey = jwks_find(keys, kid);
	else
		pkey = keys->n == 1 ? keys->keys[0].pkey : NULL;
	if (pkey == NULL)
	{
		snprintf(err, errlen, "no key with kid %.64s", kid ? kid : "(none)");
		rc = JWT_UNKNOWN_KID;
		goto done;
	}
	if (!rs256_ok(pkey, token, p.signed_len, p.sig, p.siglen))
	{
		snprintf(err, errlen, "signature does not verify");
		rc = JWT_BAD_SIGNATURE;
		goto done;
	}
	rc = check_claims(&p, expect, now, out, err, errlen);

done:
	jwt_parts_free(&p);
	return rc;
}

enum jwt_result
jwt_verify_hs256(const char *token, const unsigned char *secret,
				 size_t secretlen, const struct jwt_expect *expect, time_t now,
				 struct jwt_claims *out, char *err, size_t errlen)
{
	struct jwt_parts			 p;
	enum jwt_result				 rc;
	crypto_auth_hmacsha256_state st;
	unsigned char				 mac[crypto_auth_hmacsha256_BYTES];

	memset(out, 0, sizeof(*out));
	if (jwt_split(token, &p, err, errlen) != 0)
		return JWT_MALFORMED;
	rc = check_header(p.header, "HS256", err, errlen);
	if (rc != JWT_OK)
		goto done;
	crypto_auth_hmacsha256_init(&st, secret, secretlen);
	crypto_auth_hmacsha256_update(&st, (const unsigned char *) token,
								  p.signed_len);
	crypto_auth_hmacsha256_final(&st, mac);
	if (p.siglen != sizeof(mac) || sodium_memcmp(mac, p.sig, sizeof(mac)) != 0)
	{
		snprintf(err, errlen, "signature does not verify");
		rc = JWT_BAD_SIGNATURE;
		goto done;
	}
	rc = check_claims(&p, expect, now, out, err, errlen);

done:
	sodium_memzero(&st, sizeof(st));
	jwt_parts_free(&p);
	return rc;
}

void
jwt_claims_free(struct jwt_claims *claims)
{
	json_decref(claims->payload);
	memset(claims, 0, sizeof(*claims));
}

const char *
jwt_result_name(enum jwt_result r)
{
	static const char *const names[] = {
		"JWT_OK",
		"JWT_MALFORMED",
		"JWT_BAD_ALG",
		"JWT_UNKNOWN_KID",
		"JWT_BAD_SIGNATURE",
		"JWT_EXPIRED",
		"JWT_NOT_YET_VALID",
		"JWT_WRONG_ISSUER",
		"JWT_WRONG_AUDIENCE",
	};

	if ((size_t) r < sizeof(names) / sizeof(names[0]))
		return names[r];
	return "JWT_?";
}

/* The value at one claim path, or NULL. */
static const json_t *
claim_at(const json_t *payload, const char *path, const char *client_id)
{
	const json_t *v = payload;
	const char	 *seg = path;

	while (v != NULL)
	{
		const char *dot = strchr(seg, '.');
		size_t		len = dot ? (size_t) (dot - seg) : strlen(seg);

		if (!json_is_object(v))
			return NULL;
		if (len == 8 && strncmp(seg, "{client}", 8) == 0)
			v = client_id ? json_object_get(v, client_id) : NULL;
		else
			v = json_object_getn(v, seg, len);
		if (dot == NULL)
			break;
		seg = dot + 1;
	}
	return v;
}

int
jwt_roles(const json_t *payload, const char *const paths[], size_t n,
		  const char *client_id)
{
	int	   roles = 0;
	size_t i;

	for (i = 0; i < n; i++)
	{
		const json_t *arr = claim_at(payload, paths[i], client_id);
		const json_t *v;
		size_t		  j;

		if (!json_is_array(arr))
			continue;
		json_array_foreach(arr, j, v)
		{
			const char *name = json_string_value(v);

			if (name == NULL)
				continue;
			if (strcmp(name, "full_admin") == 0)
				roles |= JWT_ROLE_FULL_ADMIN;
			else if (strcmp(name, "viewer") == 0)
				roles |= JWT_ROLE_VIEWER;
		}
	}
	return roles;
}
