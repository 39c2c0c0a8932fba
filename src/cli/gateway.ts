/**
 * `lockstep gateway`: one WebSocket endpoint (/trade and /feed, as the nodes have) in front of
 * every shard of a shard map, read from --shard-map FILE or from etcd (--shards-etcd, watched).
 * With --config F, the configuration's auth section: logins are checked with its client keys.
 * Prints one JSON ready line on stdout when listening; stops cleanly on SIGTERM or SIGINT.
 */
import { Gateway } from "../gateway/gateway.js";
import { shardMapFromEtcd, shardMapFromFile } from "../gateway/map-source.js";
import { Authenticator, loadSecret } from "../protocol/auth.js";
import { loadConfig } from "../config/config.js";
import { ShardMapError, type ShardMap } from "../shard/map.js";
import { parse, portArg, UserError } from "./args.js";
import { makeLogger } from "./log.js";
import { untilSignal } from "./until-signal.js";

/** The auth a configuration asks for: its client keys' authenticator and their secrets. */
function authOf(path: string | boolean | undefined): ConstructorParameters<typeof Gateway>[0]["auth"] {
  if (typeof path !== "string") return undefined;
  const cfg = loadConfig(path);
  if (cfg.auth === undefined) return undefined;
  try {
    const keys = cfg.auth.clientKeys;
    return { clients: new Authenticator(keys, cfg.auth.skewMsMax * 1000), secrets: new Map(keys.map((k) => [k.keyId, loadSecret(k)])) };
  } catch (err) {
    throw new UserError((err as Error).message);
  }
}

export async function runGateway(args: string[]): Promise<number> {
  const { values: v } = parse(args, { "shard-map": { type: "string" }, "shards-etcd": { type: "string" }, port: { type: "string" }, host: { type: "string" }, config: { type: "string" } });
  const given = ["shard-map", "shards-etcd"].filter((k) => typeof v[k] === "string");
  if (given.length !== 1) throw new UserError("gateway needs one of --shard-map FILE or --shards-etcd URL[,URL…]", 2);
  const host = typeof v.host === "string" ? v.host : "127.0.0.1";
  const port = portArg(v.port, 7300);
  const auth = authOf(v.config);
  const log = makeLogger("gateway");
  let map: ShardMap;
  let follow: ((onMap: (m: ShardMap) => void) => Promise<() => Promise<void>>) | null = null;
  try {
    if (typeof v["shard-map"] === "string") map = shardMapFromFile(v["shard-map"]);
    else {
      const src = await shardMapFromEtcd(String(v["shards-etcd"]).split(","), log);
      map = src.map;
      follow = src.follow;
    }
  } catch (err) {
    if (err instanceof ShardMapError) throw new UserError(err.message);
    throw err;
  }
  const gw = new Gateway({ host, port, map, log, ...(auth === undefined ? {} : { auth }) });
  const listening = await gw.start().catch((err: Error) => { throw new UserError(err.message); });
  const unwatch = follow === null ? null : await follow((m) => gw.setMap(m));
  const base = `${host}:${listening}`;
  log.info({ port: listening, mapVersion: map.version, auth: auth !== undefined }, "gateway listening");
  process.stdout.write(`${JSON.stringify({ ready: true, role: "gateway", port: listening, trade: `ws://${base}/trade`, feed: `ws://${base}/feed`, stats: `http://${base}/stats`, map_version: map.version })}\n`);
  return untilSignal(async () => {
    await unwatch?.();
    await gw.stop();
    log.info("gateway stopped");
  });
}
