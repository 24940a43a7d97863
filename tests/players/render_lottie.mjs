// Render frames of a Lottie file with lottie-web in headless Chromium, as a browser user sees them.
//
//   node render_lottie.mjs LOTTIE.json OUT_DIR RENDERER FRAME...
//
// RENDERER is svg or canvas. Each FRAME (a number; fractional = between source frames) is written
// as OUT_DIR/<renderer>-<frame>.png at the animation's own size, on white. Every console error and
// page error goes to OUT_DIR/<renderer>-errors.json (a list; [] when the player logged none).
import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { inBrowser } from "./browser.mjs";

const require = createRequire(import.meta.url);
const [file, outDir, renderer, ...frames] = process.argv.slice(2);
const data = JSON.parse(readFileSync(file, "utf8"));
const player = readFileSync(require.resolve("lottie-web/build/player/lottie.min.js"), "utf8");
mkdirSync(outDir, { recursive: true });

const errors = await inBrowser(async (page) => {
  await page.setViewport({ width: data.w, height: data.h, deviceScaleFactor: 1 });
  await page.setContent(`<!doctype html><html><body style="margin:0;background:#fff">
    <div id="anim" style="width:${data.w}px;height:${data.h}px;background:#fff"></div></body></html>`);
  await page.addScriptTag({ content: player });
  await page.evaluate((animationData, renderer) => {
    window.anim = lottie.loadAnimation({ container: document.getElementById("anim"), renderer, loop: false,
                                         autoplay: false, animationData });
  }, data, renderer);
  for (const f of frames) {
    await page.evaluate((f) => window.anim.goToAndStop(f, true), Number(f));
    await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
    const box = await (await page.$("#anim")).boundingBox();
    await page.screenshot({ path: join(outDir, `${renderer}-${f}.png`), clip: box });
  }
});
writeFileSync(join(outDir, `${renderer}-errors.json`), JSON.stringify(errors, null, 1));
