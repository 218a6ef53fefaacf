package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/confmap"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/providers/posflag"
	"github.com/knadh/koanf/providers/structs"
	"github.com/knadh/koanf/v2"
	"github.com/spf13/pflag"

	"github.com/hearth-profiles/hearth/actors/document"
	"github.com/hearth-profiles/hearth/actors/migration"
	"github.com/hearth-profiles/hearth/persistence"
)

// EnvPrefix starts every environment variable; "__" separates levels:
// HEARTH_GATEWAY__LISTEN is gateway.listen, HEARTH_DATA_DIR is data_dir.
const EnvPrefix = "HEARTH_"

// Namespace is a namespace's template and migrations as written in the
// config file.
type Namespace struct {
	Template   any
	Migrations migration.Plan
	// History says which snapshots of each profile are kept (zero: the
	// default, 24 snapshots at most one per 15 minutes).
	History persistence.Retention
}

// namespaceFile is a namespace as written in YAML.
type namespaceFile struct {
	Template   json.RawMessage  `json:"template"`
	Migrations []migration.Step `json:"migrations"`
	History    historyFile      `json:"history"`
}

// historyFile is a namespace's history policy as written in YAML.
type historyFile struct {
	// Keep is the most snapshots kept per profile.
	Keep int `json:"keep"`
	// Interval keeps at most one snapshot per interval ("15m"); "0s" keeps
	// the newest Keep whatever their age.
	Interval string `json:"interval"`
}

// FlagSet returns the flags for every key, with their defaults and help.
func FlagSet(name string) (*pflag.FlagSet, error) {
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fs.String("config", "", "YAML config file (keys as below; namespaces and gateway.tokens only here)")
	k := koanf.New(".")
	if err := k.Load(structs.Provider(Default(), "koanf"), nil); err != nil {
		return nil, err
	}
	h := help()
	keys := k.Keys()
	sort.Strings(keys)
	for _, key := range keys {
		text, ok := h[key]
		if !ok {
			return nil, fmt.Errorf("config key %s has no help text", key)
		}
		text += fmt.Sprintf(" (env %s)", envName(key))
		switch v := k.Get(key).(type) {
		case string:
			fs.String(key, v, text)
		case int:
			fs.Int(key, v, text)
		case bool:
			fs.Bool(key, v, text)
		case time.Duration:
			fs.Duration(key, v, text)
		default:
			return nil, fmt.Errorf("config key %s has unsupported type %T", key, v)
		}
	}
	return fs, nil
}

func envName(key string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(key, ".", "__"))
}

