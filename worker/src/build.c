/*
 * worker/src/build.c
 *	  A build slot: claims build, cleanup and maintenance jobs.
 *
 *	  A build: cpub_worker.build_start hands over the archive; it is
 *	  extracted with the rules of archive.c into a fresh folder under
 *	  state_dir (the function's files in fn/), the runtime's shim files are
 *	  copied beside them (cpub/) with its Containerfile, and podman build
 *	  makes the image, offline (--pull=never, --network=none) under time,
 *	  memory and CPU limits, tagged <function_images>/<function id>:v<N>.
 *	  Everything the developer's code is compiled or checked with runs in
 *	  the build container, which sees only that folder.  The log (the
 *	  worker's lines and podman's output, the last 1 MB) is stored with
 *	  the version by cpub_worker.build_finish, which also makes a good
 *	  version ready (and active when its deploy asked); a failed one leaves
 *	  the active version serving.
 */
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <ftw.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "unpack.h"
#include "build.h"
#include "db.h"
#include "log.h"
#include "podman.h"
#include "pool.h"
#include "runtime.h"
#include "text.h"
#include "worker.h"

#define BUILD_LOG_CAP (1024 * 1024)

static const char *const PREPARE[] = {
	"claim",
	"SELECT id, kind, payload::text FROM cpub_worker.job_complete_and_claim("
	"worker_id => $1, done => $2::bigint[], "
	"kinds => '{build,cleanup,maintenance}', \"limit\" => 1)",
	"complete",
	"SELECT cpub_worker.job_complete(worker_id => $1, ids => $2::bigint[])",
	"fail",
	"SELECT cpub_worker.job_fail(worker_id => $1, id => $2, error => $3, "
	"retry => $4)",
	"start",
	"SELECT version_id, function_id, function_name, version, runtime, "
	"archive, archive_sha256 FROM cpub_worker.build_start($1)",
	"finish",
	"SELECT cpub_worker.build_finish(version_id => $1, succeeded => $2, "
	"build_log => $3, image => $4, error => $5)",
	"progress",
	"SELECT cpub_worker.build_progress(version_id => $1, build_log => $2)",
	NULL,
};

/* How often a running build's log is sent for its followers, seconds. */
#define BUILD_PROGRESS_EVERY 0.5

/* A growing build log. */
struct blog
{
	char	   *text;
	size_t		len;
	FILE	   *f;
	PGconn	   *conn;		/* NULL: no progress sent (a local rebuild) */
	const char *version_id; /* whose log it is */
	double		sent_at;	/* when progress was last sent */
	bool		failed;		/* progress could not be sent: stop trying */
};

/*
 * blog_progress: sends the log so far, and TAIL (the running podman's
 * output so far, may be NULL) after it, as the version's progress, unless
 * it was sent less than BUILD_PROGRESS_EVERY ago and not FORCE.  A
 * failure is logged once and only stops the progress: the build goes on
 * and build_finish writes the whole log.
 */
static void
blog_progress(struct blog *log, const struct podman_result *tail, bool force)
{
	double			now = now_seconds();
	char		   *joined = NULL;
	size_t			len;
	char		   *clean;
	struct db_error e;
	PGresult	   *r;

	if (!log->conn || log->failed ||
		(!force && now - log->sent_at < BUILD_PROGRESS_EVERY))
		return;
	fflush(log->f);
	len = log->len + (tail ? tail->out_len : 0);
	joined = malloc(len + 1);
	if (!joined)
		return;
	memcpy(joined, log->text ? log->text : "", log->len);
	if (tail && tail->out_len)
		memcpy(joined + log->len, tail->out, tail->out_len);
	joined[len] = '\0';
	clean = utf8_clean(joined, len, NULL);
	free(joined);
	if (!clean)
		return;
	{
		const char	  *p[2] = {log->version_id, clean};
		struct db_stmt st = {"progress", NULL, 2, p, NULL, NULL};

		r = db_exec(log->conn, &st, &e);
	}
	free(clean);
	if (r == NULL)
	{
		log_warning("version %s: could not send the build's progress: %s",
					log->version_id, e.message);
		log->failed = true;
	}
	PQclear(r);
	log->sent_at = now;
}

