"""Shards from the environment, task command lines rebuilt from parsed options, launch options, status text."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest
from hypothesis import given
from hypothesis import strategies as st

from layerprobe.errors import ConfigError
from layerprobe.cli.launching import task_argv
from layerprobe.cli.options import launcher_options
from layerprobe.jobs import LaunchOptions, shard_from_environment
from layerprobe.jobs.status import _layer_ranges, _ranges, collect_status, format_status


@pytest.mark.parametrize(
    "environ, expected",
    [
        ({"SLURM_ARRAY_TASK_ID": "0", "SLURM_ARRAY_TASK_MIN": "0", "SLURM_ARRAY_TASK_MAX": "15"}, (1, 16)),
        ({"SLURM_ARRAY_TASK_ID": "16", "SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_MAX": "16"}, (16, 16)),
        ({"SLURM_ARRAY_TASK_ID": "3", "SLURM_ARRAY_TASK_COUNT": "8"}, (4, 8)),  # no MIN: arrays start at 0
        ({"RANK": "0", "WORLD_SIZE": "4"}, (1, 4)),
        ({"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1"}, (4, 4)),
        # SLURM wins over torchrun variables set by a launcher inside the job
        ({"SLURM_ARRAY_TASK_ID": "2", "SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_MAX": "3", "RANK": "0", "WORLD_SIZE": "9"}, (2, 3)),
    ],
)
def test_the_shard_comes_from_slurm_or_torchrun(environ, expected):
    assert shard_from_environment(environ) == expected


@pytest.mark.parametrize(
    "environ, message",
    [
        ({}, "needs SLURM_ARRAY_TASK_ID"),
        ({"SLURM_ARRAY_TASK_ID": "2"}, "not SLURM_ARRAY_TASK_MAX or _COUNT"),
        ({"SLURM_ARRAY_TASK_ID": "x", "SLURM_ARRAY_TASK_COUNT": "4"}, "not integers"),
        ({"RANK": "4", "WORLD_SIZE": "4"}, "gives shard 5 of 4"),
        ({"SLURM_ARRAY_TASK_ID": "0", "SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_MAX": "4"}, "gives shard 0 of 4"),
    ],
)
def test_a_shard_the_environment_does_not_give_is_a_clear_error(environ, message):
    with pytest.raises(ConfigError, match=message):
        shard_from_environment(environ)


@pytest.mark.parametrize("field, value", [("cluster", "kubernetes"), ("retries", -1), ("timeout_min", 0), ("cpus", 0)])
def test_launch_options_are_checked(field, value):
    with pytest.raises(ConfigError):
        LaunchOptions(jobs_dir="jobs", **{field: value})


@click.command()
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--layers", default="all")
@click.option("--seed", type=int, default=0)
@click.option("--out", type=click.Path(path_type=Path), default=Path("results/x.csv"))
@click.option("--tag", "tags", multiple=True)
@click.option("--progress/--no-progress", default=True)
@click.option("--overwrite", is_flag=True)
@launcher_options
def _command(**params):
    ctx = click.get_current_context()
    ctx.obj.append(task_argv(ctx, {"layers": "T4"}))


def _rebuilt(argv: list[str]) -> tuple[str, ...]:
    seen: list = []
    _command.main(args=argv, obj=seen, standalone_mode=False)
    return seen[0]


def test_a_task_is_the_same_command_with_its_layer_absolute_paths_and_no_launcher_options(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv = _rebuilt(["data", "--seed", "3", "--tag", "a", "--tag", "b", "--no-progress", "--overwrite",
                     "--launcher", "submitit", "--cluster", "local", "--retries", "5"])  # fmt: skip
    assert argv == ("--layers", "T4", "--seed", "3", "--out", str(tmp_path / "results/x.csv"), "--tag", "a", "--tag", "b",
                    "--no-progress", "--overwrite", str(tmp_path / "data"))  # fmt: skip
    # the task's command line parses back to the same options (the layer replaced)
    again = _rebuilt(list(argv))
    assert again == argv


@given(st.lists(st.integers(min_value=0, max_value=60), min_size=1, max_size=20))
def test_ranges_list_exactly_the_numbers(numbers):
    text = _ranges(numbers)
    expanded = set()
    for part in text.split(","):
        low, _, high = part.partition("-")
        expanded |= set(range(int(low), int(high or low) + 1))
    assert expanded == set(numbers)


def test_layer_ranges_compress_runs_in_model_order():
    assert _layer_ranges(["mel", "C1", "C2", "C3", "T0", "T1", "T2", "T5", "T7", "T8"]) == "mel,C1-C3,T0-T2,T5,T7-T8"


def test_status_of_an_empty_folder_says_so(tmp_path):
    assert format_status(collect_status(tmp_path)) == [f"nothing found under {tmp_path}: no feature stores, result tables or launch records"]


def test_status_reports_an_unreadable_table_without_failing(tmp_path):
    (tmp_path / "broken.csv").write_text("not,a,result,table\n")
    lines = format_status(collect_status(tmp_path))
    assert lines[0] == "result tables:" and lines[1].startswith("  broken.csv: unreadable (")


def test_status_of_a_missing_directory_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="is not a directory"):
        collect_status(tmp_path / "nope")


def _finished_store(path: Path, *, shard: tuple[int, int] | None = None) -> Path:
    import numpy as np

    from layerprobe.io.store import FeatureStore, shard_path

    if shard is not None:
        path = shard_path(path, *shard)
    attrs = {"model": "tiny:wav2vec2", "rep": "contextualized", "span": "frame", "frame_rate_hz": 50.0}
    writer = FeatureStore.create(path, attrs=attrs, layer_dims={"T0": 4, "T1": 4})
    for number in range(20):
        writer.append(f"u{number}", {"T0": np.ones((50, 4), np.float32), "T1": np.ones((50, 4), np.float32)})
    return writer.finish()


def test_status_lists_truncated_and_tiny_stores_as_damaged_with_the_reason(tmp_path):
    good = _finished_store(tmp_path / "m" / "c" / "contextualized_frame.h5")
    data = good.read_bytes()
    assert len(data) > 3072
    (good.parent / "contextualized_phone.h5").write_bytes(data[:3072])  # a copy cut short
    (good.parent / "contextualized_word.h5").write_bytes(b"\0")
    (good.parent / "local_frame.h5").write_bytes(data[:8] + b"\0" * 100)  # the signature, then nothing
    from layerprobe.io.store import FeatureStore

    with FeatureStore.open(good) as store:  # a store this process holds open is checked too, and stays usable
        lines = format_status(collect_status(tmp_path))
        assert store.read("T0").shape == (1000, 4)
    assert lines == [
        "feature stores:",
        "  m/c/contextualized_frame.h5: complete",
        f"  m/c/contextualized_phone.h5: damaged (truncated to 3072 of {len(data)} bytes); delete it and rerun the extraction",
        "  m/c/contextualized_word.h5: damaged (not an HDF5 file: no HDF5 signature in its 1 bytes); delete it and "
        "rerun the extraction",
        lines[4],
    ]
    assert re.fullmatch(r"  m/c/local_frame\.h5: damaged \(unreadable as HDF5: .+\); delete it and rerun the extraction",
                        lines[4])  # fmt: skip


def test_status_does_not_count_a_damaged_shard_as_done(tmp_path):
    store = tmp_path / "contextualized_frame.h5"
    _finished_store(store, shard=(1, 2))
    second = _finished_store(store, shard=(2, 2))
    size = second.stat().st_size
    second.write_bytes(second.read_bytes()[:2000])
    [status] = collect_status(tmp_path).stores
    assert status.shards_done == [1] and list(status.shards_damaged) == [2]
    assert format_status(collect_status(tmp_path)) == [
        "feature stores:",
        f"  contextualized_frame.h5: 1/2 shards (damaged 2 (truncated to 2000 of {size} bytes; delete it and rerun the shard))",
    ]
