/*
 * cli/src/invoke.c
 *	  cpub invoke: calls a function at its public address,
 *	  /fn/OWNER/NAME[/PATH] (docs/http-api.md), with the method, path,
 *	  query, headers and body the caller chose, and prints the function's
 *	  body as it came, byte for byte; -i puts the status line and the
 *	  headers first, --json gives all of it as one JSON object.  --key
 *	  signs the request with an invocation key (docs/invocation-keys.md)
 *	  and then sends no session token; neither does an Authorization
 *	  header given with -H, which is the function's own.  --async queues the call and prints
 *	  the execution id; cpub invocation ID waits for that execution's
 *	  outcome (GET /api/invocations/ID) and prints it the same way.
 *
 *	  Whose answer it is decides the exit code.  A reply that carries
 *	  X-Cpub-Execution-Id is the function's own, whatever its status: exit
 *	  0, or EXIT_FUNCTION with --fail when the status is 400 or more.  Any
 *	  other reply that is not a 2xx is the platform's refusal or failure
 *	  ({"error": ...} with a SQLSTATE: an unknown or private function, a
 *	  refused signature, a timeout, a crash), printed on standard error as
 *	  cpub prints every API error: EXIT_API.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "commands_inv.h"
#include "config.h"
#include "http.h"

#define EXECUTION_HEADER "X-Cpub-Execution-Id"
#define MAX_METHOD		 32

const char INVOKE_HELP[] =
	"Calls the function at its address /fn/OWNER/NAME[/PATH] as any HTTP "
	"client would: it sees the method, path, query, headers and body given "
	"here, and its body is printed as it came, byte for byte.  NAME is a "
	"function of the account logged in to, or OWNER/NAME (an "
	"organization's name or a user's id, as in the function's endpoint).  "
	"The session's token goes along when logged in, except with --key or "
	"an Authorization header of -H (the function's own).\n"
	"\n"
	"Exit status: 0 when the function answered, whatever its status (-i or "
	"--json show it; with --fail, 400 and up exit 6); 3 when the platform "
	"refused or failed the call (unknown function, not allowed, signature "
	"refused, timeout, crash), its error on standard error; 4 when the "
	"server cannot be reached; 2 for a bad command line; 1 when a file "
	"cannot be read.\n"
	"\n"
	"Options:\n"
	"  -d, --data TEXT       the body: application/json when it parses as\n"
	"                        JSON, else text/plain\n"
	"  --data-file FILE      the body from FILE (- standard input):\n"
	"                        application/octet-stream\n"
	"  -X, --request METHOD  default POST with a body, GET without\n"
	"  --path PATH           the sub-path and query: /users/7?full=1\n"
	"  -H, --header 'NAME: VALUE'\n"
	"                        a request header, again for more; a\n"
	"                        Content-Type here wins\n"
	"  -i, --include         the status line and the headers first\n"
	"  -f, --fail            exit 6 when the function answers 400 or more\n"
	"  --async               queue the call and print its execution id\n"
	"  --key SECRET          sign with an invocation key (cpk_...)\n"
	"  --key-file FILE       the same, the secret on FILE's first line\n"
	"\n"
	"With --json: {\"status\", \"headers\", \"body\" (parsed when the "
	"Content-Type is JSON), \"duration_ms\" (the whole request), "
	"\"execution_id\"}.";

const char INVOCATION_HELP[] =
	"Waits until the execution (the id invoke --async printed) has "
	"finished, then prints the function's response as invoke does; a "
	"failed execution is the platform's error (exit 3).  Needs no login: "
	"the execution id is the ticket.\n"
	"\n"
	"Options:\n"
	"  -i, --include         the status line and the headers first\n"
	"  -f, --fail            exit 6 when the function answered 400 or more\n"
	"\n"
	"With --json: as invoke's, with duration_ms the function's run.";

enum
{
	OPT_DATA_FILE = 2000,
	OPT_PATH,
	OPT_ASYNC,
	OPT_KEY,
	OPT_KEY_FILE
};

static const struct option invoke_options[] = {
	{"data", required_argument, NULL, 'd'},
	{"data-file", required_argument, NULL, OPT_DATA_FILE},
	{"request", required_argument, NULL, 'X'},
	{"path", required_argument, NULL, OPT_PATH},
	{"header", required_argument, NULL, 'H'},
	{"include", no_argument, NULL, 'i'},
	{"fail", no_argument, NULL, 'f'},
	{"async", no_argument, NULL, OPT_ASYNC},
	{"key", required_argument, NULL, OPT_KEY},
	{"key-file", required_argument, NULL, OPT_KEY_FILE},
	{NULL, 0, NULL, 0}};

static const struct option invocation_options[] = {
	{"include", no_argument, NULL, 'i'},
	{"fail", no_argument, NULL, 'f'},
	{NULL, 0, NULL, 0}};

/* How a reply is shown: the options of invoke and invocation. */
struct invoke_show
{
	bool include; /* -i */
	bool fail;	  /* --fail */
};

