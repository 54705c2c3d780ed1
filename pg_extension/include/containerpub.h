/*-------------------------------------------------------------------------
 *
 * containerpub.h
 *	  Shared declarations of the containerpub extension: the SQLSTATEs our
 *	  functions raise (docs/errors.md lists them for users), the tunables and
 *	  the transaction-scoped caller identity.
 *
 * pg_extension/include/containerpub.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef CONTAINERPUB_H
#define CONTAINERPUB_H

#include "postgres.h"

#include "utils/uuid.h"

/*
 * SQLSTATEs of our own.  The class (first two characters) decides the HTTP
 * status (docs/errors.md); the subclass "Q" is ours, inside the range the
 * SQL standard leaves to implementations.
 */
#define ERRCODE_CPUB_INVALID_EMAIL		MAKE_SQLSTATE('2', '2', 'Q', '0', '1')
#define ERRCODE_CPUB_INVALID_NAME		MAKE_SQLSTATE('2', '2', 'Q', '0', '2')
#define ERRCODE_CPUB_WEAK_PASSWORD		MAKE_SQLSTATE('2', '2', 'Q', '0', '3')
#define ERRCODE_CPUB_INVALID_IDENTIFIER MAKE_SQLSTATE('2', '2', 'Q', '0', '4')
#define ERRCODE_CPUB_INVALID_TOKEN		MAKE_SQLSTATE('2', '8', '0', '0', '0')
#define ERRCODE_CPUB_TOKEN_EXPIRED		MAKE_SQLSTATE('2', '8', 'Q', '0', '3')
#define ERRCODE_CPUB_NO_SECRET_KEY		MAKE_SQLSTATE('5', '5', 'Q', '0', '2')
#define ERRCODE_CPUB_UNDECRYPTABLE		MAKE_SQLSTATE('5', '5', 'Q', '0', '3')

/* Tunables (GUCs), set in _PG_init. */
extern int	 cpub_argon2_opslimit;
extern int	 cpub_argon2_memlimit_kib;
extern char *cpub_secret_key_file;

/* identity.c: who the current transaction acts for. */
extern void cpub_identity_init(void);
extern void cpub_identity_set_user(pg_uuid_t *user_id, pg_uuid_t *session_id,
								   bool must_change_password);
/* An admin's subject (the OpenID Connect "sub") and email, as kept. */
#define ADMIN_SUBJECT_MAX 255
#define ADMIN_EMAIL_MAX	  320
extern void cpub_identity_set_admin(const char *subject, const char *email,
									pg_uuid_t *user_id);

/* token.c */
extern void cpub_token_init(void);

#endif /* CONTAINERPUB_H */
