/*
 * worker/src/unpack.c
 *	  Extracts a function's deploy archive into its build folder without
 *	  ever writing outside it, and removes such a folder.
 *
 *	  The archive is a developer's upload, so every byte of it is hostile.
 *	  libarchive parses it (tar only, plain or gzip: no other format or
 *	  filter is enabled in the reader), and this file decides
 *	  what may be written: each entry's name is checked and put in a normal
 *	  form (no absolute path, no "..", no control character, bounded length
 *	  and depth, never the same path twice), its type must be a regular
 *	  file or a folder, and nothing else of its header is used (no owner,
 *	  times, set-id bits, extended attributes or ACLs).
 *
 *	  Every file and folder is made relative to a descriptor of the
 *	  destination with mkdirat and openat: each folder on the way is opened
 *	  with O_NOFOLLOW | O_DIRECTORY and each file made with O_CREAT | O_EXCL
 *	  | O_NOFOLLOW, so no symbolic link is ever followed, even one that
 *	  someone else slips into the folder while we write.
 *
 *	  Sizes are counted on the bytes actually unpacked, never on the sizes
 *	  the headers claim, and checked before each block is written, so a
 *	  compression bomb stops at the first cap it would cross.  The ratio
 *	  rule (unpacked over compressed size) is checked on the bytes written
 *	  and, after each header, on the unpacked tar stream less 1 KiB per
 *	  entry (its header block and padding, so that thousands of small
 *	  files with look-alike headers pass), which catches pax or GNU
 *	  headers blown up to libarchive's 1 MiB each.  No entry's data is
 *	  ever skipped unread: every entry that is not extracted stops the
 *	  extraction, and a folder entry must carry no data.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "unpack.h"

/* How much of a name an error message shows. */
#define NAME_SHOWN 80
/* Room for a shown name: each byte may become \xNN, then "...". */
#define NAME_QUOTED (NAME_SHOWN * 4 + 4)

/* A tar entry's header block and the most padding after its data. */
#define ENTRY_OVERHEAD 1024

/* unpack_remove_tree: folders nested deeper are left (each holds an fd). */
#define REMOVE_MAX_DEPTH 256

/* The set of normalised paths seen, to refuse one path given twice. */
struct pathset
{
	char **slot; /* open addressing; NULL is free; owned strings */
	size_t cap;	 /* a power of two */
	size_t count;
};

/* One extraction's state; owned by unpack_archive. */
struct extract
{
	const struct unpack_limits *lim;
	struct unpack_stats		   *st;
	struct archive			   *a;
	int							root; /* O_DIRECTORY fd of the destination */
	uint64_t					ratio_cap; /* bytes the ratio rule allows */
	uint32_t					extracted; /* entries written (not ".") */
	struct pathset				seen;
	char					   *err;
	size_t						errlen;
};

/* Formats and filters refused by their magic bytes, for a clear message. */
struct magic
{
	const char *bytes;
	size_t		len;
	const char *what;
};

/* clang-format off */
static const struct magic MAGICS[] = {
	{"PK\x03\x04", 4, "a zip file"},
	{"PK\x05\x06", 4, "a zip file"},
	{"7z\xbc\xaf\x27\x1c", 6, "a 7z file"},
	{"Rar!\x1a\x07", 6, "a rar file"},
	{"\xfd" "7zXZ\x00", 6, "xz-compressed"},
	{"BZh", 3, "bzip2-compressed"},
	{"\x28\xb5\x2f\xfd", 4, "zstd-compressed"},
	{"\x04\x22\x4d\x18", 4, "lz4-compressed"},
	{"\x1f\x9d", 2, "compress(1)-compressed"},
};
/* clang-format on */