/* The function's response, from a raw reply or an envelope. */
struct invoke_reply
{
	long		status;
	json_t	   *headers; /* [[name, value], ...] (borrowed) */
	const char *body;
	size_t		len;
	double		duration_ms;
	const char *execution_id;
};

/*
 * invoke_read_file: the whole of PATH ("-": standard input) into *out
 * (malloc'd, NUL-terminated; the caller frees it) and *len.  Returns 0, or
 * 1 (reported).
 */
static int
invoke_read_file(const char *path, char **out, size_t *len)
{
	FILE  *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	char  *buf = NULL;
	size_t cap = 0;
	size_t n = 0;
	int	   rc = 1;

	*out = NULL;
	*len = 0;
	if (!f)
	{
		fprintf(stderr, "cpub: could not read %s: %s\n", path,
				strerror(errno));
		return 1;
	}
	for (;;)
	{
		size_t got;

		if (n + 1 >= cap)
		{
			char *grown = realloc(buf, cap ? cap * 2 : 65536);

			if (!grown)
			{
				fprintf(stderr, "cpub: out of memory\n");
				goto done;
			}
			buf = grown;
			cap = cap ? cap * 2 : 65536;
		}
		got = fread(buf + n, 1, cap - n - 1, f);
		n += got;
		if (got == 0)
			break;
	}
	if (ferror(f))
	{
		fprintf(stderr, "cpub: could not read %s: %s\n", path,
				strerror(errno));
		goto done;
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	buf = NULL;
	rc = 0;
done:
	free(buf);
	if (f != stdin)
		fclose(f);
	return rc;
}

/* is_tchar: whether C may be in an HTTP token (a method, a header name). */
static bool
is_tchar(char c)
{
	return c != '\0' && strchr("!#$%&'*+-.^_`|~0123456789"
							   "abcdefghijklmnopqrstuvwxyz"
							   "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
							   c) != NULL;
}

/*
 * invoke_append: LINE (copied) onto *LIST.  Returns 0, or 1 when out of
 * memory (reported; the list is kept for its owner to free).
 */
static int
invoke_append(struct curl_slist **list, const char *line)
{
	struct curl_slist *grown = curl_slist_append(*list, line);

	if (!grown)
	{
		fprintf(stderr, "cpub: out of memory\n");
		return 1;
	}
	*list = grown;
	return 0;
}

/*
 * invoke_add_header: -H 'NAME: VALUE' onto *headers, or, for
 * Content-Type, its value into *ctype (malloc'd, replacing an earlier
 * one).  An empty value is sent empty ("NAME;" for libcurl).  An
 * Authorization header sets *own_auth: it is the function's, and the
 * session's token must not go along.  Returns 0, EXIT_USAGE or 1 (out of
 * memory), reported.
 */
static int
invoke_add_header(struct cli *cli, const char *arg,
				  struct curl_slist **headers, char **ctype, bool *own_auth)
{
	const char *colon = strchr(arg, ':');
	const char *value;
	char	   *line = NULL;
	size_t		nlen;
	int			rc;

	if (!colon || colon == arg)
		return cli_usage_error(cli, "-H takes 'NAME: VALUE', not '%s'", arg);
	nlen = (size_t) (colon - arg);
	for (size_t i = 0; i < nlen; i++)
		if (!is_tchar(arg[i]))
			return cli_usage_error(cli, "-H '%s': not a header name", arg);
	if (strpbrk(colon, "\r\n"))
		return cli_usage_error(cli, "-H '%.*s': a value is one line",
							   (int) nlen, arg);
	value = colon + 1;
	while (*value == ' ' || *value == '\t')
		value++;
	if (nlen == 13 && strncasecmp(arg, "Authorization", 13) == 0)
		*own_auth = true;
	if (nlen == 12 && strncasecmp(arg, "Content-Type", 12) == 0)
	{
		free(*ctype);
		*ctype = strdup(value);
		if (!*ctype)
			fprintf(stderr, "cpub: out of memory\n");
		return *ctype ? 0 : 1;
	}
	if (asprintf(&line, "%.*s%s%s", (int) nlen, arg, *value ? ": " : ";",
				 value) < 0)
	{
		fprintf(stderr, "cpub: out of memory\n");
		return 1;
	}
	rc = invoke_append(headers, line);
	free(line);
	return rc;
}

/*
 * invoke_target: "/fn/OWNER/NAME" and PATH (the sub-path and query as
 * given; a "/" put first when it starts with neither "/" nor "?"), bytes
 * that may not stand in a request target percent-encoded ("%" is kept: a
 * given escape stays as it is).  Returns a malloc'd string or NULL.
 */
static char *
invoke_target(const char *owner, const char *name, const char *path)
{
	static const char keep[] = "-._~!$&'()*+,;=:@/?%";
	char			 *o = http_escape(owner);
	char			 *n = http_escape(name);
	char			 *out = NULL;
	char			 *p;
	size_t			  len = path ? strlen(path) : 0;

	if (!o || !n)
		goto done;
	out = malloc(strlen(o) + strlen(n) + 3 * len + 8);
	if (!out)
		goto done;
	p = out + sprintf(out, "/fn/%s/%s", o, n);
	if (len > 0 && path[0] != '/' && path[0] != '?')
		*p++ = '/';
	for (const unsigned char *c = (const unsigned char *) path; c && *c; c++)
	{
		if ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
			(*c >= '0' && *c <= '9') || strchr(keep, *c))
			*p++ = (char) *c;
		else
			p += sprintf(p, "%%%02X", *c);
	}
	*p = '\0';
done:
	free(o);
	free(n);
	return out;
}

