// The live coaching page: pick an exercise and a coach, count down, stream the camera to the server
// over WebRTC, and show what comes back on the session's WebSocket (see realtime/events.py):
// pose -> skeleton overlay, pose3d -> the 3D view, rep -> counter and a card, tip -> feed (optionally
// spoken), status -> connection badge and the guidance banner, summary -> the set at a glance. A hold
// exercise (kind "hold", a plank): hold_progress -> the timer in place of the rep counter, hold_fault
// -> a warning while it happens, hold -> a card with the time held and each fault episode.
//
// What the banner says is a state machine (live-state.js) held against flicker; the voice is
// speech.js. Stop works at any moment (opening the camera, the countdown, connecting, live): it
// aborts what is under way, cancels speech, turns the camera off and shows the summary card.

import { signedIn } from "./auth.js";
import { fromStatus, GUIDANCE, LiveState, summaryWords, view } from "./live-state.js";
import { api, ApiError, showProblem } from "./net.js";
import { Overlay } from "./overlay.js";
import { remember } from "./remember.js";
import { Skeleton3D } from "./skeleton3d.js";
import { KINDS, Voice } from "./speech.js";
import { connectCamera } from "./webrtc.js";

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const now = () => performance.now();

const ui = {
  form: $("setup"),
  exercise: $("exercise"),
  persona: $("persona"),
  countdown: $("countdown"),
  start: $("start"),
  stop: $("stop"),
  state: $("conn-state"),
  models: $("models"),
  cameraHint: $("camera-hint"),
  banner: $("banner"),
  problem: $("problem"),
  intro: $("intro"),
  liveView: $("live-view"),
  stage: $("stage"),
  video: $("video"),
  view3d: $("view3d"),
  view3dCaption: $("view3d-caption"),
  countdownOverlay: $("countdown-overlay"),
  stats: $("stats"),
  repCount: $("rep-count"),
  lastScore: $("last-score"),
  repAnnounce: $("rep-announce"),
  repProgress: $("rep-progress"),
  tips: $("tips"),
  reps: $("reps"),
  summary: $("summary"),
  voiceSummary: $("voice-summary"),
  voicePick: $("voice-pick"),
  voiceName: $("voice-name"),
  voiceNone: $("voice-none"),
};
const overlay = new Overlay($("overlay"), ui.video);
const machine = new LiveState();
const voice = new Voice({ force: params.has("speak") ? params.get("speak") === "1" : null });

let exercises = [];
let live = null; // {abort, stream, session, ws, pc, stopping, summary}
let tickTimer = 0;
let skeleton3d = null;
const lift = { pending: undefined, timer: 0, last: -Infinity, poseT: null, liftT: null, captionAt: -Infinity, visible: true };
const HOLD_FAULT_MS = 4000; // a hold's fault is shown this long before the timer line returns
const LIFT_INTERVAL_MS = 66; // the 3D view is drawn at most ~15 times a second (pose3d comes at up to 30)

// -- the banner -------------------------------------------------------------------------------------

function showShown(changed) {
  const shown = machine.shown;
  ui.banner.dataset.state = shown.state;
  ui.banner.dataset.tone = shown.tone;
  ui.banner.querySelector(".banner-icon").textContent = shown.icon;
  ui.banner.querySelector(".banner-title").textContent = shown.title;
  ui.banner.querySelector(".banner-text").textContent = shown.text;
  if (changed && GUIDANCE.has(shown.state)) {
    $("say-guidance").textContent = `${shown.title}. ${shown.text}`;
    voice.say("guidance", `${shown.title}. ${shown.text}`, { persona: ui.persona.value });
  }
  scheduleTick();
}

function setPage(state, text, title) {
  const next = view(state, state, text);
  machine.set(title ? { ...next, title } : next, now());
  if (!GUIDANCE.has(state)) $("say-guidance").textContent = `${machine.shown.title}. ${text}`;
  showShown(false);
}

