-- tests/pgtap/70_executions.sql: invocations and their executions: who may
-- invoke what, the tier's monthly quota and requests per second, the run
-- job, the worker's start and finish, reading executions and logs, metrics
-- and series, reaping and purging, the admin's list, privileges.
-- (The signed-key path, cpub.invocation_key_check, is tested with the keys.)
BEGIN;
SELECT plan(197);
SET LOCAL TimeZone = 'UTC';

--
-- Fixtures, as superuser.  o: owns functions of their own; a: owner of
-- organization acme; m: member of acme; x: outsider; q: on a tiny tier;
-- p: owner-level metrics; s: series.
--
INSERT INTO cpub.users (email, password_hash, status)
VALUES ('o@example.com', 'x', 'active'), ('a@example.com', 'x', 'active'),
	   ('m@example.com', 'x', 'active'), ('x@example.com', 'x', 'active'),
	   ('q@example.com', 'x', 'active'), ('p@example.com', 'x', 'active'),
	   ('s@example.com', 'x', 'active');
SELECT (SELECT uuid FROM cpub.users WHERE email = 'o@example.com') AS uid_o,
	   (SELECT uuid FROM cpub.users WHERE email = 'x@example.com') AS uid_x,
	   (SELECT uuid FROM cpub.users WHERE email = 'q@example.com') AS uid_q,
	   (SELECT uuid FROM cpub.users WHERE email = 'm@example.com') AS uid_m \gset
\set wid '00000000-0000-0000-0000-0000000000aa'
\set archive 'decode(''1f8b0800000000000003030000000000000000'', ''hex'')'

-- pg_temp.act(email, temporary): a session of that user (temporary: opened
-- with a temporary password that must be changed).
CREATE FUNCTION pg_temp.act(email text, temporary boolean DEFAULT false)
	RETURNS void LANGUAGE sql AS $$
	SELECT cpub.set_user_identity((SELECT u.uuid FROM cpub.users u WHERE u.email = $1),
								  gen_random_uuid(), $2) $$;
-- pg_temp.build(function_id, succeeded): the worker builds the function's
-- newest queued version (image registry/NAME:VERSION).
CREATE FUNCTION pg_temp.build(fid uuid, ok boolean DEFAULT true)
	RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	v cpub.function_versions;
BEGIN
	SELECT x.* INTO v FROM cpub.function_versions x
	 WHERE x.function_id = fid AND x.status = 'queued' ORDER BY x.version DESC LIMIT 1;
	PERFORM * FROM cpub_worker.build_start(v.id);
	PERFORM cpub_worker.build_finish(v.id, ok, 'built',
		CASE WHEN ok THEN (SELECT 'registry/' || f.name || ':' || v.version
							 FROM cpub.functions f WHERE f.id = fid) END);
END $$;
-- pg_temp.run(execution_id, response_status, error_kind, logs, duration_ms,
-- cold_start): the worker starts and finishes an execution.
CREATE FUNCTION pg_temp.run(eid uuid, status integer, kind text DEFAULT NULL,
							out_logs text DEFAULT '', ms double precision DEFAULT NULL,
							cold boolean DEFAULT false)
	RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	PERFORM * FROM cpub_worker.execution_start(eid, '00000000-0000-0000-0000-0000000000aa');
	RETURN cpub_worker.execution_finish(eid, '00000000-0000-0000-0000-0000000000aa',
										status, NULL, NULL, out_logs, kind, NULL, ms,
										NULL, cold);
END $$;
-- pg_temp.exec(function_id, created_at, status, response_status,
-- error_kind, duration_ms, cold_start): an execution recorded directly,
-- finished a second after it began unless queued.
CREATE FUNCTION pg_temp.exec(fid uuid, at timestamptz, status text,
							 response_status integer DEFAULT 200,
							 kind text DEFAULT NULL,
							 ms double precision DEFAULT 10,
							 cold boolean DEFAULT false)
	RETURNS uuid LANGUAGE sql AS $$
	INSERT INTO cpub.executions (function_id, owner_id, trigger, status,
		request_method, request_path, response_status, error_kind, duration_ms,
		cold_start, created_at, started_at, completed_at)
	SELECT f.id, f.owner_id, 'sync', $3, 'POST', '/', $4, $5, $6, $7, $2,
		   CASE WHEN $3 <> 'queued' THEN $2 END,
		   CASE WHEN $3 IN ('succeeded', 'failed') THEN $2 + interval '1 second' END
	  FROM cpub.functions f WHERE f.id = $1
	RETURNING id $$;

-- Roomy limits for o and acme, so that only the rate tests meet a rate.
SELECT FROM cpub_admin.tier_create('roomy', 100, 1024, 300, 100, 1000000, 20, 100000);
SELECT FROM cpub_admin.tier_create('tiny', 5, 256, 30, 5, 3, 20, 2);
SELECT cpub_admin.tier_assign_user(:'uid_o', 'roomy');
SELECT cpub_admin.tier_assign_user(:'uid_q', 'tiny');

SELECT pg_temp.act('o@example.com');
SET LOCAL ROLE cpub_developer;
SELECT (cpub_api.function_create('pub', 'shell', visibility => 'public')).id AS f_pub,
	   (cpub_api.function_create('priv', 'shell')).id AS f_priv,
	   (cpub_api.function_create('keyed', 'shell', visibility => 'key')).id AS f_keyed,
	   (cpub_api.function_create('nover', 'shell', visibility => 'public')).id AS f_nover,
	   (cpub_api.function_create('broken', 'shell', visibility => 'public')).id AS f_broken,
	   (cpub_api.function_create('gone', 'shell', visibility => 'public')).id AS f_gone,
	   (cpub_api.function_create('big', 'python', memory_mb => 512, timeout_seconds => 60,
								 max_concurrency => 20)).id AS f_big,
	   (cpub_api.function_create('doomed', 'shell')).id AS f_doomed,
	   (cpub_api.function_create('lister', 'shell')).id AS f_lister,
	   (cpub_api.function_create('logger', 'shell')).id AS f_logger,
	   (cpub_api.function_create('calc', 'shell')).id AS f_calc,
	   (cpub_api.function_create('reaper', 'shell')).id AS f_reaper,
	   (cpub_api.function_create('keeper', 'shell')).id AS f_keeper,
	   (cpub_api.function_create('expired', 'shell')).id AS f_expired,
	   (cpub_api.function_create('lingering', 'shell')).id AS f_lingering \gset
SELECT FROM unnest(ARRAY['pub', 'priv', 'keyed', 'broken', 'gone', 'big', 'doomed', 'lister',
						 'logger', 'calc', 'reaper', 'expired']) f,
			cpub_api.function_deploy(f, :archive);
RESET ROLE;
SELECT pg_temp.build(f) FROM unnest(ARRAY[:'f_pub', :'f_priv', :'f_keyed', :'f_gone', :'f_big',
	:'f_doomed', :'f_lister', :'f_logger', :'f_calc', :'f_reaper', :'f_expired']::uuid[]) f;
SELECT pg_temp.build(:'f_broken', false);
SET LOCAL ROLE cpub_developer;
SELECT cpub_api.function_delete('gone');
RESET ROLE;
SELECT id AS v1_priv FROM cpub.function_versions WHERE function_id = :'f_priv' AND version = 1 \gset

SELECT pg_temp.act('a@example.com');
SET LOCAL ROLE cpub_developer;
SELECT FROM cpub_api.organization_create('acme');
SELECT cpub_api.organization_add_member('acme', 'm@example.com');
SELECT (cpub_api.function_create('api', 'shell', organization => 'acme')).id AS f_api,
	   (cpub_api.function_create('www', 'shell', organization => 'acme',
								 visibility => 'public')).id AS f_www,
	   (cpub_api.function_create('sealed', 'shell', organization => 'acme',
								 visibility => 'key')).id AS f_sealed \gset
SELECT FROM unnest(ARRAY['api', 'www', 'sealed']) f, cpub_api.function_deploy('acme/' || f, :archive);
RESET ROLE;
SELECT cpub_admin.tier_assign_organization('acme', 'roomy');
SELECT pg_temp.build(:'f_api'), pg_temp.build(:'f_www'), pg_temp.build(:'f_sealed');

SELECT pg_temp.act('q@example.com');
SET LOCAL ROLE cpub_developer;
SELECT (cpub_api.function_create('f', 'shell', visibility => 'public')).id AS f_q \gset
SELECT FROM cpub_api.function_deploy('f', :archive);
RESET ROLE;
SELECT pg_temp.build(:'f_q');

SELECT pg_temp.act('p@example.com');
SET LOCAL ROLE cpub_developer;
SELECT (cpub_api.function_create('one', 'shell')).id AS f_one,
	   (cpub_api.function_create('two', 'shell')).id AS f_two \gset
RESET ROLE;
SELECT pg_temp.act('s@example.com');
SET LOCAL ROLE cpub_developer;
SELECT (cpub_api.function_create('hourly', 'shell')).id AS f_hourly,
	   (cpub_api.function_create('daily', 'shell')).id AS f_daily \gset
RESET ROLE;

--
-- cpub_api.invoke without a session (cpub_anon).
--
SELECT cpub.clear_identity();
SET LOCAL ROLE cpub_anon;
SELECT results_eq(format('SELECT function_id, version, trigger, timeout_seconds FROM cpub_api.invoke(%L, %L)',
						 :'uid_o', 'pub'),
	format('VALUES (%L::uuid, 1, %L, 10)', :'f_pub', 'sync'),
	'anon invokes a public function by its owner''s id; a synchronous caller waits its timeout');
SELECT lives_ok(format('SELECT cpub_api.invoke(%L, %L)', upper(:'uid_o'), 'pub'),
	'the owner''s id in capitals');
SELECT results_eq($$SELECT function_id FROM cpub_api.invoke('acme', 'www')$$,
	format('VALUES (%L::uuid)', :'f_www'), 'anon invokes an organization''s public function by its name');
SELECT throws_ok(format('SELECT cpub_api.invoke(%L, %L)', :'uid_o', 'priv'), 'P0002',
	format('function "%s/priv" not found', :'uid_o'), 'anon: a private function does not exist');
