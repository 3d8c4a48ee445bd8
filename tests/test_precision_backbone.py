"""Precision choice (amp auto), the backbone choice (smallcnn / resnet18) and what a run records of both."""
import json
from importlib import resources

import pytest
import torch
import yaml
from conftest import TINY, run_cli

from weakgan import WeakganError
from weakgan.models.backbone import SmallCNN, backbone_of, make_backbone, resolve_backbone
from weakgan.reproduce import PRESETS
from weakgan.runtime import choose_precision, training_speed

CPU = torch.device("cpu")


def test_auto_runs_fp32_on_a_cpu_without_native_bf16():
    probed = []
    precision, why = choose_precision("auto", CPU, flags={"avx2", "fma", "avx512f"},
                                      probe=lambda p: probed.append(p) or 1000.0)
    assert precision == "none" and "no native bf16" in why
    assert probed == []   # no probe: bf16 would be emulated, it is never tried


def test_auto_on_a_native_bf16_cpu_takes_bf16_only_when_the_probe_finds_it_faster():
    flags = {"avx2", "avx512f", "amx_bf16"}
    fast = {"none": 400.0, "bf16": 1200.0}
    slow = {"none": 800.0, "bf16": 600.0}
    assert choose_precision("auto", CPU, flags=flags, probe=fast.__getitem__)[0] == "bf16"
    precision, why = choose_precision("auto", CPU, flags=flags, probe=slow.__getitem__)
    assert precision == "none" and "600" in why and "800" in why
    # a gain within timing noise is not taken
    assert choose_precision("auto", CPU, flags=flags, probe={"none": 1000.0, "bf16": 1050.0}.__getitem__)[0] == "none"
    # no probe (a short run): fp32
    assert choose_precision("auto", CPU, flags={"avx512_bf16"})[0] == "none"


def test_one_slowed_probe_sample_does_not_decide_the_precision():
    # bf16 twice as fast as fp32, but its first sample slowed by another process (what made a real run pick fp32)
    samples = {"none": [124.0, 575.0], "bf16": [62.0, 1635.0]}
    order = []

    def probe(precision):
        order.append(precision)
        return samples[precision].pop(0)

    precision, why = choose_precision("auto", CPU, flags={"amx_bf16"}, probe=probe)
    assert precision == "bf16" and "1635" in why and "575" in why
    assert order == ["none", "bf16", "none", "bf16"]   # alternating, so one burst cannot hit one precision only


def test_asked_precision_is_kept_and_bad_values_refused():
    assert choose_precision("bf16", CPU, flags=set()) == ("bf16", "asked for (--amp)")
    assert choose_precision("none", CPU, flags={"amx_bf16"})[0] == "none"
    with pytest.raises(WeakganError, match="fp16.*CUDA"):
        choose_precision("fp16", CPU)
    with pytest.raises(WeakganError, match="amp 'fast'"):
        choose_precision("fast", CPU)


def test_no_preset_forces_a_precision():
    for name in PRESETS:
        preset = yaml.safe_load(resources.files("weakgan").joinpath(f"presets/{name}.yaml").read_text())
        assert preset["config"].get("amp", "auto") == "auto", name


def test_training_speed_probe_leaves_the_model_and_random_state_alone():
    model = make_backbone("smallcnn", 1)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    rng = torch.get_rng_state()
    assert training_speed(model, (1, 28, 28), 8, CPU, "none", True, steps=1) > 0
    assert torch.equal(rng, torch.get_rng_state())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(p.grad is None for p in model.parameters())


def test_backbone_auto_picks_by_image_size_and_names_are_checked():
    assert resolve_backbone("auto", (1, 28, 28)) == "smallcnn"
    assert resolve_backbone("auto", (3, 64, 64)) == "smallcnn"
    assert resolve_backbone("auto", (3, 96, 96)) == "resnet18"
    assert resolve_backbone("resnet18", (1, 28, 28)) == "resnet18"
    with pytest.raises(WeakganError, match="backbone 'vgg'"):
        resolve_backbone("vgg", (1, 28, 28))


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32), (3, 64, 48)])
def test_smallcnn_features(shape):
    net = SmallCNN(shape[0]).eval()
    f = net(torch.randn(2, *shape))
    assert f.shape == (2, net.out_dim)
    assert backbone_of({f"backbone.{k}": v for k, v in net.state_dict().items()}) == ("smallcnn", 64)
    assert backbone_of(SmallCNN(1, 16).state_dict(), prefix="") == ("smallcnn", 16)
    assert backbone_of({f"backbone.{k}": v for k, v in make_backbone("resnet18", 1).state_dict().items()})[0] \
        == "resnet18"


def test_run_records_backbone_precision_and_provenance(tiny_fashion, tmp_path):
    out = tmp_path / "run"
    run_cli("train", "--model", "clean-only", "--data-dir", str(tiny_fashion), *TINY, "--out", str(out))
    cfg = yaml.safe_load((out / "config.yaml").read_text())
    # auto resolved with the data (FashionMNIST: flips on), amp per run
    assert (cfg["backbone"], cfg["hflip"], cfg["amp"]) == ("smallcnn", "on", "auto")
    m = json.loads((out / "metrics.json").read_text())
    assert m["precision"] == "none" and ("too short" in m["precision_reason"] or "no native" in m["precision_reason"])
    assert m["torch"] == torch.__version__ and m["commit"] and m["machine"] and m["threads"] == 1
    # a ResNet18 run is rebuilt as one by evaluate, also from a config.yaml written before the backbone setting
    out18 = tmp_path / "r18"
    run_cli("train", "--model", "clean-only", "--backbone", "resnet18", "--data-dir", str(tiny_fashion), *TINY,
            "--epochs", "1", "--out", str(out18))
    top1 = json.loads((out18 / "metrics.json").read_text())["top1"]
    config = out18 / "config.yaml"
    config.write_text("".join(line for line in config.read_text().splitlines(True) if not line.startswith("backbone:")))
    run_cli("evaluate", str(out18))
    assert json.loads((out18 / "metrics.json").read_text())["top1"] == top1
