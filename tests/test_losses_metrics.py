import math

import numpy as np
import torch

from weakgan.metrics import average_precision, classification_metrics, predict_probs
from weakgan.stages.classifier import bce_onehot, nr_loss


def _bce(p, y):
    return -(y * math.log(p) + (1 - y) * math.log(1 - p))


def sig(v):
    return 1 / (1 + math.exp(-v))


def test_bce_onehot_by_hand():
    logits = torch.tensor([[0.5, -1.0, 2.0]])
    got = bce_onehot(logits, torch.tensor([2])).item()
    want = _bce(sig(0.5), 0) + _bce(sig(-1.0), 0) + _bce(sig(2.0), 1)
    assert abs(got - want) < 1e-6


def test_nr_loss_by_hand():
    c_clean = torch.tensor([[1.0, -1.0]])
    y_clean = torch.tensor([0])
    c_noisy = torch.tensor([[0.2, 0.3], [-0.5, 1.0]])
    r_noisy = torch.tensor([[-1.2, 0.4], [0.5, -2.0]])
    y_noisy = torch.tensor([1, 0])
    loss, l_clean, l_noise = nr_loss(c_clean, y_clean, c_noisy, r_noisy, y_noisy, alpha=0.2)
    want_clean = _bce(sig(1.0), 1) + _bce(sig(-1.0), 0)
    h = [[sig(0.2 - 1.2), sig(0.3 + 0.4)], [sig(-0.5 + 0.5), sig(1.0 - 2.0)]]   # h = sigmoid(c + r)
    want_noise = ((_bce(h[0][0], 0) + _bce(h[0][1], 1)) + (_bce(h[1][0], 1) + _bce(h[1][1], 0))) / 2
    assert abs(l_clean.item() - want_clean) < 1e-6
    assert abs(l_noise.item() - want_noise) < 1e-6
    assert abs(loss.item() - (0.2 * want_clean + want_noise)) < 1e-6


def test_average_precision_by_hand():
    # ranking: pos, neg, pos, neg -> precisions at the positives 1/1 and 2/3
    assert abs(average_precision(np.array([0.9, 0.8, 0.7, 0.1]), np.array([1, 0, 1, 0])) - (1 + 2 / 3) / 2) < 1e-9
    assert average_precision(np.array([0.1, 0.9]), np.array([1, 0])) == 0.5


def test_classification_metrics_by_hand():
    probs = np.array([[0.7, 0.2, 0.1],    # true 0, pred 0
                      [0.5, 0.3, 0.2],    # true 1, pred 0; 1 in top-2
                      [0.1, 0.3, 0.6],    # true 2, pred 2
                      [0.2, 0.5, 0.3]])   # true 0, pred 1; 0 third
    m = classification_metrics(probs, np.array([0, 1, 2, 0]), ["a", "b", "c"])
    assert m["top1"] == 0.5 and m["top3"] == 1.0
    assert m["confusion"] == [[1, 1, 0], [1, 0, 0], [0, 0, 1]]
    assert m["per_class_accuracy"] == {"a": 0.5, "b": 0.0, "c": 1.0}
    # class a scores 0.7 (pos), 0.5, 0.2 (pos), 0.1 -> AP (1 + 2/3) / 2; b: 0.5 pos,0.3,0.3,0.2 -> ranks
    assert abs(m["per_class_ap"]["a"] - (1 + 2 / 3) / 2) < 1e-9
    assert abs(m["per_class_ap"]["c"] - 1.0) < 1e-9


class _LeftHalf(torch.nn.Module):
    """Logits = (mean of the left half, mean of the right half): mirroring an image swaps them."""

    def forward(self, x):
        w = x.shape[-1] // 2
        return torch.stack([x[..., :w].mean((1, 2, 3)), x[..., w:].mean((1, 2, 3))], 1)


def test_flip_tta_is_the_mean_over_an_image_and_its_mirror():
    images = torch.zeros(3, 1, 4, 4, dtype=torch.uint8)
    images[0, :, :, :2] = 255       # bright left half: class 0; its mirror says class 1
    images[1, :, :, 2:] = 255
    model, cpu = _LeftHalf(), torch.device("cpu")
    plain = predict_probs(model, images, "softmax", 0.0, 1.0, cpu)
    both = predict_probs(model, images, "softmax", 0.0, 1.0, cpu, flip=True)
    assert plain[0, 0] > 0.7 and plain[1, 1] > 0.7
    mirrored = predict_probs(model, images.flip(-1), "softmax", 0.0, 1.0, cpu)
    assert torch.allclose(both, (plain + mirrored) / 2)
    assert torch.allclose(both[:2], torch.full((2, 2), 0.5))   # a symmetric model of both views: 50/50
    assert torch.allclose(both.sum(1), torch.ones(3))


