// The composer page: pick a run, fill the form, Generate; events stream in as NDJSON lines.
"use strict";

const $ = (id) => document.getElementById(id);
let runs = [];

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c);
  return node;
}

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = !message;
}

function describe(run) {
  const size = run.parameters >= 1e6 ? (run.parameters / 1e6).toFixed(1) + "M" : Math.round(run.parameters / 1e3) + "k";
  const val = run.best_val_loss == null ? "" : `, best val loss ${run.best_val_loss.toFixed(3)}`;
  const trained = run.steps ? `, ${run.steps.toLocaleString()} steps in ${run.minutes} min` : "";
  return `${run.label} data (${run.data}), ${run.model}, ${size} parameters${val}${trained}`;
}

function currentRun() {
  return runs.find((r) => r.name === $("run").value);
}

function pickRun() {
  const run = currentRun();
  if (!run) return;
  $("run-info").textContent = describe(run) + (run.shipped ? ". Ships with seqgen." : "");
  $("tune-fields").hidden = !run.music;
  for (const id of ["meter", "key", "rhythm", "start", "fill_bars", "new_endings"]) {
    $(id).closest(".grid").querySelectorAll(`[for=${id}], #${id}`).forEach((n) => (n.hidden = !run.conditioning));
  }
  $("text-fields").hidden = run.music;
}

async function loadRuns() {
  const response = await fetch("/api/runs");
  const body = await response.json();
  runs = body.runs;
  $("run").replaceChildren(
    ...runs.map((r) => el("option", { value: r.name }, `${r.name} — ${r.label}, ${r.model}`))
  );
  if (!runs.length) showError("No runs to serve: train one with `seqgen train`, then restart `seqgen serve`.");
  $("generate").disabled = !runs.length;
  pickRun();
}

function formValues() {
  const run = currentRun();
  const data = { run: run.name };
  const fields = run.music
    ? ["temperature", "seed", "tunes"].concat(run.conditioning ? ["meter", "key", "rhythm", "start"] : [])
    : ["temperature", "seed", "prompt", "length", "top_k", "top_p"];
  for (const f of fields) if ($(f).value !== "") data[f] = $(f).value;
  if (run.music && run.conditioning) for (const f of ["fill_bars", "new_endings"]) data[f] = $(f).checked;
  return data;
}

function progress(event) {
  const box = $("progress");
  if (event.tokens != null) {
    box.max = event.length;
    box.value = event.tokens;
    const draw = event.draw > 1 ? ` (redraw ${event.draw - 1} of the tunes that failed)` : "";
    $("status").textContent = `drawing: ${event.tokens} of up to ${event.length} tokens${draw}; ${event.done} of ${event.total} done`;
  } else {
    $("status").textContent = `${event.done} of ${event.total} done`;
  }
}

function verdictList(tune) {
  const list = el("ul", { class: "verdict" });
  if (!tune.judge) {
    list.append(el("li", { class: tune.ok ? "ok" : "no" }, tune.ok ? "music check passed" : `music check: ${tune.reason}`));
    return list;
  }
  for (const [name, c] of Object.entries(tune.judge.criteria)) {
    const unmeasured = name === "plagiarism" && tune.judge.copy_share == null;
    const text = unmeasured ? "plagiarism not measured (training data not found)" : c.ok ? name : `${name}: ${c.reason}`;
    list.append(el("li", { class: c.ok ? "ok" : "no", "data-criterion": name }, text));
  }
  return list;
}

