"""Everything one training stage is made of, resolved before its first epoch: data, method,
spec, recipe, parameter groups, optimizer, validation images, loaders and the state a
resumed stage continues from."""

from __future__ import annotations

import platform
from dataclasses import dataclass, field

import torch

from mlcap.version import __version__
from mlcap.config import TrainOptions
from mlcap.data.image_cache import DecodedImages
from mlcap.data.pipeline import resolve_workers
from mlcap.seeding import epoch_seed
from mlcap.data.loader import batch_to_device, make_loader
from mlcap.data.prepared import PreparedDataset
from mlcap.errors import MlcapError
from mlcap.features.cache_file import check_cache_fits
from mlcap.features.feature_loader import make_feature_loader
from mlcap.features.store import check_feature_options
from mlcap.models import backbone_input
from mlcap.nn.lstm import split_saved_kernels, upgrade_optimizer_state
from mlcap.plugins import default_beam, load_method
from mlcap.progress import note
from mlcap.protocol import DecodeOptions, ModelSpec, Recipe
from mlcap.training.checkpoint import Checkpoint
from mlcap.training.commit import StageCommit, recover
from mlcap.training import distributed
from mlcap.training.freeze import FreezePlan
from mlcap.training.recipe import LrSchedule, build_optimizer, recipe_json, resolve_recipe
from mlcap.training.replicas import GlobalBatchSampler, Replicas
from mlcap.training.run import RunDir
from mlcap.training.setup import create_run, initial_model, pick_device, spec_for_stage
from mlcap.training.stage_threshold import check_threshold_option
from mlcap.training.swa import WeightAverager
from mlcap.training.validate import Selector, ValidationSplit, check_select_by, validation_split


@dataclass
class BestEpoch:
    """The best validated epoch so far: its weights (on the CPU) and its validation predictions,
    from which its threshold is chosen without another validation pass."""

    epoch: int
    state: dict
    predictions: object     # engine.Collected


