package deploy

import (
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/hearth-profiles/hearth/deploy/internal/check"
)

// certScript is what a one-shot service's `cockroach cert` script leaves
// in its container: create-ca writes ca.crt into --certs-dir, create-node
// node.crt and node.key for the names it is given, and chown hands files
// to a user. Read from the script's text, since the script is what makes
// the files the nodes are configured to read.
type certScript struct {
	files  map[string]bool   // paths in the service's container
	names  []string          // the node certificate's DNS names and IPs
	owners map[string]string // path -> uid:gid given by chown
}

func readCertScript(command []string) certScript {
	cs := certScript{files: map[string]bool{}, owners: map[string]string{}}
	for line := range strings.Lines(strings.Join(command, "\n")) {
		f := strings.Fields(line)
		if i := slices.Index(f, "chown"); i >= 0 && i+2 < len(f) {
			for _, p := range f[i+2:] {
				cs.owners[p] = f[i+1]
			}
			continue
		}
		i := slices.Index(f, "cert")
		if i < 1 || i+1 >= len(f) || f[i-1] != "cockroach" {
			continue
		}
		var dir string
		var args []string
		for _, a := range f[i+2:] {
			if v, ok := strings.CutPrefix(a, "--certs-dir="); ok {
				dir = v
			} else if !strings.HasPrefix(a, "-") {
				args = append(args, a)
			}
		}
		switch f[i+1] {
		case "create-ca":
			cs.files[path.Join(dir, "ca.crt")] = true
		case "create-node":
			cs.files[path.Join(dir, "node.crt")] = true
			cs.files[path.Join(dir, "node.key")] = true
			cs.names = append(cs.names, args...)
		}
	}
	return cs
}

// mountOf is the service's mount that holds the file at p in its
// container, and p relative to the mount's target.
func mountOf(s types.ServiceConfig, p string) (types.ServiceVolumeConfig, string, bool) {
	for _, v := range s.Volumes {
		if rel, ok := strings.CutPrefix(p, strings.TrimSuffix(v.Target, "/")+"/"); ok {
			return v, rel, true
		}
	}
	return types.ServiceVolumeConfig{}, "", false
}

// TestComposeNodeFiles: every file a node's configuration names (the
// cluster port's CA, certificate and key) is in a volume the node mounts
// read-only, and is there when the node starts: a bind mount's file
// exists; a named volume's file is written by a one-shot service the node
// waits for, keys owned by the image's user (who could not read them
// otherwise), in a certificate that names the host the other nodes dial.
// A renamed file, volume or mount fails here rather than at the node's
// start.
func TestComposeNodeFiles(t *testing.T) {
	p := project(t)
	for _, name := range nodeServices {
		s, err := p.GetService(name)
		if err != nil {
			t.Fatal(err)
		}
		cfg := serviceConfig(t, s)
		files, err := check.ConfigFiles(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if !cfg.Cluster.TLS.Enabled() {
			t.Errorf("%s: no cluster.tls: the node would refuse cluster.host %s", name, cfg.Cluster.Host)
		}
		for setting, file := range files {
			v, rel, ok := mountOf(s, file)
			if !ok {
				t.Errorf("%s: %s %s is in no volume the service mounts", name, setting, file)
				continue
			}
			if !v.ReadOnly {
				t.Errorf("%s mounts %s writable; the node only reads it", name, v.Target)
			}
			switch v.Type {
			case types.VolumeTypeBind:
				if _, err := os.Stat(filepath.Join(v.Source, rel)); err != nil {
					t.Errorf("%s: %s %s: %v", name, setting, file, err)
				}
			case types.VolumeTypeVolume:
				checkWrittenBefore(t, p, s, setting, v, rel)
			default:
				t.Errorf("%s: %s %s is on a %s mount, which starts empty", name, setting, file, v.Type)
			}
		}
	}
}

// checkWrittenBefore checks that a one-shot service the node s waits for
// writes the file rel of named volume v.
func checkWrittenBefore(t *testing.T, p *types.Project, s types.ServiceConfig, setting string, v types.ServiceVolumeConfig, rel string) {
	t.Helper()
	cfg := serviceConfig(t, s)
	for _, w := range p.Services {
		if w.Name == s.Name {
			continue
		}
		for _, wv := range w.Volumes {
			if wv.Type != types.VolumeTypeVolume || wv.Source != v.Source {
				continue
			}
			written := path.Join(wv.Target, rel)
			cs := readCertScript(append(slices.Clone(w.Entrypoint), w.Command...))
			if !cs.files[written] {
				continue
			}
			if dep, ok := s.DependsOn[w.Name]; !ok || dep.Condition != types.ServiceConditionCompletedSuccessfully {
				t.Errorf("%s: %s comes from %s, which the node does not wait for (depends_on condition service_completed_successfully)", s.Name, setting, w.Name)
			}
			if strings.HasSuffix(setting, "key_file") && cs.owners[written] != nonrootUser {
				t.Errorf("%s: %s writes the key %s as root (chown to %q); the image runs as %s and could not read it", s.Name, w.Name, written, cs.owners[written], nonrootUser)
			}
			want := cfg.Cluster.TLS.ServerName
			if want == "" {
				want = cfg.Cluster.AdvertisedHost
			}
			if setting == "cluster.tls.cert_file" && !slices.Contains(cs.names, want) {
				t.Errorf("%s: the certificate %s makes names %v; the other nodes check %q", s.Name, w.Name, cs.names, want)
			}
			return
		}
	}
	t.Errorf("%s: %s: no other service writes %s into volume %s", s.Name, setting, rel, v.Source)
}
