"""`seqgen serve`'s API (Starlette's test client, the app itself): the runs listed, a music
generation with scores, audio, the judge's verdicts and downloads, text streamed, and everything a
request must not do: name a path, pass the limits, break the page with a traceback."""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from starlette.testclient import TestClient  # its HTTP client: httpx2, in the test extra

from seqgen.errors import SeqgenError
from seqgen.serve.app import Settings, make_app
from seqgen.serve.catalog import Catalog
from tests.conftest import FIXTURES, invoke
from tests.test_evaluate import JIG
from tests.test_sample_judge import ending_model

CPU = torch.device("cpu")
TUNE_FORM = {"run": "ends", "meter": "6/8", "key": "D", "start": JIG, "tunes": 2, "seed": 5}


@pytest.fixture
def runs(tmp_path: Path) -> Path:
    """checkpoints/ with the legacy text run and `ends`, whose tunes are exactly the --start
    music (a whole jig the judge passes), and the ABC data it was trained on."""
    shutil.copytree(FIXTURES / "legacy" / "data" / "abc", tmp_path / "data" / "abc")
    ending_model(tmp_path / "checkpoints" / "ends", tmp_path / "data" / "abc")
    shutil.copytree(FIXTURES / "legacy" / "checkpoints" / "text-lstm", tmp_path / "checkpoints" / "text-lstm")
    return tmp_path / "checkpoints"


@pytest.fixture
def client(runs: Path):
    app = make_app(Catalog(runs, device=CPU, shipped=False), Settings())
    with TestClient(app) as c:
        yield c


def events(response: Any) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    return [json.loads(line) for line in response.text.splitlines() if line.strip()]


def test_the_page_and_its_assets_come_from_seqgen(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and "seqgen composer" in page.text
    for asset in ("/static/app.js", "/static/style.css"):
        assert client.get(asset).status_code == 200
    assert "http" not in page.text.replace("http-equiv", "")  # no CDN: it works offline
    assert "https://" not in client.get("/static/app.js").text


def test_the_runs_are_listed_with_their_kind_size_and_loss(client: TestClient) -> None:
    listed = {r["name"]: r for r in client.get("/api/runs").json()["runs"]}
    assert set(listed) == {"ends", "text-lstm"}
    assert listed["ends"]["music"] and listed["ends"]["conditioning"] and listed["ends"]["label"] == "ABC"
    assert not listed["text-lstm"]["music"] and listed["text-lstm"]["streams"]
    assert listed["text-lstm"]["parameters"] > 0 and listed["text-lstm"]["best_val_loss"] > 0


def test_music_comes_back_scored_judged_playable_and_saved(client: TestClient) -> None:
    got = events(client.post("/api/generate", json=TUNE_FORM))
    kinds = [e["type"] for e in got]
    assert kinds[0] == "queued" and kinds[1] == "start" and kinds[-1] == "done"
    assert "progress" in kinds
    tunes = [e for e in got if e["type"] == "tune"]
    assert len(tunes) == 2
    for tune in tunes:
        assert tune["text"].startswith("X:1\nM:6/8\nL:1/8\nK:D\n|:FAF DFA|")
        assert tune["ok"] and tune["kept_header"]
        assert all(c["ok"] for c in tune["judge"]["criteria"].values())
        assert tune["judge"]["copy_share"] is not None  # the training data is there: copying measured
        assert tune["svg"].startswith("<svg") and 'class="note' in tune["svg"]
        assert set(tune["files"]) == {"abc", "mid", "wav", "svg"}
        wav = client.get(tune["files"]["wav"])
        assert wav.status_code == 200 and wav.headers["content-type"] == "audio/wav"
        assert wav.content[:4] == b"RIFF" and len(wav.content) > 10_000
        mid = client.get(tune["files"]["mid"])
        assert mid.content[:4] == b"MThd" and "attachment" in mid.headers["content-disposition"]
        assert client.get(tune["files"]["abc"]).text == tune["text"]
    done = got[-1]
    assert done["saved"] == str(Path("samples") / "ends" / "seed-5")
    assert sorted(p.name for p in Path(done["saved"]).iterdir())[:4] == [
        "sample_001.abc",
        "sample_001.mid",
        "sample_001.svg",
        "sample_001.wav",
    ]
    # The same seed again never replaces the tunes made before: a new folder.
    again = events(client.post("/api/generate", json=TUNE_FORM))
    assert again[-1]["saved"] == str(Path("samples") / "ends" / "seed-5-2")
    assert Path(done["saved"], "sample_001.abc").read_text(encoding="utf-8") == tunes[0]["text"]


def test_without_fluidsynth_the_page_still_gets_audio(client: TestClient, monkeypatch) -> None:
    from seqgen.generate import pipeline

    monkeypatch.setattr(pipeline, "audio_problem", lambda soundfont: "FluidSynth is not installed")
    got = events(client.post("/api/generate", json={**TUNE_FORM, "tunes": 1}))
    tune = next(e for e in got if e["type"] == "tune")
    assert tune["plain_audio"] and got[-1]["audio"].startswith("plain synth")
    wav = client.get(tune["files"]["wav"]).content
    assert wav[:4] == b"RIFF" and len(wav) > 10_000


def test_text_is_streamed_as_it_is_drawn(client: TestClient) -> None:
    form = {"run": "text-lstm", "prompt": "The ", "length": 300, "seed": 2}
    got = events(client.post("/api/generate", json=form))
    texts = [e["text"] for e in got if e["type"] == "text"]
    assert texts[0] == "The " and len(texts) > 3  # the prompt, then pieces as they come
    assert len("".join(texts)) > 50
    assert got[-1]["type"] == "done" and got[-1]["saved"] is None


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"run": "../checkpoints/ends"}, "no such run"),
        ({"run": "checkpoints/ends"}, "no such run"),
        ({"run": "/etc/passwd"}, "no such run"),
        ({"run": ["ends"]}, "no such run"),
        ({**TUNE_FORM, "temperature": 5}, "temperature must lie in [0.0, 2.0], got 5.0"),
        ({**TUNE_FORM, "temperature": "hot"}, "temperature must be a number"),
        ({**TUNE_FORM, "tunes": 100}, "tunes must lie in [1, 8], got 100"),
        ({**TUNE_FORM, "length": 10**9}, "length must lie in [16, 3000]"),
        ({**TUNE_FORM, "key": "H"}, "key 'H' is not an ABC key"),
        ({**TUNE_FORM, "meter": "7/0"}, "metre"),
        ({"run": "ends", "start": "DEF"}, "opening needs key"),
        (
            {**TUNE_FORM, "rhythm": "jig"},
            "rhythm 'jig': the prompt holds characters the model never saw: 'j'",
        ),
        ({"run": "text-lstm", "length": 0}, "length must lie in [1, 2000], got 0"),
        ({"run": "text-lstm", "prompt": "\u263a"}, "prompt"),
        ({**TUNE_FORM, "fill_bars": "no"}, "fill_bars must be a JSON true or false, got 'no'"),
        ({"run": "text-lstm", "new_endings": False}, "new_endings: for ABC runs only; this run writes text"),
    ],
)
def test_a_bad_request_gets_one_line_and_no_traceback(client: TestClient, form: dict, message: str) -> None:
    r = client.post("/api/generate", json=form)
    assert r.status_code == 400  # refused before anything streams (a prompt's unseen characters too)
    error = r.json()["error"]
    assert message in error and "\n" not in error and "Traceback" not in error
    assert "--" not in error  # the page's field names, not the CLI's options


