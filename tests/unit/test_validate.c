/*-------------------------------------------------------------------------
 *
 * test_validate.c
 *	  TAP tests of pg_extension/src/validate.c: every rule of emails, person
 *	  names, identifiers and passwords, valid and not, at its boundaries,
 *	  and the normal forms written out (trimmed, lowercased).
 *
 *	  Each input is copied into a buffer of exactly its length, with no
 *	  terminating NUL, and each output buffer is exactly len + 1 bytes, so a
 *	  build with -fsanitize=address catches any read or write past the
 *	  lengths the functions are given.  A rejected input is checked against
 *	  the exact reason sentence, which is what the user sees as errdetail,
 *	  so each case also proves which rule fired.
 *
 * tests/unit/test_validate.c
 *
 *-------------------------------------------------------------------------
 */
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "validate.h"

/* A string literal and its length, embedded NULs included. */
#define LIT(s)	 s, sizeof(s) - 1
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* The reasons, as validate.c words them. */
#define E_EMPTY "The email address is empty."
#define E_LONG	"The email address is longer than 254 characters."
#define E_NONASCII                                                            \
	"The email address has a non-ASCII character; give internationalised "    \
	"domains in punycode."
#define E_SPACE		  "The email address has a space or control character."
#define E_TWO_AT	  "The email address has more than one @."
#define E_NO_AT		  "The email address has no @."
#define E_LOCAL_EMPTY "The part before the @ is empty."
#define E_LOCAL_LONG  "The part before the @ is longer than 64 characters."
#define E_LOCAL_DOT	  "The part before the @ starts or ends with a dot."
#define E_LOCAL_DOTS  "The part before the @ has two dots in a row."
#define E_LOCAL_CHAR                                                          \
	"The part before the @ has a character that is not allowed."
#define E_DOMAIN_EMPTY "The domain after the @ is empty."
#define E_DOMAIN_CHAR  "The domain has a character that is not allowed."
#define E_LABEL_EMPTY  "The domain has an empty label."
#define E_LABEL_LONG   "A domain label is longer than 63 characters."
#define E_LABEL_HYPHEN "A domain label starts or ends with a hyphen."
#define E_TLD		   "The top-level domain must be at least two letters."
#define E_LABELS	   "The domain must have at least two labels, as in example.com."

#define N_EMPTY	  "The name is empty."
#define N_CONTROL "The name has a control character."
#define N_LONG	  "The name is longer than 100 characters."

#define I_UNKNOWN "Unknown kind of identifier."
#define I_ORG                                                                 \
	"An organization name is 2 to 39 lowercase letters, digits or inner "     \
	"single hyphens, starting with a letter."
#define I_TIER                                                                \
	"A tier name is 1 to 63 lowercase letters, digits or underscores, "       \
	"starting with a letter."
#define I_ROLE                                                                \
	"A feature role name is 1 to 63 lowercase letters, digits or "            \
	"underscores, starting with a letter."
#define I_FUNC                                                                \
	"A function name is 1 to 63 lowercase letters, digits, underscores or "   \
	"inner single hyphens, starting with a letter."

#define P_LONG	"The password is longer than 1024 bytes."
#define P_SHORT "The password is shorter than 8 characters."
#define P_EMAIL                                                               \
	"The password must not be the email address or its part before the @."

/* UTF-8 samples: 2, 3 and 4 bytes per character. */
#define U2 "\xc3\xa9"		  /* e acute */
#define U3 "\xe6\x97\xa5"	  /* CJK "sun" */
#define U4 "\xf0\x9f\x98\x80" /* grinning face */

struct email_case
{
	const char *in;
	size_t		len;
	const char *normal; /* NULL when invalid */
	const char *why;	/* NULL when valid */
	const char *what;
};