function tuneCard(tune) {
  const title = (tune.text || "").match(/^T:(.*)$/m);
  const passed = tune.ok !== false;
  const card = el(
    "article",
    { class: "tune", "data-ok": String(passed) },
    el("h2", {}, title ? title[1].trim() : tune.name, el("span", { class: "badge " + (passed ? "pass" : "fail") }, passed ? "pass" : "fail"))
  );
  card.append(verdictList(tune));
  const facts = [];
  if (tune.judge) {
    if (tune.judge.played_bars != null) facts.push(`${Math.round(tune.judge.played_bars)} bars played`);
    facts.push(tune.judge.ends_on_tonic ? "ends on the tonic" : "does not end on the tonic");
  }
  if (tune.kept_header != null) facts.push(tune.kept_header ? "kept the asked metre and key" : "strayed from the asked metre or key");
  facts.push(`${tune.seconds} s`);
  facts.push(tune.draws > 1 ? `drawn ${tune.draws} times, draw ${tune.attempts} kept` : "drawn once");
  if (tune.new_ending) facts.push("its last two bars redrawn");
  card.append(el("p", { class: "facts" }, facts.join(" · ")));
  const score = el("div", { class: "score" });
  if (tune.svg) {
    score.innerHTML = tune.svg;
    const svg = score.querySelector("svg");
    if (svg) {  // read as one picture, not as verovio's text
      svg.setAttribute("role", "img");
      svg.setAttribute("aria-label", `Score of ${title ? title[1].trim() : tune.name}`);
    }
  }
  else if (tune.score_error) score.append(el("p", { class: "score-missing" }, `no score: ${tune.score_error}`));
  card.append(score);
  if (tune.files.wav) {
    const audio = el("audio", { controls: "", preload: "metadata", src: tune.files.wav });
    card.append(audio);
    if (tune.plain_audio) card.append(el("p", { class: "info" }, "Plain synth sound: install FluidSynth for instruments."));
  }
  const links = el("p", { class: "downloads" });
  for (const [ext, href] of Object.entries(tune.files)) {
    links.append(el("a", { href, download: href.split("/").pop(), class: "download", "data-ext": ext }, `.${ext}`));
  }
  card.append(links);
  if (tune.text) card.append(el("details", {}, el("summary", {}, "ABC"), el("pre", {}, tune.text)));
  return card;
}

let stopper = null;  // aborts the running generation's request: the server stops at its next token

async function generate(event) {
  event.preventDefault();
  showError("");
  $("generate").disabled = true;
  stopper = new AbortController();
  $("stop").hidden = false;
  $("progress-box").hidden = false;
  $("progress").removeAttribute("value");
  $("status").textContent = "starting…";
  $("saved").textContent = "";
  const run = currentRun();
  try {
    const response = await fetch("/api/generate", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(formValues()),
      signal: stopper.signal,
    });
    if (!response.ok) {
      let message = `the server answered ${response.status}`;
      try { message = (await response.json()).error || message; } catch (e) { /* not JSON */ }
      throw new Error(message);
    }
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let nl;
      while ((nl = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        if (line.trim()) handle(JSON.parse(line));
      }
    }
  } catch (e) {
    if (e.name === "AbortError") $("saved").textContent = "Stopped.";
    else showError(e.message || String(e));
  } finally {
    stopper = null;
    $("stop").hidden = true;
    $("generate").disabled = false;
    $("progress-box").hidden = true;
  }
}

function handle(event) {
  switch (event.type) {
    case "queued":
      $("status").textContent = event.ahead ? `waiting for ${event.ahead} other generation(s)…` : "starting…";
      break;
    case "start":  // the request was accepted: only now the last results go
      $("tunes-out").replaceChildren();
      $("text-out").textContent = "";
      $("text-out").hidden = currentRun().music;
      $("status").textContent = `seed ${event.seed}: drawing…`;
      $("seed").placeholder = `random (last: ${event.seed})`;
      break;
    case "progress":
      progress(event);
      break;
    case "text":
      $("text-out").textContent += event.text;
      break;
    case "tune":
      $("tunes-out").append(tuneCard(event));
      break;
    case "done":
      if (event.saved) {
        $("saved").textContent = `${event.samples} tune(s) saved in ${event.saved}; ${event.first_try} of ${event.samples} passed the judge on their first draw. Audio: ${event.audio}.`;
      } else {
        $("saved").textContent = `${event.tokens} tokens.`;
      }
      document.body.dataset.generated = String(Number(document.body.dataset.generated || 0) + 1);
      break;
    case "error":
      showError(event.message);
      break;
  }
}

window.addEventListener("DOMContentLoaded", () => {
  $("run").addEventListener("change", pickRun);
  $("form").addEventListener("submit", generate);
  $("stop").addEventListener("click", () => { if (stopper) stopper.abort(); });
  // A changed field, or one the browser refuses before sending, makes the last error stale.
  $("form").addEventListener("input", () => showError(""));
  $("form").addEventListener("invalid", () => showError(""), true);
  loadRuns().catch((e) => showError(`could not list the runs: ${e.message}`));
});