function scheduleTick() {
  clearTimeout(tickTimer);
  const due = machine.dueAt();
  if (due === null) return;
  tickTimer = setTimeout(() => machine.tick(now()) && showShown(true), Math.max(0, due - now()) + 5);
}

function setBadge(state, text = state) {
  ui.state.dataset.state = state;
  ui.state.textContent = text;
}

// -- choices ----------------------------------------------------------------------------------------

function fillSelect(select, items, value, label) {
  select.replaceChildren(
    ...items.map((item) => Object.assign(document.createElement("option"), { value: item[value], textContent: item[label] })),
  );
}

async function loadChoices() {
  ui.problem.hidden = true;
  try {
    const [health, exerciseList, personas] = await Promise.all([
      api("/api/health"),
      api("/api/exercises"),
      api("/api/personas"),
    ]);
    exercises = exerciseList;
    fillSelect(ui.exercise, exercises, "name", "display_name");
    fillSelect(ui.persona, personas, "id", "name");
    remember(ui.exercise, "exercise");
    remember(ui.persona, "persona");
    for (const [key, select] of [["exercise", ui.exercise], ["persona", ui.persona], ["countdown", ui.countdown]]) {
      if (params.has(key)) select.value = params.get(key);
    }
    ui.models.textContent = `2D: ${health.backend} · 3D: ${health.lifter} (${health.lifter_device})`;
    showCameraHint();
    showVoices();
    ui.start.disabled = false;
    setBadge("idle", "ready");
    setPage("idle", "Pick an exercise and a coach, then press Start.");
  } catch (error) {
    setBadge("error", "server unreachable");
    setPage("error", "The page could not load the exercises and coaches.", "Cannot reach the coach server");
    ui.start.disabled = true;
    showProblem(ui.problem, error, loadChoices);
  }
}

function exercise() {
  return exercises.find((e) => e.name === ui.exercise.value);
}

function isHold() {
  return exercise()?.kind === "hold";
}

function showCameraHint() {
  const chosen = exercise();
  ui.cameraHint.textContent = chosen ? `Camera: ${chosen.camera}.` : "";
  setCounterLabel(chosen?.kind === "hold" ? "seconds held" : "reps");
}

function setCounterLabel(text) {
  const label = ui.repCount.parentElement.querySelector("small");
  if (label) label.textContent = text;
  $("cards-heading").textContent = text === "seconds held" ? "Holds" : "Reps";
}

// -- voice ------------------------------------------------------------------------------------------

function showVoiceChoices() {
  const on = KINDS.filter((kind) => voice.on[kind]);
  const words = { tips: "tips", reps: "count", countdown: "countdown", guidance: "guidance" };
  ui.voiceSummary.textContent = on.length === KINDS.length ? "all on" : on.length ? on.map((k) => words[k]).join(", ") : "off";
}

function showVoices() {
  const voices = voice.available ? voice.voices() : [];
  ui.voicePick.hidden = voices.length === 0;
  ui.voiceNone.hidden = voices.length > 0;
  ui.voiceNone.textContent = voice.available
    ? "This browser lists no voices: its default voice speaks."
    : "This browser cannot speak (it has no speech synthesis).";
  if (!voices.length) return;
  const options = [Object.assign(document.createElement("option"), { value: "", textContent: "browser default" })];
  for (const v of voices) options.push(Object.assign(document.createElement("option"), { value: v.voiceURI, textContent: `${v.name} (${v.lang})` }));
  ui.voiceName.replaceChildren(...options);
  ui.voiceName.value = voice.voiceFor(ui.persona.value);
  if (ui.voiceName.selectedIndex < 0) ui.voiceName.value = "";
}

for (const box of ui.form.querySelectorAll("input[data-kind]")) {
  box.checked = voice.on[box.dataset.kind];
  box.addEventListener("change", () => {
    voice.enable(box.dataset.kind, box.checked);
    showVoiceChoices();
  });
}
showVoiceChoices();
ui.voiceName.addEventListener("change", () => voice.setVoice(ui.persona.value, ui.voiceName.value));
window.speechSynthesis?.addEventListener?.("voiceschanged", showVoices);

