/*-------------------------------------------------------------------------
 *
 * validate.c
 *	  Input validation of emails, person names, identifiers and passwords,
 *	  in plain C (see validate.h).  Rules:
 *
 *	  - email: ASCII, at most 254 bytes, one '@'; a local part of at most 64
 *		bytes of RFC 5322 "atext" with single inner dots; a domain of at least
 *		two dot-separated labels of letters, digits and inner hyphens, the
 *		last one at least two letters.  Stored lowercased, so addresses are
 *		unique case-insensitively.  Internationalised domains must be given
 *		in their punycode (xn--) form.
 *	  - person name: valid UTF-8, 1 to 100 characters after trimming, at
 *		least one that is not a space, no control characters and no
 *		invisible formatting characters (bidirectional overrides,
 *		zero-width characters) that could disguise it in a log or a page.
 *	  - identifiers: see ident_rules below.
 *	  - password: 8 characters to 1024 bytes, not the email or its local
 *		part.
 *
 * pg_extension/src/validate.c
 *
 *-------------------------------------------------------------------------
 */
#include "validate.h"

#include <string.h>

struct ident_rule
{
	const char *kind;
	size_t		min;
	size_t		max;
	bool		hyphen;		/* '-' allowed inside */
	bool		underscore; /* '_' allowed */
	const char *shape;		/* the rule in words, for errdetail */
};

/*
 * Organisation names appear in URLs (/fn/{owner}/...), so they follow the
 * shape of GitHub's: letters, digits and single inner hyphens.  Tier and
 * feature role names are identifiers used in code and SQL.  Function names
 * are the last segment of their URL and may also hold underscores.
 */
static const struct ident_rule ident_rules[] = {
	{"organization", 2, 39, true, false,
	 "An organization name is 2 to 39 lowercase letters, digits or inner single hyphens, starting with a letter."},
	{"tier", 1, 63, false, true,
	 "A tier name is 1 to 63 lowercase letters, digits or underscores, starting with a letter."},
	{"feature_role", 1, 63, false, true,
	 "A feature role name is 1 to 63 lowercase letters, digits or underscores, starting with a letter."},
	{"function", 1, 63, true, true,
	 "A function name is 1 to 63 lowercase letters, digits, underscores or inner single hyphens, starting with a letter."},
};

static bool
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' ||
		   c == '\v';
}

static bool
is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* Trims ASCII whitespace: sets *start and returns the trimmed length. */
static size_t
trim(const char *in, size_t len, const char **start)
{
	while (len > 0 && is_space(*in))
	{
		in++;
		len--;
	}
	while (len > 0 && is_space(in[len - 1]))
		len--;
	*start = in;
	return len;
}

size_t
validate_utf8_length(const char *s, size_t len)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++)
		if (((unsigned char) s[i] & 0xC0) != 0x80)
			n++;
	return n;
}

static bool
is_atext(char c)
{
	return is_lower_alnum(c) || strchr("!#$%&'*+/=?^_`{|}~-", c) != NULL;
}

static const char *
check_local_part(const char *s, size_t len)
{
	if (len == 0)
		return "The part before the @ is empty.";
	if (len > 64)
		return "The part before the @ is longer than 64 characters.";
	if (s[0] == '.' || s[len - 1] == '.')
		return "The part before the @ starts or ends with a dot.";
	for (size_t i = 0; i < len; i++)
	{
		if (s[i] == '.')
		{
			if (s[i + 1] == '.')
				return "The part before the @ has two dots in a row.";
		}
		else if (!is_atext(s[i]))
			return "The part before the @ has a character that is not allowed.";
	}
	return NULL;
}

static const char *
check_domain(const char *s, size_t len)
{
	size_t label_start = 0;
	int	   labels = 0;

	if (len == 0)
		return "The domain after the @ is empty.";
	for (size_t i = 0; i <= len; i++)
	{
		size_t		llen;
		const char *label;

		if (i < len && s[i] != '.')
		{
			if (!is_lower_alnum(s[i]) && s[i] != '-')
				return "The domain has a character that is not allowed.";
			continue;
		}
		label = s + label_start;
		llen = i - label_start;
		if (llen == 0)
			return "The domain has an empty label.";
		if (llen > 63)
			return "A domain label is longer than 63 characters.";
		if (label[0] == '-' || label[llen - 1] == '-')
			return "A domain label starts or ends with a hyphen.";
		labels++;
		if (i == len)
		{
			/* the top-level domain: letters only, or punycode */
			bool alpha = llen >= 2;

			for (size_t k = 0; k < llen && alpha; k++)
				alpha = label[k] >= 'a' && label[k] <= 'z';
			if (!alpha && !(llen > 4 && strncmp(label, "xn--", 4) == 0))
				return "The top-level domain must be at least two letters.";
		}
		label_start = i + 1;
	}
	if (labels < 2)
		return "The domain must have at least two labels, as in example.com.";
	return NULL;
}

const char *
validate_email(const char *in, size_t len, char *out)
{
	const char *s;
	const char *at = NULL;
	const char *why;

	len = trim(in, len, &s);
	if (len == 0)
		return "The email address is empty.";
	if (len > VALIDATE_EMAIL_MAX)
		return "The email address is longer than 254 characters.";
	for (size_t i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) s[i];

		if (c >= 0x80)
			return "The email address has a non-ASCII character; give internationalised domains in punycode.";
		if (c <= 0x20 || c == 0x7f)
			return "The email address has a space or control character.";
		out[i] = (c >= 'A' && c <= 'Z') ? (char) (c + ('a' - 'A')) : (char) c;
		if (c == '@')
		{
			if (at != NULL)
				return "The email address has more than one @.";
			at = out + i;
		}
	}
	out[len] = '\0';
	if (at == NULL)
		return "The email address has no @.";
	why = check_local_part(out, (size_t) (at - out));
	if (why == NULL)
		why = check_domain(at + 1, len - (size_t) (at - out) - 1);
	return why;
}

