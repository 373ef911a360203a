// Runs the shell commands of the operator pages (docs/deploying.md, docs/operating.md) as
// written, with `bash -c`, after moving them onto this machine: the hosts 10.0.0.N:21001
// become 127.0.0.1 on free ports, /etc/raft and /var/lib/raft become temp directories.
// Deno only (Deno.Command reports a child's own exit code after SIGTERM; node:child_process
// under Deno does not): the commands start `deno`, whichever runner runs the tests.
import assert from "node:assert/strict";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { type Child, childEnv, ROOT, spawnChild, until, within } from "./_process.ts";
import { freePort } from "../../chaos/node_placement.ts";

/** Where the documented hosts live on this machine. */
export interface DocHosts {
  /** The temp directory everything goes under. */
  readonly dir: string;
  /** Port of documented host 10.0.0.N (index N). */
  readonly ports: readonly number[];
}

/** `n` hosts (10.0.0.1 … 10.0.0.n) on free ports under `dir`. */
export async function docHosts(dir: string, n: number): Promise<DocHosts> {
  const ports = [0];
  for (let i = 1; i <= n; i++) {
    let port = await freePort();
    while (ports.includes(port)) port = await freePort();
    ports.push(port);
  }
  mkdirSync(join(dir, "etc-raft"), { recursive: true });
  for (let i = 1; i <= n; i++) mkdirSync(join(dir, `host-${i}`), { recursive: true });
  return { dir, ports };
}

/**
 * `command` as it runs on host `host` of this machine: every `10.0.0.N:21001` is
 * 127.0.0.1 and the port of host N, `IP:10.0.0.N` (a certificate's SAN) is 127.0.0.1,
 * `/etc/raft` is shared, `/var/lib/raft` and `/var/backups/raft` are the host's own.
 */
export function onHost(hosts: DocHosts, host: number, command: string): string {
  return command
    .replace(/10\.0\.0\.(\d+):21001/g, (_all, n: string) => {
      const port = hosts.ports[Number(n)];
      assert.ok(port !== undefined, `no host 10.0.0.${n} in this test`);
      return `127.0.0.1:${port}`;
    })
    .replace(/IP:10\.0\.0\.\d+/g, "IP:127.0.0.1")
    .replaceAll("/etc/raft", join(hosts.dir, "etc-raft"))
    .replaceAll("/var/lib/raft", join(hosts.dir, `host-${host}`, "var-lib-raft"))
    .replaceAll("/var/backups/raft", join(hosts.dir, `host-${host}`, "var-backups-raft"));
}

/** A `bash -c` process and its output. */
export type Shell = Child;

/** The environment of the commands: PATH with node_modules/.bin first, no RAFT_* variables. */
function _env(): Record<string, string> {
  return childEnv({
    PATH: `${join(ROOT, "node_modules", ".bin")}:${process.env.PATH ?? "/usr/bin:/bin"}`,
  });
}

/** Runs `command` with `bash -c` in `cwd` (default: the checkout, where `examples/` is). */
export function shell(command: string, cwd: string = ROOT): Shell {
  if (!("Deno" in globalThis)) throw new Error("doc shell commands run under Deno only");
  return spawnChild("bash", ["-c", command], { env: _env(), cwd, lineTimeout: 30_000 });
}

/** Runs a short command to its end (bounded); asserts exit 0; resolves with its stdout. */
export async function runToEnd(command: string, cwd?: string, ms = 30_000): Promise<string> {
  const sh = shell(command, cwd);
  let code: number | string;
  try {
    code = await within(sh.exited, ms, command);
  } catch (e) {
    sh.kill("SIGKILL");
    await sh.exited;
    throw e;
  }
  assert.equal(code, 0, `${command}\nexited ${code}:\n${sh.stdout()}\n${sh.stderr()}`);
  return sh.stdout();
}

/** The text of a docs page with `\` continuations joined, as the docs commands test joins them. */
function _joined(page: string): string {
  return readFileSync(join(ROOT, "docs", page), "utf8").replace(/ *\\\n */g, " ");
}

/** `command`, asserted to be on docs/`page` as written. */
export function documented(page: string, command: string): string {
  assert.ok(_joined(page).includes(command), `docs/${page} no longer has: ${command}`);
  return command;
}

// The commands of docs/deploying.md that several tests run: certificates and the nodes.
export const CERT_COMMANDS = [
  // exercises: openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ca.key
  "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ca.key",
  // exercises: openssl req -x509 -new -key ca.key -sha256 -days 3650 -subj "/CN=raft CA" -out ca.pem
  'openssl req -x509 -new -key ca.key -sha256 -days 3650 -subj "/CN=raft CA" -out ca.pem',
];
/** Made for node-1 as written, then for node-2 and node-3 as the page says. */
export const NODE_CERT_COMMANDS = [
  // exercises: openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out node-1.key
  "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out node-1.key",
  // exercises: openssl req -new -key node-1.key -subj "/CN=node-1" -out node-1.csr
  'openssl req -new -key node-1.key -subj "/CN=node-1" -out node-1.csr',
  // exercises: printf 'subjectAltName=IP:10.0.0.1\nextendedKeyUsage=serverAuth\n' > node-1.ext
  "printf 'subjectAltName=IP:10.0.0.1\\nextendedKeyUsage=serverAuth\\n' > node-1.ext",
  // exercises: openssl x509 -req -in node-1.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 825 -sha256 -extfile node-1.ext -out node-1.pem
  "openssl x509 -req -in node-1.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 825 -sha256 -extfile node-1.ext -out node-1.pem",
];
// exercises: openssl rand -hex 32 > secret
export const SECRET_COMMAND = "openssl rand -hex 32 > secret";