static const struct email_case email_cases[] = {
	/* valid, and their normal forms */
	{LIT("alice@example.com"), "alice@example.com", NULL, "plain address"},
	{LIT("Alice.Smith@Example.COM"), "alice.smith@example.com", NULL,
	 "lowercased"},
	{LIT("  bob@example.org \t\r\n"), "bob@example.org", NULL,
	 "surrounding whitespace trimmed"},
	{LIT("\v\fBOB@EXAMPLE.ORG\t"), "bob@example.org", NULL,
	 "vertical tab and form feed trimmed, then lowercased"},
	{LIT("a@b.co"), "a@b.co", NULL,
	 "shortest shape: one-letter local, two-letter TLD"},
	{LIT("user+tag@example.com"), "user+tag@example.com", NULL,
	 "plus addressing"},
	{LIT("!#$%&'*+/=?^_`{|}~-@example.com"), "!#$%&'*+/=?^_`{|}~-@example.com",
	 NULL, "every atext symbol"},
	{LIT("first.middle.last@example.com"), "first.middle.last@example.com",
	 NULL, "single inner dots"},
	{LIT("x@mail.sub.example.co.uk"), "x@mail.sub.example.co.uk", NULL,
	 "many labels"},
	{LIT("x@123.example.com"), "x@123.example.com", NULL,
	 "all-digit label below the TLD"},
	{LIT("x@my-host.example.com"), "x@my-host.example.com", NULL,
	 "inner hyphen in a label"},
	{LIT("x@xn--mnchen-3ya.de"), "x@xn--mnchen-3ya.de", NULL,
	 "punycode label"},
	{LIT("User@Example.XN--P1AI"), "user@example.xn--p1ai", NULL,
	 "punycode TLD (.xn--p1ai), lowercased"},
	{LIT("x@xn--80ak6aa92e.xn--p1ai"), "x@xn--80ak6aa92e.xn--p1ai", NULL,
	 "punycode domain and TLD"},
	{LIT("x@example.xn--a"), "x@example.xn--a", NULL,
	 "shortest punycode TLD accepted (xn-- plus one)"},

	/* each reason */
	{LIT(""), NULL, E_EMPTY, "empty"},
	{LIT(" \t\r\n "), NULL, E_EMPTY, "whitespace only"},
	{LIT("al" U2 "ce@example.com"), NULL, E_NONASCII, "non-ASCII local part"},
	{LIT("alice@ex" U2 "mple.com"), NULL, E_NONASCII,
	 "internationalised domain not in punycode"},
	{LIT("al ice@example.com"), NULL, E_SPACE, "inner space"},
	{LIT("alice@exam\tple.com"), NULL, E_SPACE, "inner tab"},
	{LIT("alice@example.com\x01"), NULL, E_SPACE,
	 "trailing control character (not trimmed)"},
	{LIT("alice\x7f@example.com"), NULL, E_SPACE, "DEL"},
	{LIT("alice\0@example.com"), NULL, E_SPACE, "embedded NUL"},
	{LIT("alice@example.com\0"), NULL, E_SPACE, "trailing NUL"},
	{LIT("a@b@example.com"), NULL, E_TWO_AT, "two @"},
	{LIT("\"a@b\"@example.com"), NULL, E_TWO_AT,
	 "quoted local part with @ (not supported)"},
	{LIT("alice.example.com"), NULL, E_NO_AT, "no @"},
	{LIT("@example.com"), NULL, E_LOCAL_EMPTY, "empty local part"},
	{LIT(".alice@example.com"), NULL, E_LOCAL_DOT,
	 "local part starts with dot"},
	{LIT("alice.@example.com"), NULL, E_LOCAL_DOT, "local part ends with dot"},
	{LIT(".@example.com"), NULL, E_LOCAL_DOT, "local part is a dot"},
	{LIT("al..ice@example.com"), NULL, E_LOCAL_DOTS, "two dots in a row"},
	{LIT("a...b@example.com"), NULL, E_LOCAL_DOTS, "three dots in a row"},
	{LIT("al(ice)@example.com"), NULL, E_LOCAL_CHAR, "parenthesis"},
	{LIT("al,ice@example.com"), NULL, E_LOCAL_CHAR, "comma"},
	{LIT("al:ice@example.com"), NULL, E_LOCAL_CHAR, "colon"},
	{LIT("al;ice@example.com"), NULL, E_LOCAL_CHAR, "semicolon"},
	{LIT("al<ice>@example.com"), NULL, E_LOCAL_CHAR, "angle brackets"},
	{LIT("al[ice]@example.com"), NULL, E_LOCAL_CHAR, "square brackets"},
	{LIT("al\\ice@example.com"), NULL, E_LOCAL_CHAR, "backslash"},
	{LIT("\"alice\"@example.com"), NULL, E_LOCAL_CHAR,
	 "quoted local part (not supported)"},
	{LIT("alice@"), NULL, E_DOMAIN_EMPTY, "empty domain"},
	{LIT("alice@exa_mple.com"), NULL, E_DOMAIN_CHAR, "underscore in domain"},
	{LIT("alice@exa+mple.com"), NULL, E_DOMAIN_CHAR, "plus in domain"},
	{LIT("alice@[192.0.2.1]"), NULL, E_DOMAIN_CHAR,
	 "address literal (not supported)"},
	{LIT("alice@example..com"), NULL, E_LABEL_EMPTY, "two dots in domain"},
	{LIT("alice@.example.com"), NULL, E_LABEL_EMPTY, "domain starts with dot"},
	{LIT("alice@example.com."), NULL, E_LABEL_EMPTY,
	 "domain ends with dot (absolute form)"},
	{LIT("alice@."), NULL, E_LABEL_EMPTY, "domain is a dot"},
	{LIT("alice@-example.com"), NULL, E_LABEL_HYPHEN,
	 "label starts with hyphen"},
	{LIT("alice@example-.com"), NULL, E_LABEL_HYPHEN,
	 "label ends with hyphen"},
	{LIT("alice@example.-com"), NULL, E_LABEL_HYPHEN,
	 "TLD starts with hyphen"},
	{LIT("alice@example.xn--"), NULL, E_LABEL_HYPHEN,
	 "bare xn-- TLD ends with hyphen"},
	{LIT("alice@example.c"), NULL, E_TLD, "one-letter TLD"},
	{LIT("alice@example.c0m"), NULL, E_TLD, "digit in TLD"},
	{LIT("alice@192.0.2.1"), NULL, E_TLD, "all-digit TLD (IP address)"},
	{LIT("alice@example.co-uk"), NULL, E_TLD, "hyphen in a non-punycode TLD"},
	{LIT("alice@example.xn-a"), NULL, E_TLD, "xn- is not the punycode prefix"},
	{LIT("alice@localhost"), NULL, E_LABELS, "single label"},
	{LIT("alice@com"), NULL, E_LABELS, "TLD only"},
	{LIT("alice@xn--p1ai"), NULL, E_LABELS, "punycode TLD only"},
	{LIT("a..b@-x.c"), NULL, E_LOCAL_DOTS,
	 "the local part is checked before the domain"},
};