/*
 * invoke_sign: the four headers of docs/invocation-keys.md for METHOD
 * TARGET and the BODY of LEN bytes, signed with the key whose SECRET is
 * given (cpk_<key id>_...), onto *headers: K = SHA-256(secret), and the
 * HMAC-SHA256 under K of "<timestamp>\n<nonce>\n<METHOD>\n<target>\n"
 * and the body.  Returns 0, EXIT_USAGE (not a secret; reported) or 1.
 */
static int
invoke_sign(struct cli *cli, const char *secret, const char *method,
			const char *target, const char *body, size_t len,
			struct curl_slist **headers)
{
	unsigned char				 k[crypto_hash_sha256_BYTES];
	unsigned char				 mac[crypto_auth_hmacsha256_BYTES];
	unsigned char				 rnd[16];
	crypto_auth_hmacsha256_state st;
	char						 nonce[2 * sizeof(rnd) + 1];
	char						 sig[2 * sizeof(mac) + 1];
	char						 ts[24];
	char						 line[160];
	const char *const			 parts[] = {ts,		"\n", nonce,  "\n",
											method, "\n", target, "\n"};

	if (strncmp(secret, "cpk_", 4) != 0 ||
		strspn(secret + 4, "0123456789abcdefABCDEF") != 16 ||
		secret[20] != '_' || secret[21] == '\0')
		return cli_usage_error(cli, "--key takes a key's secret, "
									"cpk_KEYID_..., as keys create showed it");
	if (sodium_init() < 0)
	{
		fprintf(stderr, "cpub: could not initialize libsodium\n");
		return 1;
	}
	crypto_hash_sha256(k, (const unsigned char *) secret, strlen(secret));
	randombytes_buf(rnd, sizeof(rnd));
	sodium_bin2hex(nonce, sizeof(nonce), rnd, sizeof(rnd));
	snprintf(ts, sizeof(ts), "%lld", (long long) time(NULL));
	crypto_auth_hmacsha256_init(&st, k, sizeof(k));
	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
		crypto_auth_hmacsha256_update(&st, (const unsigned char *) parts[i],
									  strlen(parts[i]));
	if (len > 0)
		crypto_auth_hmacsha256_update(&st, (const unsigned char *) body, len);
	crypto_auth_hmacsha256_final(&st, mac);
	sodium_memzero(k, sizeof(k));
	sodium_memzero(&st, sizeof(st));
	sodium_bin2hex(sig, sizeof(sig), mac, sizeof(mac));

	snprintf(line, sizeof(line), "X-Cpub-Key: %.16s", secret + 4);
	if (invoke_append(headers, line) != 0)
		return 1;
	snprintf(line, sizeof(line), "X-Cpub-Timestamp: %s", ts);
	if (invoke_append(headers, line) != 0)
		return 1;
	snprintf(line, sizeof(line), "X-Cpub-Nonce: %s", nonce);
	if (invoke_append(headers, line) != 0)
		return 1;
	snprintf(line, sizeof(line), "X-Cpub-Signature: v1=%s", sig);
	return invoke_append(headers, line);
}

