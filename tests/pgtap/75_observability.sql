-- tests/pgtap/75_observability.sql: the admins' error and load reports
-- (sql/75_observability.sql), and what feeds them: the workers' container
-- counts (cpub_worker.worker_heartbeat) and jobs' failed_at.
--
-- Everything runs in one transaction, so now() does not move: the
-- fixtures sit at fixed distances from it.
BEGIN;
SELECT plan(74);
SET LOCAL TimeZone = 'UTC';

\set wa 'a0000000-0000-0000-0000-00000000000a'
\set wb 'b0000000-0000-0000-0000-00000000000b'
\set wc 'c0000000-0000-0000-0000-00000000000c'

--
-- Fixtures, as superuser.
--
INSERT INTO cpub.users (email, password_hash) VALUES ('obs@example.com', 'x')
RETURNING uuid AS uid \gset
INSERT INTO cpub.organizations (name) VALUES ('acme') RETURNING id AS org \gset
INSERT INTO cpub.functions (name, owner_user_id, runtime, memory_mb, timeout_seconds,
							max_concurrency)
VALUES ('hello', :'uid', 'shell', 128, 10, 4) RETURNING id AS f_hello \gset
INSERT INTO cpub.functions (name, owner_organization_id, runtime, memory_mb,
							timeout_seconds, max_concurrency)
VALUES ('api', :'org', 'python', 128, 10, 4) RETURNING id AS f_api \gset

-- pg_temp.version(function_id, version, status, finished_at, error, log):
-- a version whose build finished at finished_at (NULL: never).
CREATE FUNCTION pg_temp.version(fid uuid, n integer, st text, at timestamptz,
								err text DEFAULT NULL, log text DEFAULT '')
	RETURNS uuid LANGUAGE sql AS $$
	INSERT INTO cpub.function_versions (function_id, version, status, runtime,
		archive_sha256, archive_size, build_log, error, build_started_at, build_finished_at)
	SELECT fid, n, st, f.runtime, sha256('x'), 1, log, err, at - interval '1 minute', at
	  FROM cpub.functions f WHERE f.id = fid
	RETURNING id $$;
SELECT pg_temp.version(:'f_hello', 1, 'failed', now() - interval '10 minutes',
					   'the build failed (podman build status 1)',
					   repeat('a', 1500) || 'error: boom') AS v_hello1 \gset
SELECT pg_temp.version(:'f_api', 1, 'failed', now() - interval '30 minutes',
					   repeat('e', 600), 'short log') AS v_api1 \gset
SELECT pg_temp.version(:'f_hello', 2, 'ready', now() - interval '5 minutes') AS v_ok \gset
SELECT pg_temp.version(:'f_hello', 3, 'failed', now() - interval '2 hours', 'old') AS v_old \gset
-- Failed without finishing: its function was deleted while it was queued.
SELECT pg_temp.version(:'f_hello', 4, 'failed', NULL, 'function deleted') AS v_cut \gset
SELECT pg_temp.version(:'f_api', 2, 'failed', now() - interval '1 hour', 'at since') AS v_api2 \gset
SELECT pg_temp.version(:'f_hello', 5, 'failed', now(), 'at until') AS v_hello5 \gset

-- Workers: a live, b silent for 40 s (dead, not yet marked), c stopped.
INSERT INTO cpub.workers (id, host, pid, version, capabilities, started_at, heartbeat_at,
						  stopped_at)
VALUES (:'wa', 'host-a', 101, '0.1', '{build,cleanup,maintenance,run}',
		now() - interval '2 hours', now(), NULL),
	   (:'wb', 'host-b', 102, NULL, '{run}', now() - interval '1 hour',
		now() - interval '40 seconds', NULL),
	   (:'wc', 'host-c', 103, '0.1', '{run}', now() - interval '3 hours',
		now() - interval '2 hours', now() - interval '2 hours');

-- Jobs, marked {"n": N}.
CREATE FUNCTION pg_temp.job(n integer) RETURNS bigint LANGUAGE sql SECURITY DEFINER AS $$
	SELECT j.id FROM cpub.jobs j WHERE (j.payload->>'n')::integer = n
