-- tests/pgtap/30_organizations.sql: organizations, members and roles
-- through the developer and the admin API; the last-owner rule; row-level
-- security; privileges; audit.
BEGIN;
SELECT plan(113);

-- Fixtures, as superuser.  o: owner, a: admin, m: member, x: outsider,
-- e: extra, b: blocked, d: deleted.
INSERT INTO cpub.users (email, password_hash, status)
VALUES ('o@example.com', 'x', 'active'), ('a@example.com', 'x', 'active'),
	   ('m@example.com', 'x', 'active'), ('x@example.com', 'x', 'active'),
	   ('e@example.com', 'x', 'active'), ('b@example.com', 'x', 'blocked'),
	   ('d@example.com', 'x', 'deleted');
CREATE FUNCTION pg_temp.act(email text) RETURNS void LANGUAGE sql AS $$
	SELECT cpub.set_user_identity((SELECT u.uuid FROM cpub.users u WHERE u.email = $1),
								  gen_random_uuid(), false) $$;
SELECT u.uuid AS uid_o FROM cpub.users u WHERE u.email = 'o@example.com' \gset

--
-- Privileges without a session, and of the wrong roles.
--
SET LOCAL ROLE cpub_developer;
SELECT throws_ok($$SELECT cpub_api.organization_create('acme')$$, '28000', NULL,
	'organization_create needs a session');
SELECT throws_ok('SELECT * FROM cpub_admin.organization_list()', '42501', NULL,
	'developer cannot list all organizations');
SELECT throws_ok($$SELECT cpub_admin.organization_create('acme', 'o@example.com')$$, '42501', NULL,
	'developer cannot use the admin create');
RESET ROLE;
SET LOCAL ROLE cpub_anon;
SELECT throws_ok($$SELECT cpub_api.organization_create('acme')$$, '42501', NULL,
	'anon cannot create organizations');
SELECT throws_ok('SELECT * FROM cpub_api.my_organizations()', '42501', NULL,
	'anon cannot list organizations');
SELECT throws_ok($$SELECT * FROM cpub_api.organization_members('acme')$$, '42501', NULL,
	'anon cannot list members');
RESET ROLE;

--
-- Admin API: viewer reads, full changes.
--
SET LOCAL ROLE cpub_admin_full;
SELECT isnt(cpub_admin.organization_create('beta', 'o@example.com', 'Beta'), NULL,
	'full admin creates an organization for a user');
SELECT lives_ok($$SELECT cpub_admin.organization_create('gamma', 'e@example.com')$$,
	'and another');
SELECT throws_ok($$SELECT cpub_admin.organization_create('delta', 'nobody@example.com')$$, 'P0002',
	'user "nobody@example.com" not found', 'admin create: unknown owner');
SELECT throws_ok($$SELECT cpub_admin.organization_create('delta', 'b@example.com')$$, '23514', NULL,
	'admin create: blocked owner');
SELECT throws_ok($$SELECT cpub_admin.organization_create('Delta', 'o@example.com')$$, '22Q04', NULL,
	'admin create: invalid name');
SELECT throws_ok($$SELECT cpub_admin.organization_create('beta', 'o@example.com')$$, '23505', NULL,
	'admin create: duplicate');
SELECT lives_ok($$SELECT cpub_admin.organization_add_member('beta', 'm@example.com', 'owner')$$,
	'admin adds an owner');
SELECT throws_ok($$SELECT cpub_admin.organization_add_member('beta', 'm@example.com')$$, '23505', NULL,
	'admin add: already a member');
SELECT throws_ok($$SELECT cpub_admin.organization_add_member('beta', 'e@example.com', 'x')$$, '22023', NULL,
	'admin add: invalid role');
SELECT throws_ok($$SELECT cpub_admin.organization_add_member('nope', 'e@example.com')$$, 'P0002',
	'organization "nope" not found', 'admin add: unknown organization');
SELECT lives_ok($$SELECT cpub_admin.organization_set_role('beta', 'o@example.com', 'member')$$,
	'admin demotes one of two owners');
