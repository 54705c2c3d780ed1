/*
 * worker/src/text.h
 *	  Text helpers.
 */
#ifndef WORKER_TEXT_H
#define WORKER_TEXT_H

#include <stddef.h>

/*
 * utf8_clean: a malloc'd copy of s (len bytes) that PostgreSQL takes as
 * text: valid UTF-8 without NUL, each bad byte replaced by U+FFFD.
 * *outlen (may be NULL) gets its length.  NULL when out of memory.
 */
extern char *utf8_clean(const char *s, size_t len, size_t *outlen);

#endif
