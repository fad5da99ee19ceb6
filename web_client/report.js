// The report of a set: an uploaded video's (report.html?job=ID: summary, video with the skeleton overlay
// and a 3D view of the lifted pose beside the reference's at the same point of the rep, score chart,
// coach feedback, the rep table with what its numbers mean, joint-angle timelines against the reference
// aligned by DTW) or a live set's (report.html?session=ID: the same without video, 3D view or curves,
// which a live set does not keep; the page says so). Every failed request is shown with what to do.

import { angleChart, barChart, scoreClass, scoreWord } from "./charts.js";
import { Overlay } from "./overlay.js";
import { ApiError, api, showProblem } from "./net.js";
import { Skeleton3D } from "./skeleton3d.js";
import { signedIn } from "./auth.js";

const $ = (id) => document.getElementById(id);
const text = (s) => {
  const span = document.createElement("span");
  span.textContent = String(s);
  return span.innerHTML;
};
const label = (name) => name.replaceAll("_", " ").toLowerCase();
const count = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;
const seconds = (ms) => `${(ms / 1000).toFixed(1)} s`;
const SEVERITY = { safety: "⚠ safety", form: "◆ form" };

/** A fault's severity as an icon and a word (colour is only a third cue). */
function severityTag(severity) {
  if (!SEVERITY[severity]) return "";
  return `<span class="severity ${severity}">${SEVERITY[severity]}</span>`;
}

// --- the summary -------------------------------------------------------------------------------------

/** The scores in words: one number when they are all the same, no trend when there is none. */
function scoreWords(s, what) {
  if (s.mean_score === null || s.mean_score === undefined) return "";
  const n = what === "rep" ? s.reps : s.holds;
  if (n === 1) return `, score <strong>${s.mean_score.toFixed(0)}</strong> (${scoreWord(s.mean_score)})`;
  let out = `, mean score <strong>${s.mean_score.toFixed(0)}</strong> (${scoreWord(s.mean_score)})`;
  if (s.best_score.toFixed(0) !== s.worst_score.toFixed(0)) out += ` (best ${s.best_score.toFixed(0)}, worst ${s.worst_score.toFixed(0)})`;
  else out += `, every ${what} the same`;
  if (s.trend && s.trend !== "n/a") out += `, ${s.trend} over the set`;
  return out;
}

function topFault(s, results, what) {
  if (!s.most_frequent_fault) return results.length ? `<p>No fault in any ${what}.</p>` : "";
  let severity = s.most_frequent_fault_severity;
  if (!severity) { // a summary stored before it carried the severity: the reps tell it
    const found = results.flatMap((r) => r.faults).find((f) => f.id === s.most_frequent_fault);
    severity = found?.severity;
  }
  const n = s.kind === "hold" ? s.holds : s.reps;
  return `<p id="top-fault">Most frequent fault: ${severityTag(severity)} <strong>${text(label(s.most_frequent_fault))}</strong>, in ${s.most_frequent_fault_count} of ${count(n, what)}.</p>`;
}

function summary(view, r) {
  const s = r.summary;
  const hold = r.kind === "hold";
  const what = hold ? "hold" : "rep";
  const counted = hold
    ? `<strong id="report-holds">${s.holds}</strong> ${s.holds === 1 ? "hold" : "holds"}, <strong id="report-hold-total">${s.hold_total_s.toFixed(1)}</strong> s held` +
      (s.holds > 1 ? ` (longest ${s.hold_longest_s.toFixed(1)} s)` : "")
    : `<strong id="report-reps">${s.reps}</strong> ${s.reps === 1 ? "rep" : "reps"}`;
  const results = (hold ? r.holds : r.reps) || [];
  const notCounted = r.not_counted || [];
  const meta = [];
  if (Number.isFinite(r.detected_fraction) && Number.isFinite(r.frames)) meta.push(`person found in ${(r.detected_fraction * 100).toFixed(0)}% of ${r.frames} frames`);
  if (r.backend) meta.push(`2D ${text(r.backend)}`);
  if (r.lifter) meta.push(`3D ${text(r.lifter)}`);
  if (r.persona) meta.push(`coach ${text(r.persona)}`);
  $("report-summary").innerHTML =
    `<h2>${text(r.display_name)}: ${text(view.title)}</h2>` +
    `<p class="summary-line">${counted}${scoreWords(s, what)}.</p>` +
    topFault(s, results, what) +
    (r.details_recorded === false ? `<p class="warning">This set was stored before its reps were kept: only its summary is shown.</p>` : "") +
    (r.warnings || []).map((w) => `<p class="warning">⚠ ${text(w)}</p>`).join("") +
    (notCounted.length
      ? `<p>Not counted (${notCounted.length}):</p><ul id="not-counted">` +
        notCounted.map((d) => `<li>${seconds(d.start_ms)}: ${text(d.reason)}</li>`).join("") + "</ul>"
      : "") +
    (meta.length ? `<p class="muted report-meta">${meta.join(" · ")}</p>` : "");
}