struct name_case
{
	const char *in;
	size_t		len;
	const char *normal;
	const char *why;
	const char *what;
};

static const struct name_case name_cases[] = {
	{LIT("Ada"), "Ada", NULL, "plain"},
	{LIT("McDonald"), "McDonald", NULL, "case kept"},
	{LIT("  Ada Lovelace \t\r\n"), "Ada Lovelace", NULL,
	 "surrounding whitespace trimmed"},
	{LIT("Jean  Paul"), "Jean  Paul", NULL, "inner spaces kept"},
	{LIT("Ren" U2 "e  "), "Ren" U2 "e", NULL,
	 "UTF-8 kept, trailing spaces trimmed"},
	{LIT(U3 U3), U3 U3, NULL, "CJK"},
	{LIT("O'Brien-Smith"), "O'Brien-Smith", NULL, "apostrophe and hyphen"},
	{LIT("X"), "X", NULL, "one character"},
	{LIT(""), NULL, N_EMPTY, "empty"},
	{LIT("   "), NULL, N_EMPTY, "spaces only"},
	{LIT("\t\n\v\f\r"), NULL, N_EMPTY, "whitespace only"},
	{LIT("Ada\nLovelace"), NULL, N_CONTROL, "inner newline"},
	{LIT("Ada\tLovelace"), NULL, N_CONTROL, "inner tab"},
	{LIT("Ada\x01"), NULL, N_CONTROL, "trailing control character"},
	{LIT("\x1b[31mAda"), NULL, N_CONTROL, "escape sequence"},
	{LIT("Ada\x7f"), NULL, N_CONTROL, "DEL"},
	{LIT("Ada\0Evil"), NULL, N_CONTROL, "embedded NUL"},
	{LIT("Ada\xC2\x85Lovelace"), NULL, N_CONTROL, "C1 control U+0085 (NEL)"},
	{LIT("\xC2\x9B[31mAda"), NULL, N_CONTROL, "C1 escape U+009B (CSI)"},
	{LIT("Ada\xE2\x80\xAE"
		 "ecalevoL"),
	 NULL, N_CONTROL, "right-to-left override U+202E"},
	{LIT("Ada\xE2\x81\xA6x"), NULL, N_CONTROL, "left-to-right isolate U+2066"},
	{LIT("A\xE2\x80\x8B"
		 "da"),
	 NULL, N_CONTROL, "zero-width space U+200B"},
	{LIT("\xEF\xBB\xBF"
		 "Ada"),
	 NULL, N_CONTROL, "byte order mark U+FEFF"},
	{LIT("Ada\xE2\x80\xA8"
		 "Lovelace"),
	 NULL, N_CONTROL, "line separator U+2028"},
	{LIT("\xE3\x85\xA4"), NULL, N_CONTROL, "Hangul filler U+3164 alone"},
	{LIT("Ada\xF3\xA0\x80\x81"), NULL, N_CONTROL, "tag character U+E0001"},
	{LIT("\xC2\xA0"), NULL, N_EMPTY, "no-break space only"},
	{LIT(" \xE3\x80\x80\xE2\x80\x83 "), NULL, N_EMPTY,
	 "ideographic and em spaces only"},
	{LIT("Ada\xC2\xA0Lovelace"), "Ada\xC2\xA0Lovelace", NULL,
	 "an inner no-break space is fine"},
	{LIT("Ada\x80"), NULL, "The name is not valid UTF-8.",
	 "a lone continuation byte"},
	{LIT("Ada\xE2\x80"), NULL, "The name is not valid UTF-8.",
	 "a truncated sequence"},
};