def test_results_csv_keeps_the_contract_columns_first_and_a_benchmark_s_extra_ones(tmp_path):
    from weakgan.report import COLUMNS, read_results_csv, write_results_csv
    run = {"model": "wsgan", "clean_fraction": 0.05, "noise": "permutation", "seed": 2, "top1": 0.89412,
           "top3": 0.98961, "macro_ap": 0.95, "train_seconds": 383.94, "device": "cpu:2threads", "val_top1": 0.908,
           "teacher_top1": 0.886, "ignored": 1}
    write_results_csv([run, dict(run, model="clean-only", teacher_top1=None)], tmp_path / "r.csv",
                      extra=("teacher_top1",))
    rows = read_results_csv(tmp_path / "r.csv")
    assert list(rows[0]) == [*COLUMNS, "teacher_top1"] and [r["model"] for r in rows] == ["clean-only", "wsgan"]
    assert rows[1]["top1"] == "0.8941" and rows[1]["teacher_top1"] == "0.8860" and rows[0]["teacher_top1"] == ""
    assert rows[1]["train_seconds"] == "383.9"
    write_results_csv([run], tmp_path / "plain.csv")   # without extra: the contract only
    assert list(read_results_csv(tmp_path / "plain.csv")[0]) == COLUMNS


def test_report_picks_the_model_on_validation_and_says_where_nr_wsgan_loses():
    from weakgan.report import candidate_models, chosen_model_table, chosen_models, comparison, results_table
    rows = [{"model": m, "clean_fraction": f, "seed": s, "top1": a, "val_top1": v}
            for m, f, s, a, v in [("clean-only", "0.05", 0, 0.88, 0.87), ("clean-only", "0.05", 1, 0.90, 0.89),
                                  ("nr-wsgan", "0.05", 0, 0.885, 0.90), ("clean-only", "0.5", 0, 0.93, 0.91),
                                  ("nr-wsgan", "0.5", 0, 0.89, 0.92), ("naive", "0.5", 0, 0.99, "")]]
    # at 0.5 nr-wsgan has the better validation mean though clean-only has the better test figure; naive
    # has no validation figure and cannot be chosen, however good its test figure. At 0.05 nr-wsgan ran on one
    # of the two seeds: its mean is over another set of splits, so it is no candidate until it has both
    assert candidate_models(rows) == {0.05: ["clean-only"], 0.5: ["clean-only", "nr-wsgan"]}
    assert chosen_models(rows) == {0.05: "clean-only", 0.5: "nr-wsgan"}
    assert chosen_models(rows + [dict(rows[2], seed=1)]) == {0.05: "nr-wsgan", 0.5: "nr-wsgan"}
    # results.csv keeps four digits of each val_top1: 1658 of 1800 images for both models below, which the
    # rounding alone would have set 0.0001 apart; a tie, so the model listed first is chosen
    tied = [{"model": m, "clean_fraction": "0.1", "seed": s, "top1": 0.9, "val_top1": v}
            for m, vals in (("nr", (0.9417, 0.9233, 0.8983)), ("nr-match", (0.9367, 0.9300, 0.8967)))
            for s, v in enumerate(vals)]
    assert chosen_models(tied) == {0.1: "nr"}
    table = chosen_model_table(rows, {"NR": {0.05: 83.73, 0.5: 88.84}, "NR+WSGAN": {0.05: 77.80, 0.5: 89.86}})
    assert "| 0.05 | clean-only | 88.00 | 89.00 | 2 | 83.73 | +5.27 |" in table
    assert "| 0.50 | nr-wsgan | 92.00 | 89.00 | 1 | 89.86 | -0.86 |" in table
    assert "nothing can be chosen" in chosen_model_table([dict(r, val_top1="") for r in rows], {})
    rows = [r for r in rows if r["model"] != "naive"]
    means = results_table(rows, "top1", {"paper": {0.05: 77.80}})   # mean ± sample std over seeds, in %
    assert "| 0.50 |  | 93.00 ± 0.00 | 89.00 ± 0.00 | 1 |" in means
    assert "| 0.05 | 77.80 | 89.00 ± 1.41 | 88.50 ± 0.00 | 2 (nr-wsgan: 1) |" in means   # fewer seeds said
    paper = comparison(rows, "nr-wsgan", "the paper", {0.05: 77.80, 0.5: 89.86})
    assert paper == "nr-wsgan vs the paper: beats it at 0.05 (88.50 vs 77.80); does NOT at 0.5 (89.00 vs 89.86).\n"
    assert comparison(rows, "nr-wsgan", "clean-only").startswith("nr-wsgan vs clean-only: beats it nowhere; does NOT")
