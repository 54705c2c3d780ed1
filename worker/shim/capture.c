/*
 * worker/shim/capture.c
 *	  The logs of a request: what the function (and any process it starts)
 *	  writes to fds 1 and 2 while the request runs.
 *
 *	  Fds 1 and 2 are the write end of one pipe, so that stdout and stderr
 *	  keep their relative order.  A thread blocks in poll on the read end
 *	  and drains it as data comes: during a request into a ring of
 *	  max_logs bytes, which keeps the last bytes when there are more;
 *	  between requests to the container's stderr (a background thread's
 *	  chatter, say).  A function writing megabytes therefore never blocks
 *	  on a full pipe for long, and costs at most max_logs of memory.
 *
 *	  At the end of a request the serve loop, holding the lock, reads what
 *	  is left in the pipe itself (the read end is non-blocking): every
 *	  write(2) the function finished before returning is in the pipe or
 *	  already in the ring, so nothing it wrote is missed and nothing
 *	  waits for the thread.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "capture.h"

/* Below this cap the logs carry no "dropped" line, only the last bytes. */
#define MARK_MIN_CAP 256

static int			   rd = -1;	 /* the pipe's read end, non-blocking */
static int			   out = -1; /* the original stderr */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static char			  *ring;	   /* cap bytes */
static size_t		   cap;		   /* max_logs */
static uint64_t		   total;	   /* bytes of this request's output */
static volatile bool   in_request; /* read by capture_dump too */
static char			  *linear;	   /* the logs when the ring wrapped (cap) */

/* write_all: len bytes to fd through short writes and EINTR; -1 if not. */
static int
write_all(int fd, const char *p, size_t len)
{
	while (len > 0)
	{
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t) n;
	}
	return 0;
}

/*
 * drain_locked: reads the pipe until it is empty: into the ring during a
 * request, else on to the original stderr.  Returns false at end of file
 * (every write end closed) or on an error, true otherwise.  The caller
 * holds the lock.
 */
static bool
drain_locked(void)
{
	char	skip[4096];
	ssize_t n;

	for (;;)
	{
		if (in_request)
		{
			size_t pos = (size_t) (total % cap);

			n = read(rd, ring + pos, cap - pos);
			if (n > 0)
				total += (uint64_t) n;
		}
		else
		{
			n = read(rd, skip, sizeof(skip));
			if (n > 0)
				(void) write_all(out, skip, (size_t) n);
		}
		if (n > 0)
			continue;
		if (n < 0 && errno == EINTR)
			continue;
		return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
	}
}

static void *
drain_main(void *arg)
{
	struct pollfd p = {.fd = rd, .events = POLLIN};
	bool		  more = true;

	(void) arg;

	/*
	 * Lowest priority: a function's log line then does not make this
	 * thread preempt the function on its core (3 us a request on one
	 * core, bench/shim.sh); it runs when the function waits, at the latest
	 * when the pipe is full.
	 */
	(void) setpriority(PRIO_PROCESS, (id_t) gettid(), 19);
	while (more)
	{
		if (poll(&p, 1, -1) < 0)
		{
			if (errno == EINTR)
				continue;
			break;
		}
		pthread_mutex_lock(&lock);
		more = drain_locked();
		pthread_mutex_unlock(&lock);
	}
	return NULL;
}

int
capture_init(uint32_t max_logs, int *orig_stderr)
{
	int			   p[2] = {-1, -1};
	int			   saved = -1;
	sigset_t	   all, old;
	pthread_t	   thread;
	pthread_attr_t attr;
	int			   rc;

	*orig_stderr = STDERR_FILENO;
	if (max_logs == 0)
		return -1;
	ring = malloc(max_logs);
	if (ring == NULL)
	{
		fprintf(stderr, "cpub-shim: out of memory for the logs\n");
		return -1;
	}
	cap = max_logs;
	if (pipe2(p, O_CLOEXEC) != 0 || fcntl(p[0], F_SETFL, O_NONBLOCK) != 0 ||
		(saved = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3)) < 0)
	{
		fprintf(stderr, "cpub-shim: cannot capture the output: %s\n",
				strerror(errno));
		goto fail;
	}
	fflush(stdout);
	fflush(stderr);
	if (dup2(p[1], STDOUT_FILENO) < 0 || dup2(p[1], STDERR_FILENO) < 0)
	{
		fprintf(stderr, "cpub-shim: cannot redirect the output: %s\n",
				strerror(errno));
		dup2(saved, STDOUT_FILENO); /* was stderr's too, if it got that far */
		goto fail;
	}
	close(p[1]);
	p[1] = -1;
	rd = p[0];
	out = saved;

	/* The thread takes no signals: they are the serve loop's. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 64 * 1024);
	rc = pthread_create(&thread, &attr, drain_main, NULL);
	pthread_attr_destroy(&attr);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0)
	{
		/* Output would fill the pipe and block: undo the redirection. */
		dup2(saved, STDOUT_FILENO);
		dup2(saved, STDERR_FILENO);
		fprintf(stderr, "cpub-shim: cannot start the log thread: %s\n",
				strerror(rc));
		rd = -1;
		out = -1;
		goto fail;
	}
	*orig_stderr = saved;
	return 0;

