// Charts: SVG bars of rep scores and lines of curves and trends (no library), and the report's joint-angle
// timelines with uPlot (vendor/uplot/: cursor, legend with the values under it, rep boxes, fault marks).

import uPlot from "./vendor/uplot/uPlot.esm.js";

const NS = "http://www.w3.org/2000/svg";

function el(name, attrs = {}, text = null) {
  const node = document.createElementNS(NS, name);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  if (text !== null) node.textContent = text;
  return node;
}

function frame(width, height, pad) {
  const svg = el("svg", { viewBox: `0 0 ${width} ${height}`, role: "img" });
  svg.append(
    el("line", { class: "axis", x1: pad.l, y1: height - pad.b, x2: width - pad.r, y2: height - pad.b }),
    el("line", { class: "axis", x1: pad.l, y1: pad.t, x2: pad.l, y2: height - pad.b }),
  );
  return svg;
}

export function scoreClass(score) {
  return score >= 85 ? "good" : score >= 65 ? "fair" : "poor";
}

const WORDS = { good: "good", fair: "fair", poor: "needs work" };

/** The word for a 0-100 score's band (the colour's meaning, in text). */
export function scoreWord(score) {
  return WORDS[scoreClass(score)];
}

// Draw ``draw(width)`` now at the container's own width and again whenever that width changes, so the
// SVG's text stays at its CSS size instead of shrinking with a viewBox.
function atOwnWidth(container, draw) {
  container._chartObserver?.disconnect();
  let drawn = -1;
  const redraw = () => {
    const width = Math.round(container.clientWidth);
    if (width > 0 && width !== drawn) {
      drawn = width;
      draw(width);
    }
  };
  container._chartObserver = new ResizeObserver(redraw);
  container._chartObserver.observe(container);
  redraw();
  if (drawn < 0) draw(520); // not laid out yet (hidden): a default width, redrawn once it shows
}

// Bars of 0-100 scores, one per label (rep or hold numbers), drawn at the container's width: a 0-100
// axis with grid lines, each bar's score written above it, its number under it, the colour's band as
// a word in its tooltip and in the chart's accessible name.
export function barChart(container, labels, values, title, { what = "rep" } = {}) {
  const summary = values.map((v, i) => `${what} ${labels[i]}: ${v.toFixed(0)} (${scoreWord(v)})`).join(", ");
  atOwnWidth(container, (width) => {
    const height = 230, pad = { l: 40, r: 8, t: 22, b: 40 };
    const svg = el("svg", { viewBox: `0 0 ${width} ${height}`, width, height, role: "img" });
    svg.setAttribute("aria-label", `${title}. ${summary}.`);
    const plotH = height - pad.t - pad.b;
    const y = (v) => height - pad.b - (Math.max(0, Math.min(100, v)) / 100) * plotH;
    for (const tick of [0, 25, 50, 75, 100]) {
      svg.append(
        el("line", { class: tick ? "grid" : "axis", x1: pad.l, x2: width - pad.r, y1: y(tick), y2: y(tick) }),
        el("text", { x: pad.l - 6, y: y(tick) + 4, "text-anchor": "end" }, String(tick)),
      );
    }
    const slot = (width - pad.l - pad.r) / Math.max(values.length, 1);
    const barW = Math.min(56, slot * 0.7);
    values.forEach((value, i) => {
      const cx = pad.l + (i + 0.5) * slot;
      const bar = el("rect", { class: `bar ${scoreClass(value)}`, x: cx - barW / 2, y: y(value), width: barW, height: height - pad.b - y(value) });
      bar.append(el("title", {}, `${what} ${labels[i]}: ${value.toFixed(1)} (${scoreWord(value)})`));
      svg.append(bar, el("text", { class: "bar-value", x: cx, y: y(value) - 5, "text-anchor": "middle" }, value.toFixed(0)));
      if (slot >= 16 || i % Math.ceil(16 / slot) === 0) {
        svg.append(el("text", { x: cx, y: height - pad.b + 16, "text-anchor": "middle" }, labels[i]));
      }
    });
    svg.append(el("text", { x: pad.l + (width - pad.l - pad.r) / 2, y: height - 6, "text-anchor": "middle" }, what));
    container.replaceChildren(svg);
  });
}

