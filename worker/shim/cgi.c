/*
 * worker/shim/cgi.c
 *	  cpub-cgi, the shell runtime's shim: the C runtime's serve loop
 *	  (shim.c) around a handler that runs a script per request, CGI-style
 *	  (a subset of RFC 3875; docs/shim-protocol.md, "The shell runtime"):
 *
 *		cpub-cgi [--socket PATH] PROGRAM [ARG...]
 *
 *	  Per request it starts PROGRAM (posix_spawn, no shell of ours) in a
 *	  process group of its own, with the request in its environment
 *	  (REQUEST_METHOD, PATH_INFO, QUERY_STRING, CONTENT_LENGTH,
 *	  CONTENT_TYPE, HTTP_<NAME>) on top of the container's, and the body on
 *	  its stdin.  Its stdout is a CGI response: header lines, an empty
 *	  line, the body.  Its stderr is fd 2 of the shim, so it lands in the
 *	  request's logs with everything else.
 *
 *	  One poll loop writes the body (a script need not read it), reads
 *	  stdout and watches for the script's exit (a pidfd).  Once the script
 *	  has exited, its process group is killed (background children must not
 *	  outlive the request or hold its pipes), the script is reaped, and what
 *	  is left in the stdout pipe is read without waiting.
 *
 *	  Failures the platform must see as failed executions come back as a
 *	  500 with the reserved header x-cpub-error (crash, out_of_memory,
 *	  bad_response) and the message as the body; the worker turns them
 *	  into the execution's error.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* pipe2, pidfd_open */
#endif

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/pidfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "shim.h"

extern char **environ;

/* The script's stdout buffer: kept between requests up to this size. */
#define OUT_KEEP (1024 * 1024)

/* Without a pidfd (kernels before 5.3), how often to look for the exit. */
#define EXIT_POLL_MS 10

static char **program;			  /* PROGRAM and its arguments */
static char	  oom_path[PATH_MAX]; /* a file with an "oom_kill N" line */

/* The script's output, and the most it may be. */
struct output
{
	char  *buf;
	size_t len;
	size_t cap;
	size_t max;
	bool   overflow; /* over max, or nomem: the script was killed */
	bool   nomem;
};

static struct output out;

/* The environment of one run: pointers into environ and strings of ours. */
struct env
{
	char **vars; /* NULL-terminated */
	size_t n;
	size_t cap;
	char **owned; /* what to free */
	size_t nowned;
};

/*
 * The out-of-memory counter.  When the kernel's OOM killer kills the
 * script, the script dies of SIGKILL and the memory cgroup's oom_kill
 * counter goes up: that tells an OOM kill from any other SIGKILL.
 */

/* oom_try: whether path has an "oom_kill N" line; if so it is the one. */
static bool
oom_try(const char *path)
{
	FILE *f = fopen(path, "r");
	char  line[256];
	bool  found = false;

	if (f == NULL)
		return false;
	while (!found && fgets(line, sizeof(line), f) != NULL)
		found = strncmp(line, "oom_kill ", 9) == 0;
	fclose(f);
	if (found)
		snprintf(oom_path, sizeof(oom_path), "%s", path);
	return found;
}

/*
 * oom_locate: finds the counter of this process's memory cgroup:
 * $CPUB_OOM_FILE when set; else memory.events (cgroup v2) or
 * memory.oom_control (v1), under the path /proc/self/cgroup names (the
 * host's view) or at the root of /sys/fs/cgroup (a container's view of its
 * own cgroup).  None found: every SIGKILL is a crash.
 */