// --- the table and its legend ------------------------------------------------------------------------

function faultCell(result) {
  const found = result.faults.length
    ? result.faults.map((f) => `${severityTag(f.severity)} ${text(f.message)}`).join("<br>")
    : "<span class=\"muted\">none</span>";
  const skipped = Object.entries(result.checks_skipped || {});
  return found + (skipped.length
    ? `<br><span class="muted">not judged: ${skipped.map(([id, why]) => text(`${label(id)} (${why})`)).join("; ")}</span>`
    : "");
}

const LEGEND = {
  reps: [
    ["score", "0-100: half for form (your joint angles against the reference's, matched moment by moment), 20% range, 10% each tempo, symmetry and stability, less a few points per fault (more for a safety fault). 85 and up: good; 65-84: fair; under 65: needs work."],
    ["range", "How far your moving joint travelled, as a percentage of the reference rep's range; 90% or more gets full marks."],
    ["duration, tempo", "How long the rep took, and that time against the reference rep's (1.00x: the same pace; faster or slower than people generally manage loses tempo points)."],
    ["symmetry", "How much more your left and right sides differed than the reference's own sides did, in degrees; 0° is as even as the reference."],
    ["stability", "0-100: how steady your joints stayed, from how jerky the angles were compared with the reference; 100 is as smooth."],
    ["faults", "What went wrong, with the measured value: ⚠ safety faults (risk of strain) come first, ◆ form faults after. \"Not judged\": what the camera could not see, neither claimed nor denied."],
  ],
  holds: [
    ["score", "0-100: your posture against the reference's held posture, the share of time free of faults, less a few points per fault. 85 and up: good; 65-84: fair; under 65: needs work."],
    ["held", "Time in the position, first to last moment (short breaks bridged)."],
    ["in position", "The share of that time you were actually seen in the position."],
    ["in faults", "Time spent in fault episodes."],
    ["faults", "Each episode, when it began and how long it lasted: ⚠ safety faults first, then ◆ form faults."],
  ],
};

function legend(kind) {
  $("legend").replaceChildren(
    ...LEGEND[kind].flatMap(([term, meaning]) => [
      Object.assign(document.createElement("dt"), { textContent: term }),
      Object.assign(document.createElement("dd"), { textContent: meaning }),
    ]),
  );
}

function repTable(reps) {
  $("rep-table").querySelector("tbody").replaceChildren(
    ...reps.map((rep) => {
      const row = document.createElement("tr");
      row.innerHTML =
        `<td>${rep.index}</td><td>${seconds(rep.start_ms)}</td>` +
        `<td class="${scoreClass(rep.score)}">${rep.score.toFixed(1)}</td><td>${rep.rom_pct.toFixed(0)}%</td>` +
        `<td>${rep.duration_s.toFixed(1)} s</td><td>${rep.tempo_ratio.toFixed(2)}x</td>` +
        `<td>${rep.symmetry_deg.toFixed(1)}°</td><td>${rep.stability.toFixed(0)}</td><td>${faultCell(rep)}</td>`;
      return row;
    }),
  );
}

function holdTable(holds) {
  $("rep-table").querySelector("thead").innerHTML =
    "<tr><th scope=\"col\">hold</th><th scope=\"col\">start</th><th scope=\"col\">score</th><th scope=\"col\">held</th><th scope=\"col\">in position</th><th scope=\"col\">in faults</th><th scope=\"col\">faults (when, how long)</th></tr>";
  $("rep-table").querySelector("tbody").replaceChildren(
    ...holds.map((hold) => {
      const row = document.createElement("tr");
      row.className = "hold-row";
      row.innerHTML =
        `<td>${hold.index}</td><td>${seconds(hold.start_ms)}</td>` +
        `<td class="${scoreClass(hold.score)}">${hold.score.toFixed(1)}</td><td>${hold.duration_s.toFixed(1)} s</td>` +
        `<td>${(hold.held_share * 100).toFixed(0)}%</td><td>${hold.fault_s.toFixed(1)} s</td><td>${faultCell(hold)}</td>`;
      return row;
    }),
  );
}

