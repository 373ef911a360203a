/**
 * Guards the architectural rules by reading the sources:
 * - `src/**` and `mod.ts` use Web APIs only: no `node:`/`bun:` imports, no `Deno`/`Bun` globals;
 * - `src/engine/**` is pure and deterministic: no time, randomness, timers, promises or async;
 * - the layout, from the import graph (static imports and re-exports, type-only ones included,
 *   and dynamic `import()`s): `src/engine/` imports only `src/types.ts`, `src/messages.ts` and
 *   itself; nothing in `src/` imports upward (foundation `src/*.ts` ← engine ← runtime ←
 *   transport; never `adapters/`, `kv/`, `testing/`, `examples/`, `bench/`, `tests/` or `mod.ts`); no
 *   import cycles in `src/`, `adapters/` or `testing/` (a failure names the cycle's files).
 *
 * The checker strips comments and string contents with a small tokenizer (so
 * prose in JSDoc does not trip it and `"http://x"` does not hide the code after
 * it), and is itself tested on inline sources and synthetic graphs below: a
 * checker that cannot fail would be worse than none.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join, posix, relative } from "node:path";
import { fileURLToPath } from "node:url";

// ---------------------------------------------------------------- tokenizer

interface Scanned {
  /** The source with comments removed and string/template/regex contents blanked. */
  readonly code: string;
  /** Contents of string literals and template chunks, with their line numbers. */
  readonly strings: readonly ScannedString[];
}

/** A string literal or template chunk found by {@linkcode scan}. */
interface ScannedString {
  readonly value: string;
  readonly line: number;
  /**
   * Where it stands in `code`: the offset of its opening quote (or backtick,
   * or of the `}` ending the `${…}` before a template chunk).
   */
  readonly at: number;
  /** `false` for a template chunk next to a `${…}` substitution. */
  readonly whole: boolean;
}

const REGEX_AFTER_WORD = new Set([
  "return",
  "typeof",
  "instanceof",
  "case",
  "do",
  "else",
  "in",
  "of",
  "new",
  "delete",
  "void",
  "throw",
  "yield",
  "await",
]);

