// Small builders shared by storage and state-machine tests.
import assert from "node:assert/strict";
import type { Entry, LogId } from "../src/types.ts";

/** A blank entry. */
export function blank(term: number, index: number): Entry {
  return { term, index, type: "blank" };
}

/** A normal entry whose payload defaults to one byte, the index. */
export function normal(
  term: number,
  index: number,
  data: Uint8Array = new Uint8Array([index]),
): Entry {
  return { term, index, type: "normal", data };
}

/** Log ids as `term-index,…`. */
export function ids(entries: readonly Entry[] | readonly LogId[]): string {
  return entries.map((e) => `${e.term}-${e.index}`).join(",");
}

/** The error `p` rejects with (an Error); fails if it resolves. */
export async function rejection(p: unknown): Promise<Error> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof Error, `rejected with a non-Error: ${String(e)}`);
    return e;
  }
  assert.fail("expected a rejection");
}
