"""One recipe per model: the stage that trains it, the runs of its split it reads, the settings it uses, where its
backbone starts and its own epoch count. Everything that differs between models is read from here, so a new
model is one entry in RECIPES (plus a stage, where none of the existing ones trains it).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from weakgan import WeakganError


@dataclass(frozen=True)
class Recipe:
    stage: str                    # what trains it (run.make_stage): classifier | wsgan | nr-wsgan
    batches: str = "clean"        # classifier stages: clean | all (clean + noisy, as one) | mixed (NR's clean:noisy)
                                  # | semi (clean:non-clean in proportion to the data, 1:9 at least; the non-clean
                                  # images' labels never read)
    teacher: str = ""             # the model of the split's run it learns soft targets from (teacher_weight > 0)
                                  # and, with pretrain: teacher, starts as
    soft_targets: bool = True     # False (the wsgan D, nr-fixmatch): the teacher is its starting point, and
                                  # its soft targets only with gan_pseudo_source: teacher (the D)
    reads_wsgan: bool = False     # D and G come from a finished wsgan run of the split (wsgan_run)
    generator: bool = False       # trains with a stage-1 generator of its own (gan_* settings)
    fakes: bool = False           # generated images in the noisy part of its batches (fake_share)
    frozen_d: bool = False        # the wsgan run's D is kept as it is
    erase: bool = False           # random erasing on its real images (round2_erase): a noised student
    consistency: bool = False     # FixMatch-style consistency on the non-clean images (stages/consistency.py)
    epochs_setting: str = ""      # a setting that, when > 0, replaces `epochs` for this model

    @property
    def residual(self) -> bool:
        """Whether it fits the noisy labels through sigmoid(c + r) (Hu et al.'s loss, alpha, clean_share)."""
        return self.batches == "mixed"


RECIPES = {
    "clean-only": Recipe("classifier", batches="clean"),
    "naive": Recipe("classifier", batches="all"),
    "nr": Recipe("classifier", batches="mixed", teacher="clean-only"),
    "nr-match": Recipe("classifier", batches="mixed", teacher="clean-only", consistency=True),
    # nr-match without the teacher's soft targets: the teacher's backbone is only its starting point (pretrain:
    # teacher; its clean net starts afresh). Where the noisy labels carry nothing (permutation noise) those
    # targets, at teacher_weight 3 against the consistency loss's 1, hold the student near its clean-only
    # teacher; without them the pseudo-labels of its own weak views can move it on (full_recipe.md,
    # "Consistency without the teacher's targets")
    "nr-fixmatch": Recipe("classifier", batches="mixed", teacher="clean-only", consistency=True, soft_targets=False,
                          epochs_setting="consistency_epochs"),
    # nr-fixmatch without NR: the clean labels and consistency on every non-clean image, whose labels are never
    # read. Where those labels carry nothing, NR's loss on them still reaches the clean net: the gradient of
    # sigmoid(c + r)'s loss with respect to c is the one r gets, toward a label that is noise (whether that costs
    # anything: full_recipe.md, last section). Where no image has a noisy label it needs no teacher targets to use them
    "fixmatch": Recipe("classifier", batches="semi", teacher="clean-only", consistency=True, soft_targets=False,
                       epochs_setting="consistency_epochs"),
    # the WSGAN D; with pretrain: teacher it starts as the split's clean-only run (its backbone branch and head)
    "wsgan": Recipe("wsgan", generator=True, teacher="clean-only", soft_targets=False, epochs_setting="gan_d_epochs"),
    "nr-wsgan": Recipe("nr-wsgan", batches="mixed", teacher="clean-only", reads_wsgan=True, fakes=True),
    "nr-wsgan-nofake": Recipe("nr-wsgan", batches="mixed", teacher="clean-only", reads_wsgan=True),
    "nr-wsgan-frozen": Recipe("nr-wsgan", batches="mixed", teacher="clean-only", reads_wsgan=True, fakes=True,
                              frozen_d=True),
    # further rounds of self-training: the split's previous round is the teacher (its predictions, on an image
    # with a noisy label its posterior given the label) and, with pretrain: teacher, the starting point. A
    # student that has learnt from the noisy labels is a better prior for that posterior than the clean-only
    # run was, so rounds gain most where the labels carry information (informative_noise.md)
    "nr-round2": Recipe("classifier", batches="mixed", teacher="nr"),
    "nr-round3": Recipe("classifier", batches="mixed", teacher="nr-round2"),
    # a last round with consistency on strongly augmented views (nr-match taught by round 3): where the
    # posterior targets stop improving from round to round, the strong views still regularize
    "nr-match-round4": Recipe("classifier", batches="mixed", teacher="nr-round3", consistency=True),
    # a second round of self-training: taught by the split's nr-wsgan run
    "nr-wsgan-round2": Recipe("nr-wsgan", batches="mixed", teacher="nr-wsgan", reads_wsgan=True, fakes=True,
                              erase=True),
    # second rounds after nr-fixmatch, where the noisy labels carry nothing (permutation noise): nr-fixmatch again
    # from its own backbone (a fresh clean net, a new schedule at the peak lr), or nr-match taught by it (its soft
    # targets, now from a model better than the clean-only run, and its starting point, for warm_epochs)
    "nr-fixmatch-round2": Recipe("classifier", batches="mixed", teacher="nr-fixmatch", consistency=True,
                                 soft_targets=False, epochs_setting="consistency_epochs"),
    "nr-match-round2": Recipe("classifier", batches="mixed", teacher="nr-fixmatch", consistency=True),
    # fixmatch again from fixmatch's backbone (a fresh clean net, consistency_epochs at the peak lr): more passes
    # over the unlabelled images, at the cost of one round, where a longer first round would retrain the first
    # round's epochs too (full_recipe.md, "fixmatch's second round at 20% clean")
    "fixmatch-round2": Recipe("classifier", batches="semi", teacher="fixmatch", consistency=True, soft_targets=False,
                              epochs_setting="consistency_epochs"),
    # a third schedule, from fixmatch-round2's backbone: whether the rounds keep paying where the second one did
    # (full_recipe.md, "fixmatch's third round at 50% and 70% clean")
    "fixmatch-round3": Recipe("classifier", batches="semi", teacher="fixmatch-round2", consistency=True,
                              soft_targets=False, epochs_setting="consistency_epochs"),
}
MODELS = tuple(RECIPES)


def recipe(model: str) -> Recipe:
    if model not in RECIPES:
        raise WeakganError(f"model '{model}': expected one of {', '.join(MODELS)}")
    return RECIPES[model]


def uses_teacher(cfg) -> bool:
    """Whether a run learns its teacher run's soft predictions on the noisy and unlabelled images: the nr family
    with teacher_weight > 0, the wsgan D with gan_pseudo_source: teacher."""
    r = recipe(cfg.model)
    if not r.teacher:
        return False
    return cfg.teacher_weight > 0 if r.soft_targets else (r.generator and cfg.gan_pseudo_source == "teacher")


def uses_gan(cfg) -> bool:
    """Whether a run reads the gan_* settings: it trains a generator, or takes D and G from a wsgan run."""
    r = recipe(cfg.model)
    return r.generator or r.reads_wsgan


def warm_started(cfg) -> bool:
    """Whether the run's backbone starts from its teacher run's (pretrain: teacher, a model with a teacher)."""
    return cfg.pretrain == "teacher" and bool(recipe(cfg.model).teacher)


def starts_as_teacher(cfg) -> bool:
    """Whether the run starts from its teacher run's weights, backbone and clean net (nr-fixmatch: backbone
    only): warm-started, and no weights file of the user's (which takes precedence)."""
    return warm_started(cfg) and not cfg.backbone_weights


def reads_teacher(cfg) -> bool:
    """Whether a run reads its teacher run (teacher_run): for its soft predictions, or (the wsgan D) only to
    start as it."""
    return uses_teacher(cfg) or (not recipe(cfg.model).soft_targets and starts_as_teacher(cfg))


def uses_contrastive(cfg) -> bool:
    """Whether a run starts from the shared contrastive backbone (pretrain: auto = only the wsgan D's backbone
    branch, as the paper has its ResNet18; with pretrain: teacher that D starts as its teacher instead)."""
    if cfg.pretrain in ("auto", "teacher"):
        return recipe(cfg.model).generator and cfg.gan_d_backbone and not warm_started(cfg)
    return cfg.pretrain == "contrastive"


def backbone_start(cfg) -> str:
    """Where the run's backbone starts (a user's weights file aside): the teacher's, contrastive, scratch."""
    return "the teacher" if warm_started(cfg) else "contrastive" if uses_contrastive(cfg) else "scratch"


def with_run_schedule(cfg):
    """cfg with `epochs` and `lr` set to this run's own: a model's own epoch setting (the wsgan D: gan_d_epochs)
    or, for a run warm-started from its teacher, warm_epochs and warm_lr; 0 keeps `epochs` / `lr`."""
    own = recipe(cfg.model).epochs_setting
    if own and getattr(cfg, own) > 0:
        return dataclasses.replace(cfg, epochs=getattr(cfg, own))
    if warm_started(cfg):
        return dataclasses.replace(cfg, epochs=cfg.warm_epochs or cfg.epochs, lr=cfg.warm_lr or cfg.lr)
    return cfg


def sibling_runs(cfg) -> list[tuple[str, str]]:
    """(setting, model) for every run of the same split this run reads: its teacher (teacher_run), the
    classifier whose confident predictions condition its generator (gan_pseudo_run, gan_labels: pseudo) and
    the wsgan run it takes D and G from (wsgan_run)."""
    r, runs = recipe(cfg.model), []
    if reads_teacher(cfg):
        runs.append(("teacher_run", r.teacher))
    if uses_gan(cfg) and cfg.gan_labels == "pseudo":
        runs.append(("gan_pseudo_run", "clean-only"))
    if r.reads_wsgan:
        runs.append(("wsgan_run", "wsgan"))
    return runs


def unused_settings(cfg) -> set[str]:
    """The settings a run of cfg.model never reads: a finished run may differ in them and still be the run
    asked for."""
    r, names = recipe(cfg.model), {f.name for f in dataclasses.fields(cfg)}
    unused = set()
    if not uses_contrastive(cfg):
        unused |= {n for n in names if n.startswith("contrastive_")}
    if not uses_teacher(cfg):
        unused |= {n for n in names if n.startswith("teacher_")} - ({"teacher_run"} if reads_teacher(cfg) else set())
    if not uses_gan(cfg):
        unused |= {n for n in names if n.startswith("gan_")}
    elif cfg.gan_pseudo_source == "teacher":   # D's noisy rows learn the teacher's targets from the first step
        unused |= {"gan_pseudo_warmup"} | ({"gan_pseudo_threshold"} if cfg.gan_labels != "pseudo" else set())
    if not r.reads_wsgan:
        unused |= {"wsgan_run", "wsgan_lr_scale"}
    if not r.fakes:
        unused |= {"fake_share"}
    if not r.erase:
        unused |= {"round2_erase"}
    if not r.consistency:
        unused |= {"consistency_weight", "consistency_momentum", "consistency_rampup", "consistency_threshold",
                   "strong_ops"}
    if r.epochs_setting != "consistency_epochs":
        unused |= {"consistency_epochs"}
    if not r.residual:
        unused |= {"alpha", "clean_share"}   # fixmatch's semi batches are in proportion to the data
    if not warm_started(cfg):
        unused |= {"warm_epochs", "warm_lr"}
    return unused
