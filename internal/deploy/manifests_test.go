package deploy

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/anonymize/anonymize/internal/config"
	"github.com/anonymize/anonymize/internal/testenv"
)

// objects are the decoded manifests, by kind and name.
type objects struct {
	deployments map[string]*appsv1.Deployment
	services    map[string]*corev1.Service
	configMaps  map[string]*corev1.ConfigMap
	secrets     map[string]*corev1.Secret
	hpas        map[string]*autoscalingv2.HorizontalPodAutoscaler
	jobs        map[string]*batchv1.Job
	pvcs        map[string]*corev1.PersistentVolumeClaim
}

// newObject is an empty object of the kind a manifest declares, and the
// map it goes into.
func (o *objects) newObject(tm metav1.TypeMeta) (any, func(name string)) {
	switch tm.APIVersion + " " + tm.Kind {
	case "apps/v1 Deployment":
		v := &appsv1.Deployment{}
		return v, func(n string) { o.deployments[n] = v }
	case "v1 Service":
		v := &corev1.Service{}
		return v, func(n string) { o.services[n] = v }
	case "v1 ConfigMap":
		v := &corev1.ConfigMap{}
		return v, func(n string) { o.configMaps[n] = v }
	case "v1 Secret":
		v := &corev1.Secret{}
		return v, func(n string) { o.secrets[n] = v }
	case "autoscaling/v2 HorizontalPodAutoscaler":
		v := &autoscalingv2.HorizontalPodAutoscaler{}
		return v, func(n string) { o.hpas[n] = v }
	case "batch/v1 Job":
		v := &batchv1.Job{}
		return v, func(n string) { o.jobs[n] = v }
	case "v1 PersistentVolumeClaim":
		v := &corev1.PersistentVolumeClaim{}
		return v, func(n string) { o.pvcs[n] = v }
	}
	return nil, nil
}

// load decodes every document of deploy/kubernetes/*.yaml strictly: an
// unknown or misspelt field, or a kind this test does not know, fails.
func load(t *testing.T) *objects {
	t.Helper()
	o := &objects{map[string]*appsv1.Deployment{}, map[string]*corev1.Service{}, map[string]*corev1.ConfigMap{},
		map[string]*corev1.Secret{}, map[string]*autoscalingv2.HorizontalPodAutoscaler{}, map[string]*batchv1.Job{},
		map[string]*corev1.PersistentVolumeClaim{}}
	files, _ := filepath.Glob(filepath.Join(testenv.RepoRoot(), "deploy", "kubernetes", "*.yaml"))
	if len(files) == 0 {
		t.Fatal("no manifests in deploy/kubernetes")
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, doc := range bytes.Split(data, []byte("\n---\n")) {
			where := fmt.Sprintf("%s, document %d", filepath.Base(f), i+1)
			var tm metav1.TypeMeta
			if err := yaml.Unmarshal(doc, &tm); err != nil {
				t.Fatalf("%s: %v", where, err)
			}
			obj, add := o.newObject(tm)
			if obj == nil {
				t.Fatalf("%s: unexpected kind %q %q", where, tm.APIVersion, tm.Kind)
			}
			if err := yaml.UnmarshalStrict(doc, obj); err != nil {
				t.Fatalf("%s (%s): %v", where, tm.Kind, err)
			}
			name := obj.(metav1.Object).GetName()
			if name == "" {
				t.Fatalf("%s: no metadata.name", where)
			}
			add(name)
		}
	}
	return o
}

// TestStrictDecodingCatchesTypos: the decoding the manifests pass refuses
// a misspelt field, so passing it means something.
func TestStrictDecodingCatchesTypos(t *testing.T) {
	bad := []byte("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: x\nspec:\n  replica: 2\n")
	if err := yaml.UnmarshalStrict(bad, &appsv1.Deployment{}); err == nil || !strings.Contains(err.Error(), "replica") {
		t.Fatalf("a misspelt field decodes: %v", err)
	}
}

// podConfig loads the config.toml a pod mounts from the ConfigMap, with
// the container's ANONYMIZE_* variables (and extra) over it, as the
// program would.
func podConfig(t *testing.T, o *objects, spec corev1.PodSpec, extra ...string) config.Config {
	t.Helper()
	c := spec.Containers[0]
	var cmName string
	for _, m := range c.VolumeMounts {
		if m.MountPath == "/etc/anonymize" {
			for _, v := range spec.Volumes {
				if v.Name == m.Name && v.ConfigMap != nil {
					cmName = v.ConfigMap.Name
				}
			}
		}
	}
	cm := o.configMaps[cmName]
	if cm == nil || cm.Data["config.toml"] == "" {
		t.Fatalf("container %s mounts no ConfigMap with config.toml at /etc/anonymize (the system config of the lookup)", c.Name)
	}
	path := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(path, []byte(cm.Data["config.toml"]), 0o644); err != nil {
		t.Fatal(err)
	}
	env := extra
	for _, e := range c.Env {
		if strings.HasPrefix(e.Name, config.EnvPrefix) {
			env = append(env, e.Name+"="+e.Value)
		}
	}
	cfg, err := config.LoadEnv(path, env)
	if err == nil {
		err = cfg.Validate()
	}
	if err != nil {
		t.Fatalf("the config container %s runs with: %v", c.Name, err)
	}
	return cfg
}

// mountOf is where spec's first container mounts the volumes match
// picks (a Secret's, a claim's).
func mountOf(spec corev1.PodSpec, match func(corev1.Volume) bool) []corev1.VolumeMount {
	var out []corev1.VolumeMount
	for _, v := range spec.Volumes {
		if !match(v) {
			continue
		}
		for _, m := range spec.Containers[0].VolumeMounts {
			if m.Name == v.Name {
				out = append(out, m)
			}
		}
	}
	return out
}

