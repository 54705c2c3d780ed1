/*
 * cli/src/init.c
 *	  cpub init [--runtime c|python|shell] [NAME]: a new function folder
 *	  that deploys and answers as it is: cpub.json, a hello handler of the
 *	  runtime (the shape the worker builds: worker/README.md) and a
 *	  README.md saying how to deploy and call it.
 *
 *	  With NAME, the folder ./NAME is made (or used when it exists and is
 *	  empty).  Without, the current folder becomes the function, named
 *	  after it.  No file is ever overwritten: init refuses before writing
 *	  anything when one of its files exists, and takes back what it wrote
 *	  when it fails half-way.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "manifest.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* The settings cpub.json starts with: the server's defaults, all within
 * the free tier (sql/10_tiers.sql: 256 MB, 30 s, 5 at once). */
#define INIT_MEMORY_MB		 128
#define INIT_TIMEOUT_SECONDS 10
#define INIT_CONCURRENCY	 4
#define INIT_VISIBILITY		 "private"

/* A runtime's hello handler; "@NAME@" stands for the function's name. */
struct init_template
{
	const char *runtime;
	const char *file;
	mode_t		mode;
	const char *text;
};

static const struct init_template templates[] = {
	{"c", "hello.c", 0644,
	 "/*\n"
	 " * hello.c: the function @NAME@, made by cpub init.\n"
	 " *\n"
	 " * cpub_handle is called once per request (cpub.h, which the "
	 "platform\n"
	 " * adds when it builds the function, tells all).  What the function\n"
	 " * prints on stdout or stderr goes to the request's logs.\n"
	 " */\n"
	 "#include \"cpub.h\"\n"
	 "\n"
	 "int\n"
	 "cpub_handle(const struct cpub_request *req, struct cpub_response "
	 "*res)\n"
	 "{\n"
	 "\tcpub_response_set_header(res, \"content-type\",\n"
	 "\t\t\t\t\t\t\t \"text/plain; charset=utf-8\");\n"
	 "\tcpub_response_printf(res, \"hello from @NAME@: %s %s, %zu bytes: "
	 "%.*s\\n\",\n"
	 "\t\t\t\t\t\t req->method, req->path, req->body_len,\n"
	 "\t\t\t\t\t\t (int) req->body_len, req->body);\n"
	 "\tcpub_log(\"answered %s %s\", req->method, req->path);\n"
	 "\treturn 0;\n"
	 "}\n"},
	{"python", "main.py", 0644,
	 "\"\"\"The function @NAME@, made by cpub init.\n"
	 "\n"
	 "handle(request) is called once per request: request.method, .path,\n"
	 ".query, .headers (a dict, names in lower case), .body (bytes), .text\n"
	 "and .json().  It returns (status, headers, body), or a body alone: "
	 "str,\n"
	 "bytes, or a dict or list (sent as JSON).  What it prints goes to the\n"
	 "request's logs.\n"
	 "\"\"\"\n"
	 "\n"
	 "\n"
	 "def handle(request):\n"
	 "    print(\"answering\", request.method, request.path)\n"
	 "    body = \"hello from @NAME@: %s %s, %d bytes: %s\\n\" % (\n"
	 "        request.method, request.path, len(request.body), "
	 "request.text)\n"
	 "    return 200, {\"content-type\": \"text/plain; charset=utf-8\"}, "
	 "body\n"},
	{"shell", "handler.sh", 0755,
	 "#!/bin/sh\n"
	 "# handler.sh: the function @NAME@, made by cpub init.\n"
	 "#\n"
	 "# Run once per request, like a CGI script: the method, path and query "
	 "are\n"
	 "# in REQUEST_METHOD, PATH_INFO and QUERY_STRING, the headers in HTTP_*\n"
	 "# variables, the body on standard input.  Print the response's "
	 "headers,\n"
	 "# an empty line, then its body; standard error goes to the logs.\n"
	 "body=$(cat)\n"
	 "echo \"answering $REQUEST_METHOD $PATH_INFO\" >&2\n"
	 "printf 'Content-Type: text/plain; charset=utf-8\\n\\n'\n"
	 "printf 'hello from @NAME@: %s %s, %s bytes: %s\\n' "
	 "\"$REQUEST_METHOD\" \\\n"
	 "\t\"$PATH_INFO\" \"${CONTENT_LENGTH:-0}\" \"$body\"\n"},
};

