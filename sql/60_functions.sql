-- sql/60_functions.sql: functions, their runtimes and settings, and their
-- deployed versions.
--
-- A function belongs to one user or one organization.  A user manages their
-- own functions; in an organization every member reads and invokes its
-- functions and owners and admins manage them.  To anyone else a function
-- does not exist (P0002), as organizations do not.
--
-- A deploy stores the uploaded archive as a new immutable version (queued)
-- and enqueues a build job.  A worker builds it (building) and makes it
-- ready or failed.  Only a ready version serves: the active version changes
-- when a newer version becomes ready (if its deploy asked to activate) or on
-- rollback, so a failed build never takes a function down.

--
-- Runtimes: the languages a function can be written in.  The worker holds
-- how each is built and run (worker/, a table there too); this table is
-- what the database accepts.  Adding a runtime is a row here and a row there.
--
CREATE TABLE cpub.runtimes (
	name text PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9_]{0,31}$'),
	description text NOT NULL,
	enabled boolean NOT NULL DEFAULT true,
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO cpub.runtimes (name, description) VALUES
	('c', 'A C handler compiled with gcc into a static binary.'),
	('python', 'A Python 3 module exposing handle(request).'),
	('shell', 'A busybox sh script reading the request and writing the response.');
-- The built-in rows are made again by CREATE EXTENSION (like the free tier).
SELECT pg_catalog.pg_extension_config_dump('cpub.runtimes',
	'WHERE name NOT IN (''c'', ''python'', ''shell'')');

--
-- Functions.
--
CREATE TABLE cpub.functions (
	id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	name text NOT NULL CHECK (cpub.check_identifier('function', name) = name),
	owner_user_id uuid REFERENCES cpub.users (uuid),
	owner_organization_id uuid
		REFERENCES cpub.organizations (id) ON DELETE CASCADE,
	-- The seed's owner_id: the user's or the organization's id.
	owner_id uuid NOT NULL
		GENERATED ALWAYS AS (coalesce(owner_user_id, owner_organization_id)) STORED,
	-- inactive: nothing serves yet; active: a version serves; deleted.
	status text NOT NULL DEFAULT 'inactive'
		CHECK (status IN ('inactive', 'active', 'deleted')),
	runtime text NOT NULL REFERENCES cpub.runtimes (name),
	memory_mb integer NOT NULL,
	timeout_seconds integer NOT NULL,
	max_concurrency integer NOT NULL,
	-- Goes up by one whenever what the function's containers are started
	-- with changes (its environment variables, memory, timeout or
	-- concurrency; cpub.function_reconfigured): a worker drains containers
	-- started under an older generation.
	config_generation bigint NOT NULL DEFAULT 1,
	-- public: anyone invokes; key: a signed invocation key (or a member's
	-- session); private: the owner, or the organization's members, only.
	visibility text NOT NULL DEFAULT 'private'
		CHECK (visibility IN ('public', 'key', 'private')),
	active_version_id uuid,
	last_version integer NOT NULL DEFAULT 0,
	metadata jsonb NOT NULL DEFAULT '{}',
	created_by uuid REFERENCES cpub.users (uuid) ON DELETE SET NULL,
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now(),
	deleted_at timestamptz,
	CHECK (pg_catalog.num_nonnulls(owner_user_id, owner_organization_id) = 1),
	CHECK ((status = 'deleted') = (deleted_at IS NOT NULL)),
	CHECK (status <> 'active' OR active_version_id IS NOT NULL)
);
-- A name is unique among its owner's live functions; a deleted function's
-- name can be used again.
CREATE UNIQUE INDEX functions_owner_name ON cpub.functions (owner_id, name)
	WHERE deleted_at IS NULL;
CREATE INDEX functions_owner_user ON cpub.functions (owner_user_id)
	WHERE owner_user_id IS NOT NULL;
CREATE INDEX functions_owner_organization ON cpub.functions (owner_organization_id)
	WHERE owner_organization_id IS NOT NULL;

CREATE TABLE cpub.function_versions (
	id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	function_id uuid NOT NULL REFERENCES cpub.functions (id) ON DELETE CASCADE,
	version integer NOT NULL CHECK (version > 0),
	status text NOT NULL DEFAULT 'queued'
		CHECK (status IN ('queued', 'building', 'ready', 'failed')),
	-- Make this version active when it is ready (deploy --activate).
	activate boolean NOT NULL DEFAULT true,
	runtime text NOT NULL REFERENCES cpub.runtimes (name),
	-- The uploaded tar.gz; NULL once its function is deleted.
	archive bytea,
	archive_sha256 bytea NOT NULL CHECK (pg_catalog.length(archive_sha256) = 32),
	archive_size integer NOT NULL CHECK (archive_size > 0),
	image text,
	build_log text NOT NULL DEFAULT '',
	error text,
	build_job_id bigint,
	created_by uuid REFERENCES cpub.users (uuid) ON DELETE SET NULL,
	created_at timestamptz NOT NULL DEFAULT now(),
	build_started_at timestamptz,
	build_finished_at timestamptz,
	UNIQUE (function_id, version)
);
-- Archives are compressed already: store them out of line, uncompressed.
ALTER TABLE cpub.function_versions ALTER COLUMN archive SET STORAGE EXTERNAL;

ALTER TABLE cpub.functions
	ADD FOREIGN KEY (active_version_id) REFERENCES cpub.function_versions (id)
	DEFERRABLE INITIALLY DEFERRED;

-- Per owner (user or organization) usage, one row each: locked to count
-- functions against the tier, and by invocation for its monthly quota and
-- its requests-per-second bucket (sql/70_executions.sql).
CREATE TABLE cpub.owner_usage (
	owner_id uuid PRIMARY KEY,
	month date NOT NULL,
	month_invocations bigint NOT NULL DEFAULT 0,
	tokens double precision NOT NULL DEFAULT 0,
	refilled_at timestamptz NOT NULL DEFAULT now()
);

-- Row level security: what a session's user could see if it read the
-- tables directly (the functions below check the same on their own).
CREATE FUNCTION cpub.function_visible(owner_user_id uuid,
									  owner_organization_id uuid)
	RETURNS boolean
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
	SELECT function_visible.owner_user_id = cpub.current_user_id()
		OR function_visible.owner_organization_id IN
		   (SELECT cpub.organization_ids_of(cpub.current_user_id()))
$$;
ALTER TABLE cpub.functions ENABLE ROW LEVEL SECURITY;
CREATE POLICY functions_owner ON cpub.functions
	USING (cpub.function_visible(owner_user_id, owner_organization_id));
ALTER TABLE cpub.function_versions ENABLE ROW LEVEL SECURITY;
CREATE POLICY function_versions_owner ON cpub.function_versions
	USING (function_id IN (SELECT f.id FROM cpub.functions f));
