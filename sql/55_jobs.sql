-- sql/55_jobs.sql: the job queue that workers drain, and the workers
-- themselves.
--
-- One table holds every kind of work: build (a deployed version into an
-- image), run (an execution), cleanup (a deleted function's images) and
-- maintenance (purges).  A job is pending until a worker claims it with a
-- lease, running while the lease holds, and gone once completed; a failed
-- job waits (run_after) and is retried until max_attempts, then stays dead
-- for admins to see and retry.
--
-- The protocol a worker follows is in docs/queue.md: register, LISTEN
-- cpub_jobs, claim with FOR UPDATE SKIP LOCKED and a lease, heartbeat,
-- complete or fail, deregister.  Rules that hold throughout:
--   - attempts counts the times a job was handed out (a claim adds one); a
--     clean deregistration gives the attempt back, an expired lease does
--     not, so a job that kills its worker ends dead after max_attempts;
--   - a worker acts only on jobs it holds (running, lease_owner = it).
--     Once a job was taken back, every call that names it raises 55Q01
--     and changes nothing, so work is never done twice at the same time
--     and never deleted by the wrong worker;
--   - a worker whose heartbeat is older than the setting worker_timeout is
--     dead: within a second a claim (or maintenance) marks it stopped and
--     takes its jobs back, and its own calls then raise 55Q05.
--
-- Kinds and priorities, a contract with the files that enqueue: run 100,
-- build 50, cleanup 10, maintenance 0.  Payloads: run {"execution_id"},
-- build {"version_id"}, cleanup {"function_id", ...}, maintenance {}.
--
-- The queue's head.  A claim takes the most urgent jobs, the first entries
-- of an index ordered by (-priority, run_after, id).  Every claimed or
-- completed job leaves a dead entry at the front of that index until
-- VACUUM removes it, and autovacuum visits a table at most once a minute
-- (autovacuum_naptime): a claim that started from the front would step
-- over every job claimed since, a minute's worth at thousands a second.
-- So claims start from cpub.queue_head, a key that no pending job is
-- below.  Whatever makes a job pending lowers it (inserts through a
-- trigger); claims move it up to the first pending job at
-- most every 100 ms, which is safe only while no transaction that could
-- still make a job pending below it is in flight: those hold the advisory
-- lock (cpub, 1) shared until they end, and the claim that moves the head
-- takes it exclusively, waiting at most a few milliseconds and otherwise
-- trying again later.

INSERT INTO cpub.setting_defaults (name, kind, value, description) VALUES
	('job_lease', 'interval', '"30 seconds"',
	 'How long a claimed job stays its worker''s without a heartbeat (job_claim''s lease argument overrides it).'),
	('worker_timeout', 'interval', '"30 seconds"',
	 'A worker whose last heartbeat is older is dead: its jobs are taken back at once.'),
	('job_retry_delay', 'interval', '"5 seconds"',
	 'Delay before a failed job''s first retry; it doubles with each attempt (with jitter), up to job_retry_delay_max.'),
	('job_retry_delay_max', 'interval', '"1 hour"',
	 'The longest delay before a failed job is retried.'),
	('maintenance_interval', 'interval', '"1 minute"',
	 'How often workers enqueue a maintenance job (purges, dead workers).'),
	('worker_retention', 'interval', '"7 days"',
	 'How long maintenance keeps a stopped worker''s row for admins to see.');

CREATE TABLE cpub.jobs (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	kind text NOT NULL
		CHECK (kind IN ('build', 'run', 'cleanup', 'maintenance')),
	payload jsonb NOT NULL DEFAULT '{}',
	-- Higher is more urgent; -32767 to 32767 (-priority, in the indexes,
	-- must be a smallint too).  job_enqueue checks the values; the table
	-- keeps only the CHECKs that hold the state machine together, each
	-- costing every claim (their expressions are set up per statement).
	priority smallint NOT NULL DEFAULT 0,
	state text NOT NULL DEFAULT 'pending'
		CHECK (state IN ('pending', 'running', 'dead')),
	attempts integer NOT NULL DEFAULT 0,
	max_attempts integer NOT NULL DEFAULT 5,
	run_after timestamptz NOT NULL DEFAULT now(),
	lease_owner uuid,			-- a cpub.workers id, not a foreign key: a
								-- key check per claim costs, and worker rows
								-- may go before their expired jobs
	lease_expires_at timestamptz,
	last_error text,
	-- When it last failed (job_fail, or its lease expired), with
	-- last_error; NULL while it never did.  updated_at moves on every
	-- claim, so admins' error reports (cpub_admin.platform_errors) read
	-- this instead.
	failed_at timestamptz,
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now(),
	CHECK ((state = 'running') = (lease_owner IS NOT NULL
								  AND lease_expires_at IS NOT NULL))
);
-- What a claim of every kind scans: pending jobs, most urgent first.
CREATE INDEX jobs_pending ON cpub.jobs ((-priority), run_after, id)
	WHERE state = 'pending';
-- The same per kind, for workers that do only some kinds: without it, a
-- builder would step over every pending run job (more urgent) per claim.
-- Pending-only indexes cost nothing on claim and complete (a running or
-- deleted row adds no entry), only on enqueue.
CREATE INDEX jobs_pending_kind ON cpub.jobs (kind, (-priority), run_after, id)
	WHERE state = 'pending';
-- Leases, by worker (heartbeat, deregister, dead workers); expired ones
-- are found by scanning it whole, at most once a second.
CREATE INDEX jobs_leases ON cpub.jobs (lease_owner, lease_expires_at)
	WHERE state = 'running';
-- The admins' list of dead jobs.
CREATE INDEX jobs_dead ON cpub.jobs (id) WHERE state = 'dead';
-- A platform table with no tenant: row-level security without a policy, so
-- only the extension's functions (the owner) reach its rows.
ALTER TABLE cpub.jobs ENABLE ROW LEVEL SECURITY;
SELECT pg_catalog.pg_extension_config_dump('cpub.jobs', '');
SELECT pg_catalog.pg_extension_config_dump('cpub.jobs_id_seq', '');

-- The queue's head (see above) and when claims last did housekeeping.  At
-- most one row, made by the first claim (so a restore does not collide
-- with a row CREATE EXTENSION made); without it, claims scan from the
-- front.  The head is a key (urgency = -priority, run_after, id) that no
-- pending job is below; (32767, infinity, max) when none is pending.
CREATE TABLE cpub.queue_head (
	only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
	urgency smallint NOT NULL,
	run_after timestamptz NOT NULL,
	id bigint NOT NULL,
	head_checked_at timestamptz NOT NULL,	-- when a claim last moved it
	leases_checked_at timestamptz NOT NULL	-- ... last looked for dead
											-- workers and expired leases
);
ALTER TABLE cpub.queue_head ENABLE ROW LEVEL SECURITY;
SELECT pg_catalog.pg_extension_config_dump('cpub.queue_head', '');

CREATE TABLE cpub.workers (
	id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	host text NOT NULL,
	pid integer NOT NULL,
	version text,
	capabilities text[] NOT NULL,	-- the kinds of job it does
	started_at timestamptz NOT NULL DEFAULT now(),
	heartbeat_at timestamptz NOT NULL DEFAULT now(),
	stopped_at timestamptz,			-- deregistered, or found dead
	-- What its last heartbeat reported (NULL: not reported): containers
	-- serving a call (or starting for one) and warm ones waiting idle.
	running_containers integer,
	warm_containers integer
);
-- Finding dead workers: one probe of a small index.
CREATE INDEX workers_live ON cpub.workers (heartbeat_at) WHERE stopped_at IS NULL;
CREATE INDEX workers_stopped ON cpub.workers (stopped_at) WHERE stopped_at IS NOT NULL;
ALTER TABLE cpub.workers ENABLE ROW LEVEL SECURITY;
SELECT pg_catalog.pg_extension_config_dump('cpub.workers', '');

-- This installation of the platform: one row with a random id, made by
-- CREATE EXTENSION and never changed (cpub_worker.installation_id).
-- Workers label their Podman containers with it and touch no container
-- without it, so that two platforms sharing a machine never stop each
-- other's.  Not dumped, like setting_defaults: a restored dump may run
-- beside its original on the same machine, so it is another installation
-- and CREATE EXTENSION gives it a new id.  A physical copy (a promoted
-- replica, CREATE DATABASE ... TEMPLATE) keeps the id: never run one on
-- the same machines as its original.
CREATE TABLE cpub.installation (
	only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
	id uuid NOT NULL DEFAULT gen_random_uuid(),
	created_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO cpub.installation DEFAULT VALUES;
ALTER TABLE cpub.installation ENABLE ROW LEVEL SECURITY;

-- The maintenance schedule: at most one row, made by the first
-- cpub_worker.maintenance_schedule() call.
CREATE TABLE cpub.maintenance_schedule (
	only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
	due_at timestamptz NOT NULL,	-- when the next maintenance job is due
	last_job_id bigint				-- the last one enqueued
);
ALTER TABLE cpub.maintenance_schedule ENABLE ROW LEVEL SECURITY;
SELECT pg_catalog.pg_extension_config_dump('cpub.maintenance_schedule', '');

-- What a maintenance job runs, besides its own work on workers, leases and
-- the queue's head: each row names a function without arguments, called
-- in name order in a subtransaction of its own (one failing does not stop
-- the others); what it returns goes into maintenance_run's result under
-- its name.  Another file adds a purge with one INSERT, for example
--   INSERT INTO cpub.maintenance_tasks (name, function, description) VALUES
--     ('purge_executions', 'cpub_worker.purge_executions()', '...');
-- The rows come from the install script, like setting_defaults and the
-- built-in tier: CREATE EXTENSION makes them again, so none is dumped.
CREATE TABLE cpub.maintenance_tasks (
	name text PRIMARY KEY,
	function regprocedure NOT NULL,
	description text NOT NULL
);
ALTER TABLE cpub.maintenance_tasks ENABLE ROW LEVEL SECURITY;
SELECT pg_catalog.pg_extension_config_dump('cpub.maintenance_tasks', 'WHERE false');

-- What job_claim and job_complete_and_claim hand a worker.
CREATE TYPE cpub_worker.claimed_job AS (
	id bigint,
	kind text,
	payload jsonb,
	attempts integer,			-- this is attempt number attempts
	max_attempts integer,
	lease_expires_at timestamptz
);

-- What admins see of a job.
CREATE TYPE cpub_admin.job AS (
	id bigint,
	kind text,
	state text,
	priority smallint,
	payload jsonb,
	attempts integer,
	max_attempts integer,
	run_after timestamptz,
	lease_owner uuid,
	lease_expires_at timestamptz,
	last_error text,
	created_at timestamptz,
	updated_at timestamptz
);

--
-- Private helpers.
--

-- cpub.setting_interval(name): an interval setting's current value (as
-- cpub.setting, in PL/pgSQL so that its plan is cached).
CREATE FUNCTION cpub.setting_interval(name text) RETURNS interval
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
BEGIN
	RETURN (SELECT coalesce(s.value, d.value) #>> '{}'
			  FROM cpub.setting_defaults d
			  LEFT JOIN cpub.settings s ON s.name = d.name
			 WHERE d.name = setting_interval.name)::interval;
END
$$;

-- cpub.job_check_kinds(kinds): kinds unchanged when it is a non-empty list
-- of known job kinds; 22023 otherwise.
CREATE FUNCTION cpub.job_check_kinds(kinds text[]) RETURNS text[]
	LANGUAGE plpgsql IMMUTABLE
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
BEGIN
	IF job_check_kinds.kinds IS NULL
	   OR pg_catalog.cardinality(job_check_kinds.kinds) = 0
	   OR NOT job_check_kinds.kinds <@ ARRAY['build', 'run', 'cleanup', 'maintenance']
	   OR pg_catalog.array_position(job_check_kinds.kinds, NULL) IS NOT NULL THEN
		RAISE EXCEPTION 'invalid job kinds %', coalesce(job_check_kinds.kinds::text, 'NULL')
			USING ERRCODE = '22023',
				  DETAIL = 'Job kinds are build, run, cleanup and maintenance; at least one is needed.';
	END IF;
	RETURN job_check_kinds.kinds;
END
$$;

-- cpub.job_check_ids(ids, what): ids unchanged when it has no NULL; 22004
-- when it is NULL or holds one.  what names the argument in the message.
CREATE FUNCTION cpub.job_check_ids(ids bigint[], what text DEFAULT 'ids')
	RETURNS bigint[]
	LANGUAGE plpgsql IMMUTABLE
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
BEGIN
	IF job_check_ids.ids IS NULL
	   OR pg_catalog.array_position(job_check_ids.ids, NULL) IS NOT NULL THEN
		RAISE EXCEPTION 'job % must not be NULL or hold NULL', job_check_ids.what
			USING ERRCODE = '22004',
				  HINT = 'Pass the ids of the jobs, ''{}'' for none.';
	END IF;
	RETURN job_check_ids.ids;
END
$$;

-- cpub.job_check_lease(lease): lease unchanged when NULL (the setting
-- job_lease applies) or from 1 second to 1 day; 22023 otherwise.
CREATE FUNCTION cpub.job_check_lease(lease interval) RETURNS interval
	LANGUAGE plpgsql IMMUTABLE
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
BEGIN
	IF job_check_lease.lease < interval '1 second'
	   OR job_check_lease.lease > interval '1 day' THEN
		RAISE EXCEPTION 'lease must be between 1 second and 1 day'
			USING ERRCODE = '22023', DETAIL = pg_catalog.format('Got %s.', job_check_lease.lease),
				  HINT = 'Heartbeat to keep a long job; the lease only bounds how soon a dead worker''s job is taken back.';
	END IF;
	RETURN job_check_lease.lease;
END
$$;

-- cpub.job_check_limit(limit): how many jobs a claim may take, 1 to 1000;
-- 22023 otherwise.
CREATE FUNCTION cpub.job_check_limit("limit" integer) RETURNS integer
	LANGUAGE plpgsql IMMUTABLE
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
BEGIN
	IF "limit" IS NULL OR "limit" < 1 OR "limit" > 1000 THEN
		RAISE EXCEPTION 'claim limit must be between 1 and 1000'
			USING ERRCODE = '22023', DETAIL = pg_catalog.format('Got %s.', "limit");
	END IF;
	RETURN "limit";
END
$$;

-- cpub.worker_missing(worker_id): raises P0002 for an unknown worker.  The
-- raising helpers return boolean only to fit in an SQL expression.
CREATE FUNCTION cpub.worker_missing(worker_id uuid) RETURNS boolean
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
BEGIN
	RAISE EXCEPTION 'worker not found'
		USING ERRCODE = 'P0002',
			  DETAIL = pg_catalog.format('No worker has id %s.',
										 coalesce(worker_missing.worker_id::text, 'NULL')),
			  HINT = 'Register with cpub_worker.worker_register first.';
END
$$;

-- cpub.worker_stopped(worker_id, stopped_at): raises 55Q05 for a worker
-- that was stopped (deregistered, or found dead): it must register again.
CREATE FUNCTION cpub.worker_stopped(worker_id uuid, stopped_at timestamptz)
	RETURNS boolean
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
BEGIN
	RAISE EXCEPTION 'worker is stopped'
		USING ERRCODE = '55Q05',
			  DETAIL = pg_catalog.format('Worker %s was stopped at %s (deregistered, or no heartbeat for longer than worker_timeout); its jobs were taken back.',
										 worker_stopped.worker_id, worker_stopped.stopped_at),
			  HINT = 'Stop working on its jobs and register again with cpub_worker.worker_register.';
END
$$;

-- cpub.worker_cannot(worker_id, kinds, capabilities): raises 22023 for a
-- claim of kinds the worker did not register for.
CREATE FUNCTION cpub.worker_cannot(worker_id uuid, kinds text[],
								   capabilities text[])
	RETURNS boolean
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
BEGIN
	RAISE EXCEPTION 'worker cannot do job kinds %', worker_cannot.kinds
		USING ERRCODE = '22023',
			  DETAIL = pg_catalog.format('Worker %s registered for %s.', worker_cannot.worker_id,
										 worker_cannot.capabilities),
			  HINT = 'Claim only kinds the worker registered for, or register again.';
END
$$;

-- cpub.job_lost(worker_id, ids, held): raises 55Q01 naming the jobs of ids
-- not in held (the ones the worker no longer holds).
CREATE FUNCTION cpub.job_lost(worker_id uuid, ids bigint[], held bigint[])
	RETURNS boolean
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	lost text;
BEGIN
	SELECT pg_catalog.string_agg(DISTINCT x.id::text, ', ') INTO lost
	  FROM pg_catalog.unnest(job_lost.ids) x(id)
	 WHERE x.id <> ALL (job_lost.held);
	RAISE EXCEPTION 'job lease lost'
		USING ERRCODE = '55Q01',
			  DETAIL = pg_catalog.format('Worker %s no longer holds job(s) %s: the lease expired and the job was taken back, or it is gone.',
										 job_lost.worker_id, lost),
			  HINT = 'Stop working on those jobs; cpub_worker.worker_heartbeat returns the jobs the worker still holds.';
END
$$;

--
-- The queue's head (see the top of this file).
--

-- cpub.queue_head_lower(urgency, run_after, id): a job with this key
-- becomes pending (in this transaction): lowers the head to it if it is
-- below, and holds the advisory lock (cpub, 1) shared until the end of
-- the transaction, so that no claim moves the head past it meanwhile.
CREATE FUNCTION cpub.queue_head_lower(urgency smallint, run_after timestamptz,
									  id bigint)
	RETURNS void
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
BEGIN
	-- 1668314466 is 'cpub' in ASCII: the advisory lock class of this file.
	PERFORM pg_catalog.pg_advisory_xact_lock_shared(1668314466, 1);
	UPDATE cpub.queue_head h
	   SET urgency = queue_head_lower.urgency, run_after = queue_head_lower.run_after,
		   id = queue_head_lower.id
	 WHERE (h.urgency, h.run_after, h.id)
		   > (queue_head_lower.urgency, queue_head_lower.run_after, queue_head_lower.id);
END
$$;

-- Every way a job becomes pending lowers the head: inserts through this
-- trigger (per statement, so a bulk insert calls it once), updates by the
-- functions of this file that make a job pending again (a released lease,
-- a deregistered worker's jobs, a retry after a failure, an admin's
-- retry), which call cpub.queue_head_lower themselves: a trigger on
-- UPDATE would cost every claim a little.  Maintenance checks the head
-- from the front every interval all the same.
CREATE FUNCTION cpub.jobs_inserted() RETURNS trigger
	LANGUAGE plpgsql
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
BEGIN
	-- cpub.queue_head_lower for the most urgent job inserted, inline: this
	-- runs on every enqueue.
	PERFORM pg_catalog.pg_advisory_xact_lock_shared(1668314466, 1);
	UPDATE cpub.queue_head h
	   SET urgency = k.urgency, run_after = k.run_after, id = k.id
	  FROM (SELECT (-i.priority)::smallint AS urgency, i.run_after, i.id
			  FROM inserted i
			 WHERE i.state = 'pending'
			 ORDER BY 1, 2, 3
			 LIMIT 1) k
	 WHERE (h.urgency, h.run_after, h.id) > (k.urgency, k.run_after, k.id);
	RETURN NULL;
END
$$;
CREATE TRIGGER jobs_inserted AFTER INSERT ON cpub.jobs
	REFERENCING NEW TABLE AS inserted
	FOR EACH STATEMENT EXECUTE FUNCTION cpub.jobs_inserted();

-- cpub.queue_head_lock(): takes the advisory lock (cpub, 1) exclusively,
-- waiting at most 5 ms for the transactions that hold it shared (those
-- making jobs pending; new ones queue behind meanwhile).  Returns whether
-- it got it.
CREATE FUNCTION cpub.queue_head_lock() RETURNS boolean
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, cpub, pg_temp
	SET lock_timeout = '5ms'
	AS $$
BEGIN
	PERFORM pg_catalog.pg_advisory_xact_lock(1668314466, 1);
	RETURN true;
EXCEPTION WHEN lock_not_available THEN
	RETURN false;
END
$$;

-- cpub.queue_head_advance(from_front): moves the head up to the first
-- pending job (from the current head, or with from_front from the front
-- of the index: maintenance's check of the whole rule), or to the end
-- when none is pending.  Only under READ COMMITTED (a new snapshot, taken
-- once the lock is held, sees every job made pending before) and only
-- with the lock; otherwise does nothing.  Returns whether it moved it.
CREATE FUNCTION cpub.queue_head_advance(from_front boolean DEFAULT false)
	RETURNS boolean
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	h cpub.queue_head;
	next_urgency smallint;
	next_run_after timestamptz;
	next_id bigint;
BEGIN
	IF pg_catalog.current_setting('transaction_isolation') <> 'read committed'
	   OR NOT cpub.queue_head_lock() THEN
		RETURN false;
	END IF;
	SELECT * INTO h FROM cpub.queue_head x;
	IF NOT FOUND THEN
		INSERT INTO cpub.queue_head (urgency, run_after, id, head_checked_at,
									 leases_checked_at)
		VALUES (-32768, '-infinity', -9223372036854775808, '-infinity', '-infinity')
		ON CONFLICT (only_row) DO NOTHING;
		SELECT * INTO h FROM cpub.queue_head x;
	END IF;
	IF queue_head_advance.from_front THEN
		h.urgency := -32768;
		h.run_after := '-infinity';
		h.id := -9223372036854775808;
	END IF;
	SELECT -c.priority, c.run_after, c.id INTO next_urgency, next_run_after, next_id
	  FROM cpub.jobs c
	 WHERE c.state = 'pending'
	   AND (-c.priority, c.run_after, c.id) >= (h.urgency, h.run_after, h.id)
	 ORDER BY -c.priority, c.run_after, c.id
	 LIMIT 1;
	IF NOT FOUND THEN
		-- Nothing pending: the end, lowered by the next job made pending.
		next_urgency := 32767;
		next_run_after := 'infinity';
		next_id := 9223372036854775807;
	END IF;
	UPDATE cpub.queue_head x
	   SET urgency = next_urgency, run_after = next_run_after, id = next_id,
		   head_checked_at = pg_catalog.now();
	RETURN true;
END
$$;

-- cpub.workers_reap(timeout): marks workers whose heartbeat is older than
-- timeout (the setting worker_timeout) as stopped and expires their leases
-- at once (cpub.jobs_release_expired then takes the jobs back).  Returns
-- how many workers and jobs.
CREATE FUNCTION cpub.workers_reap(timeout interval, OUT workers integer,
								  OUT jobs integer)
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
BEGIN
	WITH dead AS (
		UPDATE cpub.workers w SET stopped_at = pg_catalog.now()
		 WHERE w.stopped_at IS NULL
		   AND w.heartbeat_at < pg_catalog.now() - workers_reap.timeout
		RETURNING w.id
	), expired AS (
		UPDATE cpub.jobs j SET lease_expires_at = pg_catalog.now()
		  FROM dead d
		 WHERE j.state = 'running' AND j.lease_owner = d.id
		   AND j.lease_expires_at > pg_catalog.now()
		RETURNING j.id
	)
	SELECT (SELECT pg_catalog.count(*) FROM dead),
		   (SELECT pg_catalog.count(*) FROM expired)
	  INTO workers_reap.workers, workers_reap.jobs;
END
$$;

-- cpub.jobs_release_expired(max_jobs, since): takes back up to max_jobs
-- jobs whose lease expired after since and by now (their worker died or
-- hung): each has used its attempt, so it goes back to pending, or
-- becomes dead when that was its last attempt.  Skips jobs locked by
-- anyone (a worker completing one just now).  Wakes workers for the
-- released kinds.  Returns how many it released (pending or dead).
CREATE FUNCTION cpub.jobs_release_expired(max_jobs integer,
										  since timestamptz DEFAULT '-infinity')
	RETURNS integer
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	n integer := 0;
	r record;
BEGIN
	FOR r IN
		UPDATE cpub.jobs j
		   SET state = CASE WHEN j.attempts >= j.max_attempts THEN 'dead'
							ELSE 'pending' END,
			   last_error = pg_catalog.format('lease expired on attempt %s of %s: worker %s stopped heartbeating',
											  j.attempts, j.max_attempts, j.lease_owner),
			   failed_at = pg_catalog.now(),
			   lease_owner = NULL, lease_expires_at = NULL,
			   updated_at = pg_catalog.now()
		 WHERE j.id = ANY (ARRAY(
				SELECT x.id FROM cpub.jobs x
				 WHERE x.state = 'running' AND x.lease_expires_at <= pg_catalog.now()
				   AND x.lease_expires_at > jobs_release_expired.since
				 ORDER BY x.lease_expires_at
				 LIMIT jobs_release_expired.max_jobs
				   FOR UPDATE SKIP LOCKED))
		RETURNING j.kind, j.state, j.priority, j.run_after, j.id
	LOOP
		n := n + 1;
		IF r.state = 'pending' THEN
			PERFORM cpub.queue_head_lower((-r.priority)::smallint, r.run_after, r.id);
			-- Repeats within a transaction are sent once.
			PERFORM pg_catalog.pg_notify('cpub_jobs', r.kind);
		END IF;
	END LOOP;
	RETURN n;
END
$$;

-- cpub.queue_housekeeping(head_due, leases_due): what claims do now and
-- then, one claim at a time (the others go on).  leases_due (a second
-- since the last time): dead workers are marked stopped and their jobs,
-- with any other lease that expired in the meantime, are taken back.
-- head_due (100 ms): the head moves up.  The advisory lock comes before
-- the head's row: a transaction lowering the head holds the lock shared
-- before it updates the row.
CREATE FUNCTION cpub.queue_housekeeping(head_due boolean, leases_due boolean)
	RETURNS void
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	h cpub.queue_head;
	head_locked boolean;
	timeout interval;
BEGIN
	IF NOT pg_catalog.pg_try_advisory_xact_lock(1668314466, 2) THEN
		RETURN;
	END IF;
	head_locked := queue_housekeeping.head_due
				   AND pg_catalog.current_setting('transaction_isolation') = 'read committed'
				   AND cpub.queue_head_lock();
	SELECT * INTO h FROM cpub.queue_head x FOR UPDATE SKIP LOCKED;
	IF NOT FOUND THEN
		IF NOT head_locked OR EXISTS (SELECT FROM cpub.queue_head) THEN
			RETURN;		-- being lowered by someone, or cannot make it now
		END IF;
		PERFORM cpub.queue_head_advance(true);	-- makes the row
		RETURN;
	END IF;
	IF queue_housekeeping.leases_due
	   AND h.leases_checked_at <= pg_catalog.now() - interval '1 second' THEN
		timeout := cpub.setting_interval('worker_timeout');
		IF EXISTS (SELECT FROM cpub.workers w
					WHERE w.stopped_at IS NULL
					  AND w.heartbeat_at < pg_catalog.now() - timeout) THEN
			PERFORM cpub.workers_reap(timeout);
		END IF;
		-- Since shortly before the last look (a job locked then was skipped);
		-- maintenance looks at all of them.
		PERFORM cpub.jobs_release_expired(1000, h.leases_checked_at - interval '10 seconds');
		UPDATE cpub.queue_head x SET leases_checked_at = pg_catalog.now();
	END IF;
	IF head_locked
	   AND h.head_checked_at <= pg_catalog.now() - interval '100 milliseconds' THEN
		PERFORM cpub.queue_head_advance(false);
	END IF;
END
$$;

-- cpub.worker_alive(w): whether a worker is alive: not stopped, and its
-- last heartbeat within worker_timeout.  One that is not is dead even
-- before a claim or maintenance marks it stopped (cpub.workers_reap).
CREATE FUNCTION cpub.worker_alive(w cpub.workers)
	RETURNS boolean
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
	SELECT worker_alive.w.stopped_at IS NULL
	   AND worker_alive.w.heartbeat_at
		   >= pg_catalog.now() - cpub.setting_interval('worker_timeout')
$$;

-- cpub.worker_check(worker_id): the worker's row, for the calls off the
-- claim path.  P0002 for an unknown worker, 55Q05 for a stopped one.
CREATE FUNCTION cpub.worker_check(worker_id uuid)
	RETURNS cpub.workers
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	w cpub.workers;
BEGIN
	SELECT * INTO w FROM cpub.workers x WHERE x.id = worker_check.worker_id;
	IF NOT FOUND THEN
		PERFORM cpub.worker_missing(worker_check.worker_id);
	END IF;
	IF w.stopped_at IS NOT NULL THEN
		PERFORM cpub.worker_stopped(w.id, w.stopped_at);
	END IF;
	RETURN w;
END
$$;

-- cpub.job_enqueue(kind, payload, priority, run_after, max_attempts): adds a
-- pending job and wakes listening workers (NOTIFY cpub_jobs, payload: the
-- kind; delivered at commit, so a worker never wakes for a job it cannot
-- see yet).  Returns the job's id.  The callers are the extension's own
-- functions (deploy, invoke, delete, maintenance), never a role directly.
-- 22023 for an unknown kind, a priority outside -32767 to 32767, an
-- infinite run_after or max_attempts below 1.
CREATE FUNCTION cpub.job_enqueue(kind text, payload jsonb DEFAULT '{}',
								 priority integer DEFAULT 0,
								 run_after timestamptz DEFAULT NULL,
								 max_attempts integer DEFAULT 5)
	RETURNS bigint
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	jid bigint;
BEGIN
	IF job_enqueue.kind IS NULL
	   OR job_enqueue.kind NOT IN ('build', 'run', 'cleanup', 'maintenance') THEN
		PERFORM cpub.job_check_kinds(ARRAY[job_enqueue.kind]);
	END IF;
	IF job_enqueue.priority IS NULL OR job_enqueue.priority NOT BETWEEN -32767 AND 32767
	   OR NOT isfinite(coalesce(job_enqueue.run_after, pg_catalog.now()))
	   OR job_enqueue.max_attempts IS NULL OR job_enqueue.max_attempts < 1 THEN
		RAISE EXCEPTION 'invalid job'
			USING ERRCODE = '22023',
				  DETAIL = pg_catalog.format('A job has a priority from -32767 to 32767 (got %s), a finite run_after (got %s) and max_attempts of at least 1 (got %s).',
											 job_enqueue.priority, job_enqueue.run_after,
											 job_enqueue.max_attempts);
	END IF;
	INSERT INTO cpub.jobs (kind, payload, priority, run_after, max_attempts)
	VALUES (job_enqueue.kind, coalesce(job_enqueue.payload, '{}'),
			job_enqueue.priority,
			coalesce(job_enqueue.run_after, pg_catalog.now()),
			job_enqueue.max_attempts)
	RETURNING id INTO jid;
	PERFORM pg_catalog.pg_notify('cpub_jobs', job_enqueue.kind);
	RETURN jid;
END
$$;

--
-- Worker functions.
--

-- cpub_worker.worker_register(host, pid, capabilities, version): a new
-- worker, alive from now on; returns its id, which every other call takes.
-- capabilities: the kinds of job it does.  22004 for a missing host or
-- pid, 22023 for an empty host, a bad pid or unknown kinds.
CREATE FUNCTION cpub_worker.worker_register(host text, pid integer,
											capabilities text[],
											version text DEFAULT NULL)
	RETURNS uuid
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	wid uuid;
BEGIN
	IF worker_register.host IS NULL OR worker_register.pid IS NULL THEN
		RAISE EXCEPTION 'host and pid are required'
			USING ERRCODE = '22004',
				  HINT = 'Pass the worker''s host name and process id.';
	END IF;
	IF char_length(worker_register.host) NOT BETWEEN 1 AND 255
	   OR worker_register.pid < 1
	   OR char_length(worker_register.version) > 100 THEN
		RAISE EXCEPTION 'invalid worker registration'
			USING ERRCODE = '22023',
				  DETAIL = 'The host has 1 to 255 characters, the pid is positive, the version has at most 100 characters.';
	END IF;
	PERFORM cpub.job_check_kinds(worker_register.capabilities);
	INSERT INTO cpub.workers (host, pid, version, capabilities)
	VALUES (worker_register.host, worker_register.pid, worker_register.version,
			ARRAY(SELECT DISTINCT c FROM pg_catalog.unnest(worker_register.capabilities) c
				   ORDER BY c))
	RETURNING id INTO wid;
	RETURN wid;
END
$$;
GRANT EXECUTE ON FUNCTION cpub_worker.worker_register(text, integer, text[], text)
	TO cpub_worker;

-- cpub_worker.worker_heartbeat(worker_id, running_containers,
-- warm_containers): the worker is alive; extends the lease of every job it
-- holds to at least job_lease from now (one call keeps everything alive;
-- call it every worker_timeout / 3 or so).  The counts are what it runs
-- now, for admins (cpub_admin.workers, cpub_admin.platform_load):
-- containers serving a call or starting for one, and warm containers
-- waiting idle; each heartbeat replaces them, NULL for one not reported.
-- Returns the ids of the jobs it holds: a job the worker works on but
-- that is missing was taken back (stop it).  P0002, 55Q05; 22023 for a
-- negative count.
CREATE FUNCTION cpub_worker.worker_heartbeat(worker_id uuid,
											 running_containers integer DEFAULT NULL,
											 warm_containers integer DEFAULT NULL)
	RETURNS bigint[]
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	w cpub.workers := cpub.worker_check(worker_heartbeat.worker_id);
	lease_until timestamptz := pg_catalog.now() + cpub.setting_interval('job_lease');
	held bigint[];
BEGIN
	IF worker_heartbeat.running_containers < 0 OR worker_heartbeat.warm_containers < 0 THEN
		RAISE EXCEPTION 'container counts must not be negative'
			USING ERRCODE = '22023',
				  DETAIL = pg_catalog.format('Got %s running and %s warm.',
											 coalesce(worker_heartbeat.running_containers::text, 'NULL'),
											 coalesce(worker_heartbeat.warm_containers::text, 'NULL'));
	END IF;
	UPDATE cpub.workers x
	   SET heartbeat_at = pg_catalog.now(),
		   running_containers = worker_heartbeat.running_containers,
		   warm_containers = worker_heartbeat.warm_containers
	 WHERE x.id = w.id;
	WITH extended AS (
		UPDATE cpub.jobs j
		   SET lease_expires_at = greatest(j.lease_expires_at, lease_until)
		 WHERE j.state = 'running' AND j.lease_owner = w.id
		RETURNING j.id
	)
	SELECT coalesce(pg_catalog.array_agg(e.id ORDER BY e.id), '{}') INTO held
	  FROM extended e;
	RETURN held;
END
$$;
GRANT EXECUTE ON FUNCTION cpub_worker.worker_heartbeat(uuid, integer, integer)
	TO cpub_worker;

-- cpub_worker.worker_deregister(worker_id): a clean shutdown.  The worker
-- is stopped, and the jobs it still holds go back to pending at once
-- without counting the attempt (and wake other workers).  Returns how many
-- jobs it gave back.  P0002 for an unknown worker; a stopped one gives
-- back what it still holds.
CREATE FUNCTION cpub_worker.worker_deregister(worker_id uuid)
	RETURNS integer
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	n integer := 0;
	r record;
BEGIN
	UPDATE cpub.workers w SET stopped_at = coalesce(w.stopped_at, pg_catalog.now())
	 WHERE w.id = worker_deregister.worker_id;
	IF NOT FOUND THEN
		PERFORM cpub.worker_missing(worker_deregister.worker_id);
	END IF;
	FOR r IN
		UPDATE cpub.jobs j
		   SET state = 'pending', lease_owner = NULL, lease_expires_at = NULL,
			   attempts = greatest(j.attempts - 1, 0), updated_at = pg_catalog.now()
		 WHERE j.state = 'running' AND j.lease_owner = worker_deregister.worker_id
		RETURNING j.kind, j.priority, j.run_after, j.id
	LOOP
		n := n + 1;
		PERFORM cpub.queue_head_lower((-r.priority)::smallint, r.run_after, r.id);
		PERFORM pg_catalog.pg_notify('cpub_jobs', r.kind);
	END LOOP;
	RETURN n;
END
$$;
GRANT EXECUTE ON FUNCTION cpub_worker.worker_deregister(uuid) TO cpub_worker;

-- cpub_worker.workers_running(ids): those of the given worker ids that are
-- registered and alive (cpub.worker_alive), each once, in id order.  A
-- starting worker lists the containers labelled with this installation's
-- id and removes those whose worker is not in the result: that worker is
-- gone (deregistered, or silent for longer than worker_timeout, so its
-- jobs were or will be taken back), and no one else would remove them.
-- 22004 when ids is NULL or holds NULL.
CREATE FUNCTION cpub_worker.workers_running(ids uuid[])
	RETURNS uuid[]
	LANGUAGE plpgsql STABLE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
BEGIN
	IF workers_running.ids IS NULL
	   OR pg_catalog.array_position(workers_running.ids, NULL) IS NOT NULL THEN
		RAISE EXCEPTION 'worker ids must not be NULL or hold NULL'
			USING ERRCODE = '22004',
				  HINT = 'Pass the ids of the workers, ''{}'' for none.';
	END IF;
	RETURN ARRAY(SELECT w.id FROM cpub.workers w
				  WHERE w.id = ANY (workers_running.ids) AND cpub.worker_alive(w)
				  ORDER BY w.id);
END
$$;
GRANT EXECUTE ON FUNCTION cpub_worker.workers_running(uuid[]) TO cpub_worker;

-- cpub_worker.installation_id(): this installation's id (cpub.installation),
-- the same at every call: the worker labels its containers with it, and
-- lists and removes only containers that carry it.
CREATE FUNCTION cpub_worker.installation_id()
	RETURNS uuid
	LANGUAGE sql STABLE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
	SELECT i.id FROM cpub.installation i
$$;
GRANT EXECUTE ON FUNCTION cpub_worker.installation_id() TO cpub_worker;

-- cpub_worker.job_complete_and_claim(worker_id, done, kinds, limit, lease):
-- completes the jobs done (as job_complete; '{}' for none), then claims up
-- to "limit" (1 to 1000) jobs of the given kinds (NULL: every kind the
-- worker registered for), in one call, one round trip and one commit:
-- what a worker loops on.  The claimed jobs come most urgent first
-- (priority DESC, run_after, id), each leased to the worker until now() +
-- lease (NULL: the setting job_lease; 1 second to 1 day).  Claimable:
-- pending with run_after <= now(); a job whose lease expired (its worker
-- died) is taken back within a second, the attempt counted, and past
-- max_attempts it is dead instead.  Concurrent claims skip each other's
-- rows (FOR UPDATE SKIP LOCKED), so no job goes to two workers.  Empty
-- when there is nothing to do: wait for NOTIFY cpub_jobs.
-- Errors: P0002 unknown worker, 55Q05 stopped worker, 55Q01 a done job the
-- worker no longer holds (nothing is completed or claimed), 22004 NULL in
-- done, 22023 unknown kinds, kinds the worker did not register, a bad
-- limit or lease.
--
-- This is the hot path: three statements with cached generic plans, one
-- read (the lease setting, the worker, the queue's head, whether
-- housekeeping is due, the checks), the DELETE of the done jobs and the
-- claiming UPDATE; housekeeping only when due.
CREATE FUNCTION cpub_worker.job_complete_and_claim(worker_id uuid, done bigint[],
												   kinds text[],
												   "limit" integer DEFAULT 1,
												   lease interval DEFAULT NULL)
	RETURNS SETOF cpub_worker.claimed_job
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	-- The plans do not depend on the values (the indexes fit whatever the
	-- head, the ids or the limit): without this, the plan cache goes on
	-- planning each call, the generic plan's estimate looking worse.
	SET plan_cache_mode = force_generic_plan
	AS $$
DECLARE
	r record;
BEGIN
	-- One statement completes the done jobs and reads what the claim
	-- needs: the lease setting, the worker, the queue's head and whether
	-- housekeeping is due.  It also checks the arguments, the worker and
	-- that every done job was the worker's (all or nothing: 55Q01 names
	-- the ones it no longer holds); each raising helper is called only
	-- when its check fails.  (PL/pgSQL sets up every expression of its own
	-- again in each transaction, and each statement costs an executor
	-- start: so the checks live in the statements, and there are two.)
	WITH d AS (
		DELETE FROM cpub.jobs j
		 WHERE j.id = ANY (job_complete_and_claim.done)
		   -- Not j.state = 'running' (implied: only running jobs have an
		   -- owner), which would tempt the planner to the small-looking
		   -- jobs_leases index, full of dead entries between vacuums,
		   -- instead of the primary key.
		   AND j.lease_owner = job_complete_and_claim.worker_id
		RETURNING j.id
	), held AS (
		SELECT coalesce(pg_catalog.array_agg(d.id), '{}') AS ids FROM d
	)
	SELECT pg_catalog.now() + coalesce(job_complete_and_claim.lease,
									   (coalesce(s.value, sd.value) #>> '{}')::interval)
			   AS lease_until,
		   coalesce(job_complete_and_claim.kinds, w.capabilities) AS kinds,
		   coalesce(job_complete_and_claim.kinds, w.capabilities)
			   @> ARRAY['build', 'run', 'cleanup', 'maintenance'] AS all_kinds,
		   coalesce(h.urgency, -32768) AS head_urgency,
		   coalesce(h.run_after, '-infinity') AS head_run_after,
		   coalesce(h.id, -9223372036854775808) AS head_id,
		   coalesce(h.head_checked_at <= pg_catalog.now() - interval '100 milliseconds', true)
			   AS head_due,
		   coalesce(h.leases_checked_at <= pg_catalog.now() - interval '1 second', true)
			   AS leases_due,
		   CASE
			   WHEN job_complete_and_claim."limit" IS NULL
					OR job_complete_and_claim."limit" NOT BETWEEN 1 AND 1000
				   THEN cpub.job_check_limit(job_complete_and_claim."limit") IS NULL
			   WHEN job_complete_and_claim.done IS NULL
					OR pg_catalog.array_position(job_complete_and_claim.done, NULL) IS NOT NULL
				   THEN cpub.job_check_ids(job_complete_and_claim.done, 'done') IS NULL
			   WHEN job_complete_and_claim.kinds IS NOT NULL
					AND (pg_catalog.cardinality(job_complete_and_claim.kinds) = 0
						 OR NOT job_complete_and_claim.kinds
								<@ ARRAY['build', 'run', 'cleanup', 'maintenance']
						 OR pg_catalog.array_position(job_complete_and_claim.kinds, NULL) IS NOT NULL)
				   THEN cpub.job_check_kinds(job_complete_and_claim.kinds) IS NULL
			   WHEN job_complete_and_claim.lease < interval '1 second'
					OR job_complete_and_claim.lease > interval '1 day'
				   THEN cpub.job_check_lease(job_complete_and_claim.lease) IS NULL
			   WHEN w.id IS NULL
				   THEN cpub.worker_missing(job_complete_and_claim.worker_id)
			   WHEN w.stopped_at IS NOT NULL
				   THEN cpub.worker_stopped(w.id, w.stopped_at)
			   WHEN NOT job_complete_and_claim.kinds <@ w.capabilities
				   THEN cpub.worker_cannot(w.id, job_complete_and_claim.kinds, w.capabilities)
			   WHEN pg_catalog.cardinality(held.ids)
					  < pg_catalog.cardinality(job_complete_and_claim.done)
					AND EXISTS (SELECT FROM pg_catalog.unnest(job_complete_and_claim.done) x(id)
								 WHERE x.id <> ALL (held.ids))
				   THEN cpub.job_lost(job_complete_and_claim.worker_id,
									  job_complete_and_claim.done, held.ids)
		   END AS checked
	  INTO r
	  FROM held
	 CROSS JOIN cpub.setting_defaults sd
	  LEFT JOIN cpub.settings s ON s.name = sd.name
	  LEFT JOIN cpub.workers w ON w.id = job_complete_and_claim.worker_id
	  LEFT JOIN cpub.queue_head h ON true
	 WHERE sd.name = 'job_lease';

	IF r.head_due OR r.leases_due THEN
		-- Rare.  This worker may have been found dead: then 55Q05.  Jobs
		-- taken back may be below the head read above: read it again.
		PERFORM cpub.queue_housekeeping(r.head_due, r.leases_due);
		PERFORM cpub.worker_check(job_complete_and_claim.worker_id);
		SELECT coalesce(h.urgency, -32768), coalesce(h.run_after, '-infinity'),
			   coalesce(h.id, -9223372036854775808)
		  INTO r.head_urgency, r.head_run_after, r.head_id
		  FROM (SELECT) one
		  LEFT JOIN cpub.queue_head h ON true;
	END IF;

	-- Claim, from the head.
	IF r.all_kinds THEN
		-- Every kind: one ordered scan of jobs_pending.
		RETURN QUERY
		WITH claimed AS (
			UPDATE cpub.jobs j
			   SET state = 'running', lease_owner = job_complete_and_claim.worker_id,
				   lease_expires_at = r.lease_until, attempts = j.attempts + 1,
				   updated_at = pg_catalog.now()
			 WHERE j.id = ANY (ARRAY(
					SELECT c.id FROM cpub.jobs c
					 WHERE c.state = 'pending'
					   AND (-c.priority, c.run_after, c.id)
						   >= (r.head_urgency, r.head_run_after, r.head_id)
					   AND c.run_after <= pg_catalog.now()
					 ORDER BY -c.priority, c.run_after, c.id
					 LIMIT job_complete_and_claim."limit"
					   FOR UPDATE SKIP LOCKED))
			RETURNING j.id, j.kind, j.payload, j.attempts, j.max_attempts,
					  j.lease_expires_at, j.priority, j.run_after
		)
		SELECT c.id, c.kind, c.payload, c.attempts, c.max_attempts, c.lease_expires_at
		  FROM claimed c
		 ORDER BY c.priority DESC, c.run_after, c.id;
	ELSE
		-- Some kinds: an ordered scan of jobs_pending_kind per kind, then
		-- the most urgent of those.  With several kinds, up to "limit" rows
		-- per kind are locked until the end of the transaction (and
		-- skipped by others meanwhile) though only "limit" are claimed.
		RETURN QUERY
		WITH claimed AS (
			UPDATE cpub.jobs j
			   SET state = 'running', lease_owner = job_complete_and_claim.worker_id,
				   lease_expires_at = r.lease_until, attempts = j.attempts + 1,
				   updated_at = pg_catalog.now()
			 WHERE j.id = ANY (ARRAY(
					SELECT c.id
					  FROM pg_catalog.unnest(r.kinds) u(kind),
						   LATERAL (SELECT x.id, x.priority, x.run_after
									  FROM cpub.jobs x
									 WHERE x.state = 'pending' AND x.kind = u.kind
									   AND (-x.priority, x.run_after, x.id)
										   >= (r.head_urgency, r.head_run_after, r.head_id)
									   AND x.run_after <= pg_catalog.now()
									 ORDER BY -x.priority, x.run_after, x.id
									 LIMIT job_complete_and_claim."limit"
									   FOR UPDATE SKIP LOCKED) c
					 ORDER BY c.priority DESC, c.run_after, c.id
					 LIMIT job_complete_and_claim."limit"))
			RETURNING j.id, j.kind, j.payload, j.attempts, j.max_attempts,
					  j.lease_expires_at, j.priority, j.run_after
		)
		SELECT c.id, c.kind, c.payload, c.attempts, c.max_attempts, c.lease_expires_at
		  FROM claimed c
		 ORDER BY c.priority DESC, c.run_after, c.id;
	END IF;
END
$$;
GRANT EXECUTE ON FUNCTION cpub_worker.job_complete_and_claim(uuid, bigint[], text[], integer, interval)
	TO cpub_worker;

-- cpub_worker.job_claim(worker_id, kinds, limit, lease): claims without
-- completing anything: job_complete_and_claim(worker_id, '{}', kinds,
-- limit, lease), which see.
CREATE FUNCTION cpub_worker.job_claim(worker_id uuid, kinds text[],
									  "limit" integer DEFAULT 1,
									  lease interval DEFAULT NULL)
	RETURNS SETOF cpub_worker.claimed_job
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
BEGIN
	RETURN QUERY
	SELECT * FROM cpub_worker.job_complete_and_claim(job_claim.worker_id, '{}',
													 job_claim.kinds,
													 job_claim."limit",
													 job_claim.lease);
END
$$;
GRANT EXECUTE ON FUNCTION cpub_worker.job_claim(uuid, text[], integer, interval)
	TO cpub_worker;

-- cpub_worker.job_complete(worker_id, ids): the jobs are done: deletes
-- them.  All or nothing: if the worker no longer holds one of them, 55Q01
-- (the detail names them) and none is completed; call again without
-- those.  Returns how many it completed.  P0002, 55Q05, 22004 for NULL ids.
CREATE FUNCTION cpub_worker.job_complete(worker_id uuid, ids bigint[])
	RETURNS integer
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	completed bigint[];
BEGIN
	PERFORM cpub.job_check_ids(job_complete.ids);
	PERFORM cpub.worker_check(job_complete.worker_id);
	WITH d AS (
		DELETE FROM cpub.jobs j
		 WHERE j.id = ANY (job_complete.ids)
		   AND j.lease_owner = job_complete.worker_id	-- so running (see above)
		RETURNING j.id
	)
	SELECT pg_catalog.array_agg(d.id) INTO completed FROM d;
	IF EXISTS (SELECT FROM pg_catalog.unnest(job_complete.ids) x(id)
				WHERE x.id <> ALL (coalesce(completed, '{}'))) THEN
		PERFORM cpub.job_lost(job_complete.worker_id, job_complete.ids,
							  coalesce(completed, '{}'));
	END IF;
	RETURN coalesce(pg_catalog.cardinality(completed), 0);
END
$$;
GRANT EXECUTE ON FUNCTION cpub_worker.job_complete(uuid, bigint[]) TO cpub_worker;

-- cpub_worker.job_heartbeat(worker_id, ids, lease): extends the leases of
-- jobs the worker holds to now() + lease (NULL: job_lease), for a job that
-- needs more than job_lease between heartbeats; also counts as a worker
-- heartbeat.  All or nothing: 55Q01 if the worker no longer holds one of
-- them (stop working on it).  Returns the new expiry.  P0002, 55Q05,
-- 22004, 22023 for a bad lease.
CREATE FUNCTION cpub_worker.job_heartbeat(worker_id uuid, ids bigint[],
										  lease interval DEFAULT NULL)
	RETURNS timestamptz
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	w cpub.workers := cpub.worker_check(job_heartbeat.worker_id);
	jids bigint[] := cpub.job_check_ids(job_heartbeat.ids);
	lease_until timestamptz := pg_catalog.now() + coalesce(cpub.job_check_lease(job_heartbeat.lease),
												   cpub.setting_interval('job_lease'));
	held bigint[];
BEGIN
	UPDATE cpub.workers x SET heartbeat_at = pg_catalog.now() WHERE x.id = w.id;
	WITH extended AS (
		UPDATE cpub.jobs j SET lease_expires_at = lease_until
		 WHERE j.id = ANY (jids) AND j.lease_owner = w.id	-- so running
		RETURNING j.id
	)
	SELECT coalesce(pg_catalog.array_agg(e.id), '{}') INTO held FROM extended e;
	IF EXISTS (SELECT FROM pg_catalog.unnest(jids) x(id) WHERE x.id <> ALL (held)) THEN
		PERFORM cpub.job_lost(w.id, jids, held);
	END IF;
	RETURN lease_until;
END
$$;
GRANT EXECUTE ON FUNCTION cpub_worker.job_heartbeat(uuid, bigint[], interval)
	TO cpub_worker;

-- cpub_worker.job_fail(worker_id, id, error, retry): the job failed with
-- error.  With retry and attempts left, it goes back to pending after a
-- backoff: job_retry_delay * 2^(attempts - 1), capped at
-- job_retry_delay_max, times a random factor from 0.5 to 1 (so jobs that
-- failed together do not all come back together).  Otherwise (no retry,
-- or that was its last attempt) it is dead, for admins to see and retry.
-- last_error keeps the error (up to 10000 characters), failed_at when.
-- Returns the job's new state, attempts and run_after.  55Q01 if the
-- worker no longer holds it; P0002, 55Q05; 22004 for a missing id or
-- error.
CREATE FUNCTION cpub_worker.job_fail(worker_id uuid, id bigint, error text,
									 retry boolean DEFAULT true)
	RETURNS TABLE (state text, attempts integer, run_after timestamptz)
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	w cpub.workers := cpub.worker_check(job_fail.worker_id);
	j cpub.jobs;
	delay interval;
BEGIN
	IF job_fail.id IS NULL OR job_fail.error IS NULL THEN
		RAISE EXCEPTION 'job id and error are required'
			USING ERRCODE = '22004', HINT = 'Say what went wrong: admins read it in last_error.';
	END IF;
	SELECT * INTO j FROM cpub.jobs x
	 WHERE x.id = job_fail.id AND x.lease_owner = w.id	-- so running
	   FOR UPDATE;
	IF NOT FOUND THEN
		PERFORM cpub.job_lost(w.id, ARRAY[job_fail.id], '{}');
	END IF;
	IF coalesce(job_fail.retry, true) AND j.attempts < j.max_attempts THEN
		delay := least(cpub.setting_interval('job_retry_delay')
					   * pg_catalog.power(2, least(j.attempts - 1, 40)),
					   cpub.setting_interval('job_retry_delay_max'))
				 * (0.5 + pg_catalog.random() / 2);
		UPDATE cpub.jobs x
		   SET state = 'pending', run_after = pg_catalog.now() + delay,
			   lease_owner = NULL, lease_expires_at = NULL,
			   last_error = pg_catalog.left(job_fail.error, 10000),
			   failed_at = pg_catalog.now(), updated_at = pg_catalog.now()
		 WHERE x.id = j.id;
		PERFORM cpub.queue_head_lower((-j.priority)::smallint, pg_catalog.now() + delay, j.id);
	ELSE
		UPDATE cpub.jobs x
		   SET state = 'dead', lease_owner = NULL, lease_expires_at = NULL,
			   last_error = pg_catalog.left(job_fail.error, 10000),
			   failed_at = pg_catalog.now(), updated_at = pg_catalog.now()
		 WHERE x.id = j.id;
	END IF;
	RETURN QUERY SELECT x.state, x.attempts, x.run_after FROM cpub.jobs x WHERE x.id = j.id;
END
$$;
GRANT EXECUTE ON FUNCTION cpub_worker.job_fail(uuid, bigint, text, boolean)
	TO cpub_worker;

--
-- Maintenance.
--

-- cpub_worker.maintenance_schedule(): every worker calls it now and then
-- (say every 10 seconds); when maintenance is due (every
-- maintenance_interval) it enqueues one 'maintenance' job and returns its
-- id, else NULL.  The due time lives in one row that the first caller
-- advances (UPDATE ... WHERE due, with its row lock), so however many
-- workers call at once, one job is enqueued per interval; none while the
-- previous one is still pending or running.
CREATE FUNCTION cpub_worker.maintenance_schedule()
	RETURNS bigint
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	next_at timestamptz := pg_catalog.now() + cpub.setting_interval('maintenance_interval');
	jid bigint;
BEGIN
	-- A second caller waits for the first's row lock, then sees the new
	-- due time and gets no row.
	INSERT INTO cpub.maintenance_schedule AS s (only_row, due_at)
	VALUES (true, next_at)
	ON CONFLICT (only_row) DO UPDATE SET due_at = excluded.due_at
	 WHERE s.due_at <= pg_catalog.now();
	IF NOT FOUND THEN
		RETURN NULL;
	END IF;
	IF EXISTS (SELECT FROM cpub.jobs j
				WHERE j.kind = 'maintenance' AND j.state IN ('pending', 'running')) THEN
		RETURN NULL;
	END IF;
	jid := cpub.job_enqueue('maintenance', '{}', 0);
	UPDATE cpub.maintenance_schedule s SET last_job_id = jid;
	RETURN jid;
END
$$;
GRANT EXECUTE ON FUNCTION cpub_worker.maintenance_schedule() TO cpub_worker;

-- cpub_worker.maintenance_run(): what a worker does for a maintenance job.
-- Marks dead workers stopped and takes back every expired lease, checks
-- the queue's head from the front (claims only ever move it up), deletes
-- workers stopped longer than worker_retention, then runs each task of
-- cpub.maintenance_tasks.  Returns counts:
--   {"workers_stopped": n, "leases_released": n, "head_checked": bool,
--    "workers_deleted": n,
--    "tasks": {"<name>": <its result> or {"error": "<message>", "sqlstate": "<code>"}}}
-- A task that fails is rolled back alone and reported (with a WARNING).
CREATE FUNCTION cpub_worker.maintenance_run()
	RETURNS jsonb
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	reaped record;
	released integer := 0;
	n integer;
	head boolean;
	deleted integer;
	tasks jsonb := '{}';
	t cpub.maintenance_tasks;
	result jsonb;
BEGIN
	reaped := cpub.workers_reap(cpub.setting_interval('worker_timeout'));
	LOOP
		n := cpub.jobs_release_expired(1000);
		released := released + n;
		EXIT WHEN n < 1000;
	END LOOP;
	head := cpub.queue_head_advance(true);
	DELETE FROM cpub.workers w
	 WHERE w.stopped_at < pg_catalog.now() - cpub.setting_interval('worker_retention');
	GET DIAGNOSTICS deleted = ROW_COUNT;

	-- Further purges: rows of cpub.maintenance_tasks (see there).
	FOR t IN SELECT * FROM cpub.maintenance_tasks x ORDER BY x.name LOOP
		BEGIN
			EXECUTE pg_catalog.format('SELECT pg_catalog.to_jsonb(%s)', t.function::text)
			   INTO result;
		EXCEPTION WHEN OTHERS THEN
			result := pg_catalog.jsonb_build_object('error', SQLERRM, 'sqlstate', SQLSTATE);
			RAISE WARNING 'maintenance task "%" failed: %', t.name, SQLERRM;
		END;
		tasks := tasks || pg_catalog.jsonb_build_object(t.name, result);
	END LOOP;

	RETURN pg_catalog.jsonb_build_object('workers_stopped', reaped.workers,
										 'leases_released', released,
										 'head_checked', head,
										 'workers_deleted', deleted,
										 'tasks', tasks);
END
$$;
GRANT EXECUTE ON FUNCTION cpub_worker.maintenance_run() TO cpub_worker;

INSERT INTO cpub.maintenance_tasks (name, function, description) VALUES
	('purge_expired_sessions', 'cpub_worker.purge_expired_sessions()',
	 'Expired access tokens, and sessions over for longer than the refresh-token lifetime.');

--
-- Admin functions.
--

-- cpub.job_row(id, lock): a job, P0002 when there is none.
CREATE FUNCTION cpub.job_row(id bigint, lock boolean DEFAULT false)
	RETURNS cpub.jobs
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	j cpub.jobs;
BEGIN
	IF job_row.lock THEN
		SELECT * INTO j FROM cpub.jobs x WHERE x.id = job_row.id FOR UPDATE;
	ELSE
		SELECT * INTO j FROM cpub.jobs x WHERE x.id = job_row.id;
	END IF;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'job not found'
			USING ERRCODE = 'P0002',
				  DETAIL = pg_catalog.format('No job has id %s; completed jobs are deleted.',
											 coalesce(job_row.id::text, 'NULL'));
	END IF;
	RETURN j;
END
$$;

-- cpub.job_info(j): the admins' view of a job row.
CREATE FUNCTION cpub.job_info(j cpub.jobs) RETURNS cpub_admin.job
	LANGUAGE sql IMMUTABLE
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
	SELECT ROW((job_info.j).id, (job_info.j).kind, (job_info.j).state,
			   (job_info.j).priority, (job_info.j).payload, (job_info.j).attempts,
			   (job_info.j).max_attempts, (job_info.j).run_after,
			   (job_info.j).lease_owner, (job_info.j).lease_expires_at,
			   (job_info.j).last_error, (job_info.j).created_at,
			   (job_info.j).updated_at)::cpub_admin.job
$$;

-- cpub_admin.job_list(state, kind, after, limit): jobs in id order (oldest
-- first), all or of one state and/or kind.  after: the id of the last job
-- of the previous page (it may have been completed since).  22023 for an
-- unknown state or kind, or a bad limit.
CREATE FUNCTION cpub_admin.job_list(state text DEFAULT NULL, kind text DEFAULT NULL,
									after bigint DEFAULT NULL,
									"limit" integer DEFAULT 50)
	RETURNS SETOF cpub_admin.job
	LANGUAGE plpgsql STABLE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	n integer := cpub.check_page_limit(job_list."limit");
BEGIN
	IF job_list.state IS NOT NULL
	   AND job_list.state NOT IN ('pending', 'running', 'dead') THEN
		RAISE EXCEPTION 'invalid job state "%"', job_list.state
			USING ERRCODE = '22023', HINT = 'Use pending, running or dead.';
	END IF;
	IF job_list.kind IS NOT NULL THEN
		PERFORM cpub.job_check_kinds(ARRAY[job_list.kind]);
	END IF;
	RETURN QUERY
	SELECT j.id, j.kind, j.state, j.priority, j.payload, j.attempts,
		   j.max_attempts, j.run_after, j.lease_owner, j.lease_expires_at,
		   j.last_error, j.created_at, j.updated_at
	  FROM cpub.jobs j
	 WHERE j.id > coalesce(job_list.after, 0)
	   AND (job_list.state IS NULL OR j.state = job_list.state)
	   AND (job_list.kind IS NULL OR j.kind = job_list.kind)
	 ORDER BY j.id
	 LIMIT n;
END
$$;
GRANT EXECUTE ON FUNCTION cpub_admin.job_list(text, text, bigint, integer)
	TO cpub_admin_viewer;

-- cpub_admin.job_get(id): one job; P0002 when there is none (completed
-- jobs are deleted).
CREATE FUNCTION cpub_admin.job_get(id bigint)
	RETURNS cpub_admin.job
	LANGUAGE sql STABLE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$ SELECT cpub.job_info(cpub.job_row(id)) $$;
GRANT EXECUTE ON FUNCTION cpub_admin.job_get(bigint) TO cpub_admin_viewer;

-- cpub_admin.job_retry(id): a dead job gets another round: pending now,
-- attempts from 0 (last_error stays until the next failure), and workers
-- are woken.  Audited 'job.retry'.  P0002, 23514 when it is not dead.
CREATE FUNCTION cpub_admin.job_retry(id bigint)
	RETURNS cpub_admin.job
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	j cpub.jobs := cpub.job_row(job_retry.id, true);
BEGIN
	IF j.state <> 'dead' THEN
		RAISE EXCEPTION 'cannot retry a job that is %', j.state
			USING ERRCODE = '23514',
				  DETAIL = pg_catalog.format('Job %s is %s; only a dead job can be retried.', j.id, j.state);
	END IF;
	UPDATE cpub.jobs x
	   SET state = 'pending', attempts = 0, run_after = pg_catalog.now(),
		   updated_at = pg_catalog.now()
	 WHERE x.id = j.id;
	PERFORM cpub.queue_head_lower((-j.priority)::smallint, pg_catalog.now(), j.id);
	PERFORM cpub.audit('job.retry', 'job', j.id::text,
					   pg_catalog.jsonb_build_object('kind', j.kind, 'attempts', j.attempts,
													 'last_error', j.last_error));
	PERFORM pg_catalog.pg_notify('cpub_jobs', j.kind);
	RETURN cpub.job_info(cpub.job_row(j.id));
END
$$;
GRANT EXECUTE ON FUNCTION cpub_admin.job_retry(bigint) TO cpub_admin_full;

-- cpub_admin.job_delete(id): removes a dead job for good.  Audited
-- 'job.delete' with the job.  P0002, 23514 when it is not dead (a pending
-- or running job belongs to the workers).
CREATE FUNCTION cpub_admin.job_delete(id bigint)
	RETURNS void
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	j cpub.jobs := cpub.job_row(job_delete.id, true);
BEGIN
	IF j.state <> 'dead' THEN
		RAISE EXCEPTION 'cannot delete a job that is %', j.state
			USING ERRCODE = '23514',
				  DETAIL = pg_catalog.format('Job %s is %s; only a dead job can be deleted.', j.id, j.state);
	END IF;
	PERFORM cpub.audit('job.delete', 'job', j.id::text, pg_catalog.to_jsonb(j) - 'id');
	DELETE FROM cpub.jobs x WHERE x.id = j.id;
END
$$;
GRANT EXECUTE ON FUNCTION cpub_admin.job_delete(bigint) TO cpub_admin_full;

-- cpub_admin.queue_stats(): the queue's depth, one row per kind and state
-- (zeros included).  delayed: pending jobs not due yet (retries waiting
-- out their backoff); oldest_wait: how long the longest-waiting due
-- pending job has waited (the queue's lag; NULL when none waits).
CREATE FUNCTION cpub_admin.queue_stats()
	RETURNS TABLE (kind text, state text, jobs bigint, delayed bigint,
				   oldest_wait interval)
	LANGUAGE sql STABLE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
	SELECT k.kind, s.state, coalesce(c.jobs, 0), coalesce(c.delayed, 0),
		   c.oldest_wait
	  FROM unnest(ARRAY['run', 'build', 'cleanup', 'maintenance']) WITH ORDINALITY k(kind, ord)
	 CROSS JOIN unnest(ARRAY['pending', 'running', 'dead']) WITH ORDINALITY s(state, ord)
	  LEFT JOIN (SELECT j.kind, j.state, count(*) AS jobs,
						count(*) FILTER (WHERE j.state = 'pending'
											AND j.run_after > now()) AS delayed,
						now() - min(j.run_after) FILTER (WHERE j.state = 'pending'
															 AND j.run_after <= now()) AS oldest_wait
				   FROM cpub.jobs j
				  GROUP BY j.kind, j.state) c
		ON c.kind = k.kind AND c.state = s.state
	 ORDER BY k.ord, s.ord
$$;
GRANT EXECUTE ON FUNCTION cpub_admin.queue_stats() TO cpub_admin_viewer;

-- cpub_admin.workers(include_stopped): live workers (and stopped ones, kept
-- for worker_retention, with include_stopped), oldest first, with the jobs
-- each holds, whether it is alive (cpub.worker_alive: not stopped,
-- heartbeat within worker_timeout; a dead one is marked stopped by the
-- next claim or maintenance) and the containers its last heartbeat
-- reported (NULL: not reported).
CREATE FUNCTION cpub_admin.workers(include_stopped boolean DEFAULT false)
	RETURNS TABLE (id uuid, host text, pid integer, version text,
				   capabilities text[], started_at timestamptz,
				   heartbeat_at timestamptz, stopped_at timestamptz,
				   alive boolean, running_jobs bigint,
				   running_containers integer, warm_containers integer)
	LANGUAGE sql STABLE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
	SELECT w.id, w.host, w.pid, w.version, w.capabilities, w.started_at,
		   w.heartbeat_at, w.stopped_at, cpub.worker_alive(w),
		   (SELECT count(*) FROM cpub.jobs j
			 WHERE j.state = 'running' AND j.lease_owner = w.id),
		   w.running_containers, w.warm_containers
	  FROM cpub.workers w
	 WHERE w.stopped_at IS NULL OR coalesce(workers.include_stopped, false)
	 ORDER BY w.started_at, w.id
$$;
GRANT EXECUTE ON FUNCTION cpub_admin.workers(boolean) TO cpub_admin_viewer;
