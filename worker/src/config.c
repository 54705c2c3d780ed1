/*
 * worker/src/config.c
 *	  The worker's settings: one row each, read by httpd/src/settings.c
 *	  (defaults, file, CPUB_WORKER_* variables, options).
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "settings.h"

#define WORKER_VERSION "0.1"

#define S(key, type, def, min, max, help)                                     \
	SETTING(config, key, type, def, min, max, help)

static const struct setting SETTINGS[] = {
	S(database, SETTING_STRING, "dbname=containerpub user=cpub_worker", 0, 0,
	  "libpq connection string; the role must be cpub_worker"),
	S(run_slots, SETTING_INT, "0", 0, 1024,
	  "invocations served at once (a thread and a connection each); "
	  "0: eight per CPU, at most 32"),
	S(build_slots, SETTING_INT, "1", 1, 64, "builds at once"),
	S(state_dir, SETTING_STRING, "/var/lib/cpub-worker", 0, 0,
	  "folder for container sockets and build folders (made 0700)"),
	S(share_dir, SETTING_STRING, NULL, 0, 0,
	  "folder holding shim/ and runtimes/ (default: the program's own "
	  "folder)"),
	S(podman, SETTING_STRING, "podman", 0, 0, "the podman program"),
	S(containers_conf, SETTING_STRING, NULL, 0, 0,
	  "CONTAINERS_CONF for every podman call (default: the environment's)"),
	S(image_prefix, SETTING_STRING, "localhost/cpub", 0, 0,
	  "where the base images are (make images)"),
	S(function_images, SETTING_STRING, "localhost/cpub-fn", 0, 0,
	  "repository of the functions' images (tag: function id and version)"),
	S(idle_timeout, SETTING_INT, "300", 1, 86400,
	  "seconds a warm container may stay idle before it is removed"),
	S(prewarm, SETTING_INT, "1", 0, 64,
	  "containers started when a version becomes active"),
	S(start_timeout, SETTING_INT, "20", 1, 600,
	  "seconds a new container has to open its socket"),
	S(build_timeout, SETTING_INT, "600", 10, 86400,
	  "seconds a build may take"),
	S(build_memory_mb, SETTING_INT, "1024", 64, 1048576,
	  "memory of a build, MiB"),
	S(build_cpus, SETTING_INT, "1", 1, 1024, "CPUs of a build"),
	S(pids_limit, SETTING_INT, "64", 8, 65536,
	  "processes (and threads) in a function's container"),
	S(tmpfs_mb, SETTING_INT, "16", 1, 4096,
	  "size of the writable /tmp of a function's container, MiB"),
	S(max_body_kb, SETTING_LONG, "6144", 1, 1048576,
	  "largest response body a function may send, KiB"),
	S(heartbeat, SETTING_INT, "10", 1, 3600,
	  "seconds between heartbeats (keep under worker_timeout / 2)"),
	SETTING_ONE_OF(config, log_format, "json", "json|text",
				   "log format: json or text"),
	S(host, SETTING_STRING, NULL, 0, 0,
	  "the host name this worker registers with (default: gethostname)"),
};

static const struct settings_spec SPEC = {
	.program = "cpub-worker",
	.version = WORKER_VERSION,
	.env_prefix = "CPUB_WORKER_",
	.about = "The worker of ContainerPub: builds deployed functions into "
			 "images and runs\ntheir invocations in Podman containers.",
	.table = SETTINGS,
	.n = sizeof(SETTINGS) / sizeof(SETTINGS[0]),
	.size = sizeof(struct config),
};

/* The folder of this program, for the share_dir default. */
static char *
program_dir(void)
{
	char	path[PATH_MAX];
	char   *slash;
	ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 1);

	if (n <= 0)
		return strdup(".");
	path[n] = '\0';
	slash = strrchr(path, '/');
	if (slash != NULL)
		*slash = '\0';
	return strdup(path);
}

int
config_load(struct config *cfg, int argc, char **argv)
{
	int rc;

	rc = settings_load(&SPEC, cfg, argc, argv);
	if (rc != 0)
		return rc;
	if (cfg->run_slots == 0)
	{
		long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

		/* A slot mostly waits on its container or the database. */
		cfg->run_slots = ncpu > 0 && ncpu < 4 ? (int) ncpu * 8 : 32;
	}
	if (cfg->share_dir == NULL)
		cfg->share_dir = program_dir();
	if (cfg->containers_conf == NULL && getenv("CONTAINERS_CONF") != NULL)
		cfg->containers_conf = strdup(getenv("CONTAINERS_CONF"));
	if (cfg->host == NULL)
	{
		char name[256] = "";

		gethostname(name, sizeof(name) - 1);
		cfg->host = strdup(name[0] ? name : "localhost");
	}
	if (cfg->share_dir == NULL || cfg->host == NULL)
	{
		fprintf(stderr, "cpub-worker: out of memory\n");
		return -1;
	}
	return 0;
}

void
config_free(struct config *cfg)
{
	settings_free(&SPEC, cfg);
}
