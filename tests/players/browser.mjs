// Headless Debian Chromium for the player scripts: run `fn(page)` and return every console error
// and page error the page logged (a failure inside `fn` is recorded too). Chromium: $CHROMIUM,
// else /usr/bin/chromium.
import puppeteer from "puppeteer-core";

export async function inBrowser(fn) {
  const browser = await puppeteer.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
  });
  const errors = [];
  try {
    const page = await browser.newPage();
    page.on("console", (m) => { if (m.type() === "error") errors.push(`console: ${m.text()}`); });
    page.on("pageerror", (e) => errors.push(`pageerror: ${e.message}`));
    await fn(page);
  } catch (e) {
    errors.push(`failed: ${e.message || e}`);
  } finally {
    await browser.close();
  }
  return errors;
}
