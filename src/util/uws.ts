/** Small helpers around uWebSockets.js shared by every node. */
import uWS from "uWebSockets.js";
import { ListenError } from "./listen-error.js";

/** Listens on host:port (0 = a free port); resolves with the listen token and the real port. */
export function listen(app: uWS.TemplatedApp, host: string, port: number, what: string): Promise<{ token: uWS.us_listen_socket; port: number }> {
  return new Promise((resolve, reject) => {
    app.listen(host, port, (token) => {
      if (!token) return reject(new ListenError(what, host, port));
      resolve({ token, port: uWS.us_socket_local_port(token) });
    });
  });
}

/** Accepts a WebSocket upgrade with this connection's initial user data. */
export function upgradeWith<T>(data: T): (res: uWS.HttpResponse, req: uWS.HttpRequest, ctx: uWS.us_socket_context_t) => void {
  return (res, req, ctx) => {
    res.upgrade(data, req.getHeader("sec-websocket-key"), req.getHeader("sec-websocket-protocol"), req.getHeader("sec-websocket-extensions"), ctx);
  };
}

/** How long stopping nodes wait for peers to answer a close before cutting the connection. */
export const STOP_GRACE_MS = 1_000;

/**
 * Ends every connection in `sets` with `code`, then resolves once all have closed; any still
 * open after STOP_GRACE_MS (a peer that never answers the close) is cut.
 */
export function closeAll(sets: readonly Set<uWS.WebSocket<{ closed: boolean }>>[] | readonly Set<uWS.WebSocket<never>>[], code: number, why: string): Promise<void> {
  const open = (): uWS.WebSocket<{ closed: boolean }>[] => (sets as Set<uWS.WebSocket<{ closed: boolean }>>[]).flatMap((s) => [...s]);
  for (const ws of open()) ws.end(code, why);
  return new Promise((done) => {
    const started = performance.now();
    const check = (): void => {
      const left = open();
      if (left.length === 0) return done();
      if (performance.now() - started >= STOP_GRACE_MS) {
        for (const ws of left) ws.close();
        return done();
      }
      setTimeout(check, 10);
    };
    check();
  });
}