SELECT throws_ok(format('SELECT cpub_api.invoke(%L, %L, key_id => %L)', :'uid_o', 'priv', 'k1'), 'P0002',
	format('function "%s/priv" not found', :'uid_o'), 'anon: nor with a key');
SELECT throws_ok($$SELECT cpub_api.invoke('acme', 'api')$$, 'P0002',
	'function "acme/api" not found', 'anon: an organization''s private function does not exist');
SELECT throws_ok(format('SELECT cpub_api.invoke(%L, %L)', :'uid_o', 'keyed'), '28Q06',
	format('function "%s/keyed" needs a signed invocation key', :'uid_o'),
	'anon: a key-protected function needs a signed key');
SELECT throws_ok($$SELECT cpub_api.invoke('acme', 'sealed')$$, '28Q06', NULL,
	'anon: an organization''s key-protected function needs a signed key');
SELECT throws_ok(format('SELECT cpub_api.invoke(%L, %L)', :'uid_o', 'nope'), 'P0002', NULL,
	'anon: unknown function');
SELECT throws_ok(format('SELECT cpub_api.invoke(%L, %L)', :'uid_x', 'pub'), 'P0002', NULL,
	'anon: a function of another owner is not found');
SELECT throws_ok($$SELECT cpub_api.invoke('nobody', 'pub')$$, 'P0002', NULL,
	'anon: unknown organization');
SELECT throws_ok(format('SELECT cpub_api.invoke(%L, %L)', :'uid_o', 'nover'), '55Q04',
	'function "nover" has no ready version', 'a function never deployed has no ready version');
SELECT throws_ok(format('SELECT cpub_api.invoke(%L, %L)', :'uid_o', 'broken'), '55Q04',
	'function "broken" has no ready version', 'nor one whose only build failed');
SELECT throws_ok(format('SELECT cpub_api.invoke(%L, %L)', :'uid_o', 'gone'), 'P0002',
	format('function "%s/gone" not found', :'uid_o'), 'a deleted function is not found');
SELECT throws_ok(format('SELECT cpub_api.invoke(%L, %L, method => %L)', :'uid_o', 'pub', 'get'), '22023',
	'invalid method "get"', 'a method is in capitals');
SELECT throws_ok(format('SELECT cpub_api.invoke(%L, %L, method => NULL)', :'uid_o', 'pub'), '22023',
	'invalid method "null"', 'a method is required');
SELECT throws_ok(format('SELECT cpub_api.invoke(%L, %L, method => %L)', :'uid_o', 'pub', 'VERYLONGMETHODNAME'),
	'22023', NULL, 'a method has at most 16 letters');
SELECT throws_ok(format('SELECT cpub_api.invoke(%L, %L, path => %L)', :'uid_o', 'pub', 'x/y'), '22023',
	'invalid path "x/y"', 'a path starts with a slash');
SELECT throws_ok(format('SELECT cpub_api.invoke(%L, %L, path => NULL)', :'uid_o', 'pub'), '22023',
	'invalid path "null"', 'a path is required');
SELECT throws_ok(format('SELECT cpub_api.invoke(%L, %L, headers => %L)', :'uid_o', 'pub', '["a"]'), '22023',
	'headers must be a JSON object', 'headers are an object');
SELECT execution_id AS e_hdr
  FROM cpub_api.invoke(:'uid_o', 'pub', method => 'PUT', path => '/items/1', query => 'a=1&b=2',
	headers => '{"Content-Type": "application/json", "X-Cpub-Key-Id": "k", "x-cpub-signature": "s", "X-Cpubx": "kept"}',
	body => '\x7b7d', async => true) \gset
SELECT throws_ok($$SELECT cpub_api.function_invoke('pub')$$, '42501', NULL,
	'anon cannot call function_invoke');
SELECT throws_ok(format('SELECT cpub_api.execution_get(%L)', :'e_hdr'), '42501', NULL,
	'anon cannot read executions');
RESET ROLE;

SELECT results_eq(format($$SELECT trigger, status, version, version_id, caller_user_id, caller_key_id,
		request_method, request_path, request_query, request_headers, request_body, owner_id
	  FROM cpub.executions WHERE id = %L$$, :'e_hdr'),
	format($$SELECT 'async'::text, 'queued'::text, 1, active_version_id, NULL::uuid, NULL::uuid,
		'PUT'::text, '/items/1'::text, 'a=1&b=2'::text,
		'{"Content-Type": "application/json", "X-Cpubx": "kept"}'::jsonb, '\x7b7d'::bytea, %L::uuid
	  FROM cpub.functions WHERE id = %L$$, :'uid_o', :'f_pub'),
	'the execution records the request, without X-Cpub-* headers, the version, no caller');
SELECT results_eq(format($$SELECT j.kind, j.payload, j.priority, j.state, j.max_attempts
	  FROM cpub.executions e JOIN cpub.jobs j ON j.id = e.job_id WHERE e.id = %L$$, :'e_hdr'),
	format($$VALUES ('run'::text, jsonb_build_object('execution_id', %L::uuid), 100::smallint,
		'pending'::text, 3)$$, :'e_hdr'),
	'a run job with the execution''s id, priority 100, is enqueued with it');
SELECT is((SELECT count(*)::int FROM cpub.jobs WHERE kind = 'run' AND payload->>'execution_id' = :'e_hdr'), 1,
	'one run job per execution');
SELECT is((SELECT count(*)::int FROM cpub.executions WHERE function_id = :'f_pub'), 3,
	'each successful invocation recorded one execution, the refused ones none');

--
-- cpub_api.invoke and function_invoke with a session (cpub_developer).
--
SELECT pg_temp.act('x@example.com');
SET LOCAL ROLE cpub_developer;
SELECT execution_id AS e_x FROM cpub_api.invoke(:'uid_o', 'pub') \gset
SELECT throws_ok(format('SELECT cpub_api.invoke(%L, %L)', :'uid_o', 'priv'), 'P0002', NULL,
	'a non-member: a private function does not exist');
SELECT throws_ok($$SELECT cpub_api.invoke('acme', 'api')$$, 'P0002', NULL,
	'a non-member: an organization''s private function does not exist');
SELECT throws_ok(format('SELECT cpub_api.invoke(%L, %L)', :'uid_o', 'keyed'), '28Q06', NULL,
	'a non-member needs a key for a key-protected function');
SELECT throws_ok($$SELECT cpub_api.invoke('acme', 'sealed')$$, '28Q06',
	'function "acme/sealed" needs a signed invocation key',
	'a non-member needs a key for an organization''s key-protected function');
SELECT throws_ok($$SELECT cpub_api.function_invoke('acme/api')$$, 'P0002',
	'function "acme/api" not found', 'function_invoke: a non-member does not find it');
SELECT throws_ok(format('SELECT cpub_api.function_invoke(%L)', :'f_pub'), 'P0002', NULL,
	'function_invoke: nor by id, even a public one');
RESET ROLE;
SELECT is((SELECT caller_user_id FROM cpub.executions WHERE id = :'e_x'), :'uid_x'::uuid,
	'a developer invoking a public function is recorded as the caller');

SELECT pg_temp.act('o@example.com');
SET LOCAL ROLE cpub_developer;
SELECT results_eq(format('SELECT function_id FROM cpub_api.invoke(%L, %L)', :'uid_o', 'priv'),
	format('VALUES (%L::uuid)', :'f_priv'), 'the owner invokes their private function');
SELECT results_eq(format('SELECT function_id FROM cpub_api.invoke(%L, %L)', :'uid_o', 'keyed'),
	format('VALUES (%L::uuid)', :'f_keyed'), 'the owner needs no key');
SELECT execution_id AS e_fi
  FROM cpub_api.function_invoke('priv', 'GET', '/a/b', 'x=1',
								'{"Accept": "text/plain", "X-CPUB-Trace": "t"}', 'hi', true) \gset
SELECT results_eq(format('SELECT function_id, version, trigger FROM cpub_api.function_invoke(%L)', :'f_priv'),
	format($$VALUES (%L::uuid, 1, 'sync'::text)$$, :'f_priv'), 'function_invoke by id');
SELECT throws_ok($$SELECT cpub_api.function_invoke('nover')$$, '55Q04', NULL,
	'function_invoke: no ready version');
SELECT throws_ok($$SELECT cpub_api.function_invoke('gone')$$, 'P0002', 'function "gone" not found',
	'function_invoke: a deleted function is not found');
SELECT throws_ok($$SELECT cpub_api.function_invoke('priv', path => 'nope')$$, '22023', NULL,
	'function_invoke: bad path');
SELECT throws_ok($$SELECT cpub_api.function_invoke('priv', method => 'post')$$, '22023', NULL,
	'function_invoke: bad method');
SELECT throws_ok($$SELECT cpub_api.function_invoke('priv', headers => '"h"')$$, '22023', NULL,
	'function_invoke: bad headers');
RESET ROLE;
SELECT results_eq(format($$SELECT trigger, version, caller_user_id, request_method, request_path,
		request_query, request_headers, request_body
	  FROM cpub.executions WHERE id = %L$$, :'e_fi'),
	format($$VALUES ('async'::text, 1, %L::uuid, 'GET'::text, '/a/b'::text, 'x=1'::text,
		'{"Accept": "text/plain"}'::jsonb, 'hi'::bytea)$$, :'uid_o'),
	'function_invoke records an asynchronous execution with its caller and request');
SELECT results_eq(format($$SELECT j.kind, j.payload, j.priority FROM cpub.executions e
	  JOIN cpub.jobs j ON j.id = e.job_id WHERE e.id = %L$$, :'e_fi'),
	format($$VALUES ('run'::text, jsonb_build_object('execution_id', %L::uuid), 100::smallint)$$, :'e_fi'),
	'function_invoke enqueues the run job too');

-- A new version serves once ready; one still building does not.
SET LOCAL ROLE cpub_developer;
SELECT FROM cpub_api.function_deploy('priv', :archive);
RESET ROLE;
SELECT pg_temp.build(:'f_priv');
SET LOCAL ROLE cpub_developer;
SELECT FROM cpub_api.function_deploy('priv', :archive);
SELECT results_eq($$SELECT version FROM cpub_api.function_invoke('priv')$$, $$VALUES (2)$$,
	'an invocation runs the active version; a newer one not built yet does not serve');
