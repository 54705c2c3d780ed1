-- sql/99_privileges.sql: the last word on privileges.  Each domain file
-- grants EXECUTE on its functions to the roles that may call them; here
-- PUBLIC loses the EXECUTE that PostgreSQL grants on every new function, so
-- nothing is callable unless granted.  tests/pgtap/00_catalog.sql checks it.
REVOKE EXECUTE ON ALL ROUTINES IN SCHEMA cpub, cpub_api, cpub_admin, cpub_worker
	FROM PUBLIC;