SELECT throws_ok($$SELECT cpub_admin.organization_set_role('beta', 'm@example.com', 'admin')$$, '23514',
	'cannot demote the last owner of organization "beta"', 'admin: last owner cannot be demoted');
SELECT throws_ok($$SELECT cpub_admin.organization_remove_member('beta', 'm@example.com')$$, '23514',
	'cannot remove the last owner of organization "beta"', 'admin: last owner cannot be removed');
SELECT lives_ok($$SELECT cpub_admin.organization_remove_member('beta', 'o@example.com')$$,
	'admin removes a member');
SELECT throws_ok($$SELECT cpub_admin.organization_remove_member('beta', 'o@example.com')$$, 'P0002', NULL,
	'admin remove: not a member');
SELECT lives_ok($$SELECT cpub_admin.organization_rename('gamma', 'gamma-two')$$, 'admin renames');
SELECT throws_ok($$SELECT cpub_admin.organization_rename('gamma-two', 'beta')$$, '23505', NULL,
	'admin rename: name taken');
SELECT throws_ok($$SELECT cpub_admin.organization_rename('nope', 'nope2')$$, 'P0002', NULL,
	'admin rename: unknown organization');
RESET ROLE;

SET LOCAL ROLE cpub_admin_viewer;
SELECT results_eq($$SELECT name, display_name, tier, members FROM cpub_admin.organization_list()$$,
	$$VALUES ('beta'::text, 'Beta'::text, 'free'::text, 1::bigint),
			 ('gamma-two', NULL, 'free', 1)$$,
	'viewer lists organizations by name');
SELECT results_eq($$SELECT name FROM cpub_admin.organization_list(search => 'ET')$$,
	$$VALUES ('beta'::text)$$, 'search matches part of a name or display name');
SELECT results_eq($$SELECT name FROM cpub_admin.organization_list(after => 'beta', "limit" => 1)$$,
	$$VALUES ('gamma-two'::text)$$, 'keyset paging');
SELECT throws_ok($$SELECT * FROM cpub_admin.organization_list("limit" => 0)$$, '22023', NULL,
	'organization_list: invalid limit');
SELECT results_eq($$SELECT name, members FROM cpub_admin.organization_get('beta')$$,
	$$VALUES ('beta'::text, 1::bigint)$$, 'viewer gets an organization');
SELECT throws_ok($$SELECT * FROM cpub_admin.organization_get('nope')$$, 'P0002',
	'organization "nope" not found', 'organization_get: unknown');
SELECT results_eq($$SELECT email, role, status FROM cpub_admin.organization_members('beta')$$,
	$$VALUES ('m@example.com'::text, 'owner'::text, 'active'::text)$$, 'viewer lists members');
SELECT throws_ok($$SELECT * FROM cpub_admin.organization_members('nope')$$, 'P0002', NULL,
	'admin organization_members: unknown');
SELECT throws_ok($$SELECT cpub_admin.organization_create('zeta', 'o@example.com')$$, '42501', NULL,
	'viewer cannot create');
SELECT throws_ok($$SELECT cpub_admin.organization_rename('beta', 'zeta')$$, '42501', NULL,
	'viewer cannot rename');
SELECT throws_ok($$SELECT cpub_admin.organization_delete('beta')$$, '42501', NULL,
	'viewer cannot delete');
SELECT throws_ok($$SELECT cpub_admin.organization_add_member('beta', 'e@example.com')$$, '42501', NULL,
	'viewer cannot add members');
SELECT throws_ok($$SELECT cpub_admin.organization_remove_member('beta', 'm@example.com')$$, '42501', NULL,
	'viewer cannot remove members');
SELECT throws_ok($$SELECT cpub_admin.organization_set_role('beta', 'm@example.com', 'admin')$$, '42501', NULL,
	'viewer cannot set roles');
RESET ROLE;

