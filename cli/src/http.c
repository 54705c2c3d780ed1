/*
 * cli/src/http.c
 *	  Requests to the server with libcurl.  http_send sends any body and
 *	  returns whatever status came back; api_call is the JSON API's case:
 *	  a JSON body out, a JSON body back, and an error reply ({"error":
 *	  {"code", "message", "hint"}}, docs/http-api.md) printed once as
 *	  "cpub: MESSAGE (CODE)" (or as JSON on standard error with --json),
 *	  giving EXIT_API.  A server that cannot be reached gives EXIT_CONNECT.
 *
 *	  A request made as the logged-in developer whose access token expired
 *	  (401, 28Q03) is retried once after POST /api/auth/refresh, and the
 *	  new tokens are saved.  One made as the signed-in admin carries the
 *	  admin's token (oidc.c), renewed before it expires and once after a
 *	  401 when it came from the client credentials grant.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "http.h"
#include "oidc.h"

#define TOKEN_EXPIRED "28Q03"
#define TOKEN_INVALID "28000"

struct buffer
{
	char  *data;
	size_t len;
};

int
http_init(void)
{
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
	{
		fprintf(stderr, "cpub: could not initialize libcurl\n");
		return -1;
	}
	return 0;
}

void
http_cleanup(void)
{
	curl_global_cleanup();
}

static size_t
collect(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct buffer *b = userdata;
	size_t		   n = size * nmemb;
	char		  *grown = realloc(b->data, b->len + n + 1);

	if (!grown)
		return 0;
	memcpy(grown + b->len, ptr, n);
	b->len += n;
	grown[b->len] = '\0';
	b->data = grown;
	return n;
}

/* collect_header: one reply header line into the [[name, value]] array. */
static size_t
collect_header(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	json_t *headers = userdata;
	size_t	n = size * nmemb;
	char   *colon = memchr(ptr, ':', n);
	size_t	end = n;
	char   *value;

	/* A new status line (after a 100 Continue) starts the list over. */
	if (n > 5 && strncmp(ptr, "HTTP/", 5) == 0)
		json_array_clear(headers);
	if (!colon)
		return n;
	while (end > 0 && (ptr[end - 1] == '\r' || ptr[end - 1] == '\n'))
		end--;
	value = colon + 1;
	while (value < ptr + end && (*value == ' ' || *value == '\t'))
		value++;
	json_array_append_new(headers,
						  json_pack("[s#s#]", ptr, (int) (colon - ptr), value,
									(int) (ptr + end - value)));
	return n;
}

static int
on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow,
			curl_off_t ultotal, curl_off_t ulnow)
{
	const struct http_request *req = arg;

	(void) dltotal;
	(void) dlnow;
	return req->progress(req->progress_arg, ulnow, ultotal);
}

/*
 * send_once: one request REQ with TOKEN (NULL: none).  Fills *resp (the
 * caller frees it).  Returns 0 when a reply came, whatever its status, or
 * EXIT_CONNECT / 1 (reported).
 */
static int
send_once(struct cli *cli, const struct http_request *req, const char *token,
		  struct http_response *resp)
{
	CURL			  *curl = curl_easy_init();
	struct curl_slist *headers = NULL;
	struct buffer	   buf = {NULL, 0};
	char			  *url = NULL;
	char			  *auth = NULL;
	char			  *ctype = NULL;
	char			  *text = NULL;
	CURLcode		   cc;
	int				   rc = 1;

