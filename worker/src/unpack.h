/*
 * worker/src/unpack.h
 *	  Safe extraction of a function's deploy archive (tar or tar.gz, as
 *	  uploaded by its developer) into a fresh, empty build folder, and the
 *	  removal of such a folder.
 *
 *	  Only regular files and folders are extracted, each under the
 *	  destination: no absolute paths, no "..", no links, devices, fifos or
 *	  sockets, no path twice, and caps on the number of entries, the bytes
 *	  written (per file and in all) and how far the archive expands over
 *	  its compressed size.  Files are made 0644, or 0755 when the archive
 *	  gives them any execute bit; folders 0755; owners, times and other
 *	  metadata in the archive are ignored.
 *
 *	  The module is "unpack", not "archive": <archive.h> and the archive_
 *	  prefix are libarchive's, and a header of ours by that name would hide
 *	  libarchive's from any file built with -Isrc.
 */
#ifndef WORKER_UNPACK_H
#define WORKER_UNPACK_H

#include <stddef.h>
#include <stdint.h>

/* The ratio rule applies only once more than this has been unpacked. */
#define UNPACK_RATIO_FLOOR (1024 * 1024)

struct unpack_limits
{
	uint32_t max_entries;	  /* headers read, folders and "." included */
	uint64_t max_total_bytes; /* bytes written to all files */
	uint64_t max_file_bytes;  /* bytes written to one file */
	uint32_t max_ratio;		  /* unpacked / compressed size; 0: no rule */
	uint32_t max_path_len;	  /* bytes of an entry's name as stored */
	uint32_t max_depth;		  /* path components, the file's own included */
};

struct unpack_stats
{
	uint32_t entries;	  /* headers read */
	uint32_t files;		  /* regular files written */
	uint32_t dirs;		  /* folders made, named in the archive or implied */
	uint64_t total_bytes; /* bytes written to files */
};

/*
 * Fills *l with the defaults: 10,000 entries, 512 MiB in all, 256 MiB per
 * file, ratio 100 (past 1 MiB unpacked), paths of 1,024 bytes and 32
 * levels.
 */
extern void unpack_limits_default(struct unpack_limits *l);

/*
 * Extracts the archive in data (len bytes: a tar, ustar, pax or GNU, plain
 * or gzip-compressed) into dest_dir, which must be an existing, empty
 * folder (not a symbolic link, even named with a final slash).  Returns 0, or -1 with a one-line message
 * in err (at most errlen bytes with its NUL), such as
 * entry "../x": a path leaving the archive (..).  After a failure dest_dir
 * may hold part of the output: the caller removes it (unpack_remove_tree).
 * *st (may be NULL) counts what was done, also on failure.
 */
extern int unpack_archive(const void *data, size_t len, const char *dest_dir,
						  const struct unpack_limits *l,
						  struct unpack_stats *st, char *err, size_t errlen);

/*
 * Removes dir and everything under it without following symbolic links
 * (a link is removed, never what it points to; dir itself may be one,
 * also named with a final slash).  Returns 0, also when dir does not
 * exist, or -1 with errno set by the first failure (it goes on removing
 * what it can); EINVAL, removing nothing, for "/", "" or a path ending in
 * "." or "..".
 */
extern int unpack_remove_tree(const char *dir);

#endif /* WORKER_UNPACK_H */