def test_the_bar_guide_can_be_switched_off_as_on_the_cli(client: TestClient) -> None:
    """`ends` ends every tune at once: started half-way through a bar, the bar guide keeps it
    drawing until the bar is full; with the page's Bar guide off (`--free-bars`), the tune is the
    half bar it was given."""
    half = {**TUNE_FORM, "key": "G", "start": "GAB dBG|cBA", "tunes": 1}
    for fill_bars, longer in ((True, True), (False, False)):
        got = events(client.post("/api/generate", json={**half, "fill_bars": fill_bars, "new_endings": True}))
        body = next(e for e in got if e["type"] == "tune")["text"].split("K:G\n", 1)[1].strip()
        assert body.startswith("GAB dBG|cBA") and (len(body) > len("GAB dBG|cBA")) == longer, body


def test_nothing_but_a_written_file_can_be_downloaded(client: TestClient, runs: Path) -> None:
    got = events(client.post("/api/generate", json={**TUNE_FORM, "tunes": 1}))
    address = next(e for e in got if e["type"] == "tune")["files"]["abc"]
    token = address.split("/")[2]
    for bad in (
        f"/files/{token}/best.pt",  # a real token with another name
        f"/files/{token}/..%2F..%2Fcheckpoints%2Fends%2Fbest.pt",
        "/files/x/sample_001.abc",
        "/files/../checkpoints/ends/best.pt",
        "/static/../../checkpoints/ends/best.pt",
        "/static/%2e%2e/%2e%2e/seqgen/serve/app.py",
    ):
        r = client.get(bad)
        assert r.status_code == 404, bad
        assert b"state_dict" not in r.content and b"PK" not in r.content[:2]


def test_a_request_that_is_not_a_json_object_is_refused(client: TestClient) -> None:
    r = client.post("/api/generate", content=b"run=ends", headers={"content-type": "application/json"})
    assert r.status_code == 400 and "not JSON" in r.json()["error"]
    assert client.post("/api/generate", json=["ends"]).status_code == 400