static void
oom_locate(void)
{
	const char *env = getenv("CPUB_OOM_FILE");
	FILE	   *f;
	char		line[PATH_MAX];
	char		path[PATH_MAX + 64];

	oom_path[0] = '\0';
	if (env != NULL && env[0] != '\0')
	{
		snprintf(oom_path, sizeof(oom_path), "%s", env);
		return;
	}
	f = fopen("/proc/self/cgroup", "r");
	while (f != NULL && fgets(line, sizeof(line), f) != NULL)
	{
		char *cg;

		line[strcspn(line, "\n")] = '\0';
		if ((cg = strstr(line, ":memory:/")) != NULL)
		{
			snprintf(path, sizeof(path),
					 "/sys/fs/cgroup/memory%s/memory.oom_control", cg + 8);
			if (oom_try(path))
				break;
		}
		else if (strncmp(line, "0::/", 4) == 0)
		{
			snprintf(path, sizeof(path), "/sys/fs/cgroup%s/memory.events",
					 line + 3);
			if (oom_try(path))
				break;
		}
	}
	if (f != NULL)
		fclose(f);
	if (oom_path[0] == '\0' &&
		!oom_try("/sys/fs/cgroup/memory/memory.oom_control"))
		(void) oom_try("/sys/fs/cgroup/memory.events");
}

/* oom_count: the counter now, or -1 when unknown. */
static long long
oom_count(void)
{
	FILE	 *f;
	char	  line[256];
	long long n = -1;

	if (oom_path[0] == '\0' || (f = fopen(oom_path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, "oom_kill ", 9) == 0)
		{
			n = strtoll(line + 9, NULL, 10);
			break;
		}
	fclose(f);
	return n;
}

/*
 * The environment.
 */

/* env_push: appends var (owned when own); 0 or -1 (ENOMEM). */
static int
env_push(struct env *e, char *var, bool own)
{
	if (own)
	{
		char **grown = realloc(e->owned, (e->nowned + 1) * sizeof(char *));

		if (grown == NULL)
		{
			free(var);
			return -1;
		}
		e->owned = grown;
		e->owned[e->nowned++] = var;
	}
	if (e->n + 2 > e->cap)
	{
		size_t ncap = e->cap ? e->cap * 2 : 64;
		char **grown = realloc(e->vars, ncap * sizeof(char *));

		if (grown == NULL)
			return -1;
		e->vars = grown;
		e->cap = ncap;
	}
	e->vars[e->n++] = var;
	e->vars[e->n] = NULL;
	return 0;
}

/* env_set: appends "name=value" (value of len bytes, cut at a NUL). */
static int
env_set(struct env *e, const char *name, const char *value, size_t len)
{
	size_t nl = strlen(name);
	char  *var = malloc(nl + 1 + len + 1);

	if (var == NULL)
		return -1;
	memcpy(var, name, nl);
	var[nl] = '=';
	memcpy(var + nl + 1, value, len);
	var[nl + 1 + len] = '\0';
	return env_push(e, var, true);
}

static void
env_free(struct env *e)
{
	for (size_t i = 0; i < e->nowned; i++)
		free(e->owned[i]);
	free(e->owned);
	free(e->vars);
	memset(e, 0, sizeof(*e));
}

/* Variables the request sets: the container's own of these names go. */
static bool
env_is_ours(const char *var)
{
	static const char *const OURS[] = {
		"REQUEST_METHOD=",	"PATH_INFO=",	 "QUERY_STRING=",
		"CONTENT_LENGTH=",	"CONTENT_TYPE=", "GATEWAY_INTERFACE=",
		"SERVER_PROTOCOL=", "HTTP_",
	};

	for (size_t i = 0; i < sizeof(OURS) / sizeof(OURS[0]); i++)
		if (strncmp(var, OURS[i], strlen(OURS[i])) == 0)
			return true;
	return false;
}

/*
 * http_name: the variable for a header name: "HTTP_" and the name
 * upper-cased with '-' as '_', into buf.  False for a name with other
 * characters than letters, digits, '-' and '_', and for the headers that
 * have variables of their own (Content-Type, Content-Length) or must not
 * have one (Proxy: "httpoxy", a request header becoming HTTP_PROXY).
 */
static bool
http_name(const char *name, size_t len, char *buf, size_t size)
{
	if (len == 0 || len + 6 > size || strcasecmp(name, "content-type") == 0 ||
		strcasecmp(name, "content-length") == 0 ||
		strcasecmp(name, "proxy") == 0)
		return false;
	memcpy(buf, "HTTP_", 5);
	for (size_t i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) name[i];

		if (c == '-')
			c = '_';
		else if (!isalnum(c) && c != '_')
			return false;
		buf[5 + i] = (char) toupper(c);
	}
	buf[5 + len] = '\0';
	return true;
}

