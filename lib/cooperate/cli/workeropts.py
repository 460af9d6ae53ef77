"""What the `run` and `launch` commands share: the worker's options, how they
become slots and limits, and the worker's one-line-per-event report."""

import os
import sys

from cooperate import fmt
from cooperate.cli import stdio
from cooperate.cli.args import (command_line, int_list, interval, lease_seconds, non_negative_int,
                    positive_int, positive_number, positive_seconds, seconds, size)
from cooperate.errors import UserError
from cooperate.run.launcher import Slots
from cooperate.queue.core import (ABORTED, CLAIMED, DEFAULT_LOCK_TIMEOUT, DONE, FAILED, HELD, LEASE,
                                  LOST_RETRIES, PENDING, PRUNED, RUNNING, TIMEOUT)
from cooperate.run.resources import HostLimits
from cooperate.cli.targets import add_trust


def add_options(p):
    p.add_argument("-j", "--procs-no", type=positive_int, default=1, metavar="N",
                   help="run up to N entries at once (default 1)")
    p.add_argument("--gpus", type=int_list, metavar="0,1",
                   help="give each run one of these GPUs in CUDA_VISIBLE_DEVICES (an entry "
                        "with \"gpus\": N gets N distinct ones, \"2,3\", all at once)")
    p.add_argument("--per-gpu", type=int_list, metavar="K",
                   help="at most K runs per GPU on this host, across all its workers "
                        "(one value, or one per GPU; default 1)")
    p.add_argument("--max-runs", type=positive_int, metavar="N",
                   help="start at most N runs, then finish them and exit")
    p.add_argument("--poll", type=interval, default=2.0, metavar="S",
                   help="look for new entries and abort requests every S seconds while "
                        "runs are active or slots are free (default 2)")
    p.add_argument("--no-detach", action="store_true",
                   help="runs print to this terminal instead of their log files")
    p.add_argument("--grace", type=seconds, default=10.0, metavar="S",
                   help="when stopping a run, seconds between TERM and KILL (default 10)")
    p.add_argument("--retries", type=non_negative_int, default=0, metavar="N",
                   help="run a failed entry up to N more times (an entry's own \"retries\" "
                        "wins); a lost one (its worker died) at least %d more times" % LOST_RETRIES)
    p.add_argument("--timeout", type=positive_seconds, metavar="S",
                   help="stop a run still going after S seconds (TERM, --grace, KILL) and record "
                        "it as timed out, a failure for --retries (an entry's own \"timeout\" "
                        "wins)")
    p.add_argument("--memfree", type=size, metavar="SIZE",
                   help="start a run only while the host has SIZE of memory available "
                        "(2G, 500M; MemAvailable in /proc/meminfo), else wait")
    p.add_argument("--load", type=positive_number, metavar="N",
                   help="start a run only while the host's 1-minute load average is under N, "
                        "else wait")
    p.add_argument("--gpu-memfree", type=size, metavar="SIZE",
                   help="start a run on a GPU only while nvidia-smi reports SIZE of free memory "
                        "on it (others are skipped; with none, wait)")
    p.add_argument("--notify", type=command_line, metavar="CMD",
                   help="when the list is finished (nothing pending, held or running), run CMD "
                        "once: the worker, on whatever machine, that records the last end runs "
                        "it, with COOPERATE_LIST, COOPERATE_TOTAL, COOPERATE_DONE, "
                        "COOPERATE_FAILED, ... in its environment (split like a shell would, "
                        "never run by one: \"sh -c '...'\" for pipes)")
    p.add_argument("--lease", type=lease_seconds, default=LEASE, metavar="S",
                   help="other workers take this worker's runs back once it has been silent "
                        "for S seconds (default %g; at once on this machine when it and its "
                        "guard are gone); past S/2 without renewing it, its runs are suspended"
                        % LEASE)
    p.add_argument("--state", metavar="DIR",
                   help="the state folder (default LIST.cooperate beside the list)")
    p.add_argument("--lock-timeout", type=seconds, default=DEFAULT_LOCK_TIMEOUT, metavar="S",
                   help="give up after waiting S seconds for the queue lock (default %g)"
                        % DEFAULT_LOCK_TIMEOUT)
    add_trust(p)
    p.add_argument("-q", "--quiet", action="store_true", help="print only failures")
    add_early_stop(p)


