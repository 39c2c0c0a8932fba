// npm's `prepare` (run by `npm ci`, `npm install` and `npm pack` in a checkout): builds dist/.
// A production install of a checkout (`npm ci --omit=dev`) has no TypeScript compiler; there it
// uses the dist/ built before, and says so, rather than failing. With the compiler present, a
// failed build fails, so a stale dist/ never hides a compile error.
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";

const root = join(import.meta.dirname, "..");
let tsc = null;
try {
  tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
} catch {
  // Not installed: a production install.
}
if (tsc !== null) {
  try {
    execFileSync(process.execPath, [tsc, "-p", join(root, "tsconfig.json")], { stdio: "inherit" });
  } catch {
    process.exit(1); // tsc has printed what is wrong
  }
} else if (existsSync(join(root, "dist", "src", "cli", "main.js"))) {
  process.stderr.write("prepare: TypeScript is not installed (--omit=dev); using the dist/ already built\n");
} else {
  process.stderr.write("prepare: TypeScript is not installed and dist/ is not built: build once with the devDependencies (npm ci), or install from a packed tarball\n");
  process.exit(1);
}
