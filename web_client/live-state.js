// What the live page tells the user, as a small state machine: pure (no DOM, no timers, the clock is
// passed in), so a test drives it with made-up times (tests/test_live_page.py).
//
// States and who causes them:
//   page (the user's own actions and the connection, shown at once):
//     idle, camera (waiting for the camera), countdown, connecting, ending, ended, error, disconnected
//   server guidance (from `status` events, realtime/events.py StatusEvent; held against flicker):
//     frame (get in frame: nobody seen, or step_back / come_closer), wrong_view (advice change_view:
//     the exercise is not coached from this side; never shown as "ready"), position (out_of_position:
//     get into the start position, or the server's mix-up message), ready (in position, no rep yet)
//   server counting (the rep counter's own events, shown at once so the banner agrees with the counter):
//     in_rep (a rep or a hold under way), resting (in position between reps, after at least one)
//
// Against flicker (issue 16: four hints in turn every 1-2 s on a front view):
//   CONFIRM_MS = 1000: a guidance state must be what the server says for 1 s without a break before it
//     replaces the one shown. The server's own framing decisions look back 0.5 s (cut off, too small)
//     and 1 s (the camera view), and it sends a status on every change and at least once a second, so a
//     state that does not outlast 1 s is one the user could not act on anyway.
//   MIN_SHOW_MS = 2500: a guidance state, once shown, stays at least 2.5 s: the time to read a hint of
//     about ten words at 240 words a minute. Only the user (Stop, an error) or the rep counter
//     (in_rep, resting) cut it short.
//   A change of hint inside one state (step back -> come closer) counts as a change of state; a new
//   text for the state shown (rep 3 -> rep 4, the server's words) replaces it at once.

export const CONFIRM_MS = 1000;
export const MIN_SHOW_MS = 2500;

const PAGE = new Set(["idle", "camera", "countdown", "connecting", "ending", "ended", "error", "disconnected"]);
const COUNTING = new Set(["in_rep", "resting"]);
export const GUIDANCE = new Set(["frame", "wrong_view", "position", "ready"]);

// How each state looks: tone (the banner's colours, never the only sign), icon, title.
export const LOOKS = {
  idle: { tone: "neutral", icon: "●", title: "Ready when you are" },
  camera: { tone: "wait", icon: "◔", title: "Opening the camera" },
  countdown: { tone: "wait", icon: "◔", title: "Get into position" },
  connecting: { tone: "wait", icon: "◔", title: "Connecting to the coach" },
  frame: { tone: "warn", icon: "⚠", title: "Get in frame" },
  wrong_view: { tone: "warn", icon: "↻", title: "Wrong camera view" },
  position: { tone: "warn", icon: "⚠", title: "Get into position" },
  ready: { tone: "go", icon: "✓", title: "Ready" },
  in_rep: { tone: "active", icon: "▶", title: "Rep under way" },
  resting: { tone: "go", icon: "✓", title: "Rep counted" },
  ending: { tone: "wait", icon: "◔", title: "Finishing the set" },
  ended: { tone: "done", icon: "■", title: "Set finished" },
  error: { tone: "bad", icon: "⚠", title: "Problem" },
  disconnected: { tone: "bad", icon: "⚠", title: "Connection lost" },
};

function sentence(text) {
  const t = (text || "").trim();
  if (!t) return "";
  const s = t[0].toUpperCase() + t.slice(1);
  return /[.!?]$/.test(s) ? s : `${s}.`;
}

/** The page state a server `status` event asks for: `{state, key, title, text}`. `exercise` is the
 * exercise's display name ("Push-up"). An error or a closing session are left to the page. */
export function fromStatus(status, exercise = "the exercise") {
  const hold = status.kind === "hold";
  const message = sentence(status.message);
  if (status.state === "created" || status.state === "connecting") {
    return view("connecting", "connecting", "Waiting for the first camera frame.");
  }
  if (status.state === "ending" || status.state === "closed") return view("ending", "ending", "Scoring the last frames.");
  if (status.posture === "no_person") return hint("frame", message || "Step into the picture: the camera must see your whole body.");
  if (status.advice === "step_back" || status.advice === "come_closer") return hint("frame", message);
  if (status.advice === "change_view") return hint("wrong_view", message);
  if (status.rep_in_progress) {
    const n = status.rep_in_progress;
    return hold
      ? { ...view("in_rep", "in_rep", `Keep the ${exercise}.`), title: `Hold ${n} under way` }
      : { ...view("in_rep", "in_rep", "Keep going: finish the rep back at the start position."), title: `Rep ${n} under way` };
  }
  if (status.posture === "in_rep" || status.posture === "holding") {
    return view("in_rep", "in_rep", hold ? `Keep the ${exercise}.` : "Keep going.");
  }
  if (status.posture === "out_of_position") return hint("position", message);
  const done = hold ? status.holds : status.reps;
  if (done > 0) {
    const unit = hold ? "Hold" : "Rep";
    return { ...view("resting", `resting:${done}`, hold ? "Hold again when you are ready." : "Next rep when you are ready."), title: `${unit} ${done} counted` };
  }
  return view("ready", "ready", hold ? `Hold the ${exercise} to start the timer.` : `Start your ${exercise} reps: each one is counted.`);
}

