/*
 * httpd/src/config.c
 *	  Reads the server's settings.  One table lists every setting with its
 *	  type, default, range and help line; the file parser, the environment
 *	  reader, the command line and --help all walk it, so a new setting is
 *	  one row.
 *
 *	  The file holds "key = value" lines; '#' starts a comment; values may
 *	  be quoted with '...'.  Environment variables are CPUB_HTTPD_ followed
 *	  by the key in upper case.  Options are --key=value or --key value.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "config.h"

#define HTTPD_VERSION "0.1"

enum setting_type
{
	SETTING_STRING,
	SETTING_INT,
	SETTING_LONG
};

struct setting
{
	const char		 *key;
	enum setting_type type;
	size_t			  offset;
	const char		 *def; /* default, NULL for none */
	long			  min; /* numbers: inclusive range */
	long			  max;
	const char		 *help;
};

#define S(key, type, def, min, max, help)                                     \
	{                                                                         \
#key, type, offsetof(struct config, key), def, min, max, help         \
	}

static const struct setting SETTINGS[] = {
	S(listen_address, SETTING_STRING, "127.0.0.1", 0, 0,
	  "address to listen on (IPv4 or IPv6 literal)"),
	S(port, SETTING_INT, "8080", 1, 65535, "TCP port"),
	S(database, SETTING_STRING, "dbname=containerpub user=cpub_httpd", 0, 0,
	  "libpq connection string; the role must be cpub_httpd"),
	S(pool_size, SETTING_INT, "0", 0, 1000,
	  "database connections; 0: two per CPU"),
	S(threads, SETTING_INT, "0", 0, 1024,
	  "HTTP worker threads; 0: two per CPU"),
	S(tls_cert, SETTING_STRING, NULL, 0, 0,
	  "PEM certificate (chain); serves HTTPS when set"),
	S(tls_key, SETTING_STRING, NULL, 0, 0, "PEM private key of tls_cert"),
	S(max_body_kb, SETTING_LONG, "1024", 1, 1048576,
	  "largest JSON request body, KiB"),
	S(max_upload_mb, SETTING_LONG, "100", 1, 1023,
	  "largest deploy archive, MiB (the owner's tier caps lower)"),
	S(max_invoke_kb, SETTING_LONG, "6144", 1, 1048576,
	  "largest invocation request body, KiB"),
	S(max_header_kb, SETTING_LONG, "32", 4, 1024,
	  "largest request line plus headers, KiB"),
	S(connection_timeout, SETTING_INT, "30", 1, 3600,
	  "seconds a connection may stay idle (slow clients are dropped)"),
	S(statement_timeout, SETTING_INT, "30000", 100, 3600000,
	  "milliseconds one request's SQL may run"),
	S(pool_wait, SETTING_INT, "2000", 1, 60000,
	  "milliseconds to wait for a free database connection (then 503)"),
	S(invoke_grace, SETTING_INT, "10", 0, 3600,
	  "seconds a synchronous call waits past the function's timeout "
	  "(then 504)"),
	S(follow_wait, SETTING_INT, "30", 1, 300,
	  "longest wait of a logs long-poll (follow=1), seconds"),
	S(log_format, SETTING_STRING, "json", 0, 0,
	  "access and error log format: json or text"),
	S(access_log, SETTING_STRING, "-", 0, 0,
	  "access log: a file path, - for standard output, or off"),
	S(metrics_token, SETTING_STRING, NULL, 0, 0,
	  "when set, /metrics needs 'Authorization: Bearer <token>'"),
	S(openapi_out, SETTING_STRING, NULL, 0, 0,
	  "write the OpenAPI document to this file (needs the database) "
	  "and exit"),
};

#define NSETTINGS (sizeof(SETTINGS) / sizeof(SETTINGS[0]))

static const struct setting *
setting_find(const char *key, size_t len)
{
	for (size_t i = 0; i < NSETTINGS; i++)
		if (strlen(SETTINGS[i].key) == len &&
			strncmp(SETTINGS[i].key, key, len) == 0)
			return &SETTINGS[i];
	return NULL;
}

/*
 * setting_apply: stores value into the field of s.  origin names where the
 * value came from, for the error line.  Returns 0 or -1 (reported).
 */