struct ident_case
{
	const char *kind;
	const char *in;
	size_t		len;
	const char *why; /* NULL when valid */
	const char *what;
};

static const struct ident_case ident_cases[] = {
	{"organization", LIT("ab"), NULL, "two characters (minimum)"},
	{"organization", LIT("acme"), NULL, "letters"},
	{"organization", LIT("my-org"), NULL, "inner hyphen"},
	{"organization", LIT("a1-b2-c3"), NULL,
	 "digits and several single hyphens"},
	{"organization", LIT("a9"), NULL, "letter then digit"},
	{"organization", LIT(""), I_ORG, "empty"},
	{"organization", LIT("a"), I_ORG, "one character (below minimum)"},
	{"organization", LIT("my--org"), I_ORG, "double hyphen"},
	{"organization", LIT("-org"), I_ORG, "leading hyphen"},
	{"organization", LIT("org-"), I_ORG, "trailing hyphen"},
	{"organization", LIT("a-"), I_ORG, "two characters with trailing hyphen"},
	{"organization", LIT("1org"), I_ORG, "leading digit"},
	{"organization", LIT("Acme"), I_ORG, "uppercase"},
	{"organization", LIT("my_org"), I_ORG, "underscore"},
	{"organization", LIT("my.org"), I_ORG, "dot"},
	{"organization", LIT("my org"), I_ORG, "space"},
	{"organization", LIT("caf" U2), I_ORG, "non-ASCII"},
	{"organization", LIT("ab\0cd"), I_ORG, "embedded NUL"},
	{"function", LIT("a"), NULL, "one character (minimum)"},
	{"function", LIT("image-resize_v2"), NULL, "hyphen and underscore"},
	{"function", LIT("fn__x"), NULL, "double underscore"},
	{"function", LIT(""), I_FUNC, "empty"},
	{"function", LIT("my--fn"), I_FUNC, "double hyphen"},
	{"function", LIT("fn-"), I_FUNC, "trailing hyphen"},
	{"function", LIT("_fn"), I_FUNC, "leading underscore"},
	{"function", LIT("Fn"), I_FUNC, "uppercase"},
	{"function", LIT("fn/x"), I_FUNC, "slash"},
	{"function", LIT("fn.x"), I_FUNC, "dot"},
	{"tier", LIT("a"), NULL, "one character (minimum)"},
	{"tier", LIT("pro_plus"), NULL, "underscore"},
	{"tier", LIT("pro_"), NULL, "trailing underscore"},
	{"tier", LIT("pro__2"), NULL, "double underscore and digit"},
	{"tier", LIT(""), I_TIER, "empty"},
	{"tier", LIT("pro-plus"), I_TIER, "hyphen"},
	{"tier", LIT("_pro"), I_TIER, "leading underscore"},
	{"tier", LIT("2pro"), I_TIER, "leading digit"},
	{"tier", LIT("Pro"), I_TIER, "uppercase"},
	{"feature_role", LIT("beta_tester"), NULL, "underscore"},
	{"feature_role", LIT("b"), NULL, "one character (minimum)"},
	{"feature_role", LIT(""), I_ROLE, "empty"},
	{"feature_role", LIT("beta-tester"), I_ROLE, "hyphen"},
	{"feature_role", LIT("9beta"), I_ROLE, "leading digit"},
	{"feature_role", LIT("Beta"), I_ROLE, "uppercase"},
	{"user", LIT("alice"), I_UNKNOWN, "unknown kind"},
	{"Organization", LIT("acme"), I_UNKNOWN, "kind is case-sensitive"},
	{"", LIT("acme"), I_UNKNOWN, "empty kind"},
};

