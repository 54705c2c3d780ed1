/*
 * httpd/src/dispatch.c
 *	  Resumes suspended requests when their executions finish.
 *
 *	  A synchronous invocation must not hold an HTTP thread while the
 *	  function runs, so its handler suspends the connection here.  One
 *	  thread holds a database session that LISTENs on cpub_executions; each
 *	  notification "EXECUTION_ID STATUS FUNCTION_ID" resumes the request
 *	  waiting for that execution and every logs follower of that function.
 *	  The same thread resumes requests whose deadline passed (the caller
 *	  then gets 504, or a follower an empty page).
 *
 *	  Notifications sent while the session was down are lost, so after
 *	  every reconnect all waiters are resumed to look at their execution
 *	  again.  A completion that arrives before its request registered is
 *	  kept in a ring of recent completions.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "dispatch.h"
#include "log.h"
#include "pool.h"
#include "server.h"

#define RECENT 4096

static struct
{
	pthread_mutex_t	   lock;
	pthread_t		   thread;
	bool			   running;
	bool			   stopping;
	bool			   listening;
	int				   wake_pipe[2];
	char			  *conninfo;
	struct request	  *waiters; /* linked by wait_next */
	int				   nwaiting;
	char			   recent[RECENT][37]; /* execution ids that finished */
	char			   recent_fid[RECENT][37]; /* ... and their functions */
	unsigned long long recent_seq[RECENT];	   /* ... and their d.seq */
	unsigned long long seq;					   /* notifications heard */
	unsigned		   recent_next;
} d = {.lock = PTHREAD_MUTEX_INITIALIZER, .wake_pipe = {-1, -1}};

static void
poke(void)
{
	char c = 1;

	if (d.wake_pipe[1] >= 0 && write(d.wake_pipe[1], &c, 1) < 0)
		(void) 0; /* full: the thread is awake anyway */
}

/* Call with the lock held: unlinks req and resumes it. */
static void
wake_locked(struct request *req, struct request **link, enum wake_reason why)
{
	*link = req->wait_next;
	req->wait_next = NULL;
	req->waiting = false;
	req->wake = why;
	d.nwaiting--;
	request_resume(req);
}

static bool
recent_has(const char *id)
{
	for (unsigned i = 0; i < RECENT; i++)
		if (d.recent[i][0] == id[0] && strcmp(d.recent[i], id) == 0)
			return true;
	return false;
}

/* recent_fid_since: whether fid finished after notification seq. */
static bool
recent_fid_since(const char *fid, unsigned long long seq)
{
	for (unsigned i = 0; i < RECENT; i++)
		if (d.recent_seq[i] > seq && strcmp(d.recent_fid[i], fid) == 0)
			return true;
	return false;
}

unsigned long long
dispatch_seq(void)
{
	unsigned long long s;

	pthread_mutex_lock(&d.lock);
	s = d.seq;
	pthread_mutex_unlock(&d.lock);
	return s;
}

void
dispatch_wait(struct request *req)
{
	pthread_mutex_lock(&d.lock);
	if (d.stopping)
	{
		pthread_mutex_unlock(&d.lock);
		req->wake = WAKE_SHUTDOWN;
		req->state = REQ_RESUMED;
		/* Not suspended: the handler is called again at once by MHD?  No:
		 * answer through a suspend/resume pair so the flow stays one. */
		request_suspend(req);
		request_resume(req);
		return;
	}
	if (req->is_follow ? recent_fid_since(req->function_id, req->wait_seq)
					   : recent_has(req->execution_id))
	{
		pthread_mutex_unlock(&d.lock);
		req->wake = WAKE_DONE;
		request_suspend(req);
		request_resume(req);
		return;
	}
	req->wake = WAKE_NONE;
	req->waiting = true;
	req->wait_next = d.waiters;
	d.waiters = req;
	d.nwaiting++;
	request_suspend(req);
	pthread_mutex_unlock(&d.lock);
	poke(); /* its deadline may be the nearest */
}

void
dispatch_forget(struct request *req)
{
	if (!req->waiting)
		return;
	pthread_mutex_lock(&d.lock);
	for (struct request **link = &d.waiters; *link; link = &(*link)->wait_next)
		if (*link == req)
		{
			*link = req->wait_next;
			req->waiting = false;
			d.nwaiting--;
			break;
		}
	pthread_mutex_unlock(&d.lock);
}

bool
dispatch_listening(void)
{
	bool b;

	pthread_mutex_lock(&d.lock);
	b = d.listening;
	pthread_mutex_unlock(&d.lock);
	return b;
}

int
dispatch_waiting(void)
{
	int n;

	pthread_mutex_lock(&d.lock);
	n = d.nwaiting;
	pthread_mutex_unlock(&d.lock);
	return n;
}

/* on_finished: an execution finished (from a notification). */
static void
on_finished(const char *payload)
{
	char id[37] = "";
	char status[16] = "";
	char fid[37] = "";

	if (sscanf(payload, "%36s %15s %36s", id, status, fid) < 2)
		return;
	pthread_mutex_lock(&d.lock);
	snprintf(d.recent[d.recent_next], sizeof(d.recent[0]), "%s", id);
	snprintf(d.recent_fid[d.recent_next], sizeof(d.recent_fid[0]), "%s", fid);
	d.recent_seq[d.recent_next] = ++d.seq;
	d.recent_next = (d.recent_next + 1) % RECENT;
	for (struct request **link = &d.waiters; *link;)
	{
		struct request *r = *link;

		if (!r->is_follow && strcmp(r->execution_id, id) == 0)
			wake_locked(r, link, WAKE_DONE);
		else if (r->is_follow && fid[0] && strcmp(r->function_id, fid) == 0)
			wake_locked(r, link, WAKE_EVENT);
		else
			link = &r->wait_next;
	}
	pthread_mutex_unlock(&d.lock);
}

