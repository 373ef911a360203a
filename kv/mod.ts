/**
 * A replicated key-value state machine to build on: the command codec
 * ({@linkcode kvSet}, {@linkcode kvCas}, {@linkcode kvDelete},
 * {@linkcode decodeKvCommand}) and {@linkcode MemoryStateMachine}, the map
 * they apply to, and {@linkcode kvRoutes}, its HTTP API as Hono routes
 * (`PUT`/`DELETE`/`GET /kv/:key`, `POST /kv/:key/cas`), which `examples/kv.ts`
 * serves. The simulator checks the state machine for linearizability.
 *
 * @example
 * ```ts
 * import { kvSet, MemoryStateMachine } from "./mod.ts";
 * const sm = new MemoryStateMachine();
 * await sm.apply([{ term: 1, index: 1, type: "normal", data: kvSet("k", "v") }]);
 * console.assert(sm.get("k") !== null);
 * ```
 *
 * @module
 */

export * from "./kv_command.ts";
export * from "./kv_state_machine.ts";
export * from "./kv_routes.ts";
