/*
 * tests/unit/test_shim.c
 *	  The C runtime's shim (worker/shim): its serve loop runs in a child
 *	  process with the handler below, and this program talks to it with
 *	  frames as the worker will, over a socketpair and over the unix socket
 *	  the shim listens on.
 *
 *	  Checked: a normal request (status, headers, body, the handler's
 *	  stdout and stderr as logs), a handler error answered 500, more
 *	  requests on the same connection with logs of their own, caps on what
 *	  a handler builds, logs truncated at their cap, a malformed frame
 *	  closing the connection, a crash whose last logs reach the container's
 *	  stderr, SIGTERM when idle and mid-request, and the listening socket
 *	  (mode 0666, a stale one replaced, removed at exit).
 */
#include <errno.h>
#include <fcntl.h>
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

#include "shim.h"
#include "tap.h"

/* The child's caps: small, to reach them. */
static struct frame_limits child_limits = {8, 1024, 4096, 8192};
/* This side's: roomy. */
static struct frame_limits limits;
/* /slow writes a byte here once it runs. */
static int slow_started[2] = {-1, -1};

static void
sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* The test function: what it does depends on the path. */
static int
test_handler(const struct cpub_request *req, struct cpub_response *res)
{
	if (strcmp(req->path, "/echo") == 0)
	{
		cpub_response_set_header(res, "x-method", req->method);
		cpub_response_set_header(res, "x-query", req->query);
		for (size_t i = 0; i < req->nheaders; i++)
		{
			char h[256];

			snprintf(h, sizeof(h), "%s=%s", req->headers[i].name,
					 req->headers[i].value);
			cpub_response_add_header(res, "x-seen", h);
		}
		cpub_response_write(res, req->body, req->body_len);
		cpub_log("echo %zu bytes", req->body_len);
		printf("to stdout\n");
		return 0;
	}
	if (strcmp(req->path, "/fail") == 0)
	{
		cpub_response_set_header(res, "x-partial", "1");
		cpub_response_printf(res, "partial");
		cpub_log("about to fail");
		return 7;
	}
	if (strcmp(req->path, "/big") == 0)
	{
		char chunk[1000];

		memset(chunk, 'x', sizeof(chunk));
		for (int i = 0; i < 5; i++)
			if (cpub_response_write(res, chunk, sizeof(chunk)) != 0)
				cpub_log("write %d failed: %s", i, strerror(errno));
		return 0;
	}
	if (strcmp(req->path, "/status") == 0)
	{
		cpub_response_set_status(res, 404);
		cpub_response_set_status(res, 99);
		return 0;
	}
	if (strcmp(req->path, "/headers") == 0)
	{
		int bad_name, bad_value;

		cpub_response_set_header(res, "x-one", "1");
		cpub_response_set_header(res, "X-One", "2");
		cpub_response_add_header(res, "set-cookie", "a=1");
		cpub_response_add_header(res, "set-cookie", "b=2");
		bad_name = cpub_response_set_header(res, "bad name", "v");
		bad_value = cpub_response_set_header(res, "x-bad", "a\r\nb: c");
		cpub_response_printf(res, "%d %d %s", bad_name, bad_value,
							 cpub_request_header(req, "X-Wanted")
								 ? cpub_request_header(req, "X-Wanted")
								 : "(none)");
		return 0;
	}
	if (strcmp(req->path, "/many") == 0)
	{
		for (int i = 0; i < 9; i++)
			cpub_response_add_header(res, "x-n", "v");
		return 0;
	}
	if (strcmp(req->path, "/loud") == 0)
	{
		/* Lines "line 0000 zzz...z" of 100 bytes: 20,000 bytes in all. */
		for (int i = 0; i < 200; i++)
			fprintf(stderr, "line %04d %089d\n", i, 0);
		return 0;
	}
	if (strcmp(req->path, "/flood") == 0)
	{
		/* 8 MiB through stdio, then 8 MiB more through write(2) on fd 2
		 * and from a child process: far over any pipe's buffer. */
		static char chunk[64 * 1024];
		pid_t		pid;

		memset(chunk, 'f', sizeof(chunk));
		for (int i = 0; i < 128; i++)
			fwrite(chunk, 1, sizeof(chunk), stdout);
		for (int i = 0; i < 64; i++)
			if (write(STDERR_FILENO, chunk, sizeof(chunk)) < 0)
				return 2;
		fflush(stdout);
		pid = fork();
		if (pid == 0)
		{
			for (int i = 0; i < 64; i++)
				if (write(STDOUT_FILENO, chunk, sizeof(chunk)) < 0)
					_exit(1);
			_exit(0);
		}
		if (pid < 0 || waitpid(pid, NULL, 0) != pid)
			return 3;
		printf("the end\n");
		cpub_response_printf(res, "flooded");
		return 0;
	}
	if (strcmp(req->path, "/slow") == 0)
	{
		if (write(slow_started[1], "s", 1) != 1)
			return 1;
		sleep_ms(200);
		cpub_response_printf(res, "finished");
		return 0;
	}
	if (strcmp(req->path, "/crash") == 0)
	{
		cpub_log("last words");
		abort();
	}
	return 1;
}

