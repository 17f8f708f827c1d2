package convert

import (
	"fmt"
	"slices"
	"strings"
)

// Config is what every decoder gets from a model manifest besides its
// adapter's own options.
type Config struct {
	// InputW, InputH are the fixed input tensor size, 0 when dynamic.
	InputW, InputH int
	// Labels names the classes; Class indexes into it.
	Labels []string
	// LabelBase is the raw class id of Labels[0] (TF OD API models count
	// from 1).
	LabelBase int
}

// Options are an adapter's own settings: a toml-tagged struct that the
// manifest's [ADAPTER] section decodes into (its zero value when the
// section is absent).
type Options interface {
	// Validate checks the options on their own; messages start with the
	// adapter's name and name the key.
	Validate() error
}

// HideDefaulter is implemented by options whose adapter hides only some of
// its labels by default (a manifest's hide left empty hides every label).
type HideDefaulter interface {
	DefaultHide(labels []string) []string
}

// NoOptions is the options type of an adapter that has none: its section,
// if present, must be empty.
type NoOptions struct{}

// Validate accepts the empty options.
func (NoOptions) Validate() error { return nil }

// adapter is one registered decoder signature.
type adapter struct {
	decode func(decode func(v any) error) (Options, error)
	build  func(Config, Options) (Decoder, error)
}

// adapters is the registry, filled by the init funcs of the adapter files
// and read-only after that.
var adapters = map[string]adapter{}

// Register makes the adapter name known: its options type is O and build
// makes its decoder from validated options. NewDecoder wraps that decoder
// in the checks every decode goes through (checkedDecoder), so build's
// decoder returns its boxes and keypoints unclipped. It is meant for init funcs and
// panics when name is empty or taken.
func Register[O Options](name string, build func(Config, O) (Decoder, error)) {
	if name == "" || adapters[name].build != nil {
		panic(fmt.Sprintf("convert: adapter %q registered twice or without a name", name))
	}
	adapters[name] = adapter{
		decode: func(decode func(v any) error) (Options, error) {
			var o O
			if err := decode(&o); err != nil {
				return nil, err
			}
			return o, nil
		},
		build: func(cfg Config, opts Options) (Decoder, error) {
			var o O
			if opts != nil {
				var ok bool
				if o, ok = opts.(O); !ok {
					return nil, fmt.Errorf("%s: options of type %T, want %T", name, opts, o)
				}
			}
			if err := o.Validate(); err != nil {
				return nil, err
			}
			d, err := build(cfg, o)
			if err != nil {
				return nil, err
			}
			return checkedDecoder{name: name, dec: d}, nil
		},
	}
}

// Adapters returns the names of the registered adapters, sorted.
func Adapters() []string {
	names := make([]string, 0, len(adapters))
	for n := range adapters {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Known reports whether name is a registered adapter.
func Known(name string) bool { _, ok := adapters[name]; return ok }

func unknownAdapter(name string) error {
	return fmt.Errorf("unknown adapter %q (known: %s)", name, strings.Join(Adapters(), ", "))
}

// DecodeOptions returns the options of adapter name, decoded by decode
// (which fills a pointer to the adapter's options type, e.g. a TOML
// MetaData.PrimitiveDecode of the manifest's section); a nil decode gives
// the zero options. The options are not validated here: NewDecoder does.
func DecodeOptions(name string, decode func(v any) error) (Options, error) {
	a, ok := adapters[name]
	if !ok {
		return nil, unknownAdapter(name)
	}
	if decode == nil {
		decode = func(any) error { return nil }
	}
	return a.decode(decode)
}

// NewDecoder builds the decoder of adapter name from cfg and opts (nil:
// the adapter's zero options), after opts' own Validate.
func NewDecoder(name string, cfg Config, opts Options) (Decoder, error) {
	a, ok := adapters[name]
	if !ok {
		return nil, unknownAdapter(name)
	}
	return a.build(cfg, opts)
}