// Load builds the configuration: defaults, then the file named by --config,
// then HEARTH_ environment variables, then flags given on the command line.
// environ is os.Environ() in production, so tests can pass their own.
func Load(fs *pflag.FlagSet, args []string, environ []string) (Config, error) {
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	k := koanf.New(".")
	if err := k.Load(structs.Provider(Default(), "koanf"), nil); err != nil {
		return Config{}, err
	}
	path, _ := fs.GetString("config")
	var nsRaw map[string]any
	var tokRaw any
	if path != "" {
		fk := koanf.New(".")
		if err := fk.Load(file.Provider(path), yaml.Parser()); err != nil {
			return Config{}, fmt.Errorf("config file %s: %w", path, err)
		}
		if v := fk.Get("namespaces"); v != nil {
			m, ok := v.(map[string]any)
			if !ok {
				return Config{}, fmt.Errorf("%w: config file %s: namespaces must be a section of namespaces by name, not %s", ErrInvalid, path, valueText(v))
			}
			nsRaw = m
		}
		fk.Delete("namespaces")
		if v := fk.Get("gateway.tokens"); v != nil {
			tokRaw = v
			fk.Delete("gateway.tokens")
		}
		for _, key := range fk.Keys() {
			if !k.Exists(key) {
				return Config{}, fmt.Errorf("%w: config file %s: unknown key %q (--help lists them)", ErrInvalid, path, key)
			}
			if err := checkSetting(fmt.Sprintf("config file %s: %s", path, key), k.Get(key), fk.Get(key)); err != nil {
				return Config{}, err
			}
		}
		if err := k.Merge(fk); err != nil {
			return Config{}, err
		}
	}
	envMap := map[string]any{}
	for _, kv := range environ {
		name, value, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(name, EnvPrefix) {
			continue
		}
		key := strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(name, EnvPrefix)), "__", ".")
		if !k.Exists(key) {
			return Config{}, fmt.Errorf("%w: environment variable %s names no config key", ErrInvalid, name)
		}
		if err := checkSetting("environment variable "+name, k.Get(key), value); err != nil {
			return Config{}, err
		}
		envMap[key] = value
	}
	// The environment is read from environ (not os.Environ) so tests can
	// pass their own; keys are checked above so typos are errors.
	if err := k.Load(confmap.Provider(envMap, "."), nil); err != nil {
		return Config{}, err
	}
	if err := k.Load(posflag.Provider(fs, ".", k), nil); err != nil {
		return Config{}, err
	}
	var c Config
	if err := k.UnmarshalWithConf("", &c, koanf.UnmarshalConf{Tag: "koanf"}); err != nil {
		return Config{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	ns, err := namespaces(path, nsRaw)
	if err != nil {
		return Config{}, err
	}
	c.Namespaces = ns
	if c.Gateway.Tokens, err = gatewayTokens(path, tokRaw, environ); err != nil {
		return Config{}, err
	}
	return c, c.Validate()
}

// namespaces decodes the namespaces section of the file at path strictly:
// a misspelt key in a migration is an error naming it, not a silently
// skipped step.
func namespaces(path string, raw map[string]any) (map[string]Namespace, error) {
	out := make(map[string]Namespace, len(raw))
	for name, v := range raw {
		if err := checkShape("namespaces."+name, v, reflect.TypeFor[namespaceFile]()); err != nil {
			return nil, fmt.Errorf("%w: config file %s: %v", ErrInvalid, path, err)
		}
		b, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("%w: config file %s: namespaces.%s: %v", ErrInvalid, path, name, err)
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		var nf namespaceFile
		if err := dec.Decode(&nf); err != nil {
			return nil, fmt.Errorf("%w: config file %s: namespaces.%s: %v", ErrInvalid, path, name, err)
		}
		var ns Namespace
		if len(nf.Template) > 0 && string(nf.Template) != "null" {
			t, err := document.Decode(nf.Template)
			if err != nil {
				return nil, fmt.Errorf("%w: config file %s: namespaces.%s.template: %v", ErrInvalid, path, name, err)
			}
			if _, ok := t.(map[string]any); !ok {
				return nil, fmt.Errorf("%w: config file %s: namespaces.%s.template must be an object", ErrInvalid, path, name)
			}
			ns.Template = t
		}
		if ns.Migrations, err = migration.NewPlan(nf.Migrations); err != nil {
			return nil, fmt.Errorf("%w: config file %s: namespaces.%s: %v", ErrInvalid, path, name, err)
		}
		if h := nf.History; h != (historyFile{}) {
			ns.History.Keep = h.Keep
			if h.Interval != "" {
				if ns.History.Interval, err = time.ParseDuration(h.Interval); err != nil {
					return nil, fmt.Errorf("%w: config file %s: namespaces.%s.history.interval: %v", ErrInvalid, path, name, err)
				}
			}
			if err := persistence.ValidateRetention(ns.History); err != nil {
				return nil, fmt.Errorf("%w: config file %s: namespaces.%s.history: %v", ErrInvalid, path, name, err)
			}
		}
		out[name] = ns
	}
	return out, nil
}

// ParseLevel reads a log level name.
func ParseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("log.level %q: want debug, info, warn or error", s)
	}
	return l, nil
}

// Logger builds the node's logger.
func (c Config) Logger() *slog.Logger {
	level, _ := ParseLevel(c.Log.Level)
	opts := &slog.HandlerOptions{Level: level}
	if c.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}
