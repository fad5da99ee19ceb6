// The history page: the signed-in user's past live sets and uploads, filtered by the server
// (GET /api/history: exercise, kind, include_empty), newest first; the mean score per set over time, one
// line per exercise (uPlot: a date axis, scores 0-100, values on hover), drawn only for an exercise with
// at least two scored sets; a details link for every finished set (report.html?job=ID for an upload,
// report.html?session=ID for a live set) and a delete button with a confirmation. Every request that
// fails is shown with what to do (net.js). The filters live in the address (?exercise=&kind=&empty=1).

import { signedIn } from "./auth.js";
import { scoreClass, scoreWord } from "./charts.js";
import { api, showProblem } from "./net.js";
import uPlot from "./vendor/uplot/uPlot.esm.js";

const $ = (id) => document.getElementById(id);
const state = { items: [], hidden: 0, names: new Map(), plot: null, request: 0 };
// Line colours (each at least 3:1 against the panel) and dashes, so two lines differ without colour too.
const COLOURS = ["#33c481", "#6aa9ff", "#f0a030", "#e58fe5", "#f5e663", "#7fe0e0", "#ff9a94", "#c6b8ff"];
const DASHES = [[], [8, 4], [2, 4], [12, 4, 2, 4]];
const whenFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
const dayFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium" });
const timeFormat = new Intl.DateTimeFormat(undefined, { timeStyle: "short" });

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

const displayName = (item) => state.names.get(item.exercise) ?? item.display_name ?? item.exercise;
const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;

// -- filters ------------------------------------------------------------------------------------------

function filters() {
  return { exercise: $("exercise").value, kind: $("kind").value, empty: $("show-empty").checked };
}

function readAddress() {
  const query = new URLSearchParams(location.search);
  const exercise = query.get("exercise");
  if (exercise && ![...$("exercise").options].some((o) => o.value === exercise)) $("exercise").append(new Option(exercise, exercise));
  $("exercise").value = exercise ?? "";
  $("kind").value = ["live", "upload"].includes(query.get("kind")) ? query.get("kind") : "";
  $("show-empty").checked = query.get("empty") === "1";
}

function writeAddress({ exercise, kind, empty }) {
  const query = new URLSearchParams();
  if (exercise) query.set("exercise", exercise);
  if (kind) query.set("kind", kind);
  if (empty) query.set("empty", "1");
  const search = query.toString();
  history.replaceState(null, "", search ? `?${search}` : location.pathname);
}

// The exercise picker: every exercise the server knows (display names) and any other the history names.
function fillExercises() {
  const select = $("exercise");
  const chosen = select.value;
  const names = new Map(state.names);
  for (const item of state.items) if (!names.has(item.exercise)) names.set(item.exercise, displayName(item));
  const sorted = [...names].sort((a, b) => a[1].localeCompare(b[1]));
  select.replaceChildren(new Option("All exercises", ""), ...sorted.map(([name, shown]) => new Option(shown, name)));
  select.value = names.has(chosen) ? chosen : "";
  if (chosen && !names.has(chosen)) {
    select.append(new Option(chosen, chosen));
    select.value = chosen;
  }
}

async function loadExercises() {
  try {
    const exercises = await api("/api/exercises");
    state.names = new Map(exercises.map((e) => [e.name, e.display_name]));
    $("filters-problem").hidden = true;
  } catch (error) {
    // The list still works with the names the history carries; say what failed and offer a retry.
    showProblem($("filters-problem"), error, async () => {
      await loadExercises();
      fillExercises();
      render();
    });
  }
}

// -- loading ------------------------------------------------------------------------------------------

async function loadHistory() {
  const chosen = filters();
  writeAddress(chosen);
  const query = new URLSearchParams({ limit: "500" });
  if (chosen.exercise) query.set("exercise", chosen.exercise);
  if (chosen.kind) query.set("kind", chosen.kind);
  if (chosen.empty) query.set("include_empty", "true");
  const request = ++state.request; // a slower older answer must not overwrite a newer one
  $("history-table").setAttribute("aria-busy", "true");
  try {
    const answer = await api(`/api/history?${query}`);
    if (request !== state.request) return;
    state.items = answer.items;
    state.hidden = answer.hidden_empty;
    $("history-problem").hidden = true;
  } catch (error) {
    if (request !== state.request) return;
    state.items = [];
    state.hidden = 0;
    showProblem($("history-problem"), error, loadHistory);
  } finally {
    if (request === state.request) $("history-table").removeAttribute("aria-busy");
  }
  fillExercises();
  render();
}

