package messages

import (
	"fmt"
	"strconv"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/hearth-profiles/hearth/messages/hearthv1"
)

// Validate refuses what a decoder lets through silently: unknown fields
// (kept by proto.Unmarshal, as a newer client's fields or a typo in a
// hand-built message) and enum values that name no constant (proto3 enums
// are open, so a binary or numeric 7 decodes without complaint). Either
// would make the node quietly do something else than asked: an unknown
// durability number is served in the memory lane. The error is
// INVALID_ARGUMENT and names the field by its path in the request
// ("operations[0].kind", in the JSON names the HTTP API documents) and, for
// enums, lists the accepted names.
//
// Validate is the check for every message arriving from outside a node:
// the gateway runs it on every request whatever the transport, and a
// node's router actor should run it on requests from the actor remote.
func Validate(m proto.Message) error {
	if m == nil {
		return Errorf(hearthv1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT, "empty request")
	}
	r := m.ProtoReflect()
	if valid(r) {
		return nil
	}
	// Something is wrong: walk again, building each field's path, to say
	// what.
	return validateMessage(r, "")
}

// valid is Validate's fast pass: the same checks as validateMessage, which
// must fail exactly when this returns false (FuzzValidPassAgrees), without
// building paths (a string per field, only needed for an error) and
// visiting only the fields that can be wrong: enums and nested messages.
// Every request, and every item of a Batch, goes through it.
func valid(m protoreflect.Message) bool {
	if !m.IsValid() {
		return true
	}
	if len(m.GetUnknown()) > 0 {
		return false
	}
	fields := m.Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		vd := fd
		if fd.IsMap() {
			vd = fd.MapValue()
		}
		if k := vd.Kind(); k != protoreflect.EnumKind && k != protoreflect.MessageKind && k != protoreflect.GroupKind {
			continue
		}
		if !m.Has(fd) {
			continue
		}
		v := m.Get(fd)
		switch {
		case fd.IsList():
			l := v.List()
			for j := range l.Len() {
				if !validValue(vd, l.Get(j)) {
					return false
				}
			}
		case fd.IsMap():
			ok := true
			v.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool {
				ok = validValue(vd, mv)
				return ok
			})
			if !ok {
				return false
			}
		default:
			if !validValue(vd, v) {
				return false
			}
		}
	}
	return true
}

func validValue(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
	if fd.Kind() == protoreflect.EnumKind {
		return fd.Enum().Values().ByNumber(v.Enum()) != nil
	}
	return valid(v.Message())
}

func validateMessage(m protoreflect.Message, path string) error {
	if !m.IsValid() {
		return nil
	}
	if unknown := m.GetUnknown(); len(unknown) > 0 {
		return unknownFieldError(m.Descriptor(), unknown, path)
	}
	var err error
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		err = validateField(fd, v, join(path, fd.JSONName()))
		return err == nil
	})
	return err
}

func validateField(fd protoreflect.FieldDescriptor, v protoreflect.Value, path string) error {
	switch {
	case fd.IsList():
		l := v.List()
		for i := range l.Len() {
			if err := validateValue(fd, l.Get(i), path+"["+strconv.Itoa(i)+"]"); err != nil {
				return err
			}
		}
	case fd.IsMap():
		var err error
		v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
			err = validateValue(fd.MapValue(), mv, path+"["+strconv.Quote(k.String())+"]")
			return err == nil
		})
		return err
	default:
		return validateValue(fd, v, path)
	}
	return nil
}

func validateValue(fd protoreflect.FieldDescriptor, v protoreflect.Value, path string) error {
	switch fd.Kind() {
	case protoreflect.EnumKind:
		ed := fd.Enum()
		if ed.Values().ByNumber(v.Enum()) == nil {
			return Errorf(hearthv1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT,
				"%s: %d is not a %s; accepted: %s", path, v.Enum(), ed.Name(), EnumNames(ed))
		}
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return validateMessage(v.Message(), path)
	}
	return nil
}

// unknownFieldError describes the first unknown field in raw: a number the
// message does not define, or a defined one sent with the wrong wire type
// (which the decoder also keeps as unknown).
func unknownFieldError(md protoreflect.MessageDescriptor, raw protoreflect.RawFields, path string) error {
	where := path
	if where == "" {
		where = string(md.FullName())
	}
	num, typ, n := protowire.ConsumeTag(raw)
	if n < 0 {
		return Errorf(hearthv1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT, "%s: malformed unknown field data", where)
	}
	if fd := md.Fields().ByNumber(num); fd != nil {
		return Errorf(hearthv1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT,
			"%s: field %d was sent with wire type %d, which does not fit its type %s", join(path, fd.JSONName()), num, typ, fd.Kind())
	}
	return Errorf(hearthv1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT,
		"%s: unknown field number %d (%s has no such field)", where, num, md.FullName())
}

// EnumNames lists an enum's accepted names, comma separated, in number
// order: what an error about a bad value of that enum tells the caller.
func EnumNames(ed protoreflect.EnumDescriptor) string {
	vals := ed.Values()
	names := make([]string, vals.Len())
	for i := range vals.Len() {
		names[i] = string(vals.Get(i).Name())
	}
	return strings.Join(names, ", ")
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// describe is what an error calls a value: short, so a hostile megabyte
// does not come back in the message.
func describe(v any) string {
	s := fmt.Sprintf("%v", v)
	if len(s) > 40 {
		s = s[:40] + "..."
	}
	return strconv.Quote(s)
}