// -- a set ------------------------------------------------------------------------------------------

function resetBoard() {
  ui.repCount.textContent = "0";
  ui.lastScore.textContent = "–";
  setCounterLabel(isHold() ? "seconds held" : "reps");
  ui.repProgress.textContent = "";
  ui.repAnnounce.textContent = "";
  ui.tips.replaceChildren();
  ui.reps.replaceChildren();
  ui.summary.hidden = true;
  ui.summary.replaceChildren();
  ui.problem.hidden = true;
  ui.problem.replaceChildren();
  ui.stats.textContent = "";
  lift.pending = undefined;
  lift.poseT = lift.liftT = null;
  skeleton3d?.setPose("user", null);
}

function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(timer);
      reject(signal.reason);
    }, { once: true });
  });
}

async function countdown(seconds, signal) {
  setPage("countdown", `The set starts in ${seconds} s: ${ui.cameraHint.textContent.replace(/^Camera: /, "camera ")}`);
  ui.countdownOverlay.hidden = false;
  try {
    for (let s = seconds; s > 0; s -= 1) {
      ui.countdownOverlay.textContent = String(s);
      voice.say("countdown", String(s), { persona: ui.persona.value, interrupt: true });
      await sleep(1000, signal);
    }
    ui.countdownOverlay.textContent = "Go!";
    voice.say("countdown", "Go!", { persona: ui.persona.value, interrupt: true });
    setTimeout(() => (ui.countdownOverlay.hidden = true), 700);
  } catch (error) {
    ui.countdownOverlay.hidden = true;
    throw error;
  }
}

function problemError(message, advice) {
  return Object.assign(new Error(message), { advice });
}

async function openCamera() {
  if (!navigator.mediaDevices?.getUserMedia) {
    throw problemError("This browser cannot open the camera here.", "Use Chromium or Chrome, on https or on localhost.");
  }
  try {
    return await navigator.mediaDevices.getUserMedia({
      audio: false,
      video: { width: { ideal: 640 }, height: { ideal: 480 }, frameRate: { ideal: 30 } },
    });
  } catch (error) {
    if (error.name === "NotAllowedError") throw problemError("Camera permission was denied.", "Allow the camera in the address bar, then press Start again.");
    if (error.name === "NotFoundError") throw problemError("No camera was found.", "Connect a camera, then press Start again.");
    if (error.name === "NotReadableError") throw problemError("The camera is in use by another program.", "Close the other program or tab using it, then press Start again.");
    throw problemError(`The camera could not be opened (${error.name}: ${error.message}).`, "Press Start again; if it fails again, reload the page.");
  }
}

async function start(event) {
  event.preventDefault();
  if (live) return;
  const current = { abort: new AbortController(), stopping: false, summary: null };
  const { signal } = current.abort;
  live = current;
  resetBoard();
  voice.resume();
  ui.start.disabled = true;
  ui.stop.disabled = false;
  ui.stop.focus(); // the keyboard's Enter or Space now stops, as the disabled Start would lose the focus
  ui.exercise.disabled = true; // the coach can change mid-set (see switchPersona)
  ui.intro.hidden = true;
  ui.liveView.hidden = false;
  try {
    setBadge("starting", "opening camera");
    setPage("camera", "Allow the camera if the browser asks.");
    const stream = await openCamera();
    if (live !== current) return stopTracks(stream); // Stop was pressed while the camera opened
    current.stream = stream;
    ui.video.srcObject = stream;
    const seconds = Number(ui.countdown.value);
    if (seconds > 0) await countdown(seconds, signal);
    setBadge("connecting", "connecting");
    setPage("connecting", "Starting a session on the server.");
    current.session = await api("/api/sessions", {
      method: "POST",
      body: { exercise: ui.exercise.value, persona: ui.persona.value },
      signal,
    });
    await openEvents(current, signal);
    current.pc = await connectCamera(current.stream, current.session, (state) => onPeerState(current, state), { signal });
  } catch (error) {
    if (live !== current || signal.aborted) return; // Stop did this
    fail(current, error);
  }
}