/* watch_build: podman_run_watched's call as the build's output comes. */
static void
watch_build(void *arg, const struct podman_result *r)
{
	blog_progress(arg, r, false);
}

/* Copy share_dir/rel into dir/<its base name>, keeping the exec bit. */
static int
copy_asset(const char *rel, const char *dir, char *err, size_t errlen)
{
	char		src[1024], dst[1024];
	const char *base = strrchr(rel, '/');
	int			in, out;
	struct stat st;
	char		buf[65536];
	ssize_t		n;

	snprintf(src, sizeof(src), "%s/%s", cfg.share_dir, rel);
	snprintf(dst, sizeof(dst), "%s/%s", dir, base ? base + 1 : rel);
	in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0 || fstat(in, &st) != 0)
	{
		snprintf(err, errlen,
				 "the runtime's file %s is missing: %s (is the worker built? "
				 "share_dir = %s)",
				 src, strerror(errno), cfg.share_dir);
		if (in >= 0)
			close(in);
		return -1;
	}
	out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
			   (st.st_mode & 0111) ? 0755 : 0644);
	if (out < 0)
	{
		snprintf(err, errlen, "cannot write %s: %s", dst, strerror(errno));
		close(in);
		return -1;
	}
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t) n) != n)
		{
			n = -1;
			break;
		}
	close(in);
	close(out);
	if (n < 0)
	{
		snprintf(err, errlen, "cannot copy %s", src);
		return -1;
	}
	return 0;
}

/* The runtime's Containerfile with @BASE@ replaced, into path. */
static int
write_containerfile(const struct runtime *rt, const char *path, char *err,
					size_t errlen)
{
	char  src[1024];
	FILE *in, *out;
	char  line[4096];

	snprintf(src, sizeof(src), "%s/runtimes/%s/Containerfile", cfg.share_dir,
			 rt->name);
	in = fopen(src, "r");
	if (in == NULL)
	{
		snprintf(err, errlen, "the runtime's %s is missing: %s", src,
				 strerror(errno));
		return -1;
	}
	out = fopen(path, "w");
	if (out == NULL)
	{
		fclose(in);
		snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), in))
	{
		char *at = strstr(line, "@BASE@");

		if (at != NULL)
		{
			*at = '\0';
			fprintf(out, "%s%s%s", line, cfg.image_prefix, at + 6);
		}
		else
			fputs(line, out);
	}
	fclose(in);
	return fclose(out) == 0 ? 0 : -1;
}

/* Whether dir holds a file matching the pattern (any depth). */
static const char *find_pattern;
static bool		   find_found;

static int
find_visit(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void) st;
	if (type == FTW_F && fnmatch(find_pattern, path + ftw->base, 0) == 0)
	{
		find_found = true;
		return 1;
	}
	return 0;
}

static bool
has_entry(const char *dir, const char *entry)
{
	static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	char				   path[1024];
	bool				   found;

	if (strchr(entry, '*') == NULL)
	{
		struct stat st;

		snprintf(path, sizeof(path), "%s/%s", dir, entry);
		return lstat(path, &st) == 0 && S_ISREG(st.st_mode);
	}
	pthread_mutex_lock(&mu);
	find_pattern = entry;
	find_found = false;
	nftw(dir, find_visit, 16, FTW_PHYS);
	found = find_found;
	pthread_mutex_unlock(&mu);
	return found;
}

/* Build version row 0 of r (version_id, function_id, function_name,
 * version, runtime, archive, archive_sha256) tagged tag (NULL: the usual
 * name); fills *log and returns the image built (to free) or NULL with
 * *error set. */
