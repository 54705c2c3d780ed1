-- tests/pgtap/45_early_access.sql: early access (sql/45_early_access.sql).
BEGIN;
SELECT plan(63);

INSERT INTO cpub.users (uuid, email, password_hash) VALUES
	('e0000000-0000-0000-0000-000000000001', 'ea-1@example.com', 'x'),
	('e0000000-0000-0000-0000-000000000002', 'ea-2@example.com', 'x'),
	('e0000000-0000-0000-0000-000000000003', 'ea-3@example.com', 'x'),
	('e0000000-0000-0000-0000-000000000004', 'ea-4@example.com', 'x'),
	('e0000000-0000-0000-0000-000000000005', 'ea-5@example.com', 'x');
-- Three requests, asked a minute apart.
INSERT INTO cpub.early_access_requests (id, user_id, reason, created_at) VALUES
	('ea000000-0000-0000-0000-000000000001', 'e0000000-0000-0000-0000-000000000001', 'one', now() - interval '3 minutes'),
	('ea000000-0000-0000-0000-000000000002', 'e0000000-0000-0000-0000-000000000002', 'two', now() - interval '2 minutes'),
	('ea000000-0000-0000-0000-000000000003', 'e0000000-0000-0000-0000-000000000003', 'three', now() - interval '1 minute');

SELECT has_table('cpub', 'early_access_requests', 'cpub.early_access_requests exists');
SELECT ok((SELECT relrowsecurity FROM pg_class
			WHERE oid = 'cpub.early_access_requests'::regclass),
		  'early_access_requests has row-level security');
SELECT ok((SELECT 'cpub.early_access_requests'::regclass = ANY (extconfig)
			 FROM pg_extension WHERE extname = 'containerpub'),
		  'early_access_requests rows are dumped by pg_dump');

-- A developer call without a session.
SET LOCAL ROLE cpub_developer;
SELECT throws_ok($$SELECT * FROM cpub_api.early_access_request('why')$$,
				 '28000', 'not authenticated', 'early_access_request needs a session');
SELECT throws_ok($$SELECT * FROM cpub_api.early_access_status()$$,
				 '28000', 'not authenticated', 'early_access_status needs a session');
RESET ROLE;

-- Capacity, as a full admin at psql.
SET LOCAL ROLE cpub_admin_full;
SELECT results_eq($$SELECT * FROM cpub_admin.early_access_capacity()$$,
				  $$VALUES (NULL::int, 0, NULL::int)$$, 'no cap by default');
SELECT throws_ok($$SELECT * FROM cpub_admin.early_access_set_capacity(-1)$$,
				 '22023', 'early access capacity must not be negative',
				 'a negative capacity is 22023');
SELECT results_eq($$SELECT * FROM cpub_admin.early_access_set_capacity(2)$$,
				  $$VALUES (2, 0, 2)$$, 'early_access_set_capacity returns the new figures');
RESET ROLE;
SELECT is(cpub.setting('early_access_capacity'), '2'::jsonb,
		  'the capacity is stored in cpub.settings');
SELECT results_eq(
	$$SELECT actor_kind, target_kind, target_id, detail FROM cpub.audit_log
	   WHERE action = 'early_access.set_capacity'$$,
	$$VALUES ('db_role'::text, 'setting'::text, 'early_access_capacity'::text,
			  '{"from": null, "to": 2}'::jsonb)$$,
	'a capacity change is audited');

-- Listing, as a viewer.
SET LOCAL ROLE cpub_admin_viewer;
SELECT results_eq($$SELECT reason, email FROM cpub_admin.early_access_list()$$,
				  $$VALUES ('one'::text, 'ea-1@example.com'::text), ('two', 'ea-2@example.com'),
						   ('three', 'ea-3@example.com')$$,
				  'early_access_list lists oldest first');
SELECT results_eq($$SELECT reason FROM cpub_admin.early_access_list("limit" => 2)$$,
				  $$VALUES ('one'::text), ('two')$$, 'early_access_list pages by limit');
