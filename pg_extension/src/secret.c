/*-------------------------------------------------------------------------
 *
 * secret.c
 *	  Secrets at rest: the server's secret keys, and sealing and opening
 *	  the records they protect (functions' environment variables and the
 *	  signing keys of invocation keys).
 *
 *	  The keys are never in the database.  cpub.secret_key_file (a
 *	  superuser setting, reloaded on SIGHUP) names a file of the server's
 *	  user, mode 0600, holding one key per line as 64 hexadecimal digits:
 *	  the first is the current key, which seals; the others are older keys
 *	  still accepted for opening, so keys can be rotated (add a new first
 *	  line, run cpub_admin.secrets_rekey(), then drop the old line).  Each
 *	  backend reads the file on first use and keeps the keys in static
 *	  memory; it reads it again when the setting or the file changes
 *	  (checked at most once per statement), and wipes the old keys with
 *	  sodium_memzero; the keys' page is locked in RAM and left out of core
 *	  dumps.  A key is known by its key id: the first 8 bytes of
 *	  its BLAKE2b hash, in hexadecimal.
 *
 *	  A record is sealed with XSalsa20-Poly1305 (crypto_secretbox) under a
 *	  key of its own, BLAKE2b keyed with the server key over the context
 *	  "<kind>\0" + owner uuid + name, with a random 24-byte nonce.  So a
 *	  ciphertext copied to another function, variable or invocation key
 *	  fails to open, as does an altered one: opening never returns garbage.
 *
 * pg_extension/src/secret.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "access/htup_details.h"
#include "access/xact.h"
#include "fmgr.h"
#include "funcapi.h"
#include "storage/fd.h"
#include "storage/ipc.h"
#include "storage/proc.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "containerpub.h"
#include "secret.h"
#include "secret_parse.h"

#define KEY_ID_BYTES 8 /* of the BLAKE2b hash: 16 hex digits */
#define KEY_ID_LEN	 (2 * KEY_ID_BYTES)
#define SEAL_MAX	 (1024 * 1024) /* largest plaintext sealed */

#define KEYFILE_HINT                                                          \
	"Set cpub.secret_key_file to a file readable only by the server's user "  \
	"(mode 0600) holding a key of 64 hexadecimal digits, then reload the "    \
	"configuration."

struct secret_key
{
	unsigned char key[SECRET_KEY_BYTES];
	char		  id[KEY_ID_LEN + 1];
};

/*
 * The keys of this backend, first the current one: page-aligned static
 * memory, locked in RAM and left out of core dumps (sodium_mlock) once
 * first used, and wiped whenever keys are dropped and when the backend
 * exits.
 */
static struct secret_key keys[SECRET_MAX_KEYS] pg_attribute_aligned(4096);

/* How many keys there are, and what they were read from. */
static struct
{
	int				nkeys;	/* 0: nothing loaded */
	bool			locked; /* keys[] mlocked, exit callback set */
	char			path[MAXPGPATH];
	dev_t			dev;
	ino_t			ino;
	off_t			size;
	struct timespec mtime;
	struct timespec ctime;
	/* The statement that last checked the file (see keys_load). */
	LocalTransactionId checked_lxid;
	TimestampTz		   checked_stmt;
} cache;

static void
keys_forget(void)
{
	sodium_memzero(keys, sizeof(keys));
	cache.nkeys = 0;
	cache.path[0] = '\0';
}

static void
keys_at_exit(int code, Datum arg)
{
	keys_forget();
}

/*
 * keys_protect
 *		Once per backend: locks the keys' page in RAM and excludes it from
 *		core dumps, best effort (a low RLIMIT_MEMLOCK only costs the lock),
 *		and wipes the keys when the backend exits.
 */
static void
keys_protect(void)
{
	if (cache.locked)
		return;
	(void) sodium_mlock(keys, sizeof(keys));
	on_proc_exit(keys_at_exit, (Datum) 0);
	cache.locked = true;
}

static bool
same_file(const struct stat *st)
{
	return st->st_dev == cache.dev && st->st_ino == cache.ino &&
		   st->st_size == cache.size &&
		   st->st_mtim.tv_sec == cache.mtime.tv_sec &&
		   st->st_mtim.tv_nsec == cache.mtime.tv_nsec &&
		   st->st_ctim.tv_sec == cache.ctime.tv_sec &&
		   st->st_ctim.tv_nsec == cache.ctime.tv_nsec;
}

