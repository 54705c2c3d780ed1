-- tests/pgtap/60_functions.sql: functions, runtimes and versions through the
-- developer, admin and worker APIs: create, read, update, deploy, the build
-- lifecycle, rollback and delete; settings against their ranges and the
-- tier's caps; organizations; references by id, NAME and ORG/NAME;
-- privileges, row-level security and audit.
BEGIN;
SELECT plan(315);

-- Fixtures, as superuser.  o: owner of acme, a: its admin, m: its member,
-- p: another admin of acme whose own tier is pro, x: outsider, q: fills the
-- free tier's function count.
INSERT INTO cpub.users (email, password_hash, status)
VALUES ('o@example.com', 'x', 'active'), ('a@example.com', 'x', 'active'),
	   ('m@example.com', 'x', 'active'), ('p@example.com', 'x', 'active'),
	   ('x@example.com', 'x', 'active'), ('q@example.com', 'x', 'active');
CREATE FUNCTION pg_temp.uid(email text) RETURNS uuid LANGUAGE sql AS
	$$ SELECT u.uuid FROM cpub.users u WHERE u.email = $1 $$;
CREATE FUNCTION pg_temp.act(email text) RETURNS void LANGUAGE sql AS
	$$ SELECT cpub.set_user_identity(pg_temp.uid($1), gen_random_uuid(), false) $$;
INSERT INTO cpub.organizations (name, created_by)
VALUES ('acme', pg_temp.uid('o@example.com'));
INSERT INTO cpub.organization_members (organization_id, user_id, role)
SELECT o.id, pg_temp.uid(e.email), e.role
  FROM cpub.organizations o,
	   (VALUES ('o@example.com', 'owner'), ('a@example.com', 'admin'),
			   ('m@example.com', 'member'), ('p@example.com', 'admin')) e (email, role)
 WHERE o.name = 'acme';
SELECT pg_temp.uid('o@example.com') AS uid_o, pg_temp.uid('x@example.com') AS uid_x,
	   pg_temp.uid('p@example.com') AS uid_p \gset

-- Archives: a real empty gzip stream (20 bytes) and a real tar.gz holding
-- main.py (143 bytes), with their sha256 computed outside PostgreSQL.
CREATE FUNCTION pg_temp.gz() RETURNS bytea LANGUAGE sql IMMUTABLE AS
	$$ SELECT '\x1f8b080000000000020303000000000000000000'::bytea $$;
CREATE FUNCTION pg_temp.tgz() RETURNS bytea LANGUAGE sql IMMUTABLE AS $$ SELECT
	'\x1f8b0800000000000203edd0bb0ac2401085e1a9f3144b2a6d6489c140de6621131474d1bd1422bebb432ab18f08fe5f738633c5c05cc229eeae7759933787be5fd27ca62ddfe6a51fbafd20cecb17d45c42b293f29f269ddd31c4e9ac9ba4b7aab96cc7c699a4a5a6e81eadfda7d4dc8eaef3fed90800000000000000000000000000e027bc0074bad49a00280000'::bytea $$;
\set gz_sha 'f61f27bd17de546264aa58f40f3aafaac7021e0ef69c17f6b1b4cd7664a037ec'
\set tgz_sha '3170905139afea8c7d38dfa36c0128ac6ed1779fe0cc0ded8012887ea14629a4'
-- The id of a function's version (as superuser: for the worker's calls).
CREATE FUNCTION pg_temp.vid(fn uuid, version integer) RETURNS uuid LANGUAGE sql AS
	$$ SELECT v.id FROM cpub.function_versions v WHERE v.function_id = $1 AND v.version = $2 $$;

--
-- Privileges: no session, and the roles that may not call developer,
-- admin or worker functions.
--
SET LOCAL ROLE cpub_developer;
SELECT throws_ok($$SELECT cpub_api.function_create('hello', 'python')$$, '28000',
	'not authenticated', 'function_create needs a session');
SELECT throws_ok('SELECT * FROM cpub_api.function_list()', '28000',
	'not authenticated', 'function_list needs a session');
SELECT throws_ok($$SELECT cpub_api.function_get('hello')$$, '28000',
	'not authenticated', 'function_get needs a session');
SELECT throws_ok($$SELECT cpub_api.function_upload_limit('hello')$$, '28000',
	'not authenticated', 'function_upload_limit needs a session');
RESET ROLE;

SET LOCAL ROLE cpub_anon;
SELECT throws_ok($$SELECT cpub_api.function_create('hello', 'python')$$, '42501', NULL,
	'anon cannot create functions');
SELECT throws_ok($$SELECT cpub_api.function_get('hello')$$, '42501', NULL,
	'anon cannot get functions');
SELECT throws_ok('SELECT * FROM cpub_api.function_list()', '42501', NULL,
	'anon cannot list functions');
SELECT throws_ok($$SELECT cpub_api.function_update('hello', memory_mb => 64)$$, '42501', NULL,
	'anon cannot update functions');
SELECT throws_ok($$SELECT cpub_api.function_deploy('hello', pg_temp.gz())$$, '42501', NULL,
	'anon cannot deploy');
SELECT throws_ok($$SELECT cpub_api.function_upload_limit('hello')$$, '42501',
	'permission denied for function function_upload_limit', 'anon cannot ask for the upload limit');
SELECT throws_ok($$SELECT * FROM cpub_api.function_versions('hello')$$, '42501', NULL,
	'anon cannot list versions');
SELECT throws_ok($$SELECT * FROM cpub_api.function_build_log('hello', 1)$$, '42501', NULL,
	'anon cannot read build logs');
SELECT throws_ok($$SELECT cpub_api.function_rollback('hello')$$, '42501', NULL,
	'anon cannot roll back');
SELECT throws_ok($$SELECT cpub_api.function_delete('hello')$$, '42501', NULL,
	'anon cannot delete');
SELECT results_eq('SELECT name FROM cpub_api.runtimes()',
	$$VALUES ('c'::text), ('python'), ('shell')$$, 'anon lists the runtimes');
SELECT throws_ok('SELECT * FROM cpub_admin.runtime_list()', '42501', NULL,
	'anon cannot call the admin runtime_list');
SELECT throws_ok($$SELECT * FROM cpub_worker.build_start(gen_random_uuid())$$, '42501', NULL,
	'anon cannot call build_start');
RESET ROLE;

SET LOCAL ROLE cpub_admin_viewer;
SELECT throws_ok($$SELECT cpub_api.function_create('hello', 'python')$$, '42501', NULL,
	'viewer cannot create functions');
SELECT throws_ok($$SELECT cpub_api.function_get('hello')$$, '42501', NULL,
	'viewer cannot call function_get');
SELECT throws_ok($$SELECT cpub_api.function_delete('hello')$$, '42501', NULL,
	'viewer cannot call function_delete');
SELECT throws_ok($$SELECT cpub_api.function_upload_limit('hello')$$, '42501', NULL,
	'viewer cannot call function_upload_limit');
SELECT throws_ok($$SELECT cpub_admin.runtime_set('go', 'Go')$$, '42501', NULL,
	'viewer cannot set runtimes');
SELECT throws_ok($$SELECT * FROM cpub_worker.build_start(gen_random_uuid())$$, '42501', NULL,
	'viewer cannot call build_start');
RESET ROLE;

SET LOCAL ROLE cpub_admin_full;
SELECT throws_ok($$SELECT cpub_api.function_create('hello', 'python')$$, '42501', NULL,
	'full admin cannot create functions through the developer API');
SELECT throws_ok($$SELECT cpub_worker.build_finish(gen_random_uuid(), false)$$, '42501', NULL,
	'full admin cannot call build_finish');
RESET ROLE;

SET LOCAL ROLE cpub_worker;
SELECT throws_ok($$SELECT cpub_api.function_create('hello', 'python')$$, '42501', NULL,
	'worker cannot create functions');
SELECT throws_ok('SELECT * FROM cpub_admin.runtime_list()', '42501', NULL,
	'worker cannot call the admin runtime_list');
SELECT is_empty($$SELECT * FROM cpub_worker.build_start(gen_random_uuid())$$,
	'build_start of an unknown version returns no row');
SELECT throws_ok($$SELECT cpub_worker.build_finish('00000000-0000-0000-0000-0000000000ff', false)$$,
	'P0002', 'version 00000000-0000-0000-0000-0000000000ff not found',
	'build_finish: unknown version');
RESET ROLE;

SELECT pg_temp.act('o@example.com');
SET LOCAL ROLE cpub_developer;
SELECT throws_ok($$SELECT * FROM cpub_worker.build_start(gen_random_uuid())$$, '42501', NULL,
	'developer cannot call build_start');
SELECT throws_ok($$SELECT cpub_worker.build_finish(gen_random_uuid(), false)$$, '42501', NULL,
	'developer cannot call build_finish');
SELECT throws_ok($$SELECT * FROM cpub_worker.function_runtime(gen_random_uuid())$$, '42501', NULL,
	'developer cannot call function_runtime');
SELECT throws_ok($$SELECT * FROM cpub_worker.version_archive(gen_random_uuid())$$, '42501', NULL,
	'developer cannot call version_archive');
SELECT throws_ok('SELECT * FROM cpub_admin.runtime_list()', '42501', NULL,
	'developer cannot call the admin runtime_list');
SELECT throws_ok($$SELECT cpub_admin.runtime_set('go', 'Go')$$, '42501', NULL,
	'developer cannot set runtimes');
