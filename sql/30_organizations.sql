-- sql/30_organizations.sql: organizations, their members and their roles.
--
-- Roles: an owner does everything; an admin adds and removes members and
-- sets the roles of non-owners, and never grants owner; a member reads and
-- may leave.  An organization always keeps at least one owner.  To someone
-- who is not a member an organization does not exist (P0002), so names do
-- not leak through the developer API.

CREATE TABLE cpub.organizations (
	id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	name text NOT NULL UNIQUE
		CHECK (cpub.check_identifier('organization', name) = name),
	display_name text,
	tier_id uuid REFERENCES cpub.tiers (id),	-- NULL: the default tier
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now(),
	-- The developer who created it; NULL when an admin did (the audit log
	-- names the admin) or when that user row was removed.
	created_by uuid REFERENCES cpub.users (uuid) ON DELETE SET NULL
);
CREATE INDEX organizations_tier ON cpub.organizations (tier_id)
	WHERE tier_id IS NOT NULL;

CREATE TABLE cpub.organization_members (
	organization_id uuid NOT NULL
		REFERENCES cpub.organizations (id) ON DELETE CASCADE,
	user_id uuid NOT NULL REFERENCES cpub.users (uuid) ON DELETE CASCADE,
	role text NOT NULL CHECK (role IN ('owner', 'admin', 'member')),
	created_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (organization_id, user_id)
);
CREATE INDEX organization_members_user
	ON cpub.organization_members (user_id, organization_id);

-- cpub.organization_ids_of(user_id): the organizations a user is a member
-- of.  SECURITY DEFINER so that the policies below can use it without
-- recursing into organization_members' own policy.
CREATE FUNCTION cpub.organization_ids_of(user_id uuid)
	RETURNS SETOF uuid
	LANGUAGE sql STABLE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
	SELECT m.organization_id FROM cpub.organization_members m
	 WHERE m.user_id = organization_ids_of.user_id
$$;

-- Members see their organizations and everyone's membership in them.
ALTER TABLE cpub.organizations ENABLE ROW LEVEL SECURITY;
CREATE POLICY organizations_member ON cpub.organizations
	USING (id IN (SELECT cpub.organization_ids_of(cpub.current_user_id())));
ALTER TABLE cpub.organization_members ENABLE ROW LEVEL SECURITY;
CREATE POLICY organization_members_member ON cpub.organization_members
	USING (organization_id IN
		   (SELECT cpub.organization_ids_of(cpub.current_user_id())));

SELECT pg_catalog.pg_extension_config_dump('cpub.organizations', '');
SELECT pg_catalog.pg_extension_config_dump('cpub.organization_members', '');

--
-- Helpers, shared by the developer and the admin API.
--

-- cpub.check_organization_role(role): the role unchanged; 22023 unless it
-- is owner, admin or member.
CREATE FUNCTION cpub.check_organization_role(role text)
	RETURNS text
	LANGUAGE plpgsql IMMUTABLE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
BEGIN
	IF check_organization_role.role IS NULL
	   OR check_organization_role.role NOT IN ('owner', 'admin', 'member') THEN
		RAISE EXCEPTION 'invalid organization role "%"',
			coalesce(check_organization_role.role, 'null')
			USING ERRCODE = '22023',
				  DETAIL = 'A role is owner, admin or member.';
	END IF;
	RETURN check_organization_role.role;
END
$$;

-- cpub.organization_lock(name): the id of the organization of that name,
-- locked FOR UPDATE so that membership changes are serialised and the
-- last-owner rule holds; P0002 when there is none.
CREATE FUNCTION cpub.organization_lock(name text)
	RETURNS uuid
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	oid_ uuid;
BEGIN
	-- An UPDATE, not SELECT ... FOR UPDATE: under REPEATABLE READ or
	-- SERIALIZABLE a mere lock lets the second transaction go on with its
	-- old snapshot, while an update makes it fail with 40001 (retry).
	UPDATE cpub.organizations o SET updated_at = now()
	 WHERE o.name = organization_lock.name
	RETURNING o.id INTO oid_;
	IF oid_ IS NULL THEN
		RAISE EXCEPTION 'organization "%" not found', organization_lock.name
			USING ERRCODE = 'P0002';
	END IF;
	RETURN oid_;
