// Custom exercises: upload a video of good reps (a draft), see the reps the coach found (thumbnail,
// times, range, the driving angle's curve with the reps shaded) and what it suggests (driver, body
// parts: editable), pick reps, name it, save; list, rename, edit the fault rules of, and delete the
// custom exercises. API: /api/custom (server/custom.py). A failed request is shown with what to do
// and a "Try again" (net.js showProblem); a choice the page cannot accept is said in words (show).

import { csrfHeaders, signedIn } from "./auth.js";
import { lineChart } from "./charts.js";
import { api, ApiError, showProblem } from "./net.js";

const $ = (id) => document.getElementById(id);
const PART_WORDS = { left_arm: "left arm", right_arm: "right arm", left_leg: "left leg", right_leg: "right leg", core: "core (hip line)" };

let draft = null; // the draft's last answer (with its suggestion)

// a message in the element `id` (none: hidden)
function show(id, message) {
  $(id).hidden = !message;
  $(id).replaceChildren(...(message ? [Object.assign(document.createElement("p"), { className: "error", textContent: message })] : []));
  if (message) $(id).firstChild.setAttribute("role", "alert");
}

function detailText(detail) {
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) return detail.map((d) => d.msg || JSON.stringify(d)).join("; ");
  return "";
}

function words(id) {
  return id.replaceAll("_", " ");
}

function uploadVideo(file) {
  return new Promise((resolve, reject) => {
    const form = new FormData();
    form.append("video", file);
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/api/custom/drafts");
    csrfHeaders().then((headers) => {
      for (const [name, value] of Object.entries(headers)) xhr.setRequestHeader(name, value);
      xhr.responseType = "json";
      xhr.upload.addEventListener("progress", (event) => {
        if (event.lengthComputable) $("progress").value = (event.loaded / event.total) * 0.3;
      });
      xhr.addEventListener("load", () => {
        if (xhr.status === 202) resolve(xhr.response);
        else reject(new ApiError(detailText(xhr.response?.detail) || `The upload failed (${xhr.status}).`, { status: xhr.status }));
      });
      xhr.addEventListener("error", () => reject(new ApiError("The upload was interrupted: the coach server did not answer.")));
      xhr.send(form);
    }, reject);
  });
}

