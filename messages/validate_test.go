package messages

import (
	"errors"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/hearth-profiles/hearth/messages/hearthv1"
)

func TestValidate(t *testing.T) {
	ref := &hearthv1.ProfileRef{Namespace: "game", Id: "p"}
	withUnknown := func(m proto.Message, raw []byte) proto.Message {
		m.ProtoReflect().SetUnknown(raw)
		return m
	}
	unknown9 := protowire.AppendVarint(protowire.AppendTag(nil, 9, protowire.VarintType), 1)
	// Field 4 of UpdateRequest (durability) sent as bytes: the decoder
	// keeps it as unknown.
	wrongType := protowire.AppendBytes(protowire.AppendTag(nil, 4, protowire.BytesType), []byte("x"))
	cases := []struct {
		name string
		msg  proto.Message
		want []string // substrings of the error; nil: valid
	}{
		{"valid update", &hearthv1.UpdateRequest{Profile: ref, Durability: hearthv1.Durability_DURABILITY_DURABLE,
			Operations: []*hearthv1.Operation{{Kind: hearthv1.OperationKind_OPERATION_KIND_SET, Path: "/a", Value: "1"}}}, nil},
		{"unspecified enum is a defined value", &hearthv1.AcquireRequest{Profile: ref}, nil},
		{"open enum number", &hearthv1.UpdateRequest{Profile: ref, Durability: 7},
			[]string{"durability: 7 is not a Durability", "DURABILITY_MEMORY, DURABILITY_DURABLE"}},
		{"nested enum in a list", &hearthv1.UpdateRequest{Profile: ref, Operations: []*hearthv1.Operation{
			{Kind: hearthv1.OperationKind_OPERATION_KIND_SET}, {Kind: 42}}},
			[]string{"operations[1].kind: 42 is not a OperationKind", "OPERATION_KIND_SET_IF_ABSENT"}},
		{"acquire mode", &hearthv1.AcquireRequest{Profile: ref, Mode: -1}, []string{"mode: -1", "ACQUIRE_MODE_STEAL"}},
		{"unknown field at the top", withUnknown(&hearthv1.GetRequest{Profile: ref}, unknown9),
			[]string{"hearth.v1.GetRequest: unknown field number 9"}},
		{"unknown field nested", &hearthv1.GetRequest{Profile: withUnknown(&hearthv1.ProfileRef{Id: "p"}, unknown9).(*hearthv1.ProfileRef)},
			[]string{"profile: unknown field number 9"}},
		{"known field with the wrong wire type", withUnknown(&hearthv1.UpdateRequest{Profile: ref}, wrongType),
			[]string{"durability: field 4 was sent with wire type 2"}},
		{"batch item oneof", &hearthv1.BatchRequest{Items: []*hearthv1.BatchItem{
			{Request: &hearthv1.BatchItem_Update{Update: &hearthv1.UpdateRequest{Durability: 3}}}}},
			[]string{"items[0].update.durability: 3"}},
		{"nil", nil, []string{"empty request"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := Validate(c.msg)
			if c.want == nil {
				if err != nil {
					t.Fatalf("refused a valid message: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidArgument) {
				t.Fatalf("got %v, want INVALID_ARGUMENT", err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%q lacks %q", err, w)
				}
			}
		})
	}
}

// TestValidateBinaryRoundTrip: what proto.Unmarshal accepts from a newer
// or hostile sender (an unknown field, an enum number this node does not
// define) is refused by Validate, so the binary transports are as strict
// as JSON.
func TestValidateBinaryRoundTrip(t *testing.T) {
	b, err := proto.Marshal(&hearthv1.UpdateRequest{Profile: &hearthv1.ProfileRef{Namespace: "g", Id: "p"}, Durability: 9})
	if err != nil {
		t.Fatal(err)
	}
	b = protowire.AppendVarint(protowire.AppendTag(b, 99, protowire.VarintType), 1)
	var m hearthv1.UpdateRequest
	if err := proto.Unmarshal(b, &m); err != nil {
		t.Fatalf("the decoder itself refuses: %v", err)
	}
	err = Validate(&m)
	if !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), "unknown field number 99") {
		t.Fatalf("got %v", err)
	}
}

// FuzzValidPassAgrees: Validate's fast pass (valid) and its describing walk
// (validateMessage) agree on every message a binary decoder accepts: the
// fast pass must not let through what the walk refuses, nor refuse what it
// accepts (Validate would then answer nil for a bad request).
func FuzzValidPassAgrees(f *testing.F) {
	ref := &hearthv1.ProfileRef{Namespace: "game", Id: "p"}
	seeds := []proto.Message{
		&hearthv1.BatchRequest{Items: []*hearthv1.BatchItem{
			{Request: &hearthv1.BatchItem_Update{Update: &hearthv1.UpdateRequest{Profile: ref, Durability: 3}}},
			{Request: &hearthv1.BatchItem_Acquire{Acquire: &hearthv1.AcquireRequest{Profile: ref, Mode: hearthv1.AcquireMode_ACQUIRE_MODE_STEAL}}},
		}},
		&hearthv1.BatchRequest{Items: []*hearthv1.BatchItem{
			{Request: &hearthv1.BatchItem_Update{Update: &hearthv1.UpdateRequest{Profile: ref, Operations: []*hearthv1.Operation{{Kind: 42, Path: "/a"}}}}},
		}},
		&hearthv1.BatchRequest{Items: []*hearthv1.BatchItem{
			{Request: &hearthv1.BatchItem_Update{Update: &hearthv1.UpdateRequest{Profile: ref, Durability: hearthv1.Durability_DURABILITY_DURABLE,
				Operations: []*hearthv1.Operation{{Kind: hearthv1.OperationKind_OPERATION_KIND_INCREMENT, Path: "/a", Value: "1"}}}}},
		}},
	}
	for _, m := range seeds {
		b, err := proto.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(protowire.AppendVarint(protowire.AppendTag(b, 99, protowire.VarintType), 1))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var m hearthv1.BatchRequest
		if proto.Unmarshal(b, &m) != nil {
			return
		}
		r := m.ProtoReflect()
		fast, walk := valid(r), validateMessage(r, "")
		if fast != (walk == nil) {
			t.Fatalf("fast pass %v, walk %v, for %v", fast, walk, &m)
		}
	})
}
