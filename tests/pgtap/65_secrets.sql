-- tests/pgtap/65_secrets.sql: environment variables sealed at rest,
-- invocation keys and signed requests, server key rotation; privileges,
-- row-level security and audit.
--
-- Needs the key file tests/run.sh configures: a current key, then an older
-- one that still decrypts (records are sealed under it to test rotation).
-- Signatures are computed here independently, with pgcrypto.
BEGIN;
SELECT plan(185);

CREATE EXTENSION IF NOT EXISTS pgcrypto;

-- Fixtures, as superuser.  o: owner, a: admin, m: member, x: outsider.
INSERT INTO cpub.users (email, password_hash, status)
VALUES ('o@example.com', 'x', 'active'), ('a@example.com', 'x', 'active'),
	   ('m@example.com', 'x', 'active'), ('x@example.com', 'x', 'active');
INSERT INTO cpub.organizations (name) VALUES ('acme');
INSERT INTO cpub.organization_members (organization_id, user_id, role)
SELECT o.id, u.uuid, r.role
  FROM cpub.organizations o,
	   (VALUES ('o@example.com', 'owner'), ('a@example.com', 'admin'),
			   ('m@example.com', 'member')) AS r (email, role)
  JOIN cpub.users u ON u.email = r.email
 WHERE o.name = 'acme';
CREATE FUNCTION pg_temp.act(email text) RETURNS void LANGUAGE sql AS $$
	SELECT cpub.set_user_identity((SELECT u.uuid FROM cpub.users u WHERE u.email = $1),
								  gen_random_uuid(), false) $$;
-- The signature of a request, as a client computes it (docs/invocation-keys.md).
CREATE FUNCTION pg_temp.sign(secret text, ts bigint, nonce text, method text,
							 path text, body bytea) RETURNS text LANGUAGE sql AS $$
	SELECT encode(hmac(convert_to(format(E'%s\n%s\n%s\n%s\n', ts, nonce, method, path), 'UTF8')
					   || body, digest(secret, 'sha256'), 'sha256'), 'hex') $$;
CREATE FUNCTION pg_temp.now_s() RETURNS bigint LANGUAGE sql AS $$
	SELECT floor(extract(epoch FROM clock_timestamp()))::bigint $$;
CREATE FUNCTION pg_temp.nonce() RETURNS text LANGUAGE sql AS $$
	SELECT encode(gen_random_bytes(16), 'hex') $$;
