/*
 * tests/unit/test_config.c
 *	  The HTTP front's settings (httpd/src/config.c): defaults, the file,
 *	  environment variables and options in their order of precedence, and
 *	  the one-line errors of a bad setting.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "tap.h"

static char conf_path[] = "/tmp/cpub-test-config.XXXXXX";

static void
write_conf(const char *text)
{
	FILE *f = fopen(conf_path, "w");

	fputs(text, f);
	fclose(f);
}

/* load: config_load over argv (NULL-terminated), stderr silenced. */
static int
load(struct config *cfg, const char *const *args)
{
	char *argv[16];
	int	  argc = 0;
	int	  rc;
	FILE *saved = stderr;

	argv[argc++] = "cpub-httpd";
	for (; *args; args++)
		argv[argc++] = (char *) *args;
	argv[argc] = NULL;
	stderr = fopen("/dev/null", "w");
	rc = config_load(cfg, argc, argv);
	fclose(stderr);
	stderr = saved;
	return rc;
}

int
main(void)
{
	struct config cfg;
	int			  fd = mkstemp(conf_path);

	plan(17);
	close(fd);
	unsetenv("CPUB_HTTPD_CONFIG");
	unsetenv("CPUB_HTTPD_PORT");

	ok(load(&cfg, (const char *[]){NULL}) == 0, "defaults load");
	ok(cfg.port == 8080 && cfg.tls_cert == NULL, "default port and no TLS");
	ok(cfg.pool_size == 2 * sysconf(_SC_NPROCESSORS_ONLN) &&
		   cfg.threads == cfg.pool_size,
	   "pool and threads default to two per CPU");
	is_str(cfg.listen_address, "127.0.0.1", "default address");
	config_free(&cfg);

	write_conf("# a comment\nport = 9001\n  pool_size=3 # trailing\n"
			   "database = 'host=/tmp dbname=x # not a comment'\n\n");
	ok(load(&cfg, (const char *[]){"--config", conf_path, NULL}) == 0,
	   "a file loads");
	ok(cfg.port == 9001 && cfg.pool_size == 3, "the file's values");
	is_str(cfg.database, "host=/tmp dbname=x # not a comment",
		   "a quoted value keeps '#'");
	config_free(&cfg);

	setenv("CPUB_HTTPD_PORT", "9002", 1);
	ok(load(&cfg, (const char *[]){"--config", conf_path, NULL}) == 0 &&
		   cfg.port == 9002,
	   "the environment overrides the file");
	config_free(&cfg);
	ok(load(&cfg, (const char *[]){"--config", conf_path, "--port=9003",
								   NULL}) == 0 &&
		   cfg.port == 9003,
	   "an option overrides the environment");
	config_free(&cfg);
	ok(load(&cfg, (const char *[]){"--port", "9004", NULL}) == 0 &&
		   cfg.port == 9004,
	   "--key value works too");
	config_free(&cfg);
	unsetenv("CPUB_HTTPD_PORT");

	write_conf("prot = 1\n");
	ok(load(&cfg, (const char *[]){"--config", conf_path, NULL}) == -1,
	   "an unknown setting in the file is an error");
	config_free(&cfg);
	write_conf("port 1\n");
	ok(load(&cfg, (const char *[]){"--config", conf_path, NULL}) == -1,
	   "a line without '=' is an error");
	config_free(&cfg);
	ok(load(&cfg, (const char *[]){"--port=70000", NULL}) == -1,
	   "a port out of range is an error");
	config_free(&cfg);
	ok(load(&cfg, (const char *[]){"--pool_size=abc", NULL}) == -1,
	   "a number that is not one is an error");
	config_free(&cfg);
	ok(load(&cfg, (const char *[]){"--tls_cert=/x.pem", NULL}) == -1,
	   "a certificate without its key is an error");
	config_free(&cfg);
	ok(load(&cfg, (const char *[]){"--log_format=xml", NULL}) == -1,
	   "an unknown log format is an error");
	config_free(&cfg);
	ok(load(&cfg, (const char *[]){"--config", "/nonexistent/x.conf", NULL}) ==
		   -1,
	   "a missing file is an error");
	config_free(&cfg);

	unlink(conf_path);
	return done_testing();
}