/*
 * env_build: the script's environment for req.  Repeated headers are
 * joined with ", ".  0 or -1 (ENOMEM; e is then freed).
 */
static int
env_build(struct env *e, const struct cpub_request *req)
{
	char		len[32];
	const char *ctype = cpub_request_header(req, "content-type");
	size_t		first_http;

	memset(e, 0, sizeof(*e));
	for (char **v = environ; *v != NULL; v++)
		if (!env_is_ours(*v) && env_push(e, *v, false) != 0)
			goto fail;
	snprintf(len, sizeof(len), "%zu", req->body_len);
	if (env_set(e, "GATEWAY_INTERFACE", "CGI/1.1", 7) != 0 ||
		env_set(e, "SERVER_PROTOCOL", "HTTP/1.1", 8) != 0 ||
		env_set(e, "REQUEST_METHOD", req->method, strlen(req->method)) != 0 ||
		env_set(e, "PATH_INFO", req->path, strlen(req->path)) != 0 ||
		env_set(e, "QUERY_STRING", req->query, strlen(req->query)) != 0 ||
		env_set(e, "CONTENT_LENGTH", len, strlen(len)) != 0 ||
		env_set(e, "CONTENT_TYPE", ctype ? ctype : "",
				ctype ? strlen(ctype) : 0) != 0)
		goto fail;

	first_http = e->n;
	for (size_t i = 0; i < req->nheaders; i++)
	{
		const struct cpub_header *h = &req->headers[i];
		char					  name[256];
		size_t					  nl;
		bool					  joined = false;

		if (!http_name(h->name, h->name_len, name, sizeof(name)))
			continue;
		nl = strlen(name);
		for (size_t j = first_http; j < e->n; j++)
		{
			char  *old = e->vars[j];
			size_t ol;
			char  *var;

			if (strncmp(old, name, nl) != 0 || old[nl] != '=')
				continue;
			ol = strlen(old);
			var = malloc(ol + 2 + h->value_len + 1);
			if (var == NULL)
				goto fail;
			memcpy(var, old, ol);
			memcpy(var + ol, ", ", 2);
			memcpy(var + ol + 2, h->value, h->value_len);
			var[ol + 2 + h->value_len] = '\0';
			/* The old string is in owned too: freed at the end. */
			if (env_push(e, var, true) != 0)
				goto fail;
			e->vars[j] = var;
			e->vars[--e->n] = NULL; /* env_push's slot */
			joined = true;
			break;
		}
		if (!joined && env_set(e, name, h->value, h->value_len) != 0)
			goto fail;
	}
	return 0;

fail:
	env_free(e);
	return -1;
}

/*
 * Running the script.
 */

/* cgi_fail: turns res into a failed execution of kind with a message,
 * also logged. */