/* invoke_header: the value of header NAME in [[name, value], ...], or
 * NULL. */
static const char *
invoke_header(const json_t *headers, const char *name)
{
	size_t	i;
	json_t *h;

	json_array_foreach(headers, i, h)
	{
		const char *n = json_string_value(json_array_get(h, 0));

		if (n && strcasecmp(n, name) == 0)
			return json_string_value(json_array_get(h, 1));
	}
	return NULL;
}

/* invoke_reason: the standard reason phrase of STATUS, or "". */
static const char *
invoke_reason(long status)
{
	static const struct
	{
		long		status;
		const char *text;
	} REASONS[] = {
		{200, "OK"},
		{201, "Created"},
		{202, "Accepted"},
		{204, "No Content"},
		{301, "Moved Permanently"},
		{302, "Found"},
		{303, "See Other"},
		{304, "Not Modified"},
		{307, "Temporary Redirect"},
		{308, "Permanent Redirect"},
		{400, "Bad Request"},
		{401, "Unauthorized"},
		{403, "Forbidden"},
		{404, "Not Found"},
		{405, "Method Not Allowed"},
		{409, "Conflict"},
		{410, "Gone"},
		{413, "Content Too Large"},
		{415, "Unsupported Media Type"},
		{422, "Unprocessable Content"},
		{429, "Too Many Requests"},
		{500, "Internal Server Error"},
		{501, "Not Implemented"},
		{502, "Bad Gateway"},
		{503, "Service Unavailable"},
		{504, "Gateway Timeout"},
	};

	for (size_t i = 0; i < sizeof(REASONS) / sizeof(REASONS[0]); i++)
		if (REASONS[i].status == status)
			return REASONS[i].text;
	return "";
}

/*
 * invoke_json_body: the body for --json: parsed when the Content-Type is
 * JSON (or absent) and it parses, else a string, else NULL (not UTF-8:
 * the caller writes body_base64).  Returns a new reference or NULL.
 */
static json_t *
invoke_json_body(const struct invoke_reply *r)
{
	const char *ctype = invoke_header(r->headers, "Content-Type");
	size_t		mlen = ctype ? strcspn(ctype, "; ") : 0;
	json_t	   *parsed = NULL;

	if (!ctype || (mlen >= 4 && strncasecmp(ctype + mlen - 4, "json", 4) == 0))
		parsed = json_loadb(r->body, r->len, JSON_DECODE_ANY, NULL);
	return parsed ? parsed : json_stringn(r->body, r->len);
}

/*
 * invoke_print_json: the reply as {"status", "headers" (names in lower
 * case; a repeated one an array), "body" or "body_base64", "duration_ms",
 * "execution_id"}.  Returns 0 or 1 (out of memory, reported).
 */
static int
invoke_print_json(const struct invoke_reply *r)
{
	json_t *out = json_object();
	json_t *headers = json_object();
	json_t *body = invoke_json_body(r);
	char   *b64 = NULL;
	size_t	i;
	json_t *h;
	int		rc = 1;

	if (!out || !headers)
		goto done;
	json_array_foreach(r->headers, i, h)
	{
		const char *n = json_string_value(json_array_get(h, 0));
		json_t	   *v = json_array_get(h, 1);
		char		lower[256];
		json_t	   *old;
		size_t		k;

		if (!n || !v)
			continue;
		for (k = 0; n[k] && k < sizeof(lower) - 1; k++)
			lower[k] = (char) (n[k] >= 'A' && n[k] <= 'Z' ? n[k] + 32 : n[k]);
		lower[k] = '\0';
		old = json_object_get(headers, lower);
		if (json_is_array(old))
			json_array_append(old, v);
		else if (old)
			json_object_set_new(headers, lower, json_pack("[OO]", old, v));
		else
			json_object_set(headers, lower, v);
	}
	json_object_set_new(out, "status", json_integer(r->status));
	json_object_set(out, "headers", headers);
	if (body)
		json_object_set(out, "body", body);
	else
	{
		size_t n =
			sodium_base64_encoded_len(r->len, sodium_base64_VARIANT_ORIGINAL);

		b64 = malloc(n);
		if (!b64)
			goto done;
		sodium_bin2base64(b64, n, (const unsigned char *) r->body, r->len,
						  sodium_base64_VARIANT_ORIGINAL);
		json_object_set_new(out, "body_base64", json_string(b64));
	}
	json_object_set_new(
		out, "duration_ms",
		json_real((double) (long long) (r->duration_ms * 1000 + 0.5) / 1000));
	json_object_set_new(out, "execution_id",
						r->execution_id ? json_string(r->execution_id)
										: json_null());
	/* cli_print_json's layout; 15 digits show 6.376 rather than
	 * 6.3760000000000003. */
	json_dumpf(out, stdout,
			   JSON_INDENT(2) | JSON_SORT_KEYS | JSON_REAL_PRECISION(15));
	putchar('\n');
	rc = 0;
done:
	if (rc != 0)
		fprintf(stderr, "cpub: out of memory\n");
	free(b64);
	json_decref(body);
	json_decref(headers);
	json_decref(out);
	return rc;
}

