package kubernetes

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	promconfig "github.com/prometheus/prometheus/config"
	"github.com/prometheus/prometheus/discovery/dns" // registers dns_sd_configs
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/util/intstr"
	k8syaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/hearth-profiles/hearth/config"
	"github.com/hearth-profiles/hearth/deploy/internal/check"
)

const namespace = "hearth"

// manifests are the objects of every *.yaml file in this directory.
type manifests struct {
	deployments map[string]*appsv1.Deployment
	services    map[string]*corev1.Service
	configMaps  map[string]*corev1.ConfigMap
	pdbs        []*policyv1.PodDisruptionBudget
	policies    []*networkingv1.NetworkPolicy
	namespaces  map[string]*corev1.Namespace
}

// decoder decodes Kubernetes objects of the kinds these manifests use,
// strictly: an unknown or duplicated field is an error, as it is for
// `kubectl apply --validate=strict`.
func decoder() runtime.Decoder {
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		corev1.AddToScheme, appsv1.AddToScheme, policyv1.AddToScheme, networkingv1.AddToScheme,
	} {
		if err := add(scheme); err != nil {
			panic(err)
		}
	}
	return serializer.NewCodecFactory(scheme, serializer.EnableStrict).UniversalDeserializer()
}

// documents splits a multi-document YAML file.
func documents(raw []byte) ([][]byte, error) {
	r := k8syaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(raw)))
	var out [][]byte
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		if len(bytes.TrimSpace(stripComments(doc))) > 0 {
			out = append(out, doc)
		}
	}
}

func stripComments(doc []byte) []byte {
	var b bytes.Buffer
	for _, line := range bytes.Split(doc, []byte("\n")) {
		if !bytes.HasPrefix(bytes.TrimSpace(line), []byte("#")) {
			b.Write(line)
			b.WriteByte('\n')
		}
	}
	return b.Bytes()
}

func load(t *testing.T) manifests {
	t.Helper()
	paths, err := filepath.Glob("*.yaml")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no manifests: %v", err)
	}
	m := manifests{
		deployments: map[string]*appsv1.Deployment{},
		services:    map[string]*corev1.Service{},
		configMaps:  map[string]*corev1.ConfigMap{},
		namespaces:  map[string]*corev1.Namespace{},
	}
	dec := decoder()
	for _, path := range paths {
		docs, err := documents(check.Read(t, path))
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		for i, doc := range docs {
			obj, gvk, err := dec.Decode(doc, nil, nil)
			if err != nil {
				t.Fatalf("%s, document %d: %v", path, i+1, err)
			}
			where := fmt.Sprintf("%s: %s", path, gvk.Kind)
			switch o := obj.(type) {
			case *corev1.Namespace:
				m.namespaces[o.Name] = o
				continue
			case *appsv1.Deployment:
				m.deployments[o.Name] = o
			case *corev1.Service:
				m.services[o.Name] = o
			case *corev1.ConfigMap:
				m.configMaps[o.Name] = o
			case *policyv1.PodDisruptionBudget:
				m.pdbs = append(m.pdbs, o)
			case *networkingv1.NetworkPolicy:
				m.policies = append(m.policies, o)
			default:
				t.Fatalf("%s: no test covers this kind", where)
			}
			meta, err := metaOf(obj)
			if err != nil {
				t.Fatal(err)
			}
			if meta.namespace != namespace {
				t.Errorf("%s %s is in namespace %q, want %q", where, meta.name, meta.namespace, namespace)
			}
			if meta.labels["app.kubernetes.io/name"] != "hearth" {
				t.Errorf("%s %s lacks the label app.kubernetes.io/name=hearth", where, meta.name)
			}
		}
	}
	if m.namespaces[namespace] == nil {
		t.Errorf("no Namespace %s", namespace)
	}
	return m
}

type objectMeta struct {
	name, namespace string
	labels          map[string]string
}

func metaOf(obj runtime.Object) (objectMeta, error) {
	o, ok := obj.(interface {
		GetName() string
		GetNamespace() string
		GetLabels() map[string]string
	})
	if !ok {
		return objectMeta{}, fmt.Errorf("%T has no object metadata", obj)
	}
	return objectMeta{o.GetName(), o.GetNamespace(), o.GetLabels()}, nil
}

