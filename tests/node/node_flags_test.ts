import { test } from "node:test";
import assert from "node:assert/strict";
import { FlagError, NODE_HELP, parseNodeFlags } from "../../node/node_flags.ts";
import { RaftError } from "../../src/errors.ts";

const env = (vars: Record<string, string>) => (name: string): string | undefined => vars[name];

test("node flags: the defaults: node 1 on 127.0.0.1:21001, ./data/node-1, auto storage, no init", () => {
  const o = parseNodeFlags([]);
  assert.deepEqual(o, {
    id: 1,
    hostname: "127.0.0.1",
    port: 21001,
    data: "./data/node-1",
    storage: "auto",
    init: false,
    config: {},
    logLevel: "info",
  });
  const three = parseNodeFlags(["--id", "3"]);
  assert.equal(three.port, 21003);
  assert.equal(three.data, "./data/node-3");
});

test("node flags: every flag, as --name value and --name=value", () => {
  const o = parseNodeFlags([
    "--id=4",
    "--addr",
    "[::1]:9000",
    "--data",
    "/var/lib/raft",
    "--storage",
    "memory",
    "--join",
    "https://10.0.0.1:21001/",
    "--cluster-id",
    "prod-1",
    "--secret",
    "s3cr3t",
    "--client-token=t0ken",
    "--tls-cert",
    "c.pem",
    "--tls-key",
    "k.pem",
    "--tls-ca",
    "ca.pem",
    "--heartbeat",
    "100",
    "--election-timeout",
    "500-1000",
    "--snapshot-every",
    "64",
    "--keep-logs",
    "8",
    "--log-level",
    "debug",
  ]);
  assert.deepEqual(o, {
    id: 4,
    hostname: "::1",
    port: 9000,
    data: "/var/lib/raft",
    storage: "memory",
    init: false,
    join: "https://10.0.0.1:21001",
    joinList: ["https://10.0.0.1:21001"],
    clusterId: "prod-1",
    secret: "s3cr3t",
    clientToken: "t0ken",
    tls: { cert: "c.pem", key: "k.pem", ca: "ca.pem" },
    config: {
      heartbeatInterval: 100,
      electionTimeoutMin: 500,
      electionTimeoutMax: 1000,
      snapshotPolicy: { kind: "logs-since-last", logs: 64 },
      maxInSnapshotLogsToKeep: 8,
    },
    logLevel: "debug",
  });
  assert.equal(parseNodeFlags(["--log-level", "off"]).logLevel, "off");
  assert.deepEqual(parseNodeFlags(["--snapshot-every", "0"]).config.snapshotPolicy, {
    kind: "never",
  });
});

test("node flags: each falls back to its RAFT_* variable; a flag wins", () => {
  const vars = env({
    RAFT_ID: "2",
    RAFT_ADDR: "0.0.0.0:8080",
    RAFT_INIT: "1",
    RAFT_SECRET: "from-env",
    RAFT_CLUSTER_ID: "c",
    RAFT_ELECTION_TIMEOUT: "400-800",
  });
  const o = parseNodeFlags([], vars);
  assert.equal(o.id, 2);
  assert.equal(o.hostname, "0.0.0.0");
  assert.equal(o.port, 8080);
  assert.equal(o.init, true);
  assert.equal(o.secret, "from-env");
  assert.equal(o.clusterId, "c");
  assert.equal(o.config.electionTimeoutMin, 400);
  assert.equal(parseNodeFlags(["--secret", "flag"], vars).secret, "flag");
  for (const off of ["0", "false", "no", ""]) {
    assert.equal(parseNodeFlags([], env({ RAFT_INIT: off })).init, false, off);
  }
});

test("node flags: --join takes host:port (http, or https with TLS) or a URL", () => {
  assert.equal(parseNodeFlags(["--join", "127.0.0.1:21001"]).join, "http://127.0.0.1:21001");
  assert.equal(
    parseNodeFlags(["--join", "127.0.0.1:21001", "--tls-cert", "c", "--tls-key", "k"]).join,
    "https://127.0.0.1:21001",
  );
  assert.equal(parseNodeFlags(["--join", "http://n1:21001/"]).join, "http://n1:21001");
});

test("node flags: --join lists several members separated by commas; with --init it is allowed", () => {
  const o = parseNodeFlags(["--join", "127.0.0.1:21002,http://n3:21003/,127.0.0.1:21002"]);
  assert.equal(o.join, "http://127.0.0.1:21002", "join is the first");
  assert.deepEqual(o.joinList, ["http://127.0.0.1:21002", "http://n3:21003"], "once each");
  const first = parseNodeFlags(["--init", "--join", "n2:21002,n3:21003"]);
  assert.equal(first.init, true);
  assert.deepEqual(first.joinList, ["http://n2:21002", "http://n3:21003"]);
  assert.throws(() => parseNodeFlags(["--join", "n2:21002,"]), FlagError);
  assert.throws(() => parseNodeFlags(["--join", "n2:21002,,n3:1"]), FlagError);
});

