// The page: the session list (refreshed every 2 s while shown), a session's
// live screen (xterm.js, loaded only then) fed by a WebSocket that the
// plugin's host writes the session's snapshot and output to, the key bar
// and line box, and pairing. A dropped WebSocket reconnects at once when the
// page is visible again, and each connection starts from a fresh snapshot:
// nothing is missed or shown twice.

const $ = (id) => document.getElementById(id);
const views = ["list-view", "session-view", "pair-view"];
const show = (view) => views.forEach((v) => ($(v).hidden = v !== view));
const status = (text) => ($("status").textContent = text);

let readOnly = false;
let listTimer = null;
let watching = null;

async function api(path, options = {}) {
  const response = await fetch(path, { credentials: "same-origin", cache: "no-store", ...options });
  if (response.status === 401) {
    throw Object.assign(new Error("not paired"), { unpaired: true });
  }
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    throw new Error(body.error || `${response.status}`);
  }
  return body;
}

function age(seconds) {
  const s = Math.max(0, Math.floor(Date.now() / 1000 - seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86400) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

function element(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v;
    else e.setAttribute(k, v);
  }
  e.append(...children);
  return e;
}

async function refreshList() {
  try {
    const { sessions, projects, read_only } = await api("/api/sessions");
    readOnly = read_only;
    const list = $("sessions");
    list.replaceChildren(
      ...sessions.map((s) =>
        element(
          "li",
          { "data-testid": "session", "data-id": s.id, "data-state": s.state },
          element(
            "a",
            { href: `#/s/${encodeURIComponent(s.id)}` },
            element("div", { class: "row" }, element("span", { class: "project" }, s.project),
              element("span", { class: `state ${s.state}` }, s.state)),
            element("div", { class: "meta" }, `${s.agent} · ${age(s.created)}${s.attached ? ` · ${s.attached} attached` : ""}`),
            element("div", { class: "last" }, s.last_line || " "),
          ),
        ),
      ),
    );
    $("no-sessions").hidden = sessions.length > 0;
    const select = $("project");
    const chosen = select.value;
    select.replaceChildren(...projects.map((p) => element("option", { value: p.folder }, p.name)));
    if (chosen) select.value = chosen;
    $("new-session").hidden = readOnly || projects.length === 0;
    status(readOnly ? "read-only" : "");
  } catch (e) {
    if (e.unpaired) return show("pair-view");
    status(`offline: ${e.message}`);
  }
}

// ---- a session ----

let xterm = null;
async function terminal() {
  if (!xterm) {
    const { Terminal } = await import("/vendor/xterm.mjs");
    const link = element("link", { rel: "stylesheet", href: "/vendor/xterm.css" });
    document.head.append(link);
    xterm = new Terminal({ disableStdin: true, scrollback: 5000, fontSize: 12, convertEol: false, cursorBlink: false });
    xterm.open($("terminal"));
  }
  return xterm;
}

function fit(term, cols) {
  const width = $("terminal").clientWidth || window.innerWidth;
  const size = Math.max(9, Math.min(14, Math.floor(width / (cols * 0.61))));
  if (term.options.fontSize !== size) term.options.fontSize = size;
}

class Watch {
  constructor(id) {
    this.id = id;
    this.closed = false;
    this.retry = 0;
    this.connect();
    this.onVisible = () => document.visibilityState === "visible" && this.reconnectNow();
    document.addEventListener("visibilitychange", this.onVisible);
    window.addEventListener("online", this.onVisible);
  }

  async connect() {
    if (this.connecting) return;
    this.connecting = true;
    const term = await terminal();
    this.connecting = false;
    if (this.closed) return;
    const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/api/watch/${encodeURIComponent(this.id)}`);
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    ws.onopen = () => ws.send(JSON.stringify({ op: "start" }));
    ws.onmessage = (event) => {
      if (ws !== this.ws) return;
      if (typeof event.data === "string") {
        const message = JSON.parse(event.data);
        if (message.error) status(message.error);
        return;
      }
      const bytes = new Uint8Array(event.data);
      const kind = String.fromCharCode(bytes[0]);
      if (kind === "s") {
        const newline = bytes.indexOf(10);
        const [cols, rows, x, y] = new TextDecoder().decode(bytes.subarray(1, newline)).split(" ").map(Number);
        term.reset();
        term.resize(cols, rows);
        fit(term, cols);
        term.write(bytes.subarray(newline + 1));
        term.write(`\x1b[${y + 1};${x + 1}H`);
        this.retry = 0;
        status("live");
        $("terminal").dataset.snapshots = String(Number($("terminal").dataset.snapshots || 0) + 1);
      } else if (kind === "o") {
        term.write(bytes.subarray(1));
      } else if (kind === "x") {
        this.ended = true;
        $("ended").hidden = false;
        status("ended");
      }
    };
    ws.onclose = () => {
      if (ws !== this.ws || this.closed || this.ended) return;
      status("reconnecting…");
      if (document.visibilityState === "visible") {
        this.timer = setTimeout(() => this.connect(), Math.min(2000, 100 * 2 ** this.retry++));
      }
    };
  }

  reconnectNow() {
    if (this.closed || this.ended || this.connecting) return;
    if (!this.ws || this.ws.readyState === WebSocket.CLOSED) {
      clearTimeout(this.timer);
      this.connect();
    }
  }

  send(message) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(message));
  }

  close() {
    this.closed = true;
    clearTimeout(this.timer);
    document.removeEventListener("visibilitychange", this.onVisible);
    window.removeEventListener("online", this.onVisible);
    if (this.ws) this.ws.close();
  }
}

async function openSession(id) {
  show("session-view");
  $("session-title").textContent = id;
  $("ended").hidden = true;
  $("terminal").dataset.snapshots = "0";
  for (const b of [...document.querySelectorAll("#keys button"), $("stop"), ...$("line").elements]) b.disabled = readOnly;
  watching = new Watch(id);
}

// ---- pairing ----

async function pair(code) {
  try {
    await api("/api/pair", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ code, name: navigator.userAgent.slice(0, 80) }),
    });
    history.replaceState(null, "", "#/");
    route();
  } catch (e) {
    $("pair-error").textContent = e.message;
  }
}

// ---- routing ----

// Each navigation gets a number: a slower earlier one gives way.
let routed = 0;

async function route() {
  const mine = ++routed;
  if (watching) {
    watching.close();
    watching = null;
  }
  clearInterval(listTimer);
  const hash = location.hash;
  if (hash.startsWith("#pair=")) {
    show("pair-view");
    return pair(decodeURIComponent(hash.slice(6)));
  }
  try {
    const me = await api("/api/me");
    readOnly = me.read_only;
  } catch (e) {
    if (mine !== routed) return;
    if (e.unpaired) return show("pair-view");
    return status(`offline: ${e.message}`);
  }
  if (mine !== routed) return;
  if (hash.startsWith("#/s/")) return openSession(decodeURIComponent(hash.slice(4)));
  show("list-view");
  await refreshList();
  if (mine !== routed) return;
  clearInterval(listTimer);
  listTimer = setInterval(() => document.visibilityState === "visible" && refreshList(), 2000);
}

$("keys").addEventListener("click", (event) => {
  const key = event.target.closest("button")?.dataset.key;
  if (key && watching) watching.send({ op: "keys", keys: [key] });
});
$("line").addEventListener("submit", (event) => {
  event.preventDefault();
  if (!watching) return;
  watching.send({ op: "text", text: $("line-text").value, enter: true });
  $("line-text").value = "";
});
$("stop").addEventListener("click", async () => {
  if (!watching || !confirm(`Stop ${watching.id}? Its agent is ended.`)) return;
  try {
    await api(`/api/sessions/${encodeURIComponent(watching.id)}/stop`, { method: "POST" });
    location.hash = "#/";
  } catch (e) {
    status(e.message);
  }
});
$("new-session").addEventListener("submit", async (event) => {
  event.preventDefault();
  const folder = $("project").value;
  if (!folder || !confirm(`Start a session in ${folder}?`)) return;
  try {
    const { id } = await api("/api/sessions", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ folder }),
    });
    location.hash = `#/s/${encodeURIComponent(id)}`;
  } catch (e) {
    status(e.message);
  }
});
$("pair").addEventListener("submit", (event) => {
  event.preventDefault();
  pair($("pair-code").value);
});
window.addEventListener("hashchange", route);
route();

// For tests and the curious: the current watch and the terminal.
window.sincMobile = { watch: () => watching, terminal: () => xterm };
