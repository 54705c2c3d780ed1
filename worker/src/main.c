/*
 * worker/src/main.c
 *	  cpub-worker: registers with the database, starts the run slots, the
 *	  build slots and the janitor, then listens: cpub_jobs wakes a slot of
 *	  the job's class, cpub_versions tells the pool a function changed.
 *	  It heartbeats (extending its leases, reporting its containers),
 *	  schedules maintenance, and on SIGTERM or SIGINT stops claiming, lets
 *	  each slot finish and report what it holds, removes its containers
 *	  and deregisters.  A second
 *	  signal exits at once (a later worker takes the jobs back and removes
 *	  the containers).
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "build.h"
#include "config.h"
#include "db.h"
#include "log.h"
#include "podman.h"
#include "pool.h"
#include "run.h"
#include "worker.h"

#define WORKER_VERSION "0.1"

struct config cfg;
atomic_bool	  stopping;
char		  installation_id[UUID_LEN + 1];

static pthread_mutex_t id_mu = PTHREAD_MUTEX_INITIALIZER;
static char			   worker_id[UUID_LEN + 1];
static atomic_bool	   must_register;

static atomic_llong *in_hand; /* per slot */
static int			 nslots;
static atomic_int	 slots_alive;

static struct
{
	pthread_mutex_t mu;
	pthread_cond_t	cv[JOBS_NCLASSES];
	int				pending[JOBS_NCLASSES];
	unsigned		generation[JOBS_NCLASSES]; /* bumped by a broadcast */
} J = {
	.mu = PTHREAD_MUTEX_INITIALIZER,
	.cv = {PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER},
};

double
now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double) ts.tv_sec + ts.tv_nsec / 1e9;
}

void
worker_id_get(char out[UUID_LEN + 1])
{
	pthread_mutex_lock(&id_mu);
	memcpy(out, worker_id, UUID_LEN + 1);
	pthread_mutex_unlock(&id_mu);
}

void
worker_stopped(void)
{
	atomic_store(&must_register, true);
}

void
jobs_wait(enum job_class cls, int ms)
{
	struct timespec ts;
	unsigned		gen;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L)
	{
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&J.mu);
	gen = J.generation[cls];
	while (J.pending[cls] == 0 && J.generation[cls] == gen &&
		   !atomic_load(&stopping))
		if (pthread_cond_timedwait(&J.cv[cls], &J.mu, &ts) == ETIMEDOUT)
			break;
	if (J.pending[cls] > 0)
		J.pending[cls]--;
	pthread_mutex_unlock(&J.mu);
}

void
jobs_notify(enum job_class cls, bool all)
{
	pthread_mutex_lock(&J.mu);
	if (all)
	{
		/* Every waiter looks again, once. */
		J.generation[cls]++;
		pthread_cond_broadcast(&J.cv[cls]);
	}
	else
	{
		/* A wake-up is kept until a slot takes it, so one that comes
		 * while every slot is busy is not lost (a few at most: a busy
		 * slot claims again as soon as it is done anyway). */
		if (J.pending[cls] < 64)
			J.pending[cls]++;
		pthread_cond_signal(&J.cv[cls]);
	}
	pthread_mutex_unlock(&J.mu);
}

void
in_hand_set(int slot, long long job_id)
{
	if (slot >= 0 && slot < nslots)
		atomic_store(&in_hand[slot], job_id);
}

void
slot_exited(void)
{
	atomic_fetch_sub(&slots_alive, 1);
}

/* Wake every thread that may be waiting (stop, re-register). */
static void
wake_all(void)
{
	jobs_notify(JOBS_RUN, true);
	jobs_notify(JOBS_BUILD, true);
	pool_wake_all();
}

/* One statement on the main connection; NULL with *e on failure. */
static PGresult *
main_exec(PGconn *conn, const char *sql, int n, const char *const *params,
		  struct db_error *e)
{
	struct db_stmt s = {NULL, sql, n, params, NULL, NULL};

	return db_exec(conn, &s, e);
}