SELECT throws_ok('SELECT * FROM cpub_admin.function_list()', '42501', NULL,
	'developer cannot call the admin function_list');
SELECT throws_ok('SELECT * FROM cpub.functions', '42501', NULL,
	'developer cannot read cpub.functions directly');
SELECT throws_ok('SELECT * FROM cpub.function_versions', '42501', NULL,
	'developer cannot read cpub.function_versions directly');
SELECT throws_ok('SELECT * FROM cpub.jobs', '42501', NULL,
	'developer cannot read cpub.jobs directly');
RESET ROLE;

-- A session opened with a temporary password must change it first.
SELECT cpub.set_user_identity(pg_temp.uid('o@example.com'), gen_random_uuid(), true);
SET LOCAL ROLE cpub_developer;
SELECT throws_ok($$SELECT cpub_api.function_create('hello', 'python')$$, '42501',
	'password change required', 'function_create: temporary password');
SELECT throws_ok($$SELECT cpub_api.function_get('hello')$$, '42501',
	'password change required', 'function_get: temporary password');
RESET ROLE;

--
-- Create, get and list the caller's own functions.
--
SELECT pg_temp.act('o@example.com');
SET LOCAL ROLE cpub_developer;
SELECT results_eq($$SELECT name, organization, owner_id, status, runtime, memory_mb,
		timeout_seconds, max_concurrency, visibility, active_version, latest_version,
		latest_status, metadata
	  FROM cpub_api.function_create('hello', 'python')$$,
	format($$VALUES ('hello'::text, NULL::text, %L::uuid, 'inactive'::text, 'python'::text,
		128, 10, 4, 'private'::text, NULL::int, NULL::int, NULL::text, '{}'::jsonb)$$, :'uid_o'),
	'function_create: defaults, inactive, no version');
SELECT results_eq($$SELECT memory_mb, timeout_seconds, max_concurrency, visibility, metadata
	  FROM cpub_api.function_create('api', 'c', memory_mb => 256, timeout_seconds => 30,
		max_concurrency => 5, visibility => 'public', metadata => '{"team": "core"}')$$,
	$$VALUES (256, 30, 5, 'public'::text, '{"team": "core"}'::jsonb)$$,
	'function_create: settings equal to the tier caps are allowed');
SELECT lives_ok($$SELECT cpub_api.function_create('sh', 'shell', visibility => 'key')$$,
	'function_create: a shell function with key visibility');
SELECT throws_ok($$SELECT cpub_api.function_create('Hello', 'python')$$, '22Q04',
	'invalid function name "Hello"', 'function_create: uppercase name');
SELECT throws_ok($$SELECT cpub_api.function_create('9lives', 'python')$$, '22Q04',
	'invalid function name "9lives"', 'function_create: name starting with a digit');
SELECT throws_ok($$SELECT cpub_api.function_create('a--b', 'python')$$, '22Q04',
	'invalid function name "a--b"', 'function_create: double hyphen');
SELECT throws_ok($$SELECT cpub_api.function_create('trailing-', 'python')$$, '22Q04',
	'invalid function name "trailing-"', 'function_create: trailing hyphen');
SELECT throws_ok($$SELECT cpub_api.function_create('acme/api', 'python')$$, '22Q04',
	'invalid function name "acme/api"', 'function_create: a slash');
SELECT throws_ok($$SELECT cpub_api.function_create('has space', 'python')$$, '22Q04',
	'invalid function name "has space"', 'function_create: a space');
SELECT throws_ok(format($$SELECT cpub_api.function_create(%L, 'python')$$, repeat('a', 64)),
	'22Q04', NULL, 'function_create: 64 characters');
SELECT throws_ok($$SELECT cpub_api.function_create('', 'python')$$, '22Q04',
	'invalid function name ""', 'function_create: empty name');
SELECT throws_ok($$SELECT cpub_api.function_create(NULL, 'python')$$, '22Q04',
	'invalid function name ""', 'function_create: NULL name');
SELECT throws_ok($$SELECT cpub_api.function_create('x1', 'ruby')$$, '22023',
	'unknown runtime "ruby"', 'function_create: unknown runtime');
SELECT throws_ok($$SELECT cpub_api.function_create('x1', NULL)$$, '22023',
	'unknown runtime "null"', 'function_create: NULL runtime');
SELECT throws_ok($$SELECT cpub_api.function_create('x1', 'python', memory_mb => 8)$$, '22023',
	'memory_mb must be between 16 and 65536', 'function_create: memory_mb below range');
SELECT throws_ok($$SELECT cpub_api.function_create('x1', 'python', memory_mb => 70000)$$, '22023',
	'memory_mb must be between 16 and 65536', 'function_create: memory_mb above range');
SELECT throws_ok($$SELECT cpub_api.function_create('x1', 'python', timeout_seconds => 0)$$, '22023',
	'timeout_seconds must be between 1 and 3600', 'function_create: timeout_seconds below range');
SELECT throws_ok($$SELECT cpub_api.function_create('x1', 'python', timeout_seconds => 3601)$$, '22023',
	'timeout_seconds must be between 1 and 3600', 'function_create: timeout_seconds above range');
SELECT throws_ok($$SELECT cpub_api.function_create('x1', 'python', max_concurrency => 0)$$, '22023',
	'max_concurrency must be between 1 and 1000', 'function_create: max_concurrency below range');
SELECT throws_ok($$SELECT cpub_api.function_create('x1', 'python', max_concurrency => 1001)$$, '22023',
	'max_concurrency must be between 1 and 1000', 'function_create: max_concurrency above range');
SELECT throws_ok($$SELECT cpub_api.function_create('x1', 'python', visibility => 'secret')$$, '22023',
	'invalid visibility "secret"', 'function_create: invalid visibility');
SELECT throws_ok($$SELECT cpub_api.function_create('x1', 'python', metadata => '[1]')$$, '22023',
	'metadata must be a JSON object', 'function_create: metadata not an object');
SELECT throws_ok($$SELECT cpub_api.function_create('x1', 'python', memory_mb => 257)$$, '54Q02',
	'memory_mb 257 is above the max_memory_mb of 256 allowed by tier "free"', 'function_create: memory_mb above the tier cap');
SELECT throws_ok($$SELECT cpub_api.function_create('x1', 'python', timeout_seconds => 31)$$, '54Q02',
	'timeout_seconds 31 is above the max_timeout_seconds of 30 allowed by tier "free"', 'function_create: timeout_seconds above the tier cap');
SELECT throws_ok($$SELECT cpub_api.function_create('x1', 'python', max_concurrency => 6)$$, '54Q02',
	'max_concurrency 6 is above the max_concurrency of 5 allowed by tier "free"', 'function_create: max_concurrency above the tier cap');
SELECT throws_ok($$SELECT cpub_api.function_create('hello', 'c')$$, '23505',
	'function "hello" already exists', 'function_create: duplicate name');
SELECT results_eq('SELECT name FROM cpub_api.function_list()',
	$$VALUES ('api'::text), ('hello'), ('sh')$$, 'function_list: own functions by name');
SELECT results_eq($$SELECT name FROM cpub_api.function_list(after => 'api', "limit" => 1)$$,
	$$VALUES ('hello'::text)$$, 'function_list: keyset paging');
SELECT throws_ok($$SELECT * FROM cpub_api.function_list("limit" => 0)$$, '22023',
	'page limit must be between 1 and 500', 'function_list: invalid limit');
SELECT results_eq($$SELECT name, endpoint FROM cpub_api.function_get('hello')$$,
	format($$VALUES ('hello'::text, '/fn/%s/hello'::text)$$, :'uid_o'),
	'function_get by NAME; the endpoint of a user''s function names the user''s id');
RESET ROLE;
SELECT id AS hello_id FROM cpub.functions WHERE name = 'hello' \gset
SELECT id AS api_id FROM cpub.functions WHERE name = 'api' \gset
SET LOCAL ROLE cpub_developer;
SELECT is((cpub_api.function_get(:'hello_id')).name, 'hello', 'function_get by id');
SELECT is((cpub_api.function_get(upper(:'hello_id'))).name, 'hello',
	'function_get by id in upper case');
SELECT throws_ok($$SELECT cpub_api.function_get('nope')$$, 'P0002',
	'function "nope" not found', 'function_get: unknown name');
SELECT throws_ok($$SELECT cpub_api.function_get('00000000-0000-0000-0000-0000000000ff')$$, 'P0002',
	'function "00000000-0000-0000-0000-0000000000ff" not found', 'function_get: unknown id');
SELECT throws_ok($$SELECT cpub_api.function_get('')$$, '22004',
	'function is required', 'function_get: empty reference');
SELECT throws_ok($$SELECT cpub_api.function_get(NULL)$$, '22004',
	'function is required', 'function_get: NULL reference');
