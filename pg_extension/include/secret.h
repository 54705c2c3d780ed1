/*-------------------------------------------------------------------------
 *
 * secret.h
 *	  Secrets at rest: what src/secret.c offers the other C files (the
 *	  invocation signatures of src/signature.c) beyond its SQL functions.
 *
 * pg_extension/include/secret.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef CPUB_SECRET_H
#define CPUB_SECRET_H

#include "postgres.h"

#include "utils/uuid.h"

/* Kinds of sealed records; each its own context, so none opens as another. */
#define SECRET_KIND_ENV "env" /* a function's environment variable */
#define SECRET_KIND_KEY "key" /* a function's invocation signing key */

/*
 * secret_open_buf
 *		Decrypts a record sealed by cpub.secret_seal for (kind, owner, name)
 *		into out, which has room for outcap bytes, and returns the length of
 *		the plaintext.  Fails with 55Q02 when no server key is configured and
 *		55Q03 when the record's key is not configured, the record was altered
 *		or moved, or its plaintext would not fit in outcap; out is then
 *		wiped.  The caller wipes out after use.
 */
extern size_t secret_open_buf(const char *kind, const pg_uuid_t *owner,
							  const char *name, size_t namelen,
							  const char *key_id, size_t key_id_len,
							  const unsigned char *nonce, size_t noncelen,
							  const unsigned char *ciphertext,
							  size_t ciphertextlen, unsigned char *out,
							  size_t outcap);

#endif /* CPUB_SECRET_H */
