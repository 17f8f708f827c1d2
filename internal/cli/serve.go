package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"slices"

	"github.com/urfave/cli/v2"

	"github.com/anonymize/anonymize/infer"
	"github.com/anonymize/anonymize/internal/app"
	"github.com/anonymize/anonymize/internal/config"
	"github.com/anonymize/anonymize/internal/sdnotify"
	"github.com/anonymize/anonymize/internal/server"
	"github.com/anonymize/anonymize/video/live"
)

// serveCommand is `anonymize serve`.
func serveCommand(env Env) *cli.Command {
	return &cli.Command{
		Name:  "serve",
		Usage: "run an HTTP service: POST an image to /v1/anonymize or /v1/detect",
		Description: "Endpoints: POST /v1/anonymize (image in, anonymized image out in the same format;\n" +
			"query: style, shape, mask_scale, colour, threshold, model), POST /v1/detect (JSON boxes),\n" +
			"GET /v1/models, /healthz, /readyz, /metrics (Prometheus) and /openapi.json. With --camera or --stream it\n" +
			"also anonymizes that live source and serves the anonymized view at GET /v1/stream.mjpeg\n" +
			"(MJPEG; with --out DIR it also writes segment files, as live mode does). Settings: [serve] in\n" +
			"config.toml. Models are reloaded on SIGHUP and, with reload.watch, when the models folder\n" +
			"or the config changes. SIGINT/SIGTERM stop it after the requests in flight finish.\n\n" +
			"Exit codes: 0 stopped cleanly; 1 the service failed or could not drain in time; 2 usage,\n" +
			"config or model error, or the address cannot be bound.",
		Flags: slices.Concat(
			[]cli.Flag{flagConfig},
			settingFlags("listen", "max-concurrent", "queue", "timeout"),
			[]cli.Flag{
				&cli.StringFlag{Name: "camera", Usage: "also anonymize a live camera (OpenCV device `INDEX`) and serve the view at /v1/stream.mjpeg"},
				&cli.StringFlag{Name: "stream", Usage: "also anonymize a live stream (rtsp, http or udp `URL`, or a file played in real time) and serve the view at /v1/stream.mjpeg"},
				&cli.StringFlag{Name: "out", Aliases: []string{"o"}, Usage: "with --camera/--stream: also write the anonymized live source as segment files under `DIR` (default: the live view only)"},
			},
			settingFlags("model", "threshold", "tiles", "style", "shape", "mask-scale", "threads", "providers"),
			[]cli.Flag{quietFlag("log errors only")},
		),
		Action: func(c *cli.Context) error { return cmdServe(c, env) },
	}
}

// serveHooks lets tests observe and steer a service: it travels in the
// Env of the run, so no package state holds it.
type serveHooks struct {
	loading  func(addr string)                     // listening, models not yet loaded
	started  func(addr string)                     // listening, models loaded
	wrap     func(server.Detector) server.Detector // wraps the detector
	shutdown func()                                // the listener is closed, draining begins
}

func cmdServe(c *cli.Context, env Env) error {
	ctx := c.Context
	if c.NArg() > 0 {
		return usageErr("serve takes no arguments (got %q)", c.Args().First())
	}
	cfg, err := serveSettings(c)
	if err != nil {
		return err
	}
	hooks := env.hooks
	if hooks == nil {
		hooks = &serveHooks{}
	}
	log := newLogger(env.Stderr, c.Bool("quiet"), logOptionsOf(c))
	logConfig(log, cfg)

	// A live source (--camera, --stream) is opened before anything else: a
	// camera that is not there is an error at once.
	src, liveDir, err := openServeLive(c, cfg, log)
	if err != nil {
		return err
	}
	if src != nil {
		defer src.Close()
	}
	ln, err := listen(cfg, log)
	if err != nil {
		return err
	}
	defer ln.Close()

	// Serve at once: /healthz answers while the models load (a TensorRT
	// engine can take minutes to build), /readyz once they have.
	s := server.New(cfg, log)
	if src != nil {
		s.SetLive(live.NewPreview(log))
	}
	hs, serveErr := startHTTP(ctx, s, ln, hooks)
	addr := ln.Addr().String()
	log.Info("listening; loading the models", "url", "http://"+addr)
	if hooks.loading != nil {
		hooks.loading(addr)
	}

	set, err := loadDetector(cfg, log)
	if err != nil {
		hs.Close()
		return err
	}
	defer set.Close()
	var det server.Detector = set
	if hooks.wrap != nil {
		det = hooks.wrap(set)
	}
	s.Start(det, set)
	stopReload := startReloader(ctx, c, cfg, set, env.Reload, log)
	defer stopReload()
	stopLive := startServeLive(ctx, src, set, cfg, app.LiveOutputs{Dir: liveDir, Preview: s.Live(), Workers: cfg.Serve.MaxConcurrent}, log)
	defer stopLive() // before set.Close
	info := set.Info()
	log.Info("serving", "url", "http://"+addr, "model", info.Name, "version", info.Version,
		"max_concurrent", cfg.Serve.MaxConcurrent, "queue", cfg.Serve.Queue, "auth", cfg.Serve.Token != "")
	if hooks.started != nil {
		hooks.started(addr)
	}
	notifySystemd(sdnotify.Ready, log) // Type=notify: ready once /readyz is

	var failed error
	select {
	case <-ctx.Done():
	case err := <-serveErr:
		failed = err
	}
	notifySystemd(sdnotify.Stopping, log)
	stopLive()
	return drain(s, hs, failed, log)
}

