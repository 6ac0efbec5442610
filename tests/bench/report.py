"""The benchmark's outputs: the targets check, the printed table, docs/benchmarks.md."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from server.settings import REPO_ROOT

DOCS = REPO_ROOT / "docs" / "benchmarks.md"
KEEP_START = "<!-- hand-written: kept by the generator -->"
KEEP_END = "<!-- end hand-written -->"


def _get(result: dict[str, Any], *path: str) -> Any:
    value: Any = result
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


def targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target of issue 7, what was measured, and by how much it is missed."""

    def row(name: str, measured: Any, limit: float, unit: str, higher_is_better: bool = False
            ) -> dict[str, Any]:  # fmt: skip
        if measured is None:
            return {"target": name, "measured": None, "unit": unit, "met": None, "by": None}
        met = measured >= limit if higher_is_better else measured < limit
        by = None
        if not met:
            by = (f"{limit / measured:.1f}x too slow" if higher_is_better and measured
                  else f"{measured - limit:+.1f} {unit} ({measured / limit:.1f}x the target)")  # fmt: skip
        return {"target": name, "measured": measured, "unit": unit, "met": met, "by": by}

    best = max((_get(result, "ingest", n, "saturated", "events_per_s") or 0
                for n in _counts(result, "ingest")), default=None)  # fmt: skip
    heat = _get(result, "heatmap_ms", "slowest_p50_ms")
    push = result.get("persona_push_ms") or {}
    push_row = row("persona push p99 < 1 s (local model)", push.get("p99"), 1000, "ms")
    if push.get("p99") is None and push.get("visits"):
        gap = push.get("probe_gap_s", 0)
        push_row.update(met=False, by=f"no push within {gap} s of any batch "
                        f"({push['visits']} probe visits): the persona worker lags the stream")  # fmt: skip
    keeps_up = [
        row(f"store keeps up at {int(n):,} shoppers ({mode}): lag at the end <= 5 s of traffic",
            _get(result, "ingest", n, mode, "stream_lag", "seconds_of_traffic"), 5.0001, "s")
        for n in _counts(result, "ingest") for mode in ("paced", "saturated")
    ]  # fmt: skip
    ratios = [
        row(f"acknowledged ingest >= 0.8 x bare python-socketio at {int(n):,} ({mode})",
            _ratio(result, n, mode), 0.8, "x", higher_is_better=True)
        for n in _counts(result, "ingest") for mode in ("paced", "saturated")
    ]  # fmt: skip
    return [
        *keeps_up,
        *ratios,
        row("ack p99 < 50 ms at 1,000 shoppers (tracker pace)",
            _get(result, "ingest", "1000", "paced", "ack_p99_ms"), 50, "ms"),
        push_row,
        row(">= 100,000 events/s acknowledged (issue 7; 50-event batches)", best or None,
            100_000, "events/s", higher_is_better=True),
        row("heatmap API < 100 ms at 1,000,000 events", heat, 100, "ms"),
        row("no tracker task over 50 ms", _get(result, "tracker", "on", "longest_tracker_task_ms"),
            50, "ms"),
        row("< 50 ms tracker main-thread time per minute",
            _get(result, "tracker", "on", "tracker_ms_per_min"), 50, "ms/min"),
        row("frustration and zone facts add <= 10 ms per minute to the tracker (issue 14)",
            _get(result, "tracker", "added_ms_per_min"), 10.0001, "ms/min"),
        row("frustration API < 100 ms at 1,000,000 events",
            _get(result, "heatmap_ms", "frustration", "p50_ms"), 100, "ms"),
        row("struggling pages API < 100 ms at 1,000,000 events",
            _get(result, "heatmap_ms", "frustration_pages", "p50_ms"), 100, "ms"),
        row("zone API < 100 ms at 1,000,000 events",
            _get(result, "heatmap_ms", "zones", "p50_ms"), 100, "ms"),
        row("< 60 KiB per idle connection", _kib_per_conn(result), 60, "KiB"),
    ]  # fmt: skip


def _ratio(result: dict[str, Any], n: str, mode: str) -> float | None:
    ours = _get(result, "ingest", n, mode, "events_per_s")
    base = _get(result, "ingest_baseline", n, mode, "events_per_s")
    return round(ours / base, 3) if ours is not None and base else None


def _kib_per_conn(result: dict[str, Any]) -> float | None:
    value = result.get("rss_per_1000_conn_mib")
    return round(value * 1024 / 1000, 1) if isinstance(value, (int, float)) else None


