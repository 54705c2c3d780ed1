/*-------------------------------------------------------------------------
 *
 * test_unpack.c
 *	  TAP tests of worker/src/unpack.c: a function's deploy archive
 *	  extracted into its build folder, and every kind of archive refused.
 *
 *	  Archives are built in memory with libarchive's writer (pax, ustar and
 *	  GNU tar, plain and gzip-compressed), or byte by byte for the headers
 *	  the writer will not make (an empty name, a NUL in a pax path, a
 *	  folder entry with data).  Each extraction goes into DIR/dest, a
 *	  subfolder of a fresh temporary folder DIR, which must afterwards hold
 *	  dest alone: nothing may appear beside it.  A refused archive is
 *	  checked against the exact one-line message, so each case also proves
 *	  which rule fired.  The test runs under umask 077 so that the modes
 *	  extracted are shown not to depend on it.
 *
 * tests/unit/test_unpack.c
 *
 *-------------------------------------------------------------------------
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "unpack.h"
#include "tap.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
#define MiB		 (1024 * 1024)

/* A growing buffer that libarchive's writer appends to. */
struct buf
{
	char  *data;
	size_t len;
	size_t cap;
};

static void
buf_add(struct buf *b, const void *p, size_t n)
{
	if (b->len + n > b->cap)
	{
		size_t cap = b->cap ? b->cap : 4096;

		while (cap < b->len + n)
			cap *= 2;
		b->data = realloc(b->data, cap);
		if (b->data == NULL)
			abort();
		b->cap = cap;
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
}

static void
buf_free(struct buf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

static la_ssize_t
buf_write(struct archive *a, void *client, const void *p, size_t n)
{
	(void) a;
	buf_add(client, p, n);
	return (la_ssize_t) n;
}

/* What an entry of a test archive is. */
enum kind
{
	K_FILE,	 /* data, size */
	K_ZEROS, /* size bytes of zeros, written in pieces */
	K_DIR,
	K_SYMLINK,	/* to link */
	K_HARDLINK, /* to link */
	K_CHAR,
	K_BLOCK,
	K_FIFO,
};

struct ent
{
	const char *name;
	enum kind	kind;
	unsigned	mode;
	const char *data; /* K_FILE; NULL: size bytes of 'x' */
	size_t		size;
	const char *link;
};

enum format
{
	F_PAX,
	F_USTAR,
	F_GNU,
	F_ZIP,
	F_RAW, /* the one entry's bytes alone (for a filter of no tar) */
};

static const char *const FORMAT_NAMES[] = {"pax", "ustar", "gnutar", "zip",
										   "raw"};

enum filter
{
	Z_NONE,
	Z_GZIP,
	Z_XZ,
};

/*
 * Builds an archive of the n entries into *out (which it resets).  Aborts
 * when libarchive refuses, as that is a mistake of the test.
 */
static void
build(struct buf *out, enum format fmt, enum filter z, const struct ent *ents,
	  size_t n)
{
	struct archive *w = archive_write_new();
	static char		zeros[65536];
	static char		xs[65536];
	int				r = ARCHIVE_OK;

	memset(xs, 'x', sizeof(xs));
	buf_free(out);
	switch (fmt)
	{
		case F_PAX:
			r = archive_write_set_format_pax_restricted(w);
			break;
		case F_USTAR:
			r = archive_write_set_format_ustar(w);
			break;
		case F_GNU:
			r = archive_write_set_format_gnutar(w);
			break;
		case F_ZIP:
			r = archive_write_set_format_zip(w);
			break;
		case F_RAW:
			r = archive_write_set_format_raw(w);
			break;
	}
	if (r == ARCHIVE_OK && z == Z_GZIP)
		r = archive_write_add_filter_gzip(w);
	if (r == ARCHIVE_OK && z == Z_XZ)
		r = archive_write_add_filter_xz(w);
	if (r == ARCHIVE_OK)
		r = archive_write_set_bytes_in_last_block(w, 1);
	if (r == ARCHIVE_OK)
		r = archive_write_open2(w, out, NULL, buf_write, NULL, NULL);
	for (size_t i = 0; r == ARCHIVE_OK && i < n; i++)
	{
		const struct ent	 *t = &ents[i];
		struct archive_entry *e = archive_entry_new();
		size_t				  size = 0;

		archive_entry_set_pathname(e, t->name);
		archive_entry_set_uid(e, 4242);
		archive_entry_set_gid(e, 4242);
		archive_entry_set_uname(e, "somebody");
		archive_entry_set_mtime(e, 1700000000, 0);
		switch (t->kind)
		{
			case K_FILE:
			case K_ZEROS:
				archive_entry_set_filetype(e, AE_IFREG);
				size = t->size;
				break;
			case K_DIR:
				archive_entry_set_filetype(e, AE_IFDIR);
				break;
			case K_SYMLINK:
				archive_entry_set_filetype(e, AE_IFLNK);
				archive_entry_set_symlink(e, t->link);
				break;
			case K_HARDLINK:
				archive_entry_set_filetype(e, AE_IFREG);
				archive_entry_set_hardlink(e, t->link);
				break;
			case K_CHAR:
				archive_entry_set_filetype(e, AE_IFCHR);
				archive_entry_set_rdevmajor(e, 1);
				archive_entry_set_rdevminor(e, 3);
				break;
			case K_BLOCK:
				archive_entry_set_filetype(e, AE_IFBLK);
				archive_entry_set_rdevmajor(e, 8);
				archive_entry_set_rdevminor(e, 0);
				break;
			case K_FIFO:
				archive_entry_set_filetype(e, AE_IFIFO);
				break;
		}
		archive_entry_set_perm(e, t->mode ? t->mode : 0644);
		archive_entry_set_size(e, (la_int64_t) size);
		r = archive_write_header(w, e);
		for (size_t done = 0; r == ARCHIVE_OK && done < size;)
		{
			size_t		piece = size - done;
			const char *src;

			if (piece > sizeof(zeros))
				piece = sizeof(zeros);
			if (t->kind == K_ZEROS)
				src = zeros;
			else if (t->data != NULL)
				src = t->data + done;
			else
				src = xs;
			if (archive_write_data(w, src, piece) != (la_ssize_t) piece)
				r = ARCHIVE_FATAL;
			done += piece;
		}
		archive_entry_free(e);
	}
	if (r == ARCHIVE_OK)
		r = archive_write_close(w);
	if (r != ARCHIVE_OK)
	{
		diag("could not build a %s archive: %s", FORMAT_NAMES[fmt],
			 archive_error_string(w));
		abort();
	}
	archive_write_free(w);
}

/* Entries of test archives, for the tables below. */
#define E_FILE(n, d)                                                          \
	{                                                                         \
		n, K_FILE, 0644, d, sizeof(d) - 1, NULL                               \
	}
#define E_FILEM(n, m, d)                                                      \
	{                                                                         \
		n, K_FILE, m, d, sizeof(d) - 1, NULL                                  \
	}
#define E_DIR(n)                                                              \
	{                                                                         \
		n, K_DIR, 0755, NULL, 0, NULL                                         \
	}
#define E_DIRM(n, m)                                                          \
	{                                                                         \
		n, K_DIR, m, NULL, 0, NULL                                            \
	}
#define E_SIZED(n, s)                                                         \
	{                                                                         \
		n, K_FILE, 0644, NULL, s, NULL                                        \
	}
#define E_LINK(n, to)                                                         \
	{                                                                         \
		n, K_SYMLINK, 0777, NULL, 0, to                                       \
	}
#define E_HARD(n, to)                                                         \
	{                                                                         \
		n, K_HARDLINK, 0644, NULL, 0, to                                      \
	}
#define E_NODE(n, k)                                                          \
	{                                                                         \
		n, k, 0644, NULL, 0, NULL                                             \
	}
#define E_END                                                                 \
	{                                                                         \
		NULL, K_FILE, 0, NULL, 0, NULL                                        \
	}

static size_t
ents_count(const struct ent *e)
{
	size_t n = 0;

	while (e[n].name != NULL)
		n++;
	return n;
}

/* --- archives written byte by byte ------------------------------------- */

/* Appends a ustar header block (name shorter than 100 bytes) to b. */
static void
raw_header(struct buf *b, const char *name, char type, size_t size)
{
	unsigned char h[512];
	unsigned	  sum = 0;

	memset(h, 0, sizeof(h));
	memcpy(h, name, strlen(name));
	memcpy(h + 100, "0000644", 7);
	memcpy(h + 108, "0000000", 7);
	memcpy(h + 116, "0000000", 7);
	snprintf((char *) h + 124, 12, "%011o", (unsigned) size);
	memcpy(h + 136, "14000000000", 11);
	h[156] = (unsigned char) type;
	memcpy(h + 257, "ustar", 6);
	memcpy(h + 263, "00", 2);
	memset(h + 148, ' ', 8);
	for (size_t i = 0; i < sizeof(h); i++)
		sum += h[i];
	snprintf((char *) h + 148, 8, "%06o", sum);
	h[155] = ' ';
	buf_add(b, h, sizeof(h));
}

/* Appends n bytes of data and the zeros up to the next 512-byte block. */
static void
raw_data(struct buf *b, const void *p, size_t n)
{
	static const char zeros[512];

	buf_add(b, p, n);
	if (n % 512 != 0)
		buf_add(b, zeros, 512 - n % 512);
}

/* Appends the end of a tar archive: two blocks of zeros. */
static void
raw_end(struct buf *b)
{
	static const char zeros[1024];

	buf_add(b, zeros, sizeof(zeros));
}

/*
 * Appends a pax extended header holding one record "LEN key=value\n"
 * (value may hold NULs), to apply to the header that follows.
 */
static void
raw_pax(struct buf *b, const char *key, const char *value, size_t vlen)
{
	size_t body = 1 + strlen(key) + 1 + vlen + 1;
	size_t len = body + 1;
	char   rec[1024];
	int	   n;

	/* LEN counts its own digits. */
	for (;;)
	{
		char digits[32];

		if (body + (size_t) snprintf(digits, sizeof(digits), "%zu", len) ==
			len)
			break;
		len++;
	}
	n = snprintf(rec, sizeof(rec), "%zu %s=", len, key);
	memcpy(rec + n, value, vlen);
	rec[n + vlen] = '\n';
	raw_header(b, "PaxHeader/x", 'x', len);
	raw_data(b, rec, len);
}

/* --- the scratch folder -------------------------------------------------- */

/* DIR (a fresh temporary folder) and DIR/dest, the destination. */
struct scratch
{
	char base[64];
	char dest[96];
};

static void
scratch_make(struct scratch *s)
{
	snprintf(s->base, sizeof(s->base), "/tmp/cpub-test-unpack.XXXXXX");
	if (mkdtemp(s->base) == NULL)
	{
		perror("mkdtemp");
		abort();
	}
	snprintf(s->dest, sizeof(s->dest), "%s/dest", s->base);
	if (mkdir(s->dest, 0700) != 0)
	{
		perror("mkdir");
		abort();
	}
}

/* True when DIR holds dest and nothing else; says what else it holds. */
static bool
scratch_alone(const struct scratch *s)
{
	DIR			  *d = opendir(s->base);
	struct dirent *de;
	bool		   dest = false;
	bool		   other = false;

	if (d == NULL)
		return false;
	while ((de = readdir(d)) != NULL)
	{
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (strcmp(de->d_name, "dest") == 0)
			dest = true;
		else
		{
			diag("%s holds %s besides dest", s->base, de->d_name);
			other = true;
		}
	}
	closedir(d);
	return dest && !other;
}

static void
scratch_remove(const struct scratch *s)
{
	if (unpack_remove_tree(s->base) != 0)
		diag("could not remove %s: %s", s->base, strerror(errno));
}

/* The size of a file, or -1. */
static long long
file_size(const char *dir, const char *name)
{
	char		path[256];
	struct stat sb;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (lstat(path, &sb) != 0)
		return -1;
	return (long long) sb.st_size;
}

/* --- what an extraction made ------------------------------------------- */

struct want
{
	const char *path;
	bool		dir;
	unsigned	mode;
	const char *data; /* files */
	size_t		size;
};

#define W_FILE(p, m, d)                                                       \
	{                                                                         \
		p, false, m, d, sizeof(d) - 1                                         \
	}
#define W_DIR(p)                                                              \
	{                                                                         \
		p, true, 0755, NULL, 0                                                \
	}

/* The number of names under dir, recursively, not following links. */
static int
count_tree(const char *dir)
{
	DIR			  *d = opendir(dir);
	struct dirent *de;
	int			   n = 0;

	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
	{
		char		path[512];
		struct stat sb;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		n++;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (lstat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
			n += count_tree(path);
	}
	closedir(d);
	return n;
}

/*
 * True when dest holds exactly the n things of w, each of the right type,
 * mode, owner (us) and content; says what differs.
 */
static bool
check_tree(const char *dest, const struct want *w, size_t n)
{
	bool good = true;
	int	 count = count_tree(dest);

	if (count != (int) n)
	{
		diag("%s holds %d names, not %zu", dest, count, n);
		good = false;
	}
	for (size_t i = 0; i < n; i++)
	{
		char		path[512];
		struct stat sb;

		snprintf(path, sizeof(path), "%s/%s", dest, w[i].path);
		if (lstat(path, &sb) != 0)
		{
			diag("%s: %s", w[i].path, strerror(errno));
			good = false;
			continue;
		}
		if (w[i].dir ? !S_ISDIR(sb.st_mode) : !S_ISREG(sb.st_mode))
		{
			diag("%s: not a %s", w[i].path, w[i].dir ? "folder" : "file");
			good = false;
			continue;
		}
		if ((sb.st_mode & 07777) != w[i].mode)
		{
			diag("%s: mode %04o, not %04o", w[i].path,
				 (unsigned) (sb.st_mode & 07777), w[i].mode);
			good = false;
		}
		if (sb.st_uid != getuid() || sb.st_gid != getgid())
		{
			diag("%s: owned by %u:%u, not by us", w[i].path,
				 (unsigned) sb.st_uid, (unsigned) sb.st_gid);
			good = false;
		}
		if (!w[i].dir)
		{
			char   *got = malloc(w[i].size + 1);
			int		fd = open(path, O_RDONLY);
			ssize_t r = fd < 0 ? -1 : read(fd, got, w[i].size + 1);

			if (r != (ssize_t) w[i].size ||
				memcmp(got, w[i].data, w[i].size) != 0)
			{
				diag("%s: content differs (%zd bytes, %zu wanted)", w[i].path,
					 r, w[i].size);
				good = false;
			}
			if (fd >= 0)
				close(fd);
			free(got);
		}
	}
	return good;
}

/* --- extracting ---------------------------------------------------------- */

static struct unpack_limits DEFAULTS;

/* Limits small enough to cross with small archives. */
static const struct unpack_limits SMALL = {
	5,	  /* entries */
	2000, /* total bytes */
	1000, /* bytes of a file */
	100,  /* ratio */
	1024, /* path length */
	32,	  /* depth */
};

/*
 * Extracts b into a fresh DIR/dest with lim (NULL: the defaults) and
 * checks the outcome: want NULL means it must succeed, else fail with
 * exactly the message want (or, with prefix, a message starting so).
 * Then checks that DIR holds dest alone.  Two assertions.
 */
static void
try_extract(const char *what, const struct buf *b,
			const struct unpack_limits *lim, const char *want, bool prefix)
{
	struct scratch		s;
	struct unpack_stats st;
	char				err[512];
	int					rc;

	scratch_make(&s);
	rc = unpack_archive(b->data, b->len, s.dest, lim ? lim : &DEFAULTS, &st,
						err, sizeof(err));
	if (want == NULL)
	{
		if (!ok(rc == 0, "%s: extracted", what))
			diag("error: %s", err);
	}
	else if (prefix)
	{
		if (!ok(rc == -1 && strncmp(err, want, strlen(want)) == 0,
				"%s: refused with \"%s...\"", what, want))
			diag("rc %d, error: %s", rc, err);
	}
	else
		is_str(rc == 0 ? "(extracted)" : err, want, "%s: refused", what);
	ok(scratch_alone(&s), "%s: nothing made beside the destination", what);
	scratch_remove(&s);
}

/* A normal function: folders, an executable, modes to normalise. */
static const struct ent TREE[] = {
	E_DIR("./"),
	E_DIRM("src/", 0700),
	E_FILEM("src/main.c", 0600, "int main(void) { return 0; }\n"),
	E_FILEM("src/lib/util.py", 0444, "def handle(request):\n    return 1\n"),
	E_FILEM("run.sh", 04755, "#!/bin/sh\necho hello\n"),
	E_FILEM("bin/tool", 06001,
			"\x7f"
			"ELF\0\1\2\0"),
	E_FILEM("empty", 01644, ""),
	E_FILE("a/./b//c.txt", "c"),
	E_DIRM("src/lib/", 0700),
	E_END,
};

static const struct want TREE_WANT[] = {
	W_DIR("src"),
	W_DIR("src/lib"),
	W_DIR("bin"),
	W_DIR("a"),
	W_DIR("a/b"),
	W_FILE("src/main.c", 0644, "int main(void) { return 0; }\n"),
	W_FILE("src/lib/util.py", 0644, "def handle(request):\n    return 1\n"),
	W_FILE("run.sh", 0755, "#!/bin/sh\necho hello\n"),
	W_FILE("bin/tool", 0755,
		   "\x7f"
		   "ELF\0\1\2\0"),
	W_FILE("empty", 0644, ""),
	W_FILE("a/b/c.txt", 0644, "c"),
};

/* The normal tree in every format, plain and gzip-compressed. */
static void
test_tree(void)
{
	static const enum format fmts[] = {F_PAX, F_USTAR, F_GNU};
	struct buf				 b = {0};
	uint64_t				 bytes = 0;

	for (size_t i = 0; i < NELEM(TREE_WANT); i++)
		bytes += TREE_WANT[i].size;
	for (size_t f = 0; f < NELEM(fmts); f++)
	{
		for (int gz = 0; gz <= 1; gz++)
		{
			struct scratch		s;
			struct unpack_stats st;
			char				err[512];
			const char		   *name = FORMAT_NAMES[fmts[f]];
			int					rc;

			build(&b, fmts[f], gz ? Z_GZIP : Z_NONE, TREE, ents_count(TREE));
			scratch_make(&s);
			rc = unpack_archive(b.data, b.len, s.dest, &DEFAULTS, &st, err,
								sizeof(err));
			if (!ok(rc == 0, "tree, %s%s: extracted", name, gz ? ".gz" : ""))
				diag("error: %s", err);
			ok(check_tree(s.dest, TREE_WANT, NELEM(TREE_WANT)),
			   "tree, %s%s: paths, contents, modes 0755/0644, owned by us",
			   name, gz ? ".gz" : "");
			if (!ok(st.entries == ents_count(TREE) && st.files == 6 &&
						st.dirs == 5 && st.total_bytes == bytes,
					"tree, %s%s: stats", name, gz ? ".gz" : ""))
				diag("entries %u files %u dirs %u bytes %llu", st.entries,
					 st.files, st.dirs, (unsigned long long) st.total_bytes);
			ok(scratch_alone(&s), "tree, %s%s: nothing beside the destination",
			   name, gz ? ".gz" : "");
			scratch_remove(&s);
		}
	}
	buf_free(&b);
}

/* n copies of c followed by tail, in a new string. */
static char *
str_repeat(const char *unit, size_t n, const char *tail)
{
	size_t ulen = strlen(unit);
	char  *p = malloc(ulen * n + strlen(tail) + 1);

	for (size_t i = 0; i < n; i++)
		memcpy(p + i * ulen, unit, ulen);
	strcpy(p + ulen * n, tail);
	return p;
}

/* A path of exactly len bytes in four folders of 200 bytes and a file. */
static char *
long_path(size_t len)
{
	char *p = malloc(len + 1);

	memset(p, 'a', len);
	for (int i = 1; i <= 4; i++)
		p[i * 201 - 1] = '/';
	p[len] = '\0';
	return p;
}

/* Limits at their edges: exactly the cap passes, one more is refused. */
static void
test_boundaries(void)
{
	struct buf b = {0};
	char	  *at = long_path(1024);
	char	  *over = long_path(1025);
	char	  *deep = str_repeat("d/", 31, "f");
	char	  *deeper = str_repeat("d/", 32, "f");
	char	   want[512];

	build(&b, F_PAX, Z_GZIP,
		  (struct ent[]){E_SIZED("big", 1000), E_SIZED("b2", 1000)}, 2);
	try_extract("a file of max_file_bytes, total max_total_bytes", &b, &SMALL,
				NULL, false);
	build(&b, F_PAX, Z_GZIP, (struct ent[]){E_SIZED("big", 1001)}, 1);
	try_extract("a file over max_file_bytes", &b, &SMALL,
				"entry \"big\": a file larger than 1000 bytes", false);
	build(&b, F_PAX, Z_GZIP,
		  (struct ent[]){E_SIZED("a", 800), E_SIZED("b", 800),
						 E_SIZED("c", 401)},
		  3);
	try_extract("files over max_total_bytes", &b, &SMALL,
				"the files add up to more than 2000 bytes", false);

	build(&b, F_GNU, Z_NONE,
		  (struct ent[]){E_DIR("./"), E_FILE("a", "1"), E_FILE("b", "2"),
						 E_FILE("c", "3"), E_FILE("d", "4")},
		  5);
	try_extract("max_entries entries, \".\" counted", &b, &SMALL, NULL, false);
	build(&b, F_GNU, Z_NONE,
		  (struct ent[]){E_DIR("./"), E_FILE("a", "1"), E_FILE("b", "2"),
						 E_FILE("c", "3"), E_FILE("d", "4"), E_FILE("e", "5")},
		  6);
	try_extract("one entry over max_entries", &b, &SMALL,
				"more than 5 entries", false);

	build(&b, F_PAX, Z_GZIP, (struct ent[]){E_FILE(at, "x")}, 1);
	try_extract("a path of max_path_len bytes", &b, NULL, NULL, false);
	build(&b, F_PAX, Z_GZIP, (struct ent[]){E_FILE(over, "x")}, 1);
	snprintf(want, sizeof(want),
			 "entry \"%.80s...\": a path longer than 1024 bytes", over);
	try_extract("a path over max_path_len", &b, NULL, want, false);

	build(&b, F_GNU, Z_GZIP, (struct ent[]){E_FILE(deep, "x")}, 1);
	try_extract("a path of max_depth levels", &b, NULL, NULL, false);
	build(&b, F_GNU, Z_GZIP, (struct ent[]){E_FILE(deeper, "x")}, 1);
	snprintf(want, sizeof(want), "entry \"%s\": a path deeper than 32 levels",
			 deeper);
	try_extract("a path over max_depth", &b, NULL, want, false);

	free(at);
	free(over);
	free(deep);
	free(deeper);
	buf_free(&b);
}

/* Each kind of entry refused, in pax.gz and in plain GNU tar. */
struct refusal
{
	const char		 *what;
	const struct ent *ents;
	const char		 *want;
};

#define ENTS(...) ((const struct ent[]){__VA_ARGS__, E_END})

static const struct refusal REFUSALS[] = {
	{"an absolute path", ENTS(E_FILE("/etc/passwd", "x")),
	 "entry \"/etc/passwd\": an absolute path"},
	{"an absolute path to a folder", ENTS(E_DIR("/tmp/")),
	 "entry \"/tmp/\": an absolute path"},
	{".. at the start", ENTS(E_FILE("../x", "x")),
	 "entry \"../x\": a path leaving the archive (..)"},
	{".. in the middle", ENTS(E_FILE("a/../../x", "x")),
	 "entry \"a/../../x\": a path leaving the archive (..)"},
	{".. that stays inside", ENTS(E_FILE("a/../x", "x")),
	 "entry \"a/../x\": a path leaving the archive (..)"},
	/* The writer stores a folder's name with a final slash. */
	{".. at the end", ENTS(E_DIR("a/..")),
	 "entry \"a/../\": a path leaving the archive (..)"},
	{".. as the whole name", ENTS(E_DIR("..")),
	 "entry \"../\": a path leaving the archive (..)"},
	{"a control character",
	 ENTS(E_FILE("a\x01"
				 "b",
				 "x")),
	 "entry \"a\\x01b\": a control character in the name"},
	{"a newline", ENTS(E_FILE("ok\nentry \"x\": fine", "x")),
	 "entry \"ok\\x0aentry \\\"x\\\": fine\": a control character in the "
	 "name"},
	{"a symbolic link", ENTS(E_FILE("a", "x"), E_LINK("lnk", "a")),
	 "entry \"lnk\": symbolic links are not allowed"},
	{"a symbolic link, then a file through it",
	 ENTS(E_LINK("lnk", ".."), E_FILE("lnk/escaped", "x")),
	 "entry \"lnk\": symbolic links are not allowed"},
	{"a hard link", ENTS(E_FILE("a.txt", "x"), E_HARD("b.txt", "a.txt")),
	 "entry \"b.txt\": hard links are not allowed"},
	{"a hard link to outside", ENTS(E_HARD("passwd", "/etc/passwd")),
	 "entry \"passwd\": hard links are not allowed"},
	{"a character device", ENTS(E_NODE("null", K_CHAR)),
	 "entry \"null\": character devices are not allowed"},
	{"a block device", ENTS(E_NODE("sda", K_BLOCK)),
	 "entry \"sda\": block devices are not allowed"},
	{"a fifo", ENTS(E_NODE("pipe", K_FIFO)),
	 "entry \"pipe\": fifos are not allowed"},
	{"the same file twice", ENTS(E_FILE("a.txt", "1"), E_FILE("a.txt", "2")),
	 "entry \"a.txt\": the same path twice"},
	{"the same file twice, once with ./",
	 ENTS(E_FILE("a/b.txt", "1"), E_FILE("./a//b.txt", "2")),
	 "entry \"./a//b.txt\": the same path twice"},
	{"the same folder twice", ENTS(E_DIR("d"), E_DIR("./d/")),
	 "entry \"./d/\": the same path twice"},
	{"a file where a folder was", ENTS(E_DIR("d/"), E_FILE("d", "x")),
	 "entry \"d\": the same path twice"},
	{"a file where a folder was made for a path",
	 ENTS(E_FILE("d/x", "x"), E_FILE("d", "x")),
	 "entry \"d\": a folder of that name was made for an earlier entry"},
	{"a path through a file", ENTS(E_FILE("a", "x"), E_FILE("a/b", "x")),
	 "entry \"a/b\": \"a\" is not a folder"},
	{"only the top folder", ENTS(E_DIR("./")), "the archive is empty"},
};

static void
test_refusals(void)
{
	struct buf b = {0};
	char	   what[160];

	for (size_t i = 0; i < NELEM(REFUSALS); i++)
	{
		const struct refusal *r = &REFUSALS[i];

		build(&b, F_PAX, Z_GZIP, r->ents, ents_count(r->ents));
		snprintf(what, sizeof(what), "%s (pax.gz)", r->what);
		try_extract(what, &b, NULL, r->want, false);
		build(&b, F_GNU, Z_NONE, r->ents, ents_count(r->ents));
		snprintf(what, sizeof(what), "%s (gnutar)", r->what);
		try_extract(what, &b, NULL, r->want, false);
	}
	buf_free(&b);
}

/* Bytes that are no archive, other formats and filters, empty archives. */
static void
test_formats(void)
{
	struct buf	b = {0};
	struct buf	inner = {0};
	uint32_t	seed = 12345;
	static char noise[300000];
	char	   *garbage = noise;

	for (size_t i = 0; i < sizeof(noise); i++)
	{
		seed = seed * 1103515245 + 12345;
		noise[i] = (char) (seed >> 16);
	}
	buf_add(&b, garbage, 4096);
	try_extract("4 KiB of garbage", &b, NULL,
				"the archive is not a tar or tar.gz file", false);
	buf_free(&b);
	buf_add(&b, "hello, world\n", 13);
	try_extract("a line of text", &b, NULL,
				"the archive is not a tar or tar.gz file", false);

	build(&b, F_ZIP, Z_NONE, TREE, ents_count(TREE));
	try_extract("a zip file", &b, NULL,
				"the archive is a zip file; only tar and tar.gz are accepted",
				false);
	build(&b, F_PAX, Z_XZ, TREE, ents_count(TREE));
	try_extract("a tar.xz", &b, NULL,
				"the archive is xz-compressed; only tar and tar.gz are "
				"accepted",
				false);

	/* gzip around a zip: the filter is fine, the format is not. */
	build(&inner, F_ZIP, Z_NONE, TREE, ents_count(TREE));
	build(&b, F_RAW, Z_GZIP,
		  (struct ent[]){{"zip", K_FILE, 0644, inner.data, inner.len, NULL}},
		  1);
	try_extract("a zip inside gzip", &b, NULL,
				"the archive is not a tar or tar.gz file", false);

	buf_free(&b);
	try_extract("zero bytes", &b, NULL, "the archive is empty", false);
	build(&b, F_PAX, Z_NONE, NULL, 0);
	try_extract("a tar of no entry", &b, NULL, "the archive is empty", false);
	build(&b, F_PAX, Z_GZIP, NULL, 0);
	try_extract("a tar.gz of no entry", &b, NULL, "the archive is empty",
				false);
	build(&b, F_RAW, Z_GZIP, (struct ent[]){E_FILE("nothing", "")}, 1);
	try_extract("gzip of zero bytes", &b, NULL, "the archive is empty", false);

	/* Cut short: in the gzip stream, then in a tar file's data. */
	build(&b, F_PAX, Z_GZIP, (struct ent[]){E_SIZED("big", 200000)}, 1);
	b.len = 20;
	try_extract("a tar.gz cut after 20 bytes", &b, NULL,
				"the archive is damaged: ", true);
	build(&b, F_PAX, Z_GZIP,
		  (struct ent[]){{"noise", K_FILE, 0644, noise, sizeof(noise), NULL}},
		  1);
	b.len -= 1000;
	try_extract("a tar.gz cut in a file", &b, NULL,
				"entry \"noise\": the archive is damaged: ", true);
	build(&b, F_PAX, Z_NONE, (struct ent[]){E_SIZED("big", 200000)}, 1);
	b.len = 100000;
	try_extract("a tar cut in a file", &b, NULL,
				"entry \"big\": the archive is damaged: ", true);
	build(&b, F_PAX, Z_NONE, TREE, ents_count(TREE));
	b.data[600] ^= 0x55;
	try_extract("a tar with a damaged header", &b, NULL,
				"the archive is damaged: ", true);

	buf_free(&inner);
	buf_free(&b);
}

/* Headers libarchive's writer will not make. */
static void
test_raw(void)
{
	struct buf b = {0};

	raw_header(&b, "", '0', 1);
	raw_data(&b, "x", 1);
	raw_end(&b);
	try_extract("an empty name", &b, NULL, "entry \"\": an empty name", false);

	/*
	 * A NUL cannot reach us: libarchive ends a pax path at it.  What is
	 * left is checked like any name.
	 */
	buf_free(&b);
	raw_pax(&b, "path", "../\0ok", 6);
	raw_header(&b, "ok", '0', 1);
	raw_data(&b, "x", 1);
	raw_end(&b);
	try_extract("a pax path of .. and a NUL", &b, NULL,
				"entry \"../\": a path leaving the archive (..)", false);
	buf_free(&b);
	raw_pax(&b, "path", "a\0b", 3);
	raw_header(&b, "ab", '0', 1);
	raw_data(&b, "x", 1);
	raw_end(&b);
	{
		struct scratch s;
		char		   err[512];
		int			   rc;

		scratch_make(&s);
		rc = unpack_archive(b.data, b.len, s.dest, &DEFAULTS, NULL, err,
							sizeof(err));
		if (!ok(rc == 0 && file_size(s.dest, "a") == 1 &&
					count_tree(s.dest) == 1,
				"a pax path with a NUL: cut there, \"a\" extracted"))
			diag("rc %d, error: %s", rc, err);
		scratch_remove(&s);
	}

	buf_free(&b);
	raw_header(&b, "d/", '0', 10);
	raw_data(&b, "0123456789", 10);
	raw_end(&b);
	try_extract("a folder entry with data", &b, NULL,
				"entry \"d/\": a folder entry with data", false);

	buf_free(&b);
	raw_header(&b, "lnk", '2', 0);
	raw_end(&b);
	try_extract("a symbolic link with an empty target", &b, NULL,
				"entry \"lnk\": symbolic links are not allowed", false);

	/* A UTF-8 name in a pax header, whatever the locale (C here). */
	buf_free(&b);
	raw_pax(&b, "path", "h\xc3\xa9llo.txt", 10);
	raw_header(&b, "hello.txt", '0', 2);
	raw_data(&b, "hi", 2);
	raw_end(&b);
	{
		struct scratch s;
		char		   err[512];
		int			   rc;

		scratch_make(&s);
		rc = unpack_archive(b.data, b.len, s.dest, &DEFAULTS, NULL, err,
							sizeof(err));
		if (!ok(rc == 0 && file_size(s.dest, "h\xc3\xa9llo.txt") == 2,
				"a UTF-8 name in pax: extracted under its bytes"))
			diag("rc %d, error: %s", rc, err);
		scratch_remove(&s);
	}
	buf_free(&b);
}

/*
 * A sparse file (pax, GNU.sparse 1.0): 1 MiB with two blocks of data and a
 * hole between, which would bypass the byte counts if written with seeks.
 */
static void
test_sparse(void)
{
	struct archive		 *w = archive_write_new();
	struct archive_entry *e = archive_entry_new();
	struct buf			  b = {0};
	static char			  data[512];

	archive_write_set_format_pax_restricted(w);
	archive_write_add_filter_gzip(w);
	archive_write_open2(w, &b, NULL, buf_write, NULL, NULL);
	archive_entry_set_pathname(e, "sparse");
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, MiB);
	archive_entry_sparse_add_entry(e, 0, 512);
	archive_entry_sparse_add_entry(e, MiB - 512, 512);
	if (archive_write_header(w, e) != ARCHIVE_OK ||
		archive_write_data(w, data, 512) != 512 ||
		archive_write_data(w, data, 512) != 512 ||
		archive_write_close(w) != ARCHIVE_OK)
		abort();
	archive_entry_free(e);
	archive_write_free(w);
	try_extract("a sparse file", &b, NULL,
				"entry \"sparse\": sparse files are not allowed", false);
	buf_free(&b);
}

/*
 * 10 MiB of zeros that gzip squeezes about 1000 times: the ratio rule
 * stops it before more than max(100 x its size, 1 MiB) is written, while
 * without the rule it extracts whole.
 */
static void
test_bomb(void)
{
	struct buf			 b = {0};
	struct scratch		 s;
	struct unpack_stats	 st;
	struct unpack_limits lim = DEFAULTS;
	char				 err[512];
	int					 rc;
	uint64_t			 cap;
	long long			 size;

	build(&b, F_PAX, Z_GZIP,
		  (struct ent[]){{"zeros", K_ZEROS, 0644, NULL, 10 * MiB, NULL}}, 1);
	cap = (uint64_t) 100 * b.len;
	if (cap < MiB)
		cap = MiB;
	diag("10 MiB of zeros: %zu bytes gzipped (ratio %.0f), cap %llu bytes",
		 b.len, 10.0 * MiB / b.len, (unsigned long long) cap);

	scratch_make(&s);
	rc = unpack_archive(b.data, b.len, s.dest, &DEFAULTS, &st, err,
						sizeof(err));
	is_str(rc == 0 ? "(extracted)" : err,
		   "the archive expands beyond 100 times its compressed size (a "
		   "compression bomb?)",
		   "a gzip bomb: refused by the ratio rule");
	size = file_size(s.dest, "zeros");
	if (!ok(st.total_bytes > 0 && st.total_bytes <= cap && size >= 0 &&
				(uint64_t) size == st.total_bytes,
			"a gzip bomb: stopped before writing more than the cap"))
		diag("wrote %llu bytes, file has %lld",
			 (unsigned long long) st.total_bytes, size);
	ok(scratch_alone(&s), "a gzip bomb: nothing beside the destination");
	scratch_remove(&s);

	lim.max_ratio = 0;
	scratch_make(&s);
	rc = unpack_archive(b.data, b.len, s.dest, &lim, &st, err, sizeof(err));
	if (!ok(rc == 0 && st.total_bytes == 10 * MiB &&
				file_size(s.dest, "zeros") == 10 * MiB,
			"the same with max_ratio 0: extracted whole"))
		diag("rc %d, error: %s", rc, err);
	scratch_remove(&s);
	buf_free(&b);
}

/*
 * Files of one byte whose pax headers each unpack to about 1 MiB of
 * zeros (an extended attribute): nothing written comes near the caps, but
 * the tar stream does, so the ratio rule applies to it.
 */
static void
test_header_bomb(void)
{
	struct archive		*w = archive_write_new();
	struct buf			 b = {0};
	static char			 zeros[400000];
	struct unpack_stats	 st;
	struct unpack_limits lim = DEFAULTS;
	struct scratch		 s;
	char				 err[512];
	int					 rc;

	archive_write_set_format_pax_restricted(w);
	archive_write_add_filter_gzip(w);
	archive_write_set_bytes_in_last_block(w, 1);
	archive_write_open2(w, &b, NULL, buf_write, NULL, NULL);
	for (int i = 0; i < 4; i++)
	{
		struct archive_entry *e = archive_entry_new();
		char				  name[16];

		snprintf(name, sizeof(name), "f%d", i);
		archive_entry_set_pathname(e, name);
		archive_entry_set_filetype(e, AE_IFREG);
		archive_entry_set_perm(e, 0644);
		archive_entry_set_size(e, 1);
		archive_entry_xattr_add_entry(e, "user.pad", zeros, sizeof(zeros));
		if (archive_write_header(w, e) != ARCHIVE_OK ||
			archive_write_data(w, "x", 1) != 1)
			abort();
		archive_entry_free(e);
	}
	if (archive_write_close(w) != ARCHIVE_OK)
		abort();
	archive_write_free(w);
	diag("4 files with big pax headers: %zu bytes gzipped", b.len);

	try_extract("a pax header bomb", &b, NULL,
				"the archive expands beyond 100 times its compressed size (a "
				"compression bomb?)",
				false);
	lim.max_ratio = 0;
	scratch_make(&s);
	rc = unpack_archive(b.data, b.len, s.dest, &lim, &st, err, sizeof(err));
	if (!ok(rc == 0 && st.files == 4 && st.total_bytes == 4,
			"the same with max_ratio 0: extracted"))
		diag("rc %d, error: %s", rc, err);
	scratch_remove(&s);
	buf_free(&b);
}

/*
 * The default cap on entries: 10,000 pass, 10,001 do not.  All but one are
 * "./", which count as entries but make nothing (quicker than files).
 * Their 10,000 same headers gzip about 2,000 times, yet the ratio rule
 * must not take them for a bomb: it leaves out each entry's own header.
 */
static void
test_many_entries(void)
{
	struct ent *ents = calloc(10001, sizeof(struct ent));
	struct buf	b = {0};

	for (int i = 0; i < 10001; i++)
		ents[i] = (struct ent){"./", K_DIR, 0755, NULL, 0, NULL};
	ents[9999] = (struct ent){"f", K_FILE, 0644, "x", 1, NULL};
	build(&b, F_PAX, Z_GZIP, ents, 10000);
	diag("10,000 entries: %zu bytes gzipped", b.len);
	try_extract("10,000 entries", &b, NULL, NULL, false);
	build(&b, F_PAX, Z_GZIP, ents, 10001);
	try_extract("10,001 entries", &b, NULL, "more than 10000 entries", false);
	buf_free(&b);
	free(ents);
}

/* The destination must be an existing, empty folder, not a link. */
static void
test_dest(void)
{
	struct buf	   b = {0};
	struct scratch s;
	char		   path[160];
	char		   want[320];
	char		   err[512];
	int			   fd;

	build(&b, F_PAX, Z_GZIP, TREE, ents_count(TREE));
	scratch_make(&s);

	snprintf(path, sizeof(path), "%s/old", s.dest);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	close(fd);
	snprintf(want, sizeof(want), "the destination folder \"%s\" is not empty",
			 s.dest);
	unpack_archive(b.data, b.len, s.dest, &DEFAULTS, NULL, err, sizeof(err));
	is_str(err, want, "a destination that is not empty: refused");
	ok(count_tree(s.dest) == 1, "a destination that is not empty: untouched");

	snprintf(path, sizeof(path), "%s/missing", s.base);
	snprintf(want, sizeof(want),
			 "could not open the destination folder \"%s\": %s", path,
			 strerror(ENOENT));
	unpack_archive(b.data, b.len, path, &DEFAULTS, NULL, err, sizeof(err));
	is_str(err, want, "a destination that does not exist: refused");

	snprintf(path, sizeof(path), "%s/link", s.base);
	if (symlink("dest", path) != 0)
		abort();
	snprintf(want, sizeof(want), "the destination \"%s\" is a symbolic link",
			 path);
	unpack_archive(b.data, b.len, path, &DEFAULTS, NULL, err, sizeof(err));
	is_str(err, want, "a destination that is a symbolic link: refused");
	strcat(path, "//");
	snprintf(want, sizeof(want), "the destination \"%s\" is a symbolic link",
			 path);
	unpack_archive(b.data, b.len, path, &DEFAULTS, NULL, err, sizeof(err));
	is_str(err, want,
		   "a destination that is a symbolic link named with a final slash: "
		   "refused");

	snprintf(path, sizeof(path), "%s/dest/old", s.base);
	snprintf(want, sizeof(want), "the destination \"%s\" is not a folder",
			 path);
	unpack_archive(b.data, b.len, path, &DEFAULTS, NULL, err, sizeof(err));
	is_str(err, want, "a destination that is a file: refused");

	err[0] = 'x';
	unpack_archive(b.data, b.len, path, &DEFAULTS, NULL, err, 1);
	ok(err[0] == '\0', "an error buffer of one byte gets an empty string");
	/* No buffer at all: must not crash (the program would die). */
	unpack_archive(b.data, b.len, path, &DEFAULTS, NULL, NULL, 0);

	scratch_remove(&s);
	buf_free(&b);
}

/* Writes a small file at dir/name. */
static void
put_file(const char *dir, const char *name, const char *text)
{
	char path[256];
	int	 fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t) strlen(text))
		abort();
	close(fd);
}