ALTER TABLE cpub.owner_usage ENABLE ROW LEVEL SECURITY;
CREATE POLICY owner_usage_owner ON cpub.owner_usage
	USING (owner_id = cpub.current_user_id()
		   OR owner_id IN (SELECT cpub.organization_ids_of(cpub.current_user_id())));

SELECT pg_catalog.pg_extension_config_dump('cpub.functions', '');
SELECT pg_catalog.pg_extension_config_dump('cpub.function_versions', '');
SELECT pg_catalog.pg_extension_config_dump('cpub.owner_usage', '');

--
-- Helpers.
--

-- cpub.function_ref(ref, need): the live function a developer names, and
-- their right to it.  ref is the function's id, NAME (one of the caller's
-- own functions) or ORGANIZATION/NAME.  need is 'read' (every member) or
-- 'manage' (the owning user, an organization's owners and admins; 42501 for
-- a plain member).  P0002 when there is no such function or the caller may
-- not see it.  With lock, the row is locked by an update (see
-- cpub.organization_lock on why an update).
CREATE FUNCTION cpub.function_ref(ref text, need text DEFAULT 'read',
								  lock boolean DEFAULT false)
	RETURNS cpub.functions
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	me uuid := cpub.require_user();
	f cpub.functions;
	org_name text;
	fn_name text;
	fid uuid;
	member_role text;
BEGIN
	IF function_ref.ref IS NULL OR function_ref.ref = '' THEN
		RAISE EXCEPTION 'function is required'
			USING ERRCODE = '22004',
				  HINT = 'Name a function by its id, NAME or ORGANIZATION/NAME.';
	END IF;
	IF function_ref.ref ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' THEN
		SELECT f2.id INTO fid FROM cpub.functions f2
		 WHERE f2.id = function_ref.ref::uuid;
	END IF;
	-- A function name can have the shape of an id: no such id, it is a NAME.
	IF fid IS NULL AND pg_catalog.strpos(function_ref.ref, '/') > 0 THEN
		org_name := pg_catalog.split_part(function_ref.ref, '/', 1);
		fn_name := pg_catalog.substr(function_ref.ref,
									 pg_catalog.length(org_name) + 2);
		SELECT f2.id INTO fid FROM cpub.functions f2
		  JOIN cpub.organizations o ON o.id = f2.owner_organization_id
		 WHERE o.name = org_name AND f2.name = fn_name
		   AND f2.deleted_at IS NULL;
	ELSIF fid IS NULL THEN
		SELECT f2.id INTO fid FROM cpub.functions f2
		 WHERE f2.owner_user_id = me AND f2.name = function_ref.ref
		   AND f2.deleted_at IS NULL;
	END IF;

	IF function_ref.lock THEN
		UPDATE cpub.functions f2 SET updated_at = pg_catalog.now()
		 WHERE f2.id = fid AND f2.deleted_at IS NULL
		RETURNING f2.* INTO f;
	ELSE
		SELECT f2.* INTO f FROM cpub.functions f2
		 WHERE f2.id = fid AND f2.deleted_at IS NULL;
	END IF;

	IF f.id IS NOT NULL AND f.owner_organization_id IS NOT NULL THEN
		SELECT m.role INTO member_role FROM cpub.organization_members m
		 WHERE m.organization_id = f.owner_organization_id AND m.user_id = me;
	END IF;
	IF f.id IS NULL
	   OR (f.owner_user_id IS NOT NULL AND f.owner_user_id <> me)
	   OR (f.owner_organization_id IS NOT NULL AND member_role IS NULL) THEN
		RAISE EXCEPTION 'function "%" not found', function_ref.ref
			USING ERRCODE = 'P0002',
				  HINT = 'cpub_api.function_list() lists your functions; an organization''s are named ORGANIZATION/NAME.';
	END IF;
	IF function_ref.need = 'manage' AND member_role = 'member' THEN
		RAISE EXCEPTION 'only an owner or an admin of the organization can change function "%"',
			function_ref.ref
			USING ERRCODE = '42501', DETAIL = 'Your role is member.';
	END IF;
	RETURN f;
END
$$;

-- cpub.function_tier(f): the tier whose limits apply to a function.
CREATE FUNCTION cpub.function_tier(f cpub.functions)
	RETURNS cpub.tiers
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
	SELECT cpub.effective_tier(function_tier.f.owner_user_id,
							   function_tier.f.owner_organization_id)
$$;

-- cpub.function_limits(f): the memory, timeout and concurrency a
-- function's containers run with: its own settings, each capped by its
-- owner's tier as it is now (an admin may have lowered the tier, or moved
-- the owner to another, since they were set).  Every run calls it
-- (execution_start), so PL/pgSQL: a LANGUAGE sql body would be planned
-- again at every call, which made it cost three times as much.
CREATE FUNCTION cpub.function_limits(f cpub.functions, OUT memory_mb integer,
									 OUT timeout_seconds integer,
									 OUT max_concurrency integer)
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	t cpub.tiers := cpub.function_tier(function_limits.f);
BEGIN
	function_limits.memory_mb := least(function_limits.f.memory_mb, t.max_memory_mb);
	function_limits.timeout_seconds := least(function_limits.f.timeout_seconds,
											 t.max_timeout_seconds);
	function_limits.max_concurrency := least(function_limits.f.max_concurrency,
											 t.max_concurrency);
END
$$;

-- cpub.owner_usage_lock(owner_id): the owner's usage row, made when missing
-- and locked by an update (so that concurrent creations under REPEATABLE
-- READ fail with 40001 instead of both passing a count), with the month
-- rolled over when a new one began (UTC).
CREATE FUNCTION cpub.owner_usage_lock(owner_id uuid)
	RETURNS cpub.owner_usage
	LANGUAGE sql VOLATILE
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
	-- A new row's request bucket starts full (refilled long ago).
	INSERT INTO cpub.owner_usage AS u (owner_id, month, refilled_at)
	VALUES (owner_usage_lock.owner_id,
			pg_catalog.date_trunc('month', pg_catalog.now() AT TIME ZONE 'UTC')::date,
			pg_catalog.now() - interval '1 day')
	ON CONFLICT (owner_id) DO UPDATE
	   SET month = EXCLUDED.month,
		   month_invocations = CASE WHEN u.month = EXCLUDED.month
									THEN u.month_invocations ELSE 0 END
	RETURNING u.*
$$;

-- cpub.tier_cap(tier, setting, limit_name, value): value unchanged; 54Q02
-- naming the setting, the tier and its limit when value is above it.
CREATE FUNCTION cpub.tier_cap(tier cpub.tiers, setting text, limit_name text,
							  value integer)
	RETURNS integer
	LANGUAGE plpgsql IMMUTABLE
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	cap bigint := (pg_catalog.to_jsonb(tier_cap.tier) ->> tier_cap.limit_name)::bigint;
BEGIN
	IF tier_cap.value > cap THEN
		RAISE EXCEPTION '% % is above the % of % allowed by tier "%"',
			tier_cap.setting, tier_cap.value, tier_cap.limit_name, cap,
			tier_cap.tier.name
			USING ERRCODE = '54Q02',
				  HINT = 'Choose a smaller value, or ask an admin for another tier.';
	END IF;
	RETURN tier_cap.value;
