/*-------------------------------------------------------------------------
 *
 * token.c
 *	  Opaque session tokens: generation, digests, and authenticate(), the
 *	  hot path of every request.
 *
 *	  A token is a prefix ("cpa" for access, "cpr" for refresh) and 32 random
 *	  bytes from libsodium, base64url without padding.  Only its SHA-256
 *	  digest is stored: the tokens are random, so a fast digest is as strong
 *	  as a slow one, and lookup is one probe of a primary key.
 *
 *	  authenticate() is written in C with a saved SPI plan: one digest, one
 *	  index probe, no PL/pgSQL and no SECURITY DEFINER GUC switching.  It
 *	  reads the private table as the extension owner by switching the user id
 *	  for the one query, as PostgreSQL's own RI triggers do.
 *
 * pg_extension/src/token.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sodium.h>

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "containerpub.h"

#define TOKEN_RANDOM_BYTES	32
#define TOKEN_MAX_LENGTH	128

static SPIPlanPtr auth_plan = NULL;

void
cpub_token_init(void)
{
	auth_plan = NULL;
}

/*
 * token_digest
 *		SHA-256 of a token as a freshly palloc'd bytea.
 */
static bytea *
token_digest(const char *data, size_t len)
{
	bytea	   *out = palloc(VARHDRSZ + crypto_hash_sha256_BYTES);

	SET_VARSIZE(out, VARHDRSZ + crypto_hash_sha256_BYTES);
	crypto_hash_sha256((unsigned char *) VARDATA(out),
					   (const unsigned char *) data, len);
	return out;
}

PG_FUNCTION_INFO_V1(cpub_token_new);
/*
 * cpub.token_new(prefix text) -> text
 *		A new random token "<prefix>_<43 base64url characters>".  The prefix
 *		lets people (and secret scanners) tell token kinds apart.
 */
Datum
cpub_token_new(PG_FUNCTION_ARGS)
{
	text	   *prefix = PG_GETARG_TEXT_PP(0);
	int			plen = VARSIZE_ANY_EXHDR(prefix);
	unsigned char raw[TOKEN_RANDOM_BYTES];
	char		b64[sodium_base64_ENCODED_LEN(TOKEN_RANDOM_BYTES,
											  sodium_base64_VARIANT_URLSAFE_NO_PADDING)];
	StringInfoData buf;

	if (plen < 1 || plen > 8)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("token prefix must be 1 to 8 characters")));

	randombytes_buf(raw, sizeof(raw));
	sodium_bin2base64(b64, sizeof(b64), raw, sizeof(raw),
					  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	sodium_memzero(raw, sizeof(raw));

	initStringInfo(&buf);
	appendBinaryStringInfo(&buf, VARDATA_ANY(prefix), plen);
	appendStringInfoChar(&buf, '_');
	appendStringInfoString(&buf, b64);
	sodium_memzero(b64, sizeof(b64));

	PG_RETURN_TEXT_P(cstring_to_text_with_len(buf.data, buf.len));
}

PG_FUNCTION_INFO_V1(cpub_token_digest);
/*
 * cpub.token_digest(token text) -> bytea
 *		The SHA-256 digest under which a token is stored.
 */
Datum
cpub_token_digest(PG_FUNCTION_ARGS)
{
	text	   *token = PG_GETARG_TEXT_PP(0);

	PG_RETURN_BYTEA_P(token_digest(VARDATA_ANY(token),
								   VARSIZE_ANY_EXHDR(token)));
}

/*
 * extension_owner
 *		The owner of schema cpub, i.e. the role that installed the extension
 *		and owns its private tables.
 */
static Oid
extension_owner(void)
{
	Oid			nsp = get_namespace_oid("cpub", false);
	HeapTuple	tup = SearchSysCache1(NAMESPACEOID, ObjectIdGetDatum(nsp));
	Oid			owner;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for namespace %u", nsp);
	owner = ((Form_pg_namespace) GETSTRUCT(tup))->nspowner;
	ReleaseSysCache(tup);
	return owner;
}