def _fmt(value: Any, suffix: str = "") -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        value = f"{value:,.1f}" if abs(value) < 1000 else f"{value:,.0f}"
    elif isinstance(value, int):
        value = f"{value:,}"
    return f"{value}{suffix}"


def _counts(result: dict[str, Any], key: str) -> list[str]:
    return sorted((result.get(key) or {}).keys(), key=int)


def _ingest_rows(result: dict[str, Any], key: str, label: str) -> list[list[str]]:
    rows = []
    for n in _counts(result, key):
        for mode in ("saturated", "paced"):
            phase = _get(result, key, n, mode)
            if phase is None:
                continue
            rows.append([label, f"{int(n):,}", mode, _fmt(phase["events_per_s"]),
                         _fmt(phase["ack_p50_ms"]), _fmt(phase["ack_p99_ms"]),
                         _fmt(phase.get("server_cpu_pct"), " %"),
                         _fmt(phase.get("worker_cpu_pct"), " %"),
                         _fmt(phase.get("generator_cpu_pct"), " %"),
                         _lag_cell(phase.get("stream_lag")),
                         ", ".join(f"{k}: {v}" for k, v in phase["errors"].items()) or "–"])  # fmt: skip
    return rows


def _lag_cell(lag: dict[str, Any] | None) -> str:
    if not lag:
        return "–"
    return f"{_fmt(lag.get('entries'))} batches ({_fmt(lag.get('seconds_of_traffic'))} s)"


def tables(result: dict[str, Any]) -> dict[str, tuple[list[str], list[list[str]]]]:
    """The figures as named tables (header, rows)."""
    ingest_header = ["server", "shoppers", "load", "acked events/s", "ack p50 ms", "ack p99 ms",
                     "server CPU", "workers CPU", "generators CPU", "lag at end", "errors"]  # fmt: skip
    ingest = (_ingest_rows(result, "ingest", "vitrine")
              + _ingest_rows(result, "ingest_baseline", "bare python-socketio")
              + _ingest_rows(result, "ingest_2proc", "vitrine × 2 processes"))  # fmt: skip
    ratio = result.get("ingest_ratio") or {}
    push = result.get("persona_push_ms") or {}
    flush = result.get("flush") or {}
    heat = result.get("heatmap_ms") or {}
    tracker = result.get("tracker") or {}
    memory = result.get("memory") or {}
    lag = flush.get("stream_lag_end") or {}
    other: list[list[str]] = [
        ["ingest ratio vs bare python-socketio (saturated)",
         ", ".join(f"{int(n):,}: {_fmt(r)}" for n, r in sorted(ratio.items(), key=lambda kv: int(kv[0])))
         or "–"],
        ["persona push p50 / p99 (1,000 shoppers)",
         f"{_fmt(push.get('p50'))} / {_fmt(push.get('p99'))} ms "
         f"({push.get('samples', 0)} pushes, {push.get('no_push', 0)} visits without one)"],
        ["flushed to the store", f"{_fmt(flush.get('events_per_s'))} events/s"],
        ["MongoDB writes per 1,000 events / per flush round (frames and checkpoints)",
         f"{_fmt(flush.get('write_ops_per_1000_events'))} / "
         f"{_fmt(flush.get('write_ops_per_round'))} ({_fmt(flush.get('flush_rounds'))} rounds)"],
        ["stream lag at the end of the load",
         f"{_fmt(lag.get('entries'))} batches ≈ {_fmt(lag.get('events'))} events"
         f" ({_fmt(lag.get('drain_s'))} s to drain)"],
        ["heatmap API p50 / p99, move · click · scroll",
         " · ".join(f"{_fmt(_get(heat, k, 'p50_ms'))} / {_fmt(_get(heat, k, 'p99_ms'))} ms"
                    for k in ("move", "click", "scroll"))
         + f" ({_fmt(heat.get('events'))} events)"],
        ["frustration · struggling pages · zones API p50 / p99",
         " · ".join(f"{_fmt(_get(heat, k, 'p50_ms'))} / {_fmt(_get(heat, k, 'p99_ms'))} ms"
                    for k in ("frustration", "frustration_pages", "zones"))
         + f" ({_fmt(heat.get('frustration_documents'))} signal, "
           f"{_fmt(heat.get('zone_documents'))} zone documents)"],
        ["tracker before issue 14 (same script): attributable",
         f"{_fmt(_get(tracker, 'before', 'tracker_ms_per_min'))} ms per min; today's adds "
         f"{_fmt(tracker.get('added_ms_per_min'))} ms per min" if "before" in tracker else "–"],
        ["tracker on: main thread / attributable / longest task",
         f"{_fmt(_get(tracker, 'on', 'main_thread_ms_per_min'))} / "
         f"{_fmt(_get(tracker, 'on', 'tracker_ms_per_min'))} ms per min / "
         f"{_fmt(_get(tracker, 'on', 'longest_tracker_task_ms'))} ms"
         if "on" in tracker else tracker.get("skipped", "–")],
        ["tracker off: main thread / attributable / longest task",
         f"{_fmt(_get(tracker, 'off', 'main_thread_ms_per_min'))} / "
         f"{_fmt(_get(tracker, 'off', 'tracker_ms_per_min'))} ms per min / "
         f"{_fmt(_get(tracker, 'off', 'longest_tracker_task_ms'))} ms"
         if "off" in tracker else "–"],
        ["server RSS per 1,000 idle connections",
         f"{_fmt(result.get('rss_per_1000_conn_mib'))} MiB ({_fmt(_kib_per_conn(result))} KiB"
         f" each; {_fmt(memory.get('connections'))} connections)"],
    ]  # fmt: skip
    target_rows = [
        [t["target"], _fmt(t["measured"], " " + t["unit"]),
         "–" if t["met"] is None else ("met" if t["met"] else f"missed: {t['by']}")]
        for t in result.get("targets", [])
    ]  # fmt: skip
    return {
        "ingest": (ingest_header, ingest),
        "other": (["measurement", "result"], other),
        "targets": (["target", "measured", ""], target_rows),
    }


