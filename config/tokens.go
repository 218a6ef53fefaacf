package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"strings"
)

// tokenFile is one entry of gateway.tokens as written in the config file.
// The secret itself is never in the file: it is read from a file (a
// mounted secret) or an environment variable, so the config file can be
// shared, versioned and logged.
type tokenFile struct {
	Name      string `json:"name"`
	Scope     string `json:"scope"`
	TokenFile string `json:"token_file"`
	TokenEnv  string `json:"token_env"`
}

// gatewayTokens decodes gateway.tokens from the file at path strictly and
// reads each secret. environ is the process environment (os.Environ()).
func gatewayTokens(path string, raw any, environ []string) ([]GatewayToken, error) {
	if raw == nil {
		return nil, nil
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: config file %s: %s", ErrInvalid, path, fmt.Sprintf(format, args...))
	}
	if err := checkShape("gateway.tokens", raw, reflect.TypeFor[[]tokenFile]()); err != nil {
		return nil, bad("%v (a token is never written in the file: name it with token_file or token_env)", err)
	}
	b, err := json.Marshal(raw)
	if err != nil {
		return nil, bad("gateway.tokens: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var entries []tokenFile
	if err := dec.Decode(&entries); err != nil {
		return nil, bad("gateway.tokens: %v", err)
	}
	env := map[string]string{}
	for _, kv := range environ {
		if name, value, ok := strings.Cut(kv, "="); ok {
			env[name] = value
		}
	}
	out := make([]GatewayToken, 0, len(entries))
	for i, e := range entries {
		where := fmt.Sprintf("gateway.tokens[%d]", i)
		if e.Name != "" {
			where += " (" + e.Name + ")"
		}
		tok := GatewayToken{Name: e.Name, Scope: e.Scope}
		switch {
		case (e.TokenFile == "") == (e.TokenEnv == ""):
			return nil, bad("%s needs one of token_file or token_env", where)
		case e.TokenFile != "":
			b, err := os.ReadFile(e.TokenFile)
			if err != nil {
				return nil, bad("%s: token_file: %v", where, err)
			}
			tok.Secret = strings.TrimSpace(string(b))
			if tok.Secret == "" {
				return nil, bad("%s: token_file %s is empty", where, e.TokenFile)
			}
		default:
			if strings.HasPrefix(e.TokenEnv, EnvPrefix) {
				return nil, bad("%s: token_env %s starts with %s, which is kept for settings; name another variable", where, e.TokenEnv, EnvPrefix)
			}
			tok.Secret = strings.TrimSpace(env[e.TokenEnv])
			if tok.Secret == "" {
				return nil, bad("%s: the environment variable %s named by token_env is unset or empty", where, e.TokenEnv)
			}
		}
		out = append(out, tok)
	}
	return out, nil
}
