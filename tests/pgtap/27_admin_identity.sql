-- tests/pgtap/27_admin_identity.sql: admins signed in through OpenID Connect
-- (cpub_api.authenticate_admin, authenticate_linked, user_link_oidc), the
-- audit records they leave, and the split between viewer and full admin.
BEGIN;
SELECT plan(47);

SELECT cpub_api.register('dana@example.com', 'correct horse', 'Dana');
SELECT cpub_api.register('eve@example.com', 'correct horse', 'Eve');
-- SECURITY DEFINER: the tests call it under roles that cannot read cpub.
CREATE FUNCTION pg_temp.uid(email text) RETURNS uuid
	LANGUAGE sql STABLE SECURITY DEFINER AS
	$$ SELECT uuid FROM cpub.users WHERE users.email = uid.email $$;

--
-- Who may call the gateways: cpub_httpd only.
--
SELECT ok(has_function_privilege('cpub_httpd',
		  'cpub_api.authenticate_admin(text, text, text)', 'EXECUTE'),
		  'cpub_httpd may call authenticate_admin');
SELECT ok(has_function_privilege('cpub_httpd',
		  'cpub_api.authenticate_linked(text)', 'EXECUTE'),
		  'cpub_httpd may call authenticate_linked');
SELECT ok(NOT has_function_privilege(r, 'cpub_api.authenticate_admin(text, text, text)',
		  'EXECUTE'), r || ' may not call authenticate_admin')
  FROM unnest(ARRAY['cpub_anon', 'cpub_developer', 'cpub_admin_viewer',
					'cpub_admin_full', 'cpub_worker']) r;
SELECT ok(NOT has_function_privilege('cpub_developer',
		  'cpub_api.authenticate_linked(text)', 'EXECUTE'),
		  'a developer may not call authenticate_linked');
SELECT ok(NOT has_function_privilege(r, 'cpub.set_admin_identity(text, text, uuid)',
		  'EXECUTE'), r || ' may not set an admin identity directly')
  FROM unnest(ARRAY['cpub_anon', 'cpub_developer', 'cpub_httpd']) r;

SET LOCAL ROLE cpub_developer;
SELECT throws_ok($$SELECT cpub_api.authenticate_admin('sub-1', 'a@b.c', 'full_admin')$$,
				 '42501', NULL, 'a developer cannot make itself an admin');
RESET ROLE;

--
-- authenticate_admin, as the front calls it.
--
SET LOCAL ROLE cpub_httpd;
SELECT is((SELECT role FROM cpub_api.authenticate_admin('kc-admin-1', 'ada@corp.example', 'full_admin')),
		  'cpub_admin_full', 'full_admin maps to cpub_admin_full');
SELECT is((SELECT role FROM cpub_api.authenticate_admin('kc-viewer-1', NULL, 'viewer')),
		  'cpub_admin_viewer', 'viewer maps to cpub_admin_viewer');
SELECT throws_ok($$SELECT cpub_api.authenticate_admin('kc-1', NULL, 'developer')$$,
				 '22023', 'invalid admin role "developer"', 'another role is refused');
SELECT throws_ok($$SELECT cpub_api.authenticate_admin('kc-1', NULL, NULL)$$,
				 '22023', NULL, 'no role is refused');
SELECT throws_ok($$SELECT cpub_api.authenticate_admin(NULL, NULL, 'viewer')$$,
				 '22004', 'the admin''s subject must not be null', 'no subject is refused');
SELECT throws_ok($$SELECT cpub_api.authenticate_admin('', NULL, 'viewer')$$,
				 '22023', 'the admin''s subject must be 1 to 255 bytes', 'an empty subject is refused');
SELECT throws_ok($$SELECT cpub_api.authenticate_admin(repeat('s', 256), NULL, 'viewer')$$,
				 '22023', 'the admin''s subject must be 1 to 255 bytes', 'a long subject is refused');