END
$$;

-- cpub.organization_of_member(organization, user_id, lock): the
-- organization's id and the user's role in it, the organization row locked
-- (updated) first when lock.  P0002, exactly as for an unknown name, when
-- the user is not a member.
CREATE FUNCTION cpub.organization_of_member(organization text, user_id uuid,
											lock boolean DEFAULT false,
											OUT organization_id uuid,
											OUT role text)
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
BEGIN
	IF organization_of_member.lock THEN
		-- Lock by name alone (an UPDATE: see organization_lock), then read
		-- the role in a new statement: under READ COMMITTED it sees whatever
		-- the previous holder of the lock committed.
		UPDATE cpub.organizations o SET updated_at = now()
		 WHERE o.name = organization_of_member.organization
		RETURNING o.id INTO organization_of_member.organization_id;
		SELECT m.role INTO organization_of_member.role
		  FROM cpub.organization_members m
		 WHERE m.organization_id = organization_of_member.organization_id
		   AND m.user_id = organization_of_member.user_id;
	ELSE
		SELECT o.id, m.role
		  INTO organization_of_member.organization_id, organization_of_member.role
		  FROM cpub.organizations o
		  JOIN cpub.organization_members m ON m.organization_id = o.id
		 WHERE o.name = organization_of_member.organization
		   AND m.user_id = organization_of_member.user_id;
	END IF;
	IF organization_of_member.role IS NULL THEN
		RAISE EXCEPTION 'organization "%" not found',
			organization_of_member.organization
			USING ERRCODE = 'P0002',
				  HINT = 'cpub_api.my_organizations() lists the organizations you are a member of.';
	END IF;
END
$$;

-- cpub.organization_member_of(organization_id, organization, email): the
-- member of that email and their role; P0002 when there is none (whether or
-- not such a user exists, so this does not tell which emails have accounts).
CREATE FUNCTION cpub.organization_member_of(organization_id uuid,
											organization text, email text,
											OUT user_id uuid, OUT role text)
	LANGUAGE plpgsql STABLE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
BEGIN
	SELECT u.uuid, m.role
	  INTO organization_member_of.user_id, organization_member_of.role
	  FROM cpub.organization_members m
	  JOIN cpub.users u ON u.uuid = m.user_id
	 WHERE m.organization_id = organization_member_of.organization_id
	   AND u.email = pg_catalog.lower(pg_catalog.btrim(organization_member_of.email));
	IF NOT FOUND THEN
		RAISE EXCEPTION '"%" is not a member of organization "%"',
			organization_member_of.email, organization_member_of.organization
			USING ERRCODE = 'P0002';
	END IF;
END
$$;

-- cpub.organization_new_member(email): the user of that email, who may join
-- an organization.  P0002 when there is no such user or the account is
-- deleted (a deleted account is gone for everyone); 23514 when it is
-- blocked.
CREATE FUNCTION cpub.organization_new_member(email text)
	RETURNS uuid
	LANGUAGE plpgsql STABLE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	uid uuid;
	st text;
BEGIN
	SELECT u.uuid, u.status INTO uid, st FROM cpub.users u
	 WHERE u.email = pg_catalog.lower(pg_catalog.btrim(organization_new_member.email));
	IF uid IS NULL OR st = 'deleted' THEN
		RAISE EXCEPTION 'user "%" not found', organization_new_member.email
			USING ERRCODE = 'P0002',
				  HINT = 'A member must first register an account.';
	END IF;
	IF st = 'blocked' THEN
		RAISE EXCEPTION 'cannot add blocked user "%" to an organization',
			organization_new_member.email
			USING ERRCODE = '23514',
				  DETAIL = 'The account is blocked.';
	END IF;
	RETURN uid;
END
$$;

-- cpub.organization_insert(name, display_name, owner, created_by): a new
-- organization with owner as its owner; returns its id.  22Q04 bad name,
-- 22Q02 bad display name, 23505 name taken.
CREATE FUNCTION cpub.organization_insert(name text, display_name text,
										 owner uuid, created_by uuid)
	RETURNS uuid
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	oid_ uuid;
	shown text;
