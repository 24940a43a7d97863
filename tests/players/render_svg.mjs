// Render frames of an animated SVG (SMIL) in headless Chromium, as a browser user sees it.
//
//   node render_svg.mjs ANIMATED.svg OUT_DIR FPS FRAME...
//
// The document's animations are paused and set to FRAME / FPS seconds (fractional frames lie between
// source frames); each FRAME is written as OUT_DIR/smil-<frame>.png at the SVG's own size, on white.
// Console and page errors go to OUT_DIR/smil-errors.json (a list; [] when none were logged).
import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { inBrowser } from "./browser.mjs";

const [file, outDir, fps, ...frames] = process.argv.slice(2);
const svg = readFileSync(file, "utf8");
mkdirSync(outDir, { recursive: true });

const errors = await inBrowser(async (page) => {
  const w = Number(/width="(\d+)"/.exec(svg)[1]), h = Number(/height="(\d+)"/.exec(svg)[1]);
  await page.setViewport({ width: w, height: h, deviceScaleFactor: 1 });
  await page.setContent(`<!doctype html><html><body style="margin:0;background:#fff">
    <div id="anim" style="width:${w}px;height:${h}px;background:#fff">${svg}</div></body></html>`);
  for (const f of frames) {
    await page.evaluate((s) => { const el = document.querySelector("svg"); el.pauseAnimations(); el.setCurrentTime(s); },
                        Number(f) / Number(fps));
    await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
    const box = await (await page.$("#anim")).boundingBox();
    await page.screenshot({ path: join(outDir, `smil-${f}.png`), clip: box });
  }
});
writeFileSync(join(outDir, "smil-errors.json"), JSON.stringify(errors, null, 1));
