/*
 * bench/unpack_bench.c
 *	  How long worker/src/unpack.c takes to extract a deploy archive, and
 *	  to remove the folder again, beside GNU tar extracting the same file.
 *
 *	  Three tar.gz archives are made in memory with libarchive's writer: a
 *	  typical small function (10 files, 50 KiB of source-like text), 20 MiB
 *	  of incompressible data in 20 files (a 20 MiB archive) and 20 MiB of
 *	  text in 20 files.  Each is extracted BENCH_UNPACK_ROUNDS times (21,
 *	  5 for the big ones) into a fresh folder under $TMPDIR (/tmp) with
 *	  unpack_archive (from memory, as the worker does with the bytea it
 *	  fetched), then removed with unpack_remove_tree; the anchor is
 *	  `tar -xzf FILE -C DIR` (posix_spawn, no shell) of the same archive
 *	  written to a file, which includes starting a process.  Printed:
 *	  medians, with the minimum and maximum.  Nothing is synced to disk,
 *	  by either.
 */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "unpack.h"

extern char **environ;

#define KiB 1024
#define MiB (1024 * 1024)

struct buf
{
	char  *data;
	size_t len;
	size_t cap;
};

static la_ssize_t
buf_write(struct archive *a, void *client, const void *p, size_t n)
{
	struct buf *b = client;

	(void) a;
	if (b->len + n > b->cap)
	{
		size_t cap = b->cap ? b->cap : 65536;

		while (cap < b->len + n)
			cap *= 2;
		b->data = realloc(b->data, cap);
		if (b->data == NULL)
			abort();
		b->cap = cap;
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
	return (la_ssize_t) n;
}

static uint32_t seed = 42;

static uint32_t
rnd(void)
{
	seed = seed * 1103515245 + 12345;
	return seed >> 8;
}

/* n bytes of text made of common source words, or of noise. */
static void
fill(char *p, size_t n, int text)
{
	static const char *const words[] = {
		"return", "if",		 "else",  "request", "response", "{",
		"}",	  "(",		 ")",	  "int",	 "const",	 "char",
		"def",	  "handle",	 "body",  "status",	 "=",		 "==",
		"json",	  "headers", "0",	  "1",		 "200",		 "\n",
		"\n\t",	  "self",	 "value", "key",	 "for",		 "in"};
	size_t o = 0;

	if (!text)
	{
		for (; o < n; o++)
			p[o] = (char) rnd();
		return;
	}
	while (o < n)
	{
		const char *w = words[rnd() % (sizeof(words) / sizeof(words[0]))];
		size_t		l = strlen(w);

		if (l > n - o)
			l = n - o;
		memcpy(p + o, w, l);
		o += l;
		if (o < n)
			p[o++] = ' ';
	}
}

/* A tar.gz of nfiles files of size bytes each (in src/ and lib/). */
static void
make_archive(struct buf *out, int nfiles, size_t size, int text)
{
	struct archive *w = archive_write_new();
	char		   *data = malloc(size);

	archive_write_set_format_pax_restricted(w);
	archive_write_add_filter_gzip(w);
	archive_write_set_bytes_in_last_block(w, 1);
	archive_write_open2(w, out, NULL, buf_write, NULL, NULL);
	for (int i = 0; i < nfiles; i++)
	{
		struct archive_entry *e = archive_entry_new();
		char				  name[64];

		snprintf(name, sizeof(name), "%s/file%02d.%s", i % 2 ? "src" : "lib",
				 i, text ? "py" : "bin");
		fill(data, size, text);
		archive_entry_set_pathname(e, name);
		archive_entry_set_filetype(e, AE_IFREG);
		archive_entry_set_perm(e, i == 0 ? 0755 : 0644);
		archive_entry_set_size(e, (la_int64_t) size);
		if (archive_write_header(w, e) != ARCHIVE_OK ||
			archive_write_data(w, data, size) != (la_ssize_t) size)
		{
			fprintf(stderr, "unpack_bench: %s\n", archive_error_string(w));
			exit(1);
		}
		archive_entry_free(e);
	}
	if (archive_write_close(w) != ARCHIVE_OK)
		exit(1);
	archive_write_free(w);
	free(data);
}

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *) a;
	double y = *(const double *) b;

	return (x > y) - (x < y);
}