static char *
build_version(PGresult *r, const char *tag, struct blog *log, char *error,
			  size_t errlen)
{
	const char			 *version_id = PQgetvalue(r, 0, 0);
	const char			 *function_id = PQgetvalue(r, 0, 1);
	const char			 *name = PQgetvalue(r, 0, 2);
	int					  version = atoi(PQgetvalue(r, 0, 3));
	const char			 *runtime_name = PQgetvalue(r, 0, 4);
	const struct runtime *rt = runtime_find(runtime_name);
	unsigned char		 *archive = NULL;
	size_t				  archive_len = 0;
	char				  dir[600], ctx[700], fn[800], cpub[800], cf[800];
	char image[400], mem[32], quota[32], l_inst[80], l_fn[80], l_ver[80];
	struct unpack_limits lim;
	struct unpack_stats	 st;
	struct podman_result pr;
	unsigned char		 rnd[4];
	char				*result = NULL;
	double				 t0 = now_seconds();

	fprintf(log->f, "[cpub] building %s v%d (runtime %s, archive sha256 %s)\n",
			name, version, runtime_name, PQgetvalue(r, 0, 6));
	if (rt == NULL)
	{
		snprintf(error, errlen, "unknown runtime \"%s\"", runtime_name);
		return NULL;
	}
	randombytes_buf(rnd, sizeof(rnd));
	snprintf(dir, sizeof(dir), "%s/build/%s.%02x%02x%02x%02x", cfg.state_dir,
			 version_id, rnd[0], rnd[1], rnd[2], rnd[3]);
	snprintf(ctx, sizeof(ctx), "%s/ctx", dir);
	snprintf(fn, sizeof(fn), "%s/fn", ctx);
	snprintf(cpub, sizeof(cpub), "%s/cpub", ctx);
	snprintf(cf, sizeof(cf), "%s/Containerfile", ctx);
	{
		char parent[600];

		snprintf(parent, sizeof(parent), "%s/build", cfg.state_dir);
		mkdir(parent, 0700);
	}
	if (mkdir(dir, 0700) != 0 || mkdir(ctx, 0755) != 0 ||
		mkdir(fn, 0755) != 0 || mkdir(cpub, 0755) != 0)
	{
		snprintf(error, errlen, "cannot create the build folder %s: %s", dir,
				 strerror(errno));
		goto out;
	}

	archive = PQunescapeBytea((const unsigned char *) PQgetvalue(r, 0, 5),
							  &archive_len);
	if (archive == NULL)
	{
		snprintf(error, errlen, "out of memory reading the archive");
		goto out;
	}
	/* What the deploy stored is what is built. */
	{
		unsigned char sum[crypto_hash_sha256_BYTES];
		char		  hex[crypto_hash_sha256_BYTES * 2 + 1];

		crypto_hash_sha256(sum, archive, archive_len);
		sodium_bin2hex(hex, sizeof(hex), sum, sizeof(sum));
		if (strcmp(hex, PQgetvalue(r, 0, 6)) != 0)
		{
			snprintf(error, errlen,
					 "the archive does not match its SHA-256 (%s stored, %s "
					 "read)",
					 PQgetvalue(r, 0, 6), hex);
			fprintf(log->f, "[cpub] %s\n", error);
			goto out;
		}
	}
	unpack_limits_default(&lim);
	if (unpack_archive(archive, archive_len, fn, &lim, &st, error, errlen) !=
		0)
	{
		char copy[512];

		snprintf(copy, sizeof(copy), "%s", error);
		snprintf(error, errlen, "the archive was refused: %s", copy);
		fprintf(log->f, "[cpub] %s\n", error);
		goto out;
	}
	fprintf(log->f, "[cpub] extracted %u files, %u folders, %llu bytes\n",
			st.files, st.dirs, (unsigned long long) st.total_bytes);
	if (!has_entry(fn, rt->entry))
	{
		snprintf(error, errlen, "%s is missing: %s", rt->entry,
				 rt->entry_hint);
		fprintf(log->f, "[cpub] %s\n", error);
		goto out;
	}
	for (int i = 0; rt->assets[i]; i++)
		if (copy_asset(rt->assets[i], cpub, error, errlen) != 0)
			goto out;
	if (write_containerfile(rt, cf, error, errlen) != 0)
		goto out;

	if (tag != NULL)
		snprintf(image, sizeof(image), "%s", tag);
	else
		snprintf(image, sizeof(image), "%s/%s:v%d", cfg.function_images,
				 function_id, version);
	snprintf(mem, sizeof(mem), "%dm", cfg.build_memory_mb);
	snprintf(quota, sizeof(quota), "%d", cfg.build_cpus * 100000);
	snprintf(l_inst, sizeof(l_inst), "cpub.installation=%s", installation_id);
	snprintf(l_fn, sizeof(l_fn), "cpub.function=%s", function_id);
	snprintf(l_ver, sizeof(l_ver), "cpub.version=%d", version);
	{
		/* The build's RUN steps: no network and no capability.  (Not in
		 * a user namespace: with podman 4.3, an image built under one
		 * keeps the mapped owners and cannot then run with
		 * --userns=auto.) */
		const char *args[] = {"build",
							  "--pull=never",
							  "--network=none",
							  "--cap-drop=all",
							  "--no-cache",
							  "--force-rm",
							  "--layers=false",
							  "--memory",
							  mem,
							  "--memory-swap",
							  mem,
							  "--cpu-period=100000",
							  "--cpu-quota",
							  quota,
							  "--label",
							  l_inst,
							  "--label",
							  l_fn,
							  "--label",
							  l_ver,
							  "--tag",
							  image,
							  "--file",
							  cf,
							  ctx,
							  NULL};

		fflush(log->f);
		blog_progress(log, NULL, true);
		if (podman_run_watched(args, NULL, cfg.build_timeout * 1000,
							   BUILD_LOG_CAP, &pr, watch_build, log) != 0)
		{
			snprintf(error, errlen, "podman could not run: %s",
					 pr.out ? pr.out : "");
			podman_result_free(&pr);
			goto out;
		}
	}
	fwrite(pr.out, 1, pr.out_len, log->f);
	if (pr.out_len && pr.out[pr.out_len - 1] != '\n')
		fputc('\n', log->f);
	if (pr.timed_out)
		snprintf(error, errlen, "the build took longer than %d s",
				 cfg.build_timeout);
	else if (pr.status != 0)
		snprintf(error, errlen, "the build failed (podman build status %d)",
				 pr.status);
	else
		result = strdup(image);
	podman_result_free(&pr);
	if (result)
		fprintf(log->f, "[cpub] built %s in %.1f s\n", image,
				now_seconds() - t0);
	else
		fprintf(log->f, "[cpub] %s\n", error);
out:
	PQfreemem(archive);
	unpack_remove_tree(dir);
	return result;
}