/** Each cell names its column (a phone shows the rows as cards, without the header row). */
function labelCells() {
  const names = [...$("rep-table").querySelectorAll("thead th")].map((th) => th.textContent);
  for (const row of $("rep-table").querySelectorAll("tbody tr")) {
    [...row.children].forEach((cell, i) => { if (names[i] && cell.colSpan === 1) cell.dataset.label = names[i]; });
  }
}

function emptyTable(what) {
  const row = document.createElement("tr");
  const cell = Object.assign(document.createElement("td"), { colSpan: 9, className: "muted" });
  cell.textContent = `No ${what} counted in this set.`;
  row.append(cell);
  $("rep-table").querySelector("tbody").replaceChildren(row);
}

function feedback(tips) {
  if (!tips.length) {
    $("feedback").replaceChildren(Object.assign(document.createElement("li"), { className: "muted", textContent: "No feedback for this set." }));
    return;
  }
  $("feedback").replaceChildren(
    ...tips.map((tip) => {
      const item = document.createElement("li");
      item.className = "tip";
      item.dataset.kind = tip.kind;
      item.dataset.severity = tip.severity;
      item.innerHTML = (tip.kind !== "praise" && tip.kind !== "summary" ? severityTag(tip.severity) : "") + text(tip.text);
      return item;
    }),
  );
}

// --- the moment shown: video, overlay, 3D view, chart cursors ----------------------------------------

/** The index of the frame shown at ``ms`` (the last frame at or before it). */
function frameAt(times, ms) {
  let lo = 0, hi = times.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (times[mid] <= ms) lo = mid; else hi = mid - 1;
  }
  return lo;
}

/** The heading (radians, about the vertical camera axis) of a pose's hip line, or null when the hips
 * overlap seen from above. Camera axes: x right, y down, z forward. */
function hipHeading(pose, left, right) {
  const dx = pose[left][0] - pose[right][0];
  const dz = pose[left][2] - pose[right][2];
  return Math.hypot(dx, dz) > 0.05 ? Math.atan2(dz, dx) : null;
}

/** The reference's pose turned about the vertical axis to face the way the user faces (the reference was
 * filmed from its own side), so the two can be compared limb by limb. */
function turnedLike(reference, user, left, right) {
  const a = user ? hipHeading(user, left, right) : null;
  const b = hipHeading(reference, left, right);
  if (a === null || b === null) return reference;
  const c = Math.cos(a - b), s = Math.sin(a - b);
  return reference.map(([x, y, z]) => [x * c - z * s, y, x * s + z * c]);
}

/** Which rep (or hold) a frame is in, or null. */
function resultAt(results, frame) {
  return results.find((r) => r.start_frame <= frame && frame <= r.end_frame) || null;
}

