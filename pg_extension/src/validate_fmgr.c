/*-------------------------------------------------------------------------
 *
 * validate_fmgr.c
 *	  SQL entry points of validate.c: each raises its own SQLSTATE with the
 *	  rule that failed as the detail.
 *
 * pg_extension/src/validate_fmgr.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/builtins.h"

#include "containerpub.h"
#include "validate.h"

PG_FUNCTION_INFO_V1(cpub_normalize_email);
/*
 * cpub.normalize_email(email text) -> text
 *		The trimmed, lowercased address; 22Q01 when it is missing or not
 *		valid.
 */
Datum
cpub_normalize_email(PG_FUNCTION_ARGS)
{
	text	   *in;
	size_t		len;
	char	   *out;
	const char *why;

	if (PG_ARGISNULL(0))
		ereport(ERROR, (errcode(ERRCODE_CPUB_INVALID_EMAIL),
						errmsg("invalid email address"),
						errdetail("The email address is missing.")));
	in = PG_GETARG_TEXT_PP(0);
	len = VARSIZE_ANY_EXHDR(in);
	out = palloc(len + 1);
	why = validate_email(VARDATA_ANY(in), len, out);

	if (why != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_CPUB_INVALID_EMAIL),
				 errmsg("invalid email address"), errdetail("%s", why)));
	PG_RETURN_TEXT_P(cstring_to_text(out));
}

PG_FUNCTION_INFO_V1(cpub_check_person_name);
/*
 * cpub.check_person_name(name text, field text) -> text
 *		The trimmed name; 22Q02 naming the field when it is not valid.
 */
Datum
cpub_check_person_name(PG_FUNCTION_ARGS)
{
	text	   *in = PG_GETARG_TEXT_PP(0);
	char	   *field = text_to_cstring(PG_GETARG_TEXT_PP(1));
	size_t		len = VARSIZE_ANY_EXHDR(in);
	char	   *out = palloc(len + 1);
	const char *why = validate_person_name(VARDATA_ANY(in), len, out);

	if (why != NULL)
		ereport(ERROR, (errcode(ERRCODE_CPUB_INVALID_NAME),
						errmsg("invalid %s", field), errdetail("%s", why)));
	PG_RETURN_TEXT_P(cstring_to_text(out));
}

PG_FUNCTION_INFO_V1(cpub_check_identifier);
/*
 * cpub.check_identifier(kind text, name text) -> text
 *		The name unchanged; 22Q04 with the rule of its kind when not valid.
 */
Datum
cpub_check_identifier(PG_FUNCTION_ARGS)
{
	char	   *kind = text_to_cstring(PG_GETARG_TEXT_PP(0));
	text	   *name = PG_GETARG_TEXT_PP(1);
	const char *why =
		validate_identifier(kind, VARDATA_ANY(name), VARSIZE_ANY_EXHDR(name));

	if (why != NULL)
		ereport(
			ERROR,
			(errcode(ERRCODE_CPUB_INVALID_IDENTIFIER),
			 errmsg("invalid %s name \"%s\"",
					strcmp(kind, "feature_role") == 0 ? "feature role" : kind,
					text_to_cstring(name)),
			 errdetail("%s", why)));
	PG_RETURN_TEXT_P(name);
}

PG_FUNCTION_INFO_V1(cpub_check_password);
/*
 * cpub.check_password(password text, email text) -> void
 *		22Q03 when a new password does not meet the policy.
 */
Datum
cpub_check_password(PG_FUNCTION_ARGS)
{
	text	   *pw;
	char	   *email;
	const char *why;

	if (PG_ARGISNULL(0))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						errmsg("password is required")));
	pw = PG_GETARG_TEXT_PP(0);
	email = PG_ARGISNULL(1) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(1));
	why = validate_password(VARDATA_ANY(pw), VARSIZE_ANY_EXHDR(pw), email);
	if (why != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_CPUB_WEAK_PASSWORD),
				 errmsg("password does not meet the policy"),
				 errdetail("%s", why),
				 errhint("Use at least 8 characters; a passphrase of several "
						 "words is best.")));
	PG_RETURN_VOID();
}
