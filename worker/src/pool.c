/*
 * worker/src/pool.c
 *	  The warm pool and its janitor (pool.h).
 *
 *	  Every container is started by root Podman with the same hardening:
 *	  no network, a read-only root with a small tmpfs on /tmp, every
 *	  capability dropped, no-new-privileges, its own user namespace
 *	  (--userns=auto) and the non-root user 65534, a pids limit, memory
 *	  (swap included) and CPU from the function's settings as capped by its
 *	  tier.  Its only mount is a folder of its own on /run/cpub, where the
 *	  shim opens fn.sock; the function's environment variables travel in
 *	  that folder too (a file "env" the shim reads and deletes before it
 *	  serves), never on a command line.  The labels cpub.installation and
 *	  cpub.worker let a later worker remove the containers of a dead one.
 *
 *	  One mutex guards the list; podman runs outside it.  A slot being
 *	  started is in the list as C_STARTING, so concurrent acquires count it
 *	  against the function's concurrency.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "build.h"
#include "db.h"
#include "log.h"
#include "podman.h"
#include "pool.h"
#include "unpack.h"

#define MAX_CHANGED 256
#define MAX_WAITING 1024

/*
 * The active version of a function, as the janitor last read it.  A call
 * made before a switch may reach a slot after the drain: the container
 * started for it is of a version no longer served, so it goes once that
 * call is done.
 */
struct active
{
	struct active *next;
	char		   function_id[UUID_LEN + 1];
	char		   version_id[UUID_LEN + 1];
	long long	   generation;
};

static struct
{
	pthread_mutex_t	  mu;
	pthread_cond_t	  released; /* a container became idle or went away */
	pthread_cond_t	  janitor;	/* work for the janitor */
	struct container *list;
	struct container *doomed; /* to remove (janitor) */
	struct active	 *active; /* functions refreshed, with a version */
	char			  changed[MAX_CHANGED][UUID_LEN + 1];
	int				  nchanged;
	bool			  changed_all;
	char			  sock_root[512];
	char			  waiting[MAX_WAITING][UUID_LEN + 1]; /* per waiter */
	int				  nwaiting;
	int				  waiting_for;
} P = {
	.mu = PTHREAD_MUTEX_INITIALIZER,
	.released = PTHREAD_COND_INITIALIZER,
	.janitor = PTHREAD_COND_INITIALIZER,
};

int
pool_init(void)
{
	snprintf(P.sock_root, sizeof(P.sock_root), "%s/sock", cfg.state_dir);
	if (mkdir(cfg.state_dir, 0700) != 0 && errno != EEXIST)
	{
		log_error("cannot create %s: %s", cfg.state_dir, strerror(errno));
		return -1;
	}
	chmod(cfg.state_dir, 0700);
	if (mkdir(P.sock_root, 0700) != 0 && errno != EEXIST)
	{
		log_error("cannot create %s: %s", P.sock_root, strerror(errno));
		return -1;
	}
	return 0;
}

/* Unlink c from the list (mutex held). */
static void
unlink_container(struct container *c)
{
	for (struct container **pp = &P.list; *pp; pp = &(*pp)->next)
		if (*pp == c)
		{
			*pp = c->next;
			c->next = NULL;
			return;
		}
}

/* Hand c to the janitor for removal (mutex held, c unlinked). */
static void
doom(struct container *c)
{
	c->next = P.doomed;
	P.doomed = c;
	pthread_cond_signal(&P.janitor);
	pthread_cond_broadcast(&P.released);
}

/*
 * Remove containers now (no mutex held): podman rm in batches of 32, then
 * their folders (without following links: the container could write
 * there).  A batch podman could not remove stays doomed and is tried
 * again by the janitor, up to 5 times.
 */
static void
remove_now(struct container *list)
{
	while (list != NULL)
	{
		const char		 *args[40] = {"rm", "--force", "--time=0", "--ignore"};
		int				  n = 4;
		struct container *batch = list;
		struct container *c;
		bool			  ok;

		for (c = list; c && n < 36; c = c->next)
		{
			args[n++] = c->name;
			list = c->next;
		}
		args[n] = NULL;
		ok = podman_ok(args, 60000, false, NULL);
		for (c = batch; c != list;)
		{
			struct container *next = c->next;
			char			  pidfile[600];

			if (c->fd >= 0)
				close(c->fd);
			c->fd = -1;
			if (!ok && ++c->removal_tries < 5)
			{
				pthread_mutex_lock(&P.mu);
				doom(c);
				pthread_mutex_unlock(&P.mu);
				c = next;
				continue;
			}
			if (unpack_remove_tree(c->sock_dir) != 0)
				log_warning("could not remove %s: %m", c->sock_dir);
			snprintf(pidfile, sizeof(pidfile), "%s.pid", c->sock_dir);
			unlink(pidfile);
			log_info("container %s removed (served %u)", c->name, c->served);
			free(c);
			c = next;
		}
	}
}

