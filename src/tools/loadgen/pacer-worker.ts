/**
 * The pacer's thread: sleeps with Atomics.wait until each intended send time, publishes how
 * many sends are due in shared memory, and wakes the main thread with one message unless a
 * wake-up is already pending (so a main thread that falls behind gets one message for many
 * sends, not a queue of them). It never touches a socket: sending and receiving both stay on
 * the main thread, whose event loop takes receive timestamps as frames arrive.
 */
import { parentPort, workerData } from "node:worker_threads";

export const DUE = 0;
export const WAKE_PENDING = 1;
export const STOP = 2;
/** Where in the shared buffer the worker writes its t0 (Float64, ns on process.hrtime's clock), 8-byte aligned. */
export const T0_BYTE_OFFSET = 16;

interface PacerData { shared: SharedArrayBuffer; startDelayNs: number; intervalNs: number; total: number }

const nowNs = (): number => Number(process.hrtime.bigint());

function run(d: PacerData): void {
  const s = new Int32Array(d.shared, 0, 3);
  // The schedule starts once this thread runs (hrtime's clock is the process's, the same in every thread).
  const t0Ns = nowNs() + d.startDelayNs;
  new Float64Array(d.shared, T0_BYTE_OFFSET, 1)[0] = t0Ns;
  const sleeper = new Int32Array(new SharedArrayBuffer(4));
  for (let i = 0; i < d.total; i++) {
    const due = t0Ns + i * d.intervalNs;
    for (let wait = due - nowNs(); wait > 0; wait = due - nowNs()) Atomics.wait(sleeper, 0, 0, wait / 1e6);
    if (Atomics.load(s, STOP) !== 0) break;
    Atomics.store(s, DUE, i + 1);
    if (Atomics.compareExchange(s, WAKE_PENDING, 0, 1) === 0) parentPort!.postMessage(0);
  }
  parentPort!.postMessage(1);
}

if (parentPort !== null && workerData !== null && typeof workerData === "object") run(workerData as PacerData);
