/*
 * cli/src/config.c
 *	  The credentials file, $XDG_CONFIG_HOME/cpub/credentials.json (or
 *	  ~/.config/cpub/credentials.json):
 *
 *		{"default_server": "http://127.0.0.1:8080",
 *		 "servers": {"http://127.0.0.1:8080": {"email", "user_id",
 *		  "session_id", "access_token", "refresh_token", ...,
 *		  "admin": {"access_token", "expires_at", "issuer", "client_id",
 *					"grant", "secret_from", ...}}}}
 *
 *	  Tokens are kept per server, so that one server's tokens are never
 *	  sent to another.  A developer's session and an admin's token (oidc.c)
 *	  live side by side: each one's login and logout leave the other be.  The folder is made with mode 0700 and the file is
 *	  written with mode 0600, atomically: a temporary file in the same
 *	  folder, fsync, then rename over the old one.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"

#define CREDENTIALS "credentials.json"

/*
 * config_dir: the folder's path (malloc'd, the caller frees), or NULL when
 * neither XDG_CONFIG_HOME nor HOME is set (reported).
 */
static char *
config_dir(void)
{
	const char *xdg = getenv("XDG_CONFIG_HOME");
	const char *home = getenv("HOME");
	char	   *dir = NULL;
	int			rc;

	if (xdg && xdg[0] == '/')
		rc = asprintf(&dir, "%s/cpub", xdg);
	else if (home && home[0])
		rc = asprintf(&dir, "%s/.config/cpub", home);
	else
	{
		fprintf(stderr, "cpub: neither XDG_CONFIG_HOME nor HOME is set\n");
		return NULL;
	}
	if (rc < 0)
	{
		fprintf(stderr, "cpub: out of memory\n");
		return NULL;
	}
	return dir;
}

/*
 * make_dirs: creates DIR and its missing parents (mode 0700).  Returns 0 or
 * -1 (reported).
 */
static int
make_dirs(char *dir)
{
	char *p;
	char  c;

	for (p = dir + 1;; p++)
	{
		if (*p != '/' && *p != '\0')
			continue;
		c = *p;
		*p = '\0';
		if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		{
			fprintf(stderr, "cpub: could not create folder %s: %s\n", dir,
					strerror(errno));
			*p = c;
			return -1;
		}
		*p = c;
		if (c == '\0')
			break;
	}
	return 0;
}

/*
 * config_load: reads the credentials file into cli->creds (an empty object
 * when there is none).  Returns 0, or -1 when it cannot be read or is not
 * JSON (reported).
 */
int
config_load(struct cli *cli)
{
	char		*dir = config_dir();
	char		*path = NULL;
	json_error_t jerr;
	int			 rc = -1;

	if (!dir)
		return -1;
	if (asprintf(&path, "%s/" CREDENTIALS, dir) < 0)
	{
		path = NULL;
		fprintf(stderr, "cpub: out of memory\n");
		goto done;
	}
	if (access(path, F_OK) != 0 && errno == ENOENT)
		cli->creds = json_object();
	else
	{
		cli->creds = json_load_file(path, 0, &jerr);
		if (!cli->creds || !json_is_object(cli->creds))
		{
			fprintf(stderr, "cpub: could not read %s: %s\n", path,
					cli->creds ? "not a JSON object" : jerr.text);
			json_decref(cli->creds);
			cli->creds = NULL;
			goto done;
		}
	}
	rc = 0;
done:
	free(path);
	free(dir);
	return rc;
}

/*
 * config_save: writes cli->creds to the credentials file (mode 0600),
 * atomically.  Returns 0 or -1 (reported; the old file is left as it was).
 */
