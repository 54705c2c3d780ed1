/*-------------------------------------------------------------------------
 *
 * test_secret_parse.c
 *	  TAP tests of pg_extension/src/secret_parse.c: hexadecimal decoding of
 *	  every byte value in both cases, the server key file's rules (order,
 *	  comments, blank lines, CRLF, lengths, duplicates, the number of keys,
 *	  the offending line's number), invocation signatures with and without
 *	  "v1=", and nonces at their length boundaries and alphabet.
 *
 *	  Each input is copied into a buffer of exactly its length, with no
 *	  terminating NUL, so a build with -fsanitize=address catches any read
 *	  past the lengths the functions are given.  A rejected key file is
 *	  checked against the exact reason sentence (what the user sees as
 *	  errdetail) and line, so each case also proves which rule fired.
 *
 * tests/unit/test_secret_parse.c
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "secret_parse.h"
#include "tap.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* The reasons, as secret_parse.c words them. */
#define R_NUL	   "The file has a NUL byte; it must be text."
#define R_TOO_MANY "The file holds more keys than the 16 allowed."
#define R_NOT_HEX  "A key must be 64 hexadecimal digits (32 bytes)."
#define R_TWICE	   "The same key appears twice."
#define R_NO_KEY   "The file holds no key."

/* Two keys, and their bytes. */
#define KEY_A                                                                 \
	"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define KEY_B                                                                 \
	"FFEEDDCCBBAA99887766554433221100ffeeddccbbaa99887766554433221100"

/* A copy of s[0..len) in a buffer of exactly len bytes, no NUL after it. */
static char *
exact_copy(const char *s, size_t len)
{
	char *p = malloc(len > 0 ? len : 1);

	if (p == NULL)
		abort();
	memcpy(p, s, len);
	return p;
}

static bool
hex_decode(const char *s, size_t len, unsigned char *out, size_t outlen)
{
	char *copy = exact_copy(s, len);
	bool  r = secret_hex_decode(copy, len, out, outlen);

	free(copy);
	return r;
}

/* Every byte value, written in lower and in upper case, decodes back. */
static void
hex_every_byte(void)
{
	int lower_ok = 0;
	int upper_ok = 0;

	for (int b = 0; b < 256; b++)
	{
		char		  text[3];
		unsigned char out;

		snprintf(text, sizeof(text), "%02x", b);
		if (hex_decode(text, 2, &out, 1) && out == b)
			lower_ok++;
		snprintf(text, sizeof(text), "%02X", b);
		if (hex_decode(text, 2, &out, 1) && out == b)
			upper_ok++;
	}
	ok(lower_ok == 256, "every byte decodes from lowercase hex (%d)",
	   lower_ok);
	ok(upper_ok == 256, "every byte decodes from uppercase hex (%d)",
	   upper_ok);
}

/* Every character that is not a hexadecimal digit is refused, anywhere. */
static void
hex_refuses(void)
{
	int			  refused = 0;
	int			  expected = 0;
	unsigned char out[2];

	for (int c = 0; c < 256; c++)
	{
		char text[4] = {'a', 'b', 'c', 'd'};

		if (strchr("0123456789abcdefABCDEF", c) != NULL && c != 0)
			continue;
		expected += 4;
		for (int pos = 0; pos < 4; pos++)
		{
			memcpy(text, "abcd", 4);
			text[pos] = (char) c;
			if (!hex_decode(text, 4, out, 2))
				refused++;
		}
	}
	ok(refused == expected,
	   "each of the 234 non-hex byte values is refused at each position "
	   "(%d of %d)",
	   refused, expected);
	ok(!hex_decode("abc", 3, out, 2), "three digits for two bytes: refused");
	ok(!hex_decode("abcde", 5, out, 2), "five digits for two bytes: refused");
	ok(!hex_decode("", 0, out, 2), "nothing for two bytes: refused");
	ok(hex_decode("", 0, out, 0), "nothing for no bytes: accepted");
}

struct keyfile_case
{
	const char *text;
	size_t		len;
	const char *reason; /* NULL: valid */
	int			line;	/* offending line, or the number of keys if valid */
	const char *what;
};

#define LIT(s) s, sizeof(s) - 1

