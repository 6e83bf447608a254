"""Engraved scores: a tune's ABC, or a MIDI file written from one, as sheet music (SVG), and
that SVG as a PNG.

Owns: `engrave_abc`, `engrave_midi`, `svg_to_png` and `ScoreFacts` (what an engraved SVG shows:
staves, bars, notes, title). Engraving is verovio's (a library from PyPI: no MuseScore or
LilyPond), from the MusicXML that music21 writes of a parsed tune or MIDI file. PNG is
cairosvg's, an optional extra. Does not own where scores are written (`seqgen.generate.writer`,
`seqgen.cli.plot`).
"""

from __future__ import annotations

import concurrent.futures
import re
import threading
from dataclasses import dataclass
from pathlib import Path

from seqgen.errors import SeqgenError

PAGE_WIDTH = 2100  # verovio units (tenths of a mm at scale 100): an A4 page's width
SCALE = 40  # percent: about a printed tune book's staff size on a screen


@dataclass(frozen=True)
class ScoreFacts:
    """What an engraved SVG shows, read from verovio's element classes."""

    staves: int  # one per system and bar (verovio draws a staff inside each measure)
    bars: int
    notes: int  # notes and grace notes; rests not counted
    rests: int
    title: str
    staff_lines: int

    @classmethod
    def of(cls, svg: str) -> ScoreFacts:
        head = svg[svg.find('class="pgHead') :] if 'class="pgHead' in svg else ""
        head = head[: head.find("</text>")]  # the first text of the page head: the title
        head = re.sub(r"<title[^>]*>.*?</title>", "", head)  # a label for screen readers
        title = " ".join(t.strip() for t in re.findall(r">([^<>]+)<", head) if t.strip())
        lines = re.findall(r'class="staff">\s*((?:<path d="M[^"]*" stroke-width="\d+" />\s*)+)', svg)
        return cls(
            staves=svg.count('class="staff"'),
            bars=svg.count('class="measure"'),
            notes=len(re.findall(r'class="note(?: [^"]*)?"', svg)),
            rests=len(re.findall(r'class="rest(?: [^"]*)?"', svg)),
            title=title,
            staff_lines=sum(block.count("<path") for block in lines),
        )


def _toolkit():  # -> verovio.toolkit
    try:
        import verovio
    except ImportError as e:
        raise SeqgenError(
            "engraving a score needs verovio: pip install verovio (it is one of seqgen's dependencies)"
        ) from e
    verovio.enableLog(verovio.LOG_OFF)
    tk = verovio.toolkit()
    tk.setOptions(
        {
            "pageWidth": PAGE_WIDTH,
            "pageHeight": 60000,  # verovio's largest: a tune stays on one page
            "adjustPageHeight": True,
            "scale": SCALE,
            "footer": "none",
            "breaks": "auto",
        }
    )
    return tk


# The longest note or rest a score is engraved with, in quarter notes: eight bars of 4/4. A model's
# `d381` (381 eighths) took music21's MusicXML writer minutes; no folk tune holds one note so long.
MAX_NOTE_BEATS = 32.0

ENGRAVE_STACK = 64 * 1024 * 1024  # verovio recurses deeply: a worker thread's default stack is too small


_ENGRAVER: list[concurrent.futures.ThreadPoolExecutor] = []
_ENGRAVER_LOCK = threading.Lock()


def _render(data: str, input_from: str) -> str | None:
    """verovio's SVG of `data`, always drawn on one thread of its own with a large stack: verovio
    silently draws nothing on a thread other than the one it first drew on (a web server's
    workers), and its recursion overruns a worker thread's default stack."""
    with _ENGRAVER_LOCK:
        if not _ENGRAVER:
            previous = threading.stack_size(ENGRAVE_STACK)
            try:
                pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="seqgen-engrave")
                pool.submit(lambda: None).result()  # start its thread now, with the large stack
            finally:
                threading.stack_size(previous)
            _ENGRAVER.append(pool)
    return _ENGRAVER[0].submit(lambda: _render_here(_toolkit(), data, input_from)).result()


def _render_here(tk, data: str, input_from: str) -> str | None:
    tk.setOptions({"inputFrom": input_from})
    if not tk.loadData(data) or tk.getPageCount() < 1:
        return None
    pages = [tk.renderToSVG(i) for i in range(1, tk.getPageCount() + 1)]
    svg = pages[0] if len(pages) == 1 else _stack(pages)
    return svg if ScoreFacts.of(svg).notes else None


