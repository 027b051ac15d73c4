"""``layerprobe audiate``: optimise a waveform that makes a unit of a layer fire, and write it as WAV."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from layerprobe.cli.options import (
    CONTEXT_SETTINGS,
    device_option,
    lr_option,
    model_option,
    progress_option,
    revision_option,
    samples_dir_option,
    seed_option,
)

log = logging.getLogger("layerprobe")


@click.command("audiate", context_settings=CONTEXT_SETTINGS, short_help="Optimise a waveform that makes a unit fire, and write it as WAV.")
@model_option()
@revision_option
@click.option("--layer", required=True, help="The layer: C1..Cn or T0..TL.")
@click.option("--unit", type=click.IntRange(min=0), default=None, help="One unit (dimension of the layer); OUT is a .wav file.")
@click.option("--units", "units_text", default=None, help="Several units, e.g. 0-31 or 0,4,9-12; OUT is a folder with a gallery page.")
@click.option("--mode", type=click.Choice(["unit", "channel"]), default="unit", show_default=True, help="unit: one frame, neighbours penalised, silence elsewhere; channel: the mean over all frames.")
@click.option("--frame", type=click.IntRange(min=0), default=None, help="unit mode: the target frame on the layer's grid [default: the middle frame].")
@click.option("--steps", type=click.IntRange(min=1), default=500, show_default=True, help="Adam steps.")
@click.option("--seconds", type=click.FloatRange(min=0, min_open=True), default=1.0, show_default=True, help="Length of the waveform.")
@seed_option("Seed of the initial signal and the augmentations.")
@lr_option(0.05, "Adam's learning rate on the frequency coefficients.")
@click.option("--neighbour-weight", type=click.FloatRange(min=0), default=0.5, show_default=True, help="unit mode: penalty on the unit at the 2 frames either side.")
@click.option("--silence-weight", type=click.FloatRange(min=0), default=1.0, show_default=True, help="unit mode: penalty on the energy share outside the target frame (+-50 ms).")
@click.option("--regularizer", type=click.Choice(["none", "tv", "highfreq"]), default="none", show_default=True, help="tv: total variation; highfreq: power-weighted squared frequency.")
@click.option("--reg-weight", type=click.FloatRange(min=0), default=1.0, show_default=True, help="Weight of --regularizer.")
@click.option("--shift-frames", type=click.FloatRange(min=0), default=0.25, show_default=True, help="Augmentation: largest random time shift, in frames of the layer (0: none).")
@click.option("--batch-size", type=click.IntRange(min=1), default=8, show_default=True, help="--units: units optimised together.")
@click.option("--examples-store", type=click.Path(exists=True, path_type=Path), default=None, help="A frame-span feature store of the same model: add each unit's top activating frames of real speech.")
@click.option("--top-k", type=click.IntRange(min=1), default=10, show_default=True, help="--examples-store: frames per unit.")
@samples_dir_option("--examples-store: where the data-sample sets are (for phones and audio).")
@device_option()
@click.option("--out", type=click.Path(path_type=Path), required=True, help="--unit: the .wav to write (with .json and .png); --units: the folder.")
@progress_option
def audiate_command(
    model_spec: str, revision: str | None, layer: str, unit: int | None, units_text: str | None, mode: str, frame: int | None,
    steps: int, seconds: float, seed: int, lr: float, neighbour_weight: float, silence_weight: float, regularizer: str,
    reg_weight: float, shift_frames: float, batch_size: int, examples_store: Path | None, top_k: int, samples_dir: Path,
    device: str, out: Path, progress: bool,
) -> None:  # fmt: skip
    """Optimise a waveform so that a unit of a layer fires strongly, and write it to listen to.

    The signal is parameterised by Fourier coefficients scaled by 1/frequency and kept at a fixed
    RMS; each Adam step sees it shifted and with a little noise added.  In unit mode one frame is
    maximised while the same unit at the neighbouring frames is penalised and the signal is asked to
    be silent away from that frame; in channel mode the unit's mean over all frames is maximised.
    The WAV is peak-normalised, 16 kHz; a JSON sidecar holds the settings, the activation per step
    and the figures (initial, final, and white noise of the same RMS), and a PNG the spectrogram.
    With --units, OUT is a folder with one set of files per unit and an index.html gallery to
    listen side by side.  --examples-store adds the stored frames of real speech that activate
    each unit most (utterance, time, phone, word, and a clip of the audio).

    \b
    Examples:
      layerprobe audiate --model tiny:whisper --layer T2 --unit 5 --steps 200 --out unit5.wav
      layerprobe audiate --model hf:/models/whisper-base --layer T3 --units 0-31 --steps 300 --out gallery/
      layerprobe audiate --model hf:/models/wav2vec2-base --layer T6 --unit 42 --mode channel --device cuda \\
          --examples-store features/hf_models_wav2vec2-base/LibriSpeech_dev-clean_sample1/contextualized_frame.h5 --out u42.wav
    """
    from contextlib import ExitStack

    from layerprobe.audiation import audiate_units, parse_units, top_activating_frames, write_audiation, write_gallery
    from layerprobe.audiation.examples import examples_store_record
    from layerprobe.models import load_model

    if (unit is None) == (units_text is None):
        raise click.UsageError("give exactly one of --unit N (one WAV) or --units SPEC (a folder with a gallery)")
    single = unit is not None
    if single and out.suffix.lower() != ".wav":
        raise click.BadParameter(f"{out} is not a .wav file; with --unit, OUT is the WAV to write", param_hint="--out")
    if not single and out.suffix.lower() == ".wav":
        raise click.BadParameter(f"{out} is a .wav file; with --units, OUT is a folder", param_hint="--out")
    chosen = [unit] if single else parse_units(units_text)
    adapter = load_model(model_spec, revision=revision, device=device)
    sidecars = []
    with ExitStack() as stack:
        store, store_record = None, None
        if examples_store is not None:  # checked before the optimisation, which can take long
            from layerprobe.io.store import FeatureStore

            store = stack.enter_context(FeatureStore.open(examples_store))
            store_record = examples_store_record(store, adapter)
        results = audiate_units(
            adapter, layer, chosen, batch_size=batch_size, progress=progress, mode=mode, frame=frame, steps=steps,
            seconds=seconds, seed=seed, lr=lr, neighbour_weight=neighbour_weight, silence_weight=silence_weight,
            regularizer=None if regularizer == "none" else regularizer, reg_weight=reg_weight, shift_frames=shift_frames,
        )  # fmt: skip
        for result in results:
            examples = None if store is None else top_activating_frames(store, result.layer, result.unit, top_k, samples_dir=samples_dir)
            wav = out if single else out / f"{result.layer}_unit{result.unit:04d}.wav"
            files = write_audiation(result, wav, examples=examples, examples_store=store_record)
            sidecars.append(files.sidecar)
            click.echo(f"{result.summary()} -> {files.wav}")
    if not single:
        page = write_gallery(sidecars, out / "index.html")
        click.echo(f"gallery of {len(sidecars)} unit{'s' if len(sidecars) != 1 else ''} -> {page}")


__all__ = ["audiate_command"]
