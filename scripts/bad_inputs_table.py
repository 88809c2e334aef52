"""Prints the bad-input table of tests/backend/test_bad_inputs.py as Markdown, with the exit
codes and messages the program really gives (each row is run, signals in real processes).

    PYTHONPATH=. python scripts/bad_inputs_table.py > table.md
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def shown(argv, case) -> str:
    from tests.backend.test_bad_inputs import GEN, V2V

    argv = list(argv)
    if argv[: len(V2V)] == list(V2V):
        argv = ["video2video", "[tiny model, --input in/frames]", *argv[len(V2V):]]
        if "--input" in argv[2:]:
            argv[1] = "[tiny model]"
    elif argv[: len(GEN)] == list(GEN):
        argv = ["generate", "[tiny model, --output out/o.gif]", *argv[len(GEN):]]
    text = " ".join(argv).replace("{in}/", "in/").replace("{out}/", "out/")
    return text.replace("|", "\\|")


def main() -> int:
    from backend.models.demo_model import write_demo_model
    from tests.backend import test_bad_inputs as table

    rows = []
    with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stdout(sys.stderr):
        tmp = Path(tmp)
        models = write_demo_model(tmp / "models")
        inputs = tmp / "in"
        inputs.mkdir()
        table.build_inputs(inputs)
        long_clip = None
        for index, case in enumerate(table.CASES):
            out = tmp / f"out{index}"
            out.mkdir()
            reason = table.unmet(case)
            if case.signal is not None:
                if long_clip is None:
                    long_clip = table.long_clip.__wrapped__(_Factory(tmp))
                code, err = _signal_row(table, case, models, long_clip, out)
                argv = f"{case.argv[0]} … then {'SIGINT to the process group' if case.signal == 2 else 'SIGTERM'} mid-run"
            else:
                code, err = table.run_case(case, inputs, out, models)
                argv = shown(case.argv, case)
            lines = [line for line in err.splitlines() if line.strip() and "denoising" not in line and "loading" not in line]
            message = lines[-1] if lines else ""
            message = message.replace(str(inputs) + "/", "in/").replace(str(out) + "/", "out/").replace(str(tmp) + "/", "")
            note = f" (checked where less memory is free: {reason})" if reason and "memory" in reason else ""
            if reason and "seed" in reason:
                note = f" (expects 2 after {reason.split(' once ')[1]})"
            rows.append((case.name, argv, code, message.replace("|", "\\|") + note))
    print("| case | input | exit | message (stderr, as printed) |")
    print("| --- | --- | --- | --- |")
    for name, argv, code, message in rows:
        print(f"| {name} | `{argv}` | {code} | {message} |")
    return 0


class _Factory:
    def __init__(self, root: Path) -> None:
        self.root = root

    def mktemp(self, name: str) -> Path:
        path = Path(tempfile.mkdtemp(prefix=name, dir=self.root))
        return path


def _signal_row(table, case, models, long_clip, out):
    if case.argv[0] == "generate":
        argv = table.fill(table.GEN, out, out, models)
        argv += ["--steps", "500", "--frames", "8", "--output", str(out / "o.mp4")]
        argv.remove("--quiet")
        return table.signal_mid_run(argv, out, lambda seen: b"denoising" in seen, case.signal)
    argv = ["convert", str(long_clip), "--output", str(out / "o.webm"), "--size", "640x480"]
    return table.signal_mid_run(
        argv, out, lambda seen: any(p.name.endswith(".tmp.webm") for p in out.iterdir()), case.signal
    )


if __name__ == "__main__":
    sys.exit(main())
