-- sql/25_sessions.sql: sessions, access and refresh tokens.
--
-- A session is one login: a family of tokens.  Access tokens are short-lived
-- and checked on every request by cpub_api.authenticate (C, token.c); refresh
-- tokens are long-lived and single-use: each refresh issues a new pair and
-- retires the old refresh token.  Presenting a retired refresh token again
-- means it was copied, so the whole session is revoked.  Only SHA-256
-- digests of tokens are stored.

CREATE TABLE cpub.sessions (
	id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	user_id uuid NOT NULL REFERENCES cpub.users (uuid),
	created_at timestamptz NOT NULL DEFAULT now(),
	refreshed_at timestamptz,
	expires_at timestamptz NOT NULL,	-- of its current refresh token
	revoked_at timestamptz,
	revoked_reason text
);
CREATE INDEX sessions_user ON cpub.sessions (user_id) WHERE revoked_at IS NULL;

-- The hot path: one primary-key probe per request.  Everything authenticate
-- needs is on the row; revoking a session deletes its access tokens.
CREATE TABLE cpub.access_tokens (
	token_hash bytea PRIMARY KEY,
	session_id uuid NOT NULL REFERENCES cpub.sessions (id) ON DELETE CASCADE,
	user_id uuid NOT NULL,
	must_change_password boolean NOT NULL,
	expires_at timestamptz NOT NULL
);
CREATE INDEX access_tokens_session ON cpub.access_tokens (session_id);
CREATE INDEX access_tokens_expires ON cpub.access_tokens (expires_at);

CREATE TABLE cpub.refresh_tokens (
	token_hash bytea PRIMARY KEY,
	session_id uuid NOT NULL REFERENCES cpub.sessions (id) ON DELETE CASCADE,
	created_at timestamptz NOT NULL DEFAULT now(),
	expires_at timestamptz NOT NULL,
	used_at timestamptz			-- set when rotated: presenting it again is reuse
);
CREATE INDEX refresh_tokens_session ON cpub.refresh_tokens (session_id);

ALTER TABLE cpub.sessions ENABLE ROW LEVEL SECURITY;
ALTER TABLE cpub.access_tokens ENABLE ROW LEVEL SECURITY;
ALTER TABLE cpub.refresh_tokens ENABLE ROW LEVEL SECURITY;
CREATE POLICY sessions_self ON cpub.sessions
	USING (user_id = cpub.current_user_id());
CREATE POLICY access_tokens_self ON cpub.access_tokens
	USING (user_id = cpub.current_user_id());
CREATE POLICY refresh_tokens_self ON cpub.refresh_tokens
	USING (session_id = cpub.current_session_id());
SELECT pg_catalog.pg_extension_config_dump('cpub.sessions', '');
SELECT pg_catalog.pg_extension_config_dump('cpub.access_tokens', '');
SELECT pg_catalog.pg_extension_config_dump('cpub.refresh_tokens', '');

-- What login and refresh hand out.
CREATE TYPE cpub_api.session_tokens AS (
	user_id uuid,
	session_id uuid,
	access_token text,
	access_expires_at timestamptz,
	refresh_token text,
	refresh_expires_at timestamptz,
	must_change_password boolean
);

