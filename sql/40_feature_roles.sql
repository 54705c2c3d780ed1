-- sql/40_feature_roles.sql: feature roles, named roles an admin grants a user
-- to open a feature to them (early_access, beta_builds, ...).  Other
-- functions gate a feature with cpub.has_feature_role(user, role); early
-- access (45_early_access.sql) grants and revokes the role 'early_access'.

CREATE TABLE cpub.feature_roles (
	user_id uuid NOT NULL REFERENCES cpub.users (uuid) ON DELETE CASCADE,
	role text NOT NULL
		CHECK (role = cpub.check_identifier('feature_role', role)),
	granted_at timestamptz NOT NULL DEFAULT now(),
	granted_by text NOT NULL,		-- the actor's name, as in the audit log
	PRIMARY KEY (user_id, role)
);
-- Who holds a role (feature_role_list(role => ...)).
CREATE INDEX feature_roles_role ON cpub.feature_roles (role, user_id);
ALTER TABLE cpub.feature_roles ENABLE ROW LEVEL SECURITY;
CREATE POLICY feature_roles_self ON cpub.feature_roles
	USING (user_id = cpub.current_user_id());
SELECT pg_catalog.pg_extension_config_dump('cpub.feature_roles', '');

--
-- Private helpers.
--

-- cpub.has_feature_role(user_id, role): whether the user holds the role.
-- One probe of the primary key; false for NULL arguments.
CREATE FUNCTION cpub.has_feature_role(user_id uuid, role text) RETURNS boolean
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
	SELECT EXISTS (SELECT FROM cpub.feature_roles f
					WHERE f.user_id = has_feature_role.user_id
					  AND f.role = has_feature_role.role)
$$;

-- cpub.feature_role_add(user_id, role, detail): grants the role and writes
-- the audit record 'feature_role.grant' (detail merged into its detail).
-- Returns false, changing nothing, when the user already holds it.  The
-- caller has checked the user and the role name.
CREATE FUNCTION cpub.feature_role_add(user_id uuid, role text,
									  detail jsonb DEFAULT '{}')
	RETURNS boolean
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
BEGIN
	INSERT INTO cpub.feature_roles AS f (user_id, role, granted_by)
	VALUES (feature_role_add.user_id, feature_role_add.role,
			cpub.current_actor_name())
	ON CONFLICT ON CONSTRAINT feature_roles_pkey DO NOTHING;
	IF NOT FOUND THEN
		RETURN false;
	END IF;
	PERFORM cpub.audit('feature_role.grant', 'user', feature_role_add.user_id::text,
					   jsonb_build_object('role', feature_role_add.role)
					   || coalesce(feature_role_add.detail, '{}'));
	RETURN true;
END
$$;

-- cpub.feature_role_remove(user_id, role, detail): revokes the role and
-- writes the audit record 'feature_role.revoke'.  Returns false, changing
-- nothing, when the user does not hold it.
CREATE FUNCTION cpub.feature_role_remove(user_id uuid, role text,
										 detail jsonb DEFAULT '{}')
	RETURNS boolean
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	held cpub.feature_roles;
BEGIN
	DELETE FROM cpub.feature_roles f
	 WHERE f.user_id = feature_role_remove.user_id
	   AND f.role = feature_role_remove.role
	RETURNING f.* INTO held;
	IF NOT FOUND THEN
		RETURN false;
	END IF;
	PERFORM cpub.audit('feature_role.revoke', 'user', feature_role_remove.user_id::text,
					   jsonb_build_object('role', held.role,
										  'granted_at', held.granted_at,
										  'granted_by', held.granted_by)
					   || coalesce(feature_role_remove.detail, '{}'));
	RETURN true;
END
$$;

--
-- Developer functions.
--

-- cpub_api.my_feature_roles(): the caller's feature roles, by name.
CREATE FUNCTION cpub_api.my_feature_roles()
	RETURNS TABLE (role text, granted_at timestamptz)
	LANGUAGE plpgsql STABLE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	me uuid := cpub.require_user();
BEGIN
	RETURN QUERY
	SELECT f.role, f.granted_at
	  FROM cpub.feature_roles f
	 WHERE f.user_id = me
	 ORDER BY f.role;
