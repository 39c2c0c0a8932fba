/** Small helpers around uWebSockets.js shared by every node. */
import uWS from "uWebSockets.js";

/** Listens on host:port (0 = a free port); resolves with the listen token and the real port. */
export function listen(app: uWS.TemplatedApp, host: string, port: number, what: string): Promise<{ token: uWS.us_listen_socket; port: number }> {
  return new Promise((resolve, reject) => {
    app.listen(host, port, (token) => {
      if (!token) return reject(new Error(`${what}: cannot listen on ${host}:${port}`));
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
