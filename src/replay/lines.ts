/**
 * Reading replay input line by line, for both formats. A file streams through one fixed
 * buffer, so a full day of LOBSTER data (an orderbook file at 50 levels runs to gigabytes)
 * never has to fit in memory or in one string. Lines end with "\n" (a "\r\n" ending is
 * accepted); the last line may lack its newline. What is not a text file of lines is refused:
 * a NUL byte stops the run, and a line longer than LINE_BYTES_MAX is a bad line.
 */
import { isUtf8 } from "node:buffer";
import { closeSync, fstatSync, openSync, readSync } from "node:fs";

/** Bytes asked of the file per read: large enough that system calls cost nothing per line. */
export const READ_CHUNK_BYTES = 1 << 20;
/**
 * The longest line accepted. A LOBSTER row at 200 levels is under 10 KiB and a JSONL command
 * under 1 KiB; the limit is there so that a file without newlines is never held whole.
 */
export const LINE_BYTES_MAX = 1 << 20;

const NL = 0x0a;
const CR = 0x0d;
const NUL = 0x00;

/** A line that cannot be used: skipped and counted, or with --strict the end of the run. */
export class BadLine extends Error {
  constructor(readonly file: string, readonly line: number, readonly reason: string) {
    super(`${file} line ${line}: ${reason}`);
  }
}

/** Input that cannot be replayed at all (not a text file, two files that do not pair): the run stops. */
export class ReplayInputError extends Error {}

/** How a line's bytes become text: LOBSTER files are ASCII (latin1 maps every byte to one character, so nothing is hidden); JSONL is UTF-8, checked. */
export type LineEncoding = "latin1" | "utf8";

/** Opens a file to read, refusing a directory by name (reading one fails with a bare EISDIR). */
function openFile(file: string): number {
  const fd = openSync(file, "r");
  if (fstatSync(fd).isDirectory()) {
    closeSync(fd);
    throw new ReplayInputError(`${file} is a directory, not a file`);
  }
  return fd;
}

/** Limits of one reader; tests shrink them to reach chunk edges and overlong lines with small files. */
export interface LineLimits {
  readonly chunkBytes: number;
  readonly lineBytesMax: number;
}
const LIMITS: LineLimits = { chunkBytes: READ_CHUNK_BYTES, lineBytesMax: LINE_BYTES_MAX };

export class LineReader {
  /** Number of the line last returned (or skipped as too long), from 1. */
  lineNo = 0;
  /** False when the line last returned was the file's last and had no newline (a truncated file often ends so). */
  terminated = true;
  private readonly fd: number;
  private readonly buf: Buffer;
  /** The filled part of buf, start..end unread. */
  private view: Buffer;
  private start = 0;
  private end = 0;
  /** Where the search for the next newline resumes, so no byte is scanned twice. */
  private scan = 0;
  private eof = false;
  /** Bytes of the current line already dropped because it ran past LINE_BYTES_MAX. */
  private dropped = 0;

  constructor(readonly file: string, private readonly encoding: LineEncoding, private readonly limits: LineLimits = LIMITS) {
    this.buf = Buffer.alloc(limits.lineBytesMax + limits.chunkBytes);
    this.view = this.buf.subarray(0, 0);
    this.fd = openFile(file);
  }

  /** The next line without its ending, or null at the end of the file. Throws BadLine for an overlong line (which is then behind us). */
  next(): string | null {
    for (;;) {
      const nl = this.view.indexOf(NL, this.scan);
      if (nl >= 0) return this.take(nl, nl + 1);
      if (this.eof) return this.start < this.end || this.dropped > 0 ? this.take(this.end, this.end) : null;
      if (this.end - this.start > this.limits.lineBytesMax) {
        if (this.view.indexOf(NUL, this.start) >= 0) throw this.binary(this.lineNo + 1);
        this.dropped += this.end - this.start;
        this.start = this.end;
      }
      this.scan = this.end;
      this.fill();
    }
  }

  close(): void {
    closeSync(this.fd);
  }

  private take(lineEnd: number, next: number): string {
    const from = this.start;
    const dropped = this.dropped;
    this.lineNo++;
    this.terminated = next > lineEnd;
    this.start = next;
    this.scan = next;
    this.dropped = 0;
    if (dropped > 0 || lineEnd - from > this.limits.lineBytesMax) {
      throw new BadLine(this.file, this.lineNo, `longer than ${this.limits.lineBytesMax} bytes (${dropped + lineEnd - from}): not a line of this format`);
    }
    const bytes = this.buf.subarray(from, lineEnd > from && this.buf[lineEnd - 1] === CR ? lineEnd - 1 : lineEnd);
    if (bytes.indexOf(NUL) >= 0) throw this.binary(this.lineNo);
    if (this.encoding === "utf8" && !isUtf8(bytes)) throw new BadLine(this.file, this.lineNo, "not valid UTF-8 text");
    return bytes.toString(this.encoding);
  }

  private binary(line: number): ReplayInputError {
    return new ReplayInputError(`${this.file} line ${line}: contains a NUL byte: this is a binary file, not a text file of lines`);
  }

  /** Moves the unread bytes to the front and reads more after them. */
  private fill(): void {
    if (this.start > 0) {
      this.buf.copy(this.buf, 0, this.start, this.end);
      this.end -= this.start;
      this.scan -= this.start;
      this.start = 0;
    }
    const n = readSync(this.fd, this.buf, this.end, Math.min(this.limits.chunkBytes, this.buf.length - this.end), null);
    if (n === 0) this.eof = true;
    this.end += n;
    this.view = this.buf.subarray(0, this.end);
  }
}

/** Lines in a file as LineReader counts them (a last line without a newline counts), by scanning its bytes. */
export function countLines(file: string): number {
  const fd = openFile(file);
  const chunk = Buffer.alloc(READ_CHUNK_BYTES);
  let lines = 0;
  let last = NL;
  try {
    for (let n = readSync(fd, chunk, 0, chunk.length, null); n > 0; n = readSync(fd, chunk, 0, chunk.length, null)) {
      const view = chunk.subarray(0, n);
      for (let i = view.indexOf(NL); i >= 0; i = view.indexOf(NL, i + 1)) lines++;
      last = view[n - 1]!;
    }
  } finally {
    closeSync(fd);
  }
  return last === NL ? lines : lines + 1;
}

/** The most of one field an error message quotes, so that junk cannot flood the terminal. */
const FIELD_QUOTED_CHARS_MAX = 24;

/** Quotes a field for an error message: escaped, and cut short. */
export function quote(field: string): string {
  const short = field.length > FIELD_QUOTED_CHARS_MAX ? `${field.slice(0, FIELD_QUOTED_CHARS_MAX)}…` : field;
  return JSON.stringify(short);
}
