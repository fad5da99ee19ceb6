// Requests to the coach server, and what the user is told when one fails (issue 16 item 9): every page
// calls the API through `api()` and shows a failure with `showProblem()`, which says what went wrong
// and what to do, in words, never a blank page.
//
//   const exercises = await api("/api/exercises");                       // JSON, or throws ApiError
//   await api("/api/history/x", { method: "DELETE" });                   // CSRF header added
//   catch (error) { showProblem(element, error, retry) }                 // message + "Try again"

import { csrfHeaders } from "./auth.js";

export class ApiError extends Error {
  constructor(message, { status = 0, advice = "", url = "" } = {}) {
    super(message);
    this.name = "ApiError";
    this.status = status; // 0: no answer at all (offline, server down)
    this.advice = advice;
    this.url = url;
  }
}

// What to do, by HTTP status (the server's own `detail` says what happened).
function adviceFor(status) {
  if (status === 0) return "Check that the coach server is running and that this device is online, then try again.";
  if (status === 401) return "Sign in again (reload the page).";
  if (status === 403) return "Reload the page: the sign-in may have expired.";
  if (status === 404) return "It may have been deleted or expired: go back to the list and pick another.";
  if (status === 409) return "Wait a moment, then try again.";
  if (status === 413) return "Use a shorter or smaller video.";
  if (status === 415 || status === 422 || status === 400) return "Check what you entered or chose, then try again.";
  if (status === 429) return "Too many requests in a short time: wait a minute, then try again.";
  if (status === 503) return "The server is busy: try again in a minute.";
  if (status >= 500) return "The server had a problem: try again, and if it persists tell whoever runs it.";
  return "Try again.";
}

export async function detailOf(response) {
  try {
    const body = await response.json();
    if (typeof body.detail === "string") return body.detail;
    if (Array.isArray(body.detail)) return body.detail.map((d) => d.msg || JSON.stringify(d)).join("; ");
    return JSON.stringify(body.detail ?? body);
  } catch {
    return `${response.status} ${response.statusText}`.trim();
  }
}

/** JSON from ``url`` (null for 204); throws an ApiError with the reason and advice. A body that is an
 * object is sent as JSON; state-changing methods carry the CSRF header of a cookie sign-in. */
export async function api(url, { method = "GET", body, headers = {}, signal } = {}) {
  const init = { method, headers: { ...headers }, signal };
  if (method !== "GET" && method !== "HEAD") Object.assign(init.headers, await csrfHeaders());
  if (body !== undefined) {
    if (body instanceof FormData || body instanceof Blob) init.body = body;
    else {
      init.body = JSON.stringify(body);
      init.headers["Content-Type"] = "application/json";
    }
  }
  let response;
  try {
    response = await fetch(url, init);
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError("The coach server did not answer.", { advice: adviceFor(0), url });
  }
  if (!response.ok) {
    throw new ApiError(await detailOf(response), { status: response.status, advice: adviceFor(response.status), url });
  }
  if (response.status === 204) return null;
  try {
    return await response.json();
  } catch {
    throw new ApiError("The server's answer could not be read.", { status: response.status, advice: adviceFor(500), url });
  }
}

/** Replace ``element``'s content with the problem (what happened, what to do) and, with ``retry``, a
 * "Try again" button. The element becomes an alert for screen readers. */
export function showProblem(element, error, retry) {
  const box = document.createElement("div");
  box.className = "problem";
  box.setAttribute("role", "alert");
  const what = document.createElement("p");
  what.className = "problem-what";
  what.textContent = `⚠ ${error?.message || String(error)}`;
  box.append(what);
  const advice = error?.advice || adviceFor(error?.status ?? 0);
  if (advice) box.append(Object.assign(document.createElement("p"), { className: "problem-advice", textContent: advice }));
  if (retry) {
    const button = Object.assign(document.createElement("button"), { type: "button", textContent: "Try again" });
    button.addEventListener("click", () => retry());
    box.append(button);
  }
  element.hidden = false;
  element.replaceChildren(box);
  return box;
}
