/**
 * Engine scenarios as data: a runner for the scripts in `testdata/*.txt`, in
 * the manner of etcd-io/raft's interaction tests. A script drives the
 * synchronous {@linkcode TestCluster} with one command per line; the output a
 * command must produce is written under it, after a `----` line, up to the
 * next blank line. The runner executes the script, compares every output with
 * the file and fails with the expected and the actual output and a line diff;
 * with `REWRITE=1` it writes the actual output into the file instead (review
 * it with `git diff`).
 *
 * The language is described in `testdata/README.md`. In short:
 *
 * ```
 * # Lines starting with # are comments; blank lines separate steps.
 * cluster 1 2 3 elections=off          <- a fresh cluster: prints every node
 * ----
 * node  role      term  vote  lead  commit  applied  log
 * 1     follower  0     -     -     0       0        []
 * ...
 *
 * elect 1                               <- prints the rows that changed
 * ----
 * node  role      term  vote  lead  commit  applied  log
 * 1     leader    1     1     1     1       1        [1]
 * ...
 * ```
 *
 * After every step the runner checks the Raft invariants it can see (one
 * leader per term, terms and commit indexes never go back, a leader's match
 * index never goes back, logs that share an entry share the prefix, no two
 * nodes apply different entries at one index) and stops the script at the
 * first violation.
 *
 * @module
 */
import { readFileSync, writeFileSync } from "node:fs";
import { type Envelope, TEST_CONFIG, TestCluster, type TestNode } from "./_cluster.ts";
import type { AdminResult, Command, EngineConfig, ReadFailure } from "../../src/engine/commands.ts";
import type { RaftMessage } from "../../src/messages.ts";
import {
  type Entry,
  type LogId,
  type Membership,
  membershipOf,
  type NodeId,
  type SnapshotMeta,
  type StoredMembership,
  type Vote,
} from "../../src/types.ts";

// ---- the file format -------------------------------------------------------------

/** One command of a script, with the output written under it (`null`: no `----` block). */
export interface Directive {
  /** 1-based line number of the command. */
  readonly line: number;
  /** The command (continuation lines joined). */
  readonly text: string;
  /** The command's lines as written (a line ending in `\` continues on the next). */
  readonly raw: string[];
  /** The expected output lines, or `null` when the command has no `----` block. */
  readonly expected: string[] | null;
}

/** A line of a script that is not a command (comment, blank), or a command. */
export type ScriptItem = { kind: "text"; text: string } | { kind: "cmd"; d: Directive };

/** Splits a script into comments/blank lines and commands with their expected output. */
export function parseScript(source: string): ScriptItem[] {
  const lines = source.replace(/\r\n/g, "\n").split("\n");
  if (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
  const items: ScriptItem[] = [];
  for (let i = 0; i < lines.length; i++) {
    const text = lines[i]!;
    if (text.trim() === "" || text.trimStart().startsWith("#")) {
      items.push({ kind: "text", text });
      continue;
    }
    if (text.trim() === "----") throw new Error(`line ${i + 1}: "----" without a command above it`);
    let expected: string[] | null = null;
    const line = i + 1;
    const raw = [text];
    while (raw[raw.length - 1]!.trimEnd().endsWith("\\") && i + 1 < lines.length) {
      raw.push(lines[++i]!);
    }
    const command = raw.map((l) => l.trim().replace(/\\$/, "")).join(" ").trim();
    if (lines[i + 1]?.trim() === "----") {
      expected = [];
      i += 2;
      while (i < lines.length && lines[i]!.trim() !== "") expected.push(lines[i++]!.trimEnd());
      i--; // the blank line (if any) is kept as text
    }
    items.push({ kind: "cmd", d: { line, text: command, raw, expected } });
  }
  return items;
}

/** A command whose output differs from the script. */
export interface Mismatch {
  readonly line: number;
  readonly command: string;
  readonly expected: string[];
  readonly actual: string[];
}

/** What running a script gives: the mismatches and the script with the actual output. */
export interface ScriptResult {
  readonly mismatches: Mismatch[];
  /** The script with every expected output replaced by the actual one. */
  readonly rewritten: string;
}

/** Runs a script's text; never throws for a mismatch (see {@linkcode ScriptResult}). */
export function runScript(source: string, name = "script"): ScriptResult {
  const items = parseScript(source);
  const world = new Scenario();
  const mismatches: Mismatch[] = [];
  const out: string[] = [];
  for (let k = 0; k < items.length; k++) {
    const item = items[k]!;
    if (item.kind === "text") {
      out.push(item.text);
      continue;
    }
    const d = item.d;
    let actual: string[];
    try {
      actual = world.exec(d.text).map((l) => l.trimEnd());
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      throw new Error(`${name}:${d.line}: ${d.text}\n  ${msg.replaceAll("\n", "\n  ")}`, {
        cause: e,
      });
    }
    const expected = d.expected ?? [];
    if (expected.join("\n") !== actual.join("\n")) {
      mismatches.push({ line: d.line, command: d.text, expected, actual });
    }
    out.push(...d.raw);
    if (actual.length > 0) {
      out.push("----", ...actual);
      const next = items[k + 1];
      if (next !== undefined && !(next.kind === "text" && next.text.trim() === "")) out.push("");
    }
  }
  return { mismatches, rewritten: out.join("\n") + "\n" };
}

/** A readable report of mismatches: for each, the expected and actual output and a line diff. */
export function formatMismatches(name: string, mismatches: readonly Mismatch[]): string {
  const parts: string[] = [];
  const indent = (ls: readonly string[]) =>
    ls.length === 0 ? ["    (nothing)"] : ls.map((l) => `    ${l}`);
  for (const m of mismatches.slice(0, 5)) {
    parts.push(
      `${name}:${m.line}: ${m.command}`,
      "  expected:",
      ...indent(m.expected),
      "  actual:",
      ...indent(m.actual),
      "  diff (- expected, + actual):",
      ...diffLines(m.expected, m.actual).map((l) => `    ${l}`),
    );
  }
  if (mismatches.length > 5) parts.push(`... and ${mismatches.length - 5} more mismatches`);
  parts.push("(run with REWRITE=1 to accept the actual output, then review it with git diff)");
  return parts.join("\n");
}

/** A minimal line diff (longest common subsequence). */
export function diffLines(a: readonly string[], b: readonly string[]): string[] {
  const n = a.length;
  const m = b.length;
  const lcs: number[][] = Array.from({ length: n + 1 }, () => new Array<number>(m + 1).fill(0));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lcs[i]![j] = a[i] === b[j]
        ? lcs[i + 1]![j + 1]! + 1
        : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
    }
  }
  const out: string[] = [];
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && a[i] === b[j]) {
      out.push(`  ${a[i]}`);
      i++;
      j++;
    } else if (i < n && (j === m || lcs[i + 1]![j]! >= lcs[i]![j + 1]!)) {
      out.push(`- ${a[i]}`);
      i++;
    } else {
      out.push(`+ ${b[j]}`);
      j++;
    }
  }
  return out;
}

