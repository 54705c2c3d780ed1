/*
 * cli/src/analysis.c
 *	  The analysis before a deploy (analysis.h): one walk of the function
 *	  folder (walk.c), then for each entry the checks, driven by tables:
 *	  SECRET_NAMES, the file names that look like secrets, and RISKY, the
 *	  calls of each runtime the sandbox refuses.  Adding a name or a call
 *	  is adding a row.
 *
 *	  Risky calls are searched in the runtime's source files with their
 *	  comments blanked out (and, in C and Python, their string literals):
 *	  a call in a comment or a message is not a call.  A match is a whole
 *	  word ("system(" is not in "my_system(", "socket" not in "websocket")
 *	  and, for a call, the word followed by "(" (in C also by ")", ";" or
 *	  ",": the function taken as a value).  A Python f-string's {...} parts
 *	  are code and stay; "from os import system" names os.system.  This is
 *	  early feedback, not a parser: the sandbox is the real guard.
 */
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "analysis.h"
#include "walk.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* File names that look like secrets (fnmatch, any case). */
struct secret_name
{
	const char *pattern; /* the file name; with a '/', the path's end */
	const char *reason;
};

/* clang-format off */
static const struct secret_name SECRET_NAMES[] = {
	/* Every .env name, .env.example too: include ships one on purpose. */
	{".env*",				"an environment file"},
	{"*.pem",				"a PEM key or certificate"},
	{"*.key",				"a private key file"},
	{"*.p12",				"a PKCS #12 key store"},
	{"*.pfx",				"a PKCS #12 key store"},
	{"*.kdbx",				"a KeePass database"},
	{"*.jks",				"a Java key store"},
	{"*.keystore",			"a Java key store"},
	{"*.ppk",				"a PuTTY private key"},
	{"id_rsa",				"an SSH private key"},
	{"id_rsa.*",			"an SSH private key"},
	{"id_dsa",				"an SSH private key"},
	{"id_dsa.*",			"an SSH private key"},
	{"id_ecdsa",			"an SSH private key"},
	{"id_ecdsa.*",			"an SSH private key"},
	{"id_ed25519",			"an SSH private key"},
	{"id_ed25519.*",		"an SSH private key"},
	{".netrc",				"a credentials file"},
	{".npmrc",				"a credentials file"},
	{".pypirc",				"a credentials file"},
	{".git-credentials",	"a credentials file"},
	{"credentials",			"a credentials file"},
	{"credentials.json",	"a credentials file"},
	{".aws/credentials",	"AWS credentials"},
	{".pgpass",				"a credentials file"},
	{".my.cnf",				"a credentials file"},
	{".htpasswd",			"a password file"},
	{"*.tfvars",			"Terraform variables"},
	{"secrets.yaml",		"a secrets file"},
	{"secrets.yml",			"a secrets file"},
	{"secrets.json",		"a secrets file"},
	{".docker/config.json",	"Docker registry credentials"},
	{".kube/config",		"a Kubernetes config"},
};
/* clang-format on */

/* How a risky pattern matches. */
enum risky_kind
{
	RISKY_CALL, /* the word, then optional blanks and "(" */
	RISKY_WORD, /* the word on its own */
	RISKY_TEXT, /* the text anywhere */
};

/* A call a runtime's code should not make: the sandbox refuses it. */
struct risky_pattern
{
	const char	   *runtime;
	const char	   *pattern;
	enum risky_kind kind;
	const char	   *reason;
};

/* clang-format off */
static const struct risky_pattern RISKY[] = {
	{"c", "system",			RISKY_CALL, "runs a command through the shell"},
	{"c", "popen",			RISKY_CALL, "runs a command through the shell"},
	{"c", "execl",			RISKY_CALL, "runs another program"},
	{"c", "execle",			RISKY_CALL, "runs another program"},
	{"c", "execlp",			RISKY_CALL, "runs another program"},
	{"c", "execv",			RISKY_CALL, "runs another program"},
	{"c", "execve",			RISKY_CALL, "runs another program"},
	{"c", "execvp",			RISKY_CALL, "runs another program"},
	{"c", "execvpe",		RISKY_CALL, "runs another program"},
	{"c", "execveat",		RISKY_CALL, "runs another program"},
	{"c", "fexecve",		RISKY_CALL, "runs another program"},
	{"c", "posix_spawn",	RISKY_CALL, "runs another program"},
	{"c", "posix_spawnp",	RISKY_CALL, "runs another program"},
	{"c", "fork",			RISKY_CALL, "starts a child process"},
	{"c", "vfork",			RISKY_CALL, "starts a child process"},
	{"c", "socket",			RISKY_CALL, "opens a network socket"},
	{"c", "connect",		RISKY_CALL, "connects a socket"},
	{"c", "dlopen",			RISKY_CALL, "loads a shared library at run time"},
	{"python", "os.system",	RISKY_WORD, "runs a command through the shell"},
	{"python", "os.popen",	RISKY_WORD, "runs a command through the shell"},
	{"python", "subprocess", RISKY_WORD, "runs other programs"},
	{"python", "eval",		RISKY_CALL, "evaluates a string as code"},
	{"python", "exec",		RISKY_CALL, "executes a string as code"},
	{"python", "socket",	RISKY_WORD, "opens network sockets"},
	{"python", "ctypes",	RISKY_WORD, "calls native code"},
	{"python", "__import__", RISKY_WORD, "imports a module named at run time"},
	{"shell", "curl",		RISKY_WORD, "talks to the network"},
	{"shell", "wget",		RISKY_WORD, "talks to the network"},
	{"shell", "nc",			RISKY_WORD, "opens network connections"},
	{"shell", "ncat",		RISKY_WORD, "opens network connections"},
	{"shell", "netcat",		RISKY_WORD, "opens network connections"},
	{"shell", "socat",		RISKY_WORD, "opens network connections"},
	{"shell", "telnet",		RISKY_WORD, "opens network connections"},
	{"shell", "ssh",		RISKY_WORD, "connects to another machine"},
	{"shell", "scp",		RISKY_WORD, "copies to or from another machine"},
	{"shell", "/dev/tcp/",	RISKY_TEXT, "opens a network connection"},
	{"shell", "/dev/udp/",	RISKY_TEXT, "opens a network connection"},
};
/* clang-format on */