SET LOCAL ROLE cpub_admin_full;
SELECT lives_ok($$SELECT cpub_admin.organization_delete('beta')$$, 'full admin deletes');
SELECT throws_ok($$SELECT cpub_admin.organization_delete('beta')$$, 'P0002', NULL,
	'admin delete: unknown organization');
RESET ROLE;
SELECT results_eq($$SELECT action, actor_kind, detail->>'name' FROM cpub.audit_log
	 WHERE action IN ('organization.create', 'organization.delete') ORDER BY id$$,
	$$VALUES ('organization.create'::text, 'db_role'::text, 'beta'::text),
			 ('organization.create', 'db_role', 'gamma'),
			 ('organization.delete', 'db_role', 'beta')$$,
	'admin changes are audited with the database role as actor');
SELECT is((SELECT count(*)::int FROM cpub.audit_log
			WHERE action LIKE 'organization.member%' AND actor_kind = 'db_role'), 3,
	'admin membership changes are audited');
SELECT is((SELECT created_by FROM cpub.organizations WHERE name = 'gamma-two'), NULL,
	'created_by is NULL when an admin created it');

--
-- Create.
--
SELECT pg_temp.act('o@example.com');
SET LOCAL ROLE cpub_developer;
SELECT isnt(cpub_api.organization_create('acme', '  Acme Inc  '), NULL,
	'a developer creates an organization');
SELECT results_eq('SELECT name, display_name, role, tier, members FROM cpub_api.my_organizations()',
	$$VALUES ('acme'::text, 'Acme Inc'::text, 'owner'::text, 'free'::text, 1::bigint)$$,
	'the creator is its owner; the display name is trimmed');
SELECT throws_ok($$SELECT cpub_api.organization_create('Acme')$$, '22Q04',
	'invalid organization name "Acme"', 'organization_create: uppercase');
SELECT throws_ok($$SELECT cpub_api.organization_create('a')$$, '22Q04', NULL,
	'organization_create: too short');
SELECT throws_ok($$SELECT cpub_api.organization_create('-acme')$$, '22Q04', NULL,
	'organization_create: leading hyphen');
SELECT throws_ok($$SELECT cpub_api.organization_create('acme')$$, '23505',
	'organization name "acme" is already taken', 'organization_create: duplicate');
SELECT throws_ok($$SELECT cpub_api.organization_create('other', '   ')$$, '22Q02', NULL,
	'organization_create: blank display name');
SELECT lives_ok($$SELECT cpub_api.organization_create('other')$$,
	'a second organization, without display name');
RESET ROLE;
SELECT results_eq($$SELECT action, target_kind, detail->>'name' FROM cpub.audit_log
	 WHERE action = 'organization.create' AND actor_kind = 'user' ORDER BY id$$,
	$$VALUES ('organization.create'::text, 'organization'::text, 'acme'::text),
			 ('organization.create', 'organization', 'other')$$,
	'creations are audited');
SELECT is((SELECT created_by FROM cpub.organizations WHERE name = 'acme'), :'uid_o'::uuid,
	'created_by is the developer');

--
-- Add members (owner).
--
SET LOCAL ROLE cpub_developer;
SELECT lives_ok($$SELECT cpub_api.organization_add_member('acme', 'A@Example.com', 'admin')$$,
	'owner adds an admin (email case-insensitive)');
SELECT lives_ok($$SELECT cpub_api.organization_add_member('acme', 'm@example.com')$$,
	'owner adds a member (default role)');
SELECT throws_ok($$SELECT cpub_api.organization_add_member('acme', 'm@example.com')$$, '23505',
	'"m@example.com" is already a member of organization "acme"', 'add_member: already a member');
SELECT throws_ok($$SELECT cpub_api.organization_add_member('acme', 'nobody@example.com')$$, 'P0002',
	'user "nobody@example.com" not found', 'add_member: unknown user');
SELECT throws_ok($$SELECT cpub_api.organization_add_member('acme', 'd@example.com')$$, 'P0002',
	'user "d@example.com" not found', 'add_member: deleted user is not found');
