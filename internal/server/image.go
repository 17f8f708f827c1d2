package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image/color"
	"math"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"gocv.io/x/gocv"

	"github.com/anonymize/anonymize/convert"
	"github.com/anonymize/anonymize/infer"
	"github.com/anonymize/anonymize/video/hide"
	"github.com/anonymize/anonymize/video/imageio"
)

// ---- images ----------------------------------------------------------------

// requestOptions are the query parameters of /v1/anonymize and /v1/detect.
type requestOptions struct {
	style, shape string
	maskScale    float64
	colour       *color.RGBA
	threshold    float32 // 0: the models' own
	model        string  // "": every running model
}

// parseQuery reads and checks the query; unknown keys are errors, as in
// the config.
func parseQuery(q map[string][]string) (requestOptions, error) {
	var o requestOptions
	for k, vs := range q {
		if len(vs) != 1 {
			return o, fmt.Errorf("query parameter %s given %d times", k, len(vs))
		}
		v := vs[0]
		switch k {
		case "style":
			switch hide.Style(v) {
			case hide.Blur, hide.Pixelate, hide.Solid:
			default:
				return o, fmt.Errorf("style %q: want blur, pixelate or solid", v)
			}
			o.style = v
		case "shape":
			switch hide.Shape(v) {
			case hide.Box, hide.Ellipse:
			default:
				return o, fmt.Errorf("shape %q: want box or ellipse", v)
			}
			o.shape = v
		case "mask_scale":
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || !(f > 0 && f <= hide.MaxMaskScale) {
				return o, fmt.Errorf("mask_scale %q: want a number in (0, %d]", v, hide.MaxMaskScale)
			}
			o.maskScale = f
		case "colour", "color":
			if !strings.HasPrefix(v, "#") {
				v = "#" + v
			}
			col, err := hide.ParseColour(v)
			if err != nil {
				return o, fmt.Errorf("colour: %v (rrggbb)", err)
			}
			o.colour = &col
		case "threshold":
			f, err := strconv.ParseFloat(v, 32)
			if err != nil || !(f >= 0 && f <= 1) {
				return o, fmt.Errorf("threshold %q: want a number in [0, 1]", v)
			}
			o.threshold = float32(f)
		case "model":
			if v == "" {
				return o, errors.New("model: empty")
			}
			o.model = v
		default:
			return o, fmt.Errorf("unknown query parameter %q (style, shape, mask_scale, colour, threshold, model)", k)
		}
	}
	return o, nil
}

// apply puts the request's hiding options over h.
func (o requestOptions) apply(h hide.Options) hide.Options {
	if o.style != "" {
		h.Style = hide.Style(o.style)
	}
	if o.shape != "" {
		h.Shape = hide.Shape(o.shape)
	}
	if o.maskScale > 0 {
		h.MaskScale = o.maskScale
	}
	if o.colour != nil {
		h.Colour = *o.colour
	}
	return h
}

// pickModels finds the running models a request names: by name, folder,
// or an alias of either, which may name several ("faces": both face
// detectors, so no face found by only one of them is dropped).
func (s *Server) pickModels(name string, running []infer.Info) []infer.Info {
	want := append([]string{name}, s.cfg.AliasNames(name)...)
	var out []infer.Info
	for _, m := range running {
		if slices.Contains(want, m.Name) || slices.Contains(want, filepath.Base(m.Dir)) {
			out = append(out, m)
		}
	}
	return out
}

// result is what a worker hands back.
type result struct {
	status int
	code   string
	err    error
	body   []byte // the encoded image (anonymize)
	dets   []convert.Detection
	info   infer.Info
	w, h   int
	timing timings
}

// timings are the stages of one request, in milliseconds.
type timings struct {
	Read   float64 `json:"read"`   // receiving the body
	Queue  float64 `json:"queue"`  // waiting for a processing slot
	Decode float64 `json:"decode"` // decoding the image
	Detect float64 `json:"detect"` // running the models
	Hide   float64 `json:"hide,omitempty"`
	Encode float64 `json:"encode,omitempty"`
	Total  float64 `json:"total"` // arrival to answer
}

func msSince(t time.Time) float64 { return float64(time.Since(t).Microseconds()) / 1000 }

