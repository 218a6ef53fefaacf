// Test set-up: the real node's address (from the Go test that started it),
// clients, unique profiles, and ContractProxy, a real Connect server in
// front of the node that can fail attempts on purpose.
import { randomUUID } from "node:crypto";
import * as http from "node:http";
import type { AddressInfo } from "node:net";

import { clone, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type ConnectRouter } from "@connectrpc/connect";
import { connectNodeAdapter, createConnectTransport } from "@connectrpc/connect-node";

import { bearer, ErrorCode, ErrorSchema, HearthClient, ProfileService, type Error as ErrorPb, type HearthClientOptions } from "../src/index.js";

const addr = process.env.HEARTH_ADDR;
const token = process.env.HEARTH_TOKEN ?? "";
if (!addr) {
  throw new Error("HEARTH_ADDR is not set: run these tests through `go test ./clients/typescript/`, which starts a node");
}
export const nodeUrl: string = addr;
export const nodeToken: string = token;

/** A client of the real node. */
export function nodeClient(opts: Partial<HearthClientOptions> = {}): HearthClient {
  return new HearthClient({ baseUrl: nodeUrl, token: nodeToken, ...opts });
}

/** A profile no other test touches. */
export function freshProfile(label: string): { namespace: string; id: string } {
  return { namespace: "tsclient", id: `${label}-${randomUUID()}` };
}

/** The gRPC code each hearth code travels with (the node's table, messages.StatusOf). */
const grpcCodes: Record<number, Code> = {
  [ErrorCode.NOT_FOUND]: Code.NotFound,
  [ErrorCode.SESSION_CONFLICT]: Code.Aborted,
  [ErrorCode.STALE_SESSION]: Code.FailedPrecondition,
  [ErrorCode.INVALID_PATH]: Code.InvalidArgument,
  [ErrorCode.TYPE_MISMATCH]: Code.FailedPrecondition,
  [ErrorCode.TOO_LARGE]: Code.ResourceExhausted,
  [ErrorCode.VERSION_CONFLICT]: Code.Aborted,
  [ErrorCode.FENCED]: Code.Unavailable,
  [ErrorCode.UNAVAILABLE]: Code.Unavailable,
  [ErrorCode.INVALID_ARGUMENT]: Code.InvalidArgument,
  [ErrorCode.SCHEMA_TOO_NEW]: Code.FailedPrecondition,
  [ErrorCode.MIGRATION_FAILED]: Code.Internal,
  [ErrorCode.OUT_OF_RANGE]: Code.OutOfRange,
  [ErrorCode.UNAUTHENTICATED]: Code.Unauthenticated,
  [ErrorCode.PERMISSION_DENIED]: Code.PermissionDenied,
};

/** The error contract: the code's gRPC code with the hearth.v1.Error as a detail (or without it, to test the fallback). */
function contractError(e: ErrorPb, withDetail: boolean): ConnectError {
  const details = withDetail ? [{ desc: ErrorSchema, value: e }] : [];
  return new ConnectError(e.message, grpcCodes[e.code] ?? Code.Internal, undefined, details);
}

/**
 * The node's answer as a response with its error field set, whichever way
 * the node reported the failure (nodes before the error contract set the
 * field; after it they send a Connect error with the detail).
 */
async function normalised(forward: () => Promise<{ error?: ErrorPb }>): Promise<{ error?: ErrorPb }> {
  try {
    return await forward();
  } catch (e) {
    const detail = ConnectError.from(e).findDetails(ErrorSchema)[0];
    if (detail) {
      return { error: detail };
    }
    throw e;
  }
}

/** How the proxy answers failures. */
export type ProxyMode =
  /** As the node will after the error contract: Connect errors with the hearth.v1.Error detail. */
  | "contract"
  /** As nodes did before it: a successful response whose error field is set. */
  | "legacy"
  /** Connect errors without the detail (a proxy that drops details): only the gRPC code is left. */
  | "no-detail";

interface PlannedFailure {
  count: number;
  code: ErrorCode;
  retryAfterMs: number;
  /** Forward the request first (its effect happens, its answer is lost). */
  forward: boolean;
}

/** One request the proxy saw. */
export interface Seen {
  method: string;
  message: MessageShape<DescMessage> & Record<string, unknown>;
}

/**
 * ContractProxy serves ProfileService with connect-node (so its errors are
 * encoded on the wire by Connect's own server code) and forwards every
 * unary call to the real node. It records requests, and fails the next
 * attempts of a method on demand, after forwarding them (a lost answer:
 * the outcome is unknown to the client) or instead of forwarding.
 */
export class ContractProxy {
  readonly seen: Seen[] = [];
  private readonly planned = new Map<string, PlannedFailure>();

  private constructor(
    private readonly server: http.Server,
    readonly url: string,
    public mode: ProxyMode,
  ) {}

  static async start(mode: ProxyMode = "contract"): Promise<ContractProxy> {
    const upstream = createClient(
      ProfileService,
      createConnectTransport({ baseUrl: nodeUrl, httpVersion: "1.1", useBinaryFormat: true, interceptors: [bearer(nodeToken)] }),
    ) as unknown as Record<string, (req: unknown, o: object) => Promise<{ error?: ErrorPb }>>;
    let self: ContractProxy | undefined;
    const routes = (router: ConnectRouter) => {
      const impl: Record<string, (req: MessageShape<DescMessage>, ctx: { signal: AbortSignal }) => Promise<unknown>> = {};
      for (const m of ProfileService.methods) {
        if (m.methodKind !== "unary") {
          continue;
        }
        impl[m.localName] = (req, ctx) => self!.serve(m.name, m.input, req, () => upstream[m.localName]!(req, { signal: ctx.signal }));
      }
      router.service(ProfileService, impl);
    };
    const server = http.createServer(connectNodeAdapter({ routes }));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as AddressInfo).port;
    self = new ContractProxy(server, `http://127.0.0.1:${port}`, mode);
    return self;
  }

  /** Fails the next `count` attempts of method (its proto name, "Update"). */
  failNext(method: string, f: Partial<PlannedFailure> = {}): void {
    this.planned.set(method, { count: 1, code: ErrorCode.UNAVAILABLE, retryAfterMs: 0, forward: true, ...f });
  }

  /** The requests of one method, in order. */
  requests(method: string): Seen[] {
    return this.seen.filter((s) => s.method === method);
  }

  client(opts: Partial<HearthClientOptions> = {}): HearthClient {
    return new HearthClient({ baseUrl: this.url, ...opts });
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private async serve(method: string, input: DescMessage, req: MessageShape<DescMessage>, forward: () => Promise<{ error?: ErrorPb }>): Promise<unknown> {
    this.seen.push({ method, message: clone(input, req) as Seen["message"] });
    const plan = this.planned.get(method);
    const failNow = plan !== undefined && plan.count > 0;
    if (failNow) {
      plan.count--;
    }
    let res: { error?: ErrorPb } | undefined;
    if (!failNow || plan.forward) {
      res = await normalised(forward);
    }
    if (failNow) {
      const e = { $typeName: "hearth.v1.Error", code: plan.code, message: `${method} failed on purpose by the test proxy`, path: "", operationIndex: -1, holderSession: "", retryAfterMs: BigInt(plan.retryAfterMs) } satisfies ErrorPb;
      if (this.mode === "legacy") {
        return { ...res, error: e };
      }
      throw contractError(e, this.mode === "contract");
    }
    if (res?.error && this.mode !== "legacy") {
      throw contractError(res.error, this.mode === "contract");
    }
    return res;
  }
}
