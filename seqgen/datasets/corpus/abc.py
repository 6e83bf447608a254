"""ABC tunebooks -> normalized tunes with an identity, a leakage-free train/val split, validation.

Owns: splitting tunebooks at `X:`, normalizing each tune's text, the tune identity (`Tune.key`),
`split_tunes` and `validate_tunes`. Does not own which files make a built-in corpus (see
`seqgen.datasets.corpus.builtin`), turning ABC into notes (see `seqgen.music.abc`) or tokens.

Normalization (the model sees only this text):
- line ends become `\\n`, tabs spaces; each line is stripped; blank lines are dropped;
- characters are printable ASCII plus `\\n`: other characters are transliterated (NFKD, e.g.
  `é` -> `e`, curly quotes -> straight ones) or dropped, which also removes the Essen mojibake
  (C1 control codes) and any control character;
- every tune starts `X:1`: the running index carries no music, and folk-rnn-style corpora do
  the same (the original number is kept in `Tune.source`);
- fields are written `F:value`. Always kept: X, M, L, K, Q, R, P, V, U (symbol definitions) and
  m (macros), which change how the music reads; T only with `keep_titles`; lyrics (w:, W:)
  always dropped; every other field (A B C D F G H I N O S Z r s ...: area, book, composer,
  discography, file, group, history, instruction, notes, origin, source, transcription,
  remarks, symbol lines) is an info field, kept only with `keep_info_fields`. `+:` continues
  the field before it;
- `%` comment lines and trailing `% ...` comments are dropped unless `keep_comments`;
- lines before the first `X:` of a file (the file header) are dropped; lines that are not
  fields before `K:` are dropped; a tune with no `K:`, or no music line after it, is skipped.

Identity: two tunes are the same tune when they share an O'Neill's number (the B: number, else
the X: number, for files in a folder named `oneills1850`, whose books overlap), or when their
music is the same after whitespace, chord symbols, decorations, slurs and bar-line styles are
stripped (so exact duplicates and trivial re-transcriptions collide). Both rules are joined by a
union-find, and `Tune.key` names the whole group, so a split by key keeps each group on one side.
"""

from __future__ import annotations

import hashlib
import os
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path

from seqgen.errors import SeqgenError

Progress = Callable[[int, int], None]  # (done, total)

MUSIC_FIELDS = frozenset("XMLKQRPVUm")  # plus T (titles), which has its own option
LYRIC_FIELDS = frozenset("wW")
ONEILL_FOLDER = "oneills1850"

_TUNE_START = re.compile(r"(?m)^(?=X:)")
_FIELD = re.compile(r"([A-Za-z+]):(.*)")
_TRAILING_COMMENT = re.compile(r"(?<!\\)%.*")
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f]")
_NON_PRINTABLE = re.compile(r"[^\x20-\x7e\n]")
_ASCII_LOOKALIKES = str.maketrans({"‘": "'", "’": "'", "“": '"', "”": '"', "–": "-", "—": "-", "ß": "ss"})
_CHORD_SYMBOL = re.compile(r'"[^"\n]*"')
_DECORATION = re.compile(r"![^!\n]*!|\+[^+\n]*\+")
_NOT_MUSIC = re.compile(r"[^A-Ga-gzZx,'^_=0-9/<>\[\]|:]")
_BARS = re.compile(r"[|:\[\]]+")
_NUMBER = re.compile(r"\d+")

# Validating many tunes is worth a process pool; for a handful, starting workers costs more.
MIN_TUNES_FOR_POOL = 64


@dataclass(frozen=True)
class Tune:
    """One normalized tune. `text` starts `X:1`, ends with one `\\n`, has no blank lines."""

    text: str
    key: str  # identity group; tunes sharing it must land on the same side of a split
    source: str  # where it came from: `path#X:12`


@dataclass
class AbcOptions:
    """What of a tune's text to keep (see the module docstring for the field classes)."""

    keep_titles: bool = True  # titles are cheap and give the model a natural prompt
    keep_comments: bool = False  # comments are prose, not music
    keep_info_fields: bool = False  # N:, O:, Z:, B: ... are mostly transcriber prose and emails


@dataclass
class AbcReadResult:
    tunes: list[Tune]
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> number of tunes
    files: int = 0
    latin1_files: int = 0  # files that were not valid UTF-8 and were read as latin-1