SELECT results_eq(
	$$SELECT reason FROM cpub_admin.early_access_list(after => 'ea000000-0000-0000-0000-000000000002')$$,
	$$VALUES ('three'::text)$$, 'early_access_list continues after a request id');
SELECT throws_ok($$SELECT * FROM cpub_admin.early_access_list('granted')$$,
				 '22023', 'invalid early access status "granted"', 'an unknown status is 22023');
SELECT throws_ok($$SELECT * FROM cpub_admin.early_access_list(after => gen_random_uuid())$$,
				 '22023', 'invalid page cursor', 'an unknown cursor is 22023');
SELECT throws_ok($$SELECT * FROM cpub_admin.early_access_list("limit" => 0)$$,
				 '22023', 'page limit must be between 1 and 500', 'a bad limit is 22023');
SELECT results_eq($$SELECT * FROM cpub_admin.early_access_capacity()$$,
				  $$VALUES (2, 0, 2)$$, 'a viewer reads the capacity');
SELECT throws_ok($$SELECT * FROM cpub_admin.early_access_set_capacity(5)$$,
				 '42501', NULL, 'a viewer cannot set the capacity');
SELECT throws_ok($$SELECT * FROM cpub_admin.early_access_approve('ea000000-0000-0000-0000-000000000001')$$,
				 '42501', NULL, 'a viewer cannot approve');
SELECT throws_ok($$SELECT * FROM cpub_admin.early_access_reject('ea000000-0000-0000-0000-000000000001', 'no')$$,
				 '42501', NULL, 'a viewer cannot reject');
SELECT throws_ok($$SELECT * FROM cpub_admin.early_access_waitlist('ea000000-0000-0000-0000-000000000001', 'later')$$,
				 '42501', NULL, 'a viewer cannot waitlist');
RESET ROLE;

-- Decisions, as a full admin.
SET LOCAL ROLE cpub_admin_full;
SELECT results_eq(
	$$SELECT status, decided_by, note
		FROM cpub_admin.early_access_approve('ea000000-0000-0000-0000-000000000001', '  welcome  ')$$,
	$$VALUES ('approved'::text, 'postgres'::text, 'welcome'::text)$$,
	'early_access_approve approves, with the trimmed note and the actor');
SELECT throws_ok($$SELECT * FROM cpub_admin.early_access_approve('ea000000-0000-0000-0000-000000000001')$$,
				 '23514', 'early access request is already approved',
				 'approving an approved request is 23514');
SELECT results_eq(
	$$SELECT status FROM cpub_admin.early_access_list('pending')$$,
	$$VALUES ('pending'::text), ('pending')$$, 'early_access_list filters by status');
SELECT lives_ok($$SELECT * FROM cpub_admin.early_access_approve('ea000000-0000-0000-0000-000000000002')$$,
				'the second approval fits the capacity');
SELECT results_eq($$SELECT * FROM cpub_admin.early_access_capacity()$$,
				  $$VALUES (2, 2, 0)$$, 'the capacity counts the approvals');
SELECT throws_ok($$SELECT * FROM cpub_admin.early_access_approve('ea000000-0000-0000-0000-000000000003')$$,
				 '54Q01', 'early access capacity reached',
				 'approving past the capacity is 54Q01');
SELECT lives_ok($$SELECT * FROM cpub_admin.early_access_waitlist('ea000000-0000-0000-0000-000000000003', 'soon')$$,
				'a request past the capacity can be waitlisted');
SELECT throws_ok($$SELECT * FROM cpub_admin.early_access_waitlist('ea000000-0000-0000-0000-000000000003', NULL)$$,
				 '23514', 'early access request is already waitlisted',
				 'waitlisting a waitlisted request is 23514');
SELECT results_eq(
	$$SELECT status, note FROM cpub_admin.early_access_reject('ea000000-0000-0000-0000-000000000002', 'sorry')$$,
	$$VALUES ('rejected'::text, 'sorry'::text)$$, 'early_access_reject rejects an approved request');
SELECT throws_ok($$SELECT * FROM cpub_admin.early_access_reject('ea000000-0000-0000-0000-000000000002', NULL)$$,
				 '23514', 'early access request is already rejected',
				 'rejecting a rejected request is 23514');