RESET ROLE;

SELECT pg_temp.act('m@example.com');
SET LOCAL ROLE cpub_developer;
SELECT execution_id AS e_m FROM cpub_api.invoke('acme', 'api') \gset
SELECT results_eq($$SELECT function_id FROM cpub_api.function_invoke('acme/api')$$,
	format('VALUES (%L::uuid)', :'f_api'), 'a member invokes the organization''s private function');
SELECT results_eq($$SELECT function_id FROM cpub_api.invoke('acme', 'sealed')$$,
	format('VALUES (%L::uuid)', :'f_sealed'), 'a member needs no key for the organization''s functions');
RESET ROLE;
SELECT results_eq(format('SELECT function_id, caller_user_id FROM cpub.executions WHERE id = %L', :'e_m'),
	format('VALUES (%L::uuid, %L::uuid)', :'f_api', :'uid_m'),
	'a member invokes through the public address too');

SELECT pg_temp.act('o@example.com', true);
SET LOCAL ROLE cpub_developer;
SELECT throws_ok(format('SELECT cpub_api.invoke(%L, %L)', :'uid_o', 'pub'), '42501',
	'password change required', 'invoke: refused while a temporary password must be changed');
SELECT throws_ok($$SELECT cpub_api.function_invoke('pub')$$, '42501', 'password change required',
	'function_invoke: refused too');
RESET ROLE;
SELECT cpub.clear_identity();
SET LOCAL ROLE cpub_developer;
SELECT throws_ok($$SELECT cpub_api.function_invoke('pub')$$, '28000', NULL,
	'function_invoke needs a session');
RESET ROLE;

--
-- The tier's requests per second (2) and monthly invocations (3).
--
SELECT count(*) AS run_jobs FROM cpub.jobs WHERE kind = 'run' \gset
SET LOCAL ROLE cpub_anon;
SELECT lives_ok(format('SELECT cpub_api.invoke(%L, %L)', :'uid_q', 'f'), 'first request of the second');
SELECT lives_ok(format('SELECT cpub_api.invoke(%L, %L)', :'uid_q', 'f'), 'second request of the second');
SELECT throws_ok(format('SELECT cpub_api.invoke(%L, %L)', :'uid_q', 'f'), '54Q05',
	'more than 2 requests per second', 'a third at once empties the bucket');
RESET ROLE;
SELECT is((SELECT count(*)::int FROM cpub.executions WHERE function_id = :'f_q'), 2,
	'a refused request leaves no execution');
SELECT is((SELECT count(*) FROM cpub.jobs WHERE kind = 'run'), (:run_jobs + 2)::bigint,
	'and no run job');
UPDATE cpub.owner_usage SET refilled_at = clock_timestamp() - interval '1 second'
 WHERE owner_id = :'uid_q';
SET LOCAL ROLE cpub_anon;
SELECT lives_ok(format('SELECT cpub_api.invoke(%L, %L)', :'uid_q', 'f'), 'the bucket refills with time');
RESET ROLE;
SELECT is((SELECT month_invocations FROM cpub.owner_usage WHERE owner_id = :'uid_q'), 3::bigint,
	'invocations are counted for the month');
UPDATE cpub.owner_usage SET refilled_at = clock_timestamp() - interval '1 minute'
 WHERE owner_id = :'uid_q';
SET LOCAL ROLE cpub_anon;
SELECT throws_ok(format('SELECT cpub_api.invoke(%L, %L)', :'uid_q', 'f'), '54Q04',
	'monthly invocations of tier "tiny" used up', 'the monthly invocations are used up');
RESET ROLE;
SELECT pg_temp.act('q@example.com');
SET LOCAL ROLE cpub_developer;
SELECT throws_ok($$SELECT cpub_api.function_invoke('f')$$, '54Q04', NULL,
	'also for the owner''s own invocations');
RESET ROLE;
SELECT is((SELECT count(*)::int FROM cpub.executions WHERE function_id = :'f_q'), 3,
	'an invocation over the quota leaves no execution');
UPDATE cpub.owner_usage SET month = '2000-01-01' WHERE owner_id = :'uid_q';
SET LOCAL ROLE cpub_anon;
SELECT lives_ok(format('SELECT cpub_api.invoke(%L, %L)', :'uid_q', 'f'), 'a new month starts a new count');
RESET ROLE;
SELECT results_eq(format('SELECT month, month_invocations FROM cpub.owner_usage WHERE owner_id = %L', :'uid_q'),
	$$SELECT date_trunc('month', now() AT TIME ZONE 'UTC')::date, 1::bigint$$,
	'the usage row moved to this month with one invocation');

--
-- The worker: execution_start and execution_finish.
--
SET LOCAL ROLE cpub_worker;
SELECT results_eq(format('SELECT * FROM cpub_worker.execution_start(%L, %L)', :'e_fi', :'wid'),
	format($$VALUES (%L::uuid, %L::uuid, 1, 'shell'::text, 'registry/priv:1'::text, 128, 10, 4,
		'async'::text, 'GET'::text, '/a/b'::text, 'x=1'::text, '{"Accept": "text/plain"}'::jsonb,
		'hi'::bytea, 1::bigint)$$, :'f_priv', :'v1_priv'),
	'execution_start returns the request, the version it was invoked with, the settings and the first config generation');
RESET ROLE;
SELECT results_eq(format('SELECT status, worker_id, started_at IS NOT NULL FROM cpub.executions WHERE id = %L', :'e_fi'),
	format($$VALUES ('running'::text, %L::uuid, true)$$, :'wid'), 'and marks it running');

SELECT pg_temp.act('o@example.com');
SET LOCAL ROLE cpub_developer;
SELECT execution_id AS e_big FROM cpub_api.function_invoke('big') \gset
RESET ROLE;
SET LOCAL ROLE cpub_worker;
SELECT results_eq(format('SELECT memory_mb, timeout_seconds, max_concurrency FROM cpub_worker.execution_start(%L, %L)',
						 :'e_big', :'wid'),
	$$VALUES (512, 60, 20)$$, 'the function''s own settings under its tier');
RESET ROLE;
SELECT cpub_admin.tier_update('roomy', max_memory_mb => 256, max_timeout_seconds => 30, max_concurrency => 10);
SET LOCAL ROLE cpub_worker;
SELECT results_eq(format('SELECT memory_mb, timeout_seconds, max_concurrency FROM cpub_worker.execution_start(%L, %L)',
						 :'e_big', :'wid'),
	$$VALUES (256, 30, 10)$$, 'a retried start caps the settings by the tier as it is now');
RESET ROLE;
SET LOCAL ROLE cpub_developer;
SELECT results_eq($$SELECT timeout_seconds FROM cpub_api.function_invoke('big')$$, $$VALUES (30)$$,
	'a synchronous caller waits the capped timeout');
RESET ROLE;
SELECT cpub_admin.tier_update('roomy', max_memory_mb => 1024, max_timeout_seconds => 300, max_concurrency => 100);

-- A new configuration while the job is retried: the start says so.
SET LOCAL ROLE cpub_developer;
SELECT FROM cpub_api.function_update('big', memory_mb => 384);
SELECT FROM cpub_api.function_env_set('big', 'GREETING', 'hello');
RESET ROLE;
SET LOCAL ROLE cpub_worker;
SELECT results_eq(format('SELECT memory_mb, config_generation FROM cpub_worker.execution_start(%L, %L)',
						 :'e_big', :'wid'),
	$$VALUES (384, 3::bigint)$$,
	'execution_start returns the config generation as it is now: one up for the memory, one for the variable');
RESET ROLE;

-- A function deleted, a version gone, between invocation and start.
SET LOCAL ROLE cpub_developer;
SELECT execution_id AS e_d1 FROM cpub_api.function_invoke('doomed') \gset
SELECT execution_id AS e_d2 FROM cpub_api.function_invoke('doomed') \gset
SELECT execution_id AS e_v FROM cpub_api.function_invoke('pub') \gset
RESET ROLE;
SELECT pg_temp.run(:'e_d1', 200);
SET LOCAL ROLE cpub_developer;
SELECT cpub_api.function_delete('doomed');
RESET ROLE;
UPDATE cpub.executions SET version_id = NULL WHERE id = :'e_v';
SET LOCAL ROLE cpub_worker;
SELECT is_empty(format('SELECT * FROM cpub_worker.execution_start(%L, %L)', :'e_d2', :'wid'),
	'execution_start on a deleted function returns no row');
SELECT is_empty(format('SELECT * FROM cpub_worker.execution_start(%L, %L)', :'e_v', :'wid'),
	'nor when its version is gone');
SELECT is_empty(format('SELECT * FROM cpub_worker.execution_start(%L, %L)', :'e_d1', :'wid'),
	'nor when it finished already');
SELECT is_empty(format('SELECT * FROM cpub_worker.execution_start(%L, %L)', gen_random_uuid(), :'wid'),
	'nor for an unknown execution');
RESET ROLE;
SELECT results_eq(format($$SELECT id, status, error_kind, error_message, worker_id, completed_at IS NOT NULL
	  FROM cpub.executions WHERE id IN (%L, %L) ORDER BY seq$$, :'e_d2', :'e_v'),
	format($$VALUES (%L::uuid, 'failed'::text, 'rejected'::text, 'the function was deleted'::text, %L::uuid, true),
					(%L::uuid, 'failed', 'rejected', 'the version is not available', %L::uuid, true)$$,
		   :'e_d2', :'wid', :'e_v', :'wid'),
	'those are finished as rejected, saying why');
SELECT is((SELECT status FROM cpub.executions WHERE id = :'e_d1'), 'succeeded',
	'starting a finished execution changes nothing');

-- Finishing.
SET LOCAL ROLE cpub_anon;
SELECT (SELECT execution_id FROM cpub_api.invoke(:'uid_o', 'pub')) AS e_json,
	   (SELECT execution_id FROM cpub_api.invoke(:'uid_o', 'pub')) AS e_text,
	   (SELECT execution_id FROM cpub_api.invoke(:'uid_o', 'pub')) AS e_huge,
	   (SELECT execution_id FROM cpub_api.invoke(:'uid_o', 'pub')) AS e_log,
	   (SELECT execution_id FROM cpub_api.invoke(:'uid_o', 'pub')) AS e_utf,
	   (SELECT execution_id FROM cpub_api.invoke(:'uid_o', 'pub')) AS e_fit,
	   (SELECT execution_id FROM cpub_api.invoke(:'uid_o', 'pub')) AS e_bad \gset