/** Whether a `/` at this point starts a regex literal (rather than dividing). */
function regexAllowed(codeSoFar: string): boolean {
  const trimmed = codeSoFar.trimEnd();
  if (trimmed === "") return true;
  const last = trimmed[trimmed.length - 1]!;
  if (/[\w$]/.test(last)) {
    const word = /[A-Za-z_$][\w$]*$/.exec(trimmed)?.[0] ?? "";
    return REGEX_AFTER_WORD.has(word);
  }
  return !")]}".includes(last) && !/["'`]/.test(last);
}

function scan(src: string): Scanned {
  let code = "";
  const strings: ScannedString[] = [];
  let line = 1;
  let i = 0;
  // One entry per open `${`: how many `{` deep we are inside that expression.
  const templateDepth: number[] = [];

  const readTemplateChunk = (): void => {
    // At the character after "`" or after the "}" closing a `${`.
    const at = code.length - 1;
    const head = code[at] === "`";
    let value = "";
    while (i < src.length) {
      const ch = src[i]!;
      if (ch === "\\") {
        value += src[i + 1] ?? "";
        i += 2;
        continue;
      }
      if (ch === "`") {
        strings.push({ value, line, at, whole: head });
        code += "`";
        i++;
        return;
      }
      if (ch === "$" && src[i + 1] === "{") {
        strings.push({ value, line, at, whole: false });
        code += "${";
        i += 2;
        templateDepth.push(0);
        return;
      }
      if (ch === "\n") {
        line++;
        code += "\n";
      }
      value += ch;
      i++;
    }
  };

  while (i < src.length) {
    const ch = src[i]!;
    const next = src[i + 1];
    if (ch === "\n") {
      line++;
      code += ch;
      i++;
    } else if (ch === "/" && next === "/") {
      while (i < src.length && src[i] !== "\n") i++;
    } else if (ch === "/" && next === "*") {
      const end = src.indexOf("*/", i + 2);
      const stop = end === -1 ? src.length : end + 2;
      const newlines = src.slice(i, stop).split("\n").length - 1;
      line += newlines;
      code += newlines > 0 ? "\n".repeat(newlines) : " ";
      i = stop;
    } else if (ch === '"' || ch === "'") {
      let value = "";
      i++;
      while (i < src.length && src[i] !== ch && src[i] !== "\n") {
        if (src[i] === "\\") {
          value += src[i + 1] ?? "";
          i += 2;
        } else {
          value += src[i];
          i++;
        }
      }
      i++;
      strings.push({ value, line, at: code.length, whole: true });
      code += ch + ch;
    } else if (ch === "`") {
      code += "`";
      i++;
      readTemplateChunk();
    } else if (ch === "{" && templateDepth.length > 0) {
      templateDepth[templateDepth.length - 1]!++;
      code += ch;
      i++;
    } else if (ch === "}" && templateDepth.length > 0) {
      if (templateDepth[templateDepth.length - 1] === 0) {
        templateDepth.pop();
        code += "}";
        i++;
        readTemplateChunk();
      } else {
        templateDepth[templateDepth.length - 1]!--;
        code += ch;
        i++;
      }
    } else if (ch === "/" && regexAllowed(code)) {
      // A regex literal: skip to the closing unescaped "/" outside a class.
      i++;
      let inClass = false;
      while (i < src.length && src[i] !== "\n") {
        const c = src[i]!;
        if (c === "\\") i += 2;
        else {
          if (c === "[") inClass = true;
          else if (c === "]") inClass = false;
          else if (c === "/" && !inClass) break;
          i++;
        }
      }
      i++;
      while (i < src.length && /[a-z]/.test(src[i]!)) i++;
      code += "/ /";
    } else {
      code += ch;
      i++;
    }
  }
  return { code, strings };
}

// ------------------------------------------------------------------ checkers

/** A rule broken at a line of a source. */
interface Violation {
  readonly line: number;
  readonly what: string;
}

function codeMatches(code: string, pattern: RegExp, what: string): Violation[] {
  const found: Violation[] = [];
  const re = new RegExp(pattern.source, "g");
  for (let m = re.exec(code); m !== null; m = re.exec(code)) {
    found.push({ line: code.slice(0, m.index).split("\n").length, what: `${what}: ${m[0]}` });
  }
  return found;
}

/** Violations of "Web APIs only": node:/bun: modules, the Deno and Bun globals. */
function portabilityViolations(source: string): Violation[] {
  const { code, strings } = scan(source);
  const found: Violation[] = [];
  for (const s of strings) {
    if (/^(node|bun):[\w/.-]*$/.test(s.value)) {
      found.push({ line: s.line, what: `imports a runtime module: "${s.value}"` });
    }
    if (s.value === "Deno" || s.value === "Bun") {
      found.push({ line: s.line, what: `names the ${s.value} global: "${s.value}"` });
    }
  }
  found.push(...codeMatches(code, /\b(Deno|Bun)\b/, "uses a runtime global"));
  return found.sort((a, b) => a.line - b.line);
}

const ENGINE_FORBIDDEN: readonly [RegExp, string][] = [
  [/\bDate\b/, "reads the wall clock"],
  [/\bMath\s*\.\s*random\b/, "uses unseeded randomness"],
  [/\bcrypto\b/, "uses crypto"],
  [/\bperformance\b/, "reads the clock"],
  [/\b(setTimeout|setInterval|setImmediate|queueMicrotask)\b/, "schedules work"],
  [/\bPromise\b/, "uses promises"],
  [/\basync\b/, "is async"],
  [/\bawait\b/, "awaits"],
];

/** Violations of "the engine is pure, synchronous and deterministic". */
function engineViolations(source: string): Violation[] {
  const { code } = scan(source);
  const found: Violation[] = [];
  for (const [pattern, what] of ENGINE_FORBIDDEN) found.push(...codeMatches(code, pattern, what));
  return found.sort((a, b) => a.line - b.line);
}

// ------------------------------------------------------------------- imports

/** One import in a source: the specifier as written, and its line. */
interface ImportRef {
  readonly specifier: string;
  readonly line: number;
}

/** What {@linkcode importsOf} returns for an `import()` whose specifier is not a literal. */
const COMPUTED = "<computed specifier>";

/**
 * `import … from "x"` (type-only too), `import "x"`, and `export … from "x"`,
 * matched on scanned code (so up to the string's opening quote).
 */
const STATIC_IMPORT = new RegExp(
  [
    String
      .raw`(?<![\w$.])import\s+(?:type\s+)?(?:[\w$]+\s*,?\s*)?(?:\*\s*as\s+[\w$]+|\{[^}]*\})?\s*from\s*["']`,
    String.raw`(?<![\w$.])import\s*["']`,
    String.raw`(?<![\w$.])export\s+(?:type\s+)?(?:\*(?:\s*as\s+[\w$]+)?|\{[^}]*\})\s*from\s*["']`,
  ].join("|"),
  "g",
);

/** `import(` — a dynamic import, or `typeof import("x")` in a type. */
const DYNAMIC_IMPORT = /(?<![\w$.])import\s*\(\s*/g;

/**
 * The modules `source` imports: static imports and re-exports (type-only ones
 * included: a type is a dependency too) and dynamic `import()`s, in line
 * order. A dynamic import whose specifier is not one literal comes back as
 * {@linkcode COMPUTED}, so that no rule can be dodged by building the name.
 * Comments and strings are not code: an import in a JSDoc example is none.
 */
function importsOf(source: string): ImportRef[] {
  const { code, strings } = scan(source);
  const stringAt = new Map(strings.map((s) => [s.at, s]));
  const lineOf = (index: number): number => code.slice(0, index).split("\n").length;
  const found: ImportRef[] = [];
  for (const m of code.matchAll(STATIC_IMPORT)) {
    const s = stringAt.get(m.index + m[0].length - 1);
    found.push({ specifier: s?.value ?? COMPUTED, line: lineOf(m.index) });
  }
  for (const m of code.matchAll(DYNAMIC_IMPORT)) {
    const at = m.index + m[0].length;
    const s = stringAt.get(at);
    // One whole literal, then the end of the argument (or the options after it).
    const literal = s !== undefined && s.whole && /^\s*[),]/.test(code.slice(at + 2));
    found.push({ specifier: literal ? s.value : COMPUTED, line: lineOf(m.index) });
  }
  return found.sort((a, b) => a.line - b.line);
}

/** An import of a file: the module it resolves to, and the line. */
interface ImportEdge {
  /** A root-relative path (`src/types.ts`) for a relative specifier, else the specifier. */
  readonly to: string;
  /** As written. */
  readonly specifier: string;
  readonly line: number;
}

/** Files (root-relative, with `/`) and the imports of each. */
type ImportGraph = ReadonlyMap<string, readonly ImportEdge[]>;

/** `specifier` as imported by `file`: a root-relative path if relative, else as written. */
function resolveSpecifier(file: string, specifier: string): string {
  if (!specifier.startsWith("./") && !specifier.startsWith("../")) return specifier;
  return posix.normalize(posix.join(posix.dirname(file), specifier));
}

/** The import graph of `sources` (root-relative path → source text). */
function importGraph(sources: ReadonlyMap<string, string>): ImportGraph {
  const graph = new Map<string, ImportEdge[]>();
  for (const [file, source] of sources) {
    graph.set(
      file,
      importsOf(source).map((i) => ({ ...i, to: resolveSpecifier(file, i.specifier) })),
    );
  }
  return graph;
}

/**
 * Whether `path` is covered by `pattern`: a folder (`"src/engine/"`, anything
 * below it), the files directly in a folder (`"src/*"`), or one module
 * (`"src/types.ts"`, `"hono"`).
 */
function covers(pattern: string, path: string): boolean {
  if (pattern.endsWith("/*")) {
    const dir = pattern.slice(0, -1);
    return path.startsWith(dir) && !path.slice(dir.length).includes("/");
  }
  if (pattern.endsWith("/")) return path.startsWith(pattern);
  return path === pattern;
}

/** A rule on what some files may import. */
interface ImportRule {
  /** The importing files (see {@linkcode covers}). */
  readonly files: string;
  /** If set, the only modules they may import; anything else, a library included, breaks it. */
  readonly only?: readonly string[];
  /** Modules they may not import. */
  readonly never?: readonly string[];
  /** Why, for the failure message. */
  readonly why: string;
}

/**
 * Violations of `rules` in `graph`, as `file:line: imports X (why)`; a
 * computed import in a file under any rule is one too (it cannot be checked).
 */
function importRuleViolations(graph: ImportGraph, rules: readonly ImportRule[]): string[] {
  const problems: string[] = [];
  for (const [file, edges] of graph) {
    const applying = rules.filter((rule) => covers(rule.files, file));
    for (const { to, line } of edges) {
      if (applying.length > 0 && to === COMPUTED) {
        problems.push(`${file}:${line}: imports ${to} (an import the checker cannot follow)`);
        continue;
      }
      for (const rule of applying) {
        const outside = rule.only !== undefined && !rule.only.some((p) => covers(p, to));
        const banned = rule.never?.some((p) => covers(p, to)) ?? false;
        if (outside || banned) problems.push(`${file}:${line}: imports ${to} (${rule.why})`);
      }
    }
  }
  return problems.sort();
}

/** An import cycle: `files[0]` imports `files[1]`, …, the last imports `files[0]`. */
interface ImportCycle {
  readonly files: readonly string[];
  /** Every file of the strongly connected component the cycle was found in. */
  readonly tangle: readonly string[];
}

/**
 * The import cycles among the files of `graph` that `within` accepts: one per
 * strongly connected component (Tarjan), as the shortest cycle through the
 * component's first file, with the whole component alongside.
 */
function importCycles(graph: ImportGraph, within: (file: string) => boolean): ImportCycle[] {
  const next = (file: string): string[] =>
    [...new Set((graph.get(file) ?? []).map((e) => e.to))]
      .filter((to) => graph.has(to) && within(to))
      .sort();
  const files = [...graph.keys()].filter(within).sort();
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const components: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, index.size);
    low.set(v, index.get(v)!);
    stack.push(v);
    onStack.add(v);
    for (const w of next(v)) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      for (let w = stack.pop()!;; w = stack.pop()!) {
        onStack.delete(w);
        component.push(w);
        if (w === v) break;
      }
      components.push(component.sort());
    }
  };
  for (const f of files) if (!index.has(f)) visit(f);

  const cycles: ImportCycle[] = [];
  for (const component of components) {
    const start = component[0]!;
    if (component.length === 1 && !next(start).includes(start)) continue;
    // Breadth-first from `start` inside the component, back to `start`.
    const inside = new Set(component);
    const parent = new Map<string, string>();
    const queue = [start];
    let last: string | undefined;
    for (let i = 0; i < queue.length && last === undefined; i++) {
      const v = queue[i]!;
      for (const w of next(v)) {
        if (w === start) {
          last = v;
          break;
        }
        if (inside.has(w) && !parent.has(w)) {
          parent.set(w, v);
          queue.push(w);
        }
      }
    }
    const path = [last!];
    while (path[0] !== start) path.unshift(parent.get(path[0]!)!);
    cycles.push({ files: path, tangle: component });
  }
  return cycles.sort((a, b) => a.files[0]!.localeCompare(b.files[0]!));
}