/*
 * keys_read
 *		Reads and parses the key file at path into the cache, replacing (and
 *		wiping) what it held.  Fails with 55Q02 when the file cannot be
 *		opened or read, is not a regular file, can be accessed by group or
 *		others, is too large, or is not a valid key file; the cache is then
 *		empty.  The file's contents are wiped from the stack before any
 *		error is raised.
 */
static void
keys_read(const char *path)
{
	char		  buf[SECRET_KEYFILE_MAX + 1];
	unsigned char parsed[SECRET_MAX_KEYS][SECRET_KEY_BYTES];
	struct stat	  st;
	size_t		  len = 0;
	ssize_t		  n;
	int			  fd;
	int			  nkeys;
	int			  bad_line;
	int			  save_errno;
	const char	 *reason;

	keys_protect();
	keys_forget();
	fd = OpenTransientFile(path, O_RDONLY | PG_BINARY);
	if (fd < 0)
		ereport(
			ERROR,
			(errcode(ERRCODE_CPUB_NO_SECRET_KEY),
			 errmsg("could not open server secret key file \"%s\": %m", path),
			 errhint(KEYFILE_HINT)));
	if (fstat(fd, &st) != 0)
	{
		save_errno = errno;
		CloseTransientFile(fd);
		errno = save_errno;
		ereport(ERROR,
				(errcode(ERRCODE_CPUB_NO_SECRET_KEY),
				 errmsg("could not stat server secret key file \"%s\": %m",
						path)));
	}
	if (!S_ISREG(st.st_mode))
	{
		CloseTransientFile(fd);
		ereport(ERROR,
				(errcode(ERRCODE_CPUB_NO_SECRET_KEY),
				 errmsg("server secret key file \"%s\" is not a regular file",
						path),
				 errhint(KEYFILE_HINT)));
	}
	if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0)
	{
		CloseTransientFile(fd);
		ereport(ERROR,
				(errcode(ERRCODE_CPUB_NO_SECRET_KEY),
				 errmsg("server secret key file \"%s\" has group or world "
						"access",
						path),
				 errdetail("Its permissions are %04o; only the server's user "
						   "may read it.",
						   (unsigned int) (st.st_mode & 07777)),
				 errhint("chmod 0600 \"%s\"", path)));
	}

	while (len < sizeof(buf) &&
		   (n = read(fd, buf + len, sizeof(buf) - len)) != 0)
	{
		if (n < 0)
		{
			if (errno == EINTR)
				continue;
			save_errno = errno;
			sodium_memzero(buf, sizeof(buf));
			CloseTransientFile(fd);
			errno = save_errno;
			ereport(ERROR,
					(errcode(ERRCODE_CPUB_NO_SECRET_KEY),
					 errmsg("could not read server secret key file \"%s\": %m",
							path)));
		}
		len += n;
	}
	CloseTransientFile(fd);
	if (len > SECRET_KEYFILE_MAX)
	{
		sodium_memzero(buf, sizeof(buf));
		ereport(ERROR,
				(errcode(ERRCODE_CPUB_NO_SECRET_KEY),
				 errmsg("server secret key file \"%s\" is too large", path),
				 errdetail("A key file holds at most %d keys, in at most %d "
						   "bytes.",
						   SECRET_MAX_KEYS, SECRET_KEYFILE_MAX)));
	}

	reason = secret_keyfile_parse(buf, len, parsed, SECRET_MAX_KEYS, &nkeys,
								  &bad_line);
	sodium_memzero(buf, sizeof(buf));
	if (reason != NULL)
	{
		sodium_memzero(parsed, sizeof(parsed));
		if (bad_line > 0)
			ereport(ERROR,
					(errcode(ERRCODE_CPUB_NO_SECRET_KEY),
					 errmsg("invalid server secret key file \"%s\"", path),
					 errdetail("Line %d: %s", bad_line, reason),
					 errhint(KEYFILE_HINT)));
		ereport(ERROR, (errcode(ERRCODE_CPUB_NO_SECRET_KEY),
						errmsg("invalid server secret key file \"%s\"", path),
						errdetail("%s", reason), errhint(KEYFILE_HINT)));
	}

	for (int i = 0; i < nkeys; i++)
	{
		unsigned char hash[crypto_generichash_BYTES];

		memcpy(keys[i].key, parsed[i], SECRET_KEY_BYTES);
		crypto_generichash(hash, sizeof(hash), parsed[i], SECRET_KEY_BYTES,
						   NULL, 0);
		sodium_bin2hex(keys[i].id, sizeof(keys[i].id), hash, KEY_ID_BYTES);
	}
	sodium_memzero(parsed, sizeof(parsed));
	cache.nkeys = nkeys;
	strlcpy(cache.path, path, sizeof(cache.path));
	cache.dev = st.st_dev;
	cache.ino = st.st_ino;
	cache.size = st.st_size;
	cache.mtime = st.st_mtim;
	cache.ctime = st.st_ctim;
}