function openEvents(current, signal) {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const url = `${scheme}://${location.host}${current.session.events_url}?token=${encodeURIComponent(current.session.token)}`;
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    current.ws = ws;
    ws.addEventListener("open", () => resolve());
    ws.addEventListener("error", () =>
      reject(problemError("The event connection to the coach could not be opened.", "Check that the server is running, then press Start again.")),
    );
    ws.addEventListener("message", (message) => onEvent(current, JSON.parse(message.data)));
    ws.addEventListener("close", (close) => onEventsClosed(current, close));
    signal.addEventListener("abort", () => reject(signal.reason), { once: true });
  });
}

function onEvent(current, event) {
  if (current !== live) return;
  switch (event.type) {
    case "pose":
      overlay.draw(event);
      lift.poseT = event.t;
      break;
    case "pose3d":
      showLifted(event);
      break;
    case "rep":
      addRep(event);
      break;
    case "hold_progress":
      showHoldTimer(event);
      break;
    case "hold_fault":
      ui.repProgress.textContent = `⚠ Hold ${event.hold}: ${event.message}`;
      current.faultShownAt = now();
      voice.say("guidance", event.message, { persona: ui.persona.value });
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
      showSummary(current, event);
      break;
    default:
      break;
  }
}

function onStatus(current, status) {
  if (status.skeleton) {
    overlay.skeleton = status.skeleton;
    if (!skeleton3d) skeleton3d = new Skeleton3D(ui.view3d, status.skeleton, { label: "Your pose in 3D: drag or use the arrow keys to turn, wheel or pinch to zoom" });
  }
  if (status.persona) {
    // Every status names the coach speaking now. After a switch, statuses sent before the server
    // took it still name the old one: wait for the confirmation (or a notice refusing it).
    const refused = (status.notice || "").includes("persona");
    const stale = current.pendingPersona && status.persona !== current.pendingPersona && !refused;
    if (!stale) {
      current.pendingPersona = null;
      if (ui.persona.value !== status.persona) {
        ui.persona.value = status.persona;
        showVoices();
      }
    }
  }
  if (status.error) return fail(current, problemError(`The coach stopped: ${status.error}`, "Press Start to begin a new set; if it happens again, tell whoever runs the server."));
  if (status.state === "live") setBadge("live", "live");
  else if (status.state === "connecting" || status.state === "created") setBadge("connecting", "connecting");
  else if (status.state === "ending") setBadge("ending", "finishing");
  const over = current.stopping || current.summary; // the banner says so already: later statuses change nothing
  if (!over && machine.observe(fromStatus(status, exercise()?.display_name), now())) showShown(true);
  else scheduleTick();
  const underWay = status.kind === "hold" ? `Hold ${status.rep_in_progress} under way` : `Rep ${status.rep_in_progress} in progress`;
  if (now() - (current.faultShownAt ?? -Infinity) < HOLD_FAULT_MS) {
    // a hold's fault stays in view a while (statuses come every second)
  } else if (status.rep_in_progress) ui.repProgress.textContent = underWay;
  else ui.repProgress.textContent = status.notice || "";
  if (status.fps !== undefined && !over) {
    // how the live loop keeps up: only while the set runs (Stop and finish() clear it, it would be stale)
    ui.stats.textContent =
      `${status.fps.toFixed(1)} frames/s processed · ${status.received} received · ${status.dropped} dropped` +
      (status.delay_frames ? ` · lifter delay ${status.delay_frames} frames` : "");
  }
}