/* Read the memory cgroup of pid: cgroup v1 "N:memory:/path" or v2
 * "0::/path". */
static void
find_cgroup(struct container *c, pid_t pid)
{
	char  path[64], line[1024];
	FILE *f;

	c->mem_cgroup[0] = '\0';
	snprintf(path, sizeof(path), "/proc/%d/cgroup", (int) pid);
	f = fopen(path, "r");
	if (f == NULL)
		return;
	while (fgets(line, sizeof(line), f))
	{
		char *p = strchr(line, ':');
		char *q = p ? strchr(p + 1, ':') : NULL;

		if (q == NULL)
			continue;
		line[strcspn(line, "\n")] = '\0';
		*q = '\0';
		if (strcmp(p + 1, "memory") == 0)
		{
			snprintf(c->mem_cgroup, sizeof(c->mem_cgroup),
					 "/sys/fs/cgroup/memory%s", q + 1);
			c->cgroup_v2 = false;
			break;
		}
		if (line[0] == '0' && p == line + 1 && p[1] == '\0' &&
			access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0)
		{
			snprintf(c->mem_cgroup, sizeof(c->mem_cgroup), "/sys/fs/cgroup%s",
					 q + 1);
			c->cgroup_v2 = true;
		}
	}
	fclose(f);
}