// -- the table ----------------------------------------------------------------------------------------

function resultText(item) {
  if (item.status === "queued" || item.status === "running") return ["analysing…", "nothing"];
  if (item.status === "failed") return [`failed: ${item.error ?? "the analysis failed"}`, "failed"];
  if (item.held_s !== null && item.held_s !== undefined && item.held_s > 0) return [`${Math.round(item.held_s)} s held`, ""];
  if (!item.reps) return ["0 reps (nothing counted)", "nothing"];
  return [plural(item.reps, "rep"), ""];
}

function describe(item) {
  const what = item.kind === "live" ? "live set" : `upload ${item.title}`;
  return `${displayName(item)}, ${what}, ${whenFormat.format(new Date(item.at * 1000))}`;
}

function detailsCell(item) {
  const cell = el("div", "row-actions");
  const finished = item.status === "done";
  if (finished && item.details) {
    const link = el("a", "details", "Details");
    link.href = item.kind === "live" ? `/report.html?session=${encodeURIComponent(item.id)}` : `/report.html?job=${encodeURIComponent(item.id)}`;
    link.append(el("span", "visually-hidden", ` of the ${describe(item)}`));
    cell.append(link);
  } else if (finished) {
    cell.append(el("span", "muted", "details not recorded"));
  } else if (item.status !== "failed") {
    const link = el("a", "details", "Progress");
    link.href = `/report.html?job=${encodeURIComponent(item.id)}`;
    link.append(el("span", "visually-hidden", ` of the ${describe(item)}`));
    cell.append(link);
  }
  if (item.status !== "queued" && item.status !== "running") {
    const remove = el("button", "delete", "Delete");
    remove.type = "button";
    remove.dataset.id = item.id;
    remove.append(el("span", "visually-hidden", ` the ${describe(item)}`));
    remove.addEventListener("click", () => confirmDelete(item, remove));
    cell.append(remove);
  }
  return cell;
}

function row(item) {
  const tr = el("tr");
  tr.setAttribute("role", "row");
  tr.dataset.id = item.id;
  tr.dataset.kind = item.kind;
  const cells = [];
  const date = new Date(item.at * 1000);
  const when = el("time");
  when.dateTime = date.toISOString();
  when.append(el("span", "date", dayFormat.format(date)), el("span", "sep", ", "), el("span", "time", timeFormat.format(date)));
  cells.push(["When", "when", when]);
  cells.push(["Exercise", "exercise", displayName(item)]);
  const recorded = el("span");
  recorded.append(el("span", `kind-tag ${item.kind}`, item.kind === "live" ? "Live" : "Upload"));
  if (item.kind === "upload") recorded.append(item.title);
  cells.push(["Recorded", "recorded", recorded]);
  const [result, tone] = resultText(item);
  cells.push(["Reps or time held", `result ${tone}`, result]);
  const score = item.mean_score === null || item.mean_score === undefined ? null : item.mean_score;
  const scoreText = score === null ? "–" : `${score.toFixed(0)} (${scoreWord(score)})`;
  cells.push(["Mean score", `score ${score === null ? "none" : scoreClass(score)}`, scoreText]);
  cells.push(["Actions", "actions", detailsCell(item)]);
  for (const [label, className, content] of cells) {
    const td = el("td", className);
    td.setAttribute("role", "cell");
    td.dataset.label = label;
    td.append(content);
    tr.append(td);
  }
  return tr;
}

function renderTable() {
  const { exercise, kind, empty } = filters();
  $("history-table").querySelector("tbody").replaceChildren(...state.items.map(row));
  const none = state.items.length === 0 && $("history-problem").hidden;
  $("history-empty").hidden = !none;
  $("history-table").hidden = state.items.length === 0;
  if (none) {
    const filtered = exercise || kind;
    $("history-empty").textContent = filtered
      ? "No sets match these filters: pick “All exercises” or “Live and uploaded” to see the others."
      : "Nothing yet: train live or upload a video, and your sets show up here.";
  }
  $("hidden-note").textContent =
    !empty && state.hidden > 0
      ? `${plural(state.hidden, "empty set")} (nothing counted) ${state.hidden === 1 ? "is" : "are"} hidden: tick “Show empty sets” to see ${state.hidden === 1 ? "it" : "them"}.`
      : "";
}

// -- the trend ----------------------------------------------------------------------------------------

