/*
 * httpd/src/admin.c
 *	  Admins' bearer tokens: the admin_* settings made into an oidc_config
 *	  (oidc.c does the checking), and the replies a refused token gets.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "admin.h"
#include "config.h"
#include "handlers.h"
#include "log.h"

#define ADMIN_MAX_ROLE_PATHS 8
#define SECRET_MAX			 4096

static bool enabled;

/*
 * read_secret: the bytes of path (at most SECRET_MAX) into buf, without
 * trailing newlines; first_line keeps only the first line.  Returns the
 * length, or -1 after printing why.
 */
static long
read_secret(const char *setting, const char *path, unsigned char *buf,
			bool first_line)
{
	FILE  *f = fopen(path, "rb");
	size_t n;

	if (f == NULL)
	{
		fprintf(stderr, "cpub-httpd: %s %s: %s\n", setting, path,
				strerror(errno));
		return -1;
	}
	n = fread(buf, 1, SECRET_MAX, f);
	if (ferror(f) || (n == SECRET_MAX && fgetc(f) != EOF))
	{
		fprintf(stderr, "cpub-httpd: %s %s: unreadable or over %d bytes\n",
				setting, path, SECRET_MAX);
		fclose(f);
		return -1;
	}
	fclose(f);
	if (first_line)
	{
		unsigned char *nl = memchr(buf, '\n', n);

		if (nl != NULL)
			n = (size_t) (nl - buf);
	}
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	if (n == 0)
	{
		fprintf(stderr, "cpub-httpd: %s %s is empty\n", setting, path);
		return -1;
	}
	return (long) n;
}

/* split_paths: the comma-separated claim paths of s, in place. */
static int
split_paths(char *s, const char *paths[], size_t *n)
{
	char *save = NULL;

	*n = 0;
	for (char *tok = strtok_r(s, ",", &save); tok != NULL;
		 tok = strtok_r(NULL, ",", &save))
	{
		while (*tok == ' ')
			tok++;
		for (char *end = tok + strlen(tok); end > tok && end[-1] == ' ';)
			*--end = '\0';
		if (*tok == '\0')
			continue;
		if (*n == ADMIN_MAX_ROLE_PATHS)
		{
			fprintf(stderr,
					"cpub-httpd: admin_role_claims: more than %d paths\n",
					ADMIN_MAX_ROLE_PATHS);
			return -1;
		}
		paths[(*n)++] = tok;
	}
	if (*n == 0)
	{
		fprintf(stderr, "cpub-httpd: admin_role_claims names no path\n");
		return -1;
	}
	return 0;
}

int
admin_init(const struct config *cfg)
{
	struct oidc_config oc;
	const char		  *paths[ADMIN_MAX_ROLE_PATHS];
	unsigned char	   client_secret[SECRET_MAX + 1];
	unsigned char	   hs256[SECRET_MAX];
	char			  *claims;
	char			   err[256];
	long			   len;
	int				   rc = -1;

	if (cfg->admin_oidc_issuer == NULL)
	{
		if (cfg->admin_hs256_secret_file != NULL)
		{
			fprintf(stderr, "cpub-httpd: admin_hs256_secret_file needs "
							"admin_oidc_issuer (the iss its tokens carry)\n");
			return -1;
		}
		return 0;
	}
	memset(&oc, 0, sizeof(oc));
	claims = strdup(cfg->admin_role_claims);
	if (claims == NULL || split_paths(claims, paths, &oc.n_role_paths) != 0)
		goto done;
	oc.issuer = cfg->admin_oidc_issuer;
	oc.audience = cfg->admin_oidc_audience;
	oc.client_id = cfg->admin_oidc_client_id;
	oc.roles_client = cfg->admin_oidc_roles_client;
	oc.jwks_refresh_min = cfg->admin_jwks_refresh_min;
	oc.introspection_cache = cfg->admin_introspection_cache;
	oc.skew = cfg->admin_clock_skew;
	oc.role_paths = paths;
	if (cfg->admin_oidc_client_secret_file != NULL)
	{
		len = read_secret("admin_oidc_client_secret_file",
						  cfg->admin_oidc_client_secret_file, client_secret,
						  true);
		if (len < 0)
			goto done;
		client_secret[len] = '\0';
		oc.client_secret = (const char *) client_secret;
	}
	if (cfg->admin_hs256_secret_file != NULL)
	{
		len = read_secret("admin_hs256_secret_file",
						  cfg->admin_hs256_secret_file, hs256, false);
		if (len < 0)
			goto done;
		oc.hs256_secret = hs256;
		oc.hs256_secret_len = (size_t) len;
	}
	if (oidc_init(&oc, err, sizeof(err)) != 0)
	{
		fprintf(stderr, "cpub-httpd: admin sign-in: %s\n", err);
		goto done;
	}
	enabled = true;
	log_info("admin API on: tokens of %s for %s%s", cfg->admin_oidc_issuer,
			 cfg->admin_oidc_audience,
			 oc.hs256_secret ? " (and legacy HS256 tokens)" : "");
	rc = 0;
done:
	sodium_memzero(client_secret, sizeof(client_secret));
	sodium_memzero(hs256, sizeof(hs256));
	free(claims);
	return rc;
}