/* wake_all: resumes every waiter (after a reconnect, or at shutdown). */
static void
wake_all(enum wake_reason why)
{
	pthread_mutex_lock(&d.lock);
	while (d.waiters != NULL)
		wake_locked(d.waiters, &d.waiters,
					why == WAKE_DONE && d.waiters->is_follow ? WAKE_EVENT
															 : why);
	pthread_mutex_unlock(&d.lock);
}

/* expire: resumes the waiters whose deadline passed; returns the ms until
 * the next deadline (at most 1000). */
static int
expire(void)
{
	struct timespec now;
	long			next = 1000;

	clock_gettime(CLOCK_MONOTONIC, &now);
	pthread_mutex_lock(&d.lock);
	for (struct request **link = &d.waiters; *link;)
	{
		struct request *r = *link;
		long			ms = (r->deadline.tv_sec - now.tv_sec) * 1000 +
				  (r->deadline.tv_nsec - now.tv_nsec) / 1000000;

		if (ms <= 0)
			wake_locked(r, link, WAKE_TIMEOUT);
		else
		{
			if (ms < next)
				next = ms;
			link = &r->wait_next;
		}
	}
	pthread_mutex_unlock(&d.lock);
	return (int) next;
}

static PGconn *
listen_connect(void)
{
	const char *keys[] = {"dbname", "connect_timeout", "application_name",
						  NULL};
	const char *vals[] = {d.conninfo, "3", "cpub-httpd dispatcher", NULL};
	PGconn	   *conn = PQconnectdbParams(keys, vals, 1);
	PGresult   *res;

	if (conn != NULL)
		PQsetNoticeProcessor(conn, db_notice, NULL);
	if (conn == NULL || PQstatus(conn) != CONNECTION_OK)
	{
		PQfinish(conn);
		return NULL;
	}
	res = PQexec(conn, "LISTEN cpub_executions");
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
	{
		log_error("could not LISTEN: %s", PQerrorMessage(conn));
		PQclear(res);
		PQfinish(conn);
		return NULL;
	}
	PQclear(res);
	PQsetnonblocking(conn, 1);
	return conn;
}

static void *
dispatch_main(void *arg)
{
	PGconn *conn = NULL;
	bool	ever_connected = false;
	bool	reported = false;

	(void) arg;
	for (;;)
	{
		struct pollfd fds[2];
		int			  timeout;
		int			  nfds = 1;

		pthread_mutex_lock(&d.lock);
		if (d.stopping)
		{
			pthread_mutex_unlock(&d.lock);
			break;
		}
		pthread_mutex_unlock(&d.lock);

		if (conn == NULL)
		{
			conn = listen_connect();
			pthread_mutex_lock(&d.lock);
			d.listening = conn != NULL;
			pthread_mutex_unlock(&d.lock);
			if (conn != NULL)
			{
				log_info("listening for finished executions");
				reported = false;
				/* What finished while we were away was not heard. */
				if (ever_connected)
					wake_all(WAKE_DONE);
				ever_connected = true;
			}
			else if (!reported)
			{
				log_error("dispatcher: could not connect to the database; "
						  "retrying every second");
				reported = true;
			}
		}

		timeout = expire();
		fds[0].fd = d.wake_pipe[0];
		fds[0].events = POLLIN;
		if (conn != NULL)
		{
			fds[1].fd = PQsocket(conn);
			fds[1].events = POLLIN;
			nfds = 2;
		}
		if (poll(fds, (nfds_t) nfds, timeout) < 0 && errno != EINTR)
			break;
		if (fds[0].revents & POLLIN)
		{
			char buf[64];

			while (read(d.wake_pipe[0], buf, sizeof(buf)) > 0)
				;
		}
		if (conn != NULL && nfds == 2 && fds[1].revents)
		{
			PGnotify *n;

			if (PQconsumeInput(conn) != 1)
			{
				log_error("dispatcher: lost the database: %s",
						  PQerrorMessage(conn));
				PQfinish(conn);
				conn = NULL;
				pthread_mutex_lock(&d.lock);
				d.listening = false;
				pthread_mutex_unlock(&d.lock);
				continue;
			}
			while ((n = PQnotifies(conn)) != NULL)
			{
				on_finished(n->extra);
				PQfreemem(n);
			}
		}
	}
	PQfinish(conn);
	return NULL;
}

int
dispatch_start(const char *conninfo)
{
	d.conninfo = strdup(conninfo);
	if (d.conninfo == NULL || pipe2(d.wake_pipe, O_NONBLOCK | O_CLOEXEC) != 0)
		return -1;
	if (pthread_create(&d.thread, NULL, dispatch_main, NULL) != 0)
		return -1;
	d.running = true;
	return 0;
}

void
dispatch_shutdown(void)
{
	pthread_mutex_lock(&d.lock);
	d.stopping = true;
	pthread_mutex_unlock(&d.lock);
	wake_all(WAKE_SHUTDOWN);
	poke();
	if (d.running)
		pthread_join(d.thread, NULL);
	d.running = false;
}