@dataclass
class Stage:
    name: str
    opts: TrainOptions
    data: PreparedDataset
    method: object
    run: RunDir
    spec: ModelSpec
    recipe: Recipe
    model: torch.nn.Module
    plan: FreezePlan                          # what trains when (mlcap/training/freeze.py)
    optimizer: torch.optim.Optimizer
    schedule: LrSchedule
    selector: Selector
    val: ValidationSplit
    device: torch.device
    order: str
    averager: WeightAverager | None = None
    start_epoch: int = 0
    history: list[dict] = field(default_factory=list)
    already_complete: dict | None = None   # the metadata of a stage --resume finds finished
    image_cache: DecodedImages | None = None   # decoded images kept between epochs (--image-cache-mb)
    replicas: Replicas | None = None          # the model as the loop drives it (DDP under torchrun)
    scaler: object = None                     # a GradScaler with --amp --amp-dtype float16
    workers: int = 0                          # DataLoader workers (mlcap.data.pipeline.resolve_workers)
    _train: object = None                     # the training DataLoader, built once (persistent workers)
    best: "BestEpoch | None" = None           # the best validated epoch of this process's epochs, in memory
    last_validation: object = None            # the latest validation's predictions (engine.Collected)
    warned_silent: bool = False               # the stage's model was said to learn nothing (training/silence.py)
    pending: StageCommit | None = None        # this epoch's files, until its commit (training/commit.py)

    @property
    def amp(self):
        """What the engine's autocast takes: False, or the dtype of ``--amp``."""
        if not self.opts.amp:
            return False
        return torch.float16 if self.opts.amp_dtype == "float16" else torch.bfloat16

    @property
    def decode(self) -> DecodeOptions:
        """How validation decodes: this stage's weights, the method's default beam and threshold."""
        return DecodeOptions(stage=self.name, beam=default_beam(self.method, self.spec.task))

    @property
    def ckpt_path(self):
        return self.run.checkpoint_path(self.name)

    @property
    def writes(self) -> StageCommit:
        """The commit the files of the current epoch join (``commit_epoch`` makes it)."""
        if self.pending is None:
            self.pending = StageCommit(self.run.root, self.name)
        return self.pending

    def commit_epoch(self, epoch: int, complete: bool) -> None:
        """The epoch's files visible together, as the stage's state after ``epoch`` (1-based)."""
        self.writes.commit(epoch=epoch, complete=complete)
        self.pending = None

    def discard_writes(self) -> None:
        """The files of an epoch that stopped before its commit, removed."""
        if self.pending is not None:
            self.pending.discard()
            self.pending = None

    def base_meta(self) -> dict:
        return {"method": self.method.name, "stage": self.name, "labels": self.data.labels,
                "dataset": self.data.name, "options": self.opts.model_dump(mode="json"),
                "recipe": recipe_json(self.recipe), "method_options": self.spec.options,
                "validation": self.val.record(), "backbone_frozen": self.plan.backbone_frozen,
                "versions": {"mlcap": __version__, "torch": torch.__version__,
                             "python": platform.python_version()}}

    def loader(self, split: str, indices, shuffle: bool = False, generator=None, augment: bool = False,
               images: bool = True, batches=None, persistent: bool = False, seed: int | None = None):
        o, s = self.opts, self.spec
        if o.features is not None:
            return make_feature_loader(o.features, self.data, split, s.backbone, o.batch_size, order=self.order,
                                       shuffle=shuffle, generator=generator, words=s.words, indices=indices,
                                       batches=batches, memory=o.features_memory, dtype=o.features_dtype,
                                       spatial=self.method.stage_inputs(self.name, s).spatial)
        mean, std, _ = backbone_input(s.backbone)
        return make_loader(self.data, split, s.image_size, mean, std, o.batch_size, order=self.order,
                           shuffle=shuffle, generator=generator, num_workers=self.workers, words=s.words,
                           indices=indices, augment=augment, images=images, channels_last=o.channels_last,
                           cache=self.image_cache, batches=batches, device=self.device, persistent=persistent,
                           decode=o.decode, seed=seed)

    @property
    def loss_needs_images(self) -> bool:
        """The method's ``stage_inputs(...).images`` (mlcap/protocol.py)."""
        return self.method.stage_inputs(self.name, self.spec).images

    def train_loader(self, epoch_seed: int):
        """The shuffled training batches of the epoch whose seed is ``epoch_seed``
        (mlcap/seeding.py); without images when the stage's loss never looks at them. Under
        torchrun, this rank's share of each global batch (``GlobalBatchSampler``). One DataLoader
        serves every epoch of the stage, so that its workers persist."""
        if self._train is None:
            images = self.loss_needs_images
            sampler = GlobalBatchSampler(self.n_train, self.opts.batch_size, distributed.rank(),
                                         distributed.world_size())
            # its own generator: the DataLoader's base-seed draw never touches torch's global stream
            self._train = self.loader("train", self.val.train_indices, generator=torch.Generator(), batches=sampler,
                                      augment=images and self.recipe.augment and self.opts.features is None,
                                      images=images, persistent=True)
        self._train.batch_sampler.set_epoch(epoch_seed)
        return self._train

    def val_loader(self, shard: bool = False):
        """The validation images; ``shard``: this rank's share of them under torchrun."""
        indices = self.val.indices
        if shard and distributed.active():
            indices = distributed.shard(list(range(len(self.data.samples(self.val.split)))) if indices is None
                                        else list(indices))
        # one fixed seed per run: a random order's validation loss is the same for any workers and ranks
        return self.loader(self.val.split, indices, seed=epoch_seed(self.opts.seed, -1))

    def train_batches(self):
        """Unshuffled training batches on the device (SWA's BatchNorm pass)."""
        for batch, _ in self.loader("train", self.val.train_indices):
            if batch is not None:
                yield batch_to_device(batch, self.device)

    @property
    def n_train(self) -> int:
        ind = self.val.train_indices
        return len(ind) if ind is not None else len(self.data.samples("train"))


def compile_backbone(model: torch.nn.Module, backend: str) -> None:
    """``--compile``: ``torch.compile`` the backbone in place (``Module.compile``: the state dict
    keeps its keys, so checkpoints are those of an eager run). The backbone is where the time
    goes and is one static graph; the decoders' step loops would only break the graph."""
    backbone = model.encoder.backbone
    import torch._dynamo

    if backend not in torch._dynamo.list_backends(exclude_tags=()):
        raise MlcapError(f"--compile-backend {backend!r}: not a torch.compile backend "
                         f"({', '.join(torch._dynamo.list_backends())})")
    backbone.compile(backend=backend)


