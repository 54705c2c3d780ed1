/*
 * worker/shim/shim.c
 *	  The C runtime's shim: the serve loop linked into every C function.
 *	  It listens on a unix socket bind-mounted from the host, takes one
 *	  connection at a time, reads request frames (docs/shim-protocol.md),
 *	  calls the developer's cpub_handle and writes response frames.
 *
 *	  Logs.  What the function writes to fds 1 and 2 during a request is
 *	  that request's logs (capture.c: a pipe drained by a thread into a
 *	  ring that keeps the last max_logs bytes).  If the function crashes
 *	  mid-request, a handler of the fatal signals copies the request's
 *	  logs to the original stderr (the container's) before the process
 *	  dies, so that they can still be seen.  The shim's own messages go to
 *	  the original stderr.
 *
 *	  Signals.  SIGTERM and SIGINT write a byte into a pipe every wait
 *	  polls besides its socket, so they stop an idle shim at once, and a
 *	  busy one after the response in hand, with no race and no signal mask
 *	  a handler's child processes would inherit.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* accept4, pipe2 */
#endif

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "capture.h"
#include "shim.h"

/* The process's state: one shim per process. */
static int					 stop_pipe[2] = {-1, -1};
static volatile sig_atomic_t stop_requested;
static int					 report_fd = STDERR_FILENO;

static bool capturing;

static char alt_stack[64 * 1024];

void
shim_report(const char *fmt, ...)
{
	char	line[1024];
	int		n;
	va_list ap;
	int		saved_errno = errno;

	n = snprintf(line, sizeof(line), "cpub-shim: ");
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t) n - 1, fmt, ap);
	va_end(ap);
	n = (int) strlen(line);
	line[n++] = '\n';
	for (char *p = line; n > 0;)
	{
		ssize_t w = write(report_fd, p, (size_t) n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		p += w;
		n -= (int) w;
	}
	errno = saved_errno;
}

/*
 * Options.
 */

/* env_u32: *v from the environment variable name when set.  0 or -1. */
static int
env_u32(const char *name, uint32_t *v)
{
	const char	 *s = getenv(name);
	char		 *end;
	unsigned long n;

	if (s == NULL || *s == '\0')
		return 0;
	errno = 0;
	n = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || s[0] == '-' || n > UINT32_MAX)
	{
		shim_report("invalid %s \"%s\": a whole number of at most %u "
					"expected",
					name, s, (unsigned) UINT32_MAX);
		return -1;
	}
	*v = (uint32_t) n;
	return 0;
}

int
shim_options_load(struct shim_options *o, int argc, char **argv)
{
	const char *sock = getenv("CPUB_SOCKET");

	memset(o, 0, sizeof(*o));
	frame_limits_default(&o->limits);
	o->capture = true;
	o->socket_path = sock && *sock ? sock : SHIM_DEFAULT_SOCKET;
	if (argc > 1 &&
		(strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0))
	{
		printf("usage: %s [SOCKET]\n"
			   "Serves a ContainerPub function on a unix socket "
			   "(default: $CPUB_SOCKET, else %s).\n"
			   "Caps: CPUB_MAX_HEADERS (%u), CPUB_MAX_HEADER_BYTES (%u), "
			   "CPUB_MAX_BODY (%u), CPUB_MAX_LOGS (%u; 0: logs go to "
			   "stderr).\n",
			   argv[0], SHIM_DEFAULT_SOCKET, FRAME_DEFAULT_MAX_HEADERS,
			   FRAME_DEFAULT_MAX_HEADER_BYTES, FRAME_DEFAULT_MAX_BODY,
			   FRAME_DEFAULT_MAX_LOGS);
		return 1;
	}
	if (argc > 2)
	{
		shim_report("usage: %s [SOCKET]", argv[0]);
		return -1;
	}
	if (argc == 2)
		o->socket_path = argv[1];
	if (env_u32("CPUB_MAX_HEADERS", &o->limits.max_headers) != 0 ||
		env_u32("CPUB_MAX_HEADER_BYTES", &o->limits.max_header_bytes) != 0 ||
		env_u32("CPUB_MAX_BODY", &o->limits.max_body) != 0 ||
		env_u32("CPUB_MAX_LOGS", &o->limits.max_logs) != 0)
		return -1;
	if (o->limits.max_logs == 0)
		o->capture = false;
	return 0;
}

/*
 * Signals.
 */

static void
on_stop(int sig)
{
	int		saved_errno = errno;
	ssize_t n = 0;

	(void) sig;
	stop_requested = 1;
	if (stop_pipe[1] >= 0)
		n = write(stop_pipe[1], "x", 1); /* full pipe: a byte is there */
	(void) n;
	errno = saved_errno;
}

