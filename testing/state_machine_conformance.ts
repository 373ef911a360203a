/**
 * A conformance suite for {@linkcode StateMachine} implementations: apply
 * order and exactly-once, responses, snapshot build and install (round trip,
 * chained, in odd chunks, failed midway), snapshots taken while entries keep
 * being applied, and recovery on start. Each case gets a
 * {@linkcode StateMachineHarness}, opens the state machines it needs through
 * it, exercises one part of the contract, releases them, and throws an
 * `Error` describing the first mismatch. It depends on no test framework
 * and uses Web APIs only; run each case as one test of yours.
 *
 * The suite knows nothing of your commands: the harness supplies them
 * (`command(i)`, a valid command for the i-th entry) and a view of the
 * application state as plain data (`view(sm)`). Cases compare views and
 * responses between replicas — one that applied entries one at a time,
 * one that applied them in batches, one restored from a snapshot, one
 * restarted — so commands whose responses depend on the state (a counter,
 * a write that returns the previous value of one of a few keys) let the
 * suite see a lost, repeated or reordered entry.
 *
 * Snapshots and apply: the runtime never applies entries while a
 * `buildSnapshot()` is pending (see the `StateMachine` contract), so no case
 * does; but a built snapshot is read — sent to peers — while entries go on
 * being applied, and must keep the state it was built at (`snapshot during
 * apply:` cases). A snapshot that a newer one replaced need not stay
 * readable (a durable store may delete it); the current one must.
 *
 * Cases whose `requires` includes `"restart"` (named `recovery:`) check what
 * survives a crash and need the harness's `restart` hook: after a restart
 * `appliedState()` may be anywhere from the last snapshot to the last entry
 * applied, but the state must be the one at that point, and re-applying the
 * entries after it must give the same responses. Skip them (and say why)
 * for a state machine that keeps nothing across a restart — a node using one
 * must then start from an empty log every time.
 *
 * @module
 */

import type { AppliedState, StateMachine } from "../src/storage.ts";
import type { Entry, LogId, Membership, RaftNode, SnapshotMeta } from "../src/types.ts";

/**
 * How a case gets the state machines it tests, the commands it applies, and
 * what it compares.
 *
 * @example
 * ```ts
 * import type { StateMachineHarness } from "./state_machine_conformance.ts";
 * import { CountingStateMachine } from "./counting_state_machine.ts";
 * const harness: StateMachineHarness<number> = {
 *   open: () => Promise.resolve(new CountingStateMachine()),
 *   command: () => new Uint8Array([1]),
 *   view: (sm) => (sm as CountingStateMachine).count,
 * };
 * ```
 */
export interface StateMachineHarness<R = unknown> {
  /**
   * A new state machine with an empty state, on storage of its own: each
   * call gives an independent replica (a case may open several).
   */
  open(): Promise<StateMachine<R>>;
  /**
   * The payload of the normal entry at log index `i` (1, 2, …): a valid
   * command of your application, the same bytes for the same `i`.
   */
  command(i: number): Uint8Array;
  /**
   * The application state as plain data (a copy, not a live reference):
   * two replicas that applied the same entries must give equal views.
   * `Uint8Array`s and `Map`s are compared by content.
   */
  view(sm: StateMachine<R>): Promise<unknown> | unknown;
  /**
   * Restarts a state machine as after a crash: the case no longer uses
   * `sm`; open a new one on the same storage, holding what `sm` made
   * durable. Cases that need it list `"restart"` in `requires`.
   */
  restart?(sm: StateMachine<R>): Promise<StateMachine<R>>;
  /** Releases a state machine at the end of a case (e.g. closes its snapshot store). */
  close?(sm: StateMachine<R>): Promise<void>;
}

/**
 * The optional hooks of a {@linkcode StateMachineHarness} a case needs.
 *
 * @example
 * ```ts
 * import type { StateMachineHook } from "./state_machine_conformance.ts";
 * const hook: StateMachineHook = "restart";
 * ```
 */
export type StateMachineHook = "restart";

/**
 * One conformance case.
 *
 * @example
 * ```ts
 * import { STATE_MACHINE_CASES, type StateMachineCase } from "./state_machine_conformance.ts";
 * const inMemory: StateMachineCase[] = STATE_MACHINE_CASES.filter((c) => c.requires.length === 0);
 * ```
 */