static int
register_worker(PGconn *conn)
{
	char			pid[16];
	const char	   *p[3] = {cfg.host, pid, WORKER_VERSION};
	struct db_error e;
	PGresult	   *r;

	snprintf(pid, sizeof(pid), "%d", (int) getpid());
	r = main_exec(conn,
				  "SELECT cpub_worker.worker_register(host => $1, pid => $2, "
				  "capabilities => '{build,run,cleanup,maintenance}', "
				  "version => $3)",
				  3, p, &e);
	if (r == NULL)
	{
		log_error("could not register: %s (%s)", e.message, e.sqlstate);
		return -1;
	}
	pthread_mutex_lock(&id_mu);
	snprintf(worker_id, sizeof(worker_id), "%s", PQgetvalue(r, 0, 0));
	pthread_mutex_unlock(&id_mu);
	PQclear(r);
	atomic_store(&must_register, false);
	log_info("registered as worker %s (host %s, pid %s)", worker_id, cfg.host,
			 pid);
	return 0;
}

/* Connect the main connection: installation id, LISTEN. */
static PGconn *
main_connect(void)
{
	PGconn		   *conn;
	struct db_error e;
	PGresult	   *r;

	for (;;)
	{
		conn = db_connect(cfg.database, "cpub-worker", NULL,
						  (volatile bool *) &stopping);
		if (conn == NULL)
			return NULL;
		r = main_exec(conn, "SELECT cpub_worker.installation_id()", 0, NULL,
					  &e);
		if (r != NULL)
		{
			snprintf(installation_id, sizeof(installation_id), "%s",
					 PQgetvalue(r, 0, 0));
			PQclear(r);
			r = main_exec(conn, "LISTEN cpub_jobs", 0, NULL, &e);
		}
		if (r != NULL)
		{
			PQclear(r);
			r = main_exec(conn, "LISTEN cpub_versions", 0, NULL, &e);
		}
		if (r != NULL)
		{
			PQclear(r);
			return conn;
		}
		log_error("database: %s (%s)", e.message, e.sqlstate);
		PQfinish(conn);
		if (!db_is(&e, ""))
			return NULL; /* not a connection problem: give up */
	}
}

/* Give back the jobs the database says we hold but no slot has in hand,
 * twice running (a claim whose answer was lost). */
static void
release_strays(PGconn *conn, PGresult *held)
{
	static long long seen[256];
	static int		 nseen;
	long long		 now_seen[256];
	int				 n = 0;
	char			 id[UUID_LEN + 1];

	worker_id_get(id);
	for (int i = 0; i < PQntuples(held) && n < 256; i++)
	{
		long long job = atoll(PQgetvalue(held, i, 0));
		bool	  mine = false;

		for (int k = 0; k < nslots && !mine; k++)
			mine = atomic_load(&in_hand[k]) == job;
		if (mine)
			continue;
		for (int k = 0; k < nseen; k++)
			if (seen[k] == job)
			{
				char			jobtext[24];
				const char	   *p[3] = {id, jobtext, NULL};
				struct db_error e;
				PGresult	   *r;

				snprintf(jobtext, sizeof(jobtext), "%lld", job);
				r = main_exec(
					conn,
					"SELECT cpub_worker.job_fail(worker_id => $1, id => $2, "
					"error => 'the worker lost track of it', retry => true)",
					2, p, &e);
				if (r == NULL)
					log_warning("could not give back job %s: %s", jobtext,
								e.message);
				else
					log_warning(
						"job %s was held but not worked on: given back",
						jobtext);
				PQclear(r);
				job = 0;
				break;
			}
		if (job != 0)
			now_seen[n++] = job;
	}
	memcpy(seen, now_seen, sizeof(now_seen[0]) * (size_t) n);
	nseen = n;
}

/*
 * heartbeat: tells the database this worker is alive, with the containers
 * it runs now (pool_counts), and gives back the jobs it holds that no slot
 * works on; then schedules maintenance.  Failures are logged; 55Q05 or
 * P0002 (declared stopped) make the main loop register again.
 */
