/**
 * Test tools for applications built on `@x/raft` (and for the library's own
 * tests): an in-process network with faults ({@linkcode MemoryNetwork}) and
 * storage conformance suites ({@linkcode LOG_STORE_CASES},
 * {@linkcode SNAPSHOT_STORE_CASES}, {@linkcode STATE_MACHINE_CASES}) to run
 * against any `LogStore`, `SnapshotStore` or `StateMachine` implementation,
 * and a deterministic simulator of whole clusters ({@linkcode Simulator}:
 * virtual time, faults, invariants after every step, linearizability of
 * client histories). Web APIs only: usable under Deno and Bun with any test
 * runner.
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
export * from "./snapshot_store_conformance.ts";
export * from "./state_machine_conformance.ts";
export * from "./linearizability.ts";
export * from "./register_history.ts";
export * from "./simulator.ts";
export * from "./sim_clock.ts";
export * from "./sim_drain.ts";
export * from "./sim_invariants.ts";
export * from "./sim_profile.ts";
export * from "./sim_store.ts";
export * from "./sim_workload.ts";
export * from "./large_snapshot_state_machine.ts";
export * from "./counting_state_machine.ts";
