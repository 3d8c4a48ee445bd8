"""A run's clean classifier as one self-contained file: TorchScript or ONNX.

The exported module takes float32 images (N, C, H, W) scaled to [0, 1] (uint8 pixels / 255) at the
run's channel count and size, and returns the class probabilities (N, K) that `weakgan predict` gives for
the same images: the run's input normalization, the clean net, its score (sigmoid scores renormalized, for
heads trained with sigmoid + BCE) and, where the run predicts that way (tta with hflip), the mean with the
mirror image's probabilities, are all inside it.

Class names, input shape and this contract travel inside the file as JSON: TorchScript as the extra
file weakgan.json, ONNX as the metadata property "weakgan".
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import torch
import torch.nn as nn

from weakgan import WeakganError
from weakgan.checkpoint import atomic_write, check_writable
from weakgan.run_folder import load_trained_classifier

FORMATS = {"torchscript": "model.torchscript.pt", "onnx": "model.onnx"}
METADATA_KEY = "weakgan"
ONNX_OPSET = 18


class ExportedClassifier(nn.Module):
    """[0, 1] images -> class probabilities, as metrics.predict_probs computes them for `weakgan predict`."""

    def __init__(self, classifier: nn.Module, mean: float, std: float, sigmoid: bool, mirror: bool):
        super().__init__()
        self.classifier, self.sigmoid, self.mirror = classifier, sigmoid, mirror
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32))

    def probabilities(self, images: torch.Tensor) -> torch.Tensor:
        logits = self.classifier((images - self.mean) / self.std)
        if self.sigmoid:
            s = torch.sigmoid(logits)
            return s / s.sum(1, keepdim=True)
        return torch.softmax(logits, 1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        probs = self.probabilities(images)
        if self.mirror:
            probs = (probs + self.probabilities(images.flip(-1))) / 2
        return probs


def export_metadata(class_names: list[str], input_shape: tuple[int, int, int], run_dir: Path, mirror: bool) -> dict:
    return {"class_names": class_names, "input_shape": list(input_shape),
            "input": "float32 (N, C, H, W) images scaled to [0, 1] (uint8 / 255)",
            "output": "class probabilities (N, K), rows summing to 1, as `weakgan predict` gives them"
                      + (" (mean over each image and its mirror image)" if mirror else ""),
            "run": str(run_dir)}


def export_torchscript(module: nn.Module, example: torch.Tensor, path: Path, metadata: dict) -> None:
    with warnings.catch_warnings():
        # torch >= 2.9 marks torch.jit as deprecated; TorchScript files still load in C++ and Python
        warnings.simplefilter("ignore", FutureWarning)
        traced = torch.jit.trace(module, example)
        atomic_write(path, lambda tmp: torch.jit.save(traced, tmp, _extra_files={"weakgan.json": json.dumps(metadata)}))


def export_onnx(module: nn.Module, example: torch.Tensor, path: Path, metadata: dict) -> None:
    try:
        import onnx
        import onnxscript  # noqa: F401 - torch's ONNX exporter needs it
    except ImportError:
        raise WeakganError("ONNX export needs the onnx and onnxscript packages: pip install onnx onnxscript") from None
    program = torch.onnx.export(module, (example,), None, input_names=["images"], output_names=["logits"],
                                dynamic_shapes={"images": {0: torch.export.Dim("batch")}},
                                opset_version=ONNX_OPSET, dynamo=True, verbose=False)
    proto = program.model_proto
    proto.metadata_props.add(key=METADATA_KEY, value=json.dumps(metadata))
    onnx.checker.check_model(proto)
    atomic_write(path, lambda tmp: onnx.save(proto, tmp))


def export_run(run_dir: str | Path, fmt: str, out: str | Path | None = None) -> Path:
    """Write the run's clean classifier in `fmt`; returns the file (default RUN_DIR/model.<format>)."""
    if fmt not in FORMATS:
        raise WeakganError(f"format '{fmt}': expected {' or '.join(FORMATS)}")
    run_dir = Path(run_dir)
    path = check_writable(Path(out) if out else run_dir / FORMATS[fmt])
    clf = load_trained_classifier(run_dir, device="cpu")
    # a plain contiguous fp32 CPU module: what both exporters trace most portably
    mirror = clf.cfg.tta and clf.cfg.mirrored()   # what clf.probabilities (predict) does
    module = ExportedClassifier(clf.model.to(memory_format=torch.contiguous_format), clf.mean, clf.std,
                                clf.score == "sigmoid", mirror).eval()
    example = torch.rand(2, *clf.input_shape)
    metadata = export_metadata(clf.class_names, clf.input_shape, run_dir, mirror)
    (export_torchscript if fmt == "torchscript" else export_onnx)(module, example, path, metadata)
    return path