/*
 * next_code_point
 *		Decodes the UTF-8 sequence at s[*i] (len bytes in all), advances *i
 *		past it and returns the code point, or -1 for a malformed sequence.
 */
static long
next_code_point(const unsigned char *s, size_t len, size_t *i)
{
	unsigned char c = s[*i];
	int			  extra;
	long		  cp;

	if (c < 0x80)
	{
		(*i)++;
		return c;
	}
	if ((c & 0xE0) == 0xC0)
		extra = 1, cp = c & 0x1F;
	else if ((c & 0xF0) == 0xE0)
		extra = 2, cp = c & 0x0F;
	else if ((c & 0xF8) == 0xF0)
		extra = 3, cp = c & 0x07;
	else
		return -1;
	if (*i + extra >= len)
		return -1;
	for (int k = 1; k <= extra; k++)
	{
		if ((s[*i + k] & 0xC0) != 0x80)
			return -1;
		cp = (cp << 6) | (s[*i + k] & 0x3F);
	}
	*i += extra + 1;
	return cp;
}

/*
 * Control characters (C0, DEL, C1) and the invisible formatting characters
 * that reorder or hide text when a name is shown in a terminal, a log or a
 * page: bidirectional marks, embeddings, overrides and isolates, zero-width
 * characters and the byte order mark.
 */
static bool
is_control_or_format(long cp)
{
	return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F) || cp == 0x061C ||
		   cp == 0x115F || cp == 0x1160 ||	 /* Hangul fillers */
		   (cp >= 0x200B && cp <= 0x200F) || /* zero width, LRM, RLM */
		   cp == 0x2028 || cp == 0x2029 ||	 /* line, paragraph sep. */
		   (cp >= 0x202A && cp <= 0x202E) || /* embeddings, overrides */
		   (cp >= 0x2060 && cp <= 0x2069) || /* joiners, isolates */
		   cp == 0x3164 || cp == 0xFEFF || cp == 0xFFA0 ||
		   (cp >= 0xE0000 && cp <= 0xE007F); /* tag characters */
}

/* Unicode spaces beyond ASCII: no-break, ogham, en/em and friends, ideographic. */
static bool
is_unicode_space(long cp)
{
	return cp == ' ' || cp == 0xA0 || cp == 0x1680 ||
		   (cp >= 0x2000 && cp <= 0x200A) || cp == 0x202F || cp == 0x205F ||
		   cp == 0x3000;
}

const char *
validate_person_name(const char *in, size_t len, char *out)
{
	const char *s;
	bool		visible = false;

	len = trim(in, len, &s);
	if (len == 0)
		return "The name is empty.";
	for (size_t i = 0; i < len;)
	{
		long cp = next_code_point((const unsigned char *) s, len, &i);

		if (cp < 0)
			return "The name is not valid UTF-8.";
		if (is_control_or_format(cp))
			return "The name has a control character.";
		if (!is_unicode_space(cp))
			visible = true;
	}
	if (!visible)
		return "The name is empty.";
	if (validate_utf8_length(s, len) > VALIDATE_NAME_MAX)
		return "The name is longer than 100 characters.";
	memcpy(out, s, len);
	out[len] = '\0';
	return NULL;
}

const char *
validate_identifier(const char *kind, const char *in, size_t len)
{
	const struct ident_rule *rule = NULL;

	for (size_t i = 0; i < sizeof(ident_rules) / sizeof(ident_rules[0]); i++)
		if (strcmp(ident_rules[i].kind, kind) == 0)
			rule = &ident_rules[i];
	if (rule == NULL)
		return "Unknown kind of identifier.";

	if (len < rule->min || len > rule->max)
		return rule->shape;
	if (!(in[0] >= 'a' && in[0] <= 'z'))
		return rule->shape;
	for (size_t i = 0; i < len; i++)
	{
		char c = in[i];

		if (is_lower_alnum(c))
			continue;
		if (c == '_' && rule->underscore)
			continue;
		if (c == '-' && rule->hyphen && i + 1 < len && in[i + 1] != '-')
			continue;
		return rule->shape;
	}
	return NULL;
}

static bool
equal_ignoring_case(const char *a, size_t alen, const char *b, size_t blen)
{
	if (alen != blen)
		return false;
	for (size_t i = 0; i < alen; i++)
	{
		char x = a[i];
		char y = b[i];

		if (x >= 'A' && x <= 'Z')
			x += 'a' - 'A';
		if (y >= 'A' && y <= 'Z')
			y += 'a' - 'A';
		if (x != y)
			return false;
	}
	return true;
}

const char *
validate_password(const char *pw, size_t len, const char *email)
{
	if (len > VALIDATE_PASSWORD_MAX)
		return "The password is longer than 1024 bytes.";
	if (validate_utf8_length(pw, len) < VALIDATE_PASSWORD_MIN)
		return "The password is shorter than 8 characters.";
	if (email != NULL)
	{
		const char *at = strchr(email, '@');

		if (equal_ignoring_case(pw, len, email, strlen(email)) ||
			(at != NULL &&
			 equal_ignoring_case(pw, len, email, (size_t) (at - email))))
			return "The password must not be the email address or its part before the @.";
	}
	return NULL;
}
