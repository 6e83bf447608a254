"""The built-in ABC corpora: music21's bundled folk collections, read in place, never copied.

Owns: the corpus names (`CORPORA`, `DEFAULT_CORPUS`), which installed files make each one, and a
short description with its licence note. Does not own reading or normalizing tunes (see
`seqgen.datasets.corpus.abc`).

The files are whatever `music21.corpus.getPaths` lists, chosen by their folder name. music21's
licence lets them be used locally but not redistributed (Essen: non-commercial only), so seqgen
never vendors them or writes derived tune files into the repository.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from seqgen.errors import SeqgenError

DEFAULT_CORPUS = "oneills1850"
ALL = "all"

_LOCAL_USE = "music21 corpus terms: use locally, do not redistribute"
_COLLECTIONS: dict[str, tuple[str, str]] = {  # name -> (description, licence note)
    "oneills1850": (
        "O'Neill's Music of Ireland (1850 tunes, 1903), Irish dance tunes and airs",
        f"transcriber credits in Z:, no licence stated; {_LOCAL_USE}",
    ),
    "ryansMammoth": (
        "Ryan's Mammoth Collection (1883), American and British fiddle tunes, one per file",
        f"transcriber credits in Z:, no licence stated; {_LOCAL_USE}",
    ),
    "airdsAirs": (
        "Aird's Selection of Scotch, English, Irish and Foreign Airs (1782-1803)",
        f"transcribed by Jack Campin; {_LOCAL_USE}",
    ),
    "essenFolksong": (
        "Essen folksong collection, mostly German and Chinese songs (test files excluded)",
        "non-commercial use only (Essen licence, essenFolksong/license.txt)",
    ),
    "miscFolk": (
        "American fife tunes and Northumbrian Minstrelsy, some in several voices",
        f"transcribed by Jack Campin; {_LOCAL_USE}",
    ),
}
CORPORA: tuple[str, ...] = (*_COLLECTIONS, ALL)
_ESSEN_TEST_FILES = frozenset({"test0.abc", "test1.abc", "testd.abc", "teste.abc"})
_TUNE_START = re.compile(rb"(?m)^X:")


@dataclass(frozen=True)
class CorpusInfo:
    name: str
    description: str
    files: int
    tunes: int  # lines starting `X:`
    licence: str


@lru_cache(maxsize=1)
def _by_collection() -> dict[str, tuple[Path, ...]]:
    from music21 import corpus

    found: dict[str, list[Path]] = {name: [] for name in _COLLECTIONS}
    for p in corpus.getPaths(fileExtensions=("abc",)):
        p = Path(p)
        folder = p.parent.name
        if folder in found and not (folder == "essenFolksong" and p.name in _ESSEN_TEST_FILES):
            found[folder].append(p)
    return {name: tuple(sorted(paths)) for name, paths in found.items()}


def corpus_paths(name: str = DEFAULT_CORPUS) -> list[Path]:
    """The sorted `.abc` files of built-in corpus `name` (one of `CORPORA`)."""
    if name not in CORPORA:
        raise SeqgenError(f"unknown corpus {name!r}; choose one of: {', '.join(CORPORA)}")
    collections = _by_collection()
    names = list(collections) if name == ALL else [name]
    paths = sorted(p for n in names for p in collections[n])
    if not paths:
        raise SeqgenError(f"corpus {name!r} is missing from the installed music21; reinstall music21")
    return paths


def _count_tunes(paths: list[Path]) -> int:
    return sum(len(_TUNE_START.findall(p.read_bytes())) for p in paths)


def list_corpora() -> list[CorpusInfo]:
    """Every built-in corpus with its file and tune counts (a corpus missing from music21 shows 0)."""
    collections = _by_collection()
    infos: list[CorpusInfo] = []
    for name, (description, licence) in _COLLECTIONS.items():
        paths = list(collections[name])
        infos.append(CorpusInfo(name, description, len(paths), _count_tunes(paths), licence))
    infos.append(
        CorpusInfo(
            ALL,
            "all five collections above",
            sum(i.files for i in infos),
            sum(i.tunes for i in infos),
            "includes Essen: non-commercial use only",
        )
    )
    return infos
