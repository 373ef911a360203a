// Test certificates made at test time with the `openssl` CLI: a CA, and a
// server certificate it signs for IP 127.0.0.1 and DNS localhost (SAN).
// EC P-256 keys (fast to make; every TLS stack here takes them), PKCS#8 PEM.
import { execFile } from "node:child_process";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";

/** PEM texts of a test CA certificate and of a server certificate and key it signed. */
export interface TestCerts {
  /** The CA's certificate (PEM): what a client trusts. */
  readonly caCert: string;
  /** The server's certificate (PEM), for 127.0.0.1 and localhost, signed by the CA. */
  readonly cert: string;
  /** The server's private key (PEM, PKCS#8). */
  readonly key: string;
}

/** Runs `openssl args…` in `cwd`; resolves with false when openssl is not installed. */
function _openssl(args: readonly string[], cwd: string): Promise<boolean> {
  return new Promise((resolve, reject) => {
    execFile("openssl", [...args], { cwd, timeout: 30_000 }, (err, _stdout, stderr) => {
      if (err === null) return resolve(true);
      if ((err as { code?: unknown }).code === "ENOENT") return resolve(false);
      reject(new Error(`openssl ${args.join(" ")} failed: ${err.message}\n${String(stderr)}`));
    });
  });
}

const _SERVER_EXT = [
  "basicConstraints=critical,CA:FALSE",
  "keyUsage=critical,digitalSignature,keyEncipherment",
  "extendedKeyUsage=serverAuth",
  "subjectAltName=IP:127.0.0.1,DNS:localhost",
  "",
].join("\n");

/**
 * Makes, in `dir` (created if missing), a CA and a server certificate for
 * IP 127.0.0.1 and DNS localhost signed by it, valid for two days, and
 * returns their PEM texts; `null` when the `openssl` CLI is not installed
 * (callers skip their test with a clear message). Each call makes a new CA:
 * two calls give two CAs that do not trust each other's certificates.
 */
export async function makeTestCerts(
  dir: string,
): Promise<{ caCert: string; cert: string; key: string } | null> {
  await mkdir(dir, { recursive: true });
  const steps: readonly (readonly string[])[] = [
    ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "ca.key"],
    [
      "req",
      "-x509",
      "-new",
      "-key",
      "ca.key",
      "-sha256",
      "-days",
      "2",
      "-subj",
      "/CN=raft test CA",
      "-addext",
      "basicConstraints=critical,CA:TRUE",
      "-addext",
      "keyUsage=critical,keyCertSign,cRLSign",
      "-out",
      "ca.pem",
    ],
    ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "server.key"],
    ["req", "-new", "-key", "server.key", "-subj", "/CN=localhost", "-out", "server.csr"],
    [
      "x509",
      "-req",
      "-in",
      "server.csr",
      "-CA",
      "ca.pem",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-sha256",
      "-days",
      "2",
      "-extfile",
      "server.ext",
      "-out",
      "server.pem",
    ],
  ];
  await writeFile(join(dir, "server.ext"), _SERVER_EXT);
  for (const args of steps) {
    if (!(await _openssl(args, dir))) return null;
  }
  const read = (name: string): Promise<string> => readFile(join(dir, name), "utf8");
  return {
    caCert: await read("ca.pem"),
    cert: await read("server.pem"),
    key: await read("server.key"),
  };
}