BEGIN
	PERFORM cpub.check_identifier('organization',
								  coalesce(organization_insert.name, ''));
	IF organization_insert.display_name IS NOT NULL THEN
		shown := cpub.check_person_name(organization_insert.display_name,
										'display name');
	END IF;
	BEGIN
		INSERT INTO cpub.organizations (name, display_name, created_by)
		VALUES (organization_insert.name, shown, organization_insert.created_by)
		RETURNING id INTO oid_;
	EXCEPTION WHEN unique_violation THEN
		RAISE EXCEPTION 'organization name "%" is already taken',
			organization_insert.name
			USING ERRCODE = '23505',
				  HINT = 'Choose another name.';
	END;
	INSERT INTO cpub.organization_members (organization_id, user_id, role)
	VALUES (oid_, organization_insert.owner, 'owner');
	PERFORM cpub.audit('organization.create', 'organization', oid_::text,
		pg_catalog.jsonb_build_object('name', organization_insert.name,
									  'display_name', shown,
									  'owner', organization_insert.owner));
	RETURN oid_;
END
$$;

-- cpub.organization_update_name(organization_id, name, new_name): renames a
-- locked organization.  22Q04 bad name, 23505 name taken.
CREATE FUNCTION cpub.organization_update_name(organization_id uuid, name text,
											  new_name text)
	RETURNS void
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
BEGIN
	PERFORM cpub.check_identifier('organization',
								  coalesce(organization_update_name.new_name, ''));
	BEGIN
		UPDATE cpub.organizations o
		   SET name = organization_update_name.new_name,
			   updated_at = pg_catalog.now()
		 WHERE o.id = organization_update_name.organization_id;
	EXCEPTION WHEN unique_violation THEN
		RAISE EXCEPTION 'organization name "%" is already taken',
			organization_update_name.new_name
			USING ERRCODE = '23505',
				  HINT = 'Choose another name.';
	END;
	PERFORM cpub.audit('organization.rename', 'organization',
		organization_update_name.organization_id::text,
		pg_catalog.jsonb_build_object('from', organization_update_name.name,
									  'to', organization_update_name.new_name));
END
$$;

-- cpub.organization_remove(organization_id, name): deletes a locked
-- organization and its memberships.
CREATE FUNCTION cpub.organization_remove(organization_id uuid, name text)
	RETURNS void
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
BEGIN
	-- cpub.functions comes later (sql/60_functions.sql).
	IF EXISTS (SELECT FROM cpub.functions f
				WHERE f.owner_organization_id = organization_remove.organization_id
				  AND f.deleted_at IS NULL) THEN
		RAISE EXCEPTION 'organization "%" still has functions', organization_remove.name
			USING ERRCODE = '23503',
				  HINT = 'Delete its functions first.';
	END IF;
	PERFORM cpub.audit('organization.delete', 'organization',
		organization_remove.organization_id::text,
		pg_catalog.jsonb_build_object(
			'name', organization_remove.name,
			'members', (SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
								'user_id', m.user_id, 'role', m.role))
						  FROM cpub.organization_members m
						 WHERE m.organization_id = organization_remove.organization_id)));
	DELETE FROM cpub.organizations o
	 WHERE o.id = organization_remove.organization_id;
END
$$;

-- cpub.organization_check_owner_left(organization_id, organization, verb):
-- 23514 when the organization, locked by the caller, has only one owner
-- (the one about to be removed or demoted).
CREATE FUNCTION cpub.organization_check_owner_left(organization_id uuid,
												   organization text,
												   verb text)
	RETURNS void
	LANGUAGE plpgsql STABLE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
BEGIN
	IF (SELECT pg_catalog.count(*) FROM cpub.organization_members m
		 WHERE m.organization_id = organization_check_owner_left.organization_id
		   AND m.role = 'owner') <= 1 THEN
		RAISE EXCEPTION 'cannot % the last owner of organization "%"',
			organization_check_owner_left.verb,
			organization_check_owner_left.organization
			USING ERRCODE = '23514',
				  DETAIL = 'An organization always keeps at least one owner.',
				  HINT = 'Make another member an owner first, or delete the organization.';
	END IF;
END
$$;

