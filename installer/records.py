"""Is every installed package whole? Each package's files checked against its dist-info RECORD.

A wheel's RECORD lists every file it installs with its size and sha256. uv links a package's
files one by one, so a kill in the middle leaves a package whose dist-info is there but whose
files are not all there (torch without torchgen/), which uv then counts as installed. Checking
each file's size finds that; the sha256 also finds a file cut short or changed.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

CHUNK = 1024 * 1024


@dataclass
class Damaged:
    """One package whose files do not match its RECORD."""

    name: str  # the distribution's name, as in its dist-info folder
    version: str
    problems: list[str] = field(default_factory=list)  # "path: missing" etc., a few of them
    count: int = 0  # how many files are wrong
    dist_info: Path | None = None

    def line(self) -> str:
        more = f" (+{self.count - len(self.problems)} more)" if self.count > len(
            self.problems) else ""
        return f"{self.name} {self.version}: {', '.join(self.problems)}{more}"


def site_packages(env_path: Path) -> Path | None:
    if sys.platform == "win32":
        found = env_path / "Lib" / "site-packages"
        return found if found.is_dir() else None
    return next(iter(sorted(env_path.glob("lib/python*/site-packages"))), None)


def file_digest(path: Path) -> bytes:
    """A file's sha256, read in chunks (hashlib releases the GIL: threads hash in parallel)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.digest()


def record_digest(path: Path) -> str:
    """The sha256 as RECORD writes it: urlsafe base64, no padding."""
    return base64.urlsafe_b64encode(file_digest(path)).rstrip(b"=").decode("ascii")


def read_record(dist_info: Path) -> list[tuple[str, str, str]] | None:
    """(path, hash, size) rows of a RECORD; None when there is no readable RECORD."""
    try:
        text = (dist_info / "RECORD").read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    rows = []
    for row in csv.reader(text.splitlines()):
        if row:
            rows.append((row[0], row[1] if len(row) > 1 else "", row[2] if len(row) > 2 else ""))
    return rows


def check_file(site: Path, row: tuple[str, str, str], hashes: bool) -> str | None:
    """None when the file matches its row; else what is wrong with it."""
    relative, digest, size = row
    path = site / relative
    try:
        actual_size = path.stat().st_size
    except OSError:
        return f"{relative}: missing"
    if size and size.isdigit() and int(size) != actual_size:
        return f"{relative}: {actual_size} bytes, RECORD says {size}"
    if hashes and digest.startswith("sha256="):
        if record_digest(path) != digest.removeprefix("sha256="):
            return f"{relative}: sha256 differs from RECORD"
    return None


def dist_infos(site: Path) -> list[Path]:
    return sorted(site.glob("*.dist-info"))


def damaged_packages(env_path: Path, hashes: bool = True) -> list[Damaged]:
    """Every package of the environment whose files differ from its RECORD (or that has none).

    hashes=False checks presence and sizes only (stat, no reads).
    """
    site = site_packages(env_path)
    if site is None:
        return [Damaged("python", "", ["no site-packages folder"], 1)]
    jobs: list[tuple[Damaged, tuple[str, str, str]]] = []
    packages = []
    for dist_info in dist_infos(site):
        name, _, version = dist_info.name.removesuffix(".dist-info").partition("-")
        package = Damaged(name, version, dist_info=dist_info)
        packages.append(package)
        rows = read_record(dist_info)
        if rows is None or not (dist_info / "METADATA").is_file():
            package.problems.append("no RECORD" if rows is None else "no METADATA")
            package.count = 1
            continue
        for row in rows:
            if row[0].endswith(".pyc") or not row[1]:
                continue  # RECORD itself and files written at install time carry no hash
            jobs.append((package, row))
    # hashlib releases the GIL on large reads: a few threads keep every core hashing.
    with ThreadPoolExecutor(max_workers=min(8, (os.cpu_count() or 2) + 1)) as pool:
        results = pool.map(lambda job: check_file(site, job[1], hashes), jobs, chunksize=64)
        for (package, _), problem in zip(jobs, results, strict=True):
            if problem:
                package.count += 1
                if len(package.problems) < 3:
                    package.problems.append(problem)
    return [package for package in packages if package.count]


def normal_name(name: str) -> str:
    return name.replace("_", "-").replace(".", "-").lower()
