/*
 * worker/src/podman.c
 *	  Running podman (podman.h): posix_spawn with an argv, a pipe for the
 *	  output read under poll with the deadline, then waitpid.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "podman.h"

extern char **environ;

static const char *podman_program = "podman";
static char		  *podman_conf_env; /* "CONTAINERS_CONF=..." or NULL */

void
podman_init(const char *program, const char *containers_conf)
{
	podman_program = program;
	free(podman_conf_env);
	podman_conf_env = NULL;
	if (containers_conf != NULL &&
		asprintf(&podman_conf_env, "CONTAINERS_CONF=%s", containers_conf) < 0)
		podman_conf_env = NULL;
}

static long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* The child's environment: ours without CONTAINERS_CONF, then ours, then
 * env.  Caller frees the array (not the strings). */
static char **
child_env(const char *const *env)
{
	size_t n = 0, extra = 0, k = 0;
	char **out;

	while (environ[n])
		n++;
	while (env && env[extra])
		extra++;
	out = calloc(n + extra + 2, sizeof(char *));
	if (out == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "CONTAINERS_CONF=", 16) != 0)
			out[k++] = environ[i];
	if (podman_conf_env)
		out[k++] = podman_conf_env;
	for (size_t i = 0; i < extra; i++)
		out[k++] = (char *) env[i];
	out[k] = NULL;
	return out;
}

/* Keep the last cap bytes of the output in r. */
static void
append_out(struct podman_result *r, size_t cap, const char *buf, size_t n)
{
	if (n >= cap)
	{
		buf += n - cap;
		n = cap;
		r->out_len = 0;
		r->truncated = true;
	}
	else if (r->out_len + n > cap)
	{
		size_t drop = r->out_len + n - cap;

		memmove(r->out, r->out + drop, r->out_len - drop);
		r->out_len -= drop;
		r->truncated = true;
	}
	memcpy(r->out + r->out_len, buf, n);
	r->out_len += n;
	r->out[r->out_len] = '\0';
}

int
podman_run(const char *const *args, const char *const *env, int timeout_ms,
		   size_t cap, struct podman_result *r)
{
	return podman_run_watched(args, env, timeout_ms, cap, r, NULL, NULL);
}

int
podman_run_watched(const char *const *args, const char *const *env,
				   int timeout_ms, size_t cap, struct podman_result *r,
				   void (*watch)(void *arg, const struct podman_result *r),
				   void *arg)
{
	size_t					   nargs = 0;
	char					 **argv;
	char					 **envp;
	int						   pipefd[2];
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t		   attr;
	sigset_t				   none;
	pid_t					   pid;
	int						   rc, wstatus;
	long deadline = timeout_ms > 0 ? now_ms() + timeout_ms : 0;
	bool termed = false;

	memset(r, 0, sizeof(*r));
	r->status = -1;
	r->out = malloc(cap + 1);
	if (r->out == NULL)
		return -1;
	r->out[0] = '\0';
	while (args[nargs])
		nargs++;
	argv = calloc(nargs + 2, sizeof(char *));
	envp = child_env(env);
	if (argv == NULL || envp == NULL || pipe2(pipefd, O_CLOEXEC) != 0)
	{
		free(argv);
		free(envp);
		append_out(r, cap, "out of memory or file descriptors", 33);
		return -1;
	}
	argv[0] = (char *) podman_program;
	for (size_t i = 0; i < nargs; i++)
		argv[i + 1] = (char *) args[i];

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
	posix_spawn_file_actions_adddup2(&fa, pipefd[1], 2);
	posix_spawnattr_init(&attr);
	sigemptyset(&none);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setflags(&attr,
							 POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	{
		sigset_t def;

		sigemptyset(&def);
		sigaddset(&def, SIGPIPE);
		sigaddset(&def, SIGTERM);
		sigaddset(&def, SIGINT);
		posix_spawnattr_setsigdefault(&attr, &def);
	}
	rc = posix_spawnp(&pid, podman_program, &fa, &attr, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	close(pipefd[1]);
	free(argv);
	free(envp);
	if (rc != 0)
	{
		char msg[256];
		int n = snprintf(msg, sizeof(msg), "cannot run %s: %s", podman_program,
						 strerror(rc));

		close(pipefd[0]);
		append_out(r, cap, msg, (size_t) n);
		return -1;
	}

	for (;;)
	{
		struct pollfd p = {pipefd[0], POLLIN, 0};
		int			  wait_ms = -1;
		char		  buf[8192];
		ssize_t		  n;

		if (deadline)
		{
			long left = deadline - now_ms();

			if (left <= 0)
			{
				r->timed_out = true;
				kill(pid, termed ? SIGKILL : SIGTERM);
				/* SIGKILL 5 s after SIGTERM. */
				deadline = termed ? 0 : now_ms() + 5000;
				termed = true;
				continue;
			}
			wait_ms = (int) left;
		}
		if (poll(&p, 1, wait_ms) < 0 && errno != EINTR)
			break;
		if (!(p.revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		n = read(pipefd[0], buf, sizeof(buf));
		if (n > 0)
		{
			append_out(r, cap, buf, (size_t) n);
			if (watch)
				watch(arg, r);
		}
		else if (n == 0 || (errno != EINTR && errno != EAGAIN))
			break;
	}
	close(pipefd[0]);
	while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(wstatus))
		r->status = WEXITSTATUS(wstatus);
	else if (WIFSIGNALED(wstatus))
		r->status = 128 + WTERMSIG(wstatus);
	return 0;
}

void
podman_result_free(struct podman_result *r)
{
	free(r->out);
	r->out = NULL;
}

bool
podman_ok(const char *const *args, int timeout_ms, bool quiet, char **out)
{
	struct podman_result r;
	bool				 ok =
		podman_run(args, NULL, timeout_ms, 65536, &r) == 0 && r.status == 0;

	/* Trim the trailing newline. */
	while (r.out && r.out_len > 0 &&
		   (r.out[r.out_len - 1] == '\n' || r.out[r.out_len - 1] == ' '))
		r.out[--r.out_len] = '\0';
	if (!ok && !quiet)
		log_warning("podman %s failed (%s%d): %s", args[0],
					r.timed_out ? "timed out, " : "status ", r.status,
					r.out ? r.out : "");
	if (out != NULL)
	{
		*out = r.out;
		r.out = NULL;
	}
	podman_result_free(&r);
	return ok;
}
