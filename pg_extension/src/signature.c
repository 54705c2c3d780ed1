/*-------------------------------------------------------------------------
 *
 * signature.c
 *	  Verification of signed invocations: HMAC-SHA256 over the request,
 *	  keyed with an invocation key's signing key.
 *
 *	  An invocation key's secret S ("cpk_<key id>_<43 characters>") is
 *	  shown once; its signing key K = SHA-256(S) is stored sealed
 *	  (src/secret.c).  A client signs
 *
 *		<timestamp>\n<nonce>\n<METHOD>\n<path>\n<body>
 *
 *	  with HMAC-SHA256 under K and sends the lowercase hexadecimal MAC,
 *	  optionally prefixed "v1=" (docs/invocation-keys.md).  K is opened into
 *	  a stack buffer, used to start the HMAC and wiped at once; the message
 *	  is fed to the HMAC piece by piece, so a large body is never copied;
 *	  the MACs are compared in constant time.  The time window, replay and
 *	  key status checks are SQL's (cpub.invocation_key_check).
 *
 * pg_extension/src/signature.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sodium.h>

#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/uuid.h"

#include "containerpub.h"
#include "secret.h"
#include "secret_parse.h"

static void
hmac_text(crypto_auth_hmacsha256_state *st, text *t)
{
	crypto_auth_hmacsha256_update(st, (const unsigned char *) VARDATA_ANY(t),
								  VARSIZE_ANY_EXHDR(t));
	crypto_auth_hmacsha256_update(st, (const unsigned char *) "\n", 1);
}

PG_FUNCTION_INFO_V1(cpub_invocation_signature_valid);
/*
 * cpub.invocation_signature_valid(function_id uuid, key_id text,
 *		enc_key_id text, enc_nonce bytea, enc_signing_key bytea,
 *		"timestamp" bigint, nonce text, method text, path text, body bytea,
 *		signature text) -> boolean
 *
 *		Whether signature is the HMAC-SHA256 of the request under the
 *		signing key sealed for (function_id, key_id).  False for a malformed
 *		signature or nonce.  Fails with 55Q02/55Q03 only when the stored key
 *		cannot be opened (a server problem, not the caller's).  method is
 *		taken as given: the caller upper-cases it.
 */
Datum
cpub_invocation_signature_valid(PG_FUNCTION_ARGS)
{
	pg_uuid_t					*function_id = PG_GETARG_UUID_P(0);
	text						*key_id = PG_GETARG_TEXT_PP(1);
	text						*enc_key_id = PG_GETARG_TEXT_PP(2);
	bytea						*enc_nonce = PG_GETARG_BYTEA_PP(3);
	bytea						*enc_key = PG_GETARG_BYTEA_PP(4);
	int64						 timestamp = PG_GETARG_INT64(5);
	text						*nonce = PG_GETARG_TEXT_PP(6);
	text						*method = PG_GETARG_TEXT_PP(7);
	text						*path = PG_GETARG_TEXT_PP(8);
	bytea						*body = PG_GETARG_BYTEA_PP(9);
	text						*signature = PG_GETARG_TEXT_PP(10);
	unsigned char				 given[SIGNATURE_BYTES];
	unsigned char				 mac[crypto_auth_hmacsha256_BYTES];
	unsigned char				 k[crypto_auth_hmacsha256_KEYBYTES];
	crypto_auth_hmacsha256_state st;
	char						 ts[32];
	size_t						 klen;
	bool						 ok;

	if (!secret_signature_parse(VARDATA_ANY(signature),
								VARSIZE_ANY_EXHDR(signature), given) ||
		!secret_nonce_valid(VARDATA_ANY(nonce), VARSIZE_ANY_EXHDR(nonce)))
		PG_RETURN_BOOL(false);

	klen = secret_open_buf(SECRET_KIND_KEY, function_id, VARDATA_ANY(key_id),
						   VARSIZE_ANY_EXHDR(key_id), VARDATA_ANY(enc_key_id),
						   VARSIZE_ANY_EXHDR(enc_key_id),
						   (const unsigned char *) VARDATA_ANY(enc_nonce),
						   VARSIZE_ANY_EXHDR(enc_nonce),
						   (const unsigned char *) VARDATA_ANY(enc_key),
						   VARSIZE_ANY_EXHDR(enc_key), k, sizeof(k));
	if (klen != sizeof(k))
	{
		sodium_memzero(k, sizeof(k));
		ereport(ERROR, (errcode(ERRCODE_CPUB_UNDECRYPTABLE),
						errmsg("stored signing key of invocation key \"%s\" "
							   "has the wrong length",
							   text_to_cstring(key_id))));
	}
	crypto_auth_hmacsha256_init(&st, k, sizeof(k));
	sodium_memzero(k, sizeof(k));

	snprintf(ts, sizeof(ts), INT64_FORMAT "\n", timestamp);
	crypto_auth_hmacsha256_update(&st, (const unsigned char *) ts, strlen(ts));
	hmac_text(&st, nonce);
	hmac_text(&st, method);
	hmac_text(&st, path);
	crypto_auth_hmacsha256_update(&st,
								  (const unsigned char *) VARDATA_ANY(body),
								  VARSIZE_ANY_EXHDR(body));
	crypto_auth_hmacsha256_final(&st, mac);
	sodium_memzero(&st, sizeof(st));

	ok = crypto_verify_32(mac, given) == 0;
	sodium_memzero(mac, sizeof(mac));
	PG_RETURN_BOOL(ok);
}