END
$$;

-- cpub.archive_limit(tier): the largest archive in bytes a deploy under
-- that tier accepts (its max_archive_mb in MiB).  function_deploy refuses
-- anything larger; function_upload_limit tells the HTTP front beforehand.
CREATE FUNCTION cpub.archive_limit(tier cpub.tiers)
	RETURNS bigint
	LANGUAGE sql IMMUTABLE
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
	SELECT archive_limit.tier.max_archive_mb::bigint * 1048576
$$;

-- cpub.function_check_settings(f): checks a function's settings: each
-- within its absolute range (22023) and under its owner's tier (54Q02), the
-- runtime known and enabled (22023), the visibility one of three (22023).
CREATE FUNCTION cpub.function_check_settings(f cpub.functions)
	RETURNS void
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	t cpub.tiers := cpub.function_tier(function_check_settings.f);
	s record;
BEGIN
	IF NOT EXISTS (SELECT FROM cpub.runtimes r
					WHERE r.name = function_check_settings.f.runtime
					  AND r.enabled) THEN
		RAISE EXCEPTION 'unknown runtime "%"',
			coalesce(function_check_settings.f.runtime, 'null')
			USING ERRCODE = '22023',
				  DETAIL = pg_catalog.format('Available runtimes: %s.',
					(SELECT pg_catalog.string_agg(r.name, ', ' ORDER BY r.name)
					   FROM cpub.runtimes r WHERE r.enabled));
	END IF;
	IF function_check_settings.f.visibility IS NULL
	   OR function_check_settings.f.visibility NOT IN ('public', 'key', 'private') THEN
		RAISE EXCEPTION 'invalid visibility "%"',
			coalesce(function_check_settings.f.visibility, 'null')
			USING ERRCODE = '22023',
				  DETAIL = 'A function is public, key (signed invocation keys) or private.';
	END IF;
	IF function_check_settings.f.metadata IS NULL
	   OR pg_catalog.jsonb_typeof(function_check_settings.f.metadata) <> 'object' THEN
		RAISE EXCEPTION 'metadata must be a JSON object'
			USING ERRCODE = '22023';
	END IF;
	FOR s IN
		SELECT * FROM (VALUES
			('memory_mb', function_check_settings.f.memory_mb, 16, 65536, 'max_memory_mb'),
			('timeout_seconds', function_check_settings.f.timeout_seconds, 1, 3600,
			 'max_timeout_seconds'),
			('max_concurrency', function_check_settings.f.max_concurrency, 1, 1000,
			 'max_concurrency'))
			AS v (name, value, lo, hi, tier_limit)
	LOOP
		IF s.value IS NULL OR s.value < s.lo OR s.value > s.hi THEN
			RAISE EXCEPTION '% must be between % and %', s.name, s.lo, s.hi
				USING ERRCODE = '22023',
					  DETAIL = pg_catalog.format('Got %s.', coalesce(s.value::text, 'null'));
		END IF;
		PERFORM cpub.tier_cap(t, s.name, s.tier_limit, s.value);
	END LOOP;
END
$$;

-- cpub.function_audit(action, f, detail): the audit record of a change to a
-- function, naming it and its owner.
CREATE FUNCTION cpub.function_audit(action text, f cpub.functions,
									detail jsonb DEFAULT '{}')
	RETURNS void
	LANGUAGE sql VOLATILE
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
	SELECT cpub.audit(function_audit.action, 'function',
					  function_audit.f.id::text,
					  pg_catalog.jsonb_build_object(
						'name', function_audit.f.name,
						'owner_user_id', function_audit.f.owner_user_id,
						'owner_organization_id', function_audit.f.owner_organization_id)
					  || coalesce(function_audit.detail, '{}'))
$$;

-- cpub.log_tail(log, max_bytes): the log unchanged when it fits in
-- max_bytes, else its last max_bytes (within 3 bytes, characters whole)
-- after a line saying earlier output was cut.  Build and run logs.
CREATE FUNCTION cpub.log_tail(log text, max_bytes integer)
	RETURNS text
	LANGUAGE plpgsql IMMUTABLE
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	t text := coalesce(log_tail.log, '');
BEGIN
	IF pg_catalog.octet_length(t) <= log_tail.max_bytes THEN
		RETURN t;
	END IF;
	-- right() counts characters: while multibyte ones keep it over the
	-- limit, drop a quarter of the excess in characters (4 bytes at most
	-- each), so it ends within 3 bytes of the limit.
	t := pg_catalog.right(t, log_tail.max_bytes);
	WHILE pg_catalog.octet_length(t) > log_tail.max_bytes LOOP
		t := pg_catalog.right(t, -((pg_catalog.octet_length(t) - log_tail.max_bytes + 3) / 4));
	END LOOP;
	RETURN '[... earlier output cut ...]' || E'\n' || t;
END
$$;

-- cpub.versions_changed(function_id): tells workers (LISTEN cpub_versions)
-- that a function's active version or configuration changed, or the
-- function went away, so they warm what it serves now
-- (cpub_worker.function_runtime) and drain the rest.  Delivered at commit.
CREATE FUNCTION cpub.versions_changed(function_id uuid)
	RETURNS void
	LANGUAGE sql VOLATILE
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
	SELECT pg_catalog.pg_notify('cpub_versions', versions_changed.function_id::text)
$$;

-- cpub.function_reconfigured(function_id): what the function's containers
-- are started with changed in this transaction (its environment variables;
-- its memory, timeout or concurrency): its config_generation goes up by one
-- and workers are told (cpub.versions_changed), so that containers started
-- before the change stop serving at once.  The caller holds the
-- function's row lock (cpub.function_ref with lock).  Returns the new
-- generation.
CREATE FUNCTION cpub.function_reconfigured(function_id uuid)
	RETURNS bigint
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	generation bigint;
BEGIN
	UPDATE cpub.functions f
	   SET config_generation = f.config_generation + 1
	 WHERE f.id = function_reconfigured.function_id
	RETURNING f.config_generation INTO generation;
	PERFORM cpub.versions_changed(function_reconfigured.function_id);
	RETURN generation;
END
$$;

--
-- Types of results.
--
CREATE TYPE cpub_api.function_info AS (
	id uuid,
	name text,
	organization text,			-- NULL for a user's own function
	owner_id uuid,
	status text,
	runtime text,
	memory_mb integer,
	timeout_seconds integer,
	max_concurrency integer,
	visibility text,
	active_version integer,
	latest_version integer,
	latest_status text,
	endpoint text,				-- the invocation path: /fn/OWNER/NAME
	metadata jsonb,
	created_at timestamptz,
	updated_at timestamptz
);

