/**
 * Reading a request body for the JSON routes (`adminRoutes`, `kvRoutes`):
 * bounded in size, JSON only where asked, each refusal as the error code,
 * message and HTTP status the routes answer with.
 *
 * @module
 */

import { readBody } from "./_bytes.ts";

/**
 * Why a body was refused: the error code and message of the JSON answer, and
 * its HTTP status.
 *
 * @example
 * ```ts
 * import type { BodyRefusal } from "./_request_body.ts";
 * const r: BodyRefusal = { error: "PayloadTooLarge", message: "too big", status: 413 };
 * ```
 */
export interface BodyRefusal {
  /** `InvalidMessage` or `PayloadTooLarge`. */
  readonly error: "InvalidMessage" | "PayloadTooLarge";
  /** What is wrong with it. */
  readonly message: string;
  /** 400, 413 or 415. */
  readonly status: 400 | 413 | 415;
}

/**
 * A body read: its value, or why it was refused.
 *
 * @example
 * ```ts
 * import type { BodyRead } from "./_request_body.ts";
 * const r: BodyRead<number> = { ok: true, value: 1 };
 * ```
 */
export type BodyRead<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly refusal: BodyRefusal };

const _utf8 = new TextDecoder("utf-8", { fatal: true });

function _refused(
  error: BodyRefusal["error"],
  message: string,
  status: BodyRefusal["status"],
): { readonly ok: false; readonly refusal: BodyRefusal } {
  return { ok: false, refusal: { error, message, status } };
}

/**
 * 415 (the body cancelled) unless the request says `application/json`, so
 * that no cross-site form can post it; `null` when it does.
 *
 * @example
 * ```ts
 * import { refuseUnlessJson } from "./_request_body.ts";
 * const r = await refuseUnlessJson(new Request("http://x/", { method: "POST", body: "a=1" }));
 * console.assert(r?.status === 415);
 * ```
 */
export async function refuseUnlessJson(req: Request): Promise<BodyRefusal | null> {
  const type = (req.headers.get("content-type") ?? "").split(";")[0]!.trim().toLowerCase();
  if (type === "application/json") return null;
  await req.body?.cancel().catch(() => {});
  return _refused("InvalidMessage", "the content type must be application/json", 415).refusal;
}

/**
 * The whole body, or a refusal: 413 beyond `max` bytes, 400 when it cannot
 * be read.
 *
 * @example
 * ```ts
 * import { readBoundedBody } from "./_request_body.ts";
 * const body = await readBoundedBody(new Request("http://x/", { method: "PUT", body: "hi" }), 10);
 * console.assert(body.ok && body.value.length === 2);
 * ```
 */
export async function readBoundedBody(req: Request, max: number): Promise<BodyRead<Uint8Array>> {
  let bytes: Uint8Array | number;
  try {
    bytes = await readBody(req, max);
  } catch {
    return _refused("InvalidMessage", "cannot read the request body", 400);
  }
  if (typeof bytes === "number") {
    return _refused("PayloadTooLarge", `the body exceeds ${max} bytes`, 413);
  }
  return { ok: true, value: bytes };
}

/**
 * The body as a JSON object, or a refusal: as {@linkcode readBoundedBody},
 * and 400 for text that is not UTF-8 JSON or a value that is not an object.
 *
 * @example
 * ```ts
 * import { readJsonObject } from "./_request_body.ts";
 * const body = await readJsonObject(new Request("http://x/", { method: "POST", body: '{"to":2}' }), 100);
 * console.assert(body.ok && body.value.to === 2);
 * ```
 */
export async function readJsonObject(
  req: Request,
  max: number,
): Promise<BodyRead<Record<string, unknown>>> {
  const bytes = await readBoundedBody(req, max);
  if (!bytes.ok) return bytes;
  let body: unknown;
  try {
    body = JSON.parse(_utf8.decode(bytes.value));
  } catch {
    return _refused("InvalidMessage", "the body is not valid JSON", 400);
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    return _refused("InvalidMessage", "the body must be a JSON object", 400);
  }
  return { ok: true, value: body as Record<string, unknown> };
}
