-- sql/50_audit.sql: reading the audit log (cpub.audit_log, written by
-- cpub.audit() in 00_base.sql).  Newest first, paged by id.

-- cpub_admin.audit_log(...): audit records, newest first, matching every
-- filter given:
--   since, until     at >= since, at < until
--   actor_user_id    the developer who acted
--   actor_name       exactly, e.g. an email or a database role
--   action           exactly ('organization.create'), or by prefix when it
--                    ends in '*' ('organization.*', 'early_access.*')
--   target_kind, target_id  exactly
--   after            the id of the last record of the previous page
--   limit            the page size, 1 to 500 (22023 otherwise)
-- 22023 when until is not after since.  The query is built from the filters
-- given, so each one can use its index.
CREATE FUNCTION cpub_admin.audit_log(since timestamptz DEFAULT NULL,
									 until timestamptz DEFAULT NULL,
									 actor_user_id uuid DEFAULT NULL,
									 actor_name text DEFAULT NULL,
									 action text DEFAULT NULL,
									 target_kind text DEFAULT NULL,
									 target_id text DEFAULT NULL,
									 after bigint DEFAULT NULL,
									 "limit" integer DEFAULT 50)
	RETURNS SETOF cpub.audit_log
	LANGUAGE plpgsql STABLE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	n integer := cpub.check_page_limit(audit_log."limit");
	conds text[] := ARRAY['true'];
	act text := audit_log.action;
	prefix text;
BEGIN
	IF audit_log.since IS NOT NULL AND audit_log.until IS NOT NULL
	   AND audit_log.until <= audit_log.since THEN
		RAISE EXCEPTION 'until must be after since'
			USING ERRCODE = '22023',
				  DETAIL = pg_catalog.format('Got since %s and until %s.',
											 audit_log.since, audit_log.until);
	END IF;

	-- $1 .. $9 below are the USING arguments, in this order.
	IF audit_log.since IS NOT NULL THEN
		conds := conds || 'a.at >= $1'::text;
	END IF;
	IF audit_log.until IS NOT NULL THEN
		conds := conds || 'a.at < $2'::text;
	END IF;
	IF audit_log.actor_user_id IS NOT NULL THEN
		conds := conds || 'a.actor_user_id = $3'::text;
	END IF;
	IF audit_log.actor_name IS NOT NULL THEN
		conds := conds || 'a.actor_name = $4'::text;
	END IF;
	IF act LIKE '%*' THEN
		-- A prefix: escape LIKE's wildcards ('_' is common in actions).
		prefix := left(act, -1);
		act := replace(replace(replace(prefix, '\', '\\'), '%', '\%'), '_', '\_')
			   || '%';
		conds := conds || 'a.action LIKE $5'::text;
	ELSIF act IS NOT NULL THEN
		conds := conds || 'a.action = $5'::text;
	END IF;
	IF audit_log.target_kind IS NOT NULL THEN
		conds := conds || 'a.target_kind = $6'::text;
	END IF;
	IF audit_log.target_id IS NOT NULL THEN
		conds := conds || 'a.target_id = $7'::text;
	END IF;
	IF audit_log.after IS NOT NULL THEN
		conds := conds || 'a.id < $8'::text;
	END IF;

	RETURN QUERY EXECUTE
		'SELECT a.* FROM cpub.audit_log a WHERE '
		|| array_to_string(conds, ' AND ')
		|| ' ORDER BY a.id DESC LIMIT $9'
		USING audit_log.since, audit_log.until, audit_log.actor_user_id,
			  audit_log.actor_name, act, audit_log.target_kind,
			  audit_log.target_id, audit_log.after, n;
END
$$;
GRANT EXECUTE ON FUNCTION cpub_admin.audit_log(timestamptz, timestamptz, uuid,
											   text, text, text, text, bigint,
											   integer)
	TO cpub_admin_viewer;

-- cpub_api.my_audit_log(after, limit): what the caller did, newest first.
-- after: the id of the last record of the previous page.
CREATE FUNCTION cpub_api.my_audit_log(after bigint DEFAULT NULL,
									  "limit" integer DEFAULT 50)
	RETURNS TABLE (id bigint, at timestamptz, action text, target_kind text,
				   target_id text, detail jsonb)
	LANGUAGE plpgsql STABLE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	me uuid := cpub.require_user();
	n integer := cpub.check_page_limit(my_audit_log."limit");
BEGIN
	RETURN QUERY
	SELECT a.id, a.at, a.action, a.target_kind, a.target_id, a.detail
	  FROM cpub.audit_log a
	 WHERE a.actor_user_id = me
	   AND a.id < coalesce(my_audit_log.after, 9223372036854775807)
	 ORDER BY a.id DESC
	 LIMIT n;
END
$$;
GRANT EXECUTE ON FUNCTION cpub_api.my_audit_log(bigint, integer) TO cpub_developer;