CREATE TYPE cpub_api.version_info AS (
	function_id uuid,
	version_id uuid,
	version integer,
	status text,
	active boolean,
	activate boolean,
	runtime text,
	archive_sha256 text,
	archive_size integer,
	image text,
	error text,
	created_by uuid,
	created_at timestamptz,
	build_started_at timestamptz,
	build_finished_at timestamptz
);

-- cpub.function_info(f): a function as developers see it, one row.  An
-- inlinable row projection (docs/sql-conventions.md): call it in FROM, as
-- CROSS JOIN LATERAL cpub.function_info(f) i, and the planner folds it into
-- the calling query (joins instead of a call per row).
CREATE FUNCTION cpub.function_info(f cpub.functions)
	RETURNS SETOF cpub_api.function_info
	LANGUAGE sql STABLE ROWS 1
	AS $$
	SELECT function_info.f.id, function_info.f.name, o.name,
		   function_info.f.owner_id, function_info.f.status,
		   function_info.f.runtime, function_info.f.memory_mb,
		   function_info.f.timeout_seconds, function_info.f.max_concurrency,
		   function_info.f.visibility, av.version, lv.version, lv.status,
		   pg_catalog.format('/fn/%s/%s',
							 coalesce(o.name,
									  function_info.f.owner_user_id::pg_catalog.text),
							 function_info.f.name),
		   function_info.f.metadata, function_info.f.created_at,
		   function_info.f.updated_at
	  FROM (SELECT) AS one
	  LEFT JOIN cpub.organizations o
		ON o.id OPERATOR(pg_catalog.=) function_info.f.owner_organization_id
	  LEFT JOIN cpub.function_versions av
		ON av.id OPERATOR(pg_catalog.=) function_info.f.active_version_id
	  LEFT JOIN cpub.function_versions lv
		ON lv.function_id OPERATOR(pg_catalog.=) function_info.f.id
	   AND lv.version OPERATOR(pg_catalog.=) function_info.f.last_version
$$;

-- cpub.version_info(v, active_version_id): a version as developers see it,
-- one row.  An inlinable row projection like cpub.function_info.
CREATE FUNCTION cpub.version_info(v cpub.function_versions,
								  active_version_id uuid)
	RETURNS SETOF cpub_api.version_info
	LANGUAGE sql IMMUTABLE ROWS 1
	AS $$
	SELECT version_info.v.function_id, version_info.v.id, version_info.v.version,
		   version_info.v.status,
		   -- IS NOT DISTINCT FROM, with its operator pinned.
		   coalesce(version_info.v.id OPERATOR(pg_catalog.=) version_info.active_version_id,
					version_info.v.id IS NULL AND version_info.active_version_id IS NULL),
		   version_info.v.activate, version_info.v.runtime,
		   pg_catalog.encode(version_info.v.archive_sha256, 'hex'),
		   version_info.v.archive_size, version_info.v.image, version_info.v.error,
		   version_info.v.created_by, version_info.v.created_at,
		   version_info.v.build_started_at, version_info.v.build_finished_at
$$;

--
-- Developer API.
--

-- cpub_api.function_create(name, runtime, organization, memory_mb,
-- timeout_seconds, max_concurrency, visibility, metadata): a new function of
-- the caller's own, or of an organization they own or administer.  Settings
-- left NULL take defaults (128 MB, 10 s, 4 at once, private), lowered to the
-- tier's caps; given ones above the caps fail with 54Q02.  Also 54Q02 when
-- the owner already has as many functions as its tier allows; 22Q04 for a
-- bad name, 22023 for a bad setting, 23505 when the owner has a function of
-- that name.
CREATE FUNCTION cpub_api.function_create(name text, runtime text,
										 organization text DEFAULT NULL,
										 memory_mb integer DEFAULT NULL,
										 timeout_seconds integer DEFAULT NULL,
										 max_concurrency integer DEFAULT NULL,
										 visibility text DEFAULT NULL,
										 metadata jsonb DEFAULT NULL)
	RETURNS cpub_api.function_info
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	me uuid := cpub.require_user();
	f cpub.functions;
	t cpub.tiers;
	org record;
	n bigint;
BEGIN
	PERFORM cpub.check_identifier('function', coalesce(function_create.name, ''));
	IF function_create.organization IS NULL THEN
		f.owner_user_id := me;
		t := cpub.effective_tier(user_id => me);
	ELSE
		org := cpub.organization_of_member(function_create.organization, me);
		IF org.role = 'member' THEN
			RAISE EXCEPTION 'only an owner or an admin can create functions in organization "%"',
				function_create.organization
				USING ERRCODE = '42501', DETAIL = 'Your role is member.';
		END IF;
		f.owner_organization_id := org.organization_id;
		t := cpub.effective_tier(organization_id => org.organization_id);
	END IF;

	-- Count the owner's functions under its usage row's lock.
	PERFORM cpub.owner_usage_lock(coalesce(f.owner_user_id, f.owner_organization_id));
	SELECT pg_catalog.count(*) INTO n FROM cpub.functions f2
	 WHERE f2.owner_id = coalesce(f.owner_user_id, f.owner_organization_id)
	   AND f2.deleted_at IS NULL;
	IF n >= t.max_functions THEN
		RAISE EXCEPTION 'tier "%" allows at most % functions', t.name, t.max_functions
			USING ERRCODE = '54Q02',
				  DETAIL = pg_catalog.format('The owner has %s functions already.', n),
				  HINT = 'Delete a function, or ask an admin for another tier.';
	END IF;

	f.name := function_create.name;
	f.runtime := function_create.runtime;
	f.memory_mb := coalesce(function_create.memory_mb, least(128, t.max_memory_mb));
	f.timeout_seconds := coalesce(function_create.timeout_seconds,
								  least(10, t.max_timeout_seconds));
	f.max_concurrency := coalesce(function_create.max_concurrency,
								  least(4, t.max_concurrency));
	f.visibility := coalesce(function_create.visibility, 'private');
	f.metadata := coalesce(function_create.metadata, '{}');
	PERFORM cpub.function_check_settings(f);

	BEGIN
		INSERT INTO cpub.functions AS f2 (name, owner_user_id,
			owner_organization_id, runtime, memory_mb, timeout_seconds,
			max_concurrency, visibility, metadata, created_by)
		VALUES (f.name, f.owner_user_id, f.owner_organization_id, f.runtime,
				f.memory_mb, f.timeout_seconds, f.max_concurrency, f.visibility,
				f.metadata, me)
		RETURNING f2.* INTO f;
	EXCEPTION WHEN unique_violation THEN
		RAISE EXCEPTION 'function "%" already exists', function_create.name
			USING ERRCODE = '23505',
				  HINT = 'Choose another name, or deploy to the existing function.';
	END;
	PERFORM cpub.function_audit('function.create', f,
		pg_catalog.jsonb_build_object('runtime', f.runtime,
			'memory_mb', f.memory_mb, 'timeout_seconds', f.timeout_seconds,
			'max_concurrency', f.max_concurrency, 'visibility', f.visibility));
	RETURN (SELECT i FROM cpub.function_info(f) i);
