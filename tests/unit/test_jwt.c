/*
 * tests/unit/test_jwt.c
 *	  Admin token checks (httpd/src/jwt.c, jwks.c): a JWKS made from two RSA
 *	  keys generated here, tokens signed here with EVP_DigestSign, and
 *	  every verdict of jwt_verify; the legacy HS256 path; the roles found
 *	  along claim paths.  Prints the cost of one verification as a comment.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <sodium.h>

#include "jwks.h"
#include "jwt.h"
#include "tap.h"

#define ISS "http://127.0.0.1:9000"
#define AUD "cpub-admin"
#define NOW ((time_t) 1800000000)

/* base64url without padding of len bytes; malloc'd. */
static char *
b64url(const void *data, size_t len)
{
	size_t cap = sodium_base64_ENCODED_LEN(
		len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	char *out = malloc(cap);

	sodium_bin2base64(out, cap, data, len,
					  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	return out;
}

/* A BIGNUM parameter of key, base64url. */
static char *
bn_param_b64(EVP_PKEY *key, const char *name)
{
	BIGNUM		  *bn = NULL;
	unsigned char *buf;
	int			   len;
	char		  *out;

	EVP_PKEY_get_bn_param(key, name, &bn);
	len = BN_num_bytes(bn);
	buf = malloc((size_t) len);
	BN_bn2bin(bn, buf);
	out = b64url(buf, (size_t) len);
	free(buf);
	BN_free(bn);
	return out;
}

/* One JWK object of key under kid. */
static json_t *
jwk_of(EVP_PKEY *key, const char *kid)
{
	char   *n = bn_param_b64(key, OSSL_PKEY_PARAM_RSA_N);
	char   *e = bn_param_b64(key, OSSL_PKEY_PARAM_RSA_E);
	json_t *jwk =
		json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "kty", "RSA", "use", "sig",
				  "alg", "RS256", "kid", kid, "n", n, "e", e);

	free(n);
	free(e);
	return jwk;
}

/* header.payload of two JSON texts, base64url'd; malloc'd. */
static char *
signing_input(const char *header, const char *payload)
{
	char *h = b64url(header, strlen(header));
	char *p = b64url(payload, strlen(payload));
	char *out = malloc(strlen(h) + strlen(p) + 2);

	sprintf(out, "%s.%s", h, p);
	free(h);
	free(p);
	return out;
}

/* input.signature, from a signature of siglen bytes; malloc'd. */
static char *
with_sig(char *input, const unsigned char *sig, size_t siglen)
{
	char *s = b64url(sig, siglen);
	char *out = malloc(strlen(input) + strlen(s) + 2);

	sprintf(out, "%s.%s", input, s);
	free(s);
	free(input);
	return out;
}

/* A compact JWT signed RS256 with key (the header given as JSON). */
static char *
sign_rs256(EVP_PKEY *key, const char *header, const char *payload)
{
	char		 *input = signing_input(header, payload);
	EVP_MD_CTX	 *ctx = EVP_MD_CTX_new();
	unsigned char sig[512];
	size_t		  siglen = sizeof(sig);

	EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key);
	EVP_DigestSign(ctx, sig, &siglen, (unsigned char *) input, strlen(input));
	EVP_MD_CTX_free(ctx);
	return with_sig(input, sig, siglen);
}

/* A compact JWT signed HS256 with secret. */
static char *
sign_hs256(const char *secret, const char *header, const char *payload)
{
	char						*input = signing_input(header, payload);
	crypto_auth_hmacsha256_state st;
	unsigned char				 mac[crypto_auth_hmacsha256_BYTES];

	crypto_auth_hmacsha256_init(&st, (const unsigned char *) secret,
								strlen(secret));
	crypto_auth_hmacsha256_update(&st, (unsigned char *) input, strlen(input));
	crypto_auth_hmacsha256_final(&st, mac);
	return with_sig(input, mac, sizeof(mac));
}

/* A payload with the given iss, aud (JSON text), exp and nbf. */
static char *
payload_of(const char *iss, const char *aud_json, long exp, long nbf)
{
	char *out = malloc(1024);

	snprintf(out, 1024,
			 "{\"iss\":\"%s\",\"aud\":%s,\"sub\":\"u-1\","
			 "\"email\":\"ada@example.com\",\"exp\":%ld,\"nbf\":%ld,"
			 "\"realm_access\":{\"roles\":[\"viewer\"]}}",
			 iss, aud_json, exp, nbf);
	return out;
}

static const struct jwt_expect expect = {ISS, AUD, 30};