SELECT lives_ok($$SELECT * FROM cpub_admin.early_access_approve('ea000000-0000-0000-0000-000000000003')$$,
				'the freed place can be taken by another approval');
SELECT throws_ok($$SELECT * FROM cpub_admin.early_access_approve(gen_random_uuid())$$,
				 'P0002', 'early access request not found', 'approving an unknown request is P0002');
SELECT throws_ok($$SELECT * FROM cpub_admin.early_access_reject(gen_random_uuid(), 'x')$$,
				 'P0002', 'early access request not found', 'rejecting an unknown request is P0002');
SELECT throws_ok($$SELECT * FROM cpub_admin.early_access_waitlist(gen_random_uuid(), 'x')$$,
				 'P0002', 'early access request not found', 'waitlisting an unknown request is P0002');
SELECT throws_ok($$SELECT * FROM cpub_admin.early_access_waitlist('ea000000-0000-0000-0000-000000000001', repeat('n', 1001))$$,
				 '22023', 'note is too long', 'a note over 1000 characters is 22023');
SELECT results_eq($$SELECT * FROM cpub_admin.early_access_set_capacity(NULL)$$,
				  $$VALUES (NULL::int, 2, NULL::int)$$, 'NULL removes the cap');
RESET ROLE;
SELECT is(cpub.setting('early_access_capacity'), 'null'::jsonb,
		  'no cap is stored as JSON null');

-- The feature role follows the decisions.
SELECT ok(cpub.has_feature_role('e0000000-0000-0000-0000-000000000001', 'early_access'),
		  'approval grants the early_access feature role');
SELECT ok(NOT cpub.has_feature_role('e0000000-0000-0000-0000-000000000002', 'early_access'),
		  'rejecting an approved request revokes the role');
SELECT ok(cpub.has_feature_role('e0000000-0000-0000-0000-000000000003', 'early_access'),
		  'approving a waitlisted request grants the role');
SELECT results_eq(
	$$SELECT action, target_kind, target_id FROM cpub.audit_log
	   WHERE target_id IN ('ea000000-0000-0000-0000-000000000002', 'e0000000-0000-0000-0000-000000000002')
	   ORDER BY id$$,
	$$VALUES ('early_access.approve'::text, 'early_access_request'::text, 'ea000000-0000-0000-0000-000000000002'::text),
			 ('feature_role.grant', 'user', 'e0000000-0000-0000-0000-000000000002'),
			 ('early_access.reject', 'early_access_request', 'ea000000-0000-0000-0000-000000000002'),
			 ('feature_role.revoke', 'user', 'e0000000-0000-0000-0000-000000000002')$$,
	'decisions and the role changes they make are audited, failed ones not');
SELECT is((SELECT detail FROM cpub.audit_log WHERE action = 'early_access.reject'),
		  '{"user_id": "e0000000-0000-0000-0000-000000000002", "from": "approved", "to": "rejected", "note": "sorry"}'::jsonb,
		  'the decision''s audit detail says from, to and the note');
-- Waitlisting an approved request also revokes.
SELECT lives_ok($$SELECT * FROM cpub_admin.early_access_waitlist('ea000000-0000-0000-0000-000000000003', NULL)$$,
				'an approved request can be waitlisted');
SELECT ok(NOT cpub.has_feature_role('e0000000-0000-0000-0000-000000000003', 'early_access'),
		  'waitlisting an approved request revokes the role');

-- Developers and anonymous callers.
SET LOCAL ROLE cpub_developer;
SELECT throws_ok($$SELECT * FROM cpub_admin.early_access_list()$$, '42501', NULL,
				 'a developer cannot list requests');
SELECT throws_ok($$SELECT * FROM cpub_admin.early_access_capacity()$$, '42501', NULL,
				 'a developer cannot read the capacity');
SELECT throws_ok($$SELECT * FROM cpub_admin.early_access_approve('ea000000-0000-0000-0000-000000000001')$$,
				 '42501', NULL, 'a developer cannot approve');
RESET ROLE;
SET LOCAL ROLE cpub_anon;
SELECT throws_ok($$SELECT * FROM cpub_api.early_access_request('why')$$, '42501', NULL,
				 'anon cannot request early access');