/** A cycle for a failure message: `a → b → a`, and the rest of its tangle. */
function describeCycle(cycle: ImportCycle): string {
  const loop = [...cycle.files, cycle.files[0]!].join(" → ");
  const others = cycle.tangle.filter((f) => !cycle.files.includes(f));
  return others.length === 0 ? loop : `${loop} (tangled with ${others.join(", ")})`;
}

// --------------------------------------------------------------- the sources

const ROOT = fileURLToPath(new URL("..", import.meta.url));

function tsFilesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...tsFilesUnder(path));
    else if (/\.(ts|tsx|mts|cts)$/.test(name)) out.push(path);
  }
  return out;
}

function report(files: string[], check: (source: string) => Violation[]): string[] {
  const problems: string[] = [];
  for (const file of files) {
    for (const v of check(readFileSync(file, "utf8"))) {
      problems.push(`${relative(ROOT, file)}:${v.line}: ${v.what}`);
    }
  }
  return problems;
}

/** The import graph of every `.ts` file under `dirs` (root-relative). */
function realImportGraph(dirs: readonly string[]): ImportGraph {
  const sources = new Map<string, string>();
  for (const dir of dirs) {
    for (const file of tsFilesUnder(join(ROOT, dir))) {
      sources.set(relative(ROOT, file).replaceAll("\\", "/"), readFileSync(file, "utf8"));
    }
  }
  return importGraph(sources);
}

