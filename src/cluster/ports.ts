import { readFileSync } from "node:fs";
import { createServer } from "node:net";

/** How many random ports freePort tries before it gives up. */
export const FREE_PORT_TRIES_MAX = 64;
/** The lowest port freePort picks: below it are well-known and registered services' ports. */
const FREE_PORT_LOW = 20_000;
/** Linux's default ephemeral range starts here; read from /proc where it can be. */
const EPHEMERAL_LOW_DEFAULT = 32_768;

function ephemeralLow(): number {
  try {
    const low = Number(readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > FREE_PORT_LOW + 1_000 ? low : EPHEMERAL_LOW_DEFAULT;
  } catch {
    return EPHEMERAL_LOW_DEFAULT;
  }
}

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once("error", () => resolve(false));
    s.listen(port, "127.0.0.1", () => s.close(() => resolve(true)));
  });
}

/**
 * A free loopback port, for programs that cannot be given port 0 and asked afterwards (etcd,
 * haproxy, nodes that must keep their port across restarts). The port is picked at random
 * *below* the kernel's ephemeral range and checked by binding it: a port from the ephemeral
 * range (what binding port 0 gives) can be taken between the check and its use by any outgoing
 * connection's source port, which on a busy machine happened (a drill's replica could not
 * listen). Below the range only another explicit bind can take it.
 */
export async function freePort(): Promise<number> {
  const low = FREE_PORT_LOW;
  const high = ephemeralLow() - 1;
  for (let i = 0; i < FREE_PORT_TRIES_MAX; i++) {
    const port = low + Math.floor(Math.random() * (high - low + 1));
    if (await bindable(port)) return port;
  }
  throw new Error(`no free loopback port in ${low}..${high} after ${FREE_PORT_TRIES_MAX} tries`);
}
