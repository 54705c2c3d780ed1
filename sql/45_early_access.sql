-- sql/45_early_access.sql: early access.  A developer asks for it with a
-- reason; an admin approves, rejects or waitlists the request.  Approval
-- grants the feature role 'early_access' (40_feature_roles.sql), taking it
-- away again revokes it.  The setting early_access_capacity caps how many
-- requests may be approved at once.
--
-- A request moves freely between pending, approved, rejected and
-- waitlisted by admin decision; the developer may ask again only after a
-- rejection, which reopens the same request as pending.

CREATE TABLE cpub.early_access_requests (
	id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	user_id uuid NOT NULL UNIQUE REFERENCES cpub.users (uuid) ON DELETE CASCADE,
	reason text NOT NULL CHECK (char_length(reason) BETWEEN 1 AND 500),
	status text NOT NULL DEFAULT 'pending'
		CHECK (status IN ('pending', 'approved', 'rejected', 'waitlisted')),
	created_at timestamptz NOT NULL DEFAULT now(),	-- asked (again, if reopened)
	updated_at timestamptz NOT NULL DEFAULT now(),
	decided_at timestamptz,			-- the last admin decision
	decided_by text,				-- its actor's name, as in the audit log
	note text						-- its note; shown to the developer
);
-- The admin's queue: oldest first, optionally of one status; also counts
-- the approved requests.
CREATE INDEX early_access_requests_status
	ON cpub.early_access_requests (status, created_at, id);
CREATE INDEX early_access_requests_created
	ON cpub.early_access_requests (created_at, id);
ALTER TABLE cpub.early_access_requests ENABLE ROW LEVEL SECURITY;
CREATE POLICY early_access_requests_self ON cpub.early_access_requests
	USING (user_id = cpub.current_user_id());
SELECT pg_catalog.pg_extension_config_dump('cpub.early_access_requests', '');

--
-- The shapes functions return: a developer's view of their request, and an
-- admin's (with the user and who decided).
--
CREATE TYPE cpub_api.early_access AS (
	id uuid,
	status text,
	reason text,
	created_at timestamptz,
	updated_at timestamptz,
	decided_at timestamptz,
	note text
);
CREATE TYPE cpub_admin.early_access_request AS (
	id uuid,
	user_id uuid,
	email text,
	reason text,
	status text,
	created_at timestamptz,
	updated_at timestamptz,
	decided_at timestamptz,
	decided_by text,
	note text
);

--
-- Private helpers.
--

-- cpub.early_access_capacity_value(): the capacity setting as an integer,
-- NULL for no cap.
CREATE FUNCTION cpub.early_access_capacity_value() RETURNS integer
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
	SELECT CASE WHEN jsonb_typeof(v.value) = 'number' THEN (v.value)::integer END
	  FROM (SELECT cpub.setting('early_access_capacity') AS value) v
$$;

-- cpub.early_access_lock(): serializes the changes that must respect the
-- capacity (approvals, capacity changes) by locking the setting's row in
-- cpub.setting_defaults, which always exists.  Under READ COMMITTED (the
-- default, used by the HTTP front) the statements after it see what the
-- previous holder committed.
-- It updates the row rather than only locking it, so that under REPEATABLE
-- READ or SERIALIZABLE the second of two approvals fails with 40001 (retry)
-- instead of counting with its old snapshot.
CREATE FUNCTION cpub.early_access_lock() RETURNS void
	LANGUAGE sql VOLATILE
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
	UPDATE cpub.setting_defaults d SET value = d.value
	 WHERE d.name = 'early_access_capacity'
$$;

-- cpub.early_access_note(note): a decision's note trimmed, NULL when empty;
-- 22023 beyond 1000 characters.
CREATE FUNCTION cpub.early_access_note(note text) RETURNS text
	LANGUAGE plpgsql IMMUTABLE
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	n text := nullif(btrim(note, E' \t\r\n\f\v'), '');
BEGIN
	IF char_length(n) > 1000 THEN
		RAISE EXCEPTION 'note is too long'
			USING ERRCODE = '22023',
				  DETAIL = pg_catalog.format('A note has at most 1000 characters; got %s.',
											 char_length(n));
	END IF;
	RETURN n;
END
$$;

-- cpub.early_access_decide(request_id, status, note): the admin decisions.
-- Locks the request, refuses a no-op (23514), checks the capacity before
-- approving (54Q01), grants or revokes the role 'early_access', audits
-- 'early_access.<approve|reject|waitlist>'.
CREATE FUNCTION cpub.early_access_decide(request_id uuid, status text, note text)
	RETURNS SETOF cpub.early_access_requests
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	req cpub.early_access_requests;
	n text := cpub.early_access_note(early_access_decide.note);
	cap integer;
	approved integer;
	verb text := CASE early_access_decide.status
					 WHEN 'approved' THEN 'approve'
					 WHEN 'rejected' THEN 'reject'
					 WHEN 'waitlisted' THEN 'waitlist' END;
