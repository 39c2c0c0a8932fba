import { createServer } from "node:net";

/**
 * A free loopback port, by binding port 0 and closing it again. For programs that cannot be
 * given port 0 and asked afterwards (etcd, haproxy, nodes that must keep their port across
 * restarts); another process could take it in between, which on loopback in a test is rare.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}