-- SQLSTATE and detail of the error a statement raises (NULL: none).
CREATE FUNCTION pg_temp.error_of(sql text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	state text;
	detail text;
BEGIN
	EXECUTE sql;
	RETURN NULL;
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, detail = PG_EXCEPTION_DETAIL;
	RETURN state || ' ' || detail;
END $$;

SELECT pg_temp.act('o@example.com');
SELECT id AS fid FROM cpub_api.function_create('hello', 'shell') \gset
SELECT id AS gid FROM cpub_api.function_create('other', 'shell') \gset
SELECT id AS many FROM cpub_api.function_create('many', 'shell') \gset
SELECT id AS oid FROM cpub_api.function_create('api', 'shell', organization => 'acme') \gset
SELECT key_id AS cur_key FROM cpub.secret_keys() WHERE is_current \gset
SELECT key_id AS old_key FROM cpub.secret_keys() WHERE NOT is_current LIMIT 1 \gset

--
-- The server keys the runner configured.
--
SELECT is((SELECT count(*)::int FROM cpub.secret_keys()), 2,
		  'the key file holds two keys (tests/run.sh: a current and an old one)');
SELECT matches(:'cur_key'::text, '^[0-9a-f]{16}$', 'a key id is 16 hexadecimal digits');
SELECT isnt(:'cur_key'::text, :'old_key', 'the two keys have different ids');
SELECT isnt(current_setting('cpub.secret_key_file'), '', 'cpub.secret_key_file names the file');
SELECT throws_ok($$SET cpub.secret_key_file = '/tmp/mine'$$, '55P02', NULL,
				 'a session cannot point it elsewhere, even a superuser''s (server reload only)');
SET LOCAL ROLE cpub_developer;
SELECT throws_ok($$SELECT current_setting('cpub.secret_key_file')$$, '42501', NULL,
				 'only superusers may see where the key file is');
RESET ROLE;

--
-- Privileges, without a session.
--
SELECT cpub.clear_identity();
SET LOCAL ROLE cpub_anon;
SELECT throws_ok($$SELECT cpub_api.function_env_set('hello', 'A', 'b')$$, '42501', NULL,
				 'anon cannot set environment variables');
SELECT throws_ok($$SELECT cpub_api.function_key_create('hello')$$, '42501', NULL,
				 'anon cannot create invocation keys');
SELECT throws_ok(format($$SELECT * FROM cpub_worker.function_env(%L)$$, :'fid'), '42501', NULL,
				 'anon cannot read values');
RESET ROLE;
SET LOCAL ROLE cpub_developer;
SELECT throws_ok(format($$SELECT * FROM cpub_worker.function_env(%L)$$, :'fid'), '42501', NULL,
				 'a developer cannot read values through the worker API');
SELECT throws_ok(format($$SELECT cpub.invocation_key_check(%L, 'k', 1, 'n', 's', 'GET', '/', '')$$, :'fid'),
				 '42501', NULL, 'a developer cannot call the invocation check');
SELECT throws_ok($$SELECT cpub.secret_open('env', gen_random_uuid(), 'A', 'k', '', '')$$, '42501', NULL,
				 'a developer cannot open sealed records');
SELECT throws_ok($$SELECT count(*) FROM cpub.function_env$$, '42501', NULL,
				 'a developer cannot read the table');
SELECT throws_ok($$SELECT * FROM cpub_admin.secrets_status()$$, '42501', NULL,
				 'a developer cannot read the key status');
SELECT throws_ok($$SELECT cpub_api.function_env_set('hello', 'A', 'b')$$, '28000', NULL,
				 'a developer needs a session');
RESET ROLE;
SET LOCAL ROLE cpub_admin_viewer;
SELECT throws_ok($$SELECT * FROM cpub_admin.secrets_rekey()$$, '42501', NULL,
				 'a viewer cannot rekey');
RESET ROLE;
SET LOCAL ROLE cpub_worker;
SELECT throws_ok($$SELECT cpub_api.function_env_set('hello', 'A', 'b')$$, '42501', NULL,
				 'the worker cannot set variables');
RESET ROLE;

--
-- Environment variables: set, list, read by the worker.
--
SELECT pg_temp.act('o@example.com');
SET LOCAL ROLE cpub_developer;
SELECT is((SELECT name FROM cpub_api.function_env_set('hello', 'API_TOKEN', 'tok-3f9a-secret-value')),
		  'API_TOKEN', 'the owner sets a variable (as cpub_developer)');
SELECT is((SELECT array_agg(name) FROM cpub_api.function_env_list('hello')), ARRAY['API_TOKEN'],
		  'the list names it');
RESET ROLE;
SELECT is((SELECT array_agg(attname::text ORDER BY attnum) FROM pg_attribute
			WHERE attrelid = 'cpub_api.env_var_info'::regclass AND attnum > 0),
		  ARRAY['name', 'created_at', 'updated_at'], 'a list has names and times, never values');
SET LOCAL ROLE cpub_worker;
SELECT results_eq(format($$SELECT name, value FROM cpub_worker.function_env(%L)$$, :'fid'),
				  $$VALUES ('API_TOKEN'::text, 'tok-3f9a-secret-value'::text)$$,
				  'the worker reads the value');
RESET ROLE;
SELECT is((SELECT count(*)::int FROM cpub.function_env e
			WHERE position(convert_to('tok-3f9a-secret-value', 'UTF8') IN e.ciphertext) > 0
			   OR position(convert_to('3f9a', 'UTF8') IN e.ciphertext) > 0), 0,
		  'the stored row does not contain the value');
SELECT results_eq(format($$SELECT key_id, octet_length(nonce), octet_length(ciphertext)
							 FROM cpub.function_env WHERE function_id = %L$$, :'fid'),
				  format($$VALUES (%L::text, 24, %s)$$, :'cur_key', 16 + length('tok-3f9a-secret-value')),
				  'sealed under the current key with a 24-byte nonce and a 16-byte authenticator');
SELECT ciphertext AS ct1 FROM cpub.function_env WHERE function_id = :'fid' AND name = 'API_TOKEN' \gset
SELECT lives_ok($$SELECT cpub_api.function_env_set('hello', 'API_TOKEN', 'tok-3f9a-secret-value')$$,
				'setting the same value again');
SELECT isnt((SELECT ciphertext FROM cpub.function_env WHERE function_id = :'fid' AND name = 'API_TOKEN'),
			:'ct1'::bytea, 'gives another ciphertext (a fresh nonce each time)');
SELECT is((SELECT config_generation FROM cpub.functions WHERE id = :'fid'), 3::bigint,
		  'each set is a new config generation of the function, even of the same value');
SELECT lives_ok($$SELECT cpub_api.function_env_set('hello', 'API_TOKEN', 'v2 ünïcode ✓')$$,
				'a set replaces the value');
SELECT is((SELECT value FROM cpub_worker.function_env(:'fid') WHERE name = 'API_TOKEN'), 'v2 ünïcode ✓',
		  'the worker reads the new value, Unicode intact');
SELECT is((SELECT count(*)::int FROM cpub.function_env WHERE function_id = :'fid'), 1,
		  'still one variable');
SELECT ok((SELECT detail ? 'names' AND detail->'names' = '["API_TOKEN"]' AND detail::text NOT LIKE '%tok-3f9a%'
					 AND detail::text NOT LIKE '%v2 ü%'
			 FROM cpub.audit_log WHERE action = 'function.env_set' AND target_id = :'fid'
			ORDER BY id DESC LIMIT 1),
		  'a set is audited with the name, without the value');
SELECT is((SELECT count(*)::int FROM cpub.audit_log
			WHERE action = 'function.env_set' AND (detail::text LIKE '%tok-3f9a%' OR detail::text LIKE '%ünïcode%')),
		  0, 'no audit record holds a value');
SELECT lives_ok($$SELECT cpub_api.function_env_set('hello', 'EMPTY', '')$$, 'an empty value is a value');
SELECT lives_ok($$SELECT cpub_api.function_env_set('hello', '_x9', 'y')$$, 'a name may start with an underscore');
SELECT lives_ok(format($$SELECT cpub_api.function_env_set(%L, 'BY_ID', 'y')$$, :'fid'),
				'a function can be named by its id');

-- Names.
SELECT throws_ok($$SELECT cpub_api.function_env_set('hello', '1ABC', 'v')$$, '22Q04',
				 'invalid environment variable name "1ABC"', 'a name cannot start with a digit');
SELECT throws_ok($$SELECT cpub_api.function_env_set('hello', 'A-B', 'v')$$, '22Q04', NULL,
				 'a name has no hyphen');
SELECT throws_ok($$SELECT cpub_api.function_env_set('hello', 'A=B', 'v')$$, '22Q04', NULL,
				 'a name has no equals sign');
SELECT throws_ok($$SELECT cpub_api.function_env_set('hello', 'ÉTÉ', 'v')$$, '22Q04', NULL,
				 'a name is ASCII');
SELECT throws_ok($$SELECT cpub_api.function_env_set('hello', '', 'v')$$, '22Q04', NULL,
				 'a name is not empty');
SELECT throws_ok($$SELECT cpub_api.function_env_set('hello', NULL, 'v')$$, '22004', NULL,
				 'a name is required');
SELECT throws_ok($$SELECT cpub_api.function_env_set('hello', 'CPUB_FUNCTION', 'v')$$, '22Q04', NULL,
				 'CPUB_ names are reserved for the platform');
SELECT throws_ok($$SELECT cpub_api.function_env_set('hello', 'cpub_x', 'v')$$, '22Q04', NULL,
				 'in any case');
SELECT lives_ok(format($$SELECT cpub_api.function_env_set('hello', %L, 'v')$$, repeat('N', 128)),
				'a name of 128 characters');
SELECT throws_ok(format($$SELECT cpub_api.function_env_set('hello', %L, 'v')$$, repeat('N', 129)), '22Q04',
				 NULL, 'a name of 129 characters is refused');
-- Values and limits.
SELECT throws_ok($$SELECT cpub_api.function_env_set('hello', 'NUL', NULL)$$, '22004', NULL,
				 'a value is required');
SELECT lives_ok(format($$SELECT cpub_api.function_env_set('hello', 'BIG1', %L)$$, repeat('v', 32768)),
				'a value of 32768 bytes');
SELECT throws_ok(format($$SELECT cpub_api.function_env_set('hello', 'BIG2', %L)$$, repeat('v', 32769)), '54Q02',
				 'value of environment variable "BIG2" is too long', 'a value of 32769 bytes is refused');
SELECT throws_ok(format($$SELECT cpub_api.function_env_set('hello', 'BIG2', %L)$$, repeat('é', 16385)), '54Q02',
				 NULL, 'the value limit counts bytes, not characters');
SELECT throws_ok(format($$SELECT cpub_api.function_env_set('hello', 'BIG2', %L)$$, repeat('v', 32768)), '54Q02',
				 'environment of function "hello" is too large', 'names and values together are at most 64 KB');
SELECT is((SELECT count(*)::int FROM cpub.function_env WHERE function_id = :'fid' AND name = 'BIG2'), 0,
		  'a refused set leaves nothing behind');
SELECT is((SELECT config_generation FROM cpub.functions WHERE id = :'fid'), 9::bigint,
		  'eight sets, eight new config generations; the refused ones none');
SELECT lives_ok(format($$SELECT cpub_api.function_env_set_many('many', %L)$$,
					   (SELECT jsonb_object_agg('V' || i, 'x') FROM generate_series(1, 100) i)),
				'100 variables in one call');
SELECT throws_ok($$SELECT cpub_api.function_env_set('many', 'V101', 'x')$$, '54Q02',
				 'too many environment variables for function "many"', 'the 101st is refused');
SELECT lives_ok($$SELECT cpub_api.function_env_set('many', 'V100', 'replaced')$$,
				'replacing one of 100 is fine');

-- set_many.
SELECT results_eq($$SELECT name FROM cpub_api.function_env_set_many('other', '{"B": "2", "A": "1", "C": ""}')$$,
				  ARRAY['A', 'B', 'C'], 'set_many sets every variable of an object, by name');
SELECT results_eq(format($$SELECT name, value FROM cpub_worker.function_env(%L)$$, :'gid'),
				  $$VALUES ('A'::text, '1'::text), ('B', '2'), ('C', '')$$, 'the worker reads them all');
SELECT is((SELECT detail->'names' FROM cpub.audit_log WHERE action = 'function.env_set' AND target_id = :'gid'),
		  '["A", "B", "C"]'::jsonb, 'one audit record lists the names');
SELECT throws_ok($$SELECT cpub_api.function_env_set_many('other', '{"D": "4", "bad-name": "5"}')$$, '22Q04', NULL,
				 'set_many: an invalid name');
SELECT throws_ok($$SELECT cpub_api.function_env_set_many('other', '{"D": "4", "E": 5}')$$, '22023',
				 'value of environment variable "E" must be a JSON string', 'set_many: a value that is not a string');
SELECT is((SELECT count(*)::int FROM cpub.function_env WHERE function_id = :'gid' AND name = 'D'), 0,
		  'set_many is all or nothing');
SELECT throws_ok($$SELECT cpub_api.function_env_set_many('other', '["A"]')$$, '22023', 'vars must be a JSON object',
				 'set_many: not an object');
SELECT throws_ok($$SELECT cpub_api.function_env_set_many('other', '{}')$$, '22004', NULL, 'set_many: empty');
SELECT throws_ok($$SELECT cpub_api.function_env_set_many('other', NULL)$$, '22004', NULL, 'set_many: NULL');
SELECT throws_ok(format($$SELECT cpub_api.function_env_set_many('other', %L)$$,
						jsonb_build_object('D', repeat('d', 30000), 'E', repeat('e', 30000),
										   'F', repeat('f', 30000))),
				 '54Q02', 'environment of function "other" is too large', 'set_many: the total limit');

-- unset.
SELECT is(cpub_api.function_env_unset('other', ARRAY['A', 'B', 'A']), 2, 'unset removes the names given');
SELECT results_eq($$SELECT name FROM cpub_api.function_env_list('other')$$, ARRAY['C'], 'the rest stays');
SELECT is((SELECT detail->'names' FROM cpub.audit_log WHERE action = 'function.env_unset' AND target_id = :'gid'),
		  '["A", "B"]'::jsonb, 'unset is audited with the names');
SELECT throws_ok($$SELECT cpub_api.function_env_unset('other', ARRAY['C', 'NOPE'])$$, 'P0002',
				 'environment variable "NOPE" is not set', 'unset: a name not set');
SELECT results_eq($$SELECT name FROM cpub_api.function_env_list('other')$$, ARRAY['C'],
				  'unset is all or nothing');
SELECT throws_ok($$SELECT cpub_api.function_env_unset('other', '{}')$$, '22004', NULL, 'unset: no names');
SELECT throws_ok($$SELECT cpub_api.function_env_unset('other', NULL)$$, '22004', NULL, 'unset: NULL');
SELECT throws_ok($$SELECT cpub_api.function_env_unset('other', ARRAY['C', NULL])$$, '22004', NULL,
				 'unset: a NULL name');
SELECT is((SELECT config_generation FROM cpub.functions WHERE id = :'gid'), 3::bigint,
		  'a set_many and an unset are a new config generation each; refused ones and lists none');

-- Organizations: members read names; owners and admins change; others see nothing.
SELECT lives_ok($$SELECT cpub_api.function_env_set('acme/api', 'DB_URL', 'postgres://secret@db')$$,
				'the organization''s owner sets a variable');
SELECT pg_temp.act('a@example.com');
SELECT lives_ok($$SELECT cpub_api.function_env_set('acme/api', 'REGION', 'eu')$$, 'an admin sets one');
SELECT pg_temp.act('m@example.com');
SELECT results_eq($$SELECT name FROM cpub_api.function_env_list('acme/api')$$, ARRAY['DB_URL', 'REGION'],
				  'a member lists the names');
SELECT throws_ok($$SELECT cpub_api.function_env_set('acme/api', 'X', 'y')$$, '42501', NULL,
				 'a member cannot set a variable');
SELECT throws_ok($$SELECT cpub_api.function_env_set_many('acme/api', '{"X": "y"}')$$, '42501', NULL,
				 'nor several');
SELECT throws_ok($$SELECT cpub_api.function_env_unset('acme/api', ARRAY['REGION'])$$, '42501', NULL,
				 'nor unset one');
SELECT throws_ok($$SELECT cpub_api.function_key_create('acme/api')$$, '42501', NULL,
				 'nor create an invocation key');
SELECT pg_temp.act('x@example.com');
SELECT throws_ok($$SELECT * FROM cpub_api.function_env_list('acme/api')$$, 'P0002', NULL,
				 'a non-member does not see the function');
SELECT throws_ok($$SELECT cpub_api.function_env_set('acme/api', 'X', 'y')$$, 'P0002', NULL,
				 'nor set a variable');
SELECT throws_ok(format($$SELECT cpub_api.function_env_set(%L, 'X', 'y')$$, :'fid'), 'P0002', NULL,
				 'nor by the function''s id');
SELECT throws_ok($$SELECT cpub_api.function_key_create('acme/api')$$, 'P0002', NULL,
				 'nor create a key');
SELECT throws_ok($$SELECT * FROM cpub_api.function_key_list('acme/api')$$, 'P0002', NULL,
				 'nor list keys');
SELECT throws_ok($$SELECT * FROM cpub_worker.function_env(gen_random_uuid())$$, 'P0002', NULL,
				 'the worker API: an unknown function');

-- Row-level security, seen by a role that may read the tables.
CREATE ROLE cpub_test_reader;
GRANT USAGE ON SCHEMA cpub TO cpub_test_reader;
GRANT SELECT ON cpub.functions, cpub.function_env, cpub.function_keys TO cpub_test_reader;
GRANT EXECUTE ON FUNCTION cpub.function_visible(uuid, uuid), cpub.current_user_id(),
	cpub.organization_ids_of(uuid) TO cpub_test_reader;
SELECT pg_temp.act('x@example.com');
SET LOCAL ROLE cpub_test_reader;
SELECT is((SELECT count(*)::int FROM cpub.function_env), 0, 'RLS: an outsider sees no variable');
RESET ROLE;
SELECT pg_temp.act('m@example.com');
SET LOCAL ROLE cpub_test_reader;
SELECT is((SELECT array_agg(name ORDER BY name) FROM cpub.function_env), ARRAY['DB_URL', 'REGION'],
		  'RLS: a member sees the organization''s rows only');
RESET ROLE;
SELECT pg_temp.act('o@example.com');

--
-- Sealed records do not open elsewhere, altered, or without their key.
--
SELECT pg_temp.act('o@example.com');
SELECT lives_ok($$SELECT cpub_api.function_env_set('hello', 'OTHER', 'other-value')$$, 'a second variable');
CREATE TEMP TABLE saved AS SELECT * FROM cpub.function_env WHERE function_id = :'fid';
UPDATE cpub.function_env e SET key_id = s.key_id, nonce = s.nonce, ciphertext = s.ciphertext
  FROM saved s
 WHERE e.function_id = s.function_id
   AND (e.name, s.name) IN (('API_TOKEN', 'OTHER'), ('OTHER', 'API_TOKEN'));
SELECT throws_ok(format($$SELECT * FROM cpub_worker.function_env(%L)$$, :'fid'), '55Q03',
				 'could not decrypt a stored secret: it does not authenticate',
				 'two variables'' ciphertexts swapped do not decrypt');
UPDATE cpub.function_env e SET key_id = s.key_id, nonce = s.nonce, ciphertext = s.ciphertext
  FROM saved s WHERE e.function_id = s.function_id AND e.name = s.name;
SELECT lives_ok(format($$SELECT * FROM cpub_worker.function_env(%L)$$, :'fid'), 'restored, they do');
UPDATE cpub.function_env SET ciphertext = set_byte(ciphertext, 20, get_byte(ciphertext, 20) # 1)
 WHERE function_id = :'fid' AND name = 'OTHER';
SELECT throws_ok(format($$SELECT * FROM cpub_worker.function_env(%L)$$, :'fid'), '55Q03', NULL,
				 'one flipped bit does not decrypt');
UPDATE cpub.function_env e SET ciphertext = s.ciphertext
  FROM saved s WHERE e.function_id = s.function_id AND e.name = s.name;
UPDATE cpub.function_env SET nonce = set_byte(nonce, 0, get_byte(nonce, 0) # 1)
 WHERE function_id = :'fid' AND name = 'OTHER';
SELECT throws_ok(format($$SELECT * FROM cpub_worker.function_env(%L)$$, :'fid'), '55Q03', NULL,
				 'an altered nonce does not decrypt');
UPDATE cpub.function_env e SET nonce = s.nonce
  FROM saved s WHERE e.function_id = s.function_id AND e.name = s.name;
INSERT INTO cpub.function_env (function_id, name, key_id, nonce, ciphertext)
SELECT :'gid', 'OTHER', s.key_id, s.nonce, s.ciphertext FROM saved s WHERE s.name = 'OTHER';
SELECT throws_ok(format($$SELECT * FROM cpub_worker.function_env(%L)$$, :'gid'), '55Q03', NULL,
				 'a row copied to another function does not decrypt');
DELETE FROM cpub.function_env WHERE function_id = :'gid' AND name = 'OTHER';
INSERT INTO cpub.function_env (function_id, name, key_id, nonce, ciphertext)
SELECT s.function_id, 'RENAMED', s.key_id, s.nonce, s.ciphertext FROM saved s WHERE s.name = 'OTHER';
SELECT throws_ok(format($$SELECT * FROM cpub_worker.function_env(%L)$$, :'fid'), '55Q03', NULL,
				 'nor under another name');
DELETE FROM cpub.function_env WHERE function_id = :'fid' AND name = 'RENAMED';
UPDATE cpub.function_env SET key_id = 'ffffffffffffffff' WHERE function_id = :'fid' AND name = 'OTHER';
SELECT throws_ok(format($$SELECT * FROM cpub_worker.function_env(%L)$$, :'fid'), '55Q03',
				 'could not decrypt a stored secret: its server key ffffffffffffffff is not configured',
				 'a record under a key that is not configured does not decrypt');
SET LOCAL ROLE cpub_admin_viewer;
SELECT results_eq($$SELECT configured, env_vars FROM cpub_admin.secrets_status() WHERE key_id = 'ffffffffffffffff'$$,
				  $$VALUES (false, 1::bigint)$$, 'the status shows it, under a key not configured');
RESET ROLE;
SET LOCAL ROLE cpub_admin_full;
SELECT throws_ok($$SELECT * FROM cpub_admin.secrets_rekey()$$, '55Q03', NULL,
				 'rekey refuses a record it cannot open');
RESET ROLE;
UPDATE cpub.function_env e SET key_id = s.key_id
  FROM saved s WHERE e.function_id = s.function_id AND e.name = s.name;
SELECT is((SELECT value FROM cpub_worker.function_env(:'fid') WHERE name = 'OTHER'), 'other-value',
		  'every restored field: it decrypts again');

--
-- Rotation: a record sealed under the old key still opens; rekey moves it.
--
INSERT INTO cpub.function_env (function_id, name, key_id, nonce, ciphertext)
SELECT :'fid', 'OLD', s.key_id, s.nonce, s.ciphertext
  FROM cpub.secret_seal('env', :'fid', 'OLD', convert_to('sealed-long-ago', 'UTF8'), :'old_key') s;
SELECT is((SELECT key_id FROM cpub.function_env WHERE function_id = :'fid' AND name = 'OLD'), :'old_key',
		  'a record sealed under the older key');
SELECT is((SELECT value FROM cpub_worker.function_env(:'fid') WHERE name = 'OLD'), 'sealed-long-ago',
		  'decrypts: older keys are still accepted');
SELECT throws_ok($$SELECT cpub.secret_seal('env', gen_random_uuid(), 'X', '\x00', 'ffffffffffffffff')$$, '55Q02',
				 NULL, 'sealing under a key that is not configured is refused');

--
-- Invocation keys.
--
SELECT pg_temp.act('o@example.com');
SET LOCAL ROLE cpub_developer;
SELECT * FROM cpub_api.function_key_create('hello', 'ci deploys', now() + interval '30 days') \gset k_
RESET ROLE;
SELECT matches(:'k_secret'::text, '^cpk_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$',
			   'a secret is cpk_, the key id and 256 random bits');
SELECT is(split_part(:'k_secret', '_', 2), :'k_key_id', 'the secret names its key id');
SELECT is((SELECT count(*)::int FROM cpub.function_keys k
			WHERE k::text LIKE '%' || right(:'k_secret', 43) || '%'
			   OR position(digest(:'k_secret', 'sha256') IN k.enc_signing_key) > 0), 0,
		  'neither the secret nor its hash is stored in the clear');
SELECT is((SELECT enc_key_id FROM cpub.function_keys WHERE key_id = :'k_key_id'), :'cur_key',
		  'the signing key is sealed under the current key');
SELECT ok((SELECT detail->>'key_id' = :'k_key_id' AND detail->>'label' = 'ci deploys'
				  AND detail::text NOT LIKE '%' || right(:'k_secret', 43) || '%'
			 FROM cpub.audit_log WHERE action = 'function.key_create' ORDER BY id DESC LIMIT 1),
		  'create is audited without the secret');
SELECT results_eq($$SELECT key_id, label, status, last_used_at IS NULL FROM cpub_api.function_key_list('hello')$$,
				  format($$VALUES (%L::text, 'ci deploys'::text, 'active'::text, true)$$, :'k_key_id'),
				  'the list shows the key, active and unused');
SELECT is((SELECT count(*)::int FROM pg_attribute
			WHERE attrelid = 'cpub_api.function_key_info'::regclass AND attname LIKE '%secret%'), 0,
		  'a key list has no secret');
SELECT throws_ok($$SELECT cpub_api.function_key_create('hello', expires_at => now() - interval '1 second')$$,
				 '22023', 'expires_at must be in the future', 'a key cannot expire in the past');
SELECT throws_ok(format($$SELECT cpub_api.function_key_create('hello', %L)$$, repeat('l', 101)), '22023',
				 'invalid key label', 'a label is at most 100 characters');
SELECT throws_ok($$SELECT cpub_api.function_key_create('hello', E'a\nb')$$, '22023', 'invalid key label',
				 'a label has no control character');
SELECT throws_ok($$SELECT cpub_api.function_key_create('nope')$$, 'P0002', NULL, 'create: unknown function');
SELECT throws_ok($$SELECT * FROM cpub_api.function_key_list('hello', "limit" => 0)$$, '22023', NULL,
				 'list: a bad page limit');
-- A member may list an organization's keys.
SELECT pg_temp.act('o@example.com');
SELECT key_id AS ok_key, secret AS ok_secret FROM cpub_api.function_key_create('acme/api', 'org') \gset
SELECT pg_temp.act('m@example.com');
SELECT results_eq($$SELECT key_id FROM cpub_api.function_key_list('acme/api')$$, ARRAY[:'ok_key'],
				  'a member lists the organization''s keys');
SELECT throws_ok(format($$SELECT cpub_api.function_key_revoke('acme/api', %L)$$, :'ok_key'), '42501', NULL,
				 'a member cannot revoke a key');
SELECT throws_ok(format($$SELECT cpub_api.function_key_roll('acme/api', %L)$$, :'ok_key'), '42501', NULL,
				 'nor roll one');
SELECT pg_temp.act('o@example.com');

--
-- Signed invocations.
--
SELECT pg_temp.now_s() AS ts, pg_temp.nonce() AS n1 \gset
SELECT is(cpub.invocation_key_check(:'fid', :'k_key_id', :'ts', :'n1',
									pg_temp.sign(:'k_secret', :'ts', :'n1', 'POST', '/fn/o/hello?x=1', '\x7b7d00ff'),
									'POST', '/fn/o/hello?x=1', '\x7b7d00ff'),
		  :'k_id'::uuid, 'a request signed with pgcrypto is accepted; the key''s id is returned');
SELECT throws_ok(format($$SELECT cpub.invocation_key_check(%L, %L, %s, %L, %L, 'POST', '/fn/o/hello?x=1', '\x7b7d00ff')$$,
						:'fid', :'k_key_id', :'ts', :'n1',
						pg_temp.sign(:'k_secret', :'ts', :'n1', 'POST', '/fn/o/hello?x=1', '\x7b7d00ff')),
				 '28Q08', 'replayed invocation signature', 'the same request again is a replay');
SELECT ok((SELECT last_used_at IS NOT NULL FROM cpub.function_keys WHERE key_id = :'k_key_id'),
		  'the key is marked used');

-- Each part of the request is signed.
CREATE TEMP TABLE req AS
SELECT :'fid'::uuid AS fid, :'k_key_id'::text AS kid, :'k_secret'::text AS secret;
CREATE FUNCTION pg_temp.try(ts_signed bigint, ts_sent bigint, nonce_signed text, nonce_sent text,
							method_signed text, method_sent text, path_signed text, path_sent text,
							body_signed bytea, body_sent bytea, secret text DEFAULT NULL,
							kid text DEFAULT NULL, fid uuid DEFAULT NULL)
	RETURNS text LANGUAGE sql AS $$
	SELECT pg_temp.error_of(format('SELECT cpub.invocation_key_check(%L, %L, %s, %L, %L, %L, %L, %L)',
		coalesce(try.fid, r.fid), coalesce(try.kid, r.kid), try.ts_sent, try.nonce_sent,
		pg_temp.sign(coalesce(try.secret, r.secret), try.ts_signed, try.nonce_signed,
					 try.method_signed, try.path_signed, try.body_signed),
		try.method_sent, try.path_sent, try.body_sent))
	  FROM req r $$;
-- The detail every refused signature gets, whatever the reason.
\set generic '28Q06 The key is unknown, or the signature does not match the request.'
SELECT is(pg_temp.try(:ts, :ts, 'nonce-a-0123456789', 'nonce-a-0123456789', 'GET', 'GET', '/p', '/p', 'ab', 'ac'),
		  :'generic', 'another body is refused');
SELECT is(pg_temp.try(:ts, :ts, 'nonce-b-0123456789', 'nonce-b-0123456789', 'GET', 'PUT', '/p', '/p', '', ''),
		  :'generic', 'another method is refused');
SELECT is(pg_temp.try(:ts, :ts, 'nonce-c-0123456789', 'nonce-c-0123456789', 'GET', 'GET', '/p?a=1', '/p?a=2', '', ''),
		  :'generic', 'another path or query is refused');
SELECT is(pg_temp.try(:ts, :ts, 'nonce-d-0123456789', 'nonce-e-0123456789', 'GET', 'GET', '/p', '/p', '', ''),
		  :'generic', 'another nonce is refused');
SELECT is(pg_temp.try(:ts, :ts + 1, 'nonce-f-0123456789', 'nonce-f-0123456789', 'GET', 'GET', '/p', '/p', '', ''),
		  :'generic', 'another timestamp is refused');
SELECT is(pg_temp.try(:ts, :ts, 'nonce-g-0123456789', 'nonce-g-0123456789', 'GET', 'GET', '/p', '/p', '', '',
					  secret => :'ok_secret'),
		  :'generic', 'another key''s secret is refused');
SELECT is(pg_temp.try(:ts, :ts, 'nonce-h-0123456789', 'nonce-h-0123456789', 'GET', 'GET', '/p', '/p', '', '',
					  kid => '0123456789abcdef'),
		  :'generic', 'an unknown key id is refused the same way');
SELECT is(pg_temp.try(:ts, :ts, 'nonce-i-0123456789', 'nonce-i-0123456789', 'GET', 'GET', '/p', '/p', '', '',
					  secret => :'ok_secret', kid => :'ok_key'),
		  :'generic', 'another function''s key, correctly signed, is refused the same way');
SELECT is(pg_temp.try(:ts, :ts, 'nonce-j-0123456789', 'nonce-j-0123456789', 'GET', 'GET', '/p', '/p', '', '',
					  fid => :'gid'),
		  :'generic', 'a key used for another function of the same owner is refused');
SELECT is(pg_temp.try(:ts, :ts, 'nonce-k-0123456789', 'nonce-k-0123456789', 'GET', 'get', '/p', '/p', '', ''),
		  NULL, 'the method is signed in upper case, whatever case it is given in');
SELECT is(pg_temp.try(:ts, :ts, 'short', 'short', 'GET', 'GET', '/p', '/p', '', ''),
		  '28Q06 The nonce must be 16 to 128 characters from A-Z, a-z, 0-9, _ and -.', 'a nonce of 5 characters');
SELECT is(pg_temp.try(:ts, :ts, 'nonce with spaces 0123', 'nonce with spaces 0123', 'GET', 'GET', '/p', '/p', '', ''),
		  '28Q06 The nonce must be 16 to 128 characters from A-Z, a-z, 0-9, _ and -.', 'a nonce with spaces');
SELECT ts AS ts2, pg_temp.nonce() AS n2, pg_temp.nonce() AS n3, pg_temp.nonce() AS n4 FROM pg_temp.now_s() ts \gset
SELECT is(cpub.invocation_key_check(:'fid', :'k_key_id', :'ts2', :'n2',
			'v1=' || pg_temp.sign(:'k_secret', :'ts2', :'n2', 'GET', '/', ''), 'GET', '/', NULL),
		  :'k_id'::uuid, 'a v1= prefix is accepted, and no body signs as empty');
SELECT is(cpub.invocation_key_check(:'fid', :'k_key_id', :'ts2', :'n3',
			upper(pg_temp.sign(:'k_secret', :'ts2', :'n3', 'GET', '/', '')), 'GET', '/', ''),
		  :'k_id'::uuid, 'uppercase hexadecimal is accepted');
SELECT throws_ok(format($$SELECT cpub.invocation_key_check(%L, %L, %s, %L, 'not-a-signature', 'GET', '/', '')$$,
						:'fid', :'k_key_id', :'ts2', :'n4'),
				 '28Q06', 'invalid invocation key or signature', 'a malformed signature');
SELECT is(pg_temp.error_of(format($$SELECT cpub.invocation_key_check(%L, %L, %s, %L, NULL, 'GET', '/', '')$$,
								  :'fid', :'k_key_id', :'ts2', :'n4')),
		  '28Q06 The request has no X-Cpub-Signature.', 'a missing signature');
SELECT is(pg_temp.error_of(format($$SELECT cpub.invocation_key_check(%L, NULL, %s, %L, 'x', 'GET', '/', '')$$,
								  :'fid', :'ts2', :'n4')),
		  '28Q06 The request has no X-Cpub-Key.', 'a missing key id');
SELECT is(pg_temp.error_of(format($$SELECT cpub.invocation_key_check(%L, %L, NULL, %L, 'x', 'GET', '/', '')$$,
								  :'fid', :'k_key_id', :'n4')),
		  '28Q06 The request has no X-Cpub-Timestamp.', 'a missing timestamp');

-- The time window (5 minutes by default), either way.
SELECT throws_ok(format($$SELECT cpub.invocation_key_check(%L, %L, %s, %L, %L, 'GET', '/', '')$$,
						:'fid', :'k_key_id', :ts2 - 400, :'n4',
						pg_temp.sign(:'k_secret', :ts2 - 400, :'n4', 'GET', '/', '')),
				 '28Q07', 'request timestamp is outside the signature window', 'a request signed 400 s ago');
SELECT throws_ok(format($$SELECT cpub.invocation_key_check(%L, %L, %s, %L, %L, 'GET', '/', '')$$,
						:'fid', :'k_key_id', :ts2 + 400, :'n4',
						pg_temp.sign(:'k_secret', :ts2 + 400, :'n4', 'GET', '/', '')),
				 '28Q07', NULL, 'a request signed 400 s ahead');
SELECT throws_ok(format($$SELECT cpub.invocation_key_check(%L, %L, %s, %L, %L, 'GET', '/', '')$$,
						:'fid', :'k_key_id', '9223372036854775807', :'n4',
						pg_temp.sign(:'k_secret', 9223372036854775807, :'n4', 'GET', '/', '')),
				 '28Q07', NULL, 'the largest timestamp');
SELECT is(cpub.invocation_key_check(:'fid', :'k_key_id', :ts2 - 280, :'n4',
			pg_temp.sign(:'k_secret', :ts2 - 280, :'n4', 'GET', '/', ''), 'GET', '/', ''),
		  :'k_id'::uuid, 'a request signed 280 s ago is inside the window');
SELECT cpub_admin.setting_set('signature_window', '"10 minutes"');
SELECT pg_temp.nonce() AS n5 \gset
SELECT is(cpub.invocation_key_check(:'fid', :'k_key_id', :ts2 - 400, :'n5',
			pg_temp.sign(:'k_secret', :ts2 - 400, :'n5', 'GET', '/', ''), 'GET', '/', ''),
		  :'k_id'::uuid, 'the window is a setting: at 10 minutes, 400 s ago is accepted');
SELECT cpub_admin.setting_set('signature_window', NULL);

-- Nonces: remembered within the window, forgotten after.
SELECT is((SELECT count(*)::int FROM cpub.invocation_nonces WHERE function_key_id = :'k_id'), 6,
		  'each accepted request left its nonce');
UPDATE cpub.invocation_nonces SET signed_at = now() - interval '1 hour' WHERE nonce = :'n1';
SELECT is(cpub.invocation_key_check(:'fid', :'k_key_id', :'ts2', :'n1',
			pg_temp.sign(:'k_secret', :'ts2', :'n1', 'GET', '/', ''), 'GET', '/', ''),
		  :'k_id'::uuid, 'a nonce whose request left the window may sign a new request');
UPDATE cpub.invocation_nonces SET signed_at = now() - interval '1 hour' WHERE nonce IN (:'n2', :'n3');
-- n2 and n3 aged by hand, n5 signed 400 s ago; n1 signed again, n4 280 s ago.
SELECT is(cpub.invocation_nonces_purge(), 3::bigint, 'purge forgets the nonces out of the window');
SELECT is((SELECT array_agg(nonce ORDER BY nonce) FROM cpub.invocation_nonces WHERE function_key_id = :'k_id'),
		  (SELECT array_agg(n ORDER BY n) FROM unnest(ARRAY[:'n1', :'n4', 'nonce-k-0123456789']) n),
		  'and keeps the others');

-- last_used_at: written at most once a minute.
UPDATE cpub.function_keys SET last_used_at = now() - interval '30 seconds' WHERE id = :'k_id';
SELECT pg_temp.nonce() AS n6, pg_temp.nonce() AS n7 \gset
SELECT cpub.invocation_key_check(:'fid', :'k_key_id', :'ts2', :'n6',
		pg_temp.sign(:'k_secret', :'ts2', :'n6', 'GET', '/', ''), 'GET', '/', '');
SELECT is((SELECT last_used_at FROM cpub.function_keys WHERE id = :'k_id'), now() - interval '30 seconds',
		  'a use within a minute of the last one does not write');
UPDATE cpub.function_keys SET last_used_at = now() - interval '2 minutes' WHERE id = :'k_id';
SELECT cpub.invocation_key_check(:'fid', :'k_key_id', :'ts2', :'n7',
		pg_temp.sign(:'k_secret', :'ts2', :'n7', 'GET', '/', ''), 'GET', '/', '');
SELECT ok((SELECT last_used_at > now() - interval '1 minute' FROM cpub.function_keys WHERE id = :'k_id'),
		  'a use a minute later does');

-- Roll: the old secret stops working at once.
SELECT * FROM cpub_api.function_key_roll('hello', :'k_key_id') \gset r_
SELECT is(:'r_key_id'::text, :'k_key_id', 'a roll keeps the key id');
SELECT isnt(:'r_secret'::text, :'k_secret', 'and gives a new secret');
SELECT pg_temp.nonce() AS n8 \gset
SELECT is(pg_temp.try(:ts2, :ts2, :'n8', :'n8', 'GET', 'GET', '/', '/', '', ''),
		  :'generic', 'the old secret is refused at once');
UPDATE req SET secret = :'r_secret';
SELECT is(pg_temp.try(:ts2, :ts2, :'n8', :'n8', 'GET', 'GET', '/', '/', '', ''), NULL,
		  'the new one is accepted');
SELECT ok((SELECT detail->>'key_id' = :'k_key_id' AND detail::text NOT LIKE '%' || right(:'r_secret', 43) || '%'
			 FROM cpub.audit_log WHERE action = 'function.key_roll'),
		  'a roll is audited without the secret');
SELECT throws_ok($$SELECT cpub_api.function_key_roll('hello', '0123456789abcdef')$$, 'P0002',
				 'invocation key "0123456789abcdef" not found', 'roll: an unknown key');

-- A key sealed under the old server key still verifies; rekey moves it.
UPDATE cpub.function_keys k
   SET enc_key_id = s.key_id, enc_nonce = s.nonce, enc_signing_key = s.ciphertext
  FROM cpub.secret_seal('key', :'fid', :'k_key_id', digest(:'r_secret', 'sha256'), :'old_key') s
 WHERE k.id = :'k_id';
SELECT pg_temp.nonce() AS n9 \gset
SELECT is(pg_temp.try(:ts2, :ts2, :'n9', :'n9', 'GET', 'GET', '/', '/', '', ''), NULL,
		  'a signing key sealed under the old server key verifies');
SELECT cpub.clear_identity();
SET LOCAL ROLE cpub_admin_viewer;
SELECT results_eq(format($$SELECT is_current, configured, env_vars, invocation_keys
							 FROM cpub_admin.secrets_status() WHERE key_id = %L$$, :'old_key'),
				  $$VALUES (false, true, 1::bigint, 1::bigint)$$,
				  'the status counts the records under the old key');
SELECT results_eq($$SELECT key_id, is_current FROM cpub_admin.secrets_status() LIMIT 1$$,
				  format($$VALUES (%L::text, true)$$, :'cur_key'), 'the current key comes first');
RESET ROLE;
SELECT config_generation AS gen_before_rekey FROM cpub.functions WHERE id = :'fid' \gset
SET LOCAL ROLE cpub_admin_full;
SELECT results_eq($$SELECT * FROM cpub_admin.secrets_rekey()$$,
				  format($$VALUES (%L::text, 1::bigint, 1::bigint)$$, :'cur_key'),
				  'rekey seals both again under the current key');
SELECT results_eq(format($$SELECT env_vars, invocation_keys FROM cpub_admin.secrets_status() WHERE key_id = %L$$,
						 :'old_key'),
				  $$VALUES (0::bigint, 0::bigint)$$, 'nothing is left under the old key');
SELECT results_eq($$SELECT env_vars, invocation_keys FROM cpub_admin.secrets_rekey()$$,
				  $$VALUES (0::bigint, 0::bigint)$$, 'a second rekey has nothing to do');
RESET ROLE;
SELECT is((SELECT value FROM cpub_worker.function_env(:'fid') WHERE name = 'OLD'), 'sealed-long-ago',
		  'the value is unchanged');
SELECT is((SELECT config_generation FROM cpub.functions WHERE id = :'fid'), :gen_before_rekey::bigint,
		  'and it is no new config generation: containers keep serving');
SELECT pg_temp.nonce() AS n10 \gset
SELECT is(pg_temp.try(:ts2, :ts2, :'n10', :'n10', 'GET', 'GET', '/', '/', '', ''), NULL,
		  'so is the invocation key');
SELECT ok((SELECT actor_kind = 'db_role' AND target_id = :'cur_key' AND detail->>'env_vars' = '1'
			 FROM cpub.audit_log WHERE action = 'secrets.rekey' ORDER BY id LIMIT 1),
		  'rekey is audited');

-- Revoked and expired keys: the detail says so only to the secret's holder.
SELECT pg_temp.act('o@example.com');
SELECT results_eq($$SELECT status FROM cpub_api.function_key_revoke('hello', (SELECT kid FROM req))$$,
				  ARRAY['revoked'], 'revoke');
SELECT pg_temp.nonce() AS n11 \gset
SELECT is(pg_temp.try(:ts2, :ts2, :'n11', :'n11', 'GET', 'GET', '/', '/', '', ''),
		  '28Q06 The key was revoked.', 'a revoked key is refused');
SELECT is(pg_temp.try(:ts2, :ts2, :'n11', :'n11', 'GET', 'GET', '/', '/', '', '', secret => :'k_secret'),
		  :'generic', 'a wrong signature with a revoked key learns nothing about it');
SELECT throws_ok(format($$SELECT cpub_api.function_key_revoke('hello', %L)$$, :'k_key_id'), '23514',
				 format('invocation key "%s" is revoked already', :'k_key_id'), 'revoking twice');
SELECT throws_ok(format($$SELECT cpub_api.function_key_roll('hello', %L)$$, :'k_key_id'), '23514',
				 format('invocation key "%s" is revoked', :'k_key_id'), 'a revoked key cannot be rolled');
SELECT throws_ok($$SELECT cpub_api.function_key_revoke('hello', '0123456789abcdef')$$, 'P0002', NULL,
				 'revoke: an unknown key');
SELECT throws_ok(format($$SELECT cpub_api.function_key_revoke('hello', %L)$$, :'ok_key'), 'P0002', NULL,
				 'revoke: another function''s key');
SELECT ok((SELECT detail->>'key_id' = :'k_key_id' FROM cpub.audit_log WHERE action = 'function.key_revoke'),
		  'revoke is audited');
SELECT key_id AS e_key, secret AS e_secret, id AS e_id FROM cpub_api.function_key_create('hello') \gset
UPDATE cpub.function_keys SET expires_at = now() - interval '1 minute' WHERE id = :'e_id';
UPDATE req SET kid = :'e_key', secret = :'e_secret';
SELECT pg_temp.nonce() AS n12 \gset
SELECT matches(pg_temp.try(:ts2, :ts2, :'n12', :'n12', 'GET', 'GET', '/', '/', '', ''),
			   '^28Q06 The key expired at ', 'an expired key is refused');
SELECT results_eq(format($$SELECT status FROM cpub_api.function_key_list('hello') WHERE key_id = %L$$, :'e_key'),
				  ARRAY['expired'], 'and listed as expired');
SELECT throws_ok(format($$SELECT cpub_api.function_key_roll('hello', %L)$$, :'e_key'), '23514', NULL,
				 'an expired key cannot be rolled');

-- At most 20 active keys per function.
SELECT lives_ok($$SELECT count(cpub_api.function_key_create('other')) FROM generate_series(1, 20)$$,
				'20 active keys');
SELECT throws_ok($$SELECT cpub_api.function_key_create('other')$$, '54Q02',
				 'function "other" has too many active invocation keys', 'the 21st is refused');
SELECT lives_ok($$SELECT cpub_api.function_key_revoke('other',
					(SELECT key_id FROM cpub_api.function_key_list('other') LIMIT 1))$$, 'revoke one');
SELECT lives_ok($$SELECT cpub_api.function_key_create('other')$$, 'and there is room again');
SELECT is((SELECT count(*)::int FROM cpub_api.function_key_list('other', "limit" => 10)), 10, 'a page of 10');
SELECT is((SELECT count(*)::int FROM cpub_api.function_key_list('other',
			after => (SELECT id FROM cpub_api.function_key_list('other', "limit" => 10) OFFSET 9))), 11,
		  'the next page has the other 11');

-- Deleting a function drops its secrets.
SELECT lives_ok($$SELECT cpub_api.function_delete('other')$$, 'delete a function');
SELECT is((SELECT count(*)::int FROM cpub.function_env WHERE function_id = :'gid')
		  + (SELECT count(*)::int FROM cpub.function_keys WHERE function_id = :'gid'), 0,
		  'its variables and keys are gone');
SELECT throws_ok(format($$SELECT * FROM cpub_worker.function_env(%L)$$, :'gid'), 'P0002', NULL,
				 'the worker API: a deleted function');

SELECT * FROM finish();
ROLLBACK;