/*
 * invoke_print: the function's response R on standard output as SHOW
 * asks (or as JSON), the body as it came; a line end added only when a
 * terminal shows a body without one.  Returns 0, EXIT_FUNCTION (--fail
 * and a status of 400 or more; said on standard error) or 1 (could not
 * write).
 */
static int
invoke_print(struct cli *cli, const struct invoke_reply *r,
			 const struct invoke_show *show)
{
	int rc = 0;

	if (cli->json)
		rc = invoke_print_json(r);
	else
	{
		if (show->include)
		{
			size_t	i;
			json_t *h;

			printf("HTTP/1.1 %ld %s\n", r->status, invoke_reason(r->status));
			json_array_foreach(r->headers, i, h)
			{
				const char *n = json_string_value(json_array_get(h, 0));
				const char *v = json_string_value(json_array_get(h, 1));

				if (n && v)
					printf("%s: %s\n", n, v);
			}
			putchar('\n');
		}
		fwrite(r->body, 1, r->len, stdout);
		if (r->len > 0 && r->body[r->len - 1] != '\n' && isatty(STDOUT_FILENO))
			putchar('\n');
	}
	if (fflush(stdout) != 0 || ferror(stdout))
	{
		fprintf(stderr, "cpub: could not write the response: %s\n",
				strerror(errno));
		return 1;
	}
	if (rc == 0 && show->fail && r->status >= 400)
	{
		fprintf(stderr, "cpub: the function answered %ld%s%s\n", r->status,
				invoke_reason(r->status)[0] ? " " : "",
				invoke_reason(r->status));
		rc = EXIT_FUNCTION;
	}
	return rc;
}

/*
 * invoke_platform_error: the platform's error reply RESP as cpub prints API
 * errors, with its detail (which names the execution of a timeout or a
 * crash) and, for a timeout, how to wait on.  Returns EXIT_API.
 */
static int
invoke_platform_error(struct cli *cli, const struct http_response *resp)
{
	json_t	   *e = json_object_get(resp->json, "error");
	const char *message = json_string_value(json_object_get(e, "message"));
	const char *detail = json_string_value(json_object_get(e, "detail"));
	const char *hint = json_string_value(json_object_get(e, "hint"));
	const char *poll = hint ? strstr(hint, "/api/invocations/") : NULL;

	if (cli->json || !message)
		return http_print_error(cli, resp);
	fprintf(stderr, "cpub: %s (%s)\n", message, http_error_code(resp));
	if (cli->quiet)
		return EXIT_API;
	if (detail)
		fprintf(stderr, "detail: %s\n", detail);
	if (poll)
		fprintf(stderr, "hint: cpub invocation %.*s waits for its outcome\n",
				(int) strcspn(poll + 17, " ."), poll + 17);
	else if (hint)
		fprintf(stderr, "hint: %s\n", hint);
	return EXIT_API;
}

/*
 * invoke_owner: splits NAME ("OWNER/NAME", or a function of the account
 * logged in to) into *owner and *fn (malloc'd; the caller frees them).
 * Returns 0, EXIT_USAGE, EXIT_API (NAME alone and not logged in) or 1
 * (reported).
 */
static int
invoke_owner(struct cli *cli, const char *name, char **owner, char **fn)
{
	const char *slash = strchr(name, '/');
	const char *me;

	*owner = *fn = NULL;
	if (slash)
	{
		if (slash == name || slash[1] == '\0' || strchr(slash + 1, '/'))
			return cli_usage_error(cli,
								   "a function is NAME or OWNER/NAME, "
								   "not %s",
								   name);
		*owner = strndup(name, (size_t) (slash - name));
		*fn = strdup(slash + 1);
	}
	else
	{
		me =
			json_string_value(json_object_get(config_session(cli), "user_id"));
		if (!me)
		{
			fprintf(stderr,
					"cpub: not logged in to %s: give the function as "
					"OWNER/NAME, or run cpub login EMAIL\n",
					cli->server);
			return EXIT_API;
		}
		*owner = strdup(me);
		*fn = strdup(name);
	}
	if (!*owner || !*fn)
	{
		free(*owner);
		free(*fn);
		*owner = *fn = NULL;
		fprintf(stderr, "cpub: out of memory\n");
		return 1;
	}
	return 0;
}