// TestDecoderIsStrict: the decoder refuses what a typo makes.
func TestDecoderIsStrict(t *testing.T) {
	docs, err := documents(check.Read(t, "deployment.yaml"))
	if err != nil || len(docs) != 1 {
		t.Fatalf("deployment.yaml: %d documents, %v", len(docs), err)
	}
	check.RefusesTypos(t, "deployment.yaml", docs[0], func(b []byte) error {
		_, _, err := decoder().Decode(b, nil, nil)
		return err
	},
		check.Typo{From: "  replicas: 3", To: "  replica: 3"},
		check.Typo{From: "readinessProbe:", To: "readynessProbe:"},
		check.Typo{From: "terminationGracePeriodSeconds: 90", To: "terminationGracePeriodSeconds: \"90\""},
	)
}

// node is the Hearth Deployment and its one container.
func node(t *testing.T, m manifests) (*appsv1.Deployment, corev1.Container) {
	t.Helper()
	d := m.deployments["hearth"]
	if d == nil {
		t.Fatal("no Deployment hearth")
	}
	if len(d.Spec.Template.Spec.Containers) != 1 {
		t.Fatalf("the node pod has %d containers, want 1", len(d.Spec.Template.Spec.Containers))
	}
	return d, d.Spec.Template.Spec.Containers[0]
}

func containerPort(t *testing.T, c corev1.Container, name string) int32 {
	t.Helper()
	for _, p := range c.Ports {
		if p.Name == name {
			return p.ContainerPort
		}
	}
	t.Fatalf("container %s has no port named %q", c.Name, name)
	return 0
}

// Stand-ins for what Kubernetes fills in at run time.
const (
	testPodIP  = "10.1.2.3"
	testCPUReq = "2"
)

// podFiles is the container's view of its volumes, laid out under a
// temporary root: ConfigMap keys with their data, Secret items with a
// stand-in content of their own ("secret NAME/KEY"), at the paths the
// container mounts them. Only what a volume mount puts there exists.
type podFiles struct {
	root    string
	secrets map[string]string // path in the container -> "Secret/key"
	// inRoot rewrites the container's paths into root (mount paths
	// longest first, so a nested mount wins).
	inRoot *strings.Replacer
}

