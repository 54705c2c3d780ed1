/*
 * worker/src/pool.h
 *	  The warm pool: long-lived containers, each serving one request at a
 *	  time on a unix socket, kept per version (and configuration
 *	  generation) of a function, grown on demand up to the function's
 *	  concurrency, reaped when idle, drained when the active version
 *	  changes.
 */
#ifndef WORKER_POOL_H
#define WORKER_POOL_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

#include "worker.h"

/* What a container runs and with which limits. */
struct fn_spec
{
	char	  function_id[UUID_LEN + 1];
	char	  version_id[UUID_LEN + 1];
	int		  version;
	char	  runtime[32];
	char	  image[256];
	int		  memory_mb;
	int		  timeout_seconds;
	int		  max_concurrency;
	long long generation;
};

struct container
{
	struct container *next;
	char			  name[80];
	struct fn_spec	  spec;
	int				  fd; /* connected to the shim, non-blocking */
	char			  sock_dir[512];
	char			  mem_cgroup[512]; /* memory cgroup folder, or "" */
	bool			  cgroup_v2;
	enum
	{
		C_STARTING,
		C_IDLE,
		C_BUSY
	} state;
	bool	 retired; /* remove when released */
	int		 pid;	  /* its init on the host, 0 unknown */
	int		 removal_tries;
	double	 last_used;
	unsigned served;
};

extern int pool_init(void);

/* fn_spec_read: a spec from row 0 of r: function_id, version_id, version,
 * runtime, image, memory_mb, timeout_seconds, max_concurrency in that order
 * from column first, and the configuration generation at column
 * generation. */
extern void fn_spec_read(struct fn_spec *s, const PGresult *r, int first,
						 int generation);

/*
 * pool_acquire: a container of spec for one request: an idle warm one, or
 * a new one (*cold set) when fewer than spec->max_concurrency serve the
 * function, or the first released within wait_ms (at most the function's
 * concurrency of slots wait for one function; more are refused at once).
 * conn (the caller's) reads the function's environment for a new
 * container.  NULL with err filled when none could be had; err is
 * "stopping" when the worker is stopping.
 */
extern struct container *pool_acquire(PGconn *conn, const struct fn_spec *spec,
									  int wait_ms, bool *cold, char *err,
									  size_t errlen);

/* pool_release: gives c back; healthy false (or c retired) removes it. */
extern void pool_release(struct container *c, bool healthy);

/* pool_function_changed: a cpub_versions notification: the janitor
 * drains what no longer serves and pre-warms the active version (NULL:
 * every function served, after notifications may have been missed). */
extern void pool_function_changed(const char *function_id);

/* pool_drain_function: every container of the function is removed (a
 * deleted function's cleanup job). */
extern void pool_drain_function(const char *function_id);

/* The janitor thread. */
extern void *janitor_main(void *arg);

/* pool_remove_orphans: removes this installation's containers whose
 * worker is no longer running (found by label), never this process's
 * own; at startup also the socket folders under state_dir that no
 * container uses. */
extern void pool_remove_orphans(PGconn *conn, bool startup);

/* pool_wake_all: slots waiting for a container look again (stop). */
extern void pool_wake_all(void);

/* pool_retire_all: every container goes once idle (this worker registered
 * again: they carry its old id). */
extern void pool_retire_all(void);

/* container_kill: SIGKILL to the container's init now (a timeout); the
 * container is then removed as usual. */
extern void container_kill(struct container *c);

/* pool_shutdown: removes every container (after the slots stopped). */
extern void pool_shutdown(void);

/* pool_counts: the containers now, as the heartbeat reports them:
 * *running those serving a call or starting for one, *warm the idle ones
 * waiting for a call (those being removed are neither). */
extern void pool_counts(int *running, int *warm);

/* Memory accounting of a container's cgroup: reset the peak before a
 * request; the peak (KiB, -1 unknown) and OOM kills so far after it. */
extern void container_mem_reset(struct container *c);
extern long container_mem_peak_kb(struct container *c);
extern long container_oom_kills(struct container *c);

/* container_exit_state: after the container died: whether the kernel's
 * OOM killer ended it, and its exit code (podman inspect). */
extern bool container_oom_killed(struct container *c, int *exit_code);

#endif
