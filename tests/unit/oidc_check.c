/*
 * tests/unit/oidc_check.c
 *	  A driver of httpd's admin token checks (httpd/src/oidc.c) for the
 *	  tests (tests/e2e/oidc_verify.t) and for people: oidc_init against a
 *	  real provider, then oidc_check on each token read from stdin.
 *
 *	  oidc_check --issuer URL --audience AUD [--client-id ID]
 *				 [--client-secret SECRET] [--jwks-refresh-min S]
 *				 [--introspection-cache S] [--skew S]
 *
 *	  Each input line is a token, or "SLEEP n" (wait n seconds), or
 *	  "BENCH n TOKEN" (time n calls on TOKEN), or "TIME TOKEN" (time one
 *	  call: "TIME <microseconds> <verdict>", for bench/admin.sh).  For a token, one line out,
 *	  tab-separated: the verdict (OIDC_OK, ...), the subject, the email,
 *	  the roles (full_admin,viewer) and the reason, "-" for what is empty.
 *	  For BENCH: "BENCH cached X us signature Y us" per call, the first
 *	  with the verdict cached, the second with it forgotten before each
 *	  call (so one hash and one lock more than a first-seen token costs).
 *	  Output is line-buffered, so a test can talk to it through a pipe.
 *	  Exit status 0 at end of input, 2 for bad arguments or a failed init.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "oidc.h"

static const char *const role_paths[] = {
	"realm_access.roles",
	"resource_access.{client}.roles",
};

static double
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static const char *
dash(const char *s)
{
	return s[0] != '\0' ? s : "-";
}

static void
check_line(const char *token)
{
	struct oidc_identity id;
	char				 err[512] = "";
	enum oidc_result	 r;

	r = oidc_check(token, time(NULL), &id, err, sizeof(err));
	printf(
		"%s\t%s\t%s\t%s%s%s\t%s\n", oidc_result_name(r), dash(id.subject),
		dash(id.email), (id.roles & JWT_ROLE_FULL_ADMIN) ? "full_admin" : "",
		(id.roles & JWT_ROLE_FULL_ADMIN) && (id.roles & JWT_ROLE_VIEWER) ? ","
																		 : "",
		(id.roles & JWT_ROLE_VIEWER) ? "viewer"
		: id.roles == 0				 ? "-"
									 : "",
		dash(err));
}

static void
bench(long n, const char *token)
{
	struct oidc_identity id;
	char				 err[512];
	double				 t0;
	double				 cached;
	double				 sig;
	long				 i;
	int					 bad = 0;

	if (n <= 0)
		n = 1;
	bad |= oidc_check(token, time(NULL), &id, err, sizeof(err)) != OIDC_OK;
	t0 = now_us();
	for (i = 0; i < n; i++)
		bad |= oidc_check(token, time(NULL), &id, err, sizeof(err)) != OIDC_OK;
	cached = (now_us() - t0) / n;
	t0 = now_us();
	for (i = 0; i < n; i++)
	{
		oidc_cache_forget(token);
		bad |= oidc_check(token, time(NULL), &id, err, sizeof(err)) != OIDC_OK;
	}
	sig = (now_us() - t0) / n;
	printf("BENCH cached %.2f us signature %.2f us%s\n", cached, sig,
		   bad ? " (a check was not OIDC_OK)" : "");
}

/* time_one: "TIME <microseconds> <verdict>" of one oidc_check of token. */
static void
time_one(const char *token)
{
	struct oidc_identity id;
	char				 err[512];
	double				 t0 = now_us();
	enum oidc_result r = oidc_check(token, time(NULL), &id, err, sizeof(err));

	printf("TIME %.1f %s\n", now_us() - t0, oidc_result_name(r));
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"issuer", required_argument, NULL, 'i'},
		{"audience", required_argument, NULL, 'a'},
		{"client-id", required_argument, NULL, 'c'},
		{"client-secret", required_argument, NULL, 's'},
		{"jwks-refresh-min", required_argument, NULL, 'r'},
		{"introspection-cache", required_argument, NULL, 'n'},
		{"skew", required_argument, NULL, 'k'},
		{NULL, 0, NULL, 0},
	};
	struct oidc_config cfg = {
		.jwks_refresh_min = 30,
		.introspection_cache = 30,
		.skew = 30,
		.role_paths = role_paths,
		.n_role_paths = sizeof(role_paths) / sizeof(role_paths[0]),
	};
	char	err[512];
	char   *line = NULL;
	size_t	cap = 0;
	ssize_t len;
	int		c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1)
	{
		switch (c)
		{
			case 'i':
				cfg.issuer = optarg;
				break;
			case 'a':
				cfg.audience = optarg;
				break;
			case 'c':
				cfg.client_id = optarg;
				break;
			case 's':
				cfg.client_secret = optarg;
				break;
			case 'r':
				cfg.jwks_refresh_min = atoi(optarg);
				break;
			case 'n':
				cfg.introspection_cache = atoi(optarg);
				break;
			case 'k':
				cfg.skew = atoi(optarg);
				break;
			default:
				return 2;
		}
	}
	if (cfg.issuer == NULL || cfg.audience == NULL || optind != argc)
	{
		fprintf(stderr, "usage: oidc_check --issuer URL --audience AUD "
						"[--client-id ID --client-secret S] "
						"[--jwks-refresh-min S] [--introspection-cache S] "
						"[--skew S] < tokens\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (oidc_init(&cfg, err, sizeof(err)) != 0)
	{
		fprintf(stderr, "oidc_check: %s\n", err);
		return 2;
	}
	while ((len = getline(&line, &cap, stdin)) != -1)
	{
		long n;
		int	 off = 0;

		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		if (sscanf(line, "SLEEP %ld", &n) == 1)
			sleep((unsigned) n);
		else if (sscanf(line, "BENCH %ld %n", &n, &off) == 1 && off > 0)
			bench(n, line + off);
		else if (strncmp(line, "TIME ", 5) == 0)
			time_one(line + 5);
		else
			check_line(line);
	}
	free(line);
	oidc_shutdown();
	return 0;
}
