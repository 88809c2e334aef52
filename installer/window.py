"""The setup window: what was found, what it will cost, a backend to change, progress."""

from __future__ import annotations

import threading
from pathlib import Path

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
)

from installer.desktop import icon_source
from installer.install import Cancelled, InstallError, Progress, human_bytes
from installer.plan import make_plan
from installer.targets import BACKEND_LABELS, backends_for

PHASE_RANGE = {"python": (0, 5), "packages": (5, 88), "app": (88, 92), "verify": (92, 99),
               "done": (100, 100)}


def display_path(path: Path) -> str:
    home = Path.home()
    return f"~/{path.relative_to(home).as_posix()}" if path.is_relative_to(home) else str(path)


def named(widget, name: str, accessible: str):
    widget.setObjectName(name)
    widget.setAccessibleName(accessible)
    return widget


class Relay(QObject):
    """Carries the install thread's news to the window's thread."""

    progress = Signal(object)
    finished = Signal(object, str)  # the environment or None, an error message


class SetupWindow(QDialog):
    def __init__(self, launcher, plan) -> None:
        super().__init__()
        self.launcher = launcher
        self.plan = plan
        self.env = None
        self.cancel = threading.Event()
        self.thread: threading.Thread | None = None
        self.relay = Relay()
        self.relay.progress.connect(self.show_progress)
        self.relay.finished.connect(self.install_finished)
        self.setObjectName("setupWindow")
        self.setWindowTitle("AnimateDiff Studio setup")
        self.setWindowIcon(QIcon(str(icon_source())))
        self.setMinimumWidth(560)

        logo = QLabel()
        logo.setPixmap(QIcon(str(icon_source())).pixmap(48, 48))
        title = QLabel(f"<h2>AnimateDiff Studio {launcher.version}</h2>")
        header = QHBoxLayout()
        header.addWidget(logo)
        header.addWidget(title, 1)
        if launcher.home.current() is None:
            text = ("First start: the launcher installs PyTorch for your graphics card and the "
                    "app into its own folder. Models and projects are kept elsewhere and are "
                    "never touched.")
        else:
            text = ("A new version or backend: it is installed beside the one you have, which "
                    "stays in use until the new one works. Models and projects are not touched.")
        intro = QLabel(text)
        intro.setWordWrap(True)
        self.gpu_label = named(QLabel(plan.gpu.description), "gpuLabel", "Graphics card found")
        self.backend_combo = named(QComboBox(), "backendCombo", "PyTorch backend")
        for backend in backends_for(plan.platform):
            self.backend_combo.addItem(BACKEND_LABELS[backend], backend)
        self.backend_combo.setCurrentIndex(self.backend_combo.findData(plan.backend))
        self.backend_combo.currentIndexChanged.connect(self.backend_changed)
        self.download_label = named(QLabel(), "downloadLabel", "Download size")
        self.disk_label = named(QLabel(), "diskLabel", "Disk space")
        self.disk_label.setWordWrap(True)
        self.hash_label = named(QLabel(), "hashLabel", "Package hashes")
        self.hash_label.setWordWrap(True)
        self.hash_label.setStyleSheet("color: #b26a00;")
        self.home_label = named(QLabel(display_path(plan.home)), "homeLabel", "Install location")
        self.home_label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        form = QFormLayout()
        form.addRow("Graphics:", self.gpu_label)
        form.addRow("Install for:", self.backend_combo)
        form.addRow("Download:", self.download_label)
        form.addRow("Disk:", self.disk_label)
        form.addRow("Location:", self.home_label)
        form.addRow("", self.hash_label)

        self.progress_bar = named(QProgressBar(), "installProgress", "Installation progress")
        self.progress_bar.setRange(0, 100)
        self.progress_bar.setValue(0)
        self.status_label = named(QLabel("Ready to install."), "statusLabel", "Status")
        self.status_label.setWordWrap(True)
        self.install_button = named(QPushButton("Install and start"), "installButton", "Install")
        self.install_button.setDefault(True)
        self.install_button.clicked.connect(self.start_install)
        self.cancel_button = named(QPushButton("Cancel"), "cancelButton", "Cancel")
        self.cancel_button.clicked.connect(self.close)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.install_button)

        layout = QVBoxLayout(self)
        layout.addLayout(header)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addSpacing(8)
        layout.addWidget(self.progress_bar)
        layout.addWidget(self.status_label)
        layout.addLayout(buttons)
        self.show_plan()

    def show_plan(self) -> None:
        plan = self.plan
        estimate = "" if plan.lock.sizes_measured else " (estimate)"
        self.download_label.setText(
            f"{human_bytes(plan.lock.download_bytes)}{estimate}, "
            f"{len(plan.lock.packages)} packages, torch {plan.lock.target.torch}")
        text = (f"needs about {human_bytes(plan.needed_bytes)}, "
                f"{human_bytes(plan.free_bytes)} free")
        if plan.enough_disk:
            self.disk_label.setStyleSheet("")
            self.disk_label.setText(text)
        else:
            self.disk_label.setStyleSheet("color: #c62828;")
            self.disk_label.setText(f"Not enough space: {text}. Free some space, or start the "
                                    "launcher with --home DIR on another disk.")
        self.install_button.setEnabled(plan.enough_disk)
        note = plan.hash_note()
        self.hash_label.setText(note or "")
        self.hash_label.setVisible(note is not None)

    def backend_changed(self) -> None:
        self.plan = make_plan(self.launcher.home, self.backend_combo.currentData(), self.plan.gpu)
        self.show_plan()

    def start_install(self) -> None:
        self.backend_combo.setEnabled(False)
        self.install_button.setEnabled(False)
        self.status_label.setStyleSheet("")
        self.cancel.clear()

        def work() -> None:
            try:
                env = self.launcher.build(self.plan, self.relay.progress.emit, self.cancel)
            except InstallError as exc:
                self.relay.finished.emit(None, str(exc))
            except Cancelled:
                self.relay.finished.emit(None, "")
            except Exception as exc:  # shown, never a crash of the window
                self.relay.finished.emit(None, f"{type(exc).__name__}: {exc}")
            else:
                self.relay.finished.emit(env, "")

        self.thread = threading.Thread(target=work, daemon=True)
        self.thread.start()

    def show_progress(self, progress: Progress) -> None:
        low, high = PHASE_RANGE.get(progress.phase, (0, 100))
        fraction = 0.0
        if progress.total:
            fraction = progress.done / progress.total
        if progress.bytes_total:
            fraction = max(fraction, min(progress.bytes_done / progress.bytes_total, 1.0) * 0.9)
        self.progress_bar.setValue(int(low + (high - low) * fraction))
        self.status_label.setText(progress.message)

    def install_finished(self, env, error: str) -> None:
        self.thread = None
        if env is not None:
            self.env = env
            self.accept()
            return
        if self.cancel.is_set():
            self.reject()
            return
        self.status_label.setStyleSheet("color: #c62828;")
        self.status_label.setText(f"{error}\nThe previous installation, if any, is unchanged.")
        self.install_button.setText("Try again")
        self.install_button.setEnabled(True)
        self.backend_combo.setEnabled(True)

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        if self.thread is not None:
            self.status_label.setText("Stopping… run the launcher again to finish later.")
            self.cancel.set()
            self.thread.join()
        super().closeEvent(event)


def run_setup_window(launcher, plan, screenshot: Path | None = None):
    """Shows the window until the install finished (the environment) or was closed (None)."""
    app = QApplication.instance() or QApplication(["AnimateDiff Studio setup"])
    app.setWindowIcon(QIcon(str(icon_source())))
    window = SetupWindow(launcher, plan)
    window.show()
    if screenshot is not None:
        for _ in range(10):
            app.processEvents()
        window.grab().save(str(screenshot))
        window.close()
        return None
    window.exec()
    return window.env
