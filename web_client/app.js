// The live coaching page: pick an exercise and a coach, count down, stream the camera to the server
// over WebRTC, and show what comes back on the session's WebSocket (see realtime/events.py):
// pose -> skeleton overlay, rep -> counter and a card, tip -> feed (optionally spoken),
// status -> connection state and guidance, summary -> the set at a glance. A hold exercise (kind "hold",
// a plank): hold_progress -> the timer in place of the rep counter, hold_fault -> a warning while it
// happens, hold -> a card with the time held and each fault episode (when, how long).

import { csrfHeaders, signedIn } from "./auth.js";
import { Overlay } from "./overlay.js";
import { remember } from "./remember.js";
import { connectCamera, problem } from "./webrtc.js";

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);

const ui = {
  form: $("setup"),
  exercise: $("exercise"),
  persona: $("persona"),
  countdown: $("countdown"),
  speak: $("speak"),
  start: $("start"),
  stop: $("stop"),
  state: $("conn-state"),
  models: $("models"),
  cameraHint: $("camera-hint"),
  video: $("video"),
  guidance: $("guidance"),
  countdownOverlay: $("countdown-overlay"),
  stats: $("stats"),
  repCount: $("rep-count"),
  lastScore: $("last-score"),
  repProgress: $("rep-progress"),
  tips: $("tips"),
  reps: $("reps"),
  summary: $("summary"),
};
const overlay = new Overlay($("overlay"), ui.video);

let exercises = [];
let live = null; // {session, ws, pc, stream, ended}

function setState(state, text = state) {
  ui.state.dataset.state = state;
  ui.state.textContent = text;
}

function showGuidance(message, kind = "hint") {
  ui.guidance.hidden = !message;
  ui.guidance.textContent = message || "";
  ui.guidance.dataset.kind = kind;
}

function escapeText(text) {
  const span = document.createElement("span");
  span.textContent = text;
  return span.innerHTML;
}

async function getJSON(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: ${await problem(response)}`);
  return response.json();
}

function fillSelect(select, items, value, label) {
  select.replaceChildren(
    ...items.map((item) => {
      const option = document.createElement("option");
      option.value = item[value];
      option.textContent = item[label];
      return option;
    }),
  );
}

async function loadChoices() {
  try {
    const [health, exerciseList, personas] = await Promise.all([
      getJSON("/api/health"),
      getJSON("/api/exercises"),
      getJSON("/api/personas"),
    ]);
    exercises = exerciseList;
    fillSelect(ui.exercise, exercises, "name", "display_name");
    fillSelect(ui.persona, personas, "id", "name");
    remember(ui.exercise, "exercise");
    remember(ui.persona, "persona");
    for (const [key, select] of [["exercise", ui.exercise], ["persona", ui.persona], ["countdown", ui.countdown]]) {
      if (params.has(key)) select.value = params.get(key);
    }
    ui.speak.checked = params.get("speak") === "1";
    ui.models.textContent = `2D: ${health.backend} · 3D: ${health.lifter} (${health.lifter_device})`;
    showCameraHint();
    setState("idle", "ready");
  } catch (error) {
    setState("error", "server unreachable");
    showGuidance(`Cannot reach the coach server: ${error.message}`);
    ui.start.disabled = true;
  }
}

function showCameraHint() {
  const exercise = exercises.find((e) => e.name === ui.exercise.value);
  ui.cameraHint.textContent = exercise ? `Camera: ${exercise.camera}.` : "";
  setCounterLabel(exercise?.kind === "hold" ? "seconds held" : "reps");
}

function isHold() {
  return exercises.find((e) => e.name === ui.exercise.value)?.kind === "hold";
}

function setCounterLabel(text) {
  const label = ui.repCount.parentElement.querySelector("small");
  if (label) label.textContent = text;
  const heading = document.getElementById("cards-heading");
  if (heading) heading.textContent = text === "seconds held" ? "Holds" : "Reps";
}

function resetBoard() {
  ui.repCount.textContent = "0";
  ui.lastScore.textContent = "–";
  setCounterLabel(isHold() ? "seconds held" : "reps");
  ui.repProgress.textContent = "";
  ui.tips.replaceChildren();
  ui.reps.replaceChildren();
  ui.summary.hidden = true;
  ui.summary.replaceChildren();
}

async function countdown(seconds) {
  ui.countdownOverlay.hidden = false;
  for (let s = seconds; s > 0; s -= 1) {
    ui.countdownOverlay.textContent = String(s);
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  ui.countdownOverlay.textContent = "Go!";
  setTimeout(() => (ui.countdownOverlay.hidden = true), 700);
}

async function openCamera() {
  if (!navigator.mediaDevices?.getUserMedia) {
    throw new Error("this browser cannot open the camera here (use Chromium or Chrome, on https or localhost)");
  }
  try {
    return await navigator.mediaDevices.getUserMedia({
      audio: false,
      video: { width: { ideal: 640 }, height: { ideal: 480 }, frameRate: { ideal: 30 } },
    });
  } catch (error) {
    if (error.name === "NotAllowedError") throw new Error("camera permission was denied: allow it in the address bar");
    if (error.name === "NotFoundError") throw new Error("no camera was found");
    throw new Error(`the camera could not be opened (${error.name}: ${error.message})`);
  }
}

async function start(event) {
  event.preventDefault();
  if (live) return;
  resetBoard();
  ui.start.disabled = true;
  ui.exercise.disabled = true; // the coach can change mid-set (see switchPersona)
  live = { ended: false };
  try {
    setState("starting", "opening camera");
    live.stream = await openCamera();
    ui.video.srcObject = live.stream;
    const seconds = Number(ui.countdown.value);
    if (seconds > 0) {
      showGuidance("Get into position");
      await countdown(seconds);
    }
    setState("connecting", "connecting");
    const response = await fetch("/api/sessions", {
      method: "POST",
      headers: { "Content-Type": "application/json", ...(await csrfHeaders()) },
      body: JSON.stringify({ exercise: ui.exercise.value, persona: ui.persona.value }),
    });
    if (!response.ok) throw new Error(await problem(response));
    live.session = await response.json();
    await openEvents(live);
    live.pc = await connectCamera(live.stream, live.session, (state) => onPeerState(live, state));
    ui.stop.disabled = false;
  } catch (error) {
    fail(error.message);
  }
}

function openEvents(current) {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const url = `${scheme}://${location.host}${current.session.events_url}?token=${encodeURIComponent(current.session.token)}`;
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    current.ws = ws;
    ws.addEventListener("open", () => resolve());
    ws.addEventListener("error", () => reject(new Error("the event connection could not be opened")));
    ws.addEventListener("message", (message) => onEvent(current, JSON.parse(message.data)));
    ws.addEventListener("close", (close) => onEventsClosed(current, close));
  });
}

