-- tests/pgtap/25_sessions.sql: login sessions, authenticate, refresh-token
-- rotation and reuse, logout, and the identity's transaction scope.
-- (The durable revocation on reuse, which commits, is in 26_refresh_reuse.sql.)
BEGIN;
SELECT plan(40);

SELECT cpub_api.register('dana@example.com', 'correct horse') AS dana \gset
SELECT * FROM cpub_api.login('dana@example.com', 'correct horse') \gset login_

SELECT matches(:'login_access_token'::text, '^cpa_[A-Za-z0-9_-]{43}$', 'an access token is cpa_ and 256 random bits');
SELECT matches(:'login_refresh_token'::text, '^cpr_[A-Za-z0-9_-]{43}$', 'a refresh token is cpr_ and 256 random bits');
SELECT ok(:'login_access_expires_at'::timestamptz BETWEEN now() + '14 minutes' AND now() + '16 minutes',
		  'an access token lives 15 minutes');
SELECT ok(:'login_refresh_expires_at'::timestamptz BETWEEN now() + '29 days' AND now() + '31 days',
		  'a refresh token lives 30 days');
SELECT is((SELECT count(*)::int FROM cpub.access_tokens
			WHERE token_hash = cpub.token_digest(:'login_access_token')), 1,
		  'the access token is stored as its SHA-256 digest');
SELECT is((SELECT count(*)::int FROM cpub.access_tokens t, cpub.refresh_tokens r
			WHERE position(convert_to(:'login_access_token', 'UTF8') IN t.token_hash) > 0
			   OR position(convert_to(:'login_refresh_token', 'UTF8') IN r.token_hash) > 0), 0,
		  'no token is stored in the clear');
SELECT is((SELECT action FROM cpub.audit_log ORDER BY id DESC LIMIT 1), 'session.login', 'login is audited');
SELECT is(cpub.current_user_id(), NULL, 'login does not authenticate the transaction');

--
-- authenticate
--
SELECT results_eq(format($$SELECT user_id, role, session_id FROM cpub_api.authenticate(%L)$$, :'login_access_token'),
				  format($$VALUES (%L::uuid, 'cpub_developer'::text, %L::uuid)$$, :'dana', :'login_session_id'),
				  'authenticate returns the user, the role to switch to, and the session');
SELECT is(cpub.current_user_id(), :'dana'::uuid, 'authenticate sets the transaction''s identity');
SELECT is(cpub.current_session_id(), :'login_session_id'::uuid, 'and its session');
SELECT throws_ok($$SELECT cpub_api.authenticate('cpa_nonsense')$$, '28000', 'invalid access token',
				 'an unknown token is refused');
SELECT throws_ok(format($$SELECT cpub_api.authenticate(%L)$$, :'login_refresh_token'), '28000', 'invalid access token',
				 'a refresh token is not an access token');
SELECT throws_ok($$SELECT cpub_api.authenticate('')$$, '28000', 'invalid access token', 'an empty token is refused');
SELECT throws_ok(format($$SELECT cpub_api.authenticate(%L)$$, repeat('x', 10000)), '28000', 'invalid access token',
				 'an oversized token is refused before any work');
SELECT throws_ok($$SELECT cpub_api.authenticate(NULL)$$, '28000', 'invalid access token',
				 'a NULL token authenticates no one');

-- Identity follows savepoints: rolled back with the one that set it.
SELECT cpub.clear_identity();
SAVEPOINT before_auth;
SELECT user_id FROM cpub_api.authenticate(:'login_access_token') \gset ignored_
ROLLBACK TO SAVEPOINT before_auth;
SELECT is(cpub.current_user_id(), NULL, 'ROLLBACK TO a savepoint forgets an identity set after it');
SAVEPOINT before_auth2;
SELECT user_id FROM cpub_api.authenticate(:'login_access_token') \gset ignored_
RELEASE SAVEPOINT before_auth2;
SELECT is(cpub.current_user_id(), :'dana'::uuid, 'RELEASE keeps it');

-- Expiry
UPDATE cpub.access_tokens SET expires_at = now() - interval '1 second'
 WHERE token_hash = cpub.token_digest(:'login_access_token');
SELECT throws_ok(format($$SELECT cpub_api.authenticate(%L)$$, :'login_access_token'), '28Q03',
				 'access token expired', 'an expired access token is refused with its own SQLSTATE');

