"""What a sweep's runs teach, for the report: the best runs first, each
result and metric against each parameter that varies (one point per
variation: the mean and standard deviation over its --over group, as
collect --aggregate gives them), learning curves (step against a metric)
coloured kept, pruned or running with the early-stopping rule's rung
cut-offs, the best value so far against time, and the rule's decision log.

gather() gives plain data; the *_svg functions draw it as inline SVG (no
library, nothing fetched). Whatever the list's size, what is drawn is
bounded: at most MAX_PARAMS x MAX_MEASURES parameter plots of at most
MAX_POINTS points each (more variations are binned along the parameter:
a bin shows the mean of its variations' means and the range from the
lowest to the highest), at most MAX_CURVES curves per metric (the best
HIGHLIGHT by the measure, then an even sample of the others) of at most
MAX_CURVE_POINTS points each (only the files of the curves drawn are
read), at most MAX_DOTS runs on the best-so-far chart (its line counts
them all), and the latest MAX_DECISIONS decisions. The report gives it the
table of the entries it shows (the first 10,000 of a larger list).

The rule's records are read as journal data (["s", id, attempt, worker,
time, key, data], data holding metric, mode, eta, rung, step, value, rank,
of, cutoff, keep, reason, and Hyperband's bracket): a record with a rung
and a keep is a decision; Hyperband's are judged, and their cut-offs
drawn, per bracket and rung.
"""

import math

from cooperate import metrics
from cooperate.results import best

MAX_BEST = 10
MAX_PARAMS = 8
MAX_MEASURES = 6
MAX_POINTS = 300
BINS = 60
MAX_CATEGORIES = 40
MAX_CURVE_CHARTS = 3
MAX_CURVES = 120
HIGHLIGHT = 20
MAX_CURVE_POINTS = 150
MAX_DOTS = 1500
MAX_DECISIONS = 1000
# a parameter is drawn on a log axis when its values are positive and
# span at least this ratio (learning rates)
LOG_RATIO = 50.0
CURVE_COLOURS = {"kept": "#2e9d4a", "pruned": "#d9822b", "running": "#2f7fe0", "other": "#9a9a9a"}


def finite(value):
    return best.number(value) and math.isfinite(value)


def decisions(queue):
    """The rule's decisions (dicts: id, attempt, worker, time and the
    record's data), in journal order."""
    out = []
    for record in queue.state.scores:
        data = record[6]
        if isinstance(data, dict) and "rung" in data and "keep" in data:
            out.append(dict(data, id=record[1], attempt=record[2], worker=record[3],
                            time=record[4]))
    return out


