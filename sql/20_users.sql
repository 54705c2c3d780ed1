-- sql/20_users.sql: users, registration, passwords, and the admin's user
-- management.  Sessions and tokens are in 25_sessions.sql.

CREATE TABLE cpub.users (
	uuid uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	email text NOT NULL UNIQUE,		-- normalised: trimmed and lowercased
	password_hash text NOT NULL,	-- argon2id, libsodium's string form
	first_name text,
	last_name text,
	status text NOT NULL DEFAULT 'active'
		CHECK (status IN ('active', 'blocked', 'deleted')),
	temporary_password boolean NOT NULL DEFAULT false,
	keycloak_user_id text UNIQUE,
	tier_id uuid REFERENCES cpub.tiers (id),	-- NULL: the default tier
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now(),
	last_login_at timestamptz,
	status_changed_at timestamptz,
	status_reason text
);
CREATE INDEX users_created ON cpub.users (created_at, uuid);
CREATE INDEX users_tier ON cpub.users (tier_id) WHERE tier_id IS NOT NULL;
ALTER TABLE cpub.users ENABLE ROW LEVEL SECURITY;
CREATE POLICY users_self ON cpub.users
	USING (uuid = cpub.current_user_id());
SELECT pg_catalog.pg_extension_config_dump('cpub.users', '');

-- cpub.actor_name(user_id): how the audit log and the decided_by/granted_by
-- columns name an actor: the user's email, else the database role.
CREATE FUNCTION cpub.actor_name(user_id uuid DEFAULT cpub.current_user_id())
	RETURNS text
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
	SELECT coalesce((SELECT u.email FROM cpub.users u
					  WHERE u.uuid = actor_name.user_id),
					actor_name.user_id::text,
					session_user::text)
$$;

-- cpub.current_actor_name(): the name of whoever acts now, as cpub.audit
-- writes it: an admin signed in through OpenID Connect by email (else
-- subject), else cpub.actor_name().  What decided_by and granted_by say.
CREATE FUNCTION cpub.current_actor_name() RETURNS text
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
	SELECT coalesce((SELECT coalesce(a.email, a.subject)
					   FROM cpub.current_admin() a),
					cpub.actor_name())
$$;

-- cpub.require_known_user(user_id): the user; P0002 when unknown.
-- cpub.user_row(user_id): the same, locked for update.
CREATE FUNCTION cpub.require_known_user(user_id uuid) RETURNS cpub.users
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	u cpub.users;
BEGIN
	SELECT * INTO u FROM cpub.users x WHERE x.uuid = require_known_user.user_id;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'user does not exist'
			USING ERRCODE = 'P0002',
				  DETAIL = pg_catalog.format('No user has id %s.',
											 coalesce(require_known_user.user_id::text, 'NULL'));
	END IF;
	RETURN u;
END
$$;

CREATE FUNCTION cpub.user_row(user_id uuid) RETURNS cpub.users
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	u cpub.users := cpub.require_known_user(user_row.user_id);
BEGIN
	SELECT * INTO u FROM cpub.users x WHERE x.uuid = u.uuid FOR UPDATE;
	RETURN u;
END
$$;

--
-- Developer API
--

-- cpub_api.register: creates an active user and returns its id.
CREATE FUNCTION cpub_api.register(email text, password text,
								  first_name text DEFAULT NULL,
								  last_name text DEFAULT NULL)
	RETURNS uuid
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	addr text := cpub.normalize_email(register.email);
	uid uuid;