$$;
INSERT INTO cpub.jobs (kind, payload, state, attempts, max_attempts, lease_owner,
					   lease_expires_at, last_error, failed_at)
VALUES ('run', '{"n": 1}', 'pending', 1, 3, NULL, NULL, 'crashed', now() - interval '5 minutes'),
	   ('build', '{"n": 2}', 'running', 2, 5, :'wa', now() + interval '30 seconds',
		'podman could not run', now() - interval '20 minutes'),
	   ('run', '{"n": 3}', 'pending', 0, 3, NULL, NULL, NULL, NULL),
	   ('cleanup', '{"n": 4}', 'pending', 1, 5, NULL, NULL, 'long ago', now() - interval '2 hours'),
	   ('build', '{"n": 5}', 'dead', 5, 5, NULL, NULL, repeat('z', 700), now() - interval '15 minutes'),
	   ('maintenance', '{"n": 6}', 'dead', 5, 5, NULL, NULL, 'older', now() - interval '3 hours'),
	   ('run', '{"n": 7}', 'running', 1, 3, :'wa', now() + interval '30 seconds', NULL, NULL),
	   ('run', '{"n": 8}', 'running', 1, 1, :'wb', now() - interval '1 second', NULL, NULL);

-- Executions of hello, finished at the given time.
CREATE FUNCTION pg_temp.exec(at timestamptz, st text, kind text DEFAULT NULL,
							 ms double precision DEFAULT NULL)
	RETURNS uuid LANGUAGE sql AS $$
	INSERT INTO cpub.executions (function_id, owner_id, trigger, status, request_method,
		request_path, response_status, error_kind, duration_ms, created_at, started_at,
		completed_at)
	SELECT f.id, f.owner_id, 'sync', st, 'POST', '/',
		   CASE WHEN st = 'succeeded' THEN 200 END, kind, ms,
		   coalesce(at, now()) - interval '1 second',
		   CASE WHEN st <> 'queued' THEN coalesce(at, now()) - interval '1 second' END, at
	  FROM cpub.functions f WHERE f.name = 'hello'
	RETURNING id $$;
-- The load's period: from S (a whole minute, 10 minutes ago at most) for
-- 3 minutes 30 seconds, in four buckets of a minute (the last one half).
SELECT date_trunc('minute', now()) - interval '10 minutes' AS s \gset
SELECT pg_temp.exec(:'s'::timestamptz, 'succeeded', NULL, 10),
	   pg_temp.exec(:'s'::timestamptz + interval '10 seconds', 'succeeded', NULL, 20),
	   pg_temp.exec(:'s'::timestamptz + interval '50 seconds', 'failed', 'timeout', 30),
	   pg_temp.exec(:'s'::timestamptz + interval '121 seconds', 'succeeded', NULL, 100),
	   pg_temp.exec(:'s'::timestamptz + interval '122 seconds', 'failed', 'crash', NULL),
	   pg_temp.exec(:'s'::timestamptz + interval '209.999 seconds', 'succeeded', NULL, 40),
	   -- just outside: at until, and before since
	   pg_temp.exec(:'s'::timestamptz + interval '210 seconds', 'succeeded', NULL, 1000),
	   pg_temp.exec(:'s'::timestamptz - interval '1 microsecond', 'succeeded', NULL, 1000),
	   -- unfinished
	   pg_temp.exec(NULL, 'queued'),
	   -- more failures of the last hour, and one older
	   pg_temp.exec(now() - interval '20 minutes', 'failed', 'out_of_memory', 5),
	   pg_temp.exec(now() - interval '30 minutes', 'failed', 'timeout', 5),
	   pg_temp.exec(now() - interval '2 hours', 'failed', 'rejected', 5);

--
-- What feeds the reports: job failures set failed_at, heartbeats carry
-- container counts.
--
SET LOCAL ROLE cpub_worker;
SELECT is((SELECT state FROM cpub_worker.job_fail(:'wa', pg_temp.job(7), 'it broke')),
		  'pending', 'job_fail: a job with attempts left goes back to pending');