PG_FUNCTION_INFO_V1(cpub_authenticate);
/*
 * cpub_api.authenticate(token text)
 *		-> (user_id uuid, role text, session_id uuid,
 *			must_change_password boolean, expires_at timestamptz)
 *
 *		Resolves an access token to its developer and makes the current
 *		transaction act for that developer (identity.c).  The returned role is
 *		the database role the HTTP front switches to.  Fails with 28000 for an
 *		unknown or revoked token and 28Q03 for an expired one.
 */
Datum
cpub_authenticate(PG_FUNCTION_ARGS)
{
	text	   *token = PG_GETARG_TEXT_PP(0);
	int			toklen = VARSIZE_ANY_EXHDR(token);
	Oid			save_userid;
	int			save_sec;
	Datum		arg;
	TupleDesc	rettype;
	Datum		values[5];
	bool		nulls[5] = {false, false, false, false, false};
	pg_uuid_t	user_id;
	pg_uuid_t	session_id;
	bool		must_change;
	TimestampTz expires_at;
	bool		found;

	if (get_call_result_type(fcinfo, NULL, &rettype) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");

	if (toklen == 0 || toklen > TOKEN_MAX_LENGTH)
		ereport(ERROR,
				(errcode(ERRCODE_CPUB_INVALID_TOKEN),
				 errmsg("invalid access token")));

	arg = PointerGetDatum(token_digest(VARDATA_ANY(token), toklen));

	GetUserIdAndSecContext(&save_userid, &save_sec);
	SetUserIdAndSecContext(extension_owner(),
						   save_sec | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (auth_plan == NULL)
	{
		Oid			argtypes[1] = {BYTEAOID};
		SPIPlanPtr	plan;

		plan = SPI_prepare("SELECT t.user_id, t.session_id, "
						   "t.must_change_password, t.expires_at "
						   "FROM cpub.access_tokens t "
						   "WHERE t.token_hash OPERATOR(pg_catalog.=) $1",
						   1, argtypes);
		if (plan == NULL)
			elog(ERROR, "SPI_prepare failed: %s",
				 SPI_result_code_string(SPI_result));
		SPI_keepplan(plan);
		auth_plan = plan;
	}
	if (SPI_execute_plan(auth_plan, &arg, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_plan failed");

	found = SPI_processed == 1;
	if (found)
	{
		HeapTuple	row = SPI_tuptable->vals[0];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;

		memcpy(&user_id, DatumGetUUIDP(SPI_getbinval(row, desc, 1, &isnull)),
			   sizeof(pg_uuid_t));
		memcpy(&session_id,
			   DatumGetUUIDP(SPI_getbinval(row, desc, 2, &isnull)),
			   sizeof(pg_uuid_t));
		must_change = DatumGetBool(SPI_getbinval(row, desc, 3, &isnull));
		expires_at = DatumGetTimestampTz(SPI_getbinval(row, desc, 4, &isnull));
	}
	SPI_finish();
	SetUserIdAndSecContext(save_userid, save_sec);

	if (!found)
		ereport(ERROR,
				(errcode(ERRCODE_CPUB_INVALID_TOKEN),
				 errmsg("invalid access token"),
				 errdetail("The token is unknown or its session was revoked."),
				 errhint("Log in again.")));
	if (expires_at <= GetCurrentTransactionStartTimestamp())
		ereport(ERROR,
				(errcode(ERRCODE_CPUB_TOKEN_EXPIRED),
				 errmsg("access token expired"),
				 errhint("Use the refresh token to get a new access token.")));

	cpub_identity_set_user(&user_id, &session_id, must_change);

	values[0] = UUIDPGetDatum(&user_id);
	values[1] = CStringGetTextDatum("cpub_developer");
	values[2] = UUIDPGetDatum(&session_id);
	values[3] = BoolGetDatum(must_change);
	values[4] = TimestampTzGetDatum(expires_at);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(rettype),
													  values, nulls)));
}