/**
 * The layers, bottom up: the foundation (`src/*`: types, messages, codec, …),
 * the engine, the runtime, the transport; then adapters, the test kit,
 * examples, benchmarks and tests, which `src/` never sees.
 */
const LAYER_RULES: readonly ImportRule[] = [
  {
    files: "src/engine/",
    only: ["src/engine/", "src/types.ts", "src/messages.ts"],
    why: "the engine is the protocol over plain data: src/types.ts, src/messages.ts, itself",
  },
  {
    files: "src/engine/",
    never: ["src/runtime/", "src/transport/"],
    why: "the engine is below the runtime and the transport",
  },
  {
    files: "src/runtime/",
    never: ["src/transport/"],
    why: "the runtime is below the transport",
  },
  {
    files: "src/*",
    never: ["src/engine/", "src/runtime/", "src/transport/"],
    why: "src/*.ts is the foundation every layer builds on",
  },
  {
    files: "src/",
    never: ["adapters/", "kv/", "node/", "testing/", "examples/", "bench/", "tests/", "mod.ts"],
    why: "the library never depends on what is built on it",
  },
  {
    files: "node/",
    never: ["testing/", "examples/", "bench/", "tests/", "mod.ts"],
    why: "the deployable node is built from src/, adapters/ and kv/ only",
  },
];