int
config_save(struct cli *cli)
{
	char  *dir = config_dir();
	char  *path = NULL;
	char  *tmp = NULL;
	char  *text = NULL;
	int	   fd = -1;
	int	   rc = -1;
	size_t len, off;

	if (!dir)
		return -1;
	if (asprintf(&path, "%s/" CREDENTIALS, dir) < 0 ||
		asprintf(&tmp, "%s/." CREDENTIALS ".XXXXXX", dir) < 0)
	{
		fprintf(stderr, "cpub: out of memory\n");
		goto done;
	}
	if (make_dirs(dir) != 0)
		goto done;
	/* An older folder made by hand may be open to others. */
	if (chmod(dir, 0700) != 0)
	{
		fprintf(stderr, "cpub: could not chmod %s: %s\n", dir,
				strerror(errno));
		goto done;
	}
	text = json_dumps(cli->creds, JSON_INDENT(2) | JSON_SORT_KEYS);
	if (!text)
	{
		fprintf(stderr, "cpub: out of memory\n");
		goto done;
	}
	fd = mkstemp(tmp); /* mode 0600 */
	if (fd < 0)
	{
		fprintf(stderr, "cpub: could not create %s: %s\n", tmp,
				strerror(errno));
		goto done;
	}
	len = strlen(text);
	for (off = 0; off < len;)
	{
		ssize_t n = write(fd, text + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
		{
			fprintf(stderr, "cpub: could not write %s: %s\n", tmp,
					strerror(errno));
			goto done;
		}
		off += (size_t) n;
	}
	if (write(fd, "\n", 1) != 1 || fchmod(fd, 0600) != 0 || fsync(fd) != 0)
	{
		fprintf(stderr, "cpub: could not write %s: %s\n", tmp,
				strerror(errno));
		goto done;
	}
	if (close(fd) != 0)
	{
		fd = -1;
		fprintf(stderr, "cpub: could not write %s: %s\n", tmp,
				strerror(errno));
		goto done;
	}
	fd = -1;
	if (rename(tmp, path) != 0)
	{
		fprintf(stderr, "cpub: could not rename %s to %s: %s\n", tmp, path,
				strerror(errno));
		goto done;
	}
	rc = 0;
done:
	if (fd >= 0)
		close(fd);
	if (rc != 0 && tmp)
		unlink(tmp);
	free(text);
	free(tmp);
	free(path);
	free(dir);
	return rc;
}

/*
 * config_session: the stored session of cli->server (borrowed), or NULL
 * when not logged in to it.
 */
json_t *
config_session(struct cli *cli)
{
	json_t *s = json_object_get(cli->creds, "servers");
	json_t *one = json_object_get(s, cli->server);

	if (!json_is_string(json_object_get(one, "access_token")))
		return NULL;
	return one;
}

/*
 * config_set_session: stores SESSION (its reference is stolen) as
 * cli->server's, or forgets it when SESSION is NULL; the server's admin
 * token stays.  In memory only: config_save writes it.
 */
void
config_set_session(struct cli *cli, json_t *session)
{
	json_t *s = json_object_get(cli->creds, "servers");
	json_t *admin;

	if (!json_is_object(s))
	{
		s = json_object();
		json_object_set_new(cli->creds, "servers", s);
	}
	admin = json_incref(
		json_object_get(json_object_get(s, cli->server), CONFIG_ADMIN));
	if (admin && !session)
		session = json_object();
	if (admin)
		json_object_set(session, CONFIG_ADMIN, admin);
	if (session)
		json_object_set_new(s, cli->server, session);
	else
		json_object_del(s, cli->server);
	json_decref(admin);
}

/*
 * config_admin: the admin token kept for cli->server (borrowed: valid until
 * cli->creds changes), or NULL when there is none.
 */
json_t *
config_admin(struct cli *cli)
{
	json_t *one =
		json_object_get(json_object_get(cli->creds, "servers"), cli->server);
	json_t *admin = json_object_get(one, CONFIG_ADMIN);

	if (!json_is_string(json_object_get(admin, "access_token")))
		return NULL;
	return admin;
}

/*
 * config_set_admin: stores ADMIN (its reference is stolen) as cli->server's
 * admin token, or forgets it when ADMIN is NULL; the developer's session
 * stays.  In memory only: config_save writes it.
 */
void
config_set_admin(struct cli *cli, json_t *admin)
{
	json_t *s = json_object_get(cli->creds, "servers");
	json_t *one;

	if (!json_is_object(s))
	{
		s = json_object();
		json_object_set_new(cli->creds, "servers", s);
	}
	one = json_object_get(s, cli->server);
	if (!json_is_object(one))
	{
		if (!admin)
			return;
		one = json_object();
		json_object_set_new(s, cli->server, one);
	}
	if (admin)
		json_object_set_new(one, CONFIG_ADMIN, admin);
	else
	{
		json_object_del(one, CONFIG_ADMIN);
		if (json_object_size(one) == 0)
			json_object_del(s, cli->server);
	}
}

/*
 * config_lock: takes an exclusive lock on the credentials (flock on
 * credentials.lock in their folder, made 0600), so that two cpub runs
 * refreshing the same session one after the other see each other's
 * tokens: a refresh token works once, and a reuse revokes the session.
 * Returns the lock's descriptor for config_unlock, or -1 when it cannot be
 * taken (reported; the caller goes on without).
 */
int
config_lock(void)
{
	char *dir = config_dir();
	char *path = NULL;
	int	  fd = -1;

	if (!dir)
		return -1;
	if (make_dirs(dir) != 0 || asprintf(&path, "%s/credentials.lock", dir) < 0)
	{
		path = NULL;
		goto done;
	}
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0 || flock(fd, LOCK_EX) != 0)
	{
		fprintf(stderr, "cpub: could not lock %s: %s\n", path,
				strerror(errno));
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
done:
	free(path);
	free(dir);
	return fd;
}

/* config_unlock: releases config_lock's lock FD (may be -1). */
void
config_unlock(int fd)
{
	if (fd >= 0)
		close(fd);
}

/*
 * config_reload: reads the credentials file again into cli->creds (what
 * another cpub run wrote meanwhile), releasing the old one: references
 * into it (config_session's) are stale after.  Returns 0 or -1 (reported;
 * cli->creds is then as it was).
 */
int
config_reload(struct cli *cli)
{
	json_t *old = cli->creds;

	cli->creds = NULL;
	if (config_load(cli) != 0)
	{
		cli->creds = old;
		return -1;
	}
	json_decref(old);
	return 0;
}