END
$$;
GRANT EXECUTE ON FUNCTION cpub_api.my_feature_roles() TO cpub_developer;

-- cpub_api.has_feature_role(role): whether the caller holds the role.
CREATE FUNCTION cpub_api.has_feature_role(role text) RETURNS boolean
	LANGUAGE plpgsql STABLE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	me uuid := cpub.require_user();
BEGIN
	RETURN cpub.has_feature_role(me, has_feature_role.role);
END
$$;
GRANT EXECUTE ON FUNCTION cpub_api.has_feature_role(text) TO cpub_developer;

--
-- Admin functions.
--

-- cpub_admin.feature_role_list(user_id, role): every grant, or one user's
-- (P0002 for an unknown user), or one role's; by user email, then role.
CREATE FUNCTION cpub_admin.feature_role_list(user_id uuid DEFAULT NULL,
											 role text DEFAULT NULL)
	RETURNS TABLE (user_id uuid, email text, role text,
				   granted_at timestamptz, granted_by text)
	LANGUAGE sql STABLE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
	SELECT cpub.require_known_user(feature_role_list.user_id)
	 WHERE feature_role_list.user_id IS NOT NULL;
	SELECT f.user_id, u.email, f.role, f.granted_at, f.granted_by
	  FROM cpub.feature_roles f
	  JOIN cpub.users u ON u.uuid = f.user_id
	 WHERE (feature_role_list.user_id IS NULL OR f.user_id = feature_role_list.user_id)
	   AND (feature_role_list.role IS NULL OR f.role = feature_role_list.role)
	 ORDER BY u.email, f.role;
$$;
GRANT EXECUTE ON FUNCTION cpub_admin.feature_role_list(uuid, text)
	TO cpub_admin_viewer;

-- cpub_admin.feature_role_grant(user_id, role): grants a feature role.
-- 22Q04 for an invalid role name, P0002 for an unknown user, 23505 when the
-- user already holds the role.  Returns the grant.
CREATE FUNCTION cpub_admin.feature_role_grant(user_id uuid, role text)
	RETURNS SETOF cpub.feature_roles
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
BEGIN
	IF feature_role_grant.role IS NULL THEN
		RAISE EXCEPTION 'feature role must not be null'
			USING ERRCODE = '22004';
	END IF;
	PERFORM cpub.check_identifier('feature_role', feature_role_grant.role);
	PERFORM cpub.require_known_user(feature_role_grant.user_id);
	IF NOT cpub.feature_role_add(feature_role_grant.user_id,
								 feature_role_grant.role) THEN
		RAISE EXCEPTION 'user already holds feature role "%"', feature_role_grant.role
			USING ERRCODE = '23505',
				  DETAIL = pg_catalog.format('User %s was granted it before.',
											 feature_role_grant.user_id),
				  HINT = 'List the user''s roles with cpub_admin.feature_role_list.';
	END IF;
	RETURN QUERY
	SELECT f.*
	  FROM cpub.feature_roles f
	 WHERE f.user_id = feature_role_grant.user_id
	   AND f.role = feature_role_grant.role;
END
$$;
GRANT EXECUTE ON FUNCTION cpub_admin.feature_role_grant(uuid, text)
	TO cpub_admin_full;

-- cpub_admin.feature_role_revoke(user_id, role): revokes a feature role.
-- P0002 for an unknown user or a role the user does not hold.
CREATE FUNCTION cpub_admin.feature_role_revoke(user_id uuid, role text)
	RETURNS void
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
BEGIN
	PERFORM cpub.require_known_user(feature_role_revoke.user_id);
	IF NOT cpub.feature_role_remove(feature_role_revoke.user_id,
									feature_role_revoke.role) THEN
		RAISE EXCEPTION 'user does not hold feature role "%"',
						coalesce(feature_role_revoke.role, 'NULL')
			USING ERRCODE = 'P0002',
				  DETAIL = pg_catalog.format('User %s has no such feature role.',
											 feature_role_revoke.user_id),
				  HINT = 'List the user''s roles with cpub_admin.feature_role_list.';
	END IF;
END
$$;
GRANT EXECUTE ON FUNCTION cpub_admin.feature_role_revoke(uuid, text)
	TO cpub_admin_full;
