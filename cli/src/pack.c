/*
 * cli/src/pack.c
 *	  The deterministic tar.gz of a function folder (pack.h): libarchive's
 *	  writer fed the walk's entries in order, each header made from
 *	  nothing but the path, the kind, the owner's execute bit and the size,
 *	  its output appended to a growing buffer and hashed (libsodium) as it
 *	  comes.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>


#include "cli.h"
#include "libarchive.h"
#include "pack.h"
#include "walk.h"

#define READ_CHUNK (64 * 1024)


/* libarchive, loaded by pack_folder (libarchive.c). */
static const struct libarchive *la;

/* Where libarchive's output goes. */
struct sink
{
	unsigned char			*data;
	size_t					 size;
	size_t					 cap;
	crypto_hash_sha256_state sha;
	bool					 oom;
};

/* sink_write: libarchive's write callback. */
static ssize_t
sink_write(struct archive *a, void *arg, const void *buf, size_t n)
{
	struct sink *s = arg;

	if (n > s->cap - s->size)
	{
		size_t		   cap = s->cap ? s->cap : 64 * 1024;
		unsigned char *grown;

		while (cap - s->size < n)
			cap *= 2;
		grown = realloc(s->data, cap);
		if (grown == NULL)
		{
			s->oom = true;
			la->archive_set_error(a, ENOMEM, "out of memory");
			return -1;
		}
		s->data = grown;
		s->cap = cap;
	}
	memcpy(s->data + s->size, buf, n);
	s->size += n;
	crypto_hash_sha256_update(&s->sha, buf, n);
	return (ssize_t) n;
}

void
pack_sha256_hex(const void *data, size_t len, char out[PACK_SHA256_HEX])
{
	unsigned char sum[crypto_hash_sha256_BYTES];

	crypto_hash_sha256(sum, data, len);
	sodium_bin2hex(out, PACK_SHA256_HEX, sum, sizeof(sum));
}

/* la_error: libarchive's last message, never NULL. */
static const char *
la_error(struct archive *a)
{
	const char *s = la->archive_error_string(a);

	return s ? s : "unknown error";
}

/*
 * writer_new: a writer of pax (restricted) in gzip without a timestamp,
 * to S.  NULL with *ERR set when libarchive refuses a setting.
 */
static struct archive *
writer_new(struct sink *s, char **err)
{
	struct archive *a = la->archive_write_new();

	if (a == NULL)
	{
		cli_set_error(err, "out of memory");
		return NULL;
	}
	/*
	 * A NULL value turns an option off: "!timestamp", no time in the
	 * gzip header.  Names are written as their bytes (hdrcharset), not
	 * converted from a locale.  No padding after the last block.
	 */
	if (la->archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
		la->archive_write_set_format_option(a, "pax", "hdrcharset",
											"BINARY") != ARCHIVE_OK ||
		la->archive_write_add_filter_gzip(a) != ARCHIVE_OK ||
		la->archive_write_set_filter_option(a, "gzip", "timestamp", NULL) !=
			ARCHIVE_OK ||
		la->archive_write_set_filter_option(a, "gzip", "compression-level",
											"6") != ARCHIVE_OK ||
		la->archive_write_set_bytes_in_last_block(a, 1) != ARCHIVE_OK ||
		la->archive_write_open(a, s, NULL, sink_write, NULL) != ARCHIVE_OK)
	{
		cli_set_error(err, "could not set up libarchive: %s", la_error(a));
		la->archive_write_free(a);
		return NULL;
	}
	return a;
}

/*
 * write_file: the header and data of the regular file PATH (under DIR),
 * read without following a link; refuses a file that is no longer a
 * regular one or whose size changes while it is read.
 */
static int
write_file(struct archive *a, struct archive_entry *e, const char *dir,
		   const char *path, struct pack_archive *out, char **err)
{
	char	   *full = walk_path_joined(dir, path);
	char	   *buf = malloc(READ_CHUNK);
	struct stat st;
	uint64_t	left;
	int			fd = -1;
	int			rc = -1;

	if (full == NULL || buf == NULL)
	{
		cli_set_error(err, "out of memory");
		goto done;
	}
	fd = open(full, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0 || fstat(fd, &st) != 0)
	{
		cli_set_error(err, "could not read %s: %s", full, strerror(errno));
		goto done;
	}
	if (!S_ISREG(st.st_mode))
	{
		cli_set_error(err, "%s changed while it was packed: no longer a file",
					  full);
		goto done;
	}
	la->archive_entry_set_filetype(e, AE_IFREG);
	la->archive_entry_set_perm(e, (st.st_mode & S_IXUSR) ? 0755 : 0644);
	la->archive_entry_set_size(e, st.st_size);
	if (la->archive_write_header(a, e) != ARCHIVE_OK)
	{
		cli_set_error(err, "could not pack %s: %s", path, la_error(a));
		goto done;
	}
	left = (uint64_t) st.st_size;
	for (;;)
	{
		ssize_t n = read(fd, buf, READ_CHUNK);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
		{
			cli_set_error(err, "could not read %s: %s", full, strerror(errno));
			goto done;
		}
		if ((uint64_t) n > left || (n == 0 && left > 0))
		{
			cli_set_error(err, "%s changed while it was packed: try again",
						  full);
			goto done;
		}
		if (n == 0)
			break;
		if (la->archive_write_data(a, buf, (size_t) n) != n)
		{
			cli_set_error(err, "could not pack %s: %s", path, la_error(a));
			goto done;
		}
		left -= (uint64_t) n;
	}
	out->files++;
	out->unpacked_bytes += (uint64_t) st.st_size;
	rc = 0;

done:
	if (fd >= 0)
		close(fd);
	free(buf);
	free(full);
	return rc;
}

