/*
 * bench/http_floor.c: the floor of the HTTP front, a bare libmicrohttpd
 * server that answers every request with the same small JSON body.
 *
 *   http_floor [-a ADDRESS] [-p PORT] [-t THREADS]
 *	   Listens on ADDRESS (127.0.0.1), PORT (8081) with the threading mode
 *	   httpd/cpub-httpd uses: MHD_USE_EPOLL_INTERNAL_THREAD with a pool of
 *	   THREADS (2) threads, each with its own epoll loop.  Every request,
 *	   whatever its method and path, gets 200 with FLOOR_BODY as
 *	   application/json; nothing else is done: no routing, no header
 *	   parsing beyond libmicrohttpd's own, no database, no log.
 *
 * bench/http.sh runs wrk against it beside cpub-httpd: whatever the real
 * server spends above this figure is ours, what lies below is
 * libmicrohttpd, the kernel's loopback and wrk sharing the CPUs.  Runs
 * until SIGINT or SIGTERM, then stops the daemon and exits 0; exits 1 when
 * the daemon cannot start (e.g. the port is taken), 2 on bad arguments.
 */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

#define DEFAULT_ADDRESS "127.0.0.1"
#define DEFAULT_PORT	8081
#define DEFAULT_THREADS 2
#define MAX_THREADS		256

/* About the size of a small API answer; a literal, so never freed. */
#define FLOOR_BODY "{\"status\":\"ok\",\"server\":\"http_floor\"}"

/*
 * floor_answer: libmicrohttpd's access handler.  The first call for a
 * request only marks it seen; the next one (the headers are in) queues the
 * shared response (cls).  The floor is for GETs: a body is dropped.
 * Queuing on the first call would work too, but libmicrohttpd 0.9.75 then
 * answers "Connection: close" and wrk would reconnect for every request.
 * Returns MHD_YES, or what MHD_queue_response returns.
 */
static enum MHD_Result
floor_answer(void *cls, struct MHD_Connection *connection, const char *url,
			 const char *method, const char *version, const char *upload_data,
			 size_t *upload_data_size, void **req_cls)
{
	static int			 request_seen;
	struct MHD_Response *response = cls;

	(void) url;
	(void) method;
	(void) version;
	(void) upload_data;
	if (*req_cls == NULL)
	{
		*req_cls = &request_seen;
		return MHD_YES;
	}
	*upload_data_size = 0;
	return MHD_queue_response(connection, MHD_HTTP_OK, response);
}

static void
usage(void)
{
	fprintf(stderr, "usage: http_floor [-a ADDRESS] [-p PORT] [-t THREADS]\n");
	exit(2);
}

/*
 * parse_int: ARG as an integer in [MIN, MAX]; usage() otherwise.
 */
static int
parse_int(const char *arg, long min, long max)
{
	char *end;
	long  v;

	v = strtol(arg, &end, 10);
	if (end == arg || *end != '\0' || v < min || v > max)
		usage();
	return (int) v;
}

int
main(int argc, char **argv)
{
	const char			*address = DEFAULT_ADDRESS;
	int					 port = DEFAULT_PORT;
	int					 threads = DEFAULT_THREADS;
	struct sockaddr_in	 sin;
	struct MHD_Response *response = NULL;
	struct MHD_Daemon	*mhd = NULL;
	sigset_t			 stop_signals;
	int					 sig;
	int					 ch;
	int					 status = 1;

	while ((ch = getopt(argc, argv, "a:p:t:")) != -1)
	{
		switch (ch)
		{
			case 'a':
				address = optarg;
				break;
			case 'p':
				port = parse_int(optarg, 1, 65535);
				break;
			case 't':
				threads = parse_int(optarg, 1, MAX_THREADS);
				break;
			default:
				usage();
		}
	}
	if (optind != argc)
		usage();

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t) port);
	if (inet_pton(AF_INET, address, &sin.sin_addr) != 1)
	{
		fprintf(stderr, "http_floor: invalid IPv4 address \"%s\"\n", address);
		return 2;
	}

	/*
	 * Blocked before the daemon starts, so that its threads inherit the
	 * mask and the signals reach sigwait() below.
	 */
	sigemptyset(&stop_signals);
	sigaddset(&stop_signals, SIGINT);
	sigaddset(&stop_signals, SIGTERM);
	if (sigprocmask(SIG_BLOCK, &stop_signals, NULL) != 0)
	{
		perror("http_floor: sigprocmask");
		return 1;
	}

	response = MHD_create_response_from_buffer(
		strlen(FLOOR_BODY), (void *) FLOOR_BODY, MHD_RESPMEM_PERSISTENT);
	if (response == NULL ||
		MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE,
								"application/json") != MHD_YES)
	{
		fprintf(stderr, "http_floor: could not create the response\n");
		goto done;
	}

	mhd = MHD_start_daemon(MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG,
						   (uint16_t) port, NULL, NULL, floor_answer, response,
						   MHD_OPTION_SOCK_ADDR, (struct sockaddr *) &sin,
						   MHD_OPTION_THREAD_POOL_SIZE, (unsigned int) threads,
						   MHD_OPTION_END);
	if (mhd == NULL)
	{
		fprintf(stderr, "http_floor: could not listen on %s:%d\n", address,
				port);
		goto done;
	}
	printf("http_floor: listening on %s:%d, %d threads\n", address, port,
		   threads);
	fflush(stdout);

	if (sigwait(&stop_signals, &sig) != 0)
	{
		fprintf(stderr, "http_floor: sigwait failed\n");
		goto done;
	}
	status = 0;

done:
	if (mhd != NULL)
		MHD_stop_daemon(mhd);
	if (response != NULL)
		MHD_destroy_response(response);
	return status;
}
