-- sql/00_base.sql: roles, schemas, settings, the C half's entry points, the
-- caller identity and the audit log.  Every other file builds on these.

--
-- Roles.  Cluster-wide, so created only when missing: a second database that
-- installs the extension shares them.  DROP EXTENSION leaves them (roles are
-- not extension members); docs/operations.md says how to remove them.
--
--   cpub_anon          requests without a session: register, login, refresh
--   cpub_developer     requests with a developer's access token
--   cpub_admin_viewer  admins who read everything and change nothing
--   cpub_admin_full    admins who change everything (member of viewer)
--   cpub_worker        the worker daemon (LOGIN)
--   cpub_httpd         the HTTP front (LOGIN NOINHERIT): holds no privilege
--                      itself, only SET LOCAL ROLE to the four above
--
DO $roles$
DECLARE
	r text;
BEGIN
	FOREACH r IN ARRAY ARRAY['cpub_anon', 'cpub_developer',
							 'cpub_admin_viewer', 'cpub_admin_full'] LOOP
		IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = r) THEN
			EXECUTE pg_catalog.format('CREATE ROLE %I NOLOGIN', r);
		END IF;
	END LOOP;
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'cpub_worker') THEN
		CREATE ROLE cpub_worker LOGIN;
	END IF;
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'cpub_httpd') THEN
		CREATE ROLE cpub_httpd LOGIN NOINHERIT;
	END IF;
END
$roles$;

GRANT cpub_admin_viewer TO cpub_admin_full;
GRANT cpub_anon, cpub_developer, cpub_admin_viewer, cpub_admin_full
	TO cpub_httpd;

--
-- Schemas.  cpub (created by CREATE EXTENSION, see containerpub.control)
-- holds tables and private helpers and is granted to nobody.
--
CREATE SCHEMA cpub_api;
CREATE SCHEMA cpub_admin;
CREATE SCHEMA cpub_worker;
REVOKE ALL ON SCHEMA cpub, cpub_api, cpub_admin, cpub_worker FROM PUBLIC;
GRANT USAGE ON SCHEMA cpub_api TO cpub_anon, cpub_developer;
GRANT USAGE ON SCHEMA cpub_admin TO cpub_admin_viewer;
GRANT USAGE ON SCHEMA cpub_worker TO cpub_worker;

--
-- The C half (pg_extension/src).
--
CREATE FUNCTION cpub.current_user_id() RETURNS uuid
	LANGUAGE c STABLE PARALLEL RESTRICTED
	AS 'MODULE_PATHNAME', 'cpub_current_user_id';
CREATE FUNCTION cpub.current_session_id() RETURNS uuid
	LANGUAGE c STABLE PARALLEL RESTRICTED
	AS 'MODULE_PATHNAME', 'cpub_current_session_id';
CREATE FUNCTION cpub.must_change_password() RETURNS boolean
	LANGUAGE c STABLE PARALLEL RESTRICTED
	AS 'MODULE_PATHNAME', 'cpub_must_change_password';
CREATE FUNCTION cpub.clear_identity() RETURNS void
	LANGUAGE c VOLATILE PARALLEL UNSAFE
	AS 'MODULE_PATHNAME', 'cpub_clear_identity';
CREATE FUNCTION cpub.set_user_identity(user_id uuid, session_id uuid,
									   must_change_password boolean)
	RETURNS void LANGUAGE c VOLATILE PARALLEL UNSAFE
	AS 'MODULE_PATHNAME', 'cpub_set_user_identity';
CREATE FUNCTION cpub.current_admin(OUT subject text, OUT email text,
								   OUT user_id uuid)
	RETURNS record LANGUAGE c STABLE PARALLEL RESTRICTED
	AS 'MODULE_PATHNAME', 'cpub_current_admin';
CREATE FUNCTION cpub.set_admin_identity(subject text, email text, user_id uuid)
	RETURNS void LANGUAGE c VOLATILE PARALLEL UNSAFE
	AS 'MODULE_PATHNAME', 'cpub_set_admin_identity';

CREATE FUNCTION cpub.token_new(prefix text) RETURNS text
	LANGUAGE c STRICT VOLATILE PARALLEL SAFE
	AS 'MODULE_PATHNAME', 'cpub_token_new';