END
$$;
GRANT EXECUTE ON FUNCTION cpub_api.function_create(text, text, text, integer,
												   integer, integer, text, jsonb)
	TO cpub_developer;

-- cpub_api.function_get(function): one function (id, NAME or ORG/NAME).
-- PL/pgSQL, whose plan is kept for the session: a LANGUAGE sql body is
-- planned again on every call.
CREATE FUNCTION cpub_api.function_get(function text)
	RETURNS cpub_api.function_info
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
BEGIN
	RETURN (SELECT i FROM cpub.function_ref(function_get.function) f
			 CROSS JOIN LATERAL cpub.function_info(f) i);
END
$$;
GRANT EXECUTE ON FUNCTION cpub_api.function_get(text) TO cpub_developer;

-- cpub_api.function_list(organization, after, limit): the caller's own live
-- functions, or an organization's (as a member; P0002 otherwise), by name,
-- a page at a time (after: the last name of the previous page).
CREATE FUNCTION cpub_api.function_list(organization text DEFAULT NULL,
									   after text DEFAULT NULL,
									   "limit" integer DEFAULT 50)
	RETURNS SETOF cpub_api.function_info
	LANGUAGE plpgsql STABLE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	me uuid := cpub.require_user();
	owner uuid := me;
BEGIN
	PERFORM cpub.check_page_limit(function_list."limit");
	IF function_list.organization IS NOT NULL THEN
		SELECT o.id INTO owner FROM cpub.organizations o
		  JOIN cpub.organization_members m ON m.organization_id = o.id
		 WHERE o.name = function_list.organization AND m.user_id = me;
		IF owner IS NULL THEN
			RAISE EXCEPTION 'organization "%" not found', function_list.organization
				USING ERRCODE = 'P0002';
		END IF;
	END IF;
	RETURN QUERY
		SELECT i.*
		  FROM cpub.functions f
		 CROSS JOIN LATERAL cpub.function_info(f) i
		 WHERE f.owner_id = owner AND f.deleted_at IS NULL
		   AND (function_list.after IS NULL OR f.name > function_list.after)
		 ORDER BY f.name
		 LIMIT function_list."limit";
END
$$;
GRANT EXECUTE ON FUNCTION cpub_api.function_list(text, text, integer)
	TO cpub_developer;

-- cpub_api.function_update(function, runtime, memory_mb, timeout_seconds,
-- max_concurrency, visibility, metadata): changes the settings given (NULL:
-- unchanged), checked as at creation.  Memory, timeout, concurrency and
-- visibility apply to the next invocation; the runtime to the next deploy.
-- A new memory, timeout or concurrency is a new configuration
-- (cpub.function_reconfigured): workers replace the running containers.
CREATE FUNCTION cpub_api.function_update(function text,
										 runtime text DEFAULT NULL,
										 memory_mb integer DEFAULT NULL,
										 timeout_seconds integer DEFAULT NULL,
										 max_concurrency integer DEFAULT NULL,
										 visibility text DEFAULT NULL,
										 metadata jsonb DEFAULT NULL)
	RETURNS cpub_api.function_info
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	f cpub.functions := cpub.function_ref(function_update.function, 'manage', true);
	old jsonb := pg_catalog.to_jsonb(f);
	changes jsonb;
BEGIN
	f.runtime := coalesce(function_update.runtime, f.runtime);
	f.memory_mb := coalesce(function_update.memory_mb, f.memory_mb);
	f.timeout_seconds := coalesce(function_update.timeout_seconds, f.timeout_seconds);
	f.max_concurrency := coalesce(function_update.max_concurrency, f.max_concurrency);
	f.visibility := coalesce(function_update.visibility, f.visibility);
	f.metadata := coalesce(function_update.metadata, f.metadata);
	PERFORM cpub.function_check_settings(f);
	UPDATE cpub.functions f2
	   SET runtime = f.runtime, memory_mb = f.memory_mb,
		   timeout_seconds = f.timeout_seconds,
		   max_concurrency = f.max_concurrency, visibility = f.visibility,
		   metadata = f.metadata, updated_at = pg_catalog.now()
	 WHERE f2.id = f.id
	RETURNING f2.* INTO f;
	SELECT pg_catalog.jsonb_object_agg(k.key, pg_catalog.jsonb_build_object(
			   'from', old -> k.key, 'to', k.value))
	  INTO changes
	  FROM pg_catalog.jsonb_each(pg_catalog.to_jsonb(f)) k
	 WHERE k.key IN ('runtime', 'memory_mb', 'timeout_seconds',
					 'max_concurrency', 'visibility', 'metadata')
	   AND k.value IS DISTINCT FROM old -> k.key;
	IF changes ?| ARRAY['memory_mb', 'timeout_seconds', 'max_concurrency'] THEN
		PERFORM cpub.function_reconfigured(f.id);
	END IF;
	IF changes IS NOT NULL THEN
		PERFORM cpub.function_audit('function.update', f,
			pg_catalog.jsonb_build_object('changes', changes));
	END IF;
	RETURN (SELECT i FROM cpub.function_info(f) i);
END
$$;
GRANT EXECUTE ON FUNCTION cpub_api.function_update(text, text, integer, integer,
												   integer, text, jsonb)
	TO cpub_developer;

-- cpub_api.function_deploy(function, archive, activate): stores a tar.gz
-- archive as the function's next version (queued) and enqueues its build.
-- With activate (the default) the version becomes active once it is ready,
-- unless a newer version is active by then.  22Q05 when the archive is
-- empty or not gzip; 54Q03 when it is larger than the tier allows.
CREATE FUNCTION cpub_api.function_deploy(function text, archive bytea,
										 activate boolean DEFAULT true)
	RETURNS cpub_api.version_info
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	me uuid := cpub.require_user();
	f cpub.functions := cpub.function_ref(function_deploy.function, 'manage', true);
	t cpub.tiers := cpub.function_tier(f);
	v cpub.function_versions;
	size bigint := pg_catalog.octet_length(function_deploy.archive);
