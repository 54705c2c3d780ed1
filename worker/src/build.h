/*
 * worker/src/build.h
 *	  Build slots: threads that claim build, cleanup and maintenance jobs
 *	  (build.c).
 */
#ifndef WORKER_BUILD_H
#define WORKER_BUILD_H

extern void *build_main(void *arg);

#endif
