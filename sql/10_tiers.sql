-- sql/10_tiers.sql: tiers, named sets of limits.  Every user and organization
-- has one (its own, or the default tier); functions check their settings
-- against their owner's tier.

CREATE TABLE cpub.tiers (
	id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	name text NOT NULL UNIQUE,
	description text NOT NULL DEFAULT '',
	max_functions integer NOT NULL CHECK (max_functions >= 0),
	max_memory_mb integer NOT NULL CHECK (max_memory_mb > 0),
	max_timeout_seconds integer NOT NULL CHECK (max_timeout_seconds > 0),
	max_concurrency integer NOT NULL CHECK (max_concurrency > 0),
	monthly_invocations bigint NOT NULL CHECK (monthly_invocations >= 0),
	max_archive_mb integer NOT NULL CHECK (max_archive_mb > 0),
	requests_per_second integer NOT NULL CHECK (requests_per_second > 0),
	is_default boolean NOT NULL DEFAULT false,
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now()
);
-- At most one default tier.
CREATE UNIQUE INDEX tiers_one_default ON cpub.tiers (is_default) WHERE is_default;

-- The built-in default tier.  Its row is not dumped by pg_dump (CREATE
-- EXTENSION makes it again on restore), so changes to its limits do not
-- survive a dump and restore: create your own tier and make it the default.
INSERT INTO cpub.tiers (id, name, description, max_functions, max_memory_mb,
						max_timeout_seconds, max_concurrency,
						monthly_invocations, max_archive_mb,
						requests_per_second, is_default)
VALUES ('00000000-0000-0000-0000-000000000001', 'free',
		'The default tier of new users and organizations.',
		5, 256, 30, 5, 100000, 20, 10, true);
SELECT pg_catalog.pg_extension_config_dump('cpub.tiers',
	'WHERE id <> ''00000000-0000-0000-0000-000000000001''');

--
-- Helpers.
--

-- cpub.check_tier_limit(limit_name, value, allow_zero): value unchanged;
-- 22023 naming the limit when it is missing, negative, or zero where zero
-- makes no sense (max_functions and monthly_invocations may be 0 to forbid).
CREATE FUNCTION cpub.check_tier_limit(limit_name text, value bigint,
									  allow_zero boolean DEFAULT false)
	RETURNS bigint
	LANGUAGE plpgsql IMMUTABLE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
BEGIN
	IF check_tier_limit.value IS NULL THEN
		RAISE EXCEPTION '% is required', check_tier_limit.limit_name
			USING ERRCODE = '22023',
				  DETAIL = 'Every limit of a tier has a value.';
	END IF;
	IF check_tier_limit.allow_zero AND check_tier_limit.value < 0 THEN
		RAISE EXCEPTION '% must not be negative', check_tier_limit.limit_name
			USING ERRCODE = '22023',
				  DETAIL = pg_catalog.format('Got %s.', check_tier_limit.value),
				  HINT = 'Use 0 to allow none.';
	END IF;
	IF NOT check_tier_limit.allow_zero AND check_tier_limit.value <= 0 THEN
		RAISE EXCEPTION '% must be positive', check_tier_limit.limit_name
			USING ERRCODE = '22023',
				  DETAIL = pg_catalog.format('Got %s.', check_tier_limit.value);
	END IF;
	RETURN check_tier_limit.value;
END
$$;

-- cpub.check_tier_limits(required, <the seven limits>): checks every limit
-- given (all of them when required) with cpub.check_tier_limit; the one list
-- of limits and of which may be zero.
CREATE FUNCTION cpub.check_tier_limits(required boolean, max_functions bigint,
									   max_memory_mb bigint,
									   max_timeout_seconds bigint,
									   max_concurrency bigint,
									   monthly_invocations bigint,
									   max_archive_mb bigint,
									   requests_per_second bigint)
	RETURNS void
	LANGUAGE plpgsql IMMUTABLE
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	l record;
BEGIN
	FOR l IN
		SELECT * FROM (VALUES
			('max_functions', check_tier_limits.max_functions, true),
			('max_memory_mb', check_tier_limits.max_memory_mb, false),
			('max_timeout_seconds', check_tier_limits.max_timeout_seconds, false),
			('max_concurrency', check_tier_limits.max_concurrency, false),
			('monthly_invocations', check_tier_limits.monthly_invocations, true),
			('max_archive_mb', check_tier_limits.max_archive_mb, false),
			('requests_per_second', check_tier_limits.requests_per_second, false))
			AS v (name, value, allow_zero)
	LOOP
		IF l.value IS NOT NULL OR check_tier_limits.required THEN
			PERFORM cpub.check_tier_limit(l.name, l.value, l.allow_zero);
		END IF;
	END LOOP;
