/** Builds dist/ once before the suite so CLI tests run the real `bin/lockstep.js`. */
import { execFileSync } from "node:child_process";
import { createRequire } from "node:module";
import { join } from "node:path";

export default function setup(): void {
  const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
  execFileSync(process.execPath, [tsc, "-p", join(import.meta.dirname, "..")], { stdio: "inherit", timeout: 120_000 });
}
