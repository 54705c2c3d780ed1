/*-------------------------------------------------------------------------
 *
 * containerpub.c
 *	  Entry point of the containerpub extension: the module magic, the
 *	  tunables (GUCs) and the one-time initialisation of each C module.
 *
 *	  The business logic lives in SQL (the files in sql/); the C half does what SQL
 *	  should not: password hashing, token generation and digests, input
 *	  validation, the transaction-scoped caller identity, secrets at rest
 *	  and invocation signatures.
 *
 * pg_extension/src/containerpub.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sodium.h>

#include "fmgr.h"
#include "utils/guc.h"

#include "containerpub.h"

PG_MODULE_MAGIC;

int	  cpub_argon2_opslimit = 2;
int	  cpub_argon2_memlimit_kib = 19456;
char *cpub_secret_key_file = NULL;

void _PG_init(void);

/*
 * _PG_init
 *		Called once per backend when the library is loaded.  Fails the load
 *		(ERROR) if libsodium cannot initialise, which only happens when the
 *		system has no usable source of randomness.
 */
void
_PG_init(void)
{
	if (sodium_init() < 0)
		ereport(ERROR, (errcode(ERRCODE_SYSTEM_ERROR),
						errmsg("could not initialise libsodium")));

	/*
	 * argon2id cost.  The defaults follow the OWASP password storage
	 * recommendation (m = 19 MiB, t = 2, p = 1); see docs/security.md.
	 * Superuser-only, so a session cannot weaken the hashes it stores.
	 */
	DefineCustomIntVariable("cpub.argon2_opslimit",
							"argon2id iterations (t) for new password hashes.",
							NULL, &cpub_argon2_opslimit, 2, 1, 16, PGC_SUSET,
							0, NULL, NULL, NULL);
	DefineCustomIntVariable(
		"cpub.argon2_memlimit_kib",
		"argon2id memory (m) in KiB for new password hashes.", NULL,
		&cpub_argon2_memlimit_kib, 19456, 8, 1024 * 1024, PGC_SUSET,
		GUC_UNIT_KB, NULL, NULL, NULL);

	/*
	 * The file of the server's secret keys (secret.c).  Set where the server
	 * starts (postgresql.conf or -c), read again on reload; hidden from
	 * everyone but superusers.
	 */
	DefineCustomStringVariable(
		"cpub.secret_key_file",
		"File of the server secret keys that encrypt secrets at rest.",
		"One key per line, 64 hexadecimal digits; the first encrypts, the "
		"others still decrypt.  Mode 0600, owned by the server's user.",
		&cpub_secret_key_file, "", PGC_SIGHUP, GUC_SUPERUSER_ONLY, NULL, NULL,
		NULL);
	MarkGUCPrefixReserved("cpub");

	cpub_identity_init();
	cpub_token_init();
}