SELECT (SELECT array_agg(i.execution_id ORDER BY g)
		  FROM generate_series(1, 5) g, cpub_api.invoke(:'uid_o', 'pub', path => '/' || g) i) AS e_fail \gset
RESET ROLE;
SET LOCAL ROLE cpub_worker;
SELECT FROM cpub_worker.execution_start(:'e_json', :'wid');
SELECT is(cpub_worker.execution_finish(:'e_json', :'wid', 200, '{"Content-Type": "application/json"}',
		convert_to('{"ok": true, "n": 1}', 'UTF8'), E'hello\n', duration_ms => 12.5,
		memory_peak_kb => 2048, cold_start => true),
	'succeeded', 'execution_finish with a response: succeeded');
RESET ROLE;
SELECT results_eq(format($$SELECT status, response_status, response_headers, result, logs, error_kind,
		duration_ms, memory_peak_kb, cold_start, completed_at >= started_at
	  FROM cpub.executions WHERE id = %L$$, :'e_json'),
	$$VALUES ('succeeded'::text, 200, '{"Content-Type": "application/json"}'::jsonb,
		'{"ok": true, "n": 1}'::jsonb, E'hello\n', NULL::text, 12.5::float8, 2048::bigint, true, true)$$,
	'the response, figures and logs are stored; a JSON body is parsed into result');
SET LOCAL ROLE cpub_worker;
SELECT is(cpub_worker.execution_finish(:'e_text', :'wid', 201, NULL, convert_to('plain text', 'UTF8')),
	'succeeded', 'a body that is not JSON');
SELECT cpub_worker.execution_finish(:'e_huge', :'wid', 200, NULL,
	convert_to('[' || repeat('1,', 600000) || '1]', 'UTF8'));
SELECT cpub_worker.execution_finish(:'e_log', :'wid', 200, logs => repeat('a', 300000) || 'END');
SELECT cpub_worker.execution_finish(:'e_utf', :'wid', 200, logs => repeat('é', 200000) || 'END');
SELECT cpub_worker.execution_finish(:'e_fit', :'wid', 200, logs => repeat('b', 262144));
RESET ROLE;
SELECT results_eq(format('SELECT result, response_body FROM cpub.executions WHERE id = %L', :'e_text'),
	$$VALUES (NULL::jsonb, convert_to('plain text', 'UTF8'))$$, 'has no result, its body is kept');
SELECT results_eq(format('SELECT result IS NULL, octet_length(response_body) FROM cpub.executions WHERE id = %L',
						 :'e_huge'),
	$$VALUES (true, 1200003)$$, 'a JSON body over 1 MB is kept but not parsed');
SELECT results_eq(format('SELECT left(logs, 29), octet_length(logs), right(logs, 3) FROM cpub.executions WHERE id = %L',
						 :'e_log'),
	$$VALUES (E'[... earlier output cut ...]\n', 29 + 262144, 'END'::text)$$,
	'logs keep their last 256 KB after a marker');
SELECT ok((SELECT octet_length(logs) BETWEEN 29 + 262144 - 3 AND 29 + 262144
				  AND right(logs, 4) = 'éEND'
			 FROM cpub.executions WHERE id = :'e_utf'),
	'256 KB are bytes, also of multibyte characters');
SELECT is((SELECT logs FROM cpub.executions WHERE id = :'e_fit'), repeat('b', 262144),
	'logs of exactly 256 KB are kept whole');

SET LOCAL ROLE cpub_worker;
SELECT results_eq(format($$SELECT cpub_worker.execution_finish(e, %L, error_kind => k, error_message => 'boom ' || k,
		duration_ms => 5)
	  FROM unnest(%L::uuid[], ARRAY['timeout', 'crash', 'out_of_memory', 'bad_response', 'rejected']) AS u (e, k)$$,
		:'wid', :'e_fail'),
	$$VALUES ('failed'::text), ('failed'), ('failed'), ('failed'), ('failed')$$,
	'execution_finish with each error kind: failed');
RESET ROLE;
SELECT results_eq(format($$SELECT status, error_kind, error_message, response_status, result
	  FROM cpub.executions WHERE id = ANY (%L::uuid[]) ORDER BY seq$$, :'e_fail'),
	$$VALUES ('failed'::text, 'timeout'::text, 'boom timeout'::text, NULL::int, NULL::jsonb),
			 ('failed', 'crash', 'boom crash', NULL, NULL),
			 ('failed', 'out_of_memory', 'boom out_of_memory', NULL, NULL),
			 ('failed', 'bad_response', 'boom bad_response', NULL, NULL),
			 ('failed', 'rejected', 'boom rejected', NULL, NULL)$$,
	'the error kinds and messages are stored');
SET LOCAL ROLE cpub_worker;
SELECT throws_ok(format('SELECT cpub_worker.execution_finish(%L, %L, error_kind => %L)', :'e_bad', :'wid', 'segfault'),
	'22023', 'invalid error kind "segfault"', 'execution_finish: unknown error kind');
SELECT throws_ok(format('SELECT cpub_worker.execution_finish(%L, %L)', :'e_bad', :'wid'),
	'22023', 'a successful execution has a response status from 100 to 599',
	'execution_finish: success without a status');
SELECT throws_ok(format('SELECT cpub_worker.execution_finish(%L, %L, 600)', :'e_bad', :'wid'),
	'22023', 'a successful execution has a response status from 100 to 599',
	'execution_finish: status out of range');
SELECT throws_ok(format('SELECT cpub_worker.execution_finish(%L, %L, 200)', :'e_json', :'wid'),
	'23514', format('execution %s finished already (succeeded)', :'e_json'),
	'execution_finish: finishing twice');
SELECT throws_ok(format('SELECT cpub_worker.execution_finish(%L, %L, 200)', '00000000-0000-0000-0000-00000000dead', :'wid'),
	'P0002', 'execution 00000000-0000-0000-0000-00000000dead not found', 'execution_finish: unknown execution');
RESET ROLE;
SELECT is((SELECT status FROM cpub.executions WHERE id = :'e_bad'), 'queued',
	'a refused finish changes nothing');

SELECT pg_temp.act('o@example.com');
SET LOCAL ROLE cpub_developer;
SELECT throws_ok(format('SELECT * FROM cpub_worker.execution_start(%L, %L)', :'e_bad', :'wid'), '42501', NULL,
	'a developer cannot start executions');
SELECT throws_ok(format('SELECT cpub_worker.execution_finish(%L, %L, 200)', :'e_bad', :'wid'), '42501', NULL,
	'a developer cannot finish executions');
SELECT throws_ok('SELECT cpub.executions_reap()', '42501', NULL, 'a developer cannot reap');
RESET ROLE;
SET LOCAL ROLE cpub_anon;
SELECT throws_ok(format('SELECT cpub_worker.execution_finish(%L, %L, 200)', :'e_bad', :'wid'), '42501', NULL,
	'anon cannot finish executions');
RESET ROLE;

--
-- The caller reads the outcome: invocation_result, by the execution id
-- alone (the capability invoke handed out), with or without a session.
--
SET LOCAL ROLE cpub_anon;
SELECT results_eq(format($$SELECT execution_id, function_id, status, response_status, response_headers,
		response_body, error_kind, error_message, duration_ms, cold_start, completed_at IS NOT NULL
	  FROM cpub_api.invocation_result(%L)$$, :'e_json'),
	format($$VALUES (%L::uuid, %L::uuid, 'succeeded'::text, 200, '{"Content-Type": "application/json"}'::jsonb,
		convert_to('{"ok": true, "n": 1}', 'UTF8'), NULL::text, NULL::text, 12.5::float8, true, true)$$,
		:'e_json', :'f_pub'),
	'invocation_result: anon reads the response of a finished invocation');
SELECT results_eq(format($$SELECT status, response_status, response_body, error_kind, error_message, duration_ms
	  FROM cpub_api.invocation_result(%L)$$, (:'e_fail'::uuid[])[1]),
	$$VALUES ('failed'::text, NULL::int, NULL::bytea, 'timeout'::text, 'boom timeout'::text, 5::float8)$$,
	'invocation_result: a failed one, with its error');
SELECT results_eq(format($$SELECT execution_id, function_id, status, response_status, response_body,
		error_kind, duration_ms, cold_start, completed_at
	  FROM cpub_api.invocation_result(%L)$$, :'e_bad'),
	format($$VALUES (%L::uuid, %L::uuid, 'queued'::text, NULL::int, NULL::bytea, NULL::text, NULL::float8,
		NULL::boolean, NULL::timestamptz)$$, :'e_bad', :'f_pub'),
	'invocation_result: a queued one (status tells), nothing else yet');
SELECT results_eq(format('SELECT status, completed_at FROM cpub_api.invocation_result(%L)', :'e_fi'),
	$$VALUES ('running'::text, NULL::timestamptz)$$,
	'invocation_result: a running one, of a private function: the id is what opens it');
SELECT results_eq(format('SELECT status, error_kind FROM cpub_api.invocation_result(%L)', :'e_d2'),
	$$VALUES ('failed'::text, 'rejected'::text)$$,
	'invocation_result: still readable after the function was deleted');
SELECT throws_ok(format('SELECT cpub_api.invocation_result(%L)', '00000000-0000-0000-0000-00000000dead'),
	'P0002', 'execution 00000000-0000-0000-0000-00000000dead not found',
	'invocation_result: unknown execution');
SELECT throws_ok('SELECT cpub_api.invocation_result(NULL)', 'P0002', 'execution null not found',
	'invocation_result: no execution');
RESET ROLE;
SELECT pg_temp.act('x@example.com');
SET LOCAL ROLE cpub_developer;
SELECT results_eq(format('SELECT execution_id, status FROM cpub_api.invocation_result(%L)', :'e_x'),
	format($$VALUES (%L::uuid, 'queued'::text)$$, :'e_x'),
	'invocation_result: a developer reads the invocation they made');
