"""``layerprobe extract``: store every layer of a model over a data-sample set (one process, a shard, or a job array)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from layerprobe.cli.options import (
    CONTEXT_SETTINGS,
    UtteranceSelection,
    corpus_option,
    device_option,
    launcher_options,
    layers_option,
    manifest_option,
    max_frames_option,
    max_seconds_option,
    model_option,
    overwrite_option,
    pre_softmax_option,
    progress_option,
    revision_option,
    sample_option,
    samples_dir_option,
    span_option,
    split_option,
    store_root_option,
    window_seconds_option,
)


@click.command("extract", context_settings=CONTEXT_SETTINGS, short_help="Store every layer of a model over a data-sample set.")
@model_option("hf:ID_OR_DIR, fairseq:CKPT.pt or tiny:FAMILY (not needed for --rep mel).", required=False)
@revision_option
@corpus_option("Corpus name (or its directory) whose data-sample set to read.", required=False)
@split_option(required=False)
@sample_option()
@manifest_option("A data-sample manifest given directly (instead of --corpus/--split/--sample/--span).")
@click.option("--rep", type=click.Choice(["local", "contextualized", "mel"]), required=True, help="Which layers.")
@span_option("Span of the data-sample set.")
@layers_option("Layers within the rep: all, T4, T0-T12, C1,C3 ...", alias=False)
@click.option("--dtype", type=click.Choice(["float32", "float16"]), default="float32", show_default=True, help="On-disk precision.")
@click.option("--shard", default=None, help="Process shard I of N (I/N, 1-based); auto: from SLURM_ARRAY_TASK_ID or torchrun's RANK/WORLD_SIZE.")
@click.option("--shards", type=click.IntRange(min=1), default=None, help="With --launcher submitit: run N shard jobs (then `layerprobe merge`).")
@click.option("--attention", type=UtteranceSelection(), default=None, help="Store attention maps for these utterance ids (comma-separated) or the first N.")
@pre_softmax_option("With --attention: also store the logits before the softmax.")
@click.option("--batch-seconds", type=click.FloatRange(min=0), default=120.0, show_default=True, help="Padded audio per batch (models that batch exactly).")
@max_seconds_option
@window_seconds_option
@max_frames_option
@device_option()
@samples_dir_option()
@store_root_option()
@overwrite_option("Replace an existing complete store.")
@progress_option
@launcher_options
def extract_command(
    model_spec: str | None,
    revision: str | None,
    corpus: str | None,
    split: str | None,
    sample_id: int,
    manifest: Path | None,
    rep: str,
    span: str | None,
    layers: str,
    dtype: str,
    shard: str | None,
    shards: int | None,
    attention: int | list[str] | None,
    pre_softmax: bool,
    batch_seconds: float,
    max_seconds: float,
    window_seconds: float | None,
    max_frames: int,
    device: str,
    samples_dir: Path,
    out: Path,
    overwrite: bool,
    progress: bool,
    **launcher: Any,
) -> None:
    """Run a model over a data-sample set and store every layer at frame, phone or word level (HDF5).

    The store goes to OUT/<model>/<corpus>_<split>_sample<k>/<rep>_<span>.h5; an interrupted run
    resumes where it stopped.  With --shard I/N each process writes one shard; `layerprobe merge`
    joins them.  --shard auto takes I/N from a SLURM array or torchrun; --launcher submitit
    --shards N submits the N shards as a job array itself (finished shards are skipped, failed
    ones retried alone).

    Long audio: --rep mel is computed in 10 s blocks at any length; a model run refuses up front a
    sample with an utterance over --max-seconds (its memory grows with the utterance: see the
    README's Performance section), and Whisper one over its 30 s input unless --window-seconds 30
    runs it in consecutive windows.

    \b
    Examples:
      layerprobe extract --model tiny:wav2vec2 --corpus demo --split train --sample 1 --rep contextualized --span phone
      layerprobe extract --model hf:/models/wav2vec2-base --corpus LibriSpeech --split dev-clean \\
          --rep local --span frame --shard 3/16
      layerprobe extract --model hf:/models/wav2vec2-base --corpus LibriSpeech --split train-clean-100 \\
          --rep contextualized --span frame --launcher submitit --shards 64 --partition gpu --gpus 1
    """
    from layerprobe.data.corpora import corpus_name
    from layerprobe.data.samples import manifest_path, read_manifest
    from layerprobe.jobs.runners import extract_task

    if manifest is None:
        missing = [name for name, value in (("--corpus", corpus), ("--split", split), ("--span", span)) if value is None]
        if missing:
            raise click.UsageError(f"give --manifest, or {', '.join(missing)} to find the data-sample set")
        manifest = manifest_path(samples_dir, corpus_name(Path(corpus).name), split, span, sample_id)
    sample_set = read_manifest(manifest)
    if span is not None and span != sample_set.span:
        raise click.BadParameter(f"the manifest {manifest} is a {sample_set.span}-span sample", param_hint="--span")
    arguments = dict(model_spec=model_spec, revision=revision, device=device, out=out, rep=rep, layers=layers, dtype=dtype,
                     attention=attention if attention is not None else (), pre_softmax=pre_softmax,
                     batch_seconds=batch_seconds, max_seconds=max_seconds or None, window_seconds=window_seconds,
                     max_attention_frames=max_frames or None, overwrite=overwrite, progress=progress)  # fmt: skip
    if launcher["launcher"] != "none":
        if shards is None or shard is not None:
            raise click.UsageError("--launcher submitit takes --shards N (and no --shard)")
        from layerprobe.cli.launching import run_launch, task
        from layerprobe.extraction import Shard, extraction_path

        from layerprobe.models.fingerprint import spec_fingerprint

        manifest = manifest.absolute()
        # a finished shard counts as done only for the same weights (issue 14): not for a replaced hf:DIR
        weights = {"weights_fingerprint": spec_fingerprint(model_spec)} if model_spec is not None else {}
        tasks = [
            task(f"shard {index}/{shards}", extract_task, {**arguments, "manifest": manifest, "shard": f"{index}/{shards}"},
                 {"shard": f"{index}/{shards}", "shards": None, "manifest": manifest},
                 output=os.fspath(extraction_path(out, model_spec, sample_set, rep, shard=Shard(index, shards))),
                 output_attrs=weights)
            for index in range(1, shards + 1)
        ]  # fmt: skip
        run_launch(tasks, launcher)
        return
    if shards is not None:
        raise click.UsageError("--shards is for --launcher submitit; a single process takes --shard I/N")
    if shard is not None and shard.strip().lower() == "auto":
        from layerprobe.jobs import shard_from_environment

        from layerprobe.extraction import extraction_path
        from layerprobe.io.store_paths import find_shards, parse_shard_path

        store = extraction_path(out, model_spec, sample_set, rep)
        counts = [parsed[2] for parsed in map(parse_shard_path, find_shards(store)) if parsed is not None]
        shard = "{}/{}".format(*shard_from_environment(existing_counts=counts))
    extract_task(**arguments, manifest=manifest, shard=shard, sample_set=sample_set, echo=click.echo)


__all__ = ["extract_command"]
