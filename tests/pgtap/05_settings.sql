-- tests/pgtap/05_settings.sql: platform settings admins read and change.
BEGIN;
SELECT plan(16);

SET LOCAL ROLE cpub_admin_viewer;
SELECT set_eq($$SELECT name FROM cpub_admin.settings()$$,
			  ARRAY['access_token_ttl', 'refresh_token_ttl', 'early_access_capacity',
				'execution_retention', 'signature_window',
				'job_lease', 'worker_timeout', 'job_retry_delay', 'job_retry_delay_max',
				'maintenance_interval', 'worker_retention'],
			  'a viewer lists the settings');
SELECT throws_ok($$SELECT cpub_admin.setting_set('access_token_ttl', '"1 hour"')$$, '42501', NULL,
				 'a viewer cannot change a setting');
RESET ROLE;
SET LOCAL ROLE cpub_developer;
SELECT throws_ok($$SELECT * FROM cpub_admin.settings()$$, '42501', NULL, 'a developer cannot read settings');
RESET ROLE;

SET LOCAL ROLE cpub_admin_full;
SELECT is(cpub_admin.setting_set('access_token_ttl', '"5 minutes"'), '"5 minutes"'::jsonb,
		  'an admin shortens the access token lifetime');
RESET ROLE;
SELECT cpub_api.register('erin@example.com', 'correct horse');
SELECT ok((SELECT access_expires_at FROM cpub_api.login('erin@example.com', 'correct horse'))
		  BETWEEN now() + '4 minutes' AND now() + '6 minutes', 'new sessions use the new lifetime');
SELECT throws_ok($$SELECT cpub_admin.setting_set('access_token_ttl', '"soon"')$$, '22023',
				 'setting "access_token_ttl" must be an interval from 1 second to 3650 days', 'a lifetime must be an interval');
SELECT throws_ok($$SELECT cpub_admin.setting_set('access_token_ttl', '"-5 minutes"')$$, '22023', NULL,
				 'a lifetime must be positive');
SELECT throws_ok($$SELECT cpub_admin.setting_set('access_token_ttl', '300')$$, '22023', NULL,
				 'a lifetime must be a string');
SELECT throws_ok($$SELECT cpub_admin.setting_set('early_access_capacity', '2.5')$$, '22023', NULL,
				 'a capacity must be whole');
SELECT throws_ok($$SELECT cpub_admin.setting_set('early_access_capacity', '3000000000')$$, '22023', NULL,
				 'a capacity must fit an integer');
SELECT throws_ok($$SELECT cpub_admin.setting_set('access_token_ttl', '"99999999999 hours"')$$, '22023', NULL,
				 'an interval that overflows is refused clearly');
SELECT throws_ok($$SELECT cpub_admin.setting_set('refresh_token_ttl', '"178000000 years"')$$, '22023', NULL,
				 'a lifetime that would break every login is refused');
SELECT throws_ok($$SELECT cpub_admin.setting_set('nonsense', '1')$$, 'P0002', NULL,
				 'an unknown setting is not found');
SELECT is(cpub_admin.setting_set('access_token_ttl', NULL), '"15 minutes"'::jsonb,
		  'NULL goes back to the default');
SELECT is((SELECT count(*)::int FROM cpub.settings), 0, 'and forgets the override');
SELECT is((SELECT count(*)::int FROM cpub.audit_log WHERE action = 'setting.set'), 2,
		  'changes are audited');

SELECT * FROM finish();
ROLLBACK;
