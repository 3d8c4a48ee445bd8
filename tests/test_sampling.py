import torch

from weakgan.augment import augment, random_crop, random_erase, random_flip
from weakgan.sampling import IndexStream, MixedBatches, clean_share_of, split_batch


def test_one_to_nine_ratio():
    clean, noisy = torch.arange(0, 100), torch.arange(100, 1000)
    n_c, n_n = split_batch(300, 0.1)
    assert (n_c, n_n) == (30, 270)
    batches = MixedBatches({"clean": clean, "noisy": noisy}, {"clean": n_c, "noisy": n_n}, seed=0)
    for _ in range(20):
        b = next(batches)
        assert len(b["clean"]) == 30 and len(b["noisy"]) == 270
        assert (b["clean"] < 100).all() and (b["noisy"] >= 100).all()


def test_auto_clean_share_is_one_to_nine_for_a_small_clean_set_and_proportional_above():
    assert clean_share_of(0.25, 10, 90) == 0.25            # a share that is set is kept
    assert clean_share_of(0.0, 2_700, 57_000) == 0.1       # 5% clean: Hu et al.'s 1:9
    assert abs(clean_share_of(0.0, 37_800, 18_000) - 37_800 / 55_800) < 1e-12   # 70%: the data's own share
    n_c, n_n = split_batch(256, clean_share_of(0.0, 37_800, 18_000))
    assert (n_c, n_n) == (173, 83)
    assert clean_share_of(0.0, 2_700, 57_000, floor=0.25) == 0.25   # the D's floor is a quarter
    assert abs(clean_share_of(0.0, 37_800, 18_000, floor=0.25) - 37_800 / 55_800) < 1e-12


def test_stream_covers_each_index_once_per_pass():
    s = IndexStream(torch.arange(10, 17), seed=0)
    first = s.take(7)
    assert sorted(first.tolist()) == list(range(10, 17))
    more = torch.cat([s.take(3), s.take(4)])
    assert sorted(more.tolist()) == list(range(10, 17)) and s.passes == 1


def test_stream_state_resumes_exactly():
    a = IndexStream(torch.arange(50), seed=1)
    a.take(33)
    state = a.state_dict()
    expected = a.take(40)
    b = IndexStream(torch.arange(50), seed=99)
    b.load_state_dict(state)
    assert torch.equal(b.take(40), expected)


def test_ranks_split_a_global_batch_keeping_ratio():
    parts = {"clean": torch.arange(0, 40), "noisy": torch.arange(40, 400)}
    sizes = {"clean": 4, "noisy": 36}
    r0, r1 = (MixedBatches(parts, sizes, seed=0, rank=r, world=2) for r in (0, 1))
    for _ in range(5):
        a, b = next(r0), next(r1)
        assert len(a["clean"]) == len(b["clean"]) == 2 and len(a["noisy"]) == len(b["noisy"]) == 18
        assert not set(a["clean"].tolist()) & set(b["clean"].tolist())


def test_crop_is_a_translation_and_zero_pad_is_identity():
    g = torch.Generator().manual_seed(0)
    x = torch.zeros(64, 1, 8, 8)
    x[:, :, 3, 4] = 1.0
    assert torch.equal(random_crop(x, 0, g), x)
    y = random_crop(x, 2, g)
    assert y.shape == x.shape and torch.equal(y.sum((1, 2, 3)), torch.ones(64))  # the dot moved, intact
    pos = y[:, 0].flatten(1).argmax(1)
    rows, cols = pos // 8, pos % 8
    assert (rows - 3).abs().max() <= 2 and (cols - 4).abs().max() <= 2 and len(set(pos.tolist())) > 5


def test_flip_and_seeded_augment():
    x = torch.arange(16.0).view(1, 1, 4, 4).repeat(100, 1, 1, 1)
    y = random_flip(x, 3, torch.Generator().manual_seed(0))
    flipped = (y != x).flatten(1).any(1)
    assert 30 < flipped.sum() < 70 and torch.equal(y[flipped][0], x[0].flip(2))
    a = augment(x, torch.Generator().manual_seed(5))
    b = augment(x, torch.Generator().manual_seed(5))
    assert torch.equal(a, b)


def test_random_erase_zeroes_one_box_in_a_share_p_of_images():
    x = torch.ones(400, 2, 12, 12)
    assert torch.equal(random_erase(x, torch.Generator().manual_seed(0), p=0.0), x)
    y = random_erase(x, torch.Generator().manual_seed(0), p=0.5)
    zero = y == 0
    assert torch.equal(zero[:, 0], zero[:, 1])            # the same box in every channel
    erased = zero[:, 0].flatten(1).any(1)
    assert 150 < erased.sum() < 250 and torch.equal(y[~erased], x[~erased])
    for box in zero[erased][:, 0]:                        # one solid rectangle, area share <= 0.4 (+rounding)
        rows, cols = box.any(1).nonzero().flatten(), box.any(0).nonzero().flatten()
        h, w = len(rows), len(cols)
        assert rows[-1] - rows[0] + 1 == h and cols[-1] - cols[0] + 1 == w and box.sum() == h * w
        assert h * w <= 0.5 * 144
    assert torch.equal(y, random_erase(x, torch.Generator().manual_seed(0), p=0.5))