CREATE FUNCTION cpub.token_digest(token text) RETURNS bytea
	LANGUAGE c STRICT IMMUTABLE PARALLEL SAFE
	AS 'MODULE_PATHNAME', 'cpub_token_digest';

CREATE FUNCTION cpub.password_hash(password text) RETURNS text
	LANGUAGE c STRICT VOLATILE PARALLEL SAFE
	AS 'MODULE_PATHNAME', 'cpub_password_hash';
CREATE FUNCTION cpub.password_verify(hash text, password text) RETURNS boolean
	LANGUAGE c VOLATILE PARALLEL SAFE
	AS 'MODULE_PATHNAME', 'cpub_password_verify';
CREATE FUNCTION cpub.password_needs_rehash(hash text) RETURNS boolean
	LANGUAGE c STRICT STABLE PARALLEL SAFE
	AS 'MODULE_PATHNAME', 'cpub_password_needs_rehash';
CREATE FUNCTION cpub.random_password() RETURNS text
	LANGUAGE c VOLATILE PARALLEL SAFE
	AS 'MODULE_PATHNAME', 'cpub_random_password';

CREATE FUNCTION cpub.normalize_email(email text) RETURNS text
	LANGUAGE c IMMUTABLE PARALLEL SAFE
	AS 'MODULE_PATHNAME', 'cpub_normalize_email';
CREATE FUNCTION cpub.check_person_name(name text, field text) RETURNS text
	LANGUAGE c STRICT IMMUTABLE PARALLEL SAFE
	AS 'MODULE_PATHNAME', 'cpub_check_person_name';
CREATE FUNCTION cpub.check_identifier(kind text, name text) RETURNS text
	LANGUAGE c STRICT IMMUTABLE PARALLEL SAFE
	AS 'MODULE_PATHNAME', 'cpub_check_identifier';
CREATE FUNCTION cpub.check_password(password text, email text) RETURNS void
	LANGUAGE c IMMUTABLE PARALLEL SAFE
	AS 'MODULE_PATHNAME', 'cpub_check_password';

--
-- Settings: platform-wide knobs admins change at run time.  The defaults
-- live in cpub.setting_defaults (part of the extension); cpub.settings
-- holds only what an admin changed, so pg_dump keeps exactly that.
--
CREATE TABLE cpub.setting_defaults (
	name text PRIMARY KEY,
	kind text NOT NULL CHECK (kind IN ('interval', 'count_or_null')),
	value jsonb NOT NULL,
	description text NOT NULL
);
INSERT INTO cpub.setting_defaults (name, kind, value, description) VALUES
	('access_token_ttl', 'interval', '"15 minutes"',
	 'Lifetime of an access token.'),
	('refresh_token_ttl', 'interval', '"30 days"',
	 'Lifetime of a refresh token; each refresh issues a new one.'),
	('early_access_capacity', 'count_or_null', 'null',
	 'Most users early access may be approved for at once; null means no cap.');

CREATE TABLE cpub.settings (
	name text PRIMARY KEY REFERENCES cpub.setting_defaults (name),
	value jsonb NOT NULL,
	updated_at timestamptz NOT NULL DEFAULT now()
);
SELECT pg_catalog.pg_extension_config_dump('cpub.settings', '');

-- cpub.setting(name): the current value of a setting, as jsonb.
CREATE FUNCTION cpub.setting(name text) RETURNS jsonb
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
	SELECT coalesce(s.value, d.value)
	  FROM cpub.setting_defaults d
	  LEFT JOIN cpub.settings s ON s.name = d.name
	 WHERE d.name = setting.name
$$;

-- cpub_admin.settings(): every setting, its current value and default.
CREATE FUNCTION cpub_admin.settings()
	RETURNS TABLE (name text, value jsonb, default_value jsonb,
				   description text, updated_at timestamptz)
	LANGUAGE sql STABLE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
	SELECT d.name, coalesce(s.value, d.value), d.value, d.description,
		   s.updated_at
	  FROM cpub.setting_defaults d
	  LEFT JOIN cpub.settings s ON s.name = d.name
	 ORDER BY d.name
$$;
GRANT EXECUTE ON FUNCTION cpub_admin.settings() TO cpub_admin_viewer;

