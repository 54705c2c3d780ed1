/*
 * worker/src/run.c
 *	  A run slot: claims one run job at a time and serves its execution in
 *	  a container of the warm pool.
 *
 *	  Each round is one pipeline on the slot's connection, one round trip
 *	  and one commit: the previous execution's outcome
 *	  (cpub_worker.execution_finish), the completion of its job and the
 *	  claim of the next, whose execution is started in the same statement
 *	  (cpub_worker.execution_start joined laterally to the claim).  A warm
 *	  invocation thus costs the worker one transaction.
 *
 *	  Per execution: the request frame goes to the container's shim, the
 *	  response frame comes back within the function's timeout.  A timeout
 *	  kills the container (error kind timeout); end of stream means the
 *	  process died (out_of_memory when the cgroup's OOM killer did it,
 *	  crash otherwise); a malformed frame is bad_response.  A failed
 *	  container is never reused.
 */
#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "db.h"
#include "frame.h"
#include "log.h"
#include "pool.h"
#include "run.h"
#include "text.h"
#include "worker.h"

#define LOG_CAP (256 * 1024)

static const char *const PREPARE[] = {
	"finish",
	"SELECT cpub_worker.execution_finish(execution_id => $1, worker_id => $2, "
	"response_status => $3, response_headers => $4, response_body => $5, "
	"logs => $6, error_kind => $7, error_message => $8, duration_ms => $9, "
	"memory_peak_kb => $10, cold_start => $11)",
	"claim",
	"SELECT j.id, s.function_id, s.version_id, s.version, s.runtime, s.image, "
	"s.memory_mb, s.timeout_seconds, s.max_concurrency, s.request_method, "
	"s.request_path, s.request_query, s.request_headers, s.request_body, "
	"s.config_generation, j.payload->>'execution_id' "
	"FROM cpub_worker.job_complete_and_claim(worker_id => $1, "
	"done => $2::bigint[], kinds => '{run}', \"limit\" => 1) j "
	"LEFT JOIN LATERAL cpub_worker.execution_start("
	"(j.payload->>'execution_id')::uuid, $1) s ON true",
	"complete",
	"SELECT cpub_worker.job_complete(worker_id => $1, ids => $2::bigint[])",
	"durable",
	"SELECT pg_catalog.set_config('synchronous_commit', 'on', true)",
	"claim_plain",
	"SELECT id, payload->>'execution_id' FROM "
	"cpub_worker.job_complete_and_claim(worker_id => $1, done => $2::bigint[], "
	"kinds => '{run}', \"limit\" => 1)",
	"start_one",
	"SELECT $1::bigint, s.function_id, s.version_id, s.version, s.runtime, "
	"s.image, s.memory_mb, s.timeout_seconds, s.max_concurrency, "
	"s.request_method, s.request_path, s.request_query, s.request_headers, "
	"s.request_body, s.config_generation, $2::text "
	"FROM cpub_worker.execution_start($2::uuid, $3::uuid) s",
	"fail_dead",
	"SELECT cpub_worker.job_fail(worker_id => $1, id => $2, error => $3, "
	"retry => false)",
	NULL,
};

/* The outcome of one execution, until it is reported. */
struct outcome
{
	char				  execution_id[UUID_LEN + 1];
	int					  status;
	char				 *headers; /* JSON text, or NULL */
	struct frame_response res;	   /* owns the body and the shim's logs */
	const char			 *body;
	size_t				  body_len;
	char				 *logs; /* UTF-8, capped */
	const char			 *error_kind;
	char				  error_message[512];
	double				  duration_ms;
	long				  memory_kb;
	bool				  cold;
	bool				  ran;	   /* a container was involved */
	bool				  abandon; /* stopping: not reported, given back */
};

static void
outcome_free(struct outcome *o)
{
	free(o->headers);
	free(o->logs);
	frame_response_free(&o->res);
	memset(o, 0, sizeof(*o));
}

