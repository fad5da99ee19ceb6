// Upload a recorded set: the file goes up with a progress bar (XMLHttpRequest reports upload
// progress, fetch does not), then the job's progress is polled until the report is ready. Every
// failure (the pickers not loading, the upload, the analysis) is shown with what to do (net.js).

import { csrfHeaders, signedIn } from "./auth.js";
import { api, ApiError, showProblem } from "./net.js";
import { remember } from "./remember.js";

const $ = (id) => document.getElementById(id);

async function fillPickers() {
  $("send").disabled = true;
  const [exercises, personas] = await Promise.all([api("/api/exercises"), api("/api/personas")]);
  $("exercise").replaceChildren(...exercises.map((e) => new Option(e.display_name, e.name)));
  $("persona").replaceChildren(...personas.map((p) => new Option(p.name, p.id)));
  remember($("exercise"), "exercise");
  remember($("persona"), "persona");
  $("send").disabled = false;
}

function loadPickers() {
  $("upload-error").hidden = true;
  return signedIn()
    .then(fillPickers)
    .catch((error) => showProblem($("upload-error"), withWhat(error, "The exercises could not be loaded"), loadPickers));
}

// the error, its message starting with what was being done
function withWhat(error, what) {
  const status = error?.status ?? 0;
  return new ApiError(`${what}: ${error?.message || error}`, { status, advice: error?.advice || "" });
}

function detailText(detail) {
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) return detail.map((d) => d.msg || JSON.stringify(d)).join("; ");
  return "";
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
      else reject(new ApiError(detailText(xhr.response?.detail) || `the upload failed (${xhr.status})`, { status: xhr.status }));
    });
    xhr.addEventListener("error", () => reject(new ApiError("The upload was interrupted: the coach server did not answer.")));
    xhr.send(form);
  });
}

async function follow(jobId) {
  for (;;) {
    const job = await api(`/api/jobs/${encodeURIComponent(jobId)}`);
    $("progress").value = 0.3 + 0.7 * job.progress;
    $("phase").textContent = job.status === "queued" ? "Waiting for a free analyser…" : `Analysing… ${(job.progress * 100).toFixed(0)}%`;
    if (job.status === "done") return job;
    if (job.status === "failed") {
      throw new ApiError(`The analysis failed: ${job.error}`, {
        status: 422,
        advice: "Film from the side with your whole body in the picture, or try another video.",
      });
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

function showError(error, retry) {
  showProblem($("upload-error"), error, retry);
  $("send").disabled = false;
  $("progress").hidden = true;
}

$("upload-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const file = $("video").files[0];
  if (!file) {
    showError(new ApiError("No video chosen.", { advice: "Choose a video file first, then press Analyse." }));
    $("video").focus();
    return;
  }
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
    $("phase").textContent = "Done: opening the report…";
    location.href = `/report.html?job=${encodeURIComponent(jobId)}`;
  } catch (error) {
    $("phase").textContent = "";
    showError(error, () => $("upload-form").requestSubmit());
  }
});

loadPickers();
