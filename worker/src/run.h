/*
 * worker/src/run.h
 *	  Run slots: threads that claim run jobs and serve each execution in a
 *	  warm container (run.c).
 */
#ifndef WORKER_RUN_H
#define WORKER_RUN_H

extern void *run_main(void *arg);

#endif