/*
 * invoke_method: METHOD (or the default: POST with a body, GET without)
 * in upper case into BUF.  Returns 0 or EXIT_USAGE (reported).
 */
static int
invoke_method(struct cli *cli, const char *method, bool body, char *buf)
{
	size_t n;

	if (!method)
		method = body ? "POST" : "GET";
	n = strlen(method);
	if (n == 0 || n >= MAX_METHOD)
		return cli_usage_error(cli, "-X takes a method, such as PUT");
	for (size_t i = 0; i <= n; i++)
	{
		if (i < n && !is_tchar(method[i]))
			return cli_usage_error(cli, "-X %s: not a method", method);
		buf[i] = (char) (method[i] >= 'a' && method[i] <= 'z' ? method[i] - 32
															  : method[i]);
	}
	return 0;
}

/* invoke_print_queued: --async's 202: the execution id, and how to wait. */
static int
invoke_print_queued(struct cli *cli, const struct http_response *resp)
{
	const char *id =
		json_string_value(json_object_get(resp->json, "execution_id"));

	if (!id)
	{
		fprintf(stderr, "cpub: the server's reply names no execution\n");
		return EXIT_API;
	}
	if (cli->json)
		cli_print_json(resp->json);
	else
	{
		printf("%s\n", id);
		if (!cli->quiet)
			fprintf(stderr,
					"cpub: queued; cpub invocation %s waits for its "
					"outcome\n",
					id);
	}
	return 0;
}