/*
 * keys_load
 *		Makes sure the cache holds the keys of the file cpub.secret_key_file
 *		names now: reads it when nothing is loaded, when the setting changed,
 *		or when the file changed (other inode, size, mtime or ctime).  The
 *		file is looked at once per statement at most, so one statement sees
 *		one set of keys.  Fails with 55Q02 when no usable key is configured.
 */
static void
keys_load(void)
{
	const char *path = cpub_secret_key_file;
	struct stat st;

	if (path == NULL || path[0] == '\0')
	{
		keys_forget();
		ereport(ERROR,
				(errcode(ERRCODE_CPUB_NO_SECRET_KEY),
				 errmsg("no server secret key is configured"),
				 errdetail("Environment variables and invocation keys are "
						   "encrypted with a key the database does not "
						   "store."),
				 errhint(KEYFILE_HINT)));
	}
	if (strlen(path) >= sizeof(cache.path))
		ereport(ERROR, (errcode(ERRCODE_CPUB_NO_SECRET_KEY),
						errmsg("cpub.secret_key_file is too long")));
	if (cache.nkeys > 0 && strcmp(cache.path, path) == 0 &&
		cache.checked_lxid == MyProc->lxid &&
		cache.checked_stmt == GetCurrentStatementStartTimestamp())
		return;

	if (stat(path, &st) != 0)
	{
		int save_errno = errno;

		keys_forget();
		errno = save_errno;
		ereport(
			ERROR,
			(errcode(ERRCODE_CPUB_NO_SECRET_KEY),
			 errmsg("could not read server secret key file \"%s\": %m", path),
			 errhint(KEYFILE_HINT)));
	}
	if (cache.nkeys == 0 || strcmp(cache.path, path) != 0 || !same_file(&st))
		keys_read(path);
	cache.checked_lxid = MyProc->lxid;
	cache.checked_stmt = GetCurrentStatementStartTimestamp();
}

/* The configured key of that id, or NULL. */
static const struct secret_key *
key_by_id(const char *id, size_t len)
{
	for (int i = 0; i < cache.nkeys; i++)
		if (len == KEY_ID_LEN && memcmp(keys[i].id, id, len) == 0)
			return &keys[i];
	return NULL;
}

/*
 * derive_subkey
 *		The record's own key: BLAKE2b-256 keyed with the server key over
 *		"<kind>\0" + owner uuid + name.
 */
static void
derive_subkey(const struct secret_key *k, const char *kind,
			  const pg_uuid_t *owner, const char *name, size_t namelen,
			  unsigned char subkey[crypto_secretbox_KEYBYTES])
{
	crypto_generichash_state st;

	if (strcmp(kind, SECRET_KIND_ENV) != 0 &&
		strcmp(kind, SECRET_KIND_KEY) != 0)
		elog(ERROR, "unknown kind of secret \"%s\"", kind);
	crypto_generichash_init(&st, k->key, SECRET_KEY_BYTES,
							crypto_secretbox_KEYBYTES);
	crypto_generichash_update(&st, (const unsigned char *) kind,
							  strlen(kind) + 1);
	crypto_generichash_update(&st, owner->data, UUID_LEN);
	crypto_generichash_update(&st, (const unsigned char *) name, namelen);
	crypto_generichash_final(&st, subkey, crypto_secretbox_KEYBYTES);
	sodium_memzero(&st, sizeof(st));
}