// handleImage serves /v1/anonymize (anonymize true) and /v1/detect: cheap
// checks, the body (under an upload slot and its own deadline), admission,
// a processing slot, the answer.
func (s *Server) handleImage(w http.ResponseWriter, r *http.Request, anonymize bool) {
	start := time.Now()
	opts, selected, declared, ok := s.checkRequest(w, r)
	if !ok {
		return
	}
	// The request's deadline runs from its arrival; the body has its own,
	// shorter one within it.
	var deadline time.Time
	if s.timeout > 0 {
		deadline = start.Add(s.timeout)
	}
	data, format, ok := s.readImage(w, r, declared, deadline)
	if !ok {
		return
	}
	read := msSince(start)

	// Admission: processing or waiting, bounded; beyond, 503 at once. A
	// body still arriving holds no place here, so slow uploads cannot keep
	// others from being processed.
	select {
	case s.admit <- struct{}{}:
	default:
		s.m.rejected.WithLabelValues("busy").Inc()
		s.fail(w, http.StatusServiceUnavailable, "busy", "busy: %d images in progress and %d waiting; retry later", cap(s.slots), cap(s.admit)-cap(s.slots))
		return
	}
	defer func() { <-s.admit }()
	ctx := r.Context()
	if !deadline.IsZero() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline)
		defer cancel()
	}
	res, ok := s.run(ctx, w, r, data, format, opts, selected, anonymize)
	if !ok {
		return
	}
	res.timing.Read = read
	res.timing.Total = msSince(start)
	s.respond(w, res, format, anonymize)
}

// checkRequest checks what can be checked before the body is read: the
// query, the models it names, the Content-Type and the declared length.
func (s *Server) checkRequest(w http.ResponseWriter, r *http.Request) (requestOptions, []infer.Info, imageio.Format, bool) {
	opts, err := parseQuery(r.URL.Query())
	if err != nil {
		s.fail(w, http.StatusBadRequest, "bad_query", "%v", err)
		return opts, nil, "", false
	}
	running := s.det.Models()
	selected := running
	if opts.model != "" {
		selected = s.pickModels(opts.model, running)
		if len(selected) == 0 {
			var names []string
			for _, m := range running {
				names = append(names, m.Name)
			}
			s.fail(w, http.StatusBadRequest, "bad_query", "model %q is not running (running: %s)", opts.model, strings.Join(names, ", "))
			return opts, nil, "", false
		}
	}
	if opts.threshold > 0 {
		for _, m := range selected {
			if opts.threshold < m.Threshold {
				s.fail(w, http.StatusBadRequest, "bad_query",
					"threshold %g is below %s's own %g: the model does not report weaker detections; set threshold (or detectors.NAME.threshold) in the config", opts.threshold, m.Name, m.Threshold)
				return opts, nil, "", false
			}
		}
	}
	declared, err := s.checkContentType(r)
	if err != nil {
		s.fail(w, http.StatusUnsupportedMediaType, "unsupported_media_type", "%v", err)
		return opts, nil, "", false
	}
	if r.ContentLength > s.cfg.Serve.MaxBodyBytes {
		s.fail(w, http.StatusRequestEntityTooLarge, "too_large", "body of %d bytes is over the %d-byte limit (serve.max_body_bytes)", r.ContentLength, s.cfg.Serve.MaxBodyBytes)
		return opts, nil, "", false
	}
	return opts, selected, declared, true
}

