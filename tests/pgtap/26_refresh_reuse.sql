-- tests/pgtap/26_refresh_reuse.sql: presenting a used refresh token revokes
-- the whole session, durably.  cpub_api.refresh commits the revocation and
-- then raises, so this file runs outside a transaction block and cleans up
-- after itself.
\set ON_ERROR_STOP 0
SELECT plan(6);

SELECT 'reuse-' || gen_random_uuid() || '@example.com' AS email \gset
SELECT cpub_api.register(:'email', 'correct horse') AS uid \gset
SELECT * FROM cpub_api.login(:'email', 'correct horse') \gset first_
CALL cpub_api.refresh(:'first_refresh_token') \gset second_
SELECT ok(:'second_refresh_token'::text <> :'first_refresh_token', 'the first refresh rotates the token');

-- The thief (or a confused client) presents the old token again.
\set VERBOSITY terse
CALL cpub_api.refresh(:'first_refresh_token');
SELECT is(:'LAST_ERROR_SQLSTATE'::text, '28Q05'::text, 'reusing a refresh token raises 28Q05');

SELECT is((SELECT revoked_reason FROM cpub.sessions WHERE id = :'first_session_id'),
		  'refresh_token_reuse', 'the session is revoked, and the revocation committed');
CALL cpub_api.refresh(:'second_refresh_token');
SELECT is(:'LAST_ERROR_SQLSTATE'::text, '28Q04'::text, 'the newest refresh token of the family is dead too');
BEGIN;
SELECT cpub_api.authenticate(:'second_access_token');
ROLLBACK;
SELECT is(:'LAST_ERROR_SQLSTATE'::text, '28000'::text, 'and so is its access token');
SELECT is((SELECT count(*)::int FROM cpub.audit_log
			WHERE action = 'session.refresh_reuse' AND actor_user_id = :'uid'), 1,
		  'the reuse is audited');

SELECT * FROM finish();

-- clean up the committed rows
DELETE FROM cpub.audit_log WHERE actor_user_id = :'uid';
DELETE FROM cpub.sessions WHERE user_id = :'uid';
DELETE FROM cpub.users WHERE uuid = :'uid';
