/*
 * bench/shim_rtt.c: request -> response round trips over a unix socket to
 * a function's shim running on the host (no container), optionally beside
 * a bare echo of the same bytes.
 *
 *   shim_rtt [-n REQUESTS] [-w WARMUP] [-d DIR] [-f] COMMAND [ARG...]
 *   shim_rtt [-n REQUESTS] [-w WARMUP] -s SOCKET
 *	   With -s, nothing is started: it connects to SOCKET, a shim already
 *	   listening (in a container: bench/invoke.sh), and measures the same
 *	   way, pinning only itself; the shim is left running.
 *	   Starts COMMAND (a shim: a C function linked with worker/shim,
 *	   cpub-cgi and its script, python3 cpub_shim.py) in DIR with
 *	   CPUB_SOCKET naming a socket in a temporary folder, connects once,
 *	   and sends REQUESTS (20000) requests one after the other, after
 *	   WARMUP (2000) untimed ones, as the worker will: each request encoded
 *	   (frame_writer_request), written, its response read and decoded, on
 *	   a blocking socket.  Two shapes: a GET with a query and 3 headers and
 *	   no body, and a POST with a 64 KiB body.  Per shape it prints p50,
 *	   p99 and requests per second; with -f then the same for the floor: a
 *	   forked process that reads exactly the request frame's bytes and
 *	   writes back exactly the response frame's, over the same kind of
 *	   socket (what the kernel and the scheduler cost, with no framing and
 *	   no handler).  Then it stops the shim with SIGTERM and checks that it
 *	   exited 0 and removed its socket.
 *
 *	   Each is measured twice: with both processes (every thread) pinned
 *	   to one core, and pinned to two (when there are two).  Unpinned, the
 *	   scheduler picks one or the other from run to run, and on a VM the
 *	   two differ widely: waking a process on another, idle, virtual CPU
 *	   costs an interrupt the hypervisor delivers.
 *
 * bench/shim.sh builds and runs it; the figures are read beside
 * PLATFORM.md's 39 us (a long-lived process in a container over a
 * bind-mounted unix socket).  Exit status 1 when something failed, 2 on
 * bad arguments.
 */
#define _GNU_SOURCE

#include <dirent.h>
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "frame.h"

struct shape
{
	const char *name;
	const char *method;
	const char *query;
	size_t		body_len;
};

static const struct shape SHAPES[] = {
	{"GET, 3 headers, no body", "GET", "name=bench", 0},
	{"POST, 3 headers, 64 KiB body", "POST", "", 64 * 1024},
};

static struct frame_limits limits;

/* The two CPUs used (cpu_b = -1 when only one is allowed). */
static int cpu_a = -1, cpu_b = -1;

static void
pick_cpus(void)
{
	cpu_set_t set;

	if (sched_getaffinity(0, sizeof(set), &set) != 0)
		return;
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &set))
		{
			if (cpu_a < 0)
				cpu_a = c;
			else if (cpu_b < 0)
				cpu_b = c;
		}
}

/* pin: every thread of process pid (0: this one) to cpu. */
static void
pin(pid_t pid, int cpu)
{
	cpu_set_t	   set;
	char		   path[64];
	DIR			  *d;
	struct dirent *e;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (pid == 0)
		pid = getpid();
	snprintf(path, sizeof(path), "/proc/%d/task", (int) pid);
	d = opendir(path);
	if (d == NULL)
	{
		perror(path);
		return;
	}
	while ((e = readdir(d)) != NULL)
	{
		pid_t tid = (pid_t) atoi(e->d_name);

		if (tid > 0 && sched_setaffinity(tid, sizeof(set), &set) != 0)
			perror("sched_setaffinity");
	}
	closedir(d);
}

static double
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *) a, y = *(const double *) b;

	return x < y ? -1 : x > y;
}

/* report: one line of figures from n round-trip times (sorted here). */
static void
report(const char *label, double *t, int n, double total_us)
{
	qsort(t, (size_t) n, sizeof(double), cmp_double);
	printf("    %-44s p50 %6.1f us   p99 %6.1f us   %7.0f req/s\n", label,
		   t[n / 2], t[(int) (n * 0.99)], n / (total_us / 1e6));
}