struct password_case
{
	const char *pw;
	size_t		len;
	const char *email;
	const char *why; /* NULL when valid */
	const char *what;
};

static const struct password_case password_cases[] = {
	{LIT("abcdefgh"), NULL, NULL, "8 characters (minimum)"},
	{LIT("abcdefg"), NULL, P_SHORT, "7 characters"},
	{LIT(""), NULL, P_SHORT, "empty"},
	{LIT(U2 U2 U2 U2 U2 U2 U2 U2), NULL, NULL,
	 "8 two-byte characters (16 bytes)"},
	{LIT(U2 U2 U2 U2 U2 U2 U2), NULL, P_SHORT,
	 "7 two-byte characters (14 bytes): counted in characters"},
	{LIT(U4 U4 U4 U4 U4 U4 U4), NULL, P_SHORT,
	 "7 four-byte characters (28 bytes)"},
	{LIT("correct horse battery staple"), "alice@example.com", NULL,
	 "unrelated to the email"},
	{LIT("alice@example.com"), "alice@example.com", P_EMAIL,
	 "the email itself"},
	{LIT("Alice@Example.COM"), "alice@example.com", P_EMAIL,
	 "the email in other case"},
	{LIT("alice.smith"), "alice.smith@example.com", P_EMAIL, "the local part"},
	{LIT("ALICE.SMITH"), "alice.smith@example.com", P_EMAIL,
	 "the local part in other case"},
	{LIT("alice.smith1"), "alice.smith@example.com", NULL,
	 "the local part plus a character"},
	{LIT("xalice@example.comx"), "alice@example.com", NULL,
	 "containing the email is allowed"},
	{LIT("example.com"), "alice.smith@example.com", NULL,
	 "the domain alone is allowed"},
	{LIT("bob"), "bob@example.com", P_SHORT,
	 "short local part: length is checked first"},
	{LIT("alice.smith@example.com"), NULL, NULL, "no email to compare with"},
};