/* put_uint: n in decimal at p, async-signal-safe; returns the end. */
static char *
put_uint(char *p, unsigned n)
{
	char  digits[12];
	char *d = digits;

	do
	{
		*d++ = (char) ('0' + n % 10);
		n /= 10;
	} while (n > 0);
	while (d > digits)
		*p++ = *--d;
	return p;
}

static void
raw_write(int fd, const char *p, size_t len)
{
	while (len > 0)
	{
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		p += n;
		len -= (size_t) n;
	}
}

/*
 * on_fatal: the function crashed.  Copies what the request logged to the
 * original stderr, then lets the signal kill the process (SA_RESETHAND
 * restored the default action; the signal is blocked until we return).
 * Only async-signal-safe calls.
 */
static void
on_fatal(int sig)
{
	static const char what[] = "cpub-shim: the function died of signal ";
	char			  line[sizeof(what) + 16];
	char			 *p;

	capture_dump(report_fd);
	memcpy(line, what, sizeof(what) - 1);
	p = put_uint(line + sizeof(what) - 1, (unsigned) sig);
	*p++ = '\n';
	raw_write(report_fd, line, (size_t) (p - line));
	raise(sig);
}

static int
signals_init(bool fatal_dump)
{
	static const int FATAL[] = {SIGSEGV, SIGBUS,  SIGFPE,
								SIGILL,	 SIGABRT, SIGSYS};
	struct sigaction sa;

	if (stop_pipe[0] < 0 && pipe2(stop_pipe, O_CLOEXEC | O_NONBLOCK) != 0)
	{
		shim_report("could not create a pipe: %s", strerror(errno));
		return -1;
	}
	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_stop;
	sa.sa_flags = SA_RESTART;
	if (sigaction(SIGTERM, &sa, NULL) != 0 || sigaction(SIGINT, &sa, NULL))
	{
		shim_report("could not handle SIGTERM: %s", strerror(errno));
		return -1;
	}
	if (!fatal_dump)
		return 0;

	/* On an alternate stack, so that a stack overflow is reported too. */
	{
		stack_t ss;

		memset(&ss, 0, sizeof(ss));
		ss.ss_sp = alt_stack;
		ss.ss_size = sizeof(alt_stack);
		if (sigaltstack(&ss, NULL) != 0)
			shim_report("no alternate signal stack: %s", strerror(errno));
	}
	sa.sa_handler = on_fatal;
	sa.sa_flags = SA_RESETHAND | SA_ONSTACK;
	for (size_t i = 0; i < sizeof(FATAL) / sizeof(FATAL[0]); i++)
		if (sigaction(FATAL[i], &sa, NULL) != 0)
			shim_report("could not handle signal %d: %s", FATAL[i],
						strerror(errno));
	return 0;
}

/* fds_open: fds 0, 1 and 2 open (on /dev/null when they were not), so
 * that no pipe or socket of ours takes their place. */
static int
fds_open(void)
{
	for (int fd = 0; fd <= 2; fd++)
	{
		int null;

		if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF)
			continue;
		null = open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY);
		if (null < 0)
			return -1;
		if (null != fd)
		{
			/* Cannot happen: the lowest free fd is fd. */
			close(null);
			errno = EBADF;
			return -1;
		}
	}
	return 0;
}

/*
 * load_env: the function's environment variables, which the worker writes
 * to a file beside the socket (CPUB_ENV_FILE, default /run/cpub/env) as
 * NAME=VALUE entries each ending in a NUL byte, so that they never appear
 * on a command line or in podman inspect.  Set, then the file is deleted.
 * No file: nothing to do.  Returns 0 or -1 (reported).
 */
static int
load_env(void)
{
	const char *path = getenv("CPUB_ENV_FILE");
	FILE	   *f;
	char	   *buf = NULL;
	size_t		cap = 0;
	ssize_t		n;

	if (path == NULL || path[0] == '\0')
		path = SHIM_DEFAULT_ENV_FILE;
	f = fopen(path, "re");
	if (f == NULL && errno == ENOENT)
		return 0;
	if (f == NULL)
	{
		shim_report("could not read %s: %s", path, strerror(errno));
		return -1;
	}
	while ((n = getdelim(&buf, &cap, '\0', f)) > 0)
	{
		char *eq = strchr(buf, '=');

		if (eq == NULL || eq == buf)
			continue;
		*eq = '\0';
		if (setenv(buf, eq + 1, 1) != 0)
		{
			shim_report("could not set %s: %s", buf, strerror(errno));
			free(buf);
			fclose(f);
			return -1;
		}
	}
	free(buf);
	fclose(f);
	if (unlink(path) != 0)
		shim_report("could not delete %s: %s", path, strerror(errno));
	return 0;
}