int
cmd_invoke(struct cli *cli, int argc, char **argv)
{
	struct http_request	 req = {.want_headers = true, .raw = true};
	struct http_response resp = {0};
	struct invoke_show	 show = {false, false};
	struct curl_slist	*headers = NULL;
	const char			*data = NULL;
	const char			*data_file = NULL;
	const char			*method = NULL;
	const char			*path = NULL;
	const char			*key = NULL;
	const char			*key_file = NULL;
	char				*file_body = NULL;
	size_t				 file_len = 0;
	char				*key_read = NULL;
	size_t				 key_len = 0;
	char				*ctype = NULL;
	char				*owner = NULL;
	char				*fn = NULL;
	char				*target = NULL;
	char				 upper[MAX_METHOD];
	bool				 async = false;
	bool				 own_auth = false;
	int					 nbody = 0;
	int					 c;
	int					 rc = 0;

	while ((c = cli_getopt(cli, argc, argv, "d:X:H:if", invoke_options)) != -1)
	{
		switch (c)
		{
			case 'd':
				data = optarg;
				nbody++;
				break;
			case OPT_DATA_FILE:
				data_file = optarg;
				nbody++;
				break;
			case 'X':
				method = optarg;
				break;
			case OPT_PATH:
				path = optarg;
				break;
			case 'H':
				rc = invoke_add_header(cli, optarg, &headers, &ctype,
									   &own_auth);
				break;
			case 'i':
				show.include = true;
				break;
			case 'f':
				show.fail = true;
				break;
			case OPT_ASYNC:
				async = true;
				break;
			case OPT_KEY:
				key = optarg;
				break;
			case OPT_KEY_FILE:
				key_file = optarg;
				break;
			default:
				rc = cli_opt_exit(c);
				break;
		}
		if (rc != 0)
			goto done;
	}
	rc = cli_operands(cli, argc, argv, 1, 1);
	if (rc != 0)
		goto done;
	if (nbody > 1)
	{
		rc = cli_usage_error(cli, "give the body once: --data or --data-file");
		goto done;
	}
	if (key && key_file)
	{
		rc = cli_usage_error(cli, "give the key once: --key or --key-file");
		goto done;
	}
	rc = invoke_method(cli, method, nbody > 0, upper);
	if (rc != 0)
		goto done;
	rc = invoke_owner(cli, argv[optind], &owner, &fn);
	if (rc != 0)
		goto done;

	/* The body, and its type unless -H gave one. */
	if (data_file)
	{
		rc = invoke_read_file(data_file, &file_body, &file_len);
		if (rc != 0)
			goto done;
		req.body = file_body;
		req.body_len = file_len;
		req.content_type = "application/octet-stream";
	}
	else if (data)
	{
		json_t *parsed = json_loads(data, JSON_DECODE_ANY, NULL);

		req.body = data;
		req.body_len = strlen(data);
		req.content_type =
			parsed ? "application/json" : "text/plain; charset=utf-8";
		json_decref(parsed);
	}
	if (ctype)
		req.content_type = ctype;
	else if (!req.body && strcmp(upper, "GET") != 0 &&
			 strcmp(upper, "HEAD") != 0)
		/* No body: none of libcurl's form type either. */
		rc = invoke_append(&headers, "Content-Type:");
	if (rc == 0 && async)
		rc = invoke_append(&headers, "X-Cpub-Async: 1");
	if (rc != 0)
		goto done;
	target = invoke_target(owner, fn, path);
	if (!target)
	{
		fprintf(stderr, "cpub: out of memory\n");
		rc = 1;
		goto done;
	}
	if (key_file)
	{
		size_t n;

		rc = invoke_read_file(key_file, &key_read, &key_len);
		if (rc != 0)
			goto done;
		/* The first line only; key_len stays the whole, to be wiped. */
		n = strcspn(key_read, "\n");
		while (n > 0 && strchr(" \t\r", key_read[n - 1]))
			n--;
		key_read[n] = '\0';
		if (n == 0)
		{
			rc = cli_usage_error(cli,
								 "--key-file %s: no secret on its first "
								 "line",
								 key_file);
			goto done;
		}
		key = key_read;
	}
	if (key)
	{
		rc = invoke_sign(cli, key, upper, target, req.body, req.body_len,
						 &headers);
		if (rc != 0)
			goto done;
	}
	req.method = upper;
	req.path = target;
	req.headers = headers;
	/* A key signs alone, and an Authorization of -H is the function's;
	 * otherwise the session goes along when there is one. */
	req.auth = !key && !own_auth && config_session(cli) != NULL;

	rc = http_send(cli, &req, &resp);
	if (rc != 0)
		goto done;
	if (async && resp.status == 202)
		rc = invoke_print_queued(cli, &resp);
	else if (invoke_header(resp.headers, EXECUTION_HEADER) ||
			 (resp.status >= 200 && resp.status < 300))
	{
		struct invoke_reply r = {
			.status = resp.status,
			.headers = resp.headers,
			.body = resp.body,
			.len = resp.len,
			.duration_ms = resp.seconds * 1000,
			.execution_id = invoke_header(resp.headers, EXECUTION_HEADER)};

		rc = invoke_print(cli, &r, &show);
	}
	else
		rc = invoke_platform_error(cli, &resp);
done:
	http_response_free(&resp);
	curl_slist_free_all(headers);
	if (key_read)
		sodium_memzero(key_read, key_len);
	free(key_read);
	free(file_body);
	free(ctype);
	free(owner);
	free(fn);
	free(target);
	return rc;
}

/*
 * invocation_failure: a failed execution's error, as the synchronous
 * call would have had it (httpd/src/invoke.c), printed.  Returns EXIT_API.
 */
static int
invocation_failure(struct cli *cli, const json_t *env)
{
	static const struct
	{
		const char *kind;
		const char *code;
		const char *message;
		long		status;
	} KINDS[] = {
		{"timeout", "57014", "the function timed out", 504},
		{"crash", "58Q01", "the function crashed", 502},
		{"out_of_memory", "58Q02", "the function ran out of memory", 502},
		{"bad_response", "58Q03", "the function gave an invalid response",
		 502},
		{"rejected", "58Q04", "the function could not be run", 502},
	};
	const char *kind = json_string_value(json_object_get(env, "error_kind"));
	const char *why = json_string_value(json_object_get(env, "error_message"));
	const char *id = json_string_value(json_object_get(env, "execution_id"));
	struct http_response r = {.status = 502};
	const char			*code = "58Q03";
	const char			*message = "the function failed";
	char				 detail[600];
	int					 rc;

	for (size_t i = 0; i < sizeof(KINDS) / sizeof(KINDS[0]); i++)
		if (kind && strcmp(kind, KINDS[i].kind) == 0)
		{
			code = KINDS[i].code;
			message = KINDS[i].message;
			r.status = KINDS[i].status;
		}
	snprintf(detail, sizeof(detail), "Execution %s: %s", id ? id : "?",
			 why ? why : "no detail");
	r.json =
		json_pack("{s{ssssssss}}", "error", "code", code, "message", message,
				  "detail", detail, "hint", "Its logs: cpub logs <function>.");
	rc = invoke_platform_error(cli, &r);
	json_decref(r.json);
	return rc;
}

