/**
 * Drills only, loaded into a node process with `node --import` (never imported by the system):
 * outgoing TCP connections to chosen loopback ports go to other ports instead. A standby finds
 * its leader by the URL the leader advertises in etcd, which names the leader's own port, so
 * without this there is no place to put a fault proxy on the link between two sequencer nodes;
 * with it each node reaches each other node through its own proxy, and the drill can cut, slow
 * or hold that one link.
 *
 * LOCKSTEP_DRILL_REDIRECT="7001=41001,7002=41002": connect to 127.0.0.1:7001 → 127.0.0.1:41001.
 * Only `net.connect`/`net.createConnection` are redirected, which is what the `ws` client uses.
 */
import net from "node:net";

const LOOPBACK = new Set(["127.0.0.1", "localhost", undefined]);

function table(spec: string | undefined): Map<number, number> {
  const m = new Map<number, number>();
  for (const pair of (spec ?? "").split(",").filter((p) => p !== "")) {
    const [from, to] = pair.split("=").map(Number);
    if (!Number.isSafeInteger(from) || !Number.isSafeInteger(to)) throw new Error(`LOCKSTEP_DRILL_REDIRECT: "${pair}" is not PORT=PORT`);
    m.set(from!, to!);
  }
  return m;
}

const ports = table(process.env.LOCKSTEP_DRILL_REDIRECT);
const original = net.connect;

function redirected(this: unknown, ...args: unknown[]): net.Socket {
  const first = args[0];
  if (typeof first === "object" && first !== null && !Array.isArray(first)) {
    const o = first as { port?: number | string; host?: string };
    const to = o.port === undefined ? undefined : ports.get(Number(o.port));
    if (to !== undefined && LOOPBACK.has(o.host)) args[0] = { ...o, port: to };
  } else if (typeof first === "number" || typeof first === "string") {
    const to = ports.get(Number(first));
    if (to !== undefined && LOOPBACK.has(typeof args[1] === "string" ? args[1] : undefined)) args[0] = to;
  }
  return (original as (...a: unknown[]) => net.Socket).apply(this, args);
}

if (ports.size > 0) {
  net.connect = redirected as typeof net.connect;
  net.createConnection = redirected as typeof net.createConnection;
}