static void
heartbeat(PGconn *conn)
{
	char			id[UUID_LEN + 1];
	char			running[16], warm[16];
	const char	   *p[3] = {id, running, warm};
	int				nrunning, nwarm;
	struct db_error e;
	PGresult	   *r;

	worker_id_get(id);
	pool_counts(&nrunning, &nwarm);
	snprintf(running, sizeof(running), "%d", nrunning);
	snprintf(warm, sizeof(warm), "%d", nwarm);
	r = main_exec(conn,
				  "SELECT unnest(cpub_worker.worker_heartbeat("
				  "worker_id => $1, running_containers => $2, "
				  "warm_containers => $3))",
				  3, p, &e);
	if (r == NULL)
	{
		if (db_is(&e, "55Q05") || db_is(&e, "P0002"))
		{
			log_warning("this worker was declared stopped (%s): registering "
						"again",
						e.message);
			worker_stopped();
		}
		else
			log_warning("heartbeat failed: %s (%s)", e.message, e.sqlstate);
		return;
	}
	release_strays(conn, r);
	PQclear(r);
	if (atomic_load(&stopping))
		return;
	r = main_exec(conn, "SELECT cpub_worker.maintenance_schedule()", 0, NULL,
				  &e);
	if (r == NULL)
		log_warning("maintenance_schedule failed: %s", e.message);
	PQclear(r);
}

static void
drain_notifications(PGconn *conn)
{
	PGnotify *n;

	PQconsumeInput(conn);
	while ((n = PQnotifies(conn)) != NULL)
	{
		if (strcmp(n->relname, "cpub_jobs") == 0)
		{
			if (strcmp(n->extra, "run") == 0)
				jobs_notify(JOBS_RUN, false);
			else
				jobs_notify(JOBS_BUILD, false);
		}
		else if (strcmp(n->relname, "cpub_versions") == 0 &&
				 strlen(n->extra) == UUID_LEN)
			pool_function_changed(n->extra);
		PQfreemem(n);
	}
}

/* Signals: the first SIGTERM or SIGINT stops the worker (claim nothing
 * more, finish what is in hand); a second exits at once (a later worker
 * takes the jobs back and removes the containers). */
static void *
signal_main(void *arg)
{
	sigset_t *sigs = arg;
	int		  sig;

	double first = 0;

	for (int n = 0;; n++)
	{
		if (sigwait(sigs, &sig) != 0)
			continue;
		/* timeout(1) and some supervisors signal the process and its
		 * group: a second signal within a second is the same request. */
		if (n > 0 && now_seconds() - first < 1.0)
			continue;
		if (n > 0)
		{
			log_warning("signal %d again: exiting without finishing", sig);
			_exit(1);
		}
		first = now_seconds();
		log_info("signal %d: stopping (finishing what is in hand)", sig);
		atomic_store(&stopping, true);
		wake_all();
	}
	return NULL;
}

/* Only one worker at a time uses a state_dir: it sweeps what a killed one
 * left there.  The lock lives as long as the process. */