/**
 * Runs a script file: with `rewrite`, writes the actual output into the file;
 * otherwise throws a readable report if any output differs.
 */
export function runScriptFile(path: string, rewrite: boolean): void {
  const source = readFileSync(path, "utf8");
  const name = path.replace(/^.*\/tests\//, "tests/");
  const r = runScript(source, name);
  if (rewrite) {
    if (r.rewritten !== source) writeFileSync(path, r.rewritten);
    return;
  }
  if (r.mismatches.length > 0) throw new Error(formatMismatches(name, r.mismatches));
}

// ---- formatting --------------------------------------------------------------------

/** `(index,term)`, or `none`. */
export function fmtLogId(l: LogId | null): string {
  return l === null ? "none" : `(${l.index},${l.term})`;
}

/** Log terms from index 1; runs of 6 or more equal terms are written `TxN`. */
export function fmtTerms(terms: readonly number[]): string {
  const parts: string[] = [];
  for (let i = 0; i < terms.length;) {
    let j = i;
    while (j < terms.length && terms[j] === terms[i]) j++;
    if (j - i >= 6) parts.push(`${terms[i]}x${j - i}`);
    else for (let k = i; k < j; k++) parts.push(String(terms[k]));
    i = j;
  }
  return `[${parts.join(",")}]`;
}

function parseTerms(s: string): number[] {
  const m = /^\[(.*)\]$/.exec(s);
  if (m === null) throw new Error(`not a log: ${s} (write e.g. [1,1,4])`);
  if (m[1]!.trim() === "") return [];
  const out: number[] = [];
  for (const part of m[1]!.split(",")) {
    const run = /^(\d+)x(\d+)$/.exec(part.trim());
    if (run !== null) { for (let k = 0; k < Number(run[2]); k++) out.push(Number(run[1])); }
    else out.push(int(part.trim()));
  }
  return out;
}

function learnersOf(m: Membership): NodeId[] {
  const voters = new Set(m.configs.flat());
  return [...m.nodes.keys()].filter((id) => !voters.has(id)).sort((a, b) => a - b);
}

/** `{1,2,3}`, joint `{1,2,3}&{2,3,4}`, learners after `+`: `{1,2,3}+4`; `{}` when empty. */
export function fmtMembership(m: Membership): string {
  const sets = m.configs.length === 0 ? "{}" : m.configs.map((c) => `{${c.join(",")}}`).join("&");
  const learners = learnersOf(m);
  return learners.length > 0 ? `${sets}+${learners.join(",")}` : sets;
}

const decoder = new TextDecoder();
const encoder = new TextEncoder();

function entryText(e: Entry): string {
  if (e.type === "blank") return `${fmtLogId(e)} blank`;
  if (e.type === "membership") return `${fmtLogId(e)} members ${fmtMembership(e.membership)}`;
  return `${fmtLogId(e)} ${decoder.decode(e.data)}`;
}

/** The kind of a message as scripts name it (appends without entries are heartbeats). */
export function kindOf(m: RaftMessage): string {
  if (m.type === "append") return m.entries.length > 0 ? "append" : "heartbeat";
  if (m.type === "append-response") return m.success ? "append-response" : "append-reject";
  return m.type;
}

/** A message in the script notation (the same that `send` reads). */
export function fmtMessage(m: RaftMessage): string {
  switch (m.type) {
    case "append": {
      const head = `${kindOf(m)} term=${m.term} prev=${fmtLogId(m.prevLogId)}`;
      const entries = m.entries.length > 0
        ? ` entries=${fmtTerms(m.entries.map((e) => e.term))}`
        : "";
      return `${head}${entries} commit=${m.leaderCommit}`;
    }
    case "append-response":
      return m.success
        ? `append-response term=${m.term} index=${m.index}`
        : `append-reject term=${m.term} index=${m.index} hint=(${m.hintIndex},${m.hintTerm})`;
    case "vote":
    case "pre-vote":
      return `${m.type} term=${m.term} last=${fmtLogId(m.lastLogId)}${
        m.transfer ? " transfer" : ""
      }`;
    case "vote-response":
    case "pre-vote-response":
      return `${m.type} term=${m.term} ${m.granted ? "granted" : "refused"}`;
    case "timeout-now":
      return `timeout-now term=${m.term}`;
    case "timeout-now-response":
      return `timeout-now-response term=${m.term} ${m.accepted ? "accepted" : "refused"}`;
    case "install-snapshot":
      return `install-snapshot term=${m.term} last=${fmtLogId(m.meta.lastLogId)}`;
    case "install-snapshot-response":
      return `install-snapshot-response term=${m.term} last=${fmtLogId(m.lastLogId)}`;
    case "read-index":
      return `read-index term=${m.term} reader=${m.readerId}`;
    case "read-index-response":
      return `read-index-response term=${m.term} index=${m.index ?? "-"} leader=${
        m.leaderId ?? "-"
      }`;
  }
}

function fmtEnvelope(e: Envelope): string {
  return `${e.from}->${e.to} ${fmtMessage(e.message)}`;
}

function fmtReadFailure(f: ReadFailure): string {
  if (f.kind === "not-leader") {
    return `not-leader (leader ${f.leaderId === null ? "unknown" : f.leaderId})`;
  }
  return `${f.kind} (heard from ${f.acked.join(", ")})`;
}

/** A vote as `votes` prints it: `term=1 vote=2 committed` (committed: its leader is known). */
export function fmtVote(v: Vote): string {
  return `term=${v.term} vote=${v.votedFor ?? "-"} ${v.committed ? "committed" : "not committed"}`;
}

/** A storage write as `writes` prints it, or `null` for a command that is not one. */
export function fmtWrite(c: Command): string | null {
  switch (c.type) {
    case "save-vote":
      return `save-vote ${fmtVote(c.vote)}`;
    case "append-log": {
      const first = c.entries[0];
      const last = c.entries[c.entries.length - 1];
      if (first === undefined || last === undefined) return "append-log (nothing)";
      return `append-log ${fmtLogId(first)}${first === last ? "" : `..${fmtLogId(last)}`}`;
    }
    case "truncate-log":
      return `truncate-log since=${c.since}`;
    case "purge-log":
      return `purge-log up-to=${fmtLogId(c.upTo)}`;
    default:
      return null;
  }
}

/** `head words...`, wrapped at 80 columns under the first word. */
function wrap(head: string, text: string): string[] {
  const lines: string[] = [];
  let line = head;
  for (const word of text.split(" ")) {
    if (line.length + 1 + word.length > 80 && line.trim() !== "") {
      lines.push(line);
      line = " ".repeat(head.length);
    }
    line += ` ${word}`;
  }
  lines.push(line);
  return lines;
}

/** Pads columns two spaces apart; trailing spaces trimmed. */
function table(rows: readonly (readonly string[])[]): string[] {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => widths[i] = Math.max(widths[i] ?? 0, c.length));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd());
}

// ---- parsing helpers -----------------------------------------------------------------