function onEvent(current, event) {
  switch (event.type) {
    case "pose":
      overlay.draw(event);
      break;
    case "rep":
      addRep(event);
      break;
    case "hold_progress":
      showHoldTimer(event);
      break;
    case "hold_fault":
      showGuidance(`Hold ${event.hold}: ${event.message}`, "hint");
      break;
    case "hold":
      addHold(event);
      break;
    case "not_counted":
      addNotCounted(event);
      break;
    case "tip":
      addTip(event);
      break;
    case "status":
      onStatus(current, event);
      break;
    case "summary":
      showSummary(event);
      break;
    default:
      break;
  }
}

function onStatus(current, status) {
  if (status.skeleton) overlay.skeleton = status.skeleton;
  if (status.persona) {
    // Every status names the coach speaking now. After a switch, statuses sent before the server
    // took it still name the old one: wait for the confirmation (or a notice refusing it).
    const refused = (status.notice || "").includes("persona");
    if (current.pendingPersona && status.persona !== current.pendingPersona && !refused) return showStatus(current, status);
    current.pendingPersona = null;
    if (ui.persona.value !== status.persona) ui.persona.value = status.persona;
  }
  showStatus(current, status);
}

function showStatus(current, status) {
  if (status.state === "live") setState("live", "live");
  else if (status.state === "connecting" || status.state === "created") setState("connecting", "connecting");
  else if (status.state === "ending") setState("ending", "finishing");
  if (status.error) showGuidance(`Problem: ${status.error}`);
  else if (status.message) showGuidance(status.message, status.posture === "ready" || status.posture === "in_rep" ? "ready" : "hint");
  const underWay = status.kind === "hold" ? `hold ${status.rep_in_progress} under way` : `rep ${status.rep_in_progress} in progress`;
  ui.repProgress.textContent = status.rep_in_progress ? underWay : status.notice || "";
  if (status.fps !== undefined) {
    ui.stats.textContent =
      `${status.fps.toFixed(1)} frames/s processed · ${status.received} received · ${status.dropped} dropped` +
      (status.delay_frames ? ` · lifter delay ${status.delay_frames} frames` : "");
  }
}