static const char readme_text[] =
	"# @NAME@\n"
	"\n"
	"A ContainerPub function (runtime @RUNTIME@), made by `cpub init`.\n"
	"\n"
	"Deploy it, from this folder:\n"
	"\n"
	"    cpub deploy\n"
	"\n"
	"Call it:\n"
	"\n"
	"    cpub invoke @NAME@ --data '{\"who\": \"ada\"}'\n"
	"\n"
	"`@HANDLER@` is its code.  `cpub.json` holds its settings, under the "
	"server's\n"
	"names: `memory_mb` (16 to 65536), `timeout_seconds` (1 to 3600) and\n"
	"`max_concurrency` (1 to 1000), each capped by your tier, and "
	"`visibility`:\n"
	"`private` (you alone), `key` (callers with a signed key) or `public`\n"
	"(anyone, at its endpoint).  `cpub deploy` ships every file of the "
	"folder\n"
	"but `.git` and `cpub.json` itself, and those matched by `exclude` "
	"(a list of\n"
	"names or patterns); it refuses files that look like secrets (`.env`, "
	"keys)\n"
	"unless `include` lists them.\n";

/* The files init writes, in the order it says so. */
struct init_file
{
	const char *name;
	mode_t		mode;
	char	   *text; /* owned */
};

/*
 * expand: TEXT with @NAME@, @RUNTIME@ and @HANDLER@ replaced.  Malloc'd,
 * NULL when out of memory.
 */
static char *
expand(const char *text, const char *name, const char *runtime,
	   const char *handler)
{
	const char *const keys[] = {"@NAME@", "@RUNTIME@", "@HANDLER@"};
	const char *const values[] = {name, runtime, handler};
	char			 *out;
	size_t			  len;
	FILE			 *f = open_memstream(&out, &len);

	if (f == NULL)
		return NULL;
	while (*text)
	{
		bool replaced = false;

		for (size_t i = 0; i < NELEM(keys); i++)
		{
			size_t klen = strlen(keys[i]);

			if (strncmp(text, keys[i], klen) == 0)
			{
				fputs(values[i], f);
				text += klen;
				replaced = true;
				break;
			}
		}
		if (!replaced)
			fputc(*text++, f);
	}
	if (fclose(f) != 0)
	{
		free(out);
		return NULL;
	}
	return out;
}

/* manifest_text: cpub.json of a new function.  Malloc'd or NULL. */
static char *
manifest_text(const char *name, const char *runtime)
{
	json_t *m = json_pack("{sssssisisiss}", "name", name, "runtime", runtime,
						  "memory_mb", INIT_MEMORY_MB, "timeout_seconds",
						  INIT_TIMEOUT_SECONDS, "max_concurrency",
						  INIT_CONCURRENCY, "visibility", INIT_VISIBILITY);
	char   *text = NULL;
	char   *nl = NULL;

	/* Insertion order, as a person reads it: name first. */
	if (m)
		text = json_dumps(m, JSON_INDENT(2));
	json_decref(m);
	if (text && asprintf(&nl, "%s\n", text) < 0)
		nl = NULL;
	free(text);
	return nl;
}

/*
 * folder_is_empty: 1 when the folder PATH holds nothing, 0 when it holds
 * something, -1 when it cannot be read (errno).
 */
static int
folder_is_empty(const char *path)
{
	DIR			  *d = opendir(path);
	struct dirent *de;
	int			   empty = 1;

	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
		{
			empty = 0;
			break;
		}
	closedir(d);
	return empty;
}

/*
 * write_new: the file NAME in the folder DIRFD (DIR, for messages) with
 * TEXT and MODE, made only if it does not exist (O_EXCL) and never through
 * a link (O_NOFOLLOW).  0, or -1 (reported; a file made is removed).
 */