static int
connect_to(const char *path)
{
	struct sockaddr_un a;

	memset(&a, 0, sizeof(a));
	a.sun_family = AF_UNIX;
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	for (int i = 0; i < 500; i++)
	{
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

		if (fd >= 0 && connect(fd, (struct sockaddr *) &a, sizeof(a)) == 0)
			return fd;
		if (fd >= 0)
			close(fd);
		usleep(10000);
	}
	return -1;
}

static int
io_all(int fd, char *buf, size_t len, int writing)
{
	while (len > 0)
	{
		ssize_t n = writing ? write(fd, buf, len) : read(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t) n;
	}
	return 0;
}

/*
 * one_call: a request of shape s through the shim on fd; *req_bytes and
 * *res_bytes get the frames' sizes.  0 or -1.
 */
static int
one_call(int fd, const struct shape *s, const char *body, size_t *req_bytes,
		 size_t *res_bytes)
{
	static struct frame_header hs[3] = {
		{"content-type", 12, "text/plain", 10},
		{"user-agent", 10, "shim_rtt/1", 10},
		{"x-request-id", 12, "0123456789abcdef", 16}};
	struct frame_request  req;
	struct frame_response res;
	struct frame_writer	  w;
	struct frame_reader	  r;
	int					  rc;

	memset(&req, 0, sizeof(req));
	req.method = s->method;
	req.method_len = strlen(s->method);
	req.path = "/";
	req.path_len = 1;
	req.query = s->query;
	req.query_len = strlen(s->query);
	req.headers = hs;
	req.nheaders = 3;
	req.body = body;
	req.body_len = s->body_len;
	if (frame_writer_request(&w, &req, &limits) != FRAME_OK)
		return -1;
	*req_bytes = 0;
	for (int i = 0; i < w.iovcnt; i++)
		*req_bytes += w.iov[i].iov_len;
	rc = frame_writer_write(&w, fd);
	frame_writer_free(&w);
	if (rc != 1)
		return -1;
	frame_reader_init(&r, FRAME_KIND_RESPONSE, &limits);
	rc = frame_reader_read(&r, fd);
	*res_bytes = FRAME_HEAD_SIZE + r.payload_len;
	if (rc != 1 || frame_reader_take_response(&r, &res) != FRAME_OK)
	{
		frame_reader_reset(&r);
		return -1;
	}
	rc = res.status == 200 ? 0 : -1;
	frame_response_free(&res);
	return rc;
}

/* floor_server: reads req_len bytes, writes res_len bytes, until EOF. */
static void
floor_server(int fd, size_t req_len, size_t res_len)
{
	char *in = malloc(req_len);
	char *out = calloc(1, res_len);

	while (io_all(fd, in, req_len, 0) == 0 && io_all(fd, out, res_len, 1) == 0)
		;
	_exit(0);
}

