/*-------------------------------------------------------------------------
 *
 * identity.c
 *	  The caller's identity, scoped to the current transaction.
 *
 *	  The HTTP front connects as one login role and serves many users, so
 *	  "who is calling" cannot be the database role.  It is set here, in
 *	  backend memory, only by functions that prove it: cpub_api.authenticate
 *	  (a developer's access token) and, for admins, cpub_api.authenticate_admin
 *	  (granted to the HTTP front alone, which verified the admin's OpenID
 *	  Connect token).  No SQL can set it directly, unlike a custom GUC that
 *	  any role could SET.  It is cleared when the transaction (or the
 *	  subtransaction that set it) ends, so a pooled connection never carries
 *	  one request's identity into the next.
 *
 *	  SQL reads it with cpub.current_user_id(), cpub.current_session_id() and
 *	  cpub.must_change_password().
 *
 * pg_extension/src/identity.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/uuid.h"

#include "containerpub.h"

struct identity
{
	bool	  is_set;
	int		  nest_level; /* subtransaction level that set it */
	pg_uuid_t user_id;
	pg_uuid_t session_id;
	bool	  has_session; /* false: an admin token linked to the user */
	bool	  must_change_password;

	/* An admin signed in through OpenID Connect (the HTTP front proved it). */
	bool	  is_admin;
	bool	  admin_has_user; /* a users row links the subject */
	pg_uuid_t admin_user_id;
	char	  admin_subject[ADMIN_SUBJECT_MAX + 1];
	char	  admin_email[ADMIN_EMAIL_MAX + 1];
};

static struct identity current;

static void
identity_clear(void)
{
	memset(&current, 0, sizeof(current));
}

static void
identity_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PREPARE:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PARALLEL_ABORT:
			identity_clear();
			break;
		default:
			break;
	}
}

static void
identity_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						  SubTransactionId parentSubid, void *arg)
{
	int level = GetCurrentTransactionNestLevel();

	if ((!current.is_set && !current.is_admin) || current.nest_level < level)
		return;

	/*
	 * ROLLBACK TO a savepoint taken before authenticate forgets it; a
	 * released savepoint hands it to the parent.
	 */
	if (event == SUBXACT_EVENT_ABORT_SUB)
		identity_clear();
	else if (event == SUBXACT_EVENT_COMMIT_SUB)
		current.nest_level = level - 1;
}

/*
 * cpub_identity_init
 *		Registers the end-of-transaction callbacks; called from _PG_init.
 */
void
cpub_identity_init(void)
{
	identity_clear();
	RegisterXactCallback(identity_xact_callback, NULL);
	RegisterSubXactCallback(identity_subxact_callback, NULL);
}

/*
 * cpub_identity_set_user
 *		Makes the current transaction act for a developer.  The caller has
 *		already proved the identity (a valid access token).
 */
void
cpub_identity_set_user(pg_uuid_t *user_id, pg_uuid_t *session_id,
					   bool must_change_password)
{
	identity_clear();
	current.is_set = true;
	current.nest_level = GetCurrentTransactionNestLevel();
	current.user_id = *user_id;
	current.has_session = session_id != NULL;
	if (session_id != NULL)
		current.session_id = *session_id;
	current.must_change_password = must_change_password;
}

/*
 * cpub_identity_set_admin
 *		Makes the current transaction act for an admin: subject and email
 *		from a token the HTTP front verified, and the users row linked to
 *		the subject (NULL if none).  Clears any developer identity.
 */
void
cpub_identity_set_admin(const char *subject, const char *email,
						pg_uuid_t *user_id)
{
	identity_clear();
	current.is_admin = true;
	current.nest_level = GetCurrentTransactionNestLevel();
	strlcpy(current.admin_subject, subject, sizeof(current.admin_subject));
	if (email != NULL)
		strlcpy(current.admin_email, email, sizeof(current.admin_email));
	current.admin_has_user = user_id != NULL;
	if (user_id != NULL)
		current.admin_user_id = *user_id;
}

static Datum
uuid_datum(pg_uuid_t *u)
{
	pg_uuid_t *copy = palloc(sizeof(pg_uuid_t));

	memcpy(copy, u, sizeof(pg_uuid_t));
	return UUIDPGetDatum(copy);
}

PG_FUNCTION_INFO_V1(cpub_current_user_id);
/*
 * cpub.current_user_id() -> uuid
 *		The developer this transaction acts for, or NULL.
 */
Datum
cpub_current_user_id(PG_FUNCTION_ARGS)
{
	if (!current.is_set)
		PG_RETURN_NULL();
	PG_RETURN_DATUM(uuid_datum(&current.user_id));
}

