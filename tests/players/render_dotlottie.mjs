// Render frames of a .lottie (or Lottie .json) file with the LottieFiles player, @lottiefiles/dotlottie-web
// (ThorVG compiled to WebAssembly), in headless Chromium.
//
//   node render_dotlottie.mjs FILE OUT_DIR FRAME...
//
// Writes OUT_DIR/thorvg-<frame>.png (the canvas at the animation's size, composited on white by the
// page) and OUT_DIR/thorvg-errors.json (console and page errors, and a failed load). The player and
// its .wasm are served from node_modules on 127.0.0.1, nothing from the network.
import { createServer } from "node:http";
import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { join, dirname } from "node:path";
import { createRequire } from "node:module";
import { inBrowser } from "./browser.mjs";

const require = createRequire(import.meta.url);
const [file, outDir, ...frames] = process.argv.slice(2);
const dist = dirname(require.resolve("@lottiefiles/dotlottie-web"));
mkdirSync(outDir, { recursive: true });

const page_html = `<!doctype html><html><body style="margin:0;background:#fff">
<canvas id="c" style="background:#fff"></canvas>
<script type="module">
import { DotLottie } from "/dist/index.js";
DotLottie.setWasmUrl("/dist/dotlottie-player.wasm");
const data = await (await fetch("/data")).arrayBuffer();
const canvas = document.getElementById("c");
window.player = new DotLottie({ canvas, data: ${file.endsWith(".json") ? "new TextDecoder().decode(data)" : "data"},
  autoplay: false, loop: false, useFrameInterpolation: false,
  renderConfig: { devicePixelRatio: 1, autoResize: false, freezeOnOffscreen: false } });
window.loaded = new Promise((ok, bad) => { player.addEventListener("load", ok);
  player.addEventListener("loadError", (e) => bad(String(e.error || "loadError"))); });
</script></body></html>`;

const server = createServer((req, res) => {
  if (req.url === "/") return res.writeHead(200, { "content-type": "text/html" }).end(page_html);
  if (req.url === "/data") return res.writeHead(200).end(readFileSync(file));
  if (req.url.startsWith("/dist/")) {
    const type = req.url.endsWith(".wasm") ? "application/wasm" : "text/javascript";
    return res.writeHead(200, { "content-type": type }).end(readFileSync(join(dist, req.url.slice(6))));
  }
  res.writeHead(req.url === "/favicon.ico" ? 204 : 404).end();
});
await new Promise((r) => server.listen(0, "127.0.0.1", r));

const errors = await inBrowser(async (page) => {
  await page.goto(`http://127.0.0.1:${server.address().port}/`);
  await page.waitForFunction(() => window.loaded !== undefined);
  const size = await page.evaluate(async () => {
    await window.loaded;
    const { width, height } = window.player.animationSize();
    const c = document.getElementById("c");
    c.width = width; c.height = height; c.style.width = `${width}px`; c.style.height = `${height}px`;
    window.player.resize();
    return { width, height };
  });
  await page.setViewport({ width: size.width, height: size.height, deviceScaleFactor: 1 });
  for (const f of frames) {
    await page.evaluate((f) => window.player.setFrame(f), Number(f));
    await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
    await page.screenshot({ path: join(outDir, `thorvg-${f}.png`), clip: { x: 0, y: 0, ...size } });
  }
});
server.close();
writeFileSync(join(outDir, "thorvg-errors.json"), JSON.stringify(errors, null, 1));
