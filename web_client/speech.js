// The coach's voice on the live page (speechSynthesis): tips, rep counts, the countdown and the guidance
// banner, each switched on or off by the user and remembered in this browser (localStorage); a voice
// per coach persona where the browser has voices. Nothing is read aloud that is not words: emoji and
// other pictographs are taken out first (`speakable`). `silence()` (Stop) cancels what is queued and
// keeps quiet until `resume()` (the next Start): events that still arrive after Stop are not spoken.

export const KINDS = ["tips", "reps", "countdown", "guidance"];
const KEY = "coach.speak.";
const VOICE_KEY = "coach.voice.";

// Pictographs (Extended_Pictographic covers emoji and symbols like ⚠ ✓ ⏱), skin-tone modifiers,
// regional-indicator letters (flags), and the invisible joiners and selectors that build emoji
// sequences. Not \p{Emoji}: it includes the digits 0-9, # and *, which are words here.
const PICTOGRAPHS = /[\p{Extended_Pictographic}\p{Emoji_Modifier}\p{Regional_Indicator}\u200d\ufe0e\ufe0f\u20e3\u{e0020}-\u{e007f}]/gu;

/** ``text`` without emoji or pictographs, spaces tidied: what a speech engine should read. */
export function speakable(text) {
  return String(text ?? "")
    .replace(PICTOGRAPHS, " ")
    .replace(/\s+([,.;:!?])/g, "$1")
    .replace(/\s{2,}/g, " ")
    .trim();
}

function storageOf(storage) {
  if (storage !== undefined) return storage;
  try {
    return window.localStorage;
  } catch {
    return null; // blocked (private mode, policy): nothing is remembered
  }
}

export class Voice {
  /** ``synth``/``Utterance`` default to the browser's; ``defaults`` the kinds on when nothing is
   * remembered (all off); ``force`` (the URL's speak=1 or 0) sets every kind and wins over storage. */
  constructor({ synth, Utterance, storage, force = null } = {}) {
    this.synth = synth !== undefined ? synth : window.speechSynthesis ?? null;
    this.Utterance = Utterance ?? window.SpeechSynthesisUtterance ?? null;
    this.storage = storageOf(storage);
    this.muted = false;
    this.on = {};
    for (const kind of KINDS) this.on[kind] = force !== null ? force : this.#load(KEY + kind) === "1";
  }

  get available() {
    return Boolean(this.synth && this.Utterance);
  }

  /** Switch one kind on or off (remembered). */
  enable(kind, on) {
    if (!KINDS.includes(kind)) throw new Error(`unknown kind of speech "${kind}" (one of ${KINDS.join(", ")})`);
    this.on[kind] = Boolean(on);
    this.#save(KEY + kind, on ? "1" : "0");
    if (!on) this.synth?.cancel?.();
  }

  /** The browser's voices ([] where it has none, or has not loaded them yet). */
  voices() {
    try {
      return this.synth?.getVoices?.() ?? [];
    } catch {
      return [];
    }
  }

  /** The voice remembered for ``persona`` (its voiceURI), or "" for the browser's default. */
  voiceFor(persona) {
    return this.#load(VOICE_KEY + persona) ?? "";
  }

  setVoice(persona, voiceURI) {
    this.#save(VOICE_KEY + persona, voiceURI);
  }

  /** Speak ``text`` if ``kind`` is on; ``interrupt`` drops what is still queued (a countdown number
   * that is late is worse than none). Returns the words spoken, or null. */
  say(kind, text, { persona = "", interrupt = false } = {}) {
    if (!this.on[kind] || this.muted || !this.available) return null;
    const words = speakable(text);
    if (!words) return null;
    if (interrupt) this.synth.cancel();
    const utterance = new this.Utterance(words);
    const wanted = persona ? this.voiceFor(persona) : "";
    const voice = wanted && this.voices().find((v) => v.voiceURI === wanted);
    if (voice) utterance.voice = voice;
    this.synth.speak(utterance);
    return words;
  }

  /** Stop: cancel everything queued and say nothing more until ``resume``. */
  silence() {
    this.muted = true;
    this.synth?.cancel?.();
  }

  resume() {
    this.muted = false;
  }

  #load(key) {
    try {
      return this.storage?.getItem(key) ?? null;
    } catch {
      return null;
    }
  }

  #save(key, value) {
    try {
      this.storage?.setItem(key, value);
    } catch {
      // storage blocked: the choice lasts for this page only
    }
  }
}