// readImage reads the body under an upload slot (serve.max_uploads; none
// free: 503 at once) within serve.body_timeout_ms and by the request's
// deadline (zero: none), then recognises the format and refuses an image
// whose header declares too many pixels.
func (s *Server) readImage(w http.ResponseWriter, r *http.Request, declared imageio.Format, deadline time.Time) ([]byte, imageio.Format, bool) {
	select {
	case s.uploads <- struct{}{}:
	default:
		s.m.rejected.WithLabelValues("uploads").Inc()
		s.fail(w, http.StatusServiceUnavailable, "busy", "busy: %d uploads in progress; retry later", cap(s.uploads))
		return nil, "", false
	}
	if s.bodyTimeout > 0 && (deadline.IsZero() || time.Now().Add(s.bodyTimeout).Before(deadline)) {
		deadline = time.Now().Add(s.bodyTimeout)
	}
	data, err := s.readBody(w, r, deadline)
	<-s.uploads
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		s.fail(w, http.StatusRequestEntityTooLarge, "too_large", "body is over the %d-byte limit (serve.max_body_bytes)", s.cfg.Serve.MaxBodyBytes)
		return nil, "", false
	case errors.Is(err, os.ErrDeadlineExceeded):
		s.fail(w, http.StatusRequestTimeout, "timeout", "the body did not arrive in time (serve.body_timeout_ms %v, serve.timeout_ms %v)", s.bodyTimeout, s.timeout)
		return nil, "", false
	case err != nil:
		s.fail(w, http.StatusBadRequest, "bad_body", "reading the body: %v", err)
		return nil, "", false
	case len(data) == 0:
		s.fail(w, http.StatusBadRequest, "empty", "empty body: send the image's bytes (curl --data-binary @photo.jpg)")
		return nil, "", false
	}
	format := imageio.Sniff(data)
	switch {
	case format == "":
		s.fail(w, http.StatusUnsupportedMediaType, "unsupported_media_type", "not an image in a supported format (%s)", imageio.Accepted)
		return nil, "", false
	case declared != "" && declared != format:
		s.fail(w, http.StatusUnsupportedMediaType, "unsupported_media_type", "Content-Type says %s but the data is %s", declared.ContentType(), format.ContentType())
		return nil, "", false
	}
	iw, ih, err := imageio.Size(format, data)
	if err != nil {
		s.fail(w, http.StatusBadRequest, "corrupt", "%v", err)
		return nil, "", false
	}
	if px, limit := int64(iw)*int64(ih), s.cfg.ServeMaxPixels(); px > limit {
		s.fail(w, http.StatusRequestEntityTooLarge, "too_many_pixels", "%dx%d image (%d pixels) is over the %d-pixel limit (max_pixels, serve.max_pixels)", iw, ih, px, limit)
		return nil, "", false
	}
	return data, format, true
}

// readBody reads the whole body, capped at serve.max_body_bytes, by
// deadline (zero: none); the connection's read deadline is cleared after,
// for the requests that follow on it.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request, deadline time.Time) ([]byte, error) {
	rc := http.NewResponseController(w)
	if !deadline.IsZero() {
		rc.SetReadDeadline(deadline)
	}
	// Sized from Content-Length when given (checked against the limit),
	// so that a large body is not copied as it grows.
	body := bytes.NewBuffer(make([]byte, 0, max(r.ContentLength, 0)+bytes.MinRead))
	_, err := body.ReadFrom(http.MaxBytesReader(w, r.Body, s.cfg.Serve.MaxBodyBytes))
	if err != nil {
		// The rest of a body cut off is not waited for: the answer closes
		// the connection (net/http would otherwise read on to reuse it).
		w.Header().Set("Connection", "close")
		return nil, err
	}
	if !deadline.IsZero() {
		rc.SetReadDeadline(time.Time{})
	}
	return body.Bytes(), nil
}

// run waits for a processing slot and processes the image in a worker
// that holds the slot until it is done, even when this request has been
// answered at its deadline. ok is false when the request was answered
// here.
func (s *Server) run(ctx context.Context, w http.ResponseWriter, r *http.Request, data []byte, format imageio.Format,
	opts requestOptions, selected []infer.Info, anonymize bool) (result, bool) {
	queued := time.Now()
	s.m.queued.Inc()
	select {
	case s.slots <- struct{}{}:
		s.m.queued.Dec()
	case <-ctx.Done():
		s.m.queued.Dec()
		s.timedOut(w, r, "waiting for a turn")
		return result{}, false
	}
	wait := msSince(queued)
	done := make(chan result, 1)
	s.workers.Add(1)
	s.m.inFlight.Inc()
	go func() {
		defer func() {
			if p := recover(); p != nil {
				// A bug must not take the service down with every request
				// in flight; this one gets a 500.
				s.log.Error("panic processing a request", "panic", p, "stack", string(debug.Stack()))
				done <- result{status: http.StatusInternalServerError, code: "internal", err: errors.New("internal error")}
			}
			s.m.inFlight.Dec()
			<-s.slots
			s.workers.Done()
		}()
		done <- s.process(data, format, opts, selected, anonymize)
	}()
	var res result
	select {
	case res = <-done:
	case <-ctx.Done():
		s.timedOut(w, r, "processing")
		return result{}, false
	}
	s.served.Add(1)
	if res.err != nil {
		s.fail(w, res.status, res.code, "%v", res.err)
		return result{}, false
	}
	res.timing.Queue = wait
	return res, true
}

