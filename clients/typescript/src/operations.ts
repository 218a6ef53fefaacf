// Builders for Update and Purchase operations. Values travel as JSON text
// (docs/DOCUMENTS.md); paths are JSON Pointers.
import type { MessageInitShape } from "@bufbuild/protobuf";

import { OperationKind, type OperationSchema } from "./gen/hearth/v1/profile_pb.js";

export type OperationInit = MessageInitShape<typeof OperationSchema>;

/**
 * A JSON Pointer from unescaped segments: pointer("inventory", 0) is
 * "/inventory/0", pointer("a/b") is "/a~1b", pointer() is "" (the whole
 * document).
 */
export function pointer(...segments: (string | number)[]): string {
  return segments.map((s) => "/" + String(s).replaceAll("~", "~0").replaceAll("/", "~1")).join("");
}

function json(value: unknown): string {
  const text = JSON.stringify(value);
  if (text === undefined) {
    throw new TypeError(`cannot encode ${typeof value} as JSON`);
  }
  return text;
}

/**
 * The JSON number for an increment. Integers are exact in the node's int64
 * range, so a bigint is sent as is; a number that is an integer but beyond
 * 2^53 has already lost digits, and is refused rather than sent inexactly.
 */
function amount(by: number | bigint): string {
  if (typeof by === "bigint") {
    return by.toString();
  }
  if (!Number.isFinite(by)) {
    throw new RangeError(`increment by ${by}: not a finite number`);
  }
  if (Number.isInteger(by) && !Number.isSafeInteger(by)) {
    throw new RangeError(`increment by ${by}: beyond 2^53 a number is not exact; pass a bigint`);
  }
  return json(by);
}

/** Operation builders: op.increment("/coins", 5), op.set(pointer("name"), "Ada"). */
export const op = {
  /** Write value at path, creating missing parent objects. */
  set: (path: string, value: unknown): OperationInit => ({ kind: OperationKind.SET, path, value: json(value) }),
  /** Remove path; a missing path is not an error. */
  delete: (path: string): OperationInit => ({ kind: OperationKind.DELETE, path }),
  /** Add by to the number at path (missing counts as 0). */
  increment: (path: string, by: number | bigint): OperationInit => ({ kind: OperationKind.INCREMENT, path, value: amount(by) }),
  /** Append value to the array at path (created if missing). */
  append: (path: string, value: unknown): OperationInit => ({ kind: OperationKind.APPEND, path, value: json(value) }),
  /** Remove the first element equal to value from the array at path (NOT_FOUND if none). */
  remove: (path: string, value: unknown): OperationInit => ({ kind: OperationKind.REMOVE, path, value: json(value) }),
  /** JSON Merge Patch (RFC 7386) value into the object at path. */
  merge: (path: string, value: unknown): OperationInit => ({ kind: OperationKind.MERGE, path, value: json(value) }),
  /** Write value at path only if nothing is there. */
  setIfAbsent: (path: string, value: unknown): OperationInit => ({ kind: OperationKind.SET_IF_ABSENT, path, value: json(value) }),
} as const;