/** Where import cycles are not allowed. */
const ACYCLIC = ["src/", "adapters/", "kv/", "node/", "testing/"];

// ------------------------------------------------------- the rules, enforced

test("purity: src/ and mod.ts use Web APIs only (no node:, bun:, Deno or Bun)", () => {
  const files = [...tsFilesUnder(join(ROOT, "src")), join(ROOT, "mod.ts")].filter(existsSync);
  const problems = report(files, portabilityViolations);
  assert.deepEqual(
    problems,
    [],
    `runtime-specific code belongs in adapters/:\n${problems.join("\n")}`,
  );
});

test("purity: src/engine/ uses no time, randomness, timers, promises or async", () => {
  const problems = report(tsFilesUnder(join(ROOT, "src", "engine")), engineViolations);
  assert.deepEqual(
    problems,
    [],
    `the engine gets time from tick(now) and randomness from its PRNG:\n${problems.join("\n")}`,
  );
});

test("purity: the scan covers the real sources", () => {
  const files = tsFilesUnder(join(ROOT, "src")).map((f) => relative(ROOT, f).replaceAll("\\", "/"));
  for (const expected of ["src/types.ts", "src/messages.ts", "src/config.ts", "src/clock.ts"]) {
    assert.ok(files.includes(expected), `${expected} not found among ${files.join(", ")}`);
  }
  assert.ok(existsSync(join(ROOT, "mod.ts")), "mod.ts exists");
  // The real files pass through the tokenizer without losing their code.
  const { code } = scan(readFileSync(join(ROOT, "src", "clock.ts"), "utf8"));
  assert.match(code, /export class ManualClock/);
  assert.doesNotMatch(code, /@example/);
});

test("layout: src/ imports only downward (foundation ← engine ← runtime ← transport); node/ above", () => {
  const problems = importRuleViolations(realImportGraph(["src", "node"]), LAYER_RULES);
  assert.deepEqual(problems, [], `imports against the layering:\n${problems.join("\n")}`);
});

test("layout: no import cycles in src/, adapters/ or testing/", () => {
  const graph = realImportGraph(ACYCLIC);
  const cycles = importCycles(graph, (f) => ACYCLIC.some((d) => covers(d, f)));
  assert.deepEqual(
    cycles.map(describeCycle),
    [],
    `import cycles (break each by moving what both sides need below them):\n${
      cycles.map(describeCycle).join("\n")
    }`,
  );
});

test("layout: the import graph covers the real sources", () => {
  const graph = realImportGraph(ACYCLIC);
  const edges = (file: string): string[] => (graph.get(file) ?? []).map((e) => e.to);
  for (const dir of ACYCLIC) {
    assert.ok([...graph.keys()].some((f) => f.startsWith(dir)), `no file found under ${dir}`);
  }
  assert.ok(edges("src/engine/engine.ts").includes("src/types.ts"), "engine.ts imports types.ts");
  const routes = edges("src/transport/raft_routes.ts");
  assert.ok(routes.includes("src/messages.ts") && routes.includes("hono"), routes.join(", "));
  const adapters = edges("adapters/mod.ts");
  assert.ok(adapters.includes("adapters/deno_kv.ts"), `dynamic imports: ${adapters.join(", ")}`);
  // Every relative import resolves to a file: the resolver is not silently wrong.
  for (const [file, list] of graph) {
    for (const { specifier, to, line } of list) {
      if (specifier.startsWith(".")) {
        assert.ok(existsSync(join(ROOT, to)), `${file}:${line}: ${specifier} → ${to} is missing`);
      }
    }
  }
});

// ------------------------------------------------------ the checker, checked