def default_order(method) -> str:
    """The label order of a stage run without ``--order``: the method's first (any, for a method
    without a label sequence: its batches' ``sequences`` go unread)."""
    return method.orders[0] if method.orders else "rare"


def _check_order(method, order: str | None) -> None:
    accepted = method.orders
    if order is not None and order not in accepted:
        raise MlcapError(f"--order {order}: method {method.name!r} " +
                         (f"accepts {', '.join(accepted)}" if accepted else "emits no label sequence"))


def prepare_stage(name: str, opts: TrainOptions) -> Stage:
    data = PreparedDataset(opts.data)
    method = load_method(opts.method)
    run = RunDir(opts.run)
    spec, recipe, overwrite = _checked(name, opts, data, method, run)
    val = validation_split(data, run.root, opts.val_fraction, opts.seed)
    if val.split is None and (recipe.schedule == "plateau" or opts.patience):
        raise MlcapError(f"{name}: --schedule plateau and --patience need validation: {val.note}")
    create_run(run, method, data, spec, opts)       # every check has passed: a first stage's run.json
    model, resume = initial_model(method, run, name, spec, opts)
    device = pick_device(opts.device)
    if opts.sync_bn and distributed.active():   # before the groups: the conversion makes new parameters
        from mlcap.training.sync_batchnorm import convert_batchnorm

        model = convert_batchnorm(model, cuda=device.type == "cuda")
    plan = FreezePlan.build(method, model, name, spec, opts, recipe)
    model.to(device)
    if opts.channels_last:      # convolution weights in NHWC, as the loader's image batches
        model.to(memory_format=torch.channels_last)
    if opts.compile:
        compile_backbone(model, opts.compile_backend)
    stage = Stage(name, opts, data, method, run, spec, recipe, model, plan, build_optimizer(recipe, plan.groups),
                  LrSchedule(recipe), Selector(recipe.select_by, opts.patience), val, device,
                  opts.order or default_order(method),
                  averager=WeightAverager(recipe.swa_cycle) if recipe.schedule == "swa" else None,
                  image_cache=DecodedImages(opts.image_cache_mb * 2**20),
                  workers=resolve_workers(opts.num_workers, device))
    if resume is not None:
        _resume(stage, resume)
    if distributed.is_main():   # only now that every check has passed: a refused command removes nothing
        _settle_files(run, method, name, overwrite, fresh=resume is None)
    stage.replicas = Replicas(model, method, name, spec, device, stage.amp)
    if opts.amp and opts.amp_dtype == "float16":    # float16 gradients underflow without scaling
        stage.scaler = torch.amp.GradScaler(device.type)
        saved = resume.extra.get("scaler") if resume is not None else None
        if saved:
            stage.scaler.load_state_dict(saved)
    distributed.barrier()           # every rank set up, rank 0's removals done, before anything trains
    return stage


def _checked(name: str, opts: TrainOptions, data: PreparedDataset, method, run: RunDir):
    """``(spec, recipe, overwrite)``: every option checked against the method, the run and the recipe
    before anything is written or built."""
    if name not in method.stages:
        raise MlcapError(f"method {method.name!r} has no stage {name!r} (its stages: {', '.join(method.stages)})")
    if distributed.is_main():
        recover(run.root)       # what a kill left: commits moved into place, temporary files removed
    _check_order(method, opts.order)
    if opts.features is None:
        _check_image_paths(data)
    spec = spec_for_stage(run, method, data, opts)
    overwrite = _check_existing_stage(run, name, opts.resume)
    recipe = resolve_recipe(method, name, spec, data.name, opts.model_dump())
    if opts.decode == "gpu" and recipe.augment:
        raise MlcapError(f"{name}: --decode gpu cannot be used with augmentation (the recipe's or --augment): the "
                         "transforms run on the loader's decoded pixels; use --decode torchvision")
    check_select_by(recipe.select_by, spec.task)
    check_threshold_option(method, opts.threshold, spec)
    check_feature_options(opts.features, opts.features_memory, opts.features_dtype)
    if opts.features is not None:
        check_cache_fits(opts.features, spec.weights, spec.image_size)
    return spec, recipe, overwrite