/* write_entries: every entry of W, in order.  0 or -1 with *ERR. */
static int
write_entries(struct archive *a, const char *dir, const struct walk *w,
			  struct pack_archive *out, char **err)
{
	struct archive_entry *e = la->archive_entry_new();
	int					  rc = -1;

	if (e == NULL)
	{
		cli_set_error(err, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < w->count; i++)
	{
		const struct walk_entry *we = &w->entries[i];

		la->archive_entry_clear(e);
		la->archive_entry_set_pathname(e, we->path);
		la->archive_entry_set_uid(e, 0);
		la->archive_entry_set_gid(e, 0);
		la->archive_entry_set_mtime(e, 0, 0);
		switch (we->kind)
		{
			case WALK_DIR:
				la->archive_entry_set_filetype(e, AE_IFDIR);
				la->archive_entry_set_perm(e, 0755);
				la->archive_entry_set_size(e, 0);
				if (la->archive_write_header(a, e) != ARCHIVE_OK)
				{
					cli_set_error(err, "could not pack %s: %s", we->path,
								  la_error(a));
					goto done;
				}
				out->folders++;
				break;
			case WALK_FILE:
				if (write_file(a, e, dir, we->path, out, err) != 0)
					goto done;
				break;
			case WALK_LINK:
			case WALK_OTHER:
				cli_set_error(
					err,
					"cannot pack %s: %s (only regular files and folders "
					"are shipped)",
					we->path,
					we->kind == WALK_LINK ? "a symbolic link"
										  : "not a regular file");
				goto done;
		}
	}
	rc = 0;

done:
	la->archive_entry_free(e);
	return rc;
}

int
pack_folder(const char *dir, const struct manifest *m,
			struct pack_archive *out, char **err)
{
	struct sink		s;
	struct walk		w = {NULL, 0, 0};
	struct archive *a = NULL;
	unsigned char	sum[crypto_hash_sha256_BYTES];
	uint64_t		cap;
	int				rc = -1;

	memset(out, 0, sizeof(*out));
	memset(&s, 0, sizeof(s));
	*err = NULL;
	if (sodium_init() < 0)
	{
		cli_set_error(err, "could not initialize libsodium");
		goto done;
	}
	crypto_hash_sha256_init(&s.sha);
	la = libarchive_load(err);
	if (!la)
		goto done;
	if (walk_folder(dir, m->exclude, m->nexclude, &w, err) != 0)
		goto done;
	a = writer_new(&s, err);
	if (a == NULL)
		goto done;
	if (write_entries(a, dir, &w, out, err) != 0)
		goto done;
	if (la->archive_write_close(a) != ARCHIVE_OK)
	{
		cli_set_error(err, "could not finish the archive: %s", la_error(a));
		goto done;
	}

	crypto_hash_sha256_final(&s.sha, sum);
	sodium_bin2hex(out->sha256, sizeof(out->sha256), sum, sizeof(sum));
	out->data = s.data;
	out->size = s.size;
	s.data = NULL;
	rc = 0;

	cap = (uint64_t) PACK_MAX_RATIO * out->size;
	if (cap < PACK_RATIO_FLOOR)
		cap = PACK_RATIO_FLOOR;
	if (out->unpacked_bytes > cap)
	{
		cli_set_error(
			err,
			"the files (%llu bytes) expand to more than %d times the "
			"archive (%zu bytes), which the worker refuses as a "
			"compression bomb: exclude the large, repetitive ones",
			(unsigned long long) out->unpacked_bytes, PACK_MAX_RATIO,
			out->size);
		rc = PACK_REFUSED;
	}

done:
	if (a != NULL)
		la->archive_write_free(a);
	walk_free(&w);
	free(s.data);
	if (rc < 0)
		memset(out, 0, sizeof(*out));
	return rc;
}

void
pack_archive_free(struct pack_archive *a)
{
	free(a->data);
	memset(a, 0, sizeof(*a));
}
