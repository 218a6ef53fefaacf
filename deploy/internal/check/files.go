package check

import (
	"fmt"
	"net/url"

	"github.com/hearth-profiles/hearth/config"
)

// ConfigFiles are the files a node's configuration names and the node
// reads at start or at a handshake (certificates, keys, CA bundles, the
// Consul token file, the database URL's certificate parameters), by the
// setting that names them. The config loader checks none of these exist
// (the node only fails when it starts), so a deployment file whose mount
// was renamed would pass the loader and crash in the cluster: the tests
// check each against the mounts. Token files of gateway.tokens are not
// here: the loader reads them itself.
func ConfigFiles(cfg config.Config) (map[string]string, error) {
	files := map[string]string{}
	add := func(setting, path string) {
		if path != "" {
			files[setting] = path
		}
	}
	add("cluster.tls.ca_file", cfg.Cluster.TLS.CAFile)
	add("cluster.tls.cert_file", cfg.Cluster.TLS.CertFile)
	add("cluster.tls.key_file", cfg.Cluster.TLS.KeyFile)
	add("gateway.tls.cert_file", cfg.Gateway.TLS.CertFile)
	add("gateway.tls.key_file", cfg.Gateway.TLS.KeyFile)
	add("gateway.tls.client_ca_file", cfg.Gateway.TLS.ClientCAFile)
	add("consul.token_file", cfg.Consul.TokenFile)
	add("consul.tls.ca_file", cfg.Consul.TLS.CAFile)
	add("consul.tls.cert_file", cfg.Consul.TLS.CertFile)
	add("consul.tls.key_file", cfg.Consul.TLS.KeyFile)
	if cfg.Database.URL != "" {
		u, err := url.Parse(cfg.Database.URL)
		if err != nil {
			return nil, fmt.Errorf("database.url: %w", err)
		}
		for _, param := range []string{"sslrootcert", "sslcert", "sslkey"} {
			add("database.url "+param, u.Query().Get(param))
		}
	}
	return files, nil
}