/** `x1..x5` is `x1 x2 x3 x4 x5`; any other word is itself. */
function expandRange(word: string): string[] {
  const m = /^(\D*)(\d+)\.\.(\D*)(\d+)$/.exec(word);
  if (m === null || m[1] !== m[3]) return [word];
  const out: string[] = [];
  for (let i = Number(m[2]); i <= Number(m[4]); i++) out.push(`${m[1]}${i}`);
  return out;
}

function int(s: string | undefined, what = "number"): number {
  if (s === undefined || !/^-?\d+$/.test(s)) throw new Error(`expected a ${what}, got ${s}`);
  return Number(s);
}

function ids(s: string | undefined): NodeId[] {
  if (s === undefined || s === "") throw new Error("expected node ids");
  return s.split(",").map((x) => int(x, "node id"));
}

function parseLogId(s: string): LogId | null {
  if (s === "none") return null;
  const m = /^\((\d+),(\d+)\)$/.exec(s);
  if (m === null) throw new Error(`not a log id: ${s} (write (index,term) or none)`);
  return { index: Number(m[1]), term: Number(m[2]) };
}

/** Words and key=value pairs of a command's arguments. */
class Args {
  readonly words: string[] = [];
  readonly kv = new Map<string, string>();
  readonly #used = new Set<string>();

  /** `raw`: every token is a word (proposal payloads may contain `=`). */
  constructor(tokens: readonly string[], raw = false) {
    for (const t of tokens) {
      const m = raw ? null : /^([a-z0-9.-]+?)(=|>=)(.*)$/.exec(t);
      if (m !== null && !/^\d+>/.test(t)) this.kv.set(m[2] === ">=" ? `${m[1]}>=` : m[1]!, m[3]!);
      else this.words.push(t);
    }
  }

  get(key: string): string | undefined {
    this.#used.add(key);
    return this.kv.get(key);
  }

  flag(word: string): boolean {
    const i = this.words.indexOf(word);
    if (i < 0) return false;
    this.words.splice(i, 1);
    return true;
  }

  /** Throws on a key nobody asked for (a typo in a script must not pass silently). */
  done(): void {
    for (const k of this.kv.keys()) if (!this.#used.has(k)) throw new Error(`unknown option ${k}`);
  }
}

/** Durations: `310`, `H`, `Emin`, `Emax` (`E` = `Emax`), `3*Emax`, `Emax+10`, `10Emax`. */
function duration(s: string | undefined, cfg: EngineConfig): number {
  if (s === undefined) throw new Error("expected a duration");
  let total = 0;
  for (const part of s.split("+")) {
    const m = /^(\d+)?\*?(Emin|Emax|E|H)?$/.exec(part);
    if (m === null || (m[1] === undefined && m[2] === undefined)) {
      throw new Error(`not a duration: ${s}`);
    }
    const unit = m[2] === undefined
      ? 1
      : m[2] === "H"
      ? cfg.heartbeatInterval
      : m[2] === "Emin"
      ? cfg.electionTimeoutMin
      : cfg.electionTimeoutMax;
    total += (m[1] === undefined ? 1 : Number(m[1])) * unit;
  }
  return total;
}

// ---- message filters ---------------------------------------------------------------------

interface Filter {
  readonly text: string;
  readonly from?: NodeId[];
  readonly to?: NodeId[];
  readonly kinds?: string[];
  /** An append carrying the entry at this index. */
  readonly has?: number;
  /** An append response (or reject) whose index is at least this. */
  readonly indexAtLeast?: number;
}

function parseFilter(args: Args, text: string): Filter {
  const f: {
    text: string;
    from?: NodeId[];
    to?: NodeId[];
    kinds?: string[];
    has?: number;
    indexAtLeast?: number;
  } = { text };
  const from = args.get("from");
  if (from !== undefined) f.from = ids(from);
  const to = args.get("to");
  if (to !== undefined) f.to = ids(to);
  const type = args.get("type");
  if (type !== undefined) f.kinds = type.split(",");
  const has = args.get("has");
  if (has !== undefined) f.has = int(has);
  const idx = args.get("index>=");
  if (idx !== undefined) f.indexAtLeast = int(idx);
  return f;
}

function matches(f: Filter, e: Envelope): boolean {
  if (f.from !== undefined && !f.from.includes(e.from)) return false;
  if (f.to !== undefined && !f.to.includes(e.to)) return false;
  if (f.kinds !== undefined && !f.kinds.includes(kindOf(e.message))) return false;
  const m = e.message;
  if (f.has !== undefined && !(m.type === "append" && m.entries.some((x) => x.index === f.has))) {
    return false;
  }
  if (f.indexAtLeast !== undefined) {
    if (m.type !== "append-response" || m.index < f.indexAtLeast) return false;
  }
  return true;
}

// ---- the world a script acts on ----------------------------------------------------------

interface Read {
  readonly name: string;
  readonly node: NodeId;
  readonly token: number;
  readonly policy: string;
}

/** Columns shown only when some node has a value other than the default. */
const OPTIONAL = ["members", "snapshot", "purged", "xfer", "durable"] as const;
type Row = Record<string, string>;

/** The state of one script: a cluster, its faults, and what was printed last. */
class Scenario {
  #c: TestCluster | null = null;
  /** What each node recovers at restart besides its log (the initial membership). */
  #recovered = new Map<NodeId, StoredMembership[] | undefined>();
  #defaultMembers = "";
  #down = new Map<NodeId, TestNode>();
  #drops: Filter[] = [];
  #holds: Filter[] = [];
  /** Messages held back by a `hold`, in the order they were sent. */
  #held: Envelope[] = [];
  #released = new Set<Envelope>();
  #fate: "dropped" | "held" = "dropped";
  #reads: Read[] = [];
  #nextRead = 1;
  /** Per node, how many of its commands were already looked at. */
  #seen = new Map<NodeId, number>();
  /** Every message that left the queue (for `replay`). */
  #wire: { e: Envelope; delivered: boolean }[] = [];
  /** Every message put on the wire, in order (for `sent`), and where `sent` last stopped. */
  #sent: Envelope[] = [];
  #seenOnWire = new WeakSet<Envelope>();
  #sentMark = 0;
  /** Every storage write the nodes issued, in order (for `writes`), and where `writes` last stopped. */
  #writes: string[] = [];
  #writesMark = 0;
  /** Nodes whose role and term changes are reported as they happen (`watch`), with the last seen. */
  #watched = new Map<NodeId, string>();
  #lastRows = new Map<NodeId, string>();
  #out: string[] = [];
  #trace = false;
  #history: string[] = [];
  #checkpoints = new Map<string, string[]>();
  // Invariant bookkeeping.
  #terms = new Map<NodeId, number>();
  #commits = new Map<NodeId, number>();
  #matched = new Map<string, number>();

  get #cluster(): TestCluster {
    if (this.#c === null) throw new Error("no cluster yet: start with `cluster 1 2 3`");
    return this.#c;
  }