int
shim_init(const struct shim_options *o)
{
	if (load_env() != 0)
		return -1;
	if (fds_open() != 0)
	{
		shim_report("could not open /dev/null: %s", strerror(errno));
		return -1;
	}
	capturing = o->capture && o->limits.max_logs > 0 &&
				capture_init(o->limits.max_logs, &report_fd) == 0;
	/* Lines of printf reach the logs in order with those of stderr. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	return signals_init(capturing);
}

/*
 * Serving.
 */

/*
 * wait_fd: waits until fd has events, or a stop was asked.  1 when fd is
 * ready, 0 on stop, -1 on error (reported).
 */
static int
wait_fd(int fd, short events)
{
	struct pollfd p[2];

	for (;;)
	{
		if (stop_requested)
			return 0;
		p[0].fd = fd;
		p[0].events = events;
		p[0].revents = 0;
		p[1].fd = stop_pipe[0]; /* -1 before shim_init: ignored */
		p[1].events = POLLIN;
		p[1].revents = 0;
		if (poll(p, 2, -1) < 0)
		{
			if (errno == EINTR)
				continue;
			shim_report("poll failed: %s", strerror(errno));
			return -1;
		}
		if (p[1].revents != 0)
			return 0;
		if (p[0].revents != 0)
			return 1;
	}
}

/*
 * read_request: the next request on fd into *req.  1 with a request, 0
 * when the peer closed between requests or a stop was asked, -1 for a
 * malformed frame or an error (reported).
 */
static int
read_request(int fd, struct frame_reader *reader, struct frame_request *req)
{
	int rc;

	/* Wait first: between requests a read would only find nothing. */
	for (;;)
	{
		rc = wait_fd(fd, POLLIN);
		if (rc <= 0)
			return rc;
		rc = frame_reader_read(reader, fd);
		if (rc == 1)
			break;
		if (rc == FRAME_ECLOSED)
			return 0;
		if (rc < 0)
		{
			shim_report("bad request frame: %s%s%s; closing the connection",
						frame_strerror(rc), rc == FRAME_EIO ? ": " : "",
						rc == FRAME_EIO ? strerror(errno) : "");
			return -1;
		}
	}
	rc = frame_reader_take_request(reader, req);
	if (rc != FRAME_OK)
	{
		shim_report("bad request frame: %s; closing the connection",
					frame_strerror(rc));
		return -1;
	}
	return 1;
}

/* write_frame: all of w to fd.  1 when sent, 0 on stop, -1 (reported). */
static int
write_frame(int fd, struct frame_writer *w)
{
	for (;;)
	{
		int rc = frame_writer_write(w, fd);

		if (rc == 1)
			return 1;
		if (rc < 0)
		{
			shim_report("could not send the response: %s",
						rc == FRAME_EIO ? strerror(errno)
										: frame_strerror(rc));
			return -1;
		}
		rc = wait_fd(fd, POLLOUT);
		if (rc <= 0)
			return rc;
	}
}

/*
 * handle: runs the handler on req and encodes its response into w.  The
 * request's headers are copied into *hdrs (grown as needed, kept across
 * requests).  Returns 0 or -1 (reported).
 */
static int
handle(const struct frame_request *freq, shim_handler handler,
	   struct cpub_response *res, struct cpub_header **hdrs, size_t *hdrs_cap,
	   struct frame_writer *w)
{
	struct cpub_request	  req;
	struct frame_response fres;
	int					  rc;

	if (freq->nheaders > *hdrs_cap)
	{
		struct cpub_header *grown =
			realloc(*hdrs, freq->nheaders * sizeof(*grown));

		if (grown == NULL)
		{
			shim_report("out of memory for %zu request headers",
						freq->nheaders);
			return -1;
		}
		*hdrs = grown;
		*hdrs_cap = freq->nheaders;
	}
	for (size_t i = 0; i < freq->nheaders; i++)
	{
		(*hdrs)[i].name = freq->headers[i].name;
		(*hdrs)[i].name_len = freq->headers[i].name_len;
		(*hdrs)[i].value = freq->headers[i].value;
		(*hdrs)[i].value_len = freq->headers[i].value_len;
	}
	req.method = freq->method;
	req.path = freq->path;
	req.query = freq->query;
	req.headers = freq->nheaders > 0 ? *hdrs : NULL;
	req.nheaders = freq->nheaders;
	req.body = freq->body;
	req.body_len = freq->body_len;

	capture_begin();
	rc = handler(&req, res);
	if (rc != 0)
	{
		cpub_log("cpub: the handler returned %d: answering 500", rc);
		cpub_response_fail(res);
	}
	else if (res->failed != NULL)
	{
		cpub_log("cpub: %s: answering 500", res->failed);
		cpub_response_fail(res);
	}

	memset(&fres, 0, sizeof(fres));
	fres.status = res->status;
	fres.headers = res->headers;
	fres.nheaders = res->nheaders;
	fres.body = res->body;
	fres.body_len = res->body_len;
	capture_end(&fres.logs, &fres.logs_len);
	rc = frame_writer_response(w, &fres, res->limits);
	if (rc != FRAME_OK)
	{
		/* Cannot happen within the caps; answer a bare 500 all the same. */
		shim_report("could not encode the response: %s", frame_strerror(rc));
		memset(&fres, 0, sizeof(fres));
		fres.status = 500;
		rc = frame_writer_response(w, &fres, res->limits);
		if (rc != FRAME_OK)
			return -1;
	}
	return 0;
}

int
shim_serve_connection(int fd, shim_handler handler,
					  const struct frame_limits *limits)
{
	struct frame_reader	 reader;
	struct frame_request req;
	struct frame_writer	 w;
	struct cpub_response res;
	struct cpub_header	*hdrs = NULL;
	size_t				 hdrs_cap = 0;
	int					 flags;
	int					 result = -1;
	int					 rc;

	frame_reader_init(&reader, FRAME_KIND_REQUEST, limits);
	memset(&req, 0, sizeof(req));
	memset(&w, 0, sizeof(w));
	cpub_response_init(&res, limits);
	flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0)
	{
		shim_report("could not make the connection non-blocking: %s",
					strerror(errno));
		goto done;
	}

	for (;;)
	{
		rc = read_request(fd, &reader, &req);
		if (rc <= 0)
		{
			result = rc;
			goto done;
		}
		if (handle(&req, handler, &res, &hdrs, &hdrs_cap, &w) != 0)
			goto done;
		rc = write_frame(fd, &w);
		if (rc <= 0)
		{
			result = rc;
			goto done;
		}
		frame_writer_free(&w);
		frame_request_free(&req);
		cpub_response_reset(&res);
		if (stop_requested)
		{
			result = 0;
			goto done;
		}
	}

done:
	frame_writer_free(&w);
	frame_request_free(&req);
	frame_reader_reset(&reader);
	cpub_response_free(&res);
	free(hdrs);
	close(fd);
	return result;
}