// startHTTP serves s on ln; the channel gets why serving stopped. At
// shutdown the live view's streams end first, so they do not hold up the
// drain.
func startHTTP(ctx context.Context, s *server.Server, ln net.Listener, hooks *serveHooks) (*http.Server, <-chan error) {
	hs := s.HTTPServer(ctx)
	hs.RegisterOnShutdown(func() {
		s.CloseLive()
		if hooks.shutdown != nil {
			hooks.shutdown()
		}
	})
	serveErr := make(chan error, 1)
	go func() { serveErr <- hs.Serve(ln) }()
	return hs, serveErr
}

// startServeLive anonymizes the service's live source (src; nil: none) in
// the background; the returned func stops it and waits for it.
func startServeLive(ctx context.Context, src *app.LiveInput, set *infer.Set, cfg config.Config, out app.LiveOutputs, log *slog.Logger) (stop func()) {
	if src == nil {
		return func() {}
	}
	liveCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		serveLive(liveCtx, src, set, cfg, out, log)
	}()
	return func() { cancel(); <-done }
}

// serveSettings are the settings with the serve flags over them; the
// sizing left at 0 is filled in from the CPU cores.
func serveSettings(c *cli.Context) (config.Config, error) {
	cfg, err := settings(c)
	if err != nil {
		return cfg, err
	}
	// settings has checked [serve] with the flags over it.
	cfg.SizeWorkers(&cfg.Serve.MaxConcurrent, runtime.NumCPU())
	tok, err := cfg.ServeToken() // serve.token_file, read once at start
	if err != nil {
		return cfg, usageErr("%v", err)
	}
	cfg.Serve.Token = tok
	return cfg, nil
}

// openServeLive opens the live source of serve --camera/--stream, if one
// is given, and the folder of its segment files (--out; "": none).
func openServeLive(c *cli.Context, cfg config.Config, log *slog.Logger) (*app.LiveInput, string, error) {
	switch {
	case c.IsSet("camera") && c.IsSet("stream"):
		return nil, "", usageErr("give --camera or --stream, not both")
	case c.IsSet("camera") || c.IsSet("stream"):
		dir := ""
		if c.IsSet("out") {
			dir = c.String("out")
			if err := app.CheckCodec(cfg); err != nil { // segments are encoded with it
				return nil, "", exitFor(err)
			}
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return nil, "", usageErr("--out: %v", err)
			}
		}
		src, err := openLiveInput(c, cfg, log)
		return src, dir, err
	case c.IsSet("out"):
		return nil, "", usageErr("--out is for the live source's segment files: give --camera or --stream with it")
	}
	return nil, "", nil
}

// listen binds serve.listen first: an address in use is an error at once,
// before the models load. An empty host means loopback, never every
// interface.
func listen(cfg config.Config, log *slog.Logger) (net.Listener, error) {
	host, port, _ := net.SplitHostPort(cfg.Serve.Listen)
	if host == "" {
		host = "127.0.0.1"
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(host, port))
	if err != nil {
		return nil, usageErr("serve: %v", err)
	}
	if ip := net.ParseIP(host); (ip == nil || !ip.IsLoopback()) && host != "localhost" {
		if cfg.Serve.Token == "" {
			log.Warn("serving beyond this machine without a token: anyone who can reach it may use it (set serve.token)", "addr", ln.Addr().String())
		} else {
			log.Warn("serving beyond this machine: use TLS in front of it, the token travels in the clear", "addr", ln.Addr().String())
		}
	}
	return ln, nil
}

// serveLive anonymizes the service's live source until ctx ends.
func serveLive(ctx context.Context, src *app.LiveInput, set *infer.Set, cfg config.Config, out app.LiveOutputs, log *slog.Logger) {
	res, err := app.RunLive(ctx, src, set, cfg, out, log)
	if err == nil {
		err = res.Err(src.Name)
	}
	if err != nil {
		log.Error("live source stopped; /v1/stream.mjpeg shows no new frames", "source", src.Name, "err", err)
		return
	}
	log.Info("live source stopped", "source", src.Name, "captured", res.Source.Captured, "frames", res.Sink.Frames,
		"segments", res.Sink.Segments, "reconnects", res.Source.Reconnects)
}

// drain stops the service: the listener closes at once (new connections
// are refused), requests in flight finish, then the workers. failed is
// why the server stopped serving, if it failed.
func drain(s *server.Server, hs *http.Server, failed error, log *slog.Logger) error {
	grace := s.Stop()
	log.Info("stopping: finishing the requests in flight", "grace", grace)
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		hs.Close()
		if failed == nil {
			failed = fmt.Errorf("requests still in flight after %v were cut off", grace)
		}
	}
	s.Wait()
	if failed != nil && !errors.Is(failed, http.ErrServerClosed) {
		return &exitError{exitSomeFailed, fmt.Errorf("serve: %w", failed)}
	}
	log.Info("stopped", "requests", s.Served())
	return nil
}

// notifySystemd tells systemd the service's state (Type=notify units); a
// socket that cannot be reached is logged, and the service goes on.
func notifySystemd(state string, log *slog.Logger) {
	if _, err := sdnotify.Notify(state); err != nil {
		log.Warn("could not notify systemd", "err", err)
	}
}