static int cgi_fail(struct cpub_response *res, const char *kind,
					const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int
cgi_fail(struct cpub_response *res, const char *kind, const char *fmt, ...)
{
	char	msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	cpub_log("cpub-cgi: %s", msg);
	cpub_response_reset(res);
	cpub_response_set_status(res, 500);
	cpub_response_set_header(res, "x-cpub-error", kind);
	cpub_response_set_header(res, "content-type", "text/plain; charset=utf-8");
	cpub_response_write(res, msg, strlen(msg));
	return 0;
}

/* out_read: reads what fd has into out; false at end of file or error. */
static bool
out_read(int fd, pid_t pgid)
{
	char	skip[4096];
	ssize_t n;

	for (;;)
	{
		if (!out.overflow && out.len == out.cap)
		{
			size_t ncap = out.cap ? out.cap * 2 : 16384;
			char  *grown;

			if (ncap > out.max + 1)
				ncap = out.max + 1;
			grown = realloc(out.buf, ncap);
			if (grown == NULL)
			{
				out.nomem = true;
				out.overflow = true;
				kill(-pgid, SIGKILL);
			}
			else
			{
				out.buf = grown;
				out.cap = ncap;
			}
		}
		if (out.overflow)
			n = read(fd, skip, sizeof(skip));
		else
			n = read(fd, out.buf + out.len, out.cap - out.len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK;
		if (n == 0)
			return false;
		if (out.overflow)
			continue;
		out.len += (size_t) n;
		if (out.len > out.max)
		{
			/* No response can carry this: stop the script now. */
			out.overflow = true;
			kill(-pgid, SIGKILL);
		}
	}
}

/*
 * run: starts the script for req and waits for its exit, feeding it the
 * body and collecting its stdout into out.  *status gets the wait status.
 * Returns 0, or an errno when the script could not be started.
 */
static int
run(const struct cpub_request *req, int *status)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t		   attr;
	sigset_t				   set;
	struct env				   env;
	int						   in[2] = {-1, -1}, outp[2] = {-1, -1};
	int						   pidfd = -1;
	size_t					   sent = 0;
	pid_t					   pid;
	int						   rc;

	out.len = 0;
	out.overflow = false;
	out.nomem = false;
	if (env_build(&env, req) != 0)
		return ENOMEM;
	if (pipe2(in, O_CLOEXEC) != 0 || pipe2(outp, O_CLOEXEC) != 0)
	{
		rc = errno;
		env_free(&env);
		for (int i = 0; i < 2; i++)
			if (in[i] >= 0)
				close(in[i]);
		return rc;
	}

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in[0], STDIN_FILENO);
	posix_spawn_file_actions_adddup2(&fa, outp[1], STDOUT_FILENO);
	posix_spawnattr_init(&attr);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP |
										POSIX_SPAWN_SETSIGDEF |
										POSIX_SPAWN_SETSIGMASK);
	posix_spawnattr_setpgroup(&attr, 0);
	sigemptyset(&set);
	posix_spawnattr_setsigmask(&attr, &set);
	sigaddset(&set, SIGPIPE); /* ignored here */
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	posix_spawnattr_setsigdefault(&attr, &set);
	rc = posix_spawn(&pid, program[0], &fa, &attr, program, env.vars);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	env_free(&env);
	close(in[0]);
	close(outp[1]);
	if (rc != 0)
	{
		close(in[1]);
		close(outp[0]);
		return rc;
	}

	fcntl(in[1], F_SETFL, O_NONBLOCK);
	fcntl(outp[0], F_SETFL, O_NONBLOCK);
	if (req->body_len == 0)
	{
		close(in[1]);
		in[1] = -1;
	}
	pidfd = pidfd_open(pid, 0);

	for (;;)
	{
		struct pollfd p[3];
		int			  np = 0, iout = -1, iin = -1, ipid = -1;
		siginfo_t	  si;
		bool		  exited;

		if (outp[0] >= 0)
		{
			iout = np;
			p[np++] = (struct pollfd){.fd = outp[0], .events = POLLIN};
		}
		if (in[1] >= 0)
		{
			iin = np;
			p[np++] = (struct pollfd){.fd = in[1], .events = POLLOUT};
		}
		if (pidfd >= 0)
		{
			ipid = np;
			p[np++] = (struct pollfd){.fd = pidfd, .events = POLLIN};
		}
		if (poll(p, (nfds_t) np, pidfd >= 0 ? -1 : EXIT_POLL_MS) < 0 &&
			errno != EINTR)
		{
			shim_report("poll failed: %s", strerror(errno));
			kill(-pid, SIGKILL);
			break;
		}
		if (iout >= 0 && p[iout].revents != 0 && !out_read(outp[0], pid))
		{
			close(outp[0]);
			outp[0] = -1;
		}
		if (iin >= 0 && p[iin].revents != 0)
		{
			ssize_t n = write(in[1], req->body + sent, req->body_len - sent);

			if (n > 0)
				sent += (size_t) n;
			/* All sent, or the script closed its stdin: EOF for it. */
			if (sent == req->body_len ||
				(n < 0 && errno != EAGAIN && errno != EINTR))
			{
				close(in[1]);
				in[1] = -1;
			}
		}
		/* Exited?  (Not reaped yet: its pid, and group, stay ours.) */
		if (ipid >= 0)
			exited = p[ipid].revents != 0;
		else
		{
			memset(&si, 0, sizeof(si));
			exited = waitid(P_PID, (id_t) pid, &si,
							WEXITED | WNOHANG | WNOWAIT) == 0 &&
					 si.si_pid == pid;
		}
		if (exited)
			break;
	}

	kill(-pid, SIGKILL); /* what the script left running */
	while (waitpid(pid, status, 0) < 0 && errno == EINTR)
		;
	if (pidfd >= 0)
		close(pidfd);
	if (in[1] >= 0)
		close(in[1]);
	if (outp[0] >= 0)
	{
		(void) out_read(outp[0], pid);
		close(outp[0]);
	}
	return 0;
}