static long
read_long_field(const char *file, const char *field)
{
	char  line[256];
	long  v = -1;
	FILE *f = fopen(file, "r");

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f))
	{
		size_t n = strlen(field);

		if (field[0] == '\0')
		{
			v = strtol(line, NULL, 10);
			break;
		}
		if (strncmp(line, field, n) == 0 && line[n] == ' ')
		{
			v = strtol(line + n + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	return v;
}

void
container_mem_reset(struct container *c)
{
	char path[600];
	int	 fd;

	if (c->mem_cgroup[0] == '\0' || c->cgroup_v2)
		return;
	snprintf(path, sizeof(path), "%s/memory.max_usage_in_bytes",
			 c->mem_cgroup);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd >= 0)
	{
		ssize_t w = write(fd, "0", 1);

		(void) w;
		close(fd);
	}
}

long
container_mem_peak_kb(struct container *c)
{
	char path[600];
	long v;

	if (c->mem_cgroup[0] == '\0')
		return -1;
	snprintf(path, sizeof(path), "%s/%s", c->mem_cgroup,
			 c->cgroup_v2 ? "memory.peak" : "memory.max_usage_in_bytes");
	v = read_long_field(path, "");
	return v < 0 ? -1 : v / 1024;
}

long
container_oom_kills(struct container *c)
{
	char path[600];

	if (c->mem_cgroup[0] == '\0')
		return -1;
	snprintf(path, sizeof(path), "%s/%s", c->mem_cgroup,
			 c->cgroup_v2 ? "memory.events" : "memory.oom_control");
	return read_long_field(path, "oom_kill");
}

bool
container_oom_killed(struct container *c, int *exit_code)
{
	const char *wait[] = {"wait", c->name, NULL};
	const char *inspect[] = {"inspect", "--format", "{{.State.OOMKilled}}",
							 c->name, NULL};
	char	   *out = NULL;
	bool		oom = false;

	/* Its end first: right after the stream closed podman may not know
	 * yet. */
	*exit_code = -1;
	if (podman_ok(wait, 5000, true, &out) && out != NULL)
		sscanf(out, "%d", exit_code);
	free(out);
	out = NULL;
	if (podman_ok(inspect, 5000, true, &out) && out != NULL)
		oom = strncmp(out, "true", 4) == 0;
	free(out);
	return oom;
}

/* Write the function's environment into dir/env: NAME=VALUE\0 ... (the
 * shim reads it, sets the variables and deletes the file). */
static int
write_env(PGconn *conn, const struct fn_spec *spec, const char *dir, char *err,
		  size_t errlen)
{
	const char	  *params[1] = {spec->function_id};
	struct db_stmt stmt = {
		NULL, "SELECT name, value FROM cpub_worker.function_env($1)",
		1,	  params,
		NULL, NULL};
	struct db_error e;
	PGresult	   *r = db_exec(conn, &stmt, &e);
	char			path[600];
	int				fd;
	bool			ok = true;

	if (r == NULL)
	{
		snprintf(err, errlen, "could not read the function's environment: %s",
				 e.message);
		return -1;
	}
	snprintf(path, sizeof(path), "%s/env", dir);
	fd =
		open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
	{
		snprintf(err, errlen, "could not write %s: %s", path, strerror(errno));
		PQclear(r);
		return -1;
	}
	for (int i = 0; i < PQntuples(r) && ok; i++)
	{
		const char *name = PQgetvalue(r, i, 0);
		const char *value = PQgetvalue(r, i, 1);

		ok =
			write(fd, name, strlen(name)) == (ssize_t) strlen(name) &&
			write(fd, "=", 1) == 1 &&
			write(fd, value, strlen(value) + 1) == (ssize_t) strlen(value) + 1;
	}
	/* The shim's caps are the worker's (CPUB_ names are the platform's:
	 * a function cannot set them). */
	if (ok)
	{
		char caps[64];
		int	 len = snprintf(caps, sizeof(caps), "CPUB_MAX_BODY=%ld",
							cfg.max_body_kb * 1024);

		ok = write(fd, caps, (size_t) len + 1) == len + 1;
	}
	close(fd);
	PQclear(r);
	if (!ok)
	{
		snprintf(err, errlen, "could not write %s", path);
		return -1;
	}
	return 0;
}

/*
 * Connect to dir/fn.sock, waiting for the shim to open it while the
 * container lives, up to the start timeout.  The folder is writable by the
 * container, whose code may run before the shim listens: the socket is
 * opened without following links (O_PATH | O_NOFOLLOW), checked to be a
 * socket, and connected to through /proc/self/fd, so the worker (root)
 * never connects to a path the function chose.
 */
static int
connect_shim(struct container *c, pid_t pid, char *err, size_t errlen)
{
	double deadline = now_seconds() + cfg.start_timeout;
	long   nap = 200000; /* ns: first tries often */
	int	   dirfd =
		open(c->sock_dir, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	if (dirfd < 0)
	{
		snprintf(err, errlen, "cannot open %s: %s", c->sock_dir,
				 strerror(errno));
		return -1;
	}
	for (;;)
	{
		int path = openat(dirfd, "fn.sock", O_PATH | O_NOFOLLOW | O_CLOEXEC);
		struct stat st;

		if (path >= 0 && fstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
		{
			struct sockaddr_un addr = {.sun_family = AF_UNIX};
			int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

			snprintf(addr.sun_path, sizeof(addr.sun_path), "/proc/self/fd/%d",
					 path);
			if (fd >= 0 &&
				connect(fd, (struct sockaddr *) &addr, sizeof(addr)) == 0)
			{
				int fl = fcntl(fd, F_GETFL);

				fcntl(fd, F_SETFL, fl | O_NONBLOCK);
				close(path);
				close(dirfd);
				return fd;
			}
			if (fd >= 0)
				close(fd);
		}
		else if (path >= 0 && !S_ISSOCK(st.st_mode))
		{
			close(path);
			close(dirfd);
			snprintf(err, errlen,
					 "fn.sock in the container's folder is not "
					 "a socket");
			return -1;
		}
		if (path >= 0)
			close(path);
		if (pid > 0 && kill(pid, 0) != 0 && errno == ESRCH)
		{
			close(dirfd);
			snprintf(err, errlen,
					 "the container exited before its shim listened");
			return -1;
		}
		if (now_seconds() > deadline)
		{
			close(dirfd);
			snprintf(err, errlen, "the shim did not listen within %d s",
					 cfg.start_timeout);
			return -1;
		}
		{
			struct timespec ts = {0, nap};

			nanosleep(&ts, NULL);
			if (nap < 5000000)
				nap += nap / 2;
		}
	}
}

/* The CPUs of a function: half a CPU per 256 MiB (at least half a CPU, at
 * most the machine). */
static double
function_cpus(int memory_mb)
{
	long   ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	double cpus = memory_mb / 512.0;

	if (cpus < 0.5)
		cpus = 0.5;
	if (ncpu > 0 && cpus > ncpu)
		cpus = (double) ncpu;
	return cpus;
}

/* Start c (its spec and name set): podman run -d, then connect. */
static int
container_start(PGconn *conn, struct container *c, char *err, size_t errlen)
{
	char worker_id[UUID_LEN + 1];
	char pidfile[600], vol[700], tmpfs[64], pids[16], mem[32], cpus[32],
		l_inst[80], l_worker[80], l_fn[80], l_ver[80];
	const char			*args[64];
	int					 n = 0;
	struct podman_result r;
	FILE				*f;
	int					 pid = 0;
	bool				 rebuilt = false;

	worker_id_get(worker_id);
	snprintf(c->sock_dir, sizeof(c->sock_dir), "%s/%s", P.sock_root, c->name);
	snprintf(pidfile, sizeof(pidfile), "%s.pid", c->sock_dir);
	if (mkdir(c->sock_dir, 0700) != 0)
	{
		snprintf(err, errlen, "cannot create %s: %s", c->sock_dir,
				 strerror(errno));
		return -1;
	}
	if (write_env(conn, &c->spec, c->sock_dir, err, errlen) != 0)
		return -1;
	snprintf(vol, sizeof(vol), "%s:/run/cpub:rw,U,nosuid,nodev,noexec",
			 c->sock_dir);
	snprintf(tmpfs, sizeof(tmpfs), "/tmp:rw,nosuid,nodev,size=%dm,mode=1777",
			 cfg.tmpfs_mb);
	snprintf(pids, sizeof(pids), "%d", cfg.pids_limit);
	snprintf(mem, sizeof(mem), "%dm", c->spec.memory_mb);
	snprintf(cpus, sizeof(cpus), "%.2f", function_cpus(c->spec.memory_mb));
	snprintf(l_inst, sizeof(l_inst), "cpub.installation=%s", installation_id);
	snprintf(l_worker, sizeof(l_worker), "cpub.worker=%s", worker_id);
	snprintf(l_fn, sizeof(l_fn), "cpub.function=%s", c->spec.function_id);
	snprintf(l_ver, sizeof(l_ver), "cpub.version=%d", c->spec.version);
	args[n++] = "run";
	args[n++] = "--detach";
	args[n++] = "--name";
	args[n++] = c->name;
	args[n++] = "--pidfile";
	args[n++] = pidfile;
	args[n++] = "--pull=never";
	args[n++] = "--label";
	args[n++] = l_inst;
	args[n++] = "--label";
	args[n++] = l_worker;
	args[n++] = "--label";
	args[n++] = l_fn;
	args[n++] = "--label";
	args[n++] = l_ver;
	args[n++] = "--network=none";
	args[n++] = "--read-only";
	args[n++] = "--read-only-tmpfs=false";
	args[n++] = "--tmpfs";
	args[n++] = tmpfs;
	args[n++] = "--cap-drop=all";
	args[n++] = "--security-opt=no-new-privileges";
	/* With a size: without one, Podman 4.3.1 (Debian 12) measures the
	 * image for it, taking storage.lock inside layers.lock (the reverse of
	 * every other command's order), and concurrent podman run or rm then
	 * hang until killed (podman issue 16062).  65535 ids (0 to 65534, the
	 * user) is what it measured; with 65536, concurrent starts here failed
	 * now and then to mount the container's overlay (permission denied). */
	args[n++] = "--userns=auto:size=65535";
	args[n++] = "--user=65534:65534";
	args[n++] = "--pids-limit";
	args[n++] = pids;
	args[n++] = "--memory";
	args[n++] = mem;
	args[n++] = "--memory-swap";
	args[n++] = mem;
	args[n++] = "--cpus";
	args[n++] = cpus;
	args[n++] = "--hostname=function";
	/* A tiny init reaps what the function's children leave. */
	args[n++] = "--init";
	/* What the shim prints between requests, capped on the host. */
	args[n++] = "--log-driver=k8s-file";
	args[n++] = "--log-opt=max-size=1mb";
	args[n++] = "--volume";
	args[n++] = vol;
	args[n++] = c->spec.image;
	args[n] = NULL;
again:
	if (podman_run(args, NULL, cfg.start_timeout * 1000, 16384, &r) == 0 &&
		r.status != 0 && strstr(r.out, "image not known") != NULL && !rebuilt)
	{
		/* Built on another host: build it here, then start again. */
		podman_result_free(&r);
		rebuilt = true;
		if (build_local(conn, c->spec.version_id, err, errlen) != 0)
		{
			char copy[400];

			snprintf(copy, sizeof(copy), "%s", err);
			snprintf(err, errlen,
					 "its image is not on this host and could not be built "
					 "here: %s",
					 copy);
			return -1;
		}
		goto again;
	}
	if (r.status != 0)
	{
		char *o = r.out ? r.out : "";

		/* All of it on one line: the first line is not always the one
		 * that says why. */
		for (char *q = o; *q; q++)
			if (*q == '\n')
				*q = q[1] ? ' ' : '\0';
		snprintf(err, errlen, "podman run failed (%s%d): %s",
				 r.timed_out ? "timed out, " : "status ", r.status, o);
		podman_result_free(&r);
		return -1;
	}
	podman_result_free(&r);
	f = fopen(pidfile, "r");
	if (f != NULL)
	{
		if (fscanf(f, "%d", &pid) != 1)
			pid = 0;
		fclose(f);
	}
	c->pid = pid;
	if (pid > 0)
		find_cgroup(c, pid);
	c->fd = connect_shim(c, pid, err, errlen);
	return c->fd < 0 ? -1 : 0;
}

void
fn_spec_read(struct fn_spec *s, const PGresult *r, int first, int generation)
{
	memset(s, 0, sizeof(*s));
	snprintf(s->function_id, sizeof(s->function_id), "%s",
			 PQgetvalue(r, 0, first));
	snprintf(s->version_id, sizeof(s->version_id), "%s",
			 PQgetvalue(r, 0, first + 1));
	s->version = atoi(PQgetvalue(r, 0, first + 2));
	snprintf(s->runtime, sizeof(s->runtime), "%s",
			 PQgetvalue(r, 0, first + 3));
	snprintf(s->image, sizeof(s->image), "%s", PQgetvalue(r, 0, first + 4));
	s->memory_mb = atoi(PQgetvalue(r, 0, first + 5));
	s->timeout_seconds = atoi(PQgetvalue(r, 0, first + 6));
	s->max_concurrency = atoi(PQgetvalue(r, 0, first + 7));
	s->generation = atoll(PQgetvalue(r, 0, generation));
}

static bool
same_version(const struct container *c, const struct fn_spec *s)
{
	/* The memory too: a tier change caps it without a new generation. */
	return strcmp(c->spec.version_id, s->version_id) == 0 &&
		   c->spec.generation == s->generation &&
		   c->spec.memory_mb == s->memory_mb;
}

/* Retire what of the function can no longer serve spec's callers: an
 * older generation of any version (mutex held). */
static void
retire_stale(const struct fn_spec *s)
{
	struct container **pp = &P.list;

	while (*pp)
	{
		struct container *c = *pp;

		if (strcmp(c->spec.function_id, s->function_id) == 0 &&
			(c->spec.generation < s->generation ||
			 (c->spec.generation == s->generation &&
			  c->spec.memory_mb != s->memory_mb)))
		{
			c->retired = true;
			if (c->state == C_IDLE)
			{
				*pp = c->next;
				doom(c);
				continue;
			}
		}
		pp = &c->next;
	}
}

/* Drop one waiter of the function from P.waiting (mutex held). */
static void
forget_waiter(const char *function_id)
{
	for (int i = 0; i < P.nwaiting; i++)
		if (strcmp(P.waiting[i], function_id) == 0)
		{
			memcpy(P.waiting[i], P.waiting[--P.nwaiting], UUID_LEN + 1);
			return;
		}
}

/* Whether idle c's shim is gone (its stream closed or readable between
 * requests: either way it cannot serve). */
static bool
idle_dead(const struct container *c)
{
	struct pollfd p = {c->fd, POLLIN | POLLRDHUP, 0};

	return c->fd < 0 || poll(&p, 1, 0) != 0;
}

/* Record s as its function's active version, or forget the function when
 * s is NULL (mutex held).  Out of memory: no record (a container of an
 * old version then stays until it is idle_timeout idle). */
static void
active_set(const char *function_id, const struct fn_spec *s)
{
	struct active **pp = &P.active;

	while (*pp != NULL && strcmp((*pp)->function_id, function_id) != 0)
		pp = &(*pp)->next;
	if (s == NULL)
	{
		struct active *gone = *pp;

		if (gone != NULL)
		{
			*pp = gone->next;
			free(gone);
		}
		return;
	}
	if (*pp == NULL && (*pp = calloc(1, sizeof(**pp))) == NULL)
		return;
	snprintf((*pp)->function_id, sizeof((*pp)->function_id), "%s",
			 function_id);
	snprintf((*pp)->version_id, sizeof((*pp)->version_id), "%s",
			 s->version_id);
	(*pp)->generation = s->generation;
}

/* Whether s is of a version or generation its function no longer serves
 * (mutex held). */
static bool
superseded(const struct fn_spec *s)
{
	for (struct active *a = P.active; a != NULL; a = a->next)
		if (strcmp(a->function_id, s->function_id) == 0)
			return strcmp(a->version_id, s->version_id) != 0 ||
				   a->generation > s->generation;
	return false;
}

struct container *
pool_acquire(PGconn *conn, const struct fn_spec *spec, int wait_ms, bool *cold,
			 char *err, size_t errlen)
{
	double			  deadline = now_seconds() + wait_ms / 1000.0;
	struct container *c;
	bool			  waiting = false;

	*cold = false;
	err[0] = '\0';
	pthread_mutex_lock(&P.mu);
	for (;;)
	{
		int				  serving = 0;
		struct container *other_idle = NULL;
		struct container *dead = NULL;

		retire_stale(spec);
		for (c = P.list; c; c = c->next)
		{
			if (strcmp(c->spec.function_id, spec->function_id) != 0 ||
				c->retired)
				continue;
			if (c->state == C_IDLE && idle_dead(c))
			{
				dead = c;
				break;
			}
			if (same_version(c, spec) && c->state == C_IDLE)
				break;
			serving++;
			if (c->state == C_IDLE)
				other_idle = c;
		}
		if (dead != NULL)
		{
			/* Died while idle: nobody's request is blamed for it. */
			log_warning("container %s died while idle; replacing it",
						dead->name);
			dead->retired = true;
			unlink_container(dead);
			doom(dead);
			continue;
		}
		if (c != NULL)
		{
			c->state = C_BUSY;
			if (waiting)
				P.waiting_for--;
			pthread_mutex_unlock(&P.mu);
			return c;
		}
		if (serving >= spec->max_concurrency && other_idle != NULL)
		{
			/* An idle container of another version gives its place. */
			other_idle->retired = true;
			unlink_container(other_idle);
			doom(other_idle);
			continue;
		}
		if (serving < spec->max_concurrency)
			break;
		if (!waiting)
		{
			/* Slots waiting for one function are slots not serving the
			 * others: at most its concurrency of them wait. */
			int same = 0;

			for (int i = 0; i < P.nwaiting; i++)
				same += strcmp(P.waiting[i], spec->function_id) == 0;
			if (same >= spec->max_concurrency || P.nwaiting >= MAX_WAITING)
			{
				snprintf(err, errlen,
						 "the function is at its concurrency limit (%d)",
						 spec->max_concurrency);
				pthread_mutex_unlock(&P.mu);
				return NULL;
			}
			snprintf(P.waiting[P.nwaiting++], UUID_LEN + 1, "%s",
					 spec->function_id);
			waiting = true;
			P.waiting_for++;
		}
		if (atomic_load(&stopping) || now_seconds() >= deadline)
		{
			if (atomic_load(&stopping))
				snprintf(err, errlen, "stopping");
			else
				snprintf(err, errlen,
						 "all %d containers of the function stayed busy",
						 spec->max_concurrency);
			forget_waiter(spec->function_id);
			P.waiting_for--;
			pthread_mutex_unlock(&P.mu);
			return NULL;
		}
		{
			struct timespec ts;
			double			left = deadline - now_seconds();

			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += (time_t) left;
			ts.tv_nsec += (long) ((left - (long) left) * 1e9);
			if (ts.tv_nsec >= 1000000000L)
			{
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			pthread_cond_timedwait(&P.released, &P.mu, &ts);
		}
	}
	if (waiting)
	{
		forget_waiter(spec->function_id);
		P.waiting_for--;
	}

	/* Start a new one; its place is held while podman runs. */
	c = calloc(1, sizeof(*c));
	if (c == NULL)
	{
		pthread_mutex_unlock(&P.mu);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	{
		unsigned char rnd[4];

		randombytes_buf(rnd, sizeof(rnd));
		snprintf(c->name, sizeof(c->name), "cpub-%.8s-v%d-%02x%02x%02x%02x",
				 spec->function_id, spec->version, rnd[0], rnd[1], rnd[2],
				 rnd[3]);
	}
	c->spec = *spec;
	c->fd = -1;
	c->state = C_STARTING;
	/* Drained already (retire_function): serve this call, then go. */
	c->retired = superseded(spec);
	c->next = P.list;
	P.list = c;
	pthread_mutex_unlock(&P.mu);

	if (container_start(conn, c, err, errlen) != 0)
	{
		pthread_mutex_lock(&P.mu);
		unlink_container(c);
		doom(c);
		pthread_mutex_unlock(&P.mu);
		return NULL;
	}
	pthread_mutex_lock(&P.mu);
	c->state = C_BUSY;
	pthread_mutex_unlock(&P.mu);
	log_info("container %s started for %s v%d", c->name, spec->function_id,
			 spec->version);
	*cold = true;
	return c;
}

void
pool_release(struct container *c, bool healthy)
{
	pthread_mutex_lock(&P.mu);
	c->served++;
	if (!healthy || c->retired || atomic_load(&stopping))
	{
		unlink_container(c);
		doom(c);
	}
	else
	{
		c->state = C_IDLE;
		c->last_used = now_seconds();
		pthread_cond_broadcast(&P.released);
	}
	pthread_mutex_unlock(&P.mu);
}

void
pool_function_changed(const char *function_id)
{
	pthread_mutex_lock(&P.mu);
	if (function_id == NULL)
	{
		P.changed_all = true;
		pthread_cond_signal(&P.janitor);
		goto out;
	}
	for (int i = 0; i < P.nchanged; i++)
		if (strcmp(P.changed[i], function_id) == 0)
			goto out;
	if (P.nchanged < MAX_CHANGED)
		snprintf(P.changed[P.nchanged++], UUID_LEN + 1, "%s", function_id);
	else
		P.changed_all = true;
	pthread_cond_signal(&P.janitor);
out:
	pthread_mutex_unlock(&P.mu);
}

/* Retire the function's containers that do not match keep (NULL: all);
 * idle ones go to the janitor at once (mutex held). */
static void
retire_function(const char *function_id, const struct fn_spec *keep)
{
	struct container **pp = &P.list;

	while (*pp)
	{
		struct container *c = *pp;

		if (strcmp(c->spec.function_id, function_id) == 0 &&
			(keep == NULL || !same_version(c, keep)))
		{
			c->retired = true;
			if (c->state == C_IDLE)
			{
				*pp = c->next;
				doom(c);
				continue;
			}
		}
		pp = &c->next;
	}
}

void
pool_drain_function(const char *function_id)
{
	pthread_mutex_lock(&P.mu);
	retire_function(function_id, NULL);
	pthread_mutex_unlock(&P.mu);
}

/* A function changed: drain what no longer matches its active version
 * and pre-warm that one. */
static void
refresh_function(PGconn *conn, const char *function_id)
{
	const char	  *params[1] = {function_id};
	struct db_stmt stmt = {
		NULL,
		"SELECT function_id, version_id, version, runtime, image, memory_mb, "
		"timeout_seconds, max_concurrency, config_generation "
		"FROM cpub_worker.function_runtime($1)",
		1,
		params,
		NULL,
		NULL};
	struct db_error e;
	PGresult	   *r = db_exec(conn, &stmt, &e);
	struct fn_spec	s;
	int				have = 0, want;

	if (r == NULL)
	{
		log_warning("could not read function %s: %s", function_id, e.message);
		return;
	}
	if (PQntuples(r) == 0)
	{
		PQclear(r);
		pthread_mutex_lock(&P.mu);
		active_set(function_id, NULL);
		retire_function(function_id, NULL);
		pthread_mutex_unlock(&P.mu);
		return;
	}
	fn_spec_read(&s, r, 0, 8);
	PQclear(r);

	pthread_mutex_lock(&P.mu);
	active_set(function_id, &s);
	retire_function(function_id, &s);
	for (struct container *c = P.list; c; c = c->next)
		if (same_version(c, &s) && !c->retired)
			have++;
	pthread_mutex_unlock(&P.mu);
	want = cfg.prewarm < s.max_concurrency ? cfg.prewarm : s.max_concurrency;
	for (; have < want && !atomic_load(&stopping); have++)
	{
		bool			  cold;
		char			  err[512];
		struct container *c =
			pool_acquire(conn, &s, 0, &cold, err, sizeof(err));

		if (c == NULL)
		{
			log_warning("could not pre-warm %s v%d: %s", function_id,
						s.version, err);
			break;
		}
		pool_release(c, true);
	}
}

/* Every container idle past idle_timeout goes (mutex held). */
static void
reap_idle(void)
{
	double			   now = now_seconds();
	struct container **pp = &P.list;

	while (*pp)
	{
		struct container *c = *pp;

		if (c->state == C_IDLE && now - c->last_used > cfg.idle_timeout)
		{
			*pp = c->next;
			c->retired = true;
			doom(c);
			continue;
		}
		pp = &c->next;
	}
}

void *
janitor_main(void *arg)
{
	PGconn *conn = NULL;

	(void) arg;
	pthread_mutex_lock(&P.mu);
	for (;;)
	{
		struct container *doomed;
		char			  changed[MAX_CHANGED][UUID_LEN + 1];
		int				  nchanged;
		bool			  all;

		reap_idle();
		doomed = P.doomed;
		P.doomed = NULL;
		nchanged = P.nchanged;
		memcpy(changed, P.changed, sizeof(changed[0]) * (size_t) nchanged);
		P.nchanged = 0;
		all = P.changed_all;
		P.changed_all = false;
		if (all)
		{
			/* Too many changes at once: look at every function served. */
			nchanged = 0;
			for (struct container *c = P.list; c && nchanged < MAX_CHANGED;
				 c = c->next)
				snprintf(changed[nchanged++], UUID_LEN + 1, "%s",
						 c->spec.function_id);
		}
		if (doomed == NULL && nchanged == 0)
		{
			struct timespec ts;

			if (atomic_load(&stopping))
				break;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += 1;
			pthread_cond_timedwait(&P.janitor, &P.mu, &ts);
			continue;
		}
		pthread_mutex_unlock(&P.mu);
		remove_now(doomed);
		if (nchanged > 0 && !atomic_load(&stopping))
		{
			if (db_broken(conn))
			{
				PQfinish(conn);
				conn = db_connect(cfg.database, "cpub-worker janitor", NULL,
								  (volatile bool *) &stopping);
			}
			for (int i = 0; conn && i < nchanged; i++)
				refresh_function(conn, changed[i]);
		}
		pthread_mutex_lock(&P.mu);
	}
	pthread_mutex_unlock(&P.mu);
	PQfinish(conn);
	return NULL;
}

/* Whether a container of that name is in this process's pool (mutex
 * held). */
static bool
ours(const char *name)
{
	for (struct container *c = P.list; c; c = c->next)
		if (strcmp(c->name, name) == 0)
			return true;
	for (struct container *c = P.doomed; c; c = c->next)
		if (strcmp(c->name, name) == 0)
			return true;
	return false;
}

/* At startup: socket folders (and pid files) of containers that no longer
 * exist, which may hold a function's decrypted environment. */
static void
sweep_sock_dirs(const char *names)
{
	DIR			  *d = opendir(P.sock_root);
	struct dirent *e;

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL)
	{
		char   path[1024], base[256];
		size_t n;

		if (e->d_name[0] == '.')
			continue;
		snprintf(base, sizeof(base), "%s", e->d_name);
		n = strlen(base);
		if (n > 4 && strcmp(base + n - 4, ".pid") == 0)
			base[n - 4] = '\0';
		/* names: "\nNAME WORKER" lines. */
		{
			char key[300];

			snprintf(key, sizeof(key), "\n%s ", base);
			if (strstr(names, key) != NULL)
				continue;
		}
		snprintf(path, sizeof(path), "%s/%s", P.sock_root, e->d_name);
		if (e->d_type == DT_DIR)
			unpack_remove_tree(path);
		else
			unlink(path);
	}
	closedir(d);
}

void
pool_remove_orphans(PGconn *conn, bool startup)
{
	char		filter[80];
	const char *args[] = {
		"ps",	"--all",	"--filter",
		filter, "--format", "{{.Names}} {{index .Labels \"cpub.worker\"}}",
		NULL};
	char  *out = NULL;
	char  *ids = NULL;
	char  *names = NULL;
	size_t idlen = 0;
	FILE  *mem;

	snprintf(filter, sizeof(filter), "label=cpub.installation=%s",
			 installation_id);
	if (!podman_ok(args, 30000, false, &out) || out == NULL)
	{
		free(out);
		return;
	}
	if (asprintf(&names, "\n%s\n", out) < 0)
		names = NULL;
	if (startup && names != NULL)
		sweep_sock_dirs(names);
	free(names);
	if (!out[0])
	{
		free(out);
		return;
	}
	/* The worker ids, as a PostgreSQL array literal. */
	mem = open_memstream(&ids, &idlen);
	fputc('{', mem);
	{
		bool  first = true;
		char *save = NULL;
		char *copy = strdup(out);

		for (char *line = copy ? strtok_r(copy, "\n", &save) : NULL; line;
			 line = strtok_r(NULL, "\n", &save))
		{
			char *sp = strchr(line, ' ');

			if (sp && strlen(sp + 1) == UUID_LEN &&
				strspn(sp + 1, "0123456789abcdef-") == UUID_LEN)
			{
				fprintf(mem, "%s%s", first ? "" : ",", sp + 1);
				first = false;
			}
		}
		free(copy);
	}
	fputc('}', mem);
	fclose(mem);
	{
		const char	  *params[1] = {ids};
		struct db_stmt stmt = {
			NULL, "SELECT unnest(cpub_worker.workers_running($1::uuid[]))",
			1,	  params,
			NULL, NULL};
		struct db_error	  e;
		PGresult		 *r = db_exec(conn, &stmt, &e);
		char			 *save = NULL;
		struct container *gone = NULL;

		if (r == NULL)
		{
			log_warning("could not check the workers of old containers: %s",
						e.message);
			goto done;
		}
		pthread_mutex_lock(&P.mu);
		for (char *line = strtok_r(out, "\n", &save); line;
			 line = strtok_r(NULL, "\n", &save))
		{
			char			 *sp = strchr(line, ' ');
			bool			  alive = false;
			struct container *c;

			if (sp == NULL)
				continue;
			*sp = '\0';
			for (int i = 0; i < PQntuples(r); i++)
				if (strcmp(PQgetvalue(r, i, 0), sp + 1) == 0)
					alive = true;
			if (alive || ours(line) || (c = calloc(1, sizeof(*c))) == NULL)
				continue;
			snprintf(c->name, sizeof(c->name), "%s", line);
			snprintf(c->sock_dir, sizeof(c->sock_dir), "%s/%s", P.sock_root,
					 line);
			c->fd = -1;
			c->next = gone;
			gone = c;
			log_info("removing container %s of a worker that is gone", line);
		}
		pthread_mutex_unlock(&P.mu);
		PQclear(r);
		remove_now(gone);
	}
done:
	free(ids);
	free(out);
}

void
pool_shutdown(void)
{
	struct container *all;

	pthread_mutex_lock(&P.mu);
	while (P.active != NULL)
	{
		struct active *next = P.active->next;

		free(P.active);
		P.active = next;
	}
	for (struct container *c = P.list; c; c = c->next)
		c->retired = true;
	all = P.list;
	P.list = NULL;
	/* The doomed ones too (the janitor has stopped). */
	if (P.doomed)
	{
		struct container *t = P.doomed;

		while (t->next)
			t = t->next;
		t->next = all;
		all = P.doomed;
		P.doomed = NULL;
	}
	pthread_mutex_unlock(&P.mu);
	remove_now(all);
}

void
pool_wake_all(void)
{
	pthread_mutex_lock(&P.mu);
	pthread_cond_broadcast(&P.released);
	pthread_cond_broadcast(&P.janitor);
	pthread_mutex_unlock(&P.mu);
}

void
pool_retire_all(void)
{
	struct container **pp = &P.list;

	pthread_mutex_lock(&P.mu);
	while (*pp)
	{
		struct container *c = *pp;

		c->retired = true;
		if (c->state == C_IDLE)
		{
			*pp = c->next;
			doom(c);
			continue;
		}
		pp = &c->next;
	}
	pthread_mutex_unlock(&P.mu);
}

void
container_kill(struct container *c)
{
	/* The container's init: its whole pid namespace goes with it. */
	if (c->pid > 0)
		kill(c->pid, SIGKILL);
}

void
pool_counts(int *running, int *warm)
{
	*running = *warm = 0;
	pthread_mutex_lock(&P.mu);
	for (struct container *c = P.list; c; c = c->next)
	{
		if (c->state == C_IDLE)
			(*warm)++;
		else
			(*running)++;
	}
	pthread_mutex_unlock(&P.mu);
}