test("purity checker: flags node: and bun: imports in every form", () => {
  const bad = [
    `import { readFileSync } from "node:fs";`,
    `import fs from 'node:fs/promises';`,
    `import "bun:sqlite";`,
    `export * from "node:path";`,
    `export { x } from 'bun:ffi';`,
    `const m = await import("node:os");`,
    "const m = await import(`node:${name}`);",
    `const fs = require("node:fs");`,
    `import type { Buffer } from "node:buffer";`,
  ];
  for (const source of bad) {
    assert.equal(portabilityViolations(source).length, 1, source);
  }
});

test("purity checker: flags the Deno and Bun globals however reached", () => {
  const bad = [
    `const k = await Deno.openKv();`,
    `Bun.file("x");`,
    `const env = globalThis.Deno?.env;`,
    `const b = (globalThis as any)["Bun"];`,
    `if (typeof Deno !== "undefined") {}`,
    `const { serve } = Bun;`,
  ];
  for (const source of bad) {
    assert.ok(portabilityViolations(source).length >= 1, source);
  }
});

test("purity checker: ignores comments, prose in strings and look-alike names", () => {
  const good = [
    `// Deno.openKv() lives in adapters/, as does import "node:fs"`,
    `/** Works on Deno and Bun. @example import { x } from "node:fs"; */ export const a = 1;`,
    `/* Bun.serve */ const b = 2;`,
    `const msg = "Deno.exit is not used"; const s = "see node: docs";`,
    `import { DenoKvStore } from "../adapters/deno_kv.ts"; const bunch = 1; const deno = 2;`,
    "const t = `running on ${runtimeName}`;",
    `const re = /\\/\\/ Deno/; const n = 4 / 2 / 1;`,
    `const r = /["'\`]node:fs/g;`,
  ];
  for (const source of good) {
    assert.deepEqual(portabilityViolations(source), [], source);
  }
});

test("purity checker: is not fooled by comment markers inside strings and regexes", () => {
  const bad = [
    `const url = "http://example.com"; Deno.exit(1);`,
    `const a = "/*"; Deno.exit(1); const b = "*/";`,
    `const re = /\\/*/; Bun.exit();`,
    "const t = `//${Deno.pid}`;",
    "const t = `a${`b${Bun.version}`}c`;",
    `const s = 'it\\'s'; import("node:fs");`,
  ];
  for (const source of bad) {
    assert.ok(portabilityViolations(source).length >= 1, source);
  }
});

test("purity checker: reports the line of a violation", () => {
  const source = `/**\n * Deno.x in a comment\n */\nconst a = "x";\nconst b = Deno.pid;\n`;
  assert.deepEqual(portabilityViolations(source).map((v) => v.line), [5]);
});

test("purity checker: flags time, randomness, timers and async in the engine", () => {
  const bad = [
    `const t = Date.now();`,
    `const d = new Date();`,
    `const r = Math.random();`,
    `const r = Math . random();`,
    `setTimeout(tick, 10);`,
    `const h = setInterval(f, 5);`,
    `queueMicrotask(run);`,
    `const t = performance.now();`,
    `crypto.getRandomValues(buf);`,
    `return Promise.resolve(1);`,
    `async function f() {}`,
    `const f = async () => 1;`,
    `for (const x of xs) await x;`,
  ];
  for (const source of bad) {
    assert.equal(engineViolations(source).length, 1, source);
  }
});

test("purity checker: lets the engine mention those names in comments, strings and identifiers", () => {
  const good = [
    `// no Date.now(), no Math.random(), no setTimeout: tick(now) gives time`,
    `/** Never async; never awaits a Promise. */ export function step(now: number): void {}`,
    `const reason = "await the flush of performance data";`,
    `const lastDate = 1; const updated = 2; const awaitingVotes = 3; const asyncQueue = [];`,
    `const random = this.random.int(1, 2); const cryptoKey = "k";`,
  ];
  for (const source of good) {
    assert.deepEqual(engineViolations(source), [], source);
  }
});

// ------------------------------------------------- the import rules, checked