BEGIN
	IF register.password IS NULL THEN
		RAISE EXCEPTION 'password is required' USING ERRCODE = '22004';
	END IF;
	PERFORM cpub.check_password(register.password, addr);
	INSERT INTO cpub.users AS u (email, password_hash, first_name, last_name)
	VALUES (addr, cpub.password_hash(register.password),
			cpub.check_person_name(register.first_name, 'first name'),
			cpub.check_person_name(register.last_name, 'last name'))
	ON CONFLICT DO NOTHING
	RETURNING u.uuid INTO uid;
	IF uid IS NULL THEN
		RAISE EXCEPTION 'a user with this email already exists'
			USING ERRCODE = '23505',
				  HINT = 'Log in instead, or ask an admin to reset the password.';
	END IF;
	PERFORM cpub.audit('user.register', 'user', uid::text,
					   pg_catalog.jsonb_build_object('email', addr), uid);
	RETURN uid;
END
$$;
GRANT EXECUTE ON FUNCTION cpub_api.register(text, text, text, text) TO cpub_anon;

-- cpub_api.me: the caller's account.  Allowed with a temporary password.
CREATE FUNCTION cpub_api.me()
	RETURNS TABLE (user_id uuid, email text, first_name text, last_name text,
				   status text, temporary_password boolean, tier text,
				   created_at timestamptz, last_login_at timestamptz)
	LANGUAGE sql STABLE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
	SELECT u.uuid, u.email, u.first_name, u.last_name, u.status,
		   u.temporary_password,
		   (SELECT t.name FROM cpub.tiers t
			 WHERE t.id = u.tier_id OR (u.tier_id IS NULL AND t.is_default)
			 LIMIT 1),
		   u.created_at, u.last_login_at
	  FROM cpub.users u
	 WHERE u.uuid = cpub.require_user(allow_temporary => true)
$$;
GRANT EXECUTE ON FUNCTION cpub_api.me() TO cpub_developer;

-- cpub_api.update_profile: changes the caller's names (NULL keeps one).
CREATE FUNCTION cpub_api.update_profile(first_name text DEFAULT NULL,
										last_name text DEFAULT NULL)
	RETURNS void
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	me uuid := cpub.require_user();
BEGIN
	UPDATE cpub.users u
	   SET first_name = coalesce(cpub.check_person_name(update_profile.first_name, 'first name'), u.first_name),
		   last_name = coalesce(cpub.check_person_name(update_profile.last_name, 'last name'), u.last_name),
		   updated_at = now()
	 WHERE u.uuid = me;
	PERFORM cpub.audit('user.update_profile', 'user', me::text,
					   pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
						   'first_name', update_profile.first_name,
						   'last_name', update_profile.last_name)));
END
$$;
GRANT EXECUTE ON FUNCTION cpub_api.update_profile(text, text) TO cpub_developer;

-- cpub_api.change_password: needs the current password; ends the
-- temporary-password restriction and revokes every other session.
CREATE FUNCTION cpub_api.change_password(current_password text,
										 new_password text)
	RETURNS void
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	me uuid := cpub.require_user(allow_temporary => true);
	u cpub.users := cpub.user_row(me);
	revoked integer;
BEGIN
	IF NOT cpub.password_verify(u.password_hash, change_password.current_password) THEN
		RAISE EXCEPTION 'current password is wrong' USING ERRCODE = '28P01';
	END IF;
	IF change_password.new_password IS NULL THEN
		RAISE EXCEPTION 'new password is required' USING ERRCODE = '22004';
	END IF;
	PERFORM cpub.check_password(change_password.new_password, u.email);
	IF change_password.new_password = change_password.current_password THEN
		RAISE EXCEPTION 'new password must differ from the current one'
			USING ERRCODE = '22Q03';
	END IF;
	UPDATE cpub.users x
	   SET password_hash = cpub.password_hash(change_password.new_password),
		   temporary_password = false, updated_at = now()
	 WHERE x.uuid = me;
	UPDATE cpub.access_tokens t SET must_change_password = false
	 WHERE t.session_id = cpub.current_session_id();
	PERFORM cpub.set_user_identity(me, cpub.current_session_id(), false);
	revoked := cpub.revoke_sessions(me, 'password_changed',
									keep => cpub.current_session_id());
	PERFORM cpub.audit('user.change_password', 'user', me::text,
					   pg_catalog.jsonb_build_object('other_sessions_revoked', revoked,
											  'was_temporary', u.temporary_password));