/* The source files of each runtime, searched for its risky calls. */
struct source_kind
{
	const char *runtime;
	const char *patterns[3];	/* file names (fnmatch) */
	const char *word_chars;		/* besides letters and digits */
	const char *no_word_before; /* a word does not start after these */
	const char *value_ends;		/* after a call's word: used as a value */
	void (*blank)(char *text, size_t len);
};

static void blank_c(char *text, size_t len);
static void blank_python(char *text, size_t len);
static void blank_shell(char *text, size_t len);

static const struct source_kind SOURCES[] = {
	/* "s.connect(" and "p->fork(" are members, not the libc calls;
	 * "= system;", "(system)(" and "f(popen, x)" take the function itself. */
	{"c", {"*.c", "*.h", NULL}, "_", ".>", ");,", blank_c},
	/* "df.eval(" is a method, not the built-in. */
	{"python", {"*.py", NULL}, "_", ".", "", blank_python},
	/* "ssh-keygen", "$nc" and ".curlrc" are not the commands. */
	{"shell", {"*.sh", NULL}, "_-.", "$", "", blank_shell},
};

/* The report being built, and the messages of one run. */
struct run
{
	const char					  *dir;
	const struct manifest		  *m;
	const struct analysis_options *opts;
	struct analysis_report		  *r;
	char						 **err;
	size_t						   cap_secrets;
	size_t						   cap_risky;
	size_t						   cap_problems;
};

