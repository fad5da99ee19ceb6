// Past live sessions and uploads, newest first, with the trend of the mean score.

import { signedIn } from "./auth.js";
import { lineChart } from "./charts.js";

const $ = (id) => document.getElementById(id);
let items = [];

function render() {
  const exercise = $("filter").value;
  const shown = items.filter((i) => !exercise || i.exercise === exercise);
  $("history-empty").hidden = shown.length > 0;
  $("history-table").querySelector("tbody").replaceChildren(
    ...shown.map((item) => {
      const row = document.createElement("tr");
      const when = new Date(item.at * 1000).toLocaleString();
      const link = item.kind === "upload" && item.status === "done" ? `<a href="/report.html?job=${encodeURIComponent(item.id)}">report</a>` : "";
      const done = item.held_s !== null && item.held_s !== undefined ? `${item.held_s.toFixed(0)} s held` : item.reps ?? "–";
      const cells = [when, `${item.kind}: ${item.title}`, item.exercise, done, item.mean_score === null ? "–" : item.mean_score.toFixed(0)];
      row.replaceChildren(...cells.map((value) => Object.assign(document.createElement("td"), { textContent: String(value) })));
      const last = document.createElement("td");
      last.innerHTML = item.status === "failed" ? "<span class=\"error\">failed</span>" : item.status !== "done" ? item.status : link;
      row.append(last);
      return row;
    }),
  );
  const scored = shown.filter((i) => i.mean_score !== null).reverse();
  if (scored.length) {
    const t0 = scored[0].at;
    lineChart($("trend-chart"), scored.map((i) => (i.at - t0) / 86400), [
      { name: "mean score", values: scored.map((i) => i.mean_score), cls: "user" },
    ], "mean score per set over time", "days");
  } else {
    $("trend-chart").replaceChildren();
  }
}

async function main() {
  await signedIn();
  items = await (await fetch("/api/history")).json();
  const exercises = [...new Set(items.map((i) => i.exercise))].sort();
  $("filter").append(...exercises.map((e) => new Option(e, e)));
  $("filter").addEventListener("change", render);
  render();
}

main();