func layOutPod(t *testing.T, m manifests, d *appsv1.Deployment, c corev1.Container) podFiles {
	t.Helper()
	pf := podFiles{root: t.TempDir(), secrets: map[string]string{}}
	var mountPaths []string
	for _, vm := range c.VolumeMounts {
		var v *corev1.Volume
		for i := range d.Spec.Template.Spec.Volumes {
			if d.Spec.Template.Spec.Volumes[i].Name == vm.Name {
				v = &d.Spec.Template.Spec.Volumes[i]
			}
		}
		if v == nil {
			t.Fatalf("volume mount %s names no volume of the pod", vm.Name)
		}
		if vm.SubPath != "" {
			t.Errorf("volume mount %s uses subPath: Kubernetes never updates it, so a renewed certificate would not reach the node", vm.Name)
		}
		files := map[string]string{} // path in the volume -> content
		switch {
		case v.ConfigMap != nil:
			cm := m.configMaps[v.ConfigMap.Name]
			if cm == nil {
				t.Fatalf("volume %s: no ConfigMap %s", v.Name, v.ConfigMap.Name)
			}
			for k, data := range cm.Data {
				files[k] = data
			}
		case v.Secret != nil:
			if len(v.Secret.Items) == 0 {
				t.Fatalf("volume %s: list the Secret's items, so the test knows which files exist", v.Name)
			}
			for _, item := range v.Secret.Items {
				files[item.Path] = "secret " + v.Secret.SecretName + "/" + item.Key
				pf.secrets[filepath.Join(vm.MountPath, item.Path)] = v.Secret.SecretName + "/" + item.Key
			}
		default:
			t.Fatalf("volume %s: no stand-in for its kind", v.Name)
		}
		for rel, data := range files {
			path := filepath.Join(pf.root, vm.MountPath, rel)
			if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		mountPaths = append(mountPaths, vm.MountPath)
	}
	slices.SortFunc(mountPaths, func(a, b string) int { return len(b) - len(a) })
	var pairs []string
	for _, mp := range mountPaths {
		pairs = append(pairs, mp+"/", filepath.Join(pf.root, mp)+"/")
	}
	pf.inRoot = strings.NewReplacer(pairs...)
	// The config files must name paths inside the container: rewrite
	// them in the files laid out too.
	for _, mp := range mountPaths {
		dir := filepath.Join(pf.root, mp)
		_ = filepath.WalkDir(dir, func(path string, e os.DirEntry, err error) error {
			if err != nil || e.IsDir() {
				return err
			}
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			return os.WriteFile(path, []byte(pf.inRoot.Replace(string(b))), 0o600)
		})
	}
	return pf
}

// inContainer is a path rewritten by inRoot, as the container sees it.
func (pf podFiles) inContainer(path string) string {
	if rel, ok := strings.CutPrefix(path, pf.root); ok {
		return rel
	}
	return path
}

// nodeConfig loads the configuration the container would start with,
// through the node's own loader, in the pod's files (layOutPod): the
// ConfigMap's file where the container mounts it, token files where their
// Secrets are mounted, the container's environment with its references
// resolved.
func nodeConfig(t *testing.T, m manifests, d *appsv1.Deployment, c corev1.Container) (config.Config, podFiles) {
	t.Helper()
	pf := layOutPod(t, m, d, c)
	args := slices.Clone(c.Args)
	for i, a := range args {
		args[i] = pf.inRoot.Replace(a)
	}
	var environ []string
	for _, e := range c.Env {
		value := pf.inRoot.Replace(e.Value)
		if src := e.ValueFrom; src != nil {
			switch {
			case src.SecretKeyRef != nil:
				value = "secret " + src.SecretKeyRef.Name + "/" + src.SecretKeyRef.Key
			case src.FieldRef != nil && src.FieldRef.FieldPath == "status.podIP":
				value = testPodIP
			case src.ResourceFieldRef != nil && src.ResourceFieldRef.Resource == "requests.cpu":
				value = testCPUReq
			default:
				t.Fatalf("env %s: no stand-in for %+v", e.Name, src)
			}
		}
		environ = append(environ, e.Name+"="+value)
	}
	cfg, err := check.NodeConfig(args, environ)
	if err != nil {
		t.Fatalf("the node would refuse its configuration: %v", err)
	}
	return cfg, pf
}

func TestNodeDeployment(t *testing.T) {
	m := load(t)
	d, c := node(t, m)
	pod := d.Spec.Template

	sel, err := metav1Selector(d.Spec.Selector)
	if err != nil || !sel.Matches(labels.Set(pod.Labels)) {
		t.Errorf("the selector %v does not select the pod template's labels %v (%v)", d.Spec.Selector, pod.Labels, err)
	}
	if ru := d.Spec.Strategy.RollingUpdate; d.Spec.Strategy.Type != appsv1.RollingUpdateDeploymentStrategyType || ru == nil ||
		ru.MaxUnavailable.IntValue() != 0 || ru.MaxSurge.IntValue() < 1 {
		t.Errorf("strategy %+v: want a rolling update that starts a new node before draining an old one", d.Spec.Strategy)
	}
	if d.Spec.Replicas == nil || *d.Spec.Replicas < 3 {
		t.Errorf("replicas %v: want at least 3", d.Spec.Replicas)
	}

	cfg, pf := nodeConfig(t, m, d, c)
	if cfg.Database.URL == "" || cfg.Consul.Address == "" {
		t.Fatalf("the node would run alone on the embedded store: %+v", cfg)
	}
	if port := listenPort(t, cfg.Gateway.Listen); port != containerPort(t, c, "gateway") {
		t.Errorf("gateway.listen %s, container port gateway %d", cfg.Gateway.Listen, containerPort(t, c, "gateway"))
	}
	if int32(cfg.Cluster.Port) != containerPort(t, c, "remote") {
		t.Errorf("cluster.port %d, container port remote %d", cfg.Cluster.Port, containerPort(t, c, "remote"))
	}
	if cfg.Cluster.AdvertisedHost != testPodIP {
		t.Errorf("cluster.advertised_host %q: want the pod's IP", cfg.Cluster.AdvertisedHost)
	}
	checkTokens(t, cfg)
	if !cfg.Cluster.TLS.Enabled() || cfg.Cluster.TLS.ServerName == "" {
		t.Errorf("cluster.tls %+v: pods' IPs change, so every node's certificate carries one shared name that cluster.tls.server_name checks", cfg.Cluster.TLS)
	}
	if !cfg.Gateway.TLS.Enabled() || cfg.Gateway.AllowPlaintext {
		t.Errorf("gateway: TLS %+v, allow_plaintext %v: tokens would cross the cluster network in the clear", cfg.Gateway.TLS, cfg.Gateway.AllowPlaintext)
	}
	if cfg.Node.ID != "" {
		t.Errorf("node.id %q: ids are single-use in the store, so every pod start needs a new one (leave it empty)", cfg.Node.ID)
	}

	// Probes on the node's own endpoints, in the scheme the gateway serves.
	scheme := corev1.URISchemeHTTP
	if cfg.Gateway.TLS.Enabled() {
		scheme = corev1.URISchemeHTTPS
	}
	for name, want := range map[string]struct {
		probe *corev1.Probe
		path  string
	}{
		"readiness": {c.ReadinessProbe, "/readyz"},
		"liveness":  {c.LivenessProbe, "/healthz"},
		"startup":   {c.StartupProbe, "/healthz"},
	} {
		p := want.probe
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != want.path || p.HTTPGet.Port != intstr.FromString("gateway") || p.HTTPGet.Scheme != scheme {
			t.Errorf("%s probe %+v: want GET %s on the gateway port over %s", name, p, want.path, scheme)
		}
	}

	// The drain fits in the grace period.
	if c.Lifecycle == nil || c.Lifecycle.PreStop == nil || c.Lifecycle.PreStop.Sleep == nil {
		t.Fatalf("no preStop sleep: the pod would start draining while the Service still sends it requests")
	}
	preStop := time.Duration(c.Lifecycle.PreStop.Sleep.Seconds) * time.Second
	if preStop <= 0 || preStop > 30*time.Second {
		t.Errorf("preStop sleep %s: want a few seconds", preStop)
	}
	grace := time.Duration(*pod.Spec.TerminationGracePeriodSeconds) * time.Second
	// After the drain the node stops its HTTP server and releases its
	// lease, each bounded by 5 s (cluster.Node.Close).
	if need := preStop + cfg.Drain.Timeout + 10*time.Second; grace < need {
		t.Errorf("terminationGracePeriodSeconds %s < preStop %s + drain.timeout %s + 10s to close", grace, preStop, cfg.Drain.Timeout)
	}

	// Unprivileged, read-only, nothing mounted that it does not need.
	ps, cs := pod.Spec.SecurityContext, c.SecurityContext
	if ps == nil || ps.RunAsNonRoot == nil || !*ps.RunAsNonRoot || ps.RunAsUser == nil || *ps.RunAsUser == 0 {
		t.Errorf("pod security context %+v: want a non-root user", ps)
	}
	if cs == nil || cs.ReadOnlyRootFilesystem == nil || !*cs.ReadOnlyRootFilesystem ||
		cs.AllowPrivilegeEscalation == nil || *cs.AllowPrivilegeEscalation ||
		cs.Capabilities == nil || !slices.Equal(cs.Capabilities.Drop, []corev1.Capability{"ALL"}) {
		t.Errorf("container security context %+v: want a read-only root, no privilege escalation, no capabilities", cs)
	}
	if pod.Spec.AutomountServiceAccountToken == nil || *pod.Spec.AutomountServiceAccountToken {
		t.Errorf("the node needs no Kubernetes API token")
	}

	// Every file the configuration names (certificates, keys, the Consul
	// token) is an item of a mounted Secret, readable by the node's user.
	checkSecretFiles(t, d, cfg, pf)
	u, err := url.Parse(cfg.Database.URL)
	if err != nil {
		t.Fatal(err)
	}
	if u.Query().Get("sslmode") != "verify-full" {
		t.Errorf("database.url: sslmode %q, want verify-full", u.Query().Get("sslmode"))
	}
	for what, host := range map[string]string{"database.url": u.Hostname(), "consul.address": hostOf(t, cfg.Consul.Address)} {
		if s := m.services[host]; s == nil || s.Spec.Type != corev1.ServiceTypeExternalName {
			t.Errorf("%s names %s, which is no ExternalName Service here", what, host)
		}
	}
}

// checkTokens: an admin token and a game-scope token for game servers,
// each from a Secret, none from the config file.
func checkTokens(t *testing.T, cfg config.Config) {
	t.Helper()
	scopes := map[string]bool{}
	if cfg.Gateway.Token != "" {
		scopes["admin"] = true
		if !strings.HasPrefix(cfg.Gateway.Token, "secret ") {
			t.Errorf("gateway.token does not come from a Secret")
		}
	}
	for _, tok := range cfg.Gateway.Tokens {
		scopes[tok.Scope] = true
		if !strings.HasPrefix(tok.Secret, "secret ") {
			t.Errorf("gateway.tokens %s does not come from a Secret", tok.Name)
		}
	}
	for _, want := range []string{"admin", "game"} {
		if !scopes[want] {
			t.Errorf("no gateway token of scope %s (game servers should not hold an admin token)", want)
		}
	}
}

// checkSecretFiles: every file the configuration names is an item of a
// Secret the container mounts (layOutPod put only those there), and the
// Secret volumes are readable by the pod's group and no one else.
func checkSecretFiles(t *testing.T, d *appsv1.Deployment, cfg config.Config, pf podFiles) {
	t.Helper()
	files, err := check.ConfigFiles(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"cluster.tls.ca_file", "cluster.tls.key_file", "gateway.tls.key_file", "consul.token_file", "database.url sslkey"} {
		if files[want] == "" {
			t.Errorf("the configuration sets no %s", want)
		}
	}
	for setting, path := range files {
		inContainer := pf.inContainer(path)
		if pf.secrets[inContainer] == "" {
			t.Errorf("%s %s is no item of a Secret the container mounts", setting, inContainer)
		} else if _, err := os.Stat(path); err != nil {
			t.Errorf("%s: %v", setting, err)
		}
	}
	pod := d.Spec.Template.Spec
	for _, v := range pod.Volumes {
		if v.Secret == nil {
			continue
		}
		mode := int32(0o644) // Kubernetes' default
		if v.Secret.DefaultMode != nil {
			mode = *v.Secret.DefaultMode
		}
		fsGroup := pod.SecurityContext != nil && pod.SecurityContext.FSGroup != nil
		if mode&0o040 == 0 || mode&0o007 != 0 || !fsGroup {
			t.Errorf("Secret volume %s: defaultMode %#o, fsGroup set %v: want files readable by the pod's fsGroup (the node's user) and not by others", v.Name, mode, fsGroup)
		}
	}
}

// Capacity plan (docs/OPERATIONS.md): a node holds this many resident
// ~1 KB profiles, each 2.9 KB of heap beyond its JSON, resident memory
// about twice the heap with GOGC=100, plus the process's fixed cost.
const (
	designProfiles      = 200_000
	heapPerProfileBytes = 2900 + 1024
	rssPerHeapByte      = 2
	fixedRSSBytes       = 100 << 20
)

func TestResourcesFollowTheCapacityPlan(t *testing.T) {
	_, c := node(t, load(t))
	req, lim := c.Resources.Requests, c.Resources.Limits
	cpu, mem, memLimit := req.Cpu(), req.Memory(), lim.Memory()
	if cpu.IsZero() || mem.IsZero() || memLimit.IsZero() {
		t.Fatalf("resources %+v: want CPU and memory requests and a memory limit", c.Resources)
	}
	if !lim.Cpu().IsZero() {
		t.Errorf("a CPU limit throttles the node's latency; GOMAXPROCS follows the request instead")
	}
	need := int64(designProfiles*heapPerProfileBytes*rssPerHeapByte + fixedRSSBytes)
	if mem.Value() < need {
		t.Errorf("memory request %s < %d bytes for %d resident profiles", mem, need, designProfiles)
	}
	if memLimit.Cmp(*mem) <= 0 {
		t.Errorf("memory limit %s leaves no room above the request %s to take a failed node's profiles", memLimit, mem)
	}
	var goMemLimit *resource.Quantity
	for _, e := range c.Env {
		if e.Name == "GOMEMLIMIT" {
			// Go writes binary units MiB, GiB; Kubernetes Mi, Gi.
			q, err := resource.ParseQuantity(strings.TrimSuffix(e.Value, "B"))
			if err != nil {
				t.Fatalf("GOMEMLIMIT %q: %v", e.Value, err)
			}
			goMemLimit = &q
		}
	}
	if goMemLimit == nil {
		t.Fatal("no GOMEMLIMIT: the garbage collector would let the heap grow to the kernel's limit")
	}
	if ratio := float64(goMemLimit.Value()) / float64(memLimit.Value()); ratio < 0.8 || ratio > 0.95 {
		t.Errorf("GOMEMLIMIT is %.0f%% of the memory limit; want 80-95%%: room for non-heap memory, but the GC acts before the kill", 100*ratio)
	}
}

func TestServices(t *testing.T) {
	m := load(t)
	d, c := node(t, m)
	pods := labels.Set(d.Spec.Template.Labels)
	for name, want := range map[string]struct {
		headless bool
		ports    []string
	}{
		"hearth-gateway": {false, []string{"gateway"}},
		"hearth-remote":  {true, []string{"remote", "gateway"}},
	} {
		s := m.services[name]
		if s == nil {
			t.Errorf("no Service %s", name)
			continue
		}
		if len(s.Spec.Selector) == 0 || !labels.SelectorFromSet(s.Spec.Selector).Matches(pods) {
			t.Errorf("Service %s selects %v, not the node pods %v", name, s.Spec.Selector, pods)
		}
		if headless := s.Spec.ClusterIP == corev1.ClusterIPNone; headless != want.headless {
			t.Errorf("Service %s: headless %v, want %v", name, headless, want.headless)
		}
		if want.headless && !s.Spec.PublishNotReadyAddresses {
			t.Errorf("Service %s must list draining pods too (Prometheus finds them through it)", name)
		}
		var targets []string
		for _, p := range s.Spec.Ports {
			targets = append(targets, p.TargetPort.String())
			containerPort(t, c, p.TargetPort.String())
		}
		if !slices.Equal(targets, want.ports) {
			t.Errorf("Service %s targets ports %v, want %v", name, targets, want.ports)
		}
	}
}

func TestDisruptionBudget(t *testing.T) {
	m := load(t)
	d, _ := node(t, m)
	if len(m.pdbs) != 1 {
		t.Fatalf("%d PodDisruptionBudgets, want 1", len(m.pdbs))
	}
	pdb := m.pdbs[0]
	sel, err := metav1Selector(pdb.Spec.Selector)
	if err != nil || !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
		t.Errorf("the budget's selector %v does not select the node pods (%v)", pdb.Spec.Selector, err)
	}
	if pdb.Spec.MaxUnavailable == nil || pdb.Spec.MaxUnavailable.IntValue() != 1 || pdb.Spec.MinAvailable != nil {
		t.Errorf("budget %+v: want maxUnavailable 1 (one drain at a time)", pdb.Spec)
	}
}

