/*
 * tests/unit/shim_call.c
 *	  A client of a function's shim for the tests (tests/e2e/shim_runtimes.t)
 *	  and for people: sends one request frame, built from the command line,
 *	  to a shim's unix socket and shows the response.
 *
 *	  shim_call [-X METHOD] [-p PATH] [-q QUERY] [-H 'NAME: VALUE']...
 *				[-d BODY | -f FILE] [-n COUNT] [-t SECONDS] [-o DIR] SOCKET
 *
 *	  It talks as the worker does (docs/shim-protocol.md): one connection,
 *	  non-blocking, frame_writer_request + frame_writer_write and
 *	  frame_reader_read + frame_reader_take_response, each wait a poll
 *	  under one deadline (-t, 10 s).  The connection is retried until the
 *	  deadline, so that a shim just started has time to listen.  -n sends
 *	  the request COUNT times on the connection and shows the last
 *	  response.
 *
 *	  Output: the status line, the headers, the logs and the body on
 *	  stdout; with -o DIR instead the files DIR/status, DIR/headers (one
 *	  "name: value" line each), DIR/logs and DIR/body, byte for byte.
 *	  Exit status 0 with a response, 1 when the shim closed the connection
 *	  or sent something malformed (said on stderr), 3 at the deadline, 2
 *	  for bad arguments.
 */
#define _GNU_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "frame.h"

#define MAX_HEADERS 64

static double deadline;

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

/* wait_for: polls fd for events until the deadline; 1 ready, 0 timed out,
 * -1 on error. */
static int
wait_for(int fd, short events)
{
	for (;;)
	{
		struct pollfd p = {.fd = fd, .events = events};
		double		  left = deadline - now();
		int			  rc;

		if (left <= 0)
			return 0;
		rc = poll(&p, 1, (int) (left * 1000) + 1);
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc < 0)
			return -1;
		if (rc > 0)
			return 1;
	}
}

/* connect_until: a non-blocking connection to path, retried until the
 * deadline; -1 if none. */
static int
connect_until(const char *path)
{
	struct sockaddr_un a;

	memset(&a, 0, sizeof(a));
	a.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(a.sun_path))
	{
		fprintf(stderr, "shim_call: socket path too long\n");
		return -1;
	}
	strcpy(a.sun_path, path);
	while (now() < deadline)
	{
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

		if (fd < 0)
			return -1;
		if (connect(fd, (struct sockaddr *) &a, sizeof(a)) == 0)
		{
			fcntl(fd, F_SETFL, O_NONBLOCK);
			return fd;
		}
		close(fd);
		usleep(10000);
	}
	fprintf(stderr, "shim_call: could not connect to %s: %s\n", path,
			strerror(errno));
	return -1;
}

/*
 * call: one request, one response, as the worker does.  0, 1 (closed or
 * malformed, said), 3 (deadline).
 */
static int
call(int fd, const struct frame_request *req, const struct frame_limits *l,
	 struct frame_response *res)
{
	struct frame_writer w;
	struct frame_reader r;
	int					rc;

	rc = frame_writer_request(&w, req, l);
	if (rc != FRAME_OK)
	{
		fprintf(stderr, "shim_call: %s\n", frame_strerror(rc));
		return 1;
	}
	while ((rc = frame_writer_write(&w, fd)) == 0)
		if (wait_for(fd, POLLOUT) != 1)
		{
			frame_writer_free(&w);
			fprintf(stderr, "shim_call: could not send within the time\n");
			return 3;
		}
	frame_writer_free(&w);
	if (rc < 0)
	{
		fprintf(stderr, "shim_call: could not send: %s\n", strerror(errno));
		return 1;
	}

	frame_reader_init(&r, FRAME_KIND_RESPONSE, l);
	while ((rc = frame_reader_read(&r, fd)) == 0)
		if (wait_for(fd, POLLIN) != 1)
		{
			frame_reader_reset(&r);
			fprintf(stderr, "shim_call: no response within the time\n");
			return 3;
		}
	if (rc == 1)
		rc = frame_reader_take_response(&r, res);
	else
		frame_reader_reset(&r);
	if (rc != FRAME_OK)
	{
		fprintf(stderr, "shim_call: %s%s%s\n", frame_strerror(rc),
				rc == FRAME_EIO ? ": " : "",
				rc == FRAME_EIO ? strerror(errno) : "");
		return 1;
	}
	return 0;
}

static char *
read_file(const char *path, size_t *len)
{
	FILE  *f = fopen(path, "rb");
	char  *buf = NULL;
	size_t cap = 0;

	*len = 0;
	if (f == NULL)
		return NULL;
	for (;;)
	{
		size_t n;

		if (*len == cap)
		{
			char *grown;

			cap = cap ? cap * 2 : 65536;
			grown = realloc(buf, cap);
			if (grown == NULL)
			{
				free(buf);
				fclose(f);
				return NULL;
			}
			buf = grown;
		}
		n = fread(buf + *len, 1, cap - *len, f);
		if (n == 0)
			break;
		*len += n;
	}
	fclose(f);
	return buf;
}

