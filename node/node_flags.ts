/**
 * The command-line flags of a deployable node: {@linkcode parseNodeFlags}
 * reads them (each also from a `RAFT_*` environment variable) into
 * {@linkcode NodeOptions}; {@linkcode NODE_HELP} lists them; a bad flag
 * throws a {@linkcode FlagError}.
 *
 * @module
 */

import { type Config, DEFAULT_CONFIG, resolveConfig } from "../src/config.ts";
import { ConfigError, RaftError } from "../src/errors.ts";
import type { NodeId } from "../src/types.ts";
import { isLogLevel, type LogLevel } from "../src/runtime/console_logger.ts";

/**
 * A flag that cannot be used: unknown, malformed, out of range, or in a
 * combination that makes no sense (half of the TLS pair). Its message is
 * one line, meant to be printed as it is.
 *
 * @example
 * ```ts
 * import { FlagError, parseNodeFlags } from "./node_flags.ts";
 * try {
 *   parseNodeFlags(["--id", "x"]);
 * } catch (e) {
 *   console.assert(e instanceof FlagError && e.flag === "--id");
 * }
 * ```
 */
export class FlagError extends RaftError {
  /** The offending flag, e.g. `"--id"` (or the stray argument). */
  readonly flag: string;

  /**
   * A flag error.
   *
   * @param flag the offending flag
   * @param message what is wrong, on one line
   */
  constructor(flag: string, message: string) {
    super("FlagError", message);
    this.flag = flag;
  }

  /** The structured fields of `toJSON()`. */
  protected override fields(): Record<string, unknown> {
    return { flag: this.flag };
  }
}

/**
 * Where a node keeps its vote, log and snapshots: `auto` is Deno KV under
 * Deno and bun:sqlite under Bun; `memory` keeps nothing on disk.
 *
 * @example
 * ```ts
 * import type { NodeStorageFlag } from "./node_flags.ts";
 * const kind: NodeStorageFlag = "auto";
 * ```
 */
export type NodeStorageFlag = "auto" | "memory" | "deno-kv" | "sqlite";

/**
 * The node's TLS files (paths to PEM files).
 *
 * @example
 * ```ts
 * import type { NodeTlsFiles } from "./node_flags.ts";
 * const tls: NodeTlsFiles = { cert: "node.pem", key: "node-key.pem", ca: "ca.pem" };
 * ```
 */
export interface NodeTlsFiles {
  /** The server certificate (chain), PEM. */
  readonly cert: string;
  /** Its private key, PEM. */
  readonly key: string;
  /** The CA the peers' certificates are checked against; the system's CAs when absent. */
  readonly ca?: string;
}

/**
 * Everything a node's flags say, defaults applied ({@linkcode parseNodeFlags}).
 *
 * @example
 * ```ts
 * import { parseNodeFlags, type NodeOptions } from "./node_flags.ts";
 * const options: NodeOptions = parseNodeFlags(["--id", "2", "--join", "127.0.0.1:21001"]);
 * console.assert(options.port === 21002 && options.join === "http://127.0.0.1:21001");
 * ```
 */
export interface NodeOptions {
  /** This node's id (`--id`, default 1). */
  readonly id: NodeId;
  /** Interface to listen on, also advertised (`--addr` host; default 127.0.0.1). */
  readonly hostname: string;
  /** Port to listen on (`--addr` port; default 21000 + id; 0 = any free one). */
  readonly port: number;
  /** Data directory (`--data`; default `./data/node-<id>`); unused with `storage: "memory"`. */
  readonly data: string;
  /** Storage kind (`--storage`; default `auto`). */
  readonly storage: NodeStorageFlag;
  /**
   * Form a cluster on empty storage (`--init`): alone a one-node cluster at
   * once (first start only: a wiped node started again so forms a new
   * cluster); with `--join`, only if none of the `--join` addresses belongs
   * to an initialized cluster (otherwise it joins that cluster).
   */
  readonly init: boolean;
  /**
   * A member's base URL to join through (`--join`; the first one when it
   * lists several), normalized to `http(s)://host:port`.
   */
  readonly join?: string;
  /**
   * Every address `--join` lists (`--join a,b,c`), normalized like
   * {@linkcode NodeOptions.join} (which is the first); with `--init`, the
   * other members, probed before forming a cluster.
   */
  readonly joinList?: readonly string[];
  /** The cluster id `--init` gives the new cluster (`--cluster-id`); random when absent. */
  readonly clusterId?: string;
  /** The peers' shared secret, also on `/cluster/*` (`--secret`). */
  readonly secret?: string;
  /** A bearer token the application's client API requires (`--client-token`). */
  readonly clientToken?: string;
  /** TLS files (`--tls-cert`, `--tls-key`, `--tls-ca`); plain HTTP when absent. */
  readonly tls?: NodeTlsFiles;
  /**
   * The least level of the Raft records written to stderr as JSON lines
   * (`--log-level`: `debug`, `info`, `warn`, `error` or `off`; default `info`).
   */
  readonly logLevel?: LogLevel | "off";
  /**
   * Raft overrides: `--heartbeat`, `--election-timeout`, `--snapshot-every`
   * (`snapshotPolicy` logs-since-last) and `--keep-logs` (`maxInSnapshotLogsToKeep`).
   */
  readonly config: Partial<Config>;
}

