/*
 * cli/src/http.c
 *	  Requests to the server's API with libcurl: a JSON body out, a JSON
 *	  body back.  An error reply ({"error": {"code", "message", "hint"}},
 *	  docs/http-api.md) is printed once as "cpub: MESSAGE (CODE)" and gives
 *	  EXIT_API; a server that cannot be reached gives EXIT_CONNECT.
 *
 *	  A request made as the logged-in developer whose access token expired
 *	  (401, 28Q03) is retried once after POST /api/auth/refresh, and the
 *	  new tokens are saved.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "config.h"
#include "http.h"

#define TOKEN_EXPIRED "28Q03"

struct buffer
{
	char  *data;
	size_t len;
};

struct reply
{
	long	status;
	json_t *body; /* NULL when empty */
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

/*
 * request: one request to cli->server + PATH with BODY (may be NULL) and,
 * when TOKEN is not NULL, "Authorization: Bearer TOKEN".  Fills *r (the
 * caller releases r->body).  Returns 0, or EXIT_CONNECT / EXIT_API when no
 * HTTP reply came or it was not JSON (reported).
 */
static int
request(struct cli *cli, const char *method, const char *path, json_t *body,
		const char *token, struct reply *r)
{
	CURL			  *curl = curl_easy_init();
	struct curl_slist *headers = NULL;
	struct buffer	   buf = {NULL, 0};
	char			  *url = NULL;
	char			  *auth = NULL;
	char			  *text = NULL;
	json_error_t	   jerr;
	CURLcode		   cc;
	int				   rc = EXIT_CONNECT;

	r->status = 0;
	r->body = NULL;
	if (!curl || asprintf(&url, "%s%s", cli->server, path) < 0)
	{
		url = NULL;
		fprintf(stderr, "cpub: out of memory\n");
		goto done;
	}
	headers = curl_slist_append(headers, "Accept: application/json");
	headers = curl_slist_append(headers, "Content-Type: application/json");
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
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(curl, CURLOPT_USERAGENT, "cpub/" CPUB_VERSION);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &buf);
	if (body)
	{
		text = json_dumps(body, JSON_COMPACT);
		if (!text)
		{
			fprintf(stderr, "cpub: out of memory\n");
			goto done;
		}
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, text);
	}
	else if (strcmp(method, "GET") != 0)
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, "");
	cc = curl_easy_perform(curl);
	if (cc != CURLE_OK)
	{
		fprintf(stderr, "cpub: could not connect to %s: %s\n", cli->server,
				curl_easy_strerror(cc));
		goto done;
	}
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r->status);
	rc = EXIT_API;
	if (buf.len > 0)
	{
		r->body = json_loadb(buf.data, buf.len, 0, &jerr);
		if (!r->body)
		{
			fprintf(stderr, "cpub: the server at %s answered %ld, not JSON\n",
					cli->server, r->status);
			goto done;
		}
	}
	rc = 0;
done:
	free(text);
	free(auth);
	free(url);
	free(buf.data);
	curl_slist_free_all(headers);
	if (curl)
		curl_easy_cleanup(curl);
	return rc;
}

/* error_code: the SQLSTATE of an error reply, or "". */
static const char *
error_code(const struct reply *r)
{
	const char *s = json_string_value(
		json_object_get(json_object_get(r->body, "error"), "code"));

	return s ? s : "";
}

/*
 * print_error: "cpub: MESSAGE (CODE)" and the hint, if any, of an error
 * reply.  Returns EXIT_API.
 */
static int
print_error(struct cli *cli, const struct reply *r)
{
	json_t	   *e = json_object_get(r->body, "error");
	const char *message = json_string_value(json_object_get(e, "message"));
	const char *hint = json_string_value(json_object_get(e, "hint"));

	if (message)
		fprintf(stderr, "cpub: %s (%s)\n", message, error_code(r));
	else
		fprintf(stderr, "cpub: the server at %s answered %ld\n", cli->server,
				r->status);
	if (hint && !cli->quiet)
		fprintf(stderr, "hint: %s\n", hint);
	return EXIT_API;
}

/*
 * refresh: trades the stored refresh token for new tokens and saves them.
 * Returns 0, or an exit code (reported).
 */
static int
refresh(struct cli *cli, json_t *session)
{
	struct reply r;
	json_t		*body;
	const char	*key;
	json_t		*value;
	int			 rc;

	body = json_pack("{sO}", "refresh_token",
					 json_object_get(session, "refresh_token"));
	if (!body)
	{
		fprintf(stderr, "cpub: not logged in to %s (no refresh token)\n",
				cli->server);
		return EXIT_API;
	}
	rc = request(cli, "POST", "/api/auth/refresh", body, NULL, &r);
	json_decref(body);
	if (rc != 0)
		return rc;
	if (r.status != 200)
		rc = print_error(cli, &r);
	else
	{
		json_object_foreach(r.body, key, value)
			json_object_set(session, key, value);
		if (config_save(cli) != 0)
			rc = 1;
	}
	json_decref(r.body);
	return rc;
}

/*
 * api_call: METHOD PATH with BODY (may be NULL), as the logged-in developer
 * when AUTH.  On success (2xx) returns 0 and sets *out to the reply's JSON
 * (NULL when empty; the caller releases it).  Otherwise returns an exit
 * code: EXIT_API (the server's error printed, or not logged in),
 * EXIT_CONNECT, or 1 for a local failure (reported).
 */
int
api_call(struct cli *cli, const char *method, const char *path, json_t *body,
		 bool auth, json_t **out)
{
	json_t		*session = NULL;
	struct reply r = {0, NULL};
	int			 rc;

	*out = NULL;
	if (auth)
	{
		session = config_session(cli);
		if (!session)
		{
			fprintf(stderr,
					"cpub: not logged in to %s (run: cpub login EMAIL)\n",
					cli->server);
			return EXIT_API;
		}
	}
	for (int attempt = 0;; attempt++)
	{
		const char *token =
			session
				? json_string_value(json_object_get(session, "access_token"))
				: NULL;

		rc = request(cli, method, path, body, token, &r);
		if (rc != 0)
			return rc;
		if (r.status == 401 && session && attempt == 0 &&
			strcmp(error_code(&r), TOKEN_EXPIRED) == 0)
		{
			json_decref(r.body);
			r.body = NULL;
			rc = refresh(cli, session);
			if (rc != 0)
				return rc;
			continue;
		}
		break;
	}
	if (r.status < 200 || r.status >= 300)
	{
		rc = print_error(cli, &r);
		json_decref(r.body);
		return rc;
	}
	*out = r.body;
	return 0;
}