def _check_existing_stage(run: RunDir, name: str, resume: bool | None) -> bool:
    """A stage that already has a checkpoint is neither silently overwritten nor silently continued:
    ``--resume`` continues it, ``--overwrite`` removes its files (``_remove_stage``) and trains it
    again. True when its files are to be removed."""
    meta = run.stage_meta(name)
    if meta is None:
        return False
    if resume is None:
        state = "complete" if meta.get("complete") else f"stopped after epoch {meta.get('epoch')}"
        raise MlcapError(f"{run.root}: stage {name} already has a checkpoint ({state}): --resume continues it, "
                         f"--overwrite trains it again from its start")
    return not resume


def _settle_files(run: RunDir, method, name: str, overwrite: bool, fresh: bool) -> None:
    """Before a stage trains: ``--overwrite`` removes its files (``_remove_stage``); a stage that
    starts from its beginning is no longer stale (``_refresh_stale``)."""
    if overwrite:
        _remove_stage(run, method, name)
    if fresh:
        _refresh_stale(run, method, name)


def _remove_stage(run: RunDir, method, name: str) -> None:
    """``--overwrite``: the later stages trained from it are marked stale, then the stage's files go
    (its checkpoint first: a kill on the way leaves no stage half there)."""
    later = [s for s in method.stages[method.stages.index(name) + 1:] if run.stage_meta(s) is not None]
    if later:
        run.mark_stale(later, name)
    for path in run.stage_files(name):
        path.unlink(missing_ok=True)
    removed = f"{run.root}: --overwrite: {name}'s checkpoints and history removed; it trains from its start"
    if not later:
        note(removed)
        return
    they, were, keep, are = ("it", "was", "keeps", "is") if len(later) == 1 else ("they", "were", "keep", "are")
    note(f"{removed} (the later {', '.join(later)} {keep} the weights {they} {were} trained from, and {are} marked "
         f"stale: predict refuses {'it' if they == 'it' else 'them'} until {they} {are} trained again)")


def _refresh_stale(run: RunDir, method, name: str) -> None:
    """A stage trained from its start is stale no more, unless a stage before it still is."""
    stale = run.stale()
    earlier = [s for s in method.stages[:method.stages.index(name)] if s in stale]
    if earlier:
        run.mark_stale([name], stale[earlier[-1]])
        note(f"{name}: starts from {earlier[-1]}, which is stale ({stale[earlier[-1]]} was trained again after "
             f"it): train {earlier[-1]} again first, or {name} stays stale")
    else:
        run.clear_stale(name)


def _check_image_paths(data: PreparedDataset) -> None:
    """A dataset prepared without images (NUS-WIDE from its label CSVs alone) cannot train on images."""
    data.check_image_root()
    train = data.samples("train")
    missing = sum(1 for s in train if not s.image)
    if missing:
        raise MlcapError(f"{data.root}: {missing} of {len(train)} train images have no image path (prepared "
                         f"without images, e.g. `prepare nuswide` without --images): prepare it again with "
                         f"--images DIR, or train from --features")


def _resume(stage: Stage, ckpt: Checkpoint) -> None:
    meta, extra = ckpt.meta, ckpt.extra
    if meta.get("complete") and (meta.get("stopped_early") or meta["epoch"] >= stage.recipe.epochs):
        stage.already_complete = meta
        stage.history = list(extra.get("history", []))   # for the same summary
        return
    stage.start_epoch = int(meta["epoch"])
    if stage.start_epoch >= stage.recipe.epochs:
        raise MlcapError(f"{stage.ckpt_path}: stopped after epoch {stage.start_epoch}, not before --epochs "
                         f"{stage.recipe.epochs}: nothing to train; give --epochs {stage.start_epoch + 1} or more, "
                         f"or --overwrite")
    if ckpt.optimizer:
        stage.optimizer.load_state_dict(upgrade_optimizer_state(stage.model, stage.optimizer, ckpt.optimizer))
    stage.history = list(extra.get("history", []))
    stage.selector.load_state(extra.get("selector", {}))
    stage.schedule.load_state(extra.get("schedule", {}))
    if stage.averager is not None:
        swa = dict(extra.get("swa", {}))
        if swa.get("average"):
            swa["average"] = split_saved_kernels(stage.model, swa["average"])
        stage.averager.load_state(swa)
    note(f"{stage.name}: resuming from {stage.ckpt_path} after epoch {stage.start_epoch}")