async function waitForDraft(id) {
  for (;;) {
    const answer = await api(`/api/custom/drafts/${encodeURIComponent(id)}`);
    $("progress").value = 0.3 + 0.7 * answer.progress;
    $("phase").textContent = answer.state === "queued" ? "Waiting for a free reader…" : `Reading the video… ${(answer.progress * 100).toFixed(0)}%`;
    if (answer.state === "done") return answer;
    if (answer.state === "failed") {
      throw new ApiError(`The video could not be read: ${answer.error}`, {
        status: 422,
        advice: "Film a few good reps with your whole body in the picture, starting from the start position, then try again.",
      });
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

$("draft-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const file = $("video").files[0];
  if (!file) return show("draft-error", "Choose a video first.");
  show("draft-error", "");
  show("saved", "");
  $("draft").hidden = true;
  $("read").disabled = true;
  $("progress").hidden = false;
  $("progress").value = 0;
  $("phase").textContent = `Uploading ${file.name}…`;
  try {
    const { id } = await uploadVideo(file);
    draft = await waitForDraft(id);
    $("phase").textContent = `${file.name}: read.`;
    showDraft(draft, true);
  } catch (error) {
    showProblem($("draft-error"), error, () => $("draft-form").requestSubmit());
    $("phase").textContent = "";
  } finally {
    $("read").disabled = false;
    $("progress").hidden = true;
  }
});

function fillChoices(answer) {
  const s = answer.suggestion;
  $("driver").replaceChildren(...answer.drivers.map((d) => new Option(`${words(d)} (${s.ranges[d] ?? 0}° range)`, d)));
  $("driver").value = s.driver;
  $("direction").value = s.direction;
  const boxes = answer.all_body_parts.map((part) => {
    const label = document.createElement("label");
    label.className = "check";
    const box = document.createElement("input");
    box.type = "checkbox";
    box.value = part;
    box.checked = s.body_parts.includes(part);
    box.addEventListener("change", recount);
    label.append(box, ` ${PART_WORDS[part] || words(part)}`);
    return label;
  });
  $("parts").replaceChildren(Object.assign(document.createElement("legend"), { textContent: "Scored body parts" }), ...boxes);
}

function chosenParts() {
  return [...$("parts").querySelectorAll("input:checked")].map((box) => box.value);
}

function showDraft(answer, fresh) {
  const s = answer.suggestion;
  if (fresh) fillChoices(answer);
  $("draft").hidden = false;
  $("suggested").textContent =
    `Filmed from the ${s.view || "side"}; start posture: torso ${s.posture_value.toFixed(0)}° from vertical; ` +
    `${words(s.driver)} goes from ${s.top.toFixed(0)}° to ${s.bottom.toFixed(0)}°.`;
  lineChart(
    $("curve"),
    s.curve.t,
    [{ name: words(s.driver), values: s.curve.deg, cls: "user" }],
    `${words(s.driver)} (degrees) over the video`,
    "s",
    s.reps.map((rep) => ({ from: rep.start_s, to: rep.end_s, cls: rep.like_others ? "rep" : "not-rep", label: String(rep.number) })),
  );
  $("found-reps").replaceChildren(
    ...s.reps.map((rep) => {
      const item = document.createElement("li");
      item.className = rep.like_others ? "found-rep" : "found-rep not-rep";
      const label = document.createElement("label");
      const box = document.createElement("input");
      box.type = "checkbox";
      box.value = rep.number;
      box.checked = rep.like_others;
      const img = document.createElement("img");
      img.src = rep.thumbnail_url;
      img.alt = `rep ${rep.number} at its turning point`;
      img.loading = "lazy";
      const text = document.createElement("span");
      text.textContent = `Rep ${rep.number} · ${rep.start_s.toFixed(1)}–${rep.end_s.toFixed(1)} s · ${rep.range_deg.toFixed(0)}°`;
      label.append(box, img, text);
      if (!rep.like_others) {
        const note = document.createElement("small");
        note.textContent = "not a rep: under half the deepest movement";
        label.append(note);
      }
      item.append(label);
      return item;
    }),
  );
  show("save-error", s.reps.some((r) => r.like_others) ? "" : "No rep like the others was found: try another driving angle.");
}

async function recount() {
  if (!draft) return;
  const params = new URLSearchParams({ driver: $("driver").value, direction: $("direction").value });
  const parts = chosenParts();
  if (parts.length) params.set("body_parts", parts.join(","));
  try {
    draft = await api(`/api/custom/drafts/${encodeURIComponent(draft.id)}?${params}`);
    showDraft(draft, false);
  } catch (error) {
    showProblem($("save-error"), error, recount);
    $("found-reps").replaceChildren();
  }
}

$("driver").addEventListener("change", recount);
$("direction").addEventListener("change", recount);

$("save-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  if (!draft) return;
  const reps = [...$("found-reps").querySelectorAll("input:checked")].map((box) => Number(box.value));
  if (!reps.length) return show("save-error", "Tick at least one rep to learn from.");
  const parts = chosenParts();
  if (!parts.length) return show("save-error", "Tick at least one body part to score.");
  $("save").disabled = true;
  show("save-error", "");
  try {
    const body = {
      draft: draft.id,
      display_name: $("display-name").value.trim(),
      reps,
      driver: $("driver").value,
      direction: $("direction").value,
      body_parts: parts,
    };
    if ($("name").value.trim()) body.name = $("name").value.trim();
    const saved = await api("/api/custom/exercises", { method: "POST", body });
    draft = null;
    $("draft").hidden = true;
    $("draft-form").reset();
    $("phase").textContent = "";
    const note = $("saved");
    note.hidden = false;
    note.replaceChildren(
      `Saved “${saved.display_name}” (${saved.faults.length} fault rules). It is in the exercise pickers now: `,
      Object.assign(document.createElement("a"), { href: `/?exercise=${encodeURIComponent(saved.name)}`, textContent: "coach it live" }),
      " or ",
      Object.assign(document.createElement("a"), { href: "/upload.html", textContent: "analyse a video" }),
      ".",
    );
    await loadList();
  } catch (error) {
    showProblem($("save-error"), error, () => $("save-form").requestSubmit());
  } finally {
    $("save").disabled = false;
  }
});

async function discard(id) {
  try {
    await api(`/api/custom/drafts/${encodeURIComponent(id)}`, { method: "DELETE" });
    show("draft-error", "");
  } catch (error) {
    const what = new ApiError(`The draft could not be removed: ${error.message}`, { status: error.status ?? 0, advice: error.advice });
    showProblem($("draft-error"), what, () => discard(id));
  }
}

$("discard").addEventListener("click", () => {
  if (!draft) return;
  const id = draft.id;
  draft = null;
  $("draft").hidden = true;
  discard(id);
});

// -- the list of custom exercises -------------------------------------------------------------------

function ruleRow(exercise, rule) {
  const row = document.createElement("tr");
  const on = document.createElement("input");
  on.type = "checkbox";
  on.checked = rule.enabled;
  on.dataset.field = "enabled";
  const amount = document.createElement("input");
  amount.type = "number";
  amount.min = "0";
  amount.step = "any";
  const field = rule.kind === "tempo" ? (rule.min_s > 0 ? "min_s" : "max_s") : "threshold";
  amount.dataset.field = field;
  amount.value = rule[field] ?? "";
  amount.className = "amount";
  const unit = { offset: "°", rom: "%", tempo: "s", symmetry: "°", lag: "s", lockout: "°" }[rule.kind] || "";
  on.setAttribute("aria-label", `${words(rule.id)}: on`);
  amount.setAttribute("aria-label", `${words(rule.id)}: threshold${unit ? ` (${unit})` : ""}`);
  const onTarget = Object.assign(document.createElement("label"), { className: "check" }); // a finger-sized target
  onTarget.append(on);
  const cells = [onTarget, words(rule.id), amount, unit];
  row.dataset.rule = rule.id;
  for (const content of cells) {
    const cell = document.createElement("td");
    cell.append(content);
    row.append(cell);
  }
  row.title = rule.message;
  return row;
}

function exerciseItem(exercise) {
  const item = document.createElement("li");
  item.className = "custom-item";
  item.dataset.name = exercise.name;
  const title = document.createElement("strong");
  title.textContent = exercise.display_name;
  const meta = document.createElement("span");
  meta.className = "muted";
  meta.textContent = ` ${exercise.name} · ${words(exercise.driver)} · ${exercise.body_parts.map((p) => PART_WORDS[p] || p).join(", ")}`;
  const actions = document.createElement("div");
  actions.className = "actions";
  const error = document.createElement("div");
  error.hidden = true;
  // a failed change: what happened, what to do, and the same change again
  const attempt = async (change) => {
    try {
      await change();
      await loadList();
    } catch (e) {
      showProblem(error, e, () => attempt(change));
    }
  };
  item.append(title, meta);
  if (exercise.yours) {
    const rename = Object.assign(document.createElement("input"), { value: exercise.display_name, maxLength: 60, className: "rename" });
    rename.setAttribute("aria-label", `new name of ${exercise.display_name}`);
    const renameButton = Object.assign(document.createElement("button"), { type: "button", textContent: "Rename", className: "rename-button" });
    const url = `/api/custom/exercises/${encodeURIComponent(exercise.name)}`;
    renameButton.addEventListener("click", () =>
      attempt(() => api(url, { method: "PATCH", body: { display_name: rename.value.trim() } })),
    );
    const remove = Object.assign(document.createElement("button"), { type: "button", textContent: "Delete", className: "delete-button" });
    remove.addEventListener("click", () => {
      if (!confirm(`Delete “${exercise.display_name}”? Its reference is removed for good.`)) return;
      attempt(() => api(url, { method: "DELETE" }));
    });
    actions.append(rename, renameButton, remove);
    const rules = document.createElement("details");
    rules.className = "rules";
    const summary = Object.assign(document.createElement("summary"), { textContent: `Fault rules (${exercise.faults.filter((f) => f.enabled).length} on)` });
    const table = document.createElement("table");
    table.innerHTML = "<thead><tr><th>on</th><th>rule</th><th colspan=2>threshold</th></tr></thead>";
    const body = document.createElement("tbody");
    body.append(...exercise.faults.map((rule) => ruleRow(exercise, rule)));
    table.append(body);
    const saveRules = Object.assign(document.createElement("button"), { type: "button", textContent: "Save rules" });
    saveRules.addEventListener("click", () => {
      const faults = [...body.querySelectorAll("tr")].map((row) => {
        const change = { id: row.dataset.rule, enabled: row.querySelector("[data-field=enabled]").checked };
        const amount = row.querySelector("input.amount");
        if (amount.value !== "") change[amount.dataset.field] = Number(amount.value);
        return change;
      });
      attempt(() => api(url, { method: "PATCH", body: { faults } }));
    });
    rules.append(summary, table, saveRules);
    item.append(actions, rules);
  }
  item.append(error);
  return item;
}

async function loadList() {
  try {
    const list = await api("/api/custom/exercises");
    $("custom-list").replaceChildren(...list.map(exerciseItem));
    $("custom-empty").hidden = list.length > 0;
    show("list-error", "");
  } catch (error) {
    const what = new ApiError(`The custom exercises could not be listed: ${error.message}`, { status: error.status ?? 0, advice: error.advice });
    showProblem($("list-error"), what, loadList);
  }
}

signedIn()
  .then(loadList)
  .catch((error) => showProblem($("list-error"), error, () => location.reload()));