/*
 * listen_on: a listening unix socket at path, mode 0666 so that the host
 * side connects whatever the container's user.  Returns the fd or -1
 * (reported).
 */
static int
listen_on(const char *path)
{
	struct sockaddr_un addr;
	struct stat		   st;
	int				   fd;

	memset(&addr, 0, sizeof(addr));
	addr.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(addr.sun_path))
	{
		shim_report("socket path \"%s\" is too long (at most %zu bytes)", path,
					sizeof(addr.sun_path) - 1);
		return -1;
	}
	strcpy(addr.sun_path, path);
	/* A socket left by an earlier run of the container: replace it. */
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(path);

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
	{
		shim_report("could not create a socket: %s", strerror(errno));
		return -1;
	}
	if (bind(fd, (struct sockaddr *) &addr, sizeof(addr)) != 0)
	{
		shim_report("could not bind to \"%s\": %s", path, strerror(errno));
		goto fail;
	}
	if (chmod(path, 0666) != 0)
	{
		shim_report("could not chmod \"%s\": %s", path, strerror(errno));
		goto fail;
	}
	if (listen(fd, 16) != 0)
	{
		shim_report("could not listen on \"%s\": %s", path, strerror(errno));
		goto fail;
	}
	return fd;

fail:
	close(fd);
	return -1;
}

int
shim_run(const struct shim_options *o, shim_handler handler)
{
	int lfd = listen_on(o->socket_path);
	int result = -1;

	if (lfd < 0)
		return -1;
	for (;;)
	{
		int rc = wait_fd(lfd, POLLIN);
		int cfd;

		if (rc == 0)
			break;
		if (rc < 0)
			goto done;
		cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (cfd < 0)
		{
			if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK ||
				errno == ECONNABORTED)
				continue;
			shim_report("could not accept a connection: %s", strerror(errno));
			goto done;
		}
		/* A connection that ends badly was reported; serve the next. */
		(void) shim_serve_connection(cfd, handler, &o->limits);
	}
	result = 0;

done:
	close(lfd);
	unlink(o->socket_path);
	return result;
}