BEGIN
	IF early_access_decide.status = 'approved' THEN
		-- Before the request: approvals queue here one at a time.
		PERFORM cpub.early_access_lock();
	END IF;

	SELECT r.* INTO req
	  FROM cpub.early_access_requests r
	 WHERE r.id = early_access_decide.request_id
	   FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'early access request not found'
			USING ERRCODE = 'P0002',
				  DETAIL = pg_catalog.format('No early access request has id %s.',
											 coalesce(early_access_decide.request_id::text, 'NULL'));
	END IF;
	IF req.status = early_access_decide.status THEN
		RAISE EXCEPTION 'early access request is already %', req.status
			USING ERRCODE = '23514',
				  DETAIL = pg_catalog.format('Request %s was set to %s on %s by %s.',
											 req.id, req.status,
											 coalesce(req.decided_at, req.created_at),
											 coalesce(req.decided_by, 'its user')),
				  HINT = 'Choose a different decision, or leave the request as it is.';
	END IF;

	IF early_access_decide.status = 'approved' THEN
		cap := cpub.early_access_capacity_value();
		IF cap IS NOT NULL THEN
			SELECT count(*) INTO approved
			  FROM cpub.early_access_requests r
			 WHERE r.status = 'approved';
			IF approved >= cap THEN
				RAISE EXCEPTION 'early access capacity reached'
					USING ERRCODE = '54Q01',
						  DETAIL = pg_catalog.format('%s of %s early access places are taken.',
													 approved, cap),
						  HINT = 'Raise the capacity with cpub_admin.early_access_set_capacity, or reject or waitlist an approved request first.';
			END IF;
		END IF;
	END IF;

	UPDATE cpub.early_access_requests r
	   SET status = early_access_decide.status,
		   note = n,
		   decided_at = now(),
		   decided_by = cpub.current_actor_name(),
		   updated_at = now()
	 WHERE r.id = req.id;

	PERFORM cpub.audit('early_access.' || verb, 'early_access_request', req.id::text,
					   jsonb_build_object('user_id', req.user_id,
										  'from', req.status,
										  'to', early_access_decide.status,
										  'note', n));
	IF early_access_decide.status = 'approved' THEN
		PERFORM cpub.feature_role_add(req.user_id, 'early_access',
									  jsonb_build_object('early_access_request', req.id));
	ELSIF req.status = 'approved' THEN
		PERFORM cpub.feature_role_remove(req.user_id, 'early_access',
										 jsonb_build_object('early_access_request', req.id));
	END IF;

	RETURN QUERY
	SELECT r.* FROM cpub.early_access_requests r WHERE r.id = req.id;
END
$$;

--
-- Developer functions.
--

-- cpub_api.early_access_request(reason): asks for early access.  The reason
-- is trimmed and must have 1 to 500 characters (22023).  23505 while a
-- request is pending, waitlisted or approved; after a rejection the same
-- request is reopened as pending, its decision cleared.
CREATE FUNCTION cpub_api.early_access_request(reason text)
	RETURNS SETOF cpub_api.early_access
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	me uuid := cpub.require_user();
	why text := btrim(early_access_request.reason, E' \t\r\n\f\v');
	req cpub.early_access_requests;
	reopened boolean := false;
BEGIN
	IF why IS NULL OR why = '' THEN
		RAISE EXCEPTION 'reason is required'
			USING ERRCODE = '22023',
				  DETAIL = 'An early access request says why you want it.',
				  HINT = 'Give a reason of 1 to 500 characters.';
	END IF;
	IF char_length(why) > 500 THEN
		RAISE EXCEPTION 'reason is too long'
			USING ERRCODE = '22023',
				  DETAIL = pg_catalog.format('A reason has at most 500 characters; got %s.',
											 char_length(why)),
				  HINT = 'Shorten the reason.';
	END IF;

	SELECT r.* INTO req
	  FROM cpub.early_access_requests r
	 WHERE r.user_id = me
	   FOR UPDATE;
	IF NOT FOUND THEN
		INSERT INTO cpub.early_access_requests AS r (user_id, reason)
		VALUES (me, why)
		ON CONFLICT ON CONSTRAINT early_access_requests_user_id_key DO NOTHING
		RETURNING r.* INTO req;
	ELSIF req.status = 'rejected' THEN
		UPDATE cpub.early_access_requests r
		   SET status = 'pending', reason = why, note = NULL,
			   decided_at = NULL, decided_by = NULL,
			   created_at = now(), updated_at = now()
		 WHERE r.id = req.id
		RETURNING r.* INTO req;
		reopened := true;
	ELSE
		req := NULL;
	END IF;
	IF req.id IS NULL THEN
		-- Already asked (perhaps concurrently, which the insert caught).
		SELECT r.* INTO req FROM cpub.early_access_requests r WHERE r.user_id = me;
		RAISE EXCEPTION 'early access already requested'
			USING ERRCODE = '23505',
				  DETAIL = pg_catalog.format('Your request of %s is %s.',
											 req.created_at, req.status),
				  HINT = 'See it with cpub_api.early_access_status; you may ask again only after a rejection.';
	END IF;

	PERFORM cpub.audit('early_access.request', 'early_access_request', req.id::text,
					   jsonb_build_object('reopened', reopened));
	RETURN QUERY
	SELECT req.id, req.status, req.reason, req.created_at, req.updated_at,
		   req.decided_at, req.note;
