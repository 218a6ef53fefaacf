package messages

import (
	"errors"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/hearth-profiles/hearth/messages/hearthv1"
)

func TestUnmarshalJSONRefusals(t *testing.T) {
	cases := []struct {
		name string
		msg  proto.Message
		body string
		want []string // substrings of the message
	}{
		{"misspelt field", &hearthv1.UpdateRequest{}, `{"durabilty":"DURABILITY_DURABLE"}`,
			[]string{`unknown field "durabilty"`, "durability"}},
		{"short enum name", &hearthv1.UpdateRequest{}, `{"durability":"DURABLE"}`,
			[]string{`durability: unknown value "DURABLE"`, "DURABILITY_DURABLE"}},
		{"made-up enum name", &hearthv1.UpdateRequest{}, `{"durability":"DURABILITY_FOREVER"}`,
			[]string{`unknown value "DURABILITY_FOREVER"`}},
		{"enum number", &hearthv1.UpdateRequest{}, `{"durability":7}`,
			[]string{"durability: 7 is not a Durability", "DURABILITY_MEMORY"}},
		{"acquire mode", &hearthv1.AcquireRequest{}, `{"mode":"STEAL"}`,
			[]string{`mode: unknown value "STEAL"`, "ACQUIRE_MODE_STEAL"}},
		{"misspelt path on Get", &hearthv1.GetRequest{}, `{"pth":"/coins"}`, []string{`unknown field "pth"`}},
		{"nested kind", &hearthv1.UpdateRequest{}, `{"operations":[{"kind":"OPERATION_KIND_SET"},{"kind":"SET"}]}`,
			[]string{`operations[1].kind: unknown value "SET"`}},
		{"nested unknown field", &hearthv1.UpdateRequest{}, `{"profile":{"namespace":"g","idd":"p"}}`,
			[]string{`profile: unknown field "idd"`}},
		{"string for a message", &hearthv1.GetRequest{}, `{"profile":"g/p"}`, []string{"profile: want a JSON object"}},
		{"number for a string", &hearthv1.GetRequest{}, `{"profile":{"id":5}}`, []string{"profile.id: want a JSON string"}},
		{"string for a bool", &hearthv1.DeleteRequest{}, `{"force":"yes"}`, []string{"force: want true or false"}},
		{"out of range", &hearthv1.AcquireRequest{}, `{"waitMs":-1}`, []string{"waitMs: want an integer from 0"}},
		{"not an integer", &hearthv1.UpdateRequest{}, `{"expectedVersion":"soon"}`, []string{"expectedVersion: want an integer"}},
		{"object for a list", &hearthv1.UpdateRequest{}, `{"operations":{"kind":"OPERATION_KIND_SET"}}`, []string{"operations: want a JSON array"}},
		{"two oneof members", &hearthv1.BatchItem{}, `{"get":{},"save":{}}`, []string{"only one of"}},
		{"duplicate field", &hearthv1.GetRequest{}, `{"path":"/a","path":"/b"}`, []string{"duplicate field"}},
		{"both spellings", &hearthv1.UpdateRequest{}, `{"sessionToken":"a","session_token":"b"}`, []string{"duplicate field"}},
		{"not JSON", &hearthv1.GetRequest{}, `{"profile":`, []string{"not valid JSON"}},
		{"trailing data", &hearthv1.GetRequest{}, `{} {}`, []string{"not valid JSON"}},
		{"array at the top", &hearthv1.GetRequest{}, `[]`, []string{"the request: want a JSON object"}},
		{"deep nesting", &hearthv1.GetRequest{}, `{"profile":{"id":` + strings.Repeat("[", 100000) + strings.Repeat("]", 100000) + `}}`, []string{"not valid JSON"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := UnmarshalJSON([]byte(c.body), c.msg)
			var ce *CodeError
			if !errors.As(err, &ce) || ce.Code != hearthv1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT {
				t.Fatalf("got %v, want INVALID_ARGUMENT", err)
			}
			for _, w := range c.want {
				if !strings.Contains(ce.Message, w) {
					t.Errorf("%q lacks %q", ce.Message, w)
				}
			}
			if len(ce.Message) > 1000 {
				t.Errorf("message of %d bytes", len(ce.Message))
			}
		})
	}
}