static int
setting_apply(struct config *cfg, const struct setting *s, const char *value,
			  const char *origin)
{
	char *field = (char *) cfg + s->offset;

	if (s->type == SETTING_STRING)
	{
		char **sp = (char **) field;
		char  *copy = strdup(value);

		if (copy == NULL)
		{
			fprintf(stderr, "cpub-httpd: out of memory\n");
			return -1;
		}
		free(*sp);
		*sp = copy;
		return 0;
	}
	else
	{
		char *end;
		long  v;

		errno = 0;
		v = strtol(value, &end, 10);
		if (errno != 0 || end == value || *end != '\0' || v < s->min ||
			v > s->max)
		{
			fprintf(stderr,
					"cpub-httpd: %s: invalid value \"%s\" for %s "
					"(an integer from %ld to %ld)\n",
					origin, value, s->key, s->min, s->max);
			return -1;
		}
		if (s->type == SETTING_INT)
			*(int *) field = (int) v;
		else
			*(long *) field = v;
		return 0;
	}
}

static char *
trim(char *s)
{
	char *e;

	while (isspace((unsigned char) *s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char) e[-1]))
		*--e = '\0';
	return s;
}

/*
 * config_read_file: applies every "key = value" line of path.  Returns 0
 * or -1 (reported with the file name and line number).
 */
static int
config_read_file(struct config *cfg, const char *path)
{
	FILE *f = fopen(path, "r");
	char  line[4096];
	char  origin[PATH_MAX + 32];
	int	  lineno = 0;
	int	  rc = 0;

	if (f == NULL)
	{
		fprintf(stderr,
				"cpub-httpd: could not open configuration file "
				"\"%s\": %s\n",
				path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f) != NULL)
	{
		char				 *p, *eq, *key, *value;
		const struct setting *s;

		lineno++;
		snprintf(origin, sizeof(origin), "%s:%d", path, lineno);
		if (strchr(line, '\n') == NULL && !feof(f))
		{
			fprintf(stderr, "cpub-httpd: %s: line too long\n", origin);
			rc = -1;
			break;
		}
		p = line;
		/* A '#' outside quotes starts a comment. */
		for (char *c = p, quote = 0; *c; c++)
		{
			if (*c == '\'')
				quote = !quote;
			else if (*c == '#' && !quote)
			{
				*c = '\0';
				break;
			}
		}
		p = trim(p);
		if (*p == '\0')
			continue;
		eq = strchr(p, '=');
		if (eq == NULL)
		{
			fprintf(stderr, "cpub-httpd: %s: expected \"key = value\"\n",
					origin);
			rc = -1;
			break;
		}
		*eq = '\0';
		key = trim(p);
		value = trim(eq + 1);
		if (value[0] == '\'')
		{
			size_t n = strlen(value);

			if (n < 2 || value[n - 1] != '\'')
			{
				fprintf(stderr, "cpub-httpd: %s: unterminated quote\n",
						origin);
				rc = -1;
				break;
			}
			value[n - 1] = '\0';
			value++;
		}
		s = setting_find(key, strlen(key));
		if (s == NULL)
		{
			fprintf(stderr, "cpub-httpd: %s: unknown setting \"%s\"\n", origin,
					key);
			rc = -1;
			break;
		}
		if (setting_apply(cfg, s, value, origin) != 0)
		{
			rc = -1;
			break;
		}
	}
	fclose(f);
	return rc;
}

void
config_usage(FILE *out)
{
	fprintf(out,
			"Usage: cpub-httpd [--config FILE] [--KEY=VALUE ...]\n"
			"\n"
			"The REST front of ContainerPub.  Settings come from their "
			"defaults, then\nthe --config file (lines \"key = value\"), then "
			"environment variables\nCPUB_HTTPD_<KEY>, then options "
			"--key=value; later wins.\n\n"
			"Options:\n"
			"  --config FILE   read settings from FILE (also "
			"CPUB_HTTPD_CONFIG)\n"
			"  --help          show this help and exit\n"
			"  --version       show the version and exit\n\n"
			"Settings:\n");
	for (size_t i = 0; i < NSETTINGS; i++)
	{
		const struct setting *s = &SETTINGS[i];

		fprintf(out, "  %-20s %s", s->key, s->help);
		if (s->def != NULL)
			fprintf(out, " [%s]", s->def);
		fputc('\n', out);
	}
}

/*
 * config_check: the rules that involve more than one setting.  Returns 0 or
 * -1 (reported).
 */