// The 3D view: the newest lifted pose, drawn at most every LIFT_INTERVAL_MS, and only while it is on
// screen (on a phone it is below the video). One drawing took 0.4 ms in headless Chromium's software
// WebGL (280x373 px), so 15 a second cost well under 1% of a core.
function showLifted(event) {
  lift.pending = event.joints;
  lift.liftT = event.t;
  if (!skeleton3d || lift.timer || !lift.visible) return;
  const wait = Math.max(0, lift.last + LIFT_INTERVAL_MS - now());
  lift.timer = setTimeout(() => {
    lift.timer = 0;
    lift.last = now();
    skeleton3d.setPose("user", lift.pending);
    if (lift.last - lift.captionAt > 1000 && lift.poseT !== null && lift.liftT !== null) {
      lift.captionAt = lift.last;
      const behind = Math.max(0, (lift.poseT - lift.liftT) / 1000);
      ui.view3dCaption.textContent =
        `3D pose, ${behind.toFixed(1)} s behind the video (the lifter looks ahead). Drag to turn, wheel or pinch to zoom.`;
    }
  }, wait);
}

function scoreClass(score) {
  return score >= 85 ? "good" : score >= 65 ? "fair" : "poor";
}

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

// A fault or tip's severity, in words and an icon (never colour alone).
function severityLabel(severity, kind) {
  if (severity === "safety") return "⚠ safety:";
  if (severity === "form") return "form:";
  if (kind === "praise") return "✓ good:";
  if (kind === "summary") return "summary:";
  if (kind === "progress") return "progress:";
  return "tip:";
}

function faultList(faults) {
  if (!faults.length) return element("p", "meta", "no faults");
  const list = element("ul", "faults");
  for (const fault of faults) {
    const item = element("li");
    item.dataset.severity = fault.severity;
    item.append(element("span", "severity", severityLabel(fault.severity)), ` ${fault.message}`);
    list.append(item);
  }
  return list;
}

function notJudged(skipped) {
  const entries = Object.entries(skipped || {});
  if (!entries.length) return [];
  return [element("p", "meta not-judged", `not judged: ${entries.map(([id, why]) => `${id.replaceAll("_", " ")} (${why})`).join("; ")}`)];
}

function card(className, title, score) {
  const node = element("article", className);
  const header = element("header");
  header.append(element("span", "", title));
  if (score !== undefined) {
    const shown = element("span", `score ${scoreClass(score)}`, score.toFixed(0));
    shown.setAttribute("aria-label", `score ${score.toFixed(0)}, ${scoreClass(score)}`);
    header.append(shown);
  }
  node.append(header);
  return node;
}

function addRep(rep) {
  ui.repCount.textContent = String(rep.rep);
  ui.lastScore.textContent = rep.score.toFixed(0);
  ui.repAnnounce.textContent = `Rep ${rep.rep} counted: score ${rep.score.toFixed(0)}.`;
  voice.say("reps", String(rep.rep), { persona: ui.persona.value });
  const node = card("rep-card", `Rep ${rep.rep}`, rep.score);
  node.dataset.rep = rep.rep;
  node.append(
    element("div", "meta", `range ${rep.rom_pct.toFixed(0)}% · ${rep.duration_s.toFixed(1)} s (down ${rep.down_s.toFixed(1)} / up ${rep.up_s.toFixed(1)}) · stability ${rep.stability.toFixed(0)}`),
    faultList(rep.faults),
    ...notJudged(rep.checks_skipped),
  );
  ui.reps.prepend(node); // newest first, in the reading order as on screen
}

function addTip(tip) {
  const item = element("li", "tip");
  item.dataset.kind = tip.kind;
  item.dataset.severity = tip.severity;
  item.dataset.persona = tip.persona;
  item.dataset.source = tip.source;
  item.append(element("span", "severity", severityLabel(tip.severity, tip.kind)), ` ${tip.text}`);
  if (tip.source === "model") item.title = "written by the language model";
  else if (tip.note) item.title = `template (${tip.note})`;
  ui.tips.prepend(item);
  voice.say("tips", tip.text, { persona: tip.persona || ui.persona.value });
}