  /** Executes one command line; returns its output lines. */
  exec(line: string): string[] {
    this.#out = [];
    const [name, ...rest] = line.split(/\s+/);
    const args = new Args(rest, name === "propose");
    this.#trace = args.flag("trace");
    const nowait = args.flag("nowait");
    const commandName = name ?? "";
    let full = false;
    switch (commandName) {
      case "cluster":
        this.#clusterCmd(args);
        full = true;
        break;
      case "checkpoint": {
        const [label] = this.#words(args, 1);
        this.#checkpoints.set(label!, [...this.#history]);
        args.done();
        return [];
      }
      case "restore": {
        const [label] = this.#words(args, 1);
        args.done();
        const lines = this.#checkpoints.get(label!);
        if (lines === undefined) throw new Error(`no checkpoint ${label}`);
        const saved = this.#checkpoints;
        for (const l of lines) this.exec(l);
        this.#checkpoints = saved;
        this.#history = [...lines];
        this.#sentMark = this.#sent.length;
        this.#writesMark = this.#writes.length;
        return [];
      }
      default:
        this.#command(commandName, args, nowait);
    }
    args.done();
    if (commandName === "cluster") this.#history = [line];
    else this.#history.push(line);
    this.#checkInvariants();
    this.#appendTable(full || commandName === "status");
    return this.#out;
  }

  #words(args: Args, n: number, max = n): string[] {
    if (args.words.length < n || args.words.length > max) {
      throw new Error(
        `expected ${n === max ? n : `${n} to ${max}`} arguments, got ${args.words.length}`,
      );
    }
    return args.words;
  }