// A guidance state: each wording is its own key, so a change of words is held against flicker too.
function hint(state, text) {
  return view(state, `${state}:${text}`, text);
}

/** A state with its look: `{state, key, tone, icon, title, text}`; `key` tells hints of one state apart. */
export function view(state, key = state, text = "") {
  if (!LOOKS[state]) throw new Error(`unknown live state "${state}"`);
  return { state, key, text, ...LOOKS[state] };
}

export class LiveState {
  constructor({ confirmMs = CONFIRM_MS, minShowMs = MIN_SHOW_MS } = {}) {
    if (!(confirmMs >= 0) || !(minShowMs >= 0)) throw new Error(`confirmMs and minShowMs must be >= 0, got ${confirmMs} and ${minShowMs}`);
    this.confirmMs = confirmMs;
    this.minShowMs = minShowMs;
    this.shown = view("idle", "idle", "Pick an exercise and a coach, then press Start.");
    this.since = -Infinity; // when the shown state was shown (ms, the caller's clock)
    this.pending = null; // {view, since}: a guidance state waiting for CONFIRM_MS
  }

  /** A state the page causes (Start, Stop, countdown, errors): shown at once. Returns true. */
  set(next, now) {
    this.pending = null;
    this.#show(next, now);
    return true;
  }

  /** A state derived from the server (`fromStatus`); returns whether the shown state changed. */
  observe(next, now) {
    if (next.key === this.shown.key) {
      this.pending = null;
      return this.#retext(next);
    }
    if (COUNTING.has(next.state) || PAGE.has(next.state) || PAGE.has(this.shown.state)) {
      // the counter moved, the connection changed, or nothing from the server is shown yet
      this.pending = null;
      this.#show(next, now);
      return true;
    }
    if (this.pending?.view.key === next.key) this.pending.view = next;
    else this.pending = { view: next, since: now };
    return this.tick(now);
  }

  /** Time passed: show the waiting state if it is due; returns whether the shown state changed. */
  tick(now) {
    const due = this.dueAt();
    if (due === null || now < due) return false;
    const next = this.pending.view;
    this.pending = null;
    this.#show(next, now);
    return true;
  }

  /** When the waiting state may be shown (ms, the caller's clock), or null when none waits. */
  dueAt() {
    if (!this.pending) return null;
    const confirmed = this.pending.since + this.confirmMs;
    const held = GUIDANCE.has(this.shown.state) ? this.since + this.minShowMs : -Infinity;
    return Math.max(confirmed, held);
  }

  #show(next, now) {
    this.shown = next;
    this.since = now;
  }

  #retext(next) {
    const changed = next.text !== this.shown.text || next.title !== this.shown.title;
    if (changed) this.shown = next;
    return changed;
  }
}

/** The set summary (the server's `summary` event, scoring/types.py SetSummary) in words:
 * `{title, count, unitWord ("rep", "holds"...), held (a hold's total seconds as text, else null), lines}`. One rep/hold or several; scores that are all equal said once; no trend when
 * there is none to tell. */
export function summaryWords(summary) {
  const plural = (n, one, many) => `${n} ${n === 1 ? one : many}`;
  const hold = summary.kind === "hold";
  const count = hold ? summary.holds : summary.reps;
  const unit = hold ? ["hold", "holds"] : ["rep", "reps"];
  const lines = [];
  const unitWord = count === 1 ? unit[0] : unit[1];
  const held = hold ? summary.hold_total_s.toFixed(1) : null;
  const title = `Set finished: ${count} ${unitWord}` + (hold ? `, ${held} s held` : "");
  if (summary.not_counted) lines.push(`${plural(summary.not_counted, "movement", "movements")} did not count (the reasons are on the cards).`);
  if (hold && count > 0) lines.push(`Longest hold ${summary.hold_longest_s.toFixed(1)} s.`);
  if (summary.mean_score !== null && count > 0) {
    const best = summary.best_score;
    const worst = summary.worst_score;
    if (count === 1) lines.push(`Score ${summary.mean_score.toFixed(0)}.`);
    else if (best !== null && worst !== null && best.toFixed(0) === worst.toFixed(0)) lines.push(`Every ${unit[0]} scored ${best.toFixed(0)}.`);
    else {
      const trend = summary.trend && summary.trend !== "n/a" ? `; ${summary.trend}` : "";
      lines.push(`Mean score ${summary.mean_score.toFixed(0)} (best ${best.toFixed(0)}, worst ${worst.toFixed(0)})${trend}.`);
    }
  }
  if (summary.most_frequent_fault) {
    const name = summary.most_frequent_fault.replaceAll("_", " ");
    lines.push(`Most frequent fault: ${name} (${summary.most_frequent_fault_count} of ${plural(count, ...unit)}).`);
  } else if (count > 0) lines.push("No recurring fault.");
  if (count === 0 && !summary.not_counted) lines.push(`No ${unit[0]} was counted.`);
  return { title, count, unitWord, held, lines };
}