def clean_chars(text: str) -> str:
    """Line ends to `\\n`, tabs to spaces, and only printable ASCII plus `\\n` (see module doc)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\t", " ")
    if text.isascii():
        return _CONTROL.sub("", text)
    text = unicodedata.normalize("NFKD", text.translate(_ASCII_LOOKALIKES))
    return _NON_PRINTABLE.sub("", text)


def split_tunebook(text: str) -> list[str]:
    """Split a tunebook at each line starting `X:`; text before the first `X:` is dropped."""
    return _TUNE_START.split(text)[1:]


@dataclass
class _Parsed:
    text: str | None
    reason: str | None  # why the tune was skipped
    x: str  # the original X: value
    book: str | None  # the first B: value
    body: list[str]  # music lines after K:


def _parse_tune(chunk: str, options: AbcOptions) -> _Parsed:
    """Normalize one tune's text (already through `clean_chars`)."""
    out = ["X:1"]
    body: list[str] = []
    x, book, has_k, keep_prev = "", None, False, False
    for raw in chunk.split("\n"):
        line = raw.strip()
        if not line:
            continue
        if line.startswith("%"):
            if options.keep_comments:
                out.append(line)
            continue
        if not options.keep_comments:
            line = _TRAILING_COMMENT.sub("", line).rstrip()
            if not line:
                continue
        m = _FIELD.fullmatch(line)
        if m is None:
            if has_k:
                out.append(line)
                body.append(line)
            continue
        letter, value = m.group(1), m.group(2).strip()
        if letter == "X":
            x = x or value
            continue
        if letter == "B" and book is None:
            book = value
        if letter == "K":
            has_k = True
        if letter == "+":
            keep = keep_prev
        elif letter == "T":
            keep = options.keep_titles
        elif letter in LYRIC_FIELDS:
            keep = False
        else:
            keep = letter in MUSIC_FIELDS or options.keep_info_fields
        keep_prev = keep
        if keep:
            out.append(f"{letter}:{value}")
    if not has_k:
        return _Parsed(None, "no K: field", x, book, body)
    if not body:
        return _Parsed(None, "no music after K:", x, book, body)
    return _Parsed("\n".join(out) + "\n", None, x, book, body)


def _music_of(body_lines: Iterable[str]) -> str:
    s = "".join(body_lines)
    s = _DECORATION.sub("", _CHORD_SYMBOL.sub("", s))
    return _BARS.sub("|", _NOT_MUSIC.sub("", s)).strip("|")


def _hash(s: str) -> str:
    return hashlib.blake2b(s.encode(), digest_size=8).hexdigest()


def body_key(text: str) -> str:
    """Identity of a normalized tune's music: `body:<hash>` of its lines after K:, stripped of
    whitespace, chord symbols, decorations, slurs and bar-line styles."""
    lines = text.split("\n")
    k = next((i for i, ln in enumerate(lines) if ln.startswith("K:")), len(lines))
    return _body_key(ln for ln in lines[k + 1 :] if ln and not ln.startswith("%"))


def _body_key(body_lines: Iterable[str]) -> str:
    return "body:" + _hash(_music_of(ln for ln in body_lines if not _FIELD.fullmatch(ln)))


def _number_key(path: Path, x: str, book: str | None) -> str | None:
    """`oneills1850:<n>` for a tune of O'Neill's 1850 collection, else None."""
    if path.parent.name != ONEILL_FOLDER:
        return None
    nums = _NUMBER.findall(book) if book and "neill" in book.lower() else []
    if not nums:
        nums = _NUMBER.findall(x)[:1]
    return f"{ONEILL_FOLDER}:{int(nums[-1])}" if nums else None