def cutoffs(made, metric):
    """Per rung (and Hyperband's bracket) of `metric`'s decisions, as they
    stand now: (rung, the cut-off a new value would face, how many values,
    how many kept, how many pruned, the bracket or None), lowest rung
    first."""
    rungs = {}
    for d in made:
        if d.get("metric") != metric:
            continue
        r = rungs.setdefault((d["rung"], d.get("bracket")), {
            "values": [], "kept": 0, "pruned": 0, "eta": d.get("eta") or 3,
            "mode": d.get("mode")})
        if finite(d.get("value")):
            r["values"].append(d["value"])
        r["kept" if d["keep"] else "pruned"] += 1
    out = []
    for rung, bracket in sorted(rungs, key=lambda k: (k[0], -1 if k[1] is None else k[1])):
        r = rungs[rung, bracket]
        values = sorted(r["values"], reverse=r["mode"] == "max")
        cut = values[max(len(values) // r["eta"] - 1, 0)] if values else None
        out.append((rung, cut, len(values), r["kept"], r["pruned"], bracket))
    return out


def _finished_end(queue, id_):
    a = queue.state.last(id_)
    while a is not None and a.end is None:
        a = a.previous
    return a.end if a is not None else None


def _kind(values):
    """How to lay out a parameter's values: "log", "num" or "cat"."""
    if all(finite(v) for v in values):
        low, high = min(values), max(values)
        if low > 0 and high / low >= LOG_RATIO:
            return "log"
        return "num"
    return "cat"


def _point(x, row, names, best_row):
    mean, std, n = (row.get(c) for c in names)
    if not finite(mean):
        return None
    spread = std if finite(std) else 0.0
    return {"x": x, "y": mean, "lo": mean - spread, "hi": mean + spread, "n": n or 0,
            "std": std if finite(std) else None, "best": row is best_row, "bin": 0}


def _binned(points, kind, order):
    """Many points as at most BINS (numbers) or MAX_CATEGORIES bins: each
    the mean of its points' values, from the lowest to the highest, with
    how many points it stands for."""
    groups = {}
    if kind == "cat":
        for p in points:
            groups.setdefault(order[str(p["x"])], []).append(p)
    else:
        xs = [math.log10(p["x"]) if kind == "log" else p["x"] for p in points]
        low, high = min(xs), max(xs)
        width = (high - low) / BINS or 1.0
        for x, p in zip(xs, points):
            groups.setdefault(min(BINS - 1, int((x - low) / width)), []).append(p)
    out = []
    for key in sorted(groups):
        members = groups[key]
        ys = [p["y"] for p in members]
        if kind == "cat":
            x = members[0]["x"]
        elif kind == "log":
            x = 10 ** (sum(math.log10(p["x"]) for p in members) / len(members))
        else:
            x = sum(p["x"] for p in members) / len(members)
        out.append({"x": x, "y": sum(ys) / len(ys), "lo": min(ys), "hi": max(ys),
                    "n": len(members), "std": None, "bin": len(members),
                    "best": any(p["best"] for p in members)})
    return out


def slices(collected, aggregated, measure, mode):
    """The parameter plots: per parameter that varies (but for the --over
    ones) and per numeric result or metric column (the measure first), one
    point per variation."""
    if aggregated is None or not aggregated.rows:
        return []
    params = [p for p in aggregated.params if p not in ("command", "variation")]
    columns = set(aggregated.columns)
    wanted = [c for c in collected.results if c not in ("step", "metrics.step")]
    if measure in wanted:
        wanted.remove(measure)
        wanted.insert(0, measure)
    measures = []
    for c in wanted:
        names = ["%s.%s" % (c, s) for s in ("mean", "std", "n")]
        if names[0] not in columns:
            names = ["result." + n for n in names]
        if names[0] in columns:
            measures.append((c, names))
    measures = measures[:MAX_MEASURES]
    if measure is not None and measures and measures[0][0] == measure:
        ranked = best.order(aggregated.rows, measures[0][1][0], mode)
        best_row = ranked[0] if best.number(ranked[0].get(measures[0][1][0])) else None
    else:
        best_row = None
    plots = []
    for param in params:
        xs = [row.get(param) for row in aggregated.rows]
        distinct = {repr(x) for x in xs if x is not None}
        if len(distinct) < 2:
            continue
        if len({p["x"] for p in plots}) >= MAX_PARAMS:
            break
        for column, names in measures:
            points = []
            for x, row in zip(xs, aggregated.rows):
                if x is None:
                    continue
                point = _point(x, row, names, best_row)
                if point is not None:
                    points.append(point)
            if len(points) < 2:
                continue
            kind = _kind([p["x"] for p in points])
            order = {}
            if kind == "cat":
                texts = sorted({str(p["x"]) for p in points},
                               key=lambda t: (not all(finite(p["x"]) for p in points), t))
                order = {t: i for i, t in enumerate(texts)}
            shown = points
            if len(points) > MAX_POINTS or len(order) > MAX_CATEGORIES:
                if kind == "cat" and len(order) > MAX_CATEGORIES:
                    keep = set(list(order)[:MAX_CATEGORIES])
                    shown = [p for p in points if str(p["x"]) in keep]
                    order = {t: i for i, t in enumerate(list(order)[:MAX_CATEGORIES])}
                shown = _binned(shown, kind, order)
            plots.append({"x": param, "y": column, "kind": kind, "points": shown,
                          "categories": list(order), "variations": len(points),
                          "binned": len(shown) < len(points) or kind == "cat" and
                          len(order) < len({str(p["x"]) for p in points}),
                          "higher": mode == "max" and column == measure})
    return plots


def _thin(series):
    """At most MAX_CURVE_POINTS points of a curve, evenly spaced, its
    first and last kept."""
    if len(series) <= MAX_CURVE_POINTS:
        return series
    step = (len(series) - 1) / (MAX_CURVE_POINTS - 1)
    return [series[int(round(k * step))] for k in range(MAX_CURVE_POINTS)]


def learning_curves(queue, collected, measure, mode, made, labels):
    """Per reported metric (the measure's first, at most
    MAX_CURVE_CHARTS): its curves and the rule's rungs."""
    results = collected.results
    reported = [c[:-5] for c in results if c.endswith(".last") and c[:-5] + ".best" in results]
    if not reported:
        return []
    first = [m for m in (best.base_name(measure) if measure else None,
                         made[-1].get("metric") if made else None) if m in reported]
    names = list(dict.fromkeys(first + reported))[:MAX_CURVE_CHARTS]
    from cooperate.results import curves

    cache = {}
    charts = []
    for name in names:
        rows = [r for r in collected.rows if finite(r.get(name + ".last"))]
        # the best curves by the measure, else by the metric's last value
        if measure and best.base_name(measure) == name:
            ranked = best.order(rows, measure, mode, behind=best.pruned)
        else:
            rule = made[-1] if made and made[-1].get("metric") == name else {}
            ranked = best.order(rows, name + ".last", rule.get("mode") or "min",
                                behind=best.pruned)
        chosen = ranked[:HIGHLIGHT]
        rest = ranked[HIGHLIGHT:]
        room = MAX_CURVES - len(chosen)
        if len(rest) > room:
            step = len(rest) / float(room)
            rest = [rest[int(k * step)] for k in range(room)]
        chosen += rest
        drawn = []
        for row in chosen:
            id_ = row["id"]
            if id_ not in cache:
                attempt = curves.latest_attempt(queue.state, id_)
                cache[id_] = metrics.read(metrics.path(queue.dir, id_, attempt)) if attempt else []
            series = [(p["step"], p[name]) for p in cache[id_]
                      if finite(p.get(name)) and finite(p["step"])]
            if not series:
                continue
            if row.get("status") == "running":
                kind = "running"
            elif row.get("outcome") == "pruned":
                kind = "pruned"
            elif row.get("outcome") == "done":
                kind = "kept"
            else:
                kind = "other"
            drawn.append({"id": id_, "label": labels.get(id_, id_), "kind": kind,
                          "points": _thin(series), "steps": len(series)})
        if drawn:
            charts.append({"metric": name, "curves": drawn, "of": len(rows),
                           "rungs": cutoffs(made, name),
                           "highlighted": min(HIGHLIGHT, len(ranked))})
    return charts


def progress(queue, collected, column, mode, labels):
    """The best value so far against time: each run that finished with a
    value of the measure, pruned runs left out (at most MAX_DOTS shown,
    every improvement among them), and the steps of the best so far over
    all of them."""
    runs = []
    for row in collected.rows:
        value = row.get(column)
        # a pruned run's value is from an early step: no answer
        if row.get("status") == "running" or best.pruned(row) or not finite(value):
            continue
        end = _finished_end(queue, row["id"])
        if end is not None:
            runs.append((end, value, row["id"]))
    if not runs:
        return None
    runs.sort()
    steps, current, dots = [], None, []
    for end, value, id_ in runs:
        improved = best.better(value, current, mode)
        if improved:
            current = value
            steps.append((end, value, id_))
        dots.append((end, value, id_, improved))
    if len(dots) > MAX_DOTS:
        others = [d for d in dots if not d[3]]
        room = max(MAX_DOTS - len(steps), 0)
        every = len(others) / float(room) if room else 0
        sample = [others[int(k * every)] for k in range(room)] if room else []
        dots = sorted([d for d in dots if d[3]] + sample)
    return {"runs": len(runs), "dots": [{"t": t, "v": v, "id": i, "label": labels.get(i, i),
                                         "improved": imp} for t, v, i, imp in dots],
            "steps": [{"t": t, "v": v, "id": i, "label": labels.get(i, i)} for t, v, i in steps]}


def gather(queue, collected, aggregated, metric=None, mode=None, labels=None):
    """Everything the report shows of what was learned, as plain data:
    `collected`: collect's table of the entries the report shows (or
    None), `aggregated`: the same per variation (or None); `labels`: {id:
    how the report names the entry}. The measure and mode are the user's
    or the early-stopping rule's (best.choose); a measure named but not
    found is said in "missing"."""
    labels = labels or {}
    metric, mode = best.choose(queue, metric, mode)
    made = decisions(queue)
    out = {"metric": metric, "mode": mode, "column": None, "missing": None, "best": [],
           "slices": [], "curves": [], "progress": None, "decisions": made[-MAX_DECISIONS:],
           "decisions_total": len(made), "rule": best.rule(queue)}
    if collected is None:
        return out
    column = best.column(collected.columns, metric) if metric else None
    if metric and column is None:
        out["missing"] = metric
    out["column"] = column
    if column is not None:
        ranked = best.order(collected.rows, column, mode, behind=best.pruned)
        out["best"] = [row for row in ranked[:MAX_BEST]
                       if best.number(row.get(column)) and not best.pruned(row)]
        out["progress"] = progress(queue, collected, column, mode, labels)
    out["slices"] = slices(collected, aggregated, column, mode)
    out["curves"] = learning_curves(queue, collected, column, mode, made, labels)
    return out


# -- drawing ---------------------------------------------------------------------

def escape(value):
    """A value as HTML text, in an attribute too: what html.escape(text,
    quote=True) gives, without the html module (it loads its table of
    entities, half a MB of a million entries' report at its peak)."""
    return (str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;").replace("'", "&#x27;"))


_e = escape


def short(value):
    """A number with at most 6 significant digits."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return "%.6g" % value if isinstance(value, float) else str(value)


def ticks(low, high, most=5):
    """Round tick values covering [low, high]: a step of 1, 2, 2.5 or 5
    times a power of ten, at most `most` intervals."""
    if not high > low:
        pad = abs(low) * 0.1 or 1.0
        low, high = low - pad, high + pad
    raw = (high - low) / most
    power = 10.0 ** math.floor(math.log10(raw))
    for m in (1, 2, 2.5, 5, 10, 20):
        step = m * power
        first, last = math.floor(low / step + 1e-9), math.ceil(high / step - 1e-9)
        if last - first <= most:
            break
    return [float("%.12g" % (k * step)) for k in range(first, last + 1)]


def log_ticks(low, high, most=6):
    """Powers of ten covering [low, high] (> 0), at most `most` + 1."""
    first, last = math.floor(math.log10(low) + 1e-9), math.ceil(math.log10(high) - 1e-9)
    if last == first:
        last += 1
    every = max(1, int(math.ceil((last - first) / float(most))))
    return [10.0 ** k for k in range(first, last + every, every)]


class Frame:
    """A plot's area and its two scales; `x_log`: a log axis; `pad`: room
    left on either side of the x ticks (a share of their span), so that
    points on the first and last tick are not on the frame."""

    def __init__(self, width, height, x_ticks, y_ticks, x_log=False, left=56, bottom=34,
                 pad=0.0):
        self.width, self.height = width, height
        self.left, self.right, self.top, self.bottom = left, 12, 10, bottom
        self.x_ticks, self.y_ticks, self.x_log = x_ticks, y_ticks, x_log
        self.x0, self.x1 = self._fx(x_ticks[0]), self._fx(x_ticks[-1])
        room = (self.x1 - self.x0) * pad
        self.x0, self.x1 = self.x0 - room, self.x1 + room
        self.y0, self.y1 = y_ticks[0], y_ticks[-1]

    def _fx(self, x):
        return math.log10(x) if self.x_log else x

    def x(self, value):
        span = (self.x1 - self.x0) or 1.0
        return self.left + (self.width - self.left - self.right) * (self._fx(value) - self.x0) / span

    def y(self, value):
        span = (self.y1 - self.y0) or 1.0
        inner = self.height - self.top - self.bottom
        return self.top + inner * (1 - (value - self.y0) / span)

    def clip_y(self, value):
        return min(max(self.y(value), self.top - 4), self.height - self.bottom + 4)

    def axes(self, x_label, y_label, x_text=None):
        """The frame, its ticks, grid lines and labels (`x_text`: a tick's
        label, by default the number)."""
        out = []
        bottom, right = self.height - self.bottom, self.width - self.right
        for v in self.y_ticks:
            y = self.y(v)
            out.append('<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#eee"/>'
                       '<text x="%d" y="%.1f" text-anchor="end" class="tick">%s</text>'
                       % (self.left, right, y, y, self.left - 4, y + 3, _e(short(v))))
        for v in self.x_ticks:
            x = self.x(v)
            out.append('<line x1="%.1f" x2="%.1f" y1="%d" y2="%d" stroke="#ccc"/>'
                       '<text x="%.1f" y="%d" text-anchor="middle" class="tick">%s</text>'
                       % (x, x, bottom, bottom + 4, x, bottom + 14,
                          _e(x_text(v) if x_text else short(v))))
        out.append('<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#999"/>'
                   % (self.left, self.top, right - self.left, bottom - self.top))
        out.append('<text x="%.1f" y="%d" text-anchor="middle" class="label">%s</text>'
                   % ((self.left + right) / 2.0, self.height - 3, _e(x_label)))
        out.append('<text transform="translate(11 %.1f) rotate(-90)" text-anchor="middle" '
                   'class="label">%s</text>' % ((self.top + bottom) / 2.0, _e(y_label)))
        return out


def _svg(cls, width, height, body, label):
    return ('<svg class="%s" viewBox="0 0 %d %d" width="%d" height="%d" role="img" '
            'aria-label="%s">%s</svg>' % (cls, width, height, width, height, _e(label),
                                          "".join(body)))


def robust_range(values):
    """(low, high) of values, leaving out a few far outliers (a run that
    diverged) so that they do not flatten the rest; whether some were."""
    values = sorted(values)
    low, high = values[0], values[-1]
    n = len(values)
    if n >= 20:
        p_low, p_high = values[n // 50], values[-1 - n // 50]
        if high - low > 4 * (p_high - p_low) > 0:
            pad = (p_high - p_low) * 0.5
            return max(low, p_low - pad), min(high, p_high + pad), True
    return low, high, False


def slice_svg(plot):
    """One parameter plot: a point per variation (or bin) at the mean, a
    bar over its spread."""
    points = plot["points"]
    width, height = 300, 210
    ys = [v for p in points for v in (p["lo"], p["hi"])]
    low, high, _ = robust_range(ys)
    y_ticks = ticks(low, high, 4)
    kind = plot["kind"]
    categories = plot["categories"]
    if kind == "cat":
        position = {t: i for i, t in enumerate(categories)}
        x_ticks = [-0.5, len(categories) - 0.5]
        frame = Frame(width, height, x_ticks, y_ticks)
        body = frame.axes(plot["x"], plot["y"], lambda v: "")
        for t, i in position.items():
            body.append('<text x="%.1f" y="%d" text-anchor="middle" class="tick cat">%s</text>'
                        % (frame.x(i), height - frame.bottom + 14, _e(t[:10])))
        x_of = lambda p: frame.x(position[str(p["x"])])  # noqa: E731
    else:
        xs = [p["x"] for p in points]
        x_ticks = log_ticks(min(xs), max(xs)) if kind == "log" else ticks(min(xs), max(xs), 4)
        frame = Frame(width, height, x_ticks, y_ticks, kind == "log", pad=0.05)
        body = frame.axes(plot["x"] + (" (log)" if kind == "log" else ""), plot["y"])
        x_of = lambda p: frame.x(p["x"])  # noqa: E731
    for p in points:
        x = x_of(p)
        what = ("%d variations: mean %s, from %s to %s" % (p["bin"], short(p["y"]), short(p["lo"]),
                                                           short(p["hi"])) if p["bin"] else
                "mean %s%s over %d run%s" % (short(p["y"]), " ± %s" % short(p["std"])
                                             if p["std"] is not None else "", p["n"],
                                             "" if p["n"] == 1 else "s"))
        if p["hi"] > p["lo"]:
            body.append('<line class="spread" x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" '
                        'stroke="#7a9cc6"/>' % (x, x, frame.clip_y(p["lo"]), frame.clip_y(p["hi"])))
        body.append('<circle class="pt%s" cx="%.1f" cy="%.1f" r="%s" data-x="%s" data-y="%s" '
                    'data-lo="%s" data-hi="%s" data-n="%d"><title>%s = %s: %s</title></circle>'
                    % (" best" if p["best"] else "", x, frame.clip_y(p["y"]),
                       "4.5" if p["best"] else "3", _e(short(p["x"]) if kind != "cat" else p["x"]),
                       short(p["y"]), short(p["lo"]), short(p["hi"]), p["bin"] or p["n"],
                       _e(plot["x"]), _e(p["x"]), _e(what)))
    return _svg("slice", width, height, body, "%s against %s" % (plot["y"], plot["x"]))


def curves_svg(chart):
    """Learning curves (step against the metric), coloured by how the run
    ended, with the rung cut-offs."""
    curves_ = chart["curves"]
    width, height = 720, 300
    steps = [s for c in curves_ for s, _ in c["points"]]
    values = [v for c in curves_ for _, v in c["points"]]
    values += [r[1] for r in chart["rungs"] if r[1] is not None]
    low, high, _ = robust_range(values)
    x_low, x_high = min(steps), max(steps + [r[0] for r in chart["rungs"]])
    x_log = x_low > 0 and x_high / x_low >= 20
    x_ticks = log_ticks(x_low, x_high) if x_log else ticks(x_low, x_high, 6)
    frame = Frame(width, height, x_ticks, ticks(low, high, 5), x_log)
    body = frame.axes("step" + (" (log)" if x_log else ""), chart["metric"])
    body.append('<clipPath id="clip-%s"><rect x="%d" y="%d" width="%d" height="%d"/></clipPath>'
                % (_e(_slug(chart["metric"])), frame.left, frame.top,
                   width - frame.left - frame.right, height - frame.top - frame.bottom))
    body.append('<g clip-path="url(#clip-%s)">' % _e(_slug(chart["metric"])))
    # kept runs drawn last, over the others
    rank = {"other": 0, "pruned": 1, "running": 2, "kept": 3}
    for c in sorted(curves_, key=lambda c: rank[c["kind"]]):
        body.append('<polyline class="curve curve-%s" data-id="%s" data-kind="%s" '
                    'data-steps="%d" fill="none" stroke="%s" stroke-width="%s" '
                    'stroke-opacity="%s" points="%s"><title>%s: %s, %d steps</title></polyline>'
                    % (c["kind"], _e(c["id"]), c["kind"], c["steps"], CURVE_COLOURS[c["kind"]],
                       "1.6" if c["kind"] == "kept" else "1.1",
                       "0.9" if c["kind"] == "kept" else "0.6",
                       " ".join("%.1f,%.1f" % (frame.x(s), frame.y(v)) for s, v in c["points"]),
                       _e(c["label"]), c["kind"], c["steps"]))
        if c["kind"] != "kept":
            # where it stopped (or is now): seen even for a run of one point
            s, v = c["points"][-1]
            body.append('<circle class="end" cx="%.1f" cy="%.1f" r="2.2" fill="%s"/>'
                        % (frame.x(s), frame.y(v), CURVE_COLOURS[c["kind"]]))
    body.append("</g>")
    for rung, cut, n, kept, pruned, bracket in chart["rungs"]:
        if x_log and rung <= 0:
            continue
        x = frame.x(rung)
        body.append('<g class="rung" data-rung="%s"%s data-cutoff="%s" data-values="%d">'
                    '<line x1="%.1f" x2="%.1f" y1="%d" y2="%d" stroke="#555" '
                    'stroke-dasharray="3,3"/>' % (
                        short(rung), "" if bracket is None else ' data-bracket="%d"' % bracket,
                        "" if cut is None else short(cut), n, x, x, frame.top,
                        height - frame.bottom))
        if cut is not None:
            y = frame.clip_y(cut)
            body.append('<line class="cutoff" x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" '
                        'stroke="#000" stroke-width="2.5"/>' % (x - 9, x + 9, y, y))
        body.append('<title>%srung %s: cut-off %s over %d value%s (%d kept, %d pruned)'
                    '</title></g>' % ("" if bracket is None else "bracket %d, " % bracket,
                                      short(rung), "-" if cut is None else short(cut), n,
                                      "" if n == 1 else "s", kept, pruned))
    return _svg("curves", width, height, body, "%s against step" % chart["metric"])


def progress_svg(chart, t0, clock, name):
    """The best value so far against time: a dot per run, a step line
    (`name`: the measure's)."""
    width, height = 720, 260
    dots, steps = chart["dots"], chart["steps"]
    t_end = max(d["t"] for d in dots)
    low, high, _ = robust_range([d["v"] for d in dots])
    span = max(t_end - t0, 1e-3)
    unit, what = next((u, w) for u, w in ((3600.0, "hours"), (60.0, "minutes"), (1.0, "seconds"))
                      if span >= 3 * u or u == 1.0)
    frame = Frame(width, height, ticks(0, span / unit, 6), ticks(low, high, 5))
    body = frame.axes("%s since the first run started (%s)" % (what, clock(t0)), name)
    for d in dots:
        body.append('<circle class="run%s" cx="%.1f" cy="%.1f" r="2.5" fill="%s" data-t="%.3f" '
                    'data-v="%s"><title>%s: %s</title></circle>'
                    % (" improved" if d["improved"] else "", frame.x((d["t"] - t0) / unit),
                       frame.clip_y(d["v"]), "#2e9d4a" if d["improved"] else "#b5b5b5",
                       d["t"], short(d["v"]), _e(d["label"]), short(d["v"])))
    line = []
    for i, s in enumerate(steps):
        x = frame.x((s["t"] - t0) / unit)
        if i:
            line.append("%.1f,%.1f" % (x, frame.clip_y(steps[i - 1]["v"])))
        line.append("%.1f,%.1f" % (x, frame.clip_y(s["v"])))
    line.append("%.1f,%.1f" % (frame.x(span / unit), frame.clip_y(steps[-1]["v"])))
    body.append('<polyline class="best-so-far" fill="none" stroke="#2e9d4a" stroke-width="2" '
                'points="%s" data-values="%s"/>' % (" ".join(line),
                                                    " ".join(short(s["v"]) for s in steps)))
    return _svg("best-so-far-chart", width, height, body, "best so far against time")


def _slug(text):
    return "".join(c if c.isalnum() else "-" for c in text)
