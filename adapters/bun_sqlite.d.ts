// The part of Bun's `bun:sqlite` module that adapters/bun_sqlite.ts uses, for
// type-checking under Deno, which has no types for it. The signatures follow
// Bun's own (bun-types), narrowed to what the adapter calls.

declare module "bun:sqlite" {
  /** A value bound to a `?` parameter. */
  export type SQLQueryBindings = string | number | bigint | boolean | null | Uint8Array;

  /** A prepared statement. */
  export class Statement {
    /** Runs the statement. */
    run(...params: SQLQueryBindings[]): { changes: number; lastInsertRowid: number | bigint };
    /** The first row (an object keyed by column name), or `null`. */
    get(...params: SQLQueryBindings[]): unknown;
    /** Every row. */
    all(...params: SQLQueryBindings[]): unknown[];
    /** Frees the statement. */
    finalize(): void;
  }

  /** A SQLite connection. */
  export class Database {
    constructor(
      filename?: string,
      options?: { readonly?: boolean; create?: boolean; readwrite?: boolean; strict?: boolean },
    );
    /** Runs SQL (several statements allowed when there are no bindings). */
    exec(sql: string, ...bindings: SQLQueryBindings[]): {
      changes: number;
      lastInsertRowid: number | bigint;
    };
    /** A cached prepared statement. */
    query(sql: string): Statement;
    /** A new prepared statement. */
    prepare(sql: string): Statement;
    /** Wraps `fn` in BEGIN … COMMIT (ROLLBACK if it throws). */
    transaction<A extends unknown[]>(fn: (...args: A) => void): (...args: A) => void;
    /** Closes the connection; with `throwOnError`, throws if it cannot. */
    close(throwOnError?: boolean): void;
  }
}
