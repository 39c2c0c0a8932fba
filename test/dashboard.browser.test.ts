/**
 * The dashboard in a real browser: `lockstep start` (a cluster of processes with demo traffic)
 * serves it; headless Chromium (Debian's, driven by playwright-core) loads it with no console
 * errors, sees the book ladder change while traffic runs, kills a replica from the page and
 * watches its status turn red, restarts it and watches it turn green after catch-up, and saves
 * a screenshot under test-artifacts/. With `lockstep start --shards 2`, every shard's page
 * lists both shards, live and green, and links to the other's page, which shows that shard.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { chromium, type Browser } from "playwright-core";
import { afterAll, describe, expect, it } from "vitest";

const CHROMIUM = "/usr/bin/chromium";
const BIN = join(import.meta.dirname, "..", "bin", "lockstep.js");
const ARTIFACTS = join(import.meta.dirname, "..", "test-artifacts");
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium) console.warn(`dashboard browser test skipped: ${CHROMIUM} not found (Debian: apt-get install chromium)`);

let start: ChildProcess | null = null;
let browser: Browser | null = null;
const CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-dev-shm-usage"];

/** Stops the cluster of the first test (once it is done with it, so that the next test has the machine). */
async function stopCluster(): Promise<void> {
  if (start !== null && start.exitCode === null) {
    const exited = new Promise((r) => start!.once("exit", r));
    start.kill("SIGINT");
    await exited;
  }
}

afterAll(async () => {
  await browser?.close();
  await stopCluster();
});

/** Starts `lockstep start` and resolves with the dashboard URL it prints. */
function startCluster(): Promise<string> {
  start = spawn(process.execPath, [BIN, "start", "--ephemeral", "--duration", "120"], { stdio: ["ignore", "pipe", "pipe"] });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("no dashboard URL within 30 s")), 30_000);
    start!.once("exit", (code) => reject(new Error(`lockstep start exited with ${code}`)));
    createInterface({ input: start!.stdout! }).on("line", (line) => {
      const m = /dashboard: (http:\/\/\S+)/.exec(line);
      if (m !== null) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
  });
}

describe.skipIf(!haveChromium)("dashboard in Chromium", () => {
  it("loads without console errors, shows a live book, and a replica killed from the page goes red, then green after catch-up", async () => {
    const url = await startCluster();
    browser = await chromium.launch({
      executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS,
    });
    const page = await browser.newPage({ viewport: { width: 1500, height: 900 } });
    const errors: string[] = [];
    page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
    page.on("pageerror", (e) => errors.push(e.message));
    await page.goto(url);

    // The ladder fills and then changes while the demo traffic runs.
    await page.waitForSelector("#ladder tbody tr", { timeout: 15_000 });
    const first = await page.locator("#ladder tbody").innerText();
    await page.waitForFunction((before) => document.querySelector("#ladder tbody")!.textContent !== before && document.querySelectorAll("#ladder tbody tr").length > 4, first.replace(/\t/g, "").replace(/\n/g, ""), { timeout: 15_000 });
    await page.waitForSelector('#agree.green', { timeout: 10_000 });
    await page.waitForSelector('tr[data-replica="r1"].status-green', { timeout: 15_000 }).catch(async (err: Error) => {
      throw new Error(`${err.message}; r1's row reads: ${await page.locator('tr[data-replica="r1"]').innerText()}`);
    });

    // Kill r1 from the page: red. Restart it: green again once it has caught up.
    await page.click('tr[data-replica="r1"] button[data-action="kill"]');
    await page.waitForSelector('tr[data-replica="r1"].status-red', { timeout: 10_000 });
    await page.click('tr[data-replica="r1"] button[data-action="restart"]');
    // A restarted process catches up with the demo traffic that kept running: on a busy shared
    // machine that can take tens of seconds. If it never turns green, say what the row shows.
    await page.waitForSelector('tr[data-replica="r1"].status-green', { timeout: 60_000 }).catch(async (err: Error) => {
      throw new Error(`${err.message}; r1's row reads: ${await page.locator('tr[data-replica="r1"]').innerText()}`);
    });

    // Charts drew something: uPlot canvases exist for the time, depth and hop charts.
    await page.waitForFunction(() => document.querySelectorAll(".chart canvas").length >= 5, undefined, { timeout: 10_000 });
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, "dashboard.png"), fullPage: true });
    expect(errors).toEqual([]);
    await page.close();
    await stopCluster();
  }, 90_000);

  it("with --shards 2, each shard's page lists both shards live, and links to the other's page", async () => {
    const child = spawn(process.execPath, [BIN, "start", "--shards", "2", "--ephemeral", "--duration", "60", "--json"], { stdio: ["ignore", "ignore", "pipe"] });
    const exited = new Promise((r) => child.once("exit", r));
    try {
      // Read stderr for good (a data listener, never paused): the demo writes a status line a
      // second, and a child blocked on a full pipe would not see our SIGINT.
      const boards = new Map<string, string>();
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error("no two dashboard URLs within 30 s")), 30_000);
        let text = "";
        child.stderr!.on("data", (d: Buffer) => {
          text += d.toString();
          for (const m of text.matchAll(/dashboard of shard (s\d) \(instrument \d+\): (http:\/\/\S+)/g)) boards.set(m[1]!, m[2]!);
          if (boards.size === 2) { clearTimeout(timer); resolve(); }
          if (text.length > 1 << 16) text = text.slice(-4096);
        });
        child.once("exit", (code) => reject(new Error(`lockstep start --shards 2 exited with ${code}`)));
      });
      expect([...boards.keys()]).toEqual(["s1", "s2"]);
      browser ??= await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
      const page = await browser.newPage({ viewport: { width: 1500, height: 1000 } });
      const errors: string[] = [];
      page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
      page.on("pageerror", (e) => errors.push(e.message));
      await page.goto(boards.get("s1")!);
      // Both shards' lines, green with orders sequenced; s1's marked as this page.
      const rowsReady = (): boolean => {
        const rows = [...document.querySelectorAll("#shards tbody tr")] as HTMLElement[];
        return rows.length === 2 && rows.every((r) => r.classList.contains("status-green") && Number(r.querySelector(".seq")!.textContent!.replace(/,/g, "")) > 0);
      };
      await page.waitForFunction(rowsReady, undefined, { timeout: 30_000 }).catch(async (err: Error) => {
        throw new Error(`${err.message}; the shard lines read: ${await page.locator("#shards tbody").innerText().catch(() => "(none)")}`);
      });
      expect(await page.locator("header h1").innerText()).toBe("Lockstep · s1");
      expect(await page.locator('#shards tr[data-shard="s1"]').getAttribute("class")).toContain("here");
      expect(await page.locator('#shards tr[data-shard="s2"] a').getAttribute("href")).toBe(`${boards.get("s2")!}`);
      // The link opens s2's own page: its header, its book, and the same two lines.
      await page.click('#shards tr[data-shard="s2"] a');
      await page.waitForFunction(() => document.querySelector("header h1")!.textContent === "Lockstep · s2", undefined, { timeout: 10_000 });
      await page.waitForSelector("#ladder tbody tr", { timeout: 15_000 });
      await page.waitForFunction(rowsReady, undefined, { timeout: 15_000 });
      expect(await page.locator('#shards tr[data-shard="s2"]').getAttribute("class")).toContain("here");
      mkdirSync(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: join(ARTIFACTS, "dashboard-shards.png"), fullPage: true });
      expect(errors).toEqual([]);
      await page.close();
    } finally {
      child.kill("SIGINT");
      await exited;
    }
  }, 90_000);
});
