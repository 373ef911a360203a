/**
 * Test tools for applications built on `@x/raft` (and for the library's own
 * tests): an in-process network with faults ({@linkcode MemoryNetwork}) and
 * a storage conformance suite ({@linkcode LOG_STORE_CASES}) to run against
 * any `LogStore` implementation. Web APIs only: usable under Deno
 * and Bun with any test runner.
 *
 * @example
 * ```ts
 * import { LOG_STORE_CASES, MemoryNetwork } from "./mod.ts";
 * const net = new MemoryNetwork();
 * net.partition([1, 2], [3]);
 * console.assert(!net.canReach(1, 3) && LOG_STORE_CASES.length > 0);
 * ```
 *
 * @module
 */

export * from "./memory_network.ts";
export * from "./log_store_conformance.ts";
export * from "./linearizability.ts";
export * from "./large_snapshot_state_machine.ts";