SELECT throws_ok(format('SELECT cpub_api.invocation_result(%L)', gen_random_uuid()), 'P0002', NULL,
	'invocation_result: a developer, unknown execution');
RESET ROLE;
SELECT results_eq($$SELECT attname::text COLLATE "default" FROM pg_attribute
	 WHERE attrelid = 'cpub_api.invocation_outcome'::regclass AND attnum > 0 AND NOT attisdropped
	 ORDER BY attnum$$,
	$$VALUES ('execution_id'), ('function_id'), ('status'), ('response_status'), ('response_headers'),
		('response_body'), ('error_kind'), ('error_message'), ('duration_ms'), ('cold_start'),
		('completed_at')$$,
	'invocation_result shows the outcome only: no request, logs, caller or version');
-- An execution of another trigger (none exists yet besides sync and async:
-- the constraint is widened for the test) is not an invocation's.
ALTER TABLE cpub.executions DROP CONSTRAINT executions_trigger_check;
INSERT INTO cpub.executions (function_id, owner_id, trigger, status, request_method, request_path,
	response_status, response_body, completed_at)
SELECT id, owner_id, 'schedule', 'succeeded', 'POST', '/', 200, 'secret', now()
  FROM cpub.functions WHERE id = :'f_pub'
RETURNING id AS e_sched \gset
SET LOCAL ROLE cpub_anon;
SELECT throws_ok(format('SELECT cpub_api.invocation_result(%L)', :'e_sched'), 'P0002',
	format('execution %s not found', :'e_sched'),
	'invocation_result: an execution not made by an invocation is not found');
RESET ROLE;
SET LOCAL ROLE cpub_worker;
SELECT throws_ok(format('SELECT cpub_api.invocation_result(%L)', :'e_json'), '42501', NULL,
	'the worker cannot call invocation_result');
RESET ROLE;
SET LOCAL ROLE cpub_admin_viewer;
SELECT throws_ok(format('SELECT cpub_api.invocation_result(%L)', :'e_json'), '42501', NULL,
	'nor an admin (execution_list and the developer API are theirs)');
RESET ROLE;
DELETE FROM cpub.executions WHERE id = :'e_sched';
ALTER TABLE cpub.executions ADD CONSTRAINT executions_trigger_check
	CHECK (trigger IN ('sync', 'async'));

--
-- Reading: execution_get and execution_list.
--
SELECT pg_temp.act('o@example.com');
SET LOCAL ROLE cpub_developer;
SELECT results_eq(format($$SELECT id, function_id, function_name, version, trigger, status, request_method,
		response_status, result, logs, cold_start FROM cpub_api.execution_get(%L)$$, :'e_json'),
	format($$VALUES (%L::uuid, %L::uuid, 'pub'::text, 1, 'sync'::text, 'succeeded'::text, 'POST'::text, 200,
		'{"ok": true, "n": 1}'::jsonb, E'hello\n', true)$$, :'e_json', :'f_pub'),
	'execution_get: the owner reads an execution');
SELECT results_eq(format('SELECT function_name, status FROM cpub_api.execution_get(%L)', :'e_d1'),
	$$VALUES ('doomed'::text, 'succeeded'::text)$$,
	'execution_get: readable after its function was deleted');
SELECT throws_ok(format('SELECT cpub_api.execution_get(%L)', :'e_m'), 'P0002',
	format('execution %s not found', :'e_m'), 'execution_get: not an organization''s the owner is not in');
SELECT throws_ok(format('SELECT cpub_api.execution_get(%L)', gen_random_uuid()), 'P0002', NULL,
	'execution_get: unknown execution');
RESET ROLE;
SELECT pg_temp.act('x@example.com');
SET LOCAL ROLE cpub_developer;
SELECT throws_ok(format('SELECT cpub_api.execution_get(%L)', :'e_x'), 'P0002', NULL,
	'execution_get: not even the caller reads another owner''s execution');
RESET ROLE;
SELECT pg_temp.act('m@example.com');
SET LOCAL ROLE cpub_developer;
SELECT results_eq(format('SELECT function_name FROM cpub_api.execution_get(%L)', :'e_m'),
	$$VALUES ('api'::text)$$, 'execution_get: a member reads the organization''s');
RESET ROLE;

-- lister: an old execution, then succeeded, failed, queued, succeeded.
SELECT pg_temp.exec(:'f_lister', now() - interval '2 days', 'succeeded') AS l0 \gset
SELECT pg_temp.act('o@example.com');
SET LOCAL ROLE cpub_developer;
SELECT (SELECT execution_id FROM cpub_api.function_invoke('lister')) AS l1,
	   (SELECT execution_id FROM cpub_api.function_invoke('lister')) AS l2,
	   (SELECT execution_id FROM cpub_api.function_invoke('lister')) AS l3,
	   (SELECT execution_id FROM cpub_api.function_invoke('lister')) AS l4 \gset
RESET ROLE;
SELECT pg_temp.run(:'l1', 200), pg_temp.run(:'l2', NULL, 'crash'), pg_temp.run(:'l4', 200);
SELECT (SELECT seq FROM cpub.executions WHERE id = :'l1') AS l1_seq,
	   (SELECT seq FROM cpub.executions WHERE id = :'l3') AS l3_seq,
	   (SELECT count(*) FROM cpub.executions WHERE owner_id = :'uid_o') AS o_count,
	   (SELECT count(*) FROM cpub.executions e JOIN cpub.organizations o ON o.id = e.owner_id
		 WHERE o.name = 'acme') AS acme_count \gset

SELECT pg_temp.act('o@example.com');
SET LOCAL ROLE cpub_developer;
SELECT results_eq($$SELECT id, status FROM cpub_api.execution_list(function => 'lister')$$,
	format($$VALUES (%L::uuid, 'succeeded'::text), (%L, 'queued'), (%L, 'failed'), (%L, 'succeeded'),
					(%L, 'succeeded')$$, :'l4', :'l3', :'l2', :'l1', :'l0'),
	'execution_list: a function''s executions, newest first');
SELECT results_eq($$SELECT id FROM cpub_api.execution_list(function => 'lister', status => 'failed')$$,
	format('VALUES (%L::uuid)', :'l2'), 'execution_list: by status');
SELECT results_eq($$SELECT id FROM cpub_api.execution_list(function => 'lister', since => now() - interval '1 day')$$,
	format('VALUES (%L::uuid), (%L), (%L), (%L)', :'l4', :'l3', :'l2', :'l1'), 'execution_list: since');
SELECT results_eq($$SELECT id FROM cpub_api.execution_list(function => 'lister', "limit" => 2)$$,
	format('VALUES (%L::uuid), (%L)', :'l4', :'l3'), 'execution_list: the first page');
SELECT results_eq(format($$SELECT id FROM cpub_api.execution_list(function => 'lister', after => %s, "limit" => 2)$$,
						 :l3_seq),
	format('VALUES (%L::uuid), (%L)', :'l2', :'l1'), 'execution_list: the next page after the last seq');
SELECT results_eq(format($$SELECT id FROM cpub_api.execution_list(function => 'lister', after => %s)$$, :l1_seq),
	format('VALUES (%L::uuid)', :'l0'), 'execution_list: the last page');
SELECT is((SELECT count(*) FROM cpub_api.execution_list("limit" => 500)), :o_count::bigint,
	'execution_list: all of the caller''s own executions, and nobody else''s');
SELECT is((SELECT count(*)::int FROM cpub_api.execution_list("limit" => 500) WHERE function_name = 'doomed'), 2,
	'execution_list: including a deleted function''s');
SELECT throws_ok($$SELECT * FROM cpub_api.execution_list(function => 'doomed')$$, 'P0002', NULL,
	'execution_list: a deleted function cannot be named');
SELECT throws_ok($$SELECT * FROM cpub_api.execution_list(status => 'done')$$, '22023',
	'invalid execution status "done"', 'execution_list: invalid status');
SELECT throws_ok($$SELECT * FROM cpub_api.execution_list("limit" => 0)$$, '22023',
	'page limit must be between 1 and 500', 'execution_list: limit too small');
SELECT throws_ok($$SELECT * FROM cpub_api.execution_list("limit" => 501)$$, '22023', NULL,
	'execution_list: limit too large');
SELECT throws_ok($$SELECT * FROM cpub_api.execution_list(organization => 'acme')$$, 'P0002',
	'organization "acme" not found', 'execution_list: a non-member asks for an organization''s');
RESET ROLE;
SELECT pg_temp.act('m@example.com');
SET LOCAL ROLE cpub_developer;
SELECT results_eq($$SELECT count(*), count(*) FILTER (WHERE function_name IN ('api', 'www', 'sealed'))
	  FROM cpub_api.execution_list(organization => 'acme', "limit" => 500)$$,
	format('VALUES (%s::bigint, %s::bigint)', :acme_count, :acme_count),
	'execution_list: a member lists the organization''s');
SELECT results_eq($$SELECT count(*) FROM cpub_api.execution_list(function => 'acme/api')$$,
	$$VALUES (2::bigint)$$, 'execution_list: a member names an organization''s function');
SELECT is_empty($$SELECT * FROM cpub_api.execution_list()$$,
	'execution_list: a member''s own are not the organization''s');
RESET ROLE;
SELECT pg_temp.act('x@example.com');
SET LOCAL ROLE cpub_developer;
SELECT throws_ok(format('SELECT * FROM cpub_api.execution_list(function => %L)', :'f_lister'), 'P0002', NULL,
	'execution_list: a non-member names another''s function');
RESET ROLE;

-- Row-level security: a role that could read the table sees only its own.
CREATE ROLE cpub_test_rls_executions;
GRANT USAGE ON SCHEMA cpub TO cpub_test_rls_executions;
GRANT SELECT ON cpub.executions TO cpub_test_rls_executions;
GRANT EXECUTE ON FUNCTION cpub.current_user_id(), cpub.organization_ids_of(uuid)
	TO cpub_test_rls_executions;
SELECT pg_temp.act('m@example.com');
SET LOCAL ROLE cpub_test_rls_executions;
SELECT set_eq('SELECT DISTINCT function_id FROM cpub.executions',
	format('VALUES (%L::uuid), (%L), (%L)', :'f_api', :'f_www', :'f_sealed'),
	'RLS: a member sees only the organization''s executions');