static int add_problem(struct run *run, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * grow: ARRAY (COUNT items of SIZE bytes, room for *CAP) with room for one
 * more: ARRAY itself, or a larger copy (*CAP updated; ARRAY is then gone).
 * NULL when out of memory (ARRAY unchanged).
 */
static void *
grow(void *array, size_t count, size_t *cap, size_t size)
{
	void  *grown;
	size_t ncap;

	if (count < *cap)
		return array;
	ncap = *cap ? *cap * 2 : 16;
	grown = realloc(array, ncap * size);
	if (grown != NULL)
		*cap = ncap;
	return grown;
}

/* size_text: "256 MiB", "1 KiB" or "1000 bytes", as the worker says. */
static void
size_text(uint64_t n, char *out, size_t outlen)
{
	if (n >= 1024 * 1024 && n % (1024 * 1024) == 0)
		snprintf(out, outlen, "%llu MiB",
				 (unsigned long long) (n / (1024 * 1024)));
	else if (n >= 1024 && n % 1024 == 0)
		snprintf(out, outlen, "%llu KiB", (unsigned long long) (n / 1024));
	else
		snprintf(out, outlen, "%llu bytes", (unsigned long long) n);
}

/* add_problem: a problem about PATH (NULL: the whole folder); refuses. */
static int
add_problem(struct run *run, const char *path, const char *fmt, ...)
{
	struct analysis_report	*r = run->r;
	struct analysis_problem *p;
	char					*copy = NULL;
	char					*message = NULL;
	va_list					 ap;
	int						 rc = -1;

	p = grow(r->problems, r->nproblems, &run->cap_problems, sizeof(*p));
	if (p == NULL || (path && (copy = strdup(path)) == NULL))
		goto done;
	r->problems = p;
	va_start(ap, fmt);
	if (vasprintf(&message, fmt, ap) < 0)
		message = NULL;
	va_end(ap);
	if (message == NULL)
		goto done;
	r->problems[r->nproblems].path = copy;
	r->problems[r->nproblems].message = message;
	r->nproblems++;
	r->refused = true;
	copy = NULL;
	rc = 0;

done:
	if (rc != 0)
		cli_set_error(run->err, "out of memory");
	free(copy);
	return rc;
}

const char *
analysis_secret_name(const char *path)
{
	const char *base = strrchr(path, '/');

	base = base ? base + 1 : path;
	/* A public key is not a secret (id_rsa.pub). */
	if (fnmatch("*.pub", base, FNM_CASEFOLD) == 0)
		return NULL;
	for (size_t i = 0; i < NELEM(SECRET_NAMES); i++)
	{
		const char *pat = SECRET_NAMES[i].pattern;

		if (strchr(pat, '/') == NULL)
		{
			if (fnmatch(pat, base, FNM_CASEFOLD) == 0)
				return SECRET_NAMES[i].reason;
		}
		else
		{
			size_t plen = strlen(pat);
			size_t len = strlen(path);

			/* The path is the pattern, or ends with "/" and it. */
			if (len >= plen && strcasecmp(path + len - plen, pat) == 0 &&
				(len == plen || path[len - plen - 1] == '/'))
				return SECRET_NAMES[i].reason;
		}
	}
	return NULL;
}

bool
analysis_has_private_key(const char *data, size_t len)
{
	static const char begin[] = "-----BEGIN ";
	static const char key[] = "PRIVATE KEY";
	const char		 *p = data;
	const char		 *end = data + len;

	/* "-----BEGIN [RSA |EC |OPENSSH |ENCRYPTED |PGP ]PRIVATE KEY[ BLOCK]-----"
	 * on one line. */
	while ((p = memmem(p, (size_t) (end - p), begin, sizeof(begin) - 1)) !=
		   NULL)
	{
		const char *q = p + sizeof(begin) - 1;
		const char *eol = memchr(q, '\n', (size_t) (end - q));
		const char *k;

		if (eol == NULL)
			eol = end;
		k = memmem(q, (size_t) (eol - q), key, sizeof(key) - 1);
		if (k != NULL && k - q <= 40)
		{
			const char *rest = k + sizeof(key) - 1;
			size_t		left = (size_t) (eol - rest);

			if ((left >= 5 && memcmp(rest, "-----", 5) == 0) ||
				(left >= 11 && memcmp(rest, " BLOCK-----", 11) == 0))
				return true;
		}
		p = q;
	}
	return false;
}

/*
 * read_head: up to MAX bytes of the file PATH (under the folder) into a
 * new buffer *OUT (NUL-terminated), *LEN bytes.  Never follows a link.
 * 0, or -1 with *ERR.
 */
static int
read_head(struct run *run, const char *path, size_t max, char **out,
		  size_t *len)
{
	char  *full = walk_path_joined(run->dir, path);
	char  *buf = NULL;
	size_t n = 0;
	int	   fd = -1;
	int	   rc = -1;

	*out = NULL;
	*len = 0;
	if (full == NULL)
	{
		cli_set_error(run->err, "out of memory");
		goto done;
	}
	fd = open(full, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
	{
		cli_set_error(run->err, "could not read %s: %s", full,
					  strerror(errno));
		goto done;
	}
	buf = malloc(max + 1);
	if (buf == NULL)
	{
		cli_set_error(run->err, "out of memory");
		goto done;
	}
	while (n < max)
	{
		ssize_t got = read(fd, buf + n, max - n);

		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
		{
			cli_set_error(run->err, "could not read %s: %s", full,
						  strerror(errno));
			goto done;
		}
		if (got == 0)
			break;
		n += (size_t) got;
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	buf = NULL;
	rc = 0;

done:
	if (fd >= 0)
		close(fd);
	free(buf);
	free(full);
	return rc;
}

/* add_secret: the file PATH looks like a secret for REASON. */
static int
add_secret(struct run *run, const char *path, const char *reason)
{
	struct analysis_report *r = run->r;
	struct analysis_secret *s;
	bool					included;

	included = walk_match(run->m->include, run->m->ninclude, path) ||
			   walk_match(run->opts->include, run->opts->ninclude, path);
	s = grow(r->secrets, r->nsecrets, &run->cap_secrets, sizeof(*s));
	if (s == NULL)
	{
		cli_set_error(run->err, "out of memory");
		return -1;
	}
	r->secrets = s;
	s = &r->secrets[r->nsecrets];
	s->path = strdup(path);
	if (s->path == NULL)
	{
		cli_set_error(run->err, "out of memory");
		return -1;
	}
	s->reason = reason;
	s->included = included;
	r->nsecrets++;
	if (!included)
		r->refused = true;
	return 0;
}

/*
 * The blankers: comments (and string literals in C and Python) become
 * spaces, line ends stay, so that lines keep their numbers.
 */
static void
blank_c(char *t, size_t len)
{
	enum
	{
		CODE,
		LINE_COMMENT,
		BLOCK_COMMENT,
		STRING,
		CHAR
	} state = CODE;

	for (size_t i = 0; i < len; i++)
	{
		char c = t[i];
		char next = i + 1 < len ? t[i + 1] : '\0';

		switch (state)
		{
			case CODE:
				if (c == '/' && next == '/')
					state = LINE_COMMENT;
				else if (c == '/' && next == '*')
				{
					/* Both characters: "/" "*" "/" does not end it. */
					state = BLOCK_COMMENT;
					t[i++] = ' ';
				}
				else if (c == '"')
					state = STRING;
				else if (c == '\'')
					state = CHAR;
				else
					break;
				t[i] = ' ';
				break;
			case LINE_COMMENT:
				if (c == '\n')
					state = CODE;
				else
					t[i] = ' ';
				break;
			case BLOCK_COMMENT:
				if (c == '*' && next == '/')
				{
					t[i++] = ' ';
					t[i] = ' ';
					state = CODE;
				}
				else if (c != '\n')
					t[i] = ' ';
				break;
			case STRING:
			case CHAR:
				if (c == '\\' && next != '\0')
				{
					/* An escape; a line continued stays a line end. */
					t[i++] = ' ';
					if (next != '\n')
						t[i] = ' ';
				}
				else if (c == '\n')
					state = CODE; /* not closed on its line */
				else
				{
					if (c == (state == STRING ? '"' : '\''))
						state = CODE;
					t[i] = ' ';
				}
				break;
		}
	}
}

static bool
is_word_char(char c, const char *extra)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		   (c >= '0' && c <= '9') || (c != '\0' && strchr(extra, c) != NULL);
}

/*
 * f_prefix: whether the string whose quote is at T[I] is an f-string: the
 * letters just before it (a prefix such as f, rf, Fr) hold an f.
 */
static bool
f_prefix(const char *t, size_t i)
{
	bool   f = false;
	size_t j = i;

	while (j > 0 && i - j < 2 && t[j - 1] != '\0' &&
		   strchr("rRbBuUfF", t[j - 1]) != NULL)
	{
		if (t[j - 1] == 'f' || t[j - 1] == 'F')
			f = true;
		j--;
	}
	/* The prefix is a word of its own: "elif'" is not an f-string. */
	return f && (j == 0 || !is_word_char(t[j - 1], "_"));
}

/*
 * blank_python: comments and string literals, but the {...} parts of an
 * f-string are code and stay (a string inside them goes, as any other).
 */
static void
blank_python(char *t, size_t len)
{
	char quote = '\0';	  /* the string's quote, '\0' outside one */
	bool triple = false;  /* three quotes */
	bool fstring = false; /* an f-string */
	int	 depth = 0;		  /* in an f-string, the {...} depth */
	char inner = '\0';	  /* in {...}, a string's quote */

	for (size_t i = 0; i < len; i++)
	{
		char c = t[i];

		if (quote == '\0')
		{
			if (c == '#')
			{
				while (i < len && t[i] != '\n')
					t[i++] = ' ';
			}
			else if (c == '"' || c == '\'')
			{
				quote = c;
				fstring = f_prefix(t, i);
				depth = 0;
				triple = i + 2 < len && t[i + 1] == c && t[i + 2] == c;
				t[i] = ' ';
				if (triple)
				{
					t[++i] = ' ';
					t[++i] = ' ';
				}
			}
			continue;
		}
		if (depth > 0)
		{
			/* Code inside an f-string's {...}. */
			if (inner != '\0')
			{
				if (c == inner || c == '\n')
					inner = '\0';
				if (c != '\n')
					t[i] = ' ';
			}
			else if ((c == '"' || c == '\'') && c != quote)
			{
				inner = c;
				t[i] = ' ';
			}
			else if (c == '{')
				depth++;
			else if (c == '}')
			{
				depth--;
				t[i] = ' ';
			}
			else if (c == '\n' && !triple)
			{
				depth = 0; /* not closed on its line */
				quote = '\0';
			}
			else if (c == quote)
			{
				/* The string ends inside {...}: broken, end both. */
				depth = 0;
				i--;
			}
			continue;
		}
		/* In a string. */
		if (fstring && c == '{' && i + 1 < len && t[i + 1] == '{')
		{
			t[i++] = ' ';
			t[i] = ' ';
		}
		else if (fstring && c == '{')
		{
			depth = 1;
			inner = '\0';
			t[i] = ' ';
		}
		else if (c == '\\' && i + 1 < len)
		{
			t[i++] = ' ';
			if (t[i] != '\n')
				t[i] = ' ';
		}
		else if (c == quote &&
				 (!triple || (i + 2 < len && t[i + 1] == c && t[i + 2] == c)))
		{
			t[i] = ' ';
			if (triple)
			{
				t[++i] = ' ';
				t[++i] = ' ';
			}
			quote = '\0';
		}
		else if (c == '\n')
		{
			if (!triple)
				quote = '\0'; /* not closed on its line */
		}
		else
			t[i] = ' ';
	}
}

/* Shell: only comments go ("#" starting a word outside quotes); what is
 * quoted may be a command ("$(curl ...)"), so it stays. */
static void
blank_shell(char *t, size_t len)
{
	char quote = '\0';

	for (size_t i = 0; i < len; i++)
	{
		char c = t[i];

		if (quote != '\0')
		{
			if (c == '\\' && quote == '"' && i + 1 < len)
				i++;
			else if (c == quote)
				quote = '\0';
			continue;
		}
		if (c == '\\' && i + 1 < len)
			i++;
		else if (c == '\'' || c == '"')
			quote = c;
		else if (c == '#' &&
				 (i == 0 || strchr(" \t\n;&|()", t[i - 1]) != NULL))
		{
			while (i < len && t[i] != '\n')
				t[i++] = ' ';
		}
	}
}

/*
 * risky_match: whether the pattern P matches at LINE + AT, within a line
 * of LEN bytes, for a source of kind K.
 */
static bool
risky_match(const struct risky_pattern *p, const struct source_kind *k,
			const char *line, size_t len, size_t at)
{
	size_t plen = strlen(p->pattern);
	size_t end = at + plen;

	if (p->kind == RISKY_TEXT)
		return true;
	if (at > 0 && (is_word_char(line[at - 1], k->word_chars) ||
				   strchr(k->no_word_before, line[at - 1]) != NULL))
		return false;
	if (end < len && is_word_char(line[end], k->word_chars))
		return false;
	if (p->kind == RISKY_WORD)
		return true;
	while (end < len && (line[end] == ' ' || line[end] == '\t'))
		end++;
	return end < len &&
		   (line[end] == '(' || strchr(k->value_ends, line[end]) != NULL);
}

/*
 * python_from_import: whether LINE (LEN bytes) is "from MODULE import ..."
 * naming NAME, for the pattern "MODULE.NAME" (P, PLEN bytes): "from os
 * import system, popen" takes os.system.  One line only: a list in
 * parentheses over several lines is not followed.
 */
static bool
python_from_import(const char *p, size_t plen, const char *line, size_t len)
{
	const char *dot = memchr(p, '.', plen);
	size_t		mlen;
	size_t		nlen;
	size_t		i = 0;

	if (dot == NULL)
		return false;
	mlen = (size_t) (dot - p);
	nlen = plen - mlen - 1;
	while (i < len && (line[i] == ' ' || line[i] == '\t'))
		i++;
	if (len - i < 5 || memcmp(line + i, "from", 4) != 0 ||
		(line[i + 4] != ' ' && line[i + 4] != '\t'))
		return false;
	i += 4;
	while (i < len && (line[i] == ' ' || line[i] == '\t'))
		i++;
	if (len - i <= mlen || memcmp(line + i, p, mlen) != 0 ||
		(line[i + mlen] != ' ' && line[i + mlen] != '\t'))
		return false;
	i += mlen;
	while (i < len && (line[i] == ' ' || line[i] == '\t'))
		i++;
	if (len - i < 7 || memcmp(line + i, "import", 6) != 0 ||
		is_word_char(line[i + 6], "_"))
		return false;
	for (i += 6; i + nlen <= len; i++)
		if (memcmp(line + i, dot + 1, nlen) == 0 &&
			!is_word_char(line[i - 1], "_.") &&
			(i + nlen == len || !is_word_char(line[i + nlen], "_")))
			return true;
	return false;
}

/* add_risky: PATTERN at PATH:LINENO. */
static int
add_risky(struct run *run, const char *path, int lineno, size_t pattern)
{
	struct analysis_report *r = run->r;
	struct analysis_risky  *k;

	k = grow(r->risky, r->nrisky, &run->cap_risky, sizeof(*k));
	if (k == NULL)
	{
		cli_set_error(run->err, "out of memory");
		return -1;
	}
	r->risky = k;
	k = &r->risky[r->nrisky];
	k->path = strdup(path);
	if (k->path == NULL)
	{
		cli_set_error(run->err, "out of memory");
		return -1;
	}
	k->line = lineno;
	/* A call is shown with "()": "system()". */
	snprintf(k->call, sizeof(k->call),
			 RISKY[pattern].kind == RISKY_CALL ? "%s()" : "%s",
			 RISKY[pattern].pattern);
	k->reason = RISKY[pattern].reason;
	r->nrisky++;
	if (!run->opts->allow_risky)
		r->refused = true;
	return 0;
}

/*
 * scan_code: the risky calls in TEXT (LEN bytes, blanked here), the file
 * PATH of kind K.  Each pattern is reported once per line.
 */
static int
scan_code(struct run *run, const struct source_kind *k, const char *path,
		  char *text, size_t len)
{
	int	   lineno = 1;
	size_t start = 0;

	k->blank(text, len);
	while (start < len)
	{
		const char *line = text + start;
		const char *eol = memchr(line, '\n', len - start);
		size_t		llen = eol ? (size_t) (eol - line) : len - start;

		for (size_t i = 0; i < NELEM(RISKY); i++)
		{
			const struct risky_pattern *p = &RISKY[i];
			size_t						plen = strlen(p->pattern);
			const char				   *at = line;

			if (strcmp(p->runtime, k->runtime) != 0)
				continue;
			if (strcmp(k->runtime, "python") == 0 &&
				python_from_import(p->pattern, plen, line, llen))
			{
				if (add_risky(run, path, lineno, i) != 0)
					return -1;
				continue;
			}
			while ((at = memmem(at, llen - (size_t) (at - line), p->pattern,
								plen)) != NULL)
			{
				if (risky_match(p, k, line, llen, (size_t) (at - line)))
				{
					if (add_risky(run, path, lineno, i) != 0)
						return -1;
					break;
				}
				at++;
			}
		}
		start += llen + 1;
		lineno++;
	}
	return 0;
}

/*
 * names_shell: whether the #! line at the start of HEAD (LEN bytes) runs a
 * shell: a word of it is sh, bash, dash, ash or busybox, or ends in /sh...
 */
static bool
names_shell(const char *head, size_t len)
{
	static const char *const shells[] = {"sh", "bash", "dash", "ash",
										 "busybox"};
	size_t					 eol;
	size_t					 i = 2;

	if (len < 2 || head[0] != '#' || head[1] != '!')
		return false;
	eol = strcspn(head, "\n");
	while (i < eol)
	{
		size_t		start = i;
		const char *word;
		const char *slash;
		size_t		n;

		while (i < eol && head[i] != ' ' && head[i] != '\t')
			i++;
		/* The word's last component: /bin/sh -> sh. */
		slash = memrchr(head + start, '/', i - start);
		word = slash ? slash + 1 : head + start;
		n = (size_t) (head + i - word);
		for (size_t s = 0; s < NELEM(shells); s++)
			if (n == strlen(shells[s]) && memcmp(word, shells[s], n) == 0)
				return true;
		while (i < eol && (head[i] == ' ' || head[i] == '\t'))
			i++;
	}
	return false;
}

/*
 * source_kind_of: the kind of source PATH is for RUNTIME, by its name or,
 * for a shell script without .sh, its #! line (HEAD, LEN bytes); NULL
 * when it is not one.
 */
static const struct source_kind *
source_kind_of(const char *runtime, const char *path, const char *head,
			   size_t len)
{
	const char *base = strrchr(path, '/');

	base = base ? base + 1 : path;
	for (size_t i = 0; i < NELEM(SOURCES); i++)
	{
		const struct source_kind *k = &SOURCES[i];

		if (strcmp(k->runtime, runtime) != 0)
			continue;
		for (int j = 0; k->patterns[j]; j++)
			if (fnmatch(k->patterns[j], base, 0) == 0)
				return k;
		if (strcmp(runtime, "shell") == 0 && names_shell(head, len))
			return k;
	}
	return NULL;
}

/*
 * check_file: the secrets and risky calls of the regular file E: all of it
 * (up to ANALYSIS_CODE_SCAN_BYTES, as big as the walk saw it) searched for
 * a private key, and for calls when it is a source file of the runtime.
 */
static int
check_file(struct run *run, const struct walk_entry *e)
{
	const char				 *reason = analysis_secret_name(e->path);
	const struct source_kind *k;
	char					 *text = NULL;
	size_t					  len;
	int						  rc = -1;

	/* The whole file, up to the cap: a key block may come after anything. */
	if (read_head(run, e->path,
				  e->size < ANALYSIS_CODE_SCAN_BYTES
					  ? (size_t) e->size
					  : ANALYSIS_CODE_SCAN_BYTES,
				  &text, &len) != 0)
		goto done;
	if (reason == NULL && analysis_has_private_key(text, len))
		reason = "holds a private key";
	if (reason && add_secret(run, e->path, reason) != 0)
		goto done;
	k = source_kind_of(run->m->runtime, e->path, text, len);
	if (k == NULL)
	{
		rc = 0;
		goto done;
	}
	rc = scan_code(run, k, e->path, text, len);

done:
	free(text);
	return rc;
}

/* check_entry_file: whether the walk holds the runtime's entry file. */
static int
check_entry_file(struct run *run, const struct walk *w)
{
	const struct manifest_runtime *rt = manifest_runtime_find(run->m->runtime);
	bool						   found = false;

	if (rt == NULL)
		return 0; /* manifest_load let no other through */
	for (size_t i = 0; i < w->count && !found; i++)
	{
		const struct walk_entry *e = &w->entries[i];
		const char				*base = strrchr(e->path, '/');

		if (e->kind != WALK_FILE)
			continue;
		if (strchr(rt->entry, '*') != NULL)
			found = fnmatch(rt->entry, base ? base + 1 : e->path, 0) == 0;
		else
			found = strcmp(e->path, rt->entry) == 0;
	}
	if (found)
		return 0;
	if (asprintf(&run->r->entry_missing, "%s is missing: %s",
				 strcmp(rt->entry, "*.c") == 0 ? "a .c file" : rt->entry,
				 rt->entry_hint) < 0)
	{
		run->r->entry_missing = NULL;
		cli_set_error(run->err, "out of memory");
		return -1;
	}
	run->r->refused = true;
	return 0;
}

/* check_walk: every check on each entry, then the caps on the whole. */
static int
check_walk(struct run *run, const struct walk *w)
{
	struct analysis_report *r = run->r;
	char					a[32], b[32];

	for (size_t i = 0; i < w->count; i++)
	{
		const struct walk_entry *e = &w->entries[i];
		int						 rc = 0;

		if (strlen(e->path) > ANALYSIS_MAX_PATH_LEN)
			rc = add_problem(run, e->path,
							 "a path longer than %d bytes (the worker's "
							 "limit)",
							 ANALYSIS_MAX_PATH_LEN);
		else if (e->depth > ANALYSIS_MAX_DEPTH)
			rc = add_problem(run, e->path,
							 "a path deeper than %d levels (the worker's "
							 "limit)",
							 ANALYSIS_MAX_DEPTH);
		if (rc != 0)
			return -1;
		switch (e->kind)
		{
			case WALK_DIR:
				r->folders++;
				break;
			case WALK_LINK:
				rc = add_problem(run, e->path,
								 "a symbolic link (the worker accepts only "
								 "regular files and folders)");
				break;
			case WALK_OTHER:
				rc = add_problem(run, e->path,
								 "neither a regular file nor a folder (a "
								 "device, fifo or socket)");
				break;
			case WALK_FILE:
				r->files++;
				r->bytes += e->size;
				if (e->size > ANALYSIS_MAX_FILE_BYTES)
				{
					size_text(e->size, a, sizeof(a));
					size_text(ANALYSIS_MAX_FILE_BYTES, b, sizeof(b));
					rc = add_problem(run, e->path,
									 "%s, more than the worker's limit of %s "
									 "per file",
									 a, b);
				}
				if (rc == 0)
					rc = check_file(run, e);
				break;
		}
		if (rc != 0)
			return -1;
	}
	if (w->count > ANALYSIS_MAX_ENTRIES &&
		add_problem(run, NULL,
					"%zu files and folders, more than the worker's limit "
					"of %d",
					w->count, ANALYSIS_MAX_ENTRIES) != 0)
		return -1;
	if (r->bytes > ANALYSIS_MAX_TOTAL_BYTES)
	{
		size_text(r->bytes, a, sizeof(a));
		size_text(ANALYSIS_MAX_TOTAL_BYTES, b, sizeof(b));
		if (add_problem(run, NULL,
						"the files add up to %s, more than the worker's "
						"limit of %s in all",
						a, b) != 0)
			return -1;
	}
	return check_entry_file(run, w);
}

int
analysis_run(const char *dir, const struct manifest *m,
			 const struct analysis_options *opts,
			 struct analysis_report **report, char **err)
{
	static const struct analysis_options none = {NULL, 0, false};
	struct walk							 w = {NULL, 0, 0};
	struct run							 run;
	int									 rc = -1;

	*report = NULL;
	*err = NULL;
	memset(&run, 0, sizeof(run));
	run.dir = dir;
	run.m = m;
	run.opts = opts ? opts : &none;
	run.err = err;
	run.r = calloc(1, sizeof(*run.r));
	if (run.r == NULL || (run.r->runtime = strdup(m->runtime)) == NULL)
	{
		cli_set_error(err, "out of memory");
		goto done;
	}
	run.r->risky_allowed = run.opts->allow_risky;
	if (walk_folder(dir, m->exclude, m->nexclude, &w, err) != 0)
		goto done;
	if (check_walk(&run, &w) != 0)
		goto done;
	*report = run.r;
	run.r = NULL;
	rc = 0;

done:
	walk_free(&w);
	analysis_free(run.r);
	return rc;
}

/* The problems of each kind: counted, each listed, then a hint. */
static size_t
count_refused_secrets(const struct analysis_report *r)
{
	size_t n = 0;

	for (size_t i = 0; i < r->nsecrets; i++)
		if (!r->secrets[i].included)
			n++;
	return n;
}

static void append(char *buf, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* append: the formatted text after what BUF holds, ", " between parts. */
static void
append(char *buf, size_t size, const char *fmt, ...)
{
	size_t	used = strlen(buf);
	va_list ap;

	if (used > 0 && used + 2 < size)
	{
		memcpy(buf + used, ", ", 3);
		used += 2;
	}
	va_start(ap, fmt);
	vsnprintf(buf + used, size - used, fmt, ap);
	va_end(ap);
}

/* summary: the one-line reason of a refusal, into BUF. */
static void
summary(const struct analysis_report *r, char *buf, size_t size)
{
	size_t n = count_refused_secrets(r);

	buf[0] = '\0';
	if (r->entry_missing)
		append(buf, size, "%s", r->entry_missing);
	if (n > 0)
		append(buf, size, "%zu %s", n,
			   n == 1 ? "file looks like a secret"
					  : "files look like secrets");
	if (r->nrisky > 0 && !r->risky_allowed)
		append(buf, size, "%zu risky %s", r->nrisky,
			   r->nrisky == 1 ? "call" : "calls");
	if (r->nproblems > 0)
		append(buf, size, "%zu %s", r->nproblems,
			   r->nproblems == 1 ? "problem" : "problems");
}

static void
print_risky(const struct analysis_report *r)
{
	for (size_t i = 0; i < r->nrisky; i++)
		fprintf(stderr, "  %s:%d: %s %s\n", r->risky[i].path, r->risky[i].line,
				r->risky[i].call, r->risky[i].reason);
}

static void
print_text(const struct analysis_report *r, bool quiet)
{
	size_t n = count_refused_secrets(r);

	if (r->entry_missing)
		fprintf(stderr, "cpub: refusing to deploy: %s\n", r->entry_missing);
	if (n > 0)
	{
		fprintf(stderr, "cpub: refusing to deploy: %zu %s:\n", n,
				n == 1 ? "file looks like a secret"
					   : "files look like secrets");
		for (size_t i = 0; i < r->nsecrets; i++)
			if (!r->secrets[i].included)
				fprintf(stderr, "  %s (%s)\n", r->secrets[i].path,
						r->secrets[i].reason);
		fprintf(stderr,
				"hint: add %s to \"include\" in cpub.json or pass "
				"--include to ship %s anyway\n",
				n == 1 ? "it" : "them", n == 1 ? "it" : "them");
	}
	if (r->nrisky > 0 && !r->risky_allowed)
	{
		fprintf(stderr, "cpub: refusing to deploy: %zu risky %s:\n", r->nrisky,
				r->nrisky == 1 ? "call" : "calls");
		print_risky(r);
		fprintf(stderr, "hint: the sandbox refuses these at run time; pass "
						"--allow-risky to deploy anyway\n");
	}
	if (r->nproblems > 0)
	{
		fprintf(stderr, "cpub: refusing to deploy: %zu %s:\n", r->nproblems,
				r->nproblems == 1 ? "problem" : "problems");
		for (size_t i = 0; i < r->nproblems; i++)
		{
			if (r->problems[i].path)
				fprintf(stderr, "  %s: %s\n", r->problems[i].path,
						r->problems[i].message);
			else
				fprintf(stderr, "  %s\n", r->problems[i].message);
		}
		fprintf(stderr,
				"hint: remove %s, or add %s to \"exclude\" in "
				"cpub.json\n",
				r->nproblems == 1 ? "it" : "them",
				r->nproblems == 1 ? "it" : "them");
	}
	if (quiet)
		return;
	/* What goes through, said once. */
	if (n < r->nsecrets)
	{
		fprintf(stderr, "cpub: shipping %zu %s, as included:\n",
				r->nsecrets - n,
				r->nsecrets - n == 1 ? "file that looks like a secret"
									 : "files that look like secrets");
		for (size_t i = 0; i < r->nsecrets; i++)
			if (r->secrets[i].included)
				fprintf(stderr, "  %s (%s)\n", r->secrets[i].path,
						r->secrets[i].reason);
	}
	if (r->nrisky > 0 && r->risky_allowed)
	{
		fprintf(stderr,
				"cpub: warning: %zu risky %s, allowed by "
				"--allow-risky:\n",
				r->nrisky, r->nrisky == 1 ? "call" : "calls");
		print_risky(r);
	}
}

void
analysis_print(const struct analysis_report *r, bool json, bool quiet)
{
	json_t *shown;
	char	message[512];

	if (!json)
	{
		print_text(r, quiet);
		return;
	}
	if (!r->refused)
		return;
	memcpy(message, "refusing to deploy: ", 21);
	summary(r, message + 20, sizeof(message) - 20);
	shown = json_pack("{s{ssssss}so}", "error", "code", "analysis", "message",
					  message, "hint",
					  "see analysis: include, exclude, --include and "
					  "--allow-risky let files and calls through",
					  "analysis", analysis_json(r));
	if (shown == NULL)
	{
		fprintf(stderr, "cpub: %s\n", message);
		return;
	}
	json_dumpf(shown, stderr, JSON_COMPACT | JSON_SORT_KEYS);
	fputc('\n', stderr);
	json_decref(shown);
}

json_t *
analysis_json(const struct analysis_report *r)
{
	json_t *secrets = json_array();
	json_t *risky = json_array();
	json_t *problems = json_array();
	json_t *o;

	for (size_t i = 0; secrets && i < r->nsecrets; i++)
		json_array_append_new(secrets,
							  json_pack("{sssssb}", "path", r->secrets[i].path,
										"reason", r->secrets[i].reason,
										"included", r->secrets[i].included));
	for (size_t i = 0; risky && i < r->nrisky; i++)
		json_array_append_new(
			risky, json_pack("{sssissss}", "path", r->risky[i].path, "line",
							 r->risky[i].line, "call", r->risky[i].call,
							 "reason", r->risky[i].reason));
	for (size_t i = 0; problems && i < r->nproblems; i++)
		json_array_append_new(problems,
							  json_pack("{ss?ss}", "path", r->problems[i].path,
										"message", r->problems[i].message));
	o = json_pack("{sbsssIsIsIss?sosbsoso}", "refused", r->refused, "runtime",
				  r->runtime, "files", (json_int_t) r->files, "folders",
				  (json_int_t) r->folders, "bytes", (json_int_t) r->bytes,
				  "entry_missing", r->entry_missing, "secrets", secrets,
				  "risky_allowed", r->risky_allowed, "risky", risky,
				  "problems", problems);
	return o;
}

void
analysis_free(struct analysis_report *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->nsecrets; i++)
		free(r->secrets[i].path);
	for (size_t i = 0; i < r->nrisky; i++)
		free(r->risky[i].path);
	for (size_t i = 0; i < r->nproblems; i++)
	{
		free(r->problems[i].path);
		free(r->problems[i].message);
	}
	free(r->secrets);
	free(r->risky);
	free(r->problems);
	free(r->entry_missing);
	free(r->runtime);
	free(r);
}