-- cpub.setting_write(name, value, action): the one writer of settings.
-- Locks the setting's row in setting_defaults (so code that reads a setting
-- under the same lock, such as early-access approval, sees a consistent
-- value), checks the value against the setting's kind ('interval': 1 second
-- to 3650 days as a JSON string such as "15 minutes"; 'count_or_null': a
-- whole number from 0 to 2^31-1, or JSON null), stores it (NULL: back to the default)
-- and audits the change with its old and new value.  Returns the new value.
CREATE FUNCTION cpub.setting_write(name text, value jsonb,
								   action text DEFAULT 'setting.set')
	RETURNS jsonb
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	d cpub.setting_defaults;
	old jsonb;
	iv interval;
BEGIN
	SELECT * INTO d FROM cpub.setting_defaults x
	 WHERE x.name = setting_write.name FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'setting "%" does not exist', setting_write.name
			USING ERRCODE = 'P0002', HINT = 'cpub_admin.settings() lists them.';
	END IF;
	old := cpub.setting(d.name);
	IF setting_write.value IS NULL THEN
		DELETE FROM cpub.settings s WHERE s.name = d.name;
	ELSE
		IF d.kind = 'interval' THEN
			-- Any value that does not cast is just not an interval.
			BEGIN
				iv := (setting_write.value #>> '{}')::interval;
			EXCEPTION WHEN data_exception THEN
				iv := NULL;
			END;
			IF pg_catalog.jsonb_typeof(setting_write.value) <> 'string'
			   OR iv IS NULL OR iv < interval '1 second'
			   OR iv > interval '3650 days' THEN
				RAISE EXCEPTION 'setting "%" must be an interval from 1 second to 3650 days', d.name
					USING ERRCODE = '22023', DETAIL = pg_catalog.format('Got %s.', setting_write.value),
						  HINT = 'Give it as a JSON string, such as "15 minutes".';
			END IF;
		ELSIF pg_catalog.jsonb_typeof(setting_write.value) <> 'null'
			  AND (pg_catalog.jsonb_typeof(setting_write.value) <> 'number'
				   OR setting_write.value::numeric <> trunc(setting_write.value::numeric)
				   OR setting_write.value::numeric NOT BETWEEN 0 AND 2147483647) THEN
			RAISE EXCEPTION 'setting "%" must be a whole number from 0 to 2147483647, or null', d.name
				USING ERRCODE = '22023', DETAIL = pg_catalog.format('Got %s.', setting_write.value);
		END IF;
		INSERT INTO cpub.settings AS s (name, value) VALUES (d.name, setting_write.value)
		ON CONFLICT ON CONSTRAINT settings_pkey
		DO UPDATE SET value = excluded.value, updated_at = now();
	END IF;
	PERFORM cpub.audit(setting_write.action, 'setting', d.name,
					   pg_catalog.jsonb_build_object('from', old,
												'to', cpub.setting(d.name)));
	RETURN cpub.setting(d.name);
END
$$;

-- cpub_admin.setting_set(name, value): changes a setting (see
-- cpub.setting_write); NULL goes back to the default.
CREATE FUNCTION cpub_admin.setting_set(name text, value jsonb)
	RETURNS jsonb
	LANGUAGE sql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$ SELECT cpub.setting_write(name, value) $$;
GRANT EXECUTE ON FUNCTION cpub_admin.setting_set(text, jsonb) TO cpub_admin_full;

--
-- Identity helpers used by every developer-facing function.
--

-- cpub.require_user(): the developer this transaction acts for.  Raises 28000
-- without one, and 42501 while the developer must change a temporary
-- password, unless allow_temporary (change_password, logout, me).
CREATE FUNCTION cpub.require_user(allow_temporary boolean DEFAULT false)
	RETURNS uuid
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	uid uuid := cpub.current_user_id();
BEGIN
	IF uid IS NULL THEN
		RAISE EXCEPTION 'not authenticated'
			USING ERRCODE = '28000',
				  HINT = 'Call cpub_api.authenticate(token) first, in the same transaction.';
	END IF;
	IF cpub.must_change_password() AND NOT allow_temporary THEN
		RAISE EXCEPTION 'password change required'
			USING ERRCODE = '42501',
				  DETAIL = 'This session was opened with a temporary password.',
				  HINT = 'Call cpub_api.change_password first.';
	END IF;
	RETURN uid;
END
$$;

--
-- Audit log: who did what to what, written by every operation in its own
-- transaction.  Who: a developer (actor_kind 'user'), an admin signed in
-- through the HTTP front ('admin', a later issue), or a database role at
-- psql ('db_role').  Readable by admins through cpub_admin.audit_log().
--
CREATE TABLE cpub.audit_log (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	at timestamptz NOT NULL DEFAULT now(),
	actor_kind text NOT NULL
		CHECK (actor_kind IN ('user', 'admin', 'db_role', 'anonymous')),
	actor_user_id uuid,
	actor_name text NOT NULL,
	db_role name NOT NULL DEFAULT session_user,
	action text NOT NULL,
	target_kind text,
	target_id text,
	detail jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_at ON cpub.audit_log (at);
-- text_pattern_ops: serves exact actions and prefixes ('organization.*')
-- whatever the database's collation.
CREATE INDEX audit_log_action ON cpub.audit_log (action text_pattern_ops, id);
CREATE INDEX audit_log_actor_name ON cpub.audit_log (actor_name, id);
CREATE INDEX audit_log_actor ON cpub.audit_log (actor_user_id, id)
	WHERE actor_user_id IS NOT NULL;
CREATE INDEX audit_log_target ON cpub.audit_log (target_kind, target_id, id);
ALTER TABLE cpub.audit_log ENABLE ROW LEVEL SECURITY;
CREATE POLICY audit_log_own ON cpub.audit_log
	USING (actor_user_id = cpub.current_user_id());
SELECT pg_catalog.pg_extension_config_dump('cpub.audit_log', '');
SELECT pg_catalog.pg_extension_config_dump('cpub.audit_log_id_seq', '');

-- cpub.audit(action, target_kind, target_id, detail, actor_user_id): appends
-- one record.  The actor is the admin of the transaction (signed in through
-- OpenID Connect: actor_kind 'admin', named by email, the subject, email and
-- database role in the detail), else its developer, else the one given
-- (register and login name the user they just proved), else the database
-- role.  Returns the record's id.
CREATE FUNCTION cpub.audit(action text, target_kind text, target_id text,
						   detail jsonb DEFAULT '{}',
						   actor_user_id uuid DEFAULT NULL)
	RETURNS bigint
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	uid uuid := coalesce(cpub.current_user_id(), audit.actor_user_id);
	adm record := cpub.current_admin();
	kind text := 'db_role';
	who text := session_user;
	extra jsonb := coalesce(audit.detail, '{}');
	rid bigint;
BEGIN
	IF adm.subject IS NOT NULL THEN
		-- An admin signed in through OpenID Connect: named by email (else
		-- subject), linked to the users row that carries the subject.
		kind := 'admin';
		uid := adm.user_id;
		who := coalesce(adm.email, adm.subject);
		extra := extra || pg_catalog.jsonb_build_object(
			'admin_subject', adm.subject, 'admin_email', adm.email,
			'admin_role', pg_catalog.current_setting('role'));
	ELSIF uid IS NOT NULL THEN
		kind := 'user';
		who := cpub.actor_name(uid);
	END IF;
	INSERT INTO cpub.audit_log (actor_kind, actor_user_id, actor_name, action,
								target_kind, target_id, detail)
	VALUES (kind, uid, who, audit.action, audit.target_kind, audit.target_id,
			extra)
	RETURNING id INTO rid;
	RETURN rid;
END
$$;

-- cpub.check_page_limit(limit): the page size of list functions, 1 to 500.
CREATE FUNCTION cpub.check_page_limit("limit" integer) RETURNS integer
	LANGUAGE plpgsql IMMUTABLE
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
BEGIN
	IF "limit" IS NULL OR "limit" < 1 OR "limit" > 500 THEN
		RAISE EXCEPTION 'page limit must be between 1 and 500'
			USING ERRCODE = '22023', DETAIL = pg_catalog.format('Got %s.', "limit");
	END IF;
	RETURN "limit";
END
$$;

CREATE FUNCTION cpub.in_transaction_block() RETURNS boolean
	LANGUAGE c VOLATILE PARALLEL SAFE
	AS 'MODULE_PATHNAME', 'cpub_in_transaction_block';