/* jwt_verify of token against keys; frees token and any claims. */
static enum jwt_result
verify(char *token, const struct jwks *keys)
{
	struct jwt_claims c;
	char			  err[256];
	enum jwt_result	  r =
		jwt_verify(token, keys, &expect, NOW, &c, err, sizeof(err));

	jwt_claims_free(&c);
	free(token);
	return r;
}

/* ok() that the verdict is want, naming both. */
#define is_result(got, want, name)                                            \
	do                                                                        \
	{                                                                         \
		enum jwt_result got_ = (got);                                         \
		ok(got_ == (want), "%s: %s (got %s)", name, #want,                    \
		   jwt_result_name(got_));                                            \
	} while (0)

static const char *const H1 =
	"{\"alg\":\"RS256\",\"typ\":\"JWT\",\"kid\":\"k1\"}";
static const char *const H2 = "{\"alg\":\"RS256\",\"kid\":\"k2\"}";

static void
test_rs256(EVP_PKEY *k1, EVP_PKEY *k2, const struct jwks *keys)
{
	char *good_pl = payload_of(ISS, "\"" AUD "\"", NOW + 300, NOW - 10);
	char *tok;
	struct jwt_claims c;
	char			  err[256];
	size_t			  len;
	struct timespec	  t0, t1;
	int				  i;
	int				  iters = 10000;
	double			  us;
	int				  failures = 0;

	/* A good token, with its claims. */
	tok = sign_rs256(k1, H1, good_pl);
	ok(jwt_verify(tok, keys, &expect, NOW, &c, err, sizeof(err)) == JWT_OK,
	   "good token verifies");
	is_str(c.sub, "u-1", "sub out");
	is_str(c.email, "ada@example.com", "email out");
	ok(c.exp == NOW + 300, "exp out");
	jwt_claims_free(&c);
	ok(c.payload == NULL, "claims freed");

	/* The cost of one verification (a figure, not an assertion). */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < iters; i++)
	{
		if (jwt_verify(tok, keys, &expect, NOW, &c, err, sizeof(err)) !=
			JWT_OK)
			failures++;
		jwt_claims_free(&c);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	us = ((double) (t1.tv_sec - t0.tv_sec) * 1e6 +
		  (double) (t1.tv_nsec - t0.tv_nsec) / 1e3) /
		 iters;
	ok(failures == 0, "%d verifications in a row all pass", iters);
	printf("# jwt_verify RS256-2048: %.1f us per verification (%d runs; "
		   "goal <= 50 us)\n",
		   us, iters);

	/* A flipped byte of the signature, then of the payload. */
	len = strlen(tok);
	tok[len - 10] = tok[len - 10] == 'A' ? 'B' : 'A';
	is_result(verify(strdup(tok), keys), JWT_BAD_SIGNATURE,
			  "flipped signature byte");
	free(tok);
	tok = sign_rs256(k1, H1, good_pl);
	{
		char *dot = strchr(tok, '.');

		dot[3] = dot[3] == 'A' ? 'B' : 'A';
	}
	ok(verify(tok, keys) != JWT_OK, "flipped payload byte is refused");

	/* Signed by the other key under k1's kid. */
	is_result(verify(sign_rs256(k2, H1, good_pl), keys), JWT_BAD_SIGNATURE,
			  "k2's signature under kid k1");
	is_result(verify(sign_rs256(k2, H2, good_pl), keys), JWT_OK,
			  "k2's token under kid k2");
	is_result(
		verify(sign_rs256(k1, "{\"alg\":\"RS256\",\"kid\":\"k9\"}", good_pl),
			   keys),
		JWT_UNKNOWN_KID, "unknown kid");
	is_result(verify(sign_rs256(k1, "{\"alg\":\"RS256\"}", good_pl), keys),
			  JWT_UNKNOWN_KID, "no kid, two keys");

	/* alg none, and HS256 keyed with whatever to an RS256 verifier. */
	tok = signing_input("{\"alg\":\"none\",\"kid\":\"k1\"}", good_pl);
	tok = realloc(tok, strlen(tok) + 2);
	strcat(tok, ".");
	is_result(verify(tok, keys), JWT_BAD_ALG, "alg none");
	is_result(
		verify(sign_hs256("k1", "{\"alg\":\"HS256\",\"kid\":\"k1\"}", good_pl),
			   keys),
		JWT_BAD_ALG, "HS256 to the RS256 verifier");
	is_result(
		verify(sign_rs256(k1, "{\"alg\":\"RS512\",\"kid\":\"k1\"}", good_pl),
			   keys),
		JWT_BAD_ALG, "RS512");
	is_result(verify(sign_rs256(k1, "{\"kid\":\"k1\"}", good_pl), keys),
			  JWT_MALFORMED, "no alg");

	/* Times, at and around the skew. */
	{
		char *p;

		p = payload_of(ISS, "\"" AUD "\"", NOW - 31, NOW - 600);
		is_result(verify(sign_rs256(k1, H1, p), keys), JWT_EXPIRED,
				  "expired past the skew");
		free(p);
		p = payload_of(ISS, "\"" AUD "\"", NOW - 29, NOW - 600);
		is_result(verify(sign_rs256(k1, H1, p), keys), JWT_OK,
				  "expired within the skew");
		free(p);
		p = payload_of(ISS, "\"" AUD "\"", NOW + 600, NOW + 31);
		is_result(verify(sign_rs256(k1, H1, p), keys), JWT_NOT_YET_VALID,
				  "nbf past the skew");
		free(p);
		p = payload_of(ISS, "\"" AUD "\"", NOW + 600, NOW + 29);
		is_result(verify(sign_rs256(k1, H1, p), keys), JWT_OK,
				  "nbf within the skew");
		free(p);
		tok = sign_rs256(k1, H1, "{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\"}");
		is_result(verify(tok, keys), JWT_MALFORMED, "no exp");

		/* Issuer and audience. */
		p = payload_of(ISS "/other", "\"" AUD "\"", NOW + 300, NOW);
		is_result(verify(sign_rs256(k1, H1, p), keys), JWT_WRONG_ISSUER,
				  "wrong iss");
		free(p);
		tok = sign_rs256(k1, H1, "{\"aud\":\"" AUD "\",\"exp\":1900000000}");
		is_result(verify(tok, keys), JWT_WRONG_ISSUER, "no iss");
		p = payload_of(ISS, "\"account\"", NOW + 300, NOW);
		is_result(verify(sign_rs256(k1, H1, p), keys), JWT_WRONG_AUDIENCE,
				  "wrong aud");
		free(p);
		p = payload_of(ISS, "[\"account\",\"" AUD "\"]", NOW + 300, NOW);
		is_result(verify(sign_rs256(k1, H1, p), keys), JWT_OK,
				  "aud an array holding ours");
		free(p);
		p = payload_of(ISS, "[\"account\",\"other\"]", NOW + 300, NOW);
		is_result(verify(sign_rs256(k1, H1, p), keys), JWT_WRONG_AUDIENCE,
				  "aud an array without ours");
		free(p);
	}

	/* Malformed tokens. */
	tok = sign_rs256(k1, H1, good_pl);
	*strrchr(tok, '.') = '\0';
	is_result(verify(tok, keys), JWT_MALFORMED, "two parts");
	tok = sign_rs256(k1, H1, good_pl);
	tok = realloc(tok, strlen(tok) + 3);
	strcat(tok, ".x");
	is_result(verify(tok, keys), JWT_MALFORMED, "four parts");
	is_result(verify(strdup("e30.e30!.AAAA"), keys), JWT_MALFORMED,
			  "bad base64");
	is_result(verify(strdup("bm90IGpzb24.e30.AAAA"), keys), JWT_MALFORMED,
			  "header not JSON");
	is_result(verify(strdup("W10.e30.AAAA"), keys), JWT_MALFORMED,
			  "header a JSON array");
	is_result(verify(strdup(""), keys), JWT_MALFORMED, "empty token");
	free(good_pl);
}