SELECT throws_ok($$SELECT * FROM cpub_api.early_access_status()$$, '42501', NULL,
				 'anon cannot read a request');
RESET ROLE;

-- The developer's side.  User 4 has never asked.
SELECT cpub.set_user_identity('e0000000-0000-0000-0000-000000000004', gen_random_uuid(), false);
SET LOCAL ROLE cpub_developer;
SELECT throws_ok($$SELECT * FROM cpub_api.early_access_status()$$,
				 'P0002', 'no early access request', 'early_access_status without a request is P0002');
SELECT throws_ok($$SELECT * FROM cpub_api.early_access_request(' 	 ')$$,
				 '22023', 'reason is required', 'a blank reason is 22023');
SELECT throws_ok($$SELECT * FROM cpub_api.early_access_request(NULL)$$,
				 '22023', 'reason is required', 'a NULL reason is 22023');
SELECT throws_ok($$SELECT * FROM cpub_api.early_access_request(repeat('r', 501))$$,
				 '22023', 'reason is too long', 'a reason over 500 characters is 22023');
SELECT results_eq(
	$$SELECT status, reason, note FROM cpub_api.early_access_request('  ' || repeat('r', 500) || E'\n')$$,
	$$VALUES ('pending'::text, repeat('r', 500), NULL::text)$$,
	'early_access_request files a pending request, its reason trimmed');
SELECT throws_ok($$SELECT * FROM cpub_api.early_access_request('again')$$,
				 '23505', 'early access already requested', 'asking twice while pending is 23505');
SELECT results_eq($$SELECT status FROM cpub_api.early_access_status()$$,
				  $$VALUES ('pending'::text)$$, 'early_access_status shows the request');
RESET ROLE;
-- User 1 is approved: cannot ask again.
SELECT cpub.set_user_identity('e0000000-0000-0000-0000-000000000001', gen_random_uuid(), false);
SET LOCAL ROLE cpub_developer;
SELECT throws_ok($$SELECT * FROM cpub_api.early_access_request('more')$$,
				 '23505', 'early access already requested', 'asking again once approved is 23505');
RESET ROLE;
-- User 2 was rejected: sees the note, and may ask again.
SELECT cpub.set_user_identity('e0000000-0000-0000-0000-000000000002', gen_random_uuid(), false);
SET LOCAL ROLE cpub_developer;
SELECT results_eq($$SELECT status, note FROM cpub_api.early_access_status()$$,
				  $$VALUES ('rejected'::text, 'sorry'::text)$$,
				  'early_access_status shows the decision and its note');
SELECT results_eq(
	$$SELECT id, status, reason, decided_at, note FROM cpub_api.early_access_request('please')$$,
	$$VALUES ('ea000000-0000-0000-0000-000000000002'::uuid, 'pending'::text, 'please'::text,
			  NULL::timestamptz, NULL::text)$$,
	'asking again after a rejection reopens the same request as pending');
RESET ROLE;
SELECT results_eq(
	$$SELECT actor_kind, actor_user_id, detail FROM cpub.audit_log
	   WHERE action = 'early_access.request' ORDER BY id$$,
	$$VALUES ('user'::text, 'e0000000-0000-0000-0000-000000000004'::uuid, '{"reopened": false}'::jsonb),
			 ('user', 'e0000000-0000-0000-0000-000000000002', '{"reopened": true}')$$,
	'requests are audited as the developer, failed ones not');
SELECT is((SELECT created_at FROM cpub.early_access_requests
		   WHERE id = 'ea000000-0000-0000-0000-000000000002'), now(),
		  'a reopened request goes to the back of the queue (asked now)');
-- A temporary password blocks the developer functions.
SELECT cpub.set_user_identity('e0000000-0000-0000-0000-000000000005', gen_random_uuid(), true);
SET LOCAL ROLE cpub_developer;
SELECT throws_ok($$SELECT * FROM cpub_api.early_access_request('why')$$,
				 '42501', 'password change required',
				 'early_access_request is refused while a temporary password must be changed');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
