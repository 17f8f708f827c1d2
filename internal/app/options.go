package app

import (
	"errors"
	"log/slog"
	"time"

	"github.com/anonymize/anonymize/infer"
	"github.com/anonymize/anonymize/internal/config"
	"github.com/anonymize/anonymize/video/batch"
	"github.com/anonymize/anonymize/video/ffmpeg"
)

// BatchOptions are the options each file of a folder run or a watch is
// anonymized with (one builder, so both modes stay in step).
func BatchOptions(cfg config.Config, det *infer.Set, log *slog.Logger) batch.Options {
	hide, _ := cfg.HideOptions() // validated in settings
	return batch.Options{
		Format: cfg.Output.Format, JPEGQuality: cfg.Output.JPEGQuality, Overwrite: cfg.Output.Overwrite,
		Jobs: cfg.Run.Jobs, Hide: hide,
		DropOnError: cfg.Video.OnError == "drop", MaxPixels: cfg.MaxPixels, Log: log, Video: VideoOptions(cfg, det),
	}
}

// VideoOptions are the [video] settings a folder run gives each video file.
func VideoOptions(c config.Config, set *infer.Set) batch.VideoOptions {
	return batch.VideoOptions{
		Detector:  set.ForVideo(), // [detectors.NAME] video = false: photos only
		Encode:    ffmpeg.EncodeOptions{Codec: c.Video.Codec, Preset: c.Video.Preset, CRF: c.Video.CRF},
		KeepAudio: c.Video.KeepAudio,
		Persist:   c.Video.PersistFrames, Lookahead: c.Video.LookaheadFrames,
		Timeout:       time.Duration(c.Video.TimeoutMS) * time.Millisecond,
		DetectMaxSide: c.Video.DetectMaxSide, TileSide: c.Video.TileSide,
	}
}

// CheckCodec refuses a video.codec that ffmpeg has no encoder for, before
// anything runs, rather than let it become another (a *SetupError naming
// some encoders it has). Without ffmpeg there is nothing to check here:
// each video then fails saying ffmpeg is missing, and images run.
func CheckCodec(cfg config.Config) error {
	err := ffmpeg.CheckEncoder(cfg.Video.Codec)
	if err == nil || errors.Is(err, ffmpeg.ErrNotInstalled) {
		return nil
	}
	return setupErr("video.codec: %v", err)
}
