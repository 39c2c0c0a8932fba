/**
 * The import rules of docs/architecture.md, read from the sources (src/ and bench/) rather than
 * hoped for: (1) src/engine imports nothing outside itself and nothing from node:*; (2) no core
 * module imports a tool; (3) nothing outside src/cli imports src/cli; and (4) the commands that
 * run servers and clients load only `dependencies`, so they run from an install without
 * devDependencies, while each tool command names exactly the devDependencies it loads. Every
 * rule is also run on a small synthetic source tree with one violation, to prove it can fail.
 */
import { builtinModules } from "node:module";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, posix, relative } from "node:path";
import { describe, expect, it } from "vitest";
import { COMMANDS } from "../src/cli/main.js";

const ROOT = join(import.meta.dirname, "..");

/** Folders of the running system: servers, SDK and what they are built from. */
const CORE = ["src/engine", "src/protocol", "src/replication", "src/journal", "src/clock", "src/metrics", "src/sequencer", "src/replica", "src/client", "src/cluster", "src/util", "src/config", "src/dashboard", "src/shard", "src/gateway"];
/** Folders of tools: they load, break, delay, measure or replay a system and never run inside one. */
const TOOLS = ["src/tools", "bench", "src/replay"];
const CLI = "src/cli";

/**
 * Packages loaded by name at run time but optional: a command works without them. pino-pretty
 * formats logs on a terminal; without it src/cli/log.ts writes JSON lines.
 */
const OPTIONAL_PACKAGES = new Set(["pino-pretty"]);

/** `lazy`: loaded by import() when the code runs, not when the module loads. */
interface Import { specifier: string; typeOnly: boolean; lazy: boolean }
/** Repository-relative path (posix) → the imports written in it. */
type Sources = Map<string, Import[]>;

function stripComments(src: string): string {
  return src.replace(/\/\*[\s\S]*?\*\//g, "").replace(/(^|[^:"'`])\/\/.*$/gm, "$1");
}

/** A type-only import or re-export is erased by the compiler and loads nothing at run time. */
function isTypeOnly(clause: string): boolean {
  if (/^type\s/.test(clause)) return true;
  const named = /^\{([\s\S]*)\}$/.exec(clause.trim());
  if (named === null) return false;
  const items = named[1]!.split(",").map((s) => s.trim()).filter((s) => s !== "");
  return items.length > 0 && items.every((s) => s.startsWith("type "));
}

/** Every module a source file names: static imports and re-exports, import(), and require()/require.resolve() of a literal. */
export function importsOf(code: string): Import[] {
  const src = stripComments(code);
  const out: Import[] = [];
  for (const m of src.matchAll(/(?:^|[;}\n])\s*(?:import|export)\s+([\w*{][^;]*?)\s+from\s+["']([^"']+)["']/g)) out.push({ specifier: m[2]!, typeOnly: isTypeOnly(m[1]!), lazy: false });
  for (const m of src.matchAll(/(?:^|[;}\n])\s*import\s+["']([^"']+)["']/g)) out.push({ specifier: m[1]!, typeOnly: false, lazy: false });
  for (const m of src.matchAll(/\bimport\(\s*["']([^"']+)["']\s*\)/g)) out.push({ specifier: m[1]!, typeOnly: false, lazy: true });
  for (const m of src.matchAll(/(?:\brequire|createRequire\([^()]*\))(?:\.resolve)?\(\s*["']([^"']+)["']/g)) out.push({ specifier: m[1]!, typeOnly: false, lazy: true });
  return out;
}

function walk(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((e) => {
    const path = posix.join(dir, e.name);
    if (e.isDirectory()) return e.name === "results" ? [] : walk(path);
    return e.name.endsWith(".ts") ? [path] : [];
  });
}

function readSources(): Sources {
  return new Map([...walk("src"), ...walk("bench")].map((f) => [f, importsOf(readFileSync(join(ROOT, f), "utf8"))]));
}

/** The source file a relative specifier names (`./x.js` is `./x.ts` before compiling), or null for a package or builtin. */
function resolveLocal(from: string, specifier: string): string | null {
  if (!specifier.startsWith(".")) return null;
  return posix.normalize(posix.join(posix.dirname(from), specifier)).replace(/\.js$/, ".ts");
}

/** A bare specifier's package name (`pkg/sub` → `pkg`, `@scope/pkg/sub` → `@scope/pkg`), or null for a builtin. */
function packageOf(specifier: string): string | null {
  if (specifier.startsWith("node:") || builtinModules.includes(specifier.split("/")[0]!)) return null;
  const parts = specifier.split("/");
  return specifier.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0]!;
}

