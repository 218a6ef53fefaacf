package config

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Checks that turn a bad setting into an error naming where it came from
// (the file and key, or the environment variable) and what was expected,
// before koanf's decoder would report it without either ("'lease.ttl'
// time: invalid duration") or, for a section given as a scalar, not at all.

// checkSetting checks one value of key against the type of its default.
// where names the source for the message ("config file x.yaml: lease.ttl",
// "environment variable HEARTH_LEASE__TTL").
func checkSetting(where string, def, v any) error {
	if _, section := def.(map[string]any); section {
		if _, ok := v.(map[string]any); !ok {
			return fmt.Errorf("%w: %s is a section of settings, not a value (%s)", ErrInvalid, where, valueText(v))
		}
		return nil
	}
	if _, ok := v.(map[string]any); ok {
		return fmt.Errorf("%w: %s takes a value, not a section", ErrInvalid, where)
	}
	if _, ok := v.([]any); ok {
		return fmt.Errorf("%w: %s takes a value, not a list", ErrInvalid, where)
	}
	switch def.(type) {
	case time.Duration:
		s, ok := v.(string)
		if d, err := time.ParseDuration(s); !ok || err != nil || d < 0 {
			return fmt.Errorf("%w: %s: %s is not a duration (write it like 30s, 1m30s or 250ms)", ErrInvalid, where, valueText(v))
		}
	case int:
		if !isInt(v) {
			return fmt.Errorf("%w: %s: %s is not a whole number", ErrInvalid, where, valueText(v))
		}
	case bool:
		if !isBool(v) {
			return fmt.Errorf("%w: %s: %s is not true or false", ErrInvalid, where, valueText(v))
		}
	}
	return nil
}

func isInt(v any) bool {
	switch x := v.(type) {
	case int, int64, int32, uint64, uint32:
		return true
	case float64:
		return x == math.Trunc(x) && math.Abs(x) < 1<<53
	case string:
		_, err := strconv.Atoi(strings.TrimSpace(x))
		return err == nil
	}
	return false
}

func isBool(v any) bool {
	switch x := v.(type) {
	case bool:
		return true
	case string:
		_, err := strconv.ParseBool(strings.TrimSpace(x))
		return err == nil
	}
	return false
}

func valueText(v any) string {
	switch x := v.(type) {
	case string:
		return strconv.Quote(x)
	case []any:
		return "a list"
	case map[string]any:
		return "a section"
	}
	return fmt.Sprint(v)
}

// checkShape checks a value decoded from YAML against the Go type it will
// be decoded into through its JSON tags (the namespaces section), naming
// the first unknown key or misplaced value by its path
// ("namespaces.game.migrations[0].actoins"). json.RawMessage fields take
// any value.
func checkShape(path string, v any, t reflect.Type) error {
	if v == nil {
		return nil
	}
	if t == reflect.TypeFor[json.RawMessage]() {
		return nil
	}
	switch t.Kind() {
	case reflect.Struct:
		m, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("%s must be a section of keys (%s), not %s", path, strings.Join(jsonKeys(t), ", "), valueText(v))
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			f, ok := fieldByJSONKey(t, k)
			if !ok {
				return fmt.Errorf("%s: unknown key %q; known keys: %s", path, k, strings.Join(jsonKeys(t), ", "))
			}
			if err := checkShape(path+"."+k, m[k], f.Type); err != nil {
				return err
			}
		}
	case reflect.Slice:
		l, ok := v.([]any)
		if !ok {
			return fmt.Errorf("%s must be a list, not %s", path, valueText(v))
		}
		for i, e := range l {
			if err := checkShape(fmt.Sprintf("%s[%d]", path, i), e, t.Elem()); err != nil {
				return err
			}
		}
	case reflect.String:
		if _, ok := v.(string); !ok {
			return fmt.Errorf("%s must be text, not %s", path, valueText(v))
		}
	case reflect.Int, reflect.Int64, reflect.Int32:
		switch v.(type) {
		case string, bool, []any, map[string]any:
			return fmt.Errorf("%s must be a whole number, not %s", path, valueText(v))
		}
		if !isInt(v) {
			return fmt.Errorf("%s must be a whole number, not %s", path, valueText(v))
		}
	}
	return nil
}

// jsonKeys lists the keys a struct takes, from its JSON tags.
func jsonKeys(t reflect.Type) []string {
	var out []string
	for i := range t.NumField() {
		if k := jsonKey(t.Field(i)); k != "" {
			out = append(out, k)
		}
	}
	return out
}

func fieldByJSONKey(t reflect.Type, key string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		if f := t.Field(i); jsonKey(f) == key {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

func jsonKey(f reflect.StructField) string {
	if !f.IsExported() {
		return ""
	}
	name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	switch name {
	case "-":
		return ""
	case "":
		return f.Name
	}
	return name
}
