-- tests/pgtap/40_feature_roles.sql: feature roles (sql/40_feature_roles.sql).
BEGIN;
SELECT plan(44);

INSERT INTO cpub.users (uuid, email, password_hash) VALUES
	('a0000000-0000-0000-0000-00000000000a', 'fr-a@example.com', 'x'),
	('b0000000-0000-0000-0000-00000000000b', 'fr-b@example.com', 'x');

-- The table.
SELECT has_table('cpub', 'feature_roles', 'cpub.feature_roles exists');
SELECT ok((SELECT relrowsecurity FROM pg_class
			WHERE oid = 'cpub.feature_roles'::regclass),
		  'feature_roles has row-level security');
SELECT ok((SELECT 'cpub.feature_roles'::regclass = ANY (extconfig)
			 FROM pg_extension WHERE extname = 'containerpub'),
		  'feature_roles rows are dumped by pg_dump');

-- Granting, as a full admin at psql.
SET LOCAL ROLE cpub_admin_full;
SELECT results_eq(
	$$SELECT user_id, role, granted_by
		FROM cpub_admin.feature_role_grant('a0000000-0000-0000-0000-00000000000a', 'beta')$$,
	$$VALUES ('a0000000-0000-0000-0000-00000000000a'::uuid, 'beta'::text, 'postgres'::text)$$,
	'feature_role_grant returns the grant, granted by the database role');
SELECT lives_ok(
	$$SELECT cpub_admin.feature_role_grant('a0000000-0000-0000-0000-00000000000a', 'gpu')$$,
	'a user may hold several roles');
SELECT lives_ok(
	$$SELECT cpub_admin.feature_role_grant('b0000000-0000-0000-0000-00000000000b', 'beta')$$,
	'several users may hold a role');
SELECT throws_ok(
	$$SELECT cpub_admin.feature_role_grant('a0000000-0000-0000-0000-00000000000a', 'beta')$$,
	'23505', 'user already holds feature role "beta"',
	'granting a role already held is 23505');
SELECT throws_ok(
	$$SELECT cpub_admin.feature_role_grant(gen_random_uuid(), 'beta')$$,
	'P0002', 'user does not exist', 'granting to an unknown user is P0002');
SELECT throws_ok(
	$$SELECT cpub_admin.feature_role_grant(NULL, 'beta')$$,
	'P0002', 'user does not exist', 'granting to a NULL user is P0002');
SELECT throws_ok(
	$$SELECT cpub_admin.feature_role_grant('a0000000-0000-0000-0000-00000000000a', 'Beta-Test')$$,
	'22Q04', 'invalid feature role name "Beta-Test"',
	'an invalid role name is 22Q04');
SELECT throws_ok(
	$$SELECT cpub_admin.feature_role_grant('a0000000-0000-0000-0000-00000000000a', '')$$,
	'22Q04', NULL, 'an empty role name is 22Q04');
SELECT throws_ok(
	$$SELECT cpub_admin.feature_role_grant('a0000000-0000-0000-0000-00000000000a', NULL)$$,
	'22004', 'feature role must not be null', 'a NULL role is 22004');
RESET ROLE;

SELECT results_eq(
	$$SELECT actor_kind, actor_name, target_kind, target_id, detail
		FROM cpub.audit_log WHERE action = 'feature_role.grant' ORDER BY id LIMIT 1$$,
	$$VALUES ('db_role'::text, 'postgres'::text, 'user'::text,
			  'a0000000-0000-0000-0000-00000000000a'::text, '{"role": "beta"}'::jsonb)$$,
	'a grant is audited as feature_role.grant on the user');
SELECT is((SELECT count(*)::int FROM cpub.audit_log WHERE action = 'feature_role.grant'),
		  3, 'only the successful grants are audited');

-- cpub.has_feature_role, the gate of later features.
SELECT ok(cpub.has_feature_role('a0000000-0000-0000-0000-00000000000a', 'beta'),
		  'has_feature_role: true for a held role');
SELECT ok(NOT cpub.has_feature_role('b0000000-0000-0000-0000-00000000000b', 'gpu'),
		  'has_feature_role: false for a role not held');
SELECT ok(NOT cpub.has_feature_role(NULL, 'beta'), 'has_feature_role: false for NULL');
SELECT is(cpub.has_feature_role('a0000000-0000-0000-0000-00000000000a', 'beta')::text,
		  'true', 'has_feature_role is not NULL');

-- Listing, as a viewer.
SET LOCAL ROLE cpub_admin_viewer;
SELECT results_eq(
	$$SELECT email, role FROM cpub_admin.feature_role_list()$$,
	$$VALUES ('fr-a@example.com'::text, 'beta'::text), ('fr-a@example.com', 'gpu'),
			 ('fr-b@example.com', 'beta')$$,
	'feature_role_list() lists every grant by email and role');
SELECT results_eq(
	$$SELECT role, granted_by FROM cpub_admin.feature_role_list('b0000000-0000-0000-0000-00000000000b')$$,
	$$VALUES ('beta'::text, 'postgres'::text)$$,
	'feature_role_list(user_id) lists one user''s grants');
SELECT results_eq(
	$$SELECT email FROM cpub_admin.feature_role_list(role => 'gpu')$$,
	$$VALUES ('fr-a@example.com'::text)$$,
	'feature_role_list(role => ...) lists one role''s holders');
SELECT throws_ok(
	$$SELECT * FROM cpub_admin.feature_role_list(gen_random_uuid())$$,
	'P0002', 'user does not exist', 'listing an unknown user is P0002');