/**
 * Where {@linkcode parseNodeFlags} reads environment variables from:
 * `(name) => value`, e.g. `(name) => Deno.env.get(name)`.
 *
 * @example
 * ```ts
 * import type { EnvLookup } from "./node_flags.ts";
 * const env: EnvLookup = (name) => ({ RAFT_ID: "3" } as Record<string, string>)[name];
 * ```
 */
export type EnvLookup = (name: string) => string | undefined;

/** One flag: its name, environment variable, whether it takes a value, and its help line. */
interface _Flag {
  readonly name: string;
  readonly value: string | null;
  readonly help: string;
}

const _FLAGS: readonly _Flag[] = [
  { name: "id", value: "N", help: "this node's id (default: 1)" },
  {
    name: "addr",
    value: "HOST:PORT",
    help: "address to listen on and advertise to the peers; port 0 = any free one\n" +
      "(default: 127.0.0.1:<21000 + id>, so node 1 is 127.0.0.1:21001)",
  },
  {
    name: "data",
    value: "DIR",
    help: "data directory: vote, log and snapshots (default: ./data/node-<id>)",
  },
  {
    name: "storage",
    value: "KIND",
    help: "auto | memory | deno-kv | sqlite: auto is Deno KV on Deno, bun:sqlite on Bun;\n" +
      "memory keeps nothing on disk (default: auto)",
  },
  {
    name: "init",
    value: null,
    help: "on empty storage, form a cluster of this node alone; ignored once\n" +
      "initialized. FIRST START ONLY: a node whose data was lost (wiped, new\n" +
      "disk) started again with --init alone forms a NEW cluster beside the old\n" +
      "one. For a multi-node cluster use --init --join <the other members>:\n" +
      "it forms the cluster only if every listed member answers and none\n" +
      "belongs to a cluster yet (it waits while one is unreachable); otherwise\n" +
      "it joins (default: off: a new node waits to be added)",
  },
  {
    name: "join",
    value: "ADDR[,ADDR...]",
    help: "on empty storage, ask a member (host:port or URL; the first that\n" +
      "answers) to add this node as a learner, then as a voter. Refused, exit 1,\n" +
      "when this node's id is already a voter: its data was probably lost; remove\n" +
      "it (POST /cluster/membership without it) and join under a new id\n" +
      "(default: none)",
  },
  {
    name: "cluster-id",
    value: "NAME",
    help: "the id --init gives the new cluster (default: a random one)",
  },
  {
    name: "secret",
    value: "TOKEN",
    help: "shared secret the peers send and require, also on /cluster/*\n" +
      "(default: none, unauthenticated)",
  },
  {
    name: "client-token",
    value: "TOKEN",
    help: "bearer token the client API requires (default: none, open)",
  },
  {
    name: "tls-cert",
    value: "FILE",
    help: "serve HTTPS with this PEM certificate; addresses become https://\n" +
      "(default: none, plain HTTP)",
  },
  { name: "tls-key", value: "FILE", help: "the certificate's PEM private key (default: none)" },
  {
    name: "tls-ca",
    value: "FILE",
    help: "PEM CA the peers' certificates are checked against (default: the system's)",
  },
  {
    name: "log-level",
    value: "LEVEL",
    help: "debug | info | warn | error | off: the least level of the Raft records\n" +
      "(role and term changes, membership, snapshots, unreachable peers, storage\n" +
      "failures) written to stderr, one JSON object per line (default: info)",
  },
  {
    name: "heartbeat",
    value: "MS",
    help: `leader heartbeat interval in ms (default: ${DEFAULT_CONFIG.heartbeatInterval})`,
  },
  {
    name: "election-timeout",
    value: "MIN-MAX",
    help: "election timeout range in ms " +
      `(default: ${DEFAULT_CONFIG.electionTimeoutMin}-${DEFAULT_CONFIG.electionTimeoutMax})`,
  },
  {
    name: "snapshot-every",
    value: "N",
    help: "take a snapshot every N applied entries, 0 = never " +
      `(default: ${_defaultSnapshotEvery()})`,
  },
  {
    name: "keep-logs",
    value: "N",
    help: "log entries kept behind a snapshot before the log is purged " +
      `(default: ${DEFAULT_CONFIG.maxInSnapshotLogsToKeep})`,
  },
];