// respond writes a processed image's answer: the image, or its detections.
func (s *Server) respond(w http.ResponseWriter, res result, format imageio.Format, anonymize bool) {
	s.m.countDetections(res.dets)
	h := w.Header()
	h.Set("X-Anonymize-Model", res.info.Name)
	h.Set("X-Anonymize-Model-Version", res.info.Version)
	h.Set("X-Anonymize-Detections", strconv.Itoa(len(res.dets)))
	h.Set("Server-Timing", res.timing.serverTiming())
	// A client that reads slowly must not hold its turn forever. The
	// deadline is the connection's: cleared for the requests after this one.
	rc := http.NewResponseController(w)
	rc.SetWriteDeadline(time.Now().Add(max(s.timeout, writeTimeout)))
	defer rc.SetWriteDeadline(time.Time{})
	if !anonymize {
		writeJSON(w, http.StatusOK, newDetectResponse(res, format))
		return
	}
	h.Set("Content-Type", format.ContentType())
	h.Set("Content-Length", strconv.Itoa(len(res.body)))
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	w.Write(res.body)
}

// statusClientGone is recorded (in the metrics and the log) for a request
// whose client went away before its answer, as nginx does.
const statusClientGone = 499

// timedOut answers a request whose deadline passed, or records that its
// client went away.
func (s *Server) timedOut(w http.ResponseWriter, r *http.Request, stage string) {
	if r.Context().Err() != nil {
		w.WriteHeader(statusClientGone)
		return
	}
	s.m.rejected.WithLabelValues("timeout").Inc()
	s.fail(w, http.StatusServiceUnavailable, "timeout", "not done within %v (serve.timeout_ms): timed out %s; retry later", s.timeout, stage)
}

// checkContentType returns the format a request declares, "" when it
// declares none (no Content-Type, application/octet-stream, or curl's
// default for --data-binary, application/x-www-form-urlencoded), so that
// the data's signature decides; a type that is not an accepted image is an
// error.
func (s *Server) checkContentType(r *http.Request) (imageio.Format, error) {
	if enc := r.Header.Get("Content-Encoding"); enc != "" && !strings.EqualFold(enc, "identity") {
		return "", fmt.Errorf("Content-Encoding %s: send the image's bytes as they are", enc)
	}
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return "", nil
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return "", fmt.Errorf("Content-Type %q: %v", ct, err)
	}
	switch mt {
	case "application/octet-stream", "application/x-www-form-urlencoded":
		return "", nil
	case "multipart/form-data":
		return "", fmt.Errorf("Content-Type %s: send the image's bytes as the body (curl --data-binary @photo.jpg), not a form", mt)
	}
	if f, ok := imageio.FormatOfMIME(mt); ok {
		return f, nil
	}
	return "", fmt.Errorf("Content-Type %s is not a supported image type (%s)", mt, imageio.Accepted)
}

// process decodes, detects and (anonymize) hides and encodes. It owns
// every Mat it makes and closes them before it returns.
func (s *Server) process(data []byte, format imageio.Format, o requestOptions, selected []infer.Info, anonymize bool) result {
	var res result
	fail := func(status int, code string, err error) result {
		res.status, res.code, res.err = status, code, err
		return res
	}
	t0 := time.Now()
	img, alpha, err := imageio.DecodeAlphaMax(data, s.cfg.ServeMaxPixels())
	if err != nil {
		return fail(http.StatusBadRequest, "corrupt", err)
	}
	defer img.Close()
	defer alpha.Close() // put back untouched: only the colour is anonymized
	res.w, res.h = img.Cols(), img.Rows()
	res.timing.Decode = msSince(t0)

	t1 := time.Now()
	dets, info, err := s.det.DetectInfo(img)
	res.timing.Detect = msSince(t1)
	if err != nil {
		// Fail closed: an image the models could not look at is never
		// returned.
		return fail(http.StatusInternalServerError, "detector_failed", fmt.Errorf("detection failed: %v", err))
	}
	if o.model != "" {
		// The models may have been reloaded since the request named one:
		// select among those that ran, and never answer with a selection
		// that matches none of them (its detections would all be dropped).
		ran := info.Models
		if len(ran) == 0 {
			ran = []infer.Info{info}
		}
		if selected = s.pickModels(o.model, ran); len(selected) == 0 {
			return fail(http.StatusServiceUnavailable, "models_changed", fmt.Errorf("model %q is no longer running (the models were reloaded); retry", o.model))
		}
	}
	res.dets, res.info = s.filter(dets, info, o, selected)
	if !anonymize {
		return res
	}
	t2 := time.Now()
	if err := s.hideAll(&img, res.dets, info, o); err != nil {
		return fail(http.StatusInternalServerError, "hide_failed", err)
	}
	res.timing.Hide = msSince(t2)
	t3 := time.Now()
	out, err := imageio.EncodeAlpha(img, alpha, format.Ext(), s.cfg.Output.JPEGQuality)
	if err != nil {
		return fail(http.StatusInternalServerError, "encode_failed", err)
	}
	res.timing.Encode = msSince(t3)
	res.body = out
	return res
}