SELECT throws_ok($$SELECT cpub_api.organization_add_member('acme', 'b@example.com')$$, '23514',
	'cannot add blocked user "b@example.com" to an organization', 'add_member: blocked user');
SELECT throws_ok($$SELECT cpub_api.organization_add_member('acme', 'e@example.com', 'boss')$$, '22023',
	'invalid organization role "boss"', 'add_member: invalid role');
SELECT throws_ok($$SELECT cpub_api.organization_add_member('nope', 'e@example.com')$$, 'P0002',
	'organization "nope" not found', 'add_member: unknown organization');
RESET ROLE;
SELECT is((SELECT count(*)::int FROM cpub.audit_log
			WHERE action = 'organization.member_add' AND actor_kind = 'user'), 2,
	'additions are audited');

--
-- An outsider sees nothing, and nothing leaks.
--
SELECT pg_temp.act('x@example.com');
SET LOCAL ROLE cpub_developer;
SELECT is_empty('SELECT * FROM cpub_api.my_organizations()', 'outsider has no organizations');
SELECT throws_ok($$SELECT * FROM cpub_api.organization_members('acme')$$, 'P0002',
	'organization "acme" not found', 'outsider: members of acme not found');
SELECT throws_ok($$SELECT cpub_api.organization_add_member('acme', 'x@example.com')$$, 'P0002',
	'organization "acme" not found', 'outsider cannot add themself');
SELECT throws_ok($$SELECT cpub_api.organization_remove_member('acme', 'm@example.com')$$, 'P0002',
	'organization "acme" not found', 'outsider: remove not found');
SELECT throws_ok($$SELECT cpub_api.organization_set_role('acme', 'x@example.com', 'owner')$$, 'P0002',
	'organization "acme" not found', 'outsider: set_role not found');
SELECT throws_ok($$SELECT cpub_api.organization_rename('acme', 'mine')$$, 'P0002',
	'organization "acme" not found', 'outsider: rename not found');
SELECT throws_ok($$SELECT cpub_api.organization_delete('acme')$$, 'P0002',
	'organization "acme" not found', 'outsider: delete not found');
RESET ROLE;

--
-- A member reads and may leave, nothing else.
--
SELECT pg_temp.act('m@example.com');
SET LOCAL ROLE cpub_developer;
SELECT results_eq($$SELECT email, role FROM cpub_api.organization_members('acme')$$,
	$$VALUES ('o@example.com'::text, 'owner'::text), ('a@example.com', 'admin'),
			 ('m@example.com', 'member')$$,
	'a member lists the members, owners first');
SELECT results_eq('SELECT name, role, members FROM cpub_api.my_organizations()',
	$$VALUES ('acme'::text, 'member'::text, 3::bigint)$$, 'my_organizations shows the role');
SELECT throws_ok($$SELECT cpub_api.organization_add_member('acme', 'e@example.com')$$, '42501',
	'only an owner or an admin can add members to organization "acme"', 'member cannot add');
SELECT throws_ok($$SELECT cpub_api.organization_set_role('acme', 'm@example.com', 'admin')$$, '42501',
	'only an owner or an admin can set roles in organization "acme"', 'member cannot set roles');
SELECT throws_ok($$SELECT cpub_api.organization_remove_member('acme', 'a@example.com')$$, '42501',
	'only an owner or an admin can remove members from organization "acme"', 'member cannot remove others');
SELECT throws_ok($$SELECT cpub_api.organization_rename('acme', 'mine')$$, '42501',
	'only an owner can rename organization "acme"', 'member cannot rename');
SELECT throws_ok($$SELECT cpub_api.organization_delete('acme')$$, '42501',
	'only an owner can delete organization "acme"', 'member cannot delete');
RESET ROLE;

--
-- Row-level security: a role that could read the tables sees only the
-- caller's organizations.
--
CREATE ROLE cpub_test_rls;
GRANT USAGE ON SCHEMA cpub TO cpub_test_rls;
GRANT SELECT ON cpub.organizations, cpub.organization_members TO cpub_test_rls;
GRANT EXECUTE ON FUNCTION cpub.current_user_id(), cpub.organization_ids_of(uuid)
	TO cpub_test_rls;
