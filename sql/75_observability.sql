-- sql/75_observability.sql: what admins watch the platform by, over a
-- period: its errors (failed builds, failed and dead jobs, failed
-- executions by error kind) and its load (the queue, the workers and their
-- containers, invocations per bucket with their latency).
--
-- Each is one function returning one JSON document (nested lists and
-- objects, which no row type holds), the body of an admin route (GET
-- /admin/api/errors and GET /admin/api/load map their query parameters
-- onto the arguments by name).  A period is [since, until):
-- both required and finite, until after since.  What the platform is now
-- (the queue, the workers) is now whatever the period.
--
-- Executions are the big table: every query here reads an index range of
-- the period, never the whole table, and the figures over executions come
-- from the index alone (index-only scans: the indexes carry what is
-- counted); what remains is sorting the period's durations for the
-- percentiles.

-- Failed builds by when they failed: few rows, so a small partial index
-- (without it, every call reads every version ever deployed).
CREATE INDEX function_versions_failed ON cpub.function_versions (build_finished_at)
	WHERE status = 'failed';
-- Jobs by when they last failed (cpub.jobs.failed_at): an entry only for
-- jobs that failed at least once, so claims of jobs that never failed add
-- nothing to it.
CREATE INDEX jobs_failed ON cpub.jobs (failed_at) WHERE failed_at IS NOT NULL;
-- Failed executions by completion time, with their error kind: the error
-- report counts them without reading the (far more numerous) successful
-- ones in executions_completed, and without reading the table.
CREATE INDEX executions_failed ON cpub.executions (completed_at)
	INCLUDE (error_kind)
	WHERE status = 'failed';

-- cpub.check_since_until(since, until): 22004 when either is NULL, 22023
-- when either is infinite or until is not after since.  STABLE: the
-- message shows the times in the session's time zone.
CREATE FUNCTION cpub.check_since_until(since timestamptz, until timestamptz)
	RETURNS void
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
BEGIN
	IF check_since_until.since IS NULL OR check_since_until.until IS NULL THEN
		RAISE EXCEPTION 'since and until are required'
			USING ERRCODE = '22004',
				  HINT = 'Leave them out for the last hour.';
	END IF;
	IF NOT pg_catalog.isfinite(check_since_until.since)
	   OR NOT pg_catalog.isfinite(check_since_until.until) THEN
		RAISE EXCEPTION 'since and until must be finite'
			USING ERRCODE = '22023',
				  DETAIL = pg_catalog.format('Got since %s and until %s.',
											 check_since_until.since,
											 check_since_until.until);
	END IF;
	IF check_since_until.until <= check_since_until.since THEN
		RAISE EXCEPTION 'until must be after since'
			USING ERRCODE = '22023',
				  DETAIL = pg_catalog.format('Got since %s and until %s.',
											 check_since_until.since,
											 check_since_until.until);
	END IF;
END
$$;

-- cpub.job_error_info(j): a failed job as platform_errors lists it.
CREATE FUNCTION cpub.job_error_info(j cpub.jobs) RETURNS jsonb
	LANGUAGE sql IMMUTABLE
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
	SELECT pg_catalog.jsonb_build_object(
		'id', (job_error_info.j).id, 'kind', (job_error_info.j).kind,
		'state', (job_error_info.j).state,
		'attempts', (job_error_info.j).attempts,
		'max_attempts', (job_error_info.j).max_attempts,
		'failed_at', (job_error_info.j).failed_at,
		'run_after', (job_error_info.j).run_after,
		'payload', (job_error_info.j).payload,
		'error', pg_catalog.left((job_error_info.j).last_error, 500))
$$;