def _stack(pages: list[str]) -> str:
    """Several SVG pages as one SVG, one under the other."""
    sizes = [tuple(int(v) for v in re.findall(r'(?:width|height)="(\d+)px"', p)[:2]) for p in pages]
    width = max(w for w, _ in sizes)
    out, y = [], 0
    for page, (_, h) in zip(pages, sizes, strict=True):
        out.append(re.sub(r"^<svg ", f'<svg y="{y}" ', page, count=1))
        y += h
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
        f'width="{width}px" height="{y}px">' + "".join(out) + "</svg>\n"
    )


def _musicxml(stream) -> str:
    """music21's MusicXML of `stream`, without the title and composer music21 puts on a piece
    that has none ("Music21 Fragment", "Music21"): a tune with no T: gets no title."""
    from music21 import defaults
    from music21.musicxml.m21ToXml import GeneralObjectExporter

    xml = GeneralObjectExporter(stream).parse().decode("utf-8")
    xml = xml.replace(f"<movement-title>{defaults.title}</movement-title>", "")
    return xml.replace(f'<creator type="composer">{defaults.author}</creator>', "")


def engrave_abc(text: str, name: str = "the tune") -> str:
    """One ABC tune as an engraved SVG: music21 parses the ABC and verovio engraves its MusicXML.
    (verovio reads ABC too, but its ABC reader crashes the process on some text a model writes,
    an empty tune for one; music21 refuses such text with an exception.) Raises SeqgenError when
    the tune holds no note."""
    from seqgen.music.abc import parse_abc

    abc = text if re.match(r"\s*X:", text) else "X:1\n" + text
    try:
        stream = parse_abc(abc)  # quietly: music21's parser warnings stay off the terminal
    except SeqgenError as e:
        raise SeqgenError(f"{name} could not be engraved: music21 cannot read its ABC ({e})") from e
    if not stream.recurse().notes:
        raise SeqgenError(f"{name} could not be engraved: it holds no notes")
    longest = max(float(n.duration.quarterLength) for n in stream.recurse().notesAndRests)
    if longest > MAX_NOTE_BEATS:  # music21's MusicXML writer takes minutes over such a note
        raise SeqgenError(
            f"{name} could not be engraved: a note or rest lasts {longest:g} beats "
            f"(at most {MAX_NOTE_BEATS:g}; no tune holds one note that long)"
        )
    try:
        xml = _musicxml(stream)
    except Exception as e:  # music21's MusicXML writer refuses some durations a model writes
        why = str(e).strip().splitlines()[0][:120] if str(e).strip() else type(e).__name__
        raise SeqgenError(f"{name} could not be engraved: music21 cannot write it as MusicXML ({why})") from e
    svg = _render(xml, "xml")
    if svg is None:
        raise SeqgenError(f"{name} could not be engraved: verovio drew no notes from it")
    return svg


def engrave_midi(path: Path) -> str:
    """A MIDI file as an engraved SVG, through music21's MusicXML (quantized to sixteenths and
    triplets). A MIDI file holds no metre or key of its own here, so music21 guesses them (4/4,
    accidentals written out): engrave the ABC a tune came from where there is one."""
    from music21 import converter, metadata

    try:
        stream = converter.parse(str(path), quantizePost=True)
        for part in stream.recurse().getElementsByClass("Part"):
            part.partName = part.partAbbreviation = None  # no "Piano" / "Pno" beside every line
        for el in list(stream.recurse().getElementsByClass(["Instrument", "MetronomeMark"])):
            el.activeSite.remove(el)  # nor a tempo mark MIDI's default tempo put there
        stream.metadata = metadata.Metadata(title=path.stem, composer="")
        xml = _musicxml(stream)
    except Exception as e:  # a corrupt or empty file: music21 raises many kinds
        raise SeqgenError(f"{path} could not be read as MIDI for a score ({type(e).__name__})") from e
    svg = _render(xml, "xml")
    if svg is None:
        raise SeqgenError(f"{path} could not be engraved: it holds no notes")
    return svg


def svg_to_png(svg: str, path: Path, width: int = 1600) -> None:
    """Write `svg` as a PNG `width` pixels wide on white (cairosvg, the `png` extra)."""
    try:
        import cairosvg
    except (ImportError, OSError) as e:  # OSError: the Cairo library itself is missing
        raise SeqgenError(
            'a PNG score needs cairosvg and the Cairo library: pip install "seqgen[png]" '
            "(and Cairo: apt install libcairo2, or brew install cairo), or write .svg"
        ) from e
    cairosvg.svg2png(
        bytestring=svg.encode("utf-8"), write_to=str(path), output_width=width, background_color="white"
    )