RESET ROLE;
SELECT is((SELECT failed_at FROM cpub.jobs WHERE id = pg_temp.job(7)), now(),
		  'job_fail records when the job failed (failed_at)');
SELECT is(cpub.jobs_release_expired(1000), 1, 'an expired lease is taken back');
SELECT results_eq($$SELECT state, failed_at, last_error LIKE 'lease expired%' FROM cpub.jobs WHERE id = pg_temp.job(8)$$,
				  $$VALUES ('dead'::text, now(), true)$$,
				  'a lease that expired on the last attempt: dead, failed_at set, with the error');
SELECT is((SELECT failed_at FROM cpub.jobs WHERE id = pg_temp.job(3)), NULL,
		  'a job that never failed has no failed_at');

SET LOCAL ROLE cpub_worker;
SELECT is(cpub_worker.worker_heartbeat(:'wa'), ARRAY[pg_temp.job(2)],
		  'worker_heartbeat(worker_id), without counts, as before: the jobs held');
RESET ROLE;
SELECT results_eq(format('SELECT running_containers, warm_containers FROM cpub.workers WHERE id = %L', :'wa'),
				  $$VALUES (NULL::integer, NULL::integer)$$,
				  'without counts, none is recorded');
SET LOCAL ROLE cpub_worker;
SELECT is(cpub_worker.worker_heartbeat(:'wa', running_containers => 2, warm_containers => 3),
		  ARRAY[pg_temp.job(2)], 'worker_heartbeat with the container counts');
RESET ROLE;
SELECT results_eq(format('SELECT running_containers, warm_containers FROM cpub.workers WHERE id = %L', :'wa'),
				  $$VALUES (2, 3)$$, 'the counts are recorded on the worker');
SET LOCAL ROLE cpub_worker;
SELECT throws_ok(format('SELECT cpub_worker.worker_heartbeat(%L, -1, 0)', :'wa'), '22023',
				 'container counts must not be negative', 'a negative running count is refused');
SELECT throws_ok(format('SELECT cpub_worker.worker_heartbeat(%L, 0, -1)', :'wa'), '22023',
				 'container counts must not be negative', 'a negative warm count is refused');
SELECT throws_ok(format('SELECT cpub_worker.worker_heartbeat(%L, 1, 1)', :'wc'), '55Q05',
				 'worker is stopped', 'a stopped worker''s heartbeat, counts or not, is 55Q05');
RESET ROLE;
SELECT results_eq(format('SELECT running_containers, warm_containers FROM cpub.workers WHERE id = %L', :'wa'),
				  $$VALUES (2, 3)$$, 'a refused heartbeat changes nothing');

SET LOCAL ROLE cpub_admin_viewer;
SELECT results_eq($$SELECT host, alive, running_jobs, running_containers, warm_containers
					  FROM cpub_admin.workers() ORDER BY host$$,
				  $$VALUES ('host-a'::text, true, 1::bigint, 2, 3),
						   ('host-b', false, 0, NULL, NULL)$$,
				  'cpub_admin.workers shows the containers each reported (NULL: not reported)');
RESET ROLE;

--
-- Privileges.
--
SET LOCAL ROLE cpub_developer;
SELECT throws_ok('SELECT cpub_admin.platform_errors()', '42501', NULL,
				 'a developer cannot read the platform''s errors');
SELECT throws_ok('SELECT cpub_admin.platform_load()', '42501', NULL,
				 'a developer cannot read the platform''s load');
RESET ROLE;
SET LOCAL ROLE cpub_anon;
SELECT throws_ok('SELECT cpub_admin.platform_errors()', '42501', NULL,
				 'an anonymous caller cannot read the platform''s errors');
SELECT throws_ok('SELECT cpub_admin.platform_load()', '42501', NULL,
				 'an anonymous caller cannot read the platform''s load');
RESET ROLE;
SET LOCAL ROLE cpub_worker;
SELECT throws_ok('SELECT cpub_admin.platform_errors()', '42501', NULL,
				 'a worker cannot read the platform''s errors');
SELECT throws_ok('SELECT cpub_admin.platform_load()', '42501', NULL,
				 'a worker cannot read the platform''s load');
