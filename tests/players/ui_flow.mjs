// Drive `vectorwan ui` in headless Chromium as a user does, step by step, and report what the page showed.
//
//   node ui_flow.mjs URL SHOTS_DIR STEPS_JSON
//
// STEPS_JSON: {"dataset": "data", "trigger": "...", "caption": "...", "prompt": "...", "outside": "/etc",
//              "open": ["validation"], "train": {"cfg-train-max-steps": 5, ...}, "generate": {...}}
// (form fields by element id; "open": the closed sections of the config form to open first).
// Prints one JSON object: each step's findings, the page's errors, and writes SHOTS_DIR/<step>.png.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { inBrowser } from "./browser.mjs";

const [url, shots, stepsJson] = process.argv.slice(2);
const steps = JSON.parse(stepsJson);
mkdirSync(shots, { recursive: true });
const found = {};
const T = Number(process.env.UI_STEP_TIMEOUT_MS || 120_000);

async function tab(page, label) {
  const tabs = await page.$$('button[role="tab"]');
  for (const t of tabs) {
    if ((await t.evaluate((e) => e.textContent)).includes(label)) { await t.click(); return; }
  }
  throw new Error(`no tab ${label}`);
}

async function fill(page, id, value) {
  const el = await page.waitForSelector(`#${id} textarea, #${id} input`, { visible: true, timeout: T });
  await el.click({ clickCount: 3 });
  await el.evaluate((e) => { e.value = ""; });
  await el.type(String(value));
  await el.evaluate((e) => { e.dispatchEvent(new Event("input", { bubbles: true })); e.blur(); });
}

async function shot(page, name) {
  await page.screenshot({ path: join(shots, `${name}.png`), fullPage: false });
}

async function toast(page) {
  const el = await page.waitForSelector(".toast-body, [data-testid='toast-body']", { visible: true, timeout: T });
  return el.evaluate((e) => e.textContent);
}

async function dismissToasts(page) {
  await page.evaluate(() => document.querySelectorAll(".toast-close, [data-testid='toast-close']").forEach((b) => b.click()));
}

const errors = await inBrowser(async (page) => {
  await page.setViewport({ width: 1280, height: 900 });
  found.http_errors = [];
  page.on("response", (r) => { if (r.status() >= 400) found.http_errors.push(`${r.status()} ${r.url()}`); });
  await page.goto(url, { waitUntil: "load", timeout: T });
  await page.waitForSelector("#data-path textarea, #data-path input", { visible: true, timeout: T });

  // 1. data: load, see the grid and the report
  await fill(page, "data-path", steps.dataset);
  await fill(page, "data-trigger", steps.trigger);
  await page.click("#data-load");
  await page.waitForFunction(() => document.querySelectorAll("#data-grid img").length > 0, { timeout: T });
  await page.waitForFunction(() => (document.querySelector("#data-report textarea")?.value || "").includes("items"),
                             { timeout: T });
  found.grid_images = await page.$$eval("#data-grid img", (l) => l.length);
  found.report = await page.$eval("#data-report textarea", (e) => e.value);
  await shot(page, "1-data");

  // edit the first item's caption and save it
  await (await page.$$("#data-grid .thumbnail-lg"))[0].click();
  await page.waitForFunction(() => (document.querySelector("#caption-item textarea, #caption-item input")?.value || "") !== "",
                             { timeout: T });
  found.picked = await page.$eval("#caption-item textarea, #caption-item input", (e) => e.value);
  await fill(page, "caption-text", steps.caption);
  await page.click("#caption-save");
  await page.waitForFunction((c) => [...document.querySelectorAll("#data-grid *")].some((e) => e.textContent.includes(c)),
                             { timeout: T }, steps.caption);
  found.caption_saved = true;

  // a path outside the root is refused, with the CLI's line
  await fill(page, "data-path", steps.outside);
  await page.click("#data-load");
  found.outside_message = await toast(page);
  await shot(page, "1-data-outside-root");
  await dismissToasts(page);

  // 2. train a few steps: the loss plot and a validation sample appear
  await tab(page, "Train");
  for (const section of steps.open || []) await page.click(`#acc-${section} > button.label-wrap`);
  for (const [id, v] of Object.entries(steps.train)) await fill(page, id, v);
  await page.click("#train-start");
  await page.waitForFunction(() => (document.querySelector("#train-status textarea")?.value || "").startsWith("finished"),
                             { timeout: T, polling: 1000 });
  found.train_status = await page.$eval("#train-status textarea", (e) => e.value);
  await page.waitForFunction(() => document.querySelectorAll("#train-samples img").length > 0, { timeout: T });
  await page.waitForFunction(() => !!document.querySelector("#train-loss canvas, #train-loss svg"), { timeout: T });
  found.train_samples = await page.$$eval("#train-samples img", (l) => l.length);
  await page.$eval("#train-loss", (e) => e.scrollIntoView());
  await new Promise((r) => setTimeout(r, 1500));
  await shot(page, "2-train");

  // 3. generate a clip and see it
  await tab(page, "Generate");
  await fill(page, "gen-prompt", steps.prompt);
  for (const [id, v] of Object.entries(steps.generate || {})) await fill(page, id, v);
  await page.click("#gen-run");
  await page.waitForSelector("#gen-video video", { timeout: T });
  found.video_src = await page.$eval("#gen-video video", (v) => v.currentSrc || v.src);
  await shot(page, "3-generate");

  // 5. vectorize it (the clip path came over from Generate) and watch the Lottie play
  await tab(page, "Vectorize");
  await page.waitForFunction(() => (document.querySelector("#vec-clip textarea, #vec-clip input")?.value || "") !== "",
                             { timeout: T });
  await page.click("#vec-run");
  await page.waitForSelector("#vec-player .vw-lottie svg", { timeout: T });
  await page.waitForFunction(() => window.vwPlayer && window.vwPlayer.isLoaded, { timeout: T });
  // screenshots over a little more than one loop: a playing animation shows more than one picture
  const box = await (await page.$("#vec-player .vw-lottie")).boundingBox();
  const seen = new Set(), frames = new Set();
  found.lottie_frames = await page.evaluate(() => window.vwPlayer.totalFrames);
  const loopMs = 1000 * found.lottie_frames / (await page.evaluate(() => window.vwPlayer.frameRate));
  for (let i = 0; i < 10; i++) {
    seen.add(await page.screenshot({ clip: box, encoding: "base64" }));
    frames.add(Math.floor(await page.evaluate(() => window.vwPlayer.currentFrame)));
    await new Promise((r) => setTimeout(r, loopMs / 8));
  }
  found.distinct_screens = seen.size;
  found.frames_shown = [...frames].sort((a, b) => a - b);
  found.svg_img = await page.$eval("#vec-svg img", (e) => e.naturalWidth);
  await shot(page, "5-vectorize");

  // 4. evaluate the same clip (the path came over too)
  await tab(page, "Evaluate");
  await page.click("#eval-run");
  await page.waitForFunction(() => (document.querySelector("#eval-report")?.textContent || "").includes("E_warp"),
                             { timeout: T });
  found.eval_plots = await page.$$eval("#eval-plots img", (l) => l.length);
  await shot(page, "4-evaluate");
});
console.log(JSON.stringify({ found, errors }));