func TestNetworkPolicyGuardsTheRemote(t *testing.T) {
	m := load(t)
	d, c := node(t, m)
	pods := labels.Set(d.Spec.Template.Labels)
	if len(m.policies) != 1 {
		t.Fatalf("%d NetworkPolicies, want 1", len(m.policies))
	}
	np := m.policies[0]
	sel, err := metav1Selector(&np.Spec.PodSelector)
	if err != nil || !sel.Matches(pods) {
		t.Fatalf("the policy does not apply to the node pods (%v)", err)
	}
	remoteOpen := false
	for _, rule := range np.Spec.Ingress {
		for _, p := range rule.Ports {
			containerPort(t, c, p.Port.String())
			if p.Port.String() != "remote" {
				continue
			}
			if len(rule.From) == 0 {
				remoteOpen = true
			}
			for _, peer := range rule.From {
				ps, err := metav1Selector(peer.PodSelector)
				if peer.PodSelector == nil || err != nil || ps.Empty() || peer.IPBlock != nil {
					remoteOpen = true
				}
			}
		}
	}
	if remoteOpen {
		t.Error("the unauthenticated remote port is open beyond Hearth's pods and labelled cluster clients")
	}
}

// TestPrometheusFindsThePods: deploy/prometheus/kubernetes.yml loads with
// Prometheus's own configuration loader and discovers the pods through the
// headless Service, on the port that serves /metrics, in the scheme the
// gateway serves, checking its certificate for the gateway Service's name
// (the pods are scraped by IP, which no certificate names).
func TestPrometheusFindsThePods(t *testing.T) {
	m := load(t)
	d, c := node(t, m)
	cfgNode, _ := nodeConfig(t, m, d, c)
	cfg, err := promconfig.LoadFile("../prometheus/kubernetes.yml", false, nil)
	if err != nil {
		t.Fatal(err)
	}
	var job *promconfig.ScrapeConfig
	for _, sc := range cfg.ScrapeConfigs {
		if sc.JobName == "hearth" {
			job = sc
		}
	}
	if job == nil || len(job.ServiceDiscoveryConfigs) != 1 {
		t.Fatalf("want one discovery config in job hearth: %+v", job)
	}
	sd, ok := job.ServiceDiscoveryConfigs[0].(*dns.SDConfig)
	if !ok {
		t.Fatalf("discovery %T, want DNS", job.ServiceDiscoveryConfigs[0])
	}
	want := "hearth-remote." + namespace + ".svc.cluster.local"
	if !slices.Equal(sd.Names, []string{want}) || sd.Type != "A" || int32(sd.Port) != containerPort(t, c, "gateway") {
		t.Errorf("DNS discovery %+v: want A records of %s, port %d", sd, want, containerPort(t, c, "gateway"))
	}
	if m.services["hearth-remote"] == nil {
		t.Errorf("no Service hearth-remote to discover")
	}
	if job.MetricsPath != "/metrics" {
		t.Errorf("metrics path %s", job.MetricsPath)
	}
	if !cfgNode.Gateway.TLS.Enabled() {
		if job.Scheme != "http" {
			t.Errorf("scheme %s; the gateway serves plain HTTP", job.Scheme)
		}
		return
	}
	tc := job.HTTPClientConfig.TLSConfig
	gatewayName := "hearth-gateway." + namespace + ".svc"
	if job.Scheme != "https" || tc.CAFile == "" || tc.InsecureSkipVerify || tc.ServerName != gatewayName {
		t.Errorf("scheme %s, tls_config %+v: the gateway serves HTTPS only; want https, its CA, and server_name %s (a name its certificate carries)", job.Scheme, tc, gatewayName)
	}
	if m.services["hearth-gateway"] == nil {
		t.Errorf("no Service hearth-gateway, whose name the certificate carries")
	}
}