-- cpub.organization_member_insert(organization_id, organization, user_id,
-- email, role): adds a member to a locked organization.  23505 when already
-- a member.
CREATE FUNCTION cpub.organization_member_insert(organization_id uuid,
												organization text,
												user_id uuid, email text,
												role text)
	RETURNS void
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
BEGIN
	BEGIN
		INSERT INTO cpub.organization_members (organization_id, user_id, role)
		VALUES (organization_member_insert.organization_id,
				organization_member_insert.user_id,
				organization_member_insert.role);
	EXCEPTION WHEN unique_violation THEN
		RAISE EXCEPTION '"%" is already a member of organization "%"',
			organization_member_insert.email,
			organization_member_insert.organization
			USING ERRCODE = '23505',
				  HINT = 'Change their role with organization_set_role.';
	END;
	PERFORM cpub.audit('organization.member_add', 'organization',
		organization_member_insert.organization_id::text,
		pg_catalog.jsonb_build_object(
			'organization', organization_member_insert.organization,
			'user_id', organization_member_insert.user_id,
			'email', pg_catalog.lower(pg_catalog.btrim(organization_member_insert.email)),
			'role', organization_member_insert.role));
END
$$;

-- cpub.organization_member_delete(organization_id, organization, user_id,
-- email, role): removes a member (of that role) from a locked organization.
-- 23514 for its last owner.
CREATE FUNCTION cpub.organization_member_delete(organization_id uuid,
												organization text,
												user_id uuid, email text,
												role text)
	RETURNS void
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
BEGIN
	IF organization_member_delete.role = 'owner' THEN
		PERFORM cpub.organization_check_owner_left(
			organization_member_delete.organization_id,
			organization_member_delete.organization, 'remove');
	END IF;
	DELETE FROM cpub.organization_members m
	 WHERE m.organization_id = organization_member_delete.organization_id
	   AND m.user_id = organization_member_delete.user_id;
	PERFORM cpub.audit('organization.member_remove', 'organization',
		organization_member_delete.organization_id::text,
		pg_catalog.jsonb_build_object(
			'organization', organization_member_delete.organization,
			'user_id', organization_member_delete.user_id,
			'email', pg_catalog.lower(pg_catalog.btrim(organization_member_delete.email)),
			'role', organization_member_delete.role));
END
$$;

-- cpub.organization_member_update(organization_id, organization, user_id,
-- email, old_role, new_role): changes a member's role in a locked
-- organization.  23514 when demoting its last owner.
CREATE FUNCTION cpub.organization_member_update(organization_id uuid,
												organization text,
												user_id uuid, email text,
												old_role text, new_role text)
	RETURNS void
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
BEGIN
	IF organization_member_update.old_role = organization_member_update.new_role THEN
		RETURN;
	END IF;
	IF organization_member_update.old_role = 'owner' THEN
		PERFORM cpub.organization_check_owner_left(
			organization_member_update.organization_id,
			organization_member_update.organization, 'demote');
	END IF;
	UPDATE cpub.organization_members m
	   SET role = organization_member_update.new_role
	 WHERE m.organization_id = organization_member_update.organization_id
	   AND m.user_id = organization_member_update.user_id;
	PERFORM cpub.audit('organization.member_set_role', 'organization',
		organization_member_update.organization_id::text,
		pg_catalog.jsonb_build_object(
			'organization', organization_member_update.organization,
			'user_id', organization_member_update.user_id,
			'email', pg_catalog.lower(pg_catalog.btrim(organization_member_update.email)),
			'from', organization_member_update.old_role,
			'to', organization_member_update.new_role));
END
$$;

-- cpub.organization_rows(only_name, search, after, limit): the admin's
-- view of organizations: the one named only_name (P0002 when there is
-- none), or a page of those whose name or display name contains search,
-- by name after the name after.
CREATE FUNCTION cpub.organization_rows(only_name text, search text,
									   after text, "limit" integer)
	RETURNS TABLE (id uuid, name text, display_name text, tier text,
				   tier_assigned boolean, members bigint, created_by uuid,
				   created_at timestamptz, updated_at timestamptz)
	LANGUAGE plpgsql STABLE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	pattern text;
	n integer := cpub.check_page_limit(organization_rows."limit");
