package kube

import (
	"context"
	"errors"
	"fmt"

	"github.com/moatsh/moat/internal/runtime"
)

// errLocalImages: images are the local engine's (the CLI's router sends
// image calls there); the cluster only pulls what was pushed.
var errLocalImages = errors.New("images are built and kept by the local engine, not the cluster")

// ImageID, BuildImage, ListImages and RemoveImage complete the engine the
// orchestrator consumes; the router never sends them here.
func (e *Engine) ImageID(context.Context, string) (string, error) { return "", errLocalImages }

func (e *Engine) BuildImage(context.Context, runtime.BuildRequest, func(runtime.BuildMessage)) error {
	return errLocalImages
}

func (e *Engine) ListImages(context.Context, string) ([]runtime.ImageInfo, error) {
	return nil, nil
}

func (e *Engine) RemoveImage(context.Context, string) error { return errLocalImages }

// ListNetworks and ListVolumes: moat makes no networks or volumes on a
// cluster (a pod's volumes go with it; its NetworkPolicy is owned by it).
func (e *Engine) ListNetworks(context.Context, string) ([]runtime.ObjectInfo, error) { return nil, nil }

func (e *Engine) ListVolumes(context.Context, string) ([]runtime.ObjectInfo, error) { return nil, nil }

func (e *Engine) RemoveNetwork(_ context.Context, id string) error {
	return fmt.Errorf("network %s: %w", id, runtime.ErrNotFound)
}

func (e *Engine) RemoveVolume(_ context.Context, name string) error {
	return fmt.Errorf("volume %s: %w", name, runtime.ErrNotFound)
}
