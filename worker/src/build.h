/*
 * worker/src/build.h
 *	  Build slots: threads that claim build, cleanup and maintenance jobs
 *	  (build.c).
 */
#ifndef WORKER_BUILD_H
#define WORKER_BUILD_H

#include <libpq-fe.h>
#include <stddef.h>

extern void *build_main(void *arg);

/* build_sweep: at start, removes the build folders under state_dir (left
 * by a worker that was killed). */
extern void build_sweep(void);

/* build_local: builds a ready version's image on this host from its
 * archive (cpub_worker.version_archive), for a worker that lacks it
 * (several hosts, no registry).  0, or -1 with err. */
extern int build_local(PGconn *conn, const char *version_id, char *err,
					   size_t errlen);

#endif
