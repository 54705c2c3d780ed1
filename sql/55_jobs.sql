-- sql/55_jobs.sql: the job queue that workers drain, and the workers
-- themselves.
--
-- One table holds every kind of work: build (a deployed version into an
-- image), run (an execution), cleanup (a deleted function's images) and
-- maintenance (purges).  A job is pending until a worker claims it with a
-- lease, running while the lease holds, and gone once completed; a failed
-- job waits (run_after) and is retried until max_attempts, then stays dead
-- for admins to see and retry.

CREATE TABLE cpub.jobs (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	kind text NOT NULL
		CHECK (kind IN ('build', 'run', 'cleanup', 'maintenance')),
	payload jsonb NOT NULL DEFAULT '{}',
	priority smallint NOT NULL DEFAULT 0,
	state text NOT NULL DEFAULT 'pending'
		CHECK (state IN ('pending', 'running', 'dead')),
	attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
	max_attempts integer NOT NULL DEFAULT 5 CHECK (max_attempts > 0),
	run_after timestamptz NOT NULL DEFAULT now(),
	lease_owner uuid,
	lease_expires_at timestamptz,
	last_error text,
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now(),
	CHECK ((state = 'running') = (lease_owner IS NOT NULL
								  AND lease_expires_at IS NOT NULL))
);
-- What a claim scans: pending jobs, most urgent first.
CREATE INDEX jobs_pending ON cpub.jobs (priority DESC, run_after, id)
	WHERE state = 'pending';
SELECT pg_catalog.pg_extension_config_dump('cpub.jobs', '');

-- cpub.job_enqueue(kind, payload, priority, run_after, max_attempts): adds a
-- pending job and wakes listening workers (NOTIFY cpub_jobs, payload: the
-- kind; delivered at commit, so a worker never wakes for a job it cannot
-- see yet).  Returns the job's id.  The callers are the extension's own
-- functions (deploy, invoke, delete, maintenance), never a role directly.
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