/*
 * parse: the CGI response in out into res.  Returns NULL, or why out is
 * not a CGI response (a static phrase, or msg).
 */
static const char *
parse(struct cpub_response *res, char *msg, size_t msgsize)
{
	const struct frame_limits *l = res->limits;
	char					  *p = out.buf, *end = out.buf + out.len;
	size_t					   nheaders = 0, header_bytes = 0;
	int						   status = 0;
	bool					   location = false;

	if (out.len == 0)
		return "the script wrote nothing to stdout";
	for (;;)
	{
		char *nl = memchr(p, '\n', (size_t) (end - p));
		char *line = p, *lend, *colon, *v;

		if (nl == NULL)
			return "the script's output has no CGI header block (header "
				   "lines, then an empty line)";
		lend = nl > p && nl[-1] == '\r' ? nl - 1 : nl;
		p = nl + 1;
		if (lend == line)
			break; /* the empty line: the body follows */
		*lend = '\0';
		colon = memchr(line, ':', (size_t) (lend - line));
		if (colon == NULL)
		{
			snprintf(msg, msgsize,
					 "the script's output has no CGI header block: \"%.60s\" "
					 "is not a header line",
					 line);
			return msg;
		}
		*colon = '\0';
		for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
			;
		while (lend > v && (lend[-1] == ' ' || lend[-1] == '\t'))
			*--lend = '\0';
		if (!cpub_header_ok(line, v))
		{
			snprintf(msg, msgsize,
					 "the script's CGI header \"%.60s\" has a bad name or "
					 "value",
					 line);
			return msg;
		}
		if (strcasecmp(line, "status") == 0)
		{
			if (!isdigit((unsigned char) v[0]) ||
				!isdigit((unsigned char) v[1]) ||
				!isdigit((unsigned char) v[2]) ||
				(v[3] != '\0' && v[3] != ' ') || (status = atoi(v)) < 100 ||
				status > 599)
			{
				snprintf(msg, msgsize,
						 "the script's Status \"%.60s\" is not a status "
						 "from 100 to 599",
						 v);
				return msg;
			}
			continue;
		}
		if (strcasecmp(line, "location") == 0)
			location = true;
		nheaders++;
		header_bytes += strlen(line) + strlen(v);
		if (nheaders > l->max_headers || header_bytes > l->max_header_bytes)
			return "the script's response headers are over the limits";
		if (cpub_response_add_header(res, line, v) != 0)
			return "out of memory for the script's response headers";
	}
	if ((size_t) (end - p) > l->max_body)
	{
		snprintf(msg, msgsize,
				 "the script's response body is over the size limit (%zu "
				 "bytes, at most %u)",
				 (size_t) (end - p), l->max_body);
		return msg;
	}
	if (status == 0)
		status = location ? 302 : 200;
	cpub_response_set_status(res, status);
	if (cpub_response_write(res, p, (size_t) (end - p)) != 0)
		return "out of memory for the script's response body";
	return NULL;
}