// Lines over a shared x axis; each series {name, values (null = gap), cls}; bands {from, to, cls, label}
// shade spans of x behind the lines (the reps found in a video).
export function lineChart(container, xs, series, title, xLabel = "s", bands = []) {
  const width = 520, height = 200, pad = { l: 38, r: 10, t: 22, b: 24 };
  const svg = frame(width, height, pad);
  svg.setAttribute("aria-label", title);
  svg.append(el("text", { x: pad.l, y: 14 }, title));
  const all = series.flatMap((s) => s.values.filter((v) => v !== null && Number.isFinite(v)));
  if (!all.length || xs.length < 2) {
    container.replaceChildren(svg);
    return svg;
  }
  let lo = Math.min(...all), hi = Math.max(...all);
  if (hi - lo < 1e-6) { lo -= 1; hi += 1; }
  const x0 = xs[0], x1 = xs[xs.length - 1];
  const px = (x) => pad.l + ((x - x0) / (x1 - x0 || 1)) * (width - pad.l - pad.r);
  const py = (y) => height - pad.b - ((y - lo) / (hi - lo)) * (height - pad.t - pad.b);
  svg.append(
    el("text", { x: 4, y: py(hi) + 4 }, hi.toFixed(0)),
    el("text", { x: 4, y: py(lo) }, lo.toFixed(0)),
    el("text", { x: width - pad.r, y: height - 6, "text-anchor": "end" }, `${x1.toFixed(1)} ${xLabel}`),
  );
  for (const band of bands) {
    const left = px(Math.max(band.from, x0)), right = px(Math.min(band.to, x1));
    const rect = el("rect", { class: `band ${band.cls || ""}`, x: left, y: pad.t, width: Math.max(1, right - left), height: height - pad.t - pad.b });
    rect.append(el("title", {}, band.label || ""));
    svg.append(rect, el("text", { class: "band-label", x: (left + right) / 2, y: pad.t + 11, "text-anchor": "middle" }, band.label || ""));
  }
  for (const s of series) {
    let d = "";
    let pen = false;
    s.values.forEach((v, i) => {
      if (v === null || !Number.isFinite(v)) { pen = false; return; }
      d += `${pen ? "L" : "M"}${px(xs[i]).toFixed(1)},${py(v).toFixed(1)}`;
      pen = true;
    });
    const path = el("path", { class: s.cls, d });
    path.append(el("title", {}, s.name));
    svg.append(path);
  }
  container.replaceChildren(svg);
  return svg;
}

const AXIS = {
  stroke: "#c9d4dc",
  font: "12px system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif",
  labelFont: "600 12px system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif",
  grid: { stroke: "#26313a", width: 1 },
  ticks: { stroke: "#3a4650", width: 1, size: 4 },
};

function span(className, text = "") {
  return Object.assign(document.createElement("span"), { className, textContent: text });
}

const FLAG_ROOM_PX = 30; // fault buttons closer than this are put in rows (their 24 px dots would touch)

