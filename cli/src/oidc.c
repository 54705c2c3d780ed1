/*
 * cli/src/oidc.c
 *	  An admin's sign-in.  The server names the OpenID Connect provider its
 *	  admins sign in with (GET /admin/api/sign-in: issuer, audience and the
 *	  resource indicator to ask for); the provider's discovery document
 *	  (ISSUER/.well-known/openid-configuration) names its token endpoint,
 *	  where cpub gets an access token with the OAuth 2 client credentials
 *	  grant (RFC 6749 4.4: HTTP basic client authentication, and
 *	  resource=... of RFC 8707 when the server names one); or, for an admin
 *	  who signs in as a person, with the device authorization grant (RFC
 *	  8628, --device: cpub shows where to sign in and polls the token
 *	  endpoint, at the interval the provider asks for, slowing down when
 *	  told to).  Or the admin hands cpub a token got elsewhere
 *	  (--token-file).  The server checks the token (GET /admin/api/whoami)
 *	  before it is kept.
 *
 *	  The token is kept like a developer's session: in the credentials file
 *	  (config.c), under the server's entry, as its "admin" member:
 *
 *		{"access_token", "expires_at", "issuer", "client_id", "grant",
 *		 "token_endpoint", "resource", "secret_from", "secret_file",
 *		 "subject", "email", "role"}
 *
 *	  but never the client secret: "secret_from" says where it came from
 *	  ("file", with "secret_file"; "env", CPUB_ADMIN_CLIENT_SECRET; or
 *	  "prompt").  When the token has expired, or the server refuses it, and
 *	  it came from the client credentials grant with a secret that can be
 *	  read again from the same place, a new one is got at once, under the
 *	  credentials' lock (a run that waited for it takes the one another run
 *	  got).  Otherwise (a device flow's or a file's token, a secret typed
 *	  in) the admin is told to run cpub admin login.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "commands_fn.h"
#include "config.h"
#include "http.h"
#include "oidc.h"

/* Where the client secret comes from when no file is named. */
#define SECRET_ENV "CPUB_ADMIN_CLIENT_SECRET"
/* The client id when none is given nor kept: the one the docs register. */
#define DEFAULT_CLIENT_ID "cpub-admin-cli"
/* A token this close to its expiry is renewed before it is sent. */
#define EXPIRY_MARGIN 5
/* The largest token or secret read from a file. */
#define MAX_LINE 65536

/* not_signed_in: says there is no admin token for cli->server. */
static int
not_signed_in(struct cli *cli)
{
	return cli_fail(cli, EXIT_API, "not_logged_in",
					"not signed in as an admin to %s (run: cpub admin login)",
					cli->server);
}

