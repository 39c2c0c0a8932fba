/** Noticing a node that goes silent on a WebSocket, for the SDK's trade and feed connections. */
import { WebSocket } from "ws";

/** Pings per silence deadline: a live node answers several times before the deadline. */
const PINGS_PER_SILENCE = 4;

/**
 * Watches `ws` from now until it closes: every frame and pong counts as heard; every quarter of
 * `silenceMsMax()` it pings, or, when nothing has been heard for that long, calls `onSilent` and
 * drops the connection (terminate: no closing handshake over a link that delivers nothing).
 */
export function watchSilence(ws: WebSocket, silenceMsMax: () => number, onSilent: () => void): void {
  let heardAtMs = performance.now();
  const heard = (): void => { heardAtMs = performance.now(); };
  ws.on("message", heard);
  ws.on("pong", heard);
  const timer = setInterval(() => {
    // Closing already (its 'close' comes next): ping() would throw on a socket that is not open.
    if (ws.readyState !== WebSocket.OPEN) return;
    if (performance.now() - heardAtMs <= silenceMsMax()) return ws.ping();
    onSilent();
    ws.terminate();
  }, Math.max(1, Math.floor(silenceMsMax() / PINGS_PER_SILENCE)));
  ws.once("close", () => clearInterval(timer));
}
