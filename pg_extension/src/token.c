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
 *	  authenticate() is written in C and reads the primary-key index of the
 *	  access-token table directly: one digest and one index probe, with no
 *	  planner, executor, SPI or PL/pgSQL (bench/ measures it beside SELECT 1).
 *
 * pg_extension/src/token.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sodium.h>

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/relation.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "containerpub.h"

#define TOKEN_RANDOM_BYTES 32
#define TOKEN_MAX_LENGTH   128


/*
 * token_digest
 *		SHA-256 of a token as a freshly palloc'd bytea.
 */
static bytea *
token_digest(const char *data, size_t len)
{
	bytea *out = palloc(VARHDRSZ + crypto_hash_sha256_BYTES);

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
	text		  *prefix = PG_GETARG_TEXT_PP(0);
	int			   plen = VARSIZE_ANY_EXHDR(prefix);
	unsigned char  raw[TOKEN_RANDOM_BYTES];
	char		   b64[sodium_base64_ENCODED_LEN(
				  TOKEN_RANDOM_BYTES, sodium_base64_VARIANT_URLSAFE_NO_PADDING)];
	StringInfoData buf;

	if (plen < 1 || plen > 8)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
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
	text *token = PG_GETARG_TEXT_PP(0);

	PG_RETURN_BYTEA_P(
		token_digest(VARDATA_ANY(token), VARSIZE_ANY_EXHDR(token)));
}

/*
 * The access-token table as authenticate() reads it: its OID and the
 * attribute numbers of the columns it returns, looked up by name once per
 * backend and forgotten when the relation changes (relcache callback), e.g.
 * when the extension is dropped and made again.
 */
static struct
{
	Oid		   relid;
	AttrNumber session_id;
	AttrNumber user_id;
	AttrNumber must_change_password;
	AttrNumber expires_at;
	TupleDesc  result; /* blessed, in TopMemoryContext */
} auth;

static void
auth_relcache_callback(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == auth.relid)
		auth.relid = InvalidOid;
}

static AttrNumber
auth_attnum(Oid relid, const char *name)
{
	AttrNumber n = get_attnum(relid, name);

	if (n == InvalidAttrNumber)
		elog(ERROR, "cpub.access_tokens has no column \"%s\"", name);
	return n;
}

/*
 * auth_open
 *		Opens cpub.access_tokens with AccessShareLock (kept to the end of the
 *		transaction), looking it up again when the cached OID went stale.
 */
static Relation
auth_open(void)
{
	Relation rel = NULL;

	if (OidIsValid(auth.relid))
		rel = try_relation_open(auth.relid, AccessShareLock);
	if (rel == NULL || !OidIsValid(auth.relid))
	{
		Oid nsp = get_namespace_oid("cpub", false);
		Oid relid = get_relname_relid("access_tokens", nsp);

		if (rel != NULL)
			relation_close(rel, AccessShareLock);
		if (!OidIsValid(relid))
			elog(ERROR, "relation cpub.access_tokens does not exist");
		rel = table_open(relid, AccessShareLock);
		auth.session_id = auth_attnum(relid, "session_id");
		auth.user_id = auth_attnum(relid, "user_id");
		auth.must_change_password = auth_attnum(relid, "must_change_password");
		auth.expires_at = auth_attnum(relid, "expires_at");
		auth.relid = relid;
	}
	return rel;
}

