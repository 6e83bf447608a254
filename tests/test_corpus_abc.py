"""ABC tunebooks: splitting, normalization, identity keys, the leakage-free split, validation,
and the built-in music21 corpora."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from seqgen.datasets.corpus import abc as corpus_abc
from seqgen.datasets.corpus.abc import (
    AbcOptions,
    Tune,
    body_key,
    read_abc,
    split_tunebook,
    split_tunes,
    validate_tunes,
)
from seqgen.datasets.corpus.builtin import CORPORA, DEFAULT_CORPUS, corpus_paths, list_corpora
from seqgen.errors import SeqgenError

FIXTURES = Path(__file__).parent / "fixtures"
TUNEBOOK = FIXTURES / "abc_tunebook.abc"


def _music21_corpus_has(folder: str) -> bool:
    try:
        from music21 import corpus

        return any(Path(p).parent.name == folder for p in corpus.getPaths(fileExtensions=("abc",)))
    except Exception:
        return False


needs_oneill = pytest.mark.skipif(
    not _music21_corpus_has("oneills1850"), reason="music21's bundled oneills1850 corpus is not installed"
)


def _tune(x: int, title: str, body: str, extra: str = "") -> str:
    return f"X: {x}\nT:{title}\n{extra}M:2/4\nL:1/8\nK:G\n{body}\n"


# --- splitting and normalization ---------------------------------------------------------------


def test_split_tunebook_drops_file_header_and_counts_tunes():
    chunks = split_tunebook(TUNEBOOK.read_text())
    assert len(chunks) == 4
    assert all(c.startswith("X:") for c in chunks)
    assert not any("file header" in c for c in chunks)


def test_read_fixture_keeps_good_tunes_and_counts_rejects():
    result = read_abc([TUNEBOOK], AbcOptions())
    assert result.files == 1
    assert [t.source.rsplit("#", 1)[1] for t in result.tunes] == ["X:3", "X:7"]
    assert result.skipped == {"no K: field": 1, "no music after K:": 1}


def test_default_normalization():
    first = read_abc([TUNEBOOK], AbcOptions()).tunes[0].text
    assert first == (
        "X:1\nT:Morning on the Quay\nR:reel\nM:4/4\nL:1/8\nQ:1/4=100\nK:D\n"
        "|:DFAF dFAF|GBdB AFED|\nDFAF dfed|cAGE D4:|\n"
    )


@pytest.mark.parametrize(
    ("options", "present", "absent"),
    [
        (AbcOptions(), ["T:Morning", "R:reel", "Q:1/4=100"], ["C:", "N:", "O:", "Z:", "w:", "%", "\n\n"]),
        (AbcOptions(keep_titles=False), ["R:reel"], ["T:"]),
        (AbcOptions(keep_info_fields=True), ["C:seqgen tests", "N:Written", "O:Nowhere", "Z:hand"], ["w:"]),
        (AbcOptions(keep_comments=True), ["% a comment line", "D4:|   % a trailing"], ["w:", "\n\n"]),
    ],
    ids=["default", "no-titles", "info-fields", "comments"],
)
def test_fields_kept_per_options(options, present, absent):
    text = read_abc([TUNEBOOK], options).tunes[0].text
    for s in present:
        assert s in text
    for s in absent:
        assert s not in text
    assert text.startswith("X:1\n") and text.endswith("\n") and not text.endswith("\n\n")


def test_crlf_mojibake_control_chars_and_unicode(tmp_path):
    raw = (
        "X:5\r\nT:Caf\u00e9 \u2019s Waltz\u0007\r\nN:Essen mojibake \u0081\u0084\u0094\r\n"
        "M:3/4\r\nL:1/4\r\nK:C\r\n\r\nC\tE G|c2 z|]  \r\n"
    )
    path = tmp_path / "crlf.abc"
    path.write_bytes(raw.encode("utf-8"))
    text = read_abc([path], AbcOptions(keep_info_fields=True)).tunes[0].text
    assert text == "X:1\nT:Cafe 's Waltz\nN:Essen mojibake\nM:3/4\nL:1/4\nK:C\nC E G|c2 z|]\n"
    assert all(c == "\n" or " " <= c <= "~" for c in text)


def test_latin1_file_is_read_and_counted(tmp_path):
    path = tmp_path / "latin1.abc"
    path.write_bytes(b"X:1\nT:Caf\xe9\nM:2/4\nL:1/8\nK:C\nCDEF|GABc|\n")
    result = read_abc([path], AbcOptions())
    assert result.latin1_files == 1
    assert "T:Cafe\n" in result.tunes[0].text


def test_directories_are_searched_and_missing_paths_named(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "one.abc").write_text(_tune(1, "One", "GABc|d4|"))
    (tmp_path / "a" / "notes.txt").write_text(_tune(2, "Not ABC", "GABc|d4|"))
    assert len(read_abc([tmp_path / "a"], AbcOptions()).tunes) == 1
    with pytest.raises(SeqgenError, match="nowhere.abc"):
        read_abc([tmp_path / "nowhere.abc"], AbcOptions())


def test_progress_callback_counts_files():
    seen = []
    read_abc(
        [TUNEBOOK, FIXTURES / "abc_plain.abc"], AbcOptions(), on_progress=lambda d, n: seen.append((d, n))
    )
    assert seen == [(1, 2), (2, 2)]


# --- identity and the leakage-free split -------------------------------------------------------


@pytest.fixture
def overlapping_book(tmp_path) -> list[Tune]:
    """O'Neill-style overlap: tune 2 transcribed twice; tune 3 also elsewhere, re-spaced."""
    oneill = tmp_path / "oneills1850"
    oneill.mkdir()
    (oneill / "0001-0002.abc").write_text(
        _tune(1, "First", "GABc|dBAG|", "B:O'Neill's 1\n") + _tune(2, "Second", "DEFG|A4|", "B:O'Neill's 2\n")
    )
    (oneill / "0002-0003.abc").write_text(
        _tune(2, "Second, The", "D>EF>G|A2 A2|")  # another transcription, no B: field
        + _tune(3, "Third", '"G"g2 fe|d4|]', "B:O'Neill's 3\n")
    )
    other = tmp_path / "other"
    other.mkdir()
    (other / "copies.abc").write_text(
        _tune(40, "Third Again", "g2fe | d4 ||")  # same music as tune 3, other bar lines and spacing
        + _tune(41, "First", "GABc|dBAG|")  # exact text duplicate of tune 1 once renumbered X:1
        + "".join(_tune(100 + i, f"Filler {i}", f"{'CDEFGAB'[i % 7]}{i % 5 + 1}|c4|") for i in range(12))
    )
    return read_abc([oneill, other], AbcOptions()).tunes