static int
write_new(int dirfd, const char *dir, const char *name, const char *text,
		  mode_t mode)
{
	char  *path = NULL;
	size_t len = strlen(text);
	size_t done = 0;
	int	   fd = -1;
	bool   made = false;
	int	   rc = -1;

	if (asprintf(&path, "%s/%s", dir, name) < 0)
	{
		path = NULL;
		fprintf(stderr, "cpub: out of memory\n");
		goto done;
	}
	fd = openat(dirfd, name,
				O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0)
	{
		fprintf(stderr, "cpub: could not create %s: %s\n", path,
				strerror(errno));
		goto done;
	}
	made = true;
	while (done < len)
	{
		ssize_t n = write(fd, text + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
		{
			fprintf(stderr, "cpub: could not write %s: %s\n", path,
					strerror(errno));
			goto done;
		}
		done += (size_t) n;
	}
	rc = close(fd);
	fd = -1;
	if (rc != 0)
		fprintf(stderr, "cpub: could not write %s: %s\n", path,
				strerror(errno));

done:
	if (fd >= 0)
		close(fd);
	if (rc != 0 && made)
		unlinkat(dirfd, name, 0);
	free(path);
	return rc;
}

/*
 * prepare_folder: checks that the files can be written into DIR (made
 * when MAKE and missing: *MADE then set).  0, or an exit code (reported).
 */
static int
prepare_folder(const char *dir, bool make, const struct init_file *files,
			   size_t nfiles, bool *made)
{
	struct stat st;

	*made = false;
	if (make)
	{
		if (mkdir(dir, 0755) == 0)
		{
			*made = true;
			return 0;
		}
		if (errno != EEXIST)
		{
			fprintf(stderr, "cpub: could not create the folder %s: %s\n", dir,
					strerror(errno));
			return 1;
		}
		/* lstat: a link to an empty folder is not written through. */
		if (lstat(dir, &st) == 0 && S_ISLNK(st.st_mode))
		{
			fprintf(stderr,
					"cpub: %s is a symbolic link: cpub init never writes "
					"through one\n"
					"hint: choose another name, or run cpub init in the "
					"folder it points to\n",
					dir);
			return 1;
		}
		if (lstat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
		{
			fprintf(stderr, "cpub: %s exists and is not a folder\n", dir);
			return 1;
		}
		switch (folder_is_empty(dir))
		{
			case 1:
				return 0;
			case 0:
				fprintf(stderr,
						"cpub: the folder %s exists and is not empty\n"
						"hint: choose another name, or run cpub init in it "
						"to make it the function\n",
						dir);
				return 1;
			default:
				fprintf(stderr, "cpub: could not read the folder %s: %s\n",
						dir, strerror(errno));
				return 1;
		}
	}
	for (size_t i = 0; i < nfiles; i++)
	{
		if (lstat(files[i].name, &st) == 0 || errno != ENOENT)
		{
			if (strcmp(files[i].name, MANIFEST_FILE) == 0)
				fprintf(stderr,
						"cpub: %s exists already: this folder is a "
						"function already\n",
						files[i].name);
			else
				fprintf(stderr,
						"cpub: %s exists already (cpub init never "
						"overwrites a file)\n",
						files[i].name);
			return 1;
		}
	}
	return 0;
}

/* print_result: what was made, for people or as JSON. */
static void
print_result(struct cli *cli, const char *dir, bool subfolder,
			 const char *name, const char *runtime,
			 const struct init_file *files, size_t nfiles)
{
	char *abs = realpath(dir, NULL);

	if (cli->json)
	{
		json_t *list = json_array();
		json_t *out;

		for (size_t i = 0; list && i < nfiles; i++)
			json_array_append_new(list, json_string(files[i].name));
		out = json_pack("{ssssssso}", "path", abs ? abs : dir, "name", name,
						"runtime", runtime, "files", list);
		if (out)
			cli_print_json(out);
		else
			fprintf(stderr, "cpub: out of memory\n");
		json_decref(out);
	}
	else if (!cli->quiet)
	{
		printf("wrote the function folder of %s (runtime %s) in %s:\n", name,
			   runtime, subfolder ? dir : "this folder");
		for (size_t i = 0; i < nfiles; i++)
			printf("  %s%s%s\n", subfolder ? dir : "", subfolder ? "/" : "",
				   files[i].name);
		if (subfolder)
			printf("next: cd %s && cpub deploy\n", dir);
		else
			printf("next: cpub deploy\n");
	}
	free(abs);
}

int
cmd_init(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
		{"runtime", required_argument, NULL, 'r'}, {NULL, 0, NULL, 0}};
	const struct init_template *tpl = NULL;
	const char				   *runtime = "c";
	const char				   *name;
	const char				   *dir;
	const char				   *why;
	char						cwd[PATH_MAX];
	struct init_file			files[3];
	size_t						nfiles = 0;
	size_t						written = 0;
	bool						subfolder;
	bool						made = false;
	int							dirfd = -1;
	int							c;
	int							rc;

	while ((c = cli_getopt(cli, argc, argv, "r:", longopts)) != -1)
	{
		if (c != 'r')
			return cli_opt_exit(c);
		runtime = optarg;
	}
	rc = cli_operands(cli, argc, argv, 0, 1);
	if (rc != 0)
		return rc;
	for (size_t i = 0; i < NELEM(templates); i++)
		if (strcmp(templates[i].runtime, runtime) == 0)
			tpl = &templates[i];
	if (tpl == NULL)
		return cli_usage_error(
			cli, "unknown runtime \"%s\": c, python or shell", runtime);

	subfolder = optind < argc;
	if (subfolder)
	{
		name = argv[optind];
		dir = name;
		why = manifest_name_error(name);
		if (why)
			return cli_usage_error(cli, "invalid function name \"%s\": %s",
								   name, why);
	}
	else
	{
		if (getcwd(cwd, sizeof(cwd)) == NULL)
		{
			fprintf(stderr, "cpub: could not get the current folder: %s\n",
					strerror(errno));
			return 1;
		}
		name = strrchr(cwd, '/') ? strrchr(cwd, '/') + 1 : cwd;
		dir = ".";
		why = manifest_name_error(name);
		if (why)
			return cli_usage_error(
				cli,
				"this folder's name \"%s\" is not a valid function name "
				"(give one: cpub init NAME): %s",
				name, why);
	}

	memset(files, 0, sizeof(files));
	files[0] = (struct init_file){MANIFEST_FILE, 0644,
								  manifest_text(name, tpl->runtime)};
	files[1] =
		(struct init_file){tpl->file, tpl->mode,
						   expand(tpl->text, name, tpl->runtime, tpl->file)};
	files[2] = (struct init_file){
		"README.md", 0644, expand(readme_text, name, tpl->runtime, tpl->file)};
	nfiles = 3;
	rc = 1;
	for (size_t i = 0; i < nfiles; i++)
		if (files[i].text == NULL)
		{
			fprintf(stderr, "cpub: out of memory\n");
			goto done;
		}
	rc = prepare_folder(dir, subfolder, files, nfiles, &made);
	if (rc != 0)
		goto done;
	rc = 1;
	/* The folder opened once, not through a link: what was checked is
	 * what is written into, even if the name is swapped meanwhile. */
	dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dirfd < 0)
	{
		fprintf(stderr, "cpub: could not open the folder %s: %s\n", dir,
				strerror(errno));
		goto done;
	}
	for (; written < nfiles; written++)
		if (write_new(dirfd, dir, files[written].name, files[written].text,
					  files[written].mode) != 0)
			goto done;
	print_result(cli, dir, subfolder, name, tpl->runtime, files, nfiles);
	rc = 0;

done:
	if (rc != 0 && written > 0)
	{
		/* Take back what was written: nothing half made is left. */
		for (size_t i = 0; i < written; i++)
			unlinkat(dirfd, files[i].name, 0);
	}
	if (dirfd >= 0)
		close(dirfd);
	if (rc != 0 && made)
		rmdir(dir);
	for (size_t i = 0; i < nfiles; i++)
		free(files[i].text);
	return rc;
}