bool
admin_enabled(void)
{
	return enabled;
}

bool
admin_is_platform_token(const char *token)
{
	return strncmp(token, "cpa_", 4) == 0 || strncmp(token, "cpr_", 4) == 0;
}

/* reply_off: 404 for the admin API of a server without an issuer. */
static int
reply_off(struct request *req)
{
	return reply_simple_error(req, "P0002", "the admin API is not configured",
							  "This server has no admin_oidc_issuer.",
							  "Admins can call the cpub_admin SQL functions "
							  "in psql, or the operator sets "
							  "admin_oidc_issuer.");
}

bool
admin_is_jwt(const char *token)
{
	const char *dot = strchr(token, '.');

	return dot != NULL && (dot = strchr(dot + 1, '.')) != NULL &&
		   strchr(dot + 1, '.') == NULL;
}

int
admin_verify(struct request *req, struct oidc_identity *id)
{
	const char		*token = request_bearer(req);
	char			 err[256];
	enum oidc_result r;

	if (!enabled)
	{
		reply_off(req);
		return -1;
	}
	if (token == NULL)
	{
		reply_simple_error(req, "28000", "authentication required",
						   "This route needs an admin's bearer token from "
						   "the OpenID Connect provider.",
						   "Sign in with \"cpub admin login\".");
		return -1;
	}
	if (admin_is_platform_token(token))
	{
		reply_simple_error(req, "28000", "not an admin token",
						   "A developer's access token does not open the "
						   "admin API.",
						   "Sign in with \"cpub admin login\".");
		return -1;
	}
	r = oidc_check(token, time(NULL), id, err, sizeof(err));
	switch (r)
	{
		case OIDC_OK:
			return 0;
		case OIDC_NO_ADMIN_ROLE:
			reply_simple_error(req, "42501", "not an admin",
							   "The token carries neither the full_admin nor "
							   "the viewer role.",
							   "Ask for one of them at the identity "
							   "provider.");
			return -1;
		case OIDC_INVALID:
		case OIDC_UNAVAILABLE:
			break;
	}
	log_info("request %s: admin token refused (%s): %s", req->id,
			 oidc_result_name(r), err);
	reply_simple_error(req, "28000", "invalid admin token",
					   r == OIDC_UNAVAILABLE
						   ? "The identity provider could not be reached to "
							 "check it."
						   : "It is expired, not yet valid, or not issued "
							 "for this server.",
					   "Sign in again with \"cpub admin login\".");
	return -1;
}

void
admin_shutdown(void)
{
	if (enabled)
		oidc_shutdown();
	enabled = false;
}

/*
 * GET /admin/api/sign-in: where an admin client gets its token (no token
 * needed): the issuer, the audience, and the resource indicator to ask for.
 */
int
handle_admin_sign_in(struct request *req)
{
	json_t *doc;
	char   *text;
	int		rc;

	if (!enabled)
		return reply_off(req);
	doc = json_pack("{s:s, s:s, s:s?}", "issuer", config.admin_oidc_issuer,
					"audience", config.admin_oidc_audience, "resource",
					config.admin_oidc_resource);
	text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
	json_decref(doc);
	if (text == NULL)
		return MHD_NO;
	rc = reply_json(req, 200, text, strlen(text));
	free(text);
	return rc;
}
