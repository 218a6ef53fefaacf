// Batch items and their outcomes: one request, one typed outcome per item.
import type { MessageInitShape } from "@bufbuild/protobuf";

import { HearthError } from "./errors.js";
import {
  ErrorCode,
  type AcquireRequestSchema,
  type BatchItem,
  type BatchItemSchema,
  type BatchResult,
  type GetRequestSchema,
  type HeartbeatRequestSchema,
  type PurchaseRequestSchema,
  type ReleaseRequestSchema,
  type SaveRequestSchema,
  type UpdateRequestSchema,
} from "./gen/hearth/v1/profile_pb.js";

export type BatchItemInit = MessageInitShape<typeof BatchItemSchema>;

/** What a batch item does: "acquire", "update", "get", ... */
export type BatchKind = NonNullable<BatchItem["request"]["case"]>;

type ResponseOf<K extends BatchKind> = Extract<BatchResult["response"], { case: K }>["value"];

/** One item's outcome: its response, or the error that item failed with. */
export type BatchOutcome = {
  [K in BatchKind]:
    | { kind: K; ok: true; response: ResponseOf<K>; error?: undefined }
    | { kind: K; ok: false; error: HearthError; response?: undefined };
}[BatchKind];

/** Batch item builders: client.batch([item.acquire({...}), item.update({...})]). */
export const item = {
  acquire: (value: MessageInitShape<typeof AcquireRequestSchema>): BatchItemInit => ({ request: { case: "acquire", value } }),
  update: (value: MessageInitShape<typeof UpdateRequestSchema>): BatchItemInit => ({ request: { case: "update", value } }),
  get: (value: MessageInitShape<typeof GetRequestSchema>): BatchItemInit => ({ request: { case: "get", value } }),
  release: (value: MessageInitShape<typeof ReleaseRequestSchema>): BatchItemInit => ({ request: { case: "release", value } }),
  purchase: (value: MessageInitShape<typeof PurchaseRequestSchema>): BatchItemInit => ({ request: { case: "purchase", value } }),
  save: (value: MessageInitShape<typeof SaveRequestSchema>): BatchItemInit => ({ request: { case: "save", value } }),
  heartbeat: (value: MessageInitShape<typeof HeartbeatRequestSchema>): BatchItemInit => ({ request: { case: "heartbeat", value } }),
} as const;

/** The idempotency key an item carries, if it has one. */
function keyOf(it: BatchItemInit): string | undefined {
  const r = it.request;
  switch (r?.case) {
    case "update":
      return r.value.idempotencyKey || undefined;
    case "purchase":
      return r.value.receiptId || undefined;
    default:
      return undefined;
  }
}

/**
 * The outcomes of a batch's results, item by item. A result of another kind
 * than its item, or a missing one, is the node's fault: that item fails
 * with UNAVAILABLE (its outcome is unknown) rather than being misread.
 */
export function outcomesOf(items: BatchItemInit[], results: BatchResult[]): BatchOutcome[] {
  return items.map((it, i): BatchOutcome => {
    const kind = it.request?.case as BatchKind;
    const key = keyOf(it);
    const r = results[i]?.response;
    if (r?.case !== kind || r.value === undefined) {
      const error = new HearthError(ErrorCode.UNAVAILABLE, `batch item ${i} (${kind}): the node answered ${r?.case ?? "nothing"}`, { idempotencyKey: key });
      return { kind, ok: false, error } as BatchOutcome;
    }
    if (r.value.error) {
      const error = HearthError.fromProto(r.value.error);
      error.idempotencyKey = key;
      return { kind, ok: false, error } as BatchOutcome;
    }
    return { kind, ok: true, response: r.value } as BatchOutcome;
  });
}
