"""One short block per sample for `seqgen eval --samples` and `seqgen sample`: its name, pass or
fail, and its details, wrapped under one another to the console's width and never cut, so they read
in an 80-column terminal and in a file alike (a wide table squeezes its columns to `samp…`).

Owns: the layout of those blocks and the words for the tune judge's verdict on one tune
(`judge_details`). The verdict itself is `seqgen.music.judge`'s; the figures are
`seqgen.measure.samples`'.
"""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING

from rich.console import Console
from rich.text import Text

from seqgen.cli import console

if TYPE_CHECKING:
    from seqgen.measure.samples import JudgeScore

_INDENT_MAX = 28  # a longer name puts its details on the next line, indented by 4


def entry(name: str, ok: bool | None, details: list[str], width: int | None = None) -> Text:
    """`name  pass  detail; detail; ...` wrapped to `width` (default: the console's), later lines
    indented under the details. `ok` None: no pass or fail (a text sample)."""
    width = max(20, width or console.width)
    status = "" if ok is None else ("pass" if ok else "fail")
    head = f"{name}  {status}  " if status else f"{name}  "
    body = "; ".join(details)
    if len(head) > min(_INDENT_MAX, width // 2):
        lines = [name + (f"  {status}" if status else "")]
        lines += _wrap(body, width, " " * 4, " " * 4)
    else:
        lines = _wrap(body, width, head, " " * len(head)) or [head.rstrip()]
    text = Text("\n".join(lines))
    if status:
        at = lines[0].find(status, len(name))
        text.stylize("green" if ok else "red", at, at + len(status))
    return text


def _wrap(body: str, width: int, first: str, rest: str) -> list[str]:
    return textwrap.wrap(body, width, initial_indent=first, subsequent_indent=rest, break_on_hyphens=False)


def show(entries: list[Text], to: Console = console) -> None:
    """Print the blocks as laid out: no further wrapping, nothing cut."""
    for text in entries:
        to.print(text, soft_wrap=True, highlight=False)


def judge_details(judge: JudgeScore, unit: str = "character", longest: int | None = None) -> list[str]:
    """The judge's verdict in short clauses: each failed criterion with its reason (criteria that
    failed for one reason, as an unreadable tune's do, share it), those passed, then the figures
    (bars played, inner bars that fill the metre, the last note, copying)."""
    reasons: dict[str, list[str]] = {}
    for name, c in judge.criteria.items():
        if not c.ok:
            reasons.setdefault(c.reason or "failed", []).append(name)
    passed = [name for name, c in judge.criteria.items() if c.ok]
    if judge.copy_share is None and "plagiarism" in passed:
        passed.remove("plagiarism")  # passed because it was never measured
    out = [f"{_and(names)}: {reason}" for reason, names in reasons.items()]
    if reasons and passed:
        out.append(f"{_and(passed)} ok")
    if judge.played_bars is not None and not any("bars played" in r for r in reasons):
        out.append(f"{judge.played_bars:.0f} bars played")
    if judge.full_inner_bars is not None and judge.inner_bars:
        out.append(f"{judge.full_inner_bars} of {judge.inner_bars} inner bars fill {judge.meter}")
    if judge.readable:
        out.append("ends on the tonic" if judge.ends_on_tonic else "does not end on the tonic")
    if judge.copy_share is None:
        out.append("plagiarism not measured")
    else:
        copied = f" ({plural(longest, unit)})" if longest is not None else ""
        out.append(f"copy {judge.copy_share:.0%}{copied}")
    return out


def _and(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def plural(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.0f}%"