def test_a_request_over_the_size_limit_is_refused_unread(client: TestClient) -> None:
    r = client.post("/api/generate", json={"run": "text-lstm", "prompt": "a" * 20_000})
    assert r.status_code == 413 and "bytes" in r.json()["error"]


def test_the_download_index_keeps_the_newest_addresses_only(tmp_path: Path) -> None:
    from seqgen.serve.app import Files

    files = Files(keep=3)
    paths = [tmp_path / f"sample_{i}.abc" for i in range(5)]
    addresses = []
    for p in paths:
        p.write_text("X:1\n")
        addresses.append(files.address(p))
    found = [files.path(*a.split("/")[2:]) for a in addresses]
    assert found == [None, None, *paths[2:]]


def test_only_runs_inside_the_checkpoints_directory_are_served(runs: Path, tmp_path: Path) -> None:
    shutil.copytree(runs / "ends", tmp_path / "elsewhere")
    with pytest.raises(SeqgenError, match="lies outside"):
        Catalog(runs, [tmp_path / "elsewhere"], device=CPU, shipped=False)
    named = Catalog(runs, [runs / "ends"], device=CPU, shipped=False)
    assert [r.name for r in named.runs()] == ["ends"]


def test_a_link_out_of_the_folder_is_left_out_and_compare_runs_are_found(runs: Path, tmp_path: Path) -> None:
    """A run folder linked from outside checkpoints/ is skipped with a reason (the others are
    served); `seqgen compare`'s two runs, one folder down, are offered under their paths."""
    shutil.copytree(runs / "ends", tmp_path / "outside" / "evil")
    (runs / "evil").symlink_to(tmp_path / "outside" / "evil")
    shutil.copytree(runs / "ends", runs / "compare-folk" / "lstm")
    catalog = Catalog(runs, device=CPU, shipped=False)
    assert sorted(r.name for r in catalog.runs()) == ["compare-folk/lstm", "ends", "text-lstm"]
    assert len(catalog.skipped) == 1 and "evil lies outside" in catalog.skipped[0]
    with pytest.raises(SeqgenError, match="named twice"):
        Catalog(runs, [runs / "ends", runs / "compare-folk" / ".." / "ends"], device=CPU, shipped=False)


def test_the_page_samples_as_the_cli_does_and_takes_numbers_whole(client) -> None:
    """The temperature defaults to `seqgen sample`'s (the same seed gives the same tune in both);
    a count of 2.5 or true is refused, not rounded; a key for a text run is refused."""
    from seqgen.config import SampleConfig
    from seqgen.serve.app import STATIC

    page = (STATIC / "index.html").read_text()
    field = page[page.index('id="temperature"') :].split(">", 1)[0]
    assert f'value="{SampleConfig().temperature}"' in field
    for form, message in (
        ({"run": "ends", "tunes": 2.5}, "tunes must be a whole number, got 2.5"),
        ({"run": "ends", "tunes": True}, "tunes must be a number, got true"),
        ({"run": "text-lstm", "key": "D"}, "key: for ABC runs only; this run writes text"),
    ):
        r = client.post("/api/generate", json=form)
        assert r.status_code == 400 and r.json()["error"] == message, r.text


def test_a_model_is_loaded_once_and_shared(runs: Path) -> None:
    catalog = Catalog(runs, device=CPU, shipped=False)
    assert catalog.load("ends") is catalog.load("ends")


def bound(calls: list[tuple[str, int]]) -> Any:
    """A stand-in for uvicorn.Server.run that records where its socket is bound and closes it."""

    def run(self: Any, sockets: list[socket.socket] | None = None) -> None:
        assert sockets is not None
        calls.append(sockets[0].getsockname()[:2])
        sockets[0].close()

    return run


def test_serve_binds_to_this_machine_and_says_so_when_told_otherwise(runs: Path, monkeypatch) -> None:
    import uvicorn

    calls: list[tuple[str, int]] = []
    monkeypatch.setattr(uvicorn.Server, "run", bound(calls))
    port = free_port()
    r = invoke("serve", "--no-shipped", "--device", "cpu", "--port", str(port))
    assert r.exit_code == 0, r.output
    assert calls[-1] == ("127.0.0.1", port) and f"http://127.0.0.1:{port}" in r.output
    assert "warning" not in r.output
    other = free_port()
    r = invoke("serve", "--no-shipped", "--device", "cpu", "--host", "0.0.0.0", "--port", str(other))
    assert r.exit_code == 0 and calls[-1] == ("0.0.0.0", other)
    assert "other machines can reach this page" in " ".join(r.output.split())


