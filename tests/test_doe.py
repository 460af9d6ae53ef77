"""cooperate-doe: lists from a template and values, by arguments or prompts.

The prompts are tested as a user meets them: the real command on a
pseudo-terminal of its own, answers typed once the question is on the
screen, Ctrl-C and Ctrl-D as keys that the terminal turns into SIGINT and
end of input."""

import codecs
import errno
import fcntl
import json
import os
import select
import shlex
import signal
import subprocess
import termios
import time

import pytest

from util import command, run

# How long to wait for text to appear on the terminal: it bounds a broken
# test's wait, and never orders events (the tests wait for the text itself).
DEADLINE = 120

TEMPLATE_PROMPT = "placeholders (? for help): "
VALUES_PROMPT = "; ? for help): "


def load(path):
    with open(str(path)) as f:
        return json.load(f)


def _take_the_terminal():
    """In the child, before exec: the pseudo-terminal (its stdin) becomes
    the controlling terminal of its new session, so that Ctrl-C typed there
    sends it SIGINT; and SIGINT acts, even if the test runner ignores it."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class Terminal:
    """`cooperate doe ARGS` on a pseudo-terminal, as typed in a shell."""

    def __init__(self, *args, cwd):
        master, slave = os.openpty()
        # the usual settings of an interactive terminal, whatever the
        # system's defaults: lines edited and echoed, ^C and ^D as keys
        attrs = termios.tcgetattr(slave)
        attrs[3] |= (termios.ICANON | termios.ECHO | termios.ISIG
                     | getattr(termios, "ECHOCTL", 0))
        attrs[6][termios.VINTR] = b"\x03"
        attrs[6][termios.VEOF] = b"\x04"
        termios.tcsetattr(slave, termios.TCSANOW, attrs)
        try:
            self.proc = subprocess.Popen(
                command("doe", *args), cwd=str(cwd), stdin=slave, stdout=slave, stderr=slave,
                start_new_session=True, preexec_fn=_take_the_terminal)
        finally:
            os.close(slave)
        self.fd = master
        self.raw = ""
        self.seen = 0  # how much of the screen the test has read
        self.ended = False
        self.decoder = codecs.getincrementaldecoder("utf-8")("replace")

    @property
    def screen(self):
        return self.raw.replace("\r\n", "\n")

    def _read(self, timeout):
        """Add what the command wrote within `timeout` seconds to the screen;
        False once it closed the terminal (it has ended)."""
        ready, _, _ = select.select([self.fd], [], [], max(timeout, 0))
        if not ready:
            return True
        try:
            data = os.read(self.fd, 65536)
        except OSError as error:
            if error.errno != errno.EIO:  # Linux: the other side is closed
                raise
            data = b""
        if not data:
            self.ended = True
            return False
        self.raw += self.decoder.decode(data)
        return True

    def expect(self, text):
        """Wait until `text` appears after what was read so far; return the
        screen's text up to it."""
        deadline = time.monotonic() + DEADLINE
        while True:
            at = self.screen.find(text, self.seen)
            if at >= 0:
                before = self.screen[self.seen:at]
                self.seen = at + len(text)
                return before
            if self.ended or not self._read(deadline - time.monotonic()):
                raise AssertionError("the command ended without showing %r; the screen:\n%s"
                                     % (text, self.screen))
            if time.monotonic() > deadline:
                raise AssertionError("%r did not appear within %d s; the screen:\n%s"
                                     % (text, DEADLINE, self.screen))

    def type(self, keys):
        os.write(self.fd, keys.encode())

    def answer(self, prompt, keys):
        self.expect(prompt)
        self.type(keys)

    def finish(self):
        """Wait for the command to end: its exit status and what it showed
        after what was read so far."""
        deadline = time.monotonic() + DEADLINE
        while not self.ended and self._read(deadline - time.monotonic()):
            if time.monotonic() > deadline:
                raise AssertionError("the command did not end within %d s; the screen:\n%s"
                                     % (DEADLINE, self.screen))
        status = self.proc.wait(timeout=DEADLINE)
        rest = self.screen[self.seen:]
        self.seen = len(self.screen)
        return status, rest

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        os.close(self.fd)