static int
lock_state_dir(void)
{
	char path[600];
	int	 fd;

	snprintf(path, sizeof(path), "%s/lock", cfg.state_dir);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) != 0)
	{
		log_error("%s is in use by another worker (%s): give each worker "
				  "its own state_dir",
				  cfg.state_dir, fd < 0 ? strerror(errno) : "locked");
		return -1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	int				rc = config_load(&cfg, argc, argv);
	sigset_t		sigs;
	PGconn		   *conn;
	pthread_t	   *runs, *builds, janitor, signals;
	int			   *slot_ids;
	double			next_beat = 0;
	char			id[UUID_LEN + 1];
	struct db_error e;

	if (rc != 0)
		return rc > 0 ? 0 : 2;
	log_init(strcmp(cfg.log_format, "json") == 0);
	if (sodium_init() < 0)
	{
		log_error("libsodium failed to start");
		return 1;
	}
	podman_init(cfg.podman, cfg.containers_conf);
	if (pool_init() != 0 || lock_state_dir() != 0)
		return 1;
	/* conmon leaves files (oom) in the folder podman runs in. */
	if (chdir(cfg.state_dir) != 0)
	{
		log_error("cannot enter %s: %m", cfg.state_dir);
		return 1;
	}
	build_sweep();

	/* Signals go to their own thread; every thread inherits the mask. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	pthread_create(&signals, NULL, signal_main, &sigs);
	pthread_detach(signals);

	conn = main_connect();
	if (conn == NULL || register_worker(conn) != 0)
		return atomic_load(&stopping) ? 0 : 1;
	pool_remove_orphans(conn, true);

	nslots = cfg.run_slots + cfg.build_slots;
	in_hand = calloc((size_t) nslots, sizeof(*in_hand));
	slot_ids = calloc((size_t) nslots, sizeof(int));
	runs = calloc((size_t) cfg.run_slots, sizeof(pthread_t));
	builds = calloc((size_t) cfg.build_slots, sizeof(pthread_t));
	if (in_hand == NULL || slot_ids == NULL || runs == NULL || builds == NULL)
	{
		log_error("out of memory");
		return 1;
	}
	atomic_store(&slots_alive, nslots);
	pthread_create(&janitor, NULL, janitor_main, NULL);
	for (int i = 0; i < nslots; i++)
	{
		slot_ids[i] = i;
		if (i < cfg.run_slots)
			pthread_create(&runs[i], NULL, run_main, &slot_ids[i]);
		else
			pthread_create(&builds[i - cfg.run_slots], NULL, build_main,
						   &slot_ids[i]);
	}
	log_info("worker ready: %d run slots, %d build slots, installation %s, "
			 "podman %s%s%s",
			 cfg.run_slots, cfg.build_slots, installation_id, cfg.podman,
			 cfg.containers_conf ? " with CONTAINERS_CONF " : "",
			 cfg.containers_conf ? cfg.containers_conf : "");
	/* Jobs queued before we listened. */
	jobs_notify(JOBS_RUN, true);
	jobs_notify(JOBS_BUILD, true);

	/* Until every slot has exited: after SIGTERM the slots finish what
	 * they hold, and the heartbeats keep its leases meanwhile. */
	while (atomic_load(&slots_alive) > 0)
	{
		struct pollfd p = {PQsocket(conn), POLLIN, 0};

		if (poll(&p, 1, 200) < 0 && errno != EINTR)
			break;
		drain_notifications(conn);
		if (db_broken(conn))
		{
			log_warning("lost the database connection; reconnecting");
			PQfinish(conn);
			conn = main_connect();
			if (conn == NULL)
				break;
			/* Whatever was notified meanwhile: look again. */
			jobs_notify(JOBS_RUN, true);
			jobs_notify(JOBS_BUILD, true);
			pool_function_changed(NULL);
			next_beat = 0;
		}
		if (atomic_load(&must_register) && !atomic_load(&stopping))
		{
			/* Our jobs were taken back and our containers are labelled
			 * with the old id: they go, and the slots start over. */
			if (register_worker(conn) == 0)
				pool_retire_all();
			wake_all();
			next_beat = 0;
		}
		if (now_seconds() >= next_beat)
		{
			heartbeat(conn);
			drain_notifications(conn);
			next_beat = now_seconds() + cfg.heartbeat;
		}
	}

	atomic_store(&stopping, true);
	wake_all();
	for (int i = 0; i < cfg.run_slots; i++)
		pthread_join(runs[i], NULL);
	for (int i = 0; i < cfg.build_slots; i++)
		pthread_join(builds[i], NULL);
	pthread_join(janitor, NULL);
	pool_shutdown();
	worker_id_get(id);
	{
		const char *p[1] = {id};
		PGresult   *r =
			  conn ? main_exec(conn, "SELECT cpub_worker.worker_deregister($1)",
							   1, p, &e)
				   : NULL;

		if (r == NULL && conn)
			log_warning("could not deregister: %s", e.message);
		PQclear(r);
	}
	log_info("worker %s stopped", id);
	PQfinish(conn);
	free(runs);
	free(builds);
	free(in_hand);
	free(slot_ids);
	config_free(&cfg);
	return 0;
}