def test_a_port_in_use_is_one_line_before_anything_is_printed(runs: Path, monkeypatch) -> None:
    import uvicorn

    monkeypatch.setattr(uvicorn.Server, "run", lambda self, sockets=None: pytest.fail("must not start"))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        r = invoke("serve", "--no-shipped", "--device", "cpu", "--port", str(port))
    assert r.exit_code == 1 and "Traceback" not in r.output
    assert r.output.strip().splitlines() == [
        f"error: cannot listen on 127.0.0.1:{port} (Address already in use); try another --port"
    ]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--port", "0"], "--port must lie in [1, 65535], got 0"),
        (["--out-dir", "nowhere"], "no runs to serve"),
        (["somewhere/else"], "is not a run directory"),
    ],
)
def test_serve_refuses_bad_options_in_one_line(
    runs: Path, args: list[str], message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn

    monkeypatch.setattr(uvicorn.Server, "run", lambda self, sockets=None: pytest.fail("must not start"))
    r = invoke("serve", "--no-shipped", "--device", "cpu", *args)
    assert r.exit_code == 1 and message in " ".join(r.output.split()) and "Traceback" not in r.output


@contextlib.contextmanager
def serving(app: Any) -> Iterator[str]:
    """`app` under uvicorn on a free loopback port, in a thread; yields its address."""
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def _post(url: str, form: dict[str, Any]) -> Any:
    req = urllib.request.Request(
        url + "/api/generate", json.dumps(form).encode(), {"Content-Type": "application/json"}
    )
    return urllib.request.urlopen(req, timeout=30)


def test_generations_past_the_limit_wait_or_are_told_the_server_is_busy(runs: Path, monkeypatch) -> None:
    """One generation runs, one waits, the third hears "busy" at once; the page still loads while
    they draw (generation runs off the event loop); the waiting one runs when the first ends."""
    from seqgen.serve import app as app_module

    entered, gate = threading.Event(), threading.Event()

    def slow_compose(loaded, request, samples_dir, files, emit, cancelled) -> None:
        emit({"type": "start"})
        entered.set()
        assert gate.wait(20)
        emit({"type": "done"})

    monkeypatch.setattr(app_module, "compose", slow_compose)
    app = make_app(Catalog(runs, device=CPU, shipped=False), Settings(max_running=1, max_waiting=1))
    with serving(app) as url:
        first = _post(url, {"run": "ends"})
        assert json.loads(first.readline())["type"] == "queued"
        assert entered.wait(20)
        second = _post(url, {"run": "ends"})
        assert json.loads(second.readline()) == {"type": "queued", "ahead": 1}
        with pytest.raises(urllib.error.HTTPError) as busy:
            _post(url, {"run": "ends"})
        assert busy.value.code == 429
        message = json.loads(busy.value.read())["error"]
        assert message == "the server is busy (1 generations running, 1 waiting); try again in a moment"
        started = time.perf_counter()
        assert b"seqgen composer" in urllib.request.urlopen(url + "/", timeout=5).read()
        assert time.perf_counter() - started < 2  # the page answers while a generation draws
        gate.set()
        assert [json.loads(x)["type"] for x in first] == ["start", "done"]
        assert [json.loads(x)["type"] for x in second] == ["start", "done"]


STUCK_SERVER = """
import sys, time
import seqgen.serve.compose as compose_module
import seqgen.serve.app as app_module

def stuck(*args, **kwargs):  # a generation inside a library call that never looks up
    print("stuck", flush=True)
    while True:
        time.sleep(0.05)

app_module.compose = stuck
from seqgen.cli import main
sys.argv = ["seqgen", "serve", "--no-shipped", "--device", "cpu", "--port", sys.argv[1]]
main()
"""


def test_a_stopped_server_does_not_wait_for_a_stuck_generation(runs: Path) -> None:
    """A generation stuck inside a library call (music21 once took minutes over one tune) kept a
    Ctrl-C'd server alive; now it leaves after a short wait, saying so."""
    import signal
    import subprocess
    import sys

    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-c", STUCK_SERVER, str(port)],
        cwd=runs.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(url + "/api/runs", timeout=2).read()
                break
            except OSError:
                assert time.monotonic() < deadline and server.poll() is None, "the server did not start"
                time.sleep(0.2)
        form = json.dumps({"run": "text-lstm", "length": 50}).encode()
        request = urllib.request.Request(url + "/api/generate", form, {"Content-Type": "application/json"})
        ask = threading.Thread(target=lambda: urllib.request.urlopen(request, timeout=30).read(), daemon=True)
        ask.start()
        assert server.stdout is not None
        while "stuck" not in server.stdout.readline():
            pass
        server.send_signal(signal.SIGINT)
        out, _ = server.communicate(timeout=20)
    finally:
        server.kill()
    assert "left 1 unfinished generation" in out and "Traceback" not in out