END
$$;

-- cpub.tier_id(name, lock): the id of the tier of that name, optionally
-- locked FOR UPDATE; P0002 when there is none.
CREATE FUNCTION cpub.tier_id(name text, lock boolean DEFAULT false)
	RETURNS uuid
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	tid uuid;
BEGIN
	IF tier_id.lock THEN
		SELECT t.id INTO tid FROM cpub.tiers t
		 WHERE t.name = tier_id.name FOR UPDATE;
	ELSE
		SELECT t.id INTO tid FROM cpub.tiers t WHERE t.name = tier_id.name;
	END IF;
	IF tid IS NULL THEN
		RAISE EXCEPTION 'tier "%" not found', tier_id.name
			USING ERRCODE = 'P0002',
				  HINT = 'cpub_admin.tier_list() lists the tiers.';
	END IF;
	RETURN tid;
END
$$;

-- cpub.effective_tier(user_id, organization_id): the tier whose limits apply
-- to a user's or an organization's functions: the one assigned to it, else
-- the default tier.  Give one of the two; with neither, the default tier.
-- P0002 for an unknown user or organization, 22023 when given both.
-- (PL/pgSQL because cpub.users and cpub.organizations come later.)
CREATE FUNCTION cpub.effective_tier(user_id uuid DEFAULT NULL,
									organization_id uuid DEFAULT NULL)
	RETURNS cpub.tiers
	LANGUAGE plpgsql STABLE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	assigned uuid;
	result cpub.tiers;
BEGIN
	IF effective_tier.user_id IS NOT NULL
	   AND effective_tier.organization_id IS NOT NULL THEN
		RAISE EXCEPTION 'give either user_id or organization_id, not both'
			USING ERRCODE = '22023',
				  DETAIL = 'A tier belongs to one user or one organization.';
	END IF;
	IF effective_tier.user_id IS NOT NULL THEN
		SELECT u.tier_id INTO assigned FROM cpub.users u
		 WHERE u.uuid = effective_tier.user_id;
		IF NOT FOUND THEN
			RAISE EXCEPTION 'user % not found', effective_tier.user_id
				USING ERRCODE = 'P0002';
		END IF;
	ELSIF effective_tier.organization_id IS NOT NULL THEN
		SELECT o.tier_id INTO assigned FROM cpub.organizations o
		 WHERE o.id = effective_tier.organization_id;
		IF NOT FOUND THEN
			RAISE EXCEPTION 'organization % not found',
				effective_tier.organization_id
				USING ERRCODE = 'P0002';
		END IF;
	END IF;
	IF assigned IS NOT NULL THEN
		SELECT t.* INTO result FROM cpub.tiers t WHERE t.id = assigned;
	ELSE
		SELECT t.* INTO result FROM cpub.tiers t WHERE t.is_default;
	END IF;
	RETURN result;
END
$$;

-- cpub.tier_rows(only_name): the admin's view of the tiers, or of the one
-- named only_name (P0002 when there is none).  assigned_users and
-- assigned_organizations count explicit assignments; those on the default
-- tier by default (tier_id NULL) are not counted.
CREATE FUNCTION cpub.tier_rows(only_name text DEFAULT NULL)
	RETURNS TABLE (id uuid, name text, description text,
				   max_functions integer, max_memory_mb integer,
				   max_timeout_seconds integer, max_concurrency integer,
				   monthly_invocations bigint, max_archive_mb integer,
				   requests_per_second integer, is_default boolean,
				   assigned_users bigint, assigned_organizations bigint,
				   created_at timestamptz, updated_at timestamptz)
	LANGUAGE plpgsql STABLE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