END
$$;
GRANT EXECUTE ON FUNCTION cpub_api.early_access_request(text) TO cpub_developer;

-- cpub_api.early_access_status(): the caller's request; P0002 if none.
CREATE FUNCTION cpub_api.early_access_status()
	RETURNS SETOF cpub_api.early_access
	LANGUAGE plpgsql STABLE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	me uuid := cpub.require_user();
BEGIN
	RETURN QUERY
	SELECT r.id, r.status, r.reason, r.created_at, r.updated_at,
		   r.decided_at, r.note
	  FROM cpub.early_access_requests r
	 WHERE r.user_id = me;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'no early access request'
			USING ERRCODE = 'P0002',
				  HINT = 'Ask for early access with cpub_api.early_access_request.';
	END IF;
END
$$;
GRANT EXECUTE ON FUNCTION cpub_api.early_access_status() TO cpub_developer;

--
-- Admin functions.
--

-- cpub_admin.early_access_list(status, after, limit): requests oldest
-- first, all or of one status.  after: the id of the last request of the
-- previous page.  22023 for an unknown status or page cursor.
CREATE FUNCTION cpub_admin.early_access_list(status text DEFAULT NULL,
											 after uuid DEFAULT NULL,
											 "limit" integer DEFAULT 50)
	RETURNS SETOF cpub_admin.early_access_request
	LANGUAGE plpgsql STABLE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
DECLARE
	n integer := cpub.check_page_limit(early_access_list."limit");
	-- Before every request when no cursor is given.
	after_at timestamptz := '-infinity';
	after_id uuid := '00000000-0000-0000-0000-000000000000';
BEGIN
	IF early_access_list.status IS NOT NULL
	   AND early_access_list.status NOT IN ('pending', 'approved', 'rejected', 'waitlisted') THEN
		RAISE EXCEPTION 'invalid early access status "%"', early_access_list.status
			USING ERRCODE = '22023',
				  HINT = 'Use pending, approved, rejected or waitlisted.';
	END IF;
	IF early_access_list.after IS NOT NULL THEN
		SELECT r.created_at, r.id INTO after_at, after_id
		  FROM cpub.early_access_requests r
		 WHERE r.id = early_access_list.after;
		IF NOT FOUND THEN
			RAISE EXCEPTION 'invalid page cursor'
				USING ERRCODE = '22023',
					  DETAIL = pg_catalog.format('No early access request has id %s.',
												 early_access_list.after),
					  HINT = 'Pass the id of the last request of the previous page.';
		END IF;
	END IF;

	IF early_access_list.status IS NULL THEN
		RETURN QUERY
		SELECT r.id, r.user_id, u.email, r.reason, r.status, r.created_at,
			   r.updated_at, r.decided_at, r.decided_by, r.note
		  FROM cpub.early_access_requests r
		  JOIN cpub.users u ON u.uuid = r.user_id
		 WHERE (r.created_at, r.id) > (after_at, after_id)
		 ORDER BY r.created_at, r.id
		 LIMIT n;
	ELSE
		RETURN QUERY
		SELECT r.id, r.user_id, u.email, r.reason, r.status, r.created_at,
			   r.updated_at, r.decided_at, r.decided_by, r.note
		  FROM cpub.early_access_requests r
		  JOIN cpub.users u ON u.uuid = r.user_id
		 WHERE r.status = early_access_list.status
		   AND (r.created_at, r.id) > (after_at, after_id)
		 ORDER BY r.created_at, r.id
		 LIMIT n;
	END IF;
END
$$;
GRANT EXECUTE ON FUNCTION cpub_admin.early_access_list(text, uuid, integer)
	TO cpub_admin_viewer;

-- cpub_admin.early_access_capacity(): the cap (NULL: none), the approved
-- requests and the places left (NULL: no cap; 0 when the cap was lowered
-- below the approved count).
CREATE FUNCTION cpub_admin.early_access_capacity()
	RETURNS TABLE (capacity integer, approved integer, remaining integer)
	LANGUAGE plpgsql STABLE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
