// The mobile page's speed in headless Chromium on a phone-sized screen, on
// loopback, against a session whose agent prints "MARK <ms since epoch>"
// every 100 ms (and is otherwise idle).
//   node mobile_bench.mjs URL CODE SESSION_ID RUNS
// Prints JSON: samples (ms) of page open → list usable, tap → session
// screen, a marker's write → rendered, and resume after the WebSocket drops.
import { createRequire } from "node:module";
import path from "node:path";

const require = createRequire(path.join(process.env.NODE_TOOLS, "package.json"));
const { chromium } = require("playwright-core");
const [url, code, session, runsText] = process.argv.slice(2);
const runs = Number(runsText || 20);

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--headless=new"],
});
const out = { list_ms: [], screen_ms: [], marker_ms: [], resume_ms: [] };
try {
  const context = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
  const page = await context.newPage();
  const row = page.locator(`[data-testid="session"][data-id="${session}"]`);
  await page.goto(`${url}/#pair=${code}`);
  await row.waitFor();
  for (let i = 0; i < runs; i++) {
    const started = Date.now();
    await page.goto(`${url}/?run=${i}`);
    await row.waitFor();
    out.list_ms.push(Date.now() - started);
  }
  for (let i = 0; i < runs; i++) {
    await page.goto(`${url}/?run=${i}#/`);
    await row.waitFor();
    const started = Date.now();
    await row.locator("a").tap();
    await page.waitForFunction(() => Number(document.getElementById("terminal").dataset.snapshots) > 0);
    out.screen_ms.push(Date.now() - started);
  }
  // Markers: each one the agent writes, timed when xterm.js has parsed it.
  await page.evaluate(() => {
    window.marks = [];
    const term = window.sincMobile.terminal();
    // Markers already on the screen were written before: not timed.
    const seen = new Set();
    const buffer = term.buffer.active;
    for (let i = 0; i < buffer.length; i++) {
      const m = /MARK (\d+)/.exec(buffer.getLine(i).translateToString(true));
      if (m) seen.add(m[1]);
    }
    term.onWriteParsed(() => {
      const now = Date.now();
      const buffer = term.buffer.active;
      for (let i = Math.max(0, buffer.length - 60); i < buffer.length; i++) {
        const m = /MARK (\d+)/.exec(buffer.getLine(i).translateToString(true));
        if (m && !seen.has(m[1])) {
          seen.add(m[1]);
          window.marks.push(now - Number(m[1]));
        }
      }
    });
  });
  await page.waitForFunction((n) => window.marks.length >= n, Math.max(50, runs * 3), { timeout: 60000 });
  out.marker_ms = await page.evaluate(() => window.marks);
  for (let i = 0; i < runs; i++) {
    const before = Number(await page.locator("#terminal").getAttribute("data-snapshots"));
    const started = Date.now();
    await page.evaluate(() => window.sincMobile.watch().ws.close());
    await page.waitForFunction((n) => Number(document.getElementById("terminal").dataset.snapshots) > n, before);
    out.resume_ms.push(Date.now() - started);
  }
  console.log(JSON.stringify(out));
} finally {
  await browser.close();
}
