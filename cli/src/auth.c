/*
 * cli/src/auth.c
 *	  The account commands: register, login, logout, whoami.
 *
 *	  A password is asked for without echo when standard input is a
 *	  terminal (termios), and otherwise read as one line from it, for
 *	  scripts: printf '%s\n' "$PASSWORD" | cpub login EMAIL.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "config.h"
#include "http.h"

/* The terminal as it was before the echo went off, for restore_echo. */
static struct termios saved_termios;

/*
 * restore_echo: a signal's handler while the echo is off (Ctrl-C at the
 * prompt): puts the terminal back, then dies of the signal as it would
 * have (tcsetattr is async-signal-safe).
 */
static void
restore_echo(int sig)
{
	tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_termios);
	signal(sig, SIG_DFL);
	raise(sig);
}

/*
 * auth_read_secret: one line from standard input, without its line end; on
 * a terminal PROMPT is shown on standard error and the echo is off.  WHAT
 * names it in a message ("password").  Returns the secret (malloc'd, the
 * caller frees it with auth_wipe) or NULL (reported).
 */
char *
auth_read_secret(const char *prompt, const char *what)
{
	struct termios old, quiet;
	bool		   tty = isatty(STDIN_FILENO);
	char		  *line = NULL;
	size_t		   cap = 0;
	ssize_t		   n;

	if (tty)
	{
		fputs(prompt, stderr);
		fflush(stderr);
		if (tcgetattr(STDIN_FILENO, &old) != 0)
		{
			fprintf(stderr, "cpub: could not read the terminal: %s\n",
					strerror(errno));
			return NULL;
		}
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t) ECHO;
		quiet.c_lflag |= ECHONL;
		saved_termios = old;
		signal(SIGINT, restore_echo);
		signal(SIGTERM, restore_echo);
		signal(SIGHUP, restore_echo);
		signal(SIGTSTP, restore_echo);
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
	}
	n = getline(&line, &cap, stdin);
	if (tty)
	{
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		signal(SIGTSTP, SIG_DFL);
	}
	if (n < 0)
	{
		free(line);
		fprintf(stderr, "cpub: no %s given on standard input\n", what);
		return NULL;
	}
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	return line;
}

/* auth_wipe: clears and frees a password (may be NULL). */
void
auth_wipe(char *secret)
{
	if (!secret)
		return;
	explicit_bzero(secret, strlen(secret));
	free(secret);
}

/* post_credentials: POST {email, password} to path; 0 with *out, or the
 * exit status (said). */
static int
post_credentials(struct cli *cli, const char *path, const char *email,
				 const char *password, json_t **out)
{
	json_t *body = json_pack("{ssss}", "email", email, "password", password);
	int		rc;

	if (!body)
	{
		fprintf(stderr, "cpub: the email or password is not UTF-8\n");
		return EXIT_USAGE;
	}
	rc = api_call(cli, "POST", path, body, false, out);
	json_decref(body);
	return rc;
}

int
cmd_register(struct cli *cli, int argc, char **argv)
{
	char	   *password = NULL;
	char	   *again = NULL;
	json_t	   *out = NULL;
	int			rc = cli_args(cli, argc, argv, 1, 1);
	const char *email = argv[optind];

	if (rc != 0)
		return rc;
	rc = 1;
	password = auth_read_secret("Password: ", "password");
	if (!password)
		goto done;
	if (isatty(STDIN_FILENO))
	{
		again = auth_read_secret("Repeat the password: ", "password");
		if (!again)
			goto done;
		if (strcmp(password, again) != 0)
		{
			fprintf(stderr, "cpub: the passwords differ\n");
			rc = EXIT_USAGE;
			goto done;
		}
	}
	rc = post_credentials(cli, "/api/auth/register", email, password, &out);
	if (rc != 0)
		goto done;
	if (cli->json)
		cli_print_json(out);
	else if (!cli->quiet)
		printf("registered %s; log in with: cpub login %s\n", email, email);
done:
	json_decref(out);
	auth_wipe(again);
	auth_wipe(password);
	return rc;
}