int
main(int argc, char **argv)
{
	int			n = 20000, warm = 2000, opt, with_floor = 0;
	const char *cwd = NULL;
	const char *existing = NULL;
	char		dir[] = "/tmp/cpub-shim-rtt.XXXXXX";
	char		path[108];
	char	   *body;
	double	   *t;
	pid_t		fn;
	int			fd, status, failed = 0;
	struct stat st;

	/* "+": options end at COMMAND, whose own options are its. */
	while ((opt = getopt(argc, argv, "+n:w:d:fs:")) != -1)
	{
		if (opt == 'n')
			n = atoi(optarg);
		else if (opt == 'w')
			warm = atoi(optarg);
		else if (opt == 'd')
			cwd = optarg;
		else if (opt == 'f')
			with_floor = 1;
		else if (opt == 's')
			existing = optarg;
		else
			return 2;
	}
	if ((optind >= argc && existing == NULL) || n < 100 || warm < 0)
	{
		fprintf(stderr,
				"usage: %s [-n REQUESTS] [-w WARMUP] [-d DIR] [-f] COMMAND "
				"[ARG...]\n       %s [-n REQUESTS] [-w WARMUP] -s SOCKET\n",
				argv[0], argv[0]);
		return 2;
	}
	frame_limits_default(&limits);
	body = malloc(64 * 1024);
	t = malloc(sizeof(double) * (size_t) n);
	memset(body, 'b', 64 * 1024);
	if (mkdtemp(dir) == NULL)
	{
		perror("mkdtemp");
		return 1;
	}
	snprintf(path, sizeof(path), "%s/fn.sock", dir);
	if (existing != NULL)
	{
		rmdir(dir);
		fd = connect_to(existing);
		if (fd < 0)
		{
			fprintf(stderr, "shim_rtt: nothing listens on %s\n", existing);
			return 1;
		}
		fn = -1;
		goto measure;
	}

	fflush(stdout);
	fn = fork();
	if (fn == 0)
	{
		if (cwd != NULL && chdir(cwd) != 0)
		{
			perror(cwd);
			_exit(127);
		}
		setenv("CPUB_SOCKET", path, 1);
		execvp(argv[optind], argv + optind);
		perror(argv[optind]);
		_exit(127);
	}
	fd = connect_to(path);
	if (fd < 0)
	{
		fprintf(stderr, "shim_rtt: %s did not listen on %s\n", argv[optind],
				path);
		kill(fn, SIGKILL);
		return 1;
	}

measure:
	pick_cpus();
	pin(0, cpu_a);
	for (size_t k = 0; k < sizeof(SHAPES) / sizeof(SHAPES[0]); k++)
	{
		const struct shape *s = &SHAPES[k];
		size_t				req_bytes = 0, res_bytes = 0;
		int					sv[2] = {-1, -1};
		pid_t				echo = -1;
		char			   *rq = NULL, *rs = NULL;
		char				label[80];

		printf("  %s\n", s->name);
		/* Once to learn the frames' sizes. */
		if (one_call(fd, s, body, &req_bytes, &res_bytes) != 0)
			goto fail;
		if (with_floor)
		{
			if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
				goto fail;
			fflush(stdout);
			echo = fork();
			if (echo == 0)
			{
				close(sv[0]);
				floor_server(sv[1], req_bytes, res_bytes);
			}
			close(sv[1]);
			rq = calloc(1, req_bytes);
			rs = malloc(res_bytes);
		}

		for (int split = 0; split <= 1; split++)
		{
			const char *where = fn < 0	? "in a container"
								: split ? "two cores"
										: "one core";
			double		t0;

			/* A shim in a container is not ours to pin: once. */
			if (split && (cpu_b < 0 || fn < 0))
				break;
			if (fn > 0)
				pin(fn, split ? cpu_b : cpu_a);
			if (echo > 0)
				pin(echo, split ? cpu_b : cpu_a);

			for (int i = 0; i < warm; i++)
				if (one_call(fd, s, body, &req_bytes, &res_bytes) != 0)
					goto fail;
			t0 = now_us();
			for (int i = 0; i < n; i++)
			{
				double a = now_us();

				if (one_call(fd, s, body, &req_bytes, &res_bytes) != 0)
					goto fail;
				t[i] = now_us() - a;
			}
			snprintf(label, sizeof(label), "shim, %s (%zu B in, %zu B out)",
					 where, req_bytes, res_bytes);
			report(label, t, n, now_us() - t0);

			/* The floor: the same bytes, echoed by a bare process. */
			if (!with_floor)
				continue;
			for (int i = 0; i < warm; i++)
				if (io_all(sv[0], rq, req_bytes, 1) != 0 ||
					io_all(sv[0], rs, res_bytes, 0) != 0)
					goto fail;
			t0 = now_us();
			for (int i = 0; i < n; i++)
			{
				double a = now_us();

				if (io_all(sv[0], rq, req_bytes, 1) != 0 ||
					io_all(sv[0], rs, res_bytes, 0) != 0)
					goto fail;
				t[i] = now_us() - a;
			}
			snprintf(label, sizeof(label), "floor, %s (bare echo, same bytes)",
					 where);
			report(label, t, n, now_us() - t0);
		}
		if (echo > 0)
		{
			close(sv[0]);
			waitpid(echo, NULL, 0);
		}
		free(rq);
		free(rs);
	}
	goto stop;

fail:
	fprintf(stderr, "shim_rtt: a request failed\n");
	failed = 1;

stop:
	close(fd);
	if (fn < 0)
		return failed;
	kill(fn, SIGTERM);
	waitpid(fn, &status, 0);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
	{
		fprintf(stderr, "shim_rtt: the function did not exit 0 on SIGTERM\n");
		failed = 1;
	}
	if (lstat(path, &st) == 0)
	{
		fprintf(stderr, "shim_rtt: the function left its socket behind\n");
		unlink(path);
		failed = 1;
	}
	rmdir(dir);
	free(body);
	free(t);
	return failed;
}