static void
test_hs256(EVP_PKEY *k1)
{
	const char		 *secret = "a legacy secret of some length";
	const char		 *hh = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
	char			 *pl = payload_of(ISS, "\"" AUD "\"", NOW + 300, NOW);
	char			 *tok;
	struct jwt_claims c;
	char			  err[256];

	tok = sign_hs256(secret, hh, pl);
	ok(jwt_verify_hs256(tok, (const unsigned char *) secret, strlen(secret),
						&expect, NOW, &c, err, sizeof(err)) == JWT_OK,
	   "HS256 under the legacy secret");
	is_str(c.sub, "u-1", "HS256 sub out");
	jwt_claims_free(&c);
	is_result(jwt_verify_hs256(tok, (const unsigned char *) "other", 5,
							   &expect, NOW, &c, err, sizeof(err)),
			  JWT_BAD_SIGNATURE, "HS256 under another secret");
	free(tok);
	tok = sign_rs256(k1, H1, pl);
	is_result(jwt_verify_hs256(tok, (const unsigned char *) secret,
							   strlen(secret), &expect, NOW, &c, err,
							   sizeof(err)),
			  JWT_BAD_ALG, "RS256 to the HS256 verifier");
	free(tok);
	tok = signing_input("{\"alg\":\"none\"}", pl);
	tok = realloc(tok, strlen(tok) + 2);
	strcat(tok, ".");
	is_result(jwt_verify_hs256(tok, (const unsigned char *) secret,
							   strlen(secret), &expect, NOW, &c, err,
							   sizeof(err)),
			  JWT_BAD_ALG, "alg none to the HS256 verifier");
	free(tok);
	free(pl);
	pl = payload_of(ISS, "\"" AUD "\"", NOW - 100, NOW - 600);
	tok = sign_hs256(secret, hh, pl);
	is_result(jwt_verify_hs256(tok, (const unsigned char *) secret,
							   strlen(secret), &expect, NOW, &c, err,
							   sizeof(err)),
			  JWT_EXPIRED, "HS256 expired");
	free(tok);
	free(pl);
}