function scoreClass(score) {
  return score >= 85 ? "good" : score >= 65 ? "fair" : "poor";
}

function addRep(rep) {
  ui.repCount.textContent = String(rep.rep);
  ui.lastScore.textContent = rep.score.toFixed(0);
  const card = document.createElement("article");
  card.className = "rep-card";
  card.dataset.rep = rep.rep;
  const faults = rep.faults.length
    ? `<ul>${rep.faults.map((f) => `<li data-severity="${f.severity}">${escapeText(f.message)}</li>`).join("")}</ul>`
    : "<p class=\"meta\">no faults</p>";
  const skipped = Object.entries(rep.checks_skipped || {});
  const notJudged = skipped.length
    ? `<p class="meta not-judged">not judged: ${skipped.map(([id, why]) => `${escapeText(id.replaceAll("_", " "))} (${escapeText(why)})`).join("; ")}</p>`
    : "";
  card.innerHTML =
    `<header><span>Rep ${rep.rep}</span><span class="score ${scoreClass(rep.score)}">${rep.score.toFixed(0)}</span></header>` +
    `<div class="meta">range ${rep.rom_pct.toFixed(0)}% · ${rep.duration_s.toFixed(1)} s ` +
    `(down ${rep.down_s.toFixed(1)} / up ${rep.up_s.toFixed(1)}) · stability ${rep.stability.toFixed(0)}</div>` +
    faults +
    notJudged;
  ui.reps.append(card);
}

function addTip(tip) {
  const item = document.createElement("li");
  item.className = "tip";
  item.dataset.kind = tip.kind;
  item.dataset.severity = tip.severity;
  item.dataset.persona = tip.persona;
  item.dataset.source = tip.source;
  item.textContent = tip.text;
  if (tip.source === "model") item.title = "written by the language model";
  else if (tip.note) item.title = `template (${tip.note})`;
  ui.tips.prepend(item);
  if (ui.speak.checked && "speechSynthesis" in window) {
    speechSynthesis.speak(new SpeechSynthesisUtterance(tip.text));
  }
}

// The hold under way: its seconds in place of the rep count (at most one event a second).
function showHoldTimer(progress) {
  ui.repCount.textContent = String(progress.seconds);
  const target = progress.target_s ? ` of ${progress.target_s.toFixed(0)} s` : "";
  ui.repProgress.textContent = `hold ${progress.hold}: ${progress.seconds} s${target}`;
}

function episodeText(fault) {
  return `${escapeText(fault.message)}`;
}

function addHold(hold) {
  ui.repCount.textContent = hold.duration_s.toFixed(0);
  ui.lastScore.textContent = hold.score.toFixed(0);
  const card = document.createElement("article");
  card.className = "rep-card hold-card";
  card.dataset.hold = hold.hold;
  const faults = hold.faults.length
    ? `<ul>${hold.faults.map((f) => `<li data-severity="${f.severity}">${episodeText(f)}</li>`).join("")}</ul>`
    : "<p class=\"meta\">no faults</p>";
  const skipped = Object.entries(hold.checks_skipped || {});
  const notJudged = skipped.length
    ? `<p class="meta not-judged">not judged: ${skipped.map(([id, why]) => `${escapeText(id.replaceAll("_", " "))} (${escapeText(why)})`).join("; ")}</p>`
    : "";
  const target = hold.target_s ? ` of ${hold.target_s.toFixed(0)} s` : "";
  card.innerHTML =
    `<header><span>Hold ${hold.hold}</span><span class="score ${scoreClass(hold.score)}">${hold.score.toFixed(0)}</span></header>` +
    `<div class="meta">held ${hold.duration_s.toFixed(1)} s${target} · in position ${(hold.held_share * 100).toFixed(0)}%` +
    (hold.fault_s ? ` · faults for ${hold.fault_s.toFixed(1)} s` : "") + `</div>` +
    faults +
    notJudged;
  ui.reps.append(card);
}

// A movement that started like a rep but did not count: a card with the reason (never silently dropped).
function addNotCounted(item) {
  const card = document.createElement("article");
  card.className = "rep-card not-counted";
  card.innerHTML = `<header><span>Not counted</span></header><p class="meta">${escapeText(item.reason)}</p>`;
  ui.reps.append(card);
}

// "This looked like a squat: pick Squat to count the reps." (the exercise's name from the picker)
function looksLike(id) {
  const name = [...ui.exercise.options].find((o) => o.value === id)?.textContent || id.replaceAll("_", " ");
  const article = /^[aeiou]/i.test(name) ? "an" : "a";
  return `This looked like ${article} ${name.toLowerCase()}: pick ${name} to count the reps.`;
}

