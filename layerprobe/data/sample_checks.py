"""Checks that a data-sample set's audio is still what was sampled, before features are extracted from it.

A manifest records each utterance's duration and a content fingerprint of its audio file
(:func:`layerprobe.io.audio.audio_fingerprint`).  A corpus regenerated, restored or edited after
sampling would otherwise be extracted silently: features from other audio, or segments labelled on
the wrong audio.  :func:`check_audio` compares both before the model sees any audio.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Sequence

from layerprobe.errors import AudioError
from layerprobe.io.audio import audio_duration, audio_fingerprint

if TYPE_CHECKING:
    from layerprobe.data.samples import SampledUtterance, SampleManifest

log = logging.getLogger("layerprobe.samples")


#: Largest difference between a file's duration and the manifest's that counts as the same audio
#: (durations are frames / rate, written exactly; this only absorbs float formatting).
DURATION_TOLERANCE_S = 1e-6

_warned_unchecked: set[str] = set()


def check_audio(manifest: SampleManifest, utterances: Sequence[SampledUtterance] | None = None) -> int:
    """Refuse audio that changed since the manifest was drawn: each file's duration and fingerprint must match.

    Extraction calls this for every utterance of its run, the ones already in a resumed store
    included, before the model sees any audio, so a store never mixes features of two versions of
    a corpus.

    Parameters
    ----------
    manifest : SampleManifest
    utterances : sequence of SampledUtterance, optional
        The utterances to check (default: all of the manifest's).

    Returns
    -------
    int
        How many utterances had no fingerprint (an old manifest): only their durations were checked;
        a warning says so once per manifest.

    Raises
    ------
    AudioError
        Naming the file, the utterance, what changed (duration or content) and how to proceed.
    """
    unchecked = 0
    remedy = "restore the sampled audio, or re-run `layerprobe sample ... --overwrite` and extract again"
    for utterance in manifest.utterances if utterances is None else utterances:
        path = manifest.audio_path(utterance)
        if not path.is_file():
            raise AudioError(f"audio of utterance {utterance.utt_id!r} is missing; {remedy}", path=path)
        duration = audio_duration(path)
        if abs(duration - utterance.duration_s) > DURATION_TOLERANCE_S:
            raise AudioError(
                f"audio of utterance {utterance.utt_id!r} changed since sampling: its duration is {duration:.3f} s, "
                f"the data-sample manifest says {utterance.duration_s:.3f} s; {remedy}",
                path=path,
            )
        if utterance.fingerprint is None:
            unchecked += 1
            continue
        found = audio_fingerprint(path)
        if found != utterance.fingerprint:
            raise AudioError(
                f"audio of utterance {utterance.utt_id!r} changed since sampling: its content differs from the "
                f"data-sample manifest's fingerprint ({found} vs {utterance.fingerprint}); {remedy}",
                path=path,
            )
    key = manifest.content_hash() if unchecked else ""
    if unchecked and key not in _warned_unchecked:
        _warned_unchecked.add(key)
        log.warning(
            "%s: data-sample manifest without audio fingerprints (written by an older layerprobe): the content of "
            "%d audio files cannot be checked, only their durations; re-run `layerprobe sample --overwrite` to add them",
            f"{manifest.corpus['name']} {manifest.split} {manifest.span} sample {manifest.sample} (seed {manifest.seed})",
            unchecked,
        )
    return unchecked


__all__ = ["DURATION_TOLERANCE_S", "check_audio"]
