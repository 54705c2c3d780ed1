/*
 * cli/src/walk.c
 *	  The walk of a function folder (walk.h): each folder opened relative
 *	  to its parent's descriptor with O_NOFOLLOW, each name looked at with
 *	  fstatat(AT_SYMLINK_NOFOLLOW), so that no symbolic link is ever
 *	  followed, then the list sorted by path so that every walk of the same
 *	  folder gives the same list.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "manifest.h"
#include "walk.h"

/* Folders nested deeper are a mistake (the worker takes 32 levels). */
#define WALK_MAX_DEPTH 128

char *
walk_path_joined(const char *dir, const char *path)
{
	char *joined;

	if (asprintf(&joined, "%s%s%s", dir,
				 dir[0] && dir[strlen(dir) - 1] != '/' ? "/" : "", path) < 0)
		return NULL;
	return joined;
}

/* match_one: whether PATH (not its folders) matches PATTERN. */
static bool
match_one(const char *pattern, const char *path)
{
	char		buf[4096];
	size_t		len;
	const char *base;

	/* "./x" and "/x" mean x; a final "/" is dropped. */
	while (strncmp(pattern, "./", 2) == 0)
		pattern += 2;
	while (pattern[0] == '/')
		pattern++;
	len = strlen(pattern);
	if (len == 0 || len >= sizeof(buf))
		return false;
	memcpy(buf, pattern, len + 1);
	while (len > 0 && buf[len - 1] == '/')
		buf[--len] = '\0';
	if (len == 0)
		return false;
	if (strchr(buf, '/') != NULL)
		return fnmatch(buf, path, FNM_PATHNAME) == 0;
	base = strrchr(path, '/');
	base = base ? base + 1 : path;
	return fnmatch(buf, base, 0) == 0;
}

bool
walk_match(char *const *patterns, size_t npatterns, const char *path)
{
	char   buf[4096];
	size_t len = strlen(path);

	if (len >= sizeof(buf))
		return false;
	memcpy(buf, path, len + 1);
	/* The path, then each folder it is in, longest first. */
	for (;;)
	{
		char *slash;

		for (size_t i = 0; i < npatterns; i++)
			if (match_one(patterns[i], buf))
				return true;
		slash = strrchr(buf, '/');
		if (slash == NULL)
			return false;
		*slash = '\0';
	}
}

/* add: one entry; its path is taken over (freed on failure).  0 or -1. */
static int
add(struct walk *w, char *path, enum walk_kind kind, const struct stat *st,
	int depth)
{
	struct walk_entry *e;

	if (w->count == w->cap)
	{
		size_t			   cap = w->cap ? w->cap * 2 : 64;
		struct walk_entry *grown = realloc(w->entries, cap * sizeof(*grown));

		if (grown == NULL)
		{
			free(path);
			return -1;
		}
		w->entries = grown;
		w->cap = cap;
	}
	e = &w->entries[w->count++];
	e->path = path;
	e->kind = kind;
	e->mode = st->st_mode;
	e->size = kind == WALK_FILE ? (uint64_t) st->st_size : 0;
	e->depth = depth;
	return 0;
}

/*
 * walk_dir: the entries of the open folder FD (taken over: closed here),
 * whose path is PREFIX ("" at the top), into *W.  0 or -1 with *ERR.
 */
static int
walk_dir(int fd, const char *prefix, int depth, const char *root,
		 char *const *exclude, size_t nexclude, struct walk *w, char **err)
{
	DIR			  *d = fdopendir(fd);
	struct dirent *de;
	int			   rc = -1;

	if (d == NULL)
	{
		cli_set_error(err, "could not read the folder %s%s%s: %s", root,
					  prefix[0] ? "/" : "", prefix, strerror(errno));
		close(fd);
		return -1;
	}
	if (depth > WALK_MAX_DEPTH)
	{
		cli_set_error(err, "folders nested more than %d deep under %s",
					  WALK_MAX_DEPTH, root);
		goto done;
	}
	while ((errno = 0, de = readdir(d)) != NULL)
	{
		const char	  *name = de->d_name;
		struct stat	   st;
		char		  *path;
		enum walk_kind kind;

		if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0 ||
			strcmp(name, ".git") == 0 ||
			(depth == 1 && strcmp(name, MANIFEST_FILE) == 0))
			continue;
		if (asprintf(&path, "%s%s%s", prefix, prefix[0] ? "/" : "", name) < 0)
		{
			cli_set_error(err, "out of memory");
			goto done;
		}
		if (walk_match(exclude, nexclude, path))
		{
			free(path);
			continue;
		}
		if (fstatat(dirfd(d), name, &st, AT_SYMLINK_NOFOLLOW) != 0)
		{
			cli_set_error(err, "could not read %s/%s: %s", root, path,
						  strerror(errno));
			free(path);
			goto done;
		}
		if (S_ISREG(st.st_mode))
			kind = WALK_FILE;
		else if (S_ISDIR(st.st_mode))
			kind = WALK_DIR;
		else if (S_ISLNK(st.st_mode))
			kind = WALK_LINK;
		else
			kind = WALK_OTHER;
		if (add(w, path, kind, &st, depth) != 0)
		{
			cli_set_error(err, "out of memory");
			goto done;
		}
		if (kind == WALK_DIR)
		{
			int sub = openat(dirfd(d), name,
							 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

			if (sub < 0)
			{
				cli_set_error(err, "could not open the folder %s/%s: %s", root,
							  path, strerror(errno));
				goto done;
			}
			/* path stays valid: only the array of entries moves. */
			if (walk_dir(sub, path, depth + 1, root, exclude, nexclude, w,
						 err) != 0)
				goto done;
		}
	}
	if (errno != 0)
	{
		cli_set_error(err, "could not read the folder %s%s%s: %s", root,
					  prefix[0] ? "/" : "", prefix, strerror(errno));
		goto done;
	}
	rc = 0;

done:
	closedir(d);
	return rc;
}

static int
entry_cmp(const void *a, const void *b)
{
	return strcmp(((const struct walk_entry *) a)->path,
				  ((const struct walk_entry *) b)->path);
}

int
walk_folder(const char *dir, char *const *exclude, size_t nexclude,
			struct walk *w, char **err)
{
	int fd;

	memset(w, 0, sizeof(*w));
	*err = NULL;
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
	{
		cli_set_error(err, "could not open the folder %s: %s", dir,
					  strerror(errno));
		return -1;
	}
	if (walk_dir(fd, "", 1, dir, exclude, nexclude, w, err) != 0)
	{
		walk_free(w);
		return -1;
	}
	if (w->count > 1)
		qsort(w->entries, w->count, sizeof(w->entries[0]), entry_cmp);
	return 0;
}

void
walk_free(struct walk *w)
{
	for (size_t i = 0; i < w->count; i++)
		free(w->entries[i].path);
	free(w->entries);
	memset(w, 0, sizeof(*w));
}
