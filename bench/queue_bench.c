/*
 * bench/queue_bench.c: figures of the job queue (sql/55_jobs.sql) through
 * libpq, as a worker would see them.
 *
 *   queue_bench throughput [-c CLIENTS] [-b BATCH] [-s] [-k KINDS]
 *                          [-T SECONDS] [-P SECONDS]
 *	   CLIENTS threads (2), each with its own connection and registered
 *	   worker, drain the queue: each loop is one call of
 *	   cpub_worker.job_complete_and_claim(done, BATCH) (one round trip, one
 *	   commit), or with -s two calls, job_claim then job_complete (two round
 *	   trips, two commits).  Stops when a claim comes back empty (the queue
 *	   is drained) or after SECONDS; -P prints the rate every SECONDS.
 *	   KINDS is a text[] literal ('{run}'); the default (none) claims every
 *	   kind the worker registered for, which is all of them.
 *   queue_bench latency [-n SAMPLES] [-i MILLISECONDS]
 *	   One thread LISTENs on cpub_jobs and, woken, calls
 *	   job_complete_and_claim (with the job it had) until nothing comes
 *	   back, as a worker does; another enqueues one run job every
 *	   MILLISECONDS (5) with cpub.job_enqueue, which needs a superuser.  The
 *	   latency of a job is from just before its enqueue is sent to when its
 *	   claim has returned (both durable commits included); also printed,
 *	   the medians of its parts: the enqueue call, until the listener
 *	   sent its claim, the claim call.
 *
 * Connects with libpq's environment (PGHOST, PGPORT, PGUSER, PGDATABASE).
 * Prints "key=value" lines for bench/queue.sh to read.  Exits 1 on any
 * error, after printing it.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#define MAX_CLIENTS 64
#define MAX_BATCH	1000
/* An id in a text array literal: 19 digits and a comma. */
#define ID_TEXT_MAX 21
/* Well within the default worker_timeout of 30 seconds. */
#define HEARTBEAT_SECONDS 5

struct options
{
	const char *mode;
	int			clients;
	int			batch;
	bool		separate;
	const char *kinds;	  /* NULL: every kind */
	double		seconds;  /* 0: until the queue is drained */
	double		progress; /* 0: no progress lines */
	int			samples;
	double		interval_ms;
};

struct client
{
	int					  index;
	pthread_t			  thread;
	const struct options *opt;
	atomic_llong		  jobs; /* completed so far */
	atomic_bool			  finished;
	double				  last_done; /* when its last completion returned */
	int					  failed;
};

static pthread_barrier_t start_barrier;
static atomic_bool		 stop_now;

/* Seconds on the monotonic clock. */
static double
now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * A connection from the environment, or NULL after printing why.  The
 * caller owns it (PQfinish).
 */
static PGconn *
bench_connect(void)
{
	PGconn *conn = PQconnectdb("");

	if (PQstatus(conn) != CONNECTION_OK)
	{
		fprintf(stderr, "queue_bench: could not connect: %s",
				PQerrorMessage(conn));
		PQfinish(conn);
		return NULL;
	}
	return conn;
}

/*
 * Runs a prepared statement; returns its result when it succeeded (the
 * caller PQclears it), else NULL after printing the error.
 */
static PGresult *
bench_exec(PGconn *conn, const char *stmt, int nparams,
		   const char *const *params)
{
	PGresult *res = PQexecPrepared(conn, stmt, nparams, params, NULL, NULL, 0);
	ExecStatusType st = PQresultStatus(res);

	if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK)
	{
		fprintf(stderr, "queue_bench: %s failed: %s", stmt,
				PQerrorMessage(conn));
		PQclear(res);
		return NULL;
	}
	return res;
}

/* Prepares a statement; 0 or -1 after printing the error. */
static int
bench_prepare(PGconn *conn, const char *name, const char *sql)
{
	PGresult *res = PQprepare(conn, name, sql, 0, NULL);
	int		  rc = 0;

	if (PQresultStatus(res) != PGRES_COMMAND_OK)
	{
		fprintf(stderr, "queue_bench: could not prepare %s: %s", name,
				PQerrorMessage(conn));
		rc = -1;
	}
	PQclear(res);
	return rc;
}

/*
 * Registers a worker for every kind; writes its id into id (37 bytes).
 * 0 or -1.
 */