/** The start command lines of nodes 1–3 in docs/deploying.md (index = id). */
export const START: readonly string[] = [
  "",
  // exercises: RAFT_SECRET=$(cat /etc/raft/secret) deno run -A --v8-flags=--max-semi-space-size=2 examples/kv.ts --id 1 --addr 10.0.0.1:21001 --data /var/lib/raft --tls-cert /etc/raft/node-1.pem --tls-key /etc/raft/node-1.key --tls-ca /etc/raft/ca.pem --init --join 10.0.0.2:21001,10.0.0.3:21001
  "RAFT_SECRET=$(cat /etc/raft/secret) deno run -A --v8-flags=--max-semi-space-size=2 examples/kv.ts --id 1 --addr 10.0.0.1:21001 --data /var/lib/raft --tls-cert /etc/raft/node-1.pem --tls-key /etc/raft/node-1.key --tls-ca /etc/raft/ca.pem --init --join 10.0.0.2:21001,10.0.0.3:21001",
  // exercises: RAFT_SECRET=$(cat /etc/raft/secret) deno run -A --v8-flags=--max-semi-space-size=2 examples/kv.ts --id 2 --addr 10.0.0.2:21001 --data /var/lib/raft --tls-cert /etc/raft/node-2.pem --tls-key /etc/raft/node-2.key --tls-ca /etc/raft/ca.pem --join 10.0.0.1:21001
  "RAFT_SECRET=$(cat /etc/raft/secret) deno run -A --v8-flags=--max-semi-space-size=2 examples/kv.ts --id 2 --addr 10.0.0.2:21001 --data /var/lib/raft --tls-cert /etc/raft/node-2.pem --tls-key /etc/raft/node-2.key --tls-ca /etc/raft/ca.pem --join 10.0.0.1:21001",
  // exercises: RAFT_SECRET=$(cat /etc/raft/secret) deno run -A --v8-flags=--max-semi-space-size=2 examples/kv.ts --id 3 --addr 10.0.0.3:21001 --data /var/lib/raft --tls-cert /etc/raft/node-3.pem --tls-key /etc/raft/node-3.key --tls-ca /etc/raft/ca.pem --join 10.0.0.1:21001
  "RAFT_SECRET=$(cat /etc/raft/secret) deno run -A --v8-flags=--max-semi-space-size=2 examples/kv.ts --id 3 --addr 10.0.0.3:21001 --data /var/lib/raft --tls-cert /etc/raft/node-3.pem --tls-key /etc/raft/node-3.key --tls-ca /etc/raft/ca.pem --join 10.0.0.1:21001",
];

/**
 * Makes the CA (in /etc/raft of `hosts`), a certificate for each node of `ids` (the
 * commands for node-1, as the page says to repeat them for the others) and the secret.
 */
export async function makeCerts(hosts: DocHosts, ids: readonly number[]): Promise<void> {
  const etc = join(hosts.dir, "etc-raft");
  const page = "deploying.md";
  for (const c of CERT_COMMANDS) await runToEnd(onHost(hosts, 1, documented(page, c)), etc);
  for (const n of ids) {
    for (const c of NODE_CERT_COMMANDS) {
      const forNode = documented(page, c).replaceAll("node-1", `node-${n}`)
        .replaceAll("10.0.0.1", `10.0.0.${n}`);
      await runToEnd(onHost(hosts, n, forNode), etc);
    }
  }
  await runToEnd(documented(page, SECRET_COMMAND), etc);
}

/** Nodes started and stopped with documented command lines (`commands[id]`). */
export class DocNodes {
  readonly running: (Shell | null)[] = [];
  constructor(readonly hosts: DocHosts, readonly commands: readonly string[]) {}

  start(ids: readonly number[]): Promise<string[]> {
    for (const id of ids) {
      this.running[id] = shell(onHost(this.hosts, id, this.commands[id]!));
    }
    return Promise.all(ids.map((id) => this.running[id]!.line(/listening on/, 60_000)));
  }

  /** SIGTERM, then exit 0 (a graceful stop). */
  async stop(id: number): Promise<string> {
    const node = this.running[id]!;
    node.kill("SIGTERM");
    const code = await within(node.exited, 20_000, `node ${id} after SIGTERM`);
    assert.equal(code, 0, `node ${id} exits 0 after SIGTERM:\n${node.stderr()}`);
    this.running[id] = null;
    return node.stdout();
  }

  async killAll(): Promise<void> {
    for (const node of this.running) node?.kill("SIGKILL");
    await Promise.all(this.running.map((n) => n?.exited));
  }
}

/** Polls a /ready command (the documented one, or it for another host) until it says ok. */
export function ready(hosts: DocHosts, command: string, host: number): Promise<true> {
  return until(`${command} on host ${host}`, async () => {
    const out = await runToEnd(onHost(hosts, host, command));
    return out.includes('"ok":true') ? true : undefined;
  }, 30_000);
}