	memset(resp, 0, sizeof(*resp));
	if (req->want_headers)
		resp->headers = json_array();
	if (!curl ||
		(req->url ? (url = strdup(req->url)) == NULL
				  : asprintf(&url, "%s%s", cli->server, req->path) < 0))
	{
		url = NULL;
		fprintf(stderr, "cpub: out of memory\n");
		goto done;
	}
	if (!req->raw)
		headers = curl_slist_append(headers, "Accept: application/json");
	/* No "Expect: 100-continue" pause before an upload. */
	headers = curl_slist_append(headers, "Expect:");
	if (req->json)
		headers = curl_slist_append(headers, "Content-Type: application/json");
	else if (req->body &&
			 asprintf(&ctype, "Content-Type: %s",
					  req->content_type ? req->content_type
										: "application/octet-stream") >= 0)
		headers = curl_slist_append(headers, ctype);
	if (token)
	{
		if (asprintf(&auth, "Authorization: Bearer %s", token) < 0)
		{
			auth = NULL;
			fprintf(stderr, "cpub: out of memory\n");
			goto done;
		}
		headers = curl_slist_append(headers, auth);
	}
	for (struct curl_slist *h = req->headers; h; h = h->next)
		headers = curl_slist_append(headers, h->data);
	if (req->basic_user)
	{
		curl_easy_setopt(curl, CURLOPT_HTTPAUTH, (long) CURLAUTH_BASIC);
		curl_easy_setopt(curl, CURLOPT_USERNAME, req->basic_user);
		curl_easy_setopt(curl, CURLOPT_PASSWORD, req->basic_password);
	}
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, req->method);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(curl, CURLOPT_USERAGENT, "cpub/" CPUB_VERSION);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT, req->timeout);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	/* The path as built: never a dot segment removed, so that a name
	 * given as ".." cannot climb to another route (http_escape). */
	curl_easy_setopt(curl, CURLOPT_PATH_AS_IS, 1L);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &buf);
	if (resp->headers)
	{
		curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, collect_header);
		curl_easy_setopt(curl, CURLOPT_HEADERDATA, resp->headers);
	}
	if (req->progress)
	{
		curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
		curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_progress);
		curl_easy_setopt(curl, CURLOPT_XFERINFODATA, req);
	}
	if (req->json)
	{
		text = json_dumps(req->json, JSON_COMPACT);
		if (!text)
		{
			fprintf(stderr, "cpub: out of memory\n");
			goto done;
		}
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, text);
	}
	else if (req->body)
	{
		curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
						 (curl_off_t) req->body_len);
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, req->body);
	}
	else if (strcmp(req->method, "HEAD") == 0)
		curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
	else if (strcmp(req->method, "GET") != 0)
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, "");
	cc = curl_easy_perform(curl);
	if (cc != CURLE_OK)
	{
		if (cc == CURLE_ABORTED_BY_CALLBACK)
			fprintf(stderr, "cpub: interrupted\n");
		else if (cli->json)
		{
			char message[512];

			snprintf(message, sizeof(message), "could not connect to %s: %s",
					 req->url ? req->url : cli->server,
					 curl_easy_strerror(cc));
			cli_print_local_error("connect", message);
		}
		else
			fprintf(stderr, "cpub: could not connect to %s: %s\n",
					req->url ? req->url : cli->server, curl_easy_strerror(cc));
		rc = cc == CURLE_ABORTED_BY_CALLBACK ? 1 : EXIT_CONNECT;
		goto done;
	}
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &resp->status);
	curl_easy_getinfo(curl, CURLINFO_TOTAL_TIME, &resp->seconds);
	resp->body = buf.data ? buf.data : strdup("");
	resp->len = buf.len;
	buf.data = NULL;
	if (!resp->body)
	{
		fprintf(stderr, "cpub: out of memory\n");
		goto done;
	}
	if (resp->len > 0)
		resp->json = json_loadb(resp->body, resp->len, JSON_DECODE_ANY, NULL);
	rc = 0;
done:
	free(text);
	free(auth);
	free(ctype);
	free(url);
	free(buf.data);
	curl_slist_free_all(headers);
	if (curl)
		curl_easy_cleanup(curl);
	return rc;
}

void
http_response_free(struct http_response *resp)
{
	free(resp->body);
	json_decref(resp->json);
	json_decref(resp->headers);
	memset(resp, 0, sizeof(*resp));
}