/* str: the string member KEY of OBJ, or NULL. */
static const char *
str(const json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

/*
 * read_line: the first line of the file PATH ("-": standard input),
 * without its line end and the blanks around it.  Returns it (malloc'd:
 * free it with auth_wipe), or NULL (reported, as WHAT).
 */
static char *
read_line(struct cli *cli, const char *path, const char *what)
{
	FILE   *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
	char   *line = NULL;
	size_t	cap = 0;
	ssize_t n;
	char   *start;

	if (!f)
	{
		cli_fail(cli, 1, "file", "could not read the %s file %s: %s", what,
				 path, strerror(errno));
		return NULL;
	}
	n = getline(&line, &cap, f);
	if (f != stdin)
		fclose(f);
	if (n < 0 || n > MAX_LINE)
	{
		auth_wipe(line);
		cli_fail(cli, 1, "file", "no %s in %s", what,
				 strcmp(path, "-") == 0 ? "standard input" : path);
		return NULL;
	}
	while (n > 0 && strchr(" \t\r\n", line[n - 1]))
		line[--n] = '\0';
	for (start = line; *start == ' ' || *start == '\t'; start++)
		;
	if (*start == '\0')
	{
		auth_wipe(line);
		cli_fail(cli, 1, "file", "no %s in %s", what,
				 strcmp(path, "-") == 0 ? "standard input" : path);
		return NULL;
	}
	memmove(line, start, strlen(start) + 1);
	return line;
}

/*
 * form_add: "&KEY=VALUE" (percent-encoded) appended to *FORM (malloc'd;
 * the first one without "&").  Returns 0, or -1 when out of memory
 * (reported; *FORM is freed and NULL).
 */
static int
form_add(char **form, const char *key, const char *value)
{
	char *v = http_escape(value);
	char *grown = NULL;

	if (v && asprintf(&grown, "%s%s%s=%s", *form ? *form : "",
					  *form ? "&" : "", key, v) < 0)
		grown = NULL;
	free(v);
	free(*form);
	*form = grown;
	if (!grown)
		fprintf(stderr, "cpub: out of memory\n");
	return grown ? 0 : -1;
}

/*
 * get_json: GET URL (a whole one: the provider's) as a JSON object in *out
 * (the caller releases it).  Returns 0 or an exit code (reported).
 */
static int
get_json(struct cli *cli, const char *url, json_t **out)
{
	struct http_request req = {.method = "GET", .url = url};
	long				status;
	int					rc = http_call(cli, &req, out, &status);

	if (rc == 0 && !json_is_object(*out))
	{
		json_decref(*out);
		*out = NULL;
		return cli_fail(cli, EXIT_API, "oidc",
						"%s answered %ld without a JSON object", url, status);
	}
	return rc;
}

/*
 * discover: the discovery document of ISSUER in *doc (the caller releases
 * it), checked: its "issuer" is ISSUER and it names a token endpoint.
 * Returns 0 or an exit code (reported).
 */
static int
discover(struct cli *cli, const char *issuer, json_t **doc)
{
	char	   *url = NULL;
	size_t		n = strlen(issuer);
	const char *named;
	int			rc;

	while (n > 0 && issuer[n - 1] == '/')
		n--;
	if (asprintf(&url, "%.*s/.well-known/openid-configuration", (int) n,
				 issuer) < 0)
	{
		fprintf(stderr, "cpub: out of memory\n");
		return 1;
	}
	rc = get_json(cli, url, doc);
	free(url);
	if (rc != 0)
		return rc;
	named = str(*doc, "issuer");
	if (!named || strcmp(named, issuer) != 0)
		rc = cli_fail(cli, EXIT_API, "oidc",
					  "the discovery document of %s names another issuer: %s",
					  issuer, named ? named : "none");
	else if (!str(*doc, "token_endpoint"))
		rc = cli_fail(cli, EXIT_API, "oidc",
					  "the identity provider %s names no token endpoint",
					  issuer);
	if (rc != 0)
	{
		json_decref(*doc);
		*doc = NULL;
	}
	return rc;
}

/*
 * token_request: POST FORM to ENDPOINT, the token endpoint (or the device
 * authorization endpoint), as the client CLIENT_ID with SECRET (HTTP
 * basic; no SECRET: client_id in the form, a public client).  On success
 * *out is the reply, which has the member WANT ("access_token") (the
 * caller releases it).  *error is the OAuth error code of a refusal
 * ("authorization_pending", ...) when ERROR is not NULL: the caller says
 * it; otherwise the refusal is said here.  Returns 0 or an exit code.
 */
static int
token_request(struct cli *cli, const char *endpoint, const char *client_id,
			  const char *secret, const char *form, const char *want,
			  json_t **out, char **error)
{
	struct http_request req = {
		.method = "POST",
		.url = endpoint,
		.content_type = "application/x-www-form-urlencoded",
	};
	struct http_response r = {0};
	char				*user = http_escape(client_id);
	char				*password = secret ? http_escape(secret) : NULL;
	char				*body = NULL;
	const char			*code;
	const char			*what;
	int					 rc = 1;

	*out = NULL;
	if (error)
		*error = NULL;
	if (!user || (secret && !password))
		goto done;
	body = strdup(form);
	if (!body || (!secret && form_add(&body, "client_id", client_id) != 0))
		goto done;
	req.body = body;
	req.body_len = strlen(body);
	if (secret)
	{
		req.basic_user = user;
		req.basic_password = password;
	}
	rc = http_send(cli, &req, &r);
	if (rc != 0)
		goto done;
	if (r.status == 200 && str(r.json, want))
	{
		*out = r.json;
		r.json = NULL;
		goto done;
	}
	rc = EXIT_API;
	code = str(r.json, "error");
	what = str(r.json, "error_description");
	if (error && code)
	{
		*error = strdup(code);
		goto done;
	}
	if (code)
		cli_fail(cli, rc, code, "the identity provider refused%s: %s (%s)",
				 strcmp(code, "invalid_client") == 0
					 ? " the client id or secret"
					 : "",
				 what ? what : code, code);
	else
		cli_fail(cli, rc, "oidc", "%s answered %ld without a %s", endpoint,
				 r.status, want);
done:
	http_response_free(&r);
	if (password)
		auth_wipe(password);
	free(user);
	free(body);
	return rc;
}

/*
 * set_expiry: REC's "expires_at" EXPIRES_IN seconds from now (as the
 * server writes times, in UTC), or null when it is not a number.
 */
static void
set_expiry(json_t *rec, const json_t *expires_in)
{
	char buf[32];

	if (!json_is_integer(expires_in))
	{
		json_object_set_new(rec, "expires_at", json_null());
		return;
	}
	fn_time_param(time(NULL) + (time_t) json_integer_value(expires_in), buf,
				  sizeof(buf));
	json_object_set_new(rec, "expires_at", json_string(buf));
}

/* expired: whether REC's token expires within EXPIRY_MARGIN seconds (a
 * token of unknown expiry never does: the server says). */
static bool
expired(const json_t *rec)
{
	time_t t;

	return fn_parse_time(str(rec, "expires_at"), &t) &&
		   t <= time(NULL) + EXPIRY_MARGIN;
}

/* renewable: whether REC came from the client credentials grant with a
 * secret cpub can read again. */
static bool
renewable(const json_t *rec)
{
	const char *grant = str(rec, "grant");
	const char *from = str(rec, "secret_from");

	return grant && strcmp(grant, "client_credentials") == 0 && from &&
		   (strcmp(from, "file") == 0 || strcmp(from, "env") == 0) &&
		   str(rec, "token_endpoint") && str(rec, "client_id");
}

/*
 * client_credentials: a token of the client credentials grant at REC's
 * token endpoint, for REC's client and resource, with SECRET: REC's
 * access_token and expires_at are set.  Returns 0 or an exit code
 * (reported).
 */
static int
client_credentials(struct cli *cli, json_t *rec, const char *secret)
{
	char   *form = NULL;
	json_t *tok = NULL;
	int		rc = 1;

	if (form_add(&form, "grant_type", "client_credentials") != 0 ||
		(str(rec, "resource") &&
		 form_add(&form, "resource", str(rec, "resource")) != 0))
		goto done;
	rc = token_request(cli, str(rec, "token_endpoint"), str(rec, "client_id"),
					   secret, form, "access_token", &tok, NULL);
	if (rc != 0)
		goto done;
	json_object_set(rec, "access_token", json_object_get(tok, "access_token"));
	set_expiry(rec, json_object_get(tok, "expires_in"));
done:
	json_decref(tok);
	free(form);
	return rc;
}

/*
 * stored_secret: the client secret of REC read again from where it came
 * from, or NULL (said: what to do).
 */
static char *
stored_secret(struct cli *cli, const json_t *rec)
{
	const char *from = str(rec, "secret_from");
	const char *env;
	char	   *secret;

	if (strcmp(from, "env") == 0)
	{
		env = getenv(SECRET_ENV);
		if (env && env[0] && (secret = strdup(env)) != NULL)
			return secret;
		cli_fail(cli, EXIT_API, "not_logged_in",
				 "the admin token for %s expired and " SECRET_ENV
				 ", which its client secret came from, is not set "
				 "(set it, or run: cpub admin login)",
				 cli->server);
		return NULL;
	}
	secret = read_line(cli, str(rec, "secret_file"), "client secret");
	if (!secret)
		cli_fail(cli, EXIT_API, "not_logged_in",
				 "the admin token for %s expired and its client secret file "
				 "cannot be read (run: cpub admin login)",
				 cli->server);
	return secret;
}

/*
 * oidc_admin_token: the admin token to send to cli->server in *token
 * (borrowed from cli->creds, valid until it changes).  A kept token that
 * expired, or FAILED (a token the server just refused), is renewed when
 * it came from the client credentials grant and its secret can be read
 * again: under the credentials' lock, taking the token another run got
 * meanwhile if there is one, the new one saved.  Returns 0;
 * OIDC_NOT_RENEWABLE for a FAILED token that cannot be renewed (nothing
 * said: the server's refusal stands); or an exit code (reported: not
 * signed in, expired, the provider's refusal).
 */
int
oidc_admin_token(struct cli *cli, const char *failed, const char **token)
{
	json_t *rec = config_admin(cli);
	char   *seen = NULL;
	char   *secret = NULL;
	int		lock = -1;
	int		rc = 1;

	*token = NULL;
	if (!rec)
		return not_signed_in(cli);
	if (!failed && !expired(rec))
	{
		*token = str(rec, "access_token");
		return 0;
	}
	if (!renewable(rec))
	{
		char when[64];

		if (failed)
			return OIDC_NOT_RENEWABLE;
		return cli_fail(cli, EXIT_API, "not_logged_in",
						"the admin token for %s expired at %s (run: cpub "
						"admin login)",
						cli->server,
						fn_local_time(json_object_get(rec, "expires_at"), when,
									  sizeof(when)));
	}
	seen = strdup(failed ? failed : str(rec, "access_token"));
	if (!seen)
		return 1;
	lock = config_lock();
	if (config_reload(cli) != 0)
		goto done;
	rec = config_admin(cli);
	if (!rec)
	{
		rc = not_signed_in(cli);
		goto done;
	}
	if (strcmp(str(rec, "access_token"), seen) != 0 && !expired(rec))
	{
		*token = str(rec, "access_token"); /* another run renewed it */
		rc = 0;
		goto done;
	}
	if (!renewable(rec))
	{
		rc = failed ? OIDC_NOT_RENEWABLE
					: cli_fail(cli, EXIT_API, "not_logged_in",
							   "the admin token for %s expired (run: cpub "
							   "admin login)",
							   cli->server);
		goto done;
	}
	secret = stored_secret(cli, rec);
	if (!secret)
	{
		rc = EXIT_API;
		goto done;
	}
	rc = client_credentials(cli, rec, secret);
	if (rc == 0 && config_save(cli) != 0)
		rc = 1;
	if (rc == 0)
		*token = str(rec, "access_token");
done:
	auth_wipe(secret);
	config_unlock(lock);
	free(seen);
	return rc;
}

/*
 * jwt_claims: the claims of TOKEN when it is a JWT (its middle part,
 * base64url JSON), or NULL (an opaque token).  The caller releases them.
 * Nothing is verified: the server does that.
 */
static json_t *
jwt_claims(const char *token)
{
	const char	  *dot1 = strchr(token, '.');
	const char	  *dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
	unsigned char *bin;
	size_t		   len;
	json_t		  *claims = NULL;

	if (!dot2 || strchr(dot2 + 1, '.'))
		return NULL;
	bin = malloc((size_t) (dot2 - dot1));
	if (!bin)
		return NULL;
	if (sodium_base642bin(bin, (size_t) (dot2 - dot1), dot1 + 1,
						  (size_t) (dot2 - dot1 - 1), NULL, &len, NULL,
						  sodium_base64_VARIANT_URLSAFE_NO_PADDING) == 0)
		claims = json_loadb((const char *) bin, len, 0, NULL);
	free(bin);
	if (!json_is_object(claims))
	{
		json_decref(claims);
		return NULL;
	}
	return claims;
}

/*
 * whoami: GET /admin/api/whoami with TOKEN: the admin the server sees, in
 * *who (the caller releases it).  Returns 0 or an exit code (reported).
 */
static int
whoami(struct cli *cli, const char *token, json_t **who)
{
	struct http_request req = {
		.method = "GET", .path = "/admin/api/whoami", .token = token};
	long status;

	return http_call(cli, &req, who, &status);
}

/*
 * keep: stores REC (stolen) with WHO's subject, email and role as
 * cli->server's admin token, and cli->server as the default server; says
 * so.  Returns 0 or 1 (the file could not be written, reported).
 */
static int
keep(struct cli *cli, json_t *rec, const json_t *who)
{
	char		when[64];
	const char *email = str(who, "email");

	json_object_set(rec, "subject", json_object_get(who, "subject"));
	json_object_set(rec, "email", json_object_get(who, "email"));
	json_object_set(rec, "role", json_object_get(who, "role"));
	config_set_admin(cli, rec);
	json_object_set_new(cli->creds, CONFIG_DEFAULT_SERVER,
						json_string(cli->server));
	if (config_save(cli) != 0)
		return 1;
	if (cli->json)
	{
		json_t *shown = json_pack(
			"{s:s, s:O?, s:O?, s:O?, s:O?, s:O?, s:O?, s:O?}", "server",
			cli->server, "issuer", json_object_get(rec, "issuer"), "client_id",
			json_object_get(rec, "client_id"), "grant",
			json_object_get(rec, "grant"), "subject",
			json_object_get(rec, "subject"), "email",
			json_object_get(rec, "email"), "role",
			json_object_get(rec, "role"), "expires_at",
			json_object_get(rec, "expires_at"));

		cli_print_json(shown);
		json_decref(shown);
	}
	else if (!cli->quiet)
	{
		printf("signed in to %s as %s (%s)", cli->server,
			   email ? email : str(who, "subject"),
			   str(who, "role") ? str(who, "role") : "no role");
		if (str(rec, "expires_at"))
			printf("; the token expires at %s",
				   fn_local_time(json_object_get(rec, "expires_at"), when,
								 sizeof(when)));
		putchar('\n');
	}
	return 0;
}

/* login_token_file: admin login --token-file PATH. */
static int
login_token_file(struct cli *cli, const char *path)
{
	char   *token = read_line(cli, path, "token");
	json_t *claims = NULL;
	json_t *who = NULL;
	json_t *rec = NULL;
	int		rc = 1;

	if (!token)
		return 1;
	rc = whoami(cli, token, &who);
	if (rc != 0)
		goto done;
	claims = jwt_claims(token);
	rec = json_pack("{s:s, s:s, s:O?}", "access_token", token, "grant",
					"token_file", "issuer", json_object_get(claims, "iss"));
	if (!rec)
	{
		rc = 1;
		goto done;
	}
	if (json_is_integer(json_object_get(claims, "exp")))
	{
		char buf[32];

		fn_time_param(
			(time_t) json_integer_value(json_object_get(claims, "exp")), buf,
			sizeof(buf));
		json_object_set_new(rec, "expires_at", json_string(buf));
	}
	else
		json_object_set_new(rec, "expires_at", json_null());
	rc = keep(cli, rec, who);
	rec = NULL;
done:
	json_decref(rec);
	json_decref(who);
	json_decref(claims);
	auth_wipe(token);
	return rc;
}

/* The grant type of the device flow (RFC 8628). */
#define DEVICE_GRANT "urn:ietf:params:oauth:grant-type:device_code"

/*
 * device_flow: REC's token by the device authorization grant (RFC 8628) at
 * DEVICE_ENDPOINT, for REC's client (SECRET: a confidential one, else
 * public) and resource: the admin is told where to sign in (standard
 * error), then the token endpoint is polled every "interval" seconds (5
 * when the provider names none; 5 more after each slow_down) until the
 * sign-in is done, refused or expired.  Sets REC's access_token and
 * expires_at.  Returns 0 or an exit code (reported).
 */
static int
device_flow(struct cli *cli, json_t *rec, const char *device_endpoint,
			const char *secret)
{
	char	   *form = NULL;
	char	   *poll = NULL;
	char	   *error = NULL;
	json_t	   *dev = NULL;
	json_t	   *tok = NULL;
	const char *uri;
	const char *code;
	json_int_t	interval;
	json_int_t	lifetime;
	time_t		deadline;
	int			rc = 1;

	if (form_add(&form, "scope", "openid") != 0 ||
		(str(rec, "resource") &&
		 form_add(&form, "resource", str(rec, "resource")) != 0))
		goto done;
	rc = token_request(cli, device_endpoint, str(rec, "client_id"), secret,
					   form, "device_code", &dev, NULL);
	if (rc != 0)
		goto done;
	rc = 1;
	if (form_add(&poll, "grant_type", DEVICE_GRANT) != 0 ||
		form_add(&poll, "device_code", str(dev, "device_code")) != 0)
		goto done;
	uri = str(dev, "verification_uri_complete");
	code = str(dev, "user_code");
	if (uri)
		fprintf(stderr, "To sign in, open %s\n(the code is %s)\n", uri,
				code ? code : "in the address");
	else
		fprintf(stderr, "To sign in, open %s and enter the code %s\n",
				str(dev, "verification_uri") ? str(dev, "verification_uri")
											 : "the provider's page",
				code ? code : "(none given)");
	fprintf(stderr, "Waiting for the sign-in...\n");
	interval = json_integer_value(json_object_get(dev, "interval"));
	if (interval <= 0)
		interval = 5;
	lifetime = json_integer_value(json_object_get(dev, "expires_in"));
	deadline = time(NULL) + (time_t) (lifetime > 0 ? lifetime : 600);
	for (;;)
	{
		sleep((unsigned int) interval);
		if (time(NULL) > deadline)
		{
			rc = cli_fail(cli, EXIT_API, "expired_token",
						  "the code expired before the sign-in (run cpub "
						  "admin login --device again)");
			goto done;
		}
		free(error);
		error = NULL;
		rc = token_request(cli, str(rec, "token_endpoint"),
						   str(rec, "client_id"), secret, poll, "access_token",
						   &tok, &error);
		if (rc == 0)
			break;
		if (!error)
			goto done; /* said */
		if (strcmp(error, "authorization_pending") == 0)
			continue;
		if (strcmp(error, "slow_down") == 0)
		{
			interval += 5;
			continue;
		}
		if (strcmp(error, "access_denied") == 0)
			rc = cli_fail(cli, EXIT_API, error,
						  "the sign-in was refused at the identity provider "
						  "(access_denied)");
		else if (strcmp(error, "expired_token") == 0)
			rc = cli_fail(cli, EXIT_API, error,
						  "the code expired before the sign-in (run cpub "
						  "admin login --device again)");
		else
			rc = cli_fail(cli, EXIT_API, error,
						  "the identity provider refused the device code (%s)",
						  error);
		goto done;
	}
	json_object_set(rec, "access_token", json_object_get(tok, "access_token"));
	set_expiry(rec, json_object_get(tok, "expires_in"));
done:
	json_decref(tok);
	json_decref(dev);
	free(error);
	free(poll);
	free(form);
	return rc;
}

static const struct option login_options[] = {
	{"client-id", required_argument, NULL, 'c'},
	{"client-secret-file", required_argument, NULL, 's'},
	{"token-file", required_argument, NULL, 't'},
	{"device", no_argument, NULL, 'd'},
	{NULL, 0, NULL, 0}};

/*
 * cmd_admin_login: admin login [--client-id ID] [--client-secret-file F]
 * [--device | --token-file F].
 */
int
cmd_admin_login(struct cli *cli, int argc, char **argv)
{
	const char *client_id = NULL;
	const char *secret_file = NULL;
	const char *token_file = NULL;
	bool		device = false;
	char	   *secret = NULL;
	char	   *abs_file = NULL;
	json_t	   *sign_in = NULL;
	json_t	   *doc = NULL;
	json_t	   *rec = NULL;
	json_t	   *who = NULL;
	json_t	   *old;
	const char *from;
	int			c;
	int			rc;

	while ((c = cli_getopt(cli, argc, argv, "", login_options)) != -1)
	{
		if (c == 'c')
			client_id = optarg;
		else if (c == 's')
			secret_file = optarg;
		else if (c == 't')
			token_file = optarg;
		else if (c == 'd')
			device = true;
		else
			return cli_opt_exit(c);
	}
	rc = cli_operands(cli, argc, argv, 0, 0);
	if (rc != 0)
		return rc;
	if (token_file && (client_id || secret_file || device))
		return cli_usage_error(cli, "--token-file takes a token got "
									"elsewhere: no --client-id, "
									"--client-secret-file nor --device with "
									"it");
	if (token_file)
		return login_token_file(cli, token_file);

	/* Where the server's admins sign in. */
	rc = api_call(cli, "GET", "/admin/api/sign-in", NULL, false, &sign_in);
	if (rc != 0)
		goto done;
	if (!str(sign_in, "issuer"))
	{
		rc = cli_fail(cli, EXIT_API, "oidc",
					  "the server's sign-in document names no issuer");
		goto done;
	}
	rc = discover(cli, str(sign_in, "issuer"), &doc);
	if (rc != 0)
		goto done;

	/* The client: given, else the one of the last sign-in of the same kind
	 * with this issuer, else ours. */
	old = config_admin(cli);
	if (!client_id && old && str(old, "client_id") && str(old, "issuer") &&
		str(old, "grant") &&
		strcmp(str(old, "issuer"), str(sign_in, "issuer")) == 0 &&
		strcmp(str(old, "grant"), device ? "device" : "client_credentials") ==
			0)
		client_id = str(old, "client_id");
	if (!client_id)
		client_id = DEFAULT_CLIENT_ID;
	rec = json_pack("{s:s, s:s, s:s, s:s, s:O?}", "grant",
					device ? "device" : "client_credentials", "issuer",
					str(sign_in, "issuer"), "client_id", client_id,
					"token_endpoint", str(doc, "token_endpoint"), "resource",
					json_object_get(sign_in, "resource"));
	if (!rec)
	{
		rc = 1;
		goto done;
	}

	/* The secret: a file, else the environment, else asked for (the device
	 * flow: else none, a public client). */
	if (secret_file)
	{
		abs_file =
			strcmp(secret_file, "-") == 0 ? NULL : realpath(secret_file, NULL);
		secret = read_line(cli, secret_file, "client secret");
		if (!secret)
		{
			rc = 1;
			goto done;
		}
		from = abs_file ? "file" : "prompt";
	}
	else if (getenv(SECRET_ENV) && getenv(SECRET_ENV)[0])
	{
		secret = strdup(getenv(SECRET_ENV));
		from = "env";
	}
	else if (!device)
	{
		secret = auth_read_secret("Client secret: ", "client secret");
		from = "prompt";
	}
	else
		from = NULL;
	if (!secret && from)
	{
		rc = 1;
		goto done;
	}
	if (from)
		json_object_set_new(rec, "secret_from", json_string(from));
	if (abs_file)
		json_object_set_new(rec, "secret_file", json_string(abs_file));

	if (device && !str(doc, "device_authorization_endpoint"))
		rc = cli_fail(cli, EXIT_API, "oidc",
					  "the identity provider %s offers no device flow (its "
					  "discovery document names no "
					  "device_authorization_endpoint)",
					  str(sign_in, "issuer"));
	else if (device)
		rc = device_flow(cli, rec, str(doc, "device_authorization_endpoint"),
						 secret);
	else
		rc = client_credentials(cli, rec, secret);
	if (rc != 0)
		goto done;
	rc = whoami(cli, str(rec, "access_token"), &who);
	if (rc != 0)
		goto done;
	rc = keep(cli, rec, who);
	rec = NULL;
done:
	json_decref(who);
	json_decref(rec);
	json_decref(doc);
	json_decref(sign_in);
	auth_wipe(secret);
	free(abs_file);
	return rc;
}

/*
 * cmd_admin_logout: forgets cli->server's admin token.  The provider is
 * not told: the token works until it expires (a client credentials token
 * is short-lived).
 */
int
cmd_admin_logout(struct cli *cli, int argc, char **argv)
{
	int rc = cli_args(cli, argc, argv, 0, 0);

	if (rc != 0)
		return rc;
	if (!config_admin(cli))
	{
		if (!cli->quiet)
			fprintf(stderr, "cpub: not signed in as an admin to %s\n",
					cli->server);
		return 0;
	}
	config_set_admin(cli, NULL);
	if (config_save(cli) != 0)
		return 1;
	if (cli->json)
	{
		json_t *shown =
			json_pack("{sbss}", "signed_out", 1, "server", cli->server);

		cli_print_json(shown);
		json_decref(shown);
	}
	else if (!cli->quiet)
		printf("signed out of %s: its admin token is forgotten\n",
			   cli->server);
	return 0;
}