--
-- refresh: rotation
--
SELECT (r.tokens).* FROM cpub_api.rotate_refresh_token(:'login_refresh_token') r \gset new_
SELECT isnt(:'new_refresh_token'::text, :'login_refresh_token', 'refresh issues a new refresh token');
SELECT is(:'new_session_id'::uuid, :'login_session_id'::uuid, 'in the same session');
SELECT lives_ok(format($$SELECT cpub_api.authenticate(%L)$$, :'new_access_token'), 'the new access token works');
SELECT throws_ok(format($$SELECT cpub_api.rotate_refresh_token(%L)$$, :'login_refresh_token'), '28Q05',
				 'refresh token reuse detected',
				 'presenting a used refresh token is reuse (inside a transaction block it only raises)');
SELECT throws_ok($$SELECT cpub_api.rotate_refresh_token('cpr_nonsense')$$, '28Q04', 'invalid refresh token',
				 'an unknown refresh token is refused');
UPDATE cpub.refresh_tokens SET expires_at = now() - interval '1 second'
 WHERE token_hash = cpub.token_digest(:'new_refresh_token');
SELECT throws_ok(format($$SELECT cpub_api.rotate_refresh_token(%L)$$, :'new_refresh_token'), '28Q04',
				 'refresh token expired', 'an expired refresh token is refused');

-- The procedure, inside a transaction block, refreshes normally.
SELECT * FROM cpub_api.login('dana@example.com', 'correct horse') \gset two_
CALL cpub_api.refresh(:'two_refresh_token') \gset proc_
SELECT ok(:'proc_refresh_token'::text <> :'two_refresh_token' AND :'proc_access_token'::text LIKE 'cpa\_%',
		  'CALL cpub_api.refresh returns a new pair');

--
-- logout, sessions, revoke_session
--
SELECT user_id FROM cpub_api.authenticate(:'proc_access_token') \gset ignored_
SELECT is((SELECT count(*)::int FROM cpub_api.sessions()), 2, 'sessions() lists the caller''s open sessions');
SELECT is((SELECT session_id FROM cpub_api.sessions() WHERE current), :'two_session_id'::uuid,
		  'and marks the current one');
SELECT lives_ok(format($$SELECT cpub_api.revoke_session(%L)$$, :'login_session_id'), 'revoke another session');
SELECT throws_ok(format($$SELECT cpub_api.authenticate(%L)$$, :'new_access_token'), '28000', NULL,
				 'its access token stops working at once');
SELECT user_id FROM cpub_api.authenticate(:'proc_access_token') \gset ignored_
SELECT throws_ok(format($$SELECT cpub_api.revoke_session(%L)$$, :'login_session_id'), 'P0002', NULL,
				 'revoking it again: not found');
SELECT throws_ok($$SELECT cpub_api.revoke_session('00000000-0000-0000-0000-00000000dead')$$, 'P0002', NULL,
				 'an unknown session is not found');
SELECT lives_ok($$SELECT cpub_api.logout()$$, 'logout');
SELECT throws_ok(format($$SELECT cpub_api.authenticate(%L)$$, :'proc_access_token'), '28000', NULL,
				 'after logout the access token is refused');
SELECT throws_ok(format($$SELECT cpub_api.rotate_refresh_token(%L)$$, :'proc_refresh_token'), '28Q04',
				 'invalid refresh token', 'after logout the refresh token is refused');
SELECT is((SELECT count(*)::int FROM cpub.audit_log WHERE action IN ('session.logout', 'session.revoke')), 2,
		  'logout and revoke are audited');

--
-- privileges and maintenance
--
SET LOCAL ROLE cpub_anon;
SELECT throws_ok($$SELECT cpub_api.logout()$$, '42501', NULL, 'an anonymous caller cannot log out');
SELECT throws_ok($$SELECT * FROM cpub.access_tokens$$, '42501', NULL, 'the token tables are out of reach');
RESET ROLE;
SET LOCAL ROLE cpub_worker;
SELECT cmp_ok(cpub_worker.purge_expired_sessions(), '>=', 0, 'the worker purges expired sessions');
RESET ROLE;
UPDATE cpub.sessions SET revoked_at = now() - interval '31 days';
SELECT is(cpub_worker.purge_expired_sessions(), 2, 'sessions revoked longer ago than the refresh lifetime are deleted');

SELECT * FROM finish();
ROLLBACK;