static int
bench_register(PGconn *conn, const char *host, char *id)
{
	char		pid[16];
	const char *params[2] = {host, pid};
	PGresult   *res;

	snprintf(pid, sizeof(pid), "%d", (int) getpid());
	if (bench_prepare(conn, "register",
					  "SELECT cpub_worker.worker_register($1, $2::integer,"
					  " '{run,build,cleanup,maintenance}', 'queue_bench')") <
		0)
		return -1;
	res = bench_exec(conn, "register", 2, params);
	if (res == NULL)
		return -1;
	snprintf(id, 37, "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	return 0;
}

/*
 * Writes the ids of column 0 of res as a text array literal into buf, which
 * has room for PQntuples(res) * ID_TEXT_MAX + 3 bytes.
 */
static void
ids_literal(const PGresult *res, char *buf, size_t size)
{
	size_t len = 0;
	int	   n = PQntuples(res);

	buf[len++] = '{';
	for (int i = 0; i < n && len + ID_TEXT_MAX + 2 <= size; i++)
		len += snprintf(buf + len, size - len, "%s%s", i ? "," : "",
						PQgetvalue(res, i, 0));
	buf[len++] = '}';
	buf[len] = '\0';
}

/*
 * One draining client (a thread): see the header.  Sets c->failed on an
 * error.
 */
static void *
throughput_client(void *arg)
{
	struct client		 *c = arg;
	const struct options *opt = c->opt;
	PGconn				 *conn = bench_connect();
	PGresult			 *res = NULL;
	char				  worker[37];
	char				  batch[16];
	char				  host[32];
	size_t				  done_size = (size_t) opt->batch * ID_TEXT_MAX + 3;
	char				 *done = malloc(done_size);
	int					  held = 0;
	bool				  waited = false;
	double				  next_heartbeat;

	snprintf(batch, sizeof(batch), "%d", opt->batch);
	snprintf(host, sizeof(host), "queue_bench-%d", c->index);
	if (conn == NULL || done == NULL || bench_register(conn, host, worker) < 0)
		goto fail;
	if (bench_prepare(conn, "next",
					  "SELECT id FROM cpub_worker.job_complete_and_claim("
					  "$1::uuid, $2::bigint[], $3::text[], $4::integer)") <
			0 ||
		bench_prepare(conn, "claim",
					  "SELECT id FROM cpub_worker.job_claim("
					  "$1::uuid, $2::text[], $3::integer)") < 0 ||
		bench_prepare(
			conn, "complete",
			"SELECT cpub_worker.job_complete($1::uuid, $2::bigint[])") < 0 ||
		bench_prepare(conn, "heartbeat",
					  "SELECT cpub_worker.worker_heartbeat($1::uuid)") < 0 ||
		bench_prepare(conn, "deregister",
					  "SELECT cpub_worker.worker_deregister($1::uuid)") < 0)
		goto fail;
	strcpy(done, "{}");

	pthread_barrier_wait(&start_barrier);
	waited = true;
	next_heartbeat = now_seconds() + HEARTBEAT_SECONDS;
	while (!atomic_load(&stop_now))
	{
		int n;

		/* As a worker does, or it would be found dead and lose its jobs. */
		if (now_seconds() >= next_heartbeat)
		{
			const char *hb[1] = {worker};

			res = bench_exec(conn, "heartbeat", 1, hb);
			if (res == NULL)
				goto fail;
			PQclear(res);
			res = NULL;
			next_heartbeat += HEARTBEAT_SECONDS;
		}

		if (opt->separate)
		{
			const char *claim[3] = {worker, opt->kinds, batch};

			res = bench_exec(conn, "claim", 3, claim);
			if (res == NULL)
				goto fail;
			n = PQntuples(res);
			if (n == 0)
				break;
			ids_literal(res, done, done_size);
			PQclear(res);
			{
				const char *complete[2] = {worker, done};

				res = bench_exec(conn, "complete", 2, complete);
			}
			if (res == NULL)
				goto fail;
			PQclear(res);
			res = NULL;
			atomic_fetch_add(&c->jobs, n);
			c->last_done = now_seconds();
		}
		else
		{
			const char *next[4] = {worker, done, opt->kinds, batch};

			res = bench_exec(conn, "next", 4, next);
			if (res == NULL)
				goto fail;
			if (held > 0)
			{
				atomic_fetch_add(&c->jobs, held);
				c->last_done = now_seconds();
			}
			n = PQntuples(res);
			held = n;
			ids_literal(res, done, done_size);
			PQclear(res);
			res = NULL;
			if (n == 0)
				break;
		}
	}
	/* Stopped by time: complete what it holds, as a worker would. */
	if (held > 0)
	{
		const char *complete[2] = {worker, done};

		res = bench_exec(conn, "complete", 2, complete);
		if (res == NULL)
			goto fail;
		PQclear(res);
		res = NULL;
		atomic_fetch_add(&c->jobs, held);
		c->last_done = now_seconds();
	}
	{
		const char *dereg[1] = {worker};

		res = bench_exec(conn, "deregister", 1, dereg);
		if (res == NULL)
			goto fail;
		PQclear(res);
	}
	PQfinish(conn);
	free(done);
	atomic_store(&c->finished, true);
	return NULL;

fail:
	c->failed = 1;
	atomic_store(&stop_now, true);
	if (!waited)
		pthread_barrier_wait(&start_barrier);
	PQfinish(conn);
	free(done);
	atomic_store(&c->finished, true);
	return NULL;
}

static long long
total_jobs(struct client *clients, int n)
{
	long long sum = 0;

	for (int i = 0; i < n; i++)
		sum += atomic_load(&clients[i].jobs);
	return sum;
}

/* The throughput mode; 0 or 1. */
static int
run_throughput(const struct options *opt)
{
	struct client *clients = calloc(opt->clients, sizeof(struct client));
	double		   start, end = 0, next_report, last_report;
	long long	   last_jobs = 0, jobs;
	int			   failed = 0;

	if (clients == NULL)
		return 1;
	pthread_barrier_init(&start_barrier, NULL, opt->clients + 1);
	for (int i = 0; i < opt->clients; i++)
	{
		clients[i].index = i;
		clients[i].opt = opt;
		atomic_init(&clients[i].jobs, 0);
		atomic_init(&clients[i].finished, false);
		if (pthread_create(&clients[i].thread, NULL, throughput_client,
						   &clients[i]) != 0)
		{
			/* The others wait at the barrier for it: give up at once. */
			fprintf(stderr, "queue_bench: could not start a thread\n");
			exit(1);
		}
	}
	pthread_barrier_wait(&start_barrier);
	start = now_seconds();
	last_report = start;
	next_report = start + (opt->progress > 0 ? opt->progress : 1e9);

	/* Wait, printing progress and stopping the clients after -T. */
	for (;;)
	{
		bool   running = false;
		double t;

		for (int i = 0; i < opt->clients; i++)
			if (!atomic_load(&clients[i].finished))
				running = true;
		if (!running)
			break;
		t = now_seconds();
		if (opt->seconds > 0 && t - start >= opt->seconds)
			atomic_store(&stop_now, true);
		if (t >= next_report)
		{
			jobs = total_jobs(clients, opt->clients);
			printf("progress t=%.0f jobs=%lld rate=%.0f\n", t - start, jobs,
				   (jobs - last_jobs) / (t - last_report));
			fflush(stdout);
			last_jobs = jobs;
			last_report = t;
			next_report += opt->progress;
		}
		nanosleep(&(struct timespec){.tv_nsec = 2000000}, NULL);
	}
	for (int i = 0; i < opt->clients; i++)
	{
		pthread_join(clients[i].thread, NULL);
		failed |= clients[i].failed;
		if (clients[i].last_done > end)
			end = clients[i].last_done;
	}
	jobs = total_jobs(clients, opt->clients);
	if (end <= start)
		end = now_seconds();
	printf("jobs=%lld seconds=%.3f rate=%.0f\n", jobs, end - start,
		   jobs / (end - start));
	free(clients);
	pthread_barrier_destroy(&start_barrier);
	return failed;
}

/*
 * The latency mode's shared state, per job: when its enqueue was sent and
 * returned, when the listener woke for it (sent its claim) and when the
 * claim returned.
 */
struct latency
{
	const struct options *opt;
	double				 *sent;
	double				 *acked;
	double				 *woke;
	double				 *claimed;
	atomic_int			  received;
	atomic_bool			  listening;
	int					  failed;
};

/*
 * The listening worker of the latency mode (a thread), looping as a worker
 * does: job_complete_and_claim with the job it just had until nothing
 * comes back, then wait for a notification.
 */
static void *
latency_listener(void *arg)
{
	struct latency *l = arg;
	PGconn		   *conn = bench_connect();
	PGresult	   *res = NULL;
	PGnotify	   *notify;
	char			worker[37];
	char			done[ID_TEXT_MAX + 3] = "{}";

	if (conn == NULL ||
		bench_register(conn, "queue_bench-listener", worker) < 0)
		goto fail;
	if (bench_prepare(conn, "next",
					  "SELECT id, (payload->>'seq')::integer"
					  " FROM cpub_worker.job_complete_and_claim("
					  "$1::uuid, $2::bigint[], NULL, 1)") < 0 ||
		bench_prepare(conn, "deregister",
					  "SELECT cpub_worker.worker_deregister($1::uuid)") < 0)
		goto fail;
	res = PQexec(conn, "LISTEN cpub_jobs");
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
	{
		fprintf(stderr, "queue_bench: LISTEN failed: %s",
				PQerrorMessage(conn));
		goto fail;
	}
	PQclear(res);
	res = NULL;
	atomic_store(&l->listening, true);

	while (atomic_load(&l->received) < l->opt->samples)
	{
		const char *next[2] = {worker, done};
		bool		woken = false;

		/* Complete what it has and claim, until nothing comes back. */
		for (;;)
		{
			int	   seq;
			double woke = now_seconds();
			double t;

			res = bench_exec(conn, "next", 2, next);
			if (res == NULL)
				goto fail;
			t = now_seconds();
			if (PQntuples(res) == 0)
			{
				strcpy(done, "{}");
				break;
			}
			seq = atoi(PQgetvalue(res, 0, 1));
			if (seq >= 0 && seq < l->opt->samples)
			{
				l->woke[seq] = woke;
				l->claimed[seq] = t;
			}
			snprintf(done, sizeof(done), "{%s}", PQgetvalue(res, 0, 0));
			PQclear(res);
			atomic_fetch_add(&l->received, 1);
		}
		PQclear(res);
		res = NULL;

		/* Then sleep until a notification (maybe already read). */
		while ((notify = PQnotifies(conn)) != NULL)
		{
			woken = true;
			PQfreemem(notify);
		}
		while (!woken && atomic_load(&l->received) < l->opt->samples)
		{
			struct pollfd pfd = {.fd = PQsocket(conn), .events = POLLIN};

			if (poll(&pfd, 1, 1000) < 0 && errno != EINTR)
			{
				perror("queue_bench: poll");
				goto fail;
			}
			if (!PQconsumeInput(conn))
			{
				fprintf(stderr, "queue_bench: %s", PQerrorMessage(conn));
				goto fail;
			}
			while ((notify = PQnotifies(conn)) != NULL)
			{
				woken = true;
				PQfreemem(notify);
			}
		}
	}
	{
		const char *dereg[1] = {worker};

		res = bench_exec(conn, "deregister", 1, dereg);
		if (res == NULL)
			goto fail;
		PQclear(res);
	}
	PQfinish(conn);
	return NULL;

fail:
	PQclear(res);
	l->failed = 1;
	atomic_store(&l->listening, true);
	atomic_store(&stop_now, true);
	PQfinish(conn);
	return NULL;
}

static int
compare_double(const void *a, const void *b)
{
	double x = *(const double *) a, y = *(const double *) b;

	return (x > y) - (x < y);
}

/* median_ms(values, from, to, n): the median of to[i] - from[i], in ms. */
static double
median_ms(double *scratch, const double *from, const double *to, int n)
{
	for (int i = 0; i < n; i++)
		scratch[i] = to[i] - from[i];
	qsort(scratch, n, sizeof(double), compare_double);
	return 1000 * scratch[n / 2];
}

/* The latency mode; 0 or 1. */
static int
run_latency(const struct options *opt)
{
	struct latency l = {.opt = opt};
	PGconn		  *conn = NULL;
	PGresult	  *res = NULL;
	pthread_t	   listener;
	char		   seq[16];
	const char	  *params[1] = {seq};
	int			   rc = 1;
	int			   n = opt->samples;
	double		   sum = 0;
	double		  *total = calloc(n, sizeof(double));
	double		  *scratch = calloc(n, sizeof(double));

	l.sent = calloc(n, sizeof(double));
	l.acked = calloc(n, sizeof(double));
	l.woke = calloc(n, sizeof(double));
	l.claimed = calloc(n, sizeof(double));
	atomic_init(&l.received, 0);
	atomic_init(&l.listening, false);
	if (total == NULL || scratch == NULL || l.sent == NULL ||
		l.acked == NULL || l.woke == NULL || l.claimed == NULL)
		goto done;
	conn = bench_connect();
	if (conn == NULL ||
		bench_prepare(
			conn, "enqueue",
			"SELECT cpub.job_enqueue('run',"
			" pg_catalog.jsonb_build_object('seq', $1::integer), 100)") < 0)
		goto done;
	if (pthread_create(&listener, NULL, latency_listener, &l) != 0)
	{
		fprintf(stderr, "queue_bench: could not start a thread\n");
		goto done;
	}
	while (!atomic_load(&l.listening))
		nanosleep(&(struct timespec){.tv_nsec = 1000000}, NULL);

	for (int i = 0; i < n && !atomic_load(&stop_now); i++)
	{
		long ns = (long) (opt->interval_ms * 1e6);

		nanosleep(&(struct timespec){.tv_sec = ns / 1000000000L,
									 .tv_nsec = ns % 1000000000L},
				  NULL);
		snprintf(seq, sizeof(seq), "%d", i);
		l.sent[i] = now_seconds();
		res = bench_exec(conn, "enqueue", 1, params);
		if (res == NULL)
		{
			atomic_store(&stop_now, true);
			break;
		}
		l.acked[i] = now_seconds();
		PQclear(res);
		res = NULL;
	}
	/* The listener stops after the last sample, or on an error. */
	while (!atomic_load(&stop_now) && atomic_load(&l.received) < n)
		nanosleep(&(struct timespec){.tv_nsec = 1000000}, NULL);
	if (atomic_load(&stop_now))
		atomic_store(&l.received, n);
	pthread_join(listener, NULL);
	if (l.failed || atomic_load(&stop_now))
		goto done;

	for (int i = 0; i < n; i++)
	{
		total[i] = l.claimed[i] - l.sent[i];
		sum += total[i];
	}
	qsort(total, n, sizeof(double), compare_double);
	/*
	 * Then medians of the parts: the enqueue call (its durable commit
	 * included), until the listener woke (sent its claim), the claim call.
	 */
	printf("samples=%d mean_ms=%.3f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f"
		   " max_ms=%.3f enqueue_p50_ms=%.3f woken_p50_ms=%.3f"
		   " claim_p50_ms=%.3f\n",
		   n, 1000 * sum / n, 1000 * total[n / 2],
		   1000 * total[(int) (n * 0.90)], 1000 * total[(int) (n * 0.99)],
		   1000 * total[n - 1], median_ms(scratch, l.sent, l.acked, n),
		   median_ms(scratch, l.sent, l.woke, n),
		   median_ms(scratch, l.woke, l.claimed, n));
	rc = 0;

done:
	PQclear(res);
	PQfinish(conn);
	free(l.sent);
	free(l.acked);
	free(l.woke);
	free(l.claimed);
	free(total);
	free(scratch);
	return rc;
}

static void
usage(void)
{
	fprintf(
		stderr,
		"usage: queue_bench throughput [-c CLIENTS] [-b BATCH] [-s] [-k KINDS]"
		" [-T SECONDS] [-P SECONDS]\n"
		"       queue_bench latency [-n SAMPLES] [-i MILLISECONDS]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	struct options opt = {
		.clients = 2, .batch = 1, .samples = 2000, .interval_ms = 5};
	int ch;

	if (argc < 2)
		usage();
	opt.mode = argv[1];
	optind = 2;
	while ((ch = getopt(argc, argv, "c:b:sk:T:P:n:i:")) != -1)
	{
		switch (ch)
		{
			case 'c':
				opt.clients = atoi(optarg);
				break;
			case 'b':
				opt.batch = atoi(optarg);
				break;
			case 's':
				opt.separate = true;
				break;
			case 'k':
				opt.kinds = optarg;
				break;
			case 'T':
				opt.seconds = atof(optarg);
				break;
			case 'P':
				opt.progress = atof(optarg);
				break;
			case 'n':
				opt.samples = atoi(optarg);
				break;
			case 'i':
				opt.interval_ms = atof(optarg);
				break;
			default:
				usage();
		}
	}
	if (opt.clients < 1 || opt.clients > MAX_CLIENTS || opt.batch < 1 ||
		opt.batch > MAX_BATCH || opt.samples < 1 || opt.interval_ms < 0)
		usage();
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (strcmp(opt.mode, "throughput") == 0)
		return run_throughput(&opt);
	if (strcmp(opt.mode, "latency") == 0)
		return run_latency(&opt);
	usage();
	return 2;
}
