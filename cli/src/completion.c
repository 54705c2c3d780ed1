/*
 * cli/src/completion.c
 *	  cpub completion bash: a bash completion script generated from the
 *	  command table (main.c), so that a command added to the table
 *	  completes without more work.  It completes the commands and the
 *	  next words of longer ones ("org add", "admin user disable"), each
 *	  command's options
 *	  (found in its usage line and in the lines of its help that start
 *	  with "  -") and the global ones, the values of options that list
 *	  them ("--role owner|admin|member"), and operands by their name in
 *	  the usage line: NAME a function (from `cpub list --json`; an
 *	  optional "[NAME]" is one to be made, as init's), ORG an organization
 *	  (`cpub org list --json`; for the admin commands `cpub admin orgs
 *	  --json`), TIER a tier (`cpub admin tiers --json`), COMMAND a
 *	  command, ROLE a role, FILE, DIR and PATH a file, a lower-case word
 *	  itself ("N|none": none).  Names are asked of the server the line
 *	  names (its --server, or the usual one) with the credentials already
 *	  saved; when that fails, nothing is offered.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "commands_inv.h"

#define MAX_ITEMS 48
#define ITEM_LEN  64

const char COMPLETION_HELP[] =
	"Prints a bash completion script for cpub on standard output.  For the "
	"shell at hand:\n"
	"  source <(cpub completion bash)\n"
	"make install puts it in /usr/share/bash-completion/completions/cpub, "
	"which bash-completion loads by itself.";

/* An option of a command, with the name of its value ("" for a flag). */
struct comp_option
{
	char name[ITEM_LEN];
	char value[ITEM_LEN];
};

/* What completes after one command: its options and its operands. */
struct comp_spec
{
	struct comp_option opts[MAX_ITEMS];
	int				   nopts;
	char			   operands[MAX_ITEMS][ITEM_LEN];
	bool			   optional[MAX_ITEMS]; /* in brackets: "[NAME]" */
	int				   noperands;
};

/* What an operand or an option's value of a given name completes to. */
static const struct
{
	const char *word;
	const char *completes;
	bool		operand_only;
} WORDS[] = {
	{"NAME", "@function", true},
	{"ORG", "@org", false},
	{"ORGANIZATION", "@org", false},
	{"COMMAND", "@command", true},
	{"TIER", "@tier", false},
	{"ROLE", "owner admin member", false},
	{"METHOD", "GET HEAD POST PUT PATCH DELETE OPTIONS", false},
	{"FILE", "@file", false},
	{"DIR", "@file", false},
	{"PATH", "@file", true},
};

/*
 * completion_of: what the operand (or, when !OPERAND, the option value)
 * named WORD of command CMD completes to: a list of words, or
 * "@function", "@org" ("@admin_org" for an admin command), "@tier",
 * "@command", "@file"; "" for nothing.  Returns a string valid while WORD
 * and BUF (ITEM_LEN bytes) are.
 */
static const char *
completion_of(const char *cmd, const char *word, bool operand, char *buf)
{
	bool lower = word[0] != '\0';

	for (size_t i = 0; i < sizeof(WORDS) / sizeof(WORDS[0]); i++)
		if (strcmp(word, WORDS[i].word) == 0 &&
			(operand || !WORDS[i].operand_only))
			return strcmp(WORDS[i].completes, "@org") == 0 &&
						   strncmp(cmd, "admin ", 6) == 0
					   ? "@admin_org"
					   : WORDS[i].completes;
	if (strchr(word, '|'))
	{
		size_t n = 0;

		/* The words as they are; names in capitals ("N|none") say what
		 * to type, not what to complete. */
		buf[0] = '\0';
		for (const char *p = word; *p;)
		{
			size_t len = strcspn(p, "|");
			bool   upper = isupper((unsigned char) p[0]);

			if (!upper && len > 0 && n + len + 2 < ITEM_LEN)
				n += (size_t) snprintf(buf + n, ITEM_LEN - n, "%s%.*s",
									   n ? " " : "", (int) len, p);
			p += len + (p[len] == '|');
		}
		return buf;
	}
	for (const char *p = word; *p; p++)
		lower = lower && (islower((unsigned char) *p) || *p == '-');
	return operand && lower ? word : "";
}

