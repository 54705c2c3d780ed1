-- tests/pgtap/50_audit.sql: reading the audit log (sql/50_audit.sql).
BEGIN;
SELECT plan(32);

DELETE FROM cpub.audit_log;
INSERT INTO cpub.users (uuid, email, password_hash) VALUES
	('a1000000-0000-0000-0000-000000000001', 'au-1@example.com', 'x'),
	('a1000000-0000-0000-0000-000000000002', 'au-2@example.com', 'x');
-- Six records an hour apart, oldest first; the ids follow.
INSERT INTO cpub.audit_log (at, actor_kind, actor_user_id, actor_name, action,
							target_kind, target_id)
VALUES
	(now() - interval '6 hours', 'user', 'a1000000-0000-0000-0000-000000000001', 'au-1@example.com',
	 'user.register', 'user', 'a1000000-0000-0000-0000-000000000001'),
	(now() - interval '5 hours', 'user', 'a1000000-0000-0000-0000-000000000001', 'au-1@example.com',
	 'organization.create', 'organization', 'acme'),
	(now() - interval '4 hours', 'user', 'a1000000-0000-0000-0000-000000000002', 'au-2@example.com',
	 'organization.create', 'organization', 'globex'),
	(now() - interval '3 hours', 'db_role', NULL, 'alice',
	 'feature_role.grant', 'user', 'a1000000-0000-0000-0000-000000000001'),
	(now() - interval '2 hours', 'db_role', NULL, 'alice',
	 'featureXrole.grant', 'user', 'a1000000-0000-0000-0000-000000000002'),
	(now() - interval '1 hour', 'user', 'a1000000-0000-0000-0000-000000000001', 'au-1@example.com',
	 'organizations.rename', 'organization', 'acme');
CREATE TEMP TABLE ids AS
	SELECT action || '@' || target_id AS k, id FROM cpub.audit_log;
GRANT SELECT ON ids TO PUBLIC;

SET LOCAL ROLE cpub_admin_viewer;
SELECT results_eq($$SELECT action FROM cpub_admin.audit_log()$$,
				  $$VALUES ('organizations.rename'::text), ('featureXrole.grant'), ('feature_role.grant'),
						   ('organization.create'), ('organization.create'), ('user.register')$$,
				  'audit_log() lists every record, newest first');
SELECT results_eq($$SELECT action FROM cpub_admin.audit_log("limit" => 2)$$,
				  $$VALUES ('organizations.rename'::text), ('featureXrole.grant')$$,
				  'audit_log pages by limit');
SELECT results_eq(
	$$SELECT action FROM cpub_admin.audit_log(after => (SELECT id FROM ids WHERE k = 'featureXrole.grant@a1000000-0000-0000-0000-000000000002'), "limit" => 2)$$,
	$$VALUES ('feature_role.grant'::text), ('organization.create')$$,
	'audit_log continues below the id given as after');
SELECT results_eq(
	$$SELECT action FROM cpub_admin.audit_log(since => now() - interval '150 minutes')$$,
	$$VALUES ('organizations.rename'::text), ('featureXrole.grant')$$,
	'since keeps records at or after it');
SELECT results_eq(
	$$SELECT action FROM cpub_admin.audit_log(until => now() - interval '5 hours')$$,
	$$VALUES ('user.register'::text)$$,
	'until keeps records before it');
SELECT results_eq(
	$$SELECT action FROM cpub_admin.audit_log(since => now() - interval '5 hours',
											  until => now() - interval '3 hours')$$,
	$$VALUES ('organization.create'::text), ('organization.create')$$,
	'since and until together keep a window');
SELECT throws_ok(
	$$SELECT * FROM cpub_admin.audit_log(since => now(), until => now() - interval '1 hour')$$,
	'22023', 'until must be after since', 'until before since is 22023');
SELECT results_eq(
	$$SELECT action FROM cpub_admin.audit_log(actor_user_id => 'a1000000-0000-0000-0000-000000000002')$$,
	$$VALUES ('organization.create'::text)$$,
	'actor_user_id keeps one developer''s records');
SELECT results_eq(
	$$SELECT action FROM cpub_admin.audit_log(actor_name => 'alice')$$,
	$$VALUES ('featureXrole.grant'::text), ('feature_role.grant')$$,
	'actor_name keeps one actor''s records');
SELECT results_eq(
	$$SELECT target_id FROM cpub_admin.audit_log(action => 'organization.create')$$,
	$$VALUES ('globex'::text), ('acme')$$,
	'an action matches exactly');
SELECT is_empty($$SELECT * FROM cpub_admin.audit_log(action => 'organization')$$,
				'an action without * is not a prefix');
SELECT results_eq(
	$$SELECT action FROM cpub_admin.audit_log(action => 'organization.*')$$,
	$$VALUES ('organization.create'::text), ('organization.create')$$,
	'an action ending in * matches by prefix');