BEGIN
	IF function_deploy.archive IS NULL OR size = 0 THEN
		RAISE EXCEPTION 'archive is empty'
			USING ERRCODE = '22Q05',
				  HINT = 'Upload the function''s folder as a tar.gz archive.';
	END IF;
	IF size > cpub.archive_limit(t) THEN
		RAISE EXCEPTION 'archive of % bytes is larger than tier "%" allows', size, t.name
			USING ERRCODE = '54Q03',
				  DETAIL = pg_catalog.format('Tier "%s" allows archives up to %s MB.',
											 t.name, t.max_archive_mb),
				  HINT = 'Leave build products and data out of the archive.';
	END IF;
	IF size < 18 OR pg_catalog.substr(function_deploy.archive, 1, 3) <> '\x1f8b08'::bytea THEN
		RAISE EXCEPTION 'archive is not gzip-compressed'
			USING ERRCODE = '22Q05',
				  DETAIL = 'A deploy takes a tar.gz archive of the function''s folder.';
	END IF;
	IF function_deploy.activate IS NULL THEN
		RAISE EXCEPTION 'activate must be true or false' USING ERRCODE = '22004';
	END IF;

	UPDATE cpub.functions f2 SET last_version = f2.last_version + 1
	 WHERE f2.id = f.id
	RETURNING f2.* INTO f;
	INSERT INTO cpub.function_versions AS v2 (function_id, version, activate,
		runtime, archive, archive_sha256, archive_size, created_by)
	VALUES (f.id, f.last_version, function_deploy.activate, f.runtime,
			function_deploy.archive, pg_catalog.sha256(function_deploy.archive),
			size, me)
	RETURNING v2.* INTO v;
	UPDATE cpub.function_versions v2
	   SET build_job_id = cpub.job_enqueue('build',
			   pg_catalog.jsonb_build_object('version_id', v.id), 50)
	 WHERE v2.id = v.id
	RETURNING v2.* INTO v;
	PERFORM cpub.function_audit('function.deploy', f,
		pg_catalog.jsonb_build_object('version', v.version,
			'archive_sha256', pg_catalog.encode(v.archive_sha256, 'hex'),
			'archive_size', v.archive_size, 'activate', v.activate));
	RETURN (SELECT i FROM cpub.version_info(v, f.active_version_id) i);
END
$$;
GRANT EXECUTE ON FUNCTION cpub_api.function_deploy(text, bytea, boolean)
	TO cpub_developer;

-- cpub_api.function_upload_limit(function): the largest archive in bytes
-- that function_deploy would accept for this function now (its owner's
-- current tier, cpub.archive_limit), so that the HTTP front can refuse a
-- larger upload (413) before reading it.  The same right as a deploy
-- (manage): P0002 when the caller does not find the function, 42501 for a
-- plain member of its organization.
CREATE FUNCTION cpub_api.function_upload_limit(function text)
	RETURNS bigint
	LANGUAGE sql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
	SELECT cpub.archive_limit(cpub.function_tier(
		cpub.function_ref(function_upload_limit.function, 'manage')))
$$;
GRANT EXECUTE ON FUNCTION cpub_api.function_upload_limit(text) TO cpub_developer;

-- cpub_api.function_versions(function, after, limit): a function's
-- versions, newest first (after: the last version number of the previous
-- page).
CREATE FUNCTION cpub_api.function_versions(function text,
										   after integer DEFAULT NULL,
										   "limit" integer DEFAULT 50)
	RETURNS SETOF cpub_api.version_info
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	f cpub.functions := cpub.function_ref(function_versions.function);
BEGIN
	PERFORM cpub.check_page_limit(function_versions."limit");
	RETURN QUERY
		SELECT i.*
		  FROM cpub.function_versions v
		 CROSS JOIN LATERAL cpub.version_info(v, f.active_version_id) i
		 WHERE v.function_id = f.id
		   AND (function_versions.after IS NULL OR v.version < function_versions.after)
		 ORDER BY v.version DESC
		 LIMIT function_versions."limit";
END
$$;
GRANT EXECUTE ON FUNCTION cpub_api.function_versions(text, integer, integer)
	TO cpub_developer;

-- cpub.version_of(f, version): the version of that number; P0002 when the
-- function has none.
CREATE FUNCTION cpub.version_of(f cpub.functions, version integer)
	RETURNS cpub.function_versions
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	v cpub.function_versions;
BEGIN
	SELECT v2.* INTO v FROM cpub.function_versions v2
	 WHERE v2.function_id = version_of.f.id AND v2.version = version_of.version;
	IF v.id IS NULL THEN
		RAISE EXCEPTION 'function "%" has no version %', version_of.f.name,
			coalesce(version_of.version::text, 'null')
			USING ERRCODE = 'P0002',
				  HINT = 'cpub_api.function_versions(function) lists its versions.';
	END IF;
	RETURN v;
END
$$;

-- cpub_api.function_build_log(function, version): a version's build log.
-- LANGUAGE sql: PL/pgSQL refuses a result column named like an argument.
CREATE FUNCTION cpub_api.function_build_log(function text, version integer)
	RETURNS TABLE (version integer, status text, build_log text, error text)
	LANGUAGE sql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
	SELECT v.version, v.status, v.build_log, v.error
	  FROM cpub.version_of(cpub.function_ref(function_build_log.function),
						   function_build_log.version) v
$$;
GRANT EXECUTE ON FUNCTION cpub_api.function_build_log(text, integer)
	TO cpub_developer;

-- cpub_api.function_rollback(function, version): makes a ready version the
-- active one, at once and atomically.  Without a version: the newest ready
-- version older than the active one.  23514 when that version is not ready
-- (queued, building or failed) or there is none to go back to; nothing
-- changes when it is active already.
CREATE FUNCTION cpub_api.function_rollback(function text,
										   version integer DEFAULT NULL)
	RETURNS cpub_api.version_info
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	f cpub.functions := cpub.function_ref(function_rollback.function, 'manage', true);
	v cpub.function_versions;
	from_version integer;
BEGIN
	SELECT av.version INTO from_version FROM cpub.function_versions av
	 WHERE av.id = f.active_version_id;
	IF function_rollback.version IS NULL THEN
		SELECT v2.* INTO v FROM cpub.function_versions v2
		 WHERE v2.function_id = f.id AND v2.status = 'ready'
		   AND v2.version < coalesce(from_version, 0)
		 ORDER BY v2.version DESC LIMIT 1;
		IF v.id IS NULL THEN
			RAISE EXCEPTION 'function "%" has no earlier ready version', f.name
				USING ERRCODE = '23514',
					  DETAIL = pg_catalog.format('The active version is %s.',
												 coalesce(from_version::text, 'none')),
					  HINT = 'cpub_api.function_versions(function) lists its versions.';
		END IF;
	ELSE
		v := cpub.version_of(f, function_rollback.version);
		IF v.status <> 'ready' THEN
			RAISE EXCEPTION 'version % of function "%" is %, not ready',
				v.version, f.name, v.status
				USING ERRCODE = '23514',
					  DETAIL = 'Only a version that built successfully can serve.';
		END IF;
	END IF;
	IF v.id = f.active_version_id THEN
		RETURN (SELECT i FROM cpub.version_info(v, f.active_version_id) i);
	END IF;
	UPDATE cpub.functions f2
	   SET active_version_id = v.id, status = 'active', updated_at = pg_catalog.now()
	 WHERE f2.id = f.id
	RETURNING f2.* INTO f;
	PERFORM cpub.versions_changed(f.id);
	PERFORM cpub.function_audit('function.rollback', f,
		pg_catalog.jsonb_build_object('from_version', from_version,
									  'to_version', v.version));
	RETURN (SELECT i FROM cpub.version_info(v, f.active_version_id) i);
END
$$;
GRANT EXECUTE ON FUNCTION cpub_api.function_rollback(text, integer)
	TO cpub_developer;