/* A child serving: its stderr (the container's) goes to a file. */
struct child
{
	pid_t pid;
	int	  fd;			 /* our end */
	char  errpath[64];	 /* its original stderr */
	char  sockpath[108]; /* listen mode */
};

static void
child_stderr(struct child *c)
{
	int fd;

	strcpy(c->errpath, "/tmp/cpub-test-shim.XXXXXX");
	fd = mkstemp(c->errpath);
	if (fd < 0)
	{
		perror("mkstemp");
		exit(1);
	}
	close(fd);
}

/* start_pair: a child serving one end of a socketpair. */
static void
start_pair(struct child *c)
{
	int sv[2];

	memset(c, 0, sizeof(*c));
	child_stderr(c);
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
		exit(1);
	fflush(stdout);
	c->pid = fork();
	if (c->pid == 0)
	{
		struct shim_options o;
		int					efd = open(c->errpath, O_WRONLY);

		close(sv[0]);
		dup2(efd, STDERR_FILENO);
		close(efd);
		memset(&o, 0, sizeof(o));
		o.limits = child_limits;
		o.capture = true;
		if (shim_init(&o) != 0)
			_exit(3);
		_exit(shim_serve_connection(sv[1], test_handler, &child_limits) == 0
				  ? 0
				  : 1);
	}
	close(sv[1]);
	c->fd = sv[0];
}

/* child_end: waits for the child; its wait status. */
static int
child_end(struct child *c)
{
	int status = -1;

	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	waitpid(c->pid, &status, 0);
	return status;
}

/* child_err: what the child wrote to its original stderr (static). */
static const char *
child_err(struct child *c)
{
	static char buf[16384];
	int			fd = open(c->errpath, O_RDONLY);
	ssize_t		n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;

	buf[n > 0 ? n : 0] = '\0';
	if (fd >= 0)
		close(fd);
	unlink(c->errpath);
	return buf;
}

/*
 * call: one request on fd (blocking), its response into *res (free with
 * frame_response_free).  Returns a frame code.
 */
static int
call(int fd, const char *method, const char *path, const char *query,
	 const struct frame_header *headers, size_t nheaders, const char *body,
	 size_t body_len, struct frame_response *res)
{
	struct frame_request req;
	struct frame_writer	 w;
	struct frame_reader	 r;
	int					 rc;

	memset(&req, 0, sizeof(req));
	memset(res, 0, sizeof(*res));
	req.method = method;
	req.method_len = strlen(method);
	req.path = path;
	req.path_len = strlen(path);
	req.query = query;
	req.query_len = strlen(query);
	req.headers = (struct frame_header *) headers;
	req.nheaders = nheaders;
	req.body = body;
	req.body_len = body_len;
	rc = frame_writer_request(&w, &req, &limits);
	if (rc == FRAME_OK)
		rc = frame_writer_write(&w, fd);
	frame_writer_free(&w);
	if (rc < 0)
		return rc;
	frame_reader_init(&r, FRAME_KIND_RESPONSE, &limits);
	rc = frame_reader_read(&r, fd);
	if (rc == 1)
		return frame_reader_take_response(&r, res);
	frame_reader_reset(&r);
	return rc;
}

/* header: the value of the i-th header named name in res, or NULL. */
static const char *
header(const struct frame_response *res, const char *name, int nth)
{
	for (size_t i = 0; i < res->nheaders; i++)
		if (strcmp(res->headers[i].name, name) == 0 && nth-- == 0)
			return res->headers[i].value;
	return NULL;
}

