package app

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/anonymize/anonymize/infer"
	"github.com/anonymize/anonymize/internal/config"
	"github.com/anonymize/anonymize/video/eval"
)

// installGate makes reloads of set pass the recall gate of [reload]
// min_recall: a model is swapped in only if the set with it in reaches the
// minimum on the reference set; one below is refused with its figure in the
// log. The set is what runs, so a plate model beside the face models is
// judged by the faces the set still hides.
func installGate(cfg config.Config, set *infer.Set, log *slog.Logger) {
	if cfg.Reload.MinRecall <= 0 {
		return
	}
	set.Gate = func(ctx context.Context, m *infer.Model, after infer.Detector) error {
		r, err := SetRecall(ctx, cfg, after, cfg.Reload.ReferenceImages, cfg.Reload.ReferenceBoxes)
		if err != nil {
			return fmt.Errorf("recall gate: %w", err)
		}
		info := m.Info()
		if len(r.Failed) > 0 {
			// A reference image the set could not process would let a
			// model that fails on most of them pass on the rest.
			log.Error("model refused by the recall gate: reference images failed", "model", info.Name, "version", info.Version, "failed", len(r.Failed), "first", r.Failed[0])
			return fmt.Errorf("recall gate: %d reference images failed with %s (first: %s)", len(r.Failed), after.Info().Name, r.Failed[0])
		}
		if r.Recall < cfg.Reload.MinRecall {
			log.Error("model refused by the recall gate", "model", info.Name, "version", info.Version, "set", after.Info().Name,
				"recall", fmt.Sprintf("%.3f", r.Recall), "min_recall", cfg.Reload.MinRecall)
			return fmt.Errorf("recall %.3f of %s on the reference set is below reload.min_recall %.3f", r.Recall, after.Info().Name, cfg.Reload.MinRecall)
		}
		log.Info("model passed the recall gate", "model", info.Name, "version", info.Version, "set", after.Info().Name, "recall", fmt.Sprintf("%.3f", r.Recall))
		return nil
	}
}

// SetRecall measures the recall of a model, or of several run together,
// each detection masked in the style its model carries.
func SetRecall(ctx context.Context, cfg config.Config, det infer.Detector, images, boxes string) (eval.Result, error) {
	labels, err := eval.LoadLabels(boxes)
	if err != nil {
		return eval.Result{}, err
	}
	def, err := cfg.HideOptions()
	if err != nil {
		return eval.Result{}, err
	}
	return eval.Run(ctx, det, images, labels, eval.Options{Hide: def, MaxPixels: cfg.MaxPixels})
}