test("import parser: finds every form of import, with its line", () => {
  const source = [
    `import { a, type B } from "./a.ts";`, // 1
    `import type { C } from '../c.ts';`, // 2
    `import d from "./d.ts";`, // 3
    `import e, { f } from "./e.ts";`, // 4
    `import * as g from "./g.ts";`, // 5
    `import "./side_effect.ts";`, // 6
    `export * from "./h.ts";`, // 7
    `export * as i from "./i.ts";`, // 8
    `export { j, type K } from "./j.ts";`, // 9
    `export type { L } from "./l.ts";`, // 10
    `const m = await import("./m.ts");`, // 11
    "const n = await import(`./n.ts`);", // 12
    `type O = typeof import("./o.ts");`, // 13
    `import {`, // 14
    `  p,`,
    `  q,`,
    `} from "./pq.ts";`,
    `import { Hono } from "hono";`, // 18
    `const r = await import("./r.ts", { with: { type: "json" } });`, // 19
  ].join("\n");
  assert.deepEqual(importsOf(source).map((i) => `${i.line} ${i.specifier}`), [
    "1 ./a.ts",
    "2 ../c.ts",
    "3 ./d.ts",
    "4 ./e.ts",
    "5 ./g.ts",
    "6 ./side_effect.ts",
    "7 ./h.ts",
    "8 ./i.ts",
    "9 ./j.ts",
    "10 ./l.ts",
    "11 ./m.ts",
    "12 ./n.ts",
    "13 ./o.ts",
    "14 ./pq.ts",
    "18 hono",
    "19 ./r.ts",
  ]);
});

test("import parser: a computed dynamic import is reported, not skipped", () => {
  const computed = [
    `const m = await import(name);`,
    "const m = await import(`./${name}.ts`);",
    `const m = await import("./" + name);`,
  ];
  for (const source of computed) {
    assert.deepEqual(importsOf(source).map((i) => i.specifier), [COMPUTED], source);
  }
});

test("import parser: ignores imports in comments and strings, import.meta and methods", () => {
  const none = [
    `// import { x } from "../runtime/raft.ts";`,
    `/** @example\n * import { Raft } from "../runtime/raft.ts";\n */ export const a = 1;`,
    `const s = 'import { x } from "../runtime/raft.ts"';`,
    'const t = `export * from "../transport/mod.ts"`;',
    `const url = new URL("./x.ts", import.meta.url);`,
    `loader.import("./x.ts"); const from = 1; export const importer = from;`,
    `export function load(): void {}\nexport const text = "from ./x.ts";`,
  ];
  for (const source of none) assert.deepEqual(importsOf(source), [], source);
});

/** A graph from inline sources, keyed by root-relative path. */
function graphOf(sources: Record<string, string>): ImportGraph {
  return importGraph(new Map(Object.entries(sources)));
}

test("import rules: the layering holds on a clean graph", () => {
  const graph = graphOf({
    "src/types.ts": `export type NodeId = number;`,
    "src/messages.ts": `import type { NodeId } from "./types.ts";`,
    "src/codec.ts": `import { encode } from "cbor-x/encode"; import "./messages.ts";`,
    "src/engine/engine.ts":
      `import type { M } from "../messages.ts"; import { c } from "./core.ts";`,
    "src/engine/core.ts": `import type { NodeId } from "../types.ts";`,
    "src/runtime/raft.ts":
      `import { RaftEngine } from "../engine/engine.ts"; import "../codec.ts";`,
    "src/transport/routes.ts": `import { Hono } from "hono"; import "../runtime/raft.ts";`,
    "adapters/memory.ts": `import "../src/storage.ts"; import "../testing/x.ts";`,
    "testing/simulator.ts": `import "../src/runtime/raft.ts"; import "../adapters/memory.ts";`,
  });
  assert.deepEqual(importRuleViolations(graph, LAYER_RULES), []);
  assert.deepEqual(importCycles(graph, () => true), []);
});