func TestUnmarshalJSONAccepts(t *testing.T) {
	var m hearthv1.UpdateRequest
	body := `{"profile":{"namespace":"g","id":"p"},"operations":[{"kind":"OPERATION_KIND_INCREMENT","path":"/coins","value":"5"},{"kind":3}],
	  "durability":"DURABILITY_DURABLE","expected_version":"4","idempotencyKey":"k"}`
	if err := UnmarshalJSON([]byte(body), &m); err != nil {
		t.Fatal(err)
	}
	if m.GetDurability() != hearthv1.Durability_DURABILITY_DURABLE || m.GetExpectedVersion() != 4 || len(m.GetOperations()) != 2 ||
		m.GetOperations()[1].GetKind() != hearthv1.OperationKind_OPERATION_KIND_INCREMENT || m.GetIdempotencyKey() != "k" {
		t.Fatalf("decoded %v", &m)
	}
	var empty hearthv1.GetRequest
	if err := UnmarshalJSON([]byte(" \n"), &empty); err != nil || empty.GetProfile() != nil {
		t.Fatalf("empty body: %v %v", &empty, err)
	}
}

func TestMarshalJSONEmitsZeroValues(t *testing.T) {
	b, err := MarshalJSON(&hearthv1.UpdateResponse{})
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, w := range []string{`"version":"0"`, `"durable":false`} {
		if !strings.Contains(strings.ReplaceAll(s, " ", ""), w) {
			t.Errorf("%s lacks %s", s, w)
		}
	}
	if strings.Contains(s, "error") {
		t.Errorf("%s carries an error field", s)
	}
}

// requestTypes are the input messages of every ProfileService method:
// what a client can send.
func requestTypes(t testing.TB) []protoreflect.MessageType {
	sd := hearthv1.File_hearth_v1_profile_proto.Services().ByName("ProfileService")
	var out []protoreflect.MessageType
	for i := range sd.Methods().Len() {
		mt, err := protoregistry.GlobalTypes.FindMessageByName(sd.Methods().Get(i).Input().FullName())
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, mt)
	}
	return out
}

// FuzzUnmarshalJSON: for every request type, any body either decodes into
// a message that passes Validate and survives a JSON round trip, or is
// refused with INVALID_ARGUMENT; it never panics.
func FuzzUnmarshalJSON(f *testing.F) {
	for _, seed := range []string{
		`{"profile":{"namespace":"g","id":"p"},"operations":[{"kind":"OPERATION_KIND_SET","path":"/a","value":"1"}],"durability":"DURABILITY_DURABLE"}`,
		`{"durability":7}`, `{"mode":"STEAL"}`, `{"pth":"/x"}`, `{"items":[{"get":{"profile":{}}}]}`,
		`{"cursors":[{"profile":{"id":"p"},"cursor":"c"}],"waitMs":100}`, `{"expectedVersion":"1e3"}`,
		`{"waitMs":1.5}`, `{"force":null}`, `[`, ``, `"x"`,
	} {
		for i := range 16 {
			f.Add(uint8(i), []byte(seed))
		}
	}
	types := requestTypes(f)
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		mt := types[int(which)%len(types)]
		m := mt.New().Interface()
		err := UnmarshalJSON(body, m)
		if err != nil {
			var ce *CodeError
			if !errors.As(err, &ce) || ce.Code != hearthv1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT {
				t.Fatalf("%s: refused with %v, want INVALID_ARGUMENT", mt.Descriptor().Name(), err)
			}
			return
		}
		if err := Validate(m); err != nil {
			t.Fatalf("%s: accepted a message that does not validate: %v", mt.Descriptor().Name(), err)
		}
		out, err := MarshalJSON(m)
		if err != nil {
			t.Fatalf("%s: re-encode: %v", mt.Descriptor().Name(), err)
		}
		again := mt.New().Interface()
		if err := UnmarshalJSON(out, again); err != nil {
			t.Fatalf("%s: its own encoding %s is refused: %v", mt.Descriptor().Name(), out, err)
		}
		if !proto.Equal(m, again) {
			t.Fatalf("%s: round trip changed %v into %v", mt.Descriptor().Name(), m, again)
		}
	})
}