void
cpub_token_init(void)
{
	MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);
	TupleDesc	  desc = CreateTemplateTupleDesc(5);

	TupleDescInitEntry(desc, 1, "user_id", UUIDOID, -1, 0);
	TupleDescInitEntry(desc, 2, "role", TEXTOID, -1, 0);
	TupleDescInitEntry(desc, 3, "session_id", UUIDOID, -1, 0);
	TupleDescInitEntry(desc, 4, "must_change_password", BOOLOID, -1, 0);
	TupleDescInitEntry(desc, 5, "expires_at", TIMESTAMPTZOID, -1, 0);
	auth.result = BlessTupleDesc(desc);
	MemoryContextSwitchTo(old);

	auth.relid = InvalidOid;
	CacheRegisterRelcacheCallback(auth_relcache_callback, (Datum) 0);
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
 *		unknown or revoked token (or NULL) and 28Q03 for an expired one.
 *		Revocation and expiry are judged now, not as of the transaction's
 *		start.
 *
 *		The hot path of every request, so it reads the primary-key index of
 *		cpub.access_tokens directly, as PostgreSQL's catalog lookups do: one
 *		SHA-256 and one index probe, with no planner, executor or SPI.  A
 *		direct scan checks neither table privileges nor row-level security;
 *		EXECUTE on this function (granted to cpub_anon only) is the guard.
 */
Datum
cpub_authenticate(PG_FUNCTION_ARGS)
{
	text		   *token;
	int				toklen;
	Snapshot		snapshot;
	Relation		rel;
	Relation		idx;
	ScanKeyData		key;
	IndexScanDesc	scan;
	TupleTableSlot *slot;
	Datum			values[5];
	bool			nulls[5] = {false, false, false, false, false};
	pg_uuid_t		user_id;
	pg_uuid_t		session_id;
	bool			must_change = false;
	TimestampTz		expires_at = 0;
	bool			found;

	if (PG_ARGISNULL(0))
		ereport(ERROR, (errcode(ERRCODE_CPUB_INVALID_TOKEN),
						errmsg("invalid access token"),
						errdetail("No token was given.")));
	token = PG_GETARG_TEXT_PP(0);
	toklen = VARSIZE_ANY_EXHDR(token);
	if (toklen == 0 || toklen > TOKEN_MAX_LENGTH)
		ereport(ERROR, (errcode(ERRCODE_CPUB_INVALID_TOKEN),
						errmsg("invalid access token")));

	rel = auth_open();
	idx = index_open(RelationGetPrimaryKeyIndex(rel), AccessShareLock);
	ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_BYTEAEQ,
				PointerGetDatum(token_digest(VARDATA_ANY(token), toklen)));
	/*
	 * The latest snapshot, not the transaction's: a session revoked after a
	 * long (REPEATABLE READ) transaction began must not authenticate in it.
	 */
	snapshot = RegisterSnapshot(GetLatestSnapshot());
	scan = index_beginscan(rel, idx, snapshot, 1, 0);
	index_rescan(scan, &key, 1, NULL, 0);
	slot = table_slot_create(rel, NULL);

	found = index_getnext_slot(scan, ForwardScanDirection, slot);
	if (found)
	{
		bool isnull;

		memcpy(&user_id,
			   DatumGetUUIDP(slot_getattr(slot, auth.user_id, &isnull)),
			   sizeof(pg_uuid_t));
		memcpy(&session_id,
			   DatumGetUUIDP(slot_getattr(slot, auth.session_id, &isnull)),
			   sizeof(pg_uuid_t));
		must_change = DatumGetBool(
			slot_getattr(slot, auth.must_change_password, &isnull));
		expires_at =
			DatumGetTimestampTz(slot_getattr(slot, auth.expires_at, &isnull));
	}
	ExecDropSingleTupleTableSlot(slot);
	index_endscan(scan);
	UnregisterSnapshot(snapshot);
	index_close(idx, NoLock);
	table_close(rel, NoLock);

	if (!found)
		ereport(ERROR,
				(errcode(ERRCODE_CPUB_INVALID_TOKEN),
				 errmsg("invalid access token"),
				 errdetail("The token is unknown or its session was revoked."),
				 errhint("Log in again.")));
	if (expires_at <= GetCurrentTimestamp())
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
	PG_RETURN_DATUM(
		HeapTupleGetDatum(heap_form_tuple(auth.result, values, nulls)));
}