// The hold under way: its seconds in place of the rep count (at most one event a second).
function showHoldTimer(progress) {
  ui.repCount.textContent = String(progress.seconds);
  const target = progress.target_s ? ` of ${progress.target_s.toFixed(0)} s` : "";
  ui.repProgress.textContent = `Hold ${progress.hold}: ${progress.seconds} s${target}`;
}

function addHold(hold) {
  ui.repCount.textContent = hold.duration_s.toFixed(0);
  ui.lastScore.textContent = hold.score.toFixed(0);
  ui.repAnnounce.textContent = `Hold ${hold.hold} counted: ${hold.duration_s.toFixed(0)} seconds, score ${hold.score.toFixed(0)}.`;
  voice.say("reps", `Hold ${hold.hold}: ${hold.duration_s.toFixed(0)} seconds`, { persona: ui.persona.value });
  const node = card("rep-card hold-card", `Hold ${hold.hold}`, hold.score);
  node.dataset.hold = hold.hold;
  const target = hold.target_s ? ` of ${hold.target_s.toFixed(0)} s` : "";
  node.append(
    element("div", "meta", `held ${hold.duration_s.toFixed(1)} s${target} · in position ${(hold.held_share * 100).toFixed(0)}%` + (hold.fault_s ? ` · faults for ${hold.fault_s.toFixed(1)} s` : "")),
    faultList(hold.faults),
    ...notJudged(hold.checks_skipped),
  );
  ui.reps.prepend(node);
}

// A movement that started like a rep but did not count: a card with the reason (never silently dropped).
function addNotCounted(item) {
  const node = card("rep-card not-counted", "⚠ Not counted");
  node.append(element("p", "meta", item.reason));
  ui.reps.prepend(node);
}

// "This looked like a squat: pick Squat to count the reps." (the exercise's name from the picker)
function looksLike(id) {
  const name = [...ui.exercise.options].find((o) => o.value === id)?.textContent || id.replaceAll("_", " ");
  const article = /^[aeiou]/i.test(name) ? "an" : "a";
  return `This looked like ${article} ${name.toLowerCase()}: pick ${name} to count the reps.`;
}

function showSummary(current, summary) {
  current.summary = summary;
  const words = summaryWords(summary);
  const hold = summary.kind === "hold";
  const title = element("h3");
  title.id = "summary-title";
  const count = element("span", "", String(words.count));
  count.id = hold ? "summary-holds" : "summary-reps";
  title.append("Set finished: ", count, ` ${words.unitWord}`);
  if (hold) {
    const held = element("span", "", words.held);
    held.id = "summary-hold-total";
    title.append(", ", held, " s held");
  }
  const lines = words.lines.map((line) => element("p", "", line));
  if (summary.looks_like) lines.push(element("p", "", looksLike(summary.looks_like)));
  if (summary.reason) lines.push(element("p", "muted", `Ended: ${summary.reason}.`));
  ui.summary.replaceChildren(title, ...lines);
  ui.summary.hidden = false;
  ui.liveView.hidden = true;
  setPage("ended", `${words.count} ${words.unitWord} counted: the summary is below. Press Start for another set.`);
}

function onPeerState(current, state) {
  if (current !== live) return;
  if (state === "failed") {
    fail(current, problemError("The video connection failed.", "A firewall between this browser and the server may block it: try another network, or run the server on this computer."));
  }
}

function onEventsClosed(current, close) {
  if (current !== live) return;
  const expected = current.stopping || close.code === 1000;
  if (expected) {
    finish("idle", "ready");
    if (!current.summary) stoppedCard("The set ended before the coach sent its summary.");
    return;
  }
  finish("disconnected", "disconnected");
  setPage("disconnected", "The connection to the coach was lost.");
  showProblem(ui.problem, problemError("The connection to the coach was lost.", "Press Start to begin a new set (the reps so far stay below)."), () => ui.form.requestSubmit());
}

