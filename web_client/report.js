// The report of an uploaded video: summary, per-rep table, score chart, coach feedback,
// joint-angle curves against the reference, and the video with the skeleton overlay.

import { barChart, lineChart, scoreClass } from "./charts.js";
import { Overlay } from "./overlay.js";
import { problem } from "./webrtc.js";
import { signedIn } from "./auth.js";

const $ = (id) => document.getElementById(id);
const text = (s) => {
  const span = document.createElement("span");
  span.textContent = s;
  return span.innerHTML;
};
const label = (name) => name.replaceAll("_", " ").toLowerCase();
const count = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;

// The counts line of a hold exercise; the rest of the summary is a rep exercise's.
function holdSummary(job, r) {
  const s = r.summary;
  summary(
    job,
    r,
    `<strong id="report-holds">${s.holds}</strong> ${s.holds === 1 ? "hold" : "holds"}, <strong id="report-hold-total">${s.hold_total_s.toFixed(1)}</strong> s held` +
      (s.mean_score !== null ? ` (longest ${s.hold_longest_s.toFixed(1)} s), mean score <strong>${s.mean_score.toFixed(0)}</strong>` : ""),
    count(s.holds, "hold"),
  );
}

// A hold exercise's rows: hold, start, score, time held, share in position, time in faults, each episode.
function holdTable(holds) {
  $("rep-table").querySelector("thead").innerHTML =
    "<tr><th>hold</th><th>start</th><th>score</th><th>held</th><th>in position</th><th>in faults</th><th>faults (when, how long)</th></tr>";
  $("rep-table").querySelector("tbody").replaceChildren(
    ...holds.map((hold) => {
      const row = document.createElement("tr");
      row.className = "hold-row";
      const found = hold.faults.length ? hold.faults.map((f) => text(f.message)).join("<br>") : "<span class=\"muted\">none</span>";
      const skipped = Object.entries(hold.checks_skipped || {});
      const faults = found + (skipped.length
        ? `<br><span class="muted">not judged: ${skipped.map(([id, why]) => text(`${id.replaceAll("_", " ")} (${why})`)).join("; ")}</span>`
        : "");
      row.innerHTML =
        `<td>${hold.index}</td><td>${(hold.start_ms / 1000).toFixed(1)} s</td>` +
        `<td class="${scoreClass(hold.score)}">${hold.score.toFixed(1)}</td><td>${hold.duration_s.toFixed(1)} s</td>` +
        `<td>${(hold.held_share * 100).toFixed(0)}%</td><td>${hold.fault_s.toFixed(1)} s</td><td>${faults}</td>`;
      return row;
    }),
  );
}

function summary(job, r, counted = null, among = null) {
  const s = r.summary;
  const fault = s.most_frequent_fault
    ? `Most frequent fault: ${text(label(s.most_frequent_fault))} (${s.most_frequent_fault_count} of ${among ?? `${s.reps} reps`}).`
    : "No recurring fault.";
  $("report-summary").innerHTML =
    `<h2>${text(r.display_name)}: ${text(job.filename)}</h2>` +
    `<p>${counted ?? `<strong id="report-reps">${s.reps}</strong> reps` +
      (s.mean_score !== null ? `, mean score <strong>${s.mean_score.toFixed(0)}</strong> (best ${s.best_score.toFixed(0)}, worst ${s.worst_score.toFixed(0)}), ${s.trend}` : "")}` +
    `. ${fault}</p>` +
    (r.warnings || []).map((w) => `<p class="warning">${text(w)}</p>`).join("") +
    ((r.not_counted || []).length
      ? `<p>Not counted (${r.not_counted.length}):</p><ul id="not-counted">` +
        r.not_counted.map((d) => `<li>${(d.start_ms / 1000).toFixed(1)} s: ${text(d.reason)}</li>`).join("") +
        "</ul>"
      : "") +
    `<p class="muted">Person found in ${(r.detected_fraction * 100).toFixed(0)}% of ${r.frames} frames · 2D ${text(r.backend)} · 3D ${text(r.lifter)} · coach ${text(r.persona)}</p>`;
}