function moments(job, r, charts) {
  const times = r.curves.timestamps_ms;
  const results = (r.kind === "hold" ? r.holds : r.reps) || [];
  const what = r.kind === "hold" ? "hold" : "rep";
  const video = $("player");
  const slider = $("moment");
  slider.max = String(times.length - 1);
  const overlay = new Overlay($("player-overlay"), video);
  overlay.skeleton = r.skeleton;
  const [width, height] = r.image_size;
  const view = r.poses_3d ? new Skeleton3D($("skeleton3d"), r.skeleton, {
    label: "3D view of your pose and the reference's at the same point of the rep: drag to turn, wheel or pinch to zoom",
  }) : null;
  if (!view) $("skeleton3d").replaceChildren(Object.assign(document.createElement("p"), { className: "muted", textContent: "This report has no 3D poses." }));

  const hips = { left: r.skeleton.joints.indexOf("l_hip"), right: r.skeleton.joints.indexOf("r_hip") };
  let shown = -1;
  const show = (frame) => {
    if (frame === shown) return;
    shown = frame;
    slider.value = String(frame);
    slider.setAttribute("aria-valuetext", `${seconds(times[frame])}`);
    const points = r.keypoints[frame];
    const valid = Array.isArray(points) && points.every((p) => Array.isArray(p) && p.every((v) => typeof v === "number"));
    overlay.draw({ width, height, keypoints: valid ? points.map(([x, y]) => [x, y, 1]) : null });
    const result = resultAt(results, frame);
    const matched = r.reference_frame ? r.reference_frame[frame] : null;
    if (view) {
      const pose = r.poses_3d[frame];
      const user = view.setPose("user", pose);
      const other = matched !== null && matched !== undefined ? r.reference_poses_3d[matched] : null;
      const reference = view.setPose("reference", other && turnedLike(other, pose, hips.left, hips.right));
      const where = result
        ? `${what} ${result.index}${reference ? `: <span class="key-user">you</span> and <span class="key-reference">the reference (faint blue, turned your way)</span> at the same point of the ${what}` : ""}`
        : `between ${what}s: <span class="key-user">you</span> only`;
      $("view-caption").innerHTML = `${seconds(times[frame])}, ${user ? where : "nobody seen in this frame"}`;
    }
    for (const chart of charts) chart.setNow(times[frame] / 1000);
  };
  const follow = () => {
    show(frameAt(times, video.currentTime * 1000));
    if (!video.paused && !video.ended) requestAnimationFrame(follow);
  };
  const seek = (s) => {
    if (video.src && video.readyState >= 1) video.currentTime = Math.max(0, s);
    show(frameAt(times, s * 1000));
  };
  slider.addEventListener("input", () => seek(times[Number(slider.value)] / 1000));
  if (job?.video_url) {
    video.addEventListener("play", () => requestAnimationFrame(follow));
    video.addEventListener("seeked", follow);
    video.addEventListener("loadeddata", follow);
    video.addEventListener("timeupdate", follow);
    video.addEventListener("error", () => {
      $("video-note").hidden = false;
      $("video-note").textContent = "The video could not be played here; the slider below still moves the 3D view and the charts.";
    });
    video.src = job.video_url;
  } else {
    video.closest(".player").hidden = true;
    $("video-note").hidden = false;
    $("video-note").textContent = "The video was removed by the retention policy; the numbers, the 3D view and the charts stay: move the slider below.";
  }
  show(Math.max(0, r.poses_3d ? r.poses_3d.findIndex((p) => p !== null) : 0));
  return seek;
}

// --- the charts --------------------------------------------------------------------------------------

const PHASE_WORDS = { descent: "on the way down", bottom: "at the bottom", ascent: "on the way up", top: "at the top", rep: "during the rep" };

/** When a fault was measured, for its mark on the charts: {at, span, when} (seconds; at null: not known,
 *  the chart marks it at the rep's turning point and ``when`` says so). A hold's fault episode starts at
 *  details.start_s; a rep's offset fault was measured over a phase (details.phase_start_ms/phase_end_ms). */
function measuredAt(fault, hold) {
  const d = fault.details || {};
  const s = (v) => `${v.toFixed(1)} s`;
  if (hold && Number.isFinite(d.start_s)) {
    const length = Number.isFinite(d.duration_s) ? d.duration_s : 0;
    return { at: d.start_s, span: [d.start_s, d.start_s + length], when: `from ${s(d.start_s)} for ${s(length)}` };
  }
  if (Number.isFinite(d.phase_start_ms) && Number.isFinite(d.phase_end_ms)) {
    const [a, b] = [d.phase_start_ms / 1000, d.phase_end_ms / 1000];
    const where = d.where || PHASE_WORDS[fault.phase] || "measured";
    return { at: (a + b) / 2, span: [a, b], when: `${where}, ${s(a)} to ${s(b)}` };
  }
  return { at: null, span: null, when: hold ? "no time recorded: marked mid-hold" : "judged on the whole rep: marked at its turning point" };
}