RESET ROLE;
SET LOCAL ROLE cpub_admin_full;
SELECT lives_ok('SELECT cpub_admin.platform_errors()', 'a full admin reads the errors');
SELECT lives_ok('SELECT cpub_admin.platform_load()', 'a full admin reads the load');
RESET ROLE;

--
-- platform_errors, as a viewer.
--
SET LOCAL ROLE cpub_admin_viewer;
SELECT cpub_admin.platform_errors() AS e \gset

SELECT is((:'e'::jsonb)->'since', to_jsonb(now() - interval '1 hour'), 'errors: since defaults to an hour ago');
SELECT is((:'e'::jsonb)->'until', to_jsonb(now()), 'errors: until defaults to now');
SELECT is((:'e'::jsonb)#>'{failed_builds,count}', '3',
		  'errors: failed builds of the last hour, since included, until excluded, unfinished ones never');
SELECT is((SELECT jsonb_agg(r->'version_id') FROM jsonb_array_elements((:'e'::jsonb)#>'{failed_builds,recent}') r),
		  jsonb_build_array(:'v_hello1', :'v_api1', :'v_api2'),
		  'errors: failed builds newest first');
SELECT is((:'e'::jsonb)#>'{failed_builds,recent,0}',
		  jsonb_build_object('version_id', :'v_hello1', 'function_id', :'f_hello',
							 'function', 'hello', 'owner_id', :'uid', 'owner', 'obs@example.com',
							 'owner_kind', 'user', 'version', 1, 'runtime', 'shell',
							 'failed_at', now() - interval '10 minutes',
							 'error', 'the build failed (podman build status 1)',
							 'log_tail', repeat('a', 989) || 'error: boom'),
		  'errors: a failed build of a user''s function, with its error and the end of its log');
SELECT is((:'e'::jsonb)#>'{failed_builds,recent,1}',
		  jsonb_build_object('version_id', :'v_api1', 'function_id', :'f_api',
							 'function', 'api', 'owner_id', :'org', 'owner', 'acme',
							 'owner_kind', 'organization', 'version', 1, 'runtime', 'python',
							 'failed_at', now() - interval '30 minutes',
							 'error', repeat('e', 500), 'log_tail', 'short log'),
		  'errors: a failed build of an organization''s function; the error cut to 500 characters');

SELECT is((:'e'::jsonb)#>'{jobs,failed,count}', '2',
		  'errors: jobs that failed in the period and are being retried, pending or running');
SELECT is((SELECT jsonb_agg(r->'id') FROM jsonb_array_elements((:'e'::jsonb)#>'{jobs,failed,recent}') r),
		  jsonb_build_array(pg_temp.job(1), pg_temp.job(2)),
		  'errors: failed jobs newest first (one failed at now, the period''s end, is not in it)');
SELECT is((:'e'::jsonb)#>'{jobs,failed,recent,1}',
		  jsonb_build_object('id', pg_temp.job(2), 'kind', 'build', 'state', 'running',
							 'attempts', 2, 'max_attempts', 5,
							 'failed_at', now() - interval '20 minutes',
							 'run_after', now(),
							 'payload', '{"n": 2}'::jsonb, 'error', 'podman could not run'),
		  'errors: a failed job and what it says');
SELECT is((:'e'::jsonb)#>'{jobs,dead,count}', '1', 'errors: jobs that died in the period');
SELECT is((:'e'::jsonb)#>'{jobs,dead,recent,0,error}', to_jsonb(repeat('z', 500)),
		  'errors: a dead job, its error cut to 500 characters');

SELECT is((:'e'::jsonb)->'executions',
		  '{"failed": 4, "by_error_kind": [{"error_kind": "timeout", "count": 2},
										   {"error_kind": "crash", "count": 1},
										   {"error_kind": "out_of_memory", "count": 1},
										   {"error_kind": "bad_response", "count": 0},
										   {"error_kind": "rejected", "count": 0}]}'::jsonb,
		  'errors: failed executions of the period by error kind, all five, most first');

SELECT is(cpub_admin.platform_errors(now() - interval '3 hours', now() + interval '1 second')
			  #>'{failed_builds,count}', '5', 'errors: a longer period, up to now included, has more builds');
SELECT is((SELECT jsonb_build_array(x#>'{jobs,failed,count}', x#>'{jobs,failed,recent,0,id}',
									x#>'{jobs,dead,count}', x#>'{jobs,dead,recent,0,id}')
			 FROM cpub_admin.platform_errors(now() - interval '1 second', now() + interval '1 second') x),
		  jsonb_build_array(1, pg_temp.job(7), 1, pg_temp.job(8)),
		  'errors: jobs that just failed (job_fail, an expired lease) are in a period that includes now');
SELECT is(cpub_admin.platform_errors(now() - interval '3 hours', now())
			  #>'{executions,by_error_kind}' -> 3,
		  '{"error_kind": "rejected", "count": 1}'::jsonb,
		  'errors: an older failed execution, in a longer period');
SELECT is(cpub_admin.platform_errors(now() - interval '3 hours', now(), 1)
			  #>'{jobs,dead}',
		  jsonb_build_object('count', 2, 'recent', jsonb_build_array(
			  jsonb_build_object('id', pg_temp.job(5), 'kind', 'build', 'state', 'dead',
								 'attempts', 5, 'max_attempts', 5,
								 'failed_at', now() - interval '15 minutes', 'run_after', now(),
								 'payload', '{"n": 5}'::jsonb, 'error', repeat('z', 500)))),
		  'errors: limit bounds each list, not the count');
SELECT is(cpub_admin.platform_errors(now() + interval '1 day', now() + interval '2 days'),
		  jsonb_build_object('since', now() + interval '1 day', 'until', now() + interval '2 days',
			  'failed_builds', '{"count": 0, "recent": []}'::jsonb,
			  'jobs', '{"failed": {"count": 0, "recent": []}, "dead": {"count": 0, "recent": []}}'::jsonb,
			  'executions', '{"failed": 0, "by_error_kind": [{"error_kind": "bad_response", "count": 0},
				{"error_kind": "crash", "count": 0}, {"error_kind": "out_of_memory", "count": 0},
				{"error_kind": "rejected", "count": 0}, {"error_kind": "timeout", "count": 0}]}'::jsonb),
		  'errors: a quiet period has every part, empty');

SELECT throws_ok('SELECT cpub_admin.platform_errors(since => NULL)', '22004',
				 'since and until are required', 'errors: since NULL');
SELECT throws_ok('SELECT cpub_admin.platform_errors(until => NULL)', '22004',
				 'since and until are required', 'errors: until NULL');
SELECT throws_ok('SELECT cpub_admin.platform_errors(now(), now())', '22023',
				 'until must be after since', 'errors: an empty period');
SELECT throws_ok($$SELECT cpub_admin.platform_errors(now(), now() - interval '1 hour')$$, '22023',
				 'until must be after since', 'errors: until before since');
SELECT throws_ok($$SELECT cpub_admin.platform_errors('-infinity', now())$$, '22023',
				 'since and until must be finite', 'errors: an infinite since');
SELECT throws_ok($$SELECT cpub_admin.platform_errors(now() - interval '1 hour', 'infinity')$$, '22023',
				 'since and until must be finite', 'errors: an infinite until');
SELECT throws_ok('SELECT cpub_admin.platform_errors("limit" => 0)', '22023',
				 'page limit must be between 1 and 500', 'errors: limit 0');
SELECT throws_ok('SELECT cpub_admin.platform_errors("limit" => 501)', '22023',
				 'page limit must be between 1 and 500', 'errors: limit over 500');
SELECT throws_ok('SELECT cpub_admin.platform_errors("limit" => NULL)', '22023',
				 'page limit must be between 1 and 500', 'errors: limit NULL');

--
-- platform_load, as a viewer.
--
SELECT cpub_admin.platform_load(:'s'::timestamptz, :'s'::timestamptz + interval '210 seconds')
	AS l \gset

SELECT is((:'l'::jsonb)->'since', to_jsonb(:'s'::timestamptz), 'load: since');
SELECT is((:'l'::jsonb)->'until', to_jsonb(:'s'::timestamptz + interval '210 seconds'), 'load: until');
SELECT is((:'l'::jsonb)->'bucket', to_jsonb(interval '1 minute'), 'load: the bucket defaults to a minute');
SELECT is((:'l'::jsonb)->'bucket_seconds', '60', 'load: in seconds');

SELECT is((:'l'::jsonb)->'queue',
		  '[{"kind": "run", "state": "pending", "count": 3},
			{"kind": "run", "state": "running", "count": 0},
			{"kind": "run", "state": "dead", "count": 1},
			{"kind": "build", "state": "pending", "count": 0},
			{"kind": "build", "state": "running", "count": 1},
			{"kind": "build", "state": "dead", "count": 1},
			{"kind": "cleanup", "state": "pending", "count": 1},
			{"kind": "cleanup", "state": "running", "count": 0},
			{"kind": "cleanup", "state": "dead", "count": 0},
			{"kind": "maintenance", "state": "pending", "count": 0},
			{"kind": "maintenance", "state": "running", "count": 0},
			{"kind": "maintenance", "state": "dead", "count": 1}]'::jsonb,
		  'load: the queue now by kind and state, all twelve');

SELECT is((:'l'::jsonb)->'workers',
		  jsonb_build_array(
			  jsonb_build_object('id', :'wa', 'host', 'host-a', 'pid', 101, 'version', '0.1',
				  'capabilities', ARRAY['build', 'cleanup', 'maintenance', 'run'],
				  'started_at', now() - interval '2 hours', 'heartbeat_at', now(),
				  'heartbeat_age_seconds', 0, 'alive', true, 'running_jobs', 1,
				  'running_containers', 2, 'warm_containers', 3),
			  jsonb_build_object('id', :'wb', 'host', 'host-b', 'pid', 102, 'version', NULL,
				  'capabilities', ARRAY['run'],
				  'started_at', now() - interval '1 hour',
				  'heartbeat_at', now() - interval '40 seconds',
				  'heartbeat_age_seconds', 40, 'alive', false, 'running_jobs', 0,
				  'running_containers', NULL, 'warm_containers', NULL)),
		  'load: the workers not stopped, oldest first, with their heartbeats and containers');

SELECT is((:'l'::jsonb)->'invocations',
		  jsonb_build_array(
			  jsonb_build_object('at', :'s'::timestamptz, 'count', 3, 'failed', 1,
								 'p50_ms', 20, 'p99_ms', 29.8),
			  jsonb_build_object('at', :'s'::timestamptz + interval '1 minute', 'count', 0,
								 'failed', 0, 'p50_ms', NULL, 'p99_ms', NULL),
			  jsonb_build_object('at', :'s'::timestamptz + interval '2 minutes', 'count', 2,
								 'failed', 1, 'p50_ms', 100, 'p99_ms', 100),
			  jsonb_build_object('at', :'s'::timestamptz + interval '3 minutes', 'count', 1,
								 'failed', 0, 'p50_ms', 40, 'p99_ms', 40)),
		  'load: invocations per bucket from since, empty ones included, the last one cut at until');
SELECT is((:'l'::jsonb)->'latency',
		  '{"count": 6, "p50_ms": 30, "p99_ms": 97.6}'::jsonb,
		  'load: latency over the whole period (an execution without a duration counts, but not in the percentiles)');

SELECT is(cpub_admin.platform_load(:'s'::timestamptz, :'s'::timestamptz + interval '210 seconds',
								   '90 seconds')->'invocations',
		  jsonb_build_array(
			  jsonb_build_object('at', :'s'::timestamptz, 'count', 3, 'failed', 1,
								 'p50_ms', 20, 'p99_ms', 29.8),
			  jsonb_build_object('at', :'s'::timestamptz + interval '90 seconds', 'count', 2,
								 'failed', 1, 'p50_ms', 100, 'p99_ms', 100),
			  jsonb_build_object('at', :'s'::timestamptz + interval '180 seconds', 'count', 1,
								 'failed', 0, 'p50_ms', 40, 'p99_ms', 40)),
		  'load: buckets of 90 seconds');
SELECT is(cpub_admin.platform_load(:'s'::timestamptz - interval '1 day', :'s'::timestamptz + interval '1 day',
								   '1 day') - 'queue' - 'workers' - 'since' - 'until',
		  jsonb_build_object('bucket', '1 day'::interval, 'bucket_seconds', 86400,
			  'invocations', jsonb_build_array(
				  jsonb_build_object('at', :'s'::timestamptz - interval '1 day', 'count', 4,
									 'failed', 3, 'p50_ms', 5, 'p99_ms', 970.15),
				  jsonb_build_object('at', :'s'::timestamptz, 'count', 7, 'failed', 2,
									 'p50_ms', 35, 'p99_ms', 955)),
			  'latency', '{"count": 11, "p50_ms": 25, "p99_ms": 1000}'::jsonb),
		  'load: day buckets, 24 hours each');
SELECT is(jsonb_array_length(cpub_admin.platform_load(now() - interval '1 day', now())->'invocations'),
		  1440, 'load: a day in minutes is 1440 buckets, the most');
SELECT is(jsonb_array_length(cpub_admin.platform_load()->'invocations'), 60,
		  'load: by default the last hour in minutes');
SELECT is(cpub_admin.platform_load()->'latency', '{"count": 10, "p50_ms": 30, "p99_ms": 1000}'::jsonb,
		  'load: by default the last hour');

SELECT throws_ok('SELECT cpub_admin.platform_load(since => NULL)', '22004',
				 'since and until are required', 'load: since NULL');
SELECT throws_ok('SELECT cpub_admin.platform_load(until => NULL)', '22004',
				 'since and until are required', 'load: until NULL');
SELECT throws_ok('SELECT cpub_admin.platform_load(bucket => NULL)', '22004',
				 'bucket is required', 'load: bucket NULL');
SELECT throws_ok('SELECT cpub_admin.platform_load(now(), now())', '22023',
				 'until must be after since', 'load: an empty period');
SELECT throws_ok($$SELECT cpub_admin.platform_load(now(), now() - interval '1 minute')$$, '22023',
				 'until must be after since', 'load: until before since');
SELECT throws_ok($$SELECT cpub_admin.platform_load('-infinity', now())$$, '22023',
				 'since and until must be finite', 'load: an infinite since');
SELECT throws_ok($$SELECT cpub_admin.platform_load(bucket => '0.5 seconds')$$, '22023',
				 'bucket must be at least 1 second', 'load: a bucket under a second');
SELECT throws_ok($$SELECT cpub_admin.platform_load(bucket => '-1 minute')$$, '22023',
				 'bucket must be at least 1 second', 'load: a negative bucket');
SELECT throws_ok($$SELECT cpub_admin.platform_load(bucket => '1 month')$$, '22023',
				 'invalid bucket 1 mon', 'load: a bucket of months');
SELECT throws_ok($$SELECT cpub_admin.platform_load(bucket => '1 year')$$, '22023',
				 'invalid bucket 1 year', 'load: a bucket of years');
SELECT throws_ok($$SELECT cpub_admin.platform_load(now() - interval '1 day 1 second', now())$$, '22023',
				 'more than 1440 buckets', 'load: a day and a second in minutes is 1441 buckets');
SELECT throws_ok($$SELECT cpub_admin.platform_load(now() - interval '1 hour', now(), '1 second')$$, '22023',
				 'more than 1440 buckets', 'load: an hour in seconds');
-- The hint says what to do.
CREATE FUNCTION pg_temp.hint_of(query text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	h text;
BEGIN
	EXECUTE query;
	RETURN NULL;
EXCEPTION WHEN invalid_parameter_value THEN
	GET STACKED DIAGNOSTICS h = PG_EXCEPTION_HINT;
	RETURN h;
END $$;
SELECT is(pg_temp.hint_of($$SELECT cpub_admin.platform_load(now() - interval '1 hour', now(), '1 second')$$),
		  'Use a longer bucket or a shorter period: at most 1440 buckets.',
		  'load: too many buckets, and the hint says what to do');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