PG_FUNCTION_INFO_V1(cpub_current_session_id);
/*
 * cpub.current_session_id() -> uuid
 *		The session (refresh-token family) of the access token, or NULL.
 */
Datum
cpub_current_session_id(PG_FUNCTION_ARGS)
{
	if (!current.is_set || !current.has_session)
		PG_RETURN_NULL();
	PG_RETURN_DATUM(uuid_datum(&current.session_id));
}

PG_FUNCTION_INFO_V1(cpub_must_change_password);
/*
 * cpub.must_change_password() -> boolean
 *		True when the developer logged in with a temporary password.
 */
Datum
cpub_must_change_password(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(current.is_set && current.must_change_password);
}

PG_FUNCTION_INFO_V1(cpub_set_user_identity);
/*
 * cpub.set_user_identity(user_id, session_id, must_change_password)
 *		Internal: used by login-like SQL functions that have just proved the
 *		user (login itself, so that its audit record names the user), and by
 *		cpub_api.authenticate_linked with no session (an admin token linked
 *		to the user).  Not granted to any role.
 */
Datum
cpub_set_user_identity(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						errmsg("the user must not be null")));
	cpub_identity_set_user(PG_GETARG_UUID_P(0),
						   PG_ARGISNULL(1) ? NULL : PG_GETARG_UUID_P(1),
						   !PG_ARGISNULL(2) && PG_GETARG_BOOL(2));
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(cpub_current_admin);
/*
 * cpub.current_admin() -> (subject text, email text, user_id uuid)
 *		The admin this transaction acts for (all NULL if none): the token's
 *		subject, its email (NULL if it had none), and the users row linked
 *		to the subject through keycloak_user_id (NULL if none).
 */
Datum
cpub_current_admin(PG_FUNCTION_ARGS)
{
	TupleDesc tupdesc;
	Datum	  values[3] = {0, 0, 0};
	bool	  nulls[3] = {true, true, true};

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						errmsg("cpub.current_admin must return a record")));
	if (current.is_admin)
	{
		values[0] = CStringGetTextDatum(current.admin_subject);
		nulls[0] = false;
		if (current.admin_email[0] != '\0')
		{
			values[1] = CStringGetTextDatum(current.admin_email);
			nulls[1] = false;
		}
		if (current.admin_has_user)
		{
			values[2] = uuid_datum(&current.admin_user_id);
			nulls[2] = false;
		}
	}
	PG_RETURN_DATUM(HeapTupleGetDatum(
		heap_form_tuple(BlessTupleDesc(tupdesc), values, nulls)));
}

PG_FUNCTION_INFO_V1(cpub_set_admin_identity);
/*
 * cpub.set_admin_identity(subject, email, user_id)
 *		Internal: called by cpub_api.authenticate_admin once it has checked
 *		its arguments.  Not granted to any role.
 */
Datum
cpub_set_admin_identity(PG_FUNCTION_ARGS)
{
	char *subject;
	char *email = NULL;

	if (PG_ARGISNULL(0))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						errmsg("the admin's subject must not be null")));
	subject = text_to_cstring(PG_GETARG_TEXT_PP(0));
	if (subject[0] == '\0' || strlen(subject) > ADMIN_SUBJECT_MAX)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("the admin's subject must be 1 to %d bytes",
							   ADMIN_SUBJECT_MAX)));
	if (!PG_ARGISNULL(1))
	{
		email = text_to_cstring(PG_GETARG_TEXT_PP(1));
		if (strlen(email) > ADMIN_EMAIL_MAX)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("the admin's email must be at most %d bytes",
							ADMIN_EMAIL_MAX)));
	}
	cpub_identity_set_admin(subject, email,
							PG_ARGISNULL(2) ? NULL : PG_GETARG_UUID_P(2));
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(cpub_in_transaction_block);
/*
 * cpub.in_transaction_block() -> boolean
 *		True inside BEGIN ... COMMIT (or a multi-statement query), where a
 *		procedure cannot COMMIT.  cpub_api.refresh uses it to explain instead
 *		of failing with "invalid transaction termination".
 */
Datum
cpub_in_transaction_block(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(IsTransactionBlock());
}

PG_FUNCTION_INFO_V1(cpub_clear_identity);
/*
 * cpub.clear_identity()
 *		Internal: forgets the identity before the transaction ends (tests
 *		that act as several callers in one transaction).  Not granted.
 */
Datum
cpub_clear_identity(PG_FUNCTION_ARGS)
{
	identity_clear();
	PG_RETURN_VOID();
}