static const struct keyfile_case keyfile_cases[] = {
	{LIT(KEY_A "\n"), NULL, 1, "one key and a newline"},
	{LIT(KEY_A), NULL, 1, "one key without a final newline"},
	{LIT(KEY_A "\n" KEY_B "\n"), NULL, 2, "two keys"},
	{LIT("# current\n" KEY_A "\n\n# old\n" KEY_B "\n"), NULL, 2,
	 "comments and blank lines are skipped"},
	{LIT(KEY_A "\r\n" KEY_B "\r\n"), NULL, 2, "CRLF line ends"},
	{LIT("  \t" KEY_A " \t\n"), NULL, 1, "spaces and tabs around a key"},
	{LIT("\n\n\n" KEY_A), NULL, 1, "blank lines first"},
	{LIT(""), R_NO_KEY, 0, "an empty file"},
	{LIT("\n \n\t\n"), R_NO_KEY, 0, "only blank lines"},
	{LIT("# " KEY_A "\n"), R_NO_KEY, 0, "a commented-out key only"},
	{LIT(KEY_A "0\n"), R_NOT_HEX, 1, "65 digits"},
	{LIT("00102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n"),
	 R_NOT_HEX, 1, "63 digits"},
	{LIT(KEY_A "\nzz" KEY_A "\n"), R_NOT_HEX, 2,
	 "a bad second line is named as line 2"},
	{LIT(KEY_A "\n\n# x\ng00102030405060708090a0b0c0d0e0f101112131415161718"
			   "191a1b1c1d1e1f\n"),
	 R_NOT_HEX, 4, "lines are counted with blank lines and comments"},
	{LIT("0001 0203 0405 0607 0809 0a0b 0c0d 0e0f 1011 1213 1415 1617 1819 "
		 "1a1b 1c1d 1e1f\n"),
	 R_NOT_HEX, 1, "spaces inside a key"},
	{LIT("0x" KEY_A), R_NOT_HEX, 1, "a 0x prefix"},
	{LIT(KEY_A " # current\n"), R_NOT_HEX, 1, "a comment after a key"},
	{LIT(KEY_A "\n" KEY_B "\n" KEY_A "\n"), R_TWICE, 3, "a key twice"},
	{LIT(KEY_A "\n"
			   "000102030405060708090A0B0C0D0E0F101112131415161718191A1B"
			   "1C1D1E1F\n"),
	 R_TWICE, 2, "the same key in other case is the same key"},
	{LIT(KEY_A "\n\0" KEY_B "\n"), R_NUL, 0, "a NUL byte"},
};

static void
keyfile_check(const struct keyfile_case *c)
{
	unsigned char keys[SECRET_MAX_KEYS][SECRET_KEY_BYTES];
	char		 *copy = exact_copy(c->text, c->len);
	int			  nkeys = -1;
	int			  bad_line = -1;
	const char	 *why;

	why = secret_keyfile_parse(copy, c->len, keys, SECRET_MAX_KEYS, &nkeys,
							   &bad_line);
	free(copy);
	if (c->reason == NULL)
		ok(why == NULL && nkeys == c->line && bad_line == 0,
		   "key file valid: %s (%d keys; %s)", c->what, nkeys,
		   why ? why : "no reason");
	else
	{
		is_str(why, c->reason, "key file refused: %s", c->what);
		ok(bad_line == c->line, "  ... at line %d (got %d)", c->line,
		   bad_line);
	}
}

/* The keys come out in file order with the right bytes. */
static void
keyfile_values(void)
{
	static const char text[] = "# new\n" KEY_B "\n" KEY_A "\n";
	unsigned char	  keys[SECRET_MAX_KEYS][SECRET_KEY_BYTES];
	unsigned char	  a[SECRET_KEY_BYTES];
	unsigned char	  b[SECRET_KEY_BYTES];
	char			 *copy = exact_copy(text, sizeof(text) - 1);
	int				  nkeys;
	int				  bad_line;
	const char		 *why;

	for (int i = 0; i < SECRET_KEY_BYTES; i++)
		a[i] = (unsigned char) i;
	for (int i = 0; i < SECRET_KEY_BYTES; i++)
		b[i] = (unsigned char) (0xff - (i % 16) * 0x11);
	why = secret_keyfile_parse(copy, sizeof(text) - 1, keys, SECRET_MAX_KEYS,
							   &nkeys, &bad_line);
	free(copy);
	ok(why == NULL && nkeys == 2, "two keys read");
	ok(memcmp(keys[0], b, SECRET_KEY_BYTES) == 0,
	   "the first line is the first key, bytes as written");
	ok(memcmp(keys[1], a, SECRET_KEY_BYTES) == 0,
	   "the second line is the second key");
}

/* 16 keys are allowed, 17 are not; max_keys is honoured. */
static void
keyfile_count(void)
{
	char		  text[18 * 65 + 1];
	unsigned char keys[SECRET_MAX_KEYS][SECRET_KEY_BYTES];
	size_t		  len = 0;
	int			  nkeys;
	int			  bad_line;
	const char	 *why;
	char		 *copy;

	for (int i = 0; i < 17; i++)
	{
		for (int j = 0; j < 32; j++)
			len += snprintf(text + len, sizeof(text) - len, "%02x",
							j == 0 ? i : j); /* key i starts with byte i */
		text[len++] = '\n';
	}
	copy = exact_copy(text, 16 * 65);
	why = secret_keyfile_parse(copy, 16 * 65, keys, SECRET_MAX_KEYS, &nkeys,
							   &bad_line);
	free(copy);
	ok(why == NULL && nkeys == 16, "16 keys are allowed (%d)", nkeys);

	copy = exact_copy(text, len);
	why = secret_keyfile_parse(copy, len, keys, SECRET_MAX_KEYS, &nkeys,
							   &bad_line);
	free(copy);
	is_str(why, R_TOO_MANY, "17 keys are refused");
	ok(bad_line == 17, "  ... at line 17 (got %d)", bad_line);

	copy = exact_copy(text, 3 * 65);
	why = secret_keyfile_parse(copy, 3 * 65, keys, 2, &nkeys, &bad_line);
	free(copy);
	is_str(why, R_TOO_MANY, "a smaller max_keys is honoured");
}

