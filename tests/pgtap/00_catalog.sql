-- tests/pgtap/00_catalog.sql: structural rules of the extension, checked on
-- the catalog so that a new function or table cannot break them unnoticed.
BEGIN;
SELECT plan(15);

CREATE TEMP VIEW our_routines AS
SELECT p.oid, p.oid::regprocedure::text AS name, n.nspname AS schema,
	   p.prosecdef, p.proconfig, p.proacl, p.provolatile, p.prokind,
	   p.prolang, p.proowner
  FROM pg_proc p
  JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname IN ('cpub', 'cpub_api', 'cpub_admin', 'cpub_worker');

SELECT is_empty($$
	SELECT name FROM our_routines
	 WHERE prosecdef
	   AND NOT coalesce(proconfig @> ARRAY['search_path=pg_catalog, cpub, pg_temp'], false)
$$, 'every SECURITY DEFINER function pins search_path = pg_catalog, cpub, pg_temp');

-- The inlinable row projections: the only functions without a SET clause
-- (which would stop the planner from inlining them; docs/sql-conventions.md
-- says why they are safe without), each with a query that must inline it.
CREATE TEMP TABLE inlinable (name text PRIMARY KEY, probe text NOT NULL);
INSERT INTO inlinable VALUES
	('cpub.user_info(cpub.users)',
	 'SELECT i.* FROM cpub.users u CROSS JOIN LATERAL cpub.user_info(u) i'),
	('cpub.function_info(cpub.functions)',
	 'SELECT i.* FROM cpub.functions f CROSS JOIN LATERAL cpub.function_info(f) i'),
	('cpub.version_info(cpub.function_versions,uuid)',
	 'SELECT i.* FROM cpub.function_versions v CROSS JOIN LATERAL cpub.version_info(v, v.id) i'),
	('cpub.function_key_info(cpub.function_keys)',
	 'SELECT i.* FROM cpub.function_keys k CROSS JOIN LATERAL cpub.function_key_info(k) i');

SELECT is_empty($$
	SELECT r.name FROM our_routines r
	  JOIN pg_language l ON l.oid = r.prolang
	 WHERE l.lanname IN ('sql', 'plpgsql')
	   AND NOT coalesce(r.proconfig @> ARRAY['search_path=pg_catalog, cpub, pg_temp'], false)
	   AND r.name NOT IN (SELECT i.name FROM inlinable i)
	   AND r.name <> 'cpub_api.refresh(text,text,timestamp with time zone,timestamp with time zone,uuid,uuid,boolean)'
$$, 'every SQL and PL/pgSQL function pins search_path (but the inlinable row projections, and the refresh procedure, which must COMMIT)');

SELECT is_empty($$
	SELECT i.name FROM inlinable i
	  LEFT JOIN our_routines r ON r.name = i.name
	  LEFT JOIN pg_language l ON l.oid = r.prolang
	 WHERE r.oid IS NULL OR r.schema <> 'cpub' OR r.prosecdef
	    OR l.lanname <> 'sql' OR r.provolatile = 'v' OR r.proacl IS NULL
	    OR EXISTS (SELECT FROM aclexplode(r.proacl) a WHERE a.grantee <> r.proowner)
$$, 'each function exempted from pinning search_path is a LANGUAGE sql helper in schema cpub, not SECURITY DEFINER, not VOLATILE, executable by its owner only');

-- The text of the plan of a query.
CREATE FUNCTION pg_temp.plan_of(query text) RETURNS text
	LANGUAGE plpgsql AS $$
DECLARE
	line text;
	result text := '';
BEGIN
	FOR line IN EXECUTE 'EXPLAIN (VERBOSE, COSTS OFF) ' || query LOOP
		result := result || line || E'\n';
	END LOOP;
	RETURN result;
END
$$;
SELECT is_empty($$
	SELECT i.name FROM inlinable i
	 WHERE pg_temp.plan_of(i.probe) LIKE '%Function Scan%'
$$, 'each exempted function is inlined into its caller''s plan (no Function Scan)');

SELECT is_empty($$
	SELECT name FROM our_routines
	 WHERE proacl IS NULL
		OR EXISTS (SELECT FROM aclexplode(proacl) a
				   WHERE a.grantee = 0 AND a.privilege_type = 'EXECUTE')
$$, 'no function or procedure is executable by PUBLIC');

SELECT is_empty($$
	SELECT name FROM our_routines r, aclexplode(r.proacl) a
	 WHERE r.schema = 'cpub'
	   AND a.grantee <> (SELECT nspowner FROM pg_namespace WHERE nspname = 'cpub')
$$, 'private helpers in schema cpub are granted to nobody');

SELECT is_empty($$
	SELECT name FROM our_routines
	 WHERE schema <> 'cpub' AND NOT prosecdef
	   AND name NOT IN ('cpub_api.authenticate(text)',
						'cpub_api.refresh(text,text,timestamp with time zone,timestamp with time zone,uuid,uuid,boolean)')
$$, 'every API function is SECURITY DEFINER (but authenticate, which switches user in C, and the refresh procedure, which must COMMIT)');