fail:
	if (p[0] >= 0)
		close(p[0]);
	if (p[1] >= 0)
		close(p[1]);
	if (saved >= 0)
		close(saved);
	free(ring);
	ring = NULL;
	cap = 0;
	return -1;
}

void
capture_begin(void)
{
	if (rd < 0)
		return;
	clearerr(stdout);
	clearerr(stderr);
	pthread_mutex_lock(&lock);
	total = 0;
	in_request = true;
	pthread_mutex_unlock(&lock);
}

void
capture_end(const char **logs, size_t *len)
{
	char   mark[80];
	int	   marklen;
	size_t keep, start;

	*logs = NULL;
	*len = 0;
	if (rd < 0)
		return;
	fflush(stdout);
	fflush(stderr);
	pthread_mutex_lock(&lock);
	(void) drain_locked();
	in_request = false;
	pthread_mutex_unlock(&lock);

	/* The thread leaves the ring alone until the next capture_begin. */
	if (total <= cap)
	{
		*logs = ring;
		*len = (size_t) total;
		return;
	}
	if (linear == NULL && (linear = malloc(cap)) == NULL)
	{
		/* The last bytes, as they lie in the ring. */
		*logs = ring;
		*len = cap;
		return;
	}
	marklen = 0;
	keep = cap;
	if (cap >= MARK_MIN_CAP)
	{
		uint64_t dropped = total - cap;

		/*
		 * The mark takes room from the bytes kept, which it counts as
		 * dropped: grow the count until it holds (it only grows).
		 */
		for (;;)
		{
			uint64_t more;

			marklen = snprintf(mark, sizeof(mark),
							   "[cpub: %" PRIu64
							   " earlier bytes of output dropped]\n",
							   dropped);
			more = total - (cap - (size_t) marklen);
			if (more == dropped)
				break;
			dropped = more;
		}
		keep = cap - (size_t) marklen;
		memcpy(linear, mark, (size_t) marklen);
	}
	/* The last keep bytes end where the next byte would go. */
	start = (size_t) ((total - keep) % cap);
	if (start + keep <= cap)
		memcpy(linear + marklen, ring + start, keep);
	else
	{
		memcpy(linear + marklen, ring + start, cap - start);
		memcpy(linear + marklen + (cap - start), ring, keep - (cap - start));
	}
	*logs = linear;
	*len = cap;
}

void
capture_dump(int fd)
{
	char	buf[4096];
	ssize_t n;

	if (rd < 0 || !in_request)
		return;
	/*
	 * The drain thread may be between a read into the ring and counting
	 * it: wait (up to 100 ms) until it lets go of the lock, so the
	 * function's last words are all there.  pthread_mutex_trylock is not
	 * on the async-signal-safe list, but only tests the lock's word; if
	 * it never frees, dump what there is.
	 */
	for (int i = 0; i < 100; i++)
	{
		struct timespec ms = {0, 1000000};

		if (pthread_mutex_trylock(&lock) == 0)
		{
			pthread_mutex_unlock(&lock);
			break;
		}
		nanosleep(&ms, NULL);
	}
	if (total <= cap)
		(void) write_all(fd, ring, (size_t) total);
	else
	{
		size_t pos = (size_t) (total % cap);

		(void) write_all(fd, ring + pos, cap - pos);
		(void) write_all(fd, ring, pos);
	}
	while ((n = read(rd, buf, sizeof(buf))) > 0)
		(void) write_all(fd, buf, (size_t) n);
}