static int
write_file(const char *dir, const char *name, const char *data, size_t len)
{
	char  path[4096];
	FILE *f;
	int	  rc;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (f == NULL)
	{
		perror(path);
		return -1;
	}
	rc = (len == 0 || fwrite(data, 1, len, f) == len) ? 0 : -1;
	if (fclose(f) != 0)
		rc = -1;
	return rc;
}

/* show: the response on stdout, or into files under dir. */
static int
show(const struct frame_response *res, const char *dir)
{
	char  *hs = NULL;
	size_t hslen = 0;
	FILE  *m;
	int	   rc = 0;

	m = open_memstream(&hs, &hslen);
	if (m == NULL)
		return -1;
	for (size_t i = 0; i < res->nheaders; i++)
	{
		fwrite(res->headers[i].name, 1, res->headers[i].name_len, m);
		fputs(": ", m);
		fwrite(res->headers[i].value, 1, res->headers[i].value_len, m);
		fputc('\n', m);
	}
	fclose(m);
	if (dir != NULL)
	{
		char status[16];

		snprintf(status, sizeof(status), "%d\n", res->status);
		if (write_file(dir, "status", status, strlen(status)) != 0 ||
			write_file(dir, "headers", hs, hslen) != 0 ||
			write_file(dir, "logs", res->logs, res->logs_len) != 0 ||
			write_file(dir, "body", res->body, res->body_len) != 0)
			rc = -1;
	}
	else
	{
		printf("status %d\n", res->status);
		fwrite(hs, 1, hslen, stdout);
		printf("--- logs (%zu bytes)\n", res->logs_len);
		fwrite(res->logs, 1, res->logs_len, stdout);
		printf("--- body (%zu bytes)\n", res->body_len);
		fwrite(res->body, 1, res->body_len, stdout);
		fflush(stdout);
	}
	free(hs);
	return rc;
}

static void
usage(void)
{
	fprintf(stderr, "usage: shim_call [-X METHOD] [-p PATH] [-q QUERY] "
					"[-H 'NAME: VALUE']... [-d BODY | -f FILE] [-n COUNT] "
					"[-t SECONDS] [-o DIR] SOCKET\n");
}

int
main(int argc, char **argv)
{
	struct frame_limits	  limits;
	struct frame_request  req;
	struct frame_response res;
	struct frame_header	  hs[MAX_HEADERS];
	const char			 *dir = NULL;
	char				 *file_body = NULL;
	double				  timeout = 10;
	int					  count = 1;
	int					  opt, fd, rc = 0;

	memset(&req, 0, sizeof(req));
	memset(&res, 0, sizeof(res));
	req.method = "GET";
	req.path = "/";
	req.query = "";
	req.body = "";
	req.headers = hs;
	while ((opt = getopt(argc, argv, "X:p:q:H:d:f:n:t:o:")) != -1)
	{
		switch (opt)
		{
			case 'X':
				req.method = optarg;
				break;
			case 'p':
				req.path = optarg;
				break;
			case 'q':
				req.query = optarg;
				break;
			case 'H':
			{
				char *colon = strchr(optarg, ':');
				char *v;

				if (colon == NULL || req.nheaders == MAX_HEADERS)
				{
					usage();
					return 2;
				}
				for (v = colon + 1; *v == ' '; v++)
					;
				hs[req.nheaders].name = optarg;
				hs[req.nheaders].name_len = (size_t) (colon - optarg);
				hs[req.nheaders].value = v;
				hs[req.nheaders].value_len = strlen(v);
				req.nheaders++;
				break;
			}
			case 'd':
				req.body = optarg;
				req.body_len = strlen(optarg);
				break;
			case 'f':
				free(file_body);
				file_body = read_file(optarg, &req.body_len);
				if (file_body == NULL)
				{
					perror(optarg);
					return 2;
				}
				req.body = file_body;
				break;
			case 'n':
				count = atoi(optarg);
				break;
			case 't':
				timeout = atof(optarg);
				break;
			case 'o':
				dir = optarg;
				break;
			default:
				usage();
				return 2;
		}
	}
	if (optind != argc - 1 || count < 1 || timeout <= 0)
	{
		usage();
		return 2;
	}
	req.method_len = strlen(req.method);
	req.path_len = strlen(req.path);
	req.query_len = strlen(req.query);
	frame_limits_default(&limits);

	deadline = now() + timeout;
	fd = connect_until(argv[optind]);
	if (fd < 0)
		return 3;
	for (int i = 0; i < count && rc == 0; i++)
	{
		frame_response_free(&res);
		rc = call(fd, &req, &limits, &res);
	}
	if (rc == 0 && show(&res, dir) != 0)
		rc = 1;
	frame_response_free(&res);
	free(file_body);
	close(fd);
	return rc;
}
