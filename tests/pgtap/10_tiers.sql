-- tests/pgtap/10_tiers.sql: tiers, the default tier, assignments and who
-- may see and change them.
BEGIN;
SELECT plan(72);

-- Fixtures, as superuser: two developers and an organization.
INSERT INTO cpub.users (email, password_hash)
VALUES ('dev1@example.com', 'x'), ('dev2@example.com', 'x');
CREATE FUNCTION pg_temp.uid(email text) RETURNS uuid LANGUAGE sql AS
	$$ SELECT u.uuid FROM cpub.users u WHERE u.email = $1 $$;
INSERT INTO cpub.organizations (name, created_by)
VALUES ('acme', pg_temp.uid('dev1@example.com'));
INSERT INTO cpub.organization_members (organization_id, user_id, role)
SELECT o.id, pg_temp.uid('dev1@example.com'), 'owner'
  FROM cpub.organizations o WHERE o.name = 'acme';
SELECT pg_temp.uid('dev1@example.com') AS dev1,
	   pg_temp.uid('dev2@example.com') AS dev2 \gset

--
-- Without a session.
--
SET LOCAL ROLE cpub_developer;
SELECT throws_ok('SELECT * FROM cpub_api.my_tier()', '28000', 'not authenticated',
	'my_tier needs a session');
RESET ROLE;

--
-- The default tier.
--
SELECT is((cpub.effective_tier()).name, 'free', 'effective_tier() is the default tier');
SELECT is((cpub.effective_tier(pg_temp.uid('dev1@example.com'))).name, 'free',
	'a user without a tier has the default tier');
SELECT is((cpub.effective_tier(organization_id => (SELECT id FROM cpub.organizations WHERE name = 'acme'))).name,
	'free', 'an organization without a tier has the default tier');
SELECT throws_ok($$SELECT cpub.effective_tier(gen_random_uuid())$$, 'P0002', NULL,
	'effective_tier: unknown user');
SELECT throws_ok($$SELECT cpub.effective_tier(organization_id => gen_random_uuid())$$,
	'P0002', NULL, 'effective_tier: unknown organization');
SELECT throws_ok($$SELECT cpub.effective_tier(gen_random_uuid(), gen_random_uuid())$$,
	'22023', 'give either user_id or organization_id, not both',
	'effective_tier: not both');

--
-- Privileges: developer and anon see no admin function; viewer reads only.
--
SET LOCAL ROLE cpub_developer;
SELECT throws_ok('SELECT * FROM cpub_admin.tier_list()', '42501', NULL,
	'developer cannot list tiers');
SELECT throws_ok($$SELECT cpub_admin.tier_create('x', 1, 1, 1, 1, 1, 1, 1)$$, '42501', NULL,
	'developer cannot create tiers');
RESET ROLE;
SET LOCAL ROLE cpub_anon;
SELECT throws_ok('SELECT * FROM cpub_api.my_tier()', '42501', NULL,
	'anon cannot call my_tier');
SELECT throws_ok($$SELECT * FROM cpub_api.organization_tier('acme')$$, '42501', NULL,
	'anon cannot call organization_tier');
SELECT throws_ok('SELECT * FROM cpub_admin.tier_list()', '42501', NULL,
	'anon cannot list tiers');
RESET ROLE;

SET LOCAL ROLE cpub_admin_viewer;
SELECT results_eq('SELECT name, is_default FROM cpub_admin.tier_list()',
	$$VALUES ('free'::text, true)$$, 'viewer lists the tiers');
SELECT results_eq($$SELECT max_memory_mb, max_functions FROM cpub_admin.tier_get('free')$$,
	'VALUES (256, 5)', 'viewer reads a tier');
SELECT throws_ok($$SELECT * FROM cpub_admin.tier_get('nope')$$, 'P0002',
	'tier "nope" not found', 'tier_get: unknown tier');
SELECT throws_ok($$SELECT cpub_admin.tier_create('x', 1, 1, 1, 1, 1, 1, 1)$$, '42501', NULL,
	'viewer cannot create');