BEGIN
	IF organization_rows.search IS NOT NULL THEN
		pattern := '%' || pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(
			organization_rows.search, '\', '\\'), '%', '\%'), '_', '\_') || '%';
	END IF;
	RETURN QUERY
	SELECT o.id, o.name, o.display_name,
		   (cpub.effective_tier(organization_id => o.id)).name,
		   o.tier_id IS NOT NULL,
		   (SELECT pg_catalog.count(*) FROM cpub.organization_members m
			 WHERE m.organization_id = o.id),
		   o.created_by, o.created_at, o.updated_at
	  FROM cpub.organizations o
	 WHERE (organization_rows.only_name IS NULL
			OR o.name = organization_rows.only_name)
	   AND (pattern IS NULL OR o.name ILIKE pattern OR o.display_name ILIKE pattern)
	   AND (organization_rows.after IS NULL OR o.name > organization_rows.after)
	 ORDER BY o.name
	 LIMIT n;
	IF NOT FOUND AND organization_rows.only_name IS NOT NULL THEN
		RAISE EXCEPTION 'organization "%" not found', organization_rows.only_name
			USING ERRCODE = 'P0002';
	END IF;
END
$$;

--
-- Developer API (cpub_developer).
--

-- cpub_api.organization_create(name, display_name): a new organization
-- owned by the caller; returns its id.  22Q04, 22Q02, 23505.
CREATE FUNCTION cpub_api.organization_create(name text,
											 display_name text DEFAULT NULL)
	RETURNS uuid
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	me uuid := cpub.require_user();
BEGIN
	RETURN cpub.organization_insert(organization_create.name,
									organization_create.display_name, me, me);
END
$$;
GRANT EXECUTE ON FUNCTION cpub_api.organization_create(text, text)
	TO cpub_developer;

-- cpub.organization_require(role, organization, action, target_role,
-- new_role): the one statement of who may do what in an organization,
-- raising 42501 when the caller's role does not allow it.
--   rename, delete              owners
--   add, remove, set_role       owners and admins; only an owner grants the
--                               owner role or removes or changes an owner
-- (Leaving, removing oneself, is allowed to every member and not checked
-- here.)
CREATE FUNCTION cpub.organization_require(role text, organization text,
										  action text,
										  target_role text DEFAULT NULL,
										  new_role text DEFAULT NULL)
	RETURNS void
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	detail text := pg_catalog.format('Your role is %s.', organization_require.role);
BEGIN
	IF organization_require.role = 'owner' THEN
		RETURN;
	END IF;
	IF action IN ('rename', 'delete') THEN
		RAISE EXCEPTION 'only an owner can % organization "%"', action, organization
			USING ERRCODE = '42501', DETAIL = detail;
	END IF;
	IF organization_require.role <> 'admin' THEN
		IF action = 'remove' THEN
			RAISE EXCEPTION 'only an owner or an admin can remove members from organization "%"',
				organization
				USING ERRCODE = '42501', DETAIL = detail,
					  HINT = 'A member can only remove themself (leave).';
		END IF;
		RAISE EXCEPTION 'only an owner or an admin can % organization "%"',
			CASE action WHEN 'add' THEN 'add members to' ELSE 'set roles in' END,
			organization
			USING ERRCODE = '42501', DETAIL = detail;
	END IF;
	-- an admin
	IF target_role = 'owner' THEN
		RAISE EXCEPTION 'only an owner can % an owner',
			CASE action WHEN 'remove' THEN 'remove' ELSE 'change the role of' END
			USING ERRCODE = '42501', DETAIL = detail;
	END IF;
	IF new_role = 'owner' THEN
		RAISE EXCEPTION 'only an owner can grant the owner role'
			USING ERRCODE = '42501', DETAIL = detail;
	END IF;
END
$$;

-- cpub_api.organization_rename(organization, new_name): owners only (42501).
CREATE FUNCTION cpub_api.organization_rename(organization text, new_name text)
	RETURNS void
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	me uuid := cpub.require_user();
	org record;
BEGIN
	org := cpub.organization_of_member(organization_rename.organization, me, true);
	PERFORM cpub.organization_require(org.role, organization_rename.organization,
									  'rename');
	PERFORM cpub.organization_update_name(org.organization_id,
		organization_rename.organization, organization_rename.new_name);
END
$$;
GRANT EXECUTE ON FUNCTION cpub_api.organization_rename(text, text)
	TO cpub_developer;

-- cpub_api.organization_delete(organization): owners only (42501).
CREATE FUNCTION cpub_api.organization_delete(organization text)
	RETURNS void
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	me uuid := cpub.require_user();
	org record;
BEGIN
	org := cpub.organization_of_member(organization_delete.organization, me, true);
	PERFORM cpub.organization_require(org.role, organization_delete.organization,
									  'delete');
	PERFORM cpub.organization_remove(org.organization_id,
									 organization_delete.organization);
END
$$;
GRANT EXECUTE ON FUNCTION cpub_api.organization_delete(text) TO cpub_developer;

-- cpub_api.my_organizations(): the organizations the caller is a member
-- of, with the caller's role, by name.
CREATE FUNCTION cpub_api.my_organizations()
	RETURNS TABLE (name text, display_name text, role text, tier text,
				   members bigint, created_at timestamptz)
	LANGUAGE plpgsql STABLE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	me uuid := cpub.require_user();
BEGIN
	RETURN QUERY
	SELECT o.name, o.display_name, m.role,
		   -- cpub.effective_tier's rule, without a call per row.
		   (SELECT t.name FROM cpub.tiers t
			 WHERE t.id = o.tier_id OR (o.tier_id IS NULL AND t.is_default)
			 LIMIT 1),
		   (SELECT pg_catalog.count(*) FROM cpub.organization_members m2
			 WHERE m2.organization_id = o.id),
		   o.created_at
	  FROM cpub.organization_members m
	  JOIN cpub.organizations o ON o.id = m.organization_id
	 WHERE m.user_id = me
	 ORDER BY o.name;
END
$$;
GRANT EXECUTE ON FUNCTION cpub_api.my_organizations() TO cpub_developer;

-- cpub_api.organization_members(organization): the members, owners first,
-- then admins, then members, each by email.  Any member may read them.
CREATE FUNCTION cpub_api.organization_members(organization text)
	RETURNS TABLE (email text, first_name text, last_name text, role text,
				   joined_at timestamptz)
	LANGUAGE plpgsql STABLE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	me uuid := cpub.require_user();
	org record;
BEGIN
	org := cpub.organization_of_member(organization_members.organization, me);
	RETURN QUERY
	SELECT u.email, u.first_name, u.last_name, m.role, m.created_at
	  FROM cpub.organization_members m
	  JOIN cpub.users u ON u.uuid = m.user_id
	 WHERE m.organization_id = org.organization_id
	 ORDER BY pg_catalog.array_position(ARRAY['owner', 'admin', 'member'], m.role),
			  u.email;
END
$$;
GRANT EXECUTE ON FUNCTION cpub_api.organization_members(text) TO cpub_developer;

-- cpub_api.organization_add_member(organization, email, role): owners add
-- any role, admins admin or member (42501 otherwise).  22023 bad role,
-- P0002 unknown user, 23514 blocked user, 23505 already a member.
CREATE FUNCTION cpub_api.organization_add_member(organization text, email text,
												 role text DEFAULT 'member')
	RETURNS void
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	me uuid := cpub.require_user();
	org record;
	uid uuid;
BEGIN
	PERFORM cpub.check_organization_role(organization_add_member.role);
	org := cpub.organization_of_member(organization_add_member.organization, me, true);
	PERFORM cpub.organization_require(org.role, organization_add_member.organization,
									  'add', new_role => organization_add_member.role);
	uid := cpub.organization_new_member(organization_add_member.email);
	PERFORM cpub.organization_member_insert(org.organization_id,
		organization_add_member.organization, uid,
		organization_add_member.email, organization_add_member.role);
END
$$;
GRANT EXECUTE ON FUNCTION cpub_api.organization_add_member(text, text, text)
	TO cpub_developer;

-- cpub_api.organization_remove_member(organization, email): owners remove
-- anyone, admins non-owners (42501 otherwise); anyone may remove themself,
-- i.e. leave.  P0002 not a member, 23514 the last owner.
CREATE FUNCTION cpub_api.organization_remove_member(organization text,
													email text)
	RETURNS void
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	me uuid := cpub.require_user();
	org record;
	target record;
BEGIN
	org := cpub.organization_of_member(organization_remove_member.organization,
									   me, true);
	target := cpub.organization_member_of(org.organization_id,
		organization_remove_member.organization, organization_remove_member.email);
	IF target.user_id <> me THEN
		PERFORM cpub.organization_require(org.role,
										  organization_remove_member.organization,
										  'remove', target_role => target.role);
	END IF;
	PERFORM cpub.organization_member_delete(org.organization_id,
		organization_remove_member.organization, target.user_id,
		organization_remove_member.email, target.role);
END
$$;
GRANT EXECUTE ON FUNCTION cpub_api.organization_remove_member(text, text)
	TO cpub_developer;

-- cpub_api.organization_set_role(organization, email, role): owners set
-- any role; admins set admin or member on non-owners (42501 otherwise).
-- 22023 bad role, P0002 not a member, 23514 demoting the last owner.
CREATE FUNCTION cpub_api.organization_set_role(organization text, email text,
											   role text)
	RETURNS void
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	me uuid := cpub.require_user();
	org record;
	target record;
BEGIN
	PERFORM cpub.check_organization_role(organization_set_role.role);
	org := cpub.organization_of_member(organization_set_role.organization, me, true);
	IF org.role = 'member' THEN
		-- before looking the target up, so a member learns nothing of others
		PERFORM cpub.organization_require(org.role,
										  organization_set_role.organization,
										  'set_role');
	END IF;
	target := cpub.organization_member_of(org.organization_id,
		organization_set_role.organization, organization_set_role.email);
	PERFORM cpub.organization_require(org.role, organization_set_role.organization,
									  'set_role', target.role,
									  organization_set_role.role);
	PERFORM cpub.organization_member_update(org.organization_id,
		organization_set_role.organization, target.user_id,
		organization_set_role.email, target.role, organization_set_role.role);
END
$$;
GRANT EXECUTE ON FUNCTION cpub_api.organization_set_role(text, text, text)
	TO cpub_developer;

--
-- Admin API: read (cpub_admin_viewer).
--

-- cpub_admin.organization_list(search, after, limit): a page of
-- organizations by name; search matches part of the name or display name.
CREATE FUNCTION cpub_admin.organization_list(search text DEFAULT NULL,
											 after text DEFAULT NULL,
											 "limit" integer DEFAULT 50)
	RETURNS TABLE (id uuid, name text, display_name text, tier text,
				   tier_assigned boolean, members bigint, created_by uuid,
				   created_at timestamptz, updated_at timestamptz)
	LANGUAGE sql STABLE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
	SELECT * FROM cpub.organization_rows(NULL, organization_list.search,
										 organization_list.after,
										 organization_list."limit")
$$;
GRANT EXECUTE ON FUNCTION cpub_admin.organization_list(text, text, integer)
	TO cpub_admin_viewer;

-- cpub_admin.organization_get(name): one organization; P0002 when unknown.
CREATE FUNCTION cpub_admin.organization_get(name text)
	RETURNS TABLE (id uuid, name text, display_name text, tier text,
				   tier_assigned boolean, members bigint, created_by uuid,
				   created_at timestamptz, updated_at timestamptz)
	LANGUAGE sql STABLE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
	SELECT * FROM cpub.organization_rows(coalesce(organization_get.name, ''),
										 NULL, NULL, 1)
$$;
GRANT EXECUTE ON FUNCTION cpub_admin.organization_get(text) TO cpub_admin_viewer;

-- cpub_admin.organization_members(organization): the members, owners
-- first, each by email, with their account status.  P0002 unknown.
CREATE FUNCTION cpub_admin.organization_members(organization text)
	RETURNS TABLE (user_id uuid, email text, first_name text, last_name text,
				   status text, role text, joined_at timestamptz)
	LANGUAGE plpgsql STABLE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	oid_ uuid;
BEGIN
	SELECT o.id INTO oid_ FROM cpub.organizations o
	 WHERE o.name = organization_members.organization;
	IF oid_ IS NULL THEN
		RAISE EXCEPTION 'organization "%" not found',
			organization_members.organization
			USING ERRCODE = 'P0002';
	END IF;
	RETURN QUERY
	SELECT u.uuid, u.email, u.first_name, u.last_name, u.status, m.role,
		   m.created_at
	  FROM cpub.organization_members m
	  JOIN cpub.users u ON u.uuid = m.user_id
	 WHERE m.organization_id = oid_
	 ORDER BY pg_catalog.array_position(ARRAY['owner', 'admin', 'member'], m.role),
			  u.email;
END
$$;
GRANT EXECUTE ON FUNCTION cpub_admin.organization_members(text)
	TO cpub_admin_viewer;

--
-- Admin API: changes (cpub_admin_full).
--

-- cpub_admin.organization_create(name, owner_email, display_name): a new
-- organization owned by that user; returns its id.  22Q04, 22Q02, 23505,
-- P0002 unknown or deleted user, 23514 blocked user.
CREATE FUNCTION cpub_admin.organization_create(name text, owner_email text,
											   display_name text DEFAULT NULL)
	RETURNS uuid
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	owner uuid;
BEGIN
	PERFORM cpub.check_identifier('organization',
								  coalesce(organization_create.name, ''));
	owner := cpub.organization_new_member(organization_create.owner_email);
	RETURN cpub.organization_insert(organization_create.name,
									organization_create.display_name,
									owner, NULL);
END
$$;
GRANT EXECUTE ON FUNCTION cpub_admin.organization_create(text, text, text)
	TO cpub_admin_full;

-- cpub_admin.organization_rename(organization, new_name).
CREATE FUNCTION cpub_admin.organization_rename(organization text, new_name text)
	RETURNS void
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
BEGIN
	PERFORM cpub.organization_update_name(
		cpub.organization_lock(organization_rename.organization),
		organization_rename.organization, organization_rename.new_name);
END
$$;
GRANT EXECUTE ON FUNCTION cpub_admin.organization_rename(text, text)
	TO cpub_admin_full;

-- cpub_admin.organization_delete(organization).
CREATE FUNCTION cpub_admin.organization_delete(organization text)
	RETURNS void
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
BEGIN
	PERFORM cpub.organization_remove(
		cpub.organization_lock(organization_delete.organization),
		organization_delete.organization);
END
$$;
GRANT EXECUTE ON FUNCTION cpub_admin.organization_delete(text)
	TO cpub_admin_full;

-- cpub_admin.organization_add_member(organization, email, role).
CREATE FUNCTION cpub_admin.organization_add_member(organization text,
												   email text,
												   role text DEFAULT 'member')
	RETURNS void
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	oid_ uuid;
BEGIN
	PERFORM cpub.check_organization_role(organization_add_member.role);
	oid_ := cpub.organization_lock(organization_add_member.organization);
	PERFORM cpub.organization_member_insert(oid_,
		organization_add_member.organization,
		cpub.organization_new_member(organization_add_member.email),
		organization_add_member.email, organization_add_member.role);
END
$$;
GRANT EXECUTE ON FUNCTION cpub_admin.organization_add_member(text, text, text)
	TO cpub_admin_full;

-- cpub_admin.organization_remove_member(organization, email): 23514 for the
-- last owner.
CREATE FUNCTION cpub_admin.organization_remove_member(organization text,
													  email text)
	RETURNS void
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	oid_ uuid;
	target record;
BEGIN
	oid_ := cpub.organization_lock(organization_remove_member.organization);
	target := cpub.organization_member_of(oid_,
		organization_remove_member.organization, organization_remove_member.email);
	PERFORM cpub.organization_member_delete(oid_,
		organization_remove_member.organization, target.user_id,
		organization_remove_member.email, target.role);
END
$$;
GRANT EXECUTE ON FUNCTION cpub_admin.organization_remove_member(text, text)
	TO cpub_admin_full;

-- cpub_admin.organization_set_role(organization, email, role): 23514 when
-- demoting the last owner.
CREATE FUNCTION cpub_admin.organization_set_role(organization text,
												 email text, role text)
	RETURNS void
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	oid_ uuid;
	target record;
BEGIN
	PERFORM cpub.check_organization_role(organization_set_role.role);
	oid_ := cpub.organization_lock(organization_set_role.organization);
	target := cpub.organization_member_of(oid_,
		organization_set_role.organization, organization_set_role.email);
	PERFORM cpub.organization_member_update(oid_,
		organization_set_role.organization, target.user_id,
		organization_set_role.email, target.role, organization_set_role.role);
END
$$;
GRANT EXECUTE ON FUNCTION cpub_admin.organization_set_role(text, text, text)
	TO cpub_admin_full;