static void set_err(struct extract *x, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void entry_err(struct extract *x, const char *name, const char *fmt,
					  ...) __attribute__((format(printf, 3, 4)));

void
unpack_limits_default(struct unpack_limits *l)
{
	l->max_entries = 10000;
	l->max_total_bytes = (uint64_t) 512 * 1024 * 1024;
	l->max_file_bytes = (uint64_t) 256 * 1024 * 1024;
	l->max_ratio = 100;
	l->max_path_len = 1024;
	l->max_depth = 32;
}

/* libarchive's last error, never NULL. */
static const char *
la_error(struct archive *a)
{
	const char *s = archive_error_string(a);

	return s ? s : "unknown error";
}

/* Writes the message of a failure that concerns the whole archive. */
static void
set_err(struct extract *x, const char *fmt, ...)
{
	va_list ap;

	if (x->errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(x->err, x->errlen, fmt, ap);
	va_end(ap);
}

/*
 * Writes name into out (NAME_QUOTED bytes) fit for a one-line message:
 * control bytes, '"' and '\' escaped, cut after NAME_SHOWN bytes with
 * "...".
 */
static void
name_quote(const char *name, char *out)
{
	size_t		o = 0;
	size_t		i;
	const char *hex = "0123456789abcdef";

	for (i = 0; name[i] != '\0' && i < NAME_SHOWN; i++)
	{
		unsigned char c = (unsigned char) name[i];

		if (c < 0x20 || c == 0x7f)
		{
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 0xf];
		}
		else
		{
			if (c == '"' || c == '\\')
				out[o++] = '\\';
			out[o++] = (char) c;
		}
	}
	if (name[i] != '\0')
	{
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
}

/* Writes the message of a failure of one entry: entry "NAME": .... */
static void
entry_err(struct extract *x, const char *name, const char *fmt, ...)
{
	char	quoted[NAME_QUOTED];
	int		n;
	va_list ap;

	if (x->errlen == 0)
		return;
	name_quote(name, quoted);
	n = snprintf(x->err, x->errlen, "entry \"%s\": ", quoted);
	if (n < 0 || (size_t) n >= x->errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(x->err + n, x->errlen - n, fmt, ap);
	va_end(ap);
}

/* The message of the ratio rule. */
static void
ratio_err(struct extract *x)
{
	set_err(x,
			"the archive expands beyond %u times its compressed size (a "
			"compression bomb?)",
			(unsigned) x->lim->max_ratio);
}

/* Writes a byte count for a message: "256 MiB", "1 KiB" or "1000 bytes". */
static void
size_text(uint64_t n, char *out, size_t outlen)
{
	if (n >= 1024 * 1024 && n % (1024 * 1024) == 0)
		snprintf(out, outlen, "%llu MiB",
				 (unsigned long long) (n / (1024 * 1024)));
	else if (n >= 1024 && n % 1024 == 0)
		snprintf(out, outlen, "%llu KiB", (unsigned long long) (n / 1024));
	else
		snprintf(out, outlen, "%llu bytes", (unsigned long long) n);
}

/* FNV-1a, for the path set. */
static size_t
path_hash(const char *s)
{
	uint64_t h = 14695981039346656037ULL;

	for (; *s; s++)
	{
		h ^= (unsigned char) *s;
		h *= 1099511628211ULL;
	}
	return (size_t) h;
}

/*
 * Adds a copy of path to the set.  Returns 1 when added, 0 when it was
 * there already, -1 when out of memory.
 */
static int
pathset_add(struct pathset *s, const char *path)
{
	size_t i;

	if (s->count * 2 >= s->cap)
	{
		size_t ncap = s->cap ? s->cap * 2 : 64;
		char **nslot = calloc(ncap, sizeof(char *));

		if (nslot == NULL)
			return -1;
		for (size_t j = 0; j < s->cap; j++)
		{
			if (s->slot[j] == NULL)
				continue;
			i = path_hash(s->slot[j]) & (ncap - 1);
			while (nslot[i] != NULL)
				i = (i + 1) & (ncap - 1);
			nslot[i] = s->slot[j];
		}
		free(s->slot);
		s->slot = nslot;
		s->cap = ncap;
	}
	i = path_hash(path) & (s->cap - 1);
	for (; s->slot[i] != NULL; i = (i + 1) & (s->cap - 1))
	{
		if (strcmp(s->slot[i], path) == 0)
			return 0;
	}
	s->slot[i] = strdup(path);
	if (s->slot[i] == NULL)
		return -1;
	s->count++;
	return 1;
}

static void
pathset_free(struct pathset *s)
{
	for (size_t i = 0; i < s->cap; i++)
		free(s->slot[i]);
	free(s->slot);
	s->slot = NULL;
	s->cap = s->count = 0;
}

/*
 * Checks an entry's name and writes its normal form into norm (at least
 * strlen(name) + 1 bytes): the components joined by single slashes,
 * without "." components, a leading "./" or a trailing slash.  Returns the
 * number of components (0 for "." itself, the destination), or -1 after
 * writing the message.
 */
static int
path_check(struct extract *x, const char *name, char *norm)
{
	size_t		len = strlen(name);
	size_t		o = 0;
	uint32_t	depth = 0;
	const char *p;

	if (len == 0)
	{
		entry_err(x, name, "an empty name");
		return -1;
	}
	for (p = name; *p; p++)
	{
		if ((unsigned char) *p < 0x20 || *p == 0x7f)
		{
			entry_err(x, name, "a control character in the name");
			return -1;
		}
	}
	if (len > x->lim->max_path_len)
	{
		entry_err(x, name, "a path longer than %u bytes",
				  (unsigned) x->lim->max_path_len);
		return -1;
	}
	if (name[0] == '/')
	{
		entry_err(x, name, "an absolute path");
		return -1;
	}
	p = name;
	while (*p)
	{
		const char *end;
		size_t		n;

		while (*p == '/')
			p++;
		if (*p == '\0')
			break;
		end = strchr(p, '/');
		n = end ? (size_t) (end - p) : strlen(p);
		if (n == 2 && p[0] == '.' && p[1] == '.')
		{
			entry_err(x, name, "a path leaving the archive (..)");
			return -1;
		}
		if (!(n == 1 && p[0] == '.'))
		{
			if (++depth > x->lim->max_depth)
			{
				entry_err(x, name, "a path deeper than %u levels",
						  (unsigned) x->lim->max_depth);
				return -1;
			}
			if (o > 0)
				norm[o++] = '/';
			memcpy(norm + o, p, n);
			o += n;
		}
		p += n;
	}
	norm[o] = '\0';
	return (int) depth;
}

/*
 * Refuses every kind of entry but regular files and folders, and those
 * whose form could make libarchive skip data we never see.  Returns 0 or
 * -1 after writing the message.
 */
static int
type_check(struct extract *x, struct archive_entry *e, const char *name)
{
	const char *why = NULL;

	if (archive_entry_hardlink(e) != NULL)
		why = "hard links are not allowed";
	else if (archive_entry_symlink(e) != NULL)
		why = "symbolic links are not allowed";
	else
	{
		switch (archive_entry_filetype(e))
		{
			case AE_IFREG:
				if (archive_entry_sparse_count(e) > 0)
					why = "sparse files are not allowed";
				break;
			case AE_IFDIR:
				if (archive_entry_size(e) != 0)
					why = "a folder entry with data";
				break;
			case AE_IFLNK:
				why = "symbolic links are not allowed";
				break;
			case AE_IFCHR:
				why = "character devices are not allowed";
				break;
			case AE_IFBLK:
				why = "block devices are not allowed";
				break;
			case AE_IFIFO:
				why = "fifos are not allowed";
				break;
			case AE_IFSOCK:
				why = "sockets are not allowed";
				break;
			default:
				why = "an entry of unknown type";
				break;
		}
	}
	if (why == NULL)
		return 0;
	entry_err(x, name, "%s", why);
	return -1;
}

/*
 * Opens the folder that is to hold the last of the ncomp components of
 * norm (which it changes and restores), making the folders on the way
 * (0755) where missing; none is followed if it is a symbolic link.
 * Returns a descriptor, x->root itself for a one-component path (the
 * caller closes any other), or -1 after writing the message.
 */
static int
open_parent(struct extract *x, char *norm, int ncomp, const char *name)
{
	int	  cur = x->root;
	char *p = norm;
	char *slash = NULL;
	char  shown[NAME_QUOTED];

	for (int i = 0; i < ncomp - 1; i++)
	{
		bool made;
		int	 next;

		slash = strchr(p, '/');
		*slash = '\0';
		made = mkdirat(cur, p, 0755) == 0;
		if (!made && errno != EEXIST)
		{
			name_quote(norm, shown);
			entry_err(x, name, "could not make folder \"%s\": %s", shown,
					  strerror(errno));
			goto fail;
		}
		next = openat(cur, p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0)
		{
			name_quote(norm, shown);
			if (errno == ENOTDIR || errno == ELOOP)
				entry_err(x, name, "\"%s\" is not a folder", shown);
			else
				entry_err(x, name, "could not open folder \"%s\": %s", shown,
						  strerror(errno));
			goto fail;
		}
		if (made)
		{
			x->st->dirs++;
			/* The umask may have taken bits off. */
			if (fchmod(next, 0755) != 0)
			{
				name_quote(norm, shown);
				entry_err(x, name, "could not set the mode of \"%s\": %s",
						  shown, strerror(errno));
				close(next);
				goto fail;
			}
		}
		if (cur != x->root)
			close(cur);
		cur = next;
		*slash = '/';
		p = slash + 1;
	}
	return cur;

fail:
	*slash = '/';
	if (cur != x->root)
		close(cur);
	return -1;
}

/* Makes (or, made earlier as a parent, keeps) a folder entry. */
static int
extract_dir(struct extract *x, int parent, const char *leaf, const char *name)
{
	bool made = mkdirat(parent, leaf, 0755) == 0;
	int	 fd;
	int	 rc = -1;

	if (!made && errno != EEXIST)
	{
		entry_err(x, name, "could not make the folder: %s", strerror(errno));
		return -1;
	}
	fd = openat(parent, leaf, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
	{
		if (errno == ENOTDIR || errno == ELOOP)
			entry_err(x, name, "the path exists already and is not a folder");
		else
			entry_err(x, name, "could not open the folder: %s",
					  strerror(errno));
		return -1;
	}
	if (made)
		x->st->dirs++;
	if (fchmod(fd, 0755) != 0)
	{
		entry_err(x, name, "could not set the mode: %s", strerror(errno));
		goto done;
	}
	rc = 0;

done:
	close(fd);
	return rc;
}

/* Writes all of buf to fd. */
static int
write_all(int fd, const char *buf, size_t n)
{
	while (n > 0)
	{
		ssize_t w = write(fd, buf, n);

		if (w < 0)
		{
			if (errno == EINTR)
				continue;
			return -1;
		}
		buf += w;
		n -= (size_t) w;
	}
	return 0;
}

/*
 * Makes a regular file entry and writes its data as libarchive unpacks
 * it, checking each block against the caps before writing it.
 */
static int
extract_file(struct extract *x, int parent, const char *leaf, const char *name,
			 mode_t mode)
{
	const struct unpack_limits *lim = x->lim;
	struct unpack_stats		   *st = x->st;
	uint64_t					written = 0;
	char						size[32];
	int							fd;
	int							rc = -1;

	fd = openat(parent, leaf,
				O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
	{
		struct stat sb;

		if (errno == EEXIST &&
			fstatat(parent, leaf, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
			S_ISDIR(sb.st_mode))
			entry_err(x, name,
					  "a folder of that name was made for an earlier entry");
		else
			entry_err(x, name, "could not make the file: %s", strerror(errno));
		return -1;
	}
	st->files++;
	if (fchmod(fd, mode) != 0)
	{
		entry_err(x, name, "could not set the mode: %s", strerror(errno));
		goto done;
	}
	for (;;)
	{
		const void *buf;
		size_t		n;
		int64_t		off;
		int			r = archive_read_data_block(x->a, &buf, &n, &off);

		if (r == ARCHIVE_EOF)
			break;
		if (r != ARCHIVE_OK)
		{
			entry_err(x, name, "the archive is damaged: %s", la_error(x->a));
			goto done;
		}
		if (off < 0 || (uint64_t) off != written)
		{
			/* A hole: a sparse file that type_check did not see. */
			entry_err(x, name, "sparse files are not allowed");
			goto done;
		}
		if (n > lim->max_file_bytes - written)
		{
			size_text(lim->max_file_bytes, size, sizeof(size));
			entry_err(x, name, "a file larger than %s", size);
			goto done;
		}
		if (n > lim->max_total_bytes - st->total_bytes)
		{
			size_text(lim->max_total_bytes, size, sizeof(size));
			set_err(x, "the files add up to more than %s", size);
			goto done;
		}
		if (st->total_bytes + n > x->ratio_cap)
		{
			ratio_err(x);
			goto done;
		}
		if (write_all(fd, buf, n) != 0)
		{
			entry_err(x, name, "could not write: %s", strerror(errno));
			goto done;
		}
		written += n;
		st->total_bytes += n;
	}
	rc = 0;

done:
	if (close(fd) != 0 && rc == 0)
	{
		entry_err(x, name, "could not write: %s", strerror(errno));
		rc = -1;
	}
	return rc;
}

/* Checks one entry, then makes it.  Returns 0 or -1 after the message. */
static int
extract_entry(struct extract *x, struct archive_entry *e)
{
	const char *name = archive_entry_pathname(e);
	char	   *norm = NULL;
	const char *leaf;
	int			ncomp;
	int			parent = -1;
	int			rc = -1;
	bool		is_dir;

	if (name == NULL)
	{
		set_err(x, "entry %u: a name that cannot be read",
				(unsigned) x->st->entries);
		return -1;
	}
	norm = malloc(strlen(name) + 1);
	if (norm == NULL)
	{
		set_err(x, "out of memory");
		return -1;
	}
	ncomp = path_check(x, name, norm);
	if (ncomp < 0)
		goto done;
	if (type_check(x, e, name) != 0)
		goto done;
	is_dir = archive_entry_filetype(e) == AE_IFDIR;
	if (ncomp == 0)
	{
		/* "." or "./": the destination itself. */
		if (is_dir)
			rc = 0;
		else
			entry_err(x, name, "names the top folder but is not a folder");
		goto done;
	}
	switch (pathset_add(&x->seen, norm))
	{
		case 0:
			entry_err(x, name, "the same path twice");
			goto done;
		case -1:
			set_err(x, "out of memory");
			goto done;
	}
	parent = open_parent(x, norm, ncomp, name);
	if (parent < 0)
		goto done;
	leaf = strrchr(norm, '/');
	leaf = leaf ? leaf + 1 : norm;
	if (is_dir)
		rc = extract_dir(x, parent, leaf, name);
	else
		rc = extract_file(x, parent, leaf, name,
						  (archive_entry_perm(e) & 0111) ? 0755 : 0644);
	if (rc == 0)
		x->extracted++;

done:
	if (parent >= 0 && parent != x->root)
		close(parent);
	free(norm);
	return rc;
}

/* Checks that the destination (an open folder) holds nothing. */
static int
dest_check_empty(struct extract *x, const char *dest_dir)
{
	int			   fd = dup(x->root);
	DIR			  *d;
	struct dirent *de;
	int			   rc = 0;

	if (fd < 0 || (d = fdopendir(fd)) == NULL)
	{
		if (fd >= 0)
			close(fd);
		set_err(x, "could not read the destination folder \"%s\": %s",
				dest_dir, strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL)
	{
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
		{
			set_err(x, "the destination folder \"%s\" is not empty", dest_dir);
			rc = -1;
			break;
		}
	}
	closedir(d);
	return rc;
}

/*
 * The message when libarchive cannot open the archive or read its first
 * header: another format (named when its magic bytes say which), or a
 * damaged one.
 */
static void
set_read_err(struct extract *x, const void *data, size_t len)
{
	/* libarchive's ARCHIVE_ERRNO_FILE_FORMAT is EILSEQ on Linux. */
	if (archive_format(x->a) != 0 || archive_errno(x->a) != EILSEQ)
	{
		set_err(x, "the archive is damaged: %s", la_error(x->a));
		return;
	}
	for (size_t i = 0; i < sizeof(MAGICS) / sizeof(MAGICS[0]); i++)
	{
		const struct magic *m = &MAGICS[i];

		if (len >= m->len && memcmp(data, m->bytes, m->len) == 0)
		{
			set_err(x, "the archive is %s; only tar and tar.gz are accepted",
					m->what);
			return;
		}
	}
	set_err(x, "the archive is not a tar or tar.gz file");
}

/*
 * Returns a copy of path without its final slashes ("/" stays), which the
 * caller frees, or NULL (errno ENOMEM).  The kernel follows a symbolic
 * link named with a final slash, O_NOFOLLOW or not.
 */
static char *
path_trim(const char *path)
{
	size_t n = strlen(path);
	char  *p;

	while (n > 1 && path[n - 1] == '/')
		n--;
	p = malloc(n + 1);
	if (p == NULL)
		return NULL;
	memcpy(p, path, n);
	p[n] = '\0';
	return p;
}

/* Opens dest_dir into x->root; refuses a symbolic link. */
static int
dest_open(struct extract *x, const char *dest_dir)
{
	char	   *path = path_trim(dest_dir);
	struct stat sb;

	if (path == NULL)
	{
		set_err(x, "out of memory");
		return -1;
	}
	x->root = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (x->root < 0)
	{
		if ((errno == ENOTDIR || errno == ELOOP) && lstat(path, &sb) == 0)
			set_err(x, "the destination \"%s\" is %s", dest_dir,
					S_ISLNK(sb.st_mode) ? "a symbolic link" : "not a folder");
		else
			set_err(x, "could not open the destination folder \"%s\": %s",
					dest_dir, strerror(errno));
	}
	free(path);
	return x->root < 0 ? -1 : 0;
}

int
unpack_archive(const void *data, size_t len, const char *dest_dir,
			   const struct unpack_limits *l, struct unpack_stats *st,
			   char *err, size_t errlen)
{
	struct unpack_stats	  dummy;
	struct extract		  x;
	struct archive_entry *e;
	int					  rc = -1;

	memset(&x, 0, sizeof(x));
	x.lim = l;
	x.st = st ? st : &dummy;
	x.root = -1;
	x.err = err;
	x.errlen = errlen;
	memset(x.st, 0, sizeof(*x.st));
	if (errlen > 0)
		err[0] = '\0';

	if (l->max_ratio == 0 || len > UINT64_MAX / l->max_ratio)
		x.ratio_cap = UINT64_MAX;
	else
		x.ratio_cap = (uint64_t) l->max_ratio * len;
	if (x.ratio_cap < UNPACK_RATIO_FLOOR)
		x.ratio_cap = UNPACK_RATIO_FLOOR;

	if (dest_open(&x, dest_dir) != 0)
		goto done;
	if (dest_check_empty(&x, dest_dir) != 0)
		goto done;
	if (len == 0)
	{
		set_err(&x, "the archive is empty");
		goto done;
	}

	x.a = archive_read_new();
	if (x.a == NULL)
	{
		set_err(&x, "out of memory");
		goto done;
	}
	/* tar (with pax and GNU extensions) and gzip: nothing else. */
	if (archive_read_support_format_tar(x.a) != ARCHIVE_OK ||
		archive_read_support_format_empty(x.a) != ARCHIVE_OK ||
		archive_read_support_filter_gzip(x.a) != ARCHIVE_OK)
	{
		set_err(&x, "could not set up libarchive: %s", la_error(x.a));
		goto done;
	}
	if (archive_read_open_memory(x.a, data, len) != ARCHIVE_OK)
	{
		set_read_err(&x, data, len);
		goto done;
	}

	for (;;)
	{
		int		 r = archive_read_next_header(x.a, &e);
		uint64_t pos;
		uint64_t own;

		if (r == ARCHIVE_EOF)
			break;
		/*
		 * A warning is a malformed header that libarchive read around; we
		 * refuse it, but for a name not in the locale's character set,
		 * whose bytes it gives as they are.
		 */
		if (r == ARCHIVE_WARN && archive_errno(x.a) == EILSEQ)
			r = ARCHIVE_OK;
		if (r != ARCHIVE_OK)
		{
			set_read_err(&x, data, len);
			goto done;
		}
		if (++x.st->entries > l->max_entries)
		{
			set_err(&x, "more than %u entries", (unsigned) l->max_entries);
			goto done;
		}
		/*
		 * The tar stream so far, but for each entry's own header block and
		 * padding: what is left are file data (checked as written, too)
		 * and the pax and GNU headers that libarchive reads whole (up to 1
		 * MiB each).
		 */
		pos = (uint64_t) archive_filter_bytes(x.a, 0);
		own = (uint64_t) x.st->entries * ENTRY_OVERHEAD;
		if (pos > own && pos - own > x.ratio_cap)
		{
			ratio_err(&x);
			goto done;
		}
		if (extract_entry(&x, e) != 0)
			goto done;
	}
	if (x.extracted == 0)
	{
		set_err(&x, "the archive is empty");
		goto done;
	}
	rc = 0;

done:
	if (x.a != NULL)
		archive_read_free(x.a);
	if (x.root >= 0)
		close(x.root);
	pathset_free(&x.seen);
	return rc;
}

/*
 * Removes name (relative to the folder dfd) and, when it is a folder (not
 * a link to one), all it holds.  Returns 0 or the first errno.
 */
static int
remove_at(int dfd, const char *name, int depth)
{
	int			   fd;
	DIR			  *d;
	struct dirent *de;
	int			   first = 0;

	fd = openat(dfd, name,
				O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
	{
		if (errno == ENOENT)
			return 0;
		if (errno != ENOTDIR && errno != ELOOP)
			return errno;
		/* A file, a link or anything else that is not a folder. */
		if (unlinkat(dfd, name, 0) != 0 && errno != ENOENT)
			return errno;
		return 0;
	}
	if (depth >= REMOVE_MAX_DEPTH)
	{
		close(fd);
		return ELOOP;
	}
	d = fdopendir(fd);
	if (d == NULL)
	{
		int e = errno;

		close(fd);
		return e;
	}
	while ((errno = 0, de = readdir(d)) != NULL)
	{
		int e = 0;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (unlinkat(fd, de->d_name, 0) != 0)
		{
			if (errno == EISDIR || errno == EPERM)
				e = remove_at(fd, de->d_name, depth + 1);
			else if (errno != ENOENT)
				e = errno;
		}
		if (e != 0 && first == 0)
			first = e;
	}
	if (errno != 0 && first == 0)
		first = errno;
	closedir(d);
	if (unlinkat(dfd, name, AT_REMOVEDIR) != 0 && errno != ENOENT &&
		first == 0)
		first = errno;
	return first;
}

int
unpack_remove_tree(const char *dir)
{
	char	   *path = path_trim(dir);
	const char *last;
	int			e;

	if (path == NULL)
		return -1;
	/* Never "/", "", "." or "..": their contents would go first. */
	last = strrchr(path, '/');
	last = last ? last + 1 : path;
	if (last[0] == '\0' || strcmp(last, ".") == 0 || strcmp(last, "..") == 0)
	{
		free(path);
		errno = EINVAL;
		return -1;
	}
	e = remove_at(AT_FDCWD, path, 0);
	free(path);
	if (e != 0)
	{
		errno = e;
		return -1;
	}
	return 0;
}