-- cpub_api.function_delete(function): the function stops serving at once
-- (its status is deleted and invocations find nothing), its name is free
-- again, its archives are dropped, builds not yet done are failed, and a
-- cleanup job removes its images.  Its executions stay readable to its
-- owner until the retention period purges them.
CREATE FUNCTION cpub_api.function_delete(function text)
	RETURNS void
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	f cpub.functions := cpub.function_ref(function_delete.function, 'manage', true);
BEGIN
	UPDATE cpub.functions f2
	   SET status = 'deleted', deleted_at = pg_catalog.now(),
		   updated_at = pg_catalog.now()
	 WHERE f2.id = f.id
	RETURNING f2.* INTO f;
	UPDATE cpub.function_versions v
	   SET status = CASE WHEN v.status IN ('queued', 'building') THEN 'failed'
						 ELSE v.status END,
		   error = CASE WHEN v.status IN ('queued', 'building')
						THEN 'function deleted' ELSE v.error END,
		   archive = NULL
	 WHERE v.function_id = f.id;
	PERFORM cpub.job_enqueue('cleanup',
		pg_catalog.jsonb_build_object('function_id', f.id,
			'images', (SELECT coalesce(pg_catalog.jsonb_agg(v.image), '[]')
						 FROM cpub.function_versions v
						WHERE v.function_id = f.id AND v.image IS NOT NULL)),
		10);
	PERFORM cpub.versions_changed(f.id);
	PERFORM cpub.function_audit('function.delete', f);
END
$$;
GRANT EXECUTE ON FUNCTION cpub_api.function_delete(text) TO cpub_developer;

-- cpub_api.runtimes(): the runtimes a function can use.
CREATE FUNCTION cpub_api.runtimes()
	RETURNS TABLE (name text, description text)
	LANGUAGE sql STABLE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
	SELECT r.name, r.description FROM cpub.runtimes r
	 WHERE r.enabled ORDER BY r.name
$$;
GRANT EXECUTE ON FUNCTION cpub_api.runtimes() TO cpub_anon, cpub_developer;

--
-- Admin API.
--

-- cpub_admin.runtime_list(): every runtime, enabled or not.
CREATE FUNCTION cpub_admin.runtime_list()
	RETURNS SETOF cpub.runtimes
	LANGUAGE sql STABLE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
	SELECT r.* FROM cpub.runtimes r ORDER BY r.name
$$;
GRANT EXECUTE ON FUNCTION cpub_admin.runtime_list() TO cpub_admin_viewer;

-- cpub_admin.runtime_set(name, description, enabled): adds a runtime or
-- changes one (NULL: unchanged).  A disabled runtime is refused for new
-- functions and settings; functions using it keep running.  The worker
-- must know how to build and run it (worker/README.md).
CREATE FUNCTION cpub_admin.runtime_set(name text, description text DEFAULT NULL,
									   enabled boolean DEFAULT NULL)
	RETURNS cpub.runtimes
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	r cpub.runtimes;
BEGIN
	IF runtime_set.name IS NULL OR runtime_set.name !~ '^[a-z][a-z0-9_]{0,31}$' THEN
		RAISE EXCEPTION 'invalid runtime name "%"', coalesce(runtime_set.name, 'null')
			USING ERRCODE = '22Q04',
				  DETAIL = 'A runtime name is 1 to 32 lowercase letters, digits or underscores, starting with a letter.';
	END IF;
	INSERT INTO cpub.runtimes AS r2 (name, description, enabled)
	VALUES (runtime_set.name, coalesce(runtime_set.description, ''),
			coalesce(runtime_set.enabled, true))
	ON CONFLICT ON CONSTRAINT runtimes_pkey DO UPDATE
	   SET description = coalesce(runtime_set.description, r2.description),
		   enabled = coalesce(runtime_set.enabled, r2.enabled),
		   updated_at = pg_catalog.now()
	RETURNING r2.* INTO r;
	PERFORM cpub.audit('runtime.set', 'runtime', r.name,
		pg_catalog.jsonb_build_object('description', r.description,
									  'enabled', r.enabled));
	RETURN r;
END
$$;
GRANT EXECUTE ON FUNCTION cpub_admin.runtime_set(text, text, boolean)
	TO cpub_admin_full;

-- cpub_admin.function_list(search, owner_id, include_deleted, after, limit):
-- every function, by id order.
CREATE FUNCTION cpub_admin.function_list(search text DEFAULT NULL,
										 owner_id uuid DEFAULT NULL,
										 include_deleted boolean DEFAULT false,
										 after uuid DEFAULT NULL,
										 "limit" integer DEFAULT 50)
	RETURNS SETOF cpub_api.function_info
	LANGUAGE plpgsql STABLE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
BEGIN
	PERFORM cpub.check_page_limit(function_list."limit");
	RETURN QUERY
		SELECT i.*
		  FROM cpub.functions f
		 CROSS JOIN LATERAL cpub.function_info(f) i
		 WHERE (function_list.search IS NULL
				OR pg_catalog.strpos(f.name, pg_catalog.lower(function_list.search)) > 0)
		   AND (function_list.owner_id IS NULL OR f.owner_id = function_list.owner_id)
		   AND (function_list.include_deleted OR f.deleted_at IS NULL)
		   AND (function_list.after IS NULL OR f.id > function_list.after)
		 ORDER BY f.id
		 LIMIT function_list."limit";
END
$$;
GRANT EXECUTE ON FUNCTION cpub_admin.function_list(text, uuid, boolean, uuid,
												   integer)
	TO cpub_admin_viewer;

--
-- Worker API: building versions.
--

-- cpub_worker.build_start(version_id): marks a queued (or, on a retried
-- job, building) version building and returns what the build needs.  No
-- row when the version needs no build any more (built already, or its
-- function deleted): the worker completes the job without building.
-- LANGUAGE sql: PL/pgSQL refuses a result column named like an argument.
CREATE FUNCTION cpub_worker.build_start(version_id uuid)
	RETURNS TABLE (version_id uuid, function_id uuid, function_name text,
				   version integer, runtime text, archive bytea,
				   archive_sha256 text, memory_mb integer,
				   timeout_seconds integer)
	LANGUAGE sql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
	UPDATE cpub.function_versions v
	   SET status = 'building', build_started_at = pg_catalog.now()
	  FROM cpub.functions f
	 WHERE v.id = build_start.version_id AND f.id = v.function_id
	   AND v.status IN ('queued', 'building') AND f.deleted_at IS NULL
	RETURNING v.id, f.id, f.name, v.version, v.runtime, v.archive,
			  pg_catalog.encode(v.archive_sha256, 'hex'), f.memory_mb,
			  f.timeout_seconds
$$;
GRANT EXECUTE ON FUNCTION cpub_worker.build_start(uuid) TO cpub_worker;

