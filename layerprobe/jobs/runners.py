"""The runners of launched tasks: one extraction shard, the CCA, MI, AWD, word segmentation or spoken STS of some layers.

Each is a module-level function of keyword arguments only (what submitit pickles), does what the
matching ``layerprobe`` command does for those arguments and prints the same lines.  The commands
call them too (with ``echo=click.echo``), so a task and the plain command cannot drift apart.  The
heavy libraries are imported inside the functions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

#: How a runner prints a line.
Echo = Callable[[str], Any]


def _print(line: str) -> None:
    print(line, flush=True)


def extract_task(
    *,
    manifest: Path,
    model_spec: str | None,
    revision: str | None = None,
    device: str = "cpu",
    out: Path,
    rep: str,
    layers: str = "all",
    dtype: str = "float32",
    shard: str | None = None,
    attention: int | Sequence[str] = (),
    pre_softmax: bool = False,
    batch_seconds: float = 120.0,
    max_seconds: float | None = 120.0,
    window_seconds: float | None = None,
    max_attention_frames: int | None = 2000,
    overwrite: bool = False,
    progress: bool = True,
    sample_set: Any = None,
    echo: Echo | None = None,
) -> Any:
    """``layerprobe extract`` for one manifest (and shard ``"I/N"``): store the layers, print one line.

    ``sample_set`` is the manifest already read (read from ``manifest`` when None); ``attention`` the
    utterances whose maps to store (ids or the first N).  Returns the extraction report.
    """
    from layerprobe.data.corpora import format_seconds
    from layerprobe.data.samples import read_manifest
    from layerprobe.extraction import Shard, extract

    echo = echo or _print
    if sample_set is None:
        sample_set = read_manifest(manifest)
    adapter = None
    if model_spec is not None:
        from layerprobe.models import load_model

        adapter = load_model(model_spec, revision=revision, device=device)
    report = extract(
        sample_set,
        adapter,
        out,
        rep=rep,
        layers=layers,
        dtype=dtype,
        shard=Shard.parse(shard) if shard else None,
        attention=attention,
        pre_softmax=pre_softmax,
        batch_seconds=batch_seconds,
        max_seconds=max_seconds,
        window_seconds=window_seconds,
        max_attention_frames=max_attention_frames,
        overwrite=overwrite,
        progress=progress,
        manifest_path=manifest,
    )
    resumed = f" (resumed after {report.n_skipped})" if report.n_skipped else ""
    echo(
        f"stored {report.n_rows} rows of {report.n_utterances} utterances{resumed}, "
        f"{format_seconds(report.audio_seconds)} of audio in {format_seconds(report.wall_seconds)} -> {report.path}"
    )
    return report


def cca_task(
    *,
    experiment: str,
    model: str,
    corpus: str,
    split: str,
    sample: int = 1,
    layers: str = "all",
    features: Path,
    out: Path,
    seed: int = 0,
    embeddings: Path | None = None,
    embeddings_format: str = "auto",
    vocabulary_size: int = 500,
    base_layer: str = "T0",
    null_directions: str = "zero",
    signs: str = "lapack",
    progress: bool = True,
    echo: Echo | None = None,
    oracle: Path | None = None,
    span: str | None = None,
    control: str = "none",
) -> list:
    """``layerprobe cca`` for some layers: one PWCCA row per layer into ``out``, a line per layer and a total."""
    from layerprobe.experiments.cca import run_cca

    echo = echo or _print

    def report(score) -> None:
        result = score.result
        dropped = f", {score.n_dropped} dropped" if score.n_dropped else ""
        trials = ", ".join(f"{value:.3f}" for value in result.trial_scores)
        signs = f"; over signs {result.sign_range[0]:.3f}-{result.sign_range[1]:.3f}" if result.sign_range else ""
        centred = f"; centred {result.centred_score:.4f}" if result.centred_score is not None else ""
        echo(
            f"{score.run.experiment if score.run else experiment} {score.layer}: PWCCA {result.score:.4f} "
            f"(trials {trials}{signs}{centred}; {result.n_rows} rows{dropped}; {result.wall_seconds:.1f} s)"
        )

    scores = run_cca(
        experiment,
        features=features,
        model=model,
        corpus=corpus,
        split=split,
        sample=sample,
        layers=layers,
        seed=seed,
        results=out,
        embeddings=embeddings,
        embeddings_format=embeddings_format,
        vocabulary_size=vocabulary_size,
        base_layer=base_layer,
        oracle=oracle,
        span=span,
        control=control,
        null_directions=null_directions,
        signs=signs,
        progress=progress,
        on_layer=report,
    )
    echo(f"{len(scores)} layer{'s' if len(scores) != 1 else ''} -> {out}")
    return scores


def mi_task(
    *,
    span: str,
    model: str,
    corpus: str,
    train_split: str,
    eval_split: str,
    sample: int = 1,
    layers: str = "all",
    iterations: Sequence[int] = (0,),
    n_clusters: int | None = None,
    batch_size: int | None = None,
    max_iter: int = 500,
    algorithm: str = "published",
    init: str | None = None,
    tol: float = 1e-3,
    n_init: int | None = None,
    device: str = "cpu",
    standardize: bool = False,
    features: Path,
    out: Path,
    progress: bool = True,
    echo: Echo | None = None,
) -> list:
    """``layerprobe mi`` for some layers and iterations (seeds): an NMI row and its chance level's
    (``nmi_chance``) each into ``out``, a line each and a total."""
    from layerprobe.experiments.mi import run_mi

    echo = echo or _print

    def report(score) -> None:
        r, name = score.result, score.run.experiment if score.run else f"mi_{span}"
        echo(
            f"{name} {score.layer}: NMI {r.score:.4f} (chance {r.chance:.4f}; train {r.train_score:.4f}; "
            f"{r.n_train} train / {r.n_eval} eval "
            f"instances, {r.n_clusters} clusters, {r.n_labels_eval} labels; {r.n_iter} iterations; {r.wall_seconds:.1f} s)"
        )

    scores = [
        score
        for seed in iterations
        for score in run_mi(
            span,
            features=features,
            model=model,
            corpus=corpus,
            train_split=train_split,
            eval_split=eval_split,
            sample=sample,
            layers=layers,
            iteration=seed,
            n_clusters=n_clusters,
            batch_size=batch_size,
            max_iter=max_iter,
            algorithm=algorithm,
            init=init,
            tol=tol,
            n_init=n_init,
            device=device,
            standardize=standardize,
            results=out,
            progress=progress,
            on_layer=report,
        )
    ]
    what = "layer" if len(iterations) == 1 else "score"
    echo(f"{len(scores)} {what}{'s' if len(scores) != 1 else ''} -> {out}")
    return scores


def awd_task(
    *,
    model: str,
    corpus: str,
    split: str,
    sample: int = 1,
    layers: str = "all",
    features: Path,
    out: Path,
    speaker_pattern: str | None = None,
    span: str = "word",
    progress: bool = True,
    echo: Echo | None = None,
) -> list:
    """``layerprobe awd`` for some layers: an ``ap`` row (and ``ap_cross_speaker``) per layer into ``out``, a line each and a total."""
    from layerprobe.experiments.awd import run_awd

    echo = echo or _print

    def report(score) -> None:
        r = score.result
        cross = ""
        if r.n_same_cross_speaker is not None:
            value = "none" if r.ap_cross_speaker is None else f"{r.ap_cross_speaker:.4f}"
            cross = f"; cross-speaker AP {value} ({r.n_same_cross_speaker} pairs, {r.n_speakers} speakers)"
        echo(
            f"awd {score.layer}: AP {r.ap:.4f} (chance {r.same_rate:.4f}; {r.n_segments} segments of {r.n_words} words, "
            f"{r.n_same} same / {r.n_different} different pairs{cross})"
        )

    scores = run_awd(features=features, model=model, corpus=corpus, split=split, sample=sample, layers=layers,
                     speaker_pattern=speaker_pattern, span=span, results=out, progress=progress, on_layer=report)  # fmt: skip
    echo(f"{len(scores)} layer{'s' if len(scores) != 1 else ''} -> {out}")
    return scores


def segment_task(
    *,
    model: str,
    corpus: str,
    split: str,
    sample: int = 1,
    tune_split: str | None = "dev",
    tune_on_eval: bool = False,
    conventions: Sequence[str] = ("librispeech", "buckeye"),
    layers: str = "all",
    features: Path,
    samples_dir: Path = Path("data_samples"),
    out: Path,
    progress: bool = True,
    echo: Echo | None = None,
) -> list:
    """``layerprobe segment`` for some layers: rows per convention into ``out``, a line per layer and convention, and a total."""
    from layerprobe.experiments.segment import run_segment

    echo = echo or _print

    def report(outcome) -> None:
        for c in outcome.conventions:
            s, chosen = c.score, c.setting
            chance = f", chance F1 {c.chance.f1:.4f}" if c.chance is not None else ""
            echo(f"segment {outcome.layer} {c.convention}: F1 {s.f1:.4f} (P {s.precision:.4f} R {s.recall:.4f}{chance}, R-value "
                 + ("n/a" if s.precision == 0 else f"{s.r_value:.4f}") + f", token F1 {c.tokens.f1:.4f}) with {chosen.distance} "
                 f"w={chosen.window} p={chosen.prominence:g} (tune F1 {c.tune.f1:.4f}; {outcome.counts['n_scored']} utterances)")  # fmt: skip

    scored = run_segment(features=features, model=model, corpus=corpus, split=split, sample=sample, tune_split=tune_split,
                         tune_on_eval=tune_on_eval, conventions=tuple(conventions), layers=layers, samples_dir=samples_dir,
                         results=out, progress=progress, on_layer=report)  # fmt: skip
    echo(f"{len(scored)} layer{'s' if len(scored) != 1 else ''} -> {out}")
    return scored


def sts_task(
    *,
    model: str,
    corpus: str,
    split: str,
    sample: int = 1,
    rep: str | None = None,
    layers: str = "all",
    features: Path,
    dataset: Path | None = None,
    combine: str = "mean",
    out: Path,
    progress: bool = True,
    echo: Echo | None = None,
) -> list:
    """``layerprobe sts`` for some layers: a ``spearman`` row (and one per subtask) per layer into ``out``, a line each and a total."""
    from layerprobe.experiments.sts import run_sts

    echo = echo or _print

    def report(score) -> None:
        r = score.result

        def rho(value: float) -> str:
            return f"{value:.4f}" if value == value else "undefined"

        groups = "".join(f", {group} {rho(value)}" for group, value in r.per_subtask.items())
        echo(f"spoken_sts {score.layer}: Spearman {rho(r.spearman)} ({r.n_pairs} pairs, {r.n_combinations} speaker combinations{groups})")

    scores = run_sts(features=features, model=model, corpus=corpus, split=split, sample=sample, rep=rep, layers=layers,
                     dataset=dataset, combine=combine, results=out, progress=progress, on_layer=report)  # fmt: skip
    echo(f"{len(scores)} layer{'s' if len(scores) != 1 else ''} -> {out}")
    return scores


__all__ = ["awd_task", "cca_task", "extract_task", "mi_task", "segment_task", "sts_task"]
