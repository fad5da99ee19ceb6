// The service worker (registered by pwa.js, scope "/"): an offline app shell.
//
// - At install it caches the shell (SHELL): every page, style sheet, script, icon and vendored library.
// - Pages and shell files are fetched network-first: the server's answer is used and kept; when the
//   server does not answer, the kept copy is served. A page served that way is marked
//   <html data-offline>, and pwa.js shows the offline notice on it. A page never kept gets offline.html.
// - Never cached, never answered from the cache: /api/ (data, uploads, videos), /ws/ (live events),
//   the API docs, and anything but a plain GET of this origin.
// A changed shell changes VERSION (so this script): the browser installs the new worker, which caches
// the new shell and deletes the old caches when it takes over.

// The server fills in these two lines (server/pwa.py): a hash of the shell's files, and every file of
// web_client/ (pages, style sheets, scripts, icons, vendored libraries).
const VERSION = "coach-shell-dev";
const SHELL = ["/"];
const OFFLINE_PAGE = "/offline.html";
const NEVER = ["/api/", "/ws/", "/docs", "/openapi.json", "/sw.js"];

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches
      .open(VERSION)
      .then((cache) => cache.addAll(SHELL.map((path) => new Request(path, { cache: "reload" }))))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((names) => names.filter((name) => name.startsWith("coach-shell-") && name !== VERSION))
      .then((old) => Promise.all(old.map((name) => caches.delete(name))))
      .then(() => self.clients.claim()),
  );
});

function handled(request) {
  if (request.method !== "GET" || request.headers.has("range")) return false;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return false;
  return !NEVER.some((prefix) => url.pathname.startsWith(prefix));
}

// The kept page, marked so that pwa.js tells the user it is offline. The headers are the server's
// (its CSP included), less the length, which the mark changes.
async function markedOffline(response) {
  const text = await response.text();
  const headers = new Headers(response.headers);
  headers.delete("content-length");
  const body = text.replace(/<html([^>]*)>/i, "<html$1 data-offline>");
  return new Response(body, { status: 200, statusText: "OK (offline copy)", headers });
}

async function networkFirst(request) {
  const cache = await caches.open(VERSION);
  const url = new URL(request.url);
  const key = url.origin + url.pathname; // one copy per file: report.html?job=x is report.html
  try {
    const response = await fetch(request, { cache: "no-cache" }); // the server's answer, not the HTTP cache's
    if (response.status === 200 && response.type === "basic") cache.put(key, response.clone()).catch(() => {});
    return response;
  } catch (error) {
    const page = request.mode === "navigate";
    const kept = await cache.match(key);
    if (kept) return page ? markedOffline(kept) : kept;
    if (page) {
      const offline = await cache.match(OFFLINE_PAGE);
      if (offline) return markedOffline(offline);
    }
    throw error;
  }
}

self.addEventListener("fetch", (event) => {
  if (handled(event.request)) event.respondWith(networkFirst(event.request));
});