SELECT throws_ok(
	$$SELECT cpub_admin.feature_role_grant('b0000000-0000-0000-0000-00000000000b', 'gpu')$$,
	'42501', NULL, 'a viewer cannot grant');
SELECT throws_ok(
	$$SELECT cpub_admin.feature_role_revoke('a0000000-0000-0000-0000-00000000000a', 'gpu')$$,
	'42501', NULL, 'a viewer cannot revoke');
RESET ROLE;

-- Revoking.
SET LOCAL ROLE cpub_admin_full;
SELECT lives_ok(
	$$SELECT cpub_admin.feature_role_revoke('a0000000-0000-0000-0000-00000000000a', 'gpu')$$,
	'feature_role_revoke revokes');
SELECT throws_ok(
	$$SELECT cpub_admin.feature_role_revoke('a0000000-0000-0000-0000-00000000000a', 'gpu')$$,
	'P0002', 'user does not hold feature role "gpu"',
	'revoking a role not held is P0002');
SELECT throws_ok(
	$$SELECT cpub_admin.feature_role_revoke(gen_random_uuid(), 'gpu')$$,
	'P0002', 'user does not exist', 'revoking from an unknown user is P0002');
RESET ROLE;
SELECT ok(NOT cpub.has_feature_role('a0000000-0000-0000-0000-00000000000a', 'gpu'),
		  'a revoked role is no longer held');
SELECT results_eq(
	$$SELECT actor_kind, target_id, detail->>'role', detail->>'granted_by'
		FROM cpub.audit_log WHERE action = 'feature_role.revoke'$$,
	$$VALUES ('db_role'::text, 'a0000000-0000-0000-0000-00000000000a'::text,
			  'gpu'::text, 'postgres'::text)$$,
	'a revoke is audited as feature_role.revoke, with the grant it removed');

-- Developers and anonymous callers cannot reach the admin functions; anon
-- cannot reach the developer ones either.
SET LOCAL ROLE cpub_developer;
SELECT throws_ok($$SELECT * FROM cpub_admin.feature_role_list()$$,
				 '42501', NULL, 'a developer cannot list grants');
SELECT throws_ok(
	$$SELECT cpub_admin.feature_role_grant('b0000000-0000-0000-0000-00000000000b', 'gpu')$$,
	'42501', NULL, 'a developer cannot grant');
SELECT throws_ok(
	$$SELECT cpub_admin.feature_role_revoke('b0000000-0000-0000-0000-00000000000b', 'beta')$$,
	'42501', NULL, 'a developer cannot revoke');
SELECT throws_ok($$SELECT cpub.has_feature_role('b0000000-0000-0000-0000-00000000000b', 'beta')$$,
				 '42501', NULL, 'a developer cannot call the private helper');
SELECT throws_ok($$SELECT * FROM cpub_api.my_feature_roles()$$,
				 '28000', 'not authenticated', 'my_feature_roles needs a session');
SELECT throws_ok($$SELECT cpub_api.has_feature_role('beta')$$,
				 '28000', 'not authenticated', 'has_feature_role needs a session');
RESET ROLE;
SET LOCAL ROLE cpub_anon;
SELECT throws_ok($$SELECT * FROM cpub_api.my_feature_roles()$$,
				 '42501', NULL, 'anon cannot call my_feature_roles');
SELECT throws_ok($$SELECT cpub_api.has_feature_role('beta')$$,
				 '42501', NULL, 'anon cannot call has_feature_role');
SELECT throws_ok($$SELECT * FROM cpub_admin.feature_role_list()$$,
				 '42501', NULL, 'anon cannot list grants');
RESET ROLE;

-- The developer's own view.
SELECT cpub.set_user_identity('a0000000-0000-0000-0000-00000000000a', gen_random_uuid(), false);
SET LOCAL ROLE cpub_developer;
SELECT results_eq($$SELECT role FROM cpub_api.my_feature_roles()$$,
				  $$VALUES ('beta'::text)$$, 'my_feature_roles lists the caller''s roles');
SELECT ok(cpub_api.has_feature_role('beta'), 'has_feature_role(role): true when held');
SELECT ok(NOT cpub_api.has_feature_role('gpu'), 'has_feature_role(role): false when not held');
RESET ROLE;
SELECT cpub.set_user_identity('b0000000-0000-0000-0000-00000000000b', gen_random_uuid(), false);
SET LOCAL ROLE cpub_developer;
SELECT results_eq($$SELECT role FROM cpub_api.my_feature_roles()$$,
				  $$VALUES ('beta'::text)$$, 'my_feature_roles shows only the caller''s roles');
RESET ROLE;
SELECT cpub.set_user_identity('b0000000-0000-0000-0000-00000000000b', gen_random_uuid(), true);
SET LOCAL ROLE cpub_developer;
SELECT throws_ok($$SELECT * FROM cpub_api.my_feature_roles()$$,
				 '42501', 'password change required',
				 'my_feature_roles is refused while a temporary password must be changed');
RESET ROLE;

-- Row-level security: a role subject to it sees only its user's rows.
SELECT cpub.set_user_identity('b0000000-0000-0000-0000-00000000000b', gen_random_uuid(), false);
CREATE ROLE cpub_test_rls NOLOGIN;
GRANT USAGE ON SCHEMA cpub TO cpub_test_rls;
GRANT SELECT ON cpub.feature_roles TO cpub_test_rls;
GRANT EXECUTE ON FUNCTION cpub.current_user_id() TO cpub_test_rls;
SET LOCAL ROLE cpub_test_rls;
SELECT results_eq($$SELECT role FROM cpub.feature_roles$$,
				  $$VALUES ('beta'::text)$$,
				  'the RLS policy shows a user only their own feature roles');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
