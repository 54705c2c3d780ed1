/*
 * worker/src/text.c
 *	  What a function or podman printed, made fit for a text column.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "text.h"

/*
 * utf8_clean: a copy of s (len bytes) that PostgreSQL takes as text: valid
 * UTF-8 without NUL, bad bytes replaced by U+FFFD.
 */
char *
utf8_clean(const char *s, size_t len, size_t *outlen)
{
	char  *out = malloc(len * 3 + 1);
	size_t o = 0;

	if (out == NULL)
		return NULL;
	for (size_t i = 0; i < len;)
	{
		unsigned char c = (unsigned char) s[i];
		size_t		  n = c < 0x80			 ? 1
						  : (c >> 5) == 0x6	 ? 2
						  : (c >> 4) == 0xe	 ? 3
						  : (c >> 3) == 0x1e ? 4
											 : 0;
		bool		  ok = n > 0 && i + n <= len && c != 0;

		for (size_t k = 1; ok && k < n; k++)
			ok = ((unsigned char) s[i + k] >> 6) == 0x2;
		/* Overlong forms and surrogates are not UTF-8 either. */
		if (ok && n == 2 && c < 0xc2)
			ok = false;
		if (ok && n == 3)
		{
			unsigned char c1 = (unsigned char) s[i + 1];

			ok = !(c == 0xe0 && c1 < 0xa0) && !(c == 0xed && c1 >= 0xa0);
		}
		if (ok && n == 4)
		{
			unsigned char c1 = (unsigned char) s[i + 1];

			ok = c <= 0xf4 && !(c == 0xf0 && c1 < 0x90) &&
				 !(c == 0xf4 && c1 >= 0x90);
		}
		if (ok)
		{
			memcpy(out + o, s + i, n);
			o += n;
			i += n;
		}
		else
		{
			memcpy(out + o, "\xef\xbf\xbd", 3);
			o += 3;
			i++;
		}
	}
	out[o] = '\0';
	if (outlen)
		*outlen = o;
	return out;
}