static bool
contains(const char *hay, size_t len, const char *needle)
{
	size_t n = strlen(needle);

	for (size_t i = 0; i + n <= len; i++)
		if (memcmp(hay + i, needle, n) == 0)
			return true;
	return false;
}

static bool
starts_with(const char *s, const char *prefix)
{
	return s != NULL && strncmp(s, prefix, strlen(prefix)) == 0;
}

static bool
ends_with(const char *s, size_t len, const char *suffix)
{
	size_t n = strlen(suffix);

	return s != NULL && len >= n && memcmp(s + len - n, suffix, n) == 0;
}

static void
test_connection(void)
{
	struct child		  c;
	struct frame_response res;
	struct frame_header	  hs[2] = {{"accept", 6, "a/b", 3},
								   {"accept", 6, "c/d", 3}};
	struct frame_header	  want = {"x-wanted", 8, "yes", 3};
	const char			  body[] = "bin\0ary\n";
	int					  rc, status;

	start_pair(&c);

	rc = call(c.fd, "POST", "/echo", "x=1", hs, 2, body, sizeof(body), &res);
	ok(rc == FRAME_OK && res.status == 200, "a request: 200 (%s)",
	   frame_strerror(rc));
	ok(rc == FRAME_OK && res.body_len == sizeof(body) &&
		   memcmp(res.body, body, sizeof(body)) == 0,
	   "its body with NUL bytes comes back whole");
	ok(rc == FRAME_OK && header(&res, "x-method", 0) &&
		   strcmp(header(&res, "x-method", 0), "POST") == 0 &&
		   strcmp(header(&res, "x-query", 0), "x=1") == 0,
	   "the handler saw the method and the query");
	ok(rc == FRAME_OK && header(&res, "x-seen", 1) &&
		   strcmp(header(&res, "x-seen", 0), "accept=a/b") == 0 &&
		   strcmp(header(&res, "x-seen", 1), "accept=c/d") == 0,
	   "and both of a repeated request header, in order");
	is_str(res.logs, "echo 9 bytes\nto stdout\n",
		   "stderr and stdout of the request are its logs, in order");
	frame_response_free(&res);

	rc = call(c.fd, "GET", "/fail", "", NULL, 0, "", 0, &res);
	ok(rc == FRAME_OK && res.status == 500 && res.body_len == 0 &&
		   res.nheaders == 0,
	   "a handler returning nonzero: a bare 500 on the same connection");
	is_str(res.logs,
		   "about to fail\ncpub: the handler returned 7: answering 500\n",
		   "its logs, and why it is a 500");
	frame_response_free(&res);

	rc = call(c.fd, "GET", "/echo", "", NULL, 0, "again", 5, &res);
	ok(rc == FRAME_OK && res.status == 200 && res.body_len == 5 &&
		   strcmp(res.body, "again") == 0,
	   "a third request on the same connection");
	is_str(res.logs, "echo 5 bytes\nto stdout\n", "with logs of its own only");
	frame_response_free(&res);

	rc = call(c.fd, "GET", "/big", "", NULL, 0, "", 0, &res);
	ok(rc == FRAME_OK && res.status == 500 && res.body_len == 0,
	   "a body written past max_body: 500");
	ok(rc == FRAME_OK &&
		   contains(res.logs, res.logs_len,
					"write 4 failed: File too large\n") &&
		   contains(res.logs, res.logs_len,
					"cpub: response body over the size limit: answering "
					"500\n"),
	   "the write past the cap failed with EFBIG, and the logs say why");
	frame_response_free(&res);

	rc = call(c.fd, "GET", "/many", "", NULL, 0, "", 0, &res);
	ok(rc == FRAME_OK && res.status == 500 &&
		   contains(res.logs, res.logs_len, "too many response headers"),
	   "more headers than max_headers: 500, and the logs say why");
	frame_response_free(&res);

	rc = call(c.fd, "GET", "/status", "", NULL, 0, "", 0, &res);
	ok(rc == FRAME_OK && res.status == 404 &&
		   contains(res.logs, res.logs_len, "status 99 is not from 100"),
	   "a status set, a bad one refused and logged");
	frame_response_free(&res);

	rc = call(c.fd, "GET", "/headers", "", &want, 1, "", 0, &res);
	ok(rc == FRAME_OK && res.nheaders == 3 &&
		   strcmp(header(&res, "X-One", 0), "2") == 0 &&
		   header(&res, "x-one", 0) == NULL &&
		   strcmp(header(&res, "set-cookie", 0), "a=1") == 0 &&
		   strcmp(header(&res, "set-cookie", 1), "b=2") == 0,
	   "set_header replaces whatever the case, add_header repeats");
	is_str(res.body, "-1 -1 yes",
		   "a bad header name or value is refused; a request header is "
		   "found whatever the case");
	ok(rc == FRAME_OK && res.status == 200 &&
		   contains(res.logs, res.logs_len, "\"bad name\" has a bad name"),
	   "and the refusal is logged, the response still a 200");
	frame_response_free(&res);

	rc = call(c.fd, "GET", "/loud", "", NULL, 0, "", 0, &res);
	ok(rc == FRAME_OK && res.status == 200 && res.logs_len == 8192,
	   "20,000 bytes of output: logs of exactly the 8 KiB cap (%zu)",
	   res.logs_len);
	ok(rc == FRAME_OK &&
		   /* 8192 - 46 bytes of the mark kept: from offset 54 of line 118. */
		   starts_with(res.logs,
					   "[cpub: 11854 earlier bytes of output dropped]\n"
					   "000000000000000000000000000000000000000000000\n"
					   "line 0119 0") &&
		   ends_with(res.logs, res.logs_len,
					 "line 0199 "
					 "000000000000000000000000000000000000000000000000000000"
					 "00000000000000000000000000000000000\n"),
	   "the last bytes kept, after a line counting the bytes dropped");
	frame_response_free(&res);

	rc = call(c.fd, "GET", "/flood", "", NULL, 0, "", 0, &res);
	ok(rc == FRAME_OK && res.status == 200 && res.body_len == 7 &&
		   strcmp(res.body, "flooded") == 0,
	   "a handler writing 12 MiB to stdout and stderr, and a child of it "
	   "4 MiB more: answered, no deadlock");
	ok(rc == FRAME_OK && res.logs_len == 8192 &&
		   ends_with(res.logs, res.logs_len, "ffffthe end\n") &&
		   contains(res.logs, res.logs_len,
					" earlier bytes of output "
					"dropped]\nffff"),
	   "its logs: the cap's worth of the last bytes, in order");
	frame_response_free(&res);

	rc = call(c.fd, "GET", "/echo", "", NULL, 0, "", 0, &res);
	is_str(res.logs, "echo 0 bytes\nto stdout\n",
		   "the next request logs again from the start");
	frame_response_free(&res);

	kill(c.pid, SIGTERM);
	status = child_end(&c);
	ok(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	   "SIGTERM while idle: the shim exits 0");
	is_str(child_err(&c), "", "and the container's stderr got nothing");
}

