"""cooperate completion bash|zsh|man: completion scripts and a man page,
generated from the commands' own parsers, so that they never miss an
option the commands have."""

import sys

from cooperate.cli.args import Inspected, Parser

DESCRIPTION = """\
Print a completion script for bash or zsh, or the man page (roff), made
from the commands' own options:

  source <(cooperate completion bash)      # in ~/.bashrc
  source <(cooperate completion zsh)       # in ~/.zshrc, after compinit
  cooperate completion man > cooperate.1   # man -l cooperate.1 (make man)

Commands complete after `cooperate`, options after `-` for every command
and program name (cooperate-run, liftoff-status, ...), and files
elsewhere."""


def main(argv, prog):
    p = Parser(prog, DESCRIPTION)
    p.add_argument("what", choices=("bash", "zsh", "man"), help="bash, zsh or man")
    args = p.parse_args(argv)
    parsers = inspect()
    text = {"bash": bash, "zsh": zsh, "man": man}[args.what](parsers)
    sys.stdout.write(text)
    return 0


def inspect():
    """{command: its parser}, each built by the command itself and taken
    at its first parse (nothing runs)."""
    import importlib

    from cooperate.cli import COMMANDS, PROGRAM

    parsers = {}
    Parser.inspecting = True
    try:
        for command, (module, _) in COMMANDS.items():
            try:
                importlib.import_module(module).main([], "%s %s" % (PROGRAM, command))
            except Inspected as found:
                parsers[command] = found.parser
    finally:
        Parser.inspecting = False
    return parsers


def options(parser):
    """Every option string of a parser, --help included, sorted."""
    return sorted(o for action in parser._actions for o in action.option_strings)


def choices(parser):
    """{option: its choices} for options that take one of a few words."""
    return {o: [str(c) for c in action.choices] for action in parser._actions
            for o in action.option_strings if action.choices}


def _links():
    from cooperate.cli import LINKS

    return sorted(LINKS.items())


def bash(parsers):
    from cooperate.cli import PROGRAM

    cases = "".join("        %s) opts=%s ;;\n" % (command, _quote(" ".join(options(p))))
                    for command, p in parsers.items())
    links = "".join("        %s) command=%s ;;\n" % (name, command) for name, command in _links())
    return """\
# bash completion for cooperate, made by `cooperate completion bash`
_cooperate() {
    local cur=${COMP_WORDS[COMP_CWORD]} prog=${COMP_WORDS[0]##*/} command opts
    case $prog in
%s        *)
            if [ "$COMP_CWORD" -eq 1 ]; then
                COMPREPLY=($(compgen -W %s -- "$cur"))
                return
            fi
            command=${COMP_WORDS[1]} ;;
    esac
    case $command in
%s    esac
    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$opts" -- "$cur"))
    else
        COMPREPLY=($(compgen -f -- "$cur"))
    fi
}
complete -o filenames -F _cooperate %s %s
""" % (links, _quote(" ".join(parsers)), cases, PROGRAM,
       " ".join(name for name, _ in _links()))


def zsh(parsers):
    from cooperate.cli import PROGRAM

    cases = "".join("        %s) opts=(%s) ;;\n" % (command, " ".join(options(p)))
                    for command, p in parsers.items())
    links = "".join("        %s) command=%s ;;\n" % (name, command) for name, command in _links())
    return """\
#compdef %s %s
# zsh completion for cooperate, made by `cooperate completion zsh`
_cooperate() {
    local prog=${words[1]:t} command
    local -a opts
    case $prog in
%s        *)
            if (( CURRENT == 2 )); then
                compadd -- %s
                return
            fi
            command=${words[2]} ;;
    esac
    case $command in
%s    esac
    if [[ $PREFIX == -* ]]; then
        compadd -- $opts
    else
        _files
    fi
}
compdef _cooperate %s %s
""" % (PROGRAM, " ".join(name for name, _ in _links()), links, " ".join(parsers), cases,
       PROGRAM, " ".join(name for name, _ in _links()))


def _quote(text):
    return "'%s'" % text.replace("'", "'\\''")


def man(parsers):
    """The man page, cooperate(1): every command, its usage, description
    and options."""
    from cooperate import __version__
    from cooperate.cli import COMMANDS, LINKS, PROGRAM

    lines = [
        '.TH COOPERATE 1 "" "cooperate %s" "User Commands"' % __version__,
        ".SH NAME",
        "cooperate \\- run a list of commands on every machine that shares its folder",
        ".SH SYNOPSIS",
        ".B cooperate",
        ".I COMMAND",
        "[\\fIARGS\\fR...]",
        ".br",
        ".BI cooperate- COMMAND",
        "[\\fIARGS\\fR...]",
        ".SH DESCRIPTION",
        "A JSON list of commands on a filesystem that machines share is a queue;",
        "workers on every machine take its entries, run them and record how they",
        "ended. Each command is also installed as a program of its own: " + _roff(", ".join(
            sorted(LINKS))) + ".",
        ".SH COMMANDS",
    ]
    for command, parser in parsers.items():
        lines += [".SS %s" % _roff("%s %s" % (PROGRAM, command)), _roff(COMMANDS[command][1]),
                  ".PP", ".nf", _roff(parser.format_usage().strip()), ".fi"]
        if parser.description:
            lines += [".PP", ".nf", _roff(parser.description.strip()), ".fi"]
        for action in parser._actions:
            if not action.option_strings and action.help:
                lines += [".TP", "\\fI%s\\fR" % _roff(action.metavar or action.dest),
                          _roff(_help(parser, action))]
        for action in parser._actions:
            if action.option_strings and action.help:
                takes = "" if action.nargs == 0 else " \\fI%s\\fR" % _roff(
                    str(action.metavar or action.dest.upper()))
                lines += [".TP", ", ".join("\\fB%s\\fR" % _roff(o) for o in action.option_strings)
                          + takes, _roff(_help(parser, action))]
        if parser.epilog:
            lines += [".PP", ".nf", _roff(parser.epilog.strip()), ".fi"]
    lines += [".SH EXIT STATUS",
              "0 when all went well, 1 when a run failed (or, for status \\-\\-wait,",
              "an entry is not done), 2 for bad input or usage, 128+N when stopped",
              "by signal N."]
    return "\n".join(lines) + "\n"


def _help(parser, action):
    text = action.help
    if "%" in text:
        params = dict(vars(action), prog=parser.prog)
        try:
            text = text % params
        except (KeyError, TypeError, ValueError):
            pass
    return text


def _roff(text):
    """Text as roff prints it: backslashes doubled, dashes escaped, no line
    that starts with a control character."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    return "\n".join("\\&" + line if line.startswith((".", "'")) else line
                     for line in text.split("\n"))