/* http_error_code: the SQLSTATE of an error reply, or "". */
const char *
http_error_code(const struct http_response *resp)
{
	const char *s = json_string_value(
		json_object_get(json_object_get(resp->json, "error"), "code"));

	return s ? s : "";
}

/*
 * The SQL functions the server's hints name (they are written for psql and
 * the HTTP API), and the cpub commands that do the same, for hints said to
 * people.  The function's argument list, if the hint gives one, goes too.
 */
static const struct
{
	const char *sql;
	const char *command;
} hint_commands[] = {
	{"cpub_api.function_versions", "cpub versions NAME"},
	{"cpub_api.function_list", "cpub list"},
	{"cpub_api.function_env_unset", "cpub env unset"},
	{"cpub_api.function_env_list", "cpub env list NAME"},
	{"cpub_api.function_key_list", "cpub keys list NAME"},
	{"cpub_api.function_key_create", "cpub keys create"},
	{"cpub_api.function_invoke", "cpub invoke --async"},
	{"cpub_api.invoke", "cpub invoke"},
	{"cpub_api.my_organizations", "cpub org list"},
	{"cpub_api.early_access_status", "cpub early-access status"},
	{"cpub_api.early_access_request", "cpub early-access request"},
	{"organization_set_role", "cpub org role"},
	{"cpub_admin.settings", "cpub admin settings"},
	{"cpub_admin.tier_list", "cpub admin tiers"},
	{"cpub_admin.tier_update", "cpub admin tier update"},
	{"cpub_admin.tier_set_default", "cpub admin tier default"},
	{"cpub_admin.user_link_oidc", "cpub admin user link"},
	{"cpub_admin.feature_role_list", "cpub admin roles USER"},
	{"cpub_admin.early_access_set_capacity",
	 "cpub admin early-access capacity"},
	{NULL, NULL}};

/*
 * print_hint: "hint: HINT" on standard error, the SQL functions it names
 * said as cpub commands (hint_commands).
 */
static void
print_hint(const char *hint)
{
	fputs("hint: ", stderr);
	while (*hint)
	{
		size_t i;
		size_t n = 0;

		for (i = 0; hint_commands[i].sql; i++)
		{
			n = strlen(hint_commands[i].sql);
			if (strncmp(hint, hint_commands[i].sql, n) == 0 &&
				!(isalnum((unsigned char) hint[n]) || hint[n] == '_'))
				break;
		}
		if (!hint_commands[i].sql)
		{
			fputc(*hint++, stderr);
			continue;
		}
		fputs(hint_commands[i].command, stderr);
		hint += n;
		if (*hint == '(')
		{
			const char *close = strchr(hint, ')');

			if (close)
				hint = close + 1;
		}
	}
	fputc('\n', stderr);
}

/*
 * http_print_error: an error reply on standard error: "cpub: MESSAGE
 * (CODE)", its detail and its hint, or with --json the reply's {"error":
 * ...} with its "status".  Returns EXIT_API.
 */
int
http_print_error(struct cli *cli, const struct http_response *resp)
{
	json_t	   *e = json_object_get(resp->json, "error");
	const char *message = json_string_value(json_object_get(e, "message"));
	const char *detail = json_string_value(json_object_get(e, "detail"));
	const char *hint = json_string_value(json_object_get(e, "hint"));

	if (cli->json)
	{
		json_t *shown = json_pack("{sOsI}", "error", e ? e : json_null(),
								  "status", (json_int_t) resp->status);

		json_dumpf(shown, stderr, JSON_COMPACT | JSON_SORT_KEYS);
		fputc('\n', stderr);
		json_decref(shown);
	}
	else if (message)
		fprintf(stderr, "cpub: %s (%s)\n", message, http_error_code(resp));
	else
		fprintf(stderr, "cpub: the server at %s answered %ld\n", cli->server,
				resp->status);
	if (detail && !cli->quiet && !cli->json)
		fprintf(stderr, "detail: %s\n", detail);
	if (hint && !cli->quiet && !cli->json)
		print_hint(hint);
	return EXIT_API;
}