/* completion_add_option: NAME (with VALUE, maybe "") into SPEC, once. */
static void
completion_add_option(struct comp_spec *spec, const char *name,
					  const char *value)
{
	struct comp_option *o = NULL;

	for (int i = 0; i < spec->nopts; i++)
		if (strcmp(spec->opts[i].name, name) == 0)
			o = &spec->opts[i];
	if (!o)
	{
		if (spec->nopts == MAX_ITEMS)
			return;
		o = &spec->opts[spec->nopts++];
		snprintf(o->name, sizeof(o->name), "%s", name);
		o->value[0] = '\0';
	}
	/* A list of values ("a|b") tells more than a name ("ROLE"). */
	if (value[0] && (!o->value[0] || strchr(value, '|')))
		snprintf(o->value, sizeof(o->value), "%s", value);
}

/*
 * completion_scan: the options and (unless HELP_LINE) the operands of
 * TEXT[0 .. LEN), a usage line or the head of a help line ("-d, --data
 * TEXT"), into SPEC.  An option takes the word after it as its value
 * unless a "]" closes it; options joined by "," share their value.
 */
static void
completion_scan(const char *text, size_t len, bool help_line,
				struct comp_spec *spec)
{
	char		pending[4][ITEM_LEN]; /* options waiting for a value */
	int			npending = 0;
	bool		joined = false; /* the last word was an option and a "," */
	const char *p = text;
	const char *end = text + len;

	while (p < end)
	{
		const char *t;
		size_t		tlen;
		char		clean[ITEM_LEN];
		size_t		a = 0;
		size_t		b;

		while (p < end && *p == ' ')
			p++;
		t = p;
		while (p < end && *p != ' ')
			p++;
		tlen = (size_t) (p - t);
		if (tlen == 0)
			break;
		/* A quoted value ('NAME: VALUE') runs to its closing quote. */
		if (t[0] == '\'')
		{
			const char *close = memchr(t + 1, '\'', (size_t) (end - t - 1));

			p = close ? close + 1 : end;
			while (p < end && *p != ' ')
				p++;
			for (int i = 0; i < npending; i++)
				completion_add_option(spec, pending[i], "VALUE");
			npending = 0;
			joined = false;
			continue;
		}
		b = tlen;
		while (a < b && strchr("[(", t[a]))
			a++;
		while (b > a && strchr("]).,", t[b - 1]))
			b--;
		if (b - a == 0 || b - a >= ITEM_LEN || (b - a == 1 && t[a] == '|'))
		{
			npending = 0;
			joined = false;
			continue;
		}
		memcpy(clean, t + a, b - a);
		clean[b - a] = '\0';
		if (clean[0] == '-' && (isalnum((unsigned char) clean[1]) ||
								(clean[1] == '-' && clean[2] != '\0')))
		{
			completion_add_option(spec, clean, "");
			if (!joined)
				npending = 0;
			joined = t[tlen - 1] == ',';
			if (t[tlen - 1] == ']')
				npending = 0;
			else if (npending < 4)
				snprintf(pending[npending++], ITEM_LEN, "%s", clean);
			continue;
		}
		joined = false;
		if (npending > 0 && t[0] != '[')
		{
			for (int i = 0; i < npending; i++)
				completion_add_option(spec, pending[i], clean);
			npending = 0;
			continue;
		}
		npending = 0;
		if (!help_line && strcmp(clean, "OPTIONS") != 0 &&
			spec->noperands < MAX_ITEMS)
		{
			spec->optional[spec->noperands] = t[0] == '[';
			snprintf(spec->operands[spec->noperands++], ITEM_LEN, "%s", clean);
		}
	}
}