SELECT throws_ok($$SELECT cpub_api.authenticate_admin('kc-1', repeat('e', 321), 'viewer')$$,
				 '22023', 'the admin''s email must be at most 320 bytes', 'a long email is refused');
RESET ROLE;

-- A full admin's change is audited under the admin.
SELECT cpub_api.authenticate_admin('kc-admin-1', 'ada@corp.example', 'full_admin');
SELECT is((SELECT subject FROM cpub.current_admin()), 'kc-admin-1',
		  'the transaction acts for the admin');
SELECT is(cpub.current_user_id(), NULL, 'and for no developer');
SET LOCAL ROLE cpub_admin_full;
SELECT lives_ok($$SELECT cpub_admin.user_disable(pg_temp.uid('dana@example.com'), 'spam')$$,
				'a full admin disables a user');
RESET ROLE;
SELECT results_eq(
	$$SELECT actor_kind, actor_user_id, actor_name, detail->>'admin_subject',
			 detail->>'admin_email', detail->>'admin_role'
		FROM cpub.audit_log WHERE action = 'user.disable'$$,
	$$VALUES ('admin'::text, NULL::uuid, 'ada@corp.example'::text, 'kc-admin-1'::text,
			  'ada@corp.example'::text, 'cpub_admin_full'::text)$$,
	'the audit record names the admin: kind, email, subject, role');

-- What a full admin grants or decides names the admin, as the audit does.
SET LOCAL ROLE cpub_admin_full;
SELECT is((SELECT granted_by FROM cpub_admin.feature_role_grant(
			  pg_temp.uid('eve@example.com'), 'beta')),
		  'ada@corp.example', 'a feature role granted by an admin names the admin');
RESET ROLE;
INSERT INTO cpub.early_access_requests (user_id, reason)
VALUES (pg_temp.uid('eve@example.com'), 'to try it');
SET LOCAL ROLE cpub_admin_full;
SELECT is((SELECT decided_by FROM cpub_admin.early_access_approve(
			  (SELECT id FROM cpub_admin.early_access_list()))),
		  'ada@corp.example', 'an early access decision names the admin');
RESET ROLE;

-- A viewer reads and cannot write; the database refuses.
SELECT cpub_api.authenticate_admin('kc-viewer-1', NULL, 'viewer');
SET LOCAL ROLE cpub_admin_viewer;
SELECT is((SELECT count(*)::int FROM cpub_admin.user_list()), 2, 'a viewer lists users');
SELECT throws_ok($$SELECT cpub_admin.user_enable(pg_temp.uid('dana@example.com'))$$,
				 '42501', NULL, 'a viewer cannot enable a user');
SELECT throws_ok($$SELECT cpub_admin.user_link_oidc(pg_temp.uid('eve@example.com'), 'kc-x')$$,
				 '42501', NULL, 'a viewer cannot link a user');
RESET ROLE;

--
-- Linking a user to a subject.
--
SELECT cpub_api.authenticate_admin('kc-admin-1', 'ada@corp.example', 'full_admin');
SET LOCAL ROLE cpub_admin_full;
SELECT is((cpub_admin.user_link_oidc(pg_temp.uid('eve@example.com'), 'kc-admin-1')).keycloak_user_id,
		  'kc-admin-1', 'a full admin links a user to a subject');
SELECT throws_ok($$SELECT cpub_admin.user_link_oidc(pg_temp.uid('dana@example.com'), 'kc-admin-1')$$,
				 '23505', 'the subject is linked to another user',
				 'a subject links one user at most');
SELECT throws_ok($$SELECT cpub_admin.user_link_oidc(pg_temp.uid('dana@example.com'), repeat('k', 256))$$,
				 '22023', 'the subject must be at most 255 characters', 'a long subject is refused');
SELECT throws_ok($$SELECT cpub_admin.user_link_oidc(gen_random_uuid(), 'kc-2')$$,
				 'P0002', NULL, 'an unknown user is 404');