static void
test_bad_frames(void)
{
	struct child		  c;
	struct frame_response res;
	char				  buf[16];
	int					  status;
	const char			 *err;

	start_pair(&c);
	if (write(c.fd, "GET / HTTP/1.1\r\n\r\n", 18) != 18)
		exit(1);
	ok(read(c.fd, buf, sizeof(buf)) <= 0,
	   "an HTTP request instead of a frame: the shim closes the connection");
	status = child_end(&c);
	err = child_err(&c);
	ok(WIFEXITED(status) && WEXITSTATUS(status) == 1 &&
		   strstr(err, "cpub-shim: bad request frame: bad magic; closing the "
					   "connection\n") != NULL,
	   "and says why on the container's stderr");

	start_pair(&c);
	ok(call(c.fd, "GET", "/crash", "", NULL, 0, "", 0, &res) == FRAME_ECLOSED,
	   "a function that crashes: the connection closes without a response");
	status = child_end(&c);
	err = child_err(&c);
	ok(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT,
	   "the shim dies of the function's signal");
	ok(strstr(err, "last words\ncpub-shim: the function died of signal 6\n") !=
		   NULL,
	   "its last logs reach the container's stderr");
}

static void
test_stop_mid_request(void)
{
	struct child		  c;
	struct frame_response res;
	int					  rc, status;
	pid_t				  killer;

	if (pipe(slow_started) != 0)
		exit(1);
	start_pair(&c);
	fflush(stdout);
	killer = fork();
	if (killer == 0)
	{
		char b;

		/* Once the handler runs. */
		if (read(slow_started[0], &b, 1) == 1)
			kill(c.pid, SIGTERM);
		_exit(0);
	}
	close(slow_started[1]); /* the killer sees EOF if the shim dies */
	rc = call(c.fd, "GET", "/slow", "", NULL, 0, "", 0, &res);
	waitpid(killer, NULL, 0);
	ok(rc == FRAME_OK && res.status == 200 &&
		   strcmp(res.body, "finished") == 0,
	   "SIGTERM mid-request: the request in hand is answered");
	frame_response_free(&res);
	status = child_end(&c);
	ok(WIFEXITED(status) && WEXITSTATUS(status) == 0, "then the shim exits 0");
	unlink(c.errpath);
	close(slow_started[0]);
}