const inside = (file: string, folders: readonly string[]): boolean => folders.some((d) => file === d || file.startsWith(`${d}/`));

/** "file: imports specifier" for every import of a file in `from` that `bad` refuses. */
function violations(sources: Sources, from: (file: string) => boolean, bad: (file: string, imp: Import) => boolean): string[] {
  const out: string[] = [];
  for (const [file, imports] of sources) {
    if (!from(file)) continue;
    for (const imp of imports) if (bad(file, imp)) out.push(`${file}: imports ${imp.specifier}`);
  }
  return out;
}

// ---- the rules, each a function of a source tree so that a synthetic tree can break it

/** src/engine imports only files inside src/engine: no other module, no package, no node:*. */
export function engineViolations(sources: Sources): string[] {
  return violations(sources, (f) => inside(f, ["src/engine"]), (f, imp) => {
    const local = resolveLocal(f, imp.specifier);
    return local === null || !inside(local, ["src/engine"]);
  });
}

/** No core module imports a tool, not even for a type: dependencies point inward. */
export function coreToolViolations(sources: Sources): string[] {
  return violations(sources, (f) => inside(f, CORE), (f, imp) => {
    const local = resolveLocal(f, imp.specifier);
    return local !== null && inside(local, TOOLS);
  });
}

/** Only src/cli imports src/cli: the command line is the outermost layer. */
export function cliViolations(sources: Sources): string[] {
  return violations(sources, (f) => !inside(f, [CLI]), (f, imp) => {
    const local = resolveLocal(f, imp.specifier);
    return local !== null && inside(local, [CLI]);
  });
}

/**
 * src/sequencer and src/replication import nothing from src/engine, not even a type: they
 * order and carry commands, they never match (wire → command lives in src/protocol).
 */
export function sequencerEngineViolations(sources: Sources): string[] {
  return violations(sources, (f) => inside(f, ["src/sequencer", "src/replication"]), (f, imp) => {
    const local = resolveLocal(f, imp.specifier);
    return local !== null && inside(local, ["src/engine"]);
  });
}

/**
 * The packages `entry` loads at run time, through every chain of imports; type-only imports load
 * nothing. Lazy imports are followed too (the code that makes them may run), except with
 * `eagerOnly`, for src/cli/main.ts, whose lazy imports are the commands, each loaded only when it runs.
 */
export function packagesLoaded(sources: Sources, entry: string, eagerOnly = false): Set<string> {
  const packages = new Set<string>();
  const seen = new Set<string>();
  const todo = [entry];
  for (let file = todo.pop(); file !== undefined; file = todo.pop()) {
    if (seen.has(file)) continue;
    seen.add(file);
    const imports = sources.get(file);
    if (imports === undefined) throw new Error(`${file} is imported but not found`);
    for (const imp of imports.filter((i) => !i.typeOnly && !(eagerOnly && i.lazy))) {
      const local = resolveLocal(file, imp.specifier);
      const pkg = local === null ? packageOf(imp.specifier) : null;
      if (local !== null) todo.push(local);
      else if (pkg !== null && !OPTIONAL_PACKAGES.has(pkg)) packages.add(pkg);
    }
  }
  return packages;
}

