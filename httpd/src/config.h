/*
 * httpd/src/config.h
 *	  The server's settings: defaults, a "key = value" file, environment
 *	  variables CPUB_HTTPD_<KEY> and command-line options, in that order of
 *	  precedence (later wins).
 */
#ifndef HTTPD_CONFIG_H
#define HTTPD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

struct config
{
	char *listen_address;	  /* IPv4 or IPv6 literal */
	int	  port;				  /* TCP port */
	char *database;			  /* libpq connection string */
	int	  pool_size;		  /* database connections */
	int	  threads;			  /* HTTP worker threads */
	char *tls_cert;			  /* PEM file; HTTPS when set */
	char *tls_key;			  /* PEM file */
	long  max_body_kb;		  /* JSON request bodies */
	long  max_upload_mb;	  /* deploy archives (the tier caps lower) */
	long  max_invoke_kb;	  /* invocation bodies */
	long  max_header_kb;	  /* request line and headers */
	int	  connection_timeout; /* seconds a connection may stay idle */
	int	  statement_timeout;  /* milliseconds for one request's SQL */
	int	  pool_wait;		  /* milliseconds to wait for a connection */
	int	  invoke_grace;		  /* seconds past a function's timeout */
	int	  follow_wait;		  /* longest logs long-poll, seconds */
	char *log_format;		  /* "json" or "text" */
	char *access_log;		  /* path, "-" (stdout) or "off" */
	char *metrics_token;	  /* bearer token for /metrics, or NULL */
	char *openapi_out;		  /* --openapi FILE: write and exit */

	/* The admin API (/admin/api): admins' OpenID Connect tokens. */
	char *admin_oidc_issuer;	/* NULL: the admin API is off */
	char *admin_oidc_audience;	/* the "aud" admin tokens carry */
	char *admin_oidc_resource;	/* resource indicator clients ask for */
	char *admin_oidc_client_id; /* httpd's client, for introspection */
	char *admin_oidc_client_secret_file; /* its secret, first line */
	char *admin_oidc_roles_client;		 /* resource_access.<this>.roles */
	char *admin_role_claims;			 /* comma-separated claim paths */
	int	  admin_jwks_refresh_min;		 /* seconds between two JWKS fetches */
	int	  admin_introspection_cache;	 /* seconds */
	int	  admin_clock_skew;				 /* seconds */
	char *admin_hs256_secret_file;		 /* legacy HS256 tokens; NULL: off */
};

/*
 * config_load: fills *cfg from defaults, the file named by --config (or
 * CPUB_HTTPD_CONFIG), the environment and argv.  Returns 0, 1 when the
 * caller should exit successfully (--help, --version), or -1 after printing
 * one error line to stderr.  Strings in *cfg are owned by it (config_free).
 */
extern int	config_load(struct config *cfg, int argc, char **argv);
extern void config_free(struct config *cfg);
extern void config_usage(FILE *out);

#endif