RESET ROLE;

--
-- function_logs: finished executions oldest first, up to the first unfinished.
--
SELECT pg_temp.act('o@example.com');
SET LOCAL ROLE cpub_developer;
SELECT (SELECT execution_id FROM cpub_api.function_invoke('logger')) AS g1,
	   (SELECT execution_id FROM cpub_api.function_invoke('logger')) AS g2,
	   (SELECT execution_id FROM cpub_api.function_invoke('logger')) AS g3,
	   (SELECT execution_id FROM cpub_api.function_invoke('logger')) AS g4 \gset
RESET ROLE;
SELECT pg_temp.run(:'g1', 200, NULL, 'one'), pg_temp.run(:'g2', NULL, 'crash', 'two'),
	   pg_temp.run(:'g4', 200, NULL, 'four');
SELECT FROM cpub_worker.execution_start(:'g3', :'wid');
SELECT (SELECT seq FROM cpub.executions WHERE id = :'g2') AS g2_seq \gset
SET LOCAL ROLE cpub_developer;
SELECT results_eq($$SELECT execution_id, status, logs FROM cpub_api.function_logs('logger')$$,
	format($$VALUES (%L::uuid, 'succeeded'::text, 'one'::text), (%L, 'failed', 'two')$$, :'g1', :'g2'),
	'function_logs: oldest first, stopping before the first unfinished');
SELECT is_empty(format($$SELECT * FROM cpub_api.function_logs('logger', after => %s)$$, :g2_seq),
	'function_logs: a follower gets nothing while the next one runs');
RESET ROLE;
SELECT cpub_worker.execution_finish(:'g3', :'wid', 200, logs => 'three');
SET LOCAL ROLE cpub_developer;
SELECT results_eq(format($$SELECT execution_id, logs FROM cpub_api.function_logs('logger', after => %s)$$, :g2_seq),
	format($$VALUES (%L::uuid, 'three'::text), (%L, 'four')$$, :'g3', :'g4'),
	'function_logs: then it gets that one and the ones after it');
SELECT results_eq($$SELECT logs FROM cpub_api.function_logs('logger', "limit" => 1)$$,
	$$VALUES ('one'::text)$$, 'function_logs: limit');
SELECT is_empty($$SELECT * FROM cpub_api.function_logs('logger', since => now() + interval '1 minute')$$,
	'function_logs: since');
SELECT throws_ok($$SELECT * FROM cpub_api.function_logs('logger', "limit" => 0)$$, '22023', NULL,
	'function_logs: invalid limit');
RESET ROLE;
SELECT pg_temp.act('x@example.com');
SET LOCAL ROLE cpub_developer;
SELECT throws_ok(format('SELECT * FROM cpub_api.function_logs(%L)', :'f_logger'), 'P0002', NULL,
	'function_logs: a non-member does not find the function');
RESET ROLE;

--
-- Maintenance: reaping executions whose run job is lost.
--
SELECT pg_temp.act('o@example.com');
SET LOCAL ROLE cpub_developer;
SELECT (SELECT execution_id FROM cpub_api.function_invoke('reaper')) AS r_dead,
	   (SELECT execution_id FROM cpub_api.function_invoke('reaper')) AS r_gone,
	   (SELECT execution_id FROM cpub_api.function_invoke('reaper')) AS r_live,
	   (SELECT execution_id FROM cpub_api.function_invoke('reaper')) AS r_leased \gset
RESET ROLE;
SELECT FROM cpub_worker.execution_start(:'r_dead', :'wid');
SELECT FROM cpub_worker.execution_start(:'r_leased', :'wid');
UPDATE cpub.jobs j SET state = 'dead', attempts = 3, last_error = 'worker lost'
  FROM cpub.executions e WHERE e.id = :'r_dead' AND j.id = e.job_id;
DELETE FROM cpub.jobs j USING cpub.executions e WHERE e.id = :'r_gone' AND j.id = e.job_id;
UPDATE cpub.jobs j SET state = 'running', attempts = 1, lease_owner = :'wid',
	   lease_expires_at = now() + interval '1 minute'
  FROM cpub.executions e WHERE e.id = :'r_leased' AND j.id = e.job_id;
SELECT is(cpub.executions_reap(), 2::bigint, 'executions_reap: two lost executions');
SELECT results_eq(format($$SELECT id, status, error_kind, error_message, completed_at IS NOT NULL
	  FROM cpub.executions WHERE id IN (%L, %L, %L, %L) ORDER BY seq$$,
		:'r_dead', :'r_gone', :'r_live', :'r_leased'),
	format($$VALUES (%L::uuid, 'failed'::text, 'crash'::text, 'the worker running it was lost'::text, true),
					(%L, 'failed', 'crash', 'the worker running it was lost', true),
					(%L, 'queued', NULL, NULL, false),
					(%L, 'running', NULL, NULL, false)$$,
		:'r_dead', :'r_gone', :'r_live', :'r_leased'),
	'executions_reap: those whose job is dead or gone failed as crashed, others untouched');
SELECT is(cpub.executions_reap(), 0::bigint, 'executions_reap: nothing left');

--
-- Metrics.
--
SELECT pg_temp.act('o@example.com');
SET LOCAL ROLE cpub_developer;
SELECT array_agg(i.execution_id ORDER BY g) AS calc
  FROM generate_series(1, 6) g, cpub_api.function_invoke('calc', path => '/' || g) i \gset
RESET ROLE;
SELECT pg_temp.run(e, s, k, '', ms, c)
  FROM unnest(:'calc'::uuid[], ARRAY[200, 200, 503, NULL, 201],
			  ARRAY[NULL, NULL, NULL, 'timeout', NULL], ARRAY[100, 200, 300, 400, 500]::float8[],
			  ARRAY[true, false, false, true, false]) AS u (e, s, k, ms, c)
 WHERE e IS NOT NULL AND ms IS NOT NULL;
SET LOCAL ROLE cpub_developer;
SELECT results_eq($$SELECT invocations, errors, error_rate, p50_ms, round(p95_ms::numeric, 6),
		round(p99_ms::numeric, 6), cold_starts
	  FROM cpub_api.metrics('calc', since => now() - interval '1 hour', until => now() + interval '1 hour')$$,
	$$VALUES (6::bigint, 2::bigint, 0.4::float8, 300::float8, 480::numeric, 496::numeric, 2::bigint)$$,
	'metrics: count, errors (failed or 5xx) over the finished, percentiles, cold starts');
SELECT results_eq($$SELECT invocations, errors, error_rate FROM cpub_api.metrics('calc',
		since => now() - interval '2 hours', until => now() - interval '1 hour')$$,
	$$VALUES (0::bigint, 0::bigint, NULL::float8)$$, 'metrics: nothing in the period');
SELECT results_eq($$SELECT invocations FROM cpub_api.metrics('calc', since => now() - interval '1 hour', until => now())$$,
	$$VALUES (0::bigint)$$, 'metrics: until is exclusive');
SELECT throws_ok($$SELECT cpub_api.metrics('calc', since => now(), until => now())$$, '22023',
	'since must be before until', 'metrics: an empty period');
SELECT throws_ok($$SELECT cpub_api.metrics('calc', since => now(), until => now() - interval '1 hour')$$,
	'22023', NULL, 'metrics: a reversed period');
RESET ROLE;
SELECT pg_temp.act('x@example.com');
SET LOCAL ROLE cpub_developer;
SELECT throws_ok(format('SELECT cpub_api.metrics(%L)', :'f_calc'), 'P0002', NULL,
	'metrics: a non-member does not find the function');
SELECT throws_ok($$SELECT cpub_api.metrics(organization => 'acme')$$, 'P0002', NULL,
	'metrics: nor the organization');
RESET ROLE;
SELECT pg_temp.act('m@example.com');
SET LOCAL ROLE cpub_developer;
SELECT results_eq($$SELECT invocations FROM cpub_api.metrics(organization => 'acme',
		since => now() - interval '1 hour', until => now() + interval '1 hour')$$,
	format('VALUES (%s::bigint)', :acme_count), 'metrics: a member''s view of the organization');
RESET ROLE;

-- p: one and two, recorded directly.
SELECT pg_temp.exec(:'f_one', now() - interval '30 minutes', 'succeeded', 200, NULL, 10),
	   pg_temp.exec(:'f_one', now() - interval '20 minutes', 'failed', NULL, 'crash', 20),
	   pg_temp.exec(:'f_two', now() - interval '10 minutes', 'succeeded', 500, NULL, 30),
	   pg_temp.exec(:'f_two', now() - interval '5 minutes', 'succeeded', 200, NULL, 40, true),
	   pg_temp.exec(:'f_two', now() - interval '25 hours', 'succeeded', 200, NULL, 1000);
SELECT pg_temp.act('p@example.com');
SET LOCAL ROLE cpub_developer;
SELECT results_eq($$SELECT invocations, errors, error_rate, p50_ms, round(p95_ms::numeric, 6),
		round(p99_ms::numeric, 6), cold_starts FROM cpub_api.metrics()$$,
	$$VALUES (4::bigint, 2::bigint, 0.5::float8, 25::float8, 38.5::numeric, 39.7::numeric, 1::bigint)$$,
	'metrics: an owner''s over both functions, by default the last 24 hours');
SELECT results_eq($$SELECT invocations, errors, p50_ms FROM cpub_api.metrics('one')$$,
	$$VALUES (2::bigint, 1::bigint, 15::float8)$$, 'metrics: one of them');
RESET ROLE;