SELECT throws_ok($$SELECT cpub_admin.tier_update('free', max_functions => 9)$$, '42501', NULL,
	'viewer cannot update');
SELECT throws_ok($$SELECT cpub_admin.tier_delete('free')$$, '42501', NULL,
	'viewer cannot delete');
SELECT throws_ok($$SELECT cpub_admin.tier_set_default('free')$$, '42501', NULL,
	'viewer cannot set the default');
SELECT throws_ok($$SELECT cpub_admin.tier_assign_user(gen_random_uuid(), 'free')$$, '42501', NULL,
	'viewer cannot assign to a user');
SELECT throws_ok($$SELECT cpub_admin.tier_assign_organization('acme', 'free')$$, '42501', NULL,
	'viewer cannot assign to an organization');
RESET ROLE;

--
-- Create, with validation.
--
SET LOCAL ROLE cpub_admin_full;
SELECT isnt(cpub_admin.tier_create('pro', 50, 1024, 300, 20, 1000000, 100, 50, 'Paying'),
	NULL, 'full admin creates a tier');
SELECT results_eq($$SELECT description, max_functions, max_memory_mb, max_timeout_seconds,
		max_concurrency, monthly_invocations, max_archive_mb, requests_per_second,
		is_default, assigned_users, assigned_organizations
	  FROM cpub_admin.tier_get('pro')$$,
	$$VALUES ('Paying'::text, 50, 1024, 300, 20, 1000000::bigint, 100, 50, false, 0::bigint, 0::bigint)$$,
	'the new tier has the limits given');
SELECT lives_ok($$SELECT cpub_admin.tier_create('tiny', 0, 64, 1, 1, 0, 1, 1)$$,
	'zero functions and invocations are allowed');
SELECT throws_ok($$SELECT cpub_admin.tier_create('Pro', 1, 1, 1, 1, 1, 1, 1)$$, '22Q04',
	'invalid tier name "Pro"', 'tier_create: invalid name');
SELECT throws_ok($$SELECT cpub_admin.tier_create('pro', 1, 1, 1, 1, 1, 1, 1)$$, '23505',
	'tier "pro" already exists', 'tier_create: duplicate name');
SELECT throws_ok($$SELECT cpub_admin.tier_create('x', -1, 1, 1, 1, 1, 1, 1)$$, '22023',
	'max_functions must not be negative', 'tier_create: max_functions');
SELECT throws_ok($$SELECT cpub_admin.tier_create('x', 1, 0, 1, 1, 1, 1, 1)$$, '22023',
	'max_memory_mb must be positive', 'tier_create: max_memory_mb');
SELECT throws_ok($$SELECT cpub_admin.tier_create('x', 1, 1, 0, 1, 1, 1, 1)$$, '22023',
	'max_timeout_seconds must be positive', 'tier_create: max_timeout_seconds');
SELECT throws_ok($$SELECT cpub_admin.tier_create('x', 1, 1, 1, -5, 1, 1, 1)$$, '22023',
	'max_concurrency must be positive', 'tier_create: max_concurrency');
SELECT throws_ok($$SELECT cpub_admin.tier_create('x', 1, 1, 1, 1, -1, 1, 1)$$, '22023',
	'monthly_invocations must not be negative', 'tier_create: monthly_invocations');
SELECT throws_ok($$SELECT cpub_admin.tier_create('x', 1, 1, 1, 1, 1, 0, 1)$$, '22023',
	'max_archive_mb must be positive', 'tier_create: max_archive_mb');
SELECT throws_ok($$SELECT cpub_admin.tier_create('x', 1, 1, 1, 1, 1, 1, 0)$$, '22023',
	'requests_per_second must be positive', 'tier_create: requests_per_second');
SELECT throws_ok($$SELECT cpub_admin.tier_create('x', 1, NULL, 1, 1, 1, 1, 1)$$, '22023',
	'max_memory_mb is required', 'tier_create: a missing limit');

