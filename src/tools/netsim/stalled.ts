/**
 * A WebSocket client that sends one frame and then never reads again: over plain TCP, it does
 * the upgrade handshake, sends one masked binary frame, and pauses its socket. What a stalled
 * market-data subscriber or a frozen replica looks like to a node.
 */
import { randomBytes } from "node:crypto";
import { connect, type Socket } from "node:net";

export async function stalledSubscriber(port: number, path: string, frame: Uint8Array): Promise<Socket> {
  const sock = connect(port, "127.0.0.1");
  await new Promise((r) => sock.once("connect", r));
  sock.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${randomBytes(16).toString("base64")}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
  await new Promise<void>((resolve) => {
    let head = "";
    const onData = (d: Buffer): void => {
      head += d.toString("latin1");
      if (head.includes("\r\n\r\n")) {
        sock.off("data", onData);
        resolve();
      }
    };
    sock.on("data", onData);
  });
  sock.pause();
  const mask = randomBytes(4);
  const n = frame.length;
  const header = n < 126 ? Buffer.from([0x82, 0x80 | n]) : Buffer.from([0x82, 0x80 | 126, n >> 8, n & 255]);
  sock.write(Buffer.concat([header, mask, Buffer.from(frame.map((b, i) => b ^ mask[i % 4]!))]));
  return sock;
}
