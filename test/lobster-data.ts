import { existsSync } from "node:fs";
import { join } from "node:path";

/** The shared LOBSTER sample lives beside the repository, never inside it. */
export const LOBSTER_DIR = join(import.meta.dirname, "..", "..", "shared", "data", "lobster");
export const LOBSTER_MESSAGES = join(LOBSTER_DIR, "AAPL_2012-06-21_34200000_57600000_message_10.csv");
export const LOBSTER_BOOK = join(LOBSTER_DIR, "AAPL_2012-06-21_34200000_57600000_orderbook_10.csv");
export const HAVE_LOBSTER = existsSync(LOBSTER_MESSAGES) && existsSync(LOBSTER_BOOK);
if (!HAVE_LOBSTER) console.warn(`LOBSTER tests skipped: ${LOBSTER_DIR} is not there (it ships in shared/, beside the repository)`);