def add_early_stop(p):
    g = p.add_argument_group(
        "early stopping", "runs report metrics ({\"step\": N, \"NAME\": value} lines in "
        "$COOPERATE_METRICS, or `from cooperate import report`); with --early-stop asha, a run "
        "whose METRIC at a rung (steps R, R*K, R*K^2, ...) is not in the top 1/K of the values "
        "recorded there so far is stopped and recorded as pruned (a success, never retried); "
        "with --early-stop hyperband, the same in brackets s = 0, 1, ... whose rungs start at "
        "R*K^s (below --max-step M, the runs' last step), each entry in one bracket drawn from "
        "its id and judged against its bracket's values. Give every worker the same options")
    g.add_argument("--early-stop", choices=("asha", "hyperband"), metavar="asha|hyperband",
                   help="stop runs early by asynchronous successive halving, or by "
                        "asynchronous Hyperband (several brackets of it)")
    g.add_argument("--metric", metavar="NAME", help="the metric the rule compares")
    g.add_argument("--mode", choices=("min", "max"), default="min",
                   help="whether lower (min, the default) or higher values are better")
    g.add_argument("--min-step", type=positive_number, metavar="R",
                   help="the first rung's step (default 1)")
    g.add_argument("--eta", type=positive_int, default=3, metavar="K",
                   help="keep the top 1/K at each rung; rungs K times apart (default 3)")
    g.add_argument("--max-step", type=positive_number, metavar="M",
                   help="hyperband: the runs' last step (brackets' first rungs R*K^s <= M; "
                        "no rung at or past M)")


def early_stop(args):
    """The early-stopping rule the options ask for, or None."""
    if args.early_stop is None:
        if args.metric or args.min_step or args.max_step:
            raise UserError("--metric, --min-step and --max-step go with --early-stop asha or "
                            "hyperband")
        return None
    if not args.metric:
        raise UserError("--early-stop %s needs --metric NAME (what the runs report)"
                        % args.early_stop)
    if args.eta < 2:
        raise UserError("--eta must be 2 or more (each rung keeps the top 1/K)")
    from cooperate.search.asha import Asha, Hyperband

    if args.early_stop == "asha":
        if args.max_step:
            raise UserError("--max-step goes with --early-stop hyperband")
        return Asha(args.metric, args.mode, args.min_step or 1, args.eta)
    if not args.max_step:
        raise UserError("--early-stop hyperband needs --max-step M (the runs' last step)")
    if args.max_step < (args.min_step or 1):
        raise UserError("--max-step must be at least --min-step (the first rung)")
    return Hyperband(args.metric, args.mode, args.min_step or 1, args.eta, args.max_step)


def slots(args):
    if not args.gpus and os.environ.get("SLURM_JOB_ID") and os.environ.get("CUDA_VISIBLE_DEVICES"):
        # under Slurm: the GPUs it gave this job
        args.gpus = [g for g in os.environ["CUDA_VISIBLE_DEVICES"].split(",") if g]
    per_gpu = None
    if args.per_gpu:
        if not args.gpus:
            raise UserError("--per-gpu needs --gpus")
        per_gpu = [int(k) for k in args.per_gpu]
        if len(per_gpu) == 1:
            per_gpu *= len(args.gpus)
        if len(per_gpu) != len(args.gpus) or min(per_gpu) < 1:
            raise UserError("--per-gpu takes one count >= 1, or one per GPU (%d GPUs in --gpus, "
                            "%d counts given)" % (len(args.gpus), len(per_gpu)))
    if args.gpu_memfree is not None:
        import shutil

        if not args.gpus:
            raise UserError("--gpu-memfree needs --gpus")
        if not shutil.which("nvidia-smi"):
            raise UserError("--gpu-memfree: nvidia-smi, which tells each GPU's free memory, is "
                            "not on PATH")
    return Slots(args.procs_no, args.gpus, per_gpu, args.gpu_memfree)


