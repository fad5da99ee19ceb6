// Small SVG charts (no library): a bar chart of rep scores, line charts of angle curves and trends.

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

// Bars of 0-100 scores, one per label.
export function barChart(container, labels, values, title) {
  const width = 520, height = 220, pad = { l: 34, r: 10, t: 22, b: 26 };
  const svg = frame(width, height, pad);
  svg.setAttribute("aria-label", title);
  svg.append(el("text", { x: pad.l, y: 14 }, title));
  const plotH = height - pad.t - pad.b;
  const slot = (width - pad.l - pad.r) / Math.max(values.length, 1);
  for (const tick of [0, 50, 100]) {
    const y = height - pad.b - (tick / 100) * plotH;
    svg.append(el("text", { x: 4, y: y + 4 }, String(tick)));
  }
  values.forEach((value, i) => {
    const h = (Math.max(0, Math.min(100, value)) / 100) * plotH;
    const x = pad.l + i * slot + slot * 0.15;
    const bar = el("rect", { class: `bar ${scoreClass(value)}`, x, y: height - pad.b - h, width: slot * 0.7, height: h });
    bar.append(el("title", {}, `${labels[i]}: ${value.toFixed(1)}`));
    svg.append(bar, el("text", { x: x + slot * 0.35, y: height - 8, "text-anchor": "middle" }, labels[i]));
  });
  container.replaceChildren(svg);
  return svg;
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
