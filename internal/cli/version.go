package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"strings"

	"github.com/urfave/cli/v2"
	"gocv.io/x/gocv"

	"github.com/anonymize/anonymize/infer"
	"github.com/anonymize/anonymize/internal/config"
	"github.com/anonymize/anonymize/video/ffmpeg"
)

// versionInfo is what `anonymize version --json` prints. A part that could
// not be found has an empty version and its error beside it.
type versionInfo struct {
	Version     string   `json:"version"`
	Go          string   `json:"go"`
	Platform    string   `json:"platform"`
	OpenCV      string   `json:"opencv"`
	GoCV        string   `json:"gocv"`
	ONNXRuntime string   `json:"onnxruntime"`
	ORTLibrary  string   `json:"onnxruntime_library,omitempty"`
	ORTError    string   `json:"onnxruntime_error,omitempty"`
	Providers   []string `json:"execution_providers"`
	FFmpeg      string   `json:"ffmpeg"`
	FFmpegError string   `json:"ffmpeg_error,omitempty"`
	ConfigFile  string   `json:"config,omitempty"`
	ConfigError string   `json:"config_error,omitempty"`
}

// versionCommand is `anonymize version`.
func versionCommand(stdout io.Writer) *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "print the version of anonymize, ONNX Runtime, OpenCV and ffmpeg, and the execution providers available",
		Description: "The ONNX Runtime library is the one the config names ([runtime] library, else\n" +
			"$ONNXRUNTIME_LIB). A part that cannot be found is reported, not an error: the exit code is 0.",
		Flags: []cli.Flag{flagConfig,
			&cli.BoolFlag{Name: "json", Usage: "print the versions as one JSON object"}},
		Action: func(c *cli.Context) error {
			vi := collectVersions(c.String("config"))
			if c.Bool("json") {
				enc := json.NewEncoder(stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(vi)
			}
			vi.writeText(stdout)
			return nil
		},
	}
}

// collectVersions gathers the versions of every part anonymize runs on.
func collectVersions(configFile string) versionInfo {
	vi := versionInfo{
		Version:   version,
		Go:        runtime.Version(),
		Platform:  runtime.GOOS + "/" + runtime.GOARCH,
		OpenCV:    gocv.OpenCVVersion(),
		GoCV:      gocv.Version(),
		Providers: []string{},
	}
	if v, err := ffmpeg.Version(); err != nil {
		vi.FFmpegError = err.Error()
	} else {
		vi.FFmpeg = v
	}
	cfg, err := config.Load(configFile)
	if err != nil {
		vi.ConfigError = err.Error()
		vi.ORTError = "not loaded: the config could not be read"
		return vi
	}
	vi.ConfigFile = configFile
	vi.ORTLibrary = cfg.Runtime.Library
	rt, err := infer.Init(infer.Options{Library: cfg.Runtime.Library, Providers: []string{"cpu"}, Logger: discardLogger()})
	if err != nil {
		vi.ORTError = err.Error()
		return vi
	}
	vi.ONNXRuntime = rt.Version()
	vi.Providers = rt.Available()
	return vi
}

// writeText prints vi as lines of "part version".
func (vi versionInfo) writeText(w io.Writer) {
	fmt.Fprintf(w, "anonymize %s (%s %s)\n", vi.Version, vi.Go, vi.Platform)
	if vi.ONNXRuntime != "" {
		fmt.Fprintf(w, "onnx runtime %s (%s)\n", vi.ONNXRuntime, vi.ORTLibrary)
		fmt.Fprintf(w, "execution providers: %s\n", strings.Join(vi.Providers, ", "))
	} else {
		fmt.Fprintf(w, "onnx runtime: %s\n", vi.ORTError)
	}
	if vi.ConfigError != "" {
		fmt.Fprintf(w, "config: %s\n", vi.ConfigError)
	}
	fmt.Fprintf(w, "opencv %s (gocv %s)\n", vi.OpenCV, vi.GoCV)
	if vi.FFmpeg != "" {
		fmt.Fprintf(w, "ffmpeg %s\n", vi.FFmpeg)
	} else {
		fmt.Fprintf(w, "ffmpeg: %s\n", vi.FFmpegError)
	}
}