/* A copy of s[0..len) in a buffer of exactly len bytes, no NUL after it. */
static char *
exact_copy(const char *s, size_t len)
{
	char *p = malloc(len > 0 ? len : 1);

	if (p == NULL)
		abort();
	memcpy(p, s, len);
	return p;
}

/* n copies of unit, NUL-terminated, in a new buffer. */
static char *
repeat(const char *unit, size_t n)
{
	size_t ulen = strlen(unit);
	char  *p = malloc(ulen * n + 1);

	if (p == NULL)
		abort();
	for (size_t i = 0; i < n; i++)
		memcpy(p + i * ulen, unit, ulen);
	p[ulen * n] = '\0';
	return p;
}

/* a followed by b and c, in a new buffer. */
static char *
concat3(const char *a, const char *b, const char *c)
{
	size_t la = strlen(a);
	size_t lb = strlen(b);
	size_t lc = strlen(c);
	char  *p = malloc(la + lb + lc + 1);

	if (p == NULL)
		abort();
	memcpy(p, a, la);
	memcpy(p + la, b, lb);
	memcpy(p + la + lb, c, lc + 1);
	return p;
}

/*
 * Checks one email: the reason must be want_why, and when valid the normal
 * form must be want_normal.  Two assertions when valid, one when not.
 */
static void
check_email(const char *in, size_t len, const char *want_normal,
			const char *want_why, const char *what)
{
	char	   *copy = exact_copy(in, len);
	char	   *out = malloc(len + 1);
	const char *why;

	if (out == NULL)
		abort();
	why = validate_email(copy, len, out);
	is_str(why, want_why, "email %s: %s", want_why ? "rejected" : "accepted",
		   what);
	if (want_why == NULL && why == NULL)
		is_str(out, want_normal, "email normal form: %s", what);
	else if (want_why == NULL)
		ok(0, "email normal form: %s", what);
	free(out);
	free(copy);
}

static void
check_name(const char *in, size_t len, const char *want_normal,
		   const char *want_why, const char *what)
{
	char	   *copy = exact_copy(in, len);
	char	   *out = malloc(len + 1);
	const char *why;

	if (out == NULL)
		abort();
	why = validate_person_name(copy, len, out);
	is_str(why, want_why, "name %s: %s", want_why ? "rejected" : "accepted",
		   what);
	if (want_why == NULL && why == NULL)
		is_str(out, want_normal, "name normal form: %s", what);
	else if (want_why == NULL)
		ok(0, "name normal form: %s", what);
	free(out);
	free(copy);
}

static void
check_identifier(const char *kind, const char *in, size_t len,
				 const char *want_why, const char *what)
{
	char *copy = exact_copy(in, len);

	is_str(validate_identifier(kind, copy, len), want_why, "%s %s: %s", kind,
		   want_why ? "rejected" : "accepted", what);
	free(copy);
}

static void
check_password(const char *pw, size_t len, const char *email,
			   const char *want_why, const char *what)
{
	char *copy = exact_copy(pw, len);

	is_str(validate_password(copy, len, email), want_why, "password %s: %s",
		   want_why ? "rejected" : "accepted", what);
	free(copy);
}

