/*-------------------------------------------------------------------------
 *
 * secret_parse.c
 *	  The text formats of secrets: hexadecimal, the server's key file, and
 *	  the signature and nonce of a signed invocation.
 *
 *	  Plain C, no PostgreSQL and no libsodium, so that tests/unit can test
 *	  every rule directly.  Nothing here allocates: callers hand in the
 *	  buffers, and wipe those that held keys.  Hexadecimal decoding takes
 *	  the same time whatever the digits are, since it reads key material.
 *
 * pg_extension/src/secret_parse.c
 *
 *-------------------------------------------------------------------------
 */
#include "secret_parse.h"

#include <string.h>

/*
 * hex_nibble
 *		The value of a hexadecimal digit, or -1.  Comparisons and masks
 *		only, no branch or table lookup on the digit.
 */
static int
hex_nibble(unsigned char c)
{
	int digit = (int) c - '0';
	int letter = (int) (c | 0x20) - 'a';
	int is_digit = (digit >= 0) & (digit <= 9);
	int is_letter = (letter >= 0) & (letter <= 5);

	return ((-is_digit) & digit) | ((-is_letter) & (letter + 10)) |
		   ((-(1 - (is_digit | is_letter))) & -1);
}

bool
secret_hex_decode(const char *in, size_t len, unsigned char *out,
				  size_t outlen)
{
	int bad = 0;

	if (len != 2 * outlen)
		return false;
	for (size_t i = 0; i < outlen; i++)
	{
		int hi = hex_nibble((unsigned char) in[2 * i]);
		int lo = hex_nibble((unsigned char) in[2 * i + 1]);

		bad |= (hi | lo) < 0;
		out[i] = (unsigned char) (((hi & 0x0f) << 4) | (lo & 0x0f));
	}
	return !bad;
}

static bool
is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

const char *
secret_keyfile_parse(const char *buf, size_t					  len,
					 unsigned char (*keys)[SECRET_KEY_BYTES], int max_keys,
					 int *nkeys, int *bad_line)
{
	size_t pos = 0;
	int	   line = 0;

	*nkeys = 0;
	*bad_line = 0;
	if (memchr(buf, '\0', len) != NULL)
		return "The file has a NUL byte; it must be text.";

	while (pos < len)
	{
		const char *start = buf + pos;
		const char *nl = memchr(start, '\n', len - pos);
		size_t		n = nl ? (size_t) (nl - start) : len - pos;

		pos += n + (nl ? 1 : 0);
		line++;
		while (n > 0 && is_blank(*start))
		{
			start++;
			n--;
		}
		while (n > 0 && is_blank(start[n - 1]))
			n--;
		if (n == 0 || *start == '#')
			continue;

		*bad_line = line;
		if (*nkeys == max_keys)
			return "The file holds more keys than the 16 allowed.";
		if (!secret_hex_decode(start, n, keys[*nkeys], SECRET_KEY_BYTES))
			return "A key must be 64 hexadecimal digits (32 bytes).";
		for (int i = 0; i < *nkeys; i++)
			if (memcmp(keys[i], keys[*nkeys], SECRET_KEY_BYTES) == 0)
				return "The same key appears twice.";
		(*nkeys)++;
		*bad_line = 0;
	}
	if (*nkeys == 0)
		return "The file holds no key.";
	return NULL;
}

bool
secret_signature_parse(const char *in, size_t len,
					   unsigned char out[SIGNATURE_BYTES])
{
	if (len >= SIGNATURE_PREFIX_LEN &&
		memcmp(in, SIGNATURE_PREFIX, SIGNATURE_PREFIX_LEN) == 0)
	{
		in += SIGNATURE_PREFIX_LEN;
		len -= SIGNATURE_PREFIX_LEN;
	}
	return secret_hex_decode(in, len, out, SIGNATURE_BYTES);
}

bool
secret_nonce_valid(const char *in, size_t len)
{
	if (len < SIGNATURE_NONCE_MIN || len > SIGNATURE_NONCE_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
	{
		char c = in[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
			  (c >= '0' && c <= '9') || c == '_' || c == '-'))
			return false;
	}
	return true;
}