SET LOCAL ROLE cpub_test_rls;
SELECT results_eq('SELECT name FROM cpub.organizations',
	$$VALUES ('acme'::text)$$, 'RLS: a member sees only their organizations');
SELECT is((SELECT count(*)::int FROM cpub.organization_members), 3,
	'RLS: and the memberships of those organizations');
RESET ROLE;

--
-- An admin manages non-owners and never grants owner.
--
SELECT pg_temp.act('a@example.com');
SET LOCAL ROLE cpub_developer;
SELECT throws_ok($$SELECT cpub_api.organization_add_member('acme', 'e@example.com', 'owner')$$, '42501',
	'only an owner can grant the owner role', 'admin cannot add an owner');
SELECT lives_ok($$SELECT cpub_api.organization_add_member('acme', 'e@example.com')$$,
	'admin adds a member');
SELECT lives_ok($$SELECT cpub_api.organization_set_role('acme', 'e@example.com', 'admin')$$,
	'admin promotes a member to admin');
SELECT throws_ok($$SELECT cpub_api.organization_set_role('acme', 'e@example.com', 'owner')$$, '42501',
	'only an owner can grant the owner role', 'admin cannot grant owner');
SELECT throws_ok($$SELECT cpub_api.organization_set_role('acme', 'o@example.com', 'member')$$, '42501',
	'only an owner can change the role of an owner', 'admin cannot demote an owner');
SELECT throws_ok($$SELECT cpub_api.organization_remove_member('acme', 'o@example.com')$$, '42501',
	'only an owner can remove an owner', 'admin cannot remove an owner');
SELECT throws_ok($$SELECT cpub_api.organization_set_role('acme', 'e@example.com', 'chief')$$, '22023',
	'invalid organization role "chief"', 'set_role: invalid role');
SELECT throws_ok($$SELECT cpub_api.organization_set_role('acme', 'x@example.com', 'member')$$, 'P0002',
	'"x@example.com" is not a member of organization "acme"', 'set_role: not a member');
SELECT lives_ok($$SELECT cpub_api.organization_remove_member('acme', 'e@example.com')$$,
	'admin removes a non-owner');
SELECT throws_ok($$SELECT cpub_api.organization_remove_member('acme', 'e@example.com')$$, 'P0002',
	'"e@example.com" is not a member of organization "acme"', 'remove_member: not a member');
SELECT throws_ok($$SELECT cpub_api.organization_rename('acme', 'mine')$$, '42501', NULL,
	'admin cannot rename');
SELECT throws_ok($$SELECT cpub_api.organization_delete('acme')$$, '42501', NULL,
	'admin cannot delete');
RESET ROLE;
SELECT results_eq($$SELECT action, detail->>'email', coalesce(detail->>'role', detail->>'to')
	  FROM cpub.audit_log
	 WHERE action LIKE 'organization.member%' AND detail->>'email' = 'e@example.com' ORDER BY id$$,
	$$VALUES ('organization.member_add'::text, 'e@example.com'::text, 'member'::text),
			 ('organization.member_set_role', 'e@example.com', 'admin'),
			 ('organization.member_remove', 'e@example.com', 'admin')$$,
	'add, set_role and remove are audited with the admin as actor');
SELECT is((SELECT DISTINCT actor_name FROM cpub.audit_log
			WHERE detail->>'email' = 'e@example.com'), 'a@example.com',
	'the audit records name the acting developer');

--
-- The last-owner rule.
--
SELECT pg_temp.act('o@example.com');
SET LOCAL ROLE cpub_developer;
SELECT throws_ok($$SELECT cpub_api.organization_remove_member('acme', 'o@example.com')$$, '23514',
	'cannot remove the last owner of organization "acme"', 'the last owner cannot leave');