BEGIN
	RETURN QUERY
	SELECT c.cap, c.approved,
		   CASE WHEN c.cap IS NOT NULL THEN greatest(c.cap - c.approved, 0) END
	  FROM (SELECT cpub.early_access_capacity_value() AS cap,
				   (SELECT count(*)::integer FROM cpub.early_access_requests r
					 WHERE r.status = 'approved') AS approved) c;
END
$$;
GRANT EXECUTE ON FUNCTION cpub_admin.early_access_capacity() TO cpub_admin_viewer;

-- cpub.early_access_capacity_set(capacity): sets the cap, see below.
CREATE FUNCTION cpub.early_access_capacity_set(capacity integer) RETURNS void
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
BEGIN
	IF early_access_capacity_set.capacity < 0 THEN
		RAISE EXCEPTION 'early access capacity must not be negative'
			USING ERRCODE = '22023',
				  DETAIL = pg_catalog.format('Got %s.', early_access_capacity_set.capacity),
				  HINT = 'Give 0 or more, or NULL for no cap.';
	END IF;
	PERFORM cpub.setting_write('early_access_capacity',
							   coalesce(to_jsonb(early_access_capacity_set.capacity), 'null'::jsonb),
							   'early_access.set_capacity');
END
$$;

-- cpub_admin.early_access_set_capacity(capacity): sets the cap; NULL for
-- none; 22023 when negative.  Lowering it below the approved count keeps
-- those approvals and blocks new ones.  Returns the new figures.
CREATE FUNCTION cpub_admin.early_access_set_capacity(capacity integer)
	RETURNS TABLE (capacity integer, approved integer, remaining integer)
	LANGUAGE sql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
	SELECT cpub.early_access_capacity_set(early_access_set_capacity.capacity);
	SELECT c.capacity, c.approved, c.remaining
	  FROM cpub_admin.early_access_capacity() c;
$$;
GRANT EXECUTE ON FUNCTION cpub_admin.early_access_set_capacity(integer)
	TO cpub_admin_full;

-- cpub.early_access_decision(request_id, status, note): takes the decision
-- (cpub.early_access_decide) and returns the request as admins see it.
CREATE FUNCTION cpub.early_access_decision(request_id uuid, status text,
										   note text)
	RETURNS SETOF cpub_admin.early_access_request
	LANGUAGE sql VOLATILE
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
	SELECT d.id, d.user_id, u.email, d.reason, d.status, d.created_at,
		   d.updated_at, d.decided_at, d.decided_by, d.note
	  FROM cpub.early_access_decide(early_access_decision.request_id,
									early_access_decision.status,
									early_access_decision.note) d
	  JOIN cpub.users u ON u.uuid = d.user_id;
$$;

-- cpub_admin.early_access_approve(request_id, note): approves a request and
-- grants the user the feature role 'early_access'.  P0002 for an unknown
-- request, 23514 when already approved, 54Q01 when the capacity is reached.
CREATE FUNCTION cpub_admin.early_access_approve(request_id uuid,
												note text DEFAULT NULL)
	RETURNS SETOF cpub_admin.early_access_request
	LANGUAGE sql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
	SELECT * FROM cpub.early_access_decision(early_access_approve.request_id, 'approved',
											  early_access_approve.note);
$$;
GRANT EXECUTE ON FUNCTION cpub_admin.early_access_approve(uuid, text)
	TO cpub_admin_full;

-- cpub_admin.early_access_reject(request_id, note): rejects a request (the
-- developer may then ask again); revokes 'early_access' if it was approved.
-- P0002 for an unknown request, 23514 when already rejected.
CREATE FUNCTION cpub_admin.early_access_reject(request_id uuid, note text)
	RETURNS SETOF cpub_admin.early_access_request
	LANGUAGE sql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
	SELECT * FROM cpub.early_access_decision(early_access_reject.request_id, 'rejected',
											  early_access_reject.note);
$$;
GRANT EXECUTE ON FUNCTION cpub_admin.early_access_reject(uuid, text)
	TO cpub_admin_full;

-- cpub_admin.early_access_waitlist(request_id, note): waitlists a request;
-- revokes 'early_access' if it was approved.  P0002 for an unknown request,
-- 23514 when already waitlisted.
CREATE FUNCTION cpub_admin.early_access_waitlist(request_id uuid, note text)
	RETURNS SETOF cpub_admin.early_access_request
	LANGUAGE sql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, cpub, pg_temp
	AS $$
	SELECT * FROM cpub.early_access_decision(early_access_waitlist.request_id, 'waitlisted',
											  early_access_waitlist.note);
$$;
GRANT EXECUTE ON FUNCTION cpub_admin.early_access_waitlist(uuid, text)
	TO cpub_admin_full;
