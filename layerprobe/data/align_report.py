"""The report of a corpus alignment (:func:`layerprobe.data.align.align_corpus`).

:class:`UtteranceResult` says what happened to one utterance, :class:`AlignReport` to all of them;
:func:`write_report` writes the report as ``align_report.json`` beside the TextGrids.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Mapping, Sequence

from layerprobe.errors import CorpusError
from layerprobe.io.atomic import write_json

#: Utterance outcomes in the report.
UtteranceStatus = Literal["aligned", "skipped", "failed"]

#: How an out-of-dictionary word was handled, as written in the report.
OOV_G2P = "g2p"
OOV_SKIPPED = "skipped"
#: The start of the reason of an utterance skipped for want of a transcript.
NO_TRANSCRIPT = "no transcript file"
OOV_UNPRONOUNCEABLE = "no pronunciation"

#: File name of the JSON report written next to the TextGrids.
REPORT_NAME = "align_report.json"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


@dataclass(frozen=True)
class UtteranceResult:
    """What happened to one utterance of a corpus alignment.

    Attributes
    ----------
    utt_id : str
    status : {"aligned", "skipped", "failed"}
        ``skipped``: not aligned for want of input (no audio, no transcript, no words, OOV words
        under ``"skip"`` or that eSpeak NG cannot pronounce); ``failed``: the audio could not be
        read or PocketSphinx could not align it.
    reason : str
        Why it was skipped or failed; empty when aligned.
    audio, textgrid : str or None
        File names (inside the audio and output folders) of the audio and the TextGrid written.
    n_words, n_phones : int
        Intervals in the TextGrid (0 unless aligned).
    duration_s : float or None
        Length of the audio, when it was read.
    oov : dict of str to str
        Out-of-dictionary words -> ``"g2p"``, ``"skipped"`` or ``"no pronunciation"``.
    warnings : tuple of str
        Things the aligner left out of the transcript (tokens with digits).
    """

    utt_id: str
    status: UtteranceStatus
    reason: str = ""
    audio: str | None = None
    textgrid: str | None = None
    n_words: int = 0
    n_phones: int = 0
    duration_s: float | None = None
    oov: Mapping[str, str] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (without ``utt_id``, which keys the report)."""
        return {
            "status": self.status,
            "reason": self.reason,
            "audio": self.audio,
            "textgrid": self.textgrid,
            "n_words": self.n_words,
            "n_phones": self.n_phones,
            "duration_s": self.duration_s,
            "oov": dict(self.oov),
            "warnings": list(self.warnings),
        }