// One button per moment a box's faults were measured (faults measured at the same moment share one),
// each with the bar of how long that lasted when known: [{at, span, button, bar}].
function faultFlags(mark, onPick) {
  const fallback = mark.turn ?? (mark.from + mark.to) / 2;
  const moments = new Map();
  for (const fault of mark.faults || []) {
    const at = Number.isFinite(fault.at) ? fault.at : fallback;
    const key = at.toFixed(2);
    if (!moments.has(key)) moments.set(key, { at, span: null, faults: [] });
    const moment = moments.get(key);
    moment.faults.push(fault);
    if (fault.span && !moment.span) moment.span = fault.span;
  }
  return [...moments.values()].map(({ at, span: when, faults }) => {
    const safety = faults.some((f) => f.severity === "safety");
    const button = Object.assign(document.createElement("button"), { type: "button", className: `fault-mark ${safety ? "safety" : "form"}` });
    const said = (f) => `${f.name} (${f.severity})${f.when ? ` ${f.when}` : ""}`;
    button.setAttribute("aria-label", `${mark.label} faults: ${faults.map(said).join(", ")}. Jump there.`);
    button.dataset.at = at.toFixed(2);
    const icon = span("fault-dot", safety ? "!" : "•");
    icon.setAttribute("aria-hidden", "true");
    const lines = faults.map((f) => `${f.severity === "safety" ? "⚠ safety" : "◆ form"}: ${f.name}${f.when ? ` (${f.when})` : ""}`);
    const tip = span("fault-tip", `${mark.label}: ${lines.join("; ")}`);
    button.append(icon, tip);
    if (onPick) button.addEventListener("click", () => onPick(when ? when[0] : at));
    const bar = when ? span(`fault-span ${safety ? "safety" : "form"}`) : null;
    if (bar) bar.setAttribute("aria-hidden", "true");
    return { at, span: when, button, bar };
  });
}

/**
 * A timeline of one angle (uPlot) that fits its container's width and follows it when it changes.
 *
 *   angleChart(container, {
 *     title,                    // the accessible name, e.g. "elbow l"
 *     xs,                       // seconds, ascending
 *     series: [{label, values, stroke, dash}],   // values: degrees, null = gap
 *     marks: [{label, from, turn, to, faults: [{name, severity, at, span, when}]}],   // seconds; turn may be null
 *     onPick(seconds),          // a click on the plot or a fault mark (e.g. seek the video)
 *   }) -> {plot, setNow(seconds), dispose()}
 *
 * Marks are boxes in the plot's overlay (class ``rep-band``, one per rep, with its number and a dashed
 * line at the turning point). Each fault is a round button (``fault-mark``) at the foot of the plot at
 * the moment it was measured (``at``, seconds; null: the turning point, or the middle of a box without
 * one), over a bar showing how long that lasted (``span``: [from, to] seconds, optional); ``when`` says in
 * words when it was measured, and is shown on hover and focus with the fault's name. Faults of one box
 * measured at the same moment share a button; a button that would cover another is raised a row.
 * The cursor shows every series' value in the legend under the plot.
 */
