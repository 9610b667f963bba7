"""Measure a hair/eye-conditional generator (the ACGAN) the way the Anime-Generation study never did.

    python mindspore_impl/evaluate_acgan.py --model runtime/assets/demo_acgan.onnx --data data/demo_acgan/faces
    python mindspore_impl/evaluate_acgan.py --config configs/acgan/faces.yaml --ckpt runs/acgan_faces/generator.ckpt \\
        --data data/anime_faces --samples 2400 --output eval.json

1. A tag classifier (`TagClassifier`: a small CNN, two softmax heads for hair and eye) is trained on the real
   training images, minus a held-out tenth, in MindSpore here; it is saved with a fingerprint of the images,
   labels and settings (to `--classifier`, default runs/acgan_tag_classifier/tag_classifier_<size>px_<fingerprint>
   .ckpt) and reused while they match. It is a separate network: the discriminator's own classifier head would
   grade its own student.
2. Its hair and eye accuracy on the held-out real images says how far its judgement can be trusted.
3. `--samples` images are generated, every hair × eye pair equally often (z from seeds 0, 1, ... by the NVlabs
   rule, at the model's sampling sigma), and classified: per-tag accuracy (hair, eye, both) against the tags the
   generator was given, with chance 1/12 and 1/10.
4. FID-style distance: the Fréchet distance between Gaussians fitted to the classifier's penultimate features
   (global-average-pooled, `TagClassifier.features`) of the held-out real images and of the generated ones.
   ImageNet Inception weights cannot be downloaded here, and would judge 64² anime faces by photo features
   anyway; this classifier's features are trained on exactly this image domain to separate exactly the
   attributes the generator is asked for, so the distance grows when generated hair or eye colours, their mix or
   their spread differ from the real ones. It is not comparable with published FIDs (other features, other
   sample sizes); the same distance between the training and held-out real images is reported as its floor.
The report is printed as a table and, with `--output`, written as JSON.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from runtime.errors import UserError, run_main  # noqa: E402

HELD_OUT_FRACTION = 0.1
CLASSIFIER_CACHE = Path("runs") / "acgan_tag_classifier"
CLASSIFIER_VERSION = 1  # part of the fingerprint: bump when the network or its training changes


class EvaluationError(UserError):
    """The evaluation cannot run as asked (no generator, bad data, a classifier of other settings)."""


# ---------------------------------------------------------------------------------------------------- classifier
def _classifier_cell(image_size: int, width: int):
    from mindspore import nn, ops

    from mindspore_impl import layers

    class TagClassifier(nn.Cell):
        """image [N, 3, S, S] in [-1, 1] → (hair logits [N, 12], eye logits [N, 10]); `features` gives the
        pooled penultimate activations [N, 4·width] the FID-style distance uses."""

        def __init__(self):
            super().__init__()
            from datasets.acgan_tags import EYES, HAIR

            cells, c_in, side = [], 3, image_size
            for c_out in (width, 2 * width, 4 * width, 4 * width):
                if side <= 2:
                    break
                cells.append(layers.ConvNormAct(c_in, c_out, 3, stride=2, padding=1, pad="zero", norm="none",
                                                act="lrelu", bias=True, init="he"))
                cells.append(layers.ConvNormAct(c_out, c_out, 3, padding=1, pad="zero", norm="none",
                                                act="lrelu", bias=True, init="he"))
                c_in, side = c_out, side // 2
            self.body = nn.SequentialCell(cells)
            self.feature_size = c_in
            self.hair = layers.Dense(c_in, len(HAIR), init="normal002")
            self.eye = layers.Dense(c_in, len(EYES), init="normal002")

        def features(self, x):
            return ops.mean(self.body(x), axis=(2, 3))

        def construct(self, x):
            f = self.features(x)
            return self.hair(f), self.eye(f)

    return TagClassifier()


@dataclass(frozen=True)
class ClassifierSettings:
    image_size: int
    width: int = 16
    steps: int = 600
    batch_size: int = 64
    lr: float = 2e-3
    seed: int = 0


def _fingerprint(images: np.ndarray, hair: np.ndarray, eye: np.ndarray, settings: ClassifierSettings) -> str:
    digest = hashlib.sha256()
    for array in (images, hair, eye):
        digest.update(np.ascontiguousarray(array).tobytes())
    digest.update(json.dumps({**asdict(settings), "version": CLASSIFIER_VERSION}, sort_keys=True).encode())
    return digest.hexdigest()


def _augment(rng: np.random.Generator, x: np.ndarray) -> np.ndarray:
    """Random horizontal flips (hair and eye colours do not depend on the side)."""
    flip = rng.uniform(size=len(x)) < 0.5
    x = x.copy()
    x[flip] = x[flip, :, :, ::-1]
    return x


def train_classifier(images: np.ndarray, hair: np.ndarray, eye: np.ndarray, settings: ClassifierSettings,
                     progress: bool = True):
    """A TagClassifier fitted by Adam on softmax cross-entropy of both heads (batches drawn on the host from
    `settings.seed`, so the same data and settings give the same network)."""
    import mindspore as ms
    from mindspore import nn, ops
    from tqdm import tqdm

    from datasets.acgan_tags import to_model_input

    ms.set_seed(settings.seed)
    net = _classifier_cell(settings.image_size, settings.width)
    net.set_train(True)
    opt = nn.Adam(net.trainable_params(), learning_rate=settings.lr)

    def loss_fn(x, h, e):
        hair_logits, eye_logits = net(x)
        return ops.cross_entropy(hair_logits, h) + ops.cross_entropy(eye_logits, e)

    grad_fn = ms.value_and_grad(loss_fn, None, opt.parameters)

    @ms.jit
    def step(x, h, e):
        loss, grads = grad_fn(x, h, e)
        return ops.depend(loss, opt(grads))

    rng = np.random.default_rng([settings.seed, 11])
    bar = tqdm(range(settings.steps), desc="tag classifier", unit="step", disable=not progress, leave=False)
    for _ in bar:
        index = rng.integers(0, len(images), settings.batch_size)
        x = _augment(rng, to_model_input(images[index]))
        loss = step(ms.Tensor(x), ms.Tensor(hair[index].astype(np.int32)), ms.Tensor(eye[index].astype(np.int32)))
        bar.set_postfix(loss=f"{float(loss.asnumpy()):.3f}")
    net.set_train(False)
    return net


def load_or_train_classifier(path: Path | None, images, hair, eye, settings: ClassifierSettings,
                             retrain: bool = False, progress: bool = True):
    """The classifier cached at `path` (default: in CLASSIFIER_CACHE, named by the fingerprint) when its
    fingerprint matches these images and settings, else a newly trained one (saved there). Returns (network,
    whether it was trained now, the path)."""
    from mindspore_impl.checkpoint_io import CheckpointError, load_exact, read_checkpoint, save_checkpoint_atomic

    fingerprint = _fingerprint(images, hair, eye, settings)
    if path is None:
        path = CLASSIFIER_CACHE / f"tag_classifier_{settings.image_size}px_{fingerprint[:16]}.ckpt"
    if path.is_file() and not retrain:
        try:
            params, meta = read_checkpoint(path, with_meta=True)
        except CheckpointError as exc:
            raise EvaluationError(f"--classifier {path}: {exc}") from None
        if meta.get("fingerprint") == fingerprint:
            net = _classifier_cell(settings.image_size, settings.width)
            try:
                load_exact(net, params, f"--classifier {path}")
            except CheckpointError as exc:
                raise EvaluationError(str(exc)) from None
            net.set_train(False)
            return net, False, path
        print(f"note: {path} was trained on other images or settings; retraining it", file=sys.stderr)
    net = train_classifier(images, hair, eye, settings, progress)
    save_checkpoint_atomic(net, path, meta={"fingerprint": fingerprint, "network": "tag_classifier"})
    return net, True, path


def classify(net, images: np.ndarray, batch: int = 256) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """uint8 NHWC → (hair predictions [N], eye predictions [N], features [N, F] float64)."""
    import mindspore as ms

    from datasets.acgan_tags import to_model_input

    hair, eye, feats = [], [], []
    for start in range(0, len(images), batch):
        x = ms.Tensor(to_model_input(images[start:start + batch]))
        h, e = net(x)
        hair.append(h.asnumpy().argmax(1))
        eye.append(e.asnumpy().argmax(1))
        feats.append(net.features(x).asnumpy().astype(np.float64))
    return np.concatenate(hair), np.concatenate(eye), np.concatenate(feats)


# ---------------------------------------------------------------------------------------------------- metrics
def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """|μa − μb|² + tr(Σa + Σb − 2 (Σa Σb)^½) for feature rows a [N, F] and b [M, F] (FID's formula).

    tr((Σa Σb)^½) is computed as Σ √λ over the eigenvalues of Σa^½ Σb Σa^½ (symmetric, PSD: same spectrum as
    Σa Σb), which needs only eigh and no matrix square root of a non-symmetric product."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1] or len(a) < 2 or len(b) < 2:
        raise EvaluationError(f"Fréchet distance needs two sets of >= 2 feature rows of one width, got "
                              f"{a.shape} and {b.shape}")
    mu = a.mean(0) - b.mean(0)
    sa, sb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    w, v = np.linalg.eigh(sa)
    root = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    middle = root @ sb @ root
    cross = np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0, None)).sum()
    return float(mu @ mu + np.trace(sa) + np.trace(sb) - 2 * cross)


