// The installable app: registers the service worker (sw.js) that keeps the app shell for offline use,
// and tells the user when the network is gone. Every page loads this module from its <head>.
//
// A page the service worker had to answer from its cache (the server did not answer) comes with
// <html data-offline>; a page that loses the network later hears the browser's "offline" event. Either
// way a notice says what still works and what to do; it goes when the network is back. offline.html
// (<html data-offline-page>, what the worker answers for a page it never kept) is itself that notice, so
// it gets no second one.

const NOTICE_ID = "offline-notice";

function showOffline() {
  if (document.getElementById(NOTICE_ID) || document.documentElement.hasAttribute("data-offline-page")) return;
  const notice = document.createElement("div");
  notice.id = NOTICE_ID;
  notice.className = "offline-notice";
  notice.setAttribute("role", "status");
  const what = document.createElement("strong");
  what.textContent = "Offline: the coach server cannot be reached.";
  const advice = document.createElement("span");
  advice.textContent = " This page was kept from your last visit; live coaching, uploads and history need the server. " +
    "Check that the server is running and this device is online, then reload.";
  const reload = Object.assign(document.createElement("button"), { type: "button", textContent: "Reload" });
  reload.addEventListener("click", () => location.reload());
  notice.append(what, advice, reload);
  document.body.prepend(notice);
}

function hideOffline() {
  document.getElementById(NOTICE_ID)?.remove();
}

function watchNetwork() {
  if (document.documentElement.hasAttribute("data-offline") || navigator.onLine === false) showOffline();
  window.addEventListener("offline", showOffline);
  window.addEventListener("online", () => {
    // a page answered from the cache is stale: its data never loaded, so offer the reload
    if (!document.documentElement.hasAttribute("data-offline")) hideOffline();
  });
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", watchNetwork);
else watchNetwork();

if ("serviceWorker" in navigator) {
  navigator.serviceWorker.register("/sw.js", { scope: "/", type: "classic" }).catch((error) => {
    // the app works without it (no offline shell); say why in the console for whoever runs the server
    console.warn(`The offline shell is unavailable: ${error.message}`);
  });
}