size_t
secret_open_buf(const char *kind, const pg_uuid_t *owner, const char *name,
				size_t namelen, const char *key_id, size_t key_id_len,
				const unsigned char *nonce, size_t noncelen,
				const unsigned char *ciphertext, size_t ciphertextlen,
				unsigned char *out, size_t outcap)
{
	const struct secret_key *k;
	unsigned char			 subkey[crypto_secretbox_KEYBYTES];
	size_t					 len;
	int						 rc;

	keys_load();
	k = key_by_id(key_id, key_id_len);
	if (k == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_CPUB_UNDECRYPTABLE),
				 errmsg("could not decrypt a stored secret: its server key "
						"%.*s is not configured",
						(int) Min(key_id_len, 64), key_id),
				 errdetail("The %s \"%.*s\" was encrypted with a key that "
						   "cpub.secret_key_file no longer holds.",
						   strcmp(kind, SECRET_KIND_ENV) == 0
							   ? "environment variable"
							   : "invocation key",
						   (int) namelen, name),
				 errhint("Put the old key back in the key file, after the "
						 "current one, and run cpub_admin.secrets_rekey().")));
	if (noncelen != crypto_secretbox_NONCEBYTES ||
		ciphertextlen < crypto_secretbox_MACBYTES ||
		ciphertextlen - crypto_secretbox_MACBYTES > outcap)
		rc = -1;
	else
	{
		derive_subkey(k, kind, owner, name, namelen, subkey);
		rc = crypto_secretbox_open_easy(out, ciphertext, ciphertextlen, nonce,
										subkey);
		sodium_memzero(subkey, sizeof(subkey));
	}
	if (rc != 0)
	{
		sodium_memzero(out, outcap);
		ereport(ERROR,
				(errcode(ERRCODE_CPUB_UNDECRYPTABLE),
				 errmsg("could not decrypt a stored secret: it does not "
						"authenticate"),
				 errdetail("The %s \"%.*s\" was altered, or its ciphertext "
						   "belongs to another record.",
						   strcmp(kind, SECRET_KIND_ENV) == 0
							   ? "environment variable"
							   : "invocation key",
						   (int) namelen, name),
				 errhint("Set the value again (or roll the invocation "
						 "key).")));
	}
	len = ciphertextlen - crypto_secretbox_MACBYTES;
	return len;
}

/* The uuid argument argno, which must not be NULL. */
static pg_uuid_t *
uuid_arg(FunctionCallInfo fcinfo, int argno)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						errmsg("the owner of a secret is required")));
	return PG_GETARG_UUID_P(argno);
}

PG_FUNCTION_INFO_V1(cpub_secret_seal);
/*
 * cpub.secret_seal(kind text, owner uuid, name text, plaintext bytea,
 *					key_id text DEFAULT NULL) -> cpub.sealed
 *		Encrypts plaintext for (kind, owner, name) under the current server
 *		key, or under the configured key key_id (rotation tests and tools).
 *		Returns (key_id, nonce, ciphertext), palloc'd in the caller's
 *		context.  55Q02 when no key (or not that key) is configured.
 */
Datum
cpub_secret_seal(PG_FUNCTION_ARGS)
{
	text					*kind;
	pg_uuid_t				*owner;
	text					*name;
	bytea					*plain;
	const struct secret_key *k;
	unsigned char			 subkey[crypto_secretbox_KEYBYTES];
	bytea					*nonce;
	bytea					*ct;
	size_t					 len;
	TupleDesc				 desc;
	Datum					 values[3];
	bool					 nulls[3] = {false, false, false};
	char					*kind_str;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(2) || PG_ARGISNULL(3))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						errmsg("the kind, name and value of a secret are "
							   "required")));
	kind = PG_GETARG_TEXT_PP(0);
	owner = uuid_arg(fcinfo, 1);
	name = PG_GETARG_TEXT_PP(2);
	plain = PG_GETARG_BYTEA_PP(3);
	len = VARSIZE_ANY_EXHDR(plain);
	if (len > SEAL_MAX)
		ereport(ERROR, (errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
						errmsg("a secret is at most %d bytes", SEAL_MAX)));
	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "cpub.secret_seal must return a composite type");

	keys_load();
	if (PG_ARGISNULL(4))
		k = &keys[0];
	else
	{
		text *want = PG_GETARG_TEXT_PP(4);

		k = key_by_id(VARDATA_ANY(want), VARSIZE_ANY_EXHDR(want));
		if (k == NULL)
			ereport(ERROR, (errcode(ERRCODE_CPUB_NO_SECRET_KEY),
							errmsg("server secret key %s is not configured",
								   text_to_cstring(want))));
	}

	nonce = palloc(VARHDRSZ + crypto_secretbox_NONCEBYTES);
	SET_VARSIZE(nonce, VARHDRSZ + crypto_secretbox_NONCEBYTES);
	randombytes_buf(VARDATA(nonce), crypto_secretbox_NONCEBYTES);
	ct = palloc(VARHDRSZ + crypto_secretbox_MACBYTES + len);
	SET_VARSIZE(ct, VARHDRSZ + crypto_secretbox_MACBYTES + len);

	kind_str = text_to_cstring(kind);
	derive_subkey(k, kind_str, owner, VARDATA_ANY(name),
				  VARSIZE_ANY_EXHDR(name), subkey);
	crypto_secretbox_easy((unsigned char *) VARDATA(ct),
						  (const unsigned char *) VARDATA_ANY(plain), len,
						  (const unsigned char *) VARDATA(nonce), subkey);
	sodium_memzero(subkey, sizeof(subkey));

	values[0] = CStringGetTextDatum(k->id);
	values[1] = PointerGetDatum(nonce);
	values[2] = PointerGetDatum(ct);
	desc = BlessTupleDesc(desc);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}