  #command(name: string, args: Args, nowait: boolean): void {
    const c = this.#cluster;
    const settle = () => nowait ? this.#process() : this.#run();
    switch (name) {
      case "status": {
        const only = args.words.map((w) => int(w, "node id"));
        this.#statusOnly = only.length > 0 ? only : null;
        return;
      }
      case "add-node": {
        for (const id of this.#words(args, 1, 9).map((w) => int(w))) this.#addNode(id);
        return;
      }
      case "elect":
      case "campaign": {
        for (const id of this.#words(args, 1, 9).map((w) => int(w))) {
          this.#node(id).engine.triggerElect();
        }
        if (name === "campaign" || nowait) this.#process();
        else this.#run();
        return;
      }
      case "propose": {
        const [idText, ...words] = this.#words(args, 2, 99);
        const id = int(idText);
        const payloads = words.flatMap(expandRange);
        const r = this.#node(id).engine.propose(payloads.map((p) => encoder.encode(p)));
        if (r.ok) {
          const last = r.firstIndex + payloads.length - 1;
          const range = last === r.firstIndex ? `${last}` : `${r.firstIndex}..${last}`;
          this.#out.push(`ok: index ${range} at term ${r.term}`);
        } else {
          this.#out.push(`refused: ${r.reason} (leader ${r.leaderId ?? "unknown"})`);
        }
        settle();
        return;
      }
      case "transfer": {
        const [from, to] = this.#words(args, 2).map((w) => int(w));
        this.#admin(this.#node(from!).engine.transferLeader(to!));
        settle();
        return;
      }
      case "change-members": {
        const [leader] = this.#words(args, 1).map((w) => int(w));
        const voters = ids(args.get("voters"));
        const learnersText = args.get("learners");
        const learners = learnersText === undefined ? [] : ids(learnersText);
        for (const id of [...voters, ...learners]) if (!this.#exists(id)) this.#addNode(id);
        this.#admin(this.#node(leader!).engine.changeMembership(membershipOf(voters, learners)));
        settle();
        return;
      }
      case "add-learner": {
        const [leader, id] = this.#words(args, 2).map((w) => int(w));
        if (!this.#exists(id!)) this.#addNode(id!);
        const m = this.#node(leader!).engine.effectiveMembership().membership;
        if (m.configs.length !== 1) throw new Error("add-learner during a joint change");
        const target = membershipOf(m.configs[0]!, [...learnersOf(m), id!]);
        this.#admin(this.#node(leader!).engine.changeMembership(target));
        settle();
        return;
      }
      case "read": {
        const [idText, policy] = this.#words(args, 2);
        if (policy !== "read-index" && policy !== "lease") {
          throw new Error(`read policy is read-index or lease, not ${policy}`);
        }
        const id = int(idText);
        const read: Read = {
          name: `r${this.#nextRead}`,
          node: id,
          token: this.#nextRead++,
          policy,
        };
        this.#reads.push(read);
        this.#node(id).engine.read([read.token], policy);
        settle();
        if (this.#readState(read) === "pending") {
          this.#out.push(`read ${read.name} on ${id}: pending`);
        }
        return;
      }
      case "reads": {
        this.#words(args, 0);
        for (const r of this.#reads) {
          this.#out.push(`read ${r.name} on ${r.node} (${r.policy}): ${this.#readState(r)}`);
        }
        if (this.#reads.length === 0) this.#out.push("no reads");
        return;
      }
      case "snapshot": {
        const [id] = this.#words(args, 1).map((w) => int(w));
        const upTo = args.get("up-to");
        this.#snapshot(id!, upTo === undefined ? undefined : int(upTo));
        settle();
        return;
      }
      case "crash": {
        for (const id of this.#words(args, 1, 9).map((w) => int(w))) {
          const n = this.#node(id);
          c.nodes.delete(id);
          this.#down.set(id, n);
        }
        return;
      }
      case "restart": {
        for (const id of this.#words(args, 1, 9).map((w) => int(w))) this.#restart(id);
        settle();
        return;
      }
      case "stall": {
        for (const id of this.#words(args, 1, 9).map((w) => int(w))) {
          this.#node(id).autoFlush = false;
        }
        return;
      }
      case "flush":
      case "unstall": {
        for (const id of this.#words(args, 1, 9).map((w) => int(w))) {
          const n = this.#node(id);
          if (name === "unstall") n.autoFlush = true;
          n.flush();
        }
        settle();
        return;
      }
      case "unreachable": {
        const [leader, peer] = this.#words(args, 2).map((w) => int(w));
        this.#node(leader!).engine.unreachable(peer!);
        this.#process();
        return;
      }
      case "elections":
      case "heartbeats": {
        const [onOff, ...rest] = this.#words(args, 2, 10);
        if (onOff !== "on" && onOff !== "off") throw new Error(`${name} on|off <ids>`);
        for (const id of rest.map((w) => int(w))) {
          const e = this.#node(id).engine;
          if (name === "elections") e.setElectEnabled(onOff === "on");
          else e.setHeartbeatEnabled(onOff === "on");
        }
        this.#process();
        return;
      }
      case "isolate": {
        for (const id of this.#words(args, 1, 9).map((w) => int(w))) c.isolate(id);
        return;
      }
      case "cut": {
        const ws = this.#words(args, 1, 9);
        if (ws.every((w) => w.includes(">"))) {
          for (const w of ws) {
            const [a, b] = w.split(">").map((x) => int(x));
            c.cuts.add(`${a}>${b}`);
          }
        } else {
          const [a, bs] = this.#words(args, 2);
          for (const b of ids(bs)) c.cut(int(a), b);
        }
        return;
      }
      case "heal": {
        this.#words(args, 0);
        c.heal();
        this.#drops = [];
        c.dropIf = this.#dropIf;
        return;
      }
      case "drop": {
        const off = args.flag("off");
        this.#words(args, 0);
        if (off) this.#drops = [];
        else this.#drops.push(parseFilter(args, this.#filterText(args)));
        return;
      }
      case "hold": {
        this.#words(args, 0);
        this.#holds.push(parseFilter(args, this.#filterText(args)));
        return;
      }
      case "release": {
        const reverse = args.flag("reverse");
        const twice = args.flag("twice");
        this.#words(args, 0);
        const text = this.#filterText(args);
        const f = parseFilter(args, text);
        const out = this.#held.filter((e) => matches(f, e));
        this.#held = this.#held.filter((e) => !matches(f, e));
        this.#holds = text === "" ? [] : this.#holds.filter((h) => h.text !== text);
        if (reverse) out.reverse();
        for (const e of out) {
          this.#released.add(e);
          c.queue.push(e);
          if (twice) {
            const copy = { ...e, token: this.#copyToken(e) };
            this.#released.add(copy);
            c.queue.push(copy);
          }
        }
        this.#out.push(`released ${out.length} message${out.length === 1 ? "" : "s"}`);
        settle();
        return;
      }
      case "discard": {
        this.#words(args, 0);
        const text = this.#filterText(args);
        const f = parseFilter(args, text);
        const lost = this.#held.filter((e) => matches(f, e)).length;
        this.#held = this.#held.filter((e) => !matches(f, e));
        this.#holds = text === "" ? [] : this.#holds.filter((h) => h.text !== text);
        this.#out.push(`discarded ${lost} message${lost === 1 ? "" : "s"}`);
        return;
      }
      case "held": {
        this.#words(args, 0);
        for (const e of this.#held) this.#out.push(fmtEnvelope(e));
        if (this.#held.length === 0) this.#out.push("nothing held");
        return;
      }
      case "replay": {
        this.#words(args, 0);
        const f = parseFilter(args, this.#filterText(args));
        const hit = [...this.#wire].reverse().find((w) => w.delivered && matches(f, w.e));
        if (hit === undefined) throw new Error("no delivered message matches");
        const copy = { ...hit.e, token: this.#copyToken(hit.e) };
        c.queue.push(copy);
        this.#out.push(`replaying ${fmtEnvelope(copy)}`);
        settle();
        return;
      }
      case "queue": {
        this.#words(args, 0);
        for (const e of c.queue) this.#out.push(fmtEnvelope(e));
        if (c.queue.length === 0) this.#out.push("empty");
        return;
      }
      case "deliver": {
        const [n] = this.#words(args, 0, 1);
        const count = n === undefined ? 1 : int(n);
        const trace = this.#trace;
        this.#trace = true;
        this.#process();
        for (let k = 0; k < count && this.#deliverNext(); k++);
        this.#trace = trace;
        return;
      }
      case "run": {
        this.#words(args, 0);
        this.#run();
        return;
      }
      case "advance":
      case "tick": {
        const [d] = this.#words(args, name === "tick" ? 0 : 1, 1);
        const step = args.get("step");
        const stepMs = step === undefined ? 10 : int(step);
        const ms = name === "tick"
          ? (d === undefined ? 1 : int(d)) * stepMs
          : duration(d, c.config);
        this.#advance(ms, stepMs);
        return;
      }
      case "send": {
        this.#send(args);
        return;
      }
      case "progress": {
        const [id] = this.#words(args, 1).map((w) => int(w));
        const s = this.#node(id!).engine.status();
        if (s.role !== "leader" && s.replication.size === 0) {
          this.#out.push(`${id} is not leading`);
          return;
        }
        if (s.role !== "leader") this.#out.push(`${id} is not leading, yet tracks peers:`);
        const rows = [["peer", "matched", "state", "inflight"]];
        for (const [peer, p] of [...s.replication].sort((a, b) => a[0] - b[0])) {
          rows.push([String(peer), fmtLogId(p.matched), p.state, String(p.inflight)]);
        }
        this.#out.push(...table(rows));
        return;
      }
      case "applied": {
        // Nodes that applied the same are listed together: `1 2 3: 2=a 3=b`.
        const which = args.words.length > 0 ? args.words.map((w) => int(w)) : this.#allIds();
        const groups = new Map<string, NodeId[]>();
        for (const id of which) {
          const data = this.#anyNode(id).applied.flatMap((e) =>
            e.type === "normal" ? [`${e.index}=${decoder.decode(e.data)}`] : []
          );
          const key = data.length > 0 ? data.join(" ") : "nothing";
          groups.set(key, [...groups.get(key) ?? [], id]);
        }
        for (const [data, nodes] of groups) this.#out.push(...wrap(`${nodes.join(" ")}:`, data));
        return;
      }
      case "log": {
        const [id] = this.#words(args, 1).map((w) => int(w));
        const n = this.#anyNode(id!);
        for (const e of n.log) this.#out.push(entryText(e));
        if (n.log.length === 0) this.#out.push("empty");
        return;
      }
      case "writes": {
        const only = args.words.map((w) => int(w, "node id"));
        const fresh = this.#writes.slice(this.#writesMark);
        this.#writesMark = this.#writes.length;
        const shown = fresh.filter((w) => only.length === 0 || only.includes(int(w.split(":")[0])));
        this.#out.push(...(shown.length > 0 ? shown : ["none"]));
        return;
      }
      case "votes": {
        const which = args.words.length > 0 ? args.words.map((w) => int(w)) : this.#allIds();
        for (const id of which) {
          const down = this.#down.has(id);
          const n = this.#anyNode(id);
          const v = down ? n.durableVote : n.engine.status().vote;
          this.#out.push(`${id}: ${fmtVote(v)}${down ? " (down: what its storage holds)" : ""}`);
        }
        return;
      }
      case "watch": {
        if (args.flag("off")) {
          this.#words(args, 0);
          this.#watched.clear();
          return;
        }
        for (const id of this.#words(args, 1, 9).map((w) => int(w))) {
          this.#watched.set(id, this.#watchKey(id));
        }
        return;
      }
      case "sent": {
        this.#words(args, 0);
        const f = parseFilter(args, "");
        const counts = new Map<string, number>();
        for (const e of this.#sent.slice(this.#sentMark)) {
          if (!matches(f, e)) continue;
          const key = `${e.from}->${e.to} ${kindOf(e.message)}`;
          counts.set(key, (counts.get(key) ?? 0) + 1);
        }
        this.#sentMark = this.#sent.length;
        const keys = [...counts.keys()].sort((a, b) => {
          const [fa, ta] = a.split(/->| /).map(Number);
          const [fb, tb] = b.split(/->| /).map(Number);
          return fa! - fb! || ta! - tb! || (a < b ? -1 : a > b ? 1 : 0);
        });
        for (const k of keys) this.#out.push(`${k} x${counts.get(k)}`);
        if (keys.length === 0) this.#out.push("none");
        return;
      }
      default:
        throw new Error(`unknown command ${name}`);
    }
  }

  #statusOnly: NodeId[] | null = null;

  /** A watched node's role and term, as `watch` reports them (`down` when crashed). */
  #watchKey(id: NodeId): string {
    const n = this.#cluster.nodes.get(id);
    if (n === undefined) return this.#down.has(id) ? "down" : "absent";
    const s = n.engine.status();
    const role = s.role === "candidate" && s.preCandidate ? "pre-candidate" : s.role;
    return `${role} at term ${s.term}`;
  }

  #filterText(args: Args): string {
    return [...args.kv].map(([k, v]) => k.endsWith(">=") ? `${k}${v}` : `${k}=${v}`).join(" ");
  }

  #copyToken(e: Envelope): number {
    if (e.token === 0) return 0; // a response: no reply expected
    const c = this.#cluster;
    const token = c.nextToken++;
    c.replyTo.set(token, e.from);
    return token;
  }

  // ---- cluster -----------------------------------------------------------------------------

  #clusterCmd(args: Args): void {
    const voters = args.words.map((w) => int(w, "node id"));
    if (voters.length === 0) throw new Error("cluster needs voters: cluster 1 2 3");
    const learnersText = args.get("learners");
    const learners = learnersText === undefined ? [] : ids(learnersText);
    const onOff = (key: string, dflt: boolean): boolean => {
      const v = args.get(key);
      if (v === undefined) return dflt;
      if (v !== "on" && v !== "off") throw new Error(`${key}=on|off`);
      return v === "on";
    };
    const num = (key: string, dflt: number): number => {
      const v = args.get(key);
      return v === undefined ? dflt : int(v);
    };
    const config: EngineConfig = {
      ...TEST_CONFIG,
      preVote: onOff("pre-vote", TEST_CONFIG.preVote),
      checkQuorum: onOff("check-quorum", TEST_CONFIG.checkQuorum),
      enableElect: onOff("elections", TEST_CONFIG.enableElect),
      enableHeartbeat: onOff("heartbeats", TEST_CONFIG.enableHeartbeat),
      maxPayloadEntries: num("max-entries", TEST_CONFIG.maxPayloadEntries),
      maxInflight: num("max-inflight", TEST_CONFIG.maxInflight),
    };
    const all = [...voters, ...learners];
    const logs = new Map<NodeId, number[]>();
    const votes = new Map<NodeId, Vote>();
    const defaultTerm = args.get("term");
    for (const id of all) {
      const log = args.get(`n${id}`);
      if (log !== undefined) logs.set(id, parseTerms(log));
      const term = args.get(`n${id}.term`) ?? defaultTerm;
      const vote = args.get(`n${id}.vote`);
      if (vote !== undefined && term === undefined) throw new Error(`n${id}.vote needs a term`);
      if (term !== undefined) {
        votes.set(id, {
          term: int(term),
          votedFor: vote === undefined ? null : int(vote),
          committed: false,
        });
      }
    }
    const membership = membershipOf(voters, learners);
    this.#reset();
    const c = new TestCluster(all, config, {
      seed: num("seed", 1),
      logs,
      votes,
      membership,
    });
    this.#c = c;
    c.dropIf = this.#dropIf;
    this.#defaultMembers = fmtMembership(membership);
    for (const id of all) this.#recovered.set(id, [{ logId: null, membership }]);
    for (const id of all) this.#seen.set(id, 0);
  }

  #reset(): void {
    this.#c = null;
    this.#recovered.clear();
    this.#down.clear();
    this.#drops = [];
    this.#holds = [];
    this.#held = [];
    this.#released.clear();
    this.#reads = [];
    this.#nextRead = 1;
    this.#seen.clear();
    this.#wire = [];
    this.#sent = [];
    this.#seenOnWire = new WeakSet();
    this.#sentMark = 0;
    this.#writes = [];
    this.#writesMark = 0;
    this.#watched.clear();
    this.#lastRows.clear();
    this.#terms.clear();
    this.#commits.clear();
    this.#matched.clear();
    this.#statusOnly = null;
  }

  readonly #dropIf = (e: Envelope): boolean => {
    if (this.#drops.some((f) => matches(f, e))) {
      this.#fate = "dropped";
      return true;
    }
    if (this.#released.delete(e)) return false;
    if (this.#holds.some((f) => matches(f, e))) {
      this.#held.push(e);
      this.#fate = "held";
      return true;
    }
    return false;
  };

  #exists(id: NodeId): boolean {
    return this.#cluster.nodes.has(id) || this.#down.has(id);
  }

  #node(id: NodeId): TestNode {
    const n = this.#cluster.nodes.get(id);
    if (n === undefined) {
      throw new Error(this.#down.has(id) ? `node ${id} is down` : `no node ${id}`);
    }
    return n;
  }

  #anyNode(id: NodeId): TestNode {
    return this.#down.get(id) ?? this.#node(id);
  }

  #allIds(): NodeId[] {
    return [...this.#cluster.nodes.keys(), ...this.#down.keys()].sort((a, b) => a - b);
  }

  #addNode(id: NodeId): void {
    if (this.#exists(id)) throw new Error(`node ${id} exists`);
    const c = this.#cluster;
    c.addNode(id);
    this.#sortNodes();
    this.#recovered.set(id, undefined);
    this.#seen.set(id, 0);
  }

  #sortNodes(): void {
    const c = this.#cluster;
    c.nodes = new Map([...c.nodes].sort((a, b) => a[0] - b[0]));
  }

  #restart(id: NodeId): void {
    const c = this.#cluster;
    const n = this.#down.get(id) ?? this.#node(id);
    this.#down.delete(id);
    n.crashAndRestart(c.now, this.#recovered.get(id));
    c.nodes.set(id, n);
    this.#sortNodes();
    // A restart may lose what was not durable: the term and commit index restart too.
    const s = n.engine.status();
    this.#terms.set(id, s.term);
    this.#commits.set(id, s.committed?.index ?? 0);
    for (const k of [...this.#matched.keys()]) if (k.startsWith(`${id}:`)) this.#matched.delete(k);
  }

  /** Builds a snapshot of what `id` applied and purges its log (TestCluster.snapshot, traced). */
  #snapshot(id: NodeId, upTo?: number): void {
    const n = this.#node(id);
    const s = n.engine.status();
    const last = s.applied;
    if (last === null) throw new Error(`node ${id} applied nothing`);
    const meta: SnapshotMeta = {
      lastLogId: last,
      lastMembership: s.committedMembership,
      snapshotId: `${id}-${last.term}-${last.index}`,
    };
    n.snapshot = { meta, entries: n.log.slice(0, last.index) };
    n.engine.snapshotBuilt(meta);
    const purged = n.engine.purgeLog(upTo ?? last.index);
    this.#out.push(`${id} builds a snapshot at ${fmtLogId(last)}, purges to ${fmtLogId(purged)}`);
  }

  #admin(r: AdminResult): void {
    if (r.ok) {
      this.#out.push(r.logId === null ? "ok" : `ok: at ${fmtLogId(r.logId)}`);
      return;
    }
    const about = "nodeId" in r ? `node ${r.nodeId}, ` : "";
    this.#out.push(`refused: ${r.reason} (${about}leader ${r.leaderId ?? "unknown"})`);
  }

  #readState(r: Read): string {
    const n = this.#anyNode(r.node);
    const ready = n.readsReady.get(r.token);
    if (ready !== undefined) return `ready at index ${ready}`;
    const failed = n.readsFailed.get(r.token);
    if (failed !== undefined) return `failed, ${fmtReadFailure(failed)}`;
    return "pending";
  }

  // ---- crafted messages ----------------------------------------------------------------------

  #send(args: Args): void {
    const c = this.#cluster;
    const [fromText, toText, kind, ...flags] = args.words;
    const from = int(fromText, "sender");
    const to = int(toText, "receiver");
    const target = this.#node(to);
    const clusterId = target.engine.effectiveMembership().membership.clusterId;
    const term = int(args.get("term"), "term=");
    const round = args.get("round");
    const flag = (w: string) => flags.includes(w);
    let message: RaftMessage;
    switch (kind) {
      case "append":
      case "heartbeat": {
        const prevText = args.get("prev") ?? "none";
        const prev = parseLogId(prevText);
        const entriesText = args.get("entries") ?? "[]";
        const first = (prev?.index ?? 0) + 1;
        const entries: Entry[] = parseTerms(entriesText).map((t, i) => ({
          term: t,
          index: first + i,
          type: "blank",
        }));
        message = {
          type: "append",
          clusterId,
          term,
          leaderId: from,
          prevLogId: prev,
          entries,
          leaderCommit: int(args.get("commit") ?? "0"),
          round: round === undefined ? 1 : int(round),
        };
        break;
      }
      case "append-response":
      case "append-reject": {
        const hint = args.get("hint");
        const h = hint === undefined ? null : parseLogId(hint);
        message = {
          type: "append-response",
          term,
          round: round === undefined ? 1 : int(round),
          success: kind === "append-response",
          index: int(args.get("index"), "index="),
          hintIndex: h?.index ?? 0,
          hintTerm: h?.term ?? 0,
        };
        break;
      }
      case "vote":
      case "pre-vote":
        message = {
          type: kind,
          clusterId,
          term,
          candidateId: from,
          lastLogId: parseLogId(args.get("last") ?? "none"),
          transfer: flag("transfer"),
        };
        break;
      case "vote-response":
      case "pre-vote-response":
        if (!flag("granted") && !flag("refused")) throw new Error(`${kind} ... granted|refused`);
        message = { type: kind, term, granted: flag("granted") };
        break;
      case "timeout-now":
        message = { type: "timeout-now", clusterId, term, leaderId: from };
        break;
      case "timeout-now-response":
        if (!flag("accepted") && !flag("refused")) throw new Error(`${kind} ... accepted|refused`);
        message = { type: "timeout-now-response", term, accepted: flag("accepted") };
        break;
      default:
        throw new Error(`cannot send ${kind}`);
    }
    const isRequest = ["append", "vote", "pre-vote", "timeout-now"].includes(message.type);
    let token = 0;
    if (isRequest) {
      token = c.nextToken++;
      c.replyTo.set(token, from);
    }
    // Handed to the receiver directly: a message from the script, not from the network.
    target.engine.receive(from, message, token);
    this.#process();
    if (!isRequest) return;
    const reply = target.commands.find((x) => x.type === "reply" && x.token === token);
    if (reply?.type === "reply") {
      // The answer goes back to the script, not to node `from`.
      const i = c.queue.findIndex((e) => e.message === reply.message && e.from === to);
      if (i >= 0) c.queue.splice(i, 1);
      this.#out.push(`reply: ${fmtMessage(reply.message)}`);
    } else if (!target.commands.some((x) => x.type === "refuse" && x.token === token)) {
      this.#out.push("no reply (yet)");
    }
  }

  // ---- delivery and time ---------------------------------------------------------------------

  /** Executes pending commands (nothing is delivered). */
  #process(): void {
    this.#cluster.process();
    this.#afterStep();
  }

