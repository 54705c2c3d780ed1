-- sql/70_executions.sql: invocations and their executions.
--
-- An invocation checks the caller (a member of the function's owner, a
-- signed invocation key, or anyone for a public function) and the owner's
-- tier (monthly invocations, requests per second), then records an
-- execution and enqueues its run job in the same transaction.  A worker
-- runs it and writes the response, logs and figures back, and the
-- completion is announced with NOTIFY cpub_executions ('ID STATUS
-- FUNCTION_ID') so that a waiting HTTP request finds its result
-- (cpub_api.invocation_result) and a follower of the function's logs wakes
-- up.  Executions are kept for a configurable period, also after their
-- function is deleted.

INSERT INTO cpub.setting_defaults (name, kind, value, description) VALUES
	('execution_retention', 'interval', '"30 days"',
	 'How long executions (and deleted functions) are kept before maintenance purges them.');

CREATE TABLE cpub.executions (
	id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	-- Creation order, for keyset paging and following logs.
	seq bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
	function_id uuid NOT NULL REFERENCES cpub.functions (id) ON DELETE CASCADE,
	owner_id uuid NOT NULL,
	version_id uuid REFERENCES cpub.function_versions (id) ON DELETE SET NULL,
	version integer,
	trigger text NOT NULL CHECK (trigger IN ('sync', 'async')),
	status text NOT NULL DEFAULT 'queued'
		CHECK (status IN ('queued', 'running', 'succeeded', 'failed')),
	caller_user_id uuid,
	caller_key_id uuid,
	request_method text NOT NULL,
	request_path text NOT NULL,
	request_query text NOT NULL DEFAULT '',
	request_headers jsonb NOT NULL DEFAULT '{}',
	request_body bytea NOT NULL DEFAULT '',
	response_status integer,
	response_headers jsonb,
	response_body bytea,
	-- The response body when it is JSON (the seed's result column).
	result jsonb,
	logs text NOT NULL DEFAULT '',
	error_kind text CHECK (error_kind IN ('timeout', 'crash', 'out_of_memory',
										  'bad_response', 'rejected')),
	error_message text,
	cold_start boolean,
	memory_peak_kb bigint,
	duration_ms double precision,
	worker_id uuid,
	job_id bigint,
	created_at timestamptz NOT NULL DEFAULT now(),
	started_at timestamptz,
	completed_at timestamptz,
	CHECK ((status = 'failed') = (error_kind IS NOT NULL))
);
CREATE INDEX executions_function ON cpub.executions (function_id, seq);
CREATE INDEX executions_function_time ON cpub.executions (function_id, created_at);
CREATE INDEX executions_owner_time ON cpub.executions (owner_id, created_at);
CREATE INDEX executions_created ON cpub.executions (created_at);
CREATE INDEX executions_unfinished ON cpub.executions (created_at)
	WHERE status IN ('queued', 'running');
-- Finished executions by completion time, for cpub_admin.execution_counts
-- (scraped by /metrics) and cpub_admin.platform_load (invocations per
-- bucket and their latency, sql/75_observability.sql).  Partial: an
-- execution gets its one entry when it finishes, none while queued or
-- running.  It carries status and duration_ms so that both read the index
-- alone (an index-only scan) and never the wide rows, bodies and logs,
-- of every execution in their period.
CREATE INDEX executions_completed ON cpub.executions (completed_at)
	INCLUDE (status, duration_ms)
	WHERE completed_at IS NOT NULL;

ALTER TABLE cpub.executions ENABLE ROW LEVEL SECURITY;
CREATE POLICY executions_owner ON cpub.executions
	USING (owner_id = cpub.current_user_id()
		   OR owner_id IN (SELECT cpub.organization_ids_of(cpub.current_user_id())));
SELECT pg_catalog.pg_extension_config_dump('cpub.executions', '');

--
-- Types of results.
--
CREATE TYPE cpub_api.invocation AS (
	execution_id uuid,
	function_id uuid,
	version integer,
	trigger text,
	timeout_seconds integer		-- how long a synchronous caller should wait
);

-- What the caller of an invocation reads of its outcome
-- (cpub_api.invocation_result): the response, no request and no logs.
CREATE TYPE cpub_api.invocation_outcome AS (
	execution_id uuid,
	function_id uuid,
	status text,				-- queued, running, succeeded or failed
	response_status integer,
	response_headers jsonb,
	response_body bytea,
	error_kind text,
	error_message text,
	duration_ms double precision,
	cold_start boolean,
	completed_at timestamptz
);

CREATE TYPE cpub_api.execution_summary AS (
	seq bigint,
	id uuid,
	function_id uuid,
	function_name text,
	version integer,
	trigger text,
	status text,
	request_method text,
	request_path text,
	response_status integer,
	error_kind text,
	error_message text,
	duration_ms double precision,
	memory_peak_kb bigint,
	cold_start boolean,
	created_at timestamptz,
	started_at timestamptz,
	completed_at timestamptz
);

CREATE TYPE cpub_api.execution_info AS (
	seq bigint,
	id uuid,
	function_id uuid,
	function_name text,
	version integer,
	trigger text,
	status text,
	request_method text,
	request_path text,
	request_query text,
	request_headers jsonb,
	request_body bytea,
	response_status integer,
	response_headers jsonb,
	response_body bytea,
	result jsonb,
	logs text,
	error_kind text,
	error_message text,
	duration_ms double precision,
	memory_peak_kb bigint,
	cold_start boolean,
	created_at timestamptz,
	started_at timestamptz,
	completed_at timestamptz
);

CREATE TYPE cpub_api.execution_metrics AS (
	since timestamptz,
	until timestamptz,
	invocations bigint,
	errors bigint,
	error_rate double precision,	-- errors / completed, NULL with none
	p50_ms double precision,
	p95_ms double precision,
	p99_ms double precision,
	cold_starts bigint
);

CREATE TYPE cpub_api.metrics_bucket AS (
	bucket timestamptz,
	invocations bigint,
	errors bigint,
	error_rate double precision,
	p50_ms double precision,
	p95_ms double precision,
	p99_ms double precision
);

--
-- Invocation.
--

-- cpub.invoke_start(f, caller_key_id, async, method, path, query, headers,
-- body): the part of an invocation after the caller is let in: the tier's
-- quota and rate, the execution and its run job.
--   55Q04  the function has no ready version yet
--   54Q04  the owner used up its tier's monthly invocations
--   54Q05  the owner is over its tier's requests per second
-- Headers named X-Cpub-* (the platform's own) are not passed on.
CREATE FUNCTION cpub.invoke_start(f cpub.functions, caller_key_id uuid,
								  async boolean, method text, path text,
								  query text, headers jsonb, body bytea)
	RETURNS cpub_api.invocation
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	t cpub.tiers := cpub.function_tier(invoke_start.f);
	u cpub.owner_usage;
	v cpub.function_versions;
	now_ timestamptz := pg_catalog.clock_timestamp();
	bucket double precision;
	eid uuid;
	jid bigint;
BEGIN
	IF invoke_start.method IS NULL OR invoke_start.method !~ '^[A-Z]{1,16}$' THEN
		RAISE EXCEPTION 'invalid method "%"', coalesce(invoke_start.method, 'null')
			USING ERRCODE = '22023', DETAIL = 'A method is 1 to 16 capital letters.';
	END IF;
	IF invoke_start.path IS NULL OR pg_catalog.left(invoke_start.path, 1) <> '/' THEN
		RAISE EXCEPTION 'invalid path "%"', coalesce(invoke_start.path, 'null')
			USING ERRCODE = '22023', DETAIL = 'A path starts with "/".';
	END IF;
	IF invoke_start.headers IS NOT NULL
	   AND pg_catalog.jsonb_typeof(invoke_start.headers) <> 'object' THEN
		RAISE EXCEPTION 'headers must be a JSON object' USING ERRCODE = '22023';
	END IF;
	SELECT v2.* INTO v FROM cpub.function_versions v2
	 WHERE v2.id = invoke_start.f.active_version_id;
	IF invoke_start.f.status <> 'active' OR v.id IS NULL THEN
		RAISE EXCEPTION 'function "%" has no ready version', invoke_start.f.name
			USING ERRCODE = '55Q04',
				  DETAIL = 'Nothing has been deployed and built successfully yet.',
				  HINT = 'Deploy it and wait for the build (cpub_api.function_versions).';
	END IF;

	INSERT INTO cpub.executions AS e (function_id, owner_id, version_id, version,
		trigger, caller_user_id, caller_key_id, request_method, request_path,
		request_query, request_headers, request_body)
	VALUES (invoke_start.f.id, invoke_start.f.owner_id, v.id, v.version,
			CASE WHEN invoke_start.async THEN 'async' ELSE 'sync' END,
			cpub.current_user_id(), invoke_start.caller_key_id,
			invoke_start.method, invoke_start.path,
			coalesce(invoke_start.query, ''),
			coalesce((SELECT pg_catalog.jsonb_object_agg(h.key, h.value)
						FROM pg_catalog.jsonb_each(invoke_start.headers) h
					   WHERE pg_catalog.lower(h.key) NOT LIKE 'x-cpub-%'), '{}'),
			coalesce(invoke_start.body, ''))
	RETURNING e.id INTO eid;
	jid := cpub.job_enqueue('run', pg_catalog.jsonb_build_object('execution_id', eid),
							100, NULL, 3);
	UPDATE cpub.executions e SET job_id = jid WHERE e.id = eid;

	-- The owner's quota and rate, under its usage row's lock: last, so
	-- that the one row every invocation of this owner updates stays
	-- locked only until the commit (a refusal rolls the rest back).
	u := cpub.owner_usage_lock(invoke_start.f.owner_id);
	IF u.month_invocations >= t.monthly_invocations THEN
		RAISE EXCEPTION 'monthly invocations of tier "%" used up', t.name
			USING ERRCODE = '54Q04',
				  DETAIL = pg_catalog.format('Tier "%s" allows %s invocations a month.',
											 t.name, t.monthly_invocations),
				  HINT = 'The count starts again on the first of the month (UTC); an admin can assign another tier.';
	END IF;
	-- A token bucket of one second's worth of requests.
	bucket := least(t.requests_per_second::double precision,
					u.tokens + t.requests_per_second
						* greatest(0, extract(epoch FROM now_ - u.refilled_at)));
	IF bucket < 1 THEN
		RAISE EXCEPTION 'more than % requests per second', t.requests_per_second
			USING ERRCODE = '54Q05',
				  DETAIL = pg_catalog.format('Tier "%s" allows %s requests per second.',
											 t.name, t.requests_per_second),
				  HINT = pg_catalog.format('Retry after %s seconds.',
						 pg_catalog.ceil((1 - bucket) / t.requests_per_second * 1000) / 1000);
	END IF;
	UPDATE cpub.owner_usage u2
	   SET month_invocations = u2.month_invocations + 1,
		   tokens = bucket - 1, refilled_at = now_
	 WHERE u2.owner_id = invoke_start.f.owner_id;

	-- A synchronous caller waits for the execution's outcome, whose commit
	-- (durable) makes this one durable too; until then a crash loses
	-- nothing anyone was told about.  So this commit need not wait for the
	-- disk, and the lock above (and NOTIFY's, which serializes the commits
	-- of every transaction that notifies) is held that much shorter.  An
	-- asynchronous invocation is durable at once: its 202 promises it.
	IF NOT invoke_start.async THEN
		PERFORM pg_catalog.set_config('synchronous_commit', 'off', true);
	END IF;
	RETURN ROW(eid, invoke_start.f.id, v.version,
			   CASE WHEN invoke_start.async THEN 'async' ELSE 'sync' END,
			   least(invoke_start.f.timeout_seconds, t.max_timeout_seconds));
END
$$;

-- cpub_api.invoke(owner, function, method, path, query, headers, body,
-- async, key_id, timestamp, nonce, signature): an invocation through the
-- function's public address /fn/OWNER/FUNCTION/PATH, where OWNER is an
-- organization's name or a user's id.  Who may call:
--   - a member of the owner (a session: the user, an organization member),
--     whatever the visibility;
--   - anyone, for a public function;
--   - a request signed with one of the function's invocation keys
--     (docs/invocation-keys.md), for a public or key-protected function.
-- A private function does not exist for anyone else (P0002); a
-- key-protected one without a valid signature is 28Q06 (28Q07, 28Q08 for
-- stale and replayed signatures).  target is the request target the
-- client signed, as sent (the HTTP front passes it); without it,
-- /fn/OWNER/FUNCTION[PATH][?QUERY].  Then as cpub.invoke_start.
CREATE FUNCTION cpub_api.invoke(owner text, function text,
								method text DEFAULT 'POST',
								path text DEFAULT '/',
								query text DEFAULT '',
								headers jsonb DEFAULT '{}',
								body bytea DEFAULT '',
								async boolean DEFAULT false,
								key_id text DEFAULT NULL,
								"timestamp" bigint DEFAULT NULL,
								nonce text DEFAULT NULL,
								signature text DEFAULT NULL,
								target text DEFAULT NULL)
	RETURNS cpub_api.invocation
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	me uuid := cpub.current_user_id();
	f cpub.functions;
	member boolean := false;
	key uuid;
BEGIN
	IF me IS NOT NULL AND cpub.must_change_password() THEN
		PERFORM cpub.require_user();	-- 42501 with its hint
	END IF;
	IF invoke.owner ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' THEN
		SELECT f2.* INTO f FROM cpub.functions f2
		 WHERE f2.owner_user_id = invoke.owner::uuid AND f2.name = invoke.function
		   AND f2.deleted_at IS NULL;
	ELSE
		SELECT f2.* INTO f FROM cpub.functions f2
		  JOIN cpub.organizations o ON o.id = f2.owner_organization_id
		 WHERE o.name = invoke.owner AND f2.name = invoke.function
		   AND f2.deleted_at IS NULL;
	END IF;
	IF f.id IS NOT NULL AND me IS NOT NULL THEN
		-- IS NOT DISTINCT FROM: an organization's function has no owning
		-- user, and NULL here would let a non-member past the checks below.
		member := f.owner_user_id IS NOT DISTINCT FROM me
			OR EXISTS (SELECT FROM cpub.organization_members m
						WHERE m.organization_id = f.owner_organization_id
						  AND m.user_id = me);
	END IF;
	IF f.id IS NULL OR (f.visibility = 'private' AND NOT member) THEN
		RAISE EXCEPTION 'function "%/%" not found', invoke.owner, invoke.function
			USING ERRCODE = 'P0002';
	END IF;
	IF invoke.key_id IS NOT NULL AND NOT member THEN
		-- The signature covers the request target as the client sent it.
		key := cpub.invocation_key_check(f.id, invoke.key_id, invoke."timestamp",
										 invoke.nonce, invoke.signature,
										 invoke.method,
										 coalesce(invoke.target,
											pg_catalog.format('/fn/%s/%s%s', invoke.owner,
															  invoke.function,
															  CASE WHEN invoke.path = '/' THEN ''
																   ELSE invoke.path END)
											|| CASE WHEN coalesce(invoke.query, '') = '' THEN ''
													ELSE '?' || invoke.query END),
										 invoke.body);
	ELSIF f.visibility = 'key' AND NOT member THEN
		RAISE EXCEPTION 'function "%/%" needs a signed invocation key',
			invoke.owner, invoke.function
			USING ERRCODE = '28Q06',
				  HINT = 'Sign the request with one of the function''s keys (docs/invocation-keys.md).';
	END IF;
	RETURN cpub.invoke_start(f, key, invoke.async, invoke.method, invoke.path,
							 invoke.query, invoke.headers, invoke.body);
END
$$;
GRANT EXECUTE ON FUNCTION cpub_api.invoke(text, text, text, text, text, jsonb,
										  bytea, boolean, text, bigint, text, text,
										  text)
	TO cpub_anon, cpub_developer;

-- cpub_api.function_invoke(function, method, path, query, headers, body,
-- async): a member's invocation of a function by id, NAME or ORG/NAME
-- (the CLI's form), whatever its visibility.  Then as cpub.invoke_start.
CREATE FUNCTION cpub_api.function_invoke(function text,
										 method text DEFAULT 'POST',
										 path text DEFAULT '/',
										 query text DEFAULT '',
										 headers jsonb DEFAULT '{}',
										 body bytea DEFAULT '',
										 async boolean DEFAULT false)
	RETURNS cpub_api.invocation
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
BEGIN
	RETURN cpub.invoke_start(cpub.function_ref(function_invoke.function), NULL,
							 function_invoke.async, function_invoke.method,
							 function_invoke.path, function_invoke.query,
							 function_invoke.headers, function_invoke.body);
END
$$;
GRANT EXECUTE ON FUNCTION cpub_api.function_invoke(text, text, text, text, jsonb,
												   bytea, boolean)
	TO cpub_developer;

-- cpub_api.invocation_result(execution_id): the outcome of an invocation
-- for its caller, who may be anonymous (a public function, or a request
-- signed with an invocation key): the status (queued and running too, so
-- that a caller can poll), and once finished the function's response or
-- the error, the duration and whether it was a cold start.  P0002 for an
-- unknown execution.
--
-- The execution id is the capability, like a claim ticket.  It is a
-- version 4 uuid from gen_random_uuid (122 bits from the operating
-- system's strong random source), so it cannot be guessed, and invoke and
-- function_invoke return it to the caller that made the invocation, who
-- keeps it to wait for the result (the HTTP front, for a synchronous call)
-- or to come back for it (an asynchronous one).  Holding it is taken as
-- proof of having made that invocation: no session is needed.  Besides
-- that caller, ids are known only to those who may read the execution in
-- full anyway: the owner's members (execution_list), admins, and the
-- platform's own database logins (the run job's payload, LISTEN
-- cpub_executions; developers never connect to the database).  So the
-- ticket opens only what its holder is owed: the outcome and response of
-- an execution made by an invocation (triggers sync and async), nothing
-- else.  Not the request (its headers and body), not the logs, the caller
-- or the version: those are the owner's, through execution_get.
CREATE FUNCTION cpub_api.invocation_result(execution_id uuid)
	RETURNS cpub_api.invocation_outcome
	LANGUAGE plpgsql STABLE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	r cpub_api.invocation_outcome;
BEGIN
	SELECT e.id, e.function_id, e.status, e.response_status, e.response_headers,
		   e.response_body, e.error_kind, e.error_message, e.duration_ms,
		   e.cold_start, e.completed_at
	  INTO r
	  FROM cpub.executions e
	 WHERE e.id = invocation_result.execution_id
	   AND e.trigger IN ('sync', 'async');
	IF r.execution_id IS NULL THEN
		RAISE EXCEPTION 'execution % not found',
			coalesce(invocation_result.execution_id::text, 'null')
			USING ERRCODE = 'P0002',
				  HINT = 'An execution id comes from cpub_api.invoke or cpub_api.function_invoke; executions are kept for the execution_retention setting.';
	END IF;
	RETURN r;
END
$$;
GRANT EXECUTE ON FUNCTION cpub_api.invocation_result(uuid) TO cpub_anon, cpub_developer;

--
-- Reading executions.
--

-- cpub.execution_scope(function, organization): the executions a developer
-- asks about: one function's (function given: id, NAME or ORG/NAME, live),
-- or every function's of an organization they are a member of, or of their
-- own (neither given; this includes deleted functions' executions until
-- the retention period ends).  Returns (function_id, owner_id), one NULL.
CREATE FUNCTION cpub.execution_scope(function text, organization text,
									 OUT function_id uuid, OUT owner_id uuid)
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	me uuid := cpub.require_user();
BEGIN
	IF execution_scope.function IS NOT NULL THEN
		execution_scope.function_id := (cpub.function_ref(execution_scope.function)).id;
	ELSIF execution_scope.organization IS NOT NULL THEN
		execution_scope.owner_id :=
			(cpub.organization_of_member(execution_scope.organization, me)).organization_id;
	ELSE
		execution_scope.owner_id := me;
	END IF;
END
$$;

-- cpub.may_read_owner(owner_id): whether the session's user is that owner
-- or a member of that organization.
CREATE FUNCTION cpub.may_read_owner(owner_id uuid)
	RETURNS boolean
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
	SELECT may_read_owner.owner_id = cpub.current_user_id()
		OR EXISTS (SELECT FROM cpub.organization_members m
					WHERE m.organization_id = may_read_owner.owner_id
					  AND m.user_id = cpub.current_user_id())
$$;

-- cpub_api.execution_get(id): one execution with its request, response and
-- logs; P0002 unless the caller may read its owner's executions.
CREATE FUNCTION cpub_api.execution_get(id uuid)
	RETURNS cpub_api.execution_info
	LANGUAGE plpgsql STABLE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	me uuid := cpub.require_user();
	r cpub_api.execution_info;
BEGIN
	SELECT e.seq, e.id, e.function_id, f.name, e.version, e.trigger, e.status,
		   e.request_method, e.request_path, e.request_query, e.request_headers,
		   e.request_body, e.response_status, e.response_headers,
		   e.response_body, e.result, e.logs, e.error_kind, e.error_message,
		   e.duration_ms, e.memory_peak_kb, e.cold_start, e.created_at,
		   e.started_at, e.completed_at
	  INTO r
	  FROM cpub.executions e
	  JOIN cpub.functions f ON f.id = e.function_id
	 WHERE e.id = execution_get.id AND cpub.may_read_owner(e.owner_id);
	IF r.id IS NULL THEN
		RAISE EXCEPTION 'execution % not found', coalesce(execution_get.id::text, 'null')
			USING ERRCODE = 'P0002';
	END IF;
	RETURN r;
END
$$;
GRANT EXECUTE ON FUNCTION cpub_api.execution_get(uuid) TO cpub_developer;

-- cpub.check_execution_status(status): status unchanged; 22023 unless NULL
-- or one of the four.
CREATE FUNCTION cpub.check_execution_status(status text)
	RETURNS text
	LANGUAGE plpgsql IMMUTABLE
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
BEGIN
	IF check_execution_status.status IS NOT NULL
	   AND check_execution_status.status NOT IN ('queued', 'running', 'succeeded', 'failed') THEN
		RAISE EXCEPTION 'invalid execution status "%"', check_execution_status.status
			USING ERRCODE = '22023',
				  DETAIL = 'A status is queued, running, succeeded or failed.';
	END IF;
	RETURN check_execution_status.status;
END
$$;

-- cpub.execution_rows(function_id, owner_id, status, error_kind, since,
-- after, limit): the one query behind the developer and admin execution
-- lists: newest first, filtered by whatever is not NULL; after is the seq of
-- the last row of the previous page.  22023 for a bad status or page size.
-- Planned for the filters of each call (plan_cache_mode): a generic plan
-- cannot tell which filters are NULL, so it picks one index for all of them
-- (e.g. every tenant's executions by seq, filtered by owner).
CREATE FUNCTION cpub.execution_rows(function_id uuid, owner_id uuid, status text,
									error_kind text, since timestamptz,
									after bigint, "limit" integer)
	RETURNS SETOF cpub_api.execution_summary
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, cpub, pg_temp
	SET plan_cache_mode = force_custom_plan
	AS $$
BEGIN
	PERFORM cpub.check_page_limit(execution_rows."limit");
	PERFORM cpub.check_execution_status(execution_rows.status);
	RETURN QUERY
		SELECT e.seq, e.id, e.function_id, f.name, e.version, e.trigger, e.status,
			   e.request_method, e.request_path, e.response_status, e.error_kind,
			   e.error_message, e.duration_ms, e.memory_peak_kb, e.cold_start,
			   e.created_at, e.started_at, e.completed_at
		  FROM cpub.executions e
		  JOIN cpub.functions f ON f.id = e.function_id
		 WHERE (execution_rows.function_id IS NULL OR e.function_id = execution_rows.function_id)
		   AND (execution_rows.owner_id IS NULL OR e.owner_id = execution_rows.owner_id)
		   AND (execution_rows.status IS NULL OR e.status = execution_rows.status)
		   AND (execution_rows.error_kind IS NULL OR e.error_kind = execution_rows.error_kind)
		   AND (execution_rows.since IS NULL OR e.created_at >= execution_rows.since)
		   AND (execution_rows.after IS NULL OR e.seq < execution_rows.after)
		 ORDER BY e.seq DESC
		 LIMIT execution_rows."limit";
END
$$;

-- cpub_api.execution_list(function, organization, status, since, after,
-- limit): executions newest first, without bodies and logs (scope: see
-- cpub.execution_scope); after: the seq of the last row of the previous
-- page.
CREATE FUNCTION cpub_api.execution_list(function text DEFAULT NULL,
										organization text DEFAULT NULL,
										status text DEFAULT NULL,
										since timestamptz DEFAULT NULL,
										after bigint DEFAULT NULL,
										"limit" integer DEFAULT 50)
	RETURNS SETOF cpub_api.execution_summary
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	s record := cpub.execution_scope(execution_list.function,
									 execution_list.organization);
BEGIN
	RETURN QUERY
		SELECT * FROM cpub.execution_rows(s.function_id, s.owner_id,
			execution_list.status, NULL, execution_list.since,
			execution_list.after, execution_list."limit");
END
$$;
GRANT EXECUTE ON FUNCTION cpub_api.execution_list(text, text, text, timestamptz,
												  bigint, integer)
	TO cpub_developer;

-- cpub_api.function_logs(function, since, after, limit): finished
-- executions' logs oldest first, for reading and following: after is the
-- seq of the last row seen.  An execution still running is not returned
-- and nothing after it either, so a follower that asks again with the last
-- seq it saw misses nothing.  The seq bounds are written as ranges (seq is
-- an identity from 1: 0 and the largest bigint bound nothing), which a
-- generic plan can use as index conditions on executions_function: such a
-- plan is good for every call, so PL/pgSQL keeps it instead of planning
-- each call again.
CREATE FUNCTION cpub_api.function_logs(function text,
									   since timestamptz DEFAULT NULL,
									   after bigint DEFAULT NULL,
									   "limit" integer DEFAULT 100)
	RETURNS TABLE (seq bigint, execution_id uuid, version integer,
				   status text, error_kind text, response_status integer,
				   duration_ms double precision, created_at timestamptz,
				   completed_at timestamptz, logs text)
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	f cpub.functions := cpub.function_ref(function_logs.function);
	first_unfinished bigint;
BEGIN
	PERFORM cpub.check_page_limit(function_logs."limit");
	SELECT min(e.seq) INTO first_unfinished FROM cpub.executions e
	 WHERE e.function_id = f.id AND e.status IN ('queued', 'running')
	   AND e.seq > coalesce(function_logs.after, 0);
	RETURN QUERY
		SELECT e.seq, e.id, e.version, e.status, e.error_kind, e.response_status,
			   e.duration_ms, e.created_at, e.completed_at, e.logs
		  FROM cpub.executions e
		 WHERE e.function_id = f.id
		   AND e.seq > coalesce(function_logs.after, 0)
		   AND (function_logs.since IS NULL OR e.created_at >= function_logs.since)
		   AND e.seq < coalesce(first_unfinished, 9223372036854775807)
		 ORDER BY e.seq
		 LIMIT function_logs."limit";
END
$$;
GRANT EXECUTE ON FUNCTION cpub_api.function_logs(text, timestamptz, bigint, integer)
	TO cpub_developer;

--
-- Metrics.
--

-- cpub.check_period(since, until, bucket): 22023 unless since < until and,
-- with a bucket ('hour' or 'day'), at most 1000 buckets.  STABLE: buckets
-- follow the session's time zone.
CREATE FUNCTION cpub.check_period(since timestamptz, until timestamptz,
								  bucket text DEFAULT NULL)
	RETURNS void
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
BEGIN
	IF check_period.since IS NULL OR check_period.until IS NULL
	   OR check_period.since >= check_period.until THEN
		RAISE EXCEPTION 'since must be before until'
			USING ERRCODE = '22023',
				  DETAIL = pg_catalog.format('Got %s to %s.', check_period.since,
											 check_period.until);
	END IF;
	IF check_period.bucket IS NOT NULL THEN
		IF check_period.bucket NOT IN ('hour', 'day') THEN
			RAISE EXCEPTION 'invalid bucket "%"', check_period.bucket
				USING ERRCODE = '22023', DETAIL = 'A bucket is hour or day.';
		END IF;
		-- The buckets the period touches, as metrics_series makes them: a
		-- period off the boundaries touches one more than its length.
		-- Rounded, as a day across a change of summer time is 23 or 25 hours.
		IF pg_catalog.round(extract(epoch FROM
				pg_catalog.date_trunc(check_period.bucket,
									  check_period.until - interval '1 microsecond')
				- pg_catalog.date_trunc(check_period.bucket, check_period.since))
			/ extract(epoch FROM ('1 ' || check_period.bucket)::interval)) + 1 > 1000 THEN
			RAISE EXCEPTION 'more than 1000 buckets'
				USING ERRCODE = '22023',
					  HINT = 'Use a shorter period or day buckets.';
		END IF;
	END IF;
END
$$;

-- cpub_api.metrics(function, organization, since, until): invocations,
-- errors (failed executions and responses with status 500 or above), error
-- rate and duration percentiles over a period (default: the last 24
-- hours), for one function or every function of an owner (scope: see
-- cpub.execution_scope).
CREATE FUNCTION cpub_api.metrics(function text DEFAULT NULL,
								 organization text DEFAULT NULL,
								 since timestamptz DEFAULT NULL,
								 until timestamptz DEFAULT NULL)
	RETURNS cpub_api.execution_metrics
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	s record := cpub.execution_scope(metrics.function, metrics.organization);
	t0 timestamptz := coalesce(metrics.since, pg_catalog.now() - interval '24 hours');
	t1 timestamptz := coalesce(metrics.until, pg_catalog.now());
	r cpub_api.execution_metrics;
BEGIN
	PERFORM cpub.check_period(t0, t1);
	SELECT t0, t1, pg_catalog.count(*),
		   pg_catalog.count(*) FILTER (WHERE e.status = 'failed'
										 OR e.response_status >= 500),
		   (pg_catalog.count(*) FILTER (WHERE e.status = 'failed'
										  OR e.response_status >= 500))::double precision
			 / NULLIF(pg_catalog.count(*) FILTER (WHERE e.completed_at IS NOT NULL), 0),
		   pg_catalog.percentile_cont(0.5) WITHIN GROUP (ORDER BY e.duration_ms),
		   pg_catalog.percentile_cont(0.95) WITHIN GROUP (ORDER BY e.duration_ms),
		   pg_catalog.percentile_cont(0.99) WITHIN GROUP (ORDER BY e.duration_ms),
		   pg_catalog.count(*) FILTER (WHERE e.cold_start)
	  INTO r
	  FROM cpub.executions e
	 WHERE (s.function_id IS NULL OR e.function_id = s.function_id)
	   AND (s.owner_id IS NULL OR e.owner_id = s.owner_id)
	   AND e.created_at >= t0 AND e.created_at < t1;
	RETURN r;
END
$$;
GRANT EXECUTE ON FUNCTION cpub_api.metrics(text, text, timestamptz, timestamptz)
	TO cpub_developer;

-- cpub_api.metrics_series(function, organization, bucket, since, until):
-- the same figures per hour or per day, every bucket of the period present
-- (empty ones with zero invocations), oldest first.  Default period: the
-- last 24 hours for hours, 30 days for days, ending now.
CREATE FUNCTION cpub_api.metrics_series(function text DEFAULT NULL,
										organization text DEFAULT NULL,
										bucket text DEFAULT 'hour',
										since timestamptz DEFAULT NULL,
										until timestamptz DEFAULT NULL)
	RETURNS SETOF cpub_api.metrics_bucket
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	s record := cpub.execution_scope(metrics_series.function,
									 metrics_series.organization);
	t1 timestamptz := coalesce(metrics_series.until, pg_catalog.now());
	t0 timestamptz := coalesce(metrics_series.since,
		t1 - CASE metrics_series.bucket WHEN 'day' THEN interval '30 days'
										ELSE interval '24 hours' END);
	step interval;
BEGIN
	PERFORM cpub.check_period(t0, t1, coalesce(metrics_series.bucket, 'null'));
	step := ('1 ' || metrics_series.bucket)::interval;
	RETURN QUERY
		WITH buckets AS (
			SELECT b FROM pg_catalog.generate_series(
				pg_catalog.date_trunc(metrics_series.bucket, t0),
				pg_catalog.date_trunc(metrics_series.bucket, t1 - interval '1 microsecond'),
				step) AS b
		), e AS (
			SELECT pg_catalog.date_trunc(metrics_series.bucket, e.created_at) AS b,
				   e.status, e.response_status, e.duration_ms, e.completed_at
			  FROM cpub.executions e
			 WHERE (s.function_id IS NULL OR e.function_id = s.function_id)
			   AND (s.owner_id IS NULL OR e.owner_id = s.owner_id)
			   AND e.created_at >= t0 AND e.created_at < t1
		)
		SELECT buckets.b, pg_catalog.count(e.b),
			   pg_catalog.count(e.b) FILTER (WHERE e.status = 'failed'
											   OR e.response_status >= 500),
			   (pg_catalog.count(e.b) FILTER (WHERE e.status = 'failed'
												OR e.response_status >= 500))::double precision
				 / NULLIF(pg_catalog.count(e.completed_at), 0),
			   pg_catalog.percentile_cont(0.5) WITHIN GROUP (ORDER BY e.duration_ms),
			   pg_catalog.percentile_cont(0.95) WITHIN GROUP (ORDER BY e.duration_ms),
			   pg_catalog.percentile_cont(0.99) WITHIN GROUP (ORDER BY e.duration_ms)
		  FROM buckets LEFT JOIN e ON e.b = buckets.b
		 GROUP BY buckets.b
		 ORDER BY buckets.b;
END
$$;
GRANT EXECUTE ON FUNCTION cpub_api.metrics_series(text, text, text, timestamptz,
												  timestamptz)
	TO cpub_developer;

--
-- Worker API: running executions.
--

-- cpub_worker.execution_start(execution_id, worker_id): marks a queued
-- execution (or, on a retried job, a running one) running and returns what
-- the run needs: the request, the version's image, the function's
-- settings capped by its owner's current tier (cpub.function_limits) and
-- its config_generation (a warm container of the same version started
-- under another generation must not serve it).  When the execution cannot
-- run any more (its function was deleted or changed its active version
-- away from nothing) it is finished as rejected and no row is returned;
-- no row either when it finished already.
CREATE FUNCTION cpub_worker.execution_start(execution_id uuid, worker_id uuid)
	RETURNS TABLE (function_id uuid, version_id uuid,
				   version integer, runtime text, image text,
				   memory_mb integer, timeout_seconds integer,
				   max_concurrency integer, trigger text,
				   request_method text, request_path text,
				   request_query text, request_headers jsonb,
				   request_body bytea, config_generation bigint)
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	e cpub.executions;
	f cpub.functions;
	v cpub.function_versions;
BEGIN
	SELECT e2.* INTO e FROM cpub.executions e2
	 WHERE e2.id = execution_start.execution_id FOR UPDATE;
	IF e.id IS NULL OR e.status NOT IN ('queued', 'running') THEN
		RETURN;
	END IF;
	SELECT f2.* INTO f FROM cpub.functions f2 WHERE f2.id = e.function_id;
	SELECT v2.* INTO v FROM cpub.function_versions v2 WHERE v2.id = e.version_id;
	IF f.deleted_at IS NOT NULL OR v.status IS DISTINCT FROM 'ready' THEN
		PERFORM cpub_worker.execution_finish(e.id, execution_start.worker_id,
			error_kind => 'rejected',
			error_message => CASE WHEN f.deleted_at IS NOT NULL
								  THEN 'the function was deleted'
								  ELSE 'the version is not available' END);
		RETURN;
	END IF;
	UPDATE cpub.executions e2
	   SET status = 'running', started_at = pg_catalog.clock_timestamp(),
		   worker_id = execution_start.worker_id
	 WHERE e2.id = e.id;
	RETURN QUERY SELECT f.id, v.id, v.version, v.runtime, v.image,
		l.memory_mb, l.timeout_seconds, l.max_concurrency,
		e.trigger, e.request_method, e.request_path, e.request_query,
		e.request_headers, e.request_body, f.config_generation
	  FROM cpub.function_limits(f) l;
END
$$;
GRANT EXECUTE ON FUNCTION cpub_worker.execution_start(uuid, uuid) TO cpub_worker;

-- cpub_worker.execution_finish(execution_id, worker_id, response_status,
-- response_headers, response_body, logs, error_kind, error_message,
-- duration_ms, memory_peak_kb, cold_start): the outcome of a run: with an
-- error_kind the execution failed, else it succeeded with the function's
-- response.  Logs keep their last 256 KB.  Sends NOTIFY cpub_executions
-- with 'ID STATUS FUNCTION_ID' (delivered at commit: the execution's id,
-- succeeded or failed, its function's id), which wakes both the callers
-- waiting on that execution and the followers of that function's logs.
-- P0002 for an unknown execution, 23514 when it finished already, 22023
-- for a bad status or error kind.
CREATE FUNCTION cpub_worker.execution_finish(execution_id uuid, worker_id uuid,
											 response_status integer DEFAULT NULL,
											 response_headers jsonb DEFAULT NULL,
											 response_body bytea DEFAULT NULL,
											 logs text DEFAULT '',
											 error_kind text DEFAULT NULL,
											 error_message text DEFAULT NULL,
											 duration_ms double precision DEFAULT NULL,
											 memory_peak_kb bigint DEFAULT NULL,
											 cold_start boolean DEFAULT NULL)
	RETURNS text
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	e cpub.executions;
	log text := cpub.log_tail(execution_finish.logs, 262144);
	res jsonb;
	st text := CASE WHEN execution_finish.error_kind IS NULL THEN 'succeeded'
					ELSE 'failed' END;
BEGIN
	SELECT e2.* INTO e FROM cpub.executions e2
	 WHERE e2.id = execution_finish.execution_id FOR UPDATE;
	IF e.id IS NULL THEN
		RAISE EXCEPTION 'execution % not found',
			coalesce(execution_finish.execution_id::text, 'null')
			USING ERRCODE = 'P0002';
	END IF;
	IF e.status NOT IN ('queued', 'running') THEN
		RAISE EXCEPTION 'execution % finished already (%)', e.id, e.status
			USING ERRCODE = '23514';
	END IF;
	IF execution_finish.error_kind IS NOT NULL
	   AND execution_finish.error_kind NOT IN ('timeout', 'crash', 'out_of_memory',
											   'bad_response', 'rejected') THEN
		RAISE EXCEPTION 'invalid error kind "%"', execution_finish.error_kind
			USING ERRCODE = '22023',
				  DETAIL = 'An error kind is timeout, crash, out_of_memory, bad_response or rejected.';
	END IF;
	IF execution_finish.error_kind IS NULL
	   AND (execution_finish.response_status IS NULL
			OR execution_finish.response_status NOT BETWEEN 100 AND 599) THEN
		RAISE EXCEPTION 'a successful execution has a response status from 100 to 599'
			USING ERRCODE = '22023',
				  DETAIL = pg_catalog.format('Got %s.',
					coalesce(execution_finish.response_status::text, 'null'));
	END IF;
	IF execution_finish.response_body IS NOT NULL
	   AND pg_catalog.octet_length(execution_finish.response_body) <= 1048576 THEN
		BEGIN
			res := pg_catalog.convert_from(execution_finish.response_body, 'UTF8')::jsonb;
		EXCEPTION WHEN OTHERS THEN
			res := NULL;	-- not JSON: the body stays in response_body
		END;
	END IF;
	UPDATE cpub.executions e2
	   SET status = st,
		   response_status = execution_finish.response_status,
		   response_headers = execution_finish.response_headers,
		   response_body = execution_finish.response_body,
		   result = res, logs = log,
		   error_kind = execution_finish.error_kind,
		   error_message = execution_finish.error_message,
		   duration_ms = execution_finish.duration_ms,
		   memory_peak_kb = execution_finish.memory_peak_kb,
		   cold_start = execution_finish.cold_start,
		   worker_id = coalesce(execution_finish.worker_id, e2.worker_id),
		   started_at = coalesce(e2.started_at, pg_catalog.clock_timestamp()),
		   completed_at = pg_catalog.clock_timestamp()
	 WHERE e2.id = e.id;
	PERFORM pg_catalog.pg_notify('cpub_executions',
		e.id::text || ' ' || st || ' ' || e.function_id::text);
	RETURN st;
END
$$;
GRANT EXECUTE ON FUNCTION cpub_worker.execution_finish(uuid, uuid, integer, jsonb,
													   bytea, text, text, text,
													   double precision, bigint,
													   boolean)
	TO cpub_worker;

--
-- Maintenance.
--

-- cpub.executions_reap(): executions left queued or running whose run job
-- is gone (dead after its last attempt, or deleted by an admin) are
-- finished as failed (crash, 'the worker running it was lost'), so no
-- caller waits for ever.  Returns how many.
CREATE FUNCTION cpub.executions_reap()
	RETURNS bigint
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	e record;
	n bigint := 0;
BEGIN
	FOR e IN
		SELECT e2.id FROM cpub.executions e2
		 WHERE e2.status IN ('queued', 'running')
		   AND NOT EXISTS (SELECT FROM cpub.jobs j
							WHERE j.id = e2.job_id AND j.state <> 'dead')
		 ORDER BY e2.created_at
		 LIMIT 1000
		   FOR UPDATE SKIP LOCKED
	LOOP
		PERFORM cpub_worker.execution_finish(e.id, NULL, error_kind => 'crash',
			error_message => 'the worker running it was lost');
		n := n + 1;
	END LOOP;
	RETURN n;
END
$$;

-- cpub.executions_purge(): deletes executions older than the
-- execution_retention setting, and functions deleted longer ago than that
-- (with their versions), at most 10000 of each a call.  Returns how many
-- executions and functions went.
CREATE FUNCTION cpub.executions_purge()
	RETURNS jsonb
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	horizon timestamptz := pg_catalog.now()
		- (cpub.setting('execution_retention') #>> '{}')::interval;
	n_exec bigint;
	n_fn bigint;
BEGIN
	DELETE FROM cpub.executions e
	 WHERE e.id IN (SELECT e2.id FROM cpub.executions e2
					 WHERE e2.created_at < horizon
					   AND e2.status IN ('succeeded', 'failed')
					 ORDER BY e2.created_at LIMIT 10000);
	GET DIAGNOSTICS n_exec = ROW_COUNT;
	DELETE FROM cpub.functions f
	 WHERE f.id IN (SELECT f2.id FROM cpub.functions f2
					 WHERE f2.deleted_at < horizon
					   AND NOT EXISTS (SELECT FROM cpub.executions e
										WHERE e.function_id = f2.id)
					 LIMIT 10000);
	GET DIAGNOSTICS n_fn = ROW_COUNT;
	RETURN pg_catalog.jsonb_build_object('executions', n_exec, 'functions', n_fn);
END
$$;

--
-- Admin API.
--

-- cpub_admin.execution_list(function_id, owner_id, status, error_kind,
-- since, after, limit): every execution, newest first.
CREATE FUNCTION cpub_admin.execution_list(function_id uuid DEFAULT NULL,
										  owner_id uuid DEFAULT NULL,
										  status text DEFAULT NULL,
										  error_kind text DEFAULT NULL,
										  since timestamptz DEFAULT NULL,
										  after bigint DEFAULT NULL,
										  "limit" integer DEFAULT 50)
	RETURNS SETOF cpub_api.execution_summary
	LANGUAGE sql STABLE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
	SELECT * FROM cpub.execution_rows(execution_list.function_id,
		execution_list.owner_id, execution_list.status, execution_list.error_kind,
		execution_list.since, execution_list.after, execution_list."limit")
$$;
GRANT EXECUTE ON FUNCTION cpub_admin.execution_list(uuid, uuid, text, text,
													timestamptz, bigint, integer)
	TO cpub_admin_viewer;

-- cpub_admin.execution_counts(since): the executions queued and running
-- now, and those that succeeded and failed since `since` (when they
-- finished; by default the last 5 minutes): always the four statuses, in
-- that order, zero included.  The HTTP front's /metrics calls it at every
-- scrape, so both counts read an index only as far as they need: the
-- unfinished ones executions_unfinished, the finished ones
-- executions_completed from `since` on.  22004 when since is NULL.
CREATE FUNCTION cpub_admin.execution_counts(since timestamptz
												DEFAULT pg_catalog.now() - interval '5 minutes')
	RETURNS TABLE (status text, count bigint)
	LANGUAGE plpgsql STABLE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
BEGIN
	IF execution_counts.since IS NULL THEN
		RAISE EXCEPTION 'since is required'
			USING ERRCODE = '22004',
				  HINT = 'Leave it out for the last 5 minutes.';
	END IF;
	RETURN QUERY
		SELECT s.status, coalesce(c.n, 0)
		  FROM (VALUES (1, 'queued'), (2, 'running'), (3, 'succeeded'), (4, 'failed'))
			   AS s (ord, status)
		  LEFT JOIN (
			SELECT e.status, pg_catalog.count(*) AS n
			  FROM cpub.executions e
			 WHERE e.status IN ('queued', 'running')
			 GROUP BY e.status
			UNION ALL
			SELECT e.status, pg_catalog.count(*)
			  FROM cpub.executions e
			 WHERE e.completed_at >= execution_counts.since
			   AND e.status IN ('succeeded', 'failed')
			 GROUP BY e.status) AS c ON c.status = s.status
		 ORDER BY s.ord;
END
$$;
GRANT EXECUTE ON FUNCTION cpub_admin.execution_counts(timestamptz)
	TO cpub_admin_viewer;

-- Maintenance runs these with every maintenance job (sql/55_jobs.sql).
INSERT INTO cpub.maintenance_tasks (name, function, description) VALUES
	('executions_reap', 'cpub.executions_reap()',
	 'Executions whose run job died are finished as failed (crash), so no caller waits for ever.'),
	('executions_purge', 'cpub.executions_purge()',
	 'Executions older than execution_retention, and functions deleted longer ago than that.'),
	('invocation_nonces_purge', 'cpub.invocation_nonces_purge()',
	 'Invocation key nonces older than signature_window: their requests can no longer be replayed.');
