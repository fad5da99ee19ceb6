// Who is signed in. With auth=single (the default) the server answers /api/me for the local user and
// nothing shows. With auth=accounts a signed-out page gets a sign-in form; the sign-in cookie is
// HTTP-only, so the page keeps only the CSRF token, which every state-changing request carries.

let me = null;

const UNREACHABLE = "The coach server did not answer.";

async function whoAmI() {
  let response;
  try {
    response = await fetch("/api/me");
  } catch {
    throw new Error(UNREACHABLE); // shown by the page with what to do (net.js showProblem)
  }
  if (response.ok) me = await response.json();
  else if (response.status === 401) me = null; // signed out: the sign-in form follows
  else throw Object.assign(new Error(`The server could not say who is signed in (${response.status}).`), { status: response.status });
  return me;
}

function signInForm() {
  return new Promise((resolve) => {
    const dialog = document.createElement("dialog");
    dialog.className = "sign-in";
    dialog.innerHTML = `
      <form method="dialog">
        <h2>Sign in</h2>
        <label>Name <input name="name" autocomplete="username" required maxlength="64"></label>
        <label>Password <input name="password" type="password" autocomplete="current-password" required></label>
        <p class="error" role="alert" hidden></p>
        <button type="submit">Sign in</button>
      </form>`;
    document.body.append(dialog);
    const form = dialog.querySelector("form");
    const error = dialog.querySelector(".error");
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const data = new FormData(form);
      let response;
      try {
        response = await fetch("/api/sign-in", {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ name: data.get("name"), password: data.get("password") }),
        });
      } catch {
        error.textContent = `${UNREACHABLE} Check that it is running and that this device is online, then sign in again.`;
        error.hidden = false;
        return;
      }
      if (response.ok) {
        dialog.close();
        dialog.remove();
        resolve(await whoAmI());
      } else {
        const body = await response.json().catch(() => ({}));
        error.textContent = typeof body.detail === "string" ? body.detail : `sign-in failed (${response.status})`;
        error.hidden = false;
      }
    });
    dialog.addEventListener("cancel", (event) => event.preventDefault()); // nothing works signed out
    dialog.showModal();
  });
}

// The signed-in user ({user, auth, csrf}), asking for a sign-in first when there is none.
export async function signedIn() {
  if (me) return me;
  return (await whoAmI()) ?? (await signInForm());
}

// Headers a state-changing request needs: the CSRF token of a cookie sign-in (none in single mode).
export async function csrfHeaders() {
  const who = await signedIn();
  return who?.csrf ? { "X-CSRF-Token": who.csrf } : {};
}