/* Append a line of the worker's own to the execution's logs. */
static void logs_note(struct outcome *o, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
logs_note(struct outcome *o, const char *fmt, ...)
{
	char	line[600];
	char   *joined = NULL;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (asprintf(&joined, "%s%s[cpub] %s\n", o->logs ? o->logs : "",
				 o->logs && o->logs[0] && o->logs[strlen(o->logs) - 1] != '\n'
					 ? "\n"
					 : "",
				 line) < 0)
		return;
	free(o->logs);
	o->logs = joined;
}

static void fail(struct outcome *o, const char *kind, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void
fail(struct outcome *o, const char *kind, const char *fmt, ...)
{
	va_list ap;

	o->error_kind = kind;
	va_start(ap, fmt);
	vsnprintf(o->error_message, sizeof(o->error_message), fmt, ap);
	va_end(ap);
	logs_note(o, "%s: %s", kind, o->error_message);
}

/* The request's headers (a JSON object of strings or arrays of strings)
 * as frame headers; *store keeps what they point into. */
static int
request_headers(const char *text, struct frame_header **out, size_t *n,
				json_t **store)
{
	json_t	   *obj = json_loads(text, 0, NULL);
	const char *name;
	json_t	   *value;
	size_t		count = 0, k = 0;

	*out = NULL;
	*n = 0;
	*store = obj;
	if (!json_is_object(obj))
		return obj == NULL ? -1 : 0;
	json_object_foreach(obj, name, value) count +=
		json_is_array(value) ? json_array_size(value) : 1;
	*out = calloc(count ? count : 1, sizeof(**out));
	if (*out == NULL)
		return -1;
	json_object_foreach(obj, name, value)
	{
		size_t	i;
		json_t *v;

		if (json_is_string(value))
		{
			(*out)[k++] = (struct frame_header){name, strlen(name),
												json_string_value(value),
												json_string_length(value)};
			continue;
		}
		json_array_foreach(value, i, v) if (json_is_string(v))(*out)[k++] =
			(struct frame_header){name, strlen(name), json_string_value(v),
								  json_string_length(v)};
	}
	*n = k;
	return 0;
}

/*
 * exchange: sends req on fd and reads the response before deadline.
 * *all_sent says whether the whole request went out (an answer before
 * that leaves the stream out of step).
 * Returns 1 with *res filled, 0 at the deadline, FRAME_ECLOSED /
 * FRAME_ETRUNCATED / FRAME_EIO when the stream ended (the process died),
 * or another frame error for a malformed response.
 */
static int
exchange(int fd, const struct frame_request *req,
		 const struct frame_limits *lim, double deadline,
		 struct frame_response *res, bool *all_sent)
{
	struct frame_writer w;
	struct frame_reader r;
	int					rc;
	bool				sent = false;

	rc = frame_writer_request(&w, req, lim);
	if (rc < 0)
		return rc;
	frame_reader_init(&r, FRAME_KIND_RESPONSE, lim);
	for (;;)
	{
		struct pollfd p = {fd, sent ? POLLIN : POLLIN | POLLOUT, 0};
		double		  left = deadline - now_seconds();

		if (!sent)
		{
			rc = frame_writer_write(&w, fd);
			if (rc < 0)
				break;
			sent = rc == 1;
		}
		/* Read what there is, even before the request is all sent: a
		 * shim may answer early (and must not be blocked writing). */
		rc = frame_reader_read(&r, fd);
		if (rc != 0)
			break;
		if (left <= 0)
			break;
		if (poll(&p, 1, (int) (left * 1000) + 1) < 0 && errno != EINTR)
		{
			rc = FRAME_EIO;
			break;
		}
	}
	frame_writer_free(&w);
	*all_sent = sent;
	if (rc == 1)
		rc =
			frame_reader_take_response(&r, res) == FRAME_OK ? 1 : FRAME_EFIELD;
	else if (rc == 0)
		rc = 0;
	frame_reader_reset(&r);
	return rc;
}

/* The response headers as a JSON object (a repeated name: an array); the
 * reserved x-cpub-error header is taken out into *error_kind. */
static char *
response_headers(const struct frame_response *res, const char **error_kind)
{
	json_t *obj = json_object();
	char   *text;

	*error_kind = NULL;
	for (size_t i = 0; i < res->nheaders; i++)
	{
		const struct frame_header *h = &res->headers[i];
		char   *name = utf8_clean(h->name, h->name_len, NULL);
		char   *value = utf8_clean(h->value, h->value_len, NULL);
		json_t *old;

		if (name == NULL || value == NULL)
		{
			free(name);
			free(value);
			continue;
		}
		for (char *p = name; *p; p++)
			if (*p >= 'A' && *p <= 'Z')
				*p = (char) (*p - 'A' + 'a');
		if (strcmp(name, "x-cpub-error") == 0)
		{
			static const char *const kinds[] = {"crash", "bad_response",
												"out_of_memory"};

			/* An unknown kind is itself a bad response. */
			*error_kind = "bad_response";
			for (size_t k = 0; k < 3; k++)
				if (strcmp(value, kinds[k]) == 0)
					*error_kind = kinds[k];
		}
		else if ((old = json_object_get(obj, name)) == NULL)
			json_object_set_new(obj, name, json_string(value));
		else if (json_is_array(old))
			json_array_append_new(old, json_string(value));
		else
			json_object_set_new(obj, name, json_pack("[Os]", old, value));
		free(name);
		free(value);
	}
	text = json_dumps(obj, JSON_COMPACT);
	json_decref(obj);
	return text;
}

/* Serve one execution (its start row r, row 0) into o. */
static void
serve(PGconn *conn, PGresult *r, struct outcome *o)
{
	struct fn_spec		 spec;
	struct container	*c;
	struct frame_request req;
	struct frame_limits	 lim;
	json_t				*hstore = NULL;
	unsigned char		*body;
	size_t				 body_len = 0;
	char				 err[512];
	double				 t0, deadline;
	long				 oom_before;
	int					 rc;
	bool				 all_sent = false;

	fn_spec_read(&spec, r, 1, 14);

	frame_limits_default(&lim);
	lim.max_body = (uint32_t) (cfg.max_body_kb * 1024);
	lim.max_logs = LOG_CAP;
	memset(&req, 0, sizeof(req));
	req.method = PQgetvalue(r, 0, 9);
	req.method_len = (size_t) PQgetlength(r, 0, 9);
	req.path = PQgetvalue(r, 0, 10);
	req.path_len = (size_t) PQgetlength(r, 0, 10);
	req.query = PQgetvalue(r, 0, 11);
	req.query_len = (size_t) PQgetlength(r, 0, 11);
	body = PQunescapeBytea((const unsigned char *) PQgetvalue(r, 0, 13),
						   &body_len);
	t0 = now_seconds();
	if (request_headers(PQgetvalue(r, 0, 12),
						(struct frame_header **) &req.headers, &req.nheaders,
						&hstore) != 0 ||
		body == NULL)
	{
		fail(o, "rejected", "the request could not be decoded");
		goto out;
	}
	req.body = (const char *) body;
	req.body_len = body_len;
	/* A request over the protocol's caps never reaches a container. */
	if ((rc = frame_check_request(&req, &lim)) != FRAME_OK)
	{
		fail(o, "rejected", "the request is over the platform's limits: %s",
			 frame_strerror(rc));
		goto out;
	}

	c = pool_acquire(conn, &spec, spec.timeout_seconds * 1000, &o->cold, err,
					 sizeof(err));
	if (c == NULL)
	{
		if (strcmp(err, "stopping") == 0)
			o->abandon = true; /* deregistering gives the job back */
		else
			fail(o, "rejected", "the function could not be started: %s", err);
		o->duration_ms = (now_seconds() - t0) * 1000;
		goto out;
	}
	o->ran = true;
	/* The function's time starts when its request reaches it. */
	deadline = now_seconds() + spec.timeout_seconds;

	oom_before = container_oom_kills(c);
	container_mem_reset(c);
	rc = exchange(c->fd, &req, &lim, deadline, &o->res, &all_sent);
	o->duration_ms = (now_seconds() - t0) * 1000;
	o->memory_kb = container_mem_peak_kb(c);
	if (rc == 1)
	{
		const char *kind;
		long		oom_after = container_oom_kills(c);

		o->logs =
			utf8_clean(o->res.logs ? o->res.logs : "", o->res.logs_len, NULL);
		o->headers = response_headers(&o->res, &kind);
		o->status = o->res.status;
		o->body = o->res.body;
		o->body_len = o->res.body_len;
		if (kind != NULL && oom_after > oom_before)
			kind = "out_of_memory";
		if (kind != NULL)
		{
			char *msg = utf8_clean(
				o->res.body ? o->res.body : "",
				o->res.body_len > 400 ? 400 : o->res.body_len, NULL);

			fail(o, kind, "%s", msg && msg[0] ? msg : "the function failed");
			free(msg);
			o->status = 0;
		}
		/* The shim said what failed and is still in step: keep it, unless
		 * it answered before taking the whole request. */
		pool_release(c, all_sent);
	}
	else if (rc == 0)
	{
		fail(o, "timeout", "the function did not answer within %d s",
			 spec.timeout_seconds);
		container_kill(c);
		pool_release(c, false);
	}
	else if (rc == FRAME_ECLOSED || rc == FRAME_ETRUNCATED || rc == FRAME_EIO)
	{
		int	 code = -1;
		long oom_after = container_oom_kills(c);
		/* On cgroup v1 with runc, podman's OOMKilled stays false: the
		 * cgroup's counter tells, or else a SIGKILL nobody else sends
		 * (exit 137: the timeout is handled above). */
		bool oom = (oom_before >= 0 && oom_after > oom_before) ||
				   container_oom_killed(c, &code) || code == 137;

		if (oom)
			fail(o, "out_of_memory",
				 "the function ran out of memory (limit %d MiB) and was "
				 "killed",
				 spec.memory_mb);
		else if (code >= 0)
			fail(o, "crash", "the function's process exited (status %d)",
				 code);
		else
			fail(o, "crash", "the function's process died");
		pool_release(c, false);
	}
	else
	{
		fail(o, "bad_response", "the function's answer was malformed: %s",
			 frame_strerror(rc));
		pool_release(c, false);
	}
out:
	free(req.headers);
	json_decref(hstore);
	PQfreemem(body);
}

/* The parameters of execution_finish for o. */
static void
finish_stmt(const struct outcome *o, const char *worker_id, char bufs[6][64],
			const char *values[11], int lengths[11], int formats[11],
			struct db_stmt *stmt)
{
	memset(formats, 0, sizeof(int) * 11);
	memset(lengths, 0, sizeof(int) * 11);
	values[0] = o->execution_id;
	values[1] = worker_id;
	snprintf(bufs[0], 64, "%d", o->status);
	values[2] = o->error_kind ? NULL : bufs[0];
	values[3] = o->error_kind ? NULL : o->headers;
	values[4] = o->error_kind ? NULL : (o->body ? o->body : "");
	lengths[4] = (int) o->body_len;
	formats[4] = 1;
	values[5] = o->logs ? o->logs : "";
	values[6] = o->error_kind;
	values[7] = o->error_kind ? o->error_message : NULL;
	snprintf(bufs[1], 64, "%.3f", o->duration_ms);
	values[8] = bufs[1];
	snprintf(bufs[2], 64, "%ld", o->memory_kb);
	values[9] = o->memory_kb >= 0 ? bufs[2] : NULL;
	values[10] = o->ran ? (o->cold ? "true" : "false") : NULL;
	*stmt = (struct db_stmt){"finish", NULL, 11, values, lengths, formats};
}

/* report_alone: the outcome in its own durable transaction (its job's
 * completion failed).  Returns false when the connection broke. */
static bool
report_alone(PGconn *conn, struct outcome *o, const char *worker_id)
{
	char			bufs[6][64];
	const char	   *fvalues[11];
	int				flengths[11], fformats[11];
	struct db_stmt	stmts[2] = {{"durable", NULL, 0, NULL, NULL, NULL}};
	PGresult	   *results[2];
	struct db_error e;

	finish_stmt(o, worker_id, bufs, fvalues, flengths, fformats, &stmts[1]);
	if (db_pipeline(conn, 2, stmts, results, &e) < 0)
	{
		PQclear(results[0]);
		PQclear(results[1]);
	}
	else if (db_broken(conn))
		return false;
	else
		log_warning("execution %s: could not record its outcome: %s (%s)",
					o->execution_id, e.message, e.sqlstate);
	return true;
}

/*
 * plain_claim: the careful way, after the combined claim failed for
 * another reason than a lease (an execution_start raising, say): claim
 * one job, then start its execution in a statement of its own; a job
 * whose start fails is dead (retry => false), so it cannot come back
 * for ever.  Returns the start row (NULL: nothing to serve) with *job set.
 */
static PGresult *
plain_claim(PGconn *conn, const char *worker_id, char job[32])
{
	const char	   *p[2] = {worker_id, "{}"};
	struct db_stmt	claim = {"claim_plain", NULL, 2, p, NULL, NULL};
	struct db_error e;
	PGresult	   *r = db_exec(conn, &claim, &e);
	PGresult	   *start;
	char			execution[UUID_LEN + 1];

	job[0] = '\0';
	if (r == NULL || PQntuples(r) == 0)
	{
		PQclear(r);
		return NULL;
	}
	snprintf(job, 32, "%s", PQgetvalue(r, 0, 0));
	snprintf(execution, sizeof(execution), "%s", PQgetvalue(r, 0, 1));
	PQclear(r);
	{
		const char	  *sp[3] = {job, execution, worker_id};
		struct db_stmt s = {"start_one", NULL, 3, sp, NULL, NULL};

		start = db_exec(conn, &s, &e);
	}
	if (start == NULL)
	{
		const char	  *fp[3] = {worker_id, job, e.message};
		struct db_stmt f = {"fail_dead", NULL, 3, fp, NULL, NULL};

		log_error("execution %s cannot start (%s): its job %s is dead",
				  execution, e.message, job);
		PQclear(db_exec(conn, &f, &e));
		job[0] = '\0';
		return NULL;
	}
	return start;
}

void *
run_main(void *arg)
{
	int			   slot = *(int *) arg;
	PGconn		  *conn = NULL;
	struct outcome out;
	bool		   pending = false; /* out awaits its report */
	bool		   careful = false; /* claim the plain way once */
	int			   tries = 0;		/* of this report */
	char		   done[32] = "";	/* a job to complete, or "" */

	/* The round's report and job are settled: forget them. */
#define ROUND_DONE()                                                          \
	do                                                                        \
	{                                                                         \
		outcome_free(&out);                                                   \
		pending = false;                                                      \
		tries = 0;                                                            \
		done[0] = '\0';                                                       \
		in_hand_set(slot, 0);                                                 \
	} while (0)

	memset(&out, 0, sizeof(out));
	for (;;)
	{
		char			worker_id[UUID_LEN + 1];
		char			bufs[6][64], done_arr[40];
		const char	   *fvalues[11];
		int				flengths[11], fformats[11];
		const char	   *cvalues[2];
		struct db_stmt	stmts[3];
		PGresult	   *results[3];
		PGresult	   *row = NULL;
		struct db_error e;
		int				n = 0, failed, ci;
		bool			stop = atomic_load(&stopping);

		if (stop && !pending && !done[0])
			break;
		if (db_broken(conn))
		{
			PQfinish(conn);
			conn = db_connect(cfg.database, "cpub-worker run", PREPARE,
							  (volatile bool *) &stopping);
			if (conn == NULL)
				break;
			/*
			 * A claim alone need not wait for the disk: if it is lost in a
			 * crash, the job is claimed again, and the outcome's commit,
			 * which is durable, makes every earlier one durable too.  Only
			 * the rounds reporting an outcome ask for a durable commit.
			 */
			PQclear(PQexec(conn, "SET synchronous_commit = off"));
		}
		worker_id_get(worker_id);
		if (pending)
		{
			stmts[n++] =
				(struct db_stmt){"durable", NULL, 0, NULL, NULL, NULL};
			finish_stmt(&out, worker_id, bufs, fvalues, flengths, fformats,
						&stmts[n++]);
		}
		snprintf(done_arr, sizeof(done_arr), "{%s}", done);
		cvalues[0] = worker_id;
		cvalues[1] = done_arr;
		ci = n;
		stmts[n++] = (struct db_stmt){stop || careful ? "complete" : "claim",
									  NULL,
									  2,
									  cvalues,
									  NULL,
									  NULL};
		if ((stop || careful) && !done[0])
			n--; /* only the report, or nothing */
		failed = n > 0 ? db_pipeline(conn, n, stmts, results, &e) : -1;
		if (failed == n && n > 0 && db_broken(conn))
		{
			log_warning("run slot lost its connection: %s", e.message);
			continue; /* reconnect and send the same again */
		}
		if (failed >= 0 && pending && failed == ci - 1)
		{
			/* The report itself was refused. */
			if (strncmp(e.sqlstate, "22", 2) == 0 && !out.error_kind)
			{
				/* A response PostgreSQL would not take is the
				 * function's fault: report that instead. */
				fail(&out, "bad_response",
					 "the function's response was refused: %s", e.message);
				continue;
			}
			if (!db_is(&e, "23514") && !db_is(&e, "P0002") && ++tries < 5)
			{
				/* Transient (a deadlock, a cancel): again shortly. */
				log_warning("execution %s: recording its outcome failed (%s, "
							"%s): trying again",
							out.execution_id, e.message, e.sqlstate);
				jobs_wait(JOBS_RUN, 200 * tries);
				continue;
			}
			/* Finished already (maintenance reaped it), or for good. */
			log_warning("execution %s: could not record its outcome: %s (%s)",
						out.execution_id, e.message, e.sqlstate);
			outcome_free(&out);
			pending = false;
			tries = 0;
			continue;
		}
		if (failed >= 0)
		{
			/* The claim or completion failed, taking the report with it:
			 * the outcome is still true, record it alone.  (Its lease
			 * lost, another worker finds the execution finished.) */
			if (pending && !report_alone(conn, &out, worker_id))
				continue;
			ROUND_DONE();
			if (db_is(&e, "55Q05") || db_is(&e, "P0002"))
			{
				worker_stopped();
				jobs_wait(JOBS_RUN, 1000);
			}
			else if (db_is(&e, "55Q01"))
				log_warning("run slot: %s", e.message);
			else
			{
				log_error("run slot: %s (%s)", e.message, e.sqlstate);
				careful = true;
				jobs_wait(JOBS_RUN, 1000); /* no hot loop */
			}
			continue;
		}
		ROUND_DONE();
		for (int i = 0; i < n; i++)
			if (i != ci)
				PQclear(results[i]);
		if (stop)
		{
			if (ci < n)
				PQclear(results[ci]);
			continue;
		}
		if (careful)
		{
			if (ci < n)
				PQclear(results[ci]);
			careful = false;
			row = plain_claim(conn, worker_id, done);
			in_hand_set(slot, done[0] ? atoll(done) : 0);
			if (row == NULL && !done[0])
			{
				jobs_wait(JOBS_RUN, 1000);
				continue;
			}
		}
		else if (PQntuples(results[ci]) == 0)
		{
			PQclear(results[ci]);
			jobs_wait(JOBS_RUN, 1000);
			continue;
		}
		else
		{
			row = results[ci];
			snprintf(done, sizeof(done), "%s", PQgetvalue(row, 0, 0));
			in_hand_set(slot, atoll(done));
		}
		if (row != NULL && PQntuples(row) > 0 && !PQgetisnull(row, 0, 1))
		{
			snprintf(out.execution_id, sizeof(out.execution_id), "%s",
					 PQgetvalue(row, 0, 15));
			serve(conn, row, &out);
			pending = true;
			if (out.abandon)
			{
				/* Stopping before it ran: neither reported nor completed;
				 * deregistering gives the job back. */
				outcome_free(&out);
				pending = false;
				done[0] = '\0';
			}
		}
		PQclear(row);
	}
	outcome_free(&out);
	PQfinish(conn);
	slot_exited();
	return NULL;
}
