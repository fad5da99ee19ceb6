// The pickers remember the last choice, per browser: an exercise or a coach picked once is picked
// again on the next visit (a link's ?exercise=... still wins). Without storage nothing is remembered.

const PREFIX = "coach.last.";

export function remember(select, key) {
  let saved = null;
  try {
    saved = window.localStorage.getItem(PREFIX + key);
  } catch {
    // storage blocked (private mode, policy): the default choice stays
  }
  if (saved !== null && [...select.options].some((option) => option.value === saved)) select.value = saved;
  select.addEventListener("change", () => {
    try {
      window.localStorage.setItem(PREFIX + key, select.value);
    } catch {
      // as above
    }
  });
}
