/*
 * worker/src/config.h
 *	  The worker's settings: defaults, a "key = value" file, environment
 *	  variables CPUB_WORKER_<KEY> and command-line options, in that order
 *	  of precedence (later wins; httpd/src/settings.c reads them).
 */
#ifndef WORKER_CONFIG_H
#define WORKER_CONFIG_H

#include <stdio.h>

struct config
{
	char *database;		   /* libpq connection string, role cpub_worker */
	int	  run_slots;	   /* invocations at once (threads, connections) */
	int	  build_slots;	   /* builds at once */
	char *state_dir;	   /* sockets, build folders: root-only */
	char *share_dir;	   /* the shims and runtime files */
	char *podman;		   /* the podman program */
	char *containers_conf; /* CONTAINERS_CONF for every podman call */
	char *image_prefix;	   /* the base images: <prefix>/shell-base ... */
	char *function_images; /* repository of built functions */
	int	  idle_timeout;	   /* seconds an idle warm container lives */
	int	  prewarm;		   /* containers started when a version activates */
	int	  start_timeout;   /* seconds a container has to open its socket */
	int	  build_timeout;   /* seconds a build may take */
	int	  build_memory_mb; /* memory of a build container */
	int	  build_cpus;	   /* CPUs of a build container */
	int	  pids_limit;	   /* processes in a function's container */
	int	  tmpfs_mb;		   /* size of a function's /tmp */
	long  max_body_kb;	   /* largest response body */
	int	  heartbeat;	   /* seconds between heartbeats */
	char *log_format;	   /* json or text */
	char *host;			   /* the name this worker registers with */
};

extern int	config_load(struct config *cfg, int argc, char **argv);
extern void config_free(struct config *cfg);

#endif