// TestServiceManifests: the Deployment runs serve with probes on /healthz
// and /readyz at the port the config listens on, reads the token from the
// Secret it mounts, and the Service and the autoscaler point at it.
func TestServiceManifests(t *testing.T) {
	o := load(t)
	d := o.deployments["anonymize"]
	if d == nil {
		t.Fatal("no Deployment anonymize")
	}
	spec := d.Spec.Template.Spec
	c := spec.Containers[0]
	if !slices.Equal(c.Args, []string{"serve"}) || c.Image == "" {
		t.Errorf("container runs %q %v, want the image with args [serve]", c.Image, c.Args)
	}
	cfg := podConfig(t, o, spec)
	_, port, _ := strings.Cut(cfg.Serve.Listen, ":")
	if !strings.HasPrefix(cfg.Serve.Listen, "0.0.0.0:") || len(c.Ports) != 1 || fmt.Sprint(c.Ports[0].ContainerPort) != port {
		t.Errorf("serve.listen %q, container ports %+v: want every interface, on the container's port", cfg.Serve.Listen, c.Ports)
	}
	for probe, want := range map[*corev1.Probe]string{c.ReadinessProbe: "/readyz", c.LivenessProbe: "/healthz"} {
		if probe == nil || probe.HTTPGet == nil || probe.HTTPGet.Path != want || probe.HTTPGet.Port.String() != c.Ports[0].Name {
			t.Errorf("probe %+v, want GET %s on port %s", probe, want, c.Ports[0].Name)
		}
	}
	// The token: the file serve.token_file names is the Secret's key.
	mounts := mountOf(spec, func(v corev1.Volume) bool { return v.Secret != nil && o.secrets[v.Secret.SecretName] != nil })
	if len(mounts) != 1 || filepath.Dir(cfg.Serve.TokenFile) != mounts[0].MountPath || cfg.Serve.Token != "" {
		t.Fatalf("serve.token_file %q, secret mounts %+v: want the token read from the mounted Secret", cfg.Serve.TokenFile, mounts)
	}
	if _, ok := o.secrets["anonymize-token"].StringData[filepath.Base(cfg.Serve.TokenFile)]; !ok {
		t.Errorf("Secret anonymize-token has no key %s", filepath.Base(cfg.Serve.TokenFile))
	}
	// Shipped empty: serve refuses an empty token file, so nothing is served
	// without a token someone chose.
	if tok := o.secrets["anonymize-token"].StringData["token"]; tok != "" {
		t.Errorf("the shipped Secret holds a token (%d bytes): everyone would share it", len(tok))
	}
	if s := o.services["anonymize"]; s == nil || !selects(s.Spec.Selector, d.Spec.Template.Labels) || s.Spec.Ports[0].TargetPort.String() != c.Ports[0].Name {
		t.Errorf("Service anonymize does not reach the Deployment's pods on %s", c.Ports[0].Name)
	}
	if h := o.hpas["anonymize"]; h == nil || h.Spec.ScaleTargetRef.Kind != "Deployment" || h.Spec.ScaleTargetRef.Name != d.Name || len(h.Spec.Metrics) == 0 {
		t.Errorf("no HorizontalPodAutoscaler of Deployment %s", d.Name)
	}
	if g := spec.TerminationGracePeriodSeconds; g == nil || *g*1000 < int64(cfg.Serve.TimeoutMS)+5000 {
		t.Errorf("terminationGracePeriodSeconds %v is shorter than serve's drain (timeout_ms %d + 5 s)", g, cfg.Serve.TimeoutMS)
	}
}

// selects reports whether selector matches labels.
func selects(selector, labels map[string]string) bool {
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return len(selector) > 0
}

// TestArchiveJob: the Job is Indexed with completions, parallelism and
// run.shards alike, so pod i takes shard i+1 of N; the archive's inputs
// are mounted read-only.
func TestArchiveJob(t *testing.T) {
	o := load(t)
	j := o.jobs["anonymize-archive"]
	if j == nil {
		t.Fatal("no Job anonymize-archive")
	}
	s := j.Spec
	if s.CompletionMode == nil || *s.CompletionMode != batchv1.IndexedCompletion || s.Completions == nil || s.Parallelism == nil {
		t.Fatalf("Job is not Indexed with completions and parallelism: %+v", s)
	}
	spec := s.Template.Spec
	n := int(*s.Completions)
	for i := range n {
		cfg := podConfig(t, o, spec, fmt.Sprintf("%s=%d", config.JobIndexEnv, i))
		if k, got, err := cfg.Shard(); err != nil || k != i+1 || got != n {
			t.Errorf("pod %d takes shard %d/%d (%v), want %d/%d", i, k, got, err, i+1, n)
		}
	}
	if int(*s.Parallelism) != n {
		t.Errorf("parallelism %d, completions %d: want them equal (one worker per shard)", *s.Parallelism, n)
	}
	if spec.RestartPolicy != corev1.RestartPolicyNever {
		t.Errorf("restartPolicy %q, want Never (podFailurePolicy needs it)", spec.RestartPolicy)
	}
	c := spec.Containers[0]
	in := c.Args[0]
	for _, m := range mountOf(spec, func(v corev1.Volume) bool { return v.PersistentVolumeClaim != nil }) {
		if m.MountPath == in && !m.ReadOnly {
			t.Errorf("the input %s is mounted writable: inputs are read-only", in)
		}
	}
	if pvc := o.pvcs["anonymize-archive"]; pvc == nil || !slices.Contains(pvc.Spec.AccessModes, corev1.ReadWriteMany) {
		t.Errorf("the archive claim is not ReadWriteMany: the workers share it")
	}
}