--
-- Update.
--
SELECT lives_ok($$SELECT cpub_admin.tier_update('pro', max_memory_mb => 2048,
		description => 'Paying customers')$$, 'tier_update changes what is given');
SELECT results_eq($$SELECT description, max_memory_mb, max_functions
	  FROM cpub_admin.tier_get('pro')$$,
	$$VALUES ('Paying customers'::text, 2048, 50)$$, 'and leaves the rest');
SELECT lives_ok($$SELECT cpub_admin.tier_update('pro', new_name => 'pro_plus')$$,
	'tier_update renames');
SELECT throws_ok($$SELECT * FROM cpub_admin.tier_get('pro')$$, 'P0002', NULL,
	'the old name is gone');
SELECT throws_ok($$SELECT cpub_admin.tier_update('nope', max_functions => 1)$$, 'P0002',
	'tier "nope" not found', 'tier_update: unknown tier');
SELECT throws_ok($$SELECT cpub_admin.tier_update('pro_plus', new_name => 'a b')$$, '22Q04',
	'invalid tier name "a b"', 'tier_update: invalid new name');
SELECT throws_ok($$SELECT cpub_admin.tier_update('pro_plus', new_name => 'free')$$, '23505',
	'tier "free" already exists', 'tier_update: name taken');
SELECT throws_ok($$SELECT cpub_admin.tier_update('pro_plus', max_concurrency => 0)$$, '22023',
	'max_concurrency must be positive', 'tier_update: invalid limit');
RESET ROLE;
SELECT is((SELECT detail->'changes'->'max_memory_mb' FROM cpub.audit_log
			WHERE action = 'tier.update' ORDER BY id LIMIT 1),
	'{"from": 1024, "to": 2048}'::jsonb, 'the update is audited with before and after');

--
-- Assign to users and organizations; the developer's view.
--
SET LOCAL ROLE cpub_admin_full;
SELECT lives_ok(format($$SELECT cpub_admin.tier_assign_user(%L, 'pro_plus')$$, :'dev1'), 'assign a tier to a user');
SELECT throws_ok(format($$SELECT cpub_admin.tier_assign_user(%L, 'nope')$$, :'dev1'), 'P0002', 'tier "nope" not found',
	'tier_assign_user: unknown tier');
SELECT throws_ok($$SELECT cpub_admin.tier_assign_user(gen_random_uuid(), 'pro_plus')$$,
	'P0002', NULL, 'tier_assign_user: unknown user');
SELECT lives_ok($$SELECT cpub_admin.tier_assign_organization('acme', 'tiny')$$,
	'assign a tier to an organization');
SELECT throws_ok($$SELECT cpub_admin.tier_assign_organization('nope', 'tiny')$$,
	'P0002', 'organization "nope" not found', 'tier_assign_organization: unknown organization');
SELECT throws_ok($$SELECT cpub_admin.tier_assign_organization('acme', 'nope')$$,
	'P0002', 'tier "nope" not found', 'tier_assign_organization: unknown tier');
SELECT results_eq($$SELECT name, assigned_users, assigned_organizations
	  FROM cpub_admin.tier_list() ORDER BY name$$,
	$$VALUES ('free'::text, 0::bigint, 0::bigint), ('pro_plus', 1, 0), ('tiny', 0, 1)$$,
	'tier_list counts assignments');
RESET ROLE;
SELECT is((SELECT count(*)::int FROM cpub.audit_log WHERE action = 'tier.assign'), 2,
	'assignments are audited');

SELECT cpub.set_user_identity(pg_temp.uid('dev1@example.com'), gen_random_uuid(), false);
SET LOCAL ROLE cpub_developer;
SELECT results_eq('SELECT name, max_memory_mb, is_default FROM cpub_api.my_tier()',
	$$VALUES ('pro_plus'::text, 2048, false)$$, 'my_tier shows the assigned tier');
