// The LunaRoute dashboard in headless Chromium, on a phone-sized screen:
// the overview's numbers, then a session, then one recorded exchange.
//   node lunaroute_dashboard.mjs URL EXPECTED_JSON
// EXPECTED_JSON: {"requests": N, "tokens": N, "cost": "$…", "session": ID,
//                 "session_requests": N, "model": NAME, "response_text": TEXT}
// Prints what it found as JSON; exits 1 on the first mismatch.
import { createRequire } from "node:module";
import path from "node:path";

const require = createRequire(path.join(process.env.NODE_TOOLS, "package.json"));
const { chromium } = require("playwright-core");
const [url, expectedJson] = process.argv.slice(2);
const expected = JSON.parse(expectedJson);

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--headless=new"],
});
const found = {};
const check = (what, got, want) => {
  found[what] = got;
  if (got !== want) {
    console.log(JSON.stringify(found));
    console.error(`${what}: got ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`);
    process.exit(1);
  }
};
try {
  const page = await browser.newPage({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  const started = Date.now();
  await page.goto(url);
  const value = (id) => page.locator(`[data-testid="${id}"] .value`).innerText();
  await page.waitForSelector('[data-testid="today-requests"]');
  found.overview_ms = Date.now() - started;
  check("today requests", await value("today-requests"), String(expected.requests));
  check("today tokens", (await value("today-tokens")).replaceAll(",", ""), String(expected.tokens));
  check("today cost", await value("today-cost"), expected.cost);
  check("7-day requests", await value("7 days-requests"), String(expected.requests));
  check("fits the phone's width", await page.evaluate(() => document.documentElement.scrollWidth <= innerWidth), true);

  await page.getByRole("link", { name: "Sessions" }).click();
  await page.getByRole("link", { name: expected.session }).click();
  await page.waitForSelector('[data-testid="request-row"]');
  check("session requests", await page.locator('[data-testid="request-row"]').count(), expected.session_requests);
  await page.locator('[data-testid="request-row"] a').last().click();
  await page.waitForSelector('[data-testid="request-model"]');
  check("request model", await page.locator('[data-testid="request-model"]').innerText(), expected.model);
  const response = await page.locator('[data-testid="response-body"]').innerText();
  check("response recorded", response.includes(expected.response_text), true);
  check("page errors", errors.join("; "), "");
  console.log(JSON.stringify(found));
} finally {
  await browser.close();
}