function angleCharts(r, onPick) {
  const curves = r.curves;
  const xs = curves.timestamps_ms.map((t) => t / 1000);
  const hold = r.kind === "hold";
  const results = (hold ? r.holds : r.reps) || [];
  const charted = new Set(Object.values(curves.body_parts || {}).flat());
  // a fault is marked on the charts of the body parts it names; one naming none of them (tempo) on all
  const concerns = (fault, name) => {
    const parts = (fault.body_parts || []).filter((p) => charted.has(p));
    return !parts.length || !curves.body_parts || parts.some((p) => curves.body_parts[name].includes(p));
  };
  const marksFor = (name) => results.map((x) => ({
    label: `${hold ? "hold" : "rep"} ${x.index}`,
    from: x.start_ms / 1000,
    turn: hold ? null : x.bottom_ms / 1000,
    to: x.end_ms / 1000,
    faults: x.faults.filter((f) => concerns(f, name)).map((f) => ({ name: label(f.id), severity: f.severity, ...measuredAt(f, hold) })),
  }));
  const box = $("angle-charts");
  box.replaceChildren();
  return curves.angles.map((name) =>
    angleChart(box, {
      title: label(name),
      xs,
      series: [
        { label: "you", values: curves.user[name], stroke: "#33c481" },
        // short labels keep the legend on one line on a phone; the note above the charts says how it is aligned
        { label: "reference", values: curves.reference[name], stroke: "#8ab8ff", dash: [6, 4] },
      ],
      marks: marksFor(name),
      onPick,
    }),
  );
}

// --- the page ----------------------------------------------------------------------------------------

function render(view, r) {
  const hold = r.kind === "hold";
  const what = hold ? "holds" : "reps";
  const results = (hold ? r.holds : r.reps) || [];
  summary(view, r);
  if (hold) {
    $("score-heading").textContent = "Score per hold";
    $("table-heading").textContent = "Holds";
    $("reference-note").textContent = "the reference's held posture over each hold";
    $("marks-note").textContent = "Boxes mark the holds; a round mark at the foot of a chart where a fault began names it (hover or focus it), over a bar as long as it lasted.";
    holdTable(results);
  } else {
    repTable(results);
  }
  if (!results.length) emptyTable(what);
  labelCells();
  legend(what);
  if (results.length) {
    barChart($("score-chart"), results.map((x) => String(x.index)), results.map((x) => x.score), `Score per ${hold ? "hold" : "rep"}, 0-100`, { what: hold ? "hold" : "rep" });
  } else {
    $("score-panel").hidden = true;
  }
  feedback(r.tips || []);
  if (view.live || !r.curves) {
    $("live-note").hidden = false;
    return;
  }
  $("media-panel").hidden = false;
  $("angles-panel").hidden = false;
  let seek = null;
  const charts = angleCharts(r, (s) => seek?.(s));
  seek = moments(view.job, r, charts);
}

function when(unixSeconds) {
  return new Date(unixSeconds * 1000).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

async function load() {
  await signedIn();
  const params = new URLSearchParams(location.search);
  const jobId = params.get("job");
  const sessionId = params.get("session");
  if (sessionId) {
    const r = await api(`/api/history/live/${encodeURIComponent(sessionId)}`);
    const title = `live set${Number.isFinite(r.started_at) ? ` of ${when(r.started_at)}` : ""}`;
    document.title = `${r.display_name}, ${title} · AI Fitness Coach`;
    render({ live: true, title }, r);
    return;
  }
  if (!jobId) {
    throw new ApiError("No set was chosen for this report.", { advice: "Open a report from the upload page or from the history page." });
  }
  const job = await api(`/api/jobs/${encodeURIComponent(jobId)}`);
  if (job.status === "failed") {
    throw new ApiError(`The analysis of ${job.filename || "the video"} failed: ${job.error}`, {
      advice: "Upload the video again, or another one: the whole body in the picture, from the side the exercise asks for.",
    });
  }
  if (job.status !== "done") {
    $("report-summary").innerHTML = `<p>The analysis is ${text(job.status)} (${(job.progress * 100).toFixed(0)}%): this page shows the report when it is ready.</p>`;
    setTimeout(() => run(), 2000);
    return;
  }
  document.title = `${job.result.display_name}: ${job.filename} · AI Fitness Coach`;
  render({ live: false, title: job.filename, job }, job.result);
}

function run() {
  load().catch((error) => {
    $("report-summary").hidden = true;
    showProblem($("report-error"), error, () => {
      $("report-error").hidden = true;
      $("report-summary").hidden = false;
      $("report-summary").innerHTML = "<p class=\"muted\">Loading the report…</p>";
      run();
    });
  });
}

run();
