-- tests/pgtap/55_jobs.sql: the job queue and the workers (sql/55_jobs.sql).
--
-- Everything runs in one transaction, so now() does not move: time passes
-- by setting run_after, lease_expires_at or heartbeat_at in the past, as
-- postgres.  Claims do their housekeeping (dead workers, expired leases,
-- the queue's head) at most every second, which in one transaction is
-- once: pg_temp.housekeeping_due() makes it due again.
BEGIN;
SELECT plan(149);

-- Workers with known ids: a does every kind, b only builds, c is for the
-- dead-worker tests.
INSERT INTO cpub.workers (id, host, pid, version, capabilities) VALUES
	('a0000000-0000-0000-0000-00000000000a', 'host-a', 101, 'test', '{build,cleanup,maintenance,run}'),
	('b0000000-0000-0000-0000-00000000000b', 'host-b', 102, 'test', '{build}'),
	('c0000000-0000-0000-0000-00000000000c', 'host-c', 103, 'test', '{build,cleanup,maintenance,run}');

CREATE FUNCTION pg_temp.housekeeping_due() RETURNS void LANGUAGE sql AS $$
	UPDATE cpub.queue_head SET head_checked_at = '-infinity', leases_checked_at = '-infinity'
$$;
-- The job of a payload marker n (jobs carry {"n": ...} here).
-- (SECURITY DEFINER: the tests call them as the roles under test too.)
CREATE FUNCTION pg_temp.job(n integer) RETURNS bigint LANGUAGE sql SECURITY DEFINER AS $$
	SELECT j.id FROM cpub.jobs j WHERE (j.payload->>'n')::integer = n
$$;
CREATE FUNCTION pg_temp.enqueue(kind text, n integer, priority integer,
								run_after timestamptz DEFAULT NULL,
								max_attempts integer DEFAULT 5)
	RETURNS void LANGUAGE sql AS $$
	SELECT FROM cpub.job_enqueue(kind, jsonb_build_object('n', n), priority, run_after, max_attempts)
$$;
CREATE FUNCTION pg_temp.state(n integer) RETURNS text LANGUAGE sql SECURITY DEFINER AS $$
	SELECT j.state FROM cpub.jobs j WHERE (j.payload->>'n')::integer = n
$$;

--
-- Settings.
--
SELECT results_eq(
	$$SELECT name, value FROM cpub_admin.settings()
	   WHERE name IN ('job_lease', 'worker_timeout', 'job_retry_delay', 'job_retry_delay_max',
					  'maintenance_interval', 'worker_retention') ORDER BY name$$,
	$$VALUES ('job_lease'::text, '"30 seconds"'::jsonb), ('job_retry_delay', '"5 seconds"'),
			 ('job_retry_delay_max', '"1 hour"'), ('maintenance_interval', '"1 minute"'),
			 ('worker_retention', '"7 days"'), ('worker_timeout', '"30 seconds"')$$,
	'the queue''s settings and their defaults');

--
-- Privileges.
--
SET LOCAL ROLE cpub_developer;
SELECT throws_ok($$SELECT cpub_worker.worker_register('h', 1, '{run}')$$, '42501', NULL,
				 'a developer cannot register a worker');
SELECT throws_ok($$SELECT * FROM cpub_worker.job_claim('a0000000-0000-0000-0000-00000000000a', NULL)$$,
				 '42501', NULL, 'a developer cannot claim jobs');
SELECT throws_ok($$SELECT cpub_worker.job_complete('a0000000-0000-0000-0000-00000000000a', '{1}')$$,
				 '42501', NULL, 'a developer cannot complete jobs');
SELECT throws_ok($$SELECT cpub_worker.maintenance_run()$$, '42501', NULL,
				 'a developer cannot run maintenance');
SELECT throws_ok($$SELECT * FROM cpub_admin.job_list()$$, '42501', NULL,
				 'a developer cannot list jobs');
RESET ROLE;
SET LOCAL ROLE cpub_anon;
SELECT throws_ok($$SELECT * FROM cpub_worker.job_complete_and_claim('a0000000-0000-0000-0000-00000000000a', '{}', NULL)$$,
				 '42501', NULL, 'an anonymous caller cannot claim jobs');
SELECT throws_ok($$SELECT cpub_worker.worker_heartbeat('a0000000-0000-0000-0000-00000000000a')$$,
				 '42501', NULL, 'an anonymous caller cannot heartbeat');
RESET ROLE;
SET LOCAL ROLE cpub_developer;
SELECT throws_ok($$SELECT cpub_worker.workers_running('{}')$$, '42501', NULL,
				 'a developer cannot ask which workers run');
SELECT throws_ok($$SELECT cpub_worker.installation_id()$$, '42501', NULL,
				 'nor for the installation''s id');
RESET ROLE;
SET LOCAL ROLE cpub_admin_full;
SELECT throws_ok($$SELECT * FROM cpub_worker.job_claim('a0000000-0000-0000-0000-00000000000a', NULL)$$,
				 '42501', NULL, 'an admin cannot claim jobs');
RESET ROLE;
SET LOCAL ROLE cpub_worker;
SELECT throws_ok($$SELECT * FROM cpub_admin.queue_stats()$$, '42501', NULL,
				 'the worker cannot call admin functions');

--
-- Registration, as the worker role.
--
SELECT ok(cpub_worker.worker_register('host-d', 104, '{run,build,run}', 'v1') IS NOT NULL,
		  'worker_register returns the new worker''s id');
RESET ROLE;
SELECT results_eq(
	$$SELECT host, pid, version, capabilities, stopped_at IS NULL FROM cpub.workers WHERE host = 'host-d'$$,
	$$VALUES ('host-d'::text, 104, 'v1'::text, '{build,run}'::text[], true)$$,
	'the worker is stored, its kinds sorted and without repeats');
DELETE FROM cpub.workers WHERE host = 'host-d';
SET LOCAL ROLE cpub_worker;
SELECT throws_ok($$SELECT cpub_worker.worker_register(NULL, 1, '{run}')$$, '22004',
				 'host and pid are required', 'a worker needs a host');
SELECT throws_ok($$SELECT cpub_worker.worker_register('', 1, '{run}')$$, '22023',
				 'invalid worker registration', 'an empty host is refused');
SELECT throws_ok($$SELECT cpub_worker.worker_register('h', 0, '{run}')$$, '22023',
				 'invalid worker registration', 'a pid must be positive');
SELECT throws_ok($$SELECT cpub_worker.worker_register('h', 1, '{}')$$, '22023',
				 'invalid job kinds {}', 'a worker does at least one kind');
SELECT throws_ok($$SELECT cpub_worker.worker_register('h', 1, '{run,deploy}')$$, '22023',
				 'invalid job kinds {run,deploy}', 'an unknown kind is refused');
RESET ROLE;

--
-- The installation's id, which the worker labels its containers with.
--
SELECT id AS installation FROM cpub.installation \gset
SET LOCAL ROLE cpub_worker;
SELECT is(cpub_worker.installation_id(), :'installation'::uuid,
		  'installation_id: the id CREATE EXTENSION made');
SELECT is(cpub_worker.installation_id(), cpub_worker.installation_id(),
		  'installation_id: the same at every call');
RESET ROLE;
SELECT is((SELECT count(*)::int FROM cpub.installation), 1, 'one installation, one row');
SELECT ok('cpub.installation'::regclass <> ALL ((SELECT extconfig FROM pg_extension
												 WHERE extname = 'containerpub')::oid[]),
		  'the installation is not dumped: a restored copy gets an id of its own');

--
-- Enqueue (private: the extension's own functions call it).
--
SELECT throws_ok($$SELECT cpub.job_enqueue('deploy')$$, '22023', 'invalid job kinds {deploy}',
				 'job_enqueue refuses an unknown kind');
SELECT throws_ok($$SELECT cpub.job_enqueue('run', '{}', 40000)$$, '22023', 'invalid job',
				 'job_enqueue refuses a priority outside a smallint');
SELECT throws_ok($$SELECT cpub.job_enqueue('run', '{}', 0, 'infinity')$$, '22023', 'invalid job',
				 'job_enqueue refuses an infinite run_after');
SELECT throws_ok($$SELECT cpub.job_enqueue('run', '{}', 0, NULL, 0)$$, '22023', 'invalid job',
				 'job_enqueue refuses max_attempts below 1');
-- One of each kind, with the contract's priorities, least urgent first.
SELECT pg_temp.enqueue('maintenance', 1, 0);
SELECT pg_temp.enqueue('cleanup', 2, 10);
SELECT pg_temp.enqueue('build', 3, 50);
SELECT pg_temp.enqueue('run', 4, 100);
SELECT pg_temp.enqueue('run', 5, 100);
SELECT pg_temp.enqueue('run', 6, 100, now() + interval '1 minute');
SELECT results_eq(
	$$SELECT state, attempts, run_after <= now() FROM cpub.jobs WHERE id = pg_temp.job(4)$$,
	$$VALUES ('pending'::text, 0, true)$$, 'an enqueued job is pending and due');

--
-- Claim.
--
SET LOCAL ROLE cpub_worker;
SELECT results_eq(
	$$SELECT (payload->>'n')::integer, kind, attempts, lease_expires_at = now() + interval '30 seconds'
		FROM cpub_worker.job_claim('a0000000-0000-0000-0000-00000000000a', NULL, 3)$$,
	$$VALUES (4, 'run'::text, 1, true), (5, 'run', 1, true), (3, 'build', 1, true)$$,
	'a claim takes the most urgent jobs first, oldest first within a priority, leased for job_lease');
SELECT results_eq(
	$$SELECT (payload->>'n')::integer FROM cpub_worker.job_claim('a0000000-0000-0000-0000-00000000000a', '{maintenance}', 5)$$,
	$$VALUES (1)$$, 'a claim of some kinds takes only those');
SELECT results_eq(
	$$SELECT (payload->>'n')::integer, lease_expires_at = now() + interval '5 minutes'
		FROM cpub_worker.job_claim('a0000000-0000-0000-0000-00000000000a', NULL, 5, '5 minutes')$$,
	$$VALUES (2, true)$$, 'a claim may ask for its own lease; a job not due yet is not claimed');
SELECT is_empty($$SELECT * FROM cpub_worker.job_claim('a0000000-0000-0000-0000-00000000000a', NULL)$$,
				'nothing claimable: an empty claim');
RESET ROLE;
SELECT results_eq(
	$$SELECT state, lease_owner, attempts FROM cpub.jobs WHERE id = pg_temp.job(4)$$,
	$$VALUES ('running'::text, 'a0000000-0000-0000-0000-00000000000a'::uuid, 1)$$,
	'a claimed job is running, leased to its worker, attempt 1');
SET LOCAL ROLE cpub_worker;
SELECT throws_ok($$SELECT * FROM cpub_worker.job_claim('a0000000-0000-0000-0000-00000000000a', NULL, 0)$$,
				 '22023', 'claim limit must be between 1 and 1000', 'a claim limit of 0 is refused');
SELECT throws_ok($$SELECT * FROM cpub_worker.job_claim('a0000000-0000-0000-0000-00000000000a', NULL, 1001)$$,
				 '22023', 'claim limit must be between 1 and 1000', 'a claim limit above 1000 is refused');
SELECT throws_ok($$SELECT * FROM cpub_worker.job_claim('a0000000-0000-0000-0000-00000000000a', NULL, NULL)$$,
				 '22023', 'claim limit must be between 1 and 1000', 'a NULL claim limit is refused');
SELECT throws_ok($$SELECT * FROM cpub_worker.job_claim('a0000000-0000-0000-0000-00000000000a', '{run,deploy}')$$,
				 '22023', 'invalid job kinds {run,deploy}', 'a claim of an unknown kind is refused');
SELECT throws_ok($$SELECT * FROM cpub_worker.job_claim('a0000000-0000-0000-0000-00000000000a', '{}')$$,
				 '22023', 'invalid job kinds {}', 'a claim of no kind is refused');
SELECT throws_ok($$SELECT * FROM cpub_worker.job_claim('b0000000-0000-0000-0000-00000000000b', '{run}')$$,
				 '22023', 'worker cannot do job kinds {run}',
				 'a claim of a kind the worker did not register is refused');
SELECT throws_ok($$SELECT * FROM cpub_worker.job_claim('a0000000-0000-0000-0000-00000000000a', NULL, 1, '500 milliseconds')$$,
				 '22023', 'lease must be between 1 second and 1 day', 'a lease under a second is refused');
SELECT throws_ok($$SELECT * FROM cpub_worker.job_claim('a0000000-0000-0000-0000-00000000000a', NULL, 1, '2 days')$$,
				 '22023', 'lease must be between 1 second and 1 day', 'a lease over a day is refused');
SELECT throws_ok($$SELECT * FROM cpub_worker.job_claim('d0000000-0000-0000-0000-00000000000d', NULL)$$,
				 'P0002', 'worker not found', 'a claim by an unknown worker is P0002');

--
-- Complete.
--
SELECT is(cpub_worker.job_complete('a0000000-0000-0000-0000-00000000000a', ARRAY[pg_temp.job(4)]), 1,
		  'job_complete returns how many jobs it completed');
RESET ROLE;
SELECT ok(pg_temp.job(4) IS NULL, 'a completed job is deleted');
SET LOCAL ROLE cpub_worker;
SELECT throws_ok(format($$SELECT cpub_worker.job_complete('b0000000-0000-0000-0000-00000000000b', '{%s}')$$, pg_temp.job(5)),
				 '55Q01', 'job lease lost', 'completing another worker''s job is 55Q01');
SELECT throws_ok(format($$SELECT cpub_worker.job_complete('a0000000-0000-0000-0000-00000000000a', '{%s,%s}')$$,
						pg_temp.job(5), pg_temp.job(6)),
				 '55Q01', 'job lease lost', 'completing a batch with a job not held is 55Q01');
SELECT is(pg_temp.state(5), 'running', 'and completes none of the batch');
SELECT throws_ok($$SELECT cpub_worker.job_complete('a0000000-0000-0000-0000-00000000000a', NULL)$$,
				 '22004', 'job ids must not be NULL or hold NULL', 'NULL ids are refused');
SELECT throws_ok($$SELECT cpub_worker.job_complete('d0000000-0000-0000-0000-00000000000d', '{1}')$$,
				 'P0002', 'worker not found', 'a completion by an unknown worker is P0002');
RESET ROLE;

-- Complete and claim in one call.
SELECT pg_temp.enqueue('run', 7, 100);
SET LOCAL ROLE cpub_worker;
SELECT results_eq(
	format($$SELECT (payload->>'n')::integer
			   FROM cpub_worker.job_complete_and_claim('a0000000-0000-0000-0000-00000000000a', '{%s}', NULL)$$,
		   pg_temp.job(5)),
	$$VALUES (7)$$, 'job_complete_and_claim completes and claims the next job in one call');
SELECT ok(pg_temp.job(5) IS NULL, 'the done job is deleted');
RESET ROLE;
SELECT pg_temp.enqueue('run', 8, 100);
SET LOCAL ROLE cpub_worker;
SELECT throws_ok(format($$SELECT * FROM cpub_worker.job_complete_and_claim('b0000000-0000-0000-0000-00000000000b', '{%s}', NULL)$$,
						pg_temp.job(7)),
				 '55Q01', 'job lease lost', 'job_complete_and_claim with a job not held is 55Q01');
SELECT is(pg_temp.state(8), 'pending', 'and claims nothing');
SELECT is(pg_temp.state(7), 'running', 'nor completes anything');
SELECT throws_ok($$SELECT * FROM cpub_worker.job_complete_and_claim('a0000000-0000-0000-0000-00000000000a', '{1,NULL}', NULL)$$,
				 '22004', 'job done must not be NULL or hold NULL', 'a NULL among the done jobs is refused');
SELECT throws_ok($$SELECT * FROM cpub_worker.job_complete_and_claim('a0000000-0000-0000-0000-00000000000a', '{}', '{build,nope}')$$,
				 '22023', 'invalid job kinds {build,nope}', 'job_complete_and_claim refuses unknown kinds');
SELECT results_eq(
	$$SELECT (payload->>'n')::integer FROM cpub_worker.job_complete_and_claim('a0000000-0000-0000-0000-00000000000a', '{}', '{run}')$$,
	$$VALUES (8)$$, 'job_complete_and_claim with nothing done only claims');

--
-- Heartbeats.
--
RESET ROLE;
UPDATE cpub.jobs SET lease_expires_at = now() + interval '1 second'
 WHERE lease_owner = 'a0000000-0000-0000-0000-00000000000a' AND id <> pg_temp.job(2);
UPDATE cpub.workers SET heartbeat_at = now() - interval '10 seconds'
 WHERE id = 'a0000000-0000-0000-0000-00000000000a';
SET LOCAL ROLE cpub_worker;
SELECT is(cpub_worker.worker_heartbeat('a0000000-0000-0000-0000-00000000000a'),
		  ARRAY(SELECT pg_temp.job(n) FROM unnest(ARRAY[1, 2, 3, 7, 8]) n ORDER BY 1),
		  'worker_heartbeat returns the ids of the jobs the worker holds');
RESET ROLE;
SELECT is((SELECT min(lease_expires_at) FROM cpub.jobs WHERE lease_owner = 'a0000000-0000-0000-0000-00000000000a'),
		  now() + interval '30 seconds', 'and extends each lease to job_lease from now');
SELECT is((SELECT lease_expires_at FROM cpub.jobs WHERE id = pg_temp.job(2)),
		  now() + interval '5 minutes', 'but does not shorten a longer one');
SELECT is((SELECT heartbeat_at FROM cpub.workers WHERE id = 'a0000000-0000-0000-0000-00000000000a'),
		  now(), 'and records the heartbeat');
SET LOCAL ROLE cpub_worker;
SELECT is(cpub_worker.job_heartbeat('a0000000-0000-0000-0000-00000000000a', ARRAY[pg_temp.job(3)], '10 minutes'),
		  now() + interval '10 minutes', 'job_heartbeat gives jobs a lease of their own');
SELECT throws_ok(format($$SELECT cpub_worker.job_heartbeat('b0000000-0000-0000-0000-00000000000b', '{%s}')$$, pg_temp.job(3)),
				 '55Q01', 'job lease lost', 'a heartbeat for a job not held is 55Q01');
SELECT throws_ok(format($$SELECT cpub_worker.job_heartbeat('a0000000-0000-0000-0000-00000000000a', '{%s}', '1 hour 1 day')$$, pg_temp.job(3)),
				 '22023', 'lease must be between 1 second and 1 day', 'job_heartbeat refuses a lease over a day');
SELECT throws_ok($$SELECT cpub_worker.job_heartbeat('a0000000-0000-0000-0000-00000000000a', NULL)$$,
				 '22004', 'job ids must not be NULL or hold NULL', 'job_heartbeat refuses NULL ids');
SELECT throws_ok($$SELECT cpub_worker.worker_heartbeat('d0000000-0000-0000-0000-00000000000d')$$,
				 'P0002', 'worker not found', 'a heartbeat of an unknown worker is P0002');

--
-- Failure, backoff, dead jobs.
--
SELECT results_eq(
	format($$SELECT state, attempts, run_after BETWEEN now() + interval '2.5 seconds' AND now() + interval '5 seconds'
			   FROM cpub_worker.job_fail('a0000000-0000-0000-0000-00000000000a', %s, 'exit 1')$$, pg_temp.job(7)),
	$$VALUES ('pending'::text, 1, true)$$,
	'a first failure retries after job_retry_delay, halved at most by the jitter');
RESET ROLE;
SELECT is((SELECT last_error FROM cpub.jobs WHERE id = pg_temp.job(7)), 'exit 1', 'the error is kept');
UPDATE cpub.jobs SET attempts = 3 WHERE id = pg_temp.job(8);
SET LOCAL ROLE cpub_worker;
SELECT ok((SELECT run_after BETWEEN now() + interval '10 seconds' AND now() + interval '20 seconds'
			 FROM cpub_worker.job_fail('a0000000-0000-0000-0000-00000000000a', pg_temp.job(8), 'exit 2')),
		  'the delay doubles with each attempt (the third: 10 to 20 seconds)');
RESET ROLE;
-- Ten jobs failing together on their 14th attempt: capped, and spread.
INSERT INTO cpub.jobs (kind, payload, priority, state, attempts, max_attempts, lease_owner, lease_expires_at)
SELECT 'cleanup', jsonb_build_object('n', 100 + g), 10, 'running', 14, 20,
	   'a0000000-0000-0000-0000-00000000000a', now() + interval '1 minute'
  FROM generate_series(1, 10) g;
SET LOCAL ROLE cpub_worker;
SELECT ok((SELECT bool_and(f.run_after BETWEEN now() + interval '30 minutes' AND now() + interval '1 hour')
			 FROM generate_series(101, 110) n,
				  cpub_worker.job_fail('a0000000-0000-0000-0000-00000000000a', pg_temp.job(n), 'busy') f),
		  'the delay is capped at job_retry_delay_max');
RESET ROLE;
SELECT cmp_ok((SELECT count(DISTINCT run_after)::integer FROM cpub.jobs
				WHERE (payload->>'n')::integer BETWEEN 101 AND 110), '>', 5,
			  'jobs that failed together come back at different times (jitter)');
DELETE FROM cpub.jobs WHERE (payload->>'n')::integer BETWEEN 101 AND 110;
SET LOCAL ROLE cpub_worker;
SELECT results_eq(
	format($$SELECT state, attempts FROM cpub_worker.job_fail('a0000000-0000-0000-0000-00000000000a', %s, 'bad payload', false)$$,
		   pg_temp.job(1)),
	$$VALUES ('dead'::text, 1)$$, 'a failure without retry makes the job dead at once');
SELECT throws_ok(format($$SELECT * FROM cpub_worker.job_fail('a0000000-0000-0000-0000-00000000000a', %s, 'again')$$, pg_temp.job(1)),
				 '55Q01', 'job lease lost', 'failing a job no longer held is 55Q01');
SELECT throws_ok(format($$SELECT * FROM cpub_worker.job_fail('a0000000-0000-0000-0000-00000000000a', %s, NULL)$$, pg_temp.job(2)),
				 '22004', 'job id and error are required', 'a failure needs an error');
RESET ROLE;
-- The last attempt.
SELECT pg_temp.enqueue('build', 9, 50, NULL, 1);
SET LOCAL ROLE cpub_worker;
SELECT results_eq(
	$$SELECT (payload->>'n')::integer, attempts, max_attempts
		FROM cpub_worker.job_claim('b0000000-0000-0000-0000-00000000000b', '{build}')$$,
	$$VALUES (9, 1, 1)$$, 'a job with one attempt is claimed');
SELECT results_eq(
	format($$SELECT state FROM cpub_worker.job_fail('b0000000-0000-0000-0000-00000000000b', %s, 'out of disk')$$, pg_temp.job(9)),
	$$VALUES ('dead'::text)$$, 'failing its last attempt makes it dead');
RESET ROLE;
SELECT results_eq(
	$$SELECT state, last_error, lease_owner FROM cpub.jobs WHERE id = pg_temp.job(9)$$,
	$$VALUES ('dead'::text, 'out of disk'::text, NULL::uuid)$$, 'a dead job keeps its last error and no lease');
SET LOCAL ROLE cpub_worker;
SELECT is_empty($$SELECT * FROM cpub_worker.job_claim('b0000000-0000-0000-0000-00000000000b', '{build}')$$,
				'a dead job is not claimed');
RESET ROLE;

--
-- An expired lease (its worker hung): taken back by the next claim.
--
DELETE FROM cpub.jobs WHERE id NOT IN (pg_temp.job(1), pg_temp.job(9));
SELECT pg_temp.enqueue('run', 10, 100);
SET LOCAL ROLE cpub_worker;
SELECT results_eq($$SELECT (payload->>'n')::integer FROM cpub_worker.job_claim('a0000000-0000-0000-0000-00000000000a', '{run}')$$,
				  $$VALUES (10)$$, 'worker a claims a job');
RESET ROLE;
UPDATE cpub.jobs SET lease_expires_at = now() - interval '1 second' WHERE id = pg_temp.job(10);
SELECT pg_temp.housekeeping_due();
SET LOCAL ROLE cpub_worker;
SELECT results_eq(
	$$SELECT (payload->>'n')::integer, attempts FROM cpub_worker.job_claim('c0000000-0000-0000-0000-00000000000c', '{run}')$$,
	$$VALUES (10, 2)$$, 'its lease expires: worker c claims it again, attempt 2');
SELECT throws_ok(format($$SELECT cpub_worker.job_complete('a0000000-0000-0000-0000-00000000000a', '{%s}')$$, pg_temp.job(10)),
				 '55Q01', 'job lease lost', 'worker a then cannot complete it: 55Q01');
SELECT throws_ok(format($$SELECT cpub_worker.job_heartbeat('a0000000-0000-0000-0000-00000000000a', '{%s}')$$, pg_temp.job(10)),
				 '55Q01', 'job lease lost', 'nor heartbeat it');
SELECT throws_ok(format($$SELECT * FROM cpub_worker.job_fail('a0000000-0000-0000-0000-00000000000a', %s, 'late')$$, pg_temp.job(10)),
				 '55Q01', 'job lease lost', 'nor fail it');
RESET ROLE;
SELECT results_eq($$SELECT state, lease_owner FROM cpub.jobs WHERE id = pg_temp.job(10)$$,
				  $$VALUES ('running'::text, 'c0000000-0000-0000-0000-00000000000c'::uuid)$$,
				  'the job stays with worker c');
-- An expired lease on the last attempt: dead, not handed out again.
UPDATE cpub.jobs SET lease_expires_at = now() - interval '1 second', max_attempts = 2
 WHERE id = pg_temp.job(10);
SELECT pg_temp.housekeeping_due();
SET LOCAL ROLE cpub_worker;
SELECT is_empty($$SELECT * FROM cpub_worker.job_claim('a0000000-0000-0000-0000-00000000000a', NULL)$$,
				'a job whose lease expired on its last attempt is not claimed');
RESET ROLE;
SELECT results_eq($$SELECT state, last_error LIKE 'lease expired on attempt 2 of 2%' FROM cpub.jobs WHERE id = pg_temp.job(10)$$,
				  $$VALUES ('dead'::text, true)$$, 'it is dead, saying why');

--
-- A dead worker (no heartbeat for worker_timeout): its jobs come back at
-- once, whatever their leases.
--
SELECT pg_temp.enqueue('run', 11, 100);
SET LOCAL ROLE cpub_worker;
SELECT results_eq($$SELECT (payload->>'n')::integer FROM cpub_worker.job_claim('c0000000-0000-0000-0000-00000000000c', NULL, 1, '1 day')$$,
				  $$VALUES (11)$$, 'worker c claims a job for a day');
RESET ROLE;
UPDATE cpub.workers SET heartbeat_at = now() - interval '31 seconds'
 WHERE id = 'c0000000-0000-0000-0000-00000000000c';
UPDATE cpub.workers SET heartbeat_at = now() WHERE id = 'a0000000-0000-0000-0000-00000000000a';
SET LOCAL ROLE cpub_admin_viewer;
SELECT results_eq(
	$$SELECT host, alive, running_jobs FROM cpub_admin.workers() ORDER BY host$$,
	$$VALUES ('host-a'::text, true, 0::bigint), ('host-b', true, 0), ('host-c', false, 1)$$,
	'admins see which workers are alive and the jobs each holds');
RESET ROLE;
SET LOCAL ROLE cpub_worker;
SELECT is(cpub_worker.workers_running(ARRAY['c0000000-0000-0000-0000-00000000000c', 'b0000000-0000-0000-0000-00000000000b', 'a0000000-0000-0000-0000-00000000000a', 'b0000000-0000-0000-0000-00000000000b',
											'd0000000-0000-0000-0000-00000000000d']::uuid[]),
		  ARRAY['a0000000-0000-0000-0000-00000000000a', 'b0000000-0000-0000-0000-00000000000b']::uuid[],
		  'workers_running: the registered workers alive, each once, in id order; not one silent past worker_timeout (even before it is marked stopped) nor an unknown one');
SELECT is(cpub_worker.workers_running('{}'), '{}'::uuid[], 'workers_running: none asked, none');
SELECT throws_ok($$SELECT cpub_worker.workers_running(NULL)$$, '22004',
				 'worker ids must not be NULL or hold NULL', 'workers_running: NULL ids');
SELECT throws_ok(format('SELECT cpub_worker.workers_running(ARRAY[%L, NULL]::uuid[])', 'a0000000-0000-0000-0000-00000000000a'::text),
				 '22004', 'worker ids must not be NULL or hold NULL', 'workers_running: a NULL id');
RESET ROLE;
SELECT pg_temp.housekeeping_due();
SET LOCAL ROLE cpub_worker;
SELECT results_eq(
	$$SELECT (payload->>'n')::integer, attempts FROM cpub_worker.job_claim('a0000000-0000-0000-0000-00000000000a', NULL)$$,
	$$VALUES (11, 2)$$, 'worker c is dead: worker a claims its job at once');
SELECT throws_ok($$SELECT * FROM cpub_worker.job_claim('c0000000-0000-0000-0000-00000000000c', NULL)$$,
				 '55Q05', 'worker is stopped', 'the dead worker''s next claim is 55Q05');
SELECT throws_ok($$SELECT cpub_worker.worker_heartbeat('c0000000-0000-0000-0000-00000000000c')$$,
				 '55Q05', 'worker is stopped', 'and so is its heartbeat');
SELECT throws_ok($$SELECT cpub_worker.job_complete('c0000000-0000-0000-0000-00000000000c', '{}')$$,
				 '55Q05', 'worker is stopped', 'and its completions');
RESET ROLE;
SET LOCAL ROLE cpub_admin_viewer;
SELECT results_eq($$SELECT count(*)::integer FROM cpub_admin.workers()$$, $$VALUES (2)$$,
				  'a stopped worker is not listed by default');
SELECT results_eq($$SELECT host, alive, stopped_at IS NOT NULL FROM cpub_admin.workers(include_stopped => true) WHERE host = 'host-c'$$,
				  $$VALUES ('host-c'::text, false, true)$$, 'but is with include_stopped');
RESET ROLE;

--
-- Deregistration: jobs go back at once, the attempt not counted.
--
SELECT pg_temp.enqueue('build', 12, 50);
SET LOCAL ROLE cpub_worker;
SELECT results_eq($$SELECT (payload->>'n')::integer, attempts FROM cpub_worker.job_claim('b0000000-0000-0000-0000-00000000000b', NULL)$$,
				  $$VALUES (12, 1)$$, 'worker b claims a job');
SELECT is(cpub_worker.worker_deregister('b0000000-0000-0000-0000-00000000000b'), 1,
		  'worker_deregister returns how many jobs it gave back');
RESET ROLE;
SELECT results_eq($$SELECT state, attempts, lease_owner FROM cpub.jobs WHERE id = pg_temp.job(12)$$,
				  $$VALUES ('pending'::text, 0, NULL::uuid)$$,
				  'its job is pending again, the attempt not counted');
SET LOCAL ROLE cpub_worker;
SELECT throws_ok($$SELECT * FROM cpub_worker.job_claim('b0000000-0000-0000-0000-00000000000b', NULL)$$,
				 '55Q05', 'worker is stopped', 'a deregistered worker cannot claim');
SELECT is(cpub_worker.worker_deregister('b0000000-0000-0000-0000-00000000000b'), 0,
		  'deregistering again does nothing');
SELECT is(cpub_worker.workers_running(ARRAY['b0000000-0000-0000-0000-00000000000b', 'a0000000-0000-0000-0000-00000000000a']::uuid[]),
		  ARRAY['a0000000-0000-0000-0000-00000000000a']::uuid[], 'workers_running: not a deregistered worker');
SELECT throws_ok($$SELECT cpub_worker.worker_deregister('d0000000-0000-0000-0000-00000000000d')$$,
				 'P0002', 'worker not found', 'deregistering an unknown worker is P0002');
SELECT results_eq($$SELECT (payload->>'n')::integer, attempts FROM cpub_worker.job_claim('a0000000-0000-0000-0000-00000000000a', NULL)$$,
				  $$VALUES (12, 1)$$, 'another worker claims the given-back job');
RESET ROLE;

--
-- The queue's head: claims start from it, so every way a job becomes
-- pending must lower it.
--
DELETE FROM cpub.jobs WHERE state <> 'dead';
SELECT pg_temp.housekeeping_due();
SET LOCAL ROLE cpub_worker;
SELECT is_empty($$SELECT * FROM cpub_worker.job_claim('a0000000-0000-0000-0000-00000000000a', NULL)$$,
				'an empty claim moves the head to the end');
RESET ROLE;
SELECT results_eq($$SELECT urgency, run_after FROM cpub.queue_head$$,
				  $$VALUES (32767::smallint, 'infinity'::timestamptz)$$, 'nothing is pending: the head is at the end');
-- Straight into the table (as a restore would): the trigger lowers it.
INSERT INTO cpub.jobs (kind, payload, priority, run_after)
VALUES ('cleanup', '{"n": 13}', 10, now() - interval '1 hour');
SELECT results_eq($$SELECT urgency, id FROM cpub.queue_head$$,
				  format('VALUES (-10::smallint, %s::bigint)', pg_temp.job(13)),
				  'a job inserted lowers the head to it');
SELECT pg_temp.enqueue('run', 14, 100);
SET LOCAL ROLE cpub_worker;
SELECT results_eq($$SELECT (payload->>'n')::integer FROM cpub_worker.job_claim('a0000000-0000-0000-0000-00000000000a', NULL, 2, '1 hour')$$,
				  $$VALUES (14), (13)$$, 'jobs below the old head are claimed, most urgent first');
RESET ROLE;
SELECT pg_temp.housekeeping_due();
SET LOCAL ROLE cpub_worker;
SELECT is_empty($$SELECT * FROM cpub_worker.job_claim('a0000000-0000-0000-0000-00000000000a', NULL)$$,
				'the head moves to the end again');
SELECT is(cpub_worker.worker_deregister('a0000000-0000-0000-0000-00000000000a'), 2,
		  'a worker gives back two jobs claimed an hour ago');
RESET ROLE;
INSERT INTO cpub.workers (id, host, pid, capabilities)
VALUES ('e0000000-0000-0000-0000-00000000000e', 'host-e', 105, '{build,cleanup,maintenance,run}');
SET LOCAL ROLE cpub_worker;
SELECT results_eq($$SELECT (payload->>'n')::integer FROM cpub_worker.job_claim('e0000000-0000-0000-0000-00000000000e', NULL, 5)$$,
				  $$VALUES (14), (13)$$, 'given-back jobs lower the head: they are claimed again');
RESET ROLE;
UPDATE cpub.queue_head SET urgency = 32767, run_after = 'infinity', id = 9223372036854775807;
SET LOCAL ROLE cpub_worker;
SELECT results_eq(
	format($$SELECT state FROM cpub_worker.job_fail('e0000000-0000-0000-0000-00000000000e', %s, 'x')$$, pg_temp.job(14)),
	$$VALUES ('pending'::text)$$, 'a failed job waits for its retry');
RESET ROLE;
SELECT results_eq($$SELECT urgency, run_after > now(), id FROM cpub.queue_head$$,
				  format('VALUES (-100::smallint, true, %s::bigint)', pg_temp.job(14)),
				  'and lowers the head to its retry');
UPDATE cpub.queue_head SET urgency = 32767, run_after = 'infinity', id = 9223372036854775807;
SELECT pg_temp.housekeeping_due();
SELECT results_eq($$SELECT (cpub_worker.maintenance_run()->>'head_checked')::boolean$$,
				  $$VALUES (true)$$, 'maintenance checks the head from the front');
SELECT results_eq($$SELECT urgency, id FROM cpub.queue_head$$,
				  format('VALUES (-100::smallint, %s::bigint)', pg_temp.job(14)),
				  'and so finds a head too high');

--
-- Maintenance.
--
DELETE FROM cpub.jobs WHERE state <> 'dead';
SET LOCAL ROLE cpub_worker;
SELECT ok(cpub_worker.maintenance_schedule() IS NOT NULL, 'the first maintenance_schedule enqueues a job');
SELECT ok(cpub_worker.maintenance_schedule() IS NULL, 'the next one, in the same interval, does not');
RESET ROLE;
SELECT results_eq($$SELECT kind, priority, payload FROM cpub.jobs WHERE state = 'pending'$$,
				  $$VALUES ('maintenance'::text, 0::smallint, '{}'::jsonb)$$,
				  'a maintenance job, priority 0, empty payload');
UPDATE cpub.maintenance_schedule SET due_at = now() - interval '1 second';
SET LOCAL ROLE cpub_worker;
SELECT ok(cpub_worker.maintenance_schedule() IS NULL, 'none while the previous one is still pending');
RESET ROLE;
SELECT ok((SELECT due_at FROM cpub.maintenance_schedule) = now() + interval '1 minute',
		  'but the schedule moves on by maintenance_interval');
DELETE FROM cpub.jobs WHERE kind = 'maintenance' AND state = 'pending';
UPDATE cpub.maintenance_schedule SET due_at = now() - interval '1 second';
SET LOCAL ROLE cpub_worker;
SELECT ok(cpub_worker.maintenance_schedule() IS NOT NULL, 'when due again, another job');
RESET ROLE;
-- A dead worker with a job, a worker stopped long ago, an expired lease.
INSERT INTO cpub.workers (id, host, pid, capabilities, heartbeat_at, stopped_at) VALUES
	('f0000000-0000-0000-0000-00000000000f', 'host-f', 106, '{run}', now() - interval '1 minute', NULL),
	('f1000000-0000-0000-0000-0000000000f1', 'host-f1', 107, '{run}', now() - interval '8 days', now() - interval '8 days');
INSERT INTO cpub.jobs (kind, payload, priority, state, attempts, lease_owner, lease_expires_at) VALUES
	('run', '{"n": 15}', 100, 'running', 1, 'f0000000-0000-0000-0000-00000000000f', now() + interval '1 hour'),
	('run', '{"n": 16}', 100, 'running', 1, 'e0000000-0000-0000-0000-00000000000e', now() - interval '1 hour');
CREATE FUNCTION pg_temp.failing_purge() RETURNS integer LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'purge failed' USING ERRCODE = '54000';
END
$$;
INSERT INTO cpub.maintenance_tasks (name, function, description)
VALUES ('a_failing_purge', 'pg_temp.failing_purge()', 'Fails, for the test.');
SET LOCAL ROLE cpub_worker;
SELECT results_eq(
	$$SELECT r->'workers_stopped', r->'leases_released', r->'workers_deleted',
			 r#>'{tasks,a_failing_purge,sqlstate}', r#>'{tasks,purge_expired_sessions}'
		FROM cpub_worker.maintenance_run() r$$,
	$$VALUES ('1'::jsonb, '2'::jsonb, '1'::jsonb, '"54000"'::jsonb, '0'::jsonb)$$,
	'maintenance_run stops dead workers, releases expired leases, deletes old workers and runs every task, reporting a failing one');
RESET ROLE;
SELECT results_eq($$SELECT state FROM cpub.jobs WHERE (payload->>'n')::integer IN (15, 16) ORDER BY payload->>'n'$$,
				  $$VALUES ('pending'::text), ('pending')$$, 'the released jobs are pending');
SELECT results_eq($$SELECT host FROM cpub.workers WHERE id::text LIKE 'f%' AND stopped_at IS NOT NULL$$,
				  $$VALUES ('host-f'::text)$$, 'the dead worker is stopped, the old one gone');

--
-- Admins.
--
DELETE FROM cpub.jobs WHERE state <> 'dead';
SELECT pg_temp.enqueue('run', 17, 100);
SELECT pg_temp.enqueue('build', 18, 50, now() + interval '1 hour');
SET LOCAL ROLE cpub_admin_viewer;
SELECT results_eq($$SELECT (payload->>'n')::integer, state FROM cpub_admin.job_list()$$,
				  $$VALUES (1, 'dead'::text), (9, 'dead'), (10, 'dead'), (17, 'pending'), (18, 'pending')$$,
				  'job_list lists jobs oldest first');
SELECT results_eq($$SELECT (payload->>'n')::integer FROM cpub_admin.job_list(state => 'dead', "limit" => 2)$$,
				  $$VALUES (1), (9)$$, 'job_list filters by state and pages by limit');
SELECT results_eq(format($$SELECT (payload->>'n')::integer FROM cpub_admin.job_list(state => 'dead', after => %s)$$, pg_temp.job(9)),
				  $$VALUES (10)$$, 'job_list continues after a job id');
SELECT results_eq($$SELECT (payload->>'n')::integer FROM cpub_admin.job_list(kind => 'build')$$,
				  $$VALUES (9), (18)$$, 'job_list filters by kind');
SELECT throws_ok($$SELECT * FROM cpub_admin.job_list(state => 'done')$$, '22023',
				 'invalid job state "done"', 'an unknown state is 22023');
SELECT throws_ok($$SELECT * FROM cpub_admin.job_list(kind => 'deploy')$$, '22023',
				 'invalid job kinds {deploy}', 'an unknown kind is 22023');
SELECT throws_ok($$SELECT * FROM cpub_admin.job_list("limit" => 0)$$, '22023',
				 'page limit must be between 1 and 500', 'a bad page limit is 22023');
SELECT results_eq(format($$SELECT kind, state, attempts, last_error FROM cpub_admin.job_get(%s)$$, pg_temp.job(9)),
				  $$VALUES ('build'::text, 'dead'::text, 1, 'out of disk'::text)$$, 'job_get shows one job');
SELECT throws_ok($$SELECT * FROM cpub_admin.job_get(-1)$$, 'P0002', 'job not found', 'an unknown job is P0002');
SELECT results_eq(
	$$SELECT kind, state, jobs, delayed, oldest_wait FROM cpub_admin.queue_stats()
	   WHERE jobs > 0 OR (kind = 'run' AND state = 'running')$$,
	$$VALUES ('run'::text, 'pending'::text, 1::bigint, 0::bigint, interval '0'),
			 ('run', 'running', 0, 0, NULL),
			 ('run', 'dead', 1, 0, NULL),
			 ('build', 'pending', 1, 1, NULL),
			 ('build', 'dead', 1, 0, NULL),
			 ('maintenance', 'dead', 1, 0, NULL)$$,
	'queue_stats counts jobs by kind and state, the delayed ones and the longest wait');
SELECT is((SELECT count(*)::integer FROM cpub_admin.queue_stats()), 12, 'queue_stats has every kind and state');
SELECT throws_ok(format('SELECT * FROM cpub_admin.job_retry(%s)', pg_temp.job(9)), '42501', NULL,
				 'a viewer cannot retry a job');
SELECT throws_ok(format('SELECT cpub_admin.job_delete(%s)', pg_temp.job(9)), '42501', NULL,
				 'a viewer cannot delete a job');
RESET ROLE;
UPDATE cpub.queue_head SET urgency = 32767, run_after = 'infinity', id = 9223372036854775807;
SET LOCAL ROLE cpub_admin_full;
SELECT results_eq(format($$SELECT state, attempts FROM cpub_admin.job_retry(%s)$$, pg_temp.job(9)),
				  $$VALUES ('pending'::text, 0)$$, 'job_retry makes a dead job pending, attempts from 0');
SELECT throws_ok(format('SELECT * FROM cpub_admin.job_retry(%s)', pg_temp.job(9)), '23514',
				 'cannot retry a job that is pending', 'only a dead job can be retried');
SELECT throws_ok('SELECT * FROM cpub_admin.job_retry(-1)', 'P0002', 'job not found',
				 'retrying an unknown job is P0002');
SELECT lives_ok(format('SELECT cpub_admin.job_delete(%s)', pg_temp.job(1)), 'job_delete removes a dead job');
SELECT throws_ok(format('SELECT cpub_admin.job_delete(%s)', pg_temp.job(17)), '23514',
				 'cannot delete a job that is pending', 'only a dead job can be deleted');
SELECT throws_ok('SELECT cpub_admin.job_delete(-1)', 'P0002', 'job not found',
				 'deleting an unknown job is P0002');
RESET ROLE;
SELECT ok(pg_temp.job(1) IS NULL, 'the deleted job is gone');
SELECT results_eq(
	$$SELECT action, detail->>'kind', actor_name FROM cpub.audit_log WHERE action LIKE 'job.%' ORDER BY id$$,
	$$VALUES ('job.retry'::text, 'build'::text, 'postgres'::text), ('job.delete', 'maintenance', 'postgres')$$,
	'retries and deletions are audited');
SELECT results_eq($$SELECT id FROM cpub.queue_head$$, format('VALUES (%s::bigint)', pg_temp.job(9)),
				  'a retried job lowers the head');
SET LOCAL ROLE cpub_worker;
SELECT results_eq($$SELECT (payload->>'n')::integer FROM cpub_worker.job_claim('e0000000-0000-0000-0000-00000000000e', '{build}')$$,
				  $$VALUES (9)$$, 'a retried job is claimed again');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
