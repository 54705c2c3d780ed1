/*
 * cli/src/manifest.c
 *	  cpub.json (manifest.h): read, checked key by key with messages that
 *	  name the file and the key, and turned into the settings the API
 *	  takes.  The rules are the server's: the function name is checked by
 *	  the extension's own validate.c (linked in), the ranges and the
 *	  visibilities are those of cpub.function_check_settings, and the
 *	  runtimes and their entry files those of the worker's runtime table.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "manifest.h"
#include "validate.h"

/* A manifest larger than this is not one. */
#define MANIFEST_MAX_BYTES (1024 * 1024)

const struct manifest_runtime manifest_runtimes[] = {
	{"c", "*.c",
	 "a C function is one or more .c files defining cpub_handle (see "
	 "cpub.h)"},
	{"python", "main.py",
	 "a Python function is a module main.py with handle(request)"},
	{"shell", "handler.sh",
	 "a shell function is a script handler.sh answering like a CGI script"},
	{NULL, NULL, NULL}};

/* The integer settings: the rows of cpub.function_check_settings. */
struct int_setting
{
	const char *key;
	int			min;
	int			max;
	size_t		offset; /* of the int in struct manifest */
};

static const struct int_setting int_settings[] = {
	{"memory_mb", MANIFEST_MEMORY_MIN, MANIFEST_MEMORY_MAX,
	 offsetof(struct manifest, memory_mb)},
	{"timeout_seconds", MANIFEST_TIMEOUT_MIN, MANIFEST_TIMEOUT_MAX,
	 offsetof(struct manifest, timeout_seconds)},
	{"max_concurrency", MANIFEST_CONCURRENCY_MIN, MANIFEST_CONCURRENCY_MAX,
	 offsetof(struct manifest, max_concurrency)},
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* Every key a manifest may hold, in the order messages list them. */
static const char *const known_keys[] = {
	"name",		  "runtime",		 "organization",
	"memory_mb",  "timeout_seconds", "max_concurrency",
	"visibility", "metadata",		 "include",
	"exclude"};

static const char *const visibilities[] = {"public", "key", "private"};

const struct manifest_runtime *
manifest_runtime_find(const char *name)
{
	for (const struct manifest_runtime *r = manifest_runtimes; r->name; r++)
		if (strcmp(r->name, name) == 0)
			return r;
	return NULL;
}

const char *
manifest_name_error(const char *name)
{
	return validate_identifier("function", name, strlen(name));
}

/*
 * get_string: the string member KEY of OBJ into *OUT (a copy), or leaves
 * *OUT NULL when it is absent.  Returns 0, or -1 with *ERR set.
 */
static int
get_string(json_t *obj, const char *key, const char *file, char **out,
		   char **err)
{
	json_t *v = json_object_get(obj, key);

	*out = NULL;
	if (v == NULL)
		return 0;
	if (!json_is_string(v) || json_string_length(v) == 0 ||
		strlen(json_string_value(v)) != json_string_length(v))
	{
		cli_set_error(err, "%s: %s must be a non-empty string", file, key);
		return -1;
	}
	*out = strdup(json_string_value(v));
	if (*out == NULL)
	{
		cli_set_error(err, "out of memory");
		return -1;
	}
	return 0;
}

/*
 * get_patterns: the array of globs KEY of OBJ into *OUT and *N.  Returns
 * 0, or -1 with *ERR set.
 */
static int
get_patterns(json_t *obj, const char *key, const char *file, char ***out,
			 size_t *n, char **err)
{
	json_t *v = json_object_get(obj, key);
	json_t *item;
	size_t	i;

	*out = NULL;
	*n = 0;
	if (v == NULL)
		return 0;
	if (!json_is_array(v))
	{
		cli_set_error(err, "%s: %s must be an array of file names or patterns",
					  file, key);
		return -1;
	}
	*out = calloc(json_array_size(v) + 1, sizeof(char *));
	if (*out == NULL)
	{
		cli_set_error(err, "out of memory");
		return -1;
	}
	json_array_foreach(v, i, item)
	{
		const char *s = json_string_value(item);

		if (s == NULL || s[0] == '\0' || strlen(s) != json_string_length(item))
		{
			cli_set_error(err, "%s: %s[%zu] must be a non-empty string", file,
						  key, i);
			return -1;
		}
		(*out)[i] = strdup(s);
		if ((*out)[i] == NULL)
		{
			cli_set_error(err, "out of memory");
			return -1;
		}
		(*n)++;
	}
	return 0;
}

/* check_keys: refuses the first key that is not a manifest's. */
static int
check_keys(json_t *root, const char *file, char **err)
{
	const char *key;
	json_t	   *v;

	json_object_foreach(root, key, v)
	{
		bool known = false;

		for (size_t i = 0; i < NELEM(known_keys); i++)
			if (strcmp(key, known_keys[i]) == 0)
				known = true;
		if (!known)
		{
			cli_set_error(
				err,
				"%s: unknown key \"%s\" (a manifest has name, runtime, "
				"organization, memory_mb, timeout_seconds, "
				"max_concurrency, visibility, metadata, include and "
				"exclude)",
				file, key);
			return -1;
		}
	}
	return 0;
}

/* check_settings: the checks of each key of ROOT into *M. */
static int
check_settings(json_t *root, const char *file, struct manifest *m, char **err)
{
	const char *why;
	json_t	   *v;

	if (json_object_get(root, "name") == NULL)
	{
		cli_set_error(err, "%s: name is required (the function's name)", file);
		return -1;
	}
	if (get_string(root, "name", file, &m->name, err) != 0)
		return -1;
	why = manifest_name_error(m->name);
	if (why)
	{
		cli_set_error(err, "%s: invalid function name \"%s\": %s", file,
					  m->name, why);
		return -1;
	}

	if (json_object_get(root, "runtime") == NULL)
	{
		cli_set_error(err, "%s: runtime is required (c, python or shell)",
					  file);
		return -1;
	}
	if (get_string(root, "runtime", file, &m->runtime, err) != 0)
		return -1;
	if (manifest_runtime_find(m->runtime) == NULL)
	{
		cli_set_error(err,
					  "%s: runtime must be c, python or shell, not \"%s\"",
					  file, m->runtime);
		return -1;
	}

	if (get_string(root, "organization", file, &m->organization, err) != 0)
		return -1;
	if (m->organization)
	{
		why = validate_identifier("organization", m->organization,
								  strlen(m->organization));
		if (why)
		{
			cli_set_error(err, "%s: invalid organization name \"%s\": %s",
						  file, m->organization, why);
			return -1;
		}
	}

	for (size_t i = 0; i < NELEM(int_settings); i++)
	{
		const struct int_setting *s = &int_settings[i];
		json_int_t				  n;

		v = json_object_get(root, s->key);
		if (v == NULL)
			continue;
		n = json_is_integer(v) ? json_integer_value(v) : s->min - 1;
		if (n < s->min || n > s->max)
		{
			cli_set_error(err, "%s: %s must be an integer between %d and %d",
						  file, s->key, s->min, s->max);
			return -1;
		}
		*(int *) ((char *) m + s->offset) = (int) n;
	}

	if (get_string(root, "visibility", file, &m->visibility, err) != 0)
	{
		free(*err);
		cli_set_error(
			err, "%s: visibility must be \"public\", \"key\" or \"private\"",
			file);
		return -1;
	}
	if (m->visibility)
	{
		bool ok = false;

		for (size_t i = 0; i < NELEM(visibilities); i++)
			if (strcmp(m->visibility, visibilities[i]) == 0)
				ok = true;
		if (!ok)
		{
			cli_set_error(err,
						  "%s: visibility must be \"public\", \"key\" or "
						  "\"private\", not \"%s\"",
						  file, m->visibility);
			return -1;
		}
	}

	v = json_object_get(root, "metadata");
	if (v != NULL)
	{
		if (!json_is_object(v))
		{
			cli_set_error(err, "%s: metadata must be a JSON object", file);
			return -1;
		}
		m->metadata = json_incref(v);
	}

	if (get_patterns(root, "include", file, &m->include, &m->ninclude, err) !=
			0 ||
		get_patterns(root, "exclude", file, &m->exclude, &m->nexclude, err) !=
			0)
		return -1;
	return 0;
}

int
manifest_parse(const char *text, size_t len, const char *file,
			   struct manifest *m, char **err)
{
	json_error_t jerr;
	json_t		*root = NULL;
	int			 rc = -1;

	memset(m, 0, sizeof(*m));
	*err = NULL;
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL)
	{
		cli_set_error(err, "%s:%d:%d: %s", file, jerr.line, jerr.column,
					  jerr.text);
		goto done;
	}
	if (!json_is_object(root))
	{
		cli_set_error(err, "%s: the manifest must be a JSON object", file);
		goto done;
	}
	if (check_keys(root, file, err) != 0 ||
		check_settings(root, file, m, err) != 0)
		goto done;
	rc = 0;

done:
	if (rc != 0)
		manifest_free(m);
	json_decref(root);
	return rc;
}