-- Series: s's hourly and daily.
SELECT date_trunc('hour', now()) AS h, date_trunc('day', now()) AS d \gset
SELECT pg_temp.exec(:'f_hourly', :'h'::timestamptz - interval '5 hours' - interval '1 microsecond', 'succeeded'),
	   pg_temp.exec(:'f_hourly', :'h'::timestamptz - interval '5 hours', 'succeeded', 200, NULL, 10),
	   pg_temp.exec(:'f_hourly', :'h'::timestamptz - interval '4 hours' - interval '1 second', 'succeeded', 200, NULL, 30),
	   pg_temp.exec(:'f_hourly', :'h'::timestamptz - interval '2 hours 1 minute', 'failed', NULL, 'timeout', 100),
	   pg_temp.exec(:'f_hourly', :'h'::timestamptz - interval '1 hour', 'succeeded', 502, NULL, 40),
	   pg_temp.exec(:'f_hourly', :'h'::timestamptz - interval '1 hour', 'queued', NULL, NULL, NULL),
	   pg_temp.exec(:'f_hourly', :'h', 'succeeded'),
	   pg_temp.exec(:'f_daily', :'d'::timestamptz - interval '3 days', 'succeeded', 200, NULL, 10),
	   pg_temp.exec(:'f_daily', :'d'::timestamptz - interval '2 days' - interval '1 second', 'failed', NULL, 'crash', 30),
	   pg_temp.exec(:'f_daily', :'d'::timestamptz - interval '1 day' + interval '12 hours', 'succeeded', 200, NULL, 50),
	   pg_temp.exec(:'f_daily', :'d'::timestamptz - interval '1 day' + interval '13 hours', 'succeeded', 200, NULL, 70);
SELECT pg_temp.act('s@example.com');
SET LOCAL ROLE cpub_developer;
SELECT results_eq(format($$SELECT bucket, invocations, errors, error_rate, p50_ms, round(p95_ms::numeric, 6),
		round(p99_ms::numeric, 6) FROM cpub_api.metrics_series('hourly', bucket => 'hour',
		since => %L::timestamptz - interval '5 hours', until => %L)$$, :'h', :'h'),
	format($$VALUES (%1$L::timestamptz - interval '5 hours', 2::bigint, 0::bigint, 0::float8, 20::float8, 29::numeric, 29.8::numeric),
					(%1$L::timestamptz - interval '4 hours', 0, 0, NULL, NULL, NULL, NULL),
					(%1$L::timestamptz - interval '3 hours', 1, 1, 1, 100, 100, 100),
					(%1$L::timestamptz - interval '2 hours', 0, 0, NULL, NULL, NULL, NULL),
					(%1$L::timestamptz - interval '1 hour', 2, 1, 1, 40, 40, 40)$$, :'h'),
	'metrics_series by hour: every bucket, empty ones with zero, each execution in its own');
SELECT results_eq(format($$SELECT bucket, invocations, errors, p50_ms FROM cpub_api.metrics_series('daily',
		bucket => 'day', since => %L::timestamptz - interval '3 days', until => %L)$$, :'d', :'d'),
	format($$VALUES (%1$L::timestamptz - interval '3 days', 2::bigint, 1::bigint, 20::float8),
					(%1$L::timestamptz - interval '2 days', 0, 0, NULL),
					(%1$L::timestamptz - interval '1 day', 2, 0, 60)$$, :'d'),
	'metrics_series by day');
SELECT results_eq($$SELECT min(bucket), max(bucket), sum(invocations) FROM cpub_api.metrics_series(bucket => 'day')$$,
	$$VALUES (date_trunc('day', now() - interval '30 days'), date_trunc('day', now()), 11::numeric)$$,
	'metrics_series: by default the last 30 days for days, over the owner''s functions');
SELECT results_eq($$SELECT min(bucket), max(bucket) FROM cpub_api.metrics_series('hourly')$$,
	$$VALUES (date_trunc('hour', now() - interval '24 hours'), date_trunc('hour', now()))$$,
	'metrics_series: by default the last 24 hours for hours');
SELECT is((SELECT count(*)::int FROM cpub_api.metrics_series('hourly',
				since => :'h'::timestamptz - interval '1000 hours', until => :'h')), 1000,
	'metrics_series: 1000 buckets are allowed');
SELECT throws_ok(format($$SELECT * FROM cpub_api.metrics_series('hourly', since => %L::timestamptz - interval '1001 hours',
		until => %L)$$, :'h', :'h'),
	'22023', 'more than 1000 buckets', 'metrics_series: more than 1000 buckets');
SELECT throws_ok(format($$SELECT * FROM cpub_api.metrics_series('hourly',
		since => %L::timestamptz - interval '999 hours 30 minutes', until => %L::timestamptz + interval '30 minutes')$$,
		:'h', :'h'),
	'22023', 'more than 1000 buckets', 'metrics_series: 1000 hours off the hour touch 1001 buckets');
SELECT is((SELECT count(*)::int FROM cpub_api.metrics_series('daily', bucket => 'day',
				since => :'d'::timestamptz - interval '1000 days', until => :'d')), 1000,
	'metrics_series: 1000 day buckets are allowed');
SELECT throws_ok($$SELECT * FROM cpub_api.metrics_series('hourly', bucket => 'week')$$, '22023',
	'invalid bucket "week"', 'metrics_series: invalid bucket');
SELECT throws_ok($$SELECT * FROM cpub_api.metrics_series('hourly', bucket => NULL)$$, '22023',
	'invalid bucket "null"', 'metrics_series: no bucket');
SELECT throws_ok($$SELECT * FROM cpub_api.metrics_series('hourly', since => now(), until => now() - interval '1 hour')$$,
	'22023', 'since must be before until', 'metrics_series: a reversed period');
RESET ROLE;
SELECT pg_temp.act('x@example.com');
SET LOCAL ROLE cpub_developer;
SELECT throws_ok(format('SELECT * FROM cpub_api.metrics_series(%L)', :'f_hourly'), 'P0002', NULL,
	'metrics_series: a non-member does not find the function');
RESET ROLE;

--
-- Maintenance: purging old executions and deleted functions.
--
-- keeper: finished 21 days ago, finished 19 days ago, queued 21 days ago;
-- expired: deleted 21 days ago, an execution 22 days ago; lingering:
-- deleted 21 days ago, an execution a day ago.
SELECT pg_temp.exec(:'f_keeper', now() - interval '21 days', 'succeeded') AS k_old,
	   pg_temp.exec(:'f_keeper', now() - interval '19 days', 'failed', NULL, 'crash') AS k_new,
	   pg_temp.exec(:'f_keeper', now() - interval '21 days', 'queued', NULL) AS k_queued,
	   pg_temp.exec(:'f_expired', now() - interval '22 days', 'succeeded') AS x_old,
	   pg_temp.exec(:'f_lingering', now() - interval '1 day', 'succeeded') AS g_new \gset
SELECT pg_temp.act('o@example.com');
SET LOCAL ROLE cpub_developer;
SELECT cpub_api.function_delete('expired'), cpub_api.function_delete('lingering');
RESET ROLE;
UPDATE cpub.functions SET deleted_at = now() - interval '21 days'
 WHERE id IN (:'f_expired', :'f_lingering');
SELECT is(cpub.executions_purge(), '{"executions": 0, "functions": 0}'::jsonb,
	'executions_purge: nothing is older than the default 30 days');
SELECT cpub_admin.setting_set('execution_retention', '"20 days"');
SELECT is(cpub.executions_purge(), '{"executions": 2, "functions": 1}'::jsonb,
	'executions_purge: with 20 days, two executions and a function');
SELECT results_eq(format($$SELECT id FROM cpub.executions WHERE id IN (%L, %L, %L, %L, %L) ORDER BY seq$$,
		:'k_old', :'k_new', :'k_queued', :'x_old', :'g_new'),
	format('VALUES (%L::uuid), (%L), (%L)', :'k_new', :'k_queued', :'g_new'),
	'executions_purge: finished ones past the retention go, recent and unfinished ones stay');
SELECT results_eq(format($$SELECT name FROM cpub.functions WHERE id IN (%L, %L, %L, %L) ORDER BY name$$,
		:'f_expired', :'f_lingering', :'f_doomed', :'f_keeper'),
	$$VALUES ('doomed'::text), ('keeper'), ('lingering')$$,
	'executions_purge: a function deleted past the retention goes once its executions went');
SELECT is((SELECT count(*)::int FROM cpub.function_versions WHERE function_id = :'f_expired'), 0,
	'executions_purge: with its versions');
SELECT is(cpub.executions_purge(), '{"executions": 0, "functions": 0}'::jsonb,
	'executions_purge: nothing more');

--
-- The admin's list.
--
SET LOCAL ROLE cpub_admin_viewer;
SELECT results_eq(format('SELECT id, function_name FROM cpub_admin.execution_list(function_id => %L)', :'f_lister'),
	format($$VALUES (%L::uuid, 'lister'::text), (%L, 'lister'), (%L, 'lister'), (%L, 'lister'), (%L, 'lister')$$,
		   :'l4', :'l3', :'l2', :'l1', :'l0'),
	'admin execution_list: a function''s, newest first');
SELECT results_eq(format('SELECT id FROM cpub_admin.execution_list(function_id => %L, status => %L)', :'f_lister', 'queued'),
	format('VALUES (%L::uuid)', :'l3'), 'admin execution_list: by status');
SELECT set_eq(format('SELECT id FROM cpub_admin.execution_list(owner_id => %L, error_kind => %L)', :'uid_o', 'rejected'),
	format('VALUES (%L::uuid), (%L), (%L)', :'e_d2', :'e_v', (:'e_fail'::uuid[])[5]),
	'admin execution_list: by owner and error kind');
SELECT results_eq(format('SELECT id FROM cpub_admin.execution_list(function_id => %L, since => now() - interval %L, after => %s, "limit" => 1)',
						 :'f_lister', '1 day', :l3_seq),
	format('VALUES (%L::uuid)', :'l2'), 'admin execution_list: since, after and limit');
SELECT results_eq(format('SELECT count(*) FROM cpub_admin.execution_list(owner_id => %L, "limit" => 500)', :'uid_q'),
	$$VALUES (4::bigint)$$, 'admin execution_list: any owner''s');
SELECT throws_ok($$SELECT * FROM cpub_admin.execution_list(status => 'done')$$, '22023',
	'invalid execution status "done"', 'admin execution_list: invalid status');
SELECT throws_ok($$SELECT * FROM cpub_admin.execution_list("limit" => 0)$$, '22023', NULL,
	'admin execution_list: invalid limit');
