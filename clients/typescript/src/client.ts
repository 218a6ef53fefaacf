// HearthClient: the generated ProfileService client with Hearth's rules
// built in (typed errors, deadlines, retries with the same idempotency key).
import { clone, create, type MessageInitShape } from "@bufbuild/protobuf";
import { createClient, type CallOptions as ConnectCallOptions, type Client, type Interceptor, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";

import { type BatchItemInit, type BatchOutcome, outcomesOf } from "./batch.js";
import { fromConnectError, HearthError } from "./errors.js";
import { EventPoller, type EventPollerOptions } from "./events.js";
import {
  AcquireMode,
  BatchItemSchema,
  ProfileRefSchema,
  ProfileService,
  type AcquireRequestSchema,
  type AcquireResponse,
  type DeleteRequestSchema,
  type DeleteResponse,
  type Error as ErrorPb,
  type GetRequestSchema,
  type GetResponse,
  type GetVersionRequestSchema,
  type GetVersionResponse,
  type HeartbeatRequestSchema,
  type HeartbeatResponse,
  type ListPurchasesRequestSchema,
  type ListPurchasesResponse,
  type ListVersionsRequestSchema,
  type ListVersionsResponse,
  type PollEventsRequestSchema,
  type PollEventsResponse,
  type PurchaseRequestSchema,
  type PurchaseResponse,
  type ReleaseRequestSchema,
  type ReleaseResponse,
  type RestoreRequestSchema,
  type RestoreResponse,
  type SaveRequestSchema,
  type SaveResponse,
  type StatusRequestSchema,
  type StatusResponse,
  type UpdateRequestSchema,
  type UpdateResponse,
} from "./gen/hearth/v1/profile_pb.js";
import { backoffMs, defaultRetryOptions, type RetryOptions, sleep } from "./retry.js";
import { Session } from "./session.js";

export type ProfileRefInit = MessageInitShape<typeof ProfileRefSchema>;

export interface HearthClientOptions {
  /** The gateway's address, e.g. "http://127.0.0.1:8080". Needed unless transport is given. */
  baseUrl?: string;
  /**
   * The gateway's bearer token (gateway.token). It grants every write on
   * every profile: keep it on the game server, never in a game client.
   */
  token?: string;
  /**
   * "connect" (the default): the Connect protocol with binary protobuf
   * (application/proto) over HTTP/1.1. "grpc": gRPC over HTTP/2 (h2c for
   * http:// addresses).
   */
  protocol?: "connect" | "grpc";
  /** A transport of your own (tests, TLS settings, another protocol); baseUrl, protocol and token are then unused. */
  transport?: Transport;
  /** Added to the transport this client makes. */
  interceptors?: Interceptor[];
  /** The deadline of each call, retries included, unless the call gives its own. Default 10 000. */
  timeoutMs?: number;
  /** Retries of UNAVAILABLE and FENCED. */
  retry?: Partial<RetryOptions>;
  /** Makes idempotency keys for updates that have none. Default crypto.randomUUID. */
  newIdempotencyKey?: () => string;
  /** For tests: the backoff's randomness (default Math.random) and its wait. */
  random?: () => number;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

/** Per-call settings. */
export interface CallOptions {
  /** The call's deadline, retries included (default: the client's timeoutMs). */
  timeoutMs?: number;
  /** Aborts the call; an aborted call rejects with the signal's ConnectError (Code.Canceled), not a HearthError. */
  signal?: AbortSignal;
  /** false: one attempt only. */
  retry?: boolean;
  headers?: ConnectCallOptions["headers"];
}

/** Anything with the error field every hearth.v1 response has. */
interface WithError {
  error?: ErrorPb | undefined;
}

/**
 * HearthClient calls a Hearth gateway. Every method rejects with a
 * HearthError carrying the node's error code (see docs/CLIENTS.md for the
 * codes and what to do about each). UNAVAILABLE and FENCED are retried
 * within the call's deadline with capped, jittered backoff, never sooner
 * than the node's retryAfterMs; Update gets an idempotency key when it has
 * none, the same on every attempt, so a retried update takes effect once.
 * Restore and Delete are not retried (their repeat is not idempotent).
 */
export class HearthClient {
  /** The generated client over the same transport, for calls the wrapper does not cover (Watch). */
  readonly raw: Client<typeof ProfileService>;
  private readonly timeoutMs: number;
  private readonly retryOptions: RetryOptions;
  private readonly newKey: () => string;
  private readonly random: () => number;
  private readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;

  constructor(options: HearthClientOptions) {
    this.raw = createClient(ProfileService, options.transport ?? transportOf(options));
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.retryOptions = { ...defaultRetryOptions, ...options.retry };
    this.newKey = options.newIdempotencyKey ?? (() => crypto.randomUUID());
    this.random = options.random ?? Math.random;
    this.sleep = options.sleep ?? sleep;
  }

  /**
   * Begins (or, with the same sessionId, resumes) a session on a profile.
   * In WAIT mode the call's deadline is extended by the wait (the node's
   * default, 30 s, for waitMs 0), so waiting is not cut short by it.
   */
  acquire(req: MessageInitShape<typeof AcquireRequestSchema>, call: CallOptions = {}): Promise<AcquireResponse> {
    if (req.mode === AcquireMode.WAIT) {
      call = { ...call, timeoutMs: (call.timeoutMs ?? this.timeoutMs) + (req.waitMs || 30_000) };
    }
    return this.call((o) => this.raw.acquire(req, o), call);
  }

  /**
   * Acquires a profile and returns a Session that carries its token.
   * sessionId names this game server's session and must stay the same
   * across its retries (a repeat reuses the session).
   */
  async acquireSession(
    profile: ProfileRefInit,
    sessionId: string,
    opts: { mode?: AcquireMode | "fail" | "wait" | "steal"; waitMs?: number } = {},
    call?: CallOptions,
  ): Promise<Session> {
    const mode = typeof opts.mode === "string" ? acquireModes[opts.mode] : (opts.mode ?? AcquireMode.FAIL);
    const res = await this.acquire({ profile, sessionId, mode, waitMs: opts.waitMs ?? 0 }, call);
    return new Session(this, create(ProfileRefSchema, profile), sessionId, res);
  }

  heartbeat(req: MessageInitShape<typeof HeartbeatRequestSchema>, call?: CallOptions): Promise<HeartbeatResponse> {
    return this.call((o) => this.raw.heartbeat(req, o), call);
  }

  /**
   * Ends a session (the profile is saved first). A retry of a Release
   * whose first attempt did release answers STALE_SESSION: the session is
   * gone either way.
   */
  release(req: MessageInitShape<typeof ReleaseRequestSchema>, call?: CallOptions): Promise<ReleaseResponse> {
    return this.call((o) => this.raw.release(req, o), call);
  }

  get(req: MessageInitShape<typeof GetRequestSchema>, call?: CallOptions): Promise<GetResponse> {
    return this.call((o) => this.raw.get(req, o), call);
  }

  /** Applies operations atomically; gives the update an idempotency key if it has none. */
  update(req: MessageInitShape<typeof UpdateRequestSchema>, call?: CallOptions): Promise<UpdateResponse> {
    const keyed = { ...req, idempotencyKey: req.idempotencyKey || this.newKey() };
    return this.call((o) => this.raw.update(keyed, o), call, { idempotencyKey: keyed.idempotencyKey });
  }

  /** Grants a purchase once per receipt id (the idempotency key), durably. */
  purchase(req: MessageInitShape<typeof PurchaseRequestSchema>, call?: CallOptions): Promise<PurchaseResponse> {
    return this.call((o) => this.raw.purchase(req, o), call, { idempotencyKey: req.receiptId });
  }

  listPurchases(req: MessageInitShape<typeof ListPurchasesRequestSchema>, call?: CallOptions): Promise<ListPurchasesResponse> {
    return this.call((o) => this.raw.listPurchases(req, o), call);
  }

  save(req: MessageInitShape<typeof SaveRequestSchema>, call?: CallOptions): Promise<SaveResponse> {
    return this.call((o) => this.raw.save(req, o), call);
  }

  /** Not retried: after UNAVAILABLE, read the profile to learn whether it was deleted. */
  delete(req: MessageInitShape<typeof DeleteRequestSchema>, call?: CallOptions): Promise<DeleteResponse> {
    return this.call((o) => this.raw.delete(req, o), call, { retry: false });
  }

  status(req: MessageInitShape<typeof StatusRequestSchema>, call?: CallOptions): Promise<StatusResponse> {
    return this.call((o) => this.raw.status(req, o), call);
  }

  listVersions(req: MessageInitShape<typeof ListVersionsRequestSchema>, call?: CallOptions): Promise<ListVersionsResponse> {
    return this.call((o) => this.raw.listVersions(req, o), call);
  }

  getVersion(req: MessageInitShape<typeof GetVersionRequestSchema>, call?: CallOptions): Promise<GetVersionResponse> {
    return this.call((o) => this.raw.getVersion(req, o), call);
  }

  /** Not retried: each Restore makes a new version. */
  restore(req: MessageInitShape<typeof RestoreRequestSchema>, call?: CallOptions): Promise<RestoreResponse> {
    return this.call((o) => this.raw.restore(req, o), call, { retry: false });
  }

  /**
   * Runs many independent operations in one request and answers one
   * outcome per item, in order: { ok: true, response } or { ok: false,
   * error }. Update items without an idempotency key get one, so a batch
   * retried as a whole (after UNAVAILABLE) applies each update once. Items
   * that fail on their own are not retried: resend them (isRetryable tells
   * which may succeed) with the keys they carry.
   */
  async batch(items: BatchItemInit[], call?: CallOptions): Promise<BatchOutcome[]> {
    const keyed = items.map((it) => this.withKey(it));
    const res = await this.call((o) => this.raw.batch({ items: keyed }, o), call);
    return outcomesOf(keyed, res.results);
  }

  /** One long poll; EventPoller runs the loop with cursors. */
  pollEvents(req: MessageInitShape<typeof PollEventsRequestSchema>, call?: CallOptions): Promise<PollEventsResponse> {
    return this.call((o) => this.raw.pollEvents(req, o), call);
  }

  /** A long-poll loop over a set of profiles' events. */
  events(options: EventPollerOptions = {}): EventPoller {
    return new EventPoller(this, options);
  }

  /** The backoff before retry number `retry` after err. */
  backoffFor(retry: number, err: HearthError): number {
    return backoffMs(this.retryOptions, retry, err.retryAfterMs, this.random);
  }

  /** Waits ms (the injected sleep), rejecting if signal aborts. */
  wait(ms: number, signal?: AbortSignal): Promise<void> {
    return this.sleep(ms, signal);
  }

  private withKey(init: BatchItemInit): BatchItemInit {
    const r = init.request;
    if (r?.case !== "update" || r.value.idempotencyKey) {
      return init;
    }
    // A copy: the caller's item is left as given.
    const copy = clone(BatchItemSchema, create(BatchItemSchema, init));
    if (copy.request.case === "update") {
      copy.request.value.idempotencyKey = this.newKey();
    }
    return copy;
  }

  /**
   * Runs one call: attempts until success, a failure that is not
   * retryable, maxAttempts, or a backoff that would pass the deadline. A
   * response whose error is set (nodes before the error contract answered
   * failures that way) fails like a Connect error.
   */
  private async call<R extends WithError>(
    attempt: (o: ConnectCallOptions) => Promise<R>,
    call: CallOptions = {},
    policy: { retry?: boolean; idempotencyKey?: string } = {},
  ): Promise<R> {
    const timeoutMs = call.timeoutMs ?? this.timeoutMs;
    const deadline = performance.now() + timeoutMs;
    const retry = call.retry !== false && policy.retry !== false;
    for (let n = 1; ; n++) {
      const left = Math.max(1, Math.ceil(deadline - performance.now()));
      let err: HearthError;
      try {
        const res = await attempt({ timeoutMs: left, signal: call.signal, headers: call.headers });
        if (!res.error) {
          return res;
        }
        err = HearthError.fromProto(res.error);
      } catch (e) {
        if (call.signal?.aborted) {
          throw e; // the caller's own abort, not the node's answer
        }
        err = fromConnectError(e);
      }
      err.idempotencyKey = policy.idempotencyKey || undefined;
      if (!retry || !err.retryable || n >= this.retryOptions.maxAttempts) {
        throw err;
      }
      const delay = this.backoffFor(n, err);
      if (performance.now() + delay >= deadline) {
        throw err;
      }
      await this.sleep(delay, call.signal);
    }
  }
}

const acquireModes = { fail: AcquireMode.FAIL, wait: AcquireMode.WAIT, steal: AcquireMode.STEAL } as const;

function transportOf(o: HearthClientOptions): Transport {
  if (!o.baseUrl) {
    throw new TypeError("HearthClient: baseUrl or transport is required");
  }
  const interceptors = [...(o.token ? [bearer(o.token)] : []), ...(o.interceptors ?? [])];
  if (o.protocol === "grpc") {
    return createGrpcTransport({ baseUrl: o.baseUrl, interceptors });
  }
  return createConnectTransport({ baseUrl: o.baseUrl, httpVersion: "1.1", useBinaryFormat: true, interceptors });
}

/** An interceptor that sends "Authorization: Bearer <token>". */
export function bearer(token: string): Interceptor {
  return (next) => (req) => {
    req.header.set("Authorization", `Bearer ${token}`);
    return next(req);
  };
}
