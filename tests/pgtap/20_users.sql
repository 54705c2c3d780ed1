-- tests/pgtap/20_users.sql: registration, passwords, profile, and the admin's
-- user management.
BEGIN;
SELECT plan(65);

-- Acting as a developer: log in and authenticate, as the HTTP front does.
CREATE FUNCTION pg_temp.act_as(email text, password text DEFAULT 'correct horse')
	RETURNS uuid LANGUAGE plpgsql AS $$
DECLARE
	t cpub_api.session_tokens;
BEGIN
	t := cpub_api.login(email, password);
	PERFORM cpub_api.authenticate(t.access_token);
	RETURN t.user_id;
END $$;

SELECT throws_ok($$SELECT * FROM cpub_api.me()$$, '28000', 'not authenticated',
				 'me() needs a session');

--
-- register
--
SELECT lives_ok($$SELECT cpub_api.register('  Alice@Example.COM ', 'correct horse', 'Alice', 'Liddell')$$,
				'register a user');
SELECT is((SELECT email FROM cpub.users WHERE first_name = 'Alice'), 'alice@example.com',
		  'email is stored trimmed and lowercased');
SELECT matches((SELECT password_hash FROM cpub.users WHERE email = 'alice@example.com'),
			   '^\$argon2id\$v=19\$', 'password is stored as an argon2id hash');
SELECT is((SELECT status FROM cpub.users WHERE email = 'alice@example.com'), 'active',
		  'a new user is active');
SELECT is((SELECT count(*)::int FROM cpub.audit_log WHERE action = 'user.register'
			  AND actor_name = 'alice@example.com' AND actor_kind = 'user'), 1,
		  'registration is audited, naming the new user');
SELECT throws_ok($$SELECT cpub_api.register('ALICE@example.com', 'another password')$$,
				 '23505', 'a user with this email already exists',
				 'emails are unique case-insensitively');
SELECT throws_ok($$SELECT cpub_api.register('not-an-email', 'correct horse')$$,
				 '22Q01', 'invalid email address', 'an invalid email is refused');
SELECT throws_ok($$SELECT cpub_api.register('bob@example', 'correct horse')$$,
				 '22Q01', 'invalid email address', 'an email without a top-level domain is refused');
SELECT throws_ok($$SELECT cpub_api.register('bob@example.com', 'short')$$,
				 '22Q03', 'password does not meet the policy', 'a short password is refused');
SELECT throws_ok($$SELECT cpub_api.register('bobby123@example.com', 'BOBBY123')$$,
				 '22Q03', 'password does not meet the policy',
				 'a password equal to the email''s local part is refused');
SELECT throws_ok($$SELECT cpub_api.register('bob@example.com', NULL)$$,
				 '22004', 'password is required', 'a missing password is refused');
SELECT throws_ok($$SELECT cpub_api.register('bob@example.com', 'correct horse', E'Bob\x01')$$,
				 '22Q02', 'invalid first name', 'a name with a control character is refused');
SELECT throws_ok($$SELECT cpub_api.register('bob@example.com', 'correct horse', 'Bob', repeat('é', 101))$$,
				 '22Q02', 'invalid last name', 'a name over 100 characters is refused');
SELECT throws_ok($$SELECT cpub_api.register(NULL, 'correct horse')$$,
				 '22Q01', 'invalid email address', 'a missing email is refused');
SELECT is((SELECT count(*)::int FROM cpub.users), 1, 'no refused registration left a row');

--
-- argon2id parameters
--
SET LOCAL cpub.argon2_opslimit = 2;
SET LOCAL cpub.argon2_memlimit_kib = 19456;
SELECT matches(cpub.password_hash('x'), '^\$argon2id\$v=19\$m=19456,t=2,p=1\$',
			   'the default cost is argon2id m=19 MiB, t=2, p=1');
SELECT ok(cpub.password_needs_rehash((SELECT password_hash FROM cpub.users
									  WHERE email = 'alice@example.com')),
		  'a hash made with a lower cost needs a rehash');
SELECT lives_ok($$SELECT cpub_api.login('alice@example.com', 'correct horse')$$,
				'login with the old hash works');
SELECT matches((SELECT password_hash FROM cpub.users WHERE email = 'alice@example.com'),
			   'm=19456,t=2,p=1', 'login rehashed the password with the current cost');
RESET cpub.argon2_opslimit;
RESET cpub.argon2_memlimit_kib;