/* completion_spec: the options and operands of command C. */
static void
completion_spec(const struct command *c, struct comp_spec *spec)
{
	const char *h = c->help;

	memset(spec, 0, sizeof(*spec));
	completion_scan(c->usage, strlen(c->usage), false, spec);
	while (h && *h)
	{
		const char *eol = strchr(h, '\n');
		size_t		len = eol ? (size_t) (eol - h) : strlen(h);

		if (len > 3 && strncmp(h, "  -", 3) == 0)
		{
			const char *gap = strstr(h + 2, "  ");
			size_t		head = gap && gap < h + len ? (size_t) (gap - h) : len;

			completion_scan(h + 2, head - 2, true, spec);
		}
		h += len + (eol ? 1 : 0);
	}
}

/* The parts of the script that do not depend on the table. */
static const char SCRIPT_HEAD[] =
	"# bash completion for cpub, generated by `cpub completion bash` (cpub "
	"%s)\n"
	"# from its command table.  Load it with: source <(cpub completion "
	"bash)\n"
	"\n"
	"_cpub_global='--server --json --quiet -q --help -h'\n";

static const char SCRIPT_BODY[] =
	"\n"
	"# _cpub_names ARGS...: the \"name\"s of `cpub ARGS --json`, asked of "
	"the\n"
	"# server of the line being completed (the caller's $_cpub_server).\n"
	"_cpub_names()\n"
	"{\n"
	"\t\"${COMP_WORDS[0]}\" \"${_cpub_server[@]}\" \"$@\" --json "
	"2>/dev/null </dev/null |\n"
	"\t\tsed -n 's/^ \\{2,6\\}\"name\": \"\\([^\"]*\\)\".*/\\1/p'\n"
	"}\n"
	"\n"
	"# _cpub_offer WHAT: COMPREPLY from WHAT (_cpub_operand's answer) and "
	"$cur.\n"
	"_cpub_offer()\n"
	"{\n"
	"\tcase $1 in\n"
	"\t@function) mapfile -t COMPREPLY < <(compgen -W \"$(_cpub_names "
	"list)\" -- \"$cur\") ;;\n"
	"\t@org) mapfile -t COMPREPLY < <(compgen -W \"$(_cpub_names org list)\" "
	"-- \"$cur\") ;;\n"
	"\t@admin_org) mapfile -t COMPREPLY < <(compgen -W \"$(_cpub_names admin "
	"orgs)\" -- \"$cur\") ;;\n"
	"\t@tier) mapfile -t COMPREPLY < <(compgen -W \"$(_cpub_names admin "
	"tiers)\" -- \"$cur\") ;;\n"
	"\t@command) mapfile -t COMPREPLY < <(compgen -W \"$_cpub_words\" -- "
	"\"$cur\") ;;\n"
	"\t@sub) mapfile -t COMPREPLY < <(compgen -W \"$(_cpub_sub "
	"\"${ops[*]}\")\" -- \"$cur\") ;;\n"
	"\t@file)\n"
	"\t\tcompopt -o filenames 2>/dev/null\n"
	"\t\tmapfile -t COMPREPLY < <(compgen -f -- \"$cur\")\n"
	"\t\t;;\n"
	"\t'') ;;\n"
	"\t*) mapfile -t COMPREPLY < <(compgen -W \"$1\" -- \"$cur\") ;;\n"
	"\tesac\n"
	"}\n"
	"\n"
	"_cpub()\n"
	"{\n"
	"\tlocal cur=${COMP_WORDS[COMP_CWORD]} prev='' w i cmd='' ops=()\n"
	"\tlocal _cpub_server=() _cpub_o='' _cpub_v=''\n"
	"\tCOMPREPLY=()\n"
	"\t((COMP_CWORD > 1)) && prev=${COMP_WORDS[COMP_CWORD - 1]}\n"
	"\t# The words before the cursor: the command's name, then its "
	"operands;\n"
	"\t# options and their values are skipped.\n"
	"\tfor ((i = 1; i < COMP_CWORD; i++)); do\n"
	"\t\tw=${COMP_WORDS[i]}\n"
	"\t\tif [[ $w == --server ]]; then\n"
	"\t\t\t_cpub_server=(--server \"${COMP_WORDS[i + 1]}\")\n"
	"\t\t\t((i++))\n"
	"\t\telif [[ $w == --server=* ]]; then\n"
	"\t\t\t_cpub_server=(\"$w\")\n"
	"\t\telif [[ $w == -* ]]; then\n"
	"\t\t\t_cpub_spec \"$cmd\"\n"
	"\t\t\t[[ \" $_cpub_v \" == *\" $w \"* ]] && ((i++))\n"
	"\t\telif [[ -z $cmd ]]; then\n"
	"\t\t\tcmd=$w\n"
	"\t\telif [[ ${#ops[@]} -eq 0 && \" $(_cpub_sub \"$cmd\") \" == *\" $w \"* "
	"]]; then\n"
	"\t\t\tcmd=\"$cmd $w\"\n"
	"\t\telse\n"
	"\t\t\tops+=(\"$w\")\n"
	"\t\tfi\n"
	"\tdone\n"
	"\t_cpub_spec \"$cmd\"\n"
	"\tif [[ $prev == --server ]]; then\n"
	"\t\treturn 0\n"
	"\telif [[ -n $prev && \" $_cpub_v \" == *\" $prev \"* ]]; then\n"
	"\t\t_cpub_offer \"$(_cpub_optval \"$cmd\" \"$prev\")\"\n"
	"\telif [[ $cur == -* ]]; then\n"
	"\t\tmapfile -t COMPREPLY < <(compgen -W \"$_cpub_o $_cpub_global\" -- "
	"\"$cur\")\n"
	"\telif [[ -z $cmd ]]; then\n"
	"\t\t_cpub_offer @command\n"
	"\telif [[ ${#ops[@]} -eq 0 && -n $(_cpub_sub \"$cmd\") ]]; then\n"
	"\t\tmapfile -t COMPREPLY < <(compgen -W \"$(_cpub_sub \"$cmd\")\" -- "
	"\"$cur\")\n"
	"\telse\n"
	"\t\t_cpub_offer \"$(_cpub_operand \"$cmd\" $((${#ops[@]} + 1)))\"\n"
	"\tfi\n"
	"\treturn 0\n"
	"}\n"
	"complete -F _cpub cpub\n";

