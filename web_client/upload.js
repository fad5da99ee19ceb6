// Upload a recorded set: the file goes up with a progress bar (XMLHttpRequest reports upload
// progress, fetch does not), then the job's progress is polled until the report is ready.

import { csrfHeaders, signedIn } from "./auth.js";
import { remember } from "./remember.js";
import { problem } from "./webrtc.js";

const $ = (id) => document.getElementById(id);

async function fillPickers() {
  const [exercises, personas] = await Promise.all([fetch("/api/exercises"), fetch("/api/personas")].map(async (p) => (await p).json()));
  $("exercise").replaceChildren(...exercises.map((e) => new Option(e.display_name, e.name)));
  $("persona").replaceChildren(...personas.map((p) => new Option(p.name, p.id)));
  remember($("exercise"), "exercise");
  remember($("persona"), "persona");
}

function showError(message) {
  $("upload-error").hidden = false;
  $("upload-error").textContent = message;
  $("send").disabled = false;
}

function send(form, headers) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/api/analyze");
    for (const [name, value] of Object.entries(headers)) xhr.setRequestHeader(name, value);
    xhr.responseType = "json";
    xhr.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) $("progress").value = (event.loaded / event.total) * 0.3;
    });
    xhr.addEventListener("load", () => {
      if (xhr.status === 202) resolve(xhr.response);
      else reject(new Error(xhr.response?.detail ?? `upload failed (${xhr.status})`));
    });
    xhr.addEventListener("error", () => reject(new Error("the upload was interrupted")));
    xhr.send(form);
  });
}

async function follow(jobId) {
  for (;;) {
    const response = await fetch(`/api/jobs/${jobId}`);
    if (!response.ok) throw new Error(await problem(response));
    const job = await response.json();
    $("progress").value = 0.3 + 0.7 * job.progress;
    $("phase").textContent = job.status === "queued" ? "Waiting for a free analyser…" : `Analysing… ${(job.progress * 100).toFixed(0)}%`;
    if (job.status === "done") return job;
    if (job.status === "failed") throw new Error(job.error);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

$("upload-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const file = $("video").files[0];
  if (!file) return showError("Choose a video first.");
  $("upload-error").hidden = true;
  $("send").disabled = true;
  $("progress").hidden = false;
  $("progress").value = 0;
  $("phase").textContent = `Uploading ${file.name}…`;
  const form = new FormData();
  form.append("video", file);
  form.append("exercise", $("exercise").value);
  form.append("persona", $("persona").value);
  try {
    const { job_id: jobId } = await send(form, await csrfHeaders());
    await follow(jobId);
    location.href = `/report.html?job=${encodeURIComponent(jobId)}`;
  } catch (error) {
    showError(error.message);
    $("phase").textContent = "";
  }
});

signedIn()
  .then(fillPickers)
  .catch((error) => showError(`Cannot reach the coach server: ${error.message}`));