--
-- login errors
--
SELECT throws_ok($$SELECT cpub_api.login('alice@example.com', 'wrong password')$$,
				 '28P01', 'invalid email or password', 'a wrong password is refused');
SELECT throws_ok($$SELECT cpub_api.login('nobody@example.com', 'correct horse')$$,
				 '28P01', 'invalid email or password',
				 'an unknown email gets the same error as a wrong password');
SELECT throws_ok($$SELECT cpub_api.login('alice@example.com', NULL)$$,
				 '28P01', 'invalid email or password', 'a missing password is refused');
SELECT throws_ok(format('SELECT cpub_api.login(%L, %L)', 'alice@example.com', repeat('x', 1025)),
				 '28P01', 'invalid email or password', 'a password over 1024 bytes is refused before hashing');
SELECT throws_ok($$SELECT cpub.check_password(NULL, 'alice@example.com')$$,
				 '22004', 'password is required', 'the policy check refuses a NULL password (no crash)');

--
-- me, update_profile, change_password
--
SELECT pg_temp.act_as('alice@example.com') AS alice \gset
SELECT is((SELECT email FROM cpub_api.me()), 'alice@example.com', 'me() returns the caller');
SELECT is((SELECT tier FROM cpub_api.me()), 'free', 'a new user is on the default tier');
SELECT lives_ok($$SELECT cpub_api.update_profile(last_name => 'Pleasance')$$, 'update the last name');
SELECT is((SELECT first_name || ' ' || last_name FROM cpub_api.me()), 'Alice Pleasance',
		  'update_profile keeps what it is not given');
SELECT throws_ok($$SELECT cpub_api.change_password('wrong password', 'new password 1')$$,
				 '28P01', 'current password is wrong', 'change_password checks the current password');
SELECT throws_ok($$SELECT cpub_api.change_password('correct horse', 'correct horse')$$,
				 '22Q03', 'new password must differ from the current one',
				 'the new password must differ');
SELECT throws_ok($$SELECT cpub_api.change_password('correct horse', 'tiny')$$,
				 '22Q03', 'password does not meet the policy', 'the new password follows the policy');
SELECT lives_ok($$SELECT cpub_api.change_password('correct horse', 'battery staple')$$,
				'change the password');
SELECT throws_ok($$SELECT cpub_api.login('alice@example.com', 'correct horse')$$,
				 '28P01', 'invalid email or password', 'the old password no longer works');
SELECT pg_temp.act_as('alice@example.com', 'battery staple') AS alice \gset

--
-- admin user management (as the database role of an admin at psql)
--
SELECT cpub.clear_identity();
SELECT cpub_api.register('bob@example.com', 'correct horse', 'Bob', 'Builder') AS bob \gset
SELECT cpub_api.register('carol@example.com', 'correct horse', 'Carol') AS carol \gset
SET LOCAL ROLE cpub_admin_viewer;
SELECT is(array_agg(email ORDER BY email), ARRAY['alice@example.com', 'bob@example.com', 'carol@example.com'],
		  'a viewer lists users by email')
  FROM cpub_admin.user_list();
SELECT is(array_agg(email), ARRAY['bob@example.com'], 'search matches names')
  FROM cpub_admin.user_list(search => 'builder');
SELECT is(array_agg(email), ARRAY['carol@example.com'], 'search treats % literally, and pages by email')
  FROM cpub_admin.user_list(after => 'bob@example.com', "limit" => 1);
SELECT is((SELECT count(*)::int FROM cpub_admin.user_list(search => '%')), 0,
		  'a search for % matches no one (it is escaped)');
SELECT throws_ok($$SELECT * FROM cpub_admin.user_list(status => 'gone')$$, '22023', NULL,
				 'an unknown status filter is refused');
SELECT throws_ok($$SELECT * FROM cpub_admin.user_list("limit" => 0)$$, '22023',
				 'page limit must be between 1 and 500', 'a page limit of 0 is refused');
SELECT throws_ok($$SELECT * FROM cpub_admin.user_get('00000000-0000-0000-0000-00000000dead')$$,
				 'P0002', NULL, 'an unknown user is not found');
SELECT throws_ok(format('SELECT cpub_admin.user_disable(%L)', :'bob'), '42501', NULL,
				 'a viewer cannot disable a user');