struct text_case
{
	const char *text;
	size_t		len;
	bool		valid;
	const char *what;
};

#define SIG "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90"

static const struct text_case signature_cases[] = {
	{LIT(SIG), true, "64 lowercase hex digits"},
	{LIT("v1=" SIG), true, "with the v1= prefix"},
	{LIT("A1B2C3D4E5F60718293A4B5C6D7E8F90A1B2C3D4E5F60718293A4B5C6D7E8F90"),
	 true, "uppercase hex digits"},
	{LIT(SIG "0"), false, "65 digits"},
	{LIT("v1=" SIG "0"), false, "v1= and 65 digits"},
	{LIT("a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9"),
	 false, "63 digits"},
	{LIT("v2=" SIG), false, "another version prefix"},
	{LIT("V1=" SIG), false, "the prefix is lowercase"},
	{LIT("v1=v1=" SIG), false, "the prefix twice"},
	{LIT("v1="), false, "the prefix alone"},
	{LIT(""), false, "empty"},
	{LIT(" " SIG), false, "a leading space"},
	{LIT("g1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90"),
	 false, "a non-hex digit"},
};

static const struct text_case nonce_cases[] = {
	{LIT("abcdefghijklmnop"), true, "16 letters"},
	{LIT("abcdefghijklmno"), false, "15 letters"},
	{LIT("AZaz09_-AZaz09_-"), true, "every kind of allowed character"},
	{LIT("abcdefghijklmno."), false, "a dot"},
	{LIT("abcdefghijklmno+"), false, "a plus"},
	{LIT("abcdefghijklmno/"), false, "a slash"},
	{LIT("abcdefghijklmno="), false, "an equals sign"},
	{LIT("abcdefghijklmno "), false, "a space"},
	{LIT("abcdefghijklmno\n"), false, "a newline (it would forge a line)"},
	{LIT("abcdefghijklmn\xc3\xa9"), false, "a non-ASCII letter"},
	{LIT("abcdefghijklmno\0"), false, "a NUL byte"},
	{LIT(""), false, "empty"},
};

static void
text_check(bool (*fn)(const char *, size_t), const struct text_case *c,
		   const char *kind)
{
	char *copy = exact_copy(c->text, c->len);
	bool  r = fn(copy, c->len);

	free(copy);
	ok(r == c->valid, "%s %s: %s", kind, c->valid ? "accepted" : "refused",
	   c->what);
}

static bool
signature_ok(const char *s, size_t len)
{
	unsigned char out[SIGNATURE_BYTES];

	return secret_signature_parse(s, len, out);
}

/* A signature decodes to the right bytes, with or without its prefix. */
static void
signature_values(void)
{
	unsigned char plain[SIGNATURE_BYTES];
	unsigned char prefixed[SIGNATURE_BYTES];
	char		 *copy;

	copy = exact_copy(SIG, sizeof(SIG) - 1);
	ok(secret_signature_parse(copy, sizeof(SIG) - 1, plain) &&
		   plain[0] == 0xa1 && plain[31] == 0x90,
	   "a signature decodes to its bytes");
	free(copy);
	copy = exact_copy("v1=" SIG, sizeof("v1=" SIG) - 1);
	ok(secret_signature_parse(copy, sizeof("v1=" SIG) - 1, prefixed) &&
		   memcmp(plain, prefixed, SIGNATURE_BYTES) == 0,
	   "the v1= prefix does not change the bytes");
	free(copy);
}

/* 128 characters are allowed in a nonce, 129 are not. */
static void
nonce_lengths(void)
{
	char buf[130];

	memset(buf, 'n', sizeof(buf));
	ok(secret_nonce_valid(buf, 128), "a nonce of 128 characters");
	ok(!secret_nonce_valid(buf, 129), "a nonce of 129 characters: refused");
}

int
main(void)
{
	hex_every_byte();
	hex_refuses();
	for (size_t i = 0; i < NELEM(keyfile_cases); i++)
		keyfile_check(&keyfile_cases[i]);
	keyfile_values();
	keyfile_count();
	for (size_t i = 0; i < NELEM(signature_cases); i++)
		text_check(signature_ok, &signature_cases[i], "signature");
	signature_values();
	for (size_t i = 0; i < NELEM(nonce_cases); i++)
		text_check(secret_nonce_valid, &nonce_cases[i], "nonce");
	nonce_lengths();
	return done_testing();
}