RESET ROLE;
SELECT results_eq(format($$SELECT actor_kind, actor_user_id, target_kind, detail
	  FROM cpub.audit_log WHERE action = 'function.create' AND target_id = %L$$, :'hello_id'),
	format($$VALUES ('user'::text, %L::uuid, 'function'::text,
		'{"name": "hello", "owner_user_id": "%s", "owner_organization_id": null,
		  "runtime": "python", "memory_mb": 128, "timeout_seconds": 10,
		  "max_concurrency": 4, "visibility": "private"}'::jsonb)$$, :'uid_o', :'uid_o'),
	'function_create is audited with the developer, the owner and the settings');

--
-- Runtimes: admins add and disable them.
--
SELECT cpub.clear_identity();
SET LOCAL ROLE cpub_admin_full;
SELECT results_eq($$SELECT name, description, enabled FROM cpub_admin.runtime_set('go', 'A Go binary.')$$,
	$$VALUES ('go'::text, 'A Go binary.'::text, true)$$, 'runtime_set adds a runtime');
SELECT results_eq($$SELECT name, description, enabled FROM cpub_admin.runtime_set('shell', enabled => false)$$,
	$$VALUES ('shell'::text, 'A busybox sh script reading the request and writing the response.'::text, false)$$,
	'runtime_set disables a runtime and keeps what is not given');
SELECT throws_ok($$SELECT cpub_admin.runtime_set('Go')$$, '22Q04',
	'invalid runtime name "Go"', 'runtime_set: invalid name');
SELECT throws_ok($$SELECT cpub_admin.runtime_set(NULL)$$, '22Q04',
	'invalid runtime name "null"', 'runtime_set: NULL name');
RESET ROLE;
SET LOCAL ROLE cpub_admin_viewer;
SELECT results_eq('SELECT name, enabled FROM cpub_admin.runtime_list()',
	$$VALUES ('c'::text, true), ('go', true), ('python', true), ('shell', false)$$,
	'viewer lists every runtime, enabled or not');
RESET ROLE;
SELECT results_eq($$SELECT actor_kind, target_id, detail FROM cpub.audit_log
	 WHERE action = 'runtime.set' ORDER BY id$$,
	$$VALUES ('db_role'::text, 'go'::text, '{"description": "A Go binary.", "enabled": true}'::jsonb),
			 ('db_role', 'shell', '{"description": "A busybox sh script reading the request and writing the response.", "enabled": false}')$$,
	'runtime_set is audited');

SELECT pg_temp.act('o@example.com');
SET LOCAL ROLE cpub_developer;
SELECT results_eq('SELECT name FROM cpub_api.runtimes()',
	$$VALUES ('c'::text), ('go'), ('python')$$, 'developers see only enabled runtimes');
SELECT throws_ok($$SELECT cpub_api.function_create('sh2', 'shell')$$, '22023',
	'unknown runtime "shell"', 'function_create: disabled runtime');
SELECT throws_ok($$SELECT cpub_api.function_update('hello', runtime => 'shell')$$, '22023',
	'unknown runtime "shell"', 'function_update: disabled runtime');
SELECT results_eq($$SELECT runtime, status FROM cpub_api.function_get('sh')$$,
	$$VALUES ('shell'::text, 'inactive'::text)$$,
	'a function on a disabled runtime is still there');

--
-- Update.
--
SELECT results_eq($$SELECT memory_mb, timeout_seconds, max_concurrency, visibility, metadata
	  FROM cpub_api.function_update('hello', memory_mb => 64, visibility => 'key',
									metadata => '{"a": 1}')$$,
	$$VALUES (64, 10, 4, 'key'::text, '{"a": 1}'::jsonb)$$,
	'function_update changes what is given and keeps the rest');
SELECT results_eq($$SELECT runtime, max_concurrency FROM cpub_api.function_update('api', runtime => 'go', max_concurrency => 2)$$,
	$$VALUES ('go'::text, 2)$$, 'function_update: a new enabled runtime');
SELECT lives_ok($$SELECT cpub_api.function_update('hello', memory_mb => 64)$$,
	'function_update with nothing new');
SELECT throws_ok($$SELECT cpub_api.function_update('hello', memory_mb => 512)$$, '54Q02',
	'memory_mb 512 is above the max_memory_mb of 256 allowed by tier "free"', 'function_update: memory_mb above the tier cap');
SELECT throws_ok($$SELECT cpub_api.function_update('hello', timeout_seconds => 31)$$, '54Q02',
	'timeout_seconds 31 is above the max_timeout_seconds of 30 allowed by tier "free"', 'function_update: timeout_seconds above the tier cap');
SELECT throws_ok($$SELECT cpub_api.function_update('hello', max_concurrency => 6)$$, '54Q02',
	'max_concurrency 6 is above the max_concurrency of 5 allowed by tier "free"', 'function_update: max_concurrency above the tier cap');
SELECT throws_ok($$SELECT cpub_api.function_update('hello', timeout_seconds => 4000)$$, '22023',
	'timeout_seconds must be between 1 and 3600', 'function_update: out of range');
SELECT throws_ok($$SELECT cpub_api.function_update('hello', visibility => 'everyone')$$, '22023',
	'invalid visibility "everyone"', 'function_update: invalid visibility');
SELECT throws_ok($$SELECT cpub_api.function_update('hello', runtime => 'ruby')$$, '22023',
	'unknown runtime "ruby"', 'function_update: unknown runtime');
SELECT throws_ok($$SELECT cpub_api.function_update('hello', metadata => '"text"')$$, '22023',
	'metadata must be a JSON object', 'function_update: metadata not an object');
SELECT throws_ok($$SELECT cpub_api.function_update('nope', memory_mb => 64)$$, 'P0002',
	'function "nope" not found', 'function_update: unknown function');
SELECT results_eq($$SELECT memory_mb, visibility FROM cpub_api.function_get('hello')$$,
	$$VALUES (64, 'key'::text)$$, 'a refused update changes nothing');
SELECT lives_ok($$SELECT cpub_api.function_update('api', runtime => 'c', visibility => 'key',
												  metadata => '{}')$$,
	'function_update: runtime, visibility and metadata only');
RESET ROLE;
SELECT results_eq($$SELECT name, config_generation FROM cpub.functions
	 WHERE name IN ('hello', 'api', 'sh') ORDER BY name$$,
	$$VALUES ('api'::text, 2::bigint), ('hello', 2), ('sh', 1)$$,
	'a new memory or concurrency is a new config generation; nothing new, a refused update, a new runtime, visibility or metadata is not');
SET LOCAL ROLE cpub_developer;
SELECT lives_ok($$SELECT cpub_api.function_update('api', timeout_seconds => 20)$$,
	'function_update: a new timeout alone');
RESET ROLE;
SELECT is((SELECT config_generation FROM cpub.functions WHERE id = :'api_id'), 3::bigint,
	'a new timeout is a new config generation too');
SELECT results_eq(format($$SELECT detail->'changes', detail->>'name' FROM cpub.audit_log
	 WHERE action = 'function.update' AND target_id = %L$$, :'hello_id'),
	$$VALUES ('{"memory_mb": {"from": 128, "to": 64}, "visibility": {"from": "private", "to": "key"},
				"metadata": {"from": {}, "to": {"a": 1}}}'::jsonb, 'hello'::text)$$,
	'function_update is audited once, with each change from and to; an update with nothing new is not');

--
-- Deploy.
--
SET LOCAL ROLE cpub_developer;
SELECT throws_ok($$SELECT cpub_api.function_deploy('hello', '')$$, '22Q05',
	'archive is empty', 'function_deploy: empty archive');
SELECT throws_ok($$SELECT cpub_api.function_deploy('hello', NULL)$$, '22Q05',
	'archive is empty', 'function_deploy: NULL archive');
SELECT throws_ok($$SELECT cpub_api.function_deploy('hello', '\x504b0304140000000800000000000000000000000000'::bytea)$$,
	'22Q05', 'archive is not gzip-compressed', 'function_deploy: a zip archive');
SELECT throws_ok($$SELECT cpub_api.function_deploy('hello', substr(pg_temp.gz(), 1, 17))$$,
	'22Q05', 'archive is not gzip-compressed', 'function_deploy: shorter than a gzip stream');
SELECT throws_ok($$SELECT cpub_api.function_deploy('hello', pg_temp.gz(), NULL)$$, '22004',
	'activate must be true or false', 'function_deploy: NULL activate');
SELECT throws_ok($$SELECT cpub_api.function_deploy('nope', pg_temp.gz())$$, 'P0002',
	'function "nope" not found', 'function_deploy: unknown function');
SELECT is(cpub_api.function_upload_limit('hello'), 20::bigint * 1048576,
	'function_upload_limit: the free tier''s 20 MB, in bytes');
SELECT is(cpub_api.function_upload_limit(:'hello_id'), 20::bigint * 1048576,
	'function_upload_limit: by id');
SELECT throws_ok($$SELECT cpub_api.function_upload_limit('nope')$$, 'P0002',
	'function "nope" not found', 'function_upload_limit: unknown function');
SELECT throws_ok($$SELECT cpub_api.function_upload_limit(NULL)$$, '22004',
	'function is required', 'function_upload_limit: no function');
SELECT results_eq($$SELECT version, status, active, activate, runtime, archive_sha256,
		archive_size, image, error
	  FROM cpub_api.function_deploy('hello', pg_temp.tgz())$$,
	format($$VALUES (1, 'queued'::text, false, true, 'python'::text, %L::text, 143, NULL::text, NULL::text)$$,
		:'tgz_sha'),
	'function_deploy: version 1 is queued with the archive''s sha256 and size');
SELECT results_eq($$SELECT status, active_version, latest_version, latest_status
	  FROM cpub_api.function_get('hello')$$,
	$$VALUES ('inactive'::text, NULL::int, 1, 'queued'::text)$$,
	'a queued version does not serve');
RESET ROLE;
SELECT pg_temp.vid(:'hello_id', 1) AS v1 \gset
SELECT is((SELECT archive FROM cpub.function_versions WHERE id = :'v1'), pg_temp.tgz(),
	'the archive is stored as uploaded');
SELECT results_eq(format($$SELECT j.kind, j.payload, j.priority, j.state
	  FROM cpub.jobs j JOIN cpub.function_versions v ON v.build_job_id = j.id
	 WHERE v.id = %L$$, :'v1'),
	format($$VALUES ('build'::text, '{"version_id": "%s"}'::jsonb, 50::smallint, 'pending'::text)$$, :'v1'),
	'deploy enqueues a pending build job of priority 50 naming the version');
SELECT results_eq(format($$SELECT detail - 'owner_user_id' - 'owner_organization_id'
	  FROM cpub.audit_log WHERE action = 'function.deploy' AND target_id = %L$$, :'hello_id'),
	format($$VALUES ('{"name": "hello", "version": 1, "archive_sha256": "%s", "archive_size": 143,
		"activate": true}'::jsonb)$$, :'tgz_sha'),
	'function_deploy is audited with the version, sha256 and size');

--
-- The build lifecycle, through the worker.
--
SET LOCAL ROLE cpub_worker;
SELECT throws_ok(format($$SELECT cpub_worker.build_finish(%L, true, '', 'img')$$, :'v1'), '23514',
	format('version %s is queued, not building', :'v1'), 'build_finish: a queued version');
SELECT results_eq(format($$SELECT version_id, function_id, function_name, version, runtime,
		archive, archive_sha256, memory_mb, timeout_seconds FROM cpub_worker.build_start(%L)$$, :'v1'),
	format($$VALUES (%L::uuid, %L::uuid, 'hello'::text, 1, 'python'::text, pg_temp.tgz(), %L::text, 64, 10)$$,
		:'v1', :'hello_id', :'tgz_sha'),
	'build_start returns what the build needs');
SELECT is((SELECT count(*)::int FROM cpub_worker.build_start(:'v1')), 1,
	'build_start again (a retried job) still returns the building version');
SELECT throws_ok(format($$SELECT cpub_worker.build_finish(%L, NULL)$$, :'v1'), '22004',
	'succeeded must be true or false', 'build_finish: NULL succeeded');
SELECT throws_ok(format($$SELECT cpub_worker.build_finish(%L, true, 'log')$$, :'v1'), '22004',
	'a successful build names its image', 'build_finish: success without an image');
SELECT throws_ok(format($$SELECT cpub_worker.build_progress(%L, NULL)$$, :'v1'), '22004',
	'build_log must not be null', 'build_progress: NULL log');
SELECT is(cpub_worker.build_progress(:'v1', E'[cpub] building\nSTEP 1/3'), true,
	'build_progress: the log of a building version');
RESET ROLE;
SET LOCAL ROLE cpub_developer;
SELECT results_eq($$SELECT status, active, build_started_at IS NOT NULL, build_finished_at IS NULL
	  FROM cpub_api.function_versions('hello')$$,
	$$VALUES ('building'::text, false, true, true)$$, 'the version is building');
SELECT is((SELECT build_log FROM cpub_api.function_build_log('hello', 1)), E'[cpub] building\nSTEP 1/3',
	'a follower sees the log of a running build');
RESET ROLE;
SET LOCAL ROLE cpub_worker;
SELECT is(cpub_worker.build_finish(:'v1', true, E'step 1\nok', 'cpub/hello:1'), true,
	'build_finish: a successful build becomes active');
SELECT is(cpub_worker.build_progress(:'v1', 'late'), false,
	'build_progress: a finished build keeps its log');
SELECT throws_ok(format($$SELECT cpub_worker.build_finish(%L, false)$$, :'v1'), '23514',
	format('version %s is ready, not building', :'v1'), 'build_finish: a ready version');
SELECT is_empty(format($$SELECT * FROM cpub_worker.build_start(%L)$$, :'v1'),
	'build_start of a ready version returns no row');
RESET ROLE;
SET LOCAL ROLE cpub_developer;
SELECT results_eq($$SELECT status, active_version, latest_version, latest_status
	  FROM cpub_api.function_get('hello')$$,
	$$VALUES ('active'::text, 1, 1, 'ready'::text)$$, 'the function serves version 1');
SELECT results_eq($$SELECT * FROM cpub_api.function_build_log('hello', 1)$$,
	$$VALUES (1, 'ready'::text, E'step 1\nok'::text, NULL::text)$$, 'function_build_log of a ready version');
SELECT results_eq($$SELECT status, image, build_finished_at IS NOT NULL
	  FROM cpub_api.function_versions('hello')$$,
	$$VALUES ('ready'::text, 'cpub/hello:1'::text, true)$$, 'the ready version has its image');

-- Version 2 fails: version 1 keeps serving.
SELECT results_eq($$SELECT version, archive_sha256, archive_size
	  FROM cpub_api.function_deploy('hello', pg_temp.gz())$$,
	format($$VALUES (2, %L::text, 20)$$, :'gz_sha'), 'function_deploy: version 2');
RESET ROLE;
SELECT pg_temp.vid(:'hello_id', 2) AS v2 \gset
SET LOCAL ROLE cpub_worker;
SELECT is((SELECT count(*)::int FROM cpub_worker.build_start(:'v2')), 1, 'build_start version 2');
SELECT is(cpub_worker.build_finish(:'v2', false, E'error: boom\n', NULL, 'exit status 2'), false,
	'build_finish: a failed build does not become active');
RESET ROLE;
SET LOCAL ROLE cpub_developer;
SELECT results_eq($$SELECT status, active_version, latest_version, latest_status
	  FROM cpub_api.function_get('hello')$$,
	$$VALUES ('active'::text, 1, 2, 'failed'::text)$$,
	'after a failed build the function still serves version 1');
SELECT results_eq($$SELECT * FROM cpub_api.function_build_log('hello', 2)$$,
	$$VALUES (2, 'failed'::text, E'error: boom\n'::text, 'exit status 2'::text)$$,
	'the failed build''s log and error are kept');
SELECT throws_ok($$SELECT * FROM cpub_api.function_build_log('hello', 99)$$, 'P0002',
	'function "hello" has no version 99', 'function_build_log: unknown version');

-- Version 3 is deployed without activate: ready, but not active.
SELECT results_eq($$SELECT version, activate FROM cpub_api.function_deploy('hello', pg_temp.gz(), activate => false)$$,
	$$VALUES (3, false)$$, 'function_deploy: version 3 without activate');
RESET ROLE;
SELECT pg_temp.vid(:'hello_id', 3) AS v3 \gset
SET LOCAL ROLE cpub_worker;
SELECT is((SELECT count(*)::int FROM cpub_worker.build_start(:'v3')), 1, 'build_start version 3');
SELECT is(cpub_worker.build_finish(:'v3', true, '', 'cpub/hello:3'), false,
	'build_finish: a version deployed without activate does not become active');
RESET ROLE;
SET LOCAL ROLE cpub_developer;
SELECT results_eq($$SELECT active_version, latest_status FROM cpub_api.function_get('hello')$$,
	$$VALUES (1, 'ready'::text)$$, 'version 1 still serves');

-- Versions 4 and 5 build at once; 5 finishes first, then 4 must not replace it.
SELECT is((cpub_api.function_deploy('hello', pg_temp.gz())).version, 4, 'function_deploy: version 4');
SELECT is((cpub_api.function_deploy('hello', pg_temp.tgz())).version, 5, 'function_deploy: version 5');
RESET ROLE;
SELECT pg_temp.vid(:'hello_id', 4) AS v4, pg_temp.vid(:'hello_id', 5) AS v5 \gset
SET LOCAL ROLE cpub_worker;
SELECT is((SELECT count(*)::int FROM cpub_worker.build_start(:'v4'))
		  + (SELECT count(*)::int FROM cpub_worker.build_start(:'v5')), 2,
	'build_start versions 4 and 5');
SELECT is(cpub_worker.build_finish(:'v5', true, '', 'cpub/hello:5'), true,
	'build_finish: version 5 becomes active');
SELECT is(cpub_worker.build_finish(:'v4', true, '', 'cpub/hello:4'), false,
	'build_finish: version 4, finishing after 5, does not become active');
RESET ROLE;
SET LOCAL ROLE cpub_developer;
SELECT results_eq($$SELECT status, active_version, latest_version FROM cpub_api.function_get('hello')$$,
	$$VALUES ('active'::text, 5, 5)$$, 'version 5 serves');

-- Version 6 fails without an error message, with a log over 1 MB.
SELECT is((cpub_api.function_deploy('hello', pg_temp.gz())).version, 6, 'function_deploy: version 6');
RESET ROLE;
SELECT pg_temp.vid(:'hello_id', 6) AS v6 \gset
SET LOCAL ROLE cpub_worker;
SELECT is((SELECT count(*)::int FROM cpub_worker.build_start(:'v6')), 1, 'build_start version 6');
SELECT is(cpub_worker.build_finish(:'v6', false, 'HEAD' || repeat('x', 1048576) || 'TAIL'), false,
	'build_finish: version 6 fails');
RESET ROLE;
SET LOCAL ROLE cpub_developer;
SELECT results_eq($$SELECT status, error, octet_length(build_log),
		starts_with(build_log, E'[... earlier output cut ...]\n'), right(build_log, 4),
		strpos(build_log, 'HEAD')
	  FROM cpub_api.function_build_log('hello', 6)$$,
	$$VALUES ('failed'::text, 'build failed'::text, 29 + 1048576, true, 'TAIL'::text, 0)$$,
	'a failed build without an error says build failed; a log keeps its last 1 MB');

-- Version 7 stays queued.
SELECT is((cpub_api.function_deploy('hello', pg_temp.gz())).version, 7, 'function_deploy: version 7');
SELECT results_eq($$SELECT version, status, active, activate FROM cpub_api.function_versions('hello')$$,
	$$VALUES (7, 'queued'::text, false, true), (6, 'failed', false, true), (5, 'ready', true, true),
			 (4, 'ready', false, true), (3, 'ready', false, false), (2, 'failed', false, true),
			 (1, 'ready', false, true)$$,
	'function_versions: newest first, numbers increasing by one, the active one marked');
SELECT results_eq($$SELECT version FROM cpub_api.function_versions('hello', after => 5, "limit" => 2)$$,
	$$VALUES (4), (3)$$, 'function_versions: keyset paging');
SELECT throws_ok($$SELECT * FROM cpub_api.function_versions('hello', "limit" => 501)$$, '22023',
	'page limit must be between 1 and 500', 'function_versions: invalid limit');
SELECT throws_ok($$SELECT * FROM cpub_api.function_versions('nope')$$, 'P0002',
	'function "nope" not found', 'function_versions: unknown function');
RESET ROLE;
SELECT pg_temp.vid(:'hello_id', 7) AS v7 \gset
SELECT is((SELECT count(DISTINCT j.id)::int FROM cpub.jobs j
			 JOIN cpub.function_versions v ON v.build_job_id = j.id
			WHERE v.function_id = :'hello_id' AND j.kind = 'build' AND j.priority = 50), 7,
	'each deploy enqueued its own build job');
SELECT is((SELECT count(*)::int FROM cpub.audit_log
			WHERE action = 'function.deploy' AND target_id = :'hello_id'), 7,
	'each deploy is audited');

--
-- Rollback.
--
SET LOCAL ROLE cpub_developer;
SELECT results_eq($$SELECT version, status, active FROM cpub_api.function_rollback('hello')$$,
	$$VALUES (4, 'ready'::text, true)$$,
	'function_rollback without a version: the newest ready version before the active one');
SELECT is((cpub_api.function_get('hello')).active_version, 4, 'version 4 serves');
SELECT throws_ok($$SELECT cpub_api.function_rollback('hello', 2)$$, '23514',
	'version 2 of function "hello" is failed, not ready', 'function_rollback: a failed version');
SELECT throws_ok($$SELECT cpub_api.function_rollback('hello', 7)$$, '23514',
	'version 7 of function "hello" is queued, not ready', 'function_rollback: a queued version');
SELECT throws_ok($$SELECT cpub_api.function_rollback('hello', 99)$$, 'P0002',
	'function "hello" has no version 99', 'function_rollback: unknown version');
SELECT throws_ok($$SELECT cpub_api.function_rollback('nope', 1)$$, 'P0002',
	'function "nope" not found', 'function_rollback: unknown function');
RESET ROLE;
SET LOCAL ROLE cpub_worker;
SELECT is((SELECT count(*)::int FROM cpub_worker.build_start(:'v7')), 1, 'build_start version 7');
RESET ROLE;
SET LOCAL ROLE cpub_developer;
SELECT throws_ok($$SELECT cpub_api.function_rollback('hello', 7)$$, '23514',
	'version 7 of function "hello" is building, not ready', 'function_rollback: a building version');
SELECT results_eq($$SELECT version, active FROM cpub_api.function_rollback('hello', 4)$$,
	$$VALUES (4, true)$$, 'function_rollback to the active version');
RESET ROLE;
SELECT is((SELECT count(*)::int FROM cpub.audit_log
			WHERE action = 'function.rollback' AND target_id = :'hello_id'), 1,
	'a rollback to the active version changes nothing and is not audited');
SET LOCAL ROLE cpub_developer;
SELECT results_eq($$SELECT version, active FROM cpub_api.function_rollback('hello', 1)$$,
	$$VALUES (1, true)$$, 'function_rollback to a given ready version');
SELECT throws_ok($$SELECT cpub_api.function_rollback('hello')$$, '23514',
	'function "hello" has no earlier ready version', 'function_rollback: nothing earlier than version 1');
SELECT results_eq($$SELECT version, active FROM cpub_api.function_rollback('hello', 3)$$,
	$$VALUES (3, true)$$, 'function_rollback to a ready version that was never active');
SELECT results_eq($$SELECT status, active_version FROM cpub_api.function_get('hello')$$,
	$$VALUES ('active'::text, 3)$$, 'version 3 serves');
SELECT throws_ok($$SELECT cpub_api.function_rollback('api')$$, '23514',
	'function "api" has no earlier ready version', 'function_rollback: a function without versions');
RESET ROLE;
SELECT results_eq(format($$SELECT detail->'from_version', detail->'to_version' FROM cpub.audit_log
	 WHERE action = 'function.rollback' AND target_id = %L ORDER BY id$$, :'hello_id'),
	$$VALUES ('5'::jsonb, '4'::jsonb), ('4', '1'), ('1', '3')$$,
	'each rollback is audited with from and to');

--
-- What a worker serves: the active version with its limits and config
-- generation; a ready version's archive, to build its image again on
-- another host.
--
SET LOCAL ROLE cpub_worker;
SELECT results_eq(format('SELECT * FROM cpub_worker.function_runtime(%L)', :'hello_id'),
	format($$VALUES (%L::uuid, %L::uuid, 3, 'python'::text, 'cpub/hello:3'::text, 64, 10, 4,
		2::bigint)$$, :'hello_id', :'v3'),
	'function_runtime: the active version, its runtime and image, the settings and the config generation');
SELECT is_empty(format('SELECT * FROM cpub_worker.function_runtime(%L)', :'api_id'),
	'function_runtime: no row for a function without an active version');
SELECT is_empty('SELECT * FROM cpub_worker.function_runtime(gen_random_uuid())',
	'function_runtime: no row for an unknown function');
RESET ROLE;
UPDATE cpub.function_versions SET image = NULL WHERE id = :'v3';
SELECT is_empty(format('SELECT * FROM cpub_worker.function_runtime(%L)', :'hello_id'),
	'function_runtime: no row when the active version has no image');
UPDATE cpub.function_versions SET image = 'cpub/hello:3' WHERE id = :'v3';
UPDATE cpub.function_versions SET status = 'failed' WHERE id = :'v3';
SELECT is_empty(format('SELECT * FROM cpub_worker.function_runtime(%L)', :'hello_id'),
	'function_runtime: nor when it is not ready');
UPDATE cpub.function_versions SET status = 'ready' WHERE id = :'v3';

-- Capped by the tier as it is now, as execution_start caps them.
SELECT cpub_admin.tier_update('free', max_memory_mb => 32, max_timeout_seconds => 5,
							  max_concurrency => 2);
SET LOCAL ROLE cpub_developer;
SELECT execution_id AS e_hello FROM cpub_api.function_invoke('hello') \gset
RESET ROLE;
SET LOCAL ROLE cpub_worker;
SELECT results_eq(format('SELECT memory_mb, timeout_seconds, max_concurrency, config_generation
	  FROM cpub_worker.function_runtime(%L)', :'hello_id'),
	$$VALUES (32, 5, 2, 2::bigint)$$,
	'function_runtime: the settings capped by a lowered tier');
SELECT results_eq(format('SELECT version_id, memory_mb, timeout_seconds, max_concurrency, config_generation
	  FROM cpub_worker.execution_start(%L, NULL)', :'e_hello'),
	format('SELECT version_id, memory_mb, timeout_seconds, max_concurrency, config_generation
	  FROM cpub_worker.function_runtime(%L)', :'hello_id'),
	'function_runtime and execution_start agree on the version, the settings and the generation');
RESET ROLE;
SELECT cpub_admin.tier_update('free', max_memory_mb => 256, max_timeout_seconds => 30,
							  max_concurrency => 5);

SELECT md5(v::text) AS v1_row FROM cpub.function_versions v WHERE id = :'v1' \gset
SET LOCAL ROLE cpub_worker;
SELECT results_eq(format('SELECT * FROM cpub_worker.version_archive(%L)', :'v1'),
	format($$VALUES (%L::uuid, %L::uuid, 'hello'::text, 1, 'python'::text, pg_temp.tgz(), %L::text,
		'cpub/hello:1'::text)$$, :'v1', :'hello_id', :'tgz_sha'),
	'version_archive: a ready version (not the active one) keeps its archive after the build: as uploaded, with its sha256 and image');
SELECT is_empty(format('SELECT * FROM cpub_worker.version_archive(%L)', :'v2'),
	'version_archive: no row for a failed version');
SELECT is_empty(format('SELECT * FROM cpub_worker.version_archive(%L)', :'v7'),
	'version_archive: nor for one building');
SELECT is_empty('SELECT * FROM cpub_worker.version_archive(gen_random_uuid())',
	'version_archive: nor for an unknown one');
RESET ROLE;
SELECT is((SELECT md5(v::text) FROM cpub.function_versions v WHERE id = :'v1'), :'v1_row',
	'version_archive changes nothing of the version');
UPDATE cpub.function_versions SET archive = NULL WHERE id = :'v4';
SELECT is_empty(format('SELECT * FROM cpub_worker.version_archive(%L)', :'v4'),
	'version_archive: no row when the archive is gone');

--
-- Another developer: the same name is theirs; ids of others' functions
-- are not found.
--
SELECT pg_temp.act('x@example.com');
SET LOCAL ROLE cpub_developer;
SELECT throws_ok($$SELECT cpub_api.function_get('hello')$$, 'P0002',
	'function "hello" not found', 'another developer: NAME is their own namespace');
SELECT throws_ok(format($$SELECT cpub_api.function_get(%L)$$, :'hello_id'), 'P0002',
	format('function "%s" not found', :'hello_id'), 'another developer: get by id');
SELECT throws_ok(format($$SELECT cpub_api.function_update(%L, memory_mb => 32)$$, :'hello_id'), 'P0002',
	format('function "%s" not found', :'hello_id'), 'another developer: update by id');
SELECT throws_ok(format($$SELECT cpub_api.function_deploy(%L, pg_temp.gz())$$, :'hello_id'), 'P0002',
	format('function "%s" not found', :'hello_id'), 'another developer: deploy by id');
SELECT throws_ok(format($$SELECT cpub_api.function_upload_limit(%L)$$, :'hello_id'), 'P0002',
	format('function "%s" not found', :'hello_id'), 'another developer: upload limit by id');
SELECT throws_ok(format($$SELECT * FROM cpub_api.function_versions(%L)$$, :'hello_id'), 'P0002',
	format('function "%s" not found', :'hello_id'), 'another developer: versions by id');
SELECT throws_ok(format($$SELECT * FROM cpub_api.function_build_log(%L, 1)$$, :'hello_id'), 'P0002',
	format('function "%s" not found', :'hello_id'), 'another developer: build log by id');
SELECT throws_ok(format($$SELECT cpub_api.function_rollback(%L, 1)$$, :'hello_id'), 'P0002',
	format('function "%s" not found', :'hello_id'), 'another developer: rollback by id');
SELECT throws_ok(format($$SELECT cpub_api.function_delete(%L)$$, :'hello_id'), 'P0002',
	format('function "%s" not found', :'hello_id'), 'another developer: delete by id');
SELECT is((cpub_api.function_create('hello', 'python')).name, 'hello',
	'another developer creates a function of the same name');
SELECT results_eq('SELECT name FROM cpub_api.function_list()', $$VALUES ('hello'::text)$$,
	'and lists only their own');
RESET ROLE;

--
-- Organizations: owners and admins manage, members read, others see nothing.
--
SELECT pg_temp.act('o@example.com');
SET LOCAL ROLE cpub_developer;
SELECT results_eq($$SELECT name, organization, endpoint, status
	  FROM cpub_api.function_create('api', 'python', organization => 'acme')$$,
	$$VALUES ('api'::text, 'acme'::text, '/fn/acme/api'::text, 'inactive'::text)$$,
	'an owner creates an organization function (the name is free in the organization)');
SELECT is((cpub_api.function_get('acme/api')).organization, 'acme', 'function_get by ORG/NAME');
SELECT is((cpub_api.function_get('api')).organization, NULL,
	'NAME alone is the caller''s own function');
SELECT throws_ok($$SELECT cpub_api.function_create('api', 'python', organization => 'acme')$$, '23505',
	'function "api" already exists', 'function_create: duplicate name in an organization');
SELECT throws_ok($$SELECT cpub_api.function_get('acme/nope')$$, 'P0002',
	'function "acme/nope" not found', 'function_get: unknown ORG/NAME');
SELECT throws_ok($$SELECT cpub_api.function_get('nope/api')$$, 'P0002',
	'function "nope/api" not found', 'function_get: unknown organization');
SELECT throws_ok($$SELECT cpub_api.function_create('x1', 'python', organization => 'nope')$$, 'P0002',
	'organization "nope" not found', 'function_create: unknown organization');
RESET ROLE;
SELECT id AS org_api_id FROM cpub.functions WHERE name = 'api' AND owner_organization_id IS NOT NULL \gset
SELECT is((SELECT detail->>'owner_organization_id' FROM cpub.audit_log
			WHERE action = 'function.create' AND target_id = :'org_api_id'),
	(SELECT id::text FROM cpub.organizations WHERE name = 'acme'),
	'the audit record of an organization function names the organization');

-- The organization's tier caps its functions, not the creator's tier.
SELECT cpub.clear_identity();
SET LOCAL ROLE cpub_admin_full;
SELECT lives_ok($$SELECT cpub_admin.tier_create('pro', 10, 1024, 300, 20, 1000000, 1, 50)$$,
	'a tier pro with 1 GB of memory and 1 MB archives');
SELECT lives_ok(format($$SELECT cpub_admin.tier_assign_user(%L, 'pro')$$, :'uid_p'),
	'p is on tier pro');
RESET ROLE;
SELECT pg_temp.act('p@example.com');
SET LOCAL ROLE cpub_developer;
SELECT throws_ok($$SELECT cpub_api.function_create('big', 'python', organization => 'acme', memory_mb => 512)$$,
	'54Q02', 'memory_mb 512 is above the max_memory_mb of 256 allowed by tier "free"',
	'an organization function is capped by the organization''s tier');
SELECT results_eq($$SELECT memory_mb, timeout_seconds, max_concurrency
	  FROM cpub_api.function_create('big', 'python', memory_mb => 1024, timeout_seconds => 300,
		max_concurrency => 20)$$,
	$$VALUES (1024, 300, 20)$$, 'the user''s own function is capped by the user''s tier');
SELECT is(cpub_api.function_upload_limit('big'), 1048576::bigint,
	'function_upload_limit: the user''s own function, by the user''s tier (1 MB)');
SELECT is(cpub_api.function_upload_limit('acme/api'), 20::bigint * 1048576,
	'function_upload_limit: an organization function, by the organization''s tier');
SELECT lives_ok($$SELECT cpub_api.function_deploy('big', '\x1f8b08'::bytea || decode(repeat('00', 1048573), 'hex'))$$,
	'function_deploy: an archive of exactly the tier''s limit');
SELECT throws_ok($$SELECT cpub_api.function_deploy('big', '\x1f8b08'::bytea || decode(repeat('00', 1048574), 'hex'))$$,
	'54Q03', 'archive of 1048577 bytes is larger than tier "pro" allows',
	'function_deploy: an archive over the tier''s limit');
RESET ROLE;
SELECT cpub.clear_identity();
SELECT cpub_admin.tier_update('pro', max_archive_mb => 3);
SELECT pg_temp.act('p@example.com');
SET LOCAL ROLE cpub_developer;
SELECT is(cpub_api.function_upload_limit('big'), 3::bigint * 1048576,
	'function_upload_limit: the tier as it is now');
SELECT throws_ok(format($$SELECT cpub_api.function_deploy('big', '\x1f8b08'::bytea || decode(repeat('00', %s), 'hex'))$$,
		cpub_api.function_upload_limit('big') - 2),
	'54Q03', 'archive of 3145729 bytes is larger than tier "pro" allows',
	'function_deploy refuses one byte more than the upload limit');
RESET ROLE;
SELECT cpub.clear_identity();
SELECT cpub_admin.tier_update('pro', max_archive_mb => 1);

-- An admin of the organization manages its functions.
SELECT pg_temp.act('a@example.com');
SET LOCAL ROLE cpub_developer;
SELECT lives_ok($$SELECT cpub_api.function_create('cron', 'python', organization => 'acme')$$,
	'an admin creates an organization function');
SELECT results_eq($$SELECT name FROM cpub_api.function_list(organization => 'acme')$$,
	$$VALUES ('api'::text), ('cron')$$, 'function_list of an organization');
SELECT is((cpub_api.function_update('acme/api', memory_mb => 32)).memory_mb, 32,
	'an admin updates an organization function');
SELECT is((cpub_api.function_deploy('acme/api', pg_temp.gz())).version, 1,
	'an admin deploys an organization function');
SELECT is((cpub_api.function_deploy('acme/api', pg_temp.tgz())).version, 2,
	'and again');
RESET ROLE;
SELECT pg_temp.vid(:'org_api_id', 1) AS ov1, pg_temp.vid(:'org_api_id', 2) AS ov2 \gset
SET LOCAL ROLE cpub_worker;
SELECT is((SELECT count(*)::int FROM cpub_worker.build_start(:'ov1'))
		  + (SELECT count(*)::int FROM cpub_worker.build_start(:'ov2')), 2,
	'the worker starts the organization function''s builds');
SELECT is(cpub_worker.build_finish(:'ov1', true, '', 'cpub/acme-api:1'), true,
	'its version 1 becomes active');
SELECT is(cpub_worker.build_finish(:'ov2', true, '', 'cpub/acme-api:2'), true,
	'then its version 2');
RESET ROLE;
SELECT pg_temp.act('a@example.com');
SET LOCAL ROLE cpub_developer;
SELECT is((cpub_api.function_rollback('acme/api')).version, 1,
	'an admin rolls back an organization function');
RESET ROLE;

-- A plain member reads and changes nothing.
SELECT pg_temp.act('m@example.com');
SET LOCAL ROLE cpub_developer;
SELECT results_eq($$SELECT name FROM cpub_api.function_list(organization => 'acme')$$,
	$$VALUES ('api'::text), ('cron')$$, 'a member lists the organization''s functions');
SELECT results_eq($$SELECT status, active_version, latest_version, memory_mb
	  FROM cpub_api.function_get('acme/api')$$,
	$$VALUES ('active'::text, 1, 2, 32)$$, 'a member gets an organization function');
SELECT is((cpub_api.function_get(:'org_api_id')).name, 'api', 'a member gets it by id');
SELECT results_eq($$SELECT version FROM cpub_api.function_versions('acme/api')$$,
	$$VALUES (2), (1)$$, 'a member lists its versions');
SELECT is((SELECT status FROM cpub_api.function_build_log('acme/api', 2)), 'ready',
	'a member reads a build log');
SELECT throws_ok($$SELECT cpub_api.function_create('mine', 'python', organization => 'acme')$$, '42501',
	'only an owner or an admin can create functions in organization "acme"',
	'a member cannot create organization functions');
SELECT throws_ok($$SELECT cpub_api.function_update('acme/api', memory_mb => 64)$$, '42501',
	'only an owner or an admin of the organization can change function "acme/api"',
	'a member cannot update');
SELECT throws_ok(format($$SELECT cpub_api.function_update(%L, memory_mb => 64)$$, :'org_api_id'), '42501',
	format('only an owner or an admin of the organization can change function "%s"', :'org_api_id'),
	'a member cannot update by id either');
SELECT throws_ok($$SELECT cpub_api.function_deploy('acme/api', pg_temp.gz())$$, '42501',
	'only an owner or an admin of the organization can change function "acme/api"',
	'a member cannot deploy');
SELECT throws_ok($$SELECT cpub_api.function_upload_limit('acme/api')$$, '42501',
	'only an owner or an admin of the organization can change function "acme/api"',
	'a member cannot ask for the upload limit (it takes the right to deploy)');
SELECT throws_ok($$SELECT cpub_api.function_rollback('acme/api', 2)$$, '42501',
	'only an owner or an admin of the organization can change function "acme/api"',
	'a member cannot roll back');
SELECT throws_ok($$SELECT cpub_api.function_delete('acme/api')$$, '42501',
	'only an owner or an admin of the organization can change function "acme/api"',
	'a member cannot delete');
SELECT results_eq($$SELECT memory_mb, active_version, latest_version FROM cpub_api.function_get('acme/api')$$,
	$$VALUES (32, 1, 2)$$, 'what the member tried changed nothing');
RESET ROLE;

-- An outsider finds nothing, by ORG/NAME or by id.
SELECT pg_temp.act('x@example.com');
SET LOCAL ROLE cpub_developer;
SELECT throws_ok($$SELECT cpub_api.function_get('acme/api')$$, 'P0002',
	'function "acme/api" not found', 'outsider: get by ORG/NAME');
SELECT throws_ok(format($$SELECT cpub_api.function_get(%L)$$, :'org_api_id'), 'P0002',
	format('function "%s" not found', :'org_api_id'), 'outsider: get by id');
SELECT throws_ok($$SELECT * FROM cpub_api.function_list(organization => 'acme')$$, 'P0002',
	'organization "acme" not found', 'outsider: list');
SELECT throws_ok($$SELECT cpub_api.function_create('mine', 'python', organization => 'acme')$$, 'P0002',
	'organization "acme" not found', 'outsider: create');
SELECT throws_ok($$SELECT cpub_api.function_update('acme/api', memory_mb => 64)$$, 'P0002',
	'function "acme/api" not found', 'outsider: update');
SELECT throws_ok(format($$SELECT cpub_api.function_update(%L, memory_mb => 64)$$, :'org_api_id'), 'P0002',
	format('function "%s" not found', :'org_api_id'), 'outsider: update by id');
SELECT throws_ok($$SELECT cpub_api.function_deploy('acme/api', pg_temp.gz())$$, 'P0002',
	'function "acme/api" not found', 'outsider: deploy');
SELECT throws_ok($$SELECT cpub_api.function_upload_limit('acme/api')$$, 'P0002',
	'function "acme/api" not found', 'outsider: upload limit');
SELECT throws_ok($$SELECT * FROM cpub_api.function_versions('acme/api')$$, 'P0002',
	'function "acme/api" not found', 'outsider: versions');
SELECT throws_ok($$SELECT * FROM cpub_api.function_build_log('acme/api', 1)$$, 'P0002',
	'function "acme/api" not found', 'outsider: build log');
SELECT throws_ok($$SELECT cpub_api.function_rollback('acme/api', 1)$$, 'P0002',
	'function "acme/api" not found', 'outsider: rollback');
SELECT throws_ok($$SELECT cpub_api.function_delete('acme/api')$$, 'P0002',
	'function "acme/api" not found', 'outsider: delete');
SELECT throws_ok(format($$SELECT cpub_api.function_delete(%L)$$, :'org_api_id'), 'P0002',
	format('function "%s" not found', :'org_api_id'), 'outsider: delete by id');
RESET ROLE;

-- An organization with live functions cannot be deleted.
SELECT pg_temp.act('o@example.com');
SET LOCAL ROLE cpub_developer;
SELECT throws_ok($$SELECT cpub_api.organization_delete('acme')$$, '23503',
	'organization "acme" still has functions', 'organization_delete: live functions');
RESET ROLE;
SELECT cpub.clear_identity();
SET LOCAL ROLE cpub_admin_full;
SELECT throws_ok($$SELECT cpub_admin.organization_delete('acme')$$, '23503',
	'organization "acme" still has functions', 'admin organization_delete: live functions');
RESET ROLE;

--
-- Delete.
--
SELECT pg_temp.act('o@example.com');
SET LOCAL ROLE cpub_developer;
SELECT is((cpub_api.function_deploy('hello', pg_temp.gz())).version, 8, 'function_deploy: version 8 (queued)');
SELECT lives_ok($$SELECT cpub_api.function_delete('hello')$$,
	'function_delete (its NOTIFY cpub_jobs and cpub_versions do not error)');
SELECT throws_ok($$SELECT cpub_api.function_get('hello')$$, 'P0002',
	'function "hello" not found', 'a deleted function is not found by NAME');
SELECT throws_ok(format($$SELECT cpub_api.function_get(%L)$$, :'hello_id'), 'P0002',
	format('function "%s" not found', :'hello_id'), 'nor by id');
SELECT results_eq('SELECT name FROM cpub_api.function_list()',
	$$VALUES ('api'::text), ('sh')$$, 'nor listed');
SELECT throws_ok($$SELECT * FROM cpub_api.function_versions('hello')$$, 'P0002',
	'function "hello" not found', 'its versions are not found');
SELECT throws_ok($$SELECT cpub_api.function_deploy('hello', pg_temp.gz())$$, 'P0002',
	'function "hello" not found', 'it cannot be deployed to');
SELECT throws_ok($$SELECT cpub_api.function_upload_limit('hello')$$, 'P0002',
	'function "hello" not found', 'nor has an upload limit');
SELECT throws_ok(format($$SELECT cpub_api.function_rollback(%L, 1)$$, :'hello_id'), 'P0002',
	format('function "%s" not found', :'hello_id'), 'nor rolled back');
SELECT throws_ok(format($$SELECT cpub_api.function_update(%L, memory_mb => 32)$$, :'hello_id'), 'P0002',
	format('function "%s" not found', :'hello_id'), 'nor updated');
SELECT throws_ok($$SELECT cpub_api.function_delete('hello')$$, 'P0002',
	'function "hello" not found', 'nor deleted again');
RESET ROLE;
SELECT pg_temp.vid(:'hello_id', 8) AS v8 \gset
SELECT results_eq(format($$SELECT status, active_version_id IS NOT NULL, deleted_at IS NOT NULL
	  FROM cpub.functions WHERE id = %L$$, :'hello_id'),
	$$VALUES ('deleted'::text, true, true)$$, 'the function''s status is deleted');
SELECT results_eq(format($$SELECT version, status, error, archive IS NULL
	  FROM cpub.function_versions WHERE function_id = %L ORDER BY version$$, :'hello_id'),
	$$VALUES (1, 'ready'::text, NULL::text, true), (2, 'failed', 'exit status 2', true),
			 (3, 'ready', NULL, true), (4, 'ready', NULL, true), (5, 'ready', NULL, true),
			 (6, 'failed', 'build failed', true), (7, 'failed', 'function deleted', true),
			 (8, 'failed', 'function deleted', true)$$,
	'its archives are dropped and its builds not yet done are failed');
SELECT results_eq(format($$SELECT kind, priority, state, payload->>'function_id'
	  FROM cpub.jobs WHERE kind = 'cleanup' AND payload->>'function_id' = %L$$, :'hello_id'),
	format($$VALUES ('cleanup'::text, 10::smallint, 'pending'::text, %L::text)$$, :'hello_id'),
	'a cleanup job is enqueued');
SELECT set_eq(format($$SELECT jsonb_array_elements_text(payload->'images')
	  FROM cpub.jobs WHERE kind = 'cleanup' AND payload->>'function_id' = %L$$, :'hello_id'),
	ARRAY['cpub/hello:1', 'cpub/hello:3', 'cpub/hello:4', 'cpub/hello:5'],
	'the cleanup job names every image of the function');
SELECT results_eq(format($$SELECT actor_user_id, detail->>'name' FROM cpub.audit_log
	 WHERE action = 'function.delete' AND target_id = %L$$, :'hello_id'),
	format($$VALUES (%L::uuid, 'hello'::text)$$, :'uid_o'), 'function_delete is audited');
SET LOCAL ROLE cpub_worker;
SELECT is_empty(format('SELECT * FROM cpub_worker.function_runtime(%L)', :'hello_id'),
	'function_runtime of a deleted function returns no row');
RESET ROLE;
-- (Its archives are gone too: put one back to see the function's deletion
-- alone keeps version_archive from answering.)
UPDATE cpub.function_versions SET archive = pg_temp.gz() WHERE id = :'v3';
SET LOCAL ROLE cpub_worker;
SELECT is_empty(format('SELECT * FROM cpub_worker.version_archive(%L)', :'v3'),
	'version_archive of a deleted function''s ready version returns no row');
SELECT is_empty(format($$SELECT * FROM cpub_worker.build_start(%L)$$, :'v8'),
	'build_start of a deleted function''s version returns no row');
SELECT throws_ok(format($$SELECT cpub_worker.build_finish(%L, true, '', 'img')$$, :'v7'), '23514',
	format('version %s is failed, not building', :'v7'),
	'build_finish of a build its function''s deletion failed');
RESET ROLE;
SELECT pg_temp.act('o@example.com');
SET LOCAL ROLE cpub_developer;
SELECT results_eq($$SELECT name, status, active_version, latest_version
	  FROM cpub_api.function_create('hello', 'python')$$,
	$$VALUES ('hello'::text, 'inactive'::text, NULL::int, NULL::int)$$,
	'a deleted function''s name can be used again, for a new function');
SELECT isnt((cpub_api.function_get('hello')).id, :'hello_id'::uuid, 'with a new id');
SELECT is((cpub_api.function_deploy('hello', pg_temp.gz())).version, 1, 'whose versions start at 1');

-- The organization's functions deleted, the organization can go.
SELECT lives_ok($$SELECT cpub_api.function_delete('acme/api')$$, 'an owner deletes an organization function');
RESET ROLE;
SELECT pg_temp.act('a@example.com');
SET LOCAL ROLE cpub_developer;
SELECT lives_ok($$SELECT cpub_api.function_delete('acme/cron')$$, 'an admin deletes an organization function');
SELECT is_empty($$SELECT * FROM cpub_api.function_list(organization => 'acme')$$,
	'the organization has no functions left');
RESET ROLE;
SELECT pg_temp.act('o@example.com');
SET LOCAL ROLE cpub_developer;
SELECT lives_ok($$SELECT cpub_api.organization_delete('acme')$$,
	'an organization without live functions can be deleted');
RESET ROLE;
SELECT is((SELECT count(*)::int FROM cpub.functions WHERE id = :'org_api_id'), 0,
	'its deleted functions went with it');
SELECT lives_ok('SET CONSTRAINTS ALL IMMEDIATE', 'and every deferred constraint holds');

--
-- The tier's count of functions.
--
SELECT pg_temp.act('q@example.com');
SET LOCAL ROLE cpub_developer;
SELECT is((SELECT count(*)::int FROM (SELECT cpub_api.function_create(n, 'python')
		FROM unnest(ARRAY['f1', 'f2', 'f3', 'f4', 'deadbeef-0000-4000-8000-000000000000']) n) c), 5,
	'five functions, as many as the free tier allows');
SELECT throws_ok($$SELECT cpub_api.function_create('f6', 'python')$$, '54Q02',
	'tier "free" allows at most 5 functions', 'function_create: max_functions reached');
SELECT throws_ok($$SELECT cpub_api.function_create('Bad', 'python')$$, '22Q04',
	'invalid function name "Bad"', 'a bad name is still a bad name at the limit');
SELECT is((cpub_api.function_get('deadbeef-0000-4000-8000-000000000000')).name,
	'deadbeef-0000-4000-8000-000000000000', 'a function named like an id is found by NAME');
SELECT lives_ok($$SELECT cpub_api.function_delete('f1')$$, 'delete one');
SELECT lives_ok($$SELECT cpub_api.function_create('f6', 'python')$$,
	'deleted functions do not count');
RESET ROLE;

--
-- A tier lowered below what a function has: its function still reads.
--
SELECT cpub.clear_identity();
SET LOCAL ROLE cpub_admin_full;
SELECT lives_ok($$SELECT cpub_admin.tier_update('pro', max_memory_mb => 128)$$,
	'an admin lowers tier pro''s memory');
RESET ROLE;
SELECT pg_temp.act('p@example.com');
SET LOCAL ROLE cpub_developer;
SELECT results_eq($$SELECT memory_mb, latest_version FROM cpub_api.function_get('big')$$,
	$$VALUES (1024, 1)$$, 'function_get of a function above the lowered cap');
SELECT results_eq($$SELECT name, memory_mb FROM cpub_api.function_list()$$,
	$$VALUES ('big'::text, 1024)$$, 'function_list too');
SELECT results_eq($$SELECT version, status FROM cpub_api.function_versions('big')$$,
	$$VALUES (1, 'queued'::text)$$, 'function_versions too');
SELECT throws_ok($$SELECT cpub_api.function_create('big2', 'python', memory_mb => 256)$$, '54Q02',
	'memory_mb 256 is above the max_memory_mb of 128 allowed by tier "pro"', 'new functions get the lowered cap');
RESET ROLE;

--
-- Row-level security: a role that could read the tables sees only the
-- caller's functions and their organizations'.
--
CREATE ROLE cpub_test_fn_rls;
GRANT USAGE ON SCHEMA cpub TO cpub_test_fn_rls;
GRANT SELECT ON cpub.functions, cpub.function_versions, cpub.owner_usage TO cpub_test_fn_rls;
GRANT EXECUTE ON FUNCTION cpub.current_user_id(), cpub.organization_ids_of(uuid),
	cpub.function_visible(uuid, uuid) TO cpub_test_fn_rls;
SELECT cpub.clear_identity();
SET LOCAL ROLE cpub_admin_full;
SELECT lives_ok($$SELECT cpub_admin.tier_create('small', 1, 64, 5, 2, 1000, 1, 1)$$,
	'a tier small: one function of 64 MB, 5 s, 2 at once');
SELECT lives_ok($$SELECT cpub_admin.organization_create('beta', 'o@example.com')$$,
	'an organization beta owned by o');
SELECT lives_ok($$SELECT cpub_admin.tier_assign_organization('beta', 'small')$$,
	'beta is on tier small');
RESET ROLE;
SELECT pg_temp.act('o@example.com');
SET LOCAL ROLE cpub_developer;
SELECT results_eq($$SELECT memory_mb, timeout_seconds, max_concurrency
	  FROM cpub_api.function_create('web', 'python', organization => 'beta')$$,
	$$VALUES (64, 5, 2)$$, 'the defaults are lowered to the organization''s tier caps');
SELECT throws_ok($$SELECT cpub_api.function_create('web2', 'python', organization => 'beta')$$,
	'54Q02', 'tier "small" allows at most 1 functions',
	'the organization''s tier counts its functions, not the creator''s');
RESET ROLE;
SELECT pg_temp.act('m@example.com');
SET LOCAL ROLE cpub_test_fn_rls;
SELECT is_empty('SELECT * FROM cpub.functions', 'RLS: a developer without functions sees none');
RESET ROLE;
SELECT pg_temp.act('o@example.com');
SET LOCAL ROLE cpub_test_fn_rls;
SELECT results_eq('SELECT name FROM cpub.functions WHERE deleted_at IS NULL ORDER BY name',
	$$VALUES ('api'::text), ('hello'), ('sh'), ('web')$$,
	'RLS: a developer sees their own functions and their organizations''');
SELECT results_eq('SELECT f.name, v.version FROM cpub.function_versions v JOIN cpub.functions f ON f.id = v.function_id WHERE f.deleted_at IS NULL',
	$$VALUES ('hello'::text, 1)$$, 'RLS: and only the versions of those');
SELECT is((SELECT count(*)::int FROM cpub.owner_usage), 2,
	'RLS: and only their own and their organizations'' usage rows');
RESET ROLE;
SELECT pg_temp.act('x@example.com');
SET LOCAL ROLE cpub_test_fn_rls;
SELECT results_eq('SELECT name FROM cpub.functions', $$VALUES ('hello'::text)$$,
	'RLS: another developer sees only theirs');
SELECT is_empty('SELECT * FROM cpub.function_versions', 'RLS: and no one else''s versions');
RESET ROLE;

--
-- The admin list of functions.
--
SELECT cpub.clear_identity();
SELECT (array_agg(id ORDER BY id))[1] AS first_id, (array_agg(id ORDER BY id))[2] AS second_id
  FROM cpub.functions WHERE deleted_at IS NULL \gset
SET LOCAL ROLE cpub_admin_viewer;
SELECT set_eq($$SELECT name, owner_id FROM cpub_admin.function_list(search => 'HEL')$$,
	format($$VALUES ('hello'::text, %L::uuid), ('hello', %L::uuid)$$, :'uid_o', :'uid_x'),
	'viewer lists functions, searching part of a name in any case');
SELECT results_eq($$SELECT status, count(*)::int FROM cpub_admin.function_list(search => 'hello',
		include_deleted => true) GROUP BY status ORDER BY status$$,
	$$VALUES ('deleted'::text, 1), ('inactive', 2)$$, 'function_list: deleted ones on request');
SELECT results_eq(format($$SELECT name FROM cpub_admin.function_list(owner_id => %L)$$, :'uid_x'),
	$$VALUES ('hello'::text)$$, 'function_list: one owner''s functions');
SELECT results_eq($$SELECT organization, endpoint FROM cpub_admin.function_list(search => 'web')$$,
	$$VALUES ('beta'::text, '/fn/beta/web'::text)$$, 'function_list names an organization''s function''s organization');
SELECT results_eq(format($$SELECT id FROM cpub_admin.function_list(after => %L, "limit" => 1)$$, :'first_id'),
	format($$VALUES (%L::uuid)$$, :'second_id'), 'function_list: keyset paging by id');
SELECT throws_ok($$SELECT * FROM cpub_admin.function_list("limit" => 0)$$, '22023',
	'page limit must be between 1 and 500', 'function_list: invalid limit');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