SELECT throws_ok($$SELECT cpub_api.organization_set_role('acme', 'o@example.com', 'admin')$$, '23514',
	'cannot demote the last owner of organization "acme"', 'the last owner cannot demote themself');
SELECT lives_ok($$SELECT cpub_api.organization_set_role('acme', 'a@example.com', 'owner')$$,
	'owner makes the admin an owner');
SELECT lives_ok($$SELECT cpub_api.organization_set_role('acme', 'o@example.com', 'admin')$$,
	'with two owners, one may step down');
SELECT lives_ok($$SELECT cpub_api.organization_remove_member('acme', 'o@example.com')$$,
	'and then leave');
SELECT throws_ok($$SELECT * FROM cpub_api.organization_members('acme')$$, 'P0002', NULL,
	'who has left sees the organization no more');
RESET ROLE;

SELECT pg_temp.act('m@example.com');
SET LOCAL ROLE cpub_developer;
SELECT lives_ok($$SELECT cpub_api.organization_remove_member('acme', 'm@example.com')$$,
	'a member leaves');
SELECT is_empty('SELECT * FROM cpub_api.my_organizations()', 'and has no organizations');
RESET ROLE;

--
-- Rename and delete (owner).
--
SELECT pg_temp.act('a@example.com');
SET LOCAL ROLE cpub_developer;
SELECT throws_ok($$SELECT cpub_api.organization_remove_member('acme', 'a@example.com')$$, '23514',
	NULL, 'the new last owner cannot leave either');
SELECT throws_ok($$SELECT cpub_api.organization_rename('acme', 'other')$$, '23505',
	'organization name "other" is already taken', 'rename: name taken (even if not visible)');
SELECT throws_ok($$SELECT cpub_api.organization_rename('acme', 'Bad Name')$$, '22Q04',
	'invalid organization name "Bad Name"', 'rename: invalid name');
SELECT lives_ok($$SELECT cpub_api.organization_rename('acme', 'acme-corp')$$, 'owner renames');
SELECT results_eq('SELECT name FROM cpub_api.my_organizations()',
	$$VALUES ('acme-corp'::text)$$, 'the new name is in effect');
SELECT throws_ok($$SELECT * FROM cpub_api.organization_members('acme')$$, 'P0002', NULL,
	'the old name is gone');
SELECT lives_ok($$SELECT cpub_api.organization_delete('acme-corp')$$, 'owner deletes');
SELECT is_empty('SELECT * FROM cpub_api.my_organizations()', 'the organization is gone');
RESET ROLE;
SELECT is((SELECT count(*)::int FROM cpub.organization_members m
			 LEFT JOIN cpub.organizations o ON o.id = m.organization_id WHERE o.id IS NULL), 0,
	'its memberships went with it');
SELECT results_eq($$SELECT action, detail FROM cpub.audit_log
	 WHERE action = 'organization.rename' AND actor_kind = 'user' ORDER BY id$$,
	$$VALUES ('organization.rename'::text, '{"from": "acme", "to": "acme-corp"}'::jsonb)$$,
	'rename is audited');
SELECT is((SELECT detail->>'name' FROM cpub.audit_log
			WHERE action = 'organization.delete' AND actor_kind = 'user'),
	'acme-corp', 'delete is audited');

--
-- Once through the real front door: register, log in, authenticate.
--
SET LOCAL ROLE cpub_anon;
SELECT cpub_api.register('real@example.com', 'correct horse battery') IS NOT NULL AS registered \gset
SELECT access_token FROM cpub_api.login('real@example.com', 'correct horse battery') \gset
SELECT user_id IS NOT NULL AS authenticated FROM cpub_api.authenticate(:'access_token') \gset
SET LOCAL ROLE cpub_developer;
SELECT lives_ok($$SELECT cpub_api.organization_create('real-org')$$,
	'an authenticated developer creates an organization');
SELECT results_eq('SELECT name, role FROM cpub_api.my_organizations()',
	$$VALUES ('real-org'::text, 'owner'::text)$$, 'and owns it');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