/* not_logged_in: says that there is no session for cli->server. */
static void
not_logged_in(struct cli *cli)
{
	char message[512];

	snprintf(message, sizeof(message),
			 "not logged in to %s (run: cpub login EMAIL)", cli->server);
	if (cli->json)
		cli_print_local_error("not_logged_in", message);
	else
		fprintf(stderr, "cpub: %s\n", message);
}

/*
 * refresh: gets a working access token for cli->server after FAILED (the
 * one the server refused) was refused: under the credentials' lock, the
 * file is read again, and when another cpub run refreshed meanwhile its
 * tokens are taken; otherwise the stored refresh token is traded for new
 * tokens (POST /api/auth/refresh), which are saved.  cli->creds is
 * replaced: the caller looks its session up again.  Returns 0, or an exit
 * code (reported); *dead is set when the server refused the refresh
 * token (the session is over: logout may forget it).
 */
static int
refresh(struct cli *cli, const char *failed, bool *dead)
{
	struct http_request	 req = {.method = "POST", .path = "/api/auth/refresh"};
	struct http_response r = {0};
	json_t				*session;
	const char			*key;
	const char			*now;
	json_t				*value;
	int					 lock = config_lock();
	int					 rc = 1;

	*dead = false;
	if (config_reload(cli) != 0)
		goto done;
	session = config_session(cli);
	now = session ? json_string_value(json_object_get(session, "access_token"))
				  : NULL;
	if (now && strcmp(now, failed) != 0)
	{
		rc = 0; /* another run refreshed it */
		goto done;
	}
	req.json = json_pack("{sO}", "refresh_token",
						 json_object_get(session, "refresh_token"));
	if (!req.json)
	{
		not_logged_in(cli);
		rc = EXIT_API;
		goto done;
	}
	rc = send_once(cli, &req, NULL, &r);
	json_decref(req.json);
	if (rc != 0)
		goto done;
	if (r.status != 200 || !json_is_object(r.json))
	{
		*dead = r.status == 401;
		rc = http_print_error(cli, &r);
	}
	else
	{
		json_object_foreach(r.json, key, value)
			json_object_set(session, key, value);
		rc = config_save(cli) == 0 ? 0 : 1;
	}
done:
	http_response_free(&r);
	config_unlock(lock);
	return rc;
}

/*
 * send_admin: http_send of a request made as the signed-in admin: the kept
 * token (oidc_admin_token renews it when it expired), and after a 401 a
 * renewed one once, when it can be renewed.
 */
static int
send_admin(struct cli *cli, const struct http_request *req,
		   struct http_response *resp)
{
	const char *token = NULL;
	char	   *failed = NULL;
	int			rc = oidc_admin_token(cli, NULL, &token);

	if (rc != 0)
		return rc;
	rc = send_once(cli, req, token, resp);
	if (rc != 0 || resp->status != 401)
		return rc;
	failed = strdup(token);
	if (!failed)
		return 0;
	rc = oidc_admin_token(cli, failed, &token);
	free(failed);
	if (rc == OIDC_NOT_RENEWABLE)
		return 0; /* the server's 401 stands */
	if (rc != 0)
	{
		http_response_free(resp);
		return rc;
	}
	http_response_free(resp);
	return send_once(cli, req, token, resp);
}

/*
 * http_send: REQ to the server, as the logged-in developer when req->auth
 * (an expired access token refreshed once), as the signed-in admin when
 * req->admin.  Fills *resp with whatever reply came (the caller frees it
 * with http_response_free).  Returns 0
 * when a reply came, whatever its status; otherwise EXIT_API (not logged
 * in, or the refresh refused), EXIT_CONNECT or 1 (reported).
 */
int
http_send(struct cli *cli, const struct http_request *req,
		  struct http_response *resp)
{
	json_t *session = NULL;
	int		rc;