/* Emails at the length limits: 64-byte local part, 63-byte label, 254. */
static void
email_boundaries(void)
{
	char *l64 = repeat("a", 64);
	char *l65 = repeat("a", 65);
	char *lab63 = repeat("b", 63);
	char *lab64 = repeat("b", 64);
	char *s;
	char *up;

	s = concat3(l64, "@", "example.com");
	check_email(s, strlen(s), s, NULL, "local part of 64 bytes");
	free(s);
	s = concat3(l65, "@", "example.com");
	check_email(s, strlen(s), NULL, E_LOCAL_LONG, "local part of 65 bytes");
	free(s);

	s = concat3("x@", lab63, ".com");
	check_email(s, strlen(s), s, NULL, "label of 63 bytes");
	free(s);
	s = concat3("x@", lab64, ".com");
	check_email(s, strlen(s), NULL, E_LABEL_LONG, "label of 64 bytes");
	free(s);
	s = concat3("x@example.", lab64, "");
	check_email(s, strlen(s), NULL, E_LABEL_LONG,
				"TLD of 64 letters: the TLD is a label too");
	free(s);

	/*
	 * Whole addresses: 64 + "@" + 63 + "." + 63 + "." + n + ".com" bytes,
	 * 254 with n = 57.  Each length is asserted so the arithmetic is too.
	 */
	{
		char *lab57 = repeat("c", 57);
		char *lab58 = repeat("c", 58);
		char  buf[300];
		char  want[300];
		int	  n;

		n = snprintf(want, sizeof(want), "%s@%s.%s.%s.com", l64, lab63, lab63,
					 lab57);
		ok(n == 254, "the longest address built is 254 bytes (%d)", n);
		check_email(want, (size_t) n, want, NULL, "address of 254 bytes");

		n = snprintf(buf, sizeof(buf), "  \t%s\n ", want);
		check_email(buf, (size_t) n, want, NULL,
					"254 bytes plus whitespace: trimmed before measuring");

		n = snprintf(buf, sizeof(buf), "%s@%s.%s.%s.com", l64, lab63, lab63,
					 lab58);
		ok(n == 255, "the too long address built is 255 bytes (%d)", n);
		check_email(buf, (size_t) n, NULL, E_LONG, "address of 255 bytes");
		free(lab57);
		free(lab58);
	}

	/* uppercase at the limit still normalises in place */
	up = repeat("A", 64);
	s = concat3(up, "@", "EXAMPLE.COM");
	{
		char *want = concat3(l64, "@", "example.com");

		check_email(s, strlen(s), want, NULL,
					"64 uppercase letters lowercased");
		free(want);
	}
	free(s);
	free(up);

	free(l64);
	free(l65);
	free(lab63);
	free(lab64);
}

/* Names at 100 characters, counted in characters rather than bytes. */
static void
name_boundaries(void)
{
	static const struct
	{
		const char *unit;
		const char *what;
	} units[] = {
		{"a", "ASCII"},
		{U2, "two-byte UTF-8"},
		{U3, "three-byte UTF-8"},
		{U4, "four-byte UTF-8"},
	};

	for (size_t i = 0; i < NELEM(units); i++)
	{
		char *s100 = repeat(units[i].unit, 100);
		char *s101 = repeat(units[i].unit, 101);
		char  what[80];

		snprintf(what, sizeof(what), "100 %s characters", units[i].what);
		check_name(s100, strlen(s100), s100, NULL, what);
		snprintf(what, sizeof(what), "101 %s characters", units[i].what);
		check_name(s101, strlen(s101), NULL, N_LONG, what);
		free(s100);
		free(s101);
	}

	{
		char *a99 = repeat("a", 99);
		char *mixed = concat3(a99, U4, "");
		char *padded = concat3("   ", mixed, "\t\t");
		char *over = concat3(mixed, "b", "");

		check_name(mixed, strlen(mixed), mixed, NULL,
				   "99 ASCII and one four-byte character");
		check_name(padded, strlen(padded), mixed, NULL,
				   "100 characters plus whitespace: trimmed before counting");
		check_name(over, strlen(over), NULL, N_LONG,
				   "99 ASCII, one four-byte and one more");
		free(a99);
		free(mixed);
		free(padded);
		free(over);
	}
}