void
build_sweep(void)
{
	char dir[600];

	/* Build folders a killed worker left (function sources). */
	snprintf(dir, sizeof(dir), "%s/build", cfg.state_dir);
	if (unpack_remove_tree(dir) != 0)
		log_warning("could not remove %s: %m", dir);
}

/* A build job: payload {"version_id": ...}.  Returns 0 when the job is
 * done (built or failed for good), -1 to fail it for a retry. */
static int
do_build(PGconn *conn, json_t *payload, char *error, size_t errlen)
{
	const char *version_id =
		json_string_value(json_object_get(payload, "version_id"));
	const char	   *p1[1] = {version_id};
	struct db_stmt	start = {"start", NULL, 1, p1, NULL, NULL};
	struct db_error e;
	PGresult	   *r;
	struct blog		log = {0};
	char		   *image;
	char			why[512] = "";

	if (version_id == NULL)
	{
		snprintf(error, errlen, "a build job without a version_id");
		return 0;
	}
	r = db_exec(conn, &start, &e);
	if (r == NULL)
	{
		snprintf(error, errlen, "build_start: %s", e.message);
		return -1;
	}
	if (PQntuples(r) == 0)
	{
		PQclear(r);
		return 0; /* built already, or its function deleted */
	}
	log.f = open_memstream(&log.text, &log.len);
	log.conn = conn;
	log.version_id = version_id;
	image = build_version(r, NULL, &log, why, sizeof(why));
	PQclear(r);
	fclose(log.f);
	{
		char *clean_log = utf8_clean(log.text ? log.text : "", log.len, NULL);
		const char	  *p[5] = {version_id, image ? "true" : "false",
							   clean_log ? clean_log : "", image,
							   image ? NULL : why};
		struct db_stmt fin = {"finish", NULL, 5, p, NULL, NULL};
		PGresult	  *fr;

		fr = db_exec(conn, &fin, &e);
		if (fr == NULL)
		{
			snprintf(error, errlen, "build_finish: %s", e.message);
			free(clean_log);
			free(log.text);
			free(image);
			return -1;
		}
		log_info("version %s %s%s%s%s", version_id,
				 image ? "built: " : "failed: ", image ? image : why,
				 image && strcmp(PQgetvalue(fr, 0, 0), "t") == 0 ? " (active)"
																 : "",
				 "");
		PQclear(fr);
		free(clean_log);
	}
	free(log.text);
	free(image);
	return 0;
}