/* connect_to: a connection to path, retried for up to 5 s; -1 if none. */
static int
connect_to(const char *path)
{
	struct sockaddr_un a;

	memset(&a, 0, sizeof(a));
	a.sun_family = AF_UNIX;
	strcpy(a.sun_path, path);
	for (int i = 0; i < 500; i++)
	{
		int fd = socket(AF_UNIX, SOCK_STREAM, 0);

		if (connect(fd, (struct sockaddr *) &a, sizeof(a)) == 0)
			return fd;
		close(fd);
		sleep_ms(10);
	}
	return -1;
}

static void
test_listen(void)
{
	struct child		  c;
	struct frame_response res;
	struct stat			  st;
	struct sockaddr_un	  a;
	char				  dir[] = "/tmp/cpub-test-shim-dir.XXXXXX";
	int					  fd, rc, status;

	memset(&c, 0, sizeof(c));
	child_stderr(&c);
	if (mkdtemp(dir) == NULL)
		exit(1);
	snprintf(c.sockpath, sizeof(c.sockpath), "%s/fn.sock", dir);

	/* A socket left behind by an earlier shim. */
	memset(&a, 0, sizeof(a));
	a.sun_family = AF_UNIX;
	strcpy(a.sun_path, c.sockpath);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (bind(fd, (struct sockaddr *) &a, sizeof(a)) != 0)
		exit(1);
	close(fd);

	fflush(stdout);
	c.pid = fork();
	if (c.pid == 0)
	{
		struct shim_options o;
		char			   *argv[] = {"fn", c.sockpath, NULL};
		int					efd = open(c.errpath, O_WRONLY);

		dup2(efd, STDERR_FILENO);
		close(efd);
		setenv("CPUB_MAX_BODY", "4096", 1);
		if (shim_options_load(&o, 2, argv) != 0 || shim_init(&o) != 0)
			_exit(3);
		_exit(o.limits.max_body == 4096 && shim_run(&o, test_handler) == 0
				  ? 0
				  : 1);
	}
	c.fd = -1;

	fd = connect_to(c.sockpath);
	ok(fd >= 0, "the shim listens at the path given, over a stale socket");
	memset(&st, 0, sizeof(st));
	rc = stat(c.sockpath, &st);
	ok(rc == 0 && S_ISSOCK(st.st_mode) && (st.st_mode & 0777) == 0666,
	   "its socket is mode 0666 (%o)", (unsigned) (st.st_mode & 0777));
	rc = call(fd, "PUT", "/echo", "", NULL, 0, "one", 3, &res);
	ok(rc == FRAME_OK && res.status == 200 && strcmp(res.body, "one") == 0,
	   "a request over it");
	frame_response_free(&res);
	close(fd);

	fd = connect_to(c.sockpath);
	rc = call(fd, "GET", "/big", "", NULL, 0, "", 0, &res);
	ok(rc == FRAME_OK && res.status == 500,
	   "a second connection once the first closed; CPUB_MAX_BODY applies");
	frame_response_free(&res);

	kill(c.pid, SIGTERM);
	close(fd);
	status = child_end(&c);
	ok(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	   "SIGTERM: the shim exits 0");
	ok(lstat(c.sockpath, &st) != 0 && errno == ENOENT,
	   "and removes its socket");
	is_str(child_err(&c), "", "nothing on the container's stderr");
	rmdir(dir);
}

int
main(void)
{
	/* A deadlock fails the test instead of hanging it. */
	alarm(120);
	frame_limits_default(&limits);
	test_connection();
	test_bad_frames();
	test_stop_mid_request();
	test_listen();
	return done_testing();
}