  /** Delivers messages until the queue is empty. */
  #run(): void {
    this.#process();
    let n = 0;
    while (this.#deliverNext()) {
      if (++n > 100_000) throw new Error("cluster did not go quiet");
    }
  }

  #deliverNext(): boolean {
    const c = this.#cluster;
    const e = c.queue[0];
    if (e === undefined) return false;
    this.#fate = "dropped";
    const before = c.delivered.length;
    c.deliverOne();
    const delivered = c.delivered.length > before;
    this.#wire.push({ e, delivered });
    if (this.#trace) {
      this.#out.push(`${fmtEnvelope(e)}${delivered ? "" : `  (${this.#fate})`}`);
    }
    this.#afterStep();
    return true;
  }

  #advance(ms: number, step: number): void {
    const c = this.#cluster;
    const end = c.now + ms;
    while (c.now < end) {
      c.now = Math.min(end, c.now + step);
      for (const n of c.nodes.values()) n.engine.tick(c.now);
      this.#run();
    }
  }

  /** Reports what the nodes did (events) and checks the per-step invariants. */
  #afterStep(): void {
    const c = this.#cluster;
    for (const e of c.queue) {
      if (this.#seenOnWire.has(e)) continue;
      this.#seenOnWire.add(e);
      this.#sent.push(e);
    }
    for (const n of c.nodes.values()) {
      const from = this.#seen.get(n.id) ?? 0;
      for (const cmd of n.commands.slice(from)) this.#event(n, cmd);
      this.#seen.set(n.id, n.commands.length);
      const s = n.engine.status();
      const t = this.#terms.get(n.id) ?? 0;
      if (s.term < t) this.#violation(`node ${n.id}'s term went back from ${t} to ${s.term}`);
      this.#terms.set(n.id, s.term);
      const ci = s.committed?.index ?? 0;
      const cPrev = this.#commits.get(n.id) ?? 0;
      if (ci < cPrev) this.#violation(`node ${n.id}'s commit went back from ${cPrev} to ${ci}`);
      this.#commits.set(n.id, ci);
      if (s.role === "leader") {
        for (const [peer, p] of s.replication) {
          if (p.matched === null) continue;
          const key = `${n.id}:${s.term}:${peer}`;
          const prev = this.#matched.get(key) ?? 0;
          if (p.matched.index < prev) {
            this.#violation(
              `leader ${n.id}'s match index for ${peer} went back from ${prev} to ${p.matched.index}`,
            );
          }
          this.#matched.set(key, p.matched.index);
        }
      }
    }
    for (const [id, last] of this.#watched) {
      const now = this.#watchKey(id);
      if (now === last) continue;
      this.#watched.set(id, now);
      this.#out.push(`watch: ${id} is now ${now}`);
    }
    try {
      c.assertElectionSafety();
    } catch (e) {
      this.#violation(e instanceof Error ? e.message : String(e));
    }
  }

  #event(n: TestNode, cmd: Command): void {
    const id = n.id;
    const write = fmtWrite(cmd);
    if (write !== null) this.#writes.push(`${id}: ${write}`);
    switch (cmd.type) {
      case "truncate-log":
        this.#out.push(`${id} truncates its log from index ${cmd.since}`);
        break;
      case "read-ready":
      case "read-failed": {
        const r = this.#reads.find((x) => x.node === id && x.token === cmd.token);
        const name = r?.name ?? `token ${cmd.token}`;
        this.#out.push(
          cmd.type === "read-ready"
            ? `read ${name} on ${id}: ready at index ${cmd.index}`
            : `read ${name} on ${id}: failed, ${fmtReadFailure(cmd.reason)}`,
        );
        break;
      }
      case "membership-done":
        this.#out.push(
          `${id}: membership change done at ${fmtLogId(cmd.logId)}: ${
            fmtMembership(cmd.membership)
          }`,
        );
        break;
      case "peer-log-reverted":
        this.#out.push(
          `${id}: peer ${cmd.peer}'s log went backwards (matched ${cmd.matched}, rejected ` +
            `${cmd.index})${cmd.reset ? ", reset" : ""}`,
        );
        break;
      case "fatal":
        this.#out.push(
          `${id} stops: log diverged at index ${cmd.reason.index} (committed ` +
            `${cmd.reason.committed}, own term ${cmd.reason.ownTerm}, leader's ` +
            `${cmd.reason.leaderTerm})`,
        );
        break;
      case "send-snapshot":
        this.#out.push(`${id} sends its snapshot to ${cmd.to}`);
        break;
      case "install-snapshot":
        this.#out.push(`${id} installs the snapshot at ${fmtLogId(cmd.meta.lastLogId)}`);
        break;
      case "refuse": {
        const r = cmd.refusal;
        const why = r.kind === "cluster-mismatch"
          ? `cluster-mismatch (expected "${r.expected}", got "${r.got}")`
          : r.kind === "term-too-high"
          ? `term-too-high (${r.term} > ${r.max})`
          : `not-a-member (${r.from})`;
        this.#out.push(`${id} refuses a request: ${why}`);
        break;
      }
      default:
        break;
    }
  }

  #violation(what: string): never {
    throw new Error(`invariant violated: ${what}`);
  }

  /** Invariants over whole logs, checked after each command. */
  #checkInvariants(): void {
    if (this.#c === null) return;
    const nodes = this.#allIds().map((id) => this.#anyNode(id));
    // Log matching: logs that hold the same (index, term) hold the same prefix.
    for (let i = 0; i < nodes.length; i++) {
      for (let j = i + 1; j < nodes.length; j++) {
        const a = nodes[i]!.log;
        const b = nodes[j]!.log;
        let k = Math.min(a.length, b.length) - 1;
        while (k >= 0 && a[k]!.term !== b[k]!.term) k--;
        for (let x = 0; x < k; x++) {
          if (a[x]!.term !== b[x]!.term) {
            this.#violation(
              `nodes ${nodes[i]!.id} and ${nodes[j]!.id} share entry ${k + 1} but differ at ${
                x + 1
              }`,
            );
          }
        }
      }
    }
    // State machine safety: no two nodes applied different entries at one index.
    const at = new Map<number, string>();
    for (const n of nodes) {
      for (const e of n.applied) {
        const key = entryText(e);
        const prev = at.get(e.index);
        if (prev !== undefined && prev !== key) {
          this.#violation(`node ${n.id} applied ${key}, another node ${prev}`);
        }
        at.set(e.index, key);
      }
    }
  }

  // ---- the state table -----------------------------------------------------------------------

  #row(id: NodeId): Row {
    const down = this.#down.get(id);
    if (down !== undefined) {
      return {
        node: String(id),
        role: "down",
        term: String(down.durableVote.term),
        vote: down.durableVote.votedFor === null ? "-" : String(down.durableVote.votedFor),
        lead: "-",
        commit: "-",
        applied: "-",
        log: fmtTerms(down.durableLog.map((e) => e.term)),
        members: "",
        snapshot: "",
        purged: "",
        xfer: "",
        durable: "",
      };
    }
    const n = this.#node(id);
    const s = n.engine.status();
    const role = s.role === "candidate" && s.preCandidate ? "pre-candidate" : s.role;
    let members = fmtMembership(s.membership.membership);
    if (s.membership.logId?.index !== s.committedMembership.logId?.index) members += "*";
    const durableTerms = n.durableLog.map((e) => e.term);
    const sameLog = fmtTerms(durableTerms) === fmtTerms(n.terms());
    const sameVote = n.durableVote.term === n.vote.term &&
      n.durableVote.votedFor === n.vote.votedFor;
    return {
      node: String(id),
      role,
      term: String(s.term),
      vote: s.vote.votedFor === null ? "-" : String(s.vote.votedFor),
      lead: s.leaderId === null ? "-" : String(s.leaderId),
      commit: String(s.committed?.index ?? 0),
      applied: String(s.applied?.index ?? 0),
      log: fmtTerms(n.terms()),
      members,
      snapshot: s.snapshot === null ? "" : fmtLogId(s.snapshot.lastLogId),
      purged: s.purged === null ? "" : String(s.purged.index),
      xfer: s.transferTo === null ? "" : String(s.transferTo),
      durable: sameLog && sameVote
        ? ""
        : `term=${n.durableVote.term} vote=${n.durableVote.votedFor ?? "-"} log=${
          fmtTerms(durableTerms)
        }`,
    };
  }

  /** Appends the table: every node (`full`), or the nodes whose row changed. */
  #appendTable(full: boolean): void {
    if (this.#c === null) return;
    const idsNow = this.#allIds();
    const rows = new Map(idsNow.map((id) => [id, this.#row(id)]));
    const only = this.#statusOnly;
    this.#statusOnly = null;
    const show = idsNow.filter((id) => {
      if (only !== null) return only.includes(id);
      return full || this.#lastRows.get(id) !== JSON.stringify(rows.get(id));
    });
    for (const [id, r] of rows) this.#lastRows.set(id, JSON.stringify(r));
    if (show.length === 0) return;
    // An optional column is shown when some node has something to say in it; the
    // members column when some node's membership is not the one the cluster began with.
    const optional = OPTIONAL.filter((col) =>
      [...rows.values()].some((r) =>
        col === "members" ? r.members !== this.#defaultMembers && r.members !== "" : r[col] !== ""
      )
    );
    const cols = ["node", "role", "term", "vote", "lead", "commit", "applied", "log", ...optional];
    const lines = [cols, ...show.map((id) => cols.map((col) => rows.get(id)![col] || "-"))];
    this.#out.push(...table(lines));
  }
}