test("node flags: --help says --init alone is for the first start only, and how to recover a wiped voter", () => {
  assert.match(NODE_HELP, /FIRST START ONLY/);
  assert.match(NODE_HELP, /--init --join <the other members>/);
  assert.match(NODE_HELP, /POST \/cluster\/membership/);
  assert.match(NODE_HELP, /new --id and --join/);
});

test("node flags: whenEmpty applies only with no flags and no RAFT_* variable", () => {
  assert.equal(parseNodeFlags([], undefined, { whenEmpty: ["--init"] }).init, true);
  assert.equal(parseNodeFlags(["--id", "1"], undefined, { whenEmpty: ["--init"] }).init, false);
  assert.equal(
    parseNodeFlags([], env({ RAFT_DATA: "/d" }), { whenEmpty: ["--init"] }).init,
    false,
  );
});

test("node flags: a bad flag throws a FlagError naming it, with a one-line message", () => {
  const cases: [string[], string][] = [
    [["--nope"], "--nope"],
    [["positional"], "positional"],
    [["--id"], "--id"],
    [["--id", "0"], "--id"],
    [["--id", "1.5"], "--id"],
    [["--addr", "127.0.0.1"], "--addr"],
    [["--addr", "127.0.0.1:70000"], "--addr"],
    [["--addr", "http://127.0.0.1:1"], "--addr"],
    [["--id", "70000"], "--id"],
    [["--storage", "s3"], "--storage"],
    [["--storage", "Bun" in globalThis ? "deno-kv" : "sqlite"], "--storage"],
    [["--data", ""], "--data"],
    [["--secret", "has space"], "--secret"],
    [["--client-token", ""], "--client-token"],
    [["--cluster-id", "a/b"], "--cluster-id"],
    [["--tls-key", "k"], "--tls-cert"],
    [["--tls-cert", "c"], "--tls-key"],
    [["--tls-ca", "ca"], "--tls-ca"],
    [["--join", "ftp://x:1"], "--join"],
    [["--join", "x:1/path"], "--join"],
    [["--heartbeat", "0"], "--heartbeat"],
    [["--heartbeat", "300"], "--heartbeat"],
    [["--election-timeout", "600-300"], "--election-timeout"],
    [["--election-timeout", "fast"], "--election-timeout"],
    [["--snapshot-every", "-1"], "--snapshot-every"],
    [["--keep-logs", "x"], "--keep-logs"],
    [["--log-level", "verbose"], "--log-level"],
  ];
  for (const [args, flag] of cases) {
    assert.throws(() => parseNodeFlags(args), (e) => {
      assert.ok(e instanceof FlagError && e instanceof RaftError, args.join(" "));
      assert.equal(e.flag, flag, args.join(" "));
      assert.equal(e.code, "FlagError");
      assert.ok(!e.message.includes("\n"), e.message);
      assert.deepEqual(e.toJSON().flag, flag);
      return true;
    });
  }
  // A secret is never echoed back.
  assert.throws(() => parseNodeFlags(["--secret", "top secret"]), (e) => {
    return e instanceof FlagError && !e.message.includes("top secret");
  });
});

test("node flags: --help lists every flag with its RAFT_* variable and default", () => {
  const flags = [...NODE_HELP.matchAll(/^ {2}--([a-z-]+)/gm)].map((m) => m[1]);
  assert.deepEqual(flags, [
    "id",
    "addr",
    "data",
    "storage",
    "init",
    "join",
    "cluster-id",
    "secret",
    "client-token",
    "tls-cert",
    "tls-key",
    "tls-ca",
    "log-level",
    "heartbeat",
    "election-timeout",
    "snapshot-every",
    "keep-logs",
    "help",
  ]);
  for (const flag of flags.filter((f) => f !== "help")) {
    const env = `RAFT_${flag!.toUpperCase().replaceAll("-", "_")}`;
    const at = NODE_HELP.indexOf(`\n  --${flag} `) >= 0
      ? NODE_HELP.indexOf(`\n  --${flag} `)
      : NODE_HELP.indexOf(`\n  --${flag}`);
    const entry = NODE_HELP.slice(at, NODE_HELP.indexOf("\n  --", at + 1));
    assert.ok(entry.includes(`[${env}`), `${flag}: ${entry}`);
    assert.match(entry, /default/, `${flag} states its default`);
  }
});