int
manifest_load(const char *dir, struct manifest *m, char **err)
{
	char  *file = NULL;
	char  *text = NULL;
	FILE  *f = NULL;
	size_t len;
	int	   rc = -1;

	memset(m, 0, sizeof(*m));
	*err = NULL;
	if (strcmp(dir, ".") == 0 || dir[0] == '\0')
		file = strdup(MANIFEST_FILE);
	else if (asprintf(&file, "%s%s" MANIFEST_FILE, dir,
					  dir[strlen(dir) - 1] == '/' ? "" : "/") < 0)
		file = NULL;
	text = malloc(MANIFEST_MAX_BYTES + 1);
	if (file == NULL || text == NULL)
	{
		cli_set_error(err, "out of memory");
		goto done;
	}
	f = fopen(file, "re");
	if (f == NULL)
	{
		if (errno == ENOENT)
			cli_set_error(err, "%s: no such file (cpub init writes one)",
						  file);
		else
			cli_set_error(err, "could not read %s: %s", file, strerror(errno));
		goto done;
	}
	len = fread(text, 1, MANIFEST_MAX_BYTES + 1, f);
	if (ferror(f))
	{
		cli_set_error(err, "could not read %s: %s", file, strerror(errno));
		goto done;
	}
	if (len > MANIFEST_MAX_BYTES)
	{
		cli_set_error(err, "%s: larger than %d KiB: not a manifest", file,
					  MANIFEST_MAX_BYTES / 1024);
		goto done;
	}
	rc = manifest_parse(text, len, file, m, err);

done:
	if (f)
		fclose(f);
	free(text);
	free(file);
	return rc;
}

