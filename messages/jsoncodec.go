package messages

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/hearth-profiles/hearth/messages/hearthv1"
)

// The JSON form of the API is protojson (the canonical protobuf JSON
// mapping): field names in lowerCamelCase as emitted (the .proto's
// snake_case names are accepted too), enums by their full names, 64-bit
// integers as strings. docs/API.md describes it.

// jsonIn refuses unknown fields and unknown enum names; jsonOut emits zero
// values too, so an HTTP client always finds every field of a response
// (a Lua table has no way to tell an absent number from nil).
var (
	jsonIn  = protojson.UnmarshalOptions{}
	jsonOut = protojson.MarshalOptions{EmitDefaultValues: true}
)

// MarshalJSON encodes m as the HTTP API's JSON.
func MarshalJSON(m proto.Message) ([]byte, error) {
	return jsonOut.Marshal(m)
}

// UnmarshalJSON decodes the HTTP API's JSON into m strictly: an unknown
// field, an unknown enum name or number, a value of the wrong type or
// malformed JSON is refused with an INVALID_ARGUMENT *CodeError that names
// the field by its path ("operations[0].kind") and, for enums, lists the
// accepted names. An empty body decodes as an empty message ({}), as
// Connect's JSON does. On success the message has passed Validate.
func UnmarshalJSON(data []byte, m proto.Message) error {
	if len(bytes.TrimSpace(data)) == 0 {
		proto.Reset(m)
		return nil
	}
	if err := jsonIn.Unmarshal(data, m); err != nil {
		proto.Reset(m)
		return Errorf(hearthv1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT, "%s", diagnoseJSON(data, m.ProtoReflect().Descriptor(), err))
	}
	if err := Validate(m); err != nil {
		proto.Reset(m)
		return err
	}
	return nil
}

// diagnoseJSON explains why protojson refused data, naming the field by
// its path: protojson's own errors give a byte offset only. It walks the
// JSON generically against the descriptor and reports the first problem;
// when it finds none (a duplicate field, say), protojson's message stands.
func diagnoseJSON(data []byte, md protoreflect.MessageDescriptor, decodeErr error) string {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	err := dec.Decode(&v)
	if err == nil && dec.More() {
		err = errors.New("more than one JSON value")
	}
	if err == nil {
		if _, terr := dec.Token(); terr == nil {
			err = errors.New("data after the JSON value")
		}
	}
	if err != nil {
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			return fmt.Sprintf("the body is not valid JSON: %v (at byte %d)", syn, syn.Offset)
		}
		return fmt.Sprintf("the body is not valid JSON: %v", err)
	}
	if msg := diagnoseMessage(md, v, ""); msg != "" {
		return msg
	}
	return strings.TrimPrefix(decodeErr.Error(), "proto: ")
}

func diagnoseMessage(md protoreflect.MessageDescriptor, v any, path string) string {
	if v == nil || strings.HasPrefix(string(md.FullName()), "google.protobuf.") {
		return "" // null is an unset field; well-known types have their own JSON forms
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return fmt.Sprintf("%s: want a JSON object (%s), got %s", name(path), md.Name(), jsonKind(v))
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	fields := md.Fields()
	oneofs := map[protoreflect.FullName]string{}
	for _, k := range keys {
		fd := fields.ByJSONName(k)
		if fd == nil {
			fd = fields.ByTextName(k)
		}
		if fd == nil {
			return fmt.Sprintf("%s: unknown field %q; %s has: %s", name(path), k, md.Name(), jsonNames(md.Fields()))
		}
		p := join(path, k)
		if od := fd.ContainingOneof(); od != nil && obj[k] != nil {
			if other, dup := oneofs[od.FullName()]; dup {
				return fmt.Sprintf("%s: only one of %s may be set, not both %q and %q", name(path), jsonNames(od.Fields()), other, k)
			}
			oneofs[od.FullName()] = k
		}
		if msg := diagnoseField(fd, obj[k], p); msg != "" {
			return msg
		}
	}
	return ""
}

func diagnoseField(fd protoreflect.FieldDescriptor, v any, path string) string {
	if v == nil {
		return ""
	}
	switch {
	case fd.IsList():
		arr, ok := v.([]any)
		if !ok {
			return fmt.Sprintf("%s: want a JSON array, got %s", path, jsonKind(v))
		}
		for i, e := range arr {
			if msg := diagnoseValue(fd, e, path+"["+strconv.Itoa(i)+"]"); msg != "" {
				return msg
			}
		}
		return ""
	case fd.IsMap():
		obj, ok := v.(map[string]any)
		if !ok {
			return fmt.Sprintf("%s: want a JSON object, got %s", path, jsonKind(v))
		}
		for k, e := range obj {
			if msg := diagnoseValue(fd.MapValue(), e, path+"["+strconv.Quote(k)+"]"); msg != "" {
				return msg
			}
		}
		return ""
	}
	return diagnoseValue(fd, v, path)
}

func diagnoseValue(fd protoreflect.FieldDescriptor, v any, path string) string {
	switch fd.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return diagnoseMessage(fd.Message(), v, path)
	case protoreflect.EnumKind:
		return diagnoseEnum(fd.Enum(), v, path)
	case protoreflect.StringKind:
		if _, ok := v.(string); !ok {
			return fmt.Sprintf("%s: want a JSON string, got %s", path, jsonKind(v))
		}
	case protoreflect.BytesKind:
		if _, ok := v.(string); !ok {
			return fmt.Sprintf("%s: want a base64 JSON string, got %s", path, jsonKind(v))
		}
	case protoreflect.BoolKind:
		if _, ok := v.(bool); !ok {
			return fmt.Sprintf("%s: want true or false, got %s", path, jsonKind(v))
		}
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		if !isNumber(v) {
			return fmt.Sprintf("%s: want a number, got %s", path, jsonKind(v))
		}
	default: // the integer kinds
		return diagnoseInteger(fd.Kind(), v, path)
	}
	return ""
}

