package infer

// Available lists the execution providers this ONNX Runtime library can
// set up, in the order config.toml names them: "cpu" always, "cuda" and
// "tensorrt" when their provider libraries (and a driver) load. A provider
// listed may still refuse a model; a run logs the one that runs it.
func (r *Runtime) Available() []string {
	var out []string
	for _, p := range knownProviders {
		so, err := r.newSessionOptions(p)
		if err != nil {
			continue
		}
		so.Destroy()
		out = append(out, p)
	}
	return out
}