SELECT throws_ok(format('SELECT cpub_admin.user_set_temporary_password(%L)', :'bob'), '42501', NULL,
				 'a viewer cannot set a temporary password');
RESET ROLE;

SET LOCAL ROLE cpub_developer;
SELECT throws_ok($$SELECT * FROM cpub_admin.user_list()$$, '42501', NULL,
				 'a developer cannot list users');
SELECT throws_ok($$SELECT cpub_api.register('dave@example.com', 'correct horse')$$, '42501', NULL,
				 'a signed-in developer does not call register');
RESET ROLE;
SET LOCAL ROLE cpub_anon;
SELECT throws_ok($$SELECT * FROM cpub_api.me()$$, '42501', NULL,
				 'an anonymous caller cannot call developer functions');
RESET ROLE;

-- Disable: sessions end at once, login is refused with its own SQLSTATE.
SELECT cpub_api.login('bob@example.com', 'correct horse') AS bob_tokens \gset
SET LOCAL ROLE cpub_admin_full;
SELECT is((cpub_admin.user_disable(:'bob', reason => 'spam')).status, 'blocked', 'an admin disables a user');
RESET ROLE;
SELECT throws_ok(format('SELECT cpub_api.authenticate(%L)', (:'bob_tokens'::cpub_api.session_tokens).access_token),
				 '28000', 'invalid access token', 'disabling revokes the user''s sessions');
SELECT throws_ok($$SELECT cpub_api.login('bob@example.com', 'correct horse')$$,
				 '28Q01', 'account is blocked', 'a blocked user cannot log in');
SELECT throws_ok(format('SELECT cpub_admin.user_disable(%L)', :'bob'), '23514',
				 'cannot disable a user who is blocked', 'disabling twice is refused');
SELECT is((cpub_admin.user_enable(:'bob')).status, 'active', 'an admin enables a user');
SELECT lives_ok($$SELECT cpub_api.login('bob@example.com', 'correct horse')$$, 'an enabled user logs in');

-- Soft delete keeps the row and the email, refuses login, can be undone.
SELECT is((cpub_admin.user_delete(:'carol')).status, 'deleted', 'an admin soft-deletes a user');
SELECT throws_ok($$SELECT cpub_api.login('carol@example.com', 'correct horse')$$,
				 '28Q02', 'account is deleted', 'a deleted user cannot log in');
SELECT throws_ok($$SELECT cpub_api.register('carol@example.com', 'correct horse')$$,
				 '23505', NULL, 'a deleted user''s email stays taken');
SELECT throws_ok(format('SELECT cpub_admin.user_enable(%L)', :'carol'), '23514',
				 'cannot enable a user who is deleted', 'enable does not undelete');
SELECT is((cpub_admin.user_restore(:'carol')).status, 'active', 'an admin restores a user');
SELECT throws_ok(format('SELECT cpub_admin.user_restore(%L)', :'carol'), '23514', NULL,
				 'restoring an active user is refused');

-- Temporary password: shown once, allows only a password change.
SELECT cpub_admin.user_set_temporary_password(:'carol') AS carol_pw \gset
SELECT is(length(:'carol_pw'), 16, 'a temporary password has 16 characters');
SELECT pg_temp.act_as('carol@example.com', :'carol_pw') IS NOT NULL AS carol_in \gset
SELECT ok((SELECT temporary_password FROM cpub_api.me()), 'me() works with a temporary password');
SELECT throws_ok($$SELECT cpub_api.update_profile('Caroline')$$, '42501', 'password change required',
				 'a temporary password allows nothing but a password change');
SELECT lives_ok(format('SELECT cpub_api.change_password(%L, %L)', :'carol_pw', 'carols new secret'),
				'the temporary password is changed');
SELECT lives_ok($$SELECT cpub_api.update_profile('Caroline')$$,
				'after the change everything is allowed');
SELECT cpub.clear_identity();

SELECT is((SELECT cpub_admin.user_revoke_sessions(:'bob')), 1, 'revoke_sessions ends the open session');
SELECT set_eq($$SELECT action FROM cpub.audit_log WHERE target_kind = 'user' AND actor_kind = 'db_role'$$,
			  ARRAY['user.disable', 'user.enable', 'user.delete', 'user.restore',
					'user.set_temporary_password', 'user.revoke_sessions'],
			  'every admin action is audited under the admin''s database role');

SELECT * FROM finish();
ROLLBACK;
