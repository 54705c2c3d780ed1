-- tests/pgtap/01_search_path_hijack.sql: a caller's temporary objects must
-- not run inside our SECURITY DEFINER functions.  Without pg_temp listed
-- last in their search_path, PostgreSQL looks in pg_temp first for types, so
-- a pg_temp.text or pg_temp.uuid domain whose CHECK calls the caller's code
-- ran that code as the function's owner (a superuser).  The inlinable row
-- projections (cpub.function_info and the like) set no search_path of their
-- own: they run inside our functions, under theirs, and nobody else may call
-- them.
BEGIN;
SELECT plan(6);

-- The spy records the search_path it ran under: inside our functions it is
-- theirs (pgTAP's own functions, which pin none, trip it too).
CREATE TABLE pg_temp.hijacked (who name, path pg_catalog.text);
GRANT INSERT ON pg_temp.hijacked TO PUBLIC;
CREATE FUNCTION pg_temp.spy(v pg_catalog.text) RETURNS boolean
	LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO pg_temp.hijacked
	VALUES (current_user, pg_catalog.current_setting('search_path'));
	RETURN true;
END $$;
CREATE DOMAIN pg_temp.text AS pg_catalog.text CHECK (pg_temp.spy(VALUE));
CREATE DOMAIN pg_temp.uuid AS pg_catalog.uuid CHECK (pg_temp.spy(VALUE::pg_catalog.text));
CREATE DOMAIN pg_temp.jsonb AS pg_catalog.jsonb CHECK (pg_temp.spy(VALUE::pg_catalog.text));

SELECT cpub_api.register('mallory@example.com', 'correct horse') IS NOT NULL AS registered \gset
SET LOCAL ROLE cpub_admin_viewer;
SELECT lives_ok($$SELECT count(*) FROM cpub_admin.user_list(search => 'mallory')$$,
				'an admin function runs with the caller''s pg_temp domains around');
RESET ROLE;
SET LOCAL ROLE cpub_anon;
SELECT throws_ok($$SELECT cpub_api.login('mallory@example.com', 'wrong password')$$, '28P01', NULL,
				 'login too');
RESET ROLE;
SELECT cpub.set_user_identity(u.uuid, gen_random_uuid(), false)
  FROM cpub.users u WHERE u.email = 'mallory@example.com';
SET LOCAL ROLE cpub_developer;
SELECT lives_ok($$
	SELECT cpub_api.function_create('spy', 'python');
	SELECT count(*) FROM cpub_api.function_list();
	SELECT cpub_api.function_get('spy');
	SELECT count(*) FROM cpub_api.function_versions('spy');
$$, 'so do developer functions that use the inlined row projections');
-- (Projections that read no table, so that only the privilege to call them
-- is tested.)
SELECT throws_ok('SELECT * FROM cpub.version_info(NULL::cpub.function_versions, NULL)',
				 '42501', NULL, 'a developer cannot call a row projection itself');
RESET ROLE;
SET LOCAL ROLE cpub_admin_viewer;
SELECT throws_ok('SELECT * FROM cpub.function_key_info(NULL::cpub.function_keys)',
				 '42501', NULL, 'nor can an admin');
RESET ROLE;
SELECT is((SELECT count(*)::int FROM pg_temp.hijacked WHERE path LIKE '%cpub%'), 0,
		  'no temporary domain of the caller ran inside them');

SELECT * FROM finish();
ROLLBACK;