RESET ROLE;
SELECT is((SELECT actor_kind || ' ' || (detail->>'subject') FROM cpub.audit_log
			WHERE action = 'user.link_oidc'), 'admin kc-admin-1', 'the link is audited');

-- Once linked, the admin's changes also name that user.
SELECT cpub_api.authenticate_admin('kc-admin-1', 'ada@corp.example', 'full_admin');
SELECT is((SELECT user_id FROM cpub.current_admin()), pg_temp.uid('eve@example.com'),
		  'the admin identity carries the linked user');
SET LOCAL ROLE cpub_admin_full;
SELECT cpub_admin.user_enable(pg_temp.uid('dana@example.com'));
RESET ROLE;
SELECT is((SELECT actor_user_id FROM cpub.audit_log WHERE action = 'user.enable'),
		  pg_temp.uid('eve@example.com'), 'a linked admin''s change is audited under the user too');

--
-- authenticate_linked: an admin token on a developer's route.
--
SET LOCAL ROLE cpub_httpd;
SELECT is((SELECT user_id FROM cpub_api.authenticate_linked('kc-admin-1')),
		  pg_temp.uid('eve@example.com'), 'a linked subject acts as its developer');
RESET ROLE;
SELECT is(cpub.current_user_id(), pg_temp.uid('eve@example.com'), 'the developer identity is set');
SELECT is(cpub.current_session_id(), NULL, 'with no session');
SELECT is((SELECT subject FROM cpub.current_admin()), NULL, 'and no admin identity');
SET LOCAL ROLE cpub_developer;
SELECT is((SELECT email FROM cpub_api.me()), 'eve@example.com', 'me() is the linked developer');
RESET ROLE;
SET LOCAL ROLE cpub_httpd;
SELECT throws_ok($$SELECT cpub_api.authenticate_linked('kc-nobody')$$,
				 '28000', 'this admin token is not linked to a developer',
				 'an unlinked subject is refused');
RESET ROLE;
UPDATE cpub.users SET status = 'blocked' WHERE email = 'eve@example.com';
SET LOCAL ROLE cpub_httpd;
SELECT throws_ok($$SELECT cpub_api.authenticate_linked('kc-admin-1')$$,
				 '28000', 'this admin token is not linked to a developer',
				 'a blocked linked user is refused');
RESET ROLE;

-- Unlinking.
SELECT cpub_api.authenticate_admin('kc-admin-1', 'ada@corp.example', 'full_admin');
SET LOCAL ROLE cpub_admin_full;
SELECT is((cpub_admin.user_link_oidc(pg_temp.uid('eve@example.com'), NULL)).keycloak_user_id,
		  NULL, 'a null subject unlinks');
RESET ROLE;

-- A developer identity set after an admin's replaces it.
SELECT cpub_api.authenticate_admin('kc-admin-1', NULL, 'viewer');
SELECT cpub.set_user_identity(pg_temp.uid('dana@example.com'), gen_random_uuid(), false);
SELECT is((SELECT subject FROM cpub.current_admin()), NULL,
		  'a developer identity clears the admin identity');

-- The identity ends with its subtransaction or transaction.
SAVEPOINT s;
SELECT cpub_api.authenticate_admin('kc-admin-2', NULL, 'viewer');
ROLLBACK TO SAVEPOINT s;
SELECT is((SELECT subject FROM cpub.current_admin()), NULL,
		  'rolling back to a savepoint forgets the admin');
SELECT cpub.clear_identity();

-- An admin at psql under the database role, with no token: audited by role.
SET LOCAL ROLE cpub_admin_full;
SELECT cpub_admin.user_disable(pg_temp.uid('dana@example.com'), 'again');
RESET ROLE;
SELECT is((SELECT actor_kind || ' ' || actor_name FROM cpub.audit_log
			WHERE action = 'user.disable' ORDER BY id DESC LIMIT 1),
		  'db_role ' || session_user, 'an admin at psql is audited by database role');

SELECT * FROM finish();
ROLLBACK;