def _key_of(tunes: list[Tune], title: str) -> set[str]:
    return {t.key for t in tunes if f"T:{title}\n" in t.text}


def test_same_number_and_same_music_share_a_key(overlapping_book):
    assert len(_key_of(overlapping_book, "Second") | _key_of(overlapping_book, "Second, The")) == 1
    assert _key_of(overlapping_book, "Third") == _key_of(overlapping_book, "Third Again")
    assert _key_of(overlapping_book, "First") != _key_of(overlapping_book, "Second")
    assert body_key(_tune(1, "a", "g2fe|d4|")) == body_key(_tune(9, "b", '"G"g2 f e | d4 |]'))


@pytest.mark.parametrize("seed", range(12))
def test_split_never_leaks_a_tune(overlapping_book, seed):
    train, val = split_tunes(overlapping_book, val_fraction=0.4, seed=seed)
    assert val and train
    assert not {t.key for t in train} & {t.key for t in val}
    assert not {body_key(t.text) for t in train} & {body_key(t.text) for t in val}
    for titles in (("Second", "Second, The"), ("Third", "Third Again")):
        sides = {any(f"T:{ti}\n" in t.text for t in val) for ti in titles}
        assert len(sides) == 1, f"{titles} on both sides"
    assert len(train) + len(val) == len(overlapping_book) - 1  # the exact duplicate is dropped


def test_split_is_deterministic_and_ignores_input_order(overlapping_book):
    _, val = split_tunes(overlapping_book, seed=7)
    shuffled = list(overlapping_book)
    random.Random(0).shuffle(shuffled)
    _, val2 = split_tunes(shuffled, seed=7)
    assert {t.source for t in val} == {t.source for t in val2}


def _synthetic(n_groups: int, per_group: int = 1) -> list[Tune]:
    return [
        Tune(text=f"X:1\nT:{g}-{k}\nK:C\nC{g}D{k}|\n", key=f"g{g}", source=f"s{g}-{k}")
        for g in range(n_groups)
        for k in range(per_group)
    ]


@pytest.mark.parametrize(("n_groups", "per_group"), [(300, 1), (100, 3)])
def test_val_gets_about_the_fraction(n_groups, per_group):
    tunes = _synthetic(n_groups, per_group)
    train, val = split_tunes(tunes, val_fraction=0.1)
    assert abs(len(val) - 0.1 * len(tunes)) <= per_group
    assert len(train) + len(val) == len(tunes)
    assert len({t.key for t in val}) * per_group == len(val)  # whole groups only


def test_a_large_merged_group_never_swells_val_past_its_share():
    """One identity group of 8 versions among 12 single tunes: whatever the seed puts first, val
    holds about 10% of the tunes (2) and never the large group."""
    big = [Tune(text=f"X:1\nT:big-{k}\nK:C\nE{k}F|\n", key="big", source=f"b{k}") for k in range(8)]
    tunes = big + _synthetic(12)
    for seed in range(40):
        train, val = split_tunes(tunes, val_fraction=0.1, seed=seed)
        assert len(train) + len(val) == 20 and 1 <= len(val) <= 2, (seed, len(val))
        assert all(t.key != "big" for t in val), seed


