/*
 * cli/src/walk.h
 *	  The files of a function folder that a deploy would ship: every
 *	  regular file and folder under it, sorted by path, without ".git"
 *	  (at any depth), the manifest cpub.json (its settings go through the
 *	  API, so that changing one never makes a new archive) and whatever
 *	  the manifest's exclude patterns match.  Symbolic links are never
 *	  followed: they are listed, as are devices, fifos and sockets, for the
 *	  analysis to refuse (the worker extracts regular files and folders
 *	  only).  Both the analysis and the pack walk the folder this way, so
 *	  what is checked is what is packed.
 */
#ifndef CPUB_WALK_H
#define CPUB_WALK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum walk_kind
{
	WALK_FILE,	/* a regular file */
	WALK_DIR,	/* a folder */
	WALK_LINK,	/* a symbolic link (not followed) */
	WALK_OTHER, /* a device, fifo or socket */
};

struct walk_entry
{
	char		  *path; /* from the function folder, '/'-separated */
	enum walk_kind kind;
	mode_t		   mode;  /* st_mode (lstat) */
	uint64_t	   size;  /* bytes of a regular file, else 0 */
	int			   depth; /* path components: 1 at the top */
};

/* A walk; walk_free releases it. */
struct walk
{
	struct walk_entry *entries; /* sorted by path (byte order) */
	size_t			   count;
	size_t			   cap;
};

/*
 * walk_folder: lists DIR into *W (zeroed first), leaving out what EXCLUDE
 * (NEXCLUDE patterns, the manifest's) matches.  Returns 0, or -1 with *W
 * empty and *ERR set to a message (malloc'd; the caller frees it) when a
 * folder cannot be read.
 */
extern int walk_folder(const char *dir, char *const *exclude, size_t nexclude,
					   struct walk *w, char **err);

/* walk_free: releases what *W owns and zeroes it. */
extern void walk_free(struct walk *w);

/*
 * walk_match: whether PATH (from the function folder) or one of the
 * folders it is in matches one of the NPATTERNS patterns (manifest.h
 * says how patterns match).
 */
extern bool walk_match(char *const *patterns, size_t npatterns,
					   const char *path);

/* walk_path_joined: DIR/PATH, malloc'd (NULL when out of memory). */
extern char *walk_path_joined(const char *dir, const char *path);

#endif
