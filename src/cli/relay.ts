/**
 * `lockstep relay seq|replica|nats-replica`: the floor's nodes and the NATS peer's consumers
 * for `lockstep bench e2e` (src/tools/loadgen/relay.ts, src/tools/loadgen/nats.ts). A tool, kept
 * apart from `lockstep sequencer` and `lockstep replica` so that the servers never load the
 * benchmark's NATS client.
 */
import { startNatsReplica } from "../tools/loadgen/nats.js";
import { startReplicaRelay, startSeqRelay } from "../tools/loadgen/relay.js";
import { parse, portArg, UserError } from "./args.js";
import { untilSignal } from "./until-signal.js";

export async function runRelay(args: string[]): Promise<number> {
  const [role, ...rest] = args;
  const { values: v } = parse(rest, { port: { type: "string" }, host: { type: "string" }, upstream: { type: "string" }, nats: { type: "string" }, reports: { type: "boolean" } });
  const host = String(v.host ?? "127.0.0.1");
  if (role === "nats-replica") {
    if (v.nats === undefined) throw new UserError("relay nats-replica needs --nats URL", 2);
    const stop = await startNatsReplica(String(v.nats), v.reports === true);
    process.stdout.write(`${JSON.stringify({ ready: true, role: "relay-nats-replica" })}\n`);
    return untilSignal(() => { void stop().finally(() => process.exit(0)); });
  }
  if (role !== "seq" && role !== "replica") throw new UserError(`relay needs a role: seq, replica or nats-replica${role === undefined ? "" : ` (not "${role}")`}`, 2);
  if (role === "replica" && v.upstream === undefined) throw new UserError("relay replica needs --upstream URL (the seq relay's /replicate)", 2);
  const port = role === "seq" ? await startSeqRelay(host, portArg(v.port, 0)) : await startReplicaRelay(host, portArg(v.port, 0), String(v.upstream));
  process.stdout.write(`${JSON.stringify({ ready: true, role: `relay-${role}`, port, stats: `http://${host}:${port}/stats` })}\n`);
  return untilSignal(() => process.exit(0));
}