static void
put_dir(const char *dir, const char *name)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (mkdir(path, 0755) != 0)
		abort();
}

static void
put_link(const char *dir, const char *name, const char *to)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (symlink(to, path) != 0)
		abort();
}

/*
 * unpack_remove_tree removes a tree holding links to a folder and a file
 * outside it (absolute and relative), a fifo and a folder without
 * permissions, and leaves what the links point to.
 */
static void
test_remove_tree(void)
{
	struct scratch s;
	char		   victim[128];
	char		   tree[128];
	char		   keep[160];
	char		   path[256];
	struct stat	   sb;

	scratch_make(&s);
	snprintf(victim, sizeof(victim), "%s/victim", s.base);
	snprintf(tree, sizeof(tree), "%s/dest", s.base);
	snprintf(keep, sizeof(keep), "%s/keep", victim);
	put_dir(s.base, "victim");
	put_file(victim, "keep", "precious");
	put_dir(victim, "sub");
	put_file(victim, "sub/deep", "also precious");

	put_dir(tree, "a");
	put_dir(tree, "a/b");
	put_file(tree, "a/b/file", "x");
	put_link(tree, "abs", victim);
	put_link(tree, "a/rel", "../../victim");
	put_link(tree, "a/b/tofile", keep);
	put_link(tree, "dangling", "/nonexistent/x");
	snprintf(path, sizeof(path), "%s/pipe", tree);
	if (mkfifo(path, 0600) != 0)
		abort();

	if (!ok(unpack_remove_tree(tree) == 0, "remove_tree: returns 0"))
		diag("%s", strerror(errno));
	ok(lstat(tree, &sb) != 0 && errno == ENOENT, "remove_tree: tree gone");
	ok(file_size(victim, "keep") == 8 && file_size(victim, "sub/deep") == 13 &&
		   count_tree(victim) == 3,
	   "remove_tree: what the links point to is intact");

	snprintf(path, sizeof(path), "%s/link", s.base);
	put_link(s.base, "link", "victim");
	ok(unpack_remove_tree(path) == 0 && lstat(path, &sb) != 0 &&
		   count_tree(victim) == 3,
	   "remove_tree of a link to a folder: the link goes, not the folder");
	ok(unpack_remove_tree(path) == 0,
	   "remove_tree of a path that does not exist: 0");
	put_link(s.base, "link", "victim");
	strcat(path, "/");
	ok(unpack_remove_tree(path) == 0 && count_tree(s.base) == 4,
	   "remove_tree of a link named with a final slash: the link goes, not "
	   "the folder");

	/* Refused before anything goes (else the scratch folder would). */
	snprintf(path, sizeof(path), "%s/sub/..", victim);
	errno = 0;
	ok(unpack_remove_tree(path) == -1 && errno == EINVAL &&
		   count_tree(victim) == 3,
	   "remove_tree of a path ending in ..: EINVAL, nothing removed");
	snprintf(path, sizeof(path), "%s/.", victim);
	errno = 0;
	ok(unpack_remove_tree(path) == -1 && errno == EINVAL &&
		   count_tree(victim) == 3,
	   "remove_tree of a path ending in .: EINVAL, nothing removed");

	scratch_remove(&s);
	ok(lstat(s.base, &sb) != 0, "remove_tree: the scratch folder is gone");
}

int
main(void)
{
	umask(077);
	unpack_limits_default(&DEFAULTS);
	ok(DEFAULTS.max_entries == 10000 &&
		   DEFAULTS.max_total_bytes == 512 * (uint64_t) MiB &&
		   DEFAULTS.max_file_bytes == 256 * (uint64_t) MiB &&
		   DEFAULTS.max_ratio == 100 && DEFAULTS.max_path_len == 1024 &&
		   DEFAULTS.max_depth == 32,
	   "the default limits");

	test_tree();
	test_boundaries();
	test_refusals();
	test_formats();
	test_raw();
	test_sparse();
	test_bomb();
	test_header_bomb();
	test_many_entries();
	test_dest();
	test_remove_tree();
	return done_testing();
}