int
cmd_login(struct cli *cli, int argc, char **argv)
{
	char	   *password = NULL;
	json_t	   *out = NULL;
	int			rc = cli_args(cli, argc, argv, 1, 1);
	const char *email = argv[optind];

	if (rc != 0)
		return rc;
	rc = 1;
	password = auth_read_secret("Password: ", "password");
	if (!password)
		goto done;
	rc = post_credentials(cli, "/api/auth/login", email, password, &out);
	if (rc != 0)
		goto done;
	if (!json_is_string(json_object_get(out, "access_token")) ||
		!json_is_string(json_object_get(out, "refresh_token")))
	{
		fprintf(stderr, "cpub: the server's login reply has no tokens\n");
		rc = EXIT_API;
		goto done;
	}
	json_object_set_new(out, "email", json_string(email));
	config_set_session(cli, json_incref(out));
	json_object_set_new(cli->creds, CONFIG_DEFAULT_SERVER,
						json_string(cli->server));
	if (config_save(cli) != 0)
	{
		rc = 1;
		goto done;
	}
	if (cli->json)
	{
		json_t *shown =
			json_pack("{s:O?, s:O?, s:O?, s:s}", "user_id",
					  json_object_get(out, "user_id"), "session_id",
					  json_object_get(out, "session_id"), "email",
					  json_object_get(out, "email"), "server", cli->server);

		cli_print_json(shown);
		json_decref(shown);
	}
	else if (!cli->quiet)
		printf("logged in to %s as %s\n", cli->server, email);
done:
	json_decref(out);
	auth_wipe(password);
	return rc;
}

int
cmd_logout(struct cli *cli, int argc, char **argv)
{
	json_t *out = NULL;
	long	status = 0;
	int		rc = cli_args(cli, argc, argv, 0, 0);

	if (rc != 0)
		return rc;
	if (!config_session(cli))
	{
		if (!cli->quiet)
			fprintf(stderr, "cpub: not logged in to %s\n", cli->server);
		return 0;
	}
	/*
	 * The tokens go once the server revoked the session, or said it is no
	 * longer valid (401: revoked or expired already, or its refresh token
	 * refused).  Any other answer
	 * (the server down, 503, 500) leaves the session alive there, so the
	 * tokens are kept for another try.
	 */
	rc = api_call_status(cli, "POST", "/api/auth/logout", NULL, true, &out,
						 &status);
	json_decref(out);
	if (rc != 0 && status != 401 && !cli->session_dead)
		return rc;
	config_set_session(cli, NULL);
	if (config_save(cli) != 0)
		return 1;
	if (rc != 0)
		return rc;
	if (cli->json)
	{
		json_t *shown =
			json_pack("{sbss}", "logged_out", 1, "server", cli->server);

		cli_print_json(shown);
		json_decref(shown);
	}
	else if (!cli->quiet)
		printf("logged out of %s\n", cli->server);
	return 0;
}

int
cmd_whoami(struct cli *cli, int argc, char **argv)
{
	json_t *out = NULL;
	int		rc = cli_args(cli, argc, argv, 0, 0);

	if (rc != 0)
		return rc;
	rc = api_call(cli, "GET", "/api/auth/me", NULL, true, &out);
	if (rc != 0)
		return rc;
	if (cli->json)
		cli_print_json(out);
	else
	{
		char a[128], b[128], c[128];

		printf("%s (user %s, tier %s) on %s\n",
			   cli_text(json_object_get(out, "email"), a, sizeof(a)),
			   cli_text(json_object_get(out, "user_id"), b, sizeof(b)),
			   cli_text(json_object_get(out, "tier"), c, sizeof(c)),
			   cli->server);
	}
	json_decref(out);
	return 0;
}
