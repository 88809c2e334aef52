"""Issue 20 item 7: `--from-metadata` on an export of some frames (the window's in/out points)
writes exactly those frames, and says what it does."""

from __future__ import annotations

import numpy as np

from backend.cli.commands import main as cli_main
from backend.media.metadata import build_metadata, read_metadata
from backend.media.reader import read_frames
from backend.media.writer import WriteOptions, write_clip
from tests.backend.test_cli_video import tiny


def test_from_metadata_of_a_range_export_writes_the_exported_frames(demo_models, tmp_path, capsys):
    whole = tmp_path / "whole"
    argv = ["generate", "--prompt", "a fox", "--seed", "5", *tiny(demo_models)]
    argv[argv.index("--frames") + 1] = "12"
    assert cli_main([*argv, "--output", str(whole)]) == 0
    clip = read_frames(whole)
    # What the window's export dialog writes for frames 4-10 (in/out points 3 and 9).
    request = read_metadata(whole)["request"]
    exported = tmp_path / "range"
    write_clip(clip[3:10], exported, 8, WriteOptions(),
               build_metadata(request, frame_range=[3, 10]))
    again = tmp_path / "again"
    capsys.readouterr()
    assert cli_main(["generate", "--from-metadata", str(exported), "--output", str(again)]) == 0
    assert "the export held frames 4-10 of 12" in capsys.readouterr().err
    assert np.array_equal(read_frames(again), clip[3:10])
    assert read_metadata(again)["frame_range"] == [3, 10]  # a re-run of the re-run is the same
    # Another length is a new clip: written whole, and said.
    longer = tmp_path / "longer"
    assert cli_main(["generate", "--from-metadata", str(exported), "--frames", "6",
                     "--output", str(longer)]) == 0
    assert "the whole new clip is written" in capsys.readouterr().err
    assert len(read_frames(longer)) == 6


def test_a_range_that_is_not_the_clips_is_refused(demo_models, tmp_path, capsys):
    from backend.core.request import GenerationRequest

    bad = tmp_path / "bad"
    write_clip(np.zeros((2, 8, 8, 3), np.uint8), bad, 8, WriteOptions(),
               build_metadata(GenerationRequest(prompt="x", frames=8).to_dict(),
                              frame_range=[6, 20]))
    code = cli_main(["generate", "--from-metadata", str(bad), "--output", str(tmp_path / "o")])
    assert code == 2 and "frame_range [6, 20]" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
