/*
 * httpd/src/settings.c
 *	  Reads a program's settings (settings.h).  One table lists every
 *	  setting with its type, default, range and help line; the file parser,
 *	  the environment reader, the command line and --help all walk it, so a
 *	  new setting is one row.
 *
 *	  The file holds "key = value" lines; '#' starts a comment; values may
 *	  be quoted with '...'.  Environment variables are the program's prefix
 *	  followed by the key in upper case.  Options are --key=value or --key
 *	  value.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "settings.h"

static const struct setting *
setting_find(const struct settings_spec *spec, const char *key, size_t len)
{
	for (size_t i = 0; i < spec->n; i++)
		if (strlen(spec->table[i].key) == len &&
			strncmp(spec->table[i].key, key, len) == 0)
			return &spec->table[i];
	return NULL;
}

/*
 * setting_apply: stores value into the field of s.  origin names where the
 * value came from, for the error line.  Returns 0 or -1 (reported).
 */
static int
setting_apply(const struct settings_spec *spec, void *cfg,
			  const struct setting *s, const char *value, const char *origin)
{
	char *field = (char *) cfg + s->offset;

	if (s->type == SETTING_STRING)
	{
		char **sp = (char **) field;
		char  *copy;

		if (s->choices != NULL)
		{
			size_t		n = strlen(value);
			const char *c = s->choices;
			bool		found = false;

			for (; *c && !found;
				 c += strcspn(c, "|") + (c[strcspn(c, "|")] != '\0'))
				found = n > 0 && strncmp(c, value, n) == 0 &&
						(c[n] == '|' || c[n] == '\0');
			if (!found)
			{
				fprintf(stderr,
						"%s: %s: invalid value \"%s\" for %s (one of %s)\n",
						spec->program, origin, value, s->key, s->choices);
				return -1;
			}
		}
		copy = strdup(value);

		if (copy == NULL)
		{
			fprintf(stderr, "%s: out of memory\n", spec->program);
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
					"%s: %s: invalid value \"%s\" for %s "
					"(an integer from %ld to %ld)\n",
					spec->program, origin, value, s->key, s->min, s->max);
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
 * settings_read_file: applies every "key = value" line of path.  Returns 0
 * or -1 (reported with the file name and line number).
 */
static int
settings_read_file(const struct settings_spec *spec, void *cfg,
				   const char *path)
{
	FILE *f = fopen(path, "r");
	char  line[4096];
	char  origin[PATH_MAX + 32];
	int	  lineno = 0;
	int	  rc = 0;

	if (f == NULL)
	{
		fprintf(stderr,
				"%s: could not open configuration file "
				"\"%s\": %s\n",
				spec->program, path, strerror(errno));
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
			fprintf(stderr, "%s: %s: line too long\n", spec->program, origin);
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
			fprintf(stderr, "%s: %s: expected \"key = value\"\n",
					spec->program, origin);
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
				fprintf(stderr, "%s: %s: unterminated quote\n", spec->program,
						origin);
				rc = -1;
				break;
			}
			value[n - 1] = '\0';
			value++;
		}
		s = setting_find(spec, key, strlen(key));
		if (s == NULL)
		{
			fprintf(stderr, "%s: %s: unknown setting \"%s\"\n", spec->program,
					origin, key);
			rc = -1;
			break;
		}
		if (setting_apply(spec, cfg, s, value, origin) != 0)
		{
			rc = -1;
			break;
		}
	}
	fclose(f);
	return rc;
}

void
settings_usage(const struct settings_spec *spec, FILE *out)
{
	fprintf(out,
			"Usage: %s [--config FILE] [--KEY=VALUE ...]\n\n%s\n\n"
			"Settings come from their defaults, then the --config file "
			"(lines\n\"key = value\"), then environment variables "
			"%s<KEY>, then options\n--key=value; later wins.\n\n"
			"Options:\n"
			"  --config FILE   read settings from FILE (also %sCONFIG)\n"
			"  --help          show this help and exit\n"
			"  --version       show the version and exit\n\n"
			"Settings:\n",
			spec->program, spec->about, spec->env_prefix, spec->env_prefix);
	for (size_t i = 0; i < spec->n; i++)
	{
		const struct setting *s = &spec->table[i];

		fprintf(out, "  %-20s %s", s->key, s->help);
		if (s->def != NULL)
			fprintf(out, " [%s]", s->def);
		fputc('\n', out);
	}
}

/* env_name: the environment variable of key: prefix + KEY. */
static void
env_name(const struct settings_spec *spec, const char *key, char *name,
		 size_t size)
{
	size_t n = (size_t) snprintf(name, size, "%s", spec->env_prefix);

	for (const char *k = key; *k && n < size - 1; k++)
		name[n++] = (char) toupper((unsigned char) *k);
	name[n < size ? n : size - 1] = '\0';
}

int
settings_load(const struct settings_spec *spec, void *cfg, int argc,
			  char **argv)
{
	char		name[96];
	const char *file;

	memset(cfg, 0, spec->size);
	env_name(spec, "config", name, sizeof(name));
	file = getenv(name);
	for (size_t i = 0; i < spec->n; i++)
		if (spec->table[i].def != NULL &&
			setting_apply(spec, cfg, &spec->table[i], spec->table[i].def,
						  "default") != 0)
			return -1;

	/* --help, --version and --config first: the file comes before the
	 * environment and the other options. */
	for (int i = 1; i < argc; i++)
	{
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
		{
			settings_usage(spec, stdout);
			return 1;
		}
		if (strcmp(argv[i], "--version") == 0)
		{
			printf("%s %s\n", spec->program, spec->version);
			return 1;
		}
		if (strcmp(argv[i], "--config") == 0)
		{
			if (i + 1 >= argc)
			{
				fprintf(stderr, "%s: --config needs a file name\n",
						spec->program);
				return -1;
			}
			file = argv[++i];
		}
		else if (strncmp(argv[i], "--config=", 9) == 0)
			file = argv[i] + 9;
	}
	if (file != NULL && settings_read_file(spec, cfg, file) != 0)
		return -1;

	for (size_t i = 0; i < spec->n; i++)
	{
		const char *v;

		env_name(spec, spec->table[i].key, name, sizeof(name));
		v = getenv(name);
		if (v != NULL &&
			setting_apply(spec, cfg, &spec->table[i], v, name) != 0)
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
			fprintf(stderr, "%s: unexpected argument \"%s\" (see --help)\n",
					spec->program, a);
			return -1;
		}
		a += 2;
		eq = strchr(a, '=');
		s = setting_find(spec, a, eq ? (size_t) (eq - a) : strlen(a));
		if (s == NULL)
		{
			fprintf(stderr, "%s: unknown option \"%s\" (see --help)\n",
					spec->program, argv[i]);
			return -1;
		}
		if (eq != NULL)
			value = eq + 1;
		else if (i + 1 < argc)
			value = argv[++i];
		else
		{
			fprintf(stderr, "%s: option --%s needs a value\n", spec->program,
					s->key);
			return -1;
		}
		if (setting_apply(spec, cfg, s, value, "command line") != 0)
			return -1;
	}
	return 0;
}

void
settings_free(const struct settings_spec *spec, void *cfg)
{
	for (size_t i = 0; i < spec->n; i++)
		if (spec->table[i].type == SETTING_STRING)
		{
			char **sp = (char **) ((char *) cfg + spec->table[i].offset);

			free(*sp);
			*sp = NULL;
		}
}