function _defaultSnapshotEvery(): number {
  const policy = DEFAULT_CONFIG.snapshotPolicy;
  return policy.kind === "never" ? 0 : policy.logs;
}

/** The environment variable of flag `name`: `RAFT_` and the name in upper snake case. */
function _envName(name: string): string {
  return `RAFT_${name.toUpperCase().replaceAll("-", "_")}`;
}

/**
 * What `--help` prints after its one-line description: every flag with its
 * environment variable and default, and the exit codes.
 *
 * @example
 * ```ts
 * import { NODE_HELP } from "./node_flags.ts";
 * console.assert(NODE_HELP.includes("--secret TOKEN") && NODE_HELP.includes("RAFT_SECRET"));
 * ```
 */
export const NODE_HELP: string = (() => {
  const lines = [
    "Flags (each can also be set by the environment variable in brackets; a flag wins):",
    "",
  ];
  for (const f of _FLAGS) {
    lines.push(
      `  --${f.name}${f.value === null ? "" : ` ${f.value}`}  ` +
        `[${_envName(f.name)}${f.value === null ? "=1" : ""}]`,
    );
    for (const line of f.help.split("\n")) lines.push(`      ${line}`);
  }
  lines.push(
    "  --help",
    "      print this help and exit",
    "",
    "A node with neither --init, --join nor existing state waits to be added",
    "(POST /cluster/learners on the leader); it never forms a cluster by itself.",
    "",
    "A voter whose data directory was lost must not come back under its id (it",
    "forgot its vote): with --join it is refused (exit 1). Remove it from the",
    "cluster (POST /cluster/membership with the other voters) and start it with",
    "a new --id and --join.",
    "",
    "Exit codes: 0 after SIGINT/SIGTERM (a leader hands leadership over first),",
    "1 when the storage fails or the node stops by itself, or a join fails or is",
    "refused, 2 on a bad flag.",
  );
  return lines.join("\n");
})();

/**
 * Options of {@linkcode parseNodeFlags}.
 *
 * @example
 * ```ts
 * import type { ParseNodeFlagsOptions } from "./node_flags.ts";
 * const quickStart: ParseNodeFlagsOptions = { whenEmpty: ["--init"] };
 * ```
 */
export interface ParseNodeFlagsOptions {
  /**
   * The flags used instead when there are no flags at all and no `RAFT_*`
   * variable is set (a quick-start default, e.g. `["--init"]`). Default: none.
   */
  readonly whenEmpty?: readonly string[];
}

/**
 * Reads a node's flags from `args`, each falling back to its environment
 * variable (`--id` → `RAFT_ID`, `--cluster-id` → `RAFT_CLUSTER_ID`; `--init`
 * is on with `RAFT_INIT` other than `0`/`false`/`no`/empty), then to its
 * default (see {@linkcode NODE_HELP}). Flags are `--name value` or
 * `--name=value`; `--help` is accepted (and ignored: check for it first).
 *
 * `--join` takes one address or several separated by commas.
 *
 * @throws {FlagError} naming the flag, with a one-line message, for an
 * unknown flag, a stray argument, a missing or malformed value, half of
 * the TLS pair, or timing values Raft refuses.
 *
 * @example
 * ```ts
 * import { parseNodeFlags } from "./node_flags.ts";
 * const o = parseNodeFlags(["--id", "2", "--addr", "0.0.0.0:9000", "--election-timeout=300-600"]);
 * console.assert(o.id === 2 && o.hostname === "0.0.0.0" && o.port === 9000);
 * console.assert(o.data === "./data/node-2" && o.config.electionTimeoutMax === 600);
 * const fromEnv = parseNodeFlags([], (name) => name === "RAFT_SECRET" ? "s3cr3t" : undefined);
 * console.assert(fromEnv.secret === "s3cr3t" && !fromEnv.init);
 * ```
 */