-- cpub_admin.platform_errors(since, until, limit): what failed in
-- [since, until) (by default the last hour), as one JSON object:
--   {"since": ts, "until": ts,
--    "failed_builds": {"count": n, "recent": [build, ...]},
--    "jobs": {"failed": {"count": n, "recent": [job, ...]},
--             "dead": {"count": n, "recent": [job, ...]}},
--    "executions": {"failed": n,
--                   "by_error_kind": [{"error_kind": k, "count": n}, ...]}}
-- failed_builds: versions whose build failed in the period (by
-- build_finished_at; a build cut short by its function's deletion never
-- finished and is not one), each
--   {"version_id", "function_id", "function" (its name), "owner_id",
--    "owner" (the organization's name or the user's email), "owner_kind"
--    ("user" or "organization"), "version", "runtime", "failed_at",
--    "error" (the error column, its first 500 characters), "log_tail" (the
--    build log's last 1000 characters)}.
-- jobs.failed: jobs whose last failure (failed_at) is in the period and
-- that are being retried (pending or running again); jobs.dead: jobs that
-- died in the period (their last failure ended their last attempt), each
--   {"id", "kind", "state", "attempts", "max_attempts", "failed_at",
--    "run_after", "payload", "error" (last_error, its first 500
--    characters)}.
-- recent lists are newest first, at most "limit" (1 to 500) each; count
-- counts them all.  executions: executions that finished failed in the
-- period (by completed_at), and per error kind, all five always, most
-- first (then by name).  22004 for a NULL since or until; 22023 when
-- until is not after since, either is infinite, or for a bad limit.
CREATE FUNCTION cpub_admin.platform_errors(since timestamptz
											   DEFAULT pg_catalog.now() - interval '1 hour',
										   until timestamptz DEFAULT pg_catalog.now(),
										   "limit" integer DEFAULT 20)
	RETURNS jsonb
	LANGUAGE plpgsql STABLE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	t0 timestamptz := platform_errors.since;
	t1 timestamptz := platform_errors.until;
	n integer;
	builds jsonb;
	failed_jobs jsonb;
	dead_jobs jsonb;
	execs jsonb;
BEGIN
	PERFORM cpub.check_since_until(t0, t1);
	n := cpub.check_page_limit(platform_errors."limit");

	SELECT pg_catalog.jsonb_build_object(
			   'count', (SELECT pg_catalog.count(*) FROM cpub.function_versions v
						  WHERE v.status = 'failed'
							AND v.build_finished_at >= t0 AND v.build_finished_at < t1),
			   'recent', coalesce(pg_catalog.jsonb_agg(r.o ORDER BY r.at DESC, r.id), '[]'))
	  INTO builds
	  FROM (SELECT v.build_finished_at AS at, v.id,
				   pg_catalog.jsonb_build_object(
					   'version_id', v.id, 'function_id', f.id, 'function', f.name,
					   'owner_id', f.owner_id,
					   'owner', coalesce(o.name, u.email),
					   'owner_kind', CASE WHEN f.owner_organization_id IS NOT NULL
										  THEN 'organization' ELSE 'user' END,
					   'version', v.version, 'runtime', v.runtime,
					   'failed_at', v.build_finished_at,
					   'error', pg_catalog.left(v.error, 500),
					   'log_tail', pg_catalog.right(v.build_log, 1000)) AS o
			  FROM cpub.function_versions v
			  JOIN cpub.functions f ON f.id = v.function_id
			  LEFT JOIN cpub.organizations o ON o.id = f.owner_organization_id
			  LEFT JOIN cpub.users u ON u.uuid = f.owner_user_id
			 WHERE v.status = 'failed'
			   AND v.build_finished_at >= t0 AND v.build_finished_at < t1
			 ORDER BY v.build_finished_at DESC, v.id
			 LIMIT n) r;

	-- Failed and retried, then dead: the same report of two states.
	SELECT pg_catalog.jsonb_build_object(
			   'count', (SELECT pg_catalog.count(*) FROM cpub.jobs j
						  WHERE j.state IN ('pending', 'running')
							AND j.failed_at >= t0 AND j.failed_at < t1),
			   'recent', coalesce(pg_catalog.jsonb_agg(r.o ORDER BY r.at DESC, r.id DESC), '[]'))
	  INTO failed_jobs
	  FROM (SELECT j.failed_at AS at, j.id, cpub.job_error_info(j) AS o
			  FROM cpub.jobs j
			 WHERE j.state IN ('pending', 'running')
			   AND j.failed_at >= t0 AND j.failed_at < t1
			 ORDER BY j.failed_at DESC, j.id DESC
			 LIMIT n) r;
	SELECT pg_catalog.jsonb_build_object(
			   'count', (SELECT pg_catalog.count(*) FROM cpub.jobs j
						  WHERE j.state = 'dead'
							AND j.failed_at >= t0 AND j.failed_at < t1),
			   'recent', coalesce(pg_catalog.jsonb_agg(r.o ORDER BY r.at DESC, r.id DESC), '[]'))
	  INTO dead_jobs
	  FROM (SELECT j.failed_at AS at, j.id, cpub.job_error_info(j) AS o
			  FROM cpub.jobs j
			 WHERE j.state = 'dead'
			   AND j.failed_at >= t0 AND j.failed_at < t1
			 ORDER BY j.failed_at DESC, j.id DESC
			 LIMIT n) r;

	SELECT pg_catalog.jsonb_build_object(
			   'failed', coalesce(pg_catalog.sum(c.n), 0),
			   'by_error_kind', pg_catalog.jsonb_agg(
				   pg_catalog.jsonb_build_object('error_kind', k.kind,
												 'count', coalesce(c.n, 0))
				   ORDER BY coalesce(c.n, 0) DESC, k.kind))
	  INTO execs
	  FROM pg_catalog.unnest(ARRAY['timeout', 'crash', 'out_of_memory',
								   'bad_response', 'rejected']) k(kind)
	  LEFT JOIN (SELECT e.error_kind, pg_catalog.count(*) AS n
				   FROM cpub.executions e
				  WHERE e.status = 'failed'
					AND e.completed_at >= t0 AND e.completed_at < t1
				  GROUP BY e.error_kind) c ON c.error_kind = k.kind;

	RETURN pg_catalog.jsonb_build_object(
		'since', t0, 'until', t1,
		'failed_builds', builds,
		'jobs', pg_catalog.jsonb_build_object('failed', failed_jobs, 'dead', dead_jobs),
		'executions', execs);
END
$$;
GRANT EXECUTE ON FUNCTION cpub_admin.platform_errors(timestamptz, timestamptz, integer)
	TO cpub_admin_viewer;

-- cpub_admin.platform_load(since, until, bucket): the platform's load, as
-- one JSON object:
--   {"since": ts, "until": ts, "bucket": interval, "bucket_seconds": s,
--    "queue": [{"kind", "state", "count"}, ...],
--    "workers": [{"id", "host", "pid", "version", "capabilities",
--                 "started_at", "heartbeat_at", "heartbeat_age_seconds",
--                 "alive", "running_jobs", "running_containers",
--                 "warm_containers"}, ...],
--    "invocations": [{"at", "count", "failed", "p50_ms", "p99_ms"}, ...],
--    "latency": {"count", "p50_ms", "p99_ms"}}
-- queue: the jobs now per kind (run, build, cleanup, maintenance) and
-- state (pending, running, dead), all twelve, zeros included.  workers:
-- those not stopped, oldest first; alive as cpub.worker_alive (a worker
-- silent past worker_timeout is listed until a claim or maintenance
-- marks it stopped), the jobs each holds, and the containers its last
-- heartbeat reported: serving a call (or starting for one) and warm
-- waiting idle (NULL: not reported).  invocations: executions that
-- finished in [since, until) per bucket, every bucket present (empty
-- ones with zero and null percentiles), oldest first: bucket k starts at
-- since + k * bucket (the last one ends at until); failed counts those
-- that failed (status failed: timeout, crash, out of memory, bad response,
-- rejected).  latency: the same over the whole period.  Percentiles are
-- interpolated (percentile_cont, as cpub_api.metrics) over duration_ms,
-- the time the worker took from receiving the request to the response
-- (a cold start included), in milliseconds to 3 decimals; executions
-- without a duration count but are not in them.  bucket: from 1 second,
-- days counting 24 hours, no months or years; at most 1440 buckets.
-- 22004 for a NULL since, until or bucket; 22023 when until is not after
-- since, either is infinite, or for a bad bucket or too many of them.
CREATE FUNCTION cpub_admin.platform_load(since timestamptz
											 DEFAULT pg_catalog.now() - interval '1 hour',
										 until timestamptz DEFAULT pg_catalog.now(),
										 bucket interval DEFAULT '1 minute')
	RETURNS jsonb
	LANGUAGE plpgsql STABLE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	t0 timestamptz := platform_load.since;
	t1 timestamptz := platform_load.until;
	seconds numeric;
	step interval;
	buckets numeric;
	queue jsonb;
	workers jsonb;
	series jsonb;
	latency jsonb;
BEGIN
	PERFORM cpub.check_since_until(t0, t1);
	IF platform_load.bucket IS NULL THEN
		RAISE EXCEPTION 'bucket is required'
			USING ERRCODE = '22004',
				  HINT = 'Leave it out for 1 minute.';
	END IF;
	IF extract(year FROM platform_load.bucket) <> 0
	   OR extract(month FROM platform_load.bucket) <> 0 THEN
		RAISE EXCEPTION 'invalid bucket %', platform_load.bucket
			USING ERRCODE = '22023',
				  DETAIL = 'A bucket is a length of time: seconds, minutes, hours or days, not months or years.',
				  HINT = 'Use days, e.g. ''30 days''.';
	END IF;
	seconds := extract(epoch FROM platform_load.bucket);
	IF seconds < 1 THEN
		RAISE EXCEPTION 'bucket must be at least 1 second'
			USING ERRCODE = '22023',
				  DETAIL = pg_catalog.format('Got %s.', platform_load.bucket);
	END IF;
	buckets := pg_catalog.ceil(extract(epoch FROM t1 - t0) / seconds);
	IF buckets > 1440 THEN
		RAISE EXCEPTION 'more than 1440 buckets'
			USING ERRCODE = '22023',
				  DETAIL = pg_catalog.format('From %s to %s in buckets of %s makes %s buckets.',
											 t0, t1, platform_load.bucket, buckets),
				  HINT = 'Use a longer bucket or a shorter period: at most 1440 buckets.';
	END IF;
	-- Days as 24 hours, as the buckets are counted: the step is a number
	-- of seconds (an interval without days), so adding it to a time never
	-- meets a change of summer time.
	step := seconds * interval '1 second';

	-- The queue: each state from the partial index that holds it.
	SELECT pg_catalog.jsonb_agg(
			   pg_catalog.jsonb_build_object('kind', k.kind, 'state', s.state,
											 'count', coalesce(c.n, 0))
			   ORDER BY k.ord, s.ord)
	  INTO queue
	  FROM pg_catalog.unnest(ARRAY['run', 'build', 'cleanup', 'maintenance'])
		   WITH ORDINALITY k(kind, ord)
	 CROSS JOIN pg_catalog.unnest(ARRAY['pending', 'running', 'dead'])
		   WITH ORDINALITY s(state, ord)
	  LEFT JOIN (SELECT j.kind, 'pending' AS state, pg_catalog.count(*) AS n
				   FROM cpub.jobs j WHERE j.state = 'pending' GROUP BY j.kind
				 UNION ALL
				 SELECT j.kind, 'running', pg_catalog.count(*)
				   FROM cpub.jobs j WHERE j.state = 'running' GROUP BY j.kind
				 UNION ALL
				 SELECT j.kind, 'dead', pg_catalog.count(*)
				   FROM cpub.jobs j WHERE j.state = 'dead' GROUP BY j.kind) c
		ON c.kind = k.kind AND c.state = s.state;

	SELECT coalesce(pg_catalog.jsonb_agg(
			   pg_catalog.jsonb_build_object(
				   'id', w.id, 'host', w.host, 'pid', w.pid, 'version', w.version,
				   'capabilities', w.capabilities, 'started_at', w.started_at,
				   'heartbeat_at', w.heartbeat_at,
				   'heartbeat_age_seconds',
					   pg_catalog.round(extract(epoch FROM greatest(pg_catalog.now() - w.heartbeat_at,
																	interval '0')), 3),
				   'alive', cpub.worker_alive(w),
				   'running_jobs', (SELECT pg_catalog.count(*) FROM cpub.jobs j
									 WHERE j.state = 'running' AND j.lease_owner = w.id),
				   'running_containers', w.running_containers,
				   'warm_containers', w.warm_containers)
			   ORDER BY w.started_at, w.id), '[]')
	  INTO workers
	  FROM cpub.workers w
	 WHERE w.stopped_at IS NULL;

	-- Invocations: per bucket, a range of executions_completed (read
	-- alone: it carries status and duration_ms), each already in order, so
	-- no sort of the whole period; then the whole period once more for its
	-- percentiles (one sort of its durations, which exact percentiles
	-- need).
	SELECT pg_catalog.jsonb_agg(
			   pg_catalog.jsonb_build_object(
				   'at', b.at, 'count', f.n, 'failed', f.failed,
				   'p50_ms', pg_catalog.round(f.p[1]::numeric, 3),
				   'p99_ms', pg_catalog.round(f.p[2]::numeric, 3))
			   ORDER BY b.at)
	  INTO series
	  FROM pg_catalog.generate_series(t0, t1 - interval '1 microsecond', step) b(at)
	 CROSS JOIN LATERAL (
		SELECT pg_catalog.count(*) AS n,
			   pg_catalog.count(*) FILTER (WHERE e.status = 'failed') AS failed,
			   pg_catalog.percentile_cont(ARRAY[0.5, 0.99]::double precision[])
				   WITHIN GROUP (ORDER BY e.duration_ms) AS p
		  FROM cpub.executions e
		 WHERE e.completed_at >= b.at AND e.completed_at < least(b.at + step, t1)) f;
	SELECT pg_catalog.jsonb_build_object(
			   'count', f.n,
			   'p50_ms', pg_catalog.round(f.p[1]::numeric, 3),
			   'p99_ms', pg_catalog.round(f.p[2]::numeric, 3))
	  INTO latency
	  FROM (SELECT pg_catalog.count(*) AS n,
				   pg_catalog.percentile_cont(ARRAY[0.5, 0.99]::double precision[])
					   WITHIN GROUP (ORDER BY e.duration_ms) AS p
			  FROM cpub.executions e
			 WHERE e.completed_at >= t0 AND e.completed_at < t1) f;

	RETURN pg_catalog.jsonb_build_object(
		'since', t0, 'until', t1,
		'bucket', platform_load.bucket, 'bucket_seconds', pg_catalog.trim_scale(seconds),
		'queue', queue, 'workers', workers,
		'invocations', series, 'latency', latency);
END
$$;
GRANT EXECUTE ON FUNCTION cpub_admin.platform_load(timestamptz, timestamptz, interval)
	TO cpub_admin_viewer;