END
$$;
GRANT EXECUTE ON FUNCTION cpub_api.change_password(text, text) TO cpub_developer;

--
-- Admin API: user management.
--

-- The row admins see of a user (never the password hash).
CREATE TYPE cpub_admin.user_info AS (
	user_id uuid,
	email text,
	first_name text,
	last_name text,
	status text,
	temporary_password boolean,
	keycloak_user_id text,
	tier text,
	created_at timestamptz,
	updated_at timestamptz,
	last_login_at timestamptz,
	status_changed_at timestamptz,
	status_reason text,
	active_sessions bigint
);

-- cpub.user_info(u): a user as admins see it, one row.  An inlinable row
-- projection (docs/sql-conventions.md): call it in FROM, as
-- CROSS JOIN LATERAL cpub.user_info(u) i, and the planner folds it into the
-- calling query.
CREATE FUNCTION cpub.user_info(u cpub.users)
	RETURNS SETOF cpub_admin.user_info
	LANGUAGE sql STABLE ROWS 1
	AS $$
	SELECT user_info.u.uuid, user_info.u.email, user_info.u.first_name,
		   user_info.u.last_name, user_info.u.status,
		   user_info.u.temporary_password, user_info.u.keycloak_user_id,
		   (SELECT t.name FROM cpub.tiers t
			 WHERE t.id OPERATOR(pg_catalog.=) user_info.u.tier_id
				OR (user_info.u.tier_id IS NULL AND t.is_default)
			 LIMIT 1),
		   user_info.u.created_at, user_info.u.updated_at,
		   user_info.u.last_login_at, user_info.u.status_changed_at,
		   user_info.u.status_reason,
		   (SELECT pg_catalog.count(*) FROM cpub.sessions s
			 WHERE s.user_id OPERATOR(pg_catalog.=) user_info.u.uuid
			   AND s.revoked_at IS NULL
			   AND s.expires_at OPERATOR(pg_catalog.>) pg_catalog.now())
$$;

-- cpub_admin.user_list: users by email, filtered by a search over email and
-- names and by status; keyset paging on email.
CREATE FUNCTION cpub_admin.user_list(search text DEFAULT NULL,
									 status text DEFAULT NULL,
									 after text DEFAULT NULL,
									 "limit" integer DEFAULT 50)
	RETURNS SETOF cpub_admin.user_info
	LANGUAGE plpgsql STABLE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	pattern text;