export interface StateMachineCase {
  /** What the case checks, e.g. `"apply: lastApplied follows every batch"`. */
  readonly name: string;
  /** The harness hooks the case needs (it throws without them). */
  readonly requires: readonly StateMachineHook[];
  /**
   * Runs the case: resolves if the state machine conforms, rejects with an
   * `Error` describing the first mismatch otherwise.
   */
  run<R>(harness: StateMachineHarness<R>): Promise<void>;
}

// ------------------------------------------------------------------ helpers

function _describe(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) => {
    if (x instanceof Uint8Array) {
      const head = [...x.subarray(0, 8)].join(",");
      return `Uint8Array(${x.length})[${head}${x.length > 8 ? ",…" : ""}]`;
    }
    if (x instanceof Map) return { Map: [...x.entries()] };
    if (x === undefined) return "undefined";
    return x;
  }) ?? String(v);
}

function _equal(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (a instanceof Uint8Array || b instanceof Uint8Array) {
    if (!(a instanceof Uint8Array) || !(b instanceof Uint8Array) || a.length !== b.length) {
      return false;
    }
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
    return true;
  }
  if (a instanceof Map || b instanceof Map) {
    if (!(a instanceof Map) || !(b instanceof Map) || a.size !== b.size) return false;
    for (const [k, v] of a) if (!b.has(k) || !_equal(v, b.get(k))) return false;
    return true;
  }
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    return a.every((x, i) => _equal(x, b[i]));
  }
  if (typeof a === "object" && typeof b === "object" && a !== null && b !== null) {
    const ka = Object.keys(a).filter((k) => (a as Record<string, unknown>)[k] !== undefined);
    const kb = Object.keys(b).filter((k) => (b as Record<string, unknown>)[k] !== undefined);
    if (ka.length !== kb.length) return false;
    return ka.every((k) =>
      _equal((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])
    );
  }
  return false;
}

function check(condition: boolean, message: string): asserts condition {
  if (!condition) throw new Error(message);
}

function checkEqual(actual: unknown, expected: unknown, what: string): void {
  if (!_equal(actual, expected)) {
    throw new Error(`${what}: expected ${_describe(expected)}, got ${_describe(actual)}`);
  }
}

async function checkRejects(call: () => unknown, what: string): Promise<void> {
  let rejected = false;
  try {
    await call();
  } catch {
    rejected = true;
  }
  check(rejected, `${what}: expected a rejection, but it resolved`);
}

function _idView(id: LogId | null | undefined): unknown {
  return id === null || id === undefined ? null : { term: id.term, index: id.index };
}

function _membershipView(m: Membership): unknown {
  check(m !== null && typeof m === "object", "a membership is missing");
  check(m.nodes instanceof Map, "membership.nodes must be a Map");
  const nodes = [...m.nodes.entries()]
    .map(([id, node]: [number, RaftNode]): [number, string] => [id, node.addr])
    .sort((x, y) => x[0] - y[0]);
  return { configs: m.configs.map((c) => [...c]), nodes, clusterId: m.clusterId };
}

function _appliedView(s: AppliedState): unknown {
  return {
    lastApplied: _idView(s.lastApplied),
    membershipLogId: _idView(s.membership.logId),
    membership: _membershipView(s.membership.membership),
  };
}

function _metaView(m: SnapshotMeta): unknown {
  return {
    lastLogId: _idView(m.lastLogId),
    membershipLogId: _idView(m.lastMembership.logId),
    membership: _membershipView(m.lastMembership.membership),
    snapshotId: m.snapshotId,
  };
}

async function _readAll(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let size = 0;
  const reader = stream.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    check(value instanceof Uint8Array, "a snapshot stream must yield Uint8Array chunks");
    parts.push(value.slice());
    size += value.length;
  }
  const out = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** A stream of `bytes` in chunks of `size` (copies). */
function _chunks(bytes: Uint8Array, size: number): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (at >= bytes.length) {
        controller.close();
        return;
      }
      controller.enqueue(bytes.slice(at, at + size));
      at += size;
    },
  });
}

/** A stream that yields the first half of `bytes`, then errors (a transfer cut off). */
function _failingStream(bytes: Uint8Array): ReadableStream<Uint8Array> {
  let sent = false;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (!sent) {
        sent = true;
        controller.enqueue(bytes.slice(0, Math.floor(bytes.length / 2)));
        return;
      }
      controller.error(new Error("state machine conformance: the connection dropped"));
    },
  });
}

