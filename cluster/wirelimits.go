package cluster

import (
	"math"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/extensions"
	"github.com/asynkron/protoactor-go/remote"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/hearth-profiles/hearth/actors/profile"
	"github.com/hearth-profiles/hearth/cluster/gateway"
	"github.com/hearth-profiles/hearth/messages"
	"github.com/hearth-profiles/hearth/messages/hearthv1"
)

// Size limits between nodes.
//
// The actor remote is one gRPC stream per pair of nodes, and a message
// over the receiver's gRPC limit does not fail alone: the stream breaks,
// every request in flight on it is lost, and its callers wait for their
// deadlines (an 8 MiB value once cost a 20 s hang this way). The limit
// gRPC applies is per *batch*: protoactor's endpoint writer packs up to
// EndpointWriterBatchSize queued messages into one gRPC message. So:
//
//   - every request is checked against maxForward (the gateway's body cap:
//     whatever a gateway accepts can be forwarded) before it is sent, and
//     refused with TOO_LARGE if larger;
//   - the writer's batch size is cut so that a batch of such requests fits
//     under gRPC's largest message (math.MaxInt32) on both ends;
//   - responses are bounded by the node's own limits (documents, pages),
//     so a batch of them reaches that ceiling only with over 2 GiB queued
//     for one peer at once.

// remoteMessageLimit is the gRPC message limit between nodes, on both
// ends: the largest gRPC allows, since it bounds batches, not messages.
const remoteMessageLimit = math.MaxInt32

// maxWriterBatch is protoactor's default endpoint writer batch size.
const maxWriterBatch = 1000

// remoteLimitOptions configures a node's (or cluster client's) actor
// remote for requests of at most maxForward bytes, with server's gRPC
// options besides (protoactor takes one list of them).
func remoteLimitOptions(maxForward int, server ...grpc.ServerOption) []remote.ConfigOption {
	return []remote.ConfigOption{
		remote.WithServerOptions(append([]grpc.ServerOption{grpc.MaxRecvMsgSize(remoteMessageLimit), grpc.MaxSendMsgSize(remoteMessageLimit)}, server...)...),
		remote.WithCallOptions(grpc.MaxCallRecvMsgSize(remoteMessageLimit), grpc.MaxCallSendMsgSize(remoteMessageLimit)),
		remote.WithEndpointWriterBatchSize(writerBatch(maxForward)),
	}
}

// writerBatch is how many messages of maxForward bytes fit in one gRPC
// message, with room for the envelopes, between 1 and protoactor's default.
func writerBatch(maxForward int) int {
	per := max(maxForward, 1) + 1<<10 // envelope, type and target names
	return min(max(remoteMessageLimit/per, 1), maxWriterBatch)
}

// wireLimitsID identifies the extension in an actor system; assigned once
// at start, never changed.
var wireLimitsID = extensions.NextExtensionID()

// wireLimits rides on an actor system as an extension, so the router,
// which has the system, finds the limit its node was configured with.
type wireLimits struct{ maxForward int }

func (wireLimits) ExtensionID() extensions.ExtensionID { return wireLimitsID }

func installWireLimits(system *actor.ActorSystem, maxForward int) {
	system.Extensions.Register(wireLimits{maxForward: maxForward})
}

// maxForwardOf is the forwarding limit installed on system, or the
// default body cap.
func maxForwardOf(system *actor.ActorSystem) int {
	if l, ok := system.Extensions.Get(wireLimitsID).(wireLimits); ok && l.maxForward > 0 {
		return l.maxForward
	}
	return gateway.DefaultMaxBodyBytes
}

// refuseOversized answers a request too large to forward to another node
// with its TOO_LARGE response, before anything is sent; ok is false when
// msg may go.
func refuseOversized(system *actor.ActorSystem, msg proto.Message) (res proto.Message, refused bool) {
	limit := maxForwardOf(system)
	size := proto.Size(msg)
	if size <= limit {
		return nil, false
	}
	return profile.ErrorResponse(msg, messages.Errorf(hearthv1.ErrorCode_ERROR_CODE_TOO_LARGE,
		"the request is %d bytes encoded; requests between nodes are limited to %d bytes (gateway.max_body_bytes)", size, limit)), true
}