BEGIN
	PERFORM cpub.check_page_limit(user_list."limit");
	IF user_list.status IS NOT NULL
	   AND user_list.status NOT IN ('active', 'blocked', 'deleted') THEN
		RAISE EXCEPTION 'invalid user status "%"', user_list.status
			USING ERRCODE = '22023',
				  HINT = 'Use active, blocked or deleted.';
	END IF;
	IF user_list.search IS NOT NULL THEN
		pattern := '%' || pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(
			user_list.search, '\', '\\'), '%', '\%'), '_', '\_') || '%';
	END IF;
	RETURN QUERY
	SELECT i.*
	  FROM cpub.users u
	 CROSS JOIN LATERAL cpub.user_info(u) i
	 WHERE (user_list.after IS NULL OR u.email > user_list.after)
	   AND (user_list.status IS NULL OR u.status = user_list.status)
	   AND (pattern IS NULL OR u.email ILIKE pattern
			OR u.first_name ILIKE pattern OR u.last_name ILIKE pattern)
	 ORDER BY u.email
	 LIMIT user_list."limit";
END
$$;
GRANT EXECUTE ON FUNCTION cpub_admin.user_list(text, text, text, integer)
	TO cpub_admin_viewer;

CREATE FUNCTION cpub_admin.user_get(user_id uuid)
	RETURNS cpub_admin.user_info
	LANGUAGE sql STABLE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
	SELECT i.*
	  FROM cpub.require_known_user(user_get.user_id) u
	 CROSS JOIN LATERAL cpub.user_info(u) i
$$;
GRANT EXECUTE ON FUNCTION cpub_admin.user_get(uuid) TO cpub_admin_viewer;

-- cpub.user_set_status: the one place a user's status changes.  Checks the
-- transition, revokes sessions when leaving 'active', audits.
CREATE FUNCTION cpub.user_set_status(user_id uuid, from_status text,
									 to_status text, reason text, action text)
	RETURNS cpub_admin.user_info
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	u cpub.users := cpub.user_row(user_set_status.user_id);
	revoked integer := 0;
BEGIN
	IF u.status <> user_set_status.from_status THEN
		RAISE EXCEPTION 'cannot % a user who is %', pg_catalog.split_part(action, '.', 2), u.status
			USING ERRCODE = '23514',
				  DETAIL = pg_catalog.format('Only a user who is %s can be moved to %s.',
									  user_set_status.from_status, user_set_status.to_status),
				  HINT = CASE u.status WHEN 'deleted' THEN 'Restore the user first.'
									   WHEN 'blocked' THEN 'Enable the user first.'
									   ELSE 'The user is already active.' END;
	END IF;
	UPDATE cpub.users x
	   SET status = user_set_status.to_status, status_changed_at = now(),
		   status_reason = user_set_status.reason, updated_at = now()
	 WHERE x.uuid = u.uuid
	RETURNING * INTO u;
	IF user_set_status.to_status <> 'active' THEN
		revoked := cpub.revoke_sessions(u.uuid, user_set_status.to_status);
	END IF;
	PERFORM cpub.audit(user_set_status.action, 'user', u.uuid::text,
					   pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
						   'email', u.email, 'reason', user_set_status.reason,
						   'sessions_revoked', revoked)));
	RETURN (SELECT i FROM cpub.user_info(u) i);
END
$$;

CREATE FUNCTION cpub_admin.user_disable(user_id uuid, reason text DEFAULT NULL)
	RETURNS cpub_admin.user_info
	LANGUAGE sql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$ SELECT cpub.user_set_status(user_id, 'active', 'blocked', reason, 'user.disable') $$;
CREATE FUNCTION cpub_admin.user_enable(user_id uuid, reason text DEFAULT NULL)
	RETURNS cpub_admin.user_info
	LANGUAGE sql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$ SELECT cpub.user_set_status(user_id, 'blocked', 'active', reason, 'user.enable') $$;
-- Soft delete: the row, its email and everything that references it stay;
-- login is refused and sessions are revoked.
CREATE FUNCTION cpub_admin.user_delete(user_id uuid, reason text DEFAULT NULL)
	RETURNS cpub_admin.user_info
	LANGUAGE sql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$ SELECT cpub.user_set_status(user_id, 'active', 'deleted', reason, 'user.delete') $$;
CREATE FUNCTION cpub_admin.user_restore(user_id uuid, reason text DEFAULT NULL)
	RETURNS cpub_admin.user_info
	LANGUAGE sql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$ SELECT cpub.user_set_status(user_id, 'deleted', 'active', reason, 'user.restore') $$;
GRANT EXECUTE ON FUNCTION cpub_admin.user_disable(uuid, text),
	cpub_admin.user_enable(uuid, text), cpub_admin.user_delete(uuid, text),
	cpub_admin.user_restore(uuid, text) TO cpub_admin_full;

-- cpub_admin.user_set_temporary_password: a new random password, returned
-- once and stored only as a hash; the user must change it after logging in.
CREATE FUNCTION cpub_admin.user_set_temporary_password(user_id uuid)
	RETURNS text
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	u cpub.users := cpub.user_row(user_set_temporary_password.user_id);
	pw text := cpub.random_password();
	revoked integer;