SELECT results_eq($$SELECT name, max_functions FROM cpub_api.organization_tier('acme')$$,
	$$VALUES ('tiny'::text, 0)$$, 'organization_tier shows a member the organization''s tier');
SELECT throws_ok($$SELECT * FROM cpub_api.organization_tier('nope')$$, 'P0002',
	'organization "nope" not found', 'organization_tier: unknown organization');
SELECT throws_ok($$SELECT * FROM cpub_admin.tier_assign_user(gen_random_uuid(), NULL)$$,
	'42501', NULL, 'developer cannot assign tiers');
RESET ROLE;

SELECT cpub.set_user_identity(pg_temp.uid('dev2@example.com'), gen_random_uuid(), false);
SET LOCAL ROLE cpub_developer;
SELECT results_eq('SELECT name FROM cpub_api.my_tier()', $$VALUES ('free'::text)$$,
	'another developer keeps the default tier');
SELECT throws_ok($$SELECT * FROM cpub_api.organization_tier('acme')$$, 'P0002',
	'organization "acme" not found', 'organization_tier: not a member is not found');
RESET ROLE;

--
-- Default tier changes and deletion.
--
SET LOCAL ROLE cpub_admin_full;
SELECT throws_ok($$SELECT cpub_admin.tier_delete('pro_plus')$$, '23503',
	'cannot delete tier "pro_plus" while it is assigned', 'tier_delete: assigned to a user');
SELECT throws_ok($$SELECT cpub_admin.tier_delete('tiny')$$, '23503',
	'cannot delete tier "tiny" while it is assigned', 'tier_delete: assigned to an organization');
SELECT throws_ok($$SELECT cpub_admin.tier_delete('free')$$, '23503',
	'cannot delete the default tier "free"', 'tier_delete: the default tier');
SELECT throws_ok($$SELECT cpub_admin.tier_delete('nope')$$, 'P0002',
	'tier "nope" not found', 'tier_delete: unknown tier');
SELECT throws_ok($$SELECT cpub_admin.tier_set_default('nope')$$, 'P0002',
	'tier "nope" not found', 'tier_set_default: unknown tier');
SELECT lives_ok($$SELECT cpub_admin.tier_set_default('pro_plus')$$, 'set another default');
SELECT results_eq('SELECT name FROM cpub_admin.tier_list() WHERE is_default',
	$$VALUES ('pro_plus'::text)$$, 'exactly one default tier');
RESET ROLE;
SELECT is((cpub.effective_tier(pg_temp.uid('dev2@example.com'))).name, 'pro_plus',
	'users without a tier follow the new default');
SET LOCAL ROLE cpub_admin_full;
SELECT lives_ok(format($$SELECT cpub_admin.tier_assign_user(%L, NULL)$$, :'dev1'), 'NULL puts a user back on the default tier');
SELECT lives_ok($$SELECT cpub_admin.tier_assign_organization('acme', NULL)$$,
	'NULL puts an organization back on the default tier');
SELECT lives_ok($$SELECT cpub_admin.tier_delete('tiny')$$, 'delete an unused tier');
SELECT throws_ok($$SELECT * FROM cpub_admin.tier_get('tiny')$$, 'P0002', NULL,
	'the deleted tier is gone');
RESET ROLE;
SELECT is((SELECT u.tier_id FROM cpub.users u WHERE u.email = 'dev1@example.com'), NULL,
	'the user is on the default tier again');
SELECT results_eq($$SELECT action FROM cpub.audit_log
	 WHERE action IN ('tier.create', 'tier.set_default', 'tier.delete') ORDER BY id$$,
	$$VALUES ('tier.create'::text), ('tier.create'), ('tier.set_default'), ('tier.delete')$$,
	'create, set_default and delete are audited');
SELECT is((SELECT detail FROM cpub.audit_log WHERE action = 'tier.set_default'),
	'{"name": "pro_plus", "previous": "free"}'::jsonb, 'set_default records the previous default');

SELECT * FROM finish();
ROLLBACK;
