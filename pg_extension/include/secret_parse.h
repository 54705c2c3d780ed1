/*-------------------------------------------------------------------------
 *
 * secret_parse.h
 *	  The text formats of secrets: hexadecimal, the server's key file, and
 *	  the signature and nonce of a signed invocation.  Plain C with no
 *	  PostgreSQL or libsodium dependency, so tests/unit can test it
 *	  directly; src/secret.c and src/signature.c turn its verdicts into SQL
 *	  errors.
 *
 * pg_extension/include/secret_parse.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef CPUB_SECRET_PARSE_H
#define CPUB_SECRET_PARSE_H

#include <stdbool.h>
#include <stddef.h>

#define SECRET_KEY_BYTES	 32	  /* a server key: 64 hex digits */
#define SECRET_MAX_KEYS		 16	  /* keys in the key file */
#define SECRET_KEYFILE_MAX	 8192 /* bytes of the key file */
#define SIGNATURE_BYTES		 32	  /* HMAC-SHA256: 64 hex digits */
#define SIGNATURE_NONCE_MIN	 16	  /* characters */
#define SIGNATURE_NONCE_MAX	 128  /* characters */
#define SIGNATURE_PREFIX	 "v1="
#define SIGNATURE_PREFIX_LEN 3

/*
 * Decodes exactly 2 * outlen hexadecimal digits (either case) from in[0..len)
 * into out.  False, with out undefined, when len is not 2 * outlen or a
 * character is not a hexadecimal digit.  The time taken does not depend on
 * the digits' values, only on len.
 */
extern bool secret_hex_decode(const char *in, size_t len, unsigned char *out,
							  size_t outlen);

/*
 * Parses a key file held in buf[0..len): one key per line, 64 hexadecimal
 * digits each, the first the current key and the others older keys.  Blank
 * lines and lines starting with '#' are skipped; spaces, tabs and a '\r'
 * around a key are ignored.  Writes the keys in file order into keys (room
 * for max_keys) and their number into *nkeys.
 *
 * Returns NULL when the file is valid, else a sentence saying why not (a
 * static string, for errdetail) with the 1-based number of the offending
 * line in *bad_line (0 when the fault is the whole file's).  On failure the
 * contents of keys are undefined: the caller wipes them.
 */
extern const char *
secret_keyfile_parse(const char *buf, size_t					  len,
					 unsigned char (*keys)[SECRET_KEY_BYTES], int max_keys,
					 int *nkeys, int *bad_line);

/*
 * Decodes an invocation signature: an optional "v1=" then 64 hexadecimal
 * digits, the HMAC-SHA256 of the signed message.  False when malformed.
 */
extern bool secret_signature_parse(const char *in, size_t len,
								   unsigned char out[SIGNATURE_BYTES]);

/* Whether a nonce is 16 to 128 characters of A-Z, a-z, 0-9, '_' and '-'. */
extern bool secret_nonce_valid(const char *in, size_t len);

#endif /* CPUB_SECRET_PARSE_H */
