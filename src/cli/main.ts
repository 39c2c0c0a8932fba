/**
 * The `lockstep` command: parses arguments, builds what the subcommand needs, runs it. No
 * business logic lives here. Errors caused by the user (bad flags, bad files) print one plain
 * line and exit 2 (usage) or 1 (input); set LOCKSTEP_DEBUG=1 to see stack traces of bugs.
 */
import { USAGE, UserError } from "./args.js";
import { ConfigError } from "../config/config.js";
import { ListenError } from "../util/listen-error.js";

type Run = (args: string[]) => Promise<number>;

interface Command {
  /** Loads the command's module when the command runs, never before. */
  load: () => Promise<Run>;
  /**
   * The devDependencies this command's module loads. Only tools have any: the servers run from
   * an install without devDependencies (`npm ci --omit=dev`). test/architecture.test.ts
   * computes these lists from the imports and fails when one is out of date.
   */
  devDependencies?: readonly string[];
}

/**
 * Every subcommand, each loaded on its own: importing them all at start would make
 * `lockstep sequencer` load the benchmarks and their peers, which a production install lacks.
 */
export const COMMANDS: Readonly<Record<string, Command>> = {
  start: { load: async () => (await import("./start.js")).runStart },
  sequencer: { load: async () => (await import("./nodes.js")).runSequencer },
  replica: { load: async () => (await import("./nodes.js")).runReplica },
  client: { load: async () => (await import("./client.js")).runClient },
  stats: { load: async () => (await import("./stats.js")).runStats },
  dashboard: { load: async () => (await import("./dashboard.js")).runDashboard },
  replay: { load: async () => (await import("./replay.js")).runReplay },
  drill: { load: async () => (await import("./drill.js")).runDrill },
  shards: { load: async () => (await import("./shards.js")).runShards },
  gateway: { load: async () => (await import("./gateway.js")).runGateway },
  bench: { load: async () => (await import("./bench.js")).runBench, devDependencies: ["cli-progress", "nats", "nodejs-order-book"] },
  relay: { load: async () => (await import("./relay.js")).runRelay, devDependencies: ["nats"] },
};

/** The packages of `names` that cannot be resolved from here, i.e. are not installed. */
export function missingPackages(names: readonly string[]): string[] {
  return names.filter((name) => {
    try {
      import.meta.resolve(name);
      return false;
    } catch {
      return true;
    }
  });
}

/** The command's run function, or a UserError saying in one line which tool packages are missing. */
async function load(name: string, command: Command): Promise<Run> {
  const missing = missingPackages(command.devDependencies ?? []);
  if (missing.length > 0) {
    throw new UserError(`"${name}" is a development tool and needs the devDependencies, which this install lacks (missing: ${missing.join(", ")}); install them with \`npm ci\` in a clone of the repository (not with --omit=dev)`);
  }
  return command.load();
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  try {
    if (name === undefined || name === "help" || name === "--help" || name === "-h") {
      process.stdout.write(USAGE);
      return name === undefined ? 2 : 0;
    }
    const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
    if (command === undefined) throw new UserError(`unknown command "${name}"\n\n${USAGE}`, 2);
    const run = await load(name, command);
    return await run(rest);
  } catch (err) {
    return reportError(err);
  }
}

/** One line on stderr for anything a command throws, and the exit code that goes with it. */
function reportError(err: unknown): number {
  if (err instanceof UserError) {
    process.stderr.write(`lockstep: ${err.message}\n`);
    return err.exitCode;
  }
  if (err instanceof ConfigError || err instanceof ListenError) {
    process.stderr.write(`lockstep: ${err.message}\n`);
    return 1;
  }
  const e = err as NodeJS.ErrnoException;
  if (e.code === "ENOENT" || e.code === "EACCES" || e.code === "EISDIR") {
    process.stderr.write(`lockstep: cannot read ${e.path ?? "file"}: ${e.code === "ENOENT" ? "no such file" : e.code}\n`);
    return 1;
  }
  if (e.code === "ERR_MODULE_NOT_FOUND") {
    // A module that a command's list above does not name: an incomplete install, not a bug in the command.
    process.stderr.write(`lockstep: the installation is incomplete: ${e.message.split("\n")[0]} (reinstall with \`npm ci\`)\n`);
    return 1;
  }
  process.stderr.write(`lockstep: internal error: ${e.message} (a bug; rerun with LOCKSTEP_DEBUG=1 for details)\n`);
  if (process.env.LOCKSTEP_DEBUG === "1") process.stderr.write(`${e.stack ?? ""}\n`);
  return 70;
}