/** The module each command of src/cli/main.ts loads, read from its `import("./x.js")`. */
function commandModules(mainSource: string): Map<string, string> {
  const found = [...mainSource.matchAll(/^\s*(\w+): \{ load: async \(\) => \(await import\("\.\/([\w-]+)\.js"\)\)/gm)];
  return new Map(found.map((m) => [m[1]!, `${CLI}/${m[2]!}.ts`]));
}

/** Per command, the packages it loads that `dependencies` does not have, beside the devDependencies it declares. */
export function commandPackageProblems(sources: Sources, modules: Map<string, string>, declared: (name: string) => readonly string[], dependencies: ReadonlySet<string>): string[] {
  const out: string[] = [];
  for (const [name, module] of modules) {
    const loaded = new Set([...packagesLoaded(sources, `${CLI}/main.ts`, true), ...packagesLoaded(sources, module)]);
    const dev = [...loaded].filter((p) => !dependencies.has(p)).sort();
    const listed = [...declared(name)].sort();
    if (dev.join() !== listed.join()) out.push(`lockstep ${name} loads [${dev.join(", ")}] from outside dependencies but declares [${listed.join(", ")}]`);
  }
  return out;
}

describe("architecture", () => {
  const sources = readSources();
  const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { dependencies: Record<string, string>; devDependencies: Record<string, string> };
  const dependencies = new Set(Object.keys(pkg.dependencies));

  it("reads the whole source tree, and every folder of src/ is classified as core, tool or cli", () => {
    expect(sources.size).toBeGreaterThan(50);
    const folders = new Set([...sources.keys()].filter((f) => f.startsWith("src/")).map((f) => f.split("/").slice(0, 2).join("/")));
    for (const folder of folders) expect(inside(folder, [...CORE, ...TOOLS, CLI]), `${folder} is in none of CORE, TOOLS, CLI`).toBe(true);
  });

  it("src/engine imports nothing outside src/engine and nothing from node:*", () => {
    expect(engineViolations(sources)).toEqual([]);
  });

  it("no core module imports a tool", () => {
    expect(coreToolViolations(sources)).toEqual([]);
  });

  it("nothing outside src/cli imports src/cli", () => {
    expect(cliViolations(sources)).toEqual([]);
  });

  it("the sequencer and the replication link import nothing from src/engine", () => {
    expect(sequencerEngineViolations(sources)).toEqual([]);
  });

  it("the servers and clients load only dependencies; each tool command declares the devDependencies it loads", () => {
    const modules = commandModules(readFileSync(join(ROOT, CLI, "main.ts"), "utf8"));
    expect([...modules.keys()].sort()).toEqual(Object.keys(COMMANDS).sort());
    for (const core of ["sequencer", "replica", "client", "start", "stats", "dashboard"]) expect(COMMANDS[core]!.devDependencies ?? [], core).toEqual([]);
    expect(commandPackageProblems(sources, modules, (name) => COMMANDS[name]!.devDependencies ?? [], dependencies)).toEqual([]);
    for (const p of OPTIONAL_PACKAGES) expect(Object.keys(pkg.devDependencies), p).toContain(p);
  });
});

describe("architecture rules can fail", () => {
  const tree = (files: Record<string, string>): Sources => new Map(Object.entries(files).map(([f, code]) => [f, importsOf(code)]));

  it("reads static, multi-line, re-exported, dynamic and required imports, and tells type-only ones apart", () => {
    const code = [
      'import { a,\n  b } from "./x.js";', 'import type { T } from "../t.js";', 'import { type U, type V } from "u";', 'export { c } from "./c.js";',
      'import "./side.js";', 'const m = await import("./lazy.js");', 'require.resolve("uplot");', 'createRequire(import.meta.url).resolve("pino-pretty");',
      '// import { z } from "./commented.js";', 'const url = "ws://h/x"; import { w } from "./w.js";',
    ].join("\n");
    const eager = (specifier: string, typeOnly = false): Import => ({ specifier, typeOnly, lazy: false });
    const lazy = (specifier: string): Import => ({ specifier, typeOnly: false, lazy: true });
    expect(importsOf(code)).toEqual([
      eager("./x.js"), eager("../t.js", true), eager("u", true), eager("./c.js"), eager("./w.js"), eager("./side.js"), lazy("./lazy.js"), lazy("uplot"), lazy("pino-pretty"),
    ]);
  });

  it("the engine rule catches a sibling module, a package and node:*", () => {
    const t = tree({ "src/engine/a.ts": 'import { b } from "./b.js";\nimport { x } from "../protocol/x.js";\nimport fs from "node:fs";\nimport { pack } from "msgpackr";', "src/engine/b.ts": "" });
    expect(engineViolations(t)).toEqual(["src/engine/a.ts: imports ../protocol/x.js", "src/engine/a.ts: imports node:fs", "src/engine/a.ts: imports msgpackr"]);
  });

  it("the tool rule catches a core module importing a tool, even for a type, and lets tools import the core", () => {
    const t = tree({
      "src/replica/r.ts": 'import type { P } from "../tools/netsim/proxy.js";', "src/cluster/c.ts": 'import { bench } from "../../bench/peer.js";',
      "src/tools/drill/d.ts": 'import { Replica } from "../../replica/r.js";',
    });
    expect(coreToolViolations(t)).toEqual(["src/replica/r.ts: imports ../tools/netsim/proxy.js", "src/cluster/c.ts: imports ../../bench/peer.js"]);
  });

  it("the cli rule catches a tool or bench importing src/cli, and lets src/cli import itself", () => {
    const t = tree({ "src/tools/drill/g.ts": 'import type { Config } from "../../cli/config.js";', "bench/b.ts": 'import { main } from "../src/cli/main.js";', "src/cli/main.ts": 'import { USAGE } from "./args.js";' });
    expect(cliViolations(t)).toEqual(["src/tools/drill/g.ts: imports ../../cli/config.js", "bench/b.ts: imports ../src/cli/main.js"]);
  });

  it("the sequencer rule catches the sequencer or the link importing the engine, even a type, and lets protocol do it", () => {
    const t = tree({
      "src/sequencer/s.ts": 'import type { Command } from "../engine/index.js";', "src/replication/p.ts": 'import { Engine } from "../engine/engine.js";',
      "src/protocol/c.ts": 'import { Stp } from "../engine/index.js";', "src/engine/index.ts": "", "src/engine/engine.ts": "",
    });
    expect(sequencerEngineViolations(t)).toEqual(["src/sequencer/s.ts: imports ../engine/index.js", "src/replication/p.ts: imports ../engine/engine.js"]);
  });

  it("the package rule follows chains through files, skips type-only imports, and catches an undeclared devDependency", () => {
    const t = tree({
      "src/cli/main.ts": 'import { USAGE } from "./args.js";\nconst run = async () => (await import("./bench.js")).runBench;', "src/cli/args.ts": 'import { parseArgs } from "node:util";',
      "src/cli/bench.ts": 'import { peer } from "nodejs-order-book";',
      "src/cli/nodes.ts": 'import { S } from "../sequencer/s.js";\nimport type { L } from "pino";', "src/sequencer/s.ts": 'import { x } from "../tools/loadgen/nats.js";\nimport uws from "uWebSockets.js";',
      "src/tools/loadgen/nats.ts": 'import { connect } from "nats/lib/x.js";',
    });
    const modules = new Map([["sequencer", "src/cli/nodes.ts"]]);
    expect([...packagesLoaded(t, "src/cli/nodes.ts")].sort()).toEqual(["nats", "uWebSockets.js"]);
    expect(commandPackageProblems(t, modules, () => [], new Set(["uWebSockets.js"]))).toEqual(["lockstep sequencer loads [nats] from outside dependencies but declares []"]);
    expect(commandPackageProblems(t, modules, () => ["nats"], new Set(["uWebSockets.js"]))).toEqual([]);
    expect(commandPackageProblems(t, modules, () => ["nats", "benny"], new Set(["uWebSockets.js", "nats"]))).toHaveLength(1);
  });
});
