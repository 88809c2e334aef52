"""Update the Simplified Chinese catalogue from the code, then compile the shipped .qm.

    python scripts/update_translations.py          # update the .ts, write the .qm, count
    python scripts/update_translations.py --check  # the same, and fail while any is unfinished

pyside6-lupdate reads every self.tr(...), translate("Context", ...) and QT_TRANSLATE_NOOP(...) in
gui/*.py and main.py into resources/translations/animatediff_studio_zh_CN.ts, keeping the
translations already there (texts no longer in the code are dropped). The texts declared as data
in the backend, which lupdate cannot see (each setting's label, help, choice labels and "off"
text in backend/core/request.py, the quality presets' labels in backend/core/presets.py, the
families' reasons a setting does not apply in backend/families, the model catalogue's
"translatable" fields in resources/model_catalog.json, the local models' kinds in
backend/hub/scan.py), are handed to it as QT_TRANSLATE_NOOP lines in a temporary file (contexts
"Setting", "Preset", "Family", "ModelCatalog" and "LocalModel", as the window translates them).
Translate the entries it
lists as unfinished (Qt Linguist, or by hand: fill <translation> and remove type="unfinished"),
then run this again: pyside6-lrelease compiles the .ts into the .qm the app loads.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TS = ROOT / "resources" / "translations" / "animatediff_studio_zh_CN.ts"
QM = TS.with_suffix(".qm")


def sources() -> list[Path]:
    return sorted((ROOT / "gui").glob("*.py")) + [ROOT / "main.py"]


def declared_texts() -> list[tuple[str, str]]:
    """(context, text) for every text the window shows from the backend's declarations."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from backend.core.presets import PRESETS
    from backend.core.request import SETTINGS
    from backend.families.registry import FAMILIES
    from backend.hub.catalog import translatable_texts
    from backend.hub.scan import KIND_LABELS

    texts = []
    for setting in SETTINGS.values():
        for text in (setting.label, setting.help, *setting.choice_labels, setting.off_text,
                     setting.switch_label):
            texts.append(("Setting", text))
    texts += [("Preset", preset.label) for preset in PRESETS.values()]
    # Why a setting does not apply to a family: the form's tooltip on the setting's field.
    texts += [("Family", why) for family in FAMILIES for why in family.unsupported.values()]
    texts += [("ModelCatalog", text) for text in translatable_texts()]
    texts += [("LocalModel", label) for label in KIND_LABELS.values()]
    return list(dict.fromkeys((context, text) for context, text in texts if text))


def declared_source(folder: Path) -> Path:
    """A Python file in `folder` marking the declared texts for lupdate."""
    path = folder / "declared_texts.py"
    lines = [f"QT_TRANSLATE_NOOP({json.dumps(context)}, {json.dumps(text)})\n"
             for context, text in declared_texts()]
    path.write_text("".join(lines), encoding="utf-8")
    return path


def find_tool(name: str) -> str | None:
    """pyside6-lupdate / pyside6-lrelease: on PATH, else the binary inside the PySide6 package."""
    found = shutil.which(f"pyside6-{name}")
    if found:
        return found
    import PySide6

    binary = Path(PySide6.__file__).parent / (name + (".exe" if sys.platform == "win32" else ""))
    return str(binary) if binary.exists() else None


def tool(name: str) -> str:
    found = find_tool(name)
    if found is None:
        raise SystemExit(f"update_translations: {name} was not found; install PySide6-Essentials.")
    return found


def update(ts: Path = TS) -> None:
    ts.parent.mkdir(parents=True, exist_ok=True)
    # No source locations: the catalogue then changes only when a text does, not when code moves
    # (nor with the temporary file's name).
    with tempfile.TemporaryDirectory() as folder:
        declared = declared_source(Path(folder))
        subprocess.run([tool("lupdate"), "-silent", "-no-obsolete", "-locations", "none",
                        *[str(p.relative_to(ROOT)) for p in sources()], str(declared), "-ts", str(ts)],
                       cwd=ROOT, check=True)


def release(ts: Path = TS, qm: Path = QM) -> None:
    subprocess.run([tool("lrelease"), "-nounfinished", str(ts), "-qm", str(qm)],
                   check=True)


def messages(ts: Path = TS) -> list[tuple[str, str, str, bool]]:
    """(context, source, translation, finished) for every current message of the catalogue."""
    rows = []
    for context in ET.parse(ts).getroot().iter("context"):
        name = context.findtext("name") or ""
        for message in context.iter("message"):
            translation = message.find("translation")
            kind = translation.get("type", "") if translation is not None else "unfinished"
            if kind in ("vanished", "obsolete"):
                continue
            text = (translation.text or "") if translation is not None else ""
            rows.append((name, message.findtext("source") or "", text, kind != "unfinished" and bool(text)))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 while any text is untranslated")
    args = parser.parse_args(argv)
    update()
    release()
    rows = messages()
    unfinished = [(context, source) for context, source, _, done in rows if not done]
    for context, source in unfinished:
        print(f"unfinished: [{context}] {source!r}")
    print(f"{TS.relative_to(ROOT)}: {len(rows)} messages, {len(rows) - len(unfinished)} translated, "
          f"{len(unfinished)} unfinished; wrote {QM.relative_to(ROOT)}")
    return 1 if args.check and unfinished else 0


if __name__ == "__main__":
    sys.exit(main())
