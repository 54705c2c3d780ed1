/*
 * cli/src/pack.h
 *	  The deploy archive of a function folder: a tar.gz, made in memory
 *	  with libarchive, of the files walk.h lists (so without ".git",
 *	  cpub.json and what the manifest excludes).
 *
 *	  It is deterministic: the same files give the same bytes, so the same
 *	  SHA-256, which the deploy compares with the archive_sha256 of the
 *	  function's latest version to skip an upload when nothing changed.
 *	  Entries are sorted by path; files are 0644, or 0755 when their owner
 *	  may execute them, folders 0755; owner and group 0 without names;
 *	  every time is 0; the tar is pax (restricted: a pax header only for
 *	  what ustar cannot hold, such as a long or non-ASCII name, given as
 *	  bytes); gzip at level 6 without a time or a file name in its header.
 *	  The bytes hold as long as libarchive and zlib make the same stream,
 *	  that is for a given build of cpub: another version at worst uploads
 *	  an unchanged folder once more.
 *
 *	  In memory rather than in a temporary file: the upload sends a buffer
 *	  (http_request.body), the hash is taken as the bytes come, nothing is
 *	  left behind when cpub is interrupted, and the size is bounded: the
 *	  analysis allows 512 MiB of files, and the server takes at most its
 *	  max_upload_mb (1023 at most, a bytea) anyway.
 */
#ifndef CPUB_PACK_H
#define CPUB_PACK_H

#include <stddef.h>
#include <stdint.h>

#include <sodium.h>

#include "manifest.h"

/* The worker's ratio rule (worker/src/unpack.c): the files may add up to
 * at most 100 times the archive's size, once past 1 MiB. */
#define PACK_MAX_RATIO	 100
#define PACK_RATIO_FLOOR (1024 * 1024)

/* pack_folder's answer when it made an archive the worker would refuse. */
#define PACK_REFUSED 1

#define PACK_SHA256_HEX (crypto_hash_sha256_BYTES * 2 + 1)

/* An archive; pack_archive_free releases it. */
struct pack_archive
{
	unsigned char *data; /* the tar.gz (owned) */
	size_t		   size;
	char		   sha256[PACK_SHA256_HEX]; /* of data, lowercase hex */
	uint32_t	   files;
	uint32_t	   folders;
	uint64_t	   unpacked_bytes; /* of all files */
};

/*
 * pack_folder: packs the folder DIR with its manifest M (for exclude) into
 * *OUT (zeroed first).  Returns 0; PACK_REFUSED when the files expand
 * beyond the worker's ratio rule, so that the worker would refuse the
 * archive (*ERR says so, *OUT holds the archive all the same: the deploy
 * frees it and exits EXIT_ANALYSIS); or -1 with *OUT empty when the
 * folder cannot be read or holds what cannot be packed (a symbolic link,
 * a device: the analysis refuses them first), or a file changed while it
 * was read.  *ERR is malloc'd (the caller frees it).
 */
extern int pack_folder(const char *dir, const struct manifest *m,
					   struct pack_archive *out, char **err);

/* pack_archive_free: releases what *A owns and zeroes it. */
extern void pack_archive_free(struct pack_archive *a);

/* pack_sha256_hex: the SHA-256 of DATA (LEN bytes) in lowercase hex. */
extern void pack_sha256_hex(const void *data, size_t len,
							char out[PACK_SHA256_HEX]);

#endif