def text_table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=False)]
    line = "  ".join("-" * w for w in widths)
    out = ["  ".join(str(c).ljust(w) for c, w in zip(header, widths, strict=False)), line]
    out += ["  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=False)) for row in rows]
    return "\n".join(out)


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    def esc(cell: str) -> str:
        return str(cell).replace("|", "\\|")

    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(esc(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


def render_text(result: dict[str, Any]) -> str:
    parts = [f"Vitrine benchmark — {result['date']} — {result['machine']['summary']}"]
    for name, (header, rows) in tables(result).items():
        parts += ["", name.upper(), text_table(header, rows)]
    return "\n".join(parts)


def render_docs(result: dict[str, Any], kept: str) -> str:
    machine = result["machine"]
    t = tables(result)
    section: Callable[[str], str] = lambda name: markdown_table(*t[name])  # noqa: E731
    return "\n".join([
        "# Benchmarks",
        "",
        "Generated by `make bench` (`python -m tests.bench.run`); the numbers below are the",
        "last full run's, also in `var/bench/latest.json`. The section between the",
        "hand-written markers is kept when the file is regenerated.",
        "",
        f"- command: `{result['command']}`",
        f"- date: {result['date']}",
        f"- machine: {machine['summary']}",
        f"- other load on the machine during the run: {_fmt(machine.get('other_cpu_pct'), ' %')}"
        " of one core on average (processes outside the benchmark)",
        f"- wall time: {_fmt(result.get('wall_s'))} s",
        "",
        "## Targets",
        "",
        section("targets"),
        "",
        "## Ingest",
        "",
        "`saturated`: every shopper sends 50-event batches back to back, one in flight (the",
        "most the server acknowledges); `paced`: one 50-event batch per shopper per second,",
        "the tracker's cadence (latency at a realistic load). Load generators are",
        f"{result['config']['generators']} separate processes of python-socketio clients on the",
        "same machine, so they share its cores with the server.",
        "",
        section("ingest"),
        "",
        "## Everything else",
        "",
        section("other"),
        "",
        KEEP_START,
        kept.strip(),
        KEEP_END,
        "",
    ])  # fmt: skip


def kept_section(path: Path = DOCS) -> str:
    if not path.exists():
        return "## What limits it\n\n(to be written)\n"
    match = re.search(re.escape(KEEP_START) + r"(.*?)" + re.escape(KEEP_END),
                      path.read_text(encoding="utf-8"), re.S)  # fmt: skip
    return match.group(1) if match else "## What limits it\n\n(to be written)\n"


def write_docs(result: dict[str, Any], path: Path = DOCS) -> None:
    path.write_text(render_docs(result, kept_section(path)), encoding="utf-8")
