/*
 * worker/src/main.c
 *	  cpub-worker: registers with the database, starts the run slots, the
 *	  build slots and the janitor, then listens: cpub_jobs wakes a slot of
 *	  the job's class, cpub_versions tells the pool a function changed.
 *	  It heartbeats (extending its leases), schedules maintenance, and on
 *	  SIGTERM or SIGINT stops claiming, lets each slot finish and report
 *	  what it holds, removes its containers and deregisters.  A second
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
#include <sys/signalfd.h>
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

static struct
{
	pthread_mutex_t mu;
	pthread_cond_t	cv[JOBS_NCLASSES];
	int				pending[JOBS_NCLASSES];
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

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L)
	{
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&J.mu);
	while (J.pending[cls] == 0 && !atomic_load(&stopping))
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
		J.pending[cls] = 0;
		pthread_cond_broadcast(&J.cv[cls]);
	}
	else
	{
		/* A wake-up is kept until a slot takes it, so one that comes
		 * while every slot is busy is not lost. */
		if (J.pending[cls] < 1024)
			J.pending[cls]++;
		pthread_cond_signal(&J.cv[cls]);
	}
	pthread_mutex_unlock(&J.mu);
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

static void
heartbeat(PGconn *conn)
{
	char			id[UUID_LEN + 1];
	const char	   *p[1] = {id};
	struct db_error e;
	PGresult	   *r;

	worker_id_get(id);
	r = main_exec(conn, "SELECT cpub_worker.worker_heartbeat($1)", 1, p, &e);
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
	PQclear(r);
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

/* Wait for thread t to end, heartbeating when due meanwhile (*next_beat,
 * on now_seconds' clock): a slot may be finishing a long call or build,
 * and a worker silent for worker_timeout is declared dead, the jobs it
 * holds taken back and done again by another. */
static void
join_beating(pthread_t t, PGconn *conn, double *next_beat)
{
	if (conn == NULL)
	{
		pthread_join(t, NULL);
		return;
	}
	for (;;)
	{
		double			left = *next_beat - now_seconds();
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		if (left > 0)
		{
			ts.tv_sec += (time_t) left;
			ts.tv_nsec += (long) ((left - (double) (time_t) left) * 1e9);
			if (ts.tv_nsec >= 1000000000L)
			{
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
		}
		if (pthread_timedjoin_np(t, NULL, &ts) != ETIMEDOUT)
			return;
		heartbeat(conn);
		*next_beat = now_seconds() + cfg.heartbeat;
	}
}

/* During the shutdown: a second SIGTERM or SIGINT exits at once. */
static void *
second_signal(void *arg)
{
	struct signalfd_siginfo si;

	if (read(*(int *) arg, &si, sizeof(si)) == sizeof(si))
	{
		log_warning("signal %u again: exiting without finishing (a later "
					"worker takes the jobs back)",
					si.ssi_signo);
		_exit(1);
	}
	return NULL;
}

int
main(int argc, char **argv)
{
	int				rc = config_load(&cfg, argc, argv);
	sigset_t		sigs;
	int				sigfd;
	PGconn		   *conn;
	pthread_t	   *runs, *builds, janitor;
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
	if (pool_init() != 0)
		return 1;
	/* conmon leaves files (oom) in the folder podman runs in. */
	if (chdir(cfg.state_dir) != 0)
	{
		log_error("cannot enter %s: %m", cfg.state_dir);
		return 1;
	}

	/* Signals arrive on a descriptor of the main loop; every thread
	 * started below inherits the mask. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	sigfd = signalfd(-1, &sigs, SFD_CLOEXEC);

	conn = main_connect();
	if (conn == NULL || register_worker(conn) != 0)
		return 1;
	pool_remove_orphans(conn);

	runs = calloc((size_t) cfg.run_slots, sizeof(pthread_t));
	builds = calloc((size_t) cfg.build_slots, sizeof(pthread_t));
	pthread_create(&janitor, NULL, janitor_main, NULL);
	for (int i = 0; i < cfg.run_slots; i++)
		pthread_create(&runs[i], NULL, run_main, NULL);
	for (int i = 0; i < cfg.build_slots; i++)
		pthread_create(&builds[i], NULL, build_main, NULL);
	log_info("worker ready: %d run slots, %d build slots, installation %s, "
			 "podman %s%s%s",
			 cfg.run_slots, cfg.build_slots, installation_id, cfg.podman,
			 cfg.containers_conf ? " with CONTAINERS_CONF " : "",
			 cfg.containers_conf ? cfg.containers_conf : "");
	/* Jobs queued before we listened. */
	jobs_notify(JOBS_RUN, true);
	jobs_notify(JOBS_BUILD, true);

	while (!atomic_load(&stopping))
	{
		struct pollfd p[2] = {{PQsocket(conn), POLLIN, 0}, {sigfd, POLLIN, 0}};

		if (poll(p, 2, 1000) < 0 && errno != EINTR)
			break;
		if (p[1].revents & POLLIN)
		{
			struct signalfd_siginfo si;

			if (read(sigfd, &si, sizeof(si)) == sizeof(si))
				log_info("signal %u: stopping (finishing what is in hand)",
						 si.ssi_signo);
			atomic_store(&stopping, true);
			break;
		}
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
			next_beat = 0;
		}
		if (atomic_load(&must_register))
		{
			register_worker(conn);
			next_beat = 0;
		}
		if (now_seconds() >= next_beat)
		{
			heartbeat(conn);
			next_beat = now_seconds() + cfg.heartbeat;
		}
	}

	atomic_store(&stopping, true);
	jobs_notify(JOBS_RUN, true);
	jobs_notify(JOBS_BUILD, true);
	/* A second signal: leave now. */
	{
		pthread_t watch;

		pthread_create(&watch, NULL, second_signal, &sigfd);
		pthread_detach(watch);
	}
	for (int i = 0; i < cfg.run_slots; i++)
		join_beating(runs[i], conn, &next_beat);
	for (int i = 0; i < cfg.build_slots; i++)
		join_beating(builds[i], conn, &next_beat);
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
	config_free(&cfg);
	return 0;
}