def host_limits(args):
    """--memfree and --load, or None without them."""
    if args.memfree is None and args.load is None:
        return None
    return HostLimits(args.memfree, args.load)


def experiment_hooks(queue):
    """The worker's hooks for an experiment's runs (None for a list), with
    the script they execute, as recorded in it (refused, unless trusted, if
    another user could change it). An experiment without one is refused:
    its runs could not start."""
    if queue.experiment is None:
        return None
    from cooperate.grid.experiment import load_meta

    script = load_meta(queue.experiment).get("script")
    if not script:
        raise UserError("%s: no script recorded for its runs: start it once with `liftoff "
                        "SCRIPT %s` (that records SCRIPT; then `cooperate-run %s` works on "
                        "every machine)" % (queue.experiment, queue.experiment, queue.experiment))
    if not queue.trusted:
        from cooperate.queue.trust import check_script

        check_script(script)
    from cooperate.grid.hooks import ExperimentHooks

    return ExperimentHooks(queue.experiment, script)


class Reporter:
    """One line per event on stderr, with a time stamp. On a terminal
    (`live`), also one line below them that keeps the progress up to date
    (done of total, failed, running, pending, time left), and a summary when
    the worker is done; off a terminal, plain lines only."""

    # how far back the rate of finished runs is measured for the time left
    RATE_WINDOW = 60.0

    def __init__(self, quiet, live=None):
        self.quiet = quiet
        self.live = sys.stderr.isatty() if live is None else live
        # printing failed once: nothing more is printed (see stdio.py)
        self.silent = False
        self.status = ""
        self.finished = []  # (monotonic time, runs finished in the list)

    def _write(self, text):
        if self.silent:
            return
        if self.status:
            text = "\r\033[K" + text
        # a reader that went away (| head, a closed terminal, a full disk)
        # ends the printing, never the worker: its runs go on and are recorded
        self.silent = not stdio.write(sys.stderr, text + self.status)

    def __call__(self, event, **info):
        if event == "progress":
            self.status = self._status(info["counts"], info["here"])
            self._write("")
            return
        if event == "detached":
            # the terminal is gone: plain lines from now on, to the worker's
            # log (printing may have failed on the closed terminal meanwhile)
            self.live, self.status, self.silent = False, "", False
            return
        if event == "summary":
            if self.live:
                self.status = ""
                self._write("\r\033[K%s\n" % self._summary(info["counts"], info["mine"]))
            return
        line = self._line(event, info)
        if line is not None:
            self._write("%s %s\n" % (fmt.clock(), line))

    def _status(self, counts, here):
        import time

        done = counts[DONE]
        finished = done + counts[FAILED] + counts[ABORTED]
        total = sum(counts.values())
        now = time.monotonic()
        self.finished = [(t, n) for t, n in self.finished if now - t <= self.RATE_WINDOW]
        self.finished.append((now, finished))
        text = "%d/%d done" % (done, total)
        for status in (FAILED, RUNNING, CLAIMED, PENDING, HELD, ABORTED):
            if counts.get(status) or status in (RUNNING, PENDING):
                text += ", %d %s" % (counts[status], status)
                if status == RUNNING and here:
                    text += " (%d here)" % here
        (t0, n0), (t1, n1) = self.finished[0], self.finished[-1]
        left = counts[PENDING] + counts[RUNNING] + counts.get(CLAIMED, 0)
        if left and n1 > n0 and t1 > t0:
            text += ", about %s left" % fmt.duration(left * (t1 - t0) / (n1 - n0))
        try:
            # a terminal that does not tell its size says 0
            width = os.get_terminal_size(sys.stderr.fileno()).columns or 80
        except OSError:
            width = 80
        return fmt.shorten(text, max(width - 1, 20))

    @staticmethod
    def _summary(counts, mine):
        ran = ", ".join("%d %s" % (n, outcome) for outcome, n in sorted(mine.items()))
        left = ", ".join("%d %s" % (n, status) for status, n in counts.items() if n)
        return "this worker ran %s%s; the list: %s: %s" % (
            fmt.count(sum(mine.values()), "run"), " (%s)" % ran if ran else "",
            fmt.count(sum(counts.values()), "entry", "entries"), left or "none")

    def _line(self, event, info):
        """The line of one event, or None."""
        claim = info.get("claim")
        if event == "start":
            if self.quiet:
                return None
            gpu = info["gpu"]
            where = "" if gpu is None else " on GPU%s %s" % ("s" if "," in gpu else "", gpu)
            return "start %s#%d%s: %s" % (claim.id, claim.attempt, where,
                                          fmt.shorten(claim.label, 100))
        if event == "end":
            outcome = info["outcome"]
            if outcome == DONE:
                if self.quiet:
                    return None
                return "done  %s#%d in %s" % (claim.id, claim.attempt,
                                              fmt.duration(info["seconds"]))
            if outcome in (FAILED, TIMEOUT):
                word = "failed" if outcome == FAILED else "timed out"
                line = "%s %s#%d: %s" % (word if info.get("again") else word.upper(), claim.id,
                                         claim.attempt, info["message"] or fmt.exit_text(info["code"]))
                # a run that printed nothing left no log
                log = next((p for p in (claim.err, claim.out) if os.path.exists(p)), None)
                if log:
                    line += ", log %s" % log
                if info.get("again"):
                    line += " (it will be retried)"
                return line
            if outcome == ABORTED:
                return "aborted %s#%d after %s" % (claim.id, claim.attempt,
                                                   fmt.duration(info["seconds"]))
            if outcome == PRUNED:
                return "pruned %s#%d after %s: %s" % (claim.id, claim.attempt,
                                                     fmt.duration(info["seconds"]), info["message"])
            return "%s %s#%d after %s (pending again)" % (
                outcome, claim.id, claim.attempt, fmt.duration(info["seconds"]))
        if event == "abort":
            return "abort requested for %s#%d: stopping it" % (claim.id, claim.attempt)
        if event == "prune":
            if self.quiet:
                return None
            return "pruning %s#%d: %s (SIGTERM, SIGKILL after %s)" % (
                claim.id, claim.attempt, info["why"], fmt.duration(info["grace"]))
        if event == "timeout":
            return ("%s#%d reached its time limit of %g s: stopping it (SIGTERM, SIGKILL "
                    "after %s)" % (claim.id, claim.attempt, info["limit"],
                                   fmt.duration(info["grace"])))
        if event == "lost":
            return ("%s#%d was taken back by another worker while this one was silent past its "
                    "lease: killed it, its end is not recorded" % (claim.id, claim.attempt))
        if event == "stopping":
            one = info["runs"] == 1
            return ("stopping (signal %d): %d run%s SIGTERM, SIGKILL after %s; a second "
                    "Ctrl-C kills %s now" % (info["signum"], info["runs"],
                                             " gets" if one else "s get",
                                             fmt.duration(info["grace"]), "it" if one else "them"))
        if event == "note":
            return None if self.quiet else info["text"]
        if event == "list":
            if info["problem"] is None:
                return "%s can be used again: taking entries from it again" % info["path"]
            return ("the list cannot be used since %s: %s; runs go on, their ends are "
                    "recorded, and new entries start once it can be used again (write "
                    "lists to a temporary file, then rename it over the list)"
                    % (fmt.duration(info["seconds"]), info["problem"]))
        return "stopped by signal %d: runs interrupted, they are pending again" % info["signum"]
