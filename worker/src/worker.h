/*
 * worker/src/worker.h
 *	  What the worker's threads share: the settings, the worker's identity
 *	  in the database, the stop flag and the wake-ups for new jobs.
 *
 *	  Threads (main.c starts them):
 *	  - main: LISTEN cpub_jobs and cpub_versions, heartbeats, maintenance
 *	    scheduling, signals;
 *	  - run slots (run.c): claim run jobs and serve them in warm
 *	    containers, one at a time each;
 *	  - build slots (build.c): claim build, cleanup and maintenance jobs;
 *	  - the janitor (pool.c): removes containers, reaps idle ones,
 *	    pre-warms a version that became active.
 */
#ifndef WORKER_WORKER_H
#define WORKER_WORKER_H

#include <stdatomic.h>
#include <stdbool.h>

#include "config.h"

#define UUID_LEN 36

enum job_class
{
	JOBS_RUN,
	JOBS_BUILD, /* build, cleanup, maintenance */
	JOBS_NCLASSES
};

extern struct config cfg;
extern atomic_bool	 stopping; /* SIGTERM: claim no more */
extern char			 installation_id[UUID_LEN + 1];

/* The worker's id; it changes when the worker registers again (after
 * 55Q05). */
extern void worker_id_get(char out[UUID_LEN + 1]);

/* worker_stopped: a call answered 55Q05 (this worker was declared dead):
 * the main thread registers again. */
extern void worker_stopped(void);

/* jobs_wait: waits up to ms for a notification of this class (or stop);
 * jobs_notify: wakes one waiter of that class (all when all). */
extern void jobs_wait(enum job_class cls, int ms);
extern void jobs_notify(enum job_class cls, bool all);

/*
 * The jobs in hand, one per slot (run slots first, then build slots):
 * in_hand_set records the job a slot works on (0: none).  A job the
 * database says this worker holds but no slot has in hand in two
 * heartbeats running (a claim whose answer was lost) is given back.
 */
extern void in_hand_set(int slot, long long job_id);

/* slot_exited: a slot thread's last call (the main thread heartbeats
 * until every slot has exited). */
extern void slot_exited(void);

/* Seconds since some fixed point (CLOCK_MONOTONIC). */
extern double now_seconds(void);

#endif