/* Identifiers at the minimum and maximum of each kind. */
static void
identifier_boundaries(void)
{
	static const struct
	{
		const char *kind;
		size_t		max;
		const char *why;
	} kinds[] = {
		{"organization", 39, I_ORG},
		{"tier", 63, I_TIER},
		{"feature_role", 63, I_ROLE},
		{"function", 63, I_FUNC},
	};

	for (size_t i = 0; i < NELEM(kinds); i++)
	{
		char *at_max = repeat("a", kinds[i].max);
		char *over = repeat("a", kinds[i].max + 1);
		char  what[40];

		at_max[kinds[i].max - 1] = '9';
		snprintf(what, sizeof(what), "%zu characters (maximum)", kinds[i].max);
		check_identifier(kinds[i].kind, at_max, kinds[i].max, NULL, what);
		snprintf(what, sizeof(what), "%zu characters", kinds[i].max + 1);
		check_identifier(kinds[i].kind, over, kinds[i].max + 1, kinds[i].why,
						 what);
		free(at_max);
		free(over);
	}
}

/* Passwords at 1024 bytes, counted in bytes rather than characters. */
static void
password_boundaries(void)
{
	char *b1024 = repeat("p", 1024);
	char *b1025 = repeat("p", 1025);
	char *u1024 = repeat(U2, 512);
	char *u1026 = repeat(U2, 513);

	check_password(b1024, 1024, NULL, NULL, "1024 bytes (maximum)");
	check_password(b1025, 1025, NULL, P_LONG, "1025 bytes");
	check_password(u1024, 1024, NULL, NULL,
				   "512 two-byte characters (1024 bytes)");
	check_password(u1026, 1026, NULL, P_LONG,
				   "513 two-byte characters (1026 bytes): counted in bytes");
	free(b1024);
	free(b1025);
	free(u1024);
	free(u1026);
}

static void
utf8_length(void)
{
	static const struct
	{
		const char *s;
		size_t		len;
		size_t		want;
	} cases[] = {
		{LIT(""), 0},	  {LIT("abc"), 3}, {LIT(U2), 1},
		{LIT(U3 U3), 2},  {LIT(U4), 1},	   {LIT("a" U2 U3 U4 "z"), 5},
		{LIT("a\0b"), 3},
	};

	for (size_t i = 0; i < NELEM(cases); i++)
	{
		char  *copy = exact_copy(cases[i].s, cases[i].len);
		size_t got = validate_utf8_length(copy, cases[i].len);

		ok(got == cases[i].want,
		   "utf8 length of a %zu-byte string is %zu (got %zu)", cases[i].len,
		   cases[i].want, got);
		free(copy);
	}
}

int
main(void)
{
	for (size_t i = 0; i < NELEM(email_cases); i++)
		check_email(email_cases[i].in, email_cases[i].len,
					email_cases[i].normal, email_cases[i].why,
					email_cases[i].what);
	email_boundaries();

	for (size_t i = 0; i < NELEM(name_cases); i++)
		check_name(name_cases[i].in, name_cases[i].len, name_cases[i].normal,
				   name_cases[i].why, name_cases[i].what);
	name_boundaries();

	for (size_t i = 0; i < NELEM(ident_cases); i++)
		check_identifier(ident_cases[i].kind, ident_cases[i].in,
						 ident_cases[i].len, ident_cases[i].why,
						 ident_cases[i].what);
	identifier_boundaries();

	for (size_t i = 0; i < NELEM(password_cases); i++)
		check_password(password_cases[i].pw, password_cases[i].len,
					   password_cases[i].email, password_cases[i].why,
					   password_cases[i].what);
	password_boundaries();

	utf8_length();

	return done_testing();
}
