/**
 * The `lockstep` command: parses arguments, builds what the subcommand needs, runs it. No
 * business logic lives here. Errors caused by the user (bad flags, bad files) print one plain
 * line and exit 2 (usage) or 1 (input); set LOCKSTEP_DEBUG=1 to see stack traces of bugs.
 */
import { USAGE, UserError } from "./args.js";
import { ConfigError } from "../config/config.js";
import { runBench } from "./bench.js";
import { runReplay } from "./replay.js";
import { runClient } from "./client.js";
import { runDrill } from "./drill.js";
import { runStats } from "./stats.js";
import { runRelay, runReplica, runSequencer } from "./nodes.js";
import { runStart } from "./start.js";
import { runDashboard } from "./dashboard.js";

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case "start":
        return await runStart(rest);
      case "sequencer":
        return await runSequencer(rest);
      case "replica":
        return await runReplica(rest);
      case "relay":
        return await runRelay(rest);
      case "client":
        return await runClient(rest);
      case "drill":
        return await runDrill(rest);
      case "stats":
        return await runStats(rest);
      case "replay":
        return await runReplay(rest);
      case "bench":
        return await runBench(rest);
      case "dashboard":
        return await runDashboard(rest);
      case undefined:
      case "help":
      case "--help":
      case "-h":
        process.stdout.write(USAGE);
        return command === undefined ? 2 : 0;
      default:
        throw new UserError(`unknown command "${command}"\n\n${USAGE}`, 2);
    }
  } catch (err) {
    if (err instanceof UserError) {
      process.stderr.write(`lockstep: ${err.message}\n`);
      return err.exitCode;
    }
    if (err instanceof ConfigError) {
      process.stderr.write(`lockstep: ${err.message}\n`);
      return 1;
    }
    const e = err as NodeJS.ErrnoException;
    if (e.code === "ENOENT" || e.code === "EACCES" || e.code === "EISDIR") {
      process.stderr.write(`lockstep: cannot read ${e.path ?? "file"}: ${e.code === "ENOENT" ? "no such file" : e.code}\n`);
      return 1;
    }
    process.stderr.write(`lockstep: internal error: ${e.message} (a bug; rerun with LOCKSTEP_DEBUG=1 for details)\n`);
    if (process.env.LOCKSTEP_DEBUG === "1") process.stderr.write(`${e.stack ?? ""}\n`);
    return 70;
  }
}