/* cgi_handle: one request (the serve loop's handler). */
static int
cgi_handle(const struct cpub_request *req, struct cpub_response *res)
{
	char		msg[256];
	const char *bad;
	long long	oom_before = oom_count();
	int			status = 0;
	int			rc;

	rc = run(req, &status);
	if (rc != 0)
		return cgi_fail(res, "crash", "could not run %s: %s", program[0],
						strerror(rc));
	if (out.nomem)
		return cgi_fail(res, "crash",
						"out of memory for the script's output (%zu bytes)",
						out.len);
	if (out.overflow)
		return cgi_fail(res, "bad_response",
						"the script's output is over the size limit (%zu "
						"bytes)",
						out.max);
	if (WIFSIGNALED(status))
	{
		int		  sig = WTERMSIG(status);
		long long oom_after = sig == SIGKILL ? oom_count() : -1;

		return cgi_fail(res,
						oom_before >= 0 && oom_after > oom_before
							? "out_of_memory"
							: "crash",
						"killed by signal %d", sig);
	}
	bad = parse(res, msg, sizeof(msg));
	if (bad != NULL)
	{
		if (WEXITSTATUS(status) != 0)
			return cgi_fail(res, "bad_response", "%s (exit status %d)", bad,
							WEXITSTATUS(status));
		return cgi_fail(res, "bad_response", "%s", bad);
	}
	if (WEXITSTATUS(status) != 0)
		cpub_log("cpub-cgi: exit status %d", WEXITSTATUS(status));

	/* Keep a big buffer of a big response for one request only. */
	if (out.cap > OUT_KEEP)
	{
		free(out.buf);
		out.buf = NULL;
		out.cap = 0;
	}
	return 0;
}

static void
usage(FILE *f, const char *argv0)
{
	fprintf(f,
			"usage: %s [--socket PATH] PROGRAM [ARG...]\n"
			"Serves a ContainerPub shell function: runs PROGRAM per request "
			"as a CGI script.\n"
			"The socket: PATH, else $CPUB_SOCKET, else %s.\n",
			argv0, SHIM_DEFAULT_SOCKET);
}

int
main(int argc, char **argv)
{
	struct shim_options o;
	const char		   *sock = NULL;
	int					i = 1;

	if (argc > 1 &&
		(strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0))
	{
		usage(stdout, argv[0]);
		return 0;
	}
	if (argc > 2 && strcmp(argv[1], "--socket") == 0)
	{
		sock = argv[2];
		i = 3;
	}
	if (i >= argc || argv[i][0] == '-')
	{
		usage(stderr, argv[0]);
		return 2;
	}
	program = argv + i;
	if (shim_options_load(&o, 1, argv) != 0)
		return 2;
	if (sock != NULL)
		o.socket_path = sock;
	{
		/* Room for the biggest response and its CGI header lines. */
		unsigned long long max = (unsigned long long) o.limits.max_body +
								 o.limits.max_header_bytes +
								 4ULL * (o.limits.max_headers + 2) + 1024;

		out.max = max > SIZE_MAX / 2 ? SIZE_MAX / 2 : (size_t) max;
	}
	oom_locate();
	if (shim_init(&o) != 0)
		return 1;
	/* A script that does not read its stdin must not kill the shim. */
	signal(SIGPIPE, SIG_IGN);
	return shim_run(&o, cgi_handle) == 0 ? 0 : 1;
}