BEGIN
	RETURN QUERY
	SELECT t.id, t.name, t.description, t.max_functions, t.max_memory_mb,
		   t.max_timeout_seconds, t.max_concurrency, t.monthly_invocations,
		   t.max_archive_mb, t.requests_per_second, t.is_default,
		   (SELECT pg_catalog.count(*) FROM cpub.users u WHERE u.tier_id = t.id),
		   (SELECT pg_catalog.count(*) FROM cpub.organizations o
			 WHERE o.tier_id = t.id),
		   t.created_at, t.updated_at
	  FROM cpub.tiers t
	 WHERE tier_rows.only_name IS NULL OR t.name = tier_rows.only_name
	 ORDER BY t.name;
	IF NOT FOUND AND tier_rows.only_name IS NOT NULL THEN
		RAISE EXCEPTION 'tier "%" not found', tier_rows.only_name
			USING ERRCODE = 'P0002',
				  HINT = 'cpub_admin.tier_list() lists the tiers.';
	END IF;
END
$$;

--
-- Admin: read (cpub_admin_viewer).
--

-- cpub_admin.tier_list(): every tier with its limits, by name.
CREATE FUNCTION cpub_admin.tier_list()
	RETURNS TABLE (id uuid, name text, description text,
				   max_functions integer, max_memory_mb integer,
				   max_timeout_seconds integer, max_concurrency integer,
				   monthly_invocations bigint, max_archive_mb integer,
				   requests_per_second integer, is_default boolean,
				   assigned_users bigint, assigned_organizations bigint,
				   created_at timestamptz, updated_at timestamptz)
	LANGUAGE sql STABLE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$ SELECT * FROM cpub.tier_rows(NULL) $$;
GRANT EXECUTE ON FUNCTION cpub_admin.tier_list() TO cpub_admin_viewer;

-- cpub_admin.tier_get(name): one tier; P0002 when there is none.
CREATE FUNCTION cpub_admin.tier_get(name text)
	RETURNS TABLE (id uuid, name text, description text,
				   max_functions integer, max_memory_mb integer,
				   max_timeout_seconds integer, max_concurrency integer,
				   monthly_invocations bigint, max_archive_mb integer,
				   requests_per_second integer, is_default boolean,
				   assigned_users bigint, assigned_organizations bigint,
				   created_at timestamptz, updated_at timestamptz)
	LANGUAGE sql STABLE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$ SELECT * FROM cpub.tier_rows(coalesce(tier_get.name, '')) $$;
GRANT EXECUTE ON FUNCTION cpub_admin.tier_get(text) TO cpub_admin_viewer;

--
-- Admin: changes (cpub_admin_full).
--

-- cpub_admin.tier_create(name, limits..., description): a new tier, not the
-- default; returns its id.  22Q04 bad name, 22023 bad limit, 23505 taken.
CREATE FUNCTION cpub_admin.tier_create(name text, max_functions integer,
									   max_memory_mb integer,
									   max_timeout_seconds integer,
									   max_concurrency integer,
									   monthly_invocations bigint,
									   max_archive_mb integer,
									   requests_per_second integer,
									   description text DEFAULT '')
	RETURNS uuid
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	tid uuid;
BEGIN
	PERFORM cpub.check_identifier('tier', coalesce(tier_create.name, ''));
	PERFORM cpub.check_tier_limits(true, tier_create.max_functions,
		tier_create.max_memory_mb, tier_create.max_timeout_seconds,
		tier_create.max_concurrency, tier_create.monthly_invocations,
		tier_create.max_archive_mb, tier_create.requests_per_second);
	BEGIN
		INSERT INTO cpub.tiers (name, description, max_functions, max_memory_mb,
								max_timeout_seconds, max_concurrency,
								monthly_invocations, max_archive_mb,
								requests_per_second)
		VALUES (tier_create.name, coalesce(tier_create.description, ''),
				tier_create.max_functions, tier_create.max_memory_mb,
				tier_create.max_timeout_seconds, tier_create.max_concurrency,
				tier_create.monthly_invocations, tier_create.max_archive_mb,
				tier_create.requests_per_second)
		RETURNING id INTO tid;
	EXCEPTION WHEN unique_violation THEN
		RAISE EXCEPTION 'tier "%" already exists', tier_create.name
			USING ERRCODE = '23505',
				  HINT = 'Choose another name, or change the existing tier with cpub_admin.tier_update.';
	END;
	PERFORM cpub.audit('tier.create', 'tier', tid::text,
		(SELECT pg_catalog.to_jsonb(t) - 'id' - 'created_at' - 'updated_at'
		   FROM cpub.tiers t WHERE t.id = tid));
	RETURN tid;