function showHoldSummary(summary) {
  const mean = summary.mean_score === null ? "–" : summary.mean_score.toFixed(0);
  const fault = summary.most_frequent_fault
    ? `Most frequent fault: ${escapeText(summary.most_frequent_fault.replaceAll("_", " "))} (${summary.most_frequent_fault_count} of ${summary.holds} holds).`
    : "No recurring fault.";
  ui.summary.innerHTML =
    `<h3>Set finished: <span id="summary-holds">${summary.holds}</span> holds, ` +
    `<span id="summary-hold-total">${summary.hold_total_s.toFixed(1)}</span> s held` +
    (summary.not_counted ? ` <span class="muted">(${summary.not_counted} too short)</span>` : "") +
    `</h3><p>Longest ${summary.hold_longest_s.toFixed(1)} s, mean score ${mean}.</p><p>${fault}</p>` +
    (summary.reason ? `<p class="muted">Ended: ${escapeText(summary.reason)}.</p>` : "");
}

function showSummary(summary) {
  ui.summary.hidden = false;
  if (summary.kind === "hold") return showHoldSummary(summary);
  const mean = summary.mean_score === null ? "–" : summary.mean_score.toFixed(0);
  const fault = summary.most_frequent_fault
    ? `Most frequent fault: ${escapeText(summary.most_frequent_fault.replaceAll("_", " "))} (${summary.most_frequent_fault_count} of ${summary.reps} reps).`
    : "No recurring fault.";
  ui.summary.innerHTML =
    `<h3>Set finished: <span id="summary-reps">${summary.reps}</span> reps` +
    (summary.not_counted ? ` <span class="muted">(${summary.not_counted} not counted)</span>` : "") +
    `</h3>` +
    `<p>Mean score ${mean}` +
    (summary.best_score !== null ? `, best ${summary.best_score.toFixed(0)}, worst ${summary.worst_score.toFixed(0)}` : "") +
    (summary.trend !== "n/a" ? `, ${summary.trend}` : "") +
    `.</p><p>${fault}</p>` +
    (summary.looks_like ? `<p>${escapeText(looksLike(summary.looks_like))}</p>` : "") +
    (summary.reason ? `<p class="muted">Ended: ${escapeText(summary.reason)}.</p>` : "");
}

function onPeerState(current, state) {
  if (current !== live) return;
  if (state === "failed") fail("the video connection failed (a firewall between the browser and the server?)");
}

function onEventsClosed(current, close) {
  if (current !== live) return;
  const expected = current.ended || close.code === 1000;
  finish(expected ? "idle" : "disconnected", expected ? "ready" : "disconnected");
  if (!expected) showGuidance("The connection to the coach was lost. Press Start to begin a new set.");
}

function stop() {
  if (!live) return;
  live.ended = true;
  ui.stop.disabled = true;
  setState("ending", "finishing");
  if (live.ws?.readyState === WebSocket.OPEN) {
    live.ws.send(JSON.stringify({ type: "stop" }));
    // The server sends the summary, then closes the socket; the close handler releases the rest.
    setTimeout(() => live && live.ended && finish("idle", "ready"), 8000);
  } else {
    finish("idle", "ready");
  }
}

function finish(state, text) {
  const current = live;
  live = null;
  if (current) {
    current.pc?.close();
    current.stream?.getTracks().forEach((track) => track.stop());
    if (current.ws && current.ws.readyState <= WebSocket.OPEN) current.ws.close();
  }
  ui.video.srcObject = null;
  overlay.clear();
  ui.start.disabled = false;
  ui.stop.disabled = true;
  ui.exercise.disabled = false;
  setState(state, text);
}

// Another coach mid-set: the server answers with a status event naming it (or a notice).
function switchPersona() {
  if (live?.ws?.readyState === WebSocket.OPEN) {
    live.pendingPersona = ui.persona.value;
    live.ws.send(JSON.stringify({ type: "persona", persona: ui.persona.value }));
  }
}

function fail(message) {
  if (live) live.ended = true;
  finish("error", "error");
  showGuidance(message);
}

ui.form.addEventListener("submit", start);
ui.stop.addEventListener("click", stop);
ui.exercise.addEventListener("change", showCameraHint);
ui.persona.addEventListener("change", switchPersona);
window.addEventListener("beforeunload", () => live?.ws?.readyState === WebSocket.OPEN && live.ws.send(JSON.stringify({ type: "stop" })));
signedIn().then(loadChoices);
