/*-------------------------------------------------------------------------
 *
 * tap.h
 *	  A tiny TAP producer for the C unit tests, read by prove.
 *
 *	  plan(n) (or none and done_testing() at the end), then ok(cond, fmt, ...)
 *	  and is_str(got, want, fmt, ...) for each assertion, then
 *	  return done_testing(); from main.  The exit status is nonzero when an
 *	  assertion failed or the count differs from the plan.  Header only: each
 *	  test program is one .c file including it once.
 *
 * tests/unit/tap.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef CPUB_TAP_H
#define CPUB_TAP_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static int tap_planned = -1;
static int tap_run = 0;
static int tap_failed = 0;

/* Announce how many assertions will follow. */
static inline void
plan(int n)
{
	tap_planned = n;
	printf("1..%d\n", n);
	fflush(stdout);
}

/* Print one result line; returns cond so callers can add diagnostics. */
static inline bool
tap_vok(bool cond, const char *file, int line, const char *fmt, va_list ap)
{
	tap_run++;
	if (!cond)
		tap_failed++;
	printf("%sok %d - ", cond ? "" : "not ", tap_run);
	vprintf(fmt, ap);
	printf("\n");
	if (!cond)
		fprintf(stderr, "#   Failed test %d at %s line %d.\n", tap_run, file,
				line);
	fflush(stdout);
	fflush(stderr);
	return cond;
}

static inline bool tap_ok(bool cond, const char *file, int line,
						  const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static inline bool
tap_ok(bool cond, const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	bool	r;

	va_start(ap, fmt);
	r = tap_vok(cond, file, line, fmt, ap);
	va_end(ap);
	return r;
}

static inline bool tap_is_str(const char *got, const char *want,
							  const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

/* Passes when both are NULL or both are equal strings. */
static inline bool
tap_is_str(const char *got, const char *want, const char *file, int line,
		   const char *fmt, ...)
{
	va_list ap;
	bool	cond;

	if (got == NULL || want == NULL)
		cond = got == want;
	else
		cond = strcmp(got, want) == 0;
	va_start(ap, fmt);
	tap_vok(cond, file, line, fmt, ap);
	va_end(ap);
	if (!cond)
	{
		fprintf(stderr, "#          got: %s%s%s\n", got ? "'" : "",
				got ? got : "NULL", got ? "'" : "");
		fprintf(stderr, "#     expected: %s%s%s\n", want ? "'" : "",
				want ? want : "NULL", want ? "'" : "");
	}
	return cond;
}

/* Write a diagnostic line (to stderr, as "# ..."). */
static inline void diag(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

static inline void
diag(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "# ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
}

/*
 * Ends the test program: prints the plan when none was given, and returns
 * the exit status for main (0 when everything passed as planned).
 */
static inline int
done_testing(void)
{
	if (tap_planned < 0)
		printf("1..%d\n", tap_run);
	else if (tap_planned != tap_run)
		diag("planned %d tests but ran %d", tap_planned, tap_run);
	if (tap_failed > 0)
		diag("failed %d of %d tests", tap_failed, tap_run);
	fflush(stdout);
	return (tap_failed > 0 || (tap_planned >= 0 && tap_planned != tap_run))
			   ? 1
			   : 0;
}

#define ok(cond, ...) tap_ok((cond), __FILE__, __LINE__, __VA_ARGS__)
#define is_str(got, want, ...)                                                \
	tap_is_str((got), (want), __FILE__, __LINE__, __VA_ARGS__)

#endif /* CPUB_TAP_H */