/* Sorts v and prints "median ms (min-max)". */
static void
print_times(const char *what, double *v, int n)
{
	qsort(v, n, sizeof(double), cmp_double);
	printf("  %-34s %8.2f ms  (min %.2f, max %.2f, %d rounds)\n", what,
		   v[n / 2], v[0], v[n - 1], n);
}

/* Runs tar -xzf file -C dir; returns its exit status. */
static int
run_tar(const char *file, const char *dir)
{
	char *argv[] = {"tar", "-xzf", (char *) file, "-C", (char *) dir, NULL};
	pid_t pid;
	int	  status;

	if (posix_spawnp(&pid, "tar", NULL, NULL, argv, environ) != 0)
		return -1;
	if (waitpid(pid, &status, 0) < 0)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void
bench_one(const char *tmp, const char *title, int nfiles, size_t size,
		  int text, int rounds)
{
	struct buf			 b = {0};
	struct unpack_limits lim;
	double				*ext = calloc(rounds, sizeof(double));
	double				*rem = calloc(rounds, sizeof(double));
	double				*tar = calloc(rounds, sizeof(double));
	char				 dest[256];
	char				 file[256];
	char				 err[512];
	FILE				*f;

	unpack_limits_default(&lim);
	make_archive(&b, nfiles, size, text);
	snprintf(dest, sizeof(dest), "%s/dest", tmp);
	snprintf(file, sizeof(file), "%s/archive.tar.gz", tmp);
	f = fopen(file, "wb");
	if (f == NULL || fwrite(b.data, 1, b.len, f) != b.len || fclose(f) != 0)
	{
		perror(file);
		exit(1);
	}
	printf("%s: %d files, %.1f KiB unpacked, %.1f KiB gzipped\n", title,
		   nfiles, nfiles * size / 1024.0, b.len / 1024.0);
	for (int i = 0; i < rounds; i++)
	{
		double t0;

		if (mkdir(dest, 0755) != 0)
		{
			perror(dest);
			exit(1);
		}
		t0 = now_ms();
		if (unpack_archive(b.data, b.len, dest, &lim, NULL, err,
						   sizeof(err)) != 0)
		{
			fprintf(stderr, "unpack_bench: %s\n", err);
			exit(1);
		}
		ext[i] = now_ms() - t0;
		t0 = now_ms();
		if (unpack_remove_tree(dest) != 0)
		{
			perror(dest);
			exit(1);
		}
		rem[i] = now_ms() - t0;

		if (mkdir(dest, 0755) != 0)
			exit(1);
		t0 = now_ms();
		if (run_tar(file, dest) != 0)
		{
			fprintf(stderr, "unpack_bench: tar -xzf failed\n");
			exit(1);
		}
		tar[i] = now_ms() - t0;
		if (unpack_remove_tree(dest) != 0)
			exit(1);
	}
	print_times("unpack_archive (from memory)", ext, rounds);
	print_times("unpack_remove_tree", rem, rounds);
	print_times("anchor: tar -xzf (a process)", tar, rounds);
	unlink(file);
	free(b.data);
	free(ext);
	free(rem);
	free(tar);
}

int
main(void)
{
	const char *env = getenv("BENCH_UNPACK_ROUNDS");
	const char *tmpdir = getenv("TMPDIR");
	int			rounds = env ? atoi(env) : 0;
	char		tmp[256];

	snprintf(tmp, sizeof(tmp), "%s/cpub-bench-unpack.XXXXXX",
			 tmpdir ? tmpdir : "/tmp");
	if (mkdtemp(tmp) == NULL)
	{
		perror("mkdtemp");
		return 1;
	}
	printf("unpack: extraction of a deploy archive into %s (%s)\n", tmp,
		   archive_version_details());
	bench_one(tmp, "small function", 10, 5 * KiB, 1, rounds > 0 ? rounds : 21);
	bench_one(tmp, "20 MiB archive", 20, MiB, 0, rounds > 0 ? rounds : 5);
	bench_one(tmp, "20 MiB of text", 20, MiB, 1, rounds > 0 ? rounds : 5);
	if (unpack_remove_tree(tmp) != 0)
		perror(tmp);
	return 0;
}