export function angleChart(container, { title, xs, series, marks = [], onPick = null, height = 220 }) {
  const degrees = (u, v) => (v === null || v === undefined || !Number.isFinite(v) ? "–" : `${v.toFixed(0)}°`);
  const figure = document.createElement("figure");
  figure.className = "angle-chart";
  figure.setAttribute("role", "group");
  figure.setAttribute("aria-label", `${title}: angle over time`);
  const heading = Object.assign(document.createElement("h3"), { textContent: title });
  const plotBox = Object.assign(document.createElement("div"), { className: "plot" });
  const caption = document.createElement("figcaption");
  const range = (values) => {
    const finite = values.filter((v) => v !== null && Number.isFinite(v));
    return finite.length ? `${Math.min(...finite).toFixed(0)}° to ${Math.max(...finite).toFixed(0)}°` : "not seen";
  };
  caption.textContent =
    series.map((s) => `${s.label}: ${range(s.values)}`).join("; ") +
    (marks.length ? `; ${marks.length} ${marks.length === 1 ? "box" : "boxes"} mark ${marks.map((m) => m.label).join(", ")}` : "") +
    ".";
  figure.append(heading, plotBox, caption);
  container.append(figure);

  const now = span("now-line");
  now.hidden = true;
  const bands = marks.map((mark) => {
    const band = span("rep-band");
    band.dataset.rep = mark.label;
    const number = span("rep-number", mark.label);
    band.append(number);
    const turn = mark.turn !== null && mark.turn !== undefined ? span("rep-turn") : null;
    if (turn) band.append(turn);
    return { mark, band, number, turn };
  });
  const flags = marks.flatMap((mark) => faultFlags(mark, onPick));

  let nowSeconds = null;
  const placeNow = (u) => {
    const x = nowSeconds === null ? -1 : u.valToPos(nowSeconds, "x");
    now.hidden = !(x >= 0 && x <= u.over.clientWidth);
    now.style.left = `${now.hidden ? 0 : x}px`;
  };
  const place = (u) => {
    placeNow(u);
    const left = (v) => u.valToPos(v, "x");
    const roomy = bands.every(({ mark }) => left(mark.to) - left(mark.from) > 56); // "rep 3", or "3" on all
    for (const { mark, band, number, turn } of bands) {
      const a = left(mark.from), b = left(mark.to);
      band.style.left = `${a}px`;
      band.style.width = `${Math.max(2, b - a)}px`;
      number.textContent = roomy ? mark.label : mark.label.replace(/^\D+/, "");
      if (turn) turn.style.left = `${left(mark.turn) - a - 1}px`;
    }
    const rows = []; // the rightmost x taken in each row of buttons
    for (const flag of [...flags].sort((p, q) => p.at - q.at)) {
      const x = left(flag.at);
      let level = rows.findIndex((taken) => x - taken >= FLAG_ROOM_PX);
      if (level < 0) level = rows.length;
      rows[level] = x;
      flag.button.style.left = `${x}px`;
      flag.button.style.bottom = `${level * FLAG_ROOM_PX}px`;
      if (flag.bar) {
        flag.bar.style.left = `${left(flag.span[0])}px`;
        flag.bar.style.width = `${Math.max(2, left(flag.span[1]) - left(flag.span[0]))}px`;
      }
    }
  };
  const options = {
    width: Math.max(200, plotBox.clientWidth || container.clientWidth || 480),
    height,
    scales: { x: { time: false } },
    axes: [
      { ...AXIS, label: "seconds", labelSize: 20, size: 34, space: 48, values: (u, vals) => vals.map((v) => `${+v.toFixed(2)}`) },
      { ...AXIS, label: "degrees", labelSize: 20, size: 44, space: 30, values: (u, vals) => vals.map((v) => `${+v.toFixed(1)}°`) },
    ],
    series: [
      { label: "time", value: (u, v) => (v === null || v === undefined ? "–" : `${v.toFixed(2)} s`) },
      ...series.map((s) => ({ label: s.label, stroke: s.stroke, width: 2, dash: s.dash, value: degrees, spanGaps: false, points: { show: false } })),
    ],
    cursor: { drag: { x: false, y: false, setScale: false }, sync: { key: "report-angles" }, points: { size: 7 } },
    legend: { show: true, live: true },
    hooks: {
      ready: [
        (u) => {
          for (const { band } of bands) u.over.append(band);
          for (const { button, bar } of flags) {
            if (bar) u.over.append(bar);
            u.over.append(button);
          }
          u.over.append(now);
          if (onPick) {
            u.over.addEventListener("click", (event) => {
              if (event.target.closest(".fault-mark")) return;
              const x = event.clientX - u.over.getBoundingClientRect().left;
              onPick(u.posToVal(x, "x"));
            });
          }
        },
      ],
      draw: [place],
    },
  };
  const plot = new uPlot(options, [xs, ...series.map((s) => s.values)], plotBox);
  let lastWidth = options.width;
  const observer = new ResizeObserver(() => {
    const width = Math.round(plotBox.clientWidth);
    if (width > 0 && Math.abs(width - lastWidth) > 1) {
      lastWidth = width;
      plot.setSize({ width, height });
    }
  });
  observer.observe(plotBox);
  return {
    plot,
    figure,
    setNow(seconds) {
      nowSeconds = seconds;
      placeNow(plot);
    },
    dispose() {
      observer.disconnect();
      plot.destroy();
      figure.remove();
    },
  };
}