@pytest.fixture
def terminal(tmp_path):
    """terminal(*args): `cooperate doe *args` on a terminal, in tmp_path."""
    opened = []

    def open_terminal(*args):
        opened.append(Terminal(*args, cwd=tmp_path))
        return opened[-1]
    yield open_terminal
    for t in opened:
        t.close()


# --- arguments -------------------------------------------------------------

def test_template_and_values_from_arguments(tmp_path):
    result = run("doe", "l.json", "python main.py --lr {lr} --bs {bs}", "lr=0.1,0.2", "bs=32,64",
                 cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert load(tmp_path / "l.json") == [
        ["python", "main.py", "--lr", "0.1", "--bs", "32"],
        ["python", "main.py", "--lr", "0.1", "--bs", "64"],
        ["python", "main.py", "--lr", "0.2", "--bs", "32"],
        ["python", "main.py", "--lr", "0.2", "--bs", "64"],
    ]
    assert "4 entries" in result.stdout  # the summary: on stdout


def test_ranges_and_values_with_spaces_stay_one_argument(tmp_path):
    result = run("doe", "l.json", "echo {n} {x} '{name}'", "n=1..3", "x=0..1..0.5",
                 "name=a b", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    entries = load(tmp_path / "l.json")
    assert [e[1] for e in entries[::3]] == ["1", "2", "3"]
    assert sorted({e[2] for e in entries}) == ["0", "0.5", "1"]
    assert all(e[3] == "a b" for e in entries) and len(entries) == 9
    # shown as they are saved: one argument, quoted
    assert "  echo 1 0 'a b'\n" in result.stdout


def test_ranges_mix_with_values_and_paths_are_not_ranges(tmp_path):
    result = run("doe", "l.json", "--dry-run", "echo {x}", "x=1..3,10,../data,v1..v2",
                 cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert [json.loads(line)[1] for line in result.stdout.splitlines()] == [
        "1", "2", "3", "10", "../data", "v1..v2"]


@pytest.mark.parametrize("values,message", [
    (["x=0..inf"], "'0..inf' is not a range"),
    (["x=nan..1"], "'nan..1' is not a range"),
    (["x=1e999999999..1"], "gives more than 100000 values"),
    (["x=0..1..1e-100000"], "gives more than 100000 values"),
    (["x=1..100000", "y=1..100"], "give more than 1000000 entries"),
    (["x=", "y=1"], "values of x: none given"),
])
def test_values_past_the_limits_are_one_line(tmp_path, values, message):
    result = run("doe", "l.json", "echo {x} {y}", *values, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and message in result.stderr, result.stderr
    assert not (tmp_path / "l.json").exists()


def test_append_adds_only_new_entries_and_force_replaces(tmp_path):
    assert run("doe", "l.json", "echo {x}", "x=1,2", cwd=tmp_path).returncode == 0
    before = (tmp_path / "l.json").read_text()
    refused = run("doe", "l.json", "echo {x}", "x=3", cwd=tmp_path)
    assert refused.returncode == 2 and (tmp_path / "l.json").read_text() == before
    result = run("doe", "l.json", "--append", "echo {x}", "x=2,3", cwd=tmp_path)
    assert result.returncode == 0
    assert "(1 already in l.json)" in result.stdout
    assert load(tmp_path / "l.json") == [["echo", "1"], ["echo", "2"], ["echo", "3"]]
    assert run("doe", "l.json", "--force", "echo {x}", "x=9", cwd=tmp_path).returncode == 0
    assert load(tmp_path / "l.json") == [["echo", "9"]]


def test_dry_run_prints_and_writes_nothing(tmp_path):
    result = run("doe", "l.json", "--dry-run", "echo {x}", "x=1,2", cwd=tmp_path)
    assert result.returncode == 0
    assert [json.loads(line) for line in result.stdout.splitlines()] == [["echo", "1"], ["echo", "2"]]
    assert not (tmp_path / "l.json").exists()


# --- answers from a pipe ---------------------------------------------------

def test_answers_from_a_pipe_show_the_count_and_ask_before_writing(tmp_path):
    answers = "python main.py --lr {lr} --seed {seed}\n0.1,0.01\n1..3\ny\n"
    result = run("doe", "l.json", input=answers, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Values of lr" in result.stderr and "Values of seed" in result.stderr
    assert "6 entries" in result.stdout
    assert len(load(tmp_path / "l.json")) == 6
    # answering no writes nothing
    result = run("doe", "n.json", input="echo {x}\n1,2\nn\n", cwd=tmp_path)
    assert result.returncode == 0 and "nothing written" in result.stderr
    assert not (tmp_path / "n.json").exists()


def test_a_bad_answer_from_a_pipe_ends_the_session(tmp_path):
    # asked again, it would take the next line, meant for another question
    result = run("doe", "l.json", input="echo {x} {y}\n1..\n1,2\ny\n", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == (
        "cooperate doe: error: values of x: '1..' is not a range like 1..5, 0..1..0.25 or "
        "1e-4..1e-2..x10")
    assert not (tmp_path / "l.json").exists()


@pytest.mark.parametrize("answers", ["", "echo {x}\n", "echo {x}\n1,2\n"])
def test_the_end_of_input_writes_nothing_and_exits_2(tmp_path, answers):
    result = run("doe", "l.json", input=answers, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.endswith(
        "\ncooperate doe: error: no answer (end of input): nothing written to l.json\n")
    assert not (tmp_path / "l.json").exists()


# --- at a terminal ---------------------------------------------------------

def test_a_bad_value_is_explained_and_asked_again(terminal, tmp_path):
    t = terminal("l.json")
    t.answer(TEMPLATE_PROMPT, "python train.py --lr {lr} --seed {seed}\n")
    t.answer(VALUES_PROMPT, "0.1,0.01\n")
    t.answer(VALUES_PROMPT, "1..\n")
    assert t.expect("Values of seed").splitlines() == [
        "1..", "values of seed: '1..' is not a range like 1..5, 0..1..0.25 or 1e-4..1e-2..x10"]
    t.answer(VALUES_PROMPT, "\n")  # no default: says so, asks again
    assert t.expect("Values of seed").splitlines() == [
        "", "values of seed: none given (write a comma list like 0.1,0.2 or a range like 1..5)"]
    t.answer(VALUES_PROMPT, "1,,2\n")
    assert "has an empty value" in t.expect("Values of seed")
    t.answer(VALUES_PROMPT, "1..3\n")
    t.answer("Write them to l.json? [Y/n] ", "\n")  # Enter: the default, yes
    status, rest = t.finish()
    assert status == 0, t.screen
    assert rest == "\nl.json: 6 entries (6 new)\n"
    assert load(tmp_path / "l.json") == [
        ["python", "train.py", "--lr", lr, "--seed", seed]
        for lr in ("0.1", "0.01") for seed in ("1", "2", "3")]


def test_an_empty_or_bad_template_is_explained_and_asked_again(terminal, tmp_path):
    t = terminal("l.json")
    t.answer(TEMPLATE_PROMPT, "\n")
    assert t.expect(TEMPLATE_PROMPT).splitlines() == [
        "", "the template is empty: a template is the command to run, with {name} where "
        "each value goes, like: python train.py --lr {lr}",
        "Command template, with {name} "]
    t.type("   \n")
    assert "the template is empty" in t.expect(TEMPLATE_PROMPT)
    t.type("echo 'x {x}\n")
    assert "cannot split the template" in t.expect(TEMPLATE_PROMPT)
    t.type("echo {x\n")
    assert "bad placeholder" in t.expect(TEMPLATE_PROMPT)
    t.type("echo {x}\n")
    t.answer(VALUES_PROMPT, "1\n")
    t.answer("[Y/n] ", "y\n")
    status, _ = t.finish()
    assert status == 0, t.screen
    assert load(tmp_path / "l.json") == [["echo", "1"]]


def test_the_preview_shows_each_command_exactly_as_it_is_saved(terminal, tmp_path):
    t = terminal("l.json")
    t.answer(TEMPLATE_PROMPT, "python train.py --tag {tag} --out 'runs/{tag}' --n {n}\n")
    # spaces stay in a value; quotes work as in a shell
    t.answer("Values of tag", "")
    t.answer(VALUES_PROMPT, "a b, c ,\"it's\",'x,y'\n")
    t.answer("Values of n", "")
    t.answer(VALUES_PROMPT, "1\n")
    shown = t.expect("Write them to l.json? [Y/n] ").splitlines()
    assert shown == [
        "1", "4 entries:",
        "  python train.py --tag 'a b' --out 'runs/a b' --n 1",
        "  python train.py --tag c --out runs/c --n 1",
        "  python train.py --tag 'it'\"'\"'s' --out 'runs/it'\"'\"'s' --n 1",
        "  python train.py --tag x,y --out runs/x,y --n 1",
    ]
    t.type("y\n")
    status, _ = t.finish()
    assert status == 0, t.screen
    saved = load(tmp_path / "l.json")
    assert [shlex.split(line) for line in shown[2:]] == saved
    assert [e[3] for e in saved] == ["a b", "c", "it's", "x,y"]


def test_help_defaults_and_unclear_answers(terminal, tmp_path):
    t = terminal("l.json")
    t.answer(TEMPLATE_PROMPT, "?\n")
    assert "{name} where a value" in t.expect(TEMPLATE_PROMPT)
    t.type("help\n")
    assert "never run" in t.expect(TEMPLATE_PROMPT)
    t.type("echo {word}\n")
    t.answer(VALUES_PROMPT, "?\n")
    assert "a comma list" in t.expect(VALUES_PROMPT)
    t.type("\"help\",1..12\n")  # quoted: the word itself
    shown = t.expect("[Y/n] ").splitlines()
    assert shown[1:] == ["13 entries:"] + ["  echo %s" % w for w in ["help"] + list("123456")] + [
        "  ... (4 more)", "  echo 11", "  echo 12", "Write them to l.json? "]
    t.type("?\n")
    assert "n writes nothing" in t.expect("[Y/n] ")
    t.type("sure\n")
    assert "answer y (or just Enter) to write, n to write nothing" in t.expect("[Y/n] ")
    t.type("\x1b[D\n")  # an arrow key
    assert "control character" in t.expect("[Y/n] ")
    t.type("n\n")
    status, rest = t.finish()
    assert (status, rest) == (0, "n\nnothing written\n")
    assert not (tmp_path / "l.json").exists()


@pytest.mark.parametrize("stage", ["template", "half-typed value", "confirmation"])
def test_ctrl_c_ends_the_line_writes_nothing_and_exits_130(terminal, tmp_path, stage):
    t = terminal("l.json")
    t.expect(TEMPLATE_PROMPT)
    if stage == "half-typed value":
        t.type("echo {x}\n")
        t.answer(VALUES_PROMPT, "0.1,0")
        t.expect("0.1,0")  # echoed: the line is being edited
    elif stage == "confirmation":
        t.type("echo {x}\n")
        t.answer(VALUES_PROMPT, "1,2\n")
        t.expect("[Y/n] ")
    t.type("\x03")  # Ctrl-C: the terminal sends SIGINT
    status, rest = t.finish()
    assert status == 130, t.screen
    # the terminal echoes ^C after the prompt; the message is on a line of
    # its own after it (whichever reached the screen first)
    assert "^C" in rest
    assert rest.replace("^C", "") == "\ncooperate doe: interrupted: nothing written to l.json\n"
    assert not (tmp_path / "l.json").exists()


@pytest.mark.parametrize("answered", [0, 1, 2])
def test_ctrl_d_writes_nothing_and_exits_2(terminal, tmp_path, answered):
    t = terminal("l.json")
    for prompt, keys in [(TEMPLATE_PROMPT, "echo {x}\n"), (VALUES_PROMPT, "1\n")][:answered]:
        t.answer(prompt, keys)
    t.expect([TEMPLATE_PROMPT, VALUES_PROMPT, "[Y/n] "][answered])
    t.type("\x04")  # Ctrl-D at the start of a line: the end of input
    status, rest = t.finish()
    assert status == 2, t.screen
    assert rest.replace("^D", "") == (
        "\ncooperate doe: error: no answer (end of input): nothing written to l.json\n")
    assert not (tmp_path / "l.json").exists()