-- cpub_worker.build_progress(version_id, build_log): the log of a build
-- still running, as far as it got (its last 1 MB), for those who follow it
-- (cpub deploy).  build_finish writes the whole log at the end.  Returns
-- false, changing nothing, when the version is not building (finished or
-- taken back meanwhile): the build's outcome decides, not this.  22004 for
-- a NULL log.
CREATE FUNCTION cpub_worker.build_progress(version_id uuid, build_log text)
	RETURNS boolean
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
BEGIN
	IF build_progress.build_log IS NULL THEN
		RAISE EXCEPTION 'build_log must not be null' USING ERRCODE = '22004';
	END IF;
	UPDATE cpub.function_versions v
	   SET build_log = cpub.log_tail(build_progress.build_log, 1048576)
	 WHERE v.id = build_progress.version_id AND v.status = 'building';
	RETURN FOUND;
END
$$;
GRANT EXECUTE ON FUNCTION cpub_worker.build_progress(uuid, text) TO cpub_worker;

-- cpub_worker.build_finish(version_id, succeeded, build_log, image, error):
-- the build's outcome.  A successful version is ready and, if its deploy
-- asked, becomes active unless a newer version is active already (so a slow
-- build never replaces a newer one); a failed one leaves the active version
-- serving.  The log keeps its last 1 MB.  Returns whether the version
-- became active.  P0002 for an unknown version, 23514 when it is not
-- building.
CREATE FUNCTION cpub_worker.build_finish(version_id uuid, succeeded boolean,
										 build_log text DEFAULT '',
										 image text DEFAULT NULL,
										 error text DEFAULT NULL)
	RETURNS boolean
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	v cpub.function_versions;
	f cpub.functions;
	active_number integer;
	log text := cpub.log_tail(build_finish.build_log, 1048576);
BEGIN
	IF build_finish.succeeded IS NULL THEN
		RAISE EXCEPTION 'succeeded must be true or false' USING ERRCODE = '22004';
	END IF;
	IF build_finish.succeeded AND coalesce(build_finish.image, '') = '' THEN
		RAISE EXCEPTION 'a successful build names its image' USING ERRCODE = '22004';
	END IF;
	-- The function first, then the version: the order deploy and rollback
	-- lock them in.
	SELECT f2.* INTO f FROM cpub.functions f2
	  JOIN cpub.function_versions v2 ON v2.function_id = f2.id
	 WHERE v2.id = build_finish.version_id
	   FOR UPDATE OF f2;
	SELECT v2.* INTO v FROM cpub.function_versions v2
	 WHERE v2.id = build_finish.version_id FOR UPDATE;
	IF v.id IS NULL THEN
		RAISE EXCEPTION 'version % not found', build_finish.version_id
			USING ERRCODE = 'P0002';
	END IF;
	IF v.status <> 'building' THEN
		RAISE EXCEPTION 'version % is %, not building', build_finish.version_id, v.status
			USING ERRCODE = '23514',
				  HINT = 'Call cpub_worker.build_start first.';
	END IF;
	UPDATE cpub.function_versions v2
	   SET status = CASE WHEN build_finish.succeeded THEN 'ready' ELSE 'failed' END,
		   build_log = log, image = build_finish.image,
		   error = CASE WHEN build_finish.succeeded THEN NULL
						ELSE coalesce(build_finish.error, 'build failed') END,
		   build_finished_at = pg_catalog.now()
	 WHERE v2.id = v.id
	RETURNING v2.* INTO v;
	IF NOT build_finish.succeeded OR NOT v.activate OR f.deleted_at IS NOT NULL THEN
		RETURN false;
	END IF;
	SELECT av.version INTO active_number FROM cpub.function_versions av
	 WHERE av.id = f.active_version_id;
	IF active_number > v.version THEN
		RETURN false;
	END IF;
	UPDATE cpub.functions f2
	   SET active_version_id = v.id, status = 'active', updated_at = pg_catalog.now()
	 WHERE f2.id = f.id;
	PERFORM cpub.versions_changed(f.id);
	RETURN true;
END
$$;
GRANT EXECUTE ON FUNCTION cpub_worker.build_finish(uuid, boolean, text, text, text)
	TO cpub_worker;

--
-- Worker API: serving versions.
--

-- cpub_worker.function_runtime(function_id): what a function serves now,
-- for a worker told on cpub_versions that it changed: its active version
-- (ready, with an image), that version's runtime and image, the memory,
-- timeout and concurrency its containers run with (capped by the owner's
-- tier as execution_start caps them, cpub.function_limits) and its
-- config_generation.  A worker pre-warms one container of it and drains
-- containers of any other version or generation.  No row when the function
-- is unknown, deleted or has no active version: drain them all.
-- LANGUAGE sql: PL/pgSQL refuses a result column named like an argument.
CREATE FUNCTION cpub_worker.function_runtime(function_id uuid)
	RETURNS TABLE (function_id uuid, version_id uuid, version integer,
				   runtime text, image text, memory_mb integer,
				   timeout_seconds integer, max_concurrency integer,
				   config_generation bigint)
	LANGUAGE sql STABLE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
	SELECT f.id, v.id, v.version, v.runtime, v.image, l.memory_mb,
		   l.timeout_seconds, l.max_concurrency, f.config_generation
	  FROM cpub.functions f
	  JOIN cpub.function_versions v ON v.id = f.active_version_id
	 CROSS JOIN LATERAL cpub.function_limits(f) l
	 WHERE f.id = function_runtime.function_id
	   AND f.status = 'active' AND f.deleted_at IS NULL
	   AND v.status = 'ready' AND v.image IS NOT NULL
$$;
GRANT EXECUTE ON FUNCTION cpub_worker.function_runtime(uuid) TO cpub_worker;

-- cpub_worker.version_archive(version_id): a ready version's archive and
-- image name, for a worker on a host that lacks the image (several hosts
-- and no registry) to build it again there, under the same name.  Changes
-- nothing: the version stays ready, its build log and image as they are.
-- No row when the version is unknown or not ready, its function is deleted
-- or its archive is gone.  (Archives are kept while their function lives:
-- only cpub_api.function_delete drops them.)
-- LANGUAGE sql: PL/pgSQL refuses a result column named like an argument.
CREATE FUNCTION cpub_worker.version_archive(version_id uuid)
	RETURNS TABLE (version_id uuid, function_id uuid, function_name text,
				   version integer, runtime text, archive bytea,
				   archive_sha256 text, image text)
	LANGUAGE sql STABLE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
	SELECT v.id, f.id, f.name, v.version, v.runtime, v.archive,
		   pg_catalog.encode(v.archive_sha256, 'hex'), v.image
	  FROM cpub.function_versions v
	  JOIN cpub.functions f ON f.id = v.function_id
	 WHERE v.id = version_archive.version_id
	   AND v.status = 'ready' AND v.archive IS NOT NULL
	   AND f.deleted_at IS NULL
$$;
GRANT EXECUTE ON FUNCTION cpub_worker.version_archive(uuid) TO cpub_worker;