END
$$;
GRANT EXECUTE ON FUNCTION cpub_admin.tier_create(text, integer, integer,
	integer, integer, bigint, integer, integer, text) TO cpub_admin_full;

-- cpub_admin.tier_update(name, limits..., new_name, description): changes
-- what is given; NULL leaves a value as it is.  The audit record holds
-- each changed value before and after.  P0002 unknown tier, 22Q04 bad new
-- name, 22023 bad limit, 23505 new name taken.
CREATE FUNCTION cpub_admin.tier_update(name text,
									   max_functions integer DEFAULT NULL,
									   max_memory_mb integer DEFAULT NULL,
									   max_timeout_seconds integer DEFAULT NULL,
									   max_concurrency integer DEFAULT NULL,
									   monthly_invocations bigint DEFAULT NULL,
									   max_archive_mb integer DEFAULT NULL,
									   requests_per_second integer DEFAULT NULL,
									   new_name text DEFAULT NULL,
									   description text DEFAULT NULL)
	RETURNS void
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	tid uuid := cpub.tier_id(tier_update.name, true);
	before jsonb;
	after jsonb;
	changes jsonb;
BEGIN
	IF tier_update.new_name IS NOT NULL THEN
		PERFORM cpub.check_identifier('tier', tier_update.new_name);
	END IF;
	PERFORM cpub.check_tier_limits(false, tier_update.max_functions,
		tier_update.max_memory_mb, tier_update.max_timeout_seconds,
		tier_update.max_concurrency, tier_update.monthly_invocations,
		tier_update.max_archive_mb, tier_update.requests_per_second);

	SELECT pg_catalog.to_jsonb(t) INTO before FROM cpub.tiers t WHERE t.id = tid;
	BEGIN
		UPDATE cpub.tiers t
		   SET name = coalesce(tier_update.new_name, t.name),
			   description = coalesce(tier_update.description, t.description),
			   max_functions = coalesce(tier_update.max_functions, t.max_functions),
			   max_memory_mb = coalesce(tier_update.max_memory_mb, t.max_memory_mb),
			   max_timeout_seconds = coalesce(tier_update.max_timeout_seconds, t.max_timeout_seconds),
			   max_concurrency = coalesce(tier_update.max_concurrency, t.max_concurrency),
			   monthly_invocations = coalesce(tier_update.monthly_invocations, t.monthly_invocations),
			   max_archive_mb = coalesce(tier_update.max_archive_mb, t.max_archive_mb),
			   requests_per_second = coalesce(tier_update.requests_per_second, t.requests_per_second),
			   updated_at = pg_catalog.now()
		 WHERE t.id = tid
		RETURNING pg_catalog.to_jsonb(t) INTO after;
	EXCEPTION WHEN unique_violation THEN
		RAISE EXCEPTION 'tier "%" already exists', tier_update.new_name
			USING ERRCODE = '23505',
				  HINT = 'Choose another name.';
	END;
	SELECT coalesce(pg_catalog.jsonb_object_agg(b.key,
				pg_catalog.jsonb_build_object('from', b.value, 'to', a.value)),
			'{}')
	  INTO changes
	  FROM pg_catalog.jsonb_each(before) b
	  JOIN pg_catalog.jsonb_each(after) a ON a.key = b.key
	 WHERE a.value <> b.value AND b.key <> 'updated_at';
	PERFORM cpub.audit('tier.update', 'tier', tid::text,
		pg_catalog.jsonb_build_object('name', tier_update.name,
									  'changes', changes));
