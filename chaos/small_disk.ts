/**
 * Small disks for the full-disk nemesis: a tmpfs of a few MiB mounted as a
 * node's data directory, at `/tmp/xraft-chaos/mnt/<harness pid>-<node id>`
 * (so a later run can unmount what a crashed harness left, see
 * {@linkcode cleanupStaleMounts}), and a filler file that takes all the
 * space left and gives it back.
 *
 * @module
 */

import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync } from "node:fs";
import { open, rm } from "node:fs/promises";
import { join } from "node:path";
import { isAlive } from "./stale_cleanup.ts";

/** Where small disks are mounted. */
export const MOUNT_DIR = "/tmp/xraft-chaos/mnt";

/**
 * Mounts a tmpfs of `mib` MiB for node `id`; its path, or why it cannot.
 */
export function mountSmallDisk(
  id: number,
  mib: number,
): { ok: true; path: string } | { ok: false; reason: string } {
  const path = join(MOUNT_DIR, `${process.pid}-${id}`);
  try {
    mkdirSync(path, { recursive: true });
    execFileSync("mount", ["-t", "tmpfs", "-o", `size=${mib}m`, "tmpfs", path], {
      timeout: 10_000,
      stdio: ["ignore", "ignore", "pipe"],
    });
    return { ok: true, path };
  } catch (e) {
    const err = (e as { stderr?: Uint8Array }).stderr;
    const text = err === undefined ? String(e) : new TextDecoder().decode(err).trim();
    rmSync(path, { recursive: true, force: true });
    return { ok: false, reason: `cannot mount a tmpfs (${text.slice(0, 160)})` };
  }
}

/**
 * Unmounts a small disk (lazily, so a process still holding files cannot block it).
 */
export function unmountSmallDisk(path: string): void {
  if (!path.startsWith(MOUNT_DIR + "/")) throw new Error(`not a small disk: ${path}`);
  try {
    execFileSync("umount", ["-l", path], { timeout: 10_000, stdio: "ignore" });
  } catch {
    // not mounted
  }
  rmSync(path, { recursive: true, force: true });
}

/**
 * Unmounts the small disks of harnesses that are gone (`own`: this
 * harness's own); what it did.
 *
 * @example
 * ```ts
 * import { cleanupStaleMounts } from "./small_disk.ts";
 * console.assert(Array.isArray(cleanupStaleMounts()));
 * ```
 */
export function cleanupStaleMounts(own = false): string[] {
  const done: string[] = [];
  let mounts = "";
  try {
    mounts = readFileSync("/proc/mounts", "utf8");
  } catch {
    return done;
  }
  for (const line of mounts.split("\n")) {
    const path = line.split(" ")[1] ?? "";
    const m = new RegExp(`^${MOUNT_DIR}/(\\d+)-\\d+$`).exec(path);
    if (m === null) continue;
    const owner = Number(m[1]);
    if (own ? owner !== process.pid : isAlive(owner)) continue;
    unmountSmallDisk(path);
    done.push(`unmounted stale small disk ${path}`);
  }
  return done;
}

/**
 * Fills the file system of `dir` with `dir/filler` until it is full (or
 * `maxMiB` written); the MiB written.
 */
export async function fillDisk(dir: string, maxMiB: number): Promise<number> {
  const file = await open(join(dir, "filler"), "w");
  const chunk = new Uint8Array(1 << 20).fill(0x5a);
  let written = 0;
  try {
    for (; written < maxMiB; written++) await file.write(chunk);
  } catch {
    // ENOSPC: full
  } finally {
    await file.close().catch(() => {});
  }
  return written;
}

/**
 * Frees what {@linkcode fillDisk} took.
 */
export async function freeDisk(dir: string): Promise<void> {
  await rm(join(dir, "filler"), { force: true });
}
