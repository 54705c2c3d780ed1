/*-------------------------------------------------------------------------
 *
 * validate.h
 *	  Input validation of emails, person names, identifiers and passwords.
 *	  Plain C with no PostgreSQL dependency, so tests/unit can test it
 *	  directly; src/validate_fmgr.c turns its verdicts into SQL errors.
 *
 * pg_extension/include/validate.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef CPUB_VALIDATE_H
#define CPUB_VALIDATE_H

#include <stdbool.h>
#include <stddef.h>

#define VALIDATE_EMAIL_MAX	  254
#define VALIDATE_NAME_MAX	  100  /* characters */
#define VALIDATE_PASSWORD_MIN 8	   /* characters */
#define VALIDATE_PASSWORD_MAX 1024 /* bytes */

/*
 * Each returns NULL when the input is valid, or a sentence saying why not
 * (a static string, for errdetail).
 */

/* Trims, lowercases, checks; writes the normal form to out (len + 1 bytes). */
extern const char *validate_email(const char *in, size_t len, char *out);

/* A first or last name: trims into out (len + 1 bytes), then checks. */
extern const char *validate_person_name(const char *in, size_t len, char *out);

/* An identifier of the given kind ("organization", "tier", "feature_role"). */
extern const char *validate_identifier(const char *kind, const char *in,
									   size_t len);

/* A new password, checked against the account's (normalised) email. */
extern const char *validate_password(const char *pw, size_t len,
									 const char *email);

/* The number of UTF-8 characters in s[0..len). */
extern size_t validate_utf8_length(const char *s, size_t len);

#endif /* CPUB_VALIDATE_H */