func diagnoseEnum(ed protoreflect.EnumDescriptor, v any, path string) string {
	switch x := v.(type) {
	case string:
		if ed.Values().ByName(protoreflect.Name(x)) == nil {
			return fmt.Sprintf("%s: unknown value %s; accepted: %s", path, describe(x), EnumNames(ed))
		}
	case json.Number:
		n, err := strconv.ParseInt(x.String(), 10, 32)
		if err != nil || ed.Values().ByNumber(protoreflect.EnumNumber(n)) == nil {
			return fmt.Sprintf("%s: %s is not a %s; accepted: %s", path, x, ed.Name(), EnumNames(ed))
		}
	default:
		return fmt.Sprintf("%s: want one of %s, got %s", path, EnumNames(ed), jsonKind(v))
	}
	return ""
}

func diagnoseInteger(kind protoreflect.Kind, v any, path string) string {
	var text string
	switch x := v.(type) {
	case json.Number:
		text = x.String()
	case string: // protojson accepts quoted integers (int64 is emitted quoted)
		text = x
	default:
		return fmt.Sprintf("%s: want an integer, got %s", path, jsonKind(v))
	}
	lo, hi := int64(math.MinInt32), int64(math.MaxInt32)
	switch kind {
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		lo, hi = 0, math.MaxUint32
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		lo, hi = math.MinInt64, math.MaxInt64
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		if _, err := strconv.ParseUint(text, 10, 64); err != nil {
			return fmt.Sprintf("%s: want an integer from 0 to %d, got %s", path, uint64(math.MaxUint64), describe(text))
		}
		return ""
	}
	n, err := strconv.ParseInt(text, 10, 64)
	if err != nil {
		// protojson also takes integral numbers written as 1e3 or 5.0.
		f, ferr := strconv.ParseFloat(text, 64)
		if ferr == nil && f == math.Trunc(f) && f >= float64(lo) && f <= float64(hi) {
			return ""
		}
	}
	if err != nil || n < lo || n > hi {
		return fmt.Sprintf("%s: want an integer from %d to %d, got %s", path, lo, hi, describe(text))
	}
	return ""
}

func isNumber(v any) bool {
	switch x := v.(type) {
	case json.Number:
		return true
	case string:
		_, err := strconv.ParseFloat(x, 64)
		return err == nil || x == "NaN" || x == "Infinity" || x == "-Infinity"
	}
	return false
}

func jsonKind(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case json.Number:
		return "the number " + x.String()
	case string:
		return "the string " + describe(x)
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

// name is what an error calls the message at path ("the request" at the
// top).
func name(path string) string {
	if path == "" {
		return "the request"
	}
	return path
}

// jsonNames lists fields by their JSON names, comma separated.
func jsonNames(fs protoreflect.FieldDescriptors) string {
	names := make([]string, fs.Len())
	for i := range fs.Len() {
		names[i] = fs.Get(i).JSONName()
	}
	return strings.Join(names, ", ")
}