/*
 * invocation_headers: an envelope's {name: value or [values]} as [[name,
 * value], ...].  Returns a new reference (NULL when out of memory).
 */
static json_t *
invocation_headers(const json_t *obj)
{
	json_t	   *out = json_array();
	const char *name;
	json_t	   *v;

	json_object_foreach((json_t *) obj, name, v)
	{
		if (json_is_string(v))
			json_array_append_new(out, json_pack("[sO]", name, v));
		else if (json_is_array(v))
		{
			size_t	i;
			json_t *one;

			json_array_foreach(v, i, one) if (json_is_string(one))
				json_array_append_new(out, json_pack("[sO]", name, one));
		}
	}
	return out;
}

int
cmd_invocation(struct cli *cli, int argc, char **argv)
{
	struct http_request	 req = {.method = "GET"};
	struct http_response resp = {0};
	struct invoke_show	 show = {false, false};
	struct invoke_reply	 r = {0};
	json_t				*headers = NULL;
	unsigned char		*bytes = NULL;
	char				*id = NULL;
	char				*path = NULL;
	const char			*st;
	json_t				*response;
	json_t				*b;
	long				 delay_ms = 100;
	int					 c;
	int					 rc = 0;

	while ((c = cli_getopt(cli, argc, argv, "if", invocation_options)) != -1)
	{
		if (c == 'i')
			show.include = true;
		else if (c == 'f')
			show.fail = true;
		else
			return cli_opt_exit(c);
	}
	rc = cli_operands(cli, argc, argv, 1, 1);
	if (rc != 0)
		return rc;
	id = http_escape(argv[optind]);
	if (!id)
		return 1;
	if (asprintf(&path, "/api/invocations/%s", id) < 0)
	{
		path = NULL;
		fprintf(stderr, "cpub: out of memory\n");
		rc = 1;
		goto done;
	}
	req.path = path;
	/* Until it has finished: every 0.1 s at first, then every second. */
	for (;;)
	{
		struct timespec pause;

		rc = http_send(cli, &req, &resp);
		if (rc != 0)
			goto done;
		if (resp.status != 200 || !json_is_object(resp.json))
		{
			rc = invoke_platform_error(cli, &resp);
			goto done;
		}
		st = json_string_value(json_object_get(resp.json, "status"));
		if (!st || (strcmp(st, "queued") != 0 && strcmp(st, "running") != 0))
			break;
		http_response_free(&resp);
		pause.tv_sec = delay_ms / 1000;
		pause.tv_nsec = (delay_ms % 1000) * 1000000L;
		nanosleep(&pause, NULL);
		delay_ms = delay_ms * 2 > 1000 ? 1000 : delay_ms * 2;
	}
	response = json_object_get(resp.json, "response");
	/* No status (an unexpected reply) is a failure too. */
	if (!st || strcmp(st, "succeeded") != 0 || !json_is_object(response))
	{
		rc = invocation_failure(cli, resp.json);
		goto done;
	}
	headers = invocation_headers(json_object_get(response, "headers"));
	r.status = (long) json_integer_value(json_object_get(response, "status"));
	r.headers = headers;
	r.duration_ms =
		json_number_value(json_object_get(resp.json, "duration_ms"));
	r.execution_id =
		json_string_value(json_object_get(resp.json, "execution_id"));
	if ((b = json_object_get(response, "body_base64")) != NULL)
	{
		const char *b64 = json_string_value(b);
		size_t		cap = b64 ? strlen(b64) : 0;

		bytes = malloc(cap + 1);
		if (!b64 || !bytes ||
			sodium_base642bin(bytes, cap + 1, b64, cap, NULL, &r.len, NULL,
							  sodium_base64_VARIANT_ORIGINAL) != 0)
		{
			fprintf(stderr, "cpub: the server's body_base64 is not base64\n");
			rc = EXIT_API;
			goto done;
		}
		r.body = (const char *) bytes;
	}
	else
	{
		b = json_object_get(response, "body");
		r.body = json_is_string(b) ? json_string_value(b) : "";
		r.len = json_is_string(b) ? json_string_length(b) : 0;
	}
	rc = invoke_print(cli, &r, &show);
done:
	http_response_free(&resp);
	json_decref(headers);
	free(bytes);
	free(path);
	free(id);
	return rc;
}