SELECT results_eq(
	$$SELECT action FROM cpub_admin.audit_log(action => 'feature_role.*')$$,
	$$VALUES ('feature_role.grant'::text)$$,
	'a prefix''s _ is literal, not a wildcard');
SELECT results_eq(
	$$SELECT action FROM cpub_admin.audit_log(action => 'organization*')$$,
	$$VALUES ('organizations.rename'::text), ('organization.create'), ('organization.create')$$,
	'a prefix need not end in a dot');
SELECT is((SELECT count(*)::int FROM cpub_admin.audit_log(action => '*')), 6,
		  'a lone * matches every action');
SELECT results_eq(
	$$SELECT action FROM cpub_admin.audit_log(target_kind => 'organization', target_id => 'acme')$$,
	$$VALUES ('organizations.rename'::text), ('organization.create')$$,
	'target_kind and target_id keep one target''s records');
SELECT results_eq(
	$$SELECT action FROM cpub_admin.audit_log(target_kind => 'user')$$,
	$$VALUES ('featureXrole.grant'::text), ('feature_role.grant'), ('user.register')$$,
	'target_kind alone keeps one kind of target');
SELECT results_eq(
	$$SELECT target_id FROM cpub_admin.audit_log(actor_user_id => 'a1000000-0000-0000-0000-000000000001',
												 action => 'organization*', "limit" => 1)$$,
	$$VALUES ('acme'::text)$$,
	'filters combine');
SELECT throws_ok($$SELECT * FROM cpub_admin.audit_log("limit" => 501)$$,
				 '22023', 'page limit must be between 1 and 500', 'a limit over 500 is 22023');
RESET ROLE;

-- Who may read it.
SET LOCAL ROLE cpub_admin_full;
SELECT is((SELECT count(*)::int FROM cpub_admin.audit_log()), 6, 'a full admin reads the audit log');
RESET ROLE;
SET LOCAL ROLE cpub_developer;
SELECT throws_ok($$SELECT * FROM cpub_admin.audit_log()$$, '42501', NULL,
				 'a developer cannot read the audit log');
SELECT throws_ok($$SELECT * FROM cpub_api.my_audit_log()$$, '28000', 'not authenticated',
				 'my_audit_log needs a session');
RESET ROLE;
SET LOCAL ROLE cpub_anon;
SELECT throws_ok($$SELECT * FROM cpub_admin.audit_log()$$, '42501', NULL,
				 'anon cannot read the audit log');
SELECT throws_ok($$SELECT * FROM cpub_api.my_audit_log()$$, '42501', NULL,
				 'anon cannot call my_audit_log');
RESET ROLE;

-- A developer's own actions.
SELECT cpub.set_user_identity('a1000000-0000-0000-0000-000000000001', gen_random_uuid(), false);
SET LOCAL ROLE cpub_developer;
SELECT results_eq($$SELECT action, target_id FROM cpub_api.my_audit_log()$$,
				  $$VALUES ('organizations.rename'::text, 'acme'::text), ('organization.create', 'acme'),
						   ('user.register', 'a1000000-0000-0000-0000-000000000001')$$,
				  'my_audit_log lists the caller''s actions, newest first');
SELECT results_eq($$SELECT action FROM cpub_api.my_audit_log("limit" => 1)$$,
				  $$VALUES ('organizations.rename'::text)$$, 'my_audit_log pages by limit');
SELECT results_eq(
	$$SELECT action FROM cpub_api.my_audit_log(after => (SELECT id FROM ids WHERE k = 'organization.create@acme'))$$,
	$$VALUES ('user.register'::text)$$, 'my_audit_log continues below after');
SELECT throws_ok($$SELECT * FROM cpub_api.my_audit_log("limit" => 0)$$,
				 '22023', 'page limit must be between 1 and 500', 'my_audit_log checks the limit');
RESET ROLE;
SELECT cpub.set_user_identity('a1000000-0000-0000-0000-000000000002', gen_random_uuid(), false);
SET LOCAL ROLE cpub_developer;
SELECT results_eq($$SELECT target_id FROM cpub_api.my_audit_log()$$,
				  $$VALUES ('globex'::text)$$, 'my_audit_log shows no one else''s actions');
RESET ROLE;
-- Records written by cpub.audit() in this transaction name the developer.
SELECT ok(cpub.audit('test.ping', 'test', '1') IS NOT NULL, 'cpub.audit writes a record');
SET LOCAL ROLE cpub_developer;
SELECT results_eq($$SELECT action FROM cpub_api.my_audit_log("limit" => 1)$$,
				  $$VALUES ('test.ping'::text)$$, 'my_audit_log shows what cpub.audit() just wrote');
RESET ROLE;
SELECT cpub.set_user_identity('a1000000-0000-0000-0000-000000000002', gen_random_uuid(), true);
SET LOCAL ROLE cpub_developer;
SELECT throws_ok($$SELECT * FROM cpub_api.my_audit_log()$$, '42501', 'password change required',
				 'my_audit_log is refused while a temporary password must be changed');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