function repTable(reps) {
  $("rep-table").querySelector("tbody").replaceChildren(
    ...reps.map((rep) => {
      const row = document.createElement("tr");
      const found = rep.faults.length ? rep.faults.map((f) => text(f.message)).join("<br>") : "<span class=\"muted\">none</span>";
      const skipped = Object.entries(rep.checks_skipped || {});
      const faults = found + (skipped.length
        ? `<br><span class="muted">not judged: ${skipped.map(([id, why]) => text(`${id.replaceAll("_", " ")} (${why})`)).join("; ")}</span>`
        : "");
      row.innerHTML =
        `<td>${rep.index}</td><td>${(rep.start_ms / 1000).toFixed(1)} s</td>` +
        `<td class="${scoreClass(rep.score)}">${rep.score.toFixed(1)}</td><td>${rep.rom_pct.toFixed(0)}%</td>` +
        `<td>${rep.duration_s.toFixed(1)} s</td><td>${rep.tempo_ratio.toFixed(2)}x</td>` +
        `<td>${rep.symmetry_deg.toFixed(1)}°</td><td>${faults}</td>`;
      return row;
    }),
  );
}

function feedback(tips) {
  $("feedback").replaceChildren(
    ...tips.map((tip) => {
      const item = document.createElement("li");
      item.className = "tip";
      item.dataset.kind = tip.kind;
      item.dataset.severity = tip.severity;
      item.textContent = tip.text;
      return item;
    }),
  );
}

function angleCharts(curves) {
  const xs = curves.timestamps_ms.map((t) => t / 1000);
  $("angle-charts").replaceChildren(
    ...curves.angles.map((name) => {
      const box = document.createElement("div");
      box.className = "chart angle-chart";
      lineChart(box, xs, [
        { name: "you", values: curves.user[name], cls: "user" },
        { name: "reference", values: curves.reference[name], cls: "reference" },
      ], label(name));
      return box;
    }),
  );
}

function player(job, r) {
  const video = $("player");
  if (!job.video_url) {
    $("video-note").textContent = "The video was removed by the retention policy; the numbers stay.";
    return;
  }
  const overlay = new Overlay($("player-overlay"), video);
  overlay.skeleton = r.skeleton;
  const times = r.curves.timestamps_ms;
  const [width, height] = r.image_size;
  const draw = () => {
    const t = video.currentTime * 1000;
    let lo = 0, hi = times.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (times[mid] < t) lo = mid + 1; else hi = mid;
    }
    const points = r.keypoints[lo];
    overlay.draw({ width, height, keypoints: points && points.map(([x, y]) => [x, y, 1]) });
    if (!video.paused && !video.ended) requestAnimationFrame(draw);
  };
  video.addEventListener("play", () => requestAnimationFrame(draw));
  video.addEventListener("seeked", draw);
  video.addEventListener("loadeddata", draw);
  video.src = job.video_url;
}

async function main() {
  await signedIn();
  const jobId = new URLSearchParams(location.search).get("job");
  if (!jobId) throw new Error("No job given: open a report from the upload or history page.");
  const response = await fetch(`/api/jobs/${encodeURIComponent(jobId)}`);
  if (!response.ok) throw new Error(await problem(response));
  const job = await response.json();
  if (job.status === "failed") throw new Error(`The analysis failed: ${job.error}`);
  if (job.status !== "done") {
    $("report-summary").innerHTML = `<p>The analysis is ${job.status} (${(job.progress * 100).toFixed(0)}%)… this page refreshes.</p>`;
    setTimeout(() => location.reload(), 2000);
    return;
  }
  const r = job.result;
  if (r.kind === "hold") {
    $("score-heading").textContent = "Score per hold";
    $("table-heading").textContent = "Holds";
    $("reference-note").textContent = "the reference's held posture";
    holdSummary(job, r);
    holdTable(r.holds);
    barChart($("score-chart"), r.holds.map((h) => String(h.index)), r.holds.map((h) => h.score), "score per hold (0-100)");
  } else {
    summary(job, r);
    repTable(r.reps);
    barChart($("score-chart"), r.reps.map((rep) => String(rep.index)), r.reps.map((rep) => rep.score), "score per rep (0-100)");
  }
  feedback(r.tips);
  angleCharts(r.curves);
  player(job, r);
}

main().catch((error) => {
  $("report-error").hidden = false;
  $("report-error").textContent = error.message;
  $("report-summary").hidden = true;
});