export function parseNodeFlags(
  args: readonly string[],
  env?: EnvLookup,
  options?: ParseNodeFlagsOptions,
): NodeOptions;
export function parseNodeFlags(
  args: readonly string[],
  env: EnvLookup = () => undefined,
  options: ParseNodeFlagsOptions = {},
): NodeOptions {
  const anyEnv = _FLAGS.some((f) => env(_envName(f.name)) !== undefined);
  if (args.length === 0 && !anyEnv && options.whenEmpty !== undefined) {
    args = options.whenEmpty;
  }
  const given = new Map<string, string>();
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const m = /^--([a-z][a-z-]*)(?:=(.*))?$/s.exec(arg);
    if (m === null) throw new FlagError(arg, `unexpected argument ${_show(arg)} (see --help)`);
    const name = m[1]!;
    if (name === "help") continue;
    const flag = _FLAGS.find((f) => f.name === name);
    if (flag === undefined) throw new FlagError(`--${name}`, `unknown flag --${name} (see --help)`);
    if (flag.value === null) {
      given.set(name, m[2] ?? "1");
      continue;
    }
    const value = m[2] ?? args[++i];
    if (value === undefined) {
      throw new FlagError(`--${name}`, `--${name} needs a value ${flag.value} (see --help)`);
    }
    given.set(name, value);
  }
  const get = (name: string): string | undefined => given.get(name) ?? env(_envName(name));

  const id = _int("id", get("id") ?? "1", 1);
  let hostname = "127.0.0.1";
  let port = 21000 + id;
  const addr = get("addr");
  if (addr !== undefined) {
    const m = /^(\[[0-9a-fA-F:.]+\]|[^\s:/[\]]+):(\d{1,5})$/.exec(addr);
    if (m === null || Number(m[2]) > 65535) {
      throw new FlagError(
        "--addr",
        `--addr takes HOST:PORT (e.g. 127.0.0.1:21001), got ${_show(addr)}`,
      );
    }
    hostname = m[1]!.replace(/^\[(.*)\]$/, "$1");
    port = Number(m[2]);
  }
  if (port > 65535) {
    throw new FlagError("--id", `the default port 21000 + ${id} is above 65535: pass --addr`);
  }
  const data = get("data") ?? `./data/node-${id}`;
  if (data === "") throw new FlagError("--data", "--data needs a directory");
  const storage = get("storage") ?? "auto";
  if (!_isStorage(storage)) {
    throw new FlagError(
      "--storage",
      `--storage takes auto, memory, deno-kv or sqlite, got ${_show(storage)}`,
    );
  }
  if (storage === "deno-kv" && "Bun" in globalThis) {
    throw new FlagError(
      "--storage",
      "--storage deno-kv needs Deno (this is Bun): use auto or sqlite",
    );
  }
  if (storage === "sqlite" && !("Bun" in globalThis)) {
    throw new FlagError(
      "--storage",
      "--storage sqlite needs Bun (this is Deno): use auto or deno-kv",
    );
  }
  const initFlag = get("init");
  const init = initFlag !== undefined && !/^(0|false|no|)$/i.test(initFlag);

  const secret = get("secret");
  if (secret !== undefined) _token("secret", secret);
  const clientToken = get("client-token");
  if (clientToken !== undefined) _token("client-token", clientToken);
  const clusterId = get("cluster-id");
  if (clusterId !== undefined && !/^[A-Za-z0-9_.-]{1,64}$/.test(clusterId)) {
    throw new FlagError(
      "--cluster-id",
      `--cluster-id takes 1 to 64 letters, digits, '_', '.' or '-', got ${_show(clusterId)}`,
    );
  }

  const cert = get("tls-cert");
  const key = get("tls-key");
  const ca = get("tls-ca");
  for (const [name, v] of [["tls-cert", cert], ["tls-key", key], ["tls-ca", ca]] as const) {
    if (v === "") throw new FlagError(`--${name}`, `--${name} needs a file`);
  }
  if ((cert === undefined) !== (key === undefined)) {
    const missing = cert === undefined ? "--tls-cert" : "--tls-key";
    throw new FlagError(missing, "--tls-cert and --tls-key go together: pass both or neither");
  }
  if (ca !== undefined && cert === undefined) {
    throw new FlagError("--tls-ca", "--tls-ca needs --tls-cert and --tls-key (a TLS node)");
  }
  const tls: NodeTlsFiles | undefined = cert !== undefined && key !== undefined
    ? { cert, key, ...(ca !== undefined ? { ca } : {}) }
    : undefined;

  const joinFlag = get("join");
  let joinList: string[] | undefined;
  if (joinFlag !== undefined) {
    joinList = [];
    for (const one of joinFlag.split(",")) {
      const withScheme = /^[a-z]+:\/\//i.test(one) ? one : `${tls ? "https" : "http"}://${one}`;
      const m = /^(https?:\/\/[^/\s?#,]+)\/?$/i.exec(withScheme);
      if (m === null) {
        throw new FlagError(
          "--join",
          "--join takes members' HOST:PORT or URL (http(s)://host:port), separated by " +
            `commas, got ${_show(joinFlag)}`,
        );
      }
      if (!joinList.includes(m[1]!)) joinList.push(m[1]!);
    }
  }

  const logLevel = get("log-level") ?? "info";
  if (logLevel !== "off" && !isLogLevel(logLevel)) {
    throw new FlagError(
      "--log-level",
      `--log-level takes debug, info, warn, error or off, got ${_show(logLevel)}`,
    );
  }

  const config = _timing(get);
  return {
    id,
    hostname,
    port,
    data,
    storage,
    init,
    config,
    logLevel,
    ...(joinList !== undefined ? { join: joinList[0]!, joinList } : {}),
    ...(clusterId !== undefined ? { clusterId } : {}),
    ...(secret !== undefined ? { secret } : {}),
    ...(clientToken !== undefined ? { clientToken } : {}),
    ...(tls !== undefined ? { tls } : {}),
  };
}

function _timing(get: (name: string) => string | undefined): Partial<Config> {
  const config: { -readonly [K in keyof Config]?: Config[K] } = {};
  const heartbeat = get("heartbeat");
  if (heartbeat !== undefined) config.heartbeatInterval = _int("heartbeat", heartbeat, 1);
  const election = get("election-timeout");
  if (election !== undefined) {
    const m = /^(\d+)-(\d+)$/.exec(election);
    if (m === null) {
      throw new FlagError(
        "--election-timeout",
        `--election-timeout takes MIN-MAX in ms (e.g. 300-600), got ${_show(election)}`,
      );
    }
    config.electionTimeoutMin = _int("election-timeout", m[1]!, 1);
    config.electionTimeoutMax = _int("election-timeout", m[2]!, 1);
  }
  const every = get("snapshot-every");
  if (every !== undefined) {
    const n = _int("snapshot-every", every, 0);
    config.snapshotPolicy = n === 0 ? { kind: "never" } : { kind: "logs-since-last", logs: n };
  }
  const keep = get("keep-logs");
  if (keep !== undefined) config.maxInSnapshotLogsToKeep = _int("keep-logs", keep, 0);
  try {
    resolveConfig(config);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    const flag = e.field === "heartbeatInterval"
      ? "--heartbeat"
      : e.field === "snapshotPolicy"
      ? "--snapshot-every"
      : e.field === "maxInSnapshotLogsToKeep"
      ? "--keep-logs"
      : "--election-timeout";
    throw new FlagError(flag, `${flag}: ${e.message}`);
  }
  return config;
}

function _isStorage(s: string): s is NodeStorageFlag {
  return s === "auto" || s === "memory" || s === "deno-kv" || s === "sqlite";
}

function _int(name: string, s: string, min: number): number {
  const n = Number(s);
  if (!/^\d+$/.test(s) || !Number.isSafeInteger(n) || n < min) {
    throw new FlagError(
      `--${name}`,
      `--${name} takes an integer of at least ${min}, got ${_show(s)}`,
    );
  }
  return n;
}

function _token(name: string, s: string): void {
  if (!/^[\x21-\x7e]+$/.test(s)) {
    throw new FlagError(
      `--${name}`,
      `--${name} takes a non-empty token of visible ASCII characters (no spaces)`,
    );
  }
}

/** A value as shown in a one-line message: quoted, control characters escaped, cut at 80. */
function _show(s: string): string {
  const shown = JSON.stringify(s.length > 80 ? s.slice(0, 80) + "…" : s);
  return shown;
}