class _Groups:
    """Union-find over identity keys; a group is named by its smallest number key, else its
    smallest body key, so names do not depend on input order."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    @staticmethod
    def _rank(key: str) -> tuple[bool, str]:
        return (key.startswith("body:"), key)

    def find(self, key: str) -> str:
        self.parent.setdefault(key, key)
        root = key
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[key] != root:
            self.parent[key], key = root, self.parent[key]
        return root

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            lo, hi = sorted((ra, rb), key=self._rank)
            self.parent[hi] = lo


def _abc_files(paths: list[Path]) -> list[Path]:
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(q for q in p.rglob("*.abc") if q.is_file())
            if not found:
                raise SeqgenError(f"no .abc files under {p}")
            files.extend(found)
        elif p.is_file():
            files.append(p)
        else:
            raise SeqgenError(f"ABC path {p} does not exist")
    return files


def read_abc(paths: list[Path], options: AbcOptions, on_progress: Progress | None = None) -> AbcReadResult:
    """Read `.abc` files and folders (searched recursively) into normalized tunes with keys.

    A file that is not valid UTF-8 is read as latin-1 and counted in `latin1_files`.
    `on_progress(files_done, files_total)` is called after each file.
    """
    files = _abc_files(paths)
    result = AbcReadResult(tunes=[], files=len(files))
    skipped: Counter[str] = Counter()
    found: list[tuple[str, str, str]] = []  # (text, source, body key)
    groups = _Groups()
    for done, path in enumerate(files, 1):
        raw = path.read_bytes()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("latin-1")
            result.latin1_files += 1
        for chunk in split_tunebook(clean_chars(text)):
            parsed = _parse_tune(chunk, options)
            if parsed.text is None:
                skipped[parsed.reason or "unknown"] += 1
                continue
            number = _number_key(path, parsed.x, parsed.book)
            body = _body_key(parsed.body)
            groups.union(body, number or body)
            found.append((parsed.text, f"{path}#X:{parsed.x}", body))
        if on_progress is not None:
            on_progress(done, len(files))
    result.tunes = [Tune(text=t, key=groups.find(b), source=s) for t, s, b in found]
    result.skipped = dict(skipped)
    return result


def split_tunes(
    tunes: list[Tune], val_fraction: float = 0.1, seed: int = 1337
) -> tuple[list[Tune], list[Tune]]:
    """Split into (train, val) by identity group, so no tune has a version on both sides.

    Tunes with identical text are kept once. Tunes sharing a key or a `body_key` form one group.
    Groups are ordered by a hash of (seed, group name) and taken into val while they fit within
    `val_fraction` of the tunes (when none fits, the smallest group: at least one group when there
    are two or more), so the split depends only on the tunes and the seed, not on their order, and
    a large merged group never swells val past its share. Each side keeps input order.
    """
    if not 0.0 <= val_fraction < 1.0:
        raise SeqgenError(f"val_fraction must be in [0, 1), got {val_fraction}")
    seen: set[str] = set()
    unique: list[Tune] = []
    for t in tunes:
        if t.text not in seen:
            seen.add(t.text)
            unique.append(t)
    groups = _Groups()
    for t in unique:
        groups.union(t.key, body_key(t.text))
    sizes = Counter(groups.find(t.key) for t in unique)
    order = sorted(sizes, key=lambda g: hashlib.sha256(f"{seed}:{g}".encode()).digest())
    target = round(val_fraction * len(unique))
    if val_fraction > 0 and len(order) >= 2:
        target = max(target, 1)
    val_groups: set[str] = set()
    n_val = 0
    largest = max(order, key=lambda g: sizes[g])  # the first in hash order among equals
    candidates = [g for g in order if g != largest]  # the largest group always stays in train
    for g in candidates:
        if n_val >= target:
            break
        if n_val + sizes[g] > target:
            continue  # too big to fit; a smaller group further on may
        val_groups.add(g)
        n_val += sizes[g]
    if not val_groups and target and candidates:
        # Every group is larger than the target: take the smallest one (the first in hash order
        # among equals), never a large merged group that happens to come first.
        val_groups.add(min(candidates, key=lambda g: sizes[g]))
    train = [t for t in unique if groups.find(t.key) not in val_groups]
    val = [t for t in unique if groups.find(t.key) in val_groups]
    return train, val


def _check_one(text: str) -> str | None:
    """Why music21 cannot use this tune, or None if it parses and holds notes. Runs in workers."""
    from seqgen.music.abc import parse_abc

    try:
        score = parse_abc(text)
    except SeqgenError as exc:
        msg = str(exc)
        return msg.split(": ", 1)[1] if msg.startswith("cannot parse tune ") and ": " in msg else msg
    if not any(not n.duration.isGrace for n in score.recurse().notes):
        return "no notes"
    return None


def validate_tunes(
    tunes: list[Tune], workers: int | None = None, on_progress: Progress | None = None
) -> tuple[list[Tune], dict[str, int]]:
    """Parse every tune with music21; drop those that fail or hold no (non-grace) notes.

    Returns the kept tunes (input order) and reason -> count for the dropped ones. Uses a pool
    of `workers` processes (default: CPU count; spawned, so it is safe beside torch) for
    `MIN_TUNES_FOR_POOL` tunes or more. `on_progress(done, total)` is called as tunes finish.
    """
    workers = workers or os.cpu_count() or 1
    texts = [t.text for t in tunes]
    total = len(texts)
    if workers <= 1 or total < MIN_TUNES_FOR_POOL:
        reasons = []
        for i, text in enumerate(texts, 1):
            reasons.append(_check_one(text))
            if on_progress is not None:
                on_progress(i, total)
    else:
        chunksize = max(1, min(32, total // (workers * 8)))
        with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
            reasons = []
            for i, reason in enumerate(pool.map(_check_one, texts, chunksize=chunksize), 1):
                reasons.append(reason)
                if on_progress is not None:
                    on_progress(i, total)
    kept = [t for t, r in zip(tunes, reasons, strict=True) if r is None]
    dropped = Counter(r for r in reasons if r is not None)
    return kept, dict(dropped)