// filter keeps the detections of the selected model (when the request
// named one) scoring at least the request's threshold, and names the
// model(s) that served them.
func (s *Server) filter(dets []convert.Detection, info infer.Info, o requestOptions, selected []infer.Info) ([]convert.Detection, infer.Info) {
	chosen := func(name string) bool {
		return o.model == "" || slices.ContainsFunc(selected, func(m infer.Info) bool { return m.Name == name })
	}
	out := make([]convert.Detection, 0, len(dets))
	for _, d := range dets {
		if !chosen(d.Model) || d.Score < o.threshold {
			continue
		}
		out = append(out, d)
	}
	if o.model != "" && len(info.Models) > 0 {
		var parts []infer.Info
		for _, m := range info.Models {
			if chosen(m.Name) {
				parts = append(parts, m)
			}
		}
		info = infer.Combine(parts)
	}
	return out, info
}

// hideAll hides each model's detections in the style that model carries
// (its [detectors] table over [hide]), with the request's options over it.
func (s *Server) hideAll(img *gocv.Mat, dets []convert.Detection, info infer.Info, o requestOptions) error {
	styles := hide.ForInfo(info, s.hide)
	by := map[string][]convert.Box{}
	var order []string
	for _, d := range dets {
		if _, ok := by[d.Model]; !ok {
			order = append(order, d.Model)
		}
		by[d.Model] = append(by[d.Model], d.Box)
	}
	for _, model := range order {
		h, ok := styles[model]
		if !ok {
			h = s.hide
		}
		if err := hide.Boxes(img, by[model], o.apply(h)); err != nil {
			return fmt.Errorf("hide: %w", err)
		}
	}
	return nil
}

func (t timings) serverTiming() string {
	parts := []string{
		"read;dur=" + fmtMS(t.Read), "queue;dur=" + fmtMS(t.Queue),
		"decode;dur=" + fmtMS(t.Decode), "detect;dur=" + fmtMS(t.Detect),
	}
	if t.Hide > 0 || t.Encode > 0 {
		parts = append(parts, "hide;dur="+fmtMS(t.Hide), "encode;dur="+fmtMS(t.Encode))
	}
	return strings.Join(append(parts, "total;dur="+fmtMS(t.Total)), ", ")
}

func fmtMS(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

// detectResponse is POST /v1/detect.
type detectResponse struct {
	Model      infer.Info  `json:"model"`
	Image      imageInfo   `json:"image"`
	Detections []detection `json:"detections"`
	TimingsMS  timings     `json:"timings_ms"`
}

type imageInfo struct {
	Width  int    `json:"width"`
	Height int    `json:"height"`
	Format string `json:"format"`
}

// detection is one box in pixels of the image as decoded (EXIF
// orientation applied): x2 and y2 exclusive.
type detection struct {
	Box       box     `json:"box"`
	Score     float32 `json:"score"`
	Label     string  `json:"label"`
	Class     int     `json:"class"`
	Model     string  `json:"model"`
	Keypoints []point `json:"keypoints,omitempty"`
}

type point struct {
	X float32 `json:"x"`
	Y float32 `json:"y"`
}

type box struct {
	X1 float32 `json:"x1"`
	Y1 float32 `json:"y1"`
	X2 float32 `json:"x2"`
	Y2 float32 `json:"y2"`
}

func newDetectResponse(res result, format imageio.Format) detectResponse {
	r := detectResponse{Model: res.info, Image: imageInfo{Width: res.w, Height: res.h, Format: string(format)},
		Detections: make([]detection, 0, len(res.dets)), TimingsMS: res.timing}
	for _, d := range res.dets {
		out := detection{
			Box:   box{finite(d.Box.X1), finite(d.Box.Y1), finite(d.Box.X2), finite(d.Box.Y2)},
			Score: finite(d.Score), Label: d.Label, Class: d.Class, Model: d.Model,
		}
		for _, p := range d.Keypoints {
			out.Keypoints = append(out.Keypoints, point{finite(p.X), finite(p.Y)})
		}
		r.Detections = append(r.Detections, out)
	}
	return r
}

// finite keeps JSON encodable: NaN and infinities become 0.
func finite(v float32) float32 {
	if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
		return 0
	}
	return v
}