static void
test_roles(void)
{
	const char *const paths[] = {"realm_access.roles",
								 "resource_access.{client}.roles"};
	json_t			 *p;

	p = json_loads("{\"realm_access\":{\"roles\":[\"offline_access\","
				   "\"viewer\"]}}",
				   0, NULL);
	ok(jwt_roles(p, paths, 2, "cpub-admin") == JWT_ROLE_VIEWER,
	   "viewer from realm_access.roles");
	json_decref(p);

	p = json_loads("{\"resource_access\":{\"cpub.admin\":{\"roles\":["
				   "\"full_admin\"]},\"other\":{\"roles\":[\"viewer\"]}}}",
				   0, NULL);
	ok(jwt_roles(p, paths, 2, "cpub.admin") == JWT_ROLE_FULL_ADMIN,
	   "full_admin from a client id with a dot, not another client's");
	ok(jwt_roles(p, paths, 2, "cpub") == 0,
	   "a prefix of the client is not it");
	ok(jwt_roles(p, paths, 2, NULL) == 0, "no client id, no client roles");
	json_decref(p);

	p = json_loads("{\"realm_access\":{\"roles\":[\"full_admin\"]},"
				   "\"resource_access\":{\"c\":{\"roles\":[\"viewer\"]}}}",
				   0, NULL);
	ok(jwt_roles(p, paths, 2, "c") == (JWT_ROLE_FULL_ADMIN | JWT_ROLE_VIEWER),
	   "both, from both paths");
	ok(jwt_roles(p, paths, 1, "c") == JWT_ROLE_FULL_ADMIN,
	   "only the configured paths");
	json_decref(p);

	p = json_loads("{\"realm_access\":{\"roles\":\"full_admin\"},"
				   "\"roles\":[\"full_admin\", 3, {\"x\":1}]}",
				   0, NULL);
	ok(jwt_roles(p, paths, 2, "c") == 0, "a string, not an array, is none");
	{
		const char *const top[] = {"roles"};

		ok(jwt_roles(p, top, 1, "c") == JWT_ROLE_FULL_ADMIN,
		   "a top-level path, non-strings skipped");
	}
	json_decref(p);
}

int
main(void)
{
	EVP_PKEY   *k1;
	EVP_PKEY   *k2;
	json_t	   *doc;
	char	   *text;
	struct jwks keys;
	char		err[256];

	if (sodium_init() < 0)
		return 1;
	k1 = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 2048);
	k2 = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 2048);
	doc = json_pack("{s:[o, o, {s:s, s:s, s:s}, {s:s, s:s, s:s, s:s, s:s}]}",
					"keys", jwk_of(k1, "k1"), jwk_of(k2, "k2"), "kty", "EC",
					"kid", "ec1", "crv", "P-256", "kty", "RSA", "use", "enc",
					"kid", "enc1", "n", "AQAB", "e", "AQAB");
	text = json_dumps(doc, 0);

	ok(jwks_parse(text, strlen(text), &keys, err, sizeof(err)) == 0,
	   "JWKS parses");
	ok(keys.n == 2, "two RSA signature keys kept, EC and enc skipped");
	ok(jwks_find(&keys, "k1") != NULL && jwks_find(&keys, "k2") != NULL &&
		   jwks_find(&keys, "ec1") == NULL,
	   "keys found by kid");
	{
		struct jwks bad;

		ok(jwks_parse("{\"x\":1}", 7, &bad, err, sizeof(err)) == -1 &&
			   bad.n == 0,
		   "a document without keys is refused: %s", err);
		ok(jwks_parse("nope", 4, &bad, err, sizeof(err)) == -1,
		   "a document that is not JSON is refused");
	}

	test_rs256(k1, k2, &keys);
	test_hs256(k1);
	test_roles();

	jwks_free(&keys);
	free(text);
	json_decref(doc);
	EVP_PKEY_free(k1);
	EVP_PKEY_free(k2);
	return done_testing();
}
