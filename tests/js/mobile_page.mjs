// The mobile plugin's page in headless Chromium on a phone-sized screen,
// against a real session whose agent asks "continue? (y/n)" and then echoes
// each line it reads.
//   node mobile_page.mjs URL CODE SESSION_ID TMUX_SOCKET SCREENSHOT_DIR
// Pairs with CODE (the link's fragment), opens the list, then the session;
// answers y + Enter with the key bar, sends a line with the line box; drops
// the page's WebSocket and goes offline while a line is typed into the
// session behind its back, comes back and checks the line is there exactly
// once; stops the session from the page and starts it again (confirming
// each). Prints what it timed
// as JSON; exits 1 on the first failure.
import { createRequire } from "node:module";
import { execFileSync } from "node:child_process";
import path from "node:path";

const require = createRequire(path.join(process.env.NODE_TOOLS, "package.json"));
const { chromium } = require("playwright-core");
const [url, code, session, socket, shots] = process.argv.slice(2);

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--headless=new"],
});
const found = {};
const fail = (what) => {
  console.log(JSON.stringify(found));
  console.error(what);
  process.exit(1);
};
const lines = (page) =>
  page.evaluate(() => {
    const term = window.sincMobile.terminal();
    if (!term) return [];
    const buffer = term.buffer.active;
    const out = [];
    for (let i = 0; i < buffer.length; i++) out.push(buffer.getLine(i).translateToString(true));
    return out;
  });
const waitForLine = async (page, text, ms = 10000) => {
  const started = Date.now();
  while (Date.now() - started < ms) {
    if ((await lines(page)).some((l) => l.includes(text))) return Date.now() - started;
    await page.waitForTimeout(20);
  }
  fail(`"${text}" never appeared; the terminal shows:\n${(await lines(page)).join("\n")}`);
};
try {
  const context = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("dialog", (d) => d.accept());

  let started = Date.now();
  await page.goto(`${url}/#pair=${code}`);
  const row = page.locator(`[data-testid="session"][data-id="${session}"]`);
  await row.waitFor();
  found.pair_and_list_ms = Date.now() - started;
  found.state = await row.getAttribute("data-state");
  if (!(await row.innerText()).includes("continue? (y/n)")) fail(`the list's last line: ${await row.innerText()}`);
  if (!(await page.evaluate(() => document.documentElement.scrollWidth <= innerWidth))) fail("wider than the phone");
  await page.screenshot({ path: path.join(shots, "list.png") });

  // A second visit, already paired: open → list usable.
  started = Date.now();
  await page.goto(`${url}/`);
  await row.waitFor();
  found.list_ms = Date.now() - started;

  started = Date.now();
  await row.locator("a").tap();
  await waitForLine(page, "continue? (y/n)");
  found.screen_ms = Date.now() - started;

  await page.getByRole("button", { name: "y", exact: true }).tap();
  await page.getByRole("button", { name: "Enter", exact: true }).tap();
  await waitForLine(page, "answer=y");
  await page.getByLabel("Line").fill("hello phone");
  await page.getByRole("button", { name: "Send" }).tap();
  found.line_ms = await waitForLine(page, "got: hello phone");
  await page.screenshot({ path: path.join(shots, "session.png") });

  // Away: the WebSocket drops, the phone is offline, the agent goes on.
  await context.setOffline(true);
  await page.evaluate(() => window.sincMobile.watch().ws.close());
  await page.waitForTimeout(300);
  execFileSync("tmux", ["-S", socket, "send-keys", "-t", `=${session}:`, "-l", "while away"]);
  execFileSync("tmux", ["-S", socket, "send-keys", "-t", `=${session}:`, "Enter"]);
  await page.waitForTimeout(300);
  const before = Number(await page.locator("#terminal").getAttribute("data-snapshots"));
  started = Date.now();
  await context.setOffline(false);
  await page.waitForFunction((n) => Number(document.getElementById("terminal").dataset.snapshots) > n, before);
  found.resume_ms = Date.now() - started;
  const after = await lines(page);
  const count = (text) => after.filter((l) => l.includes(text)).length;
  found.away_lines = count("got: while away");
  found.hello_lines = count("got: hello phone");
  if (found.away_lines !== 1 || found.hello_lines !== 1) fail(`after reconnecting:\n${after.join("\n")}`);

  // Stop it from the page (the dialog is accepted).
  await page.getByRole("button", { name: "Stop" }).tap();
  await page.waitForFunction(() => location.hash === "#/");
  await page.locator(`[data-testid="session"][data-id="${session}"]`).waitFor({ state: "detached" });

  // Start it again from the list: its project, with its agent (confirmed).
  await page.getByLabel("New session").selectOption({ label: "demo-app" });
  await page.getByRole("button", { name: "Start" }).tap();
  await page.waitForFunction(() => location.hash.startsWith("#/s/sinc-demo-app-"));
  found.restarted_ms = await waitForLine(page, "continue? (y/n)");
  await page.getByRole("button", { name: "Stop" }).tap();
  await page.waitForFunction(() => location.hash === "#/");
  if (errors.length) fail(`page errors: ${errors.join("; ")}`);
  console.log(JSON.stringify(found));
} finally {
  await browser.close();
}