test("import rules: every rule can fail, and says where", () => {
  const graph = graphOf({
    "src/engine/a.ts": [
      `import { Raft } from "../runtime/raft.ts";`,
      `import { raftRoutes } from "../transport/raft_routes.ts";`,
      `import { encodeMessage } from "../codec.ts";`,
      `import { Hono } from "hono";`,
      `import type { X } from "../../testing/x.ts";`,
    ].join("\n"),
    "src/runtime/raft.ts": `import { HttpNetwork } from "../transport/http_network.ts";`,
    "src/config.ts": `import { RaftEngine } from "./engine/engine.ts";`,
    "src/transport/mod.ts": `export * from "../../adapters/memory.ts";`,
    "src/network.ts": `const m = await import("../" + name);`,
    "src/errors.ts": `import "../mod.ts";\nimport "../tests/x_test.ts";`,
    "src/clock.ts": `import "../examples/kv.ts";\nimport "../bench/sim.ts";`,
    "adapters/memory.ts": `import "../testing/mod.ts";`, // allowed: no rule on adapters/
    "src/types.ts": `import "../node/mod.ts";`,
    "node/start_node.ts": `import "../adapters/mod.ts";\nimport "../examples/kv.ts";`,
  });
  const problems = importRuleViolations(graph, LAYER_RULES);
  const at = (where: string): string[] =>
    problems.filter((p) => p.startsWith(`${where}: `)).map((p) => p.slice(where.length + 2));
  // The engine: only types, messages and itself; never the runtime or the transport.
  assert.equal(at("src/engine/a.ts:1").length, 2, problems.join("\n"));
  assert.equal(at("src/engine/a.ts:2").length, 2);
  assert.equal(at("src/engine/a.ts:3").length, 1);
  assert.match(at("src/engine/a.ts:3")[0]!, /^imports src\/codec\.ts \(the engine is/);
  assert.equal(at("src/engine/a.ts:4").length, 1);
  assert.equal(at("src/engine/a.ts:5").length, 2);
  // The runtime below the transport; the foundation below everything.
  assert.deepEqual(at("src/runtime/raft.ts:1"), [
    "imports src/transport/http_network.ts (the runtime is below the transport)",
  ]);
  assert.equal(at("src/config.ts:1").length, 1);
  // src/ never sees adapters/, testing/, examples/, bench/, tests/, mod.ts.
  for (const where of ["src/transport/mod.ts:1", "src/errors.ts:1", "src/errors.ts:2"]) {
    assert.equal(at(where).length, 1, where);
  }
  assert.equal(at("src/clock.ts:1").length + at("src/clock.ts:2").length, 2);
  // A computed import cannot be checked, so it is refused.
  assert.deepEqual(at("src/network.ts:1").map((p) => p.split(" (")[0]), [`imports ${COMPUTED}`]);
  assert.equal(at("adapters/memory.ts:1").length, 0);
  // src/ never sees node/; node/ builds on src/, adapters/ and kv/, never on examples/.
  assert.equal(at("src/types.ts:1").length, 1);
  assert.equal(at("node/start_node.ts:1").length, 0);
  assert.equal(at("node/start_node.ts:2").length, 1);
  assert.equal(problems.length, 18, problems.join("\n"));
  // Each rule was broken at least once.
  for (const rule of LAYER_RULES) {
    assert.ok(problems.some((p) => p.endsWith(`(${rule.why})`)), `never broken: ${rule.why}`);
  }
});

test("import cycles: found, named file by file, and only where asked", () => {
  const graph = graphOf({
    "src/a.ts": `import "./b.ts";`,
    "src/b.ts": `import "./c.ts";\nimport "./d.ts";`,
    "src/c.ts": `import "./a.ts";`,
    "src/d.ts": `import type { T } from "./types.ts";`,
    "src/types.ts": ``,
    "src/self.ts": `import { x } from "./self.ts";`,
    "testing/x.ts": `import "./y.ts";`,
    "testing/y.ts": `const x = await import("./x.ts");`,
    "tests/p_test.ts": `import "./q_test.ts";`,
    "tests/q_test.ts": `import "./p_test.ts";`,
  });
  const cycles = importCycles(graph, (f) => ACYCLIC.some((d) => covers(d, f)));
  assert.deepEqual(cycles.map(describeCycle), [
    "src/a.ts → src/b.ts → src/c.ts → src/a.ts",
    "src/self.ts → src/self.ts",
    "testing/x.ts → testing/y.ts → testing/x.ts",
  ]);
});

test("import cycles: the shortest cycle is shown, with the rest of its tangle", () => {
  const graph = graphOf({
    "e/a.ts": `import "./b.ts"; import "./c.ts";`,
    "e/b.ts": `import "./a.ts";`,
    "e/c.ts": `import "./d.ts";`,
    "e/d.ts": `import "./a.ts";`,
    "e/leaf.ts": ``,
  });
  assert.deepEqual(importCycles(graph, () => true).map(describeCycle), [
    "e/a.ts → e/b.ts → e/a.ts (tangled with e/c.ts, e/d.ts)",
  ]);
  // A diamond is no cycle.
  const diamond = graphOf({
    "a.ts": `import "./b.ts"; import "./c.ts";`,
    "b.ts": `import "./d.ts";`,
    "c.ts": `import "./d.ts";`,
    "d.ts": ``,
  });
  assert.deepEqual(importCycles(diamond, () => true), []);
});
