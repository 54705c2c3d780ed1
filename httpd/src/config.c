/*
 * httpd/src/config.c
 *	  The server's settings: one row each in the table below, read by
 *	  settings.c (defaults, file, CPUB_HTTPD_* variables, options).
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "config.h"
#include "settings.h"

#define HTTPD_VERSION "0.1"

#define S(key, type, def, min, max, help)                                     \
	SETTING(config, key, type, def, min, max, help)

static const struct setting SETTINGS[] = {
	S(listen_address, SETTING_STRING, "127.0.0.1", 0, 0,
	  "address to listen on (IPv4 or IPv6 literal)"),
	S(port, SETTING_INT, "8080", 1, 65535, "TCP port"),
	S(database, SETTING_STRING, "dbname=containerpub user=cpub_httpd", 0, 0,
	  "libpq connection string; the role must be cpub_httpd"),
	S(pool_size, SETTING_INT, "0", 0, 1000,
	  "database connections; 0: two per CPU"),
	S(threads, SETTING_INT, "0", 0, 1024,
	  "HTTP worker threads; 0: two per CPU"),
	S(tls_cert, SETTING_STRING, NULL, 0, 0,
	  "PEM certificate (chain); serves HTTPS when set"),
	S(tls_key, SETTING_STRING, NULL, 0, 0, "PEM private key of tls_cert"),
	S(max_body_kb, SETTING_LONG, "1024", 1, 1048576,
	  "largest JSON request body, KiB"),
	S(max_upload_mb, SETTING_LONG, "100", 1, 1023,
	  "largest deploy archive, MiB (the owner's tier caps lower)"),
	S(max_invoke_kb, SETTING_LONG, "6144", 1, 1048576,
	  "largest invocation request body, KiB"),
	S(max_header_kb, SETTING_LONG, "32", 4, 1024,
	  "largest request line plus headers, KiB"),
	S(connection_timeout, SETTING_INT, "30", 1, 3600,
	  "seconds a connection may stay idle (slow clients are dropped)"),
	S(statement_timeout, SETTING_INT, "30000", 100, 3600000,
	  "milliseconds one request's SQL may run"),
	S(pool_wait, SETTING_INT, "2000", 1, 60000,
	  "milliseconds to wait for a free database connection (then 503)"),
	S(invoke_grace, SETTING_INT, "10", 0, 3600,
	  "seconds a synchronous call waits past the function's timeout "
	  "(then 504)"),
	S(follow_wait, SETTING_INT, "30", 1, 300,
	  "longest wait of a logs long-poll (follow=1), seconds"),
	SETTING_ONE_OF(config, log_format, "json", "json|text",
				   "access and error log format: json or text"),
	S(access_log, SETTING_STRING, "-", 0, 0,
	  "access log: a file path, - for standard output, or off"),
	S(metrics_token, SETTING_STRING, NULL, 0, 0,
	  "when set, /metrics needs 'Authorization: Bearer <token>'"),
	S(openapi_out, SETTING_STRING, NULL, 0, 0,
	  "write the OpenAPI document to this file (needs the database) "
	  "and exit"),
	S(admin_oidc_issuer, SETTING_STRING, NULL, 0, 0,
	  "OpenID Connect issuer of admin tokens (its discovery document is "
	  "ISSUER/.well-known/openid-configuration); unset: /admin/api is off"),
	S(admin_oidc_audience, SETTING_STRING, "containerpub-admin", 0, 0,
	  "the audience (aud) admin tokens must carry"),
	S(admin_oidc_resource, SETTING_STRING, NULL, 0, 0,
	  "the resource indicator (RFC 8707) admin clients ask tokens for, "
	  "told to them by GET /admin/api/sign-in; unset: none"),
	S(admin_oidc_client_id, SETTING_STRING, NULL, 0, 0,
	  "httpd's client at the provider, for introspecting opaque tokens"),
	S(admin_oidc_client_secret_file, SETTING_STRING, NULL, 0, 0,
	  "file whose first line is that client's secret"),
	S(admin_oidc_roles_client, SETTING_STRING, NULL, 0, 0,
	  "the client whose roles count (resource_access.<client>.roles); "
	  "default: the audience"),
	S(admin_role_claims, SETTING_STRING,
	  "realm_access.roles,resource_access.{client}.roles", 0, 0,
	  "comma-separated claim paths holding the roles full_admin and viewer"),
	S(admin_jwks_refresh_min, SETTING_INT, "30", 1, 86400,
	  "least seconds between two fetches of the provider's keys (a token "
	  "with an unknown key id fetches them)"),
	S(admin_introspection_cache, SETTING_INT, "30", 0, 3600,
	  "seconds an opaque token's introspection is trusted"),
	S(admin_clock_skew, SETTING_INT, "30", 0, 600,
	  "seconds of clock difference allowed on exp and nbf"),
	S(admin_hs256_secret_file, SETTING_STRING, NULL, 0, 0,
	  "legacy: also accept HS256 admin tokens signed with this file's "
	  "bytes (off when unset)"),
};

static const struct settings_spec SPEC = {
	.program = "cpub-httpd",
	.version = HTTPD_VERSION,
	.env_prefix = "CPUB_HTTPD_",
	.about = "The REST front of ContainerPub.",
	.table = SETTINGS,
	.n = sizeof(SETTINGS) / sizeof(SETTINGS[0]),
	.size = sizeof(struct config),
};

void
config_usage(FILE *out)
{
	settings_usage(&SPEC, out);
}

/*
 * config_check: the rules that involve more than one setting.  Returns 0 or
 * -1 (reported).
 */
static int
config_check(const struct config *cfg)
{
	if ((cfg->tls_cert == NULL) != (cfg->tls_key == NULL))
	{
		fprintf(stderr, "cpub-httpd: tls_cert and tls_key must be set "
						"together\n");
		return -1;
	}
	return 0;
}

int
config_load(struct config *cfg, int argc, char **argv)
{
	int rc;

	rc = settings_load(&SPEC, cfg, argc, argv);
	if (rc != 0)
		return rc;
	if (cfg->pool_size == 0 || cfg->threads == 0)
	{
		/* Two per CPU: a thread waits on the database about as long as
		 * it works, and more backends than that only queue on the CPUs
		 * (bench/README.md). */
		long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
		int	 twice = ncpu > 0 && ncpu < 256 ? (int) ncpu * 2 : 4;

		if (cfg->pool_size == 0)
			cfg->pool_size = twice;
		if (cfg->threads == 0)
			cfg->threads = twice;
	}
	return config_check(cfg);
}

void
config_free(struct config *cfg)
{
	settings_free(&SPEC, cfg);
}