PG_FUNCTION_INFO_V1(cpub_secret_open);
/*
 * cpub.secret_open(kind text, owner uuid, name text, key_id text,
 *					nonce bytea, ciphertext bytea) -> bytea
 *		The plaintext of a sealed record, palloc'd.  55Q03 when it cannot be
 *		opened (see secret_open_buf); never a wrong plaintext.
 */
Datum
cpub_secret_open(PG_FUNCTION_ARGS)
{
	text	  *kind = PG_GETARG_TEXT_PP(0);
	pg_uuid_t *owner = PG_GETARG_UUID_P(1);
	text	  *name = PG_GETARG_TEXT_PP(2);
	text	  *key_id = PG_GETARG_TEXT_PP(3);
	bytea	  *nonce = PG_GETARG_BYTEA_PP(4);
	bytea	  *ct = PG_GETARG_BYTEA_PP(5);
	size_t	   ctlen = VARSIZE_ANY_EXHDR(ct);
	size_t	   cap = ctlen > crypto_secretbox_MACBYTES
						 ? ctlen - crypto_secretbox_MACBYTES
						 : 0;
	bytea	  *out = palloc(VARHDRSZ + cap + 1);
	size_t	   len;

	len = secret_open_buf(
		text_to_cstring(kind), owner, VARDATA_ANY(name),
		VARSIZE_ANY_EXHDR(name), VARDATA_ANY(key_id),
		VARSIZE_ANY_EXHDR(key_id), (const unsigned char *) VARDATA_ANY(nonce),
		VARSIZE_ANY_EXHDR(nonce), (const unsigned char *) VARDATA_ANY(ct),
		ctlen, (unsigned char *) VARDATA(out), cap);
	SET_VARSIZE(out, VARHDRSZ + len);
	PG_RETURN_BYTEA_P(out);
}

PG_FUNCTION_INFO_V1(cpub_secret_keys);
/*
 * cpub.secret_keys() -> TABLE (key_id text, is_current boolean)
 *		The ids of the configured server keys, the current one first.
 *		55Q02 when none is configured.
 */
Datum
cpub_secret_keys(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	keys_load();
	InitMaterializedSRF(fcinfo, 0);
	for (int i = 0; i < cache.nkeys; i++)
	{
		Datum values[2];
		bool  nulls[2] = {false, false};

		values[0] = CStringGetTextDatum(keys[i].id);
		values[1] = BoolGetDatum(i == 0);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values,
							 nulls);
	}
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(cpub_random_bytes);
/*
 * cpub.random_bytes(n integer) -> bytea
 *		n (1 to 1024) random bytes from libsodium.
 */
Datum
cpub_random_bytes(PG_FUNCTION_ARGS)
{
	int32  n = PG_GETARG_INT32(0);
	bytea *out;

	if (n < 1 || n > 1024)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("random_bytes takes 1 to 1024 bytes")));
	out = palloc(VARHDRSZ + n);
	SET_VARSIZE(out, VARHDRSZ + n);
	randombytes_buf(VARDATA(out), n);
	PG_RETURN_BYTEA_P(out);
}