END
$$;
GRANT EXECUTE ON FUNCTION cpub_admin.tier_update(text, integer, integer,
	integer, integer, bigint, integer, integer, text, text) TO cpub_admin_full;

-- cpub_admin.tier_delete(name): removes a tier nobody uses.  P0002 unknown
-- tier; 23503 while it is the default tier or assigned to any user or
-- organization.
CREATE FUNCTION cpub_admin.tier_delete(name text)
	RETURNS void
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	tid uuid := cpub.tier_id(tier_delete.name, true);
	nusers bigint;
	norgs bigint;
BEGIN
	IF (SELECT t.is_default FROM cpub.tiers t WHERE t.id = tid) THEN
		RAISE EXCEPTION 'cannot delete the default tier "%"', tier_delete.name
			USING ERRCODE = '23503',
				  DETAIL = 'Users and organizations without a tier of their own have the default tier.',
				  HINT = 'Make another tier the default with cpub_admin.tier_set_default first.';
	END IF;
	SELECT pg_catalog.count(*) INTO nusers FROM cpub.users u WHERE u.tier_id = tid;
	SELECT pg_catalog.count(*) INTO norgs FROM cpub.organizations o
	 WHERE o.tier_id = tid;
	IF nusers > 0 OR norgs > 0 THEN
		RAISE EXCEPTION 'cannot delete tier "%" while it is assigned',
			tier_delete.name
			USING ERRCODE = '23503',
				  DETAIL = pg_catalog.format('It is assigned to %s user(s) and %s organization(s).',
											 nusers, norgs),
				  HINT = 'Assign them another tier first.';
	END IF;
	PERFORM cpub.audit('tier.delete', 'tier', tid::text,
		(SELECT pg_catalog.to_jsonb(t) - 'id' FROM cpub.tiers t WHERE t.id = tid));
	DELETE FROM cpub.tiers t WHERE t.id = tid;
END
$$;
GRANT EXECUTE ON FUNCTION cpub_admin.tier_delete(text) TO cpub_admin_full;

-- cpub_admin.tier_set_default(name): makes a tier the one of every user and
-- organization without a tier of their own.  P0002 unknown tier.
CREATE FUNCTION cpub_admin.tier_set_default(name text)
	RETURNS void
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	tid uuid;
	previous text;
BEGIN
	-- Serialises concurrent calls, which would otherwise both clear the old
	-- default and then collide on tiers_one_default.
	LOCK TABLE cpub.tiers IN SHARE ROW EXCLUSIVE MODE;
	tid := cpub.tier_id(tier_set_default.name, true);
	SELECT t.name INTO previous FROM cpub.tiers t WHERE t.is_default;
	IF previous = tier_set_default.name THEN
		RETURN;
	END IF;
	UPDATE cpub.tiers t SET is_default = false, updated_at = pg_catalog.now()
	 WHERE t.is_default;
	UPDATE cpub.tiers t SET is_default = true, updated_at = pg_catalog.now()
	 WHERE t.id = tid;
	PERFORM cpub.audit('tier.set_default', 'tier', tid::text,
		pg_catalog.jsonb_build_object('name', tier_set_default.name,
									  'previous', previous));
END
$$;
GRANT EXECUTE ON FUNCTION cpub_admin.tier_set_default(text) TO cpub_admin_full;

-- cpub_admin.tier_assign_user(user_id, tier): gives a user a tier of their
-- own; NULL puts them back on the default tier (whichever it is then).
-- Assigning the current default tier by name pins it: the user keeps it
-- when the default changes.  P0002 unknown user or tier.
CREATE FUNCTION cpub_admin.tier_assign_user(user_id uuid, tier text)
	RETURNS void
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	tid uuid;
	previous uuid;