int
build_local(PGconn *conn, const char *version_id, char *err, size_t errlen)
{
	static pthread_mutex_t one = PTHREAD_MUTEX_INITIALIZER;
	const char			  *p[1] = {version_id};
	struct db_stmt		   stmt = {
				NULL,
				"SELECT version_id, function_id, function_name, version, "
						"runtime, archive, archive_sha256, image "
						"FROM cpub_worker.version_archive($1)",
				1,
				p,
				NULL,
				NULL};
	struct db_error e;
	PGresult	   *r;
	struct blog		log = {0};
	char		   *image = NULL;

	/* One at a time: the run slots waiting for the same version then
	 * find it built. */
	pthread_mutex_lock(&one);
	r = db_exec(conn, &stmt, &e);
	if (r == NULL)
		snprintf(err, errlen, "version_archive: %s", e.message);
	else if (PQntuples(r) == 0)
		snprintf(err, errlen, "its archive is gone");
	else
	{
		const char *args[] = {"image", "exists", PQgetvalue(r, 0, 7), NULL};

		if (podman_ok(args, 30000, true, NULL))
			image = strdup(PQgetvalue(r, 0, 7)); /* another slot built it */
		else
		{
			log_info("image %s is not on this host: building it from the "
					 "version's archive",
					 PQgetvalue(r, 0, 7));
			log.f = open_memstream(&log.text, &log.len);
			image = build_version(r, PQgetvalue(r, 0, 7), &log, err, errlen);
			fclose(log.f);
			free(log.text);
		}
	}
	PQclear(r);
	pthread_mutex_unlock(&one);
	free(image);
	return image != NULL ? 0 : -1;
}

/* A cleanup job (a deleted function): its containers and images go. */
static int
do_cleanup(json_t *payload)
{
	const char *function_id =
		json_string_value(json_object_get(payload, "function_id"));
	json_t *images = json_object_get(payload, "images");
	size_t	i;
	json_t *v;

	if (function_id != NULL)
		pool_drain_function(function_id);
	json_array_foreach(images, i, v)
	{
		const char *args[] = {"rmi", "--force", "--ignore",
							  json_string_value(v), NULL};

		if (json_is_string(v))
			podman_ok(args, 120000, false, NULL);
	}
	return 0;
}

