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