BEGIN
	IF tier_assign_user.tier IS NOT NULL THEN
		-- Locked, so a concurrent tier_delete either sees this assignment or
		-- has deleted the tier before we look (P0002), never a raw 23503.
		tid := cpub.tier_id(tier_assign_user.tier, true);
	END IF;
	SELECT u.tier_id INTO previous FROM cpub.users u
	 WHERE u.uuid = tier_assign_user.user_id FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'user % not found', tier_assign_user.user_id
			USING ERRCODE = 'P0002';
	END IF;
	UPDATE cpub.users u SET tier_id = tid, updated_at = pg_catalog.now()
	 WHERE u.uuid = tier_assign_user.user_id;
	PERFORM cpub.audit('tier.assign', 'user', tier_assign_user.user_id::text,
		pg_catalog.jsonb_build_object(
			'tier', tier_assign_user.tier,
			'previous', (SELECT t.name FROM cpub.tiers t WHERE t.id = previous)));
END
$$;
GRANT EXECUTE ON FUNCTION cpub_admin.tier_assign_user(uuid, text)
	TO cpub_admin_full;

-- cpub_admin.tier_assign_organization(organization, tier): the same for an
-- organization, by name.  P0002 unknown organization or tier.
CREATE FUNCTION cpub_admin.tier_assign_organization(organization text,
													tier text)
	RETURNS void
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	tid uuid;
	oid_ uuid;
	previous uuid;
BEGIN
	IF tier_assign_organization.tier IS NOT NULL THEN
		tid := cpub.tier_id(tier_assign_organization.tier, true);
	END IF;
	SELECT o.id, o.tier_id INTO oid_, previous FROM cpub.organizations o
	 WHERE o.name = tier_assign_organization.organization FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'organization "%" not found',
			tier_assign_organization.organization
			USING ERRCODE = 'P0002';
	END IF;
	UPDATE cpub.organizations o SET tier_id = tid, updated_at = pg_catalog.now()
	 WHERE o.id = oid_;
	PERFORM cpub.audit('tier.assign', 'organization', oid_::text,
		pg_catalog.jsonb_build_object(
			'organization', tier_assign_organization.organization,
			'tier', tier_assign_organization.tier,
			'previous', (SELECT t.name FROM cpub.tiers t WHERE t.id = previous)));
END
$$;
GRANT EXECUTE ON FUNCTION cpub_admin.tier_assign_organization(text, text)
	TO cpub_admin_full;

--
-- Developer (cpub_developer).
--

-- cpub_api.my_tier(): the caller's tier and its limits.
CREATE FUNCTION cpub_api.my_tier()
	RETURNS TABLE (name text, description text, max_functions integer,
				   max_memory_mb integer, max_timeout_seconds integer,
				   max_concurrency integer, monthly_invocations bigint,
				   max_archive_mb integer, requests_per_second integer,
				   is_default boolean)
	LANGUAGE plpgsql STABLE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	me uuid := cpub.require_user();
BEGIN
	RETURN QUERY
	SELECT t.name, t.description, t.max_functions, t.max_memory_mb,
		   t.max_timeout_seconds, t.max_concurrency, t.monthly_invocations,
		   t.max_archive_mb, t.requests_per_second, t.is_default
	  FROM cpub.effective_tier(user_id => me) t;
END
$$;
GRANT EXECUTE ON FUNCTION cpub_api.my_tier() TO cpub_developer;

-- cpub_api.organization_tier(organization): the tier of an organization the
-- caller is a member of.  P0002 when there is none (or the caller is not a
-- member).
CREATE FUNCTION cpub_api.organization_tier(organization text)
	RETURNS TABLE (name text, description text, max_functions integer,
				   max_memory_mb integer, max_timeout_seconds integer,
				   max_concurrency integer, monthly_invocations bigint,
				   max_archive_mb integer, requests_per_second integer,
				   is_default boolean)
	LANGUAGE plpgsql STABLE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	me uuid := cpub.require_user();
	org record;
BEGIN
	org := cpub.organization_of_member(organization_tier.organization, me);
	RETURN QUERY
	SELECT t.name, t.description, t.max_functions, t.max_memory_mb,
		   t.max_timeout_seconds, t.max_concurrency, t.monthly_invocations,
		   t.max_archive_mb, t.requests_per_second, t.is_default
	  FROM cpub.effective_tier(organization_id => org.organization_id) t;
END
$$;
GRANT EXECUTE ON FUNCTION cpub_api.organization_tier(text) TO cpub_developer;