function trendSeries() {
  const scored = state.items.filter((i) => i.status === "done" && i.mean_score !== null && i.mean_score !== undefined);
  const byExercise = new Map();
  for (const item of scored) {
    if (!byExercise.has(item.exercise)) byExercise.set(item.exercise, { name: displayName(item), points: [] });
    byExercise.get(item.exercise).points.push([item.at, item.mean_score]);
  }
  const drawn = [...byExercise.values()].filter((s) => s.points.length >= 2).sort((a, b) => a.name.localeCompare(b.name));
  const short = [...byExercise.values()].filter((s) => s.points.length < 2).map((s) => s.name).sort();
  return { drawn, short, any: scored.length > 0 };
}

function plotData(drawn) {
  const times = [...new Set(drawn.flatMap((s) => s.points.map(([t]) => t)))].sort((a, b) => a - b);
  const index = new Map(times.map((t, i) => [t, i]));
  const columns = drawn.map((s) => {
    const values = new Array(times.length).fill(null);
    for (const [t, v] of s.points) values[index.get(t)] = v;
    return values;
  });
  return [times, ...columns];
}

// The date axis: ticks at local midnights (every 1, 2, 3, 7, 14... days) over a span of days, else at
// whole hours, as many as fit; labels "Nov 26" (with the year when the span crosses one) or "8 AM".
const HOUR = 3600;
const DAY = 24 * HOUR;
const dayTick = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric" });
const yearTick = new Intl.DateTimeFormat(undefined, { year: "numeric", month: "short", day: "numeric" });
const hourTick = new Intl.DateTimeFormat(undefined, { hour: "numeric", minute: "2-digit" });

function timeSplits(u, axis, min, max) {
  const room = Math.max(3, Math.floor((u.width - 60) / 70)); // labels at least 70 px apart
  const span = max - min;
  const out = [];
  if (span >= 2 * DAY) {
    const step = [1, 2, 3, 7, 14, 28, 56, 91, 182, 364].find((d) => span / (d * DAY) <= room) ?? 364;
    const start = new Date(min * 1000);
    start.setHours(0, 0, 0, 0);
    for (let d = new Date(start); d.getTime() / 1000 <= max; d.setDate(d.getDate() + step)) {
      if (d.getTime() / 1000 >= min) out.push(d.getTime() / 1000);
    }
  } else {
    const step = [1, 2, 3, 6, 12, 24].find((h) => span / (h * HOUR) <= room) ?? 24;
    for (let t = Math.ceil(min / HOUR) * HOUR; t <= max; t += step * HOUR) out.push(t);
  }
  return out;
}

function timeLabels(u, splits) {
  const [min, max] = [u.scales.x.min, u.scales.x.max];
  if (max - min < 2 * DAY) return splits.map((t) => hourTick.format(new Date(t * 1000)));
  const years = new Date(min * 1000).getFullYear() !== new Date(max * 1000).getFullYear();
  return splits.map((t) => (years ? yearTick : dayTick).format(new Date(t * 1000)));
}

function timeRange(u, min, max) {
  const pad = Math.max((max - min) * 0.04, HOUR);
  return [min - pad, max + pad];
}

function chartWidth() {
  return Math.max(200, Math.floor($("trend").getBoundingClientRect().width));
}

function chartHeight() {
  return window.matchMedia("(max-width: 640px)").matches ? 220 : 280;
}