// Stop: at any moment. Before the session is live everything is cancelled here; once live the server
// is asked to end the set, sends its summary and closes the socket (finish() then frees the rest).
function stop() {
  const current = live;
  if (!current || current.stopping) return;
  current.stopping = true;
  voice.silence();
  ui.stop.disabled = true;
  ui.countdownOverlay.hidden = true;
  const wasLive = current.pc && current.ws?.readyState === WebSocket.OPEN;
  current.abort.abort();
  if (wasLive) {
    setBadge("ending", "finishing");
    setPage("ending", "Scoring the last frames and writing the summary.");
    ui.liveView.hidden = true;
    ui.stats.textContent = "";
    current.ws.send(JSON.stringify({ type: "stop" }));
    setTimeout(() => {
      if (live === current) {
        finish("idle", "ready");
        if (!current.summary) stoppedCard("The server did not send the summary in time.");
      }
    }, 8000);
    return;
  }
  if (current.session) {
    // created on the server but never live: end it there too (its token is its key)
    const { id, token } = current.session;
    api(`/api/sessions/${id}`, { method: "DELETE", headers: { Authorization: `Bearer ${token}` } }).catch(() => {});
  }
  finish("idle", "ready");
  stoppedCard("Stopped before the set began: nothing was recorded.");
}

function stoppedCard(text) {
  const title = element("h3", "", "Set stopped");
  title.id = "summary-title";
  ui.summary.replaceChildren(title, element("p", "", text));
  ui.summary.hidden = false;
  setPage("idle", "Press Start when you are ready.", "Stopped");
}

function stopTracks(stream) {
  stream?.getTracks().forEach((track) => track.stop());
}

function finish(state, text) {
  const current = live;
  live = null;
  if (current) {
    current.abort.abort();
    current.pc?.close();
    stopTracks(current.stream);
    if (current.ws && current.ws.readyState <= WebSocket.OPEN) current.ws.close();
  }
  clearTimeout(lift.timer);
  lift.timer = 0;
  ui.video.srcObject = null;
  overlay.clear();
  ui.liveView.hidden = true;
  ui.stats.textContent = ""; // the frame counts describe a running set only
  ui.countdownOverlay.hidden = true;
  const hadFocus = document.activeElement === ui.stop;
  ui.start.disabled = false;
  ui.stop.disabled = true;
  ui.exercise.disabled = false;
  if (hadFocus || document.activeElement === document.body) ui.start.focus();
  setBadge(state, text);
}

// Another coach mid-set: the server answers with a status event naming it (or a notice).
function switchPersona() {
  showVoices();
  if (live?.ws?.readyState === WebSocket.OPEN) {
    live.pendingPersona = ui.persona.value;
    live.ws.send(JSON.stringify({ type: "persona", persona: ui.persona.value }));
  }
}

function fail(current, error) {
  if (current !== live) return;
  current.stopping = true;
  voice.silence();
  finish("error", "error");
  const what = error instanceof ApiError && error.url === "/api/sessions" ? "The server did not start the session" : "Problem";
  setPage("error", error.message, what);
  showProblem(ui.problem, error, () => ui.form.requestSubmit());
}

// The stage takes the camera's own shape (a phone's portrait camera is shown portrait).
function fitStage() {
  const { videoWidth: w, videoHeight: h } = ui.video;
  if (w > 0 && h > 0) ui.stage.style.setProperty("--ratio", String(w / h));
}

new IntersectionObserver(([entry]) => {
  lift.visible = entry.isIntersecting;
  if (lift.visible && lift.pending !== undefined) showLifted({ joints: lift.pending, t: lift.liftT });
}).observe(ui.view3d);
ui.video.addEventListener("loadedmetadata", fitStage);
ui.video.addEventListener("resize", fitStage);
ui.form.addEventListener("submit", start);
ui.stop.addEventListener("click", stop);
ui.exercise.addEventListener("change", showCameraHint);
ui.persona.addEventListener("change", switchPersona);
window.addEventListener("beforeunload", () => live?.ws?.readyState === WebSocket.OPEN && live.ws.send(JSON.stringify({ type: "stop" })));
ui.start.disabled = true; // until the choices are loaded
signedIn().then(loadChoices);