/** The voter set of the membership entry at `index`, so that each one differs. */
function _membershipAt(index: number): Membership {
  const voters = [1, 2, 3, 4 + (index % 5)];
  return {
    configs: [voters],
    nodes: new Map([...voters, 20 + index].map((id) => [id, { addr: `http://node-${id}` }])),
    clusterId: "sm-conformance",
  };
}

/**
 * The entry at `index` of the log every case applies: terms rise every 10
 * entries; every 7th entry is blank, every 12th (from 3) a membership
 * change; the rest are the harness's commands.
 */
function entryAt<R>(h: StateMachineHarness<R>, index: number): Entry {
  const term = 1 + Math.floor(index / 10);
  if (index % 12 === 3) {
    return { term, index, type: "membership", membership: _membershipAt(index) };
  }
  if (index % 7 === 0) return { term, index, type: "blank" };
  return { term, index, type: "normal", data: h.command(index) };
}

/** Entries `from..to` of the log. */
function entries<R>(h: StateMachineHarness<R>, from: number, to: number): Entry[] {
  const out: Entry[] = [];
  for (let i = from; i <= to; i++) out.push(entryAt(h, i));
  return out;
}

function _lastMembershipUpTo(index: number): { logId: LogId | null; membership: unknown } {
  for (let i = index; i >= 1; i--) {
    if (i % 12 === 3) {
      return {
        logId: { term: 1 + Math.floor(i / 10), index: i },
        membership: _membershipView(_membershipAt(i)),
      };
    }
  }
  return { logId: null, membership: { configs: [], nodes: [], clusterId: "" } };
}

/** What `appliedState()` must say once entries 1..index are applied. */
function _expectedApplied(index: number): unknown {
  const m = _lastMembershipUpTo(index);
  return {
    lastApplied: index === 0 ? null : { term: 1 + Math.floor(index / 10), index },
    membershipLogId: _idView(m.logId),
    membership: m.membership,
  };
}

async function apply<R>(sm: StateMachine<R>, batch: readonly Entry[]): Promise<(R | undefined)[]> {
  const out = await sm.apply(batch);
  check(Array.isArray(out), `apply must answer with an array, got ${_describe(out)}`);
  check(
    out.length === batch.length,
    `apply of ${batch.length} entries answered ${out.length} responses`,
  );
  return out;
}

async function checkApplied<R>(sm: StateMachine<R>, index: number, what: string): Promise<void> {
  checkEqual(_appliedView(await sm.appliedState()), _expectedApplied(index), what);
}

/** Runs `body` with the state machines it opens through `open`, releasing each afterwards. */
async function withMachines<R>(
  h: StateMachineHarness<R>,
  body: (
    open: () => Promise<StateMachine<R>>,
    track: (sm: StateMachine<R>) => void,
  ) => Promise<void>,
): Promise<void> {
  const opened: StateMachine<R>[] = [];
  const track = (sm: StateMachine<R>): void => {
    opened.push(sm);
  };
  try {
    await body(async () => {
      const sm = await h.open();
      opened.push(sm);
      return sm;
    }, track);
  } finally {
    if (h.close !== undefined) {
      for (const sm of opened.reverse()) await h.close(sm).catch(() => {});
    }
  }
}

/** A replica that applied entries 1..index one batch of `batch` at a time; its view and responses. */
async function reference<R>(
  h: StateMachineHarness<R>,
  open: () => Promise<StateMachine<R>>,
  index: number,
): Promise<{ sm: StateMachine<R>; views: unknown[]; responses: (R | undefined)[] }> {
  const sm = await open();
  const views: unknown[] = [await h.view(sm)];
  const responses: (R | undefined)[] = [];
  for (let i = 1; i <= index; i++) {
    responses.push(...(await apply(sm, [entryAt(h, i)])));
    views.push(await h.view(sm));
  }
  return { sm, views, responses };
}

async function restartOf<R>(
  h: StateMachineHarness<R>,
  sm: StateMachine<R>,
): Promise<StateMachine<R>> {
  check(h.restart !== undefined, "this case needs the harness's restart hook");
  return await h.restart(sm);
}

function _case(
  name: string,
  body: <R>(
    h: StateMachineHarness<R>,
    open: () => Promise<StateMachine<R>>,
    track: (sm: StateMachine<R>) => void,
  ) => Promise<void>,
  requires: readonly StateMachineHook[] = [],
): StateMachineCase {
  return {
    name,
    requires,
    run<R>(h: StateMachineHarness<R>): Promise<void> {
      return withMachines(h, async (open, track) => {
        if (requires.includes("restart")) {
          check(h.restart !== undefined, "this case needs the harness's restart hook");
        }
        await body(h, open, track);
      });
    },
  };
}