/* completion_first_word: the length of NAME's first word. */
static size_t
completion_first_word(const char *name)
{
	return strcspn(name, " ");
}

/* completion_under: whether NAME continues the first LEN bytes of GROUP,
 * a group's name, with another word ("admin user disable", "admin user"). */
static bool
completion_under(const char *name, const char *group, size_t len)
{
	return strncmp(name, group, len) == 0 && name[len] == ' ';
}

/* completion_bash: the whole script on standard output. */
static void
completion_bash(void)
{
	const struct command *table = cli_commands();
	struct comp_spec	  spec;
	char				  buf[ITEM_LEN];

	if (!table)
		return;
	printf(SCRIPT_HEAD, CPUB_VERSION);

	/* The first words, each once. */
	printf("_cpub_words='");
	for (const struct command *c = table; c->name; c++)
	{
		size_t n = completion_first_word(c->name);
		bool   seen = false;

		for (const struct command *d = table; d < c && !seen; d++)
			seen = completion_first_word(d->name) == n &&
				   strncmp(d->name, c->name, n) == 0;
		if (!seen)
			printf("%s%.*s", c == table ? "" : " ", (int) n, c->name);
	}
	printf("'\n\n");

	/* The next words after each group, a group being the first words of
	 * longer names ("org", "admin", "admin user"). */
	printf("# _cpub_sub GROUP: the words that may follow GROUP (\"org\", "
		   "\"admin user\").\n"
		   "_cpub_sub()\n{\n\tcase $1 in\n");
	for (const struct command *c = table; c->name; c++)
		for (size_t n = completion_first_word(c->name); c->name[n] == ' ';
			 n += 1 + completion_first_word(c->name + n + 1))
		{
			bool seen = false;
			bool first = true;

			/* Each group once, where it first appears. */
			for (const struct command *d = table; d < c && !seen; d++)
				seen = completion_under(d->name, c->name, n);
			if (seen)
				continue;
			printf("\t'%.*s') echo '", (int) n, c->name);
			for (const struct command *d = c; d->name; d++)
			{
				size_t w;
				bool   dup = false;

				if (!completion_under(d->name, c->name, n))
					continue;
				w = completion_first_word(d->name + n + 1);
				for (const struct command *e = c; e < d && !dup; e++)
					dup = completion_under(e->name, c->name, n) &&
						  completion_first_word(e->name + n + 1) == w &&
						  strncmp(e->name + n + 1, d->name + n + 1, w) == 0;
				if (dup)
					continue;
				printf("%s%.*s", first ? "" : " ", (int) w, d->name + n + 1);
				first = false;
			}
			printf("' ;;\n");
		}
	printf("\tesac\n}\n\n");

	/* Each command's options, and those that take a value. */
	printf("# _cpub_spec COMMAND: its options in _cpub_o, those that take a "
		   "value\n# in _cpub_v.\n_cpub_spec()\n{\n\tcase $1 in\n");
	for (const struct command *c = table; c->name; c++)
	{
		if (!c->run)
			continue; /* a group's heading */
		completion_spec(c, &spec);
		if (spec.nopts == 0)
			continue;
		printf("\t'%s')\n\t\t_cpub_o='", c->name);
		for (int i = 0; i < spec.nopts; i++)
			printf("%s%s", i ? " " : "", spec.opts[i].name);
		printf("'\n\t\t_cpub_v='");
		for (int i = 0, k = 0; i < spec.nopts; i++)
			if (spec.opts[i].value[0])
				printf("%s%s", k++ ? " " : "", spec.opts[i].name);
		printf("'\n\t\t;;\n");
	}
	printf("\t*) _cpub_o='' _cpub_v='' ;;\n\tesac\n}\n\n");

	/* The values of options. */
	printf("# _cpub_optval COMMAND OPTION: what the option's value "
		   "completes to.\n_cpub_optval()\n{\n\tcase \"$1 $2\" in\n");
	for (const struct command *c = table; c->name; c++)
	{
		if (!c->run)
			continue;
		completion_spec(c, &spec);
		for (int i = 0; i < spec.nopts; i++)
		{
			const char *what =
				spec.opts[i].value[0]
					? completion_of(c->name, spec.opts[i].value, false, buf)
					: "";

			if (what[0])
				printf("\t'%s %s') echo '%s' ;;\n", c->name, spec.opts[i].name,
					   what);
		}
	}
	printf("\tesac\n}\n\n");

	/* The operands, by position. */
	printf("# _cpub_operand COMMAND N: what operand N (from 1) completes "
		   "to.\n_cpub_operand()\n{\n\tcase \"$1 $2\" in\n");
	for (const struct command *c = table; c->name; c++)
	{
		if (!c->run)
			continue;
		completion_spec(c, &spec);
		for (int i = 0; i < spec.noperands; i++)
		{
			const char *what =
				completion_of(c->name, spec.operands[i], true, buf);

			/* "[NAME]" names a function to be made (init [NAME]). */
			if (spec.optional[i] && strcmp(what, "@function") == 0)
				what = "";

			if (what[0])
				printf("\t'%s %d') echo '%s' ;;\n", c->name, i + 1, what);
			/* help's COMMAND may be three words ("help admin user
			 * disable"). */
			if (strcmp(what, "@command") == 0)
				printf("\t'%s %d'|'%s %d') echo '@sub' ;;\n", c->name, i + 2,
					   c->name, i + 3);
		}
	}
	printf("\tesac\n}\n");
	fputs(SCRIPT_BODY, stdout);
}

int
cmd_completion(struct cli *cli, int argc, char **argv)
{
	int rc = cli_args(cli, argc, argv, 1, 1);

	if (rc != 0)
		return rc;
	if (strcmp(argv[optind], "bash") != 0)
		return cli_usage_error(cli, "only bash is known, not %s",
							   argv[optind]);
	completion_bash();
	return 0;
}
