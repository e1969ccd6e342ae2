"""
The routing file watch and the settings a reload cannot change.
"""

from __future__ import annotations

import os
from pathlib import Path

from polybot_loghandler._model import DeliverySettings
from polybot_loghandler._reload import SETTLE, FileWatch, fixed_changes


class Clock:
    """Wall-clock seconds that move only when told."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _write(path: Path, text: str, mtime: float) -> None:
    path.write_text(text, encoding="utf-8")
    os.utime(path, (mtime, mtime))


class TestFileWatch:
    def test_unchanged_file_is_not_a_change(self, tmp_path: Path) -> None:
        path = tmp_path / "routing.yaml"
        _write(path, "a", 1000.0)
        watch = FileWatch(str(path), Clock(2000.0))

        assert watch.changed() is None

    def test_edit_in_place(self, tmp_path: Path) -> None:
        path = tmp_path / "routing.yaml"
        _write(path, "a", 1000.0)
        watch = FileWatch(str(path), Clock(2000.0))
        _write(path, "bb", 1500.0)

        token = watch.changed()
        assert token is not None
        watch.loaded(token)
        assert watch.changed() is None

    def test_replaced_by_rename_with_the_same_size_and_time(
        self, tmp_path: Path
    ) -> None:
        """A new inode is a new file, whatever its size and mtime."""
        path = tmp_path / "routing.yaml"
        _write(path, "a", 1000.0)
        watch = FileWatch(str(path), Clock(2000.0))
        fresh = tmp_path / "routing.yaml.tmp"
        _write(fresh, "b", 1000.0)
        keep = path.stat().st_ino  # hold the old inode so it is not reused
        with path.open():
            fresh.replace(path)

        assert keep != path.stat().st_ino
        assert watch.changed() is not None

    def test_waits_for_the_file_to_settle(self, tmp_path: Path) -> None:
        """A file written a moment ago may be half-saved: not yet."""
        path = tmp_path / "routing.yaml"
        _write(path, "a", 1000.0)
        clock = Clock(2000.0)
        watch = FileWatch(str(path), clock)
        _write(path, "bb", 2000.0)

        assert watch.changed() is None
        clock.now += SETTLE
        assert watch.changed() is not None

    def test_missing_file_is_not_a_change(self, tmp_path: Path) -> None:
        """Between an editor's unlink and rename, keep the old routing."""
        path = tmp_path / "routing.yaml"
        _write(path, "a", 1000.0)
        watch = FileWatch(str(path), Clock(2000.0))
        path.unlink()

        assert watch.changed() is None

    def test_a_broken_version_is_reported_once(self, tmp_path: Path) -> None:
        """loaded(token) also covers versions that failed to load."""
        path = tmp_path / "routing.yaml"
        _write(path, "a", 1000.0)
        watch = FileWatch(str(path), Clock(2000.0))
        _write(path, "broken", 1500.0)
        watch.loaded(watch.changed())

        assert watch.changed() is None
        _write(path, "fixed!", 1600.0)
        assert watch.changed() is not None


class TestFixedChanges:
    def test_names_only_what_needs_a_restart(self) -> None:
        old = DeliverySettings()
        new = DeliverySettings(
            queue_size=5,
            spool="/tmp/spool",
            retry_for=1.0,
            ops_channel="ops",
            relay="redis://localhost:6379/0",
        )

        assert ["queue_size", "spool", "relay"] == fixed_changes(old, new)

    def test_nothing_changed(self) -> None:
        assert [] == fixed_changes(DeliverySettings(), DeliverySettings())