func metav1Selector(s *metav1.LabelSelector) (labels.Selector, error) {
	if s == nil {
		return nil, errors.New("no selector")
	}
	return metav1.LabelSelectorAsSelector(s)
}

func listenPort(t *testing.T, addr string) int32 {
	t.Helper()
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		t.Fatal(err)
	}
	return int32(p)
}

func hostOf(t *testing.T, addr string) string {
	t.Helper()
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return host
}

// TestDocsCreateEverySecret: the kubectl commands in docs/OPERATIONS.md
// (Kubernetes) create every Secret the Deployment mounts, with every key
// it mounts, so an operator who follows them gets pods that start.
func TestDocsCreateEverySecret(t *testing.T) {
	d, _ := node(t, load(t))
	doc := string(check.Read(t, filepath.Join(check.RepoRoot(t), "docs", "OPERATIONS.md")))
	created := map[string]map[string]bool{} // Secret -> keys
	for line := range strings.Lines(strings.ReplaceAll(doc, "\\\n", " ")) {
		f := strings.Fields(line)
		i := slices.Index(f, "secret")
		if i < 1 || f[i-1] != "create" || i+2 >= len(f) || !slices.Contains(f, "-n") || f[slices.Index(f, "-n")+1] != namespace {
			continue
		}
		kind, name := f[i+1], f[i+2]
		keys := map[string]bool{}
		if kind == "tls" {
			keys["tls.crt"], keys["tls.key"] = true, true
		}
		for _, a := range f[i+3:] {
			for _, flag := range []string{"--from-file=", "--from-literal="} {
				if v, ok := strings.CutPrefix(a, flag); ok {
					key, _, hasKey := strings.Cut(v, "=")
					if !hasKey {
						key = filepath.Base(v) // --from-file=path: the file's name
					}
					keys[key] = true
				}
			}
		}
		created[name] = keys
	}
	for _, v := range d.Spec.Template.Spec.Volumes {
		if v.Secret == nil {
			continue
		}
		keys, ok := created[v.Secret.SecretName]
		if !ok {
			t.Errorf("docs/OPERATIONS.md creates no Secret %s (volume %s)", v.Secret.SecretName, v.Name)
			continue
		}
		for _, item := range v.Secret.Items {
			if !keys[item.Key] {
				t.Errorf("docs/OPERATIONS.md creates Secret %s without the key %s that volume %s mounts", v.Secret.SecretName, item.Key, v.Name)
			}
		}
	}
}
