"""A command's options, declared once and read without argparse when the
command line is plain.

Importing argparse (with gettext and locale, and shutil on Python 3.8) and
building a parser cost more than the rest of a `status` of a small list.
A command declares its options on an Options as it would on args.Parser;
`plain(argv)` reads argv itself when every word is a positional, an option
that takes no value, or an option and its one value, each option spelled in
full and its value not starting with "-". Anything else (--help,
--version, an abbreviation, --opt=VALUE, an option with a type, a mistake)
gives None, and the command parses with `parser()`, the args.Parser built
from the same declarations: help, errors and completion stay argparse's.
"""

import sys
from types import SimpleNamespace


class Options:
    def __init__(self, prog, description, epilog=None):
        self.prog = prog
        self.description = description
        self.epilog = epilog
        self.declared = []

    def add_argument(self, *names, **options):
        self.declared.append((names, options))

    def parser(self):
        from cooperate.cli.args import Parser

        p = Parser(self.prog, self.description, self.epilog)
        for names, options in self.declared:
            p.add_argument(*names, **options)
        return p

    def plain(self, argv):
        """The arguments as targets.parse_mixed would give them, or None
        when argv is not plain (or `cooperate completion` inspects the
        parsers)."""
        args = sys.modules.get("cooperate.cli.args")
        if args is not None and args.Parser.inspecting:
            return None
        values, flags, valued, positionals = {}, {}, {}, []
        for names, options in self.declared:
            keys = set(options) - {"help", "metavar"}
            action = options.get("action")
            if not names[0].startswith("-"):
                if not keys <= {"nargs", "default"} or options.get("nargs") not in (None, "?"):
                    return None
                positionals.append((names[0], options.get("nargs"), options.get("default")))
                continue
            dest = options.get("dest") or next(
                (n for n in names if n.startswith("--")), names[0]).lstrip("-").replace("-", "_")
            keys.discard("dest")
            if action == "store_true" and keys == {"action"}:
                values[dest] = False
                flags.update(dict.fromkeys(names, dest))
            elif action is None and keys <= {"default"}:
                values[dest] = options.get("default")
                valued.update(dict.fromkeys(names, dest))
            elif "default" in options or "required" in options or action is not None:
                return None
            else:
                # read by argparse only (a type, a const...): None when absent
                values[dest] = None
        words = []
        argv = iter(argv)
        for word in argv:
            if word in flags:
                values[flags[word]] = True
            elif word in valued:
                value = next(argv, None)
                if value is None or value.startswith("-"):
                    return None
                values[valued[word]] = value
            elif word.startswith("-"):
                return None
            else:
                words.append(word)
        required = sum(nargs is None for _, nargs, _ in positionals)
        if not required <= len(words) <= len(positionals) or any(
                nargs is None for _, nargs, _ in positionals[required:]):
            return None
        for i, (dest, _, default) in enumerate(positionals):
            values[dest] = words[i] if i < len(words) else default
        return SimpleNamespace(**values)