function renderTrend() {
  const box = $("trend");
  state.plot?.destroy();
  state.plot = null;
  box.replaceChildren();
  const { drawn, short, any } = trendSeries();
  const notes = [];
  if (drawn.length === 0) {
    notes.push(
      short.length === 1
        ? `${short[0]} has one scored set so far: its trend appears after at least two scored sets.`
        : any
          ? "Each exercise here has one scored set so far: a trend appears after at least two scored sets of one."
          : "No scored sets here yet: the trend of the mean score appears after at least two scored sets of an exercise.",
    );
  }
  if (drawn.length > 0 && short.length > 0) {
    notes.push(`${short.join(", ")}: only one scored set so far, so no trend yet.`);
  }
  $("trend-note").textContent = notes.join(" ");
  if (drawn.length === 0) {
    box.setAttribute("aria-label", "No trend to show yet");
    box.hidden = true;
    return;
  }
  box.hidden = false;
  box.setAttribute(
    "aria-label",
    "Mean score per set over time, 0 to 100: " +
      drawn
        .map((s) => {
          const first = s.points[s.points.length - 1];
          const last = s.points[0];
          return `${s.name}, ${s.points.length} sets from ${first[1].toFixed(0)} on ${dayFormat.format(new Date(first[0] * 1000))} to ${last[1].toFixed(0)} on ${dayFormat.format(new Date(last[0] * 1000))}`;
        })
        .join("; "),
  );
  const axis = { stroke: "#c5d0d8", grid: { stroke: "#2c3943", width: 1 }, ticks: { stroke: "#3a4650", width: 1 }, font: "12px system-ui, sans-serif" };
  const options = {
    width: chartWidth(),
    height: chartHeight(),
    scales: { x: { time: true, range: timeRange }, y: { auto: false, range: [0, 100] } },
    axes: [
      { ...axis, splits: timeSplits, values: timeLabels, size: 36 },
      { ...axis, label: "mean score", labelFont: "12px system-ui, sans-serif", size: 44, splits: () => [0, 20, 40, 60, 80, 100] },
    ],
    cursor: { points: { size: 9 }, drag: { x: false, y: false } },
    legend: { live: true },
    series: [
      { label: "When", value: (u, t) => (t === null || t === undefined ? "–" : whenFormat.format(new Date(t * 1000))) },
      ...drawn.map((s, i) => ({
        label: s.name,
        stroke: COLOURS[i % COLOURS.length],
        width: 2,
        dash: DASHES[i % DASHES.length],
        spanGaps: true,
        points: { show: true, size: 7, fill: COLOURS[i % COLOURS.length] },
        value: (u, v) => (v === null || v === undefined ? "–" : v.toFixed(0)),
      })),
    ],
  };
  state.plot = new uPlot(options, plotData(drawn), box);
  box.querySelector(".u-legend")?.setAttribute("aria-hidden", "true"); // the label above says it in words
}

function render() {
  renderTable();
  renderTrend();
}

// -- deleting -----------------------------------------------------------------------------------------

function confirmDelete(item, button) {
  const dialog = $("confirm-delete");
  $("confirm-what").textContent = `${describe(item)}: ${resultText(item)[0]}.`;
  dialog.returnValue = "";
  dialog.addEventListener(
    "close",
    () => {
      if (dialog.returnValue === "delete") remove(item, button);
      else button.focus();
    },
    { once: true },
  );
  dialog.showModal();
  $("confirm-cancel").focus();
}

async function remove(item, button) {
  const url = item.kind === "live" ? `/api/history/live/${encodeURIComponent(item.id)}` : `/api/jobs/${encodeURIComponent(item.id)}`;
  button.disabled = true;
  try {
    await api(url, { method: "DELETE" });
  } catch (error) {
    button.disabled = false;
    showProblem($("history-problem"), error, () => remove(item, button));
    return;
  }
  $("history-problem").hidden = true;
  const at = state.items.indexOf(item);
  state.items = state.items.filter((i) => i !== item);
  render();
  $("status").textContent = `Deleted: ${describe(item)}.`;
  // Focus goes where the row was: the next row's delete button, else the previous one's, else the heading.
  const buttons = [...$("history-table").querySelectorAll("button.delete")];
  const next = buttons[Math.min(at, buttons.length - 1)];
  if (next) next.focus();
  else {
    $("sets-title").tabIndex = -1;
    $("sets-title").focus();
  }
}

// -- start --------------------------------------------------------------------------------------------

// Explicit table roles: on a phone the rows are laid out as cards (CSS grid), which must not cost the
// table its meaning to a screen reader.
function keepTableRoles() {
  const table = $("history-table");
  table.setAttribute("role", "table");
  for (const group of table.querySelectorAll("thead, tbody")) group.setAttribute("role", "rowgroup");
  for (const tr of table.querySelectorAll("thead tr")) tr.setAttribute("role", "row");
  for (const th of table.querySelectorAll("thead th")) th.setAttribute("role", "columnheader");
}

async function main() {
  keepTableRoles();
  readAddress();
  for (const id of ["exercise", "kind", "show-empty"]) $(id).addEventListener("change", loadHistory);
  $("filters").addEventListener("submit", (event) => event.preventDefault());
  let width = 0;
  new ResizeObserver(() => {
    const now = chartWidth();
    if (state.plot && now !== width) state.plot.setSize({ width: now, height: chartHeight() });
    width = now;
  }).observe($("trend"));
  try {
    await signedIn();
  } catch (error) {
    showProblem($("history-problem"), error, () => location.reload());
    return;
  }
  await loadExercises();
  await loadHistory();
}

main();