static int
config_check(const struct config *cfg)
{
	if ((cfg->tls_cert == NULL) != (cfg->tls_key == NULL))
	{
		fprintf(stderr, "cpub-httpd: tls_cert and tls_key must be set "
						"together\n");
		return -1;
	}
	if (strcmp(cfg->log_format, "json") != 0 &&
		strcmp(cfg->log_format, "text") != 0)
	{
		fprintf(stderr,
				"cpub-httpd: invalid value \"%s\" for log_format "
				"(json or text)\n",
				cfg->log_format);
		return -1;
	}
	return 0;
}

int
config_load(struct config *cfg, int argc, char **argv)
{
	const char *file = getenv("CPUB_HTTPD_CONFIG");

	memset(cfg, 0, sizeof(*cfg));
	for (size_t i = 0; i < NSETTINGS; i++)
		if (SETTINGS[i].def != NULL &&
			setting_apply(cfg, &SETTINGS[i], SETTINGS[i].def, "default") != 0)
			return -1;

	/* --help, --version and --config first: the file comes before the
	 * environment and the other options. */
	for (int i = 1; i < argc; i++)
	{
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
		{
			config_usage(stdout);
			return 1;
		}
		if (strcmp(argv[i], "--version") == 0)
		{
			printf("cpub-httpd %s\n", HTTPD_VERSION);
			return 1;
		}
		if (strcmp(argv[i], "--config") == 0)
		{
			if (i + 1 >= argc)
			{
				fprintf(stderr, "cpub-httpd: --config needs a file name\n");
				return -1;
			}
			file = argv[++i];
		}
		else if (strncmp(argv[i], "--config=", 9) == 0)
			file = argv[i] + 9;
	}
	if (file != NULL && config_read_file(cfg, file) != 0)
		return -1;

	for (size_t i = 0; i < NSETTINGS; i++)
	{
		char		name[64] = "CPUB_HTTPD_";
		size_t		n = strlen(name);
		const char *v;

		for (const char *k = SETTINGS[i].key; *k && n < sizeof(name) - 1; k++)
			name[n++] = (char) toupper((unsigned char) *k);
		name[n] = '\0';
		v = getenv(name);
		if (v != NULL && setting_apply(cfg, &SETTINGS[i], v, name) != 0)
			return -1;
	}

	for (int i = 1; i < argc; i++)
	{
		const char			 *a = argv[i];
		const char			 *eq;
		const char			 *value;
		const struct setting *s;

		if (strcmp(a, "--config") == 0)
		{
			i++;
			continue;
		}
		if (strncmp(a, "--config=", 9) == 0)
			continue;
		if (strncmp(a, "--", 2) != 0)
		{
			fprintf(stderr,
					"cpub-httpd: unexpected argument \"%s\" (see --help)\n",
					a);
			return -1;
		}
		a += 2;
		eq = strchr(a, '=');
		s = setting_find(a, eq ? (size_t) (eq - a) : strlen(a));
		if (s == NULL)
		{
			fprintf(stderr, "cpub-httpd: unknown option \"%s\" (see --help)\n",
					argv[i]);
			return -1;
		}
		if (eq != NULL)
			value = eq + 1;
		else if (i + 1 < argc)
			value = argv[++i];
		else
		{
			fprintf(stderr, "cpub-httpd: option --%s needs a value\n", s->key);
			return -1;
		}
		if (setting_apply(cfg, s, value, "command line") != 0)
			return -1;
	}
	if (cfg->pool_size == 0 || cfg->threads == 0)
	{
		/* Two per CPU: a thread waits on the database about as long as
		 * it works, and more backends than that only queue on the CPUs
		 * (bench/README.md). */
		long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
		int	 twice = ncpu > 0 && ncpu < 256 ? (int) ncpu * 2 : 4;

		if (cfg->pool_size == 0)
			cfg->pool_size = twice;
		if (cfg->threads == 0)
			cfg->threads = twice;
	}
	return config_check(cfg);
}

void
config_free(struct config *cfg)
{
	for (size_t i = 0; i < NSETTINGS; i++)
		if (SETTINGS[i].type == SETTING_STRING)
		{
			char **sp = (char **) ((char *) cfg + SETTINGS[i].offset);

			free(*sp);
			*sp = NULL;
		}
}