static int
do_maintenance(PGconn *conn, char *error, size_t errlen)
{
	struct db_stmt	stmt = {NULL, "SELECT cpub_worker.maintenance_run()::text",
							0,	  NULL,
							NULL, NULL};
	struct db_error e;
	PGresult	   *r = db_exec(conn, &stmt, &e);

	if (r == NULL)
	{
		snprintf(error, errlen, "maintenance_run: %s", e.message);
		return -1;
	}
	log_info("maintenance: %s", PQgetvalue(r, 0, 0));
	PQclear(r);
	pool_remove_orphans(conn, false);
	return 0;
}

void *
build_main(void *arg)
{
	int		slot = *(int *) arg;
	PGconn *conn = NULL;
	char	done[32] = "";
	char	to_fail[32] = ""; /* failed while the connection was down */
	char	fail_why[600] = "";

	for (;;)
	{
		char			worker_id[UUID_LEN + 1], done_arr[40];
		const char	   *p[2];
		bool			stop = atomic_load(&stopping);
		struct db_stmt	claim;
		struct db_error e;
		PGresult	   *r;
		json_t		   *payload;
		char			id[32], kind[32], error[600] = "";
		int				rc = 0;

		if (stop && !done[0] && !to_fail[0])
			break;
		if (db_broken(conn))
		{
			PQfinish(conn);
			conn = db_connect(cfg.database, "cpub-worker build", PREPARE,
							  (volatile bool *) &stopping);
			if (conn == NULL)
				break;
		}
		worker_id_get(worker_id);
		if (to_fail[0])
		{
			/* Not done: back to the queue, to be tried again later. */
			const char	  *fp[4] = {worker_id, to_fail, fail_why, "true"};
			struct db_stmt fs = {"fail", NULL, 4, fp, NULL, NULL};
			PGresult	  *fr = db_exec(conn, &fs, &e);

			if (fr == NULL && db_broken(conn))
				continue;
			if (fr == NULL)
				log_warning("could not fail job %s: %s", to_fail, e.message);
			PQclear(fr);
			to_fail[0] = '\0';
			in_hand_set(slot, 0);
			continue;
		}
		snprintf(done_arr, sizeof(done_arr), "{%s}", done);
		p[0] = worker_id;
		p[1] = done_arr;
		claim = (struct db_stmt){
			stop ? "complete" : "claim", NULL, 2, p, NULL, NULL};
		r = db_exec(conn, &claim, &e);
		if (r == NULL)
		{
			if (db_broken(conn))
				continue;
			if (db_is(&e, "55Q05") || db_is(&e, "P0002"))
				worker_stopped();
			else if (!db_is(&e, "55Q01"))
				log_error("build slot: %s (%s)", e.message, e.sqlstate);
			done[0] = '\0';
			in_hand_set(slot, 0);
			jobs_wait(JOBS_BUILD, 1000);
			continue;
		}
		done[0] = '\0';
		in_hand_set(slot, 0);
		if (stop || PQntuples(r) == 0)
		{
			PQclear(r);
			if (!stop)
				jobs_wait(JOBS_BUILD, 1000);
			continue;
		}
		snprintf(id, sizeof(id), "%s", PQgetvalue(r, 0, 0));
		snprintf(kind, sizeof(kind), "%s", PQgetvalue(r, 0, 1));
		in_hand_set(slot, atoll(id));
		payload = json_loads(PQgetvalue(r, 0, 2), 0, NULL);
		PQclear(r);
		if (strcmp(kind, "build") == 0)
			rc = do_build(conn, payload, error, sizeof(error));
		else if (strcmp(kind, "cleanup") == 0)
			rc = do_cleanup(payload);
		else if (strcmp(kind, "maintenance") == 0)
			rc = do_maintenance(conn, error, sizeof(error));
		json_decref(payload);
		if (rc == 0)
		{
			snprintf(done, sizeof(done), "%s", id);
			continue;
		}
		log_error("%s job %s failed: %s", kind, id, error);
		snprintf(to_fail, sizeof(to_fail), "%s", id);
		snprintf(fail_why, sizeof(fail_why), "%s", error);
	}
	PQfinish(conn);
	slot_exited();
	return NULL;
}
