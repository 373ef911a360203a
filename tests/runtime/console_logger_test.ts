// consoleLogger: levels, JSON lines and logfmt, values JSON cannot carry, a bad level refused.
import { test } from "node:test";
import assert from "node:assert/strict";
import { consoleLogger, isLogLevel, type LogLevel } from "../../src/runtime/console_logger.ts";
import { InvalidArgument } from "../../src/errors.ts";

const FIXED = () => new Date("2026-12-07T12:00:00.000Z");

function capture(level?: LogLevel, format?: "json" | "text") {
  const lines: { line: string; level: LogLevel }[] = [];
  const log = consoleLogger({
    ...(level !== undefined ? { level } : {}),
    ...(format !== undefined ? { format } : {}),
    now: FIXED,
    write: (line, l) => lines.push({ line, level: l }),
  });
  return { log, lines };
}

function writeAll(log: ReturnType<typeof consoleLogger>): void {
  log.debug("d");
  log.info("i");
  log.warn("w");
  log.error("e");
}

test("consoleLogger: writes the records at or above its level (default info)", () => {
  const cases: [LogLevel | undefined, string[]][] = [
    [undefined, ["i", "w", "e"]],
    ["debug", ["d", "i", "w", "e"]],
    ["info", ["i", "w", "e"]],
    ["warn", ["w", "e"]],
    ["error", ["e"]],
  ];
  for (const [level, expected] of cases) {
    const { log, lines } = capture(level);
    writeAll(log);
    assert.deepEqual(lines.map((l) => JSON.parse(l.line).msg), expected, String(level));
    assert.deepEqual(
      lines.map((l) => l.level),
      lines.map((l) => JSON.parse(l.line).level),
      "the level is passed to write",
    );
  }
});

test("consoleLogger: one JSON object per line: time, level, msg, then the fields", () => {
  const { log, lines } = capture("info");
  log.warn("peer unreachable", {
    id: 1,
    cluster: "kv",
    peer: 2,
    big: 10n,
    error: new Error("boom"),
    msg: "not overwritten",
  });
  assert.equal(lines.length, 1);
  assert.ok(!lines[0]!.line.includes("\n"));
  const record = JSON.parse(lines[0]!.line);
  assert.deepEqual(Object.keys(record).slice(0, 5), ["time", "level", "msg", "id", "cluster"]);
  assert.equal(record.time, "2026-12-07T12:00:00.000Z");
  assert.equal(record.level, "warn");
  assert.equal(record.msg, "peer unreachable");
  assert.equal(record.peer, 2);
  assert.equal(record.big, "10");
  assert.equal(record.error, "Error: boom");
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  log.info("cycle", { cyclic });
  assert.equal(JSON.parse(lines[1]!.line).msg, "cycle");
});

test("consoleLogger: logfmt with format text", () => {
  const { log, lines } = capture("debug", "text");
  log.info("role changed", { id: 1, role: "leader", reason: "election-won", leaderId: null });
  log.info("x", { text: 'a "quoted" value', nested: { a: 1 } });
  assert.equal(
    lines[0]!.line,
    'time=2026-12-07T12:00:00.000Z level=info msg="role changed" id=1 role=leader ' +
      "reason=election-won leaderId=null",
  );
  assert.match(lines[1]!.line, / text="a \\"quoted\\" value" nested="\{\\"a\\":1\}"$/);
});

test("consoleLogger: an unknown level is refused; isLogLevel", () => {
  assert.throws(
    () => consoleLogger({ level: "verbose" as LogLevel }),
    (e) => e instanceof InvalidArgument && e.argument === "level",
  );
  assert.ok(isLogLevel("debug") && isLogLevel("error"));
  assert.ok(!isLogLevel("off") && !isLogLevel(3));
});