BEGIN
	IF u.status = 'deleted' THEN
		RAISE EXCEPTION 'cannot set a password of a deleted user'
			USING ERRCODE = '23514', HINT = 'Restore the user first.';
	END IF;
	UPDATE cpub.users x
	   SET password_hash = cpub.password_hash(pw), temporary_password = true,
		   updated_at = now()
	 WHERE x.uuid = u.uuid;
	revoked := cpub.revoke_sessions(u.uuid, 'temporary_password');
	PERFORM cpub.audit('user.set_temporary_password', 'user', u.uuid::text,
					   pg_catalog.jsonb_build_object('email', u.email,
											  'sessions_revoked', revoked));
	RETURN pw;
END
$$;
GRANT EXECUTE ON FUNCTION cpub_admin.user_set_temporary_password(uuid)
	TO cpub_admin_full;

-- cpub_admin.user_revoke_sessions: logs a user out everywhere; returns how
-- many sessions were open.
CREATE FUNCTION cpub_admin.user_revoke_sessions(user_id uuid)
	RETURNS integer
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	u cpub.users := cpub.user_row(user_revoke_sessions.user_id);
	revoked integer := cpub.revoke_sessions(u.uuid, 'admin');
BEGIN
	PERFORM cpub.audit('user.revoke_sessions', 'user', u.uuid::text,
					   pg_catalog.jsonb_build_object('sessions_revoked', revoked));
	RETURN revoked;
END
$$;
GRANT EXECUTE ON FUNCTION cpub_admin.user_revoke_sessions(uuid) TO cpub_admin_full;

-- cpub.oidc_linked_user(subject): the users row an OpenID Connect subject
-- is linked to (users.keycloak_user_id), or NULL.
CREATE FUNCTION cpub.oidc_linked_user(subject text) RETURNS cpub.users
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
	SELECT u FROM cpub.users u
	 WHERE u.keycloak_user_id OPERATOR(pg_catalog.=) oidc_linked_user.subject
$$;

-- cpub_admin.user_link_oidc(user_id, subject): links a user to an OpenID
-- Connect subject (the provider's "sub", Keycloak's user id), or unlinks it
-- (NULL).  A linked admin's changes are audited under that user too, and
-- the admin's token works on the developer routes as that user.  23505
-- when another user carries the subject.
CREATE FUNCTION cpub_admin.user_link_oidc(user_id uuid, subject text)
	RETURNS cpub_admin.user_info
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	u cpub.users := cpub.user_row(user_link_oidc.user_id);
	other cpub.users;
	subj text := nullif(user_link_oidc.subject, '');
BEGIN
	IF pg_catalog.length(subj) > 255 THEN
		RAISE EXCEPTION 'the subject must be at most 255 characters'
			USING ERRCODE = '22023';
	END IF;
	other := cpub.oidc_linked_user(subj);
	IF other.uuid IS NOT NULL AND other.uuid <> u.uuid THEN
		RAISE EXCEPTION 'the subject is linked to another user'
			USING ERRCODE = '23505',
				  DETAIL = pg_catalog.format('%s carries it.', other.email),
				  HINT = 'Unlink that user first (subject null).';
	END IF;
	UPDATE cpub.users x SET keycloak_user_id = subj, updated_at = pg_catalog.now()
	 WHERE x.uuid = u.uuid
	RETURNING * INTO u;
	PERFORM cpub.audit(CASE WHEN subj IS NULL THEN 'user.unlink_oidc'
							ELSE 'user.link_oidc' END,
					   'user', u.uuid::text,
					   pg_catalog.jsonb_build_object('email', u.email,
													 'subject', subj));
	RETURN (SELECT i FROM cpub.user_info(u) i);
END
$$;
GRANT EXECUTE ON FUNCTION cpub_admin.user_link_oidc(uuid, text) TO cpub_admin_full;
