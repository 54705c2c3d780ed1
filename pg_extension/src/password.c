/*-------------------------------------------------------------------------
 *
 * password.c
 *	  Password hashing with argon2id (libsodium), and temporary passwords.
 *
 *	  Hashes are libsodium's self-describing strings ("$argon2id$v=19$m=...,
 *	  t=...,p=1$salt$hash"), so parameters can change without breaking old
 *	  hashes: login rehashes a password whose hash is weaker than the current
 *	  cpub.argon2_* settings.
 *
 * pg_extension/src/password.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sodium.h>

#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "containerpub.h"

#define TEMP_PASSWORD_BYTES 12 /* 16 base64url characters, 96 bits */

/*
 * A hash of nothing in particular, to spend the same time on unknown users
 * as on known ones; made again when the cost settings change, so that it
 * costs what a current hash costs.
 */
static char *dummy_hash = NULL;
static int	 dummy_opslimit;
static int	 dummy_memlimit_kib;

static size_t
memlimit_bytes(void)
{
	return (size_t) cpub_argon2_memlimit_kib * 1024;
}

/*
 * password_hash_cstring
 *		argon2id hash of a password with the current cost settings, palloc'd
 *		in the current memory context.  Fails with 53200 when libsodium
 *		cannot get the memory it needs (a retryable condition).
 */
static char *
password_hash_cstring(const char *pw, size_t len)
{
	char *out = palloc(crypto_pwhash_STRBYTES);

	if (crypto_pwhash_str_alg(
			out, pw, len, (unsigned long long) cpub_argon2_opslimit,
			memlimit_bytes(), crypto_pwhash_ALG_ARGON2ID13) != 0)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY),
						errmsg("could not hash password: out of memory")));
	return out;
}

PG_FUNCTION_INFO_V1(cpub_password_hash);
/*
 * cpub.password_hash(password text) -> text
 */
Datum
cpub_password_hash(PG_FUNCTION_ARGS)
{
	text *pw = PG_GETARG_TEXT_PP(0);

	PG_RETURN_TEXT_P(cstring_to_text(
		password_hash_cstring(VARDATA_ANY(pw), VARSIZE_ANY_EXHDR(pw))));
}

PG_FUNCTION_INFO_V1(cpub_password_verify);
/*
 * cpub.password_verify(hash text, password text) -> boolean
 *		True when the password matches the hash.  A NULL hash (no such user)
 *		is checked against a dummy hash and yields false, so that an unknown
 *		email costs the same time as a wrong password and cannot be told
 *		apart by timing.  Not STRICT for that reason.
 */
Datum
cpub_password_verify(PG_FUNCTION_ARGS)
{
	text *pw;
	char *hash;
	bool  ok;

	if (PG_ARGISNULL(1))
		PG_RETURN_BOOL(false);
	pw = PG_GETARG_TEXT_PP(1);

	if (PG_ARGISNULL(0))
	{
		if (dummy_hash == NULL || dummy_opslimit != cpub_argon2_opslimit ||
			dummy_memlimit_kib != cpub_argon2_memlimit_kib)
		{
			char *h = password_hash_cstring("dummy", 5);

			if (dummy_hash != NULL)
				pfree(dummy_hash);
			dummy_hash = MemoryContextStrdup(TopMemoryContext, h);
			dummy_opslimit = cpub_argon2_opslimit;
			dummy_memlimit_kib = cpub_argon2_memlimit_kib;
		}
		hash = dummy_hash;
	}
	else
		hash = text_to_cstring(PG_GETARG_TEXT_PP(0));

	ok = crypto_pwhash_str_verify(hash, VARDATA_ANY(pw),
								  VARSIZE_ANY_EXHDR(pw)) == 0;
	PG_RETURN_BOOL(ok && !PG_ARGISNULL(0));
}

PG_FUNCTION_INFO_V1(cpub_password_needs_rehash);
/*
 * cpub.password_needs_rehash(hash text) -> boolean
 *		True when the hash was made with other parameters than the current
 *		settings (or is not an argon2id hash at all).
 */
Datum
cpub_password_needs_rehash(PG_FUNCTION_ARGS)
{
	char *hash = text_to_cstring(PG_GETARG_TEXT_PP(0));

	PG_RETURN_BOOL(crypto_pwhash_str_needs_rehash(
					   hash, (unsigned long long) cpub_argon2_opslimit,
					   memlimit_bytes()) != 0);
}

PG_FUNCTION_INFO_V1(cpub_random_password);
/*
 * cpub.random_password() -> text
 *		A temporary password: 96 random bits as 16 base64url characters.
 */
Datum
cpub_random_password(PG_FUNCTION_ARGS)
{
	unsigned char raw[TEMP_PASSWORD_BYTES];
	char		  b64[sodium_base64_ENCODED_LEN(
				 TEMP_PASSWORD_BYTES, sodium_base64_VARIANT_URLSAFE_NO_PADDING)];
	text		 *out;

	randombytes_buf(raw, sizeof(raw));
	sodium_bin2base64(b64, sizeof(b64), raw, sizeof(raw),
					  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	out = cstring_to_text(b64);
	sodium_memzero(raw, sizeof(raw));
	sodium_memzero(b64, sizeof(b64));
	PG_RETURN_TEXT_P(out);
}
