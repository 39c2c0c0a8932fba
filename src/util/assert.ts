/**
 * Assertions for invariants: a failed one is a programmer error and throws at once, with the
 * reason. Operating errors (bad input, a peer's refusal) never come here: they get reason codes.
 * Used in pairs where a boundary is crossed (record encode/decode, journal append/replay,
 * subscriber contiguity), so that a bug shows where it happened rather than downstream.
 */
export class AssertionError extends Error {
  override readonly name = "AssertionError";
}

export function assert(condition: boolean, why: string): asserts condition {
  if (!condition) throw new AssertionError(why);
}