def test_val_takes_the_smallest_group_when_none_fits():
    """Groups of 5, 4 and 3 tunes, a 10% share of 12 fits none: val takes the smallest group the
    split may use (the group last in hash order always stays in train)."""
    tunes = [
        Tune(text=f"X:1\nT:{g}-{k}\nK:C\nC{g}D{k}|\n", key=f"g{g}", source=f"s{g}-{k}")
        for g in range(3)
        for k in range(5 - g)
    ]
    for seed in range(20):
        train, val = split_tunes(tunes, val_fraction=0.1, seed=seed)
        keys = {t.key for t in val}
        assert len(keys) == 1, seed
        assert len(val) in (3, 4), seed
        if len(val) == 4:  # g2, the smallest, must then be the group kept in train
            assert sum(t.key == "g2" for t in train) == 3, seed


def test_two_groups_give_one_val_group_and_bad_fraction_fails():
    train, val = split_tunes(_synthetic(2), val_fraction=0.01)
    assert len(train) == 1 and len(val) == 1
    with pytest.raises(SeqgenError, match="val_fraction"):
        split_tunes(_synthetic(2), val_fraction=1.0)


# --- validation --------------------------------------------------------------------------------

GOOD = "X:1\nT:Good\nM:2/4\nL:1/8\nK:C\nCDEF|GABc|\n"
BAD_CHORD = "X:1\nT:Bad Chord\nM:2/4\nL:1/8\nK:C\n[ceg4|CDEF|\n"
NO_NOTES = 'X:1\nT:Swallowed\nM:2/4\nL:1/8\nK:C\n"Am CDEF|GABc|\n'


def test_validate_tunes_drops_bad_tunes_with_reasons():
    tunes = [Tune(GOOD, "a", "a"), Tune(BAD_CHORD, "b", "b"), Tune(NO_NOTES, "c", "c"), Tune(GOOD, "d", "d")]
    kept, dropped = validate_tunes(tunes, workers=1)
    assert [t.source for t in kept] == ["a", "d"]
    assert dropped["no notes"] == 1
    (reason,) = [r for r in dropped if r != "no notes"]
    assert reason.startswith("ABCHandlerException: Bad chord indicator")


def test_validate_tunes_in_a_process_pool(monkeypatch):
    monkeypatch.setattr(corpus_abc, "MIN_TUNES_FOR_POOL", 2)
    tunes = [Tune(BAD_CHORD if i == 3 else GOOD, str(i), str(i)) for i in range(6)]
    done = []
    kept, dropped = validate_tunes(tunes, workers=2, on_progress=lambda d, n: done.append(d))
    assert [t.source for t in kept] == ["0", "1", "2", "4", "5"]
    assert sum(dropped.values()) == 1
    assert done[-1] == 6


# --- built-in corpora --------------------------------------------------------------------------


def test_unknown_corpus_lists_valid_names():
    with pytest.raises(SeqgenError, match="oneills1850.*all"):
        corpus_paths("nottingham")


@needs_oneill
def test_list_corpora_counts_oneill():
    infos = {i.name: i for i in list_corpora()}
    assert set(infos) == set(CORPORA)
    assert DEFAULT_CORPUS == "oneills1850"
    assert infos["oneills1850"].files == 39
    assert 1990 <= infos["oneills1850"].tunes <= 2030
    assert "non-commercial" in infos["essenFolksong"].licence
    assert infos["all"].tunes == sum(i.tunes for n, i in infos.items() if n != "all")
    essen = {p.name for p in corpus_paths("essenFolksong")}
    assert essen and not essen & {"test0.abc", "test1.abc", "testd.abc", "teste.abc"}


@needs_oneill
def test_real_oneill_overlap_stays_on_one_side():
    files = [p for p in corpus_paths("oneills1850") if p.name in ("0626-0635.abc", "0626-0700.abc")]
    tunes = read_abc(files, AbcOptions()).tunes
    by_key: dict[str, set[str]] = {}
    for t in tunes:
        by_key.setdefault(t.key, set()).add(Path(t.source.split("#")[0]).name)
    shared = [k for k, names in by_key.items() if len(names) == 2]
    assert len(shared) >= 10  # tunes 626..635 are in both files
    assert "oneills1850:626" in shared
    for seed in range(5):
        train, val = split_tunes(tunes, val_fraction=0.3, seed=seed)
        assert not {t.key for t in train} & {t.key for t in val}
        val_keys = {t.key for t in val}
        for key in shared:  # both transcriptions on the side their key went to
            sides = {t.key in val_keys for t in tunes if t.key == key}
            assert len(sides) == 1
            assert sum(t.key == key for t in (val if key in val_keys else train)) == 2


@pytest.mark.parametrize("seed", range(8))
def test_one_large_group_stays_in_train(tmp_path, seed):
    """Twenty versions of one tune (one identity group) and one other tune: whatever the seed's
    hash order, val takes the small group, never the twenty."""
    (tmp_path / "grp.abc").write_text(
        "".join(_tune(i + 1, f"Version {i}", "g2fe|d4|") for i in range(20)) + _tune(99, "Other", "ABcd|e4|")
    )
    book = read_abc([tmp_path / "grp.abc"], AbcOptions()).tunes
    train, val = split_tunes(book, val_fraction=0.1, seed=seed)
    assert len(val) == 1 and len(train) == 20