@dataclass(frozen=True)
class AlignReport:
    """The outcome of :func:`align_corpus`, as also written to ``align_report.json``.

    Attributes
    ----------
    utterances : tuple of UtteranceResult
        In corpus order (transcripts file order, or sorted audio names).
    oov_policy : str
    pronunciations : dict of str to tuple of str
        Words pronounced by eSpeak NG -> ARPAbet-39 phones.
    report_path : Path
        Where the JSON report was written.
    """

    utterances: tuple[UtteranceResult, ...]
    oov_policy: str
    pronunciations: Mapping[str, tuple[str, ...]]
    report_path: Path

    def _ids(self, status: str) -> list[str]:
        return [u.utt_id for u in self.utterances if u.status == status]

    @property
    def n_utterances(self) -> int:
        """Utterances in the corpus."""
        return len(self.utterances)

    @property
    def aligned(self) -> list[str]:
        """Ids of the aligned utterances."""
        return self._ids("aligned")

    @property
    def skipped(self) -> list[str]:
        """Ids of the utterances not attempted."""
        return self._ids("skipped")

    @property
    def failed(self) -> list[str]:
        """Ids of the utterances whose audio could not be read or aligned."""
        return self._ids("failed")

    @property
    def missing_audio(self) -> list[str]:
        """Ids of the transcribed utterances without an audio file."""
        return [u.utt_id for u in self.utterances if u.status == "skipped" and u.audio is None]

    def _oov_words(self, handling: str | None = None) -> list[str]:
        return sorted({w for u in self.utterances for w, how in u.oov.items() if handling in (None, how)})

    @property
    def oov_words(self) -> list[str]:
        """Every out-of-dictionary word, sorted."""
        return self._oov_words()

    @property
    def g2p_words(self) -> list[str]:
        """Out-of-dictionary words pronounced by eSpeak NG, sorted."""
        return self._oov_words(OOV_G2P)

    @property
    def unaligned_oov_words(self) -> list[str]:
        """Out-of-dictionary words whose utterances were skipped, sorted."""
        return sorted(set(self.oov_words) - set(self.g2p_words))

    def summary(self) -> str:
        """One line for the command line, e.g. ``aligned 5 of 5 utterances; 1 word not in the ...``."""
        parts = [f"aligned {len(self.aligned)} of {_count(self.n_utterances, 'utterance')}"]
        if self.g2p_words:
            parts.append(
                f"{_count(len(self.g2p_words), 'word')} not in the dictionary ({_listing(self.g2p_words)}) "
                "pronounced by eSpeak NG"
            )
        if self.unaligned_oov_words:
            parts.append(
                f"{_count(len(self.unaligned_oov_words), 'word')} not in the dictionary "
                f"({_listing(self.unaligned_oov_words)}) left unaligned"
            )
        other_skips = len(self.skipped) - len(self.missing_audio)
        if self.missing_audio:
            parts.append(f"{len(self.missing_audio)} without audio")
        if other_skips:
            parts.append(f"{other_skips} skipped")
        if self.failed:
            parts.append(f"{len(self.failed)} failed")
        return "; ".join(parts) + f" (details in {self.report_path})"

    def reason_lines(self, limit: int = 3) -> list[str]:
        """Why the first ``limit`` unaligned utterances were not aligned, one ``  <utt>: <reason>`` line each.

        A last line ``  ... and N more (see <report>)`` counts the rest; empty when all were aligned.
        """
        unaligned = [u for u in self.utterances if u.status != "aligned"]
        lines = [f"  {u.utt_id}: {'failed: ' if u.status == 'failed' else ''}{u.reason}" for u in unaligned[:limit]]
        if len(unaligned) > limit:
            lines.append(f"  ... and {len(unaligned) - limit} more (see {self.report_path})")
        return lines

    @property
    def lacks_transcripts(self) -> bool:
        """Whether nothing was aligned because no audio file had a transcript."""
        return bool(self.utterances) and all(u.reason.startswith(NO_TRANSCRIPT) for u in self.utterances)

    def to_dict(self) -> dict[str, Any]:
        """The JSON report: counts, OOV words and per-utterance results."""
        from layerprobe import __version__

        return {
            "layerprobe_version": __version__,
            "aligner": f"pocketsphinx {_pocketsphinx_version()} (en-us acoustic model, CMU dictionary)",
            "oov_policy": self.oov_policy,
            "counts": {
                "utterances": self.n_utterances,
                "aligned": len(self.aligned),
                "skipped": len(self.skipped),
                "failed": len(self.failed),
                "missing_audio": len(self.missing_audio),
                "oov_words": len(self.oov_words),
                "g2p_words": len(self.g2p_words),
            },
            "oov_words": {
                word: {
                    "pronunciation": " ".join(self.pronunciations.get(word, ())),
                    "utterances": [u.utt_id for u in self.utterances if word in u.oov],
                }
                for word in self.oov_words
            },
            "utterances": {u.utt_id: u.to_dict() for u in self.utterances},
        }


def _listing(words: Sequence[str], limit: int = 5) -> str:
    return ", ".join(words[:limit]) + (", ..." if len(words) > limit else "")


def _pocketsphinx_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("pocketsphinx")
    except PackageNotFoundError:
        return "unknown"



def write_report(data: Mapping[str, Any], path: Path) -> None:
    """Write the JSON report ``data`` to ``path`` atomically (UTF-8, 2-space indent, sorted keys).

    Raises
    ------
    CorpusError
        When the file cannot be written.
    """
    try:
        write_json(path, data, indent=2, sort_keys=True, ensure_ascii=False)
    except OSError as exc:
        raise CorpusError(f"cannot write the report ({exc.strerror or exc})", path=path) from None


__all__ = [
    "REPORT_NAME",
    "OOV_G2P",
    "OOV_SKIPPED",
    "OOV_UNPRONOUNCEABLE",
    "NO_TRANSCRIPT",
    "UtteranceResult",
    "AlignReport",
    "write_report",
]
