-- sql/65_secrets.sql: secrets at rest (functions' environment variables)
-- and invocation keys (signed requests to key-protected functions).
--
-- Secrets are sealed in C (pg_extension/src/secret.c) with a server key the
-- database never stores: cpub.secret_key_file names a file of the server's
-- user (mode 0600) with one key per line, the first the current key.  Each
-- record is sealed with XSalsa20-Poly1305 under its own key derived from
-- the server key and the record's kind, function and name, so a ciphertext
-- copied to another record does not open, and opening never returns
-- garbage.  No usable key: 55Q02; a record that does not open: 55Q03.
-- Key rotation: put a new key first in the file, reload, run
-- cpub_admin.secrets_rekey(), then drop the old line
-- (docs/invocation-keys.md).
--
-- Environment variables: developers who manage a function set and unset
-- them; every member lists their names, never their values; only the
-- worker reads the values (cpub_worker.function_env).  Limits: names of
-- letters, digits and underscores (not starting with a digit or CPUB_, at
-- most 128 characters); values at most 32768 bytes; per function at most
-- 100 variables and 65536 bytes of names and values together (54Q02).
-- Every set or unset is a new configuration of the function
-- (cpub.function_reconfigured): workers replace its running containers,
-- which hold the old values.
--
-- Invocation keys: a secret "cpk_<key id>_<43 characters>" shown once, at
-- create and roll; only its SHA-256, the signing key, is stored, sealed.
-- A request is signed with HMAC-SHA256 over timestamp, nonce, method, path
-- and body; cpub.invocation_key_check accepts it within the
-- signature_window setting, once per nonce.  At most 20 active keys per
-- function (54Q02).  Deleting a function drops its variables and keys.

--
-- The C half: sealing, opening, the key ids, signatures.
--
CREATE TYPE cpub.sealed AS (key_id text, nonce bytea, ciphertext bytea);

CREATE FUNCTION cpub.secret_seal(kind text, owner uuid, name text,
								 plaintext bytea, key_id text DEFAULT NULL)
	RETURNS cpub.sealed
	LANGUAGE c VOLATILE PARALLEL RESTRICTED
	AS 'MODULE_PATHNAME', 'cpub_secret_seal';
CREATE FUNCTION cpub.secret_open(kind text, owner uuid, name text, key_id text,
								 nonce bytea, ciphertext bytea)
	RETURNS bytea
	LANGUAGE c STRICT STABLE PARALLEL RESTRICTED
	AS 'MODULE_PATHNAME', 'cpub_secret_open';
CREATE FUNCTION cpub.secret_keys()
	RETURNS TABLE (key_id text, is_current boolean)
	LANGUAGE c STABLE PARALLEL RESTRICTED
	AS 'MODULE_PATHNAME', 'cpub_secret_keys';
CREATE FUNCTION cpub.random_bytes(n integer) RETURNS bytea
	LANGUAGE c STRICT VOLATILE PARALLEL SAFE
	AS 'MODULE_PATHNAME', 'cpub_random_bytes';
CREATE FUNCTION cpub.invocation_signature_valid(function_id uuid, key_id text,
		enc_key_id text, enc_nonce bytea, enc_signing_key bytea,
		"timestamp" bigint, nonce text, method text, path text, body bytea,
		signature text)
	RETURNS boolean
	LANGUAGE c STRICT STABLE PARALLEL RESTRICTED
	AS 'MODULE_PATHNAME', 'cpub_invocation_signature_valid';

INSERT INTO cpub.setting_defaults (name, kind, value, description) VALUES
	('signature_window', 'interval', '"5 minutes"',
	 'How far a signed invocation''s timestamp may be from the server''s clock, either way; a nonce is remembered that long.');

--
-- Tables.
--
CREATE TABLE cpub.function_env (
	function_id uuid NOT NULL REFERENCES cpub.functions (id) ON DELETE CASCADE,
	name text NOT NULL,
	-- The sealed value: which server key, the nonce, the ciphertext.
	key_id text NOT NULL,
	nonce bytea NOT NULL,
	ciphertext bytea NOT NULL,
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (function_id, name)
);
-- Ciphertext does not compress.
ALTER TABLE cpub.function_env ALTER COLUMN ciphertext SET STORAGE EXTERNAL;

CREATE TABLE cpub.function_keys (
	id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	function_id uuid NOT NULL REFERENCES cpub.functions (id) ON DELETE CASCADE,
	-- Public: sent in X-Cpub-Key and part of the secret.
	key_id text NOT NULL UNIQUE CHECK (key_id ~ '^[0-9a-f]{16}$'),
	label text,
	-- The signing key SHA-256(secret), sealed like environment values.
	enc_key_id text NOT NULL,
	enc_nonce bytea NOT NULL,
	enc_signing_key bytea NOT NULL,
	created_by uuid REFERENCES cpub.users (uuid) ON DELETE SET NULL,
	created_at timestamptz NOT NULL DEFAULT now(),
	rolled_at timestamptz,
	expires_at timestamptz,
	revoked_at timestamptz,
	-- Updated at most once a minute (cpub.invocation_key_check).
	last_used_at timestamptz
);
CREATE INDEX function_keys_function ON cpub.function_keys (function_id, created_at);

-- The nonces each key signed within the window: a second request with the
-- same key and nonce is a replay.  signed_at is the request's timestamp:
-- once it is out of the window the timestamp check refuses any replay, so
-- cpub.invocation_nonces_purge() may forget the row.
CREATE TABLE cpub.invocation_nonces (
	function_key_id uuid NOT NULL
		REFERENCES cpub.function_keys (id) ON DELETE CASCADE,
	nonce text NOT NULL,
	signed_at timestamptz NOT NULL,
	seen_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (function_key_id, nonce)
);
CREATE INDEX invocation_nonces_signed_at ON cpub.invocation_nonces (signed_at);

-- Row level security: rows of the functions the session's user can see
-- (cpub.functions has its own policy).
ALTER TABLE cpub.function_env ENABLE ROW LEVEL SECURITY;
CREATE POLICY function_env_owner ON cpub.function_env
	USING (function_id IN (SELECT f.id FROM cpub.functions f));
ALTER TABLE cpub.function_keys ENABLE ROW LEVEL SECURITY;
CREATE POLICY function_keys_owner ON cpub.function_keys
	USING (function_id IN (SELECT f.id FROM cpub.functions f));
ALTER TABLE cpub.invocation_nonces ENABLE ROW LEVEL SECURITY;
CREATE POLICY invocation_nonces_owner ON cpub.invocation_nonces
	USING (function_key_id IN (SELECT k.id FROM cpub.function_keys k));

-- Sealed rows restore only where the same key file is configured.
SELECT pg_catalog.pg_extension_config_dump('cpub.function_env', '');
SELECT pg_catalog.pg_extension_config_dump('cpub.function_keys', '');
SELECT pg_catalog.pg_extension_config_dump('cpub.invocation_nonces', '');

-- A deleted function's secrets serve nothing: drop them with it.
CREATE FUNCTION cpub.function_secrets_drop()
	RETURNS trigger
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
BEGIN
	DELETE FROM cpub.function_env e WHERE e.function_id = NEW.id;
	DELETE FROM cpub.function_keys k WHERE k.function_id = NEW.id;
	RETURN NULL;
END
$$;
CREATE TRIGGER functions_secrets_drop
	AFTER UPDATE OF deleted_at ON cpub.functions
	FOR EACH ROW
	WHEN (OLD.deleted_at IS NULL AND NEW.deleted_at IS NOT NULL)
	EXECUTE FUNCTION cpub.function_secrets_drop();

--
-- Types of results.
--
CREATE TYPE cpub_api.env_var_info AS (
	name text,
	created_at timestamptz,
	updated_at timestamptz
);

CREATE TYPE cpub_api.function_key_info AS (
	id uuid,
	key_id text,
	label text,
	status text,				-- active, expired or revoked
	created_at timestamptz,
	created_by uuid,
	rolled_at timestamptz,
	expires_at timestamptz,
	revoked_at timestamptz,
	last_used_at timestamptz
);

-- What create and roll return: the only time the secret is seen.
CREATE TYPE cpub_api.function_key_secret AS (
	id uuid,
	key_id text,
	secret text,
	label text,
	expires_at timestamptz,
	created_at timestamptz
);

--
-- Environment variables.
--

-- cpub.env_check_name(name): the name when it is a valid variable name;
-- 22004 when NULL, 22Q04 otherwise.
CREATE FUNCTION cpub.env_check_name(name text)
	RETURNS text
	LANGUAGE plpgsql IMMUTABLE
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	shown text := pg_catalog.left(env_check_name.name, 64);
BEGIN
	IF env_check_name.name IS NULL THEN
		RAISE EXCEPTION 'an environment variable name is required'
			USING ERRCODE = '22004';
	END IF;
	IF pg_catalog.length(env_check_name.name) > 128 THEN
		RAISE EXCEPTION 'invalid environment variable name "%..."', shown
			USING ERRCODE = '22Q04',
				  DETAIL = 'A name is at most 128 characters.';
	END IF;
	IF env_check_name.name !~ '^[A-Za-z_][A-Za-z0-9_]*$' THEN
		RAISE EXCEPTION 'invalid environment variable name "%"', shown
			USING ERRCODE = '22Q04',
				  DETAIL = 'A name is ASCII letters, digits and underscores, not starting with a digit.';
	END IF;
	IF pg_catalog.upper(pg_catalog.left(env_check_name.name, 5)) = 'CPUB_' THEN
		RAISE EXCEPTION 'invalid environment variable name "%"', shown
			USING ERRCODE = '22Q04',
				  DETAIL = 'Names starting with CPUB_ are reserved for the platform.';
	END IF;
	RETURN env_check_name.name;
END
$$;

-- cpub.env_write(f, name, value): seals value and stores it as variable
-- name of f, replacing an earlier value.  22004 for a NULL value, 54Q02
-- for one above 32768 bytes.  The caller checks the name and, after its
-- last write, the function's totals (cpub.env_check_totals).
CREATE FUNCTION cpub.env_write(f cpub.functions, name text, value text)
	RETURNS cpub.function_env
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	s cpub.sealed;
	e cpub.function_env;
BEGIN
	IF env_write.value IS NULL THEN
		RAISE EXCEPTION 'a value is required for environment variable "%"', env_write.name
			USING ERRCODE = '22004',
				  HINT = 'An empty string is a value; cpub_api.function_env_unset removes a variable.';
	END IF;
	IF pg_catalog.octet_length(env_write.value) > 32768 THEN
		RAISE EXCEPTION 'value of environment variable "%" is too long', env_write.name
			USING ERRCODE = '54Q02',
				  DETAIL = pg_catalog.format('A value is at most 32768 bytes; this one is %s.',
											 pg_catalog.octet_length(env_write.value));
	END IF;
	s := cpub.secret_seal('env', env_write.f.id, env_write.name,
						  pg_catalog.convert_to(env_write.value, 'UTF8'));
	INSERT INTO cpub.function_env AS e2 (function_id, name, key_id, nonce, ciphertext)
	VALUES (env_write.f.id, env_write.name, s.key_id, s.nonce, s.ciphertext)
	ON CONFLICT ON CONSTRAINT function_env_pkey DO UPDATE
	   SET key_id = EXCLUDED.key_id, nonce = EXCLUDED.nonce,
		   ciphertext = EXCLUDED.ciphertext, updated_at = pg_catalog.now()
	RETURNING e2.* INTO e;
	RETURN e;
END
$$;

-- cpub.env_check_totals(f): 54Q02 when f has more than 100 variables, or
-- more than 65536 bytes of names and values.  Called after the writes of a
-- change, whose error then undoes them all.
CREATE FUNCTION cpub.env_check_totals(f cpub.functions)
	RETURNS void
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	n bigint;
	total bigint;
BEGIN
	-- A ciphertext is its plaintext and a 16-byte authenticator.
	SELECT pg_catalog.count(*),
		   coalesce(pg_catalog.sum(pg_catalog.octet_length(e.name)
								   + pg_catalog.octet_length(e.ciphertext) - 16), 0)
	  INTO n, total
	  FROM cpub.function_env e WHERE e.function_id = env_check_totals.f.id;
	IF n > 100 THEN
		RAISE EXCEPTION 'too many environment variables for function "%"', env_check_totals.f.name
			USING ERRCODE = '54Q02',
				  DETAIL = pg_catalog.format('A function has at most 100 environment variables; this change makes %s.', n),
				  HINT = 'Unset variables the function no longer needs.';
	END IF;
	IF total > 65536 THEN
		RAISE EXCEPTION 'environment of function "%" is too large', env_check_totals.f.name
			USING ERRCODE = '54Q02',
				  DETAIL = pg_catalog.format('A function''s environment variables take at most 65536 bytes, names and values together; this change makes %s.', total),
				  HINT = 'Unset variables the function no longer needs, or pass large data another way.';
	END IF;
END
$$;

-- cpub_api.function_env_set(function, name, value): sets one variable
-- (creates or replaces it, even with the same value: a new configuration
-- all the same).  The audit record names it, without the value.
CREATE FUNCTION cpub_api.function_env_set(function text, name text, value text)
	RETURNS cpub_api.env_var_info
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	f cpub.functions := cpub.function_ref(function_env_set.function, 'manage', true);
	e cpub.function_env;
BEGIN
	e := cpub.env_write(f, cpub.env_check_name(function_env_set.name),
						function_env_set.value);
	PERFORM cpub.env_check_totals(f);
	PERFORM cpub.function_reconfigured(f.id);
	PERFORM cpub.function_audit('function.env_set', f,
		pg_catalog.jsonb_build_object('names', pg_catalog.jsonb_build_array(e.name)));
	RETURN ROW(e.name, e.created_at, e.updated_at)::cpub_api.env_var_info;
END
$$;
GRANT EXECUTE ON FUNCTION cpub_api.function_env_set(text, text, text)
	TO cpub_developer;

-- cpub_api.function_env_set_many(function, vars): sets every variable of a
-- JSON object {"NAME": "value", ...} at once: all or none.  One audit
-- record lists the names.
CREATE FUNCTION cpub_api.function_env_set_many(function text, vars jsonb)
	RETURNS SETOF cpub_api.env_var_info
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	f cpub.functions := cpub.function_ref(function_env_set_many.function, 'manage', true);
	kv record;
	e cpub.function_env;
	names text[] := '{}';
BEGIN
	IF function_env_set_many.vars IS NULL OR function_env_set_many.vars = '{}' THEN
		RAISE EXCEPTION 'at least one variable is required'
			USING ERRCODE = '22004',
				  HINT = 'Give a JSON object such as {"NAME": "value"}.';
	END IF;
	IF pg_catalog.jsonb_typeof(function_env_set_many.vars) <> 'object' THEN
		RAISE EXCEPTION 'vars must be a JSON object'
			USING ERRCODE = '22023',
				  DETAIL = pg_catalog.format('Got a JSON %s.',
											 pg_catalog.jsonb_typeof(function_env_set_many.vars)),
				  HINT = 'Give a JSON object such as {"NAME": "value"}.';
	END IF;
	FOR kv IN
		SELECT j.key, j.value FROM pg_catalog.jsonb_each(function_env_set_many.vars) j
		 ORDER BY j.key
	LOOP
		IF pg_catalog.jsonb_typeof(kv.value) <> 'string' THEN
			RAISE EXCEPTION 'value of environment variable "%" must be a JSON string',
				pg_catalog.left(kv.key, 64)
				USING ERRCODE = '22023',
					  DETAIL = pg_catalog.format('Got a JSON %s.',
												 pg_catalog.jsonb_typeof(kv.value));
		END IF;
		e := cpub.env_write(f, cpub.env_check_name(kv.key), kv.value #>> '{}');
		names := names || e.name;
		RETURN NEXT ROW(e.name, e.created_at, e.updated_at)::cpub_api.env_var_info;
	END LOOP;
	PERFORM cpub.env_check_totals(f);
	PERFORM cpub.function_reconfigured(f.id);
	PERFORM cpub.function_audit('function.env_set', f,
		pg_catalog.jsonb_build_object('names', pg_catalog.to_jsonb(names)));
END
$$;
GRANT EXECUTE ON FUNCTION cpub_api.function_env_set_many(text, jsonb)
	TO cpub_developer;

-- cpub_api.function_env_unset(function, names): removes the variables
-- named, all or none: P0002 (naming those) when any is not set.  Returns
-- how many were removed.
CREATE FUNCTION cpub_api.function_env_unset(function text, names text[])
	RETURNS integer
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	f cpub.functions := cpub.function_ref(function_env_unset.function, 'manage', true);
	wanted text[];
	missing text[];
	n integer;
BEGIN
	IF function_env_unset.names IS NULL
	   OR pg_catalog.cardinality(function_env_unset.names) = 0
	   OR pg_catalog.array_position(function_env_unset.names, NULL) IS NOT NULL THEN
		RAISE EXCEPTION 'at least one name is required, and no name may be null'
			USING ERRCODE = '22004';
	END IF;
	wanted := ARRAY(SELECT DISTINCT w FROM pg_catalog.unnest(function_env_unset.names) w
					 ORDER BY w);
	missing := ARRAY(SELECT w FROM pg_catalog.unnest(wanted) w
					  WHERE NOT EXISTS (SELECT FROM cpub.function_env e
										 WHERE e.function_id = f.id AND e.name = w));
	IF pg_catalog.cardinality(missing) > 0 THEN
		RAISE EXCEPTION 'environment variable "%" is not set', pg_catalog.left(missing[1], 64)
			USING ERRCODE = 'P0002',
				  DETAIL = pg_catalog.format('Not set in function "%s": %s.', f.name,
											 pg_catalog.array_to_string(missing, ', ')),
				  HINT = 'cpub_api.function_env_list(function) lists the names; nothing was removed.';
	END IF;
	DELETE FROM cpub.function_env e WHERE e.function_id = f.id AND e.name = ANY (wanted);
	GET DIAGNOSTICS n = ROW_COUNT;
	PERFORM cpub.function_reconfigured(f.id);
	PERFORM cpub.function_audit('function.env_unset', f,
		pg_catalog.jsonb_build_object('names', pg_catalog.to_jsonb(wanted)));
	RETURN n;
END
$$;
GRANT EXECUTE ON FUNCTION cpub_api.function_env_unset(text, text[])
	TO cpub_developer;

-- cpub_api.function_env_list(function): the names of a function's
-- variables, by name, never their values.  Every member may read them.
-- At most 100, so not paged.
CREATE FUNCTION cpub_api.function_env_list(function text)
	RETURNS SETOF cpub_api.env_var_info
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	f cpub.functions := cpub.function_ref(function_env_list.function, 'read');
BEGIN
	RETURN QUERY
		SELECT e.name, e.created_at, e.updated_at
		  FROM cpub.function_env e WHERE e.function_id = f.id
		 ORDER BY e.name;
END
$$;
GRANT EXECUTE ON FUNCTION cpub_api.function_env_list(text) TO cpub_developer;

-- cpub_worker.function_env(function_id): a live function's variables with
-- their values, to start its containers with.  Read it after the
-- config_generation the container is labelled with (execution_start,
-- function_runtime), or in the same transaction: then the values are never
-- older than the generation.  P0002 for an unknown or deleted function;
-- 55Q02/55Q03 when a value cannot be decrypted.
CREATE FUNCTION cpub_worker.function_env(function_id uuid)
	RETURNS TABLE (name text, value text)
	LANGUAGE plpgsql STABLE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
BEGIN
	IF NOT EXISTS (SELECT FROM cpub.functions f
					WHERE f.id = function_env.function_id AND f.deleted_at IS NULL) THEN
		RAISE EXCEPTION 'function % not found', coalesce(function_env.function_id::text, 'null')
			USING ERRCODE = 'P0002';
	END IF;
	RETURN QUERY
		SELECT e.name,
			   pg_catalog.convert_from(cpub.secret_open('env', e.function_id, e.name,
														e.key_id, e.nonce, e.ciphertext),
									   'UTF8')
		  FROM cpub.function_env e
		 WHERE e.function_id = function_env.function_id
		 ORDER BY e.name;
END
$$;
GRANT EXECUTE ON FUNCTION cpub_worker.function_env(uuid) TO cpub_worker;

--
-- Invocation keys.
--

-- cpub.function_key_info(k): a key as developers see it, one row; its
-- status is revoked, expired or active, now.  An inlinable row projection
-- (docs/sql-conventions.md): call it in FROM, as
-- CROSS JOIN LATERAL cpub.function_key_info(k) i.
CREATE FUNCTION cpub.function_key_info(k cpub.function_keys)
	RETURNS SETOF cpub_api.function_key_info
	LANGUAGE sql STABLE ROWS 1
	AS $$
	SELECT function_key_info.k.id, function_key_info.k.key_id,
		   function_key_info.k.label,
		   CASE WHEN function_key_info.k.revoked_at IS NOT NULL THEN 'revoked'
				WHEN function_key_info.k.expires_at OPERATOR(pg_catalog.<=) pg_catalog.now()
				THEN 'expired'
				ELSE 'active' END,
		   function_key_info.k.created_at, function_key_info.k.created_by,
		   function_key_info.k.rolled_at, function_key_info.k.expires_at,
		   function_key_info.k.revoked_at, function_key_info.k.last_used_at
$$;

-- cpub.function_key_secret_new(function_id, key_id): a new secret for the
-- key, "cpk_<key_id>_<43 base64url characters>" (256 random bits), and its
-- signing key SHA-256(secret) sealed for (function_id, key_id).
CREATE FUNCTION cpub.function_key_secret_new(function_id uuid, key_id text,
											 OUT secret text, OUT sealed cpub.sealed)
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
BEGIN
	secret := 'cpk_' || function_key_secret_new.key_id || '_'
		|| pg_catalog.substr(cpub.token_new('x'), 3);
	sealed := cpub.secret_seal('key', function_key_secret_new.function_id,
							   function_key_secret_new.key_id,
							   pg_catalog.sha256(pg_catalog.convert_to(secret, 'UTF8')));
END
$$;

-- cpub.function_key_of(f, key_id): f's key of that key id, locked; P0002
-- when f has none.
CREATE FUNCTION cpub.function_key_of(f cpub.functions, key_id text)
	RETURNS cpub.function_keys
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	k cpub.function_keys;
BEGIN
	SELECT k2.* INTO k FROM cpub.function_keys k2
	 WHERE k2.function_id = function_key_of.f.id
	   AND k2.key_id = function_key_of.key_id
	   FOR UPDATE;
	IF k.id IS NULL THEN
		RAISE EXCEPTION 'invocation key "%" not found',
			coalesce(pg_catalog.left(function_key_of.key_id, 64), 'null')
			USING ERRCODE = 'P0002',
				  HINT = pg_catalog.format('cpub_api.function_key_list(function) lists the keys of function "%s".',
										   function_key_of.f.name);
	END IF;
	RETURN k;
END
$$;

-- cpub_api.function_key_create(function, label, expires_at): a new
-- invocation key.  Its secret is in the result and nowhere else: only its
-- SHA-256 is stored, sealed.  22023 for a label of more than 100
-- characters or with control characters, or an expiry not in the future;
-- 54Q02 when the function has 20 active keys.
CREATE FUNCTION cpub_api.function_key_create(function text, label text DEFAULT NULL,
											 expires_at timestamptz DEFAULT NULL)
	RETURNS cpub_api.function_key_secret
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	f cpub.functions := cpub.function_ref(function_key_create.function, 'manage', true);
	lbl text := nullif(pg_catalog.btrim(function_key_create.label), '');
	n bigint;
	kid text;
	s record;
	k cpub.function_keys;
BEGIN
	IF pg_catalog.length(lbl) > 100 OR lbl ~ '[[:cntrl:]]' THEN
		RAISE EXCEPTION 'invalid key label'
			USING ERRCODE = '22023',
				  DETAIL = 'A label is at most 100 characters, without control characters.';
	END IF;
	IF function_key_create.expires_at <= pg_catalog.now() THEN
		RAISE EXCEPTION 'expires_at must be in the future'
			USING ERRCODE = '22023',
				  DETAIL = pg_catalog.format('Got %s.', function_key_create.expires_at);
	END IF;
	-- The function's row is locked: concurrent creations count one by one.
	SELECT pg_catalog.count(*) INTO n FROM cpub.function_keys k2
	 WHERE k2.function_id = f.id AND k2.revoked_at IS NULL
	   AND (k2.expires_at IS NULL OR k2.expires_at > pg_catalog.now());
	IF n >= 20 THEN
		RAISE EXCEPTION 'function "%" has too many active invocation keys', f.name
			USING ERRCODE = '54Q02',
				  DETAIL = 'A function has at most 20 active invocation keys.',
				  HINT = 'Revoke a key that is no longer used.';
	END IF;

	kid := pg_catalog.encode(cpub.random_bytes(8), 'hex');
	s := cpub.function_key_secret_new(f.id, kid);
	INSERT INTO cpub.function_keys AS k2 (function_id, key_id, label, enc_key_id,
		enc_nonce, enc_signing_key, created_by, expires_at)
	VALUES (f.id, kid, lbl, (s.sealed).key_id, (s.sealed).nonce,
			(s.sealed).ciphertext, cpub.current_user_id(),
			function_key_create.expires_at)
	RETURNING k2.* INTO k;
	PERFORM cpub.function_audit('function.key_create', f,
		pg_catalog.jsonb_build_object('key_id', k.key_id, 'label', k.label,
									  'expires_at', k.expires_at));
	RETURN ROW(k.id, k.key_id, s.secret, k.label, k.expires_at,
			   k.created_at)::cpub_api.function_key_secret;
END
$$;
GRANT EXECUTE ON FUNCTION cpub_api.function_key_create(text, text, timestamptz)
	TO cpub_developer;

-- cpub_api.function_key_list(function, after, limit): a function's keys,
-- oldest first, with their status and last use, never a secret.  after:
-- the id of the last key of the previous page.
CREATE FUNCTION cpub_api.function_key_list(function text, after uuid DEFAULT NULL,
										   "limit" integer DEFAULT 50)
	RETURNS SETOF cpub_api.function_key_info
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	f cpub.functions := cpub.function_ref(function_key_list.function, 'read');
BEGIN
	PERFORM cpub.check_page_limit(function_key_list."limit");
	RETURN QUERY
		SELECT i.*
		  FROM cpub.function_keys k
		 CROSS JOIN LATERAL cpub.function_key_info(k) i
		 WHERE k.function_id = f.id
		   AND (function_key_list.after IS NULL
				OR (k.created_at, k.id) > (SELECT a.created_at, a.id
											 FROM cpub.function_keys a
											WHERE a.id = function_key_list.after))
		 ORDER BY k.created_at, k.id
		 LIMIT function_key_list."limit";
END
$$;
GRANT EXECUTE ON FUNCTION cpub_api.function_key_list(text, uuid, integer)
	TO cpub_developer;

-- cpub_api.function_key_revoke(function, key_id): the key stops working at
-- once, for good.  P0002 for an unknown key; 23514 when it is revoked
-- already.
CREATE FUNCTION cpub_api.function_key_revoke(function text, key_id text)
	RETURNS cpub_api.function_key_info
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	f cpub.functions := cpub.function_ref(function_key_revoke.function, 'manage', true);
	k cpub.function_keys := cpub.function_key_of(f, function_key_revoke.key_id);
BEGIN
	IF k.revoked_at IS NOT NULL THEN
		RAISE EXCEPTION 'invocation key "%" is revoked already', k.key_id
			USING ERRCODE = '23514',
				  DETAIL = pg_catalog.format('It was revoked at %s.', k.revoked_at);
	END IF;
	UPDATE cpub.function_keys k2 SET revoked_at = pg_catalog.now()
	 WHERE k2.id = k.id
	RETURNING k2.* INTO k;
	PERFORM cpub.function_audit('function.key_revoke', f,
		pg_catalog.jsonb_build_object('key_id', k.key_id));
	RETURN (SELECT i FROM cpub.function_key_info(k) i);
END
$$;
GRANT EXECUTE ON FUNCTION cpub_api.function_key_revoke(text, text)
	TO cpub_developer;

-- cpub_api.function_key_roll(function, key_id): a new secret for the same
-- key id, label and expiry; the old secret stops working at once (no grace
-- period: to switch without a gap, create a second key, move the clients,
-- then revoke the first).  P0002 for an unknown key; 23514 for a revoked
-- or expired one.
CREATE FUNCTION cpub_api.function_key_roll(function text, key_id text)
	RETURNS cpub_api.function_key_secret
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	f cpub.functions := cpub.function_ref(function_key_roll.function, 'manage', true);
	k cpub.function_keys := cpub.function_key_of(f, function_key_roll.key_id);
	s record;
BEGIN
	IF k.revoked_at IS NOT NULL OR k.expires_at <= pg_catalog.now() THEN
		RAISE EXCEPTION 'invocation key "%" is %', k.key_id,
			(SELECT i.status FROM cpub.function_key_info(k) i)
			USING ERRCODE = '23514',
				  DETAIL = 'Only an active key can be rolled.',
				  HINT = 'Create a new key with cpub_api.function_key_create.';
	END IF;
	s := cpub.function_key_secret_new(f.id, k.key_id);
	UPDATE cpub.function_keys k2
	   SET enc_key_id = (s.sealed).key_id, enc_nonce = (s.sealed).nonce,
		   enc_signing_key = (s.sealed).ciphertext, rolled_at = pg_catalog.now()
	 WHERE k2.id = k.id
	RETURNING k2.* INTO k;
	-- Nonces signed with the old secret matter no more.
	DELETE FROM cpub.invocation_nonces n WHERE n.function_key_id = k.id;
	PERFORM cpub.function_audit('function.key_roll', f,
		pg_catalog.jsonb_build_object('key_id', k.key_id));
	RETURN ROW(k.id, k.key_id, s.secret, k.label, k.expires_at,
			   k.created_at)::cpub_api.function_key_secret;
END
$$;
GRANT EXECUTE ON FUNCTION cpub_api.function_key_roll(text, text)
	TO cpub_developer;

-- cpub.invocation_key_check(function_id, key_id, timestamp, nonce,
-- signature, method, path, body): the id of the invocation key that signed
-- this request to the function, or an error (HTTP 401):
--   28Q06  the key id is unknown or of another function, the signature
--          does not match, or the key is revoked or expired: one message
--          for all; the detail tells revoked and expired apart only once
--          the signature proved the caller holds the secret;
--   28Q07  the timestamp (Unix seconds) is further from the server's clock
--          than the signature_window setting, either way;
--   28Q08  the key already signed a request with this nonce in the window.
-- The signed message is "<timestamp>\n<nonce>\n<METHOD>\n<path>\n<body>"
-- (path: the request target as sent, with its query string), the
-- signature lowercase hexadecimal HMAC-SHA256 under SHA-256(secret),
-- optionally "v1=..." (docs/invocation-keys.md).  The nonce is remembered
-- by a primary key, so concurrent duplicates are refused too (the second
-- waits for the first to commit or roll back).  Marks the key used at most
-- once a minute, skipping the mark rather than waiting when another
-- transaction holds the key's row, with a lock that does not block the
-- foreign-key checks of other requests' nonces.
CREATE FUNCTION cpub.invocation_key_check(function_id uuid, key_id text,
										  "timestamp" bigint, nonce text,
										  signature text, method text,
										  path text, body bytea)
	RETURNS uuid
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	k cpub.function_keys;
	win interval := (cpub.setting('signature_window') #>> '{}')::interval;
	now_s numeric := EXTRACT(epoch FROM pg_catalog.statement_timestamp());
	valid boolean;
	fresh boolean;
	missing text;
BEGIN
	missing := CASE
		WHEN coalesce(invocation_key_check.key_id, '') = '' THEN 'X-Cpub-Key'
		WHEN invocation_key_check."timestamp" IS NULL THEN 'X-Cpub-Timestamp'
		WHEN coalesce(invocation_key_check.nonce, '') = '' THEN 'X-Cpub-Nonce'
		WHEN coalesce(invocation_key_check.signature, '') = '' THEN 'X-Cpub-Signature'
		END;
	IF missing IS NOT NULL OR invocation_key_check.method IS NULL
	   OR invocation_key_check.path IS NULL THEN
		RAISE EXCEPTION 'invalid invocation key or signature'
			USING ERRCODE = '28Q06',
				  DETAIL = pg_catalog.format('The request has no %s.',
											 coalesce(missing, 'method or path')),
				  HINT = 'docs/invocation-keys.md says how to sign a request.';
	END IF;
	IF invocation_key_check.nonce !~ '^[A-Za-z0-9_-]{16,128}$' THEN
		RAISE EXCEPTION 'invalid invocation key or signature'
			USING ERRCODE = '28Q06',
				  DETAIL = 'The nonce must be 16 to 128 characters from A-Z, a-z, 0-9, _ and -.',
				  HINT = 'docs/invocation-keys.md says how to sign a request.';
	END IF;

	SELECT k2.* INTO k FROM cpub.function_keys k2
	 WHERE k2.key_id = invocation_key_check.key_id
	   AND k2.function_id = invocation_key_check.function_id;
	IF k.id IS NOT NULL THEN
		valid := cpub.invocation_signature_valid(k.function_id, k.key_id,
			k.enc_key_id, k.enc_nonce, k.enc_signing_key,
			invocation_key_check."timestamp", invocation_key_check.nonce,
			pg_catalog.upper(invocation_key_check.method),
			invocation_key_check.path,
			coalesce(invocation_key_check.body, ''::bytea),
			invocation_key_check.signature);
	END IF;
	IF valid IS NOT TRUE THEN
		RAISE EXCEPTION 'invalid invocation key or signature'
			USING ERRCODE = '28Q06',
				  DETAIL = 'The key is unknown, or the signature does not match the request.',
				  HINT = 'docs/invocation-keys.md says how to sign a request.';
	END IF;
	IF k.revoked_at IS NOT NULL THEN
		RAISE EXCEPTION 'invalid invocation key or signature'
			USING ERRCODE = '28Q06', DETAIL = 'The key was revoked.';
	END IF;
	IF k.expires_at <= pg_catalog.statement_timestamp() THEN
		RAISE EXCEPTION 'invalid invocation key or signature'
			USING ERRCODE = '28Q06',
				  DETAIL = pg_catalog.format('The key expired at %s.', k.expires_at);
	END IF;

	IF pg_catalog.abs(invocation_key_check."timestamp" - now_s)
	   > EXTRACT(epoch FROM win) THEN
		RAISE EXCEPTION 'request timestamp is outside the signature window'
			USING ERRCODE = '28Q07',
				  DETAIL = pg_catalog.format('The timestamp is %s seconds from the server''s clock; at most %s are allowed.',
					pg_catalog.round(invocation_key_check."timestamp" - now_s),
					EXTRACT(epoch FROM win)),
				  HINT = 'Sign with the current Unix time in seconds, and keep the client''s clock synchronised.';
	END IF;

	-- A nonce row whose request timestamp left the window may be reused.
	INSERT INTO cpub.invocation_nonces AS n (function_key_id, nonce, signed_at)
	VALUES (k.id, invocation_key_check.nonce,
			pg_catalog.to_timestamp(invocation_key_check."timestamp"))
	ON CONFLICT ON CONSTRAINT invocation_nonces_pkey DO UPDATE
	   SET signed_at = EXCLUDED.signed_at, seen_at = pg_catalog.now()
	 WHERE n.signed_at < pg_catalog.statement_timestamp() - win
	RETURNING true INTO fresh;
	IF fresh IS NULL THEN
		RAISE EXCEPTION 'replayed invocation signature'
			USING ERRCODE = '28Q08',
				  DETAIL = 'This key already signed a request with this nonce within the signature window.',
				  HINT = 'Use a new random nonce for every request.';
	END IF;

	UPDATE cpub.function_keys k2 SET last_used_at = pg_catalog.statement_timestamp()
	 WHERE k2.id = (SELECT k3.id FROM cpub.function_keys k3
					 WHERE k3.id = k.id
					   AND (k3.last_used_at IS NULL
							OR k3.last_used_at < pg_catalog.statement_timestamp()
												 - interval '1 minute')
					   FOR NO KEY UPDATE SKIP LOCKED);
	RETURN k.id;
END
$$;

-- cpub.invocation_nonces_purge(): forgets the nonces whose request
-- timestamp left the signature window (a replay of those fails the
-- timestamp check).  Returns how many.  For the maintenance job.
CREATE FUNCTION cpub.invocation_nonces_purge()
	RETURNS bigint
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	n bigint;
BEGIN
	DELETE FROM cpub.invocation_nonces x
	 WHERE x.signed_at < pg_catalog.statement_timestamp()
						 - (cpub.setting('signature_window') #>> '{}')::interval;
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN n;
END
$$;

--
-- Admin API: the server keys.
--

-- cpub_admin.secrets_status(): each server key id that is configured or
-- still seals a record: whether it is the current key, whether the key
-- file holds it, and how many environment variables and invocation keys
-- it seals.  A record under a key that is not configured cannot be opened.
-- 55Q02 when no key is configured.
CREATE FUNCTION cpub_admin.secrets_status()
	RETURNS TABLE (key_id text, is_current boolean, configured boolean,
				   env_vars bigint, invocation_keys bigint)
	LANGUAGE sql STABLE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
	WITH keys AS (
		SELECT s.key_id, s.is_current, s.ord
		  FROM cpub.secret_keys() WITH ORDINALITY AS s (key_id, is_current, ord)
	), env AS (
		SELECT e.key_id, pg_catalog.count(*) AS n
		  FROM cpub.function_env e GROUP BY e.key_id
	), fk AS (
		SELECT k.enc_key_id AS key_id, pg_catalog.count(*) AS n
		  FROM cpub.function_keys k GROUP BY k.enc_key_id
	), ids AS (
		SELECT keys.key_id FROM keys
		UNION SELECT env.key_id FROM env
		UNION SELECT fk.key_id FROM fk
	)
	SELECT ids.key_id, coalesce(keys.is_current, false), keys.key_id IS NOT NULL,
		   coalesce(env.n, 0), coalesce(fk.n, 0)
	  FROM ids
	  LEFT JOIN keys ON keys.key_id = ids.key_id
	  LEFT JOIN env ON env.key_id = ids.key_id
	  LEFT JOIN fk ON fk.key_id = ids.key_id
	 ORDER BY keys.ord NULLS LAST, ids.key_id
$$;
GRANT EXECUTE ON FUNCTION cpub_admin.secrets_status() TO cpub_admin_viewer;

-- cpub_admin.secrets_rekey(): seals again under the current key every
-- record sealed under another; returns the current key id and how many
-- environment variables and invocation keys were sealed again.  55Q03
-- (and nothing changes) when a record's key is not configured any more.
-- Values and secrets do not change; no one notices.
CREATE FUNCTION cpub_admin.secrets_rekey()
	RETURNS TABLE (current_key_id text, env_vars bigint, invocation_keys bigint)
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	cur text := (SELECT s.key_id FROM cpub.secret_keys() s WHERE s.is_current);
	n_env bigint;
	n_keys bigint;
BEGIN
	WITH old AS (
		SELECT e.function_id, e.name,
			   cpub.secret_seal('env', e.function_id, e.name,
								cpub.secret_open('env', e.function_id, e.name,
												 e.key_id, e.nonce, e.ciphertext)) AS s
		  FROM cpub.function_env e
		 WHERE e.key_id <> cur
		   FOR UPDATE
	)
	UPDATE cpub.function_env e
	   SET key_id = (old.s).key_id, nonce = (old.s).nonce,
		   ciphertext = (old.s).ciphertext
	  FROM old
	 WHERE e.function_id = old.function_id AND e.name = old.name;
	GET DIAGNOSTICS n_env = ROW_COUNT;

	WITH old AS (
		SELECT k.id,
			   cpub.secret_seal('key', k.function_id, k.key_id,
								cpub.secret_open('key', k.function_id, k.key_id,
												 k.enc_key_id, k.enc_nonce,
												 k.enc_signing_key)) AS s
		  FROM cpub.function_keys k
		 WHERE k.enc_key_id <> cur
		   FOR UPDATE
	)
	UPDATE cpub.function_keys k
	   SET enc_key_id = (old.s).key_id, enc_nonce = (old.s).nonce,
		   enc_signing_key = (old.s).ciphertext
	  FROM old
	 WHERE k.id = old.id;
	GET DIAGNOSTICS n_keys = ROW_COUNT;

	PERFORM cpub.audit('secrets.rekey', 'server_key', cur,
		pg_catalog.jsonb_build_object('env_vars', n_env, 'invocation_keys', n_keys));
	RETURN QUERY SELECT cur, n_env, n_keys;
END
$$;
GRANT EXECUTE ON FUNCTION cpub_admin.secrets_rekey() TO cpub_admin_full;