	memset(resp, 0, sizeof(*resp));
	if (req->admin)
		return send_admin(cli, req, resp);
	if (req->auth)
	{
		session = config_session(cli);
		if (!session)
		{
			not_logged_in(cli);
			return EXIT_API;
		}
	}
	for (int attempt = 0;; attempt++)
	{
		const char *token =
			session
				? json_string_value(json_object_get(session, "access_token"))
				: req->token;
		char *failed;

		rc = send_once(cli, req, token, resp);
		if (rc != 0)
			return rc;
		/*
		 * Expired (28Q03), or unknown (28000): the server forgets expired
		 * access tokens after a while, and the refresh token may still be
		 * good.  Once.
		 */
		if (resp->status != 401 || !session || !token || attempt > 0 ||
			(strcmp(http_error_code(resp), TOKEN_EXPIRED) != 0 &&
			 strcmp(http_error_code(resp), TOKEN_INVALID) != 0))
			return 0;
		failed = strdup(token);
		if (!failed)
			return 0;
		http_response_free(resp);
		rc = refresh(cli, failed, &cli->session_dead);
		free(failed);
		if (rc != 0)
			return rc;
		session = config_session(cli);
		if (!session)
		{
			not_logged_in(cli);
			return EXIT_API;
		}
	}
}

/*
 * api_call_status: METHOD PATH with the JSON BODY (may be NULL), as the
 * logged-in developer when AUTH.  *status is the reply's status (0 when
 * none came).  On success (2xx) returns 0 and sets *out to the reply's
 * JSON (NULL when empty; the caller releases it).  Otherwise returns an
 * exit code: EXIT_API (the server's error printed, or not logged in),
 * EXIT_CONNECT, or 1 for a local failure (reported).
 */
int
api_call_status(struct cli *cli, const char *method, const char *path,
				json_t *body, bool auth, json_t **out, long *status)
{
	struct http_request req = {
		.method = method, .path = path, .auth = auth, .json = body};

	return http_call(cli, &req, out, status);
}

/*
 * http_call: api_call_status of any request REQ (made as the admin, to a
 * whole URL, ...): the reply's JSON in *out on success (2xx), else the
 * server's error printed and an exit code.
 */
int
http_call(struct cli *cli, const struct http_request *req, json_t **out,
		  long *status)
{
	struct http_response r;
	int					 rc;

	*out = NULL;
	*status = 0;
	rc = http_send(cli, req, &r);
	if (rc != 0)
		return rc;
	*status = r.status;
	if (r.status < 200 || r.status >= 300)
		rc = http_print_error(cli, &r);
	else if (r.len > 0 && !r.json)
	{
		fprintf(stderr, "cpub: %s answered %ld, not JSON\n",
				req->url ? req->url : cli->server, r.status);
		rc = EXIT_API;
	}
	else
	{
		*out = r.json;
		r.json = NULL;
	}
	http_response_free(&r);
	return rc;
}

/* api_call: api_call_status without the status. */
int
api_call(struct cli *cli, const char *method, const char *path, json_t *body,
		 bool auth, json_t **out)
{
	long status;

	return api_call_status(cli, method, path, body, auth, out, &status);
}

/*
 * http_escape: S percent-encoded for a path segment or query value (all but
 * RFC 3986's unreserved characters; "." and ".." whole).  Returns a malloc'd string (the
 * caller frees it), or NULL when out of memory (reported).
 */
char *
http_escape(const char *s)
{
	size_t n = strlen(s);
	char  *out = malloc(3 * n + 1);
	char  *p = out;

	if (!out)
	{
		fprintf(stderr, "cpub: out of memory\n");
		return NULL;
	}
	/* A segment "." or ".." is encoded whole, so that nothing on the way
	 * takes it for a dot segment. */
	bool dots = strspn(s, ".") == n && n <= 2;

	for (const unsigned char *c = (const unsigned char *) s; *c; c++)
	{
		if (isalnum(*c) || *c == '-' || (*c == '.' && !dots) || *c == '_' ||
			*c == '~')
			*p++ = (char) *c;
		else
			p += sprintf(p, "%%%02X", *c);
	}
	*p = '\0';
	return out;
}