def balanced_tags(count: int) -> tuple[np.ndarray, np.ndarray]:
    """(hair [count], eye [count]): every run of 120 samples asks for each of the 12 × 10 pairs once, and every run
    of 12 for each hair colour once (sample c = 12q + r: hair r, eye (3q + r) mod 10, a bijection of the pairs)."""
    from datasets.acgan_tags import EYES, HAIR

    c = np.arange(count)
    q, r = (c // len(HAIR)) % len(EYES), c % len(HAIR)
    return r, (3 * q + r) % len(EYES)


@dataclass
class Report:
    classifier_hair: float  # accuracy on held-out real images
    classifier_eye: float
    held_out: int
    samples: int
    hair: float  # accuracy of generated samples against their tags
    eye: float
    both: float
    hair_by_colour: dict
    eye_by_colour: dict
    fid_generated: float  # Fréchet distance, classifier features: held-out real vs generated
    fid_real_floor: float  # the same between train and held-out real images
    sigma: float
    classifier_trained: bool
    classifier_path: str

    def table(self) -> str:
        rows = [("tag classifier, held-out real images", f"hair {self.classifier_hair:.1%}",
                 f"eye {self.classifier_eye:.1%}", f"n = {self.held_out}"),
                ("generated samples (chance 8.3% / 10.0%)", f"hair {self.hair:.1%}", f"eye {self.eye:.1%}",
                 f"both {self.both:.1%}, n = {self.samples}"),
                ("FID-style distance (classifier features)", f"generated {self.fid_generated:.3f}",
                 f"real floor {self.fid_real_floor:.3f}", f"z sigma {self.sigma:g}")]
        lines = [" | ".join(r) for r in rows]
        lines.append("hair accuracy by colour: " + ", ".join(f"{k} {v:.0%}" for k, v in self.hair_by_colour.items()))
        lines.append("eye accuracy by colour: " + ", ".join(f"{k} {v:.0%}" for k, v in self.eye_by_colour.items()))
        return "\n".join(lines)


def evaluate(generate: Callable[[np.ndarray, np.ndarray], np.ndarray], z_dim: int, sigma: float,
             data, classifier_path: Path | None = None, samples: int = 1200, settings: ClassifierSettings | None = None,
             retrain: bool = False, progress: bool = True, seed: int = 0) -> Report:
    """Evaluate `generate(z [N, z_dim], tags [N, 22]) -> uint8 [N, S, S, 3]` against `data` (TaggedImages); the
    tag classifier is cached at `classifier_path` (default: in CLASSIFIER_CACHE)."""
    from datasets.acgan_tags import EYES, HAIR, held_out_split, one_hot
    from runtime.sampler import latents

    size = data.images.shape[1]
    settings = settings or ClassifierSettings(image_size=size)
    train, held = held_out_split(len(data), HELD_OUT_FRACTION, seed)
    net, trained, classifier_path = load_or_train_classifier(classifier_path, data.images[train], data.hair[train],
                                                             data.eye[train], settings, retrain, progress)
    held_hair, held_eye, held_feats = classify(net, data.images[held])
    _, _, train_feats = classify(net, data.images[train[:max(len(held), 2)]])
    hair, eye = balanced_tags(samples)
    images = []
    for start in range(0, samples, 256):
        z = latents(z_dim, range(seed + start, seed + min(samples, start + 256)), sigma)
        out = np.asarray(generate(z, one_hot(hair[start:start + 256], eye[start:start + 256])))
        if out.shape != (len(z), size, size, 3) or out.dtype != np.uint8:
            raise EvaluationError(f"the generator gave {out.dtype} {list(out.shape)}; the data is {size}² RGB")
        images.append(out)
    images = np.concatenate(images)
    pred_hair, pred_eye, gen_feats = classify(net, images)
    ok_hair, ok_eye = pred_hair == hair, pred_eye == eye
    return Report(
        classifier_hair=float(np.mean(held_hair == data.hair[held])),
        classifier_eye=float(np.mean(held_eye == data.eye[held])), held_out=int(len(held)), samples=int(samples),
        hair=float(ok_hair.mean()), eye=float(ok_eye.mean()), both=float((ok_hair & ok_eye).mean()),
        hair_by_colour={c: float(ok_hair[hair == i].mean()) for i, c in enumerate(HAIR) if (hair == i).any()},
        eye_by_colour={c: float(ok_eye[eye == i].mean()) for i, c in enumerate(EYES) if (eye == i).any()},
        fid_generated=frechet_distance(held_feats, gen_feats), fid_real_floor=frechet_distance(held_feats,
                                                                                               train_feats),
        sigma=float(sigma), classifier_trained=trained, classifier_path=str(classifier_path))


# ---------------------------------------------------------------------------------------------------- CLI
def _onnx_generator(path: Path):
    """(generate, z_dim, sigma, image size) from an exported sampler, run by the runtime."""
    from runtime.sampler import Sampler, default_sigma

    sampler = Sampler(path)
    if sampler.tags is None or [g for g, _ in sampler.tags.groups] != ["hair", "eye"]:
        raise EvaluationError(f"{path.name} is not a hair/eye-conditional sampler")
    return (lambda z, tags: sampler(z, tags, batch=64)), sampler.z_dim, default_sigma(sampler.metadata), \
        sampler.output.shape[2]


def _mindspore_generator(config: str, ckpt: str, overrides):
    from export.api import interface_of
    from mindspore_impl.config import load_config
    from mindspore_impl.families.base import load_exported
    from mindspore_impl.generate import sample
    from runtime.sampler import default_sigma

    loaded = load_exported(load_config(config, overrides), ckpt)
    spec = interface_of(loaded.net)
    tags = spec.inputs_of("onehot")
    if spec.task != "sample" or not tags or [g for g, _ in tags[0].groups] != ["hair", "eye"]:
        raise EvaluationError(f"network {loaded.name} is not a hair/eye-conditional sampler")
    loaded.net.set_train(False)
    return (lambda z, t: sample(loaded.net, spec, z, t, None, 64)), spec.inputs_of("noise")[0].width, \
        default_sigma(spec.metadata), spec.outputs[0].shape[2]


def main(argv=None) -> int:
    import mindspore as ms

    from datasets.acgan_tags import TagError, load_tagged
    from runtime.atomic import write_text_atomic
    from runtime.outputs import add_overwrite_argument, refuse_existing

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", type=Path, help="exported ONNX sampler (runtime/sample.py's models)")
    source.add_argument("--config", help="a training config (with --ckpt): evaluate the MindSpore generator")
    p.add_argument("--ckpt", help="generator checkpoint for --config")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="config override for --config")
    p.add_argument("--data", help="real images: the study's layout folder (default: the config's data.root)")
    p.add_argument("--csv", help="real images as a file,hair,eye CSV instead of --data")
    p.add_argument("--samples", type=int, default=1200, help="generated images (default 1200: 10 per tag pair)")
    p.add_argument("--sigma", type=float, default=None, help="z scale (default: the model's sample_sigma)")
    p.add_argument("--classifier", type=Path, default=None,
                   help=f"tag classifier cache (default {CLASSIFIER_CACHE}/tag_classifier_<size>px_<fingerprint>.ckpt)")
    p.add_argument("--retrain", action="store_true", help="train the tag classifier even when cached")
    p.add_argument("--classifier-steps", type=int, default=ClassifierSettings(0).steps,
                   help="tag classifier training steps (default %(default)s)")
    p.add_argument("--output", type=Path, default=None, help="also write the report as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    add_overwrite_argument(p)
    args = p.parse_args(argv)
    if args.config and not args.ckpt:
        raise EvaluationError("--config needs --ckpt (the generator checkpoint)")
    if args.samples < 2 or args.classifier_steps < 1:
        raise EvaluationError("--samples must be >= 2 and --classifier-steps >= 1")
    if args.output is not None:
        if args.output.suffix != ".json":
            raise EvaluationError(f"--output {args.output} must end in .json")
        refuse_existing([args.output], args.overwrite)
    ms.set_context(mode=ms.PYNATIVE_MODE)
    if args.model is not None:
        generate, z_dim, sigma, size = _onnx_generator(args.model)
    else:
        generate, z_dim, sigma, size = _mindspore_generator(args.config, args.ckpt, args.overrides)
    if args.sigma is not None:
        sigma = args.sigma
    root = args.data
    if root is None and args.csv is None:
        if args.config is None:
            raise EvaluationError("--data (or --csv) is needed to evaluate an ONNX model")
        from mindspore_impl.config import load_config, section

        data_cfg = section(load_config(args.config, args.overrides), "data")
        root, args.csv = data_cfg.get("root"), data_cfg.get("csv")
    try:
        data, _ = load_tagged(root, args.csv, size, report=lambda line: print(f"note: {line}", file=sys.stderr))
    except TagError as exc:
        raise EvaluationError(str(exc)) from None
    settings = ClassifierSettings(image_size=size, steps=args.classifier_steps)
    report = evaluate(generate, z_dim, sigma, data, args.classifier, args.samples, settings, args.retrain,
                      not args.quiet)
    print(report.table())
    print(f"tag classifier: {report.classifier_path} ({'trained now' if report.classifier_trained else 'cached'})")
    if args.output is not None:
        write_text_atomic(args.output, json.dumps(asdict(report), indent=2) + "\n", make_parents=True)
        print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    run_main(main)