SELECT throws_ok('SELECT cpub.executions_purge()', '42501', NULL, 'a viewer cannot purge');
RESET ROLE;
SET LOCAL ROLE cpub_admin_full;
SELECT lives_ok('SELECT * FROM cpub_admin.execution_list()', 'a full admin lists executions too');
RESET ROLE;
SELECT pg_temp.act('o@example.com');
SET LOCAL ROLE cpub_developer;
SELECT throws_ok('SELECT * FROM cpub_admin.execution_list()', '42501', NULL,
	'a developer cannot call the admin list');
RESET ROLE;

--
-- The admin's counts for /metrics: queued and running now, succeeded and
-- failed since a time (the last 5 minutes by default).
--
SELECT cpub.clear_identity();
CREATE FUNCTION pg_temp.counts(since timestamptz DEFAULT NULL) RETURNS bigint[] LANGUAGE sql AS $$
	SELECT array_agg(c.count ORDER BY c.n)
	  FROM cpub_admin.execution_counts(coalesce($1, now() - interval '5 minutes'))
		   WITH ORDINALITY AS c (status, count, n) $$;
CREATE FUNCTION pg_temp.plus(a bigint[], b integer[]) RETURNS bigint[] LANGUAGE sql AS $$
	SELECT array_agg(u.x + u.y ORDER BY u.n) FROM unnest($1, $2) WITH ORDINALITY AS u (x, y, n) $$;
SELECT pg_temp.counts() AS counts_5m, pg_temp.counts(now() - interval '2 hours') AS counts_2h \gset
-- Queued twice (one long ago), running once; succeeded a minute ago
-- twice and 10 minutes ago once (out of the default window), failed 2
-- minutes ago once and an hour ago once.
SELECT pg_temp.exec(:'f_keeper', now() - interval '3 days', 'queued', NULL),
	   pg_temp.exec(:'f_keeper', now(), 'queued', NULL),
	   pg_temp.exec(:'f_keeper', now() - interval '1 minute', 'running', NULL),
	   pg_temp.exec(:'f_keeper', now() - interval '1 minute', 'succeeded'),
	   pg_temp.exec(:'f_keeper', now() - interval '1 minute', 'succeeded'),
	   pg_temp.exec(:'f_keeper', now() - interval '10 minutes', 'succeeded'),
	   pg_temp.exec(:'f_keeper', now() - interval '2 minutes', 'failed', NULL, 'crash'),
	   pg_temp.exec(:'f_keeper', now() - interval '1 hour', 'failed', NULL, 'timeout');
SET LOCAL ROLE cpub_admin_viewer;
SELECT results_eq($$SELECT status FROM cpub_admin.execution_counts()$$,
	$$VALUES ('queued'::text), ('running'), ('succeeded'), ('failed')$$,
	'execution_counts: the four statuses in that order');
SELECT is(pg_temp.counts(), pg_temp.plus(:'counts_5m', ARRAY[2, 1, 2, 1]),
	'execution_counts: queued and running whenever made, finished in the last 5 minutes by default');
SELECT is(pg_temp.counts(now() - interval '2 hours'), pg_temp.plus(:'counts_2h', ARRAY[2, 1, 3, 2]),
	'execution_counts: finished since a given time');
SELECT results_eq($$SELECT status, count FROM cpub_admin.execution_counts(now() + interval '1 minute')
					 WHERE status IN ('succeeded', 'failed')$$,
	$$VALUES ('succeeded'::text, 0::bigint), ('failed', 0)$$,
	'execution_counts: statuses with none are there with zero');
SELECT throws_ok('SELECT * FROM cpub_admin.execution_counts(NULL)', '22004', 'since is required',
	'execution_counts: since NULL');
RESET ROLE;
-- Without any execution (deleted in a savepoint, the test after it: pgTAP
-- keeps its count in tables).
SAVEPOINT no_executions;
DELETE FROM cpub.executions;
SELECT string_agg(c.status || ' ' || c.count, ', ' ORDER BY c.n) AS counts_none
  FROM cpub_admin.execution_counts() WITH ORDINALITY AS c (status, count, n) \gset
ROLLBACK TO SAVEPOINT no_executions;
SELECT is(:'counts_none'::text, 'queued 0, running 0, succeeded 0, failed 0',
	'execution_counts: four zeros without any execution');
SET LOCAL ROLE cpub_admin_full;
SELECT lives_ok('SELECT * FROM cpub_admin.execution_counts()', 'a full admin counts executions too');
RESET ROLE;
SELECT pg_temp.act('o@example.com');
SET LOCAL ROLE cpub_developer;
SELECT throws_ok('SELECT * FROM cpub_admin.execution_counts()', '42501', NULL,
	'a developer cannot count every execution');
RESET ROLE;
SET LOCAL ROLE cpub_anon;
SELECT throws_ok('SELECT * FROM cpub_admin.execution_counts()', '42501', NULL,
	'nor can anon');
RESET ROLE;
SET LOCAL ROLE cpub_worker;
SELECT throws_ok('SELECT * FROM cpub_api.execution_list()', '42501', NULL,
	'the worker cannot call the developer API');
RESET ROLE;

-- Signed invocations through the public address: the signature covers the
-- request target as sent (docs/invocation-keys.md); pgcrypto signs here.
CREATE EXTENSION IF NOT EXISTS pgcrypto;
CREATE FUNCTION pg_temp.sign(secret text, ts bigint, nonce text, method text,
							 target text, body bytea) RETURNS text LANGUAGE sql AS $$
	SELECT encode(hmac(convert_to(format(E'%s\n%s\n%s\n%s\n', ts, nonce, method, target), 'UTF8')
					   || body, digest(secret, 'sha256'), 'sha256'), 'hex') $$;
SELECT pg_temp.act('o@example.com');
SELECT key_id AS sk_id, secret AS sk_secret, id AS sk_row
  FROM cpub_api.function_key_create('keyed', 'tests') \gset
SELECT floor(extract(epoch FROM clock_timestamp()))::bigint AS sk_ts \gset
SELECT cpub.clear_identity();
SET LOCAL ROLE cpub_anon;
SELECT lives_ok(format($$SELECT cpub_api.invoke(%L, 'keyed', 'POST', '/hook', 'x=1', '{}', 'hi',
			key_id => %L, "timestamp" => %s, nonce => 'nonce-0000000001',
			signature => %L)$$,
		:'uid_o', :'sk_id', :'sk_ts',
		pg_temp.sign(:'sk_secret', :'sk_ts', 'nonce-0000000001', 'POST',
					 format('/fn/%s/keyed/hook?x=1', :'uid_o'), 'hi')),
	'anon: a request signed over /fn/OWNER/NAME/PATH?QUERY runs');
SELECT throws_ok(format($$SELECT cpub_api.invoke(%L, 'keyed', 'POST', '/hook', 'x=1', '{}', 'hi',
			key_id => %L, "timestamp" => %s, nonce => 'nonce-0000000001', signature => %L)$$,
		:'uid_o', :'sk_id', :'sk_ts',
		pg_temp.sign(:'sk_secret', :'sk_ts', 'nonce-0000000001', 'POST',
					 format('/fn/%s/keyed/hook?x=1', :'uid_o'), 'hi')),
	'28Q08', NULL, 'anon: the same signed request again is a replay');
SELECT throws_ok(format($$SELECT cpub_api.invoke(%L, 'keyed', 'POST', '/hook', 'x=2', '{}', 'hi',
			key_id => %L, "timestamp" => %s, nonce => 'nonce-0000000002', signature => %L)$$,
		:'uid_o', :'sk_id', :'sk_ts',
		pg_temp.sign(:'sk_secret', :'sk_ts', 'nonce-0000000002', 'POST',
					 format('/fn/%s/keyed/hook?x=1', :'uid_o'), 'hi')),
	'28Q06', NULL, 'anon: the query string is signed (x=2 under a signature for x=1)');
SELECT throws_ok(format($$SELECT cpub_api.invoke(%L, 'keyed', 'POST', '/hook', '', '{}', 'hi!',
			key_id => %L, "timestamp" => %s, nonce => 'nonce-0000000003', signature => %L)$$,
		:'uid_o', :'sk_id', :'sk_ts',
		pg_temp.sign(:'sk_secret', :'sk_ts', 'nonce-0000000003', 'POST',
					 format('/fn/%s/keyed/hook', :'uid_o'), 'hi')),
	'28Q06', NULL, 'anon: the body is signed');
SELECT lives_ok(format($$SELECT cpub_api.invoke(%L, 'keyed', 'POST', '/hook', '', '{}', 'hi',
			key_id => %L, "timestamp" => %s, nonce => 'nonce-0000000004', signature => %L,
			target => '/fn/%s/keyed/hook/')$$,
		:'uid_o', :'sk_id', :'sk_ts',
		pg_temp.sign(:'sk_secret', :'sk_ts', 'nonce-0000000004', 'POST',
					 format('/fn/%s/keyed/hook/', :'uid_o'), 'hi'), :'uid_o'),
	'anon: the target the HTTP front passes is what is checked');
SELECT throws_ok(format($$SELECT cpub_api.invoke(%L, 'keyed', 'POST', '/hook', '', '{}', 'hi',
			key_id => %L, "timestamp" => %s, nonce => 'nonce-0000000005', signature => %L)$$,
		:'uid_o', :'sk_id', :'sk_ts' - 3600,
		pg_temp.sign(:'sk_secret', :'sk_ts' - 3600, 'nonce-0000000005', 'POST',
					 format('/fn/%s/keyed/hook', :'uid_o'), 'hi')),
	'28Q07', NULL, 'anon: a signature an hour old is refused');
RESET ROLE;
SELECT results_eq(format($$SELECT request_path, request_query FROM cpub.executions
							WHERE caller_key_id = %L ORDER BY seq$$, :'sk_row'),
	$$VALUES ('/hook', 'x=1'), ('/hook', '')$$,
	'the two signed executions are recorded with their key');

SELECT cpub_worker.maintenance_run() -> 'tasks' AS mtasks \gset
SELECT ok(:'mtasks'::jsonb ?& ARRAY['executions_reap', 'executions_purge', 'invocation_nonces_purge']
		  AND NOT jsonb_path_exists(:'mtasks'::jsonb, '$.*.error'),
	'a maintenance job runs the executions reap and purge and the nonce purge');

SELECT * FROM finish();
ROLLBACK;