-- cpub.session_issue: a new access and refresh token for a session.  The
-- plain tokens exist only in the result.
CREATE FUNCTION cpub.session_issue(session_id uuid, user_id uuid,
								   must_change_password boolean)
	RETURNS cpub_api.session_tokens
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	r cpub_api.session_tokens;
BEGIN
	r.user_id := session_issue.user_id;
	r.session_id := session_issue.session_id;
	r.must_change_password := session_issue.must_change_password;
	r.access_token := cpub.token_new('cpa');
	r.access_expires_at := now() + (cpub.setting('access_token_ttl') #>> '{}')::interval;
	r.refresh_token := cpub.token_new('cpr');
	r.refresh_expires_at := now() + (cpub.setting('refresh_token_ttl') #>> '{}')::interval;
	INSERT INTO cpub.access_tokens (token_hash, session_id, user_id,
									must_change_password, expires_at)
	VALUES (cpub.token_digest(r.access_token), r.session_id, r.user_id,
			r.must_change_password, r.access_expires_at);
	INSERT INTO cpub.refresh_tokens (token_hash, session_id, expires_at)
	VALUES (cpub.token_digest(r.refresh_token), r.session_id, r.refresh_expires_at);
	UPDATE cpub.sessions s SET expires_at = r.refresh_expires_at
	 WHERE s.id = r.session_id;
	RETURN r;
END
$$;

-- cpub.revoke_sessions: ends a user's open sessions (but keep), deleting
-- their access tokens so that authenticate refuses them at once.  Returns
-- how many sessions it ended.
CREATE FUNCTION cpub.revoke_sessions(user_id uuid, reason text,
									 keep uuid DEFAULT NULL)
	RETURNS integer
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	n integer;
BEGIN
	WITH ended AS (
		UPDATE cpub.sessions s
		   SET revoked_at = now(), revoked_reason = revoke_sessions.reason
		 WHERE s.user_id = revoke_sessions.user_id AND s.revoked_at IS NULL
		   AND s.id IS DISTINCT FROM revoke_sessions.keep
		RETURNING s.id
	), gone AS (
		DELETE FROM cpub.access_tokens t USING ended
		 WHERE t.session_id = ended.id
	)
	SELECT count(*) INTO n FROM ended;
	RETURN n;
END
$$;

-- cpub.revoke_session: ends one session.  Returns whether it was open.
CREATE FUNCTION cpub.revoke_session(session_id uuid, reason text)
	RETURNS boolean
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
BEGIN
	UPDATE cpub.sessions s
	   SET revoked_at = now(), revoked_reason = revoke_session.reason
	 WHERE s.id = revoke_session.session_id AND s.revoked_at IS NULL;
	IF NOT FOUND THEN
		RETURN false;
	END IF;
	DELETE FROM cpub.access_tokens t WHERE t.session_id = revoke_session.session_id;
	RETURN true;
END
$$;

-- cpub_api.login: checks the password and opens a session.
--   28P01 wrong email or password (the same for an unknown email, in the
--         same time: see cpub.password_verify)
--   28Q01 the account is blocked, 28Q02 it is deleted (only said to whoever
--         knows the password)
-- A temporary password opens a session that can only change the password.
CREATE FUNCTION cpub_api.login(email text, password text)
	RETURNS cpub_api.session_tokens
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	addr text := cpub.normalize_email(login.email);
	u cpub.users;
	sid uuid;
	r cpub_api.session_tokens;
BEGIN
	-- No row lock while argon2 runs: parallel attempts on one account must
	-- not queue behind each other (which would also tell that it exists).
	-- No password longer than the policy allows can be right.
	IF pg_catalog.octet_length(login.password) > 1024 THEN
		RAISE EXCEPTION 'invalid email or password' USING ERRCODE = '28P01';
	END IF;
	SELECT * INTO u FROM cpub.users x WHERE x.email = addr;
	IF NOT cpub.password_verify(u.password_hash, login.password) THEN
		RAISE EXCEPTION 'invalid email or password' USING ERRCODE = '28P01';
	END IF;
	IF u.status = 'blocked' THEN
		RAISE EXCEPTION 'account is blocked'
			USING ERRCODE = '28Q01',
				  DETAIL = 'An administrator has disabled this account.',
				  HINT = 'Contact your administrator.';
	ELSIF u.status = 'deleted' THEN
		RAISE EXCEPTION 'account is deleted'
			USING ERRCODE = '28Q02',
				  HINT = 'Contact your administrator to restore it.';
	END IF;

	-- Housekeeping of this user's own rows, and a stronger hash if the
	-- cost settings went up since the password was set.
	DELETE FROM cpub.access_tokens t
	 WHERE t.user_id = u.uuid AND t.expires_at < now();
	IF cpub.password_needs_rehash(u.password_hash) THEN
		UPDATE cpub.users x SET password_hash = cpub.password_hash(login.password)
		 WHERE x.uuid = u.uuid AND x.password_hash = u.password_hash;
	END IF;
	UPDATE cpub.users x SET last_login_at = now() WHERE x.uuid = u.uuid;

	INSERT INTO cpub.sessions (user_id, expires_at)
	VALUES (u.uuid, now()) RETURNING id INTO sid;
	r := cpub.session_issue(sid, u.uuid, u.temporary_password);
	PERFORM cpub.audit('session.login', 'session', sid::text,
					   pg_catalog.jsonb_build_object('temporary_password',
												u.temporary_password),
					   u.uuid);
	RETURN r;
END
$$;
GRANT EXECUTE ON FUNCTION cpub_api.login(text, text) TO cpub_anon;

CREATE FUNCTION cpub_api.authenticate(token text,
									  OUT user_id uuid, OUT role text,
									  OUT session_id uuid,
									  OUT must_change_password boolean,
									  OUT expires_at timestamptz)
	RETURNS record
	LANGUAGE c VOLATILE PARALLEL UNSAFE
	AS 'MODULE_PATHNAME', 'cpub_authenticate';
GRANT EXECUTE ON FUNCTION cpub_api.authenticate(text) TO cpub_anon;

--
-- Admins sign in through an OpenID Connect provider (Keycloak or any other):
-- the HTTP front verifies their token (signature, issuer, audience, expiry;
-- httpd/src/oidc.c) and tells the database who they are with one of these,
-- as the first statement of the request's transaction.  Only cpub_httpd may
-- call them: the database trusts the front's verification, as it trusts its
-- password.  An admin at psql needs neither: the database roles
-- cpub_admin_full and cpub_admin_viewer are granted to them directly.
--
GRANT USAGE ON SCHEMA cpub_api TO cpub_httpd;

-- cpub_api.authenticate_admin(subject, email, admin_role) -> (role, user_id):
-- makes the transaction act for an admin whose token the front verified.
-- admin_role is the platform role the token carried: 'full_admin' gives
-- the database role cpub_admin_full, 'viewer' cpub_admin_viewer (the front
-- switches to the returned role).  The audit log of every change then names
-- the admin (cpub.audit).  user_id is the users row linked to the subject,
-- if any; the link does not make the admin act as that developer.
CREATE FUNCTION cpub_api.authenticate_admin(subject text, email text,
											admin_role text,
											OUT role text, OUT user_id uuid)
	RETURNS record
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
BEGIN
	role := CASE authenticate_admin.admin_role
				WHEN 'full_admin' THEN 'cpub_admin_full'
				WHEN 'viewer' THEN 'cpub_admin_viewer' END;
	IF role IS NULL THEN
		RAISE EXCEPTION 'invalid admin role "%"', authenticate_admin.admin_role
			USING ERRCODE = '22023', HINT = 'Use full_admin or viewer.';
	END IF;
	user_id := (cpub.oidc_linked_user(authenticate_admin.subject)).uuid;
	PERFORM cpub.set_admin_identity(authenticate_admin.subject,
									nullif(authenticate_admin.email, ''),
									user_id);
END
$$;
GRANT EXECUTE ON FUNCTION cpub_api.authenticate_admin(text, text, text)
	TO cpub_httpd;

-- cpub_api.authenticate_linked(subject) -> (role, user_id): an admin's
-- token on a developer's route.  It acts as the developer whose users row
-- is linked to the subject (cpub_admin.user_link_oidc), with no session:
-- 28000 when no active user is linked.
CREATE FUNCTION cpub_api.authenticate_linked(subject text,
											 OUT role text, OUT user_id uuid)
	RETURNS record
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	u cpub.users := cpub.oidc_linked_user(authenticate_linked.subject);
BEGIN
	IF u.uuid IS NULL OR u.status <> 'active' THEN
		RAISE EXCEPTION 'this admin token is not linked to a developer'
			USING ERRCODE = '28000',
				  DETAIL = CASE WHEN u.uuid IS NULL
							   THEN 'No user carries this OpenID Connect subject.'
							   ELSE pg_catalog.format('The linked user is %s.', u.status) END,
				  HINT = 'Use a developer''s access token, or have an admin link the account (cpub_admin.user_link_oidc).';
	END IF;
	PERFORM cpub.set_user_identity(u.uuid, NULL, false);
	role := 'cpub_developer';
	user_id := u.uuid;
END
$$;
GRANT EXECUTE ON FUNCTION cpub_api.authenticate_linked(text) TO cpub_httpd;

-- cpub_admin.whoami() -> (subject, email, user_id, role): the admin this
-- transaction acts for (subject, email and linked user all NULL at psql),
-- and the database role it runs as.
CREATE FUNCTION cpub_admin.whoami(OUT subject text, OUT email text,
								  OUT user_id uuid, OUT role text)
	RETURNS record
	LANGUAGE sql STABLE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
	SELECT a.subject, a.email, a.user_id,
		   coalesce(nullif(pg_catalog.current_setting('role'), 'none'),
					session_user::text)
	  FROM cpub.current_admin() a
$$;
GRANT EXECUTE ON FUNCTION cpub_admin.whoami() TO cpub_admin_viewer;

-- cpub_api.logout: ends the caller's session.
CREATE FUNCTION cpub_api.logout()
	RETURNS void
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	me uuid := cpub.require_user(allow_temporary => true);
	sid uuid := cpub.current_session_id();
BEGIN
	PERFORM cpub.revoke_session(sid, 'logout');
	PERFORM cpub.audit('session.logout', 'session', sid::text);
END
$$;
GRANT EXECUTE ON FUNCTION cpub_api.logout() TO cpub_developer;

-- cpub_api.sessions: the caller's open sessions.
CREATE FUNCTION cpub_api.sessions()
	RETURNS TABLE (session_id uuid, created_at timestamptz,
				   refreshed_at timestamptz, expires_at timestamptz,
				   current boolean)
	LANGUAGE sql STABLE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
	SELECT s.id, s.created_at, s.refreshed_at, s.expires_at,
		   s.id = cpub.current_session_id()
	  FROM cpub.sessions s
	 WHERE s.user_id = cpub.require_user(allow_temporary => true)
	   AND s.revoked_at IS NULL AND s.expires_at > now()
	 ORDER BY s.created_at
$$;
GRANT EXECUTE ON FUNCTION cpub_api.sessions() TO cpub_developer;

-- cpub_api.revoke_session: ends one of the caller's sessions (say, a lost
-- laptop's).
CREATE FUNCTION cpub_api.revoke_session(session_id uuid)
	RETURNS void
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	me uuid := cpub.require_user();
BEGIN
	IF NOT EXISTS (SELECT FROM cpub.sessions s
				   WHERE s.id = revoke_session.session_id AND s.user_id = me
					 AND s.revoked_at IS NULL) THEN
		RAISE EXCEPTION 'session % does not exist', revoke_session.session_id
			USING ERRCODE = 'P0002';
	END IF;
	PERFORM cpub.revoke_session(revoke_session.session_id, 'revoked_by_user');
	PERFORM cpub.audit('session.revoke', 'session', revoke_session.session_id::text);
END
$$;
GRANT EXECUTE ON FUNCTION cpub_api.revoke_session(uuid) TO cpub_developer;

-- cpub_api.rotate_refresh_token: the work of a refresh.  Returns the new
-- tokens with outcome 'rotated'; for a retired token it revokes the session
-- and returns outcome 'reuse_revoked' with no tokens, WITHOUT raising, so
-- that the revocation commits.  Use the procedure cpub_api.refresh, which
-- commits and then raises 28Q05; this function is what it calls.
--   28Q04 unknown, expired or revoked refresh token
CREATE FUNCTION cpub_api.rotate_refresh_token(refresh_token text,
											  OUT outcome text,
											  OUT tokens cpub_api.session_tokens)
	RETURNS record
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	rt cpub.refresh_tokens;
	s cpub.sessions;
	u cpub.users;
	temp boolean;
BEGIN
	SELECT * INTO rt FROM cpub.refresh_tokens x
	 WHERE x.token_hash = cpub.token_digest(rotate_refresh_token.refresh_token)
	   FOR UPDATE;
	IF FOUND THEN
		SELECT * INTO s FROM cpub.sessions x WHERE x.id = rt.session_id FOR UPDATE;
	END IF;
	IF NOT FOUND OR s.revoked_at IS NOT NULL THEN
		RAISE EXCEPTION 'invalid refresh token'
			USING ERRCODE = '28Q04',
				  DETAIL = 'The token is unknown or its session was revoked.',
				  HINT = 'Log in again.';
	END IF;

	IF rt.used_at IS NOT NULL THEN
		PERFORM cpub.revoke_session(s.id, 'refresh_token_reuse');
		PERFORM cpub.audit('session.refresh_reuse', 'session', s.id::text,
						   pg_catalog.jsonb_build_object('token_used_at', rt.used_at),
						   s.user_id);
		IF cpub.in_transaction_block() THEN
			RAISE EXCEPTION 'refresh token reuse detected'
				USING ERRCODE = '28Q05',
					  DETAIL = 'This refresh token was already used. The session is revoked only if the refresh runs outside a transaction block.',
					  HINT = 'Log in again.';
		END IF;
		outcome := 'reuse_revoked';
		RETURN;
	END IF;
	IF rt.expires_at <= now() THEN
		RAISE EXCEPTION 'refresh token expired'
			USING ERRCODE = '28Q04', HINT = 'Log in again.';
	END IF;

	SELECT * INTO u FROM cpub.users x WHERE x.uuid = s.user_id;
	IF u.status <> 'active' THEN
		-- Blocking or deleting revokes sessions, so this is a race with it.
		RAISE EXCEPTION 'invalid refresh token'
			USING ERRCODE = '28Q04', DETAIL = 'The account is not active.';
	END IF;

	UPDATE cpub.refresh_tokens x SET used_at = now()
	 WHERE x.token_hash = rt.token_hash;
	UPDATE cpub.sessions x SET refreshed_at = now() WHERE x.id = s.id;
	SELECT bool_or(t.must_change_password) INTO temp
	  FROM cpub.access_tokens t WHERE t.session_id = s.id;
	tokens := cpub.session_issue(s.id, s.user_id,
								 coalesce(temp, u.temporary_password));
	outcome := 'rotated';
END
$$;
GRANT EXECUTE ON FUNCTION cpub_api.rotate_refresh_token(text) TO cpub_anon;

-- cpub_api.refresh: exchanges a refresh token for a new pair.  A procedure,
-- so that detecting reuse can COMMIT the revocation before raising 28Q05:
-- call it outside a transaction block (CALL cpub_api.refresh('cpr_...')).
-- The new refresh token comes back in refresh_token.
CREATE PROCEDURE cpub_api.refresh(INOUT refresh_token text,
								  INOUT access_token text DEFAULT NULL,
								  INOUT access_expires_at timestamptz DEFAULT NULL,
								  INOUT refresh_expires_at timestamptz DEFAULT NULL,
								  INOUT user_id uuid DEFAULT NULL,
								  INOUT session_id uuid DEFAULT NULL,
								  INOUT must_change_password boolean DEFAULT NULL)
	LANGUAGE plpgsql
	AS $$
DECLARE
	r record;
BEGIN
	SELECT * INTO r FROM cpub_api.rotate_refresh_token(refresh_token);
	IF r.outcome OPERATOR(pg_catalog.=) 'reuse_revoked' THEN
		COMMIT;
		RAISE EXCEPTION 'refresh token reuse detected'
			USING ERRCODE = '28Q05',
				  DETAIL = 'This refresh token was already used, so it may have been copied. The session is revoked.',
				  HINT = 'Log in again.';
	END IF;
	refresh_token := (r.tokens).refresh_token;
	access_token := (r.tokens).access_token;
	access_expires_at := (r.tokens).access_expires_at;
	refresh_expires_at := (r.tokens).refresh_expires_at;
	user_id := (r.tokens).user_id;
	session_id := (r.tokens).session_id;
	must_change_password := (r.tokens).must_change_password;
END
$$;
GRANT EXECUTE ON PROCEDURE cpub_api.refresh(text, text, timestamptz,
	timestamptz, uuid, uuid, boolean) TO cpub_anon;

-- cpub_worker.purge_expired_sessions: maintenance, run by the worker.
-- Deletes expired access tokens, and sessions (with their refresh tokens)
-- expired or revoked for longer than the refresh-token lifetime.  Returns
-- the number of sessions deleted.
CREATE FUNCTION cpub_worker.purge_expired_sessions()
	RETURNS integer
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	keep interval := (cpub.setting('refresh_token_ttl') #>> '{}')::interval;
	n integer;
BEGIN
	DELETE FROM cpub.access_tokens t WHERE t.expires_at < now();
	DELETE FROM cpub.sessions s
	 WHERE coalesce(s.revoked_at, s.expires_at) < now() - keep;
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN n;
END
$$;
GRANT EXECUTE ON FUNCTION cpub_worker.purge_expired_sessions() TO cpub_worker;