/**
 * Checks that `sm`, whose appliedState says it applied up to L, holds the
 * state of the reference at L, and that applying L+1..`to` gives the
 * reference's responses and views.
 */
async function checkConsistent<R>(
  h: StateMachineHarness<R>,
  sm: StateMachine<R>,
  ref: { views: unknown[]; responses: (R | undefined)[] },
  to: number,
  what: string,
): Promise<number> {
  const state = await sm.appliedState();
  const at = state.lastApplied?.index ?? 0;
  check(at <= to, `${what}: lastApplied ${at} is beyond what was applied (${to})`);
  checkEqual(_appliedView(state), _expectedApplied(at), `${what}: appliedState()`);
  checkEqual(await h.view(sm), ref.views[at], `${what}: the state at lastApplied ${at}`);
  for (let i = at + 1; i <= to; i++) {
    const [r] = await apply(sm, [entryAt(h, i)]);
    checkEqual(r, ref.responses[i - 1], `${what}: the response to entry ${i}, replayed`);
    checkEqual(await h.view(sm), ref.views[i], `${what}: the state after replaying entry ${i}`);
  }
  return at;
}

// -------------------------------------------------------------------- cases

const _cases: StateMachineCase[] = [
  // -------------------------------------------------------- initial state
  _case("initial: applied nothing, no membership, no snapshot", async (_h, open) => {
    const sm = await open();
    await checkApplied(sm, 0, "appliedState() of a new state machine");
    checkEqual(await sm.currentSnapshot(), null, "currentSnapshot() of a new state machine");
  }),

  // ------------------------------------------------ apply order, exactly once
  _case(
    "apply: lastApplied follows every batch (one entry, several, mixed types)",
    async (h, open) => {
      const sm = await open();
      let at = 0;
      for (const size of [1, 2, 1, 5, 13, 1, 30]) {
        await apply(sm, entries(h, at + 1, at + size));
        at += size;
        await checkApplied(sm, at, `appliedState() after applying up to ${at}`);
      }
    },
  ),

  _case(
    "apply: membership entries become the applied membership; others keep it",
    async (h, open) => {
      const sm = await open();
      for (let i = 1; i <= 40; i++) {
        await apply(sm, [entryAt(h, i)]);
        await checkApplied(sm, i, `appliedState() after entry ${i} (${entryAt(h, i).type})`);
      }
    },
  ),

  _case("apply: an empty batch answers [] and changes nothing", async (h, open) => {
    const sm = await open();
    checkEqual(await apply(sm, []), [], "apply([]) of a new state machine");
    await checkApplied(sm, 0, "appliedState() after apply([])");
    await apply(sm, entries(h, 1, 5));
    const view = await h.view(sm);
    checkEqual(await apply(sm, []), [], "apply([]) after 5 entries");
    await checkApplied(sm, 5, "appliedState() after apply([])");
    checkEqual(await h.view(sm), view, "the state after apply([])");
  }),

  _case(
    "apply: batches of any size give the responses and state of one entry at a time",
    async (h, open) => {
      const ref = await reference(h, open, 60);
      const sm = await open();
      const responses: unknown[] = [];
      let at = 0;
      for (const size of [3, 1, 17, 2, 30, 7]) {
        responses.push(...(await apply(sm, entries(h, at + 1, at + size))));
        at += size;
        checkEqual(await h.view(sm), ref.views[at], `the state after a batch ending at ${at}`);
      }
      checkEqual(responses, ref.responses, "the responses of entries 1..60 applied in batches");
    },
  ),

  _case("apply: two replicas applying the same entries agree (determinism)", async (h, open) => {
    const a = await reference(h, open, 45);
    const b = await reference(h, open, 45);
    checkEqual(b.responses, a.responses, "the responses of the second replica");
    checkEqual(b.views, a.views, "the states of the second replica, entry by entry");
    checkEqual(
      _appliedView(await b.sm.appliedState()),
      _appliedView(await a.sm.appliedState()),
      "appliedState() of the second replica",
    );
  }),

  _case(
    "apply: refuses a batch that repeats, skips or reorders entries, changing nothing",
    async (h, open) => {
      const sm = await open();
      await apply(sm, entries(h, 1, 10));
      const view = await h.view(sm);
      const refused: [string, Entry[]][] = [
        ["entry 10 again", [entryAt(h, 10)]],
        ["entries 5..12 (5..10 again)", entries(h, 5, 12)],
        ["entry 12 (11 skipped)", [entryAt(h, 12)]],
        ["entries 11, 13 (a gap inside)", [entryAt(h, 11), entryAt(h, 13)]],
        ["entries 12, 11 (reordered)", [entryAt(h, 12), entryAt(h, 11)]],
        ["entry 1 again", [entryAt(h, 1)]],
      ];
      for (const [what, batch] of refused) {
        await checkRejects(() => sm.apply(batch), `apply of ${what}`);
        await checkApplied(sm, 10, `appliedState() after the refused apply of ${what}`);
        checkEqual(await h.view(sm), view, `the state after the refused apply of ${what}`);
      }
      await apply(sm, entries(h, 11, 12));
      await checkApplied(sm, 12, "appliedState() after applying 11..12");
    },
  ),

  // ------------------------------------------------------------ responses
  _case(
    "responses: one per entry, in order; undefined for blank and membership entries",
    async (h, open) => {
      const sm = await open();
      const batch = entries(h, 1, 36);
      const out = await apply(sm, batch);
      for (let i = 0; i < batch.length; i++) {
        if (batch[i]!.type !== "normal") {
          checkEqual(
            out[i],
            undefined,
            `the response to ${batch[i]!.type} entry ${batch[i]!.index}`,
          );
        }
      }
    },
  ),

  _case("responses: apply answers an array or a promise of one", async (h, open) => {
    const sm = await open();
    for (let i = 1; i <= 12; i += 4) {
      const answer: unknown = sm.apply(entries(h, i, i + 3));
      check(
        Array.isArray(answer) || answer instanceof Promise,
        `apply answered ${_describe(answer)}: neither an array nor a promise`,
      );
      const out = await answer;
      check(Array.isArray(out) && out.length === 4, `apply resolved to ${_describe(out)}`);
    }
  }),

  // --------------------------------------------------- snapshot build, install
  _case(
    "snapshot: of a new state machine covers nothing and installs on another",
    async (h, open) => {
      const a = await open();
      const snap = await a.buildSnapshot();
      checkEqual(_idView(snap.meta.lastLogId), null, "meta.lastLogId of an empty snapshot");
      checkEqual(_idView(snap.meta.lastMembership.logId), null, "meta.lastMembership.logId");
      const b = await open();
      await b.installSnapshot(snap.meta, snap.open());
      await checkApplied(b, 0, "appliedState() after installing an empty snapshot");
      checkEqual(await h.view(b), await h.view(a), "the state after installing an empty snapshot");
      await apply(b, entries(h, 1, 3));
      await checkApplied(b, 3, "appliedState() after applying 1..3");
    },
  ),

  _case(
    "snapshot: meta names the last applied entry and membership; building changes nothing",
    async (h, open) => {
      const sm = await open();
      for (const to of [2, 3, 9, 15, 16]) {
        const applied = await sm.appliedState();
        await apply(sm, entries(h, (applied.lastApplied?.index ?? 0) + 1, to));
        const view = await h.view(sm);
        const snap = await sm.buildSnapshot();
        const expected = _expectedApplied(to) as Record<string, unknown>;
        checkEqual(
          {
            lastApplied: _idView(snap.meta.lastLogId),
            membershipLogId: _idView(snap.meta.lastMembership.logId),
            membership: _membershipView(snap.meta.lastMembership.membership),
          },
          expected,
          `the meta of a snapshot at ${to}`,
        );
        check(
          typeof snap.meta.snapshotId === "string" && snap.meta.snapshotId.length > 0,
          "meta.snapshotId must be a non-empty string",
        );
        await checkApplied(sm, to, `appliedState() after building a snapshot at ${to}`);
        checkEqual(await h.view(sm), view, `the state after building a snapshot at ${to}`);
      }
    },
  ),

  _case(
    "snapshot: becomes the current one; every open() streams the same bytes",
    async (h, open) => {
      const sm = await open();
      await apply(sm, entries(h, 1, 20));
      const snap = await sm.buildSnapshot();
      const current = await sm.currentSnapshot();
      check(current !== null, "currentSnapshot() is null after buildSnapshot()");
      checkEqual(_metaView(current.meta), _metaView(snap.meta), "currentSnapshot().meta");
      const first = await _readAll(snap.open());
      const [second, third] = await Promise.all([_readAll(snap.open()), _readAll(current.open())]);
      checkEqual(second, first, "a second open() of the snapshot");
      checkEqual(third, first, "open() of currentSnapshot()");
    },
  ),

  _case("snapshot: ids of successive snapshots differ", async (h, open) => {
    const sm = await open();
    const ids = new Set<string>();
    for (const to of [0, 4, 4, 9]) {
      const at = (await sm.appliedState()).lastApplied?.index ?? 0;
      if (to > at) await apply(sm, entries(h, at + 1, to));
      const id = (await sm.buildSnapshot()).meta.snapshotId;
      check(!ids.has(id), `snapshot id ${id} was used before`);
      ids.add(id);
    }
  }),

  _case(
    "snapshot: round trip — the installed replica has the state, meta and responses of the source",
    async (h, open) => {
      const ref = await reference(h, open, 50);
      const a = await open();
      await apply(a, entries(h, 1, 30));
      const snap = await a.buildSnapshot();
      const b = await open();
      await b.installSnapshot(snap.meta, snap.open());
      await checkApplied(b, 30, "appliedState() after install");
      checkEqual(await h.view(b), ref.views[30], "the state after install");
      const current = await b.currentSnapshot();
      check(current !== null, "currentSnapshot() is null after installSnapshot()");
      checkEqual(
        _metaView(current.meta),
        _metaView(snap.meta),
        "currentSnapshot().meta after install",
      );
      const out = await apply(b, entries(h, 31, 50));
      checkEqual(out, ref.responses.slice(30), "the responses to 31..50 after install");
      checkEqual(await h.view(b), ref.views[50], "the state after applying 31..50");
    },
  ),

  _case(
    "install: replaces the state of a replica that applied a prefix; apply continues after it",
    async (h, open) => {
      const ref = await reference(h, open, 40);
      const a = await open();
      await apply(a, entries(h, 1, 25));
      const snap = await a.buildSnapshot();
      const b = await open();
      await apply(b, entries(h, 1, 8));
      await b.installSnapshot(snap.meta, snap.open());
      await checkApplied(b, 25, "appliedState() after install over 1..8");
      checkEqual(await h.view(b), ref.views[25], "the state after install over 1..8");
      await checkRejects(() => b.apply([entryAt(h, 25)]), "apply of entry 25 (in the snapshot)");
      checkEqual(await apply(b, entries(h, 26, 40)), ref.responses.slice(25), "responses 26..40");
    },
  ),

  _case(
    "install: the same snapshot in chunks of 1, 7 and 4096 bytes gives the same state",
    async (h, open) => {
      const a = await open();
      await apply(a, entries(h, 1, 24));
      const snap = await a.buildSnapshot();
      const bytes = await _readAll(snap.open());
      for (const size of [1, 7, 4096]) {
        const b = await open();
        await b.installSnapshot(snap.meta, _chunks(bytes, size));
        await checkApplied(b, 24, `appliedState() after install in chunks of ${size}`);
        checkEqual(
          await h.view(b),
          await h.view(a),
          `the state after install in chunks of ${size}`,
        );
      }
    },
  ),

  _case("install: a replica's current snapshot can be sent on (A to B to C)", async (h, open) => {
    const a = await open();
    await apply(a, entries(h, 1, 33));
    const fromA = await a.buildSnapshot();
    const b = await open();
    await b.installSnapshot(fromA.meta, fromA.open());
    const fromB = await b.currentSnapshot();
    check(fromB !== null, "currentSnapshot() of B is null after install");
    const c = await open();
    await c.installSnapshot(fromB.meta, fromB.open());
    await checkApplied(c, 33, "appliedState() of C");
    checkEqual(await h.view(c), await h.view(a), "the state of C");
  }),

  _case(
    "install: a stream that fails midway rejects; state and current snapshot stay",
    async (h, open) => {
      const a = await open();
      await apply(a, entries(h, 1, 30));
      const snap = await a.buildSnapshot();
      const bytes = await _readAll(snap.open());
      const b = await open();
      await apply(b, entries(h, 1, 10));
      const before = await b.buildSnapshot();
      await apply(b, entries(h, 11, 12));
      const view = await h.view(b);
      await checkRejects(
        () => b.installSnapshot(snap.meta, _failingStream(bytes)),
        "installSnapshot from a stream that errors",
      );
      await checkApplied(b, 12, "appliedState() after the failed install");
      checkEqual(await h.view(b), view, "the state after the failed install");
      const current = await b.currentSnapshot();
      check(current !== null, "currentSnapshot() after the failed install is null");
      checkEqual(_metaView(current.meta), _metaView(before.meta), "currentSnapshot() after it");
      await apply(b, entries(h, 13, 14));
      await b.installSnapshot(snap.meta, _chunks(bytes, 1000));
      await checkApplied(b, 30, "appliedState() after installing it whole");
    },
  ),

  // --------------------------------------------------- snapshot during apply
  _case(
    "snapshot during apply: a snapshot streamed while entries are applied stays the state it was built at",
    async (h, open) => {
      const ref = await reference(h, open, 30);
      const sm = await open();
      await apply(sm, entries(h, 1, 18));
      const snap = await sm.buildSnapshot();
      checkEqual(_idView(snap.meta.lastLogId), { term: 2, index: 18 }, "meta.lastLogId");
      // A peer starts reading the snapshot; entries are applied before it reads the rest.
      const reader = snap.open().getReader();
      const first = await reader.read();
      const during = await apply(sm, entries(h, 19, 24));
      checkEqual(
        during,
        ref.responses.slice(18, 24),
        "responses to 19..24 applied during the read",
      );
      const chunks: Uint8Array[] = first.done ? [] : [first.value.slice()];
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        chunks.push(value.slice());
      }
      const b = await open();
      await b.installSnapshot(
        snap.meta,
        new ReadableStream<Uint8Array>({
          start(controller) {
            for (const chunk of chunks) controller.enqueue(chunk);
            controller.close();
          },
        }),
      );
      await checkApplied(b, 18, "appliedState() of a replica installing it");
      checkEqual(await h.view(b), ref.views[18], "the state of a replica installing it");
      await checkApplied(sm, 24, "appliedState() of the source");
      checkEqual(await apply(sm, entries(h, 25, 30)), ref.responses.slice(24), "responses 25..30");
    },
  ),

  _case(
    "snapshot during apply: its stream, read after later applies, holds the state it was built at",
    async (h, open) => {
      const ref = await reference(h, open, 30);
      const sm = await open();
      await apply(sm, entries(h, 1, 12));
      const snap = await sm.buildSnapshot();
      await apply(sm, entries(h, 13, 30));
      const current = await sm.currentSnapshot();
      check(current !== null, "currentSnapshot() is null");
      checkEqual(_metaView(current.meta), _metaView(snap.meta), "currentSnapshot() after applies");
      for (
        const [what, s] of [["the built snapshot", snap], ["currentSnapshot()", current]] as const
      ) {
        const b = await open();
        await b.installSnapshot(s.meta, s.open());
        await checkApplied(b, 12, `appliedState() after installing ${what}`);
        checkEqual(await h.view(b), ref.views[12], `the state after installing ${what}`);
      }
      checkEqual(await h.view(sm), ref.views[30], "the source's state");
    },
  ),

  _case(
    "snapshot during apply: a build after every batch; each, read while the next batch is applied, installs to its point",
    async (h, open) => {
      const ref = await reference(h, open, 40);
      const sm = await open();
      // Each snapshot is read before the next is built: one that a newer snapshot replaced
      // need not stay readable (a durable store may delete it).
      const built: [number, SnapshotMeta, Uint8Array][] = [];
      for (let at = 0; at < 40; at += 5) {
        const snap = await sm.buildSnapshot();
        const reading = _readAll(snap.open());
        reading.catch(() => {}); // awaited below; a failure is reported there, not as unhandled
        await apply(sm, entries(h, at + 1, at + 5));
        built.push([at, snap.meta, await reading]);
      }
      for (const [at, meta, bytes] of built) {
        const b = await open();
        await b.installSnapshot(meta, _chunks(bytes, 4096));
        await checkApplied(b, at, `appliedState() after installing the snapshot at ${at}`);
        checkEqual(await h.view(b), ref.views[at], `the state of the snapshot at ${at}`);
      }
      checkEqual(await h.view(sm), ref.views[40], "the source's state");
    },
  ),

  // ------------------------------------------------------ recovery on start
  _case("recovery: a new state machine restarts empty", async (h, open, track) => {
    const sm = await open();
    const again = await restartOf(h, sm);
    track(again);
    await checkApplied(again, 0, "appliedState() after restart");
    checkEqual(await again.currentSnapshot(), null, "currentSnapshot() after restart");
  }, ["restart"]),

  _case(
    "recovery: restart resumes at or after the last snapshot, consistent with lastApplied",
    async (h, open, track) => {
      const ref = await reference(h, open, 50);
      const sm = await open();
      await apply(sm, entries(h, 1, 27));
      const snap = await sm.buildSnapshot();
      await apply(sm, entries(h, 28, 35));
      const again = await restartOf(h, sm);
      track(again);
      const at = await checkConsistent(h, again, ref, 50, "after restart");
      check(at >= 27, `lastApplied ${at} after restart is behind the snapshot at 27`);
      const current = await again.currentSnapshot();
      check(current !== null, "the snapshot was lost in the restart");
      check(
        (current.meta.lastLogId?.index ?? 0) >= 27,
        `currentSnapshot() after restart covers ${_describe(current.meta.lastLogId)}`,
      );
      if (current.meta.snapshotId === snap.meta.snapshotId) {
        checkEqual(
          _metaView(current.meta),
          _metaView(snap.meta),
          "the snapshot's meta after restart",
        );
      }
      const b = await open();
      await b.installSnapshot(current.meta, current.open());
      const covered = current.meta.lastLogId?.index ?? 0;
      checkEqual(await h.view(b), ref.views[covered], "a replica installing it after restart");
    },
    ["restart"],
  ),

  _case("recovery: an installed snapshot survives a restart", async (h, open, track) => {
    const ref = await reference(h, open, 40);
    const a = await open();
    await apply(a, entries(h, 1, 22));
    const snap = await a.buildSnapshot();
    const b = await open();
    await b.installSnapshot(snap.meta, snap.open());
    const again = await restartOf(h, b);
    track(again);
    const at = await checkConsistent(h, again, ref, 40, "after restart");
    check(at >= 22, `lastApplied ${at} after restart is behind the installed snapshot at 22`);
  }, ["restart"]),

  _case(
    "recovery: restarts between applies and snapshots, three times, stay consistent; snapshot ids stay unique",
    async (h, open, track) => {
      const ref = await reference(h, open, 60);
      let sm = await open();
      let to = 0;
      const ids: string[] = [];
      for (const [snapAt, crashAt] of [[10, 15], [26, 26], [41, 50]] as const) {
        await apply(sm, entries(h, to + 1, snapAt));
        ids.push((await sm.buildSnapshot()).meta.snapshotId);
        await apply(sm, entries(h, snapAt + 1, crashAt));
        sm = await restartOf(h, sm);
        track(sm);
        const at = await checkConsistent(h, sm, ref, crashAt, `after the restart at ${crashAt}`);
        check(at >= snapAt, `lastApplied ${at} after restart is behind the snapshot at ${snapAt}`);
        to = crashAt;
      }
      await apply(sm, entries(h, to + 1, 60));
      checkEqual(await h.view(sm), ref.views[60], "the state at the end");
      ids.push((await sm.buildSnapshot()).meta.snapshotId);
      checkEqual(new Set(ids).size, ids.length, `snapshot ids across restarts (${ids.join(", ")})`);
    },
    ["restart"],
  ),

  _case(
    "recovery: a failed install followed by a restart keeps the earlier snapshot",
    async (h, open, track) => {
      const ref = await reference(h, open, 30);
      const a = await open();
      await apply(a, entries(h, 1, 30));
      const bytes = await _readAll((await a.buildSnapshot()).open());
      const meta = (await a.currentSnapshot())!.meta;
      const b = await open();
      await apply(b, entries(h, 1, 9));
      await b.buildSnapshot();
      await checkRejects(
        () => b.installSnapshot(meta, _failingStream(bytes)),
        "installSnapshot from a stream that errors",
      );
      const again = await restartOf(h, b);
      track(again);
      const at = await checkConsistent(h, again, ref, 9, "after restart");
      check(at >= 9, `lastApplied ${at} after restart is behind the snapshot at 9`);
    },
    ["restart"],
  ),
];

/**
 * The state machine conformance cases, in order. Each opens the state
 * machines it needs through the harness and releases them at the end; they
 * may run in any order. The `recovery:` cases need `harness.restart`.
 *
 * @example
 * ```ts
 * import { STATE_MACHINE_CASES } from "./state_machine_conformance.ts";
 * import { CountingStateMachine } from "./counting_state_machine.ts";
 * for (const c of STATE_MACHINE_CASES) {
 *   if (c.requires.includes("restart")) continue; // it keeps nothing across a restart
 *   await c.run({
 *     open: () => Promise.resolve(new CountingStateMachine()),
 *     command: () => new Uint8Array([1]),
 *     view: (sm) => (sm as CountingStateMachine).count,
 *   });
 * }
 * ```
 */
export const STATE_MACHINE_CASES: readonly StateMachineCase[] = Object.freeze(_cases);