json_t *
manifest_settings_json(const struct manifest *m, bool create)
{
	json_t *o = json_object();
	int		failed = 0;

	if (o == NULL)
		return NULL;
	if (create)
	{
		failed |= json_object_set_new(o, "name", json_string(m->name));
		if (m->organization)
			failed |= json_object_set_new(o, "organization",
										  json_string(m->organization));
	}
	failed |= json_object_set_new(o, "runtime", json_string(m->runtime));
	for (size_t i = 0; i < NELEM(int_settings); i++)
	{
		int n = *(const int *) ((const char *) m + int_settings[i].offset);

		if (n != 0)
			failed |=
				json_object_set_new(o, int_settings[i].key, json_integer(n));
	}
	if (m->visibility)
		failed |=
			json_object_set_new(o, "visibility", json_string(m->visibility));
	if (m->metadata)
		failed |= json_object_set(o, "metadata", m->metadata);
	if (failed)
	{
		json_decref(o);
		return NULL;
	}
	return o;
}

char *
manifest_ref(const struct manifest *m)
{
	char *ref;

	if (m->organization == NULL)
		return strdup(m->name);
	if (asprintf(&ref, "%s/%s", m->organization, m->name) < 0)
		return NULL;
	return ref;
}

static void
free_list(char **list, size_t n)
{
	if (list == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		free(list[i]);
	free(list);
}

void
manifest_free(struct manifest *m)
{
	free(m->name);
	free(m->runtime);
	free(m->organization);
	free(m->visibility);
	json_decref(m->metadata);
	free_list(m->include, m->ninclude);
	free_list(m->exclude, m->nexclude);
	memset(m, 0, sizeof(*m));
}