SELECT is_empty($$
	SELECT c.relname::text FROM pg_class c
	  JOIN pg_namespace n ON n.oid = c.relnamespace
	 WHERE n.nspname = 'cpub' AND c.relkind = 'r' AND NOT c.relrowsecurity
	   AND c.relname NOT IN ('setting_defaults', 'settings', 'tiers', 'runtimes', 'jobs',
							 'workers')
$$, 'every tenant table has row-level security (platform tables: setting_defaults, settings, tiers, runtimes, jobs, workers)');

SELECT is_empty($$
	SELECT c.relname::text FROM pg_class c
	  JOIN pg_namespace n ON n.oid = c.relnamespace
	 WHERE n.nspname = 'cpub' AND c.relkind = 'r'
	   AND c.relname NOT IN ('setting_defaults', 'installation')
	   AND c.oid <> ALL ((SELECT extconfig FROM pg_extension
						   WHERE extname = 'containerpub')::oid[])
$$, 'every data table is kept by pg_dump (pg_extension_config_dump), but the two CREATE EXTENSION makes: setting_defaults and installation (a restore is a new installation)');

SELECT is_empty($$
	SELECT name FROM our_routines
	 WHERE has_function_privilege('cpub_admin_viewer', oid, 'EXECUTE')
	   AND provolatile = 'v'
$$, 'everything cpub_admin_viewer can call is STABLE or IMMUTABLE, so it cannot change data');

SELECT set_eq($$
	SELECT name FROM our_routines
	 WHERE has_function_privilege('cpub_anon', oid, 'EXECUTE')
$$, ARRAY['cpub_api.register(text,text,text,text)',
		  'cpub_api.login(text,text)',
		  'cpub_api.authenticate(text)',
		  'cpub_api.rotate_refresh_token(text)',
		  'cpub_api.refresh(text,text,timestamp with time zone,timestamp with time zone,uuid,uuid,boolean)',
		  'cpub_api.runtimes()',
		  'cpub_api.invoke(text,text,text,text,text,jsonb,bytea,boolean,text,bigint,text,text,text)',
		  'cpub_api.invocation_result(uuid)'],
   'cpub_anon can only register, log in, authenticate, refresh, list runtimes, invoke and read an invocation''s outcome');

SELECT is_empty($$
	SELECT name FROM our_routines
	 WHERE schema IN ('cpub_admin', 'cpub_worker')
	   AND (has_function_privilege('cpub_developer', oid, 'EXECUTE')
			OR has_function_privilege('cpub_anon', oid, 'EXECUTE'))
$$, 'developers and anonymous callers cannot call admin or worker functions');

SELECT set_eq($$
	SELECT name FROM our_routines
	 WHERE has_function_privilege('cpub_worker', oid, 'EXECUTE')
$$, ARRAY['cpub_worker.worker_register(text,integer,text[],text)',
		  'cpub_worker.worker_heartbeat(uuid,integer,integer)',
		  'cpub_worker.worker_deregister(uuid)',
		  'cpub_worker.workers_running(uuid[])',
		  'cpub_worker.installation_id()',
		  'cpub_worker.job_complete_and_claim(uuid,bigint[],text[],integer,interval)',
		  'cpub_worker.job_claim(uuid,text[],integer,interval)',
		  'cpub_worker.job_complete(uuid,bigint[])',
		  'cpub_worker.job_heartbeat(uuid,bigint[],interval)',
		  'cpub_worker.job_fail(uuid,bigint,text,boolean)',
		  'cpub_worker.maintenance_schedule()',
		  'cpub_worker.maintenance_run()',
		  'cpub_worker.purge_expired_sessions()',
		  'cpub_worker.build_start(uuid)',
		  'cpub_worker.build_progress(uuid,text)',
		  'cpub_worker.build_finish(uuid,boolean,text,text,text)',
		  'cpub_worker.function_runtime(uuid)',
		  'cpub_worker.version_archive(uuid)',
		  'cpub_worker.function_env(uuid)',
		  'cpub_worker.execution_start(uuid,uuid)',
		  'cpub_worker.execution_finish(uuid,uuid,integer,jsonb,bytea,text,text,text,double precision,bigint,boolean)'],
   'cpub_worker can call exactly the worker functions (README.md lists them)');

SELECT is_empty($$
	SELECT name FROM our_routines r, aclexplode(r.proacl) a
	 WHERE r.schema = 'cpub_worker'
	   AND a.grantee NOT IN (r.proowner, 'cpub_worker'::regrole)
$$, 'worker functions are granted to cpub_worker alone');

SELECT is_empty($$
	SELECT r.rolname::text FROM pg_roles r
	 WHERE r.rolname = 'cpub_httpd'
	   AND (r.rolinherit OR r.rolsuper OR r.rolbypassrls)
$$, 'the HTTP front''s login role holds no privileges itself (NOINHERIT)');

SELECT * FROM finish();
ROLLBACK;
