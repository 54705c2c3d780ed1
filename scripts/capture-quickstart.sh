#!/usr/bin/env bash
# scripts/capture-quickstart.sh: plays the README's quick start (register,
# login, init, deploy, invoke) in a tmux session against a running platform
# (make run) and prints what the terminal showed, as tmux capture-pane saw
# it.  The README's session comes from it.
#
#   scripts/capture-quickstart.sh [EMAIL]
#
# Uses the cpub on PATH (make install puts it in /usr/local/bin), else
# cli/cpub; a throwaway XDG_CONFIG_HOME and working folder; the password is
# typed at the no-echo prompt.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd -P)
EMAIL=${1:-ada-$(date +%s)@example.com}
PASSWORD='correct horse battery'
WORK=$(mktemp -d /tmp/cpub-quickstart.XXXXXX)
SESSION=cpub-quickstart-$$
CPUB_DIR=$(dirname "$(command -v cpub || echo "$ROOT/cli/cpub")")
trap 'tmux kill-session -t "$SESSION" 2>/dev/null; rm -rf "$WORK"' EXIT

tmux new-session -d -s "$SESSION" -x 110 -y 60 \
	"env -i HOME=$WORK XDG_CONFIG_HOME=$WORK/config PATH=$CPUB_DIR:/usr/bin:/bin TERM=xterm-256color LANG=C.UTF-8 PS1='\$ ' bash --norc --noprofile"
type_line()
{
	tmux send-keys -t "$SESSION" -l "$1"
	tmux send-keys -t "$SESSION" Enter
}
# wait_for TEXT: until the pane shows TEXT (at most 120 s).
wait_for()
{
	local i
	for i in $(seq 1 1200); do
		tmux capture-pane -p -t "$SESSION" | grep -qF -- "$1" && return 0
		sleep 0.1
	done
	echo "capture-quickstart: never saw: $1" >&2
	tmux capture-pane -p -t "$SESSION" >&2
	return 1
}

wait_for '$'
type_line "cd $WORK"
type_line "cpub register $EMAIL"
wait_for 'Password:'
type_line "$PASSWORD"
wait_for 'Repeat the password:'
type_line "$PASSWORD"
wait_for 'log in with'
type_line "cpub login $EMAIL"
wait_for 'Password:'
sleep 0.2
type_line "$PASSWORD"
wait_for 'logged in to'
type_line 'cpub init hello && cd hello'
wait_for 'next:'
type_line 'cpub deploy'
wait_for 'call it:'
type_line "cpub invoke hello --data '{\"name\": \"Ada\"}'"
sleep 1
wait_for 'hello'
sleep 0.5
tmux capture-pane -p -J -t "$SESSION" -S - | sed -e "s|$WORK|~|g" -e 's/[[:space:]]*$//' |
	awk 'NF || seen { print; seen = 1 }' | sed -e :a -e '/^\n*$/{$d;N;ba' -e '}'
